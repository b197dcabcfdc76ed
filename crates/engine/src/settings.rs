//! Engine settings: who the organization is, thresholds and input limits.
//!
//! These come from the policy file (`org_domains`, `[detectors]`, `[limits]`) and have
//! defaults that work without any configuration.

use serde::Serialize;

/// Limits on what the engine reads from one message. Anything past a limit is not scanned,
/// and the engine says so with a `message.malformed` finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// Largest message read, in bytes (default 50 MiB). Bytes past this are not parsed.
    pub max_message_bytes: usize,
    /// Most header fields read per message or part header block (default 1,000).
    pub max_headers: usize,
    /// Deepest MIME nesting followed (default 20; forwarded messages count as a level).
    pub max_mime_depth: usize,
    /// Most MIME parts looked at (default 1,000).
    pub max_parts: usize,
    /// Most text scanned per part, in bytes (default 8 MiB).
    pub max_text_bytes: usize,
    /// Most text scanned per message, all parts together, in bytes (default 64 MiB).
    pub max_total_text_bytes: usize,
    /// Archive and document expansion limits for attachments.
    pub attachments: doublecheck_extract::Limits,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 50 * 1024 * 1024,
            max_headers: 1000,
            max_mime_depth: 20,
            max_parts: 1000,
            max_text_bytes: 8 * 1024 * 1024,
            max_total_text_bytes: 64 * 1024 * 1024,
            attachments: doublecheck_extract::Limits::default(),
        }
    }
}

/// What the detectors need to know about the deployment.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Settings {
    /// The organization's own domains (and their subdomains): recipients here are internal.
    pub org_domains: Vec<String>,
    /// Known partner domains: external, but a near miss of one is a lookalike.
    pub partner_domains: Vec<String>,
    /// More visible or envelope recipients than this is a large audience (Exchange's MailTip: 25).
    pub large_audience: usize,
    /// This many distinct sensitive values or more in one message is bulk data.
    pub bulk_values: usize,
    /// Visible recipients from this many parties or more make `recipients.exposed` high severity.
    pub exposed_high: usize,
    /// Input limits.
    pub limits: Limits,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            org_domains: Vec::new(),
            partner_domains: Vec::new(),
            large_audience: 25,
            bulk_values: 10,
            exposed_high: 5,
            limits: Limits::default(),
        }
    }
}
