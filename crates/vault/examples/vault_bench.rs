//! Upload-path figures: a 10 MB document encrypted and stored on the local object store, next
//! to baselines measured in the same run (AES-256-GCM alone, SHA-256 alone, a plain
//! object_store put of the same bytes), and the time to sanitize (decode + re-encode) a
//! 12-megapixel JPEG.
//!
//! `cargo run --release -p doublecheck-vault --example vault_bench [ROUNDS]`
//! Blobs go to a temporary directory under `target/` (a real disk, not tmpfs), or under
//! `$VAULT_BENCH_DIR`.

use std::io::Cursor;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use bytes::Bytes;
use doublecheck_vault::{KeyRing, UploadPolicy, Vault, generate_master_key, sanitize};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use sha2::{Digest, Sha256};

const DOC: usize = 10 * 1024 * 1024;

fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

struct Stats {
    times: Vec<Duration>,
}

impl Stats {
    fn new() -> Self {
        Stats { times: Vec::new() }
    }
    fn median(&self) -> Duration {
        let mut t = self.times.clone();
        t.sort();
        t[t.len() / 2]
    }
    fn best(&self) -> Duration {
        *self.times.iter().min().unwrap()
    }
    fn mbps(d: Duration, bytes: usize) -> f64 {
        bytes as f64 / 1e6 / d.as_secs_f64()
    }
    fn line(&self, what: &str, bytes: usize) {
        println!(
            "{what:<48} median {:>8.1} MB/s ({:>6.2} ms)   best {:>8.1} MB/s",
            Self::mbps(self.median(), bytes),
            self.median().as_secs_f64() * 1e3,
            Self::mbps(self.best(), bytes),
        );
    }
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    let base = std::env::var("VAULT_BENCH_DIR").unwrap_or_else(|_| "target".to_string());
    std::fs::create_dir_all(&base).unwrap();
    let dir = tempfile::tempdir_in(&base).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();

    let doc = noise(DOC, 0x9e37_79b9_7f4a_7c15);
    println!(
        "document: {} bytes ({:.1} MB), {rounds} rounds, blobs in {}",
        DOC,
        DOC as f64 / 1e6,
        dir.path().display()
    );

    // Baseline 1: AES-256-GCM alone, in place.
    let cipher = Aes256Gcm::new(&[7u8; 32].into());
    let mut aes = Stats::new();
    let mut buf = doc.clone();
    for i in 0..rounds {
        let mut nonce = [0u8; 12];
        nonce[..8].copy_from_slice(&(i as u64).to_le_bytes());
        let t = Instant::now();
        let tag = cipher
            .encrypt_inout_detached(&Nonce::from(nonce), b"aad", buf.as_mut_slice().into())
            .unwrap();
        aes.times.push(t.elapsed());
        std::hint::black_box(tag);
    }

    // Baseline 2: SHA-256 alone.
    let mut sha = Stats::new();
    for _ in 0..rounds {
        let t = Instant::now();
        std::hint::black_box(Sha256::digest(&doc));
        sha.times.push(t.elapsed());
    }

    let store: Arc<LocalFileSystem> =
        Arc::new(LocalFileSystem::new_with_prefix(dir.path()).unwrap());

    // Baseline 3: plain object_store put of the same bytes (no encryption).
    let mut plain = Stats::new();
    for i in 0..rounds {
        let bytes = Bytes::from(doc.clone());
        let path = Path::from(format!("plain/{i}"));
        let t = Instant::now();
        rt.block_on(store.put(&path, PutPayload::from(bytes)))
            .unwrap();
        plain.times.push(t.elapsed());
        rt.block_on(store.delete(&path)).unwrap();
    }

    // The vault: put (fresh data key, AES-256-GCM, SHA-256, key wrap, object store put).
    let keys = KeyRing::from_config(&generate_master_key().unwrap(), &[]).unwrap();
    let vault = Vault::new(store.clone(), keys);
    let mut put = Stats::new();
    let mut get = Stats::new();
    for i in 0..rounds {
        let bytes = Bytes::from(doc.clone()); // the upload handler owns its buffer
        let id = format!("file_bench{i}");
        let t = Instant::now();
        let sealed = rt
            .block_on(vault.put(&id, bytes, "application/pdf"))
            .unwrap();
        put.times.push(t.elapsed());
        let t = Instant::now();
        let back = rt.block_on(vault.get(&sealed)).unwrap();
        get.times.push(t.elapsed());
        assert_eq!(back.len(), DOC);
        assert!(back.as_ref() == doc.as_slice());
        rt.block_on(vault.destroy(&sealed)).unwrap();
    }

    // The same two with fsync (the default of VaultConfig for a local store).
    let synced: Arc<LocalFileSystem> = Arc::new(
        LocalFileSystem::new_with_prefix(dir.path())
            .unwrap()
            .with_fsync(true),
    );
    let mut plain_sync = Stats::new();
    for i in 0..rounds {
        let bytes = Bytes::from(doc.clone());
        let path = Path::from(format!("plain-sync/{i}"));
        let t = Instant::now();
        rt.block_on(synced.put(&path, PutPayload::from(bytes)))
            .unwrap();
        plain_sync.times.push(t.elapsed());
        rt.block_on(synced.delete(&path)).unwrap();
    }
    let vault_sync = Vault::new(synced.clone(), vault.keys().clone());
    let mut put_sync = Stats::new();
    for i in 0..rounds {
        let bytes = Bytes::from(doc.clone());
        let t = Instant::now();
        let sealed = rt
            .block_on(vault_sync.put(&format!("file_sync{i}"), bytes, "application/pdf"))
            .unwrap();
        put_sync.times.push(t.elapsed());
        rt.block_on(vault_sync.destroy(&sealed)).unwrap();
    }

    println!();
    aes.line("AES-256-GCM alone (in place)", DOC);
    sha.line("SHA-256 alone", DOC);
    plain.line("object_store put, plaintext (local disk)", DOC);
    put.line("vault.put: encrypt + store  [target >= 200]", DOC);
    get.line("vault.get: read + verify + decrypt", DOC);
    plain_sync.line("object_store put, plaintext, fsync", DOC);
    put_sync.line("vault.put with fsync  [target >= 200]", DOC);
    println!(
        "vault.put / plain put: {:.2}x the time; with fsync {:.2}x",
        put.median().as_secs_f64() / plain.median().as_secs_f64(),
        put_sync.median().as_secs_f64() / plain_sync.median().as_secs_f64()
    );

    // A 12-megapixel photo: 4000 x 3000 with texture, JPEG quality 90.
    let (w, h) = (4000u32, 3000u32);
    let pixels = noise((w * h * 3) as usize, 42);
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        let i = ((y * w + x) * 3) as usize;
        let n = |k: usize| pixels[i + k] / 8;
        image::Rgb([
            ((x / 16) as u8).wrapping_add(n(0)),
            ((y / 12) as u8).wrapping_add(n(1)),
            (((x + y) / 28) as u8).wrapping_add(n(2)),
        ])
    });
    let mut jpeg = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(
            Cursor::new(&mut jpeg),
            90,
        ))
        .unwrap();
    println!();
    println!("12 MP JPEG: {w}x{h}, {:.1} MB", jpeg.len() as f64 / 1e6);
    let policy = UploadPolicy::default();
    let reps = rounds.clamp(1, 5);
    let mut decode = Stats::new();
    let mut clean = Stats::new();
    let mut out_len = 0;
    for _ in 0..reps {
        let t = Instant::now();
        std::hint::black_box(
            image::load_from_memory_with_format(&jpeg, image::ImageFormat::Jpeg).unwrap(),
        );
        decode.times.push(t.elapsed());
        let t = Instant::now();
        let c = sanitize(&jpeg, Some("IMG_0001.jpg"), &policy).unwrap();
        clean.times.push(t.elapsed());
        out_len = c.bytes.len();
    }
    println!(
        "decode alone (baseline)                          median {:>7.0} ms   best {:>7.0} ms",
        decode.median().as_secs_f64() * 1e3,
        decode.best().as_secs_f64() * 1e3
    );
    println!(
        "sanitize: checks + decode + re-encode (q90)      median {:>7.0} ms   best {:>7.0} ms  -> {:.1} MB",
        clean.median().as_secs_f64() * 1e3,
        clean.best().as_secs_f64() * 1e3,
        out_len as f64 / 1e6
    );
}
