//! `recipients.large_audience`: more recipients than a threshold (Exchange's MailTip uses 25).
//!
//! Visible recipients over the threshold are medium severity (everyone sees everyone); a large
//! envelope with hidden recipients (a Bcc mailing) is only informational.

use super::Context;
use crate::finding::{Finding, Location, Severity};
use std::collections::HashSet;

pub const ID: &str = "recipients.large_audience";

pub fn detect(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    let limit = ctx.settings.large_audience;
    // Counting distinct addresses only matters once the raw counts pass the threshold.
    let visible_raw = ctx.msg.headers.to.len() + ctx.msg.headers.cc.len();
    if visible_raw <= limit && ctx.envelope_recipients().len() <= limit {
        return;
    }
    let visible: HashSet<&str> = ctx
        .msg
        .visible_recipients()
        .map(|a| a.address.as_str())
        .collect();
    let envelope: HashSet<&str> = ctx
        .envelope_recipients()
        .iter()
        .map(String::as_str)
        .collect();
    if visible.len() > limit {
        out.push(
            Finding::new(ID, Severity::Medium, Location::header("To, Cc"))
                .count(visible.len())
                .evidence(format!("{} visible recipients (threshold {limit})", visible.len()))
                .reason(format!(
                    "This message shows {} recipients to each other, more than the {limit} a message normally needs.",
                    visible.len()
                ))
                .fix("Use a mailing tool or Bcc for announcements, or split the audience."),
        );
    } else if envelope.len() > limit {
        out.push(
            Finding::new(ID, Severity::Info, Location::message())
                .count(envelope.len())
                .evidence(format!(
                    "{} envelope recipients, {} of them visible (threshold {limit})",
                    envelope.len(),
                    visible.len()
                ))
                .reason(format!("This message goes to {} recipients.", envelope.len()))
                .fix("Check the audience before sending; nothing to change if it is an intended mailing."),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::testutil::run;

    fn addrs(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("c{i}@corp{i}.test")).collect()
    }

    #[test]
    fn visible_over_threshold_is_medium() {
        let raw = format!(
            "From: a@example.com\r\nTo: {}\r\n\r\nhi\r\n",
            addrs(26).join(", ")
        );
        let f = run(detect, &raw, &[]);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Medium);
        assert_eq!(f[0].count, 26);
    }

    #[test]
    fn at_threshold_is_fine() {
        let raw = format!(
            "From: a@example.com\r\nTo: {}\r\n\r\nhi\r\n",
            addrs(25).join(", ")
        );
        assert!(run(detect, &raw, &[]).is_empty());
    }

    #[test]
    fn hidden_envelope_is_info() {
        let list = addrs(40);
        let rcpts: Vec<&str> = list.iter().map(String::as_str).collect();
        let f = run(
            detect,
            "From: a@example.com\r\nTo: news@example.com\r\n\r\nhi\r\n",
            &rcpts,
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Info);
        assert_eq!(f[0].count, 40);
    }
}
