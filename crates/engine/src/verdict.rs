//! The verdict: findings, the decision, and the plan a front-end carries out.

use crate::finding::{Finding, Severity};
use crate::policy::{Action, MatchedRule};
use serde::Serialize;

/// What a front-end must do with the message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Plan {
    /// Relay the message (adding `headers` from the verdict).
    Deliver,
    /// Remove the visible recipient lists and deliver to the same envelope recipients.
    Bccify {
        /// Header fields to delete.
        remove_headers: Vec<String>,
        /// Header fields to set (after deleting), in order.
        set_headers: Vec<(String, String)>,
    },
    /// One message per recipient, each with only that recipient in To.
    Explode {
        recipients: Vec<String>,
        /// The body has the `{{verify_link}}` placeholder: each copy gets its own link.
        verify_link: bool,
    },
    /// Quarantine until a reviewer decides.
    Hold { reason: String },
    /// Refuse the message.
    Reject {
        code: u16,
        enhanced: String,
        /// ASCII text for the SMTP reply: the reason and the fix.
        text: String,
    },
}

/// The engine's answer for one message.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verdict {
    /// The action to carry out (`allow` in audit mode).
    pub action: Action,
    /// What the policy chose; differs from `action` only in audit mode.
    pub would: Action,
    pub audit: bool,
    /// Findings, most severe first.
    pub findings: Vec<Finding>,
    /// Rules that matched, strictest first.
    pub rules: Vec<MatchedRule>,
    pub plan: Plan,
    /// Header fields to add to whatever is delivered (`X-Doublecheck-*`).
    pub headers: Vec<(String, String)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// Size of the raw message in bytes.
    pub size: usize,
    /// Number of envelope recipients.
    pub recipients: usize,
}

impl Verdict {
    /// The most severe finding's severity, if any.
    pub fn max_severity(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    /// The first reason to show a person: the strictest rule's reason.
    pub fn reason(&self) -> Option<&str> {
        self.rules.first().map(|r| r.reason.as_str())
    }
}

/// Printable ASCII only, single line, at most `max` bytes (SMTP replies and header values).
pub fn ascii_line(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max));
    let mut last_space = false;
    for c in s.chars() {
        let c = match c {
            '\r' | '\n' | '\t' => ' ',
            '‘' | '’' => '\'',
            '“' | '”' => '"',
            '—' | '–' => '-',
            c if c.is_ascii_graphic() || c == ' ' => c,
            _ => '?',
        };
        if c == ' ' && last_space {
            continue;
        }
        last_space = c == ' ';
        if out.len() + 1 > max {
            break;
        }
        out.push(c);
    }
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_line_is_safe() {
        assert_eq!(ascii_line("a\r\nb  c’s ñ", 100), "a b c's ?");
        assert_eq!(ascii_line("abcdef", 3), "abc");
    }
}
