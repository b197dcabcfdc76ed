//! Findings: what a detector reports about one message.

use serde::Serialize;
use std::fmt;

/// How bad a finding is. Ordered: `Info < Low < Medium < High < Critical`.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        Some(match s {
            "info" => Severity::Info,
            "low" => Severity::Low,
            "medium" => Severity::Medium,
            "high" => Severity::High,
            "critical" => Severity::Critical,
            _ => return None,
        })
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where in the message a finding is.
///
/// `header` names a header field (`To`, `Subject`); `part` is the MIME part path in IMAP
/// numbering (`1`, `2.1`), followed by `/name` for a member of an archive attachment
/// (`2/statements.zip/march.csv`). `start..end` is a byte range in the *decoded text* of that
/// part or header (what the detectors scanned), not in the raw message.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Location {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub part: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<usize>,
}

impl Location {
    pub fn header(name: &str) -> Location {
        Location {
            header: Some(name.to_string()),
            ..Location::default()
        }
    }

    pub fn message() -> Location {
        Location::default()
    }

    pub fn part(path: &str) -> Location {
        Location {
            part: Some(path.to_string()),
            ..Location::default()
        }
    }

    pub fn with_range(mut self, start: usize, end: usize) -> Location {
        self.start = Some(start);
        self.end = Some(end);
        self
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.header, &self.part) {
            (Some(h), _) => write!(f, "header {h}")?,
            (None, Some(p)) => write!(f, "part {p}")?,
            (None, None) => f.write_str("message")?,
        }
        if let (Some(s), Some(e)) = (self.start, self.end) {
            write!(f, " bytes {s}..{e}")?;
        }
        Ok(())
    }
}

/// One thing a detector found.
///
/// `evidence` is always masked: a finding never carries a sensitive value in full.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    /// Detector id, e.g. `recipients.exposed`, `attachments.encrypted`.
    pub id: &'static str,
    pub severity: Severity,
    pub location: Location,
    /// Masked evidence (`4556 **** **** 9855`, `j***@gmail.com`, a quoted request).
    pub evidence: String,
    /// One sentence: why this matters.
    pub reason: String,
    /// One sentence: how to fix it.
    pub fix: String,
    /// How many distinct values or recipients the finding covers (1 when it is about one thing).
    pub count: usize,
    /// Sub-type where a detector has several (`credit_card`, `drivers_license`, `consumer_address`…).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

impl Finding {
    pub fn new(id: &'static str, severity: Severity, location: Location) -> Finding {
        Finding {
            id,
            severity,
            location,
            evidence: String::new(),
            reason: String::new(),
            fix: String::new(),
            count: 1,
            kind: None,
        }
    }

    pub fn evidence(mut self, e: impl Into<String>) -> Finding {
        self.evidence = e.into();
        self
    }

    pub fn reason(mut self, r: impl Into<String>) -> Finding {
        self.reason = r.into();
        self
    }

    pub fn fix(mut self, f: impl Into<String>) -> Finding {
        self.fix = f.into();
        self
    }

    pub fn count(mut self, n: usize) -> Finding {
        self.count = n;
        self
    }

    pub fn kind(mut self, k: impl Into<String>) -> Finding {
        self.kind = Some(k.into());
        self
    }
}

/// Every detector id the engine can report, for policy validation and documentation.
pub const DETECTOR_IDS: &[&str] = &[
    "recipients.exposed",
    "recipients.reply_fanout",
    "recipients.large_audience",
    "recipients.lookalike",
    "content.solicits_sensitive",
    "content.sensitive_data",
    "attachments.id_document",
    "attachments.bulk_sensitive",
    "attachments.encrypted",
    "attachments.unscannable",
    "message.malformed",
];

/// Does `pattern` (an id, `prefix.*` or `*`) select detector `id`?
pub fn id_matches(pattern: &str, id: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    match pattern.strip_suffix(".*") {
        Some(prefix) => {
            id.len() > prefix.len() && id.starts_with(prefix) && id.as_bytes()[prefix.len()] == b'.'
        }
        None => pattern == id,
    }
}

/// Is `pattern` a valid id pattern (matches at least one known detector)?
pub fn id_pattern_known(pattern: &str) -> bool {
    DETECTOR_IDS.iter().any(|id| id_matches(pattern, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_patterns() {
        assert!(id_matches("attachments.*", "attachments.encrypted"));
        assert!(!id_matches("attachments.*", "attachmentsx.encrypted"));
        assert!(!id_matches("recipients.exposed", "recipients.exposed_x"));
        assert!(id_matches("*", "message.malformed"));
        assert!(id_pattern_known("recipients.*"));
        assert!(!id_pattern_known("recipient.*"));
        assert!(!id_pattern_known("content.sensitive"));
    }

    #[test]
    fn severity_order_and_names() {
        assert!(Severity::Critical > Severity::High);
        assert!(Severity::Info < Severity::Low);
        for s in [
            Severity::Info,
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ] {
            assert_eq!(Severity::parse(s.as_str()), Some(s));
        }
        assert_eq!(Severity::parse("severe"), None);
    }

    #[test]
    fn location_display() {
        assert_eq!(Location::header("To").to_string(), "header To");
        assert_eq!(
            Location::part("1.2").with_range(3, 9).to_string(),
            "part 1.2 bytes 3..9"
        );
        assert_eq!(Location::message().to_string(), "message");
    }
}
