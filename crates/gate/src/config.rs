//! The gate's configuration file (`doublecheck.toml`): TOML, every key optional, unknown keys
//! refused, errors as `FILE:LINE:COLUMN: message`.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The commented template `doublecheck config init` writes; it parses to the defaults.
pub const TEMPLATE: &str = include_str!("../doublecheck.example.toml");

/// What to do with a message when doublecheck itself fails (never because of the message).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// 451: the MTA keeps the message and retries.
    Tempfail,
    /// Fail open: deliver unchecked.
    Accept,
    /// Fail closed: 550.
    Reject,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub data_dir: PathBuf,
    pub policy: Option<PathBuf>,
    pub on_error: OnError,
    pub database: DatabaseConfig,
    pub http: HttpConfig,
    pub smtp: SmtpConfig,
    pub milter: MilterConfig,
    pub web: crate::web_config::WebConfig,
    pub notices: NoticesConfig,
    pub portal: crate::portal_config::PortalConfig,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    pub url: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    pub enabled: bool,
    pub listen: SocketAddr,
    pub max_body_bytes: usize,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    pub enabled: bool,
    pub listen: SocketAddr,
    pub upstream: Option<String>,
    pub max_message_bytes: usize,
    pub max_recipients: usize,
    pub max_connections: usize,
    pub idle_timeout_secs: u64,
    /// Longest line accepted in a message, in bytes (CRLF included); longer → 500 5.5.2.
    pub max_line_length: usize,
    /// The name in the greeting and the EHLO reply.
    pub hostname: String,
    /// Offer STARTTLS.
    pub starttls: bool,
    /// PEM certificate chain and private key for STARTTLS; without them a self-signed
    /// certificate is made once under `data_dir`.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Users for AUTH PLAIN/LOGIN: `user:argon2-hash` lines. AUTH is offered only with it,
    /// and only after STARTTLS unless the client is on loopback.
    pub auth_users_file: Option<PathBuf>,
    /// Refuse MAIL (530 5.7.0) until the client authenticated.
    pub auth_required: bool,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MilterConfig {
    pub enabled: bool,
    pub listen: SocketAddr,
    pub max_message_bytes: usize,
    pub reinject: Option<String>,
    /// Connections served at once; more are closed at once (the MTA applies its
    /// milter_default_action, tempfail in the recommended setup).
    pub max_connections: usize,
    /// Seconds a connection may stay silent before it is closed.
    pub idle_timeout_secs: u64,
    /// Run to release a message held in the MTA's hold queue and deliver it now (Postfix:
    /// `postsuper -H` moves it to the deferred queue, `postqueue -i` delivers it without waiting
    /// for the next queue run); `{queue_id}` is replaced (queue ids are checked to be
    /// alphanumeric first).
    pub release_command: Vec<String>,
    /// Run to delete a rejected message from the MTA's hold queue; `{queue_id}` is replaced.
    pub discard_command: Vec<String>,
}

/// Notices to the sender when a message is held, released or rejected.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NoticesConfig {
    pub enabled: bool,
    /// The From address of notices; without it, `doublecheck@` and `smtp.hostname`.
    pub from: Option<String>,
    /// Pause after the first failed attempt; it doubles after each further one.
    pub retry_initial_secs: u64,
    /// The longest pause between two attempts.
    pub retry_max_secs: u64,
    /// A notice still not accepted by the upstream this long after it was queued is given up
    /// (logged, counted, and recorded in the audit log).
    pub give_up_after_secs: u64,
}

impl Default for NoticesConfig {
    fn default() -> Self {
        NoticesConfig {
            enabled: true,
            from: None,
            retry_initial_secs: 2,
            retry_max_secs: 30 * 60,
            give_up_after_secs: 5 * 24 * 3600,
        }
    }
}

impl NoticesConfig {
    /// The From address notices carry.
    pub fn from_address(&self, hostname: &str) -> String {
        match &self.from {
            Some(f) => f.clone(),
            None => format!("doublecheck@{hostname}"),
        }
    }
}

const MAX_MESSAGE: usize = 50 * 1024 * 1024;

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./doublecheck-data"),
            policy: None,
            on_error: OnError::Tempfail,
            database: DatabaseConfig::default(),
            http: HttpConfig::default(),
            smtp: SmtpConfig::default(),
            milter: MilterConfig::default(),
            web: crate::web_config::WebConfig::default(),
            notices: NoticesConfig::default(),
            portal: crate::portal_config::PortalConfig::default(),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 8025)),
            max_body_bytes: MAX_MESSAGE,
        }
    }
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 10025)),
            upstream: None,
            max_message_bytes: MAX_MESSAGE,
            max_recipients: 1000,
            max_connections: 200,
            idle_timeout_secs: 300,
            max_line_length: 65536,
            hostname: "localhost".into(),
            starttls: true,
            tls_cert: None,
            tls_key: None,
            auth_users_file: None,
            auth_required: false,
        }
    }
}

impl Default for MilterConfig {
    fn default() -> Self {
        MilterConfig {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 8891)),
            max_message_bytes: MAX_MESSAGE,
            reinject: None,
            max_connections: 200,
            idle_timeout_secs: 600,
            release_command: vec![
                "sh".into(),
                "-c".into(),
                "postsuper -H {queue_id} && postqueue -i {queue_id}".into(),
            ],
            discard_command: vec![
                "postsuper".into(),
                "-d".into(),
                "{queue_id}".into(),
                "hold".into(),
            ],
        }
    }
}

/// A problem with the configuration file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
}

impl Config {
    /// Parse configuration text; `origin` names the file in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let at = |offset: usize, message: String| {
            let offset = offset.min(text.len());
            let before = text.get(..offset).unwrap_or(text);
            ConfigError::Invalid {
                path: origin.to_string(),
                line: before.matches('\n').count() + 1,
                column: before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1,
                message,
            }
        };
        let config: Config = toml::from_str(text).map_err(|e| {
            at(
                e.span().map_or(0, |s| s.start),
                e.message().trim().to_string(),
            )
        })?;
        // The customer pages' settings point at the key that is wrong.
        if let Some(p) = config.portal.check_customer() {
            let offset = crate::portal_config::key_offset(text, p.key).unwrap_or(0);
            return Err(at(offset, p.message));
        }
        config.validate(origin)?;
        Ok(config)
    }

    /// Read and parse a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Config::from_toml(&text, &path.display().to_string())
    }

    fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let bad = |message: String| ConfigError::Invalid {
            path: origin.to_string(),
            line: 1,
            column: 1,
            message,
        };
        if self.smtp.max_message_bytes == 0 || self.milter.max_message_bytes == 0 {
            return Err(bad("max_message_bytes must be at least 1".into()));
        }
        if self.smtp.max_recipients == 0 {
            return Err(bad("smtp.max_recipients must be at least 1".into()));
        }
        if self.smtp.max_line_length < 80 {
            return Err(bad("smtp.max_line_length must be at least 80".into()));
        }
        if self.smtp.tls_cert.is_some() != self.smtp.tls_key.is_some() {
            return Err(bad(
                "smtp.tls_cert and smtp.tls_key must be given together".into()
            ));
        }
        if self.smtp.auth_required && self.smtp.auth_users_file.is_none() {
            return Err(bad("smtp.auth_required needs smtp.auth_users_file".into()));
        }
        if self.milter.max_connections == 0 || self.milter.idle_timeout_secs == 0 {
            return Err(bad(
                "milter.max_connections and milter.idle_timeout_secs must be at least 1".into(),
            ));
        }
        if self.smtp.max_connections == 0 {
            return Err(bad("smtp.max_connections must be at least 1".into()));
        }
        if let Some(from) = &self.notices.from {
            let plain = from
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b"<>()[],;:\\\"".contains(&b));
            let parts = from.rsplit_once('@');
            if !plain
                || from.matches('@').count() != 1
                || parts.is_none_or(|(l, d)| l.is_empty() || d.is_empty())
            {
                return Err(bad(format!(
                    "notices.from must be a plain address like doublecheck@example.com, not {from:?}"
                )));
            }
        }
        let n = &self.notices;
        if n.retry_initial_secs == 0
            || n.retry_max_secs < n.retry_initial_secs
            || n.give_up_after_secs == 0
        {
            return Err(bad(
                "notices.retry_initial_secs and notices.give_up_after_secs must be at least 1, \
                 and notices.retry_max_secs at least notices.retry_initial_secs"
                    .into(),
            ));
        }
        if let Some(p) = self.web.problem() {
            return Err(bad(p));
        }
        if let Some(p) = self.portal.problem() {
            return Err(bad(p));
        }
        for (what, v) in [
            ("smtp.upstream", &self.smtp.upstream),
            ("milter.reinject", &self.milter.reinject),
        ] {
            if let Some(v) = v
                && v.rsplit_once(':')
                    .is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err())
            {
                return Err(bad(format!("{what} must be HOST:PORT, not {v:?}")));
            }
        }
        Ok(())
    }

    /// The database URL: the configured one, or SQLite under `data_dir`.
    pub fn database_url(&self) -> String {
        match &self.database.url {
            Some(u) => u.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("doublecheck.db").display()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_is_the_defaults() {
        let c = Config::from_toml(TEMPLATE, "doublecheck.example.toml").expect("template parses");
        assert_eq!(c, Config::default());
        assert_eq!(
            Config::from_toml("", "empty.toml").expect("empty is fine"),
            Config::default()
        );
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let e = Config::from_toml(
            "[smtp]\nlisten = \"127.0.0.1:25\"\nmax_recipient = 5\n",
            "d.toml",
        )
        .unwrap_err();
        let s = e.to_string();
        assert!(s.starts_with("d.toml:3:1:"), "{s}");
        assert!(s.contains("max_recipient"), "{s}");
        let e = Config::from_toml("[http]\nlisten = \"not an address\"\n", "d.toml").unwrap_err();
        assert!(e.to_string().starts_with("d.toml:2:10:"), "{e}");
        let e = Config::from_toml("on_error = \"maybe\"\n", "d.toml").unwrap_err();
        assert!(e.to_string().contains("tempfail"), "{e}");
        let e = Config::from_toml("[smtp]\nupstream = \"nohost\"\n", "d.toml").unwrap_err();
        assert!(e.to_string().contains("HOST:PORT"), "{e}");
        let e = Config::from_toml("[notices]\nenable = true\n", "d.toml").unwrap_err();
        assert!(e.to_string().starts_with("d.toml:2:1:"), "{e}");
        for bad in ["nobody", "a b@c.example", "<a@b.example>", "a@b@c", "a@"] {
            let e =
                Config::from_toml(&format!("[notices]\nfrom = {bad:?}\n"), "d.toml").unwrap_err();
            assert!(e.to_string().contains("notices.from"), "{bad}: {e}");
        }
        let c = Config::from_toml(
            "[notices]\nenabled = false\nfrom = \"dc@mail.example\"\n",
            "d.toml",
        )
        .expect("valid");
        assert!(!c.notices.enabled);
        assert_eq!(c.notices.from_address("x"), "dc@mail.example");
        assert_eq!(
            Config::default().notices.from_address("relay.example"),
            "doublecheck@relay.example"
        );
    }

    #[test]
    fn database_url_defaults_to_sqlite_in_data_dir() {
        let c = Config::from_toml("data_dir = \"/var/lib/dc\"\n", "d.toml").expect("valid");
        assert_eq!(
            c.database_url(),
            "sqlite:///var/lib/dc/doublecheck.db?mode=rwc"
        );
    }
}
