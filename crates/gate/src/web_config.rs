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
