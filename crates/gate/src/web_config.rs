//! The `[web]` section of `doublecheck.toml`: the staff review queue served on the HTTP listener.

use doublecheck_engine::Severity;
use serde::Deserialize;

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// Serve the review queue (`/login`, `/holds`, `/audit`, `/users`) on the HTTP listener.
    pub enabled: bool,
    /// Mark the session cookie `Secure`: set it when the queue is reached over HTTPS (a TLS
    /// proxy in front of the HTTP listener). Also makes `https` the expected origin scheme.
    pub secure_cookies: bool,
    /// The origin staff browsers use (`https://review.example.com`); form posts from any other
    /// origin are refused. Without it, the request's Host with http (https under
    /// `secure_cookies`).
    pub public_origin: Option<String>,
    /// A session ends after this many seconds without a request.
    pub session_idle_secs: u64,
    /// A session ends this many seconds after sign-in, however active.
    pub session_absolute_secs: u64,
    /// Failed sign-ins per account and per client address within `login_window_secs` before
    /// further attempts are refused (429) until the window passes.
    pub max_login_failures: u32,
    pub login_window_secs: u64,
    /// When a finding is at least this severe, two distinct reviewers must approve a held
    /// message before it is released ("info" … "critical"); unset: one approval.
    pub two_approvals_min_severity: Option<Severity>,
    /// Reverse proxies in front of the HTTP listener (a TLS terminator), by address. For
    /// requests from one of them the client is the last address in `X-Forwarded-For` (the one
    /// the proxy added); otherwise the connection's peer. Empty: always the peer, so that
    /// throttling per address cannot be dodged with a forged header.
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            enabled: true,
            secure_cookies: false,
            public_origin: None,
            session_idle_secs: 30 * 60,
            session_absolute_secs: 12 * 3600,
            max_login_failures: 5,
            login_window_secs: 15 * 60,
            two_approvals_min_severity: None,
            trusted_proxies: Vec::new(),
        }
    }
}

impl WebConfig {
    /// A sentence saying what is wrong, if anything.
    pub fn problem(&self) -> Option<String> {
        if self.session_idle_secs == 0 || self.session_absolute_secs == 0 {
            return Some(
                "web.session_idle_secs and web.session_absolute_secs must be at least 1".into(),
            );
        }
        if self.max_login_failures == 0 || self.login_window_secs == 0 {
            return Some(
                "web.max_login_failures and web.login_window_secs must be at least 1".into(),
            );
        }
        if let Some(o) = &self.public_origin {
            let rest = o
                .strip_prefix("https://")
                .or_else(|| o.strip_prefix("http://"));
            let ok = rest.is_some_and(|h| {
                !h.is_empty()
                    && !h.contains(['/', '?', '#', ' ', '@'])
                    && h.chars().all(|c| c.is_ascii_graphic())
            });
            if !ok {
                return Some(format!(
                    "web.public_origin must be scheme://host[:port] without a path, not {o:?}"
                ));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use crate::Config;

    #[test]
    fn web_section_parses_and_is_checked() {
        let c = Config::from_toml(
            "[web]\nsecure_cookies = true\npublic_origin = \"https://review.example.com\"\n\
             two_approvals_min_severity = \"critical\"\ntrusted_proxies = [\"127.0.0.1\", \"::1\"]\n",
            "d.toml",
        )
        .expect("valid");
        assert!(c.web.secure_cookies);
        assert_eq!(
            c.web.two_approvals_min_severity,
            Some(doublecheck_engine::Severity::Critical)
        );
        assert_eq!(c.web.trusted_proxies.len(), 2);
        for bad in [
            "[web]\nsession_idle_secs = 0\n",
            "[web]\nmax_login_failures = 0\n",
            "[web]\npublic_origin = \"review.example.com\"\n",
            "[web]\npublic_origin = \"https://review.example.com/queue\"\n",
            "[web]\ntwo_approvals_min_severity = \"severe\"\n",
            "[web]\ntrusted_proxies = [\"proxy\"]\n",
            "[web]\ncookie_name = \"x\"\n",
        ] {
            assert!(Config::from_toml(bad, "d.toml").is_err(), "{bad}");
        }
    }
}
