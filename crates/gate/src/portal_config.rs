//! The `[portal]` section of `doublecheck.toml`: the verification portal's developer API
//! (`/v1/verification_sessions`, …, crate `doublecheck-portal`) served on the HTTP listener.

use serde::Deserialize;
use std::path::PathBuf;

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PortalConfig {
    /// Serve the portal's API and run its workers (webhooks, messages to customers).
    pub enabled: bool,
    /// The base URL customers open (`https://verify.example.com`); links are
    /// `{public_url}/verify/{token}`. Without it, `http://` and the HTTP listener's address.
    pub public_url: Option<String>,
    /// The server key for the keyed hashes of `known` values and one-time codes (32 random
    /// bytes, created on first start). `DOUBLECHECK_PORTAL_KEY` (64 hex digits) overrides it.
    /// Default: `portal.key` under `data_dir`.
    pub key_file: Option<PathBuf>,
    /// How long a link stays valid (default 72 h).
    pub link_ttl_secs: u64,
    /// How long a session waits for the customer when the API does not say (`expires_in`;
    /// default 7 days).
    pub session_ttl_secs: u64,
    /// The sender of messages to customers.
    pub mail_from: String,
    /// The message every customer of a batch gets, each their own: `{{verify_link}}` becomes
    /// their link, `{{name}}` their name.
    pub message_subject: String,
    pub message_body: String,
    /// Waits before each retry of a webhook delivery, in seconds; after the last, it is given
    /// up. Default 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, 10 h (about three days).
    pub webhook_retry_secs: Vec<u64>,
    /// Waits before each retry of a message to a customer (default 60 s, 5 min, 30 min, 2 h).
    pub message_retry_secs: Vec<u64>,
    /// How long a webhook receiver may take to answer (default 10 s).
    pub webhook_timeout_secs: u64,
    /// How often the workers look for due work, in milliseconds (default 1000).
    pub worker_interval_ms: u64,
    /// The type of the verification sessions the gate creates for messages carrying
    /// `{{verify_link}}` (one per recipient): `document` (default), `address` or
    /// `address_and_document`.
    pub verify_link_type: String,
    /// Days after a session's decision (verified, rejected, canceled, expired) when its
    /// documents are destroyed (blob and wrapped data key) and its personal data redacted
    /// (default 30).
    pub retention_days: u64,
    /// Where documents are stored (encrypted): default `documents` under `data_dir`.
    pub documents_dir: Option<PathBuf>,
    /// The current master key (`doublecheck keys generate`), which wraps every document's data
    /// key. Prefer the environment: `DOUBLECHECK_MASTER_KEY` is used when this is absent.
    pub master_key: Option<Secret>,
    /// Older master keys, for reading documents not yet re-wrapped (`doublecheck keys
    /// rotate`). When absent, `DOUBLECHECK_PREVIOUS_MASTER_KEYS` (comma-separated) is used.
    pub previous_master_keys: Option<Vec<Secret>>,
}

/// A secret from the configuration: shown as `<redacted>` by `Debug`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Default for PortalConfig {
    fn default() -> Self {
        PortalConfig {
            enabled: true,
            public_url: None,
            key_file: None,
            link_ttl_secs: 72 * 3600,
            session_ttl_secs: 7 * 24 * 3600,
            mail_from: "verify@localhost".into(),
            message_subject: "Please verify your details".into(),
            message_body: "Hello {{name}},\n\nPlease confirm your details through our secure \
                           page:\n\n{{verify_link}}\n\nThe link works once and expires in 72 \
                           hours. Never send documents by email.\n"
                .into(),
            webhook_retry_secs: vec![5, 300, 1800, 7200, 18_000, 36_000, 36_000, 36_000],
            message_retry_secs: vec![60, 300, 1800, 7200],
            webhook_timeout_secs: 10,
            worker_interval_ms: 1000,
            verify_link_type: "document".into(),
            retention_days: 30,
            documents_dir: None,
            master_key: None,
            previous_master_keys: None,
        }
    }
}

impl PortalConfig {
    /// A sentence saying what is wrong, if anything.
    pub fn problem(&self) -> Option<String> {
        if self.link_ttl_secs == 0 || self.session_ttl_secs == 0 {
            return Some(
                "portal.link_ttl_secs and portal.session_ttl_secs must be at least 1".into(),
            );
        }
        if self.webhook_timeout_secs == 0 || self.worker_interval_ms == 0 {
            return Some(
                "portal.webhook_timeout_secs and portal.worker_interval_ms must be at least 1"
                    .into(),
            );
        }
        if !matches!(
            self.verify_link_type.as_str(),
            "document" | "address" | "address_and_document"
        ) {
            return Some(format!(
                "portal.verify_link_type must be document, address or address_and_document, \
                 not {:?}",
                self.verify_link_type
            ));
        }
        if self.retention_days == 0 || self.retention_days > 36_500 {
            return Some("portal.retention_days must be between 1 and 36500".into());
        }
        if let Some(u) = &self.public_url {
            let rest = u
                .strip_prefix("https://")
                .or_else(|| u.strip_prefix("http://"));
            let ok = rest.is_some_and(|h| {
                !h.is_empty()
                    && !h.contains(['?', '#', ' ', '@'])
                    && h.chars().all(|c| c.is_ascii_graphic())
            });
            if !ok {
                return Some(format!(
                    "portal.public_url must be an http(s) URL without query, not {u:?}"
                ));
            }
        }
        let from = self.mail_from.trim();
        if from.matches('@').count() != 1 || from.contains(['<', '>', ' ', ',', '\r', '\n']) {
            return Some(format!(
                "portal.mail_from must be a plain address, not {:?}",
                self.mail_from
            ));
        }
        if !self.message_body.contains("{{verify_link}}") {
            return Some("portal.message_body must contain {{verify_link}}".into());
        }
        if self.message_subject.contains(['\r', '\n']) || self.message_subject.len() > 200 {
            return Some("portal.message_subject must be one line of at most 200 bytes".into());
        }
        None
    }
}

/// Where documents go by default: `documents` under `data_dir`.
pub fn documents_dir(config: &crate::Config) -> PathBuf {
    config
        .portal
        .documents_dir
        .clone()
        .unwrap_or_else(|| config.data_dir.join("documents"))
}

/// The vault's settings from `[portal]`: a local directory ([`documents_dir`]); master keys
/// from the configuration when given, else from the environment. The customer's pages, the
/// staff's document viewer, the retention job and key rotation all open the vault through
/// this one function, so they always agree on where documents are and which keys read them.
pub fn vault_config(config: &crate::Config) -> doublecheck_vault::VaultConfig {
    doublecheck_vault::VaultConfig {
        store: doublecheck_vault::StoreConfig::Local {
            path: documents_dir(config).to_string_lossy().into_owned(),
        },
        master_key: config.portal.master_key.as_ref().map(|k| k.0.clone()),
        previous_master_keys: config
            .portal
            .previous_master_keys
            .as_ref()
            .map(|v| v.iter().map(|k| k.0.clone()).collect()),
        ..doublecheck_vault::VaultConfig::default()
    }
}

/// The vault described by `[portal]` (keys from the process environment where the
/// configuration has none).
pub fn open_vault(
    config: &crate::Config,
) -> Result<doublecheck_vault::Vault, doublecheck_vault::VaultError> {
    vault_config(config).build()
}

#[cfg(test)]
mod tests {
    use crate::Config;

    #[test]
    fn portal_section_parses_and_is_checked() {
        let c = Config::from_toml(
            "[portal]\npublic_url = \"https://verify.example.com\"\nwebhook_retry_secs = [1, 2]\n",
            "d.toml",
        )
        .expect("valid");
        assert_eq!(c.portal.webhook_retry_secs, vec![1, 2]);
        assert_eq!(c.portal.retention_days, 30);
        assert_eq!(c.portal.verify_link_type, "document");
        let c = Config::from_toml(
            "[portal]\nmaster_key = \"mk1.secret\"\nprevious_master_keys = [\"mk0.old\"]\n",
            "d.toml",
        )
        .expect("valid");
        let shown = format!("{:?}", c.portal);
        assert!(
            !shown.contains("secret") && !shown.contains("old"),
            "{shown}"
        );
        for bad in [
            "[portal]\nlink_ttl_secs = 0\n",
            "[portal]\npublic_url = \"verify.example.com\"\n",
            "[portal]\nmail_from = \"a b\"\n",
            "[portal]\nmessage_body = \"no link\"\n",
            "[portal]\nunknown = 1\n",
            "[portal]\nverify_link_type = \"passport\"\n",
            "[portal]\nretention_days = 0\n",
        ] {
            assert!(Config::from_toml(bad, "d.toml").is_err(), "{bad}");
        }
    }
}
