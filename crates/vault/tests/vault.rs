//! The vault against a real local object store in a temporary directory.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use doublecheck_vault::{
    KeyError, KeyRing, MasterKey, SealedDocument, StoreConfig, Vault, VaultConfig, VaultError,
    generate_master_key,
};
use object_store::ObjectStoreExt;
use object_store::local::LocalFileSystem;

fn ring() -> KeyRing {
    KeyRing::from_config(&generate_master_key().unwrap(), &[]).unwrap()
}

fn local(dir: &Path) -> Arc<LocalFileSystem> {
    Arc::new(LocalFileSystem::new_with_prefix(dir).unwrap())
}

/// Plaintext of `len` bytes: readable text with a distinctive 32-byte marker every 64 KiB.
fn document(len: usize, marker: &[u8; 32]) -> Vec<u8> {
    let line = b"Passport P<GBRDOE<<JANE<<<<<<<<<<<<<<<<<<<<<<< 1234567890GBR8001014F2501017<<<<<<<<<<<<<<02\n";
    let mut v: Vec<u8> = line.iter().copied().cycle().take(len).collect();
    let mut at = 0;
    while at + 32 <= len {
        v[at..at + 32].copy_from_slice(marker);
        at += 64 * 1024;
    }
    v
}

fn all_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn blob_file(dir: &Path, doc: &SealedDocument) -> std::path::PathBuf {
    dir.join(&doc.object_path)
}

#[tokio::test]
async fn round_trip_small_and_large() {
    let dir = tempfile::tempdir().unwrap();
    let vault = Vault::new(local(dir.path()), ring());
    for (id, len) in [
        ("file_small", 1usize),
        ("file_mid", 5000),
        ("file_large", 3 * 1024 * 1024 + 7),
    ] {
        let plain = document(len, b"0123456789abcdef0123456789ABCDEF");
        let sealed = vault
            .put(id, Bytes::from(plain.clone()), "application/pdf")
            .await
            .unwrap();
        assert_eq!(sealed.size, len as u64);
        assert_eq!(sealed.blob_size, len as u64 + 16);
        assert_eq!(
            std::fs::metadata(blob_file(dir.path(), &sealed))
                .unwrap()
                .len(),
            sealed.blob_size
        );
        // The record survives the database as JSON.
        let json = serde_json::to_string(&sealed).unwrap();
        let back: SealedDocument = serde_json::from_str(&json).unwrap();
        assert_eq!(back, sealed);
        let got = vault.get(&back).await.unwrap();
        assert_eq!(got.as_ref(), plain.as_slice(), "{id}");
    }
}

#[tokio::test]
async fn shared_plaintext_buffer_is_left_intact() {
    // `put` encrypts in place only when it owns the buffer; a clone held by the caller stays
    // plaintext.
    let dir = tempfile::tempdir().unwrap();
    let vault = Vault::new(local(dir.path()), ring());
    let plain = Bytes::from(document(600_000, b"0123456789abcdef0123456789ABCDEF"));
    let keep = plain.clone();
    let sealed = vault.put("file_shared", plain, "image/png").await.unwrap();
    assert_eq!(
        keep.as_ref(),
        document(600_000, b"0123456789abcdef0123456789ABCDEF").as_slice()
    );
    assert_eq!(vault.get(&sealed).await.unwrap(), keep);
}

#[tokio::test]
async fn each_document_gets_its_own_key_and_nonce() {
    let dir = tempfile::tempdir().unwrap();
    let vault = Vault::new(local(dir.path()), ring());
    let plain = Bytes::from_static(b"the same bytes in both documents, long enough to compare");
    let a = vault
        .put("file_a", plain.clone(), "image/jpeg")
        .await
        .unwrap();
    let b = vault
        .put("file_b", plain.clone(), "image/jpeg")
        .await
        .unwrap();
    assert_ne!(a.nonce, b.nonce);
    assert_ne!(a.wrapped_key, b.wrapped_key);
    assert_ne!(
        a.wrapped_key[..12],
        b.wrapped_key[..12],
        "wrap nonces differ"
    );
    assert_ne!(a.sha256, b.sha256);
    let blob_a = std::fs::read(blob_file(dir.path(), &a)).unwrap();
    let blob_b = std::fs::read(blob_file(dir.path(), &b)).unwrap();
    assert_ne!(blob_a, blob_b);
    assert_ne!(a.object_path, b.object_path);
    assert!(a.object_path.starts_with("documents/") && a.object_path.ends_with("/file_a"));
}

#[tokio::test]
async fn stored_blob_holds_no_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let vault = Vault::new(local(dir.path()), ring());
    let marker: [u8; 32] = *b"JANE-DOE-PASSPORT-123456789-GBR!";
    let plain = document(2 * 1024 * 1024, &marker);
    assert!(memchr::memmem::find(&plain, &marker).is_some());
    let sealed = vault
        .put(
            "file_passport",
            Bytes::from(plain.clone()),
            "application/pdf",
        )
        .await
        .unwrap();
    let files = all_files(dir.path());
    assert_eq!(
        files.len(),
        1,
        "one blob, no temporary files left: {files:?}"
    );
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        assert!(
            memchr::memmem::find(&bytes, &marker).is_none(),
            "marker found in {f:?}"
        );
        // Nor any 32-byte window of the text around it.
        assert!(memchr::memmem::find(&bytes, &plain[100..132]).is_none());
    }
    let json = serde_json::to_string(&sealed).unwrap();
    assert!(!json.contains("JANE-DOE"));
    assert_eq!(vault.get(&sealed).await.unwrap().as_ref(), plain.as_slice());
}

#[tokio::test]
async fn tampered_blob_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let vault = Vault::new(local(dir.path()), ring());
    let sealed = vault
        .put("file_t", Bytes::from(vec![7u8; 4096]), "image/png")
        .await
        .unwrap();
    let path = blob_file(dir.path(), &sealed);
    let original = std::fs::read(&path).unwrap();

    // One flipped bit in the ciphertext.
    let mut bad = original.clone();
    bad[100] ^= 1;
    std::fs::write(&path, &bad).unwrap();
    assert!(matches!(vault.get(&sealed).await, Err(VaultError::Decrypt)));

    // The same, with the record's digest updated to match: the GCM tag still refuses it.
    let mut forged = sealed.clone();
    forged.sha256 = hex_sha256(&bad);
    assert!(matches!(vault.get(&forged).await, Err(VaultError::Decrypt)));

    // Truncated blob.
    std::fs::write(&path, &original[..original.len() - 1]).unwrap();
    assert!(matches!(vault.get(&sealed).await, Err(VaultError::Decrypt)));

    // Restored: readable again.
    std::fs::write(&path, &original).unwrap();
    assert_eq!(vault.get(&sealed).await.unwrap().as_ref(), &[7u8; 4096][..]);
}

fn hex_sha256(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}

#[tokio::test]
async fn tampered_record_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let vault = Vault::new(local(dir.path()), ring());
    let sealed = vault
        .put("file_r", Bytes::from_static(b"document bytes"), "image/png")
        .await
        .unwrap();

    // Wrapped key altered (in the nonce, the encrypted key and the tag).
    for i in [0usize, 20, 59] {
        let mut bad = sealed.clone();
        bad.wrapped_key[i] ^= 0x80;
        assert!(
            matches!(vault.get(&bad).await, Err(VaultError::KeyUnwrap)),
            "byte {i}"
        );
    }
    // Nonce altered.
    let mut bad = sealed.clone();
    bad.nonce[0] ^= 1;
    assert!(matches!(vault.get(&bad).await, Err(VaultError::Decrypt)));
    // Content type altered (bound as associated data).
    let mut bad = sealed.clone();
    bad.content_type = "text/html".into();
    assert!(matches!(vault.get(&bad).await, Err(VaultError::Decrypt)));
    // Wrong lengths and versions: a typed error, no panic.
    let mut bad = sealed.clone();
    bad.wrapped_key.truncate(10);
    assert!(matches!(
        vault.get(&bad).await,
        Err(VaultError::BadRecord(_))
    ));
    let mut bad = sealed.clone();
    bad.nonce.clear();
    assert!(matches!(
        vault.get(&bad).await,
        Err(VaultError::BadRecord(_))
    ));
    let mut bad = sealed.clone();
    bad.version = 2;
    assert!(matches!(
        vault.get(&bad).await,
        Err(VaultError::BadRecord(_))
    ));
    let mut bad = sealed.clone();
    bad.object_path = "documents/00/other".into();
    assert!(matches!(
        vault.get(&bad).await,
        Err(VaultError::BadRecord(_))
    ));
    let mut bad = sealed.clone();
    bad.size = u64::MAX;
    assert!(vault.get(&bad).await.is_err());
}

#[tokio::test]
async fn blob_under_another_document_id_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let vault = Vault::new(local(dir.path()), ring());
    let a = vault
        .put(
            "file_alice",
            Bytes::from_static(b"alice's passport"),
            "image/jpeg",
        )
        .await
        .unwrap();
    let b = vault
        .put(
            "file_bob",
            Bytes::from_static(b"bob's passport!!"),
            "image/jpeg",
        )
        .await
        .unwrap();

    // Alice's blob copied over Bob's, read with Bob's record: the AAD (document id) differs.
    std::fs::copy(blob_file(dir.path(), &a), blob_file(dir.path(), &b)).unwrap();
    let mut b_with_a_digest = b.clone();
    b_with_a_digest.sha256 = a.sha256.clone();
    assert!(matches!(
        vault.get(&b_with_a_digest).await,
        Err(VaultError::Decrypt)
    ));

    // Alice's record relabelled as Bob's (id and path changed): the wrapped key is bound to
    // the document id too.
    let mut relabelled = a.clone();
    relabelled.doc_id = "file_bob".into();
    relabelled.object_path = b.object_path.clone();
    assert!(matches!(
        vault.get(&relabelled).await,
        Err(VaultError::KeyUnwrap)
    ));

    // Bob's wrapped key on Alice's record.
    let mut swapped = a.clone();
    swapped.wrapped_key = b.wrapped_key.clone();
    assert!(matches!(
        vault.get(&swapped).await,
        Err(VaultError::KeyUnwrap)
    ));
}

#[tokio::test]
async fn wrong_master_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let vault = Vault::new(local(dir.path()), ring());
    let sealed = vault
        .put("file_k", Bytes::from_static(b"secret"), "image/png")
        .await
        .unwrap();

    // Another key under the same id.
    let impostor = MasterKey::new(&sealed.key_id, [9u8; 32]).unwrap();
    let other = Vault::new(local(dir.path()), KeyRing::new(impostor));
    assert!(matches!(
        other.get(&sealed).await,
        Err(VaultError::KeyUnwrap)
    ));

    // A ring without the key.
    let stranger = Vault::new(local(dir.path()), ring());
    match stranger.get(&sealed).await {
        Err(VaultError::UnknownKey(id)) => assert_eq!(id, sealed.key_id),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn rotation_keeps_documents_readable() {
    let dir = tempfile::tempdir().unwrap();
    let key_a = generate_master_key().unwrap();
    let key_b = generate_master_key().unwrap();

    let vault_a = Vault::new(
        local(dir.path()),
        KeyRing::from_config(&key_a, &[]).unwrap(),
    );
    let sealed = vault_a
        .put("file_rot", Bytes::from_static(b"rotate me"), "image/jpeg")
        .await
        .unwrap();
    let id_a = sealed.key_id.clone();
    let blob_before = std::fs::read(blob_file(dir.path(), &sealed)).unwrap();
    let mtime_before = std::fs::metadata(blob_file(dir.path(), &sealed))
        .unwrap()
        .modified()
        .unwrap();

    // Rotate: B is current, A kept as previous.
    let vault_ab = Vault::new(
        local(dir.path()),
        KeyRing::from_config(&key_b, &[&key_a]).unwrap(),
    );
    assert!(vault_ab.needs_rewrap(&sealed));
    assert_eq!(vault_ab.get(&sealed).await.unwrap().as_ref(), b"rotate me");
    let rewrapped = vault_ab.rewrap(&sealed).await.unwrap();
    assert_ne!(rewrapped.key_id, id_a);
    assert_eq!(rewrapped.key_id, vault_ab.keys().current().id());
    assert_ne!(rewrapped.wrapped_key, sealed.wrapped_key);
    assert_eq!(rewrapped.nonce, sealed.nonce);
    assert_eq!(rewrapped.sha256, sealed.sha256);
    assert!(!vault_ab.needs_rewrap(&rewrapped));
    // Rewrapping again is a no-op.
    assert_eq!(vault_ab.rewrap(&rewrapped).await.unwrap(), rewrapped);

    // The blob was not touched.
    assert_eq!(
        std::fs::read(blob_file(dir.path(), &sealed)).unwrap(),
        blob_before
    );
    assert_eq!(
        std::fs::metadata(blob_file(dir.path(), &sealed))
            .unwrap()
            .modified()
            .unwrap(),
        mtime_before
    );

    // A dropped from the ring: the re-wrapped record still reads, the old one does not.
    let vault_b = Vault::new(
        local(dir.path()),
        KeyRing::from_config(&key_b, &[]).unwrap(),
    );
    assert_eq!(
        vault_b.get(&rewrapped).await.unwrap().as_ref(),
        b"rotate me"
    );
    assert!(matches!(
        vault_b.get(&sealed).await,
        Err(VaultError::UnknownKey(_))
    ));
    assert!(matches!(
        vault_b.rewrap(&sealed).await,
        Err(VaultError::UnknownKey(_))
    ));
}

#[tokio::test]
async fn destroy_removes_the_blob() {
    let dir = tempfile::tempdir().unwrap();
    let vault = Vault::new(local(dir.path()), ring());
    let sealed = vault
        .put("file_d", Bytes::from_static(b"to be redacted"), "image/png")
        .await
        .unwrap();
    let keep = vault
        .put("file_keep", Bytes::from_static(b"stays"), "image/png")
        .await
        .unwrap();
    assert!(blob_file(dir.path(), &sealed).exists());
    vault.destroy(&sealed).await.unwrap();
    assert!(!blob_file(dir.path(), &sealed).exists());
    assert!(matches!(
        vault.get(&sealed).await,
        Err(VaultError::NotFound)
    ));
    // Idempotent.
    vault.destroy(&sealed).await.unwrap();
    // Others untouched.
    assert_eq!(vault.get(&keep).await.unwrap().as_ref(), b"stays");
}

#[tokio::test]
async fn ids_sizes_and_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let vault = Vault::new(local(dir.path()), ring()).with_max_document_bytes(1000);
    for bad in [
        "",
        "../etc/passwd",
        "a/b",
        "a\\b",
        "a.b",
        "a b",
        "é",
        &"x".repeat(129),
    ] {
        assert!(
            matches!(
                vault.put(bad, Bytes::from_static(b"x"), "image/png").await,
                Err(VaultError::InvalidId(_))
            ),
            "{bad:?}"
        );
    }
    assert!(matches!(
        vault
            .put("file_big", Bytes::from(vec![0u8; 1001]), "image/png")
            .await,
        Err(VaultError::TooLarge {
            size: 1001,
            max: 1000
        })
    ));
    assert!(
        vault
            .put("file_bad_ct", Bytes::from_static(b"x"), "")
            .await
            .is_err()
    );
    assert!(
        vault
            .put("file_bad_ct", Bytes::from_static(b"x"), "a\nb")
            .await
            .is_err()
    );
    let first = vault
        .put("file_once", Bytes::from_static(b"first"), "image/png")
        .await
        .unwrap();
    assert!(matches!(
        vault
            .put("file_once", Bytes::from_static(b"second"), "image/png")
            .await,
        Err(VaultError::AlreadyExists)
    ));
    assert_eq!(vault.get(&first).await.unwrap().as_ref(), b"first");
    // Nothing escaped the directory.
    for f in all_files(dir.path()) {
        assert!(f.starts_with(dir.path()));
    }
}

#[tokio::test]
async fn config_builds_a_local_vault_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("docs");
    let toml_like = serde_json::json!({
        "store": {"kind": "local", "path": store_dir.to_str().unwrap()},
        "max_document_bytes": 5000
    });
    let cfg: VaultConfig = serde_json::from_value(toml_like).unwrap();
    let current = generate_master_key().unwrap();
    let old = generate_master_key().unwrap();
    let env = |k: &str| match k {
        "DOUBLECHECK_MASTER_KEY" => Some(current.to_string()),
        "DOUBLECHECK_PREVIOUS_MASTER_KEYS" => Some(format!("{},", *old)),
        _ => None,
    };
    let vault = cfg.build_with_env(env).unwrap();
    assert_eq!(vault.keys().previous_ids().count(), 1);
    let sealed = vault
        .put("file_cfg", Bytes::from_static(b"hello"), "image/png")
        .await
        .unwrap();
    assert!(store_dir.join(&sealed.object_path).exists());
    assert!(cfg.fsync, "fsync is the default");
    let store_debug = format!("{:?}", vault.store());
    assert!(store_debug.contains("fsync: true"), "{store_debug}");
    assert!(matches!(
        vault
            .put("file_cfg2", Bytes::from(vec![0u8; 5001]), "image/png")
            .await,
        Err(VaultError::TooLarge { .. })
    ));

    // No key anywhere: a clear error.
    match cfg.build_with_env(|_| None) {
        Err(VaultError::Key(KeyError::Missing { which })) => {
            assert_eq!(which, "DOUBLECHECK_MASTER_KEY")
        }
        other => panic!("{other:?}"),
    }
    // A bad key: named, never echoed.
    let bad = VaultConfig {
        master_key: Some("not-a-key-at-all-but-secretish".into()),
        ..cfg.clone()
    };
    let msg = bad.build_with_env(|_| None).unwrap_err().to_string();
    assert!(
        msg.contains("current master key") && !msg.contains("secretish"),
        "{msg}"
    );
    // Debug output hides keys.
    let with_key = VaultConfig {
        master_key: Some(current.to_string()),
        ..cfg
    };
    assert!(!format!("{with_key:?}").contains(&current[20..]));
}

#[test]
fn config_refuses_unknown_fields() {
    for bad in [
        r#"{"store": {"kind": "local", "path": "x"}, "master_kye": "x"}"#,
        r#"{"store": {"kind": "local", "path": "x", "bucket": "y"}}"#,
        r#"{"store": {"kind": "ftp", "path": "x"}}"#,
    ] {
        assert!(serde_json::from_str::<VaultConfig>(bad).is_err(), "{bad}");
    }
    let default: VaultConfig = serde_json::from_str("{}").unwrap();
    assert!(matches!(default.store, StoreConfig::Local { .. }));
}

#[cfg(feature = "s3")]
#[test]
fn s3_config_builds_without_network() {
    let cfg: VaultConfig = serde_json::from_str(
        r#"{"store": {"kind": "s3", "bucket": "docs", "endpoint": "http://127.0.0.1:9000",
            "region": "eu-central-1", "access_key_id": "AKIAEXAMPLE",
            "secret_access_key": "supersecretvalue", "allow_http": true}}"#,
    )
    .unwrap();
    assert!(!format!("{cfg:?}").contains("supersecretvalue"));
    let store = cfg.store.build().unwrap();
    assert!(store.to_string().contains("docs"), "{store}");
}

/// The vault on an S3-compatible service. Needs `DOUBLECHECK_VAULT_S3_ENDPOINT` (e.g. a local
/// `moto_server -p 5939`: `http://127.0.0.1:5939`) and a bucket it may create.
#[cfg(feature = "s3")]
#[tokio::test]
#[ignore = "needs an S3-compatible endpoint in DOUBLECHECK_VAULT_S3_ENDPOINT"]
async fn s3_round_trip() {
    let endpoint = std::env::var("DOUBLECHECK_VAULT_S3_ENDPOINT")
        .expect("DOUBLECHECK_VAULT_S3_ENDPOINT is set");
    let bucket = "doublecheck-vault-test";
    // Create the bucket (unsigned request; test services accept it, an existing bucket is fine).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let _ = reqwest::Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await;
    let cfg: VaultConfig = serde_json::from_value(serde_json::json!({
        "store": {"kind": "s3", "bucket": bucket, "endpoint": endpoint, "region": "us-east-1",
                  "access_key_id": "test", "secret_access_key": "test", "allow_http": true}
    }))
    .unwrap();
    let key_a = generate_master_key().unwrap();
    let key_b = generate_master_key().unwrap();
    let cfg_a = VaultConfig {
        master_key: Some(key_a.to_string()),
        ..cfg.clone()
    };
    let vault = cfg_a.build().unwrap();

    let marker: [u8; 32] = *b"S3-PASSPORT-MARKER-0123456789-XY";
    let plain = document(3 * 1024 * 1024, &marker);
    let id = format!("file_s3{}", std::process::id());
    let sealed = vault
        .put(&id, Bytes::from(plain.clone()), "image/jpeg")
        .await
        .unwrap();
    assert_eq!(vault.get(&sealed).await.unwrap().as_ref(), plain.as_slice());

    // The stored object is ciphertext.
    let raw = vault
        .store()
        .get(&object_store::path::Path::from(sealed.object_path.as_str()))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(raw.len() as u64, sealed.blob_size);
    assert!(memchr::memmem::find(&raw, &marker).is_none());

    // Never overwritten.
    assert!(matches!(
        vault
            .put(&id, Bytes::from_static(b"other"), "image/jpeg")
            .await,
        Err(VaultError::AlreadyExists)
    ));

    // Rotation, then destroy.
    let cfg_b = VaultConfig {
        master_key: Some(key_b.to_string()),
        previous_master_keys: Some(vec![key_a.to_string()]),
        ..cfg.clone()
    };
    let rewrapped = cfg_b.build().unwrap().rewrap(&sealed).await.unwrap();
    let only_b = VaultConfig {
        master_key: Some(key_b.to_string()),
        previous_master_keys: Some(vec![]),
        ..cfg
    };
    let vault_b = only_b.build().unwrap();
    assert_eq!(
        vault_b.get(&rewrapped).await.unwrap().as_ref(),
        plain.as_slice()
    );
    vault_b.destroy(&rewrapped).await.unwrap();
    assert!(matches!(
        vault_b.get(&rewrapped).await,
        Err(VaultError::NotFound)
    ));
}
