//! `[vault]` configuration: where blobs go and which master keys to use.
//!
//! ```toml
//! [vault]
//! max_document_bytes = 67108864
//! fsync = true   # local store: blobs are on disk before put returns
//! # master keys come from the environment by default:
//! #   DOUBLECHECK_MASTER_KEY, DOUBLECHECK_PREVIOUS_MASTER_KEYS (comma-separated)
//!
//! [vault.store]
//! kind = "local"
//! path = "doublecheck-data/documents"
//!
//! # or an S3-compatible bucket (credentials from here or from AWS_ACCESS_KEY_ID,
//! # AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION, AWS_ENDPOINT):
//! # [vault.store]
//! # kind = "s3"
//! # bucket = "doublecheck-documents"
//! # endpoint = "https://s3.eu-central-1.amazonaws.com"
//! # region = "eu-central-1"
//! ```

use std::fmt;
use std::sync::Arc;

use object_store::ObjectStore;
use serde::{Deserialize, Serialize};

use crate::error::VaultError;
use crate::keys::KeyRing;
use crate::vault::{DEFAULT_MAX_DOCUMENT_BYTES, Vault};

/// The vault's settings.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VaultConfig {
    /// Where blobs are stored.
    pub store: StoreConfig,
    /// Largest document accepted (bytes); default 64 MiB.
    pub max_document_bytes: Option<u64>,
    /// The current master key string. Prefer the environment (`DOUBLECHECK_MASTER_KEY`), which
    /// is used when this is absent.
    pub master_key: Option<String>,
    /// Older master key strings, for reading documents not yet re-wrapped. When absent,
    /// `DOUBLECHECK_PREVIOUS_MASTER_KEYS` (comma-separated) is used.
    pub previous_master_keys: Option<Vec<String>>,
    /// Local store only: fsync each blob and its directory before `put` returns, so a document
    /// the customer was told is received survives a crash. Default true.
    #[serde(default = "yes")]
    pub fsync: bool,
}

fn yes() -> bool {
    true
}

/// Where blobs are stored.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum StoreConfig {
    /// A local directory (created if missing).
    Local {
        /// Directory of the blobs.
        path: String,
    },
    /// An S3-compatible bucket.
    S3 {
        /// Bucket name.
        bucket: String,
        /// Endpoint URL, for S3-compatible services (MinIO, Ceph, R2 …); AWS when absent.
        #[serde(default)]
        endpoint: Option<String>,
        /// Region; `AWS_REGION` or `us-east-1` when absent.
        #[serde(default)]
        region: Option<String>,
        /// Access key id; `AWS_ACCESS_KEY_ID` when absent.
        #[serde(default)]
        access_key_id: Option<String>,
        /// Secret access key; `AWS_SECRET_ACCESS_KEY` when absent.
        #[serde(default)]
        secret_access_key: Option<String>,
        /// Allow `http://` endpoints (local test services only).
        #[serde(default)]
        allow_http: bool,
        /// Use virtual-hosted-style requests (`bucket.endpoint`) instead of path style.
        #[serde(default)]
        virtual_hosted_style: bool,
    },
}

impl Default for VaultConfig {
    fn default() -> Self {
        VaultConfig {
            store: StoreConfig::default(),
            max_document_bytes: None,
            master_key: None,
            previous_master_keys: None,
            fsync: true,
        }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig::Local {
            path: "doublecheck-data/documents".to_string(),
        }
    }
}

impl fmt::Debug for VaultConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultConfig")
            .field("store", &self.store)
            .field("max_document_bytes", &self.max_document_bytes)
            .field("fsync", &self.fsync)
            .field(
                "master_key",
                &self.master_key.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "previous_master_keys",
                &self
                    .previous_master_keys
                    .as_ref()
                    .map(|v| format!("<{} redacted>", v.len())),
            )
            .finish()
    }
}

impl fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreConfig::Local { path } => f.debug_struct("Local").field("path", path).finish(),
            StoreConfig::S3 {
                bucket,
                endpoint,
                region,
                access_key_id,
                secret_access_key,
                allow_http,
                virtual_hosted_style,
            } => f
                .debug_struct("S3")
                .field("bucket", bucket)
                .field("endpoint", endpoint)
                .field("region", region)
                .field("access_key_id", access_key_id)
                .field(
                    "secret_access_key",
                    &secret_access_key.as_ref().map(|_| "<redacted>"),
                )
                .field("allow_http", allow_http)
                .field("virtual_hosted_style", virtual_hosted_style)
                .finish(),
        }
    }
}

impl VaultConfig {
    /// Builds the vault, reading master keys from the process environment where the
    /// configuration has none.
    pub fn build(&self) -> Result<Vault, VaultError> {
        self.build_with_env(|k| std::env::var(k).ok())
    }

    /// [`VaultConfig::build`] with the environment read through `env` (for tests).
    pub fn build_with_env(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Vault, VaultError> {
        let keys = self.key_ring(&env)?;
        let store = self.store.build_with(self.fsync)?;
        Ok(Vault::new(store, keys).with_max_document_bytes(
            self.max_document_bytes
                .unwrap_or(DEFAULT_MAX_DOCUMENT_BYTES),
        ))
    }

    fn key_ring(&self, env: &impl Fn(&str) -> Option<String>) -> Result<KeyRing, VaultError> {
        let current = match &self.master_key {
            Some(k) => zeroize::Zeroizing::new(k.clone()),
            None => zeroize::Zeroizing::new(env(crate::MASTER_KEY_ENV).ok_or_else(|| {
                crate::error::KeyError::Missing {
                    which: crate::MASTER_KEY_ENV.to_string(),
                }
            })?),
        };
        let previous: Vec<zeroize::Zeroizing<String>> = match &self.previous_master_keys {
            Some(v) => v
                .iter()
                .map(|s| zeroize::Zeroizing::new(s.clone()))
                .collect(),
            None => env(crate::PREVIOUS_MASTER_KEYS_ENV)
                .map(|s| {
                    let s = zeroize::Zeroizing::new(s);
                    s.split(',')
                        .map(|p| zeroize::Zeroizing::new(p.to_string()))
                        .collect()
                })
                .unwrap_or_default(),
        };
        let refs: Vec<&str> = previous.iter().map(|s| s.as_str()).collect();
        Ok(KeyRing::from_config(&current, &refs)?)
    }
}

impl StoreConfig {
    /// The object store these settings describe (a local store fsyncs its writes).
    pub fn build(&self) -> Result<Arc<dyn ObjectStore>, VaultError> {
        self.build_with(true)
    }

    fn build_with(&self, fsync: bool) -> Result<Arc<dyn ObjectStore>, VaultError> {
        match self {
            StoreConfig::Local { path } => {
                if path.trim().is_empty() {
                    return Err(VaultError::Config("store.path is empty".into()));
                }
                std::fs::create_dir_all(path).map_err(|e| {
                    VaultError::Config(format!(
                        "cannot create the document directory {path:?}: {e}"
                    ))
                })?;
                let fs = object_store::local::LocalFileSystem::new_with_prefix(path)
                    .map_err(|e| VaultError::Config(format!("document directory {path:?}: {e}")))?
                    .with_fsync(fsync);
                Ok(Arc::new(fs))
            }
            #[cfg(feature = "s3")]
            StoreConfig::S3 {
                bucket,
                endpoint,
                region,
                access_key_id,
                secret_access_key,
                allow_http,
                virtual_hosted_style,
            } => {
                use object_store::aws::AmazonS3Builder;
                // TLS through rustls with ring; a no-op when a provider is already installed.
                let _ = rustls::crypto::ring::default_provider().install_default();
                if bucket.trim().is_empty() {
                    return Err(VaultError::Config("store.bucket is empty".into()));
                }
                let mut b = AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .with_allow_http(*allow_http)
                    .with_virtual_hosted_style_request(*virtual_hosted_style);
                if let Some(e) = endpoint {
                    b = b.with_endpoint(e);
                }
                if let Some(r) = region {
                    b = b.with_region(r);
                }
                if let Some(k) = access_key_id {
                    b = b.with_access_key_id(k);
                }
                if let Some(s) = secret_access_key {
                    b = b.with_secret_access_key(s);
                }
                let s3 = b
                    .build()
                    .map_err(|e| VaultError::Config(format!("S3 bucket {bucket:?}: {e}")))?;
                Ok(Arc::new(s3))
            }
            #[cfg(not(feature = "s3"))]
            StoreConfig::S3 { .. } => Err(VaultError::Config(
                "this build has no S3 support (feature `s3` of doublecheck-vault)".into(),
            )),
        }
    }
}
