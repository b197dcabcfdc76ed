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
    /// `[portal.codes]`: the one-time codes of the customer's second factor.
    pub codes: CodesConfig,
    /// `[portal.sms]`: the HTTP hook that sends codes by SMS (`codes.channel = "sms"`).
    pub sms: SmsConfig,
    /// `[portal.limits]`: the limits of the customer's pages.
    pub limits: LimitsConfig,
}

/// How customers get their one-time code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CodeChannel {
    /// To the session's email address, one message through `smtp.upstream`.
    Email,
    /// To the session's phone number through the `[portal.sms]` hook; sessions without a phone
    /// number get their code by email.
    Sms,
}

impl CodeChannel {
    pub fn as_str(self) -> &'static str {
        match self {
            CodeChannel::Email => "email",
            CodeChannel::Sms => "sms",
        }
    }
}

/// `[portal.codes]`: the customer's second factor by one-time code.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CodesConfig {
    /// `email` (default) or `sms`.
    pub channel: CodeChannel,
    /// How long a code is valid, in minutes (2–60; default 10).
    pub validity_minutes: u64,
    /// Wrong codes or knowledge answers before the session locks for good (1–20; default 5).
    pub max_attempts: u32,
    /// Codes sent per session in any hour (1–20; default 3). Counted in the database, so the
    /// limit holds across restarts and instances.
    pub sends_per_hour: u32,
    /// Codes sent per session in all (1–100; default 10).
    pub max_sends: u32,
    /// The shortest wait between two codes to one session, in seconds (0–3600; default 30).
    pub resend_interval_secs: u64,
    /// How long the customer's pages stay open after the second factor, in seconds
    /// (60–86400; default 1800): the lifetime of the cookie it earns.
    pub signed_in_secs: u64,
}

impl Default for CodesConfig {
    fn default() -> Self {
        CodesConfig {
            channel: CodeChannel::Email,
            validity_minutes: 10,
            max_attempts: 5,
            sends_per_hour: 3,
            max_sends: 10,
            resend_interval_secs: 30,
            signed_in_secs: 1800,
        }
    }
}

/// `[portal.sms]`: codes by SMS through an HTTP hook (the deployment's SMS provider or a relay
/// in front of it): `POST {url}` with `{"to", "message", "channel": "sms"}` as JSON; any 2xx is
/// success.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmsConfig {
    /// The hook's `http://` or `https://` URL. Needed when `codes.channel = "sms"`.
    pub url: Option<String>,
    /// The request header that authenticates the gate to the hook (default `Authorization`).
    pub auth_header: String,
    /// The name of the environment variable holding that header's value (for example
    /// `Bearer …`); the secret itself never goes in this file. Without it, no header is sent.
    pub auth_env: Option<String>,
    /// How long the hook may take to answer, in seconds (1–60; default 10).
    pub timeout_secs: u64,
}

impl Default for SmsConfig {
    fn default() -> Self {
        SmsConfig {
            url: None,
            auth_header: "Authorization".into(),
            auth_env: None,
            timeout_secs: 10,
        }
    }
}

impl SmsConfig {
    /// The authentication header's value from the environment variable `auth_env` names, read
    /// through `env` (the process environment in `serve`): `Ok(None)` without `auth_env`; an
    /// error sentence when the variable is unset, empty or not a valid header value.
    pub fn auth_value(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Secret>, String> {
        let Some(name) = &self.auth_env else {
            return Ok(None);
        };
        match env(name) {
            None => Err(format!(
                "portal.sms.auth_env names the environment variable {name}, which is not set"
            )),
            Some(v) if v.trim().is_empty() => Err(format!(
                "the environment variable {name} (portal.sms.auth_env) is empty"
            )),
            Some(v) if v.len() > 4096 || v.bytes().any(|b| b.is_ascii_control()) => Err(format!(
                "the environment variable {name} (portal.sms.auth_env) is not a valid header \
                 value (control characters, or longer than 4096 bytes)"
            )),
            Some(v) => Ok(Some(Secret(v.trim().to_string()))),
        }
    }
}

/// `[portal.limits]`: the limits of the customer's pages (per hour ones are counted in the
/// database, so they hold across restarts and instances).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Requests for a new link per session in any hour (1–100; default 3).
    pub renewals_per_session_per_hour: u32,
    /// Requests for a new link per client address in any hour (1–10000; default 20).
    pub renewals_per_address_per_hour: u32,
    /// Requests for links that do not exist per client address per minute before every link
    /// answers 429 (1–10000; default 10; kept in each process's memory).
    pub bad_links_per_address_per_minute: u32,
    /// The largest document upload in bytes (65536–10485760; default 10 MB).
    pub max_upload_bytes: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            renewals_per_session_per_hour: 3,
            renewals_per_address_per_hour: 20,
            bad_links_per_address_per_minute: 10,
            max_upload_bytes: 10 * 1024 * 1024,
        }
    }
}

/// What is wrong with a `[portal]` setting: the key (`portal.codes.max_attempts`), so errors
/// can point at its line and column, and a sentence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub key: &'static str,
    pub message: String,
}

fn problem(key: &'static str, message: impl Into<String>) -> Option<Problem> {
    Some(Problem {
        key,
        message: message.into(),
    })
}

/// `key` must be within `lo..=hi`.
fn range(key: &'static str, v: u64, lo: u64, hi: u64) -> Option<Problem> {
    if (lo..=hi).contains(&v) {
        None
    } else {
        problem(key, format!("{key} must be between {lo} and {hi}, not {v}"))
    }
}

/// Parses an HTTP hook's URL (`portal.sms.url`) as the client that calls it will, with `what`
/// (`portal.sms.url`) opening every error sentence: `http://` or `https://` with a valid host
/// (domain names without empty labels, IP addresses) and port, and no credentials, fragment
/// or spaces. With `authenticated` (a secret header goes with every request), `http://` is
/// refused unless the host is loopback (127.0.0.0/8, ::1, localhost): the secret would travel
/// in cleartext. Errors other than a wrong scheme do not repeat the URL (its query string may
/// hold a key).
pub fn hook_url(what: &str, u: &str, authenticated: bool) -> Result<url::Url, String> {
    let lower = u.get(..8).unwrap_or(u).to_ascii_lowercase();
    if !(lower.starts_with("https://") || lower.starts_with("http://"))
        || u.len() > 2048
        || !u.chars().all(|c| c.is_ascii_graphic())
    {
        return Err(format!(
            "{what} must be an http:// or https:// URL with a host (no credentials or spaces in \
             it; put the secret in portal.sms.auth_env), not {u:?}"
        ));
    }
    let parsed = url::Url::parse(u).map_err(|e| format!("{what} is not a valid URL: {e}"))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(format!(
            "{what} must not hold credentials; put the secret in portal.sms.auth_env"
        ));
    }
    if parsed.fragment().is_some() {
        return Err(format!("{what} must not have a #fragment"));
    }
    let loopback = match parsed.host() {
        None => return Err(format!("{what} is not a valid URL: it has no host")),
        Some(url::Host::Domain(d)) => {
            let name = d.strip_suffix('.').unwrap_or(d);
            if name.len() > 253 || name.split('.').any(|l| l.is_empty() || l.len() > 63) {
                return Err(format!(
                    "{what} is not a valid URL: {d:?} is not a host name (empty or malformed \
                     label)"
                ));
            }
            name.eq_ignore_ascii_case("localhost")
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
    };
    if authenticated && parsed.scheme() == "http" && !loopback {
        return Err(format!(
            "{what} is an http:// URL but portal.sms.auth_env is set: the secret header would \
             travel in cleartext; use https://, or http:// only to a loopback address \
             (127.0.0.1, ::1, localhost)"
        ));
    }
    Ok(parsed)
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
            codes: CodesConfig::default(),
            sms: SmsConfig::default(),
            limits: LimitsConfig::default(),
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
        self.check_customer().map(|p| p.message)
    }

    /// The first problem of `[portal.codes]`, `[portal.sms]` or `[portal.limits]`, with its key.
    pub fn check_customer(&self) -> Option<Problem> {
        let c = &self.codes;
        range("portal.codes.validity_minutes", c.validity_minutes, 2, 60)
            .or_else(|| range("portal.codes.max_attempts", c.max_attempts.into(), 1, 20))
            .or_else(|| {
                range(
                    "portal.codes.sends_per_hour",
                    c.sends_per_hour.into(),
                    1,
                    20,
                )
            })
            .or_else(|| range("portal.codes.max_sends", c.max_sends.into(), 1, 100))
            .or_else(|| {
                range(
                    "portal.codes.resend_interval_secs",
                    c.resend_interval_secs,
                    0,
                    3600,
                )
            })
            .or_else(|| range("portal.codes.signed_in_secs", c.signed_in_secs, 60, 86_400))
            .or_else(|| self.check_sms())
            .or_else(|| {
                let l = &self.limits;
                range(
                    "portal.limits.renewals_per_session_per_hour",
                    l.renewals_per_session_per_hour.into(),
                    1,
                    100,
                )
                .or_else(|| {
                    range(
                        "portal.limits.renewals_per_address_per_hour",
                        l.renewals_per_address_per_hour.into(),
                        1,
                        10_000,
                    )
                })
                .or_else(|| {
                    range(
                        "portal.limits.bad_links_per_address_per_minute",
                        l.bad_links_per_address_per_minute.into(),
                        1,
                        10_000,
                    )
                })
                .or_else(|| {
                    range(
                        "portal.limits.max_upload_bytes",
                        u64::try_from(l.max_upload_bytes).unwrap_or(u64::MAX),
                        64 * 1024,
                        10 * 1024 * 1024,
                    )
                })
            })
    }

    fn check_sms(&self) -> Option<Problem> {
        let s = &self.sms;
        if let Some(u) = &s.url {
            if let Err(e) = hook_url("portal.sms.url", u, s.auth_env.is_some()) {
                return problem("portal.sms.url", e);
            }
        } else if self.codes.channel == CodeChannel::Sms {
            return problem(
                "portal.codes.channel",
                "portal.codes.channel is \"sms\" but portal.sms.url is not set: give the SMS \
                 hook's URL, or send codes by \"email\"",
            );
        }
        let token = |v: &str| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        if !token(&s.auth_header) {
            return problem(
                "portal.sms.auth_header",
                format!(
                    "portal.sms.auth_header must be a header name like Authorization, not {:?}",
                    s.auth_header
                ),
            );
        }
        if let Some(e) = &s.auth_env {
            let ok = !e.is_empty()
                && e.len() <= 128
                && !e.starts_with(|c: char| c.is_ascii_digit())
                && e.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !ok {
                return problem(
                    "portal.sms.auth_env",
                    format!(
                        "portal.sms.auth_env must name an environment variable (letters, digits \
                         and _), not {e:?}; the header's value goes in that variable, never in \
                         this file"
                    ),
                );
            }
        }
        range("portal.sms.timeout_secs", s.timeout_secs, 1, 60)
    }
}

/// The byte offset in `text` where the dotted `key` (`portal.codes.max_attempts`) is written,
/// or failing that its nearest written parent (`portal.codes`); `None` when none of it is (a
/// default is wrong) or the text does not parse.
pub(crate) fn key_offset(text: &str, key: &str) -> Option<usize> {
    let root = toml::de::DeTable::parse(text).ok()?;
    let mut table = root.get_ref();
    let mut found = None;
    for part in key.split('.') {
        let Some((k, v)) = table.get_key_value(part) else {
            break;
        };
        found = Some(k.span().start);
        match v.get_ref() {
            toml::de::DeValue::Table(t) => table = t,
            _ => break,
        }
    }
    found
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

    #[test]
    fn customer_settings_parse() {
        use super::{CodeChannel, Secret};
        let c = Config::from_toml(
            "[portal.codes]\nchannel = \"sms\"\nvalidity_minutes = 5\nmax_attempts = 3\n\
             sends_per_hour = 2\nmax_sends = 4\nresend_interval_secs = 0\nsigned_in_secs = 600\n\
             [portal.sms]\nurl = \"https://sms.example.com/send?route=eu\"\n\
             auth_header = \"X-Api-Key\"\nauth_env = \"DC_SMS_KEY\"\ntimeout_secs = 3\n\
             [portal.limits]\nrenewals_per_session_per_hour = 1\n\
             renewals_per_address_per_hour = 5\nbad_links_per_address_per_minute = 2\n\
             max_upload_bytes = 1048576\n",
            "d.toml",
        )
        .expect("valid");
        let p = &c.portal;
        assert_eq!(p.codes.channel, CodeChannel::Sms);
        assert_eq!(
            (
                p.codes.validity_minutes,
                p.codes.max_attempts,
                p.codes.sends_per_hour
            ),
            (5, 3, 2)
        );
        assert_eq!(
            (
                p.codes.max_sends,
                p.codes.resend_interval_secs,
                p.codes.signed_in_secs
            ),
            (4, 0, 600)
        );
        assert_eq!(
            p.sms.url.as_deref(),
            Some("https://sms.example.com/send?route=eu")
        );
        assert_eq!(
            (
                p.sms.auth_header.as_str(),
                p.sms.auth_env.as_deref(),
                p.sms.timeout_secs
            ),
            ("X-Api-Key", Some("DC_SMS_KEY"), 3)
        );
        assert_eq!(p.limits.renewals_per_session_per_hour, 1);
        assert_eq!(p.limits.renewals_per_address_per_hour, 5);
        assert_eq!(p.limits.bad_links_per_address_per_minute, 2);
        assert_eq!(p.limits.max_upload_bytes, 1 << 20);
        // Dotted keys under [portal] work as well; email needs no hook.
        let c = Config::from_toml("[portal]\ncodes.max_attempts = 7\n", "d.toml").expect("valid");
        assert_eq!(c.portal.codes.max_attempts, 7);
        assert_eq!(c.portal.codes.channel, CodeChannel::Email);

        // The header's value comes from the environment, never from the file.
        let sms = &p.sms;
        let env = |v: Option<&'static str>| {
            move |name: &str| {
                assert_eq!(name, "DC_SMS_KEY");
                v.map(str::to_string)
            }
        };
        assert_eq!(
            sms.auth_value(env(Some("Bearer abc"))).unwrap(),
            Some(Secret("Bearer abc".into()))
        );
        let e = sms.auth_value(env(None)).unwrap_err();
        assert!(e.contains("DC_SMS_KEY") && e.contains("not set"), "{e}");
        let e = sms.auth_value(env(Some("  "))).unwrap_err();
        assert!(e.contains("empty"), "{e}");
        let e = sms.auth_value(env(Some("a\r\nX-Evil: 1"))).unwrap_err();
        assert!(e.contains("not a valid header value"), "{e}");
        assert_eq!(
            super::SmsConfig::default().auth_value(env(None)).unwrap(),
            None
        );
        assert!(!format!("{:?}", Secret("Bearer abc".into())).contains("abc"));
    }

    #[test]
    fn customer_settings_errors_point_at_the_key() {
        // (file, expected "file:line:column: " prefix, words the message must contain)
        let cases: &[(&str, &str, &[&str])] = &[
            (
                "[portal.codes]\nchannel = \"sms\"\n",
                "d.toml:2:1: ",
                &["portal.codes.channel", "portal.sms.url is not set"],
            ),
            (
                "[portal]\nenabled = true\n\n[portal.codes]\nchannel = \"sms\"\n[portal.sms]\ntimeout_secs = 5\n",
                "d.toml:5:1: ",
                &["portal.sms.url is not set"],
            ),
            (
                "[portal.codes]\nchannel = \"sms\"\n[portal.sms]\nurl = \"ftp://sms.example.com\"\n",
                "d.toml:4:1: ",
                &[
                    "portal.sms.url must be an http:// or https:// URL",
                    "ftp://",
                ],
            ),
            (
                "[portal.sms]\nurl = \"https://user:pw@sms.example.com/\"\n",
                "d.toml:2:1: ",
                &["portal.sms.url", "credentials"],
            ),
            (
                "[portal.sms]\nurl = \"https://\"\n",
                "d.toml:2:1: ",
                &["portal.sms.url"],
            ),
            (
                "[portal.sms]\nurl = \"https://[::1\"\n",
                "d.toml:2:1: ",
                &["portal.sms.url is not a valid URL", "IPv6"],
            ),
            (
                "[portal.sms]\nurl = \"https://h:99999/\"\n",
                "d.toml:2:1: ",
                &["portal.sms.url is not a valid URL", "port"],
            ),
            (
                "[portal.sms]\nurl = \"https://a..b/send\"\n",
                "d.toml:2:1: ",
                &[
                    "portal.sms.url is not a valid URL",
                    "\"a..b\" is not a host name",
                ],
            ),
            (
                "[portal.sms]\nurl = \"https://sms.example.com/#x\"\n",
                "d.toml:2:1: ",
                &["portal.sms.url must not have a #fragment"],
            ),
            (
                "[portal.sms]\nauth_env = \"DC_SMS_KEY\"\nurl = \"http://sms.example.com/send?key=k\"\n",
                "d.toml:3:1: ",
                &[
                    "portal.sms.url is an http:// URL but portal.sms.auth_env is set",
                    "cleartext",
                ],
            ),
            (
                "[portal.sms]\nauth_env = \"DC_SMS_KEY\"\nurl = \"http://127.0.0.2.example.com/\"\n",
                "d.toml:3:1: ",
                &["cleartext"],
            ),
            (
                "[portal.sms]\nurl = \"https://sms.example.com\"\n  timeout_secs = 0\n",
                "d.toml:3:3: ",
                &["portal.sms.timeout_secs must be between 1 and 60, not 0"],
            ),
            (
                "[portal.sms]\nauth_env = \"Bearer s3cret\"\n",
                "d.toml:2:1: ",
                &["portal.sms.auth_env must name an environment variable"],
            ),
            (
                "[portal.sms]\nauth_header = \"Authorization: Bearer\"\n",
                "d.toml:2:1: ",
                &["portal.sms.auth_header must be a header name"],
            ),
            (
                "[portal.codes]\nvalidity_minutes = 0\n",
                "d.toml:2:1: ",
                &["portal.codes.validity_minutes must be between 2 and 60, not 0"],
            ),
            (
                "[portal.codes]\nvalidity_minutes = 61\n",
                "d.toml:2:1: ",
                &["between 2 and 60, not 61"],
            ),
            (
                "[portal.codes]\nmax_attempts = 0\n",
                "d.toml:2:1: ",
                &["portal.codes.max_attempts must be between 1 and 20, not 0"],
            ),
            (
                "[portal.codes]\nmax_attempts = 1\nsends_per_hour = 21\n",
                "d.toml:3:1: ",
                &["portal.codes.sends_per_hour must be between 1 and 20, not 21"],
            ),
            (
                "[portal.codes]\nmax_sends = 0\n",
                "d.toml:2:1: ",
                &["portal.codes.max_sends must be between 1 and 100"],
            ),
            (
                "[portal.codes]\nresend_interval_secs = 3601\n",
                "d.toml:2:1: ",
                &["portal.codes.resend_interval_secs must be between 0 and 3600"],
            ),
            (
                "[portal.codes]\nsigned_in_secs = 59\n",
                "d.toml:2:1: ",
                &["portal.codes.signed_in_secs must be between 60 and 86400"],
            ),
            (
                "[portal.limits]\nrenewals_per_session_per_hour = 0\n",
                "d.toml:2:1: ",
                &["portal.limits.renewals_per_session_per_hour must be between 1 and 100"],
            ),
            (
                "[portal.limits]\nrenewals_per_address_per_hour = 10001\n",
                "d.toml:2:1: ",
                &["portal.limits.renewals_per_address_per_hour must be between 1 and 10000"],
            ),
            (
                "[portal.limits]\nbad_links_per_address_per_minute = 0\n",
                "d.toml:2:1: ",
                &["portal.limits.bad_links_per_address_per_minute"],
            ),
            (
                "[portal.limits]\nmax_upload_bytes = 20971520\n",
                "d.toml:2:1: ",
                &["portal.limits.max_upload_bytes must be between 65536 and 10485760"],
            ),
            (
                "[portal]\ncodes.max_attempts = 99\n",
                "d.toml:2:7: ",
                &["portal.codes.max_attempts"],
            ),
            // Type and unknown-key errors come from the parser, at the value or the key.
            (
                "[portal.codes]\nchannel = \"pigeon\"\n",
                "d.toml:2:11: ",
                &["email", "sms"],
            ),
            (
                "[portal.codes]\nmax_attempts = -1\n",
                "d.toml:2:16: ",
                &["invalid value"],
            ),
            ("[portal.sms]\ntoken = \"x\"\n", "d.toml:2:1: ", &["token"]),
            (
                "[portal.limits]\nrenewals_per_hour = 3\n",
                "d.toml:2:1: ",
                &["renewals_per_hour"],
            ),
        ];
        for (text, at, words) in cases {
            let e = Config::from_toml(text, "d.toml")
                .expect_err(text)
                .to_string();
            assert!(e.starts_with(at), "{text:?}: {e}");
            for w in *words {
                assert!(e.contains(w), "{text:?}: {e} lacks {w:?}");
            }
        }
    }
    #[test]
    fn sms_hook_urls_are_parsed_and_cleartext_secrets_refused() {
        // Loopback hooks may take the secret over http://; https:// anywhere.
        for (u, auth) in [
            ("http://127.0.0.1:8080/sms", true),
            ("http://127.9.8.7/sms", true),
            ("http://[::1]:9000/sms", true),
            ("http://LOCALHOST/sms", true),
            ("http://localhost./sms", true),
            ("https://sms.example.com/send?route=eu", true),
            ("http://sms.example.com/send", false),
            ("HTTPS://sms.example.com:8443", false),
        ] {
            let text = format!(
                "[portal.sms]\nurl = \"{u}\"\n{}",
                if auth {
                    "auth_env = \"DC_SMS_KEY\"\n"
                } else {
                    ""
                }
            );
            let c = Config::from_toml(&text, "d.toml").unwrap_or_else(|e| panic!("{u}: {e}"));
            assert_eq!(c.portal.sms.url.as_deref(), Some(u));
        }
        for (u, auth) in [
            ("http://128.0.0.1/sms", true),
            ("http://[::2]/sms", true),
            ("http://localhost.example.com/sms", true),
            ("https://[::1", false),
            ("https://h:99999/", false),
            ("https://a..b", false),
            ("https://.example.com/", false),
            ("https://:443/", false),
            ("http://%zz/", false),
        ] {
            let e = super::hook_url("portal.sms.url", u, auth).expect_err(u);
            assert!(e.starts_with("portal.sms.url "), "{u}: {e}");
        }
        // A key in the query string is not repeated in the sentence.
        let e =
            super::hook_url("portal.sms.url", "https://h:99999/s?key=SeCrEt", false).unwrap_err();
        assert!(!e.contains("SeCrEt"), "{e}");
    }
}
