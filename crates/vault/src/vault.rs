//! Envelope encryption of documents and their blobs in an object store.

use std::sync::Arc;

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use bytes::{Bytes, BytesMut};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::VaultError;
use crate::keys::{KEY_LEN, KeyRing, MasterKey};

/// The record format written by this version.
pub const FORMAT_VERSION: u32 = 1;
/// The only algorithm of format 1: AES-256-GCM for the document and for the wrapped data key.
pub const ALGORITHM: &str = "A256GCM";
/// Default largest document [`Vault::put`] accepts (64 MiB; uploads are limited to 10 MB before
/// they get here, re-encoded images can be somewhat larger).
pub const DEFAULT_MAX_DOCUMENT_BYTES: u64 = 64 * 1024 * 1024;
/// The longest document id.
pub const MAX_DOC_ID_LEN: usize = 128;
/// The longest content type.
pub const MAX_CONTENT_TYPE_LEN: usize = 127;

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// nonce ‖ encrypted data key ‖ tag.
const WRAPPED_LEN: usize = NONCE_LEN + KEY_LEN + TAG_LEN;
/// Above this size the cipher work runs on tokio's blocking pool, not on the async worker.
const BLOCKING_THRESHOLD: usize = 256 * 1024;

/// What the database keeps for one document. Everything needed to read it back, given the
/// master key named by `key_id`; nothing secret in the clear (the data key is wrapped).
///
/// Serializes to JSON with byte fields in standard base64 and the digest in hex.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedDocument {
    /// Record format, [`FORMAT_VERSION`].
    pub version: u32,
    /// The document id given to [`Vault::put`]; bound into both ciphertexts.
    pub doc_id: String,
    /// Where the blob is in the object store (derived from `doc_id` only).
    pub object_path: String,
    /// Content type (e.g. `image/jpeg`); bound into the document's ciphertext.
    pub content_type: String,
    /// [`ALGORITHM`].
    pub algorithm: String,
    /// Plaintext size in bytes.
    pub size: u64,
    /// Blob size in bytes: `size` + 16 (the GCM tag at the end).
    pub blob_size: u64,
    /// The document's 96-bit GCM nonce.
    #[serde(with = "b64")]
    pub nonce: Vec<u8>,
    /// Id of the master key that wrapped the data key.
    pub key_id: String,
    /// The data key wrapped by that master key: nonce (12) ‖ ciphertext (32) ‖ tag (16).
    /// Deleting this (redaction) makes the blob unreadable for good.
    #[serde(with = "b64")]
    pub wrapped_key: Vec<u8>,
    /// SHA-256 of the blob, hex: lets an audit check blobs without any key.
    pub sha256: String,
}

/// Encrypted documents in an object store. Cheap to clone; share one per process.
#[derive(Clone, Debug)]
pub struct Vault {
    store: Arc<dyn ObjectStore>,
    keys: KeyRing,
    max_document_bytes: u64,
}

impl Vault {
    /// A vault over `store` with the master keys in `keys`.
    pub fn new(store: Arc<dyn ObjectStore>, keys: KeyRing) -> Self {
        Vault {
            store,
            keys,
            max_document_bytes: DEFAULT_MAX_DOCUMENT_BYTES,
        }
    }

    /// Sets the largest document [`Vault::put`] accepts and [`Vault::get`] reads.
    pub fn with_max_document_bytes(mut self, max: u64) -> Self {
        self.max_document_bytes = max;
        self
    }

    /// The master keys.
    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    /// The object store.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The object path for a document id: `documents/<2 hex digits of SHA-256(id)>/<id>`.
    pub fn object_path(doc_id: &str) -> Result<Path, VaultError> {
        check_doc_id(doc_id)?;
        let shard = Sha256::digest(doc_id.as_bytes());
        Path::parse(format!("documents/{:02x}/{doc_id}", shard[0]))
            .map_err(|e| VaultError::InvalidId(e.to_string()))
    }

    /// Encrypts `plaintext` under a fresh data key and stores the blob. Refuses to overwrite an
    /// existing blob of the same id ([`VaultError::AlreadyExists`]). The caller saves the
    /// returned record in the database; without it the blob cannot be read.
    ///
    /// `doc_id`: 1–128 characters of `A-Z a-z 0-9 _ -` (e.g. `file_` + random base32).
    pub async fn put(
        &self,
        doc_id: &str,
        plaintext: Bytes,
        content_type: &str,
    ) -> Result<SealedDocument, VaultError> {
        let path = Vault::object_path(doc_id)?;
        check_content_type(content_type)?;
        let size = plaintext.len() as u64;
        if size > self.max_document_bytes {
            return Err(VaultError::TooLarge {
                size,
                max: self.max_document_bytes,
            });
        }

        let mut data_key = Zeroizing::new([0u8; KEY_LEN]);
        let mut nonce = [0u8; NONCE_LEN];
        random(data_key.as_mut_slice())?;
        random(&mut nonce)?;
        let wrapped_key = wrap_key(self.keys.current(), doc_id, &data_key)?;

        let aad = document_aad(doc_id, content_type);
        let large = size as usize > BLOCKING_THRESHOLD;
        let encrypt = move || seal_blob(&data_key, &nonce, &aad, plaintext);
        let (ciphertext, tag) = if large {
            tokio::task::spawn_blocking(encrypt)
                .await
                .map_err(|e| VaultError::Store(format!("encryption task failed: {e}")))??
        } else {
            encrypt()?
        };

        // The digest is computed on the blocking pool while the store writes the blob (the
        // two overlap on a second core; both only read the ciphertext).
        let payload = PutPayload::from_iter([ciphertext.clone(), tag.clone()]);
        let digest = async move {
            if large {
                tokio::task::spawn_blocking(move || blob_sha256(&ciphertext, &tag))
                    .await
                    .map_err(|e| VaultError::Store(format!("digest task failed: {e}")))
            } else {
                Ok(blob_sha256(&ciphertext, &tag))
            }
        };
        let store = async {
            let opts = PutOptions {
                mode: PutMode::Create,
                ..Default::default()
            };
            match self.store.put_opts(&path, payload.clone(), opts).await {
                Ok(_) => Ok(()),
                Err(object_store::Error::NotImplemented { .. }) => {
                    // Stores without conditional writes: a plain write (ids are random, so a
                    // collision means a caller bug, not a race).
                    self.store.put(&path, payload).await.map(|_| ())
                }
                Err(e) => Err(e),
            }
        };
        let (sha256, stored) = tokio::join!(digest, store);
        stored?;
        let sha256 = sha256?;

        Ok(SealedDocument {
            version: FORMAT_VERSION,
            doc_id: doc_id.to_string(),
            object_path: path.to_string(),
            content_type: content_type.to_string(),
            algorithm: ALGORITHM.to_string(),
            size,
            blob_size: size + TAG_LEN as u64,
            nonce: nonce.to_vec(),
            key_id: self.keys.current().id().to_string(),
            wrapped_key,
            sha256: hex::encode(sha256),
        })
    }

    /// Reads and decrypts a document. An altered blob or record, a blob of another document,
    /// or the wrong master key gives an error, never wrong bytes.
    pub async fn get(&self, doc: &SealedDocument) -> Result<Bytes, VaultError> {
        let path = self.check_record(doc)?;
        let data_key = self.unwrap_key(doc)?;

        let got = self.store.get(&path).await?;
        if got.meta.size != doc.blob_size {
            return Err(VaultError::Decrypt);
        }
        let blob = got.bytes().await?;
        if blob.len() as u64 != doc.blob_size {
            return Err(VaultError::Decrypt);
        }

        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&doc.nonce);
        let aad = document_aad(&doc.doc_id, &doc.content_type);
        let expected_sha = doc.sha256.clone();
        let open = move || open_blob(&data_key, &nonce, &aad, blob, &expected_sha);
        if doc.blob_size as usize > BLOCKING_THRESHOLD {
            tokio::task::spawn_blocking(open)
                .await
                .map_err(|e| VaultError::Store(format!("decryption task failed: {e}")))?
        } else {
            open()
        }
    }

    /// True when the document's data key is wrapped by an older master key.
    pub fn needs_rewrap(&self, doc: &SealedDocument) -> bool {
        doc.key_id != self.keys.current().id()
    }

    /// Re-wraps the document's data key under the current master key (key rotation). The blob
    /// is not read or written. Returns the record unchanged when it already uses the current
    /// key; otherwise the caller replaces the stored record with the returned one.
    pub async fn rewrap(&self, doc: &SealedDocument) -> Result<SealedDocument, VaultError> {
        self.check_record(doc)?;
        if !self.needs_rewrap(doc) {
            // Still check that it unwraps, so a rotation run reports broken records.
            self.unwrap_key(doc)?;
            return Ok(doc.clone());
        }
        let data_key = self.unwrap_key(doc)?;
        let wrapped_key = wrap_key(self.keys.current(), &doc.doc_id, &data_key)?;
        Ok(SealedDocument {
            key_id: self.keys.current().id().to_string(),
            wrapped_key,
            ..doc.clone()
        })
    }

    /// Deletes the blob (a blob already gone is not an error). For redaction the caller also
    /// deletes `wrapped_key` from the database: either alone makes the document unreadable,
    /// both together leave nothing (an object store may keep deleted blobs in versions or
    /// backups; without the wrapped key those are ciphertext nobody can open).
    pub async fn destroy(&self, doc: &SealedDocument) -> Result<(), VaultError> {
        let path = Vault::object_path(&doc.doc_id)?;
        if doc.object_path != path.as_ref() {
            return Err(VaultError::BadRecord(
                "object path does not match the document id".into(),
            ));
        }
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    fn check_record(&self, doc: &SealedDocument) -> Result<Path, VaultError> {
        let bad = |m: &str| Err(VaultError::BadRecord(m.to_string()));
        if doc.version != FORMAT_VERSION {
            return bad("unknown format version");
        }
        if doc.algorithm != ALGORITHM {
            return bad("unknown algorithm");
        }
        let path = Vault::object_path(&doc.doc_id)?;
        if doc.object_path != path.as_ref() {
            return bad("object path does not match the document id");
        }
        check_content_type(&doc.content_type)?;
        if doc.nonce.len() != NONCE_LEN {
            return bad("nonce has the wrong length");
        }
        if doc.wrapped_key.len() != WRAPPED_LEN {
            return bad("wrapped key has the wrong length");
        }
        if doc.size > self.max_document_bytes {
            return Err(VaultError::TooLarge {
                size: doc.size,
                max: self.max_document_bytes,
            });
        }
        if doc.blob_size != doc.size + TAG_LEN as u64 {
            return bad("blob size does not match the document size");
        }
        if doc.sha256.len() != 64 || !doc.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return bad("sha256 is not 64 hex digits");
        }
        Ok(path)
    }

    fn unwrap_key(&self, doc: &SealedDocument) -> Result<Zeroizing<[u8; KEY_LEN]>, VaultError> {
        let master = self
            .keys
            .get(&doc.key_id)
            .ok_or_else(|| VaultError::UnknownKey(doc.key_id.clone()))?;
        unwrap_key(master, &doc.doc_id, &doc.wrapped_key)
    }
}

fn check_doc_id(id: &str) -> Result<(), VaultError> {
    if id.is_empty() || id.len() > MAX_DOC_ID_LEN {
        return Err(VaultError::InvalidId(format!(
            "must be 1 to {MAX_DOC_ID_LEN} characters"
        )));
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(VaultError::InvalidId(
            "only A-Z, a-z, 0-9, '_' and '-' are allowed".into(),
        ));
    }
    Ok(())
}

fn check_content_type(ct: &str) -> Result<(), VaultError> {
    if ct.is_empty()
        || ct.len() > MAX_CONTENT_TYPE_LEN
        || !ct.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
    {
        return Err(VaultError::BadRecord(
            "content type must be 1-127 printable ASCII characters".into(),
        ));
    }
    Ok(())
}

fn random(buf: &mut [u8]) -> Result<(), VaultError> {
    getrandom::fill(buf).map_err(|_| VaultError::Random)
}

fn cipher(key: &[u8; KEY_LEN]) -> Aes256Gcm {
    Aes256Gcm::new(key.into())
}

/// Associated data of a document: binds the ciphertext to its id and content type.
fn document_aad(doc_id: &str, content_type: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(40 + doc_id.len() + content_type.len());
    aad.extend_from_slice(b"doublecheck-vault/1 document\0");
    aad.extend_from_slice(doc_id.as_bytes());
    aad.push(0);
    aad.extend_from_slice(content_type.as_bytes());
    aad
}

/// Associated data of a wrapped data key: binds it to its master key id and document id, so a
/// wrapped key copied onto another record does not unwrap.
fn key_aad(master_id: &str, doc_id: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(40 + master_id.len() + doc_id.len());
    aad.extend_from_slice(b"doublecheck-vault/1 data key\0");
    aad.extend_from_slice(master_id.as_bytes());
    aad.push(0);
    aad.extend_from_slice(doc_id.as_bytes());
    aad
}

fn wrap_key(
    master: &MasterKey,
    doc_id: &str,
    data_key: &[u8; KEY_LEN],
) -> Result<Vec<u8>, VaultError> {
    let mut nonce = [0u8; NONCE_LEN];
    random(&mut nonce)?;
    let mut out = Vec::with_capacity(WRAPPED_LEN);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(data_key);
    let aad = key_aad(master.id(), doc_id);
    let tag = cipher(master.material())
        .encrypt_inout_detached(&Nonce::from(nonce), &aad, (&mut out[NONCE_LEN..]).into())
        .map_err(|_| VaultError::KeyUnwrap)?;
    out.extend_from_slice(&tag);
    Ok(out)
}

fn unwrap_key(
    master: &MasterKey,
    doc_id: &str,
    wrapped: &[u8],
) -> Result<Zeroizing<[u8; KEY_LEN]>, VaultError> {
    if wrapped.len() != WRAPPED_LEN {
        return Err(VaultError::BadRecord(
            "wrapped key has the wrong length".into(),
        ));
    }
    let (nonce, rest) = wrapped.split_at(NONCE_LEN);
    let (ct, tag) = rest.split_at(KEY_LEN);
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    key.copy_from_slice(ct);
    let nonce = Nonce::try_from(nonce).map_err(|_| VaultError::KeyUnwrap)?;
    let tag = Tag::try_from(tag).map_err(|_| VaultError::KeyUnwrap)?;
    let aad = key_aad(master.id(), doc_id);
    cipher(master.material())
        .decrypt_inout_detached(&nonce, &aad, key.as_mut_slice().into(), &tag)
        .map_err(|_| VaultError::KeyUnwrap)?;
    Ok(key)
}

/// Encrypts in place when `plaintext` is not shared (one copy otherwise). Returns the
/// ciphertext and the tag.
fn seal_blob(
    key: &[u8; KEY_LEN],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    plaintext: Bytes,
) -> Result<(Bytes, Bytes), VaultError> {
    let mut buf: BytesMut = match plaintext.try_into_mut() {
        Ok(unique) => unique,
        Err(shared) => BytesMut::from(shared.as_ref()),
    };
    let tag = cipher(key)
        .encrypt_inout_detached(&Nonce::from(*nonce), aad, buf.as_mut().into())
        .map_err(|_| VaultError::Decrypt)?;
    Ok((buf.freeze(), Bytes::copy_from_slice(&tag)))
}

/// SHA-256 of the blob: ciphertext ‖ tag.
fn blob_sha256(ciphertext: &[u8], tag: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(ciphertext);
    h.update(tag);
    h.finalize().into()
}

fn open_blob(
    key: &[u8; KEY_LEN],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    blob: Bytes,
    expected_sha256: &str,
) -> Result<Bytes, VaultError> {
    let digest = Sha256::digest(&blob);
    if !hex::encode(digest).eq_ignore_ascii_case(expected_sha256) {
        return Err(VaultError::Decrypt);
    }
    let body_len = blob.len().checked_sub(TAG_LEN).ok_or(VaultError::Decrypt)?;
    let tag = Tag::try_from(&blob[body_len..]).map_err(|_| VaultError::Decrypt)?;
    let mut buf: BytesMut = match blob.try_into_mut() {
        Ok(unique) => unique,
        Err(shared) => BytesMut::from(shared.as_ref()),
    };
    buf.truncate(body_len);
    cipher(key)
        .decrypt_inout_detached(&Nonce::from(*nonce), aad, buf.as_mut().into(), &tag)
        .map_err(|_| VaultError::Decrypt)?;
    Ok(buf.freeze())
}

mod b64 {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        if s.len() > 1024 {
            return Err(serde::de::Error::custom("base64 field too long"));
        }
        STANDARD
            .decode(s.as_bytes())
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_aad_binds_the_id() {
        let key = [3u8; KEY_LEN];
        let nonce = [5u8; NONCE_LEN];
        let (ct, tag) = seal_blob(
            &key,
            &nonce,
            &document_aad("file_a", "image/png"),
            Bytes::from_static(b"abc"),
        )
        .unwrap();
        let mut blob = ct.to_vec();
        blob.extend_from_slice(&tag);
        let sha = hex::encode(blob_sha256(&ct, &tag));
        let blob = Bytes::from(blob);
        let ok = open_blob(
            &key,
            &nonce,
            &document_aad("file_a", "image/png"),
            blob.clone(),
            &sha,
        );
        assert_eq!(ok.unwrap().as_ref(), b"abc");
        let wrong_id = open_blob(
            &key,
            &nonce,
            &document_aad("file_b", "image/png"),
            blob,
            &sha,
        );
        assert!(matches!(wrong_id, Err(VaultError::Decrypt)));
    }
}
