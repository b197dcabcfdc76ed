//! Documents at rest for the verification portal: the identity documents customers upload,
//! encrypted one by one and kept in an object store.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use doublecheck_vault::{KeyRing, UploadPolicy, Vault, sanitize};
//! let keys = KeyRing::from_config(&std::env::var("DOUBLECHECK_MASTER_KEY")?, &[])?;
//! let store = Arc::new(object_store::local::LocalFileSystem::new_with_prefix("documents")?);
//! let vault = Vault::new(store, keys);
//!
//! let upload: Vec<u8> = std::fs::read("passport.jpg")?;
//! let clean = sanitize(&upload, Some("passport.jpg"), &UploadPolicy::default())?;
//! let sealed = vault.put("file_5j2k9x", clean.bytes, clean.kind.content_type()).await?;
//! let json = serde_json::to_string(&sealed)?; // the database keeps this
//! let bytes = vault.get(&sealed).await?;      // the reviewer's viewer decrypts on the fly
//! # Ok(()) }
//! ```
//!
//! # Layout
//!
//! - [`keys`]: [`KeyRing`] — the current master key (wraps every new data key) and previous
//!   ones (unwrap only), from `DOUBLECHECK_MASTER_KEY` / `DOUBLECHECK_PREVIOUS_MASTER_KEYS` or
//!   the configuration; [`generate_master_key`].
//! - [`vault`]: [`Vault`] (`put`, `get`, `rewrap`, `destroy`) and [`SealedDocument`], the
//!   record the database keeps.
//! - [`config`]: [`VaultConfig`] — `[vault]` settings: local directory (default) or an
//!   S3-compatible bucket (feature `s3`, on by default).
//! - [`inspect`]: upload validation — [`inspect()`], [`sanitize`], [`sanitize_filename`] and
//!   the rules they apply (magic bytes, size, archives, polyglots, PDF active content, image
//!   dimension limits, re-encoding).
//! - `error`: [`VaultError`], [`KeyError`]; upload errors are [`UploadError`].
//!
//! # Envelope encryption
//!
//! Each document gets a fresh random 256-bit data key and a random 96-bit nonce and is
//! encrypted in one shot with AES-256-GCM; the associated data binds the ciphertext to the
//! document id and content type, so a blob moved under another id, or a record whose content
//! type was changed, does not decrypt. The data key is wrapped with AES-256-GCM by the current
//! master key (random nonce; associated data = master key id and document id, so a wrapped key
//! copied to another record does not unwrap). The record keeps the master key id; rotation
//! ([`Vault::rewrap`]) re-wraps the 32-byte data key under the new master key and never reads
//! the blob.
//!
//! One shot rather than the chunked STREAM construction: uploads are limited to 10 MB and must
//! be fully in memory anyway (the image re-encoder decodes them whole, and the object store put
//! is one request), 10 MB is far below AES-GCM's 64 GiB limit per message, and one tag over
//! the whole blob leaves no chunk order or truncation to get wrong. Each data key encrypts
//! exactly one message, so nonce reuse under a data key cannot happen; master keys wrap one
//! 32-byte key per document with random nonces, far below the 2^32 messages allowed per key
//! (rotate long before).
//!
//! # Blobs
//!
//! The object path is `documents/<first byte of SHA-256(id), hex>/<id>` — derived from the
//! document id alone, never from a customer's file name; ids are 1–128 characters of
//! `A-Z a-z 0-9 _ -`. The blob is the ciphertext followed by the 16-byte GCM tag, nothing else;
//! it is written once (`PutMode::Create`: an existing blob is never overwritten).
//!
//! # Redaction
//!
//! [`Vault::destroy`] deletes the blob. The caller must also delete the record's `wrapped_key`
//! (or the whole [`SealedDocument`]) from the database: the data key exists nowhere else, so a
//! copy of the blob left in a backup or a versioned bucket is unreadable for good.

pub mod config;
mod error;
pub mod inspect;
pub mod keys;
pub mod vault;

pub use config::{StoreConfig, VaultConfig};
pub use error::{KeyError, VaultError};
pub use inspect::{
    CleanUpload, DocumentKind, UploadError, UploadPolicy, inspect, sanitize, sanitize_filename,
};
pub use keys::{KeyRing, MasterKey, generate_master_key};
pub use vault::{SealedDocument, Vault};

/// Environment variable holding the current master key string.
pub const MASTER_KEY_ENV: &str = "DOUBLECHECK_MASTER_KEY";
/// Environment variable holding previous master key strings, comma-separated.
pub const PREVIOUS_MASTER_KEYS_ENV: &str = "DOUBLECHECK_PREVIOUS_MASTER_KEYS";
