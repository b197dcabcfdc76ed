//! `recipients.exposed`: external recipients from different parties can see each other.
//!
//! Two or more visible (To/Cc) external recipients who do not share an organization: each
//! learns the others' addresses, and a reply-all reaches all of them. Consumer mailboxes are
//! each their own party; other external domains are one party per domain.

use super::Context;
use crate::finding::{Finding, Location, Severity};
use crate::party::{Party, mask_address};
use std::collections::BTreeMap;

pub const ID: &str = "recipients.exposed";

pub fn detect(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    // party → first address seen; count of external visible addresses per header.
    let mut parties: BTreeMap<Party, &str> = BTreeMap::new();
    let mut external = 0usize;
    let mut in_to = 0usize;
    let mut in_cc = 0usize;
    let mut seen = std::collections::HashSet::new();
    for (header, list) in [("To", &ctx.msg.headers.to), ("Cc", &ctx.msg.headers.cc)] {
        for entry in list {
            if !seen.insert(entry.address.as_str()) {
                continue;
            }
            let party = ctx.party(&entry.address);
            if party.is_internal() {
                continue;
            }
            external += 1;
            if header == "To" {
                in_to += 1;
            } else {
                in_cc += 1;
            }
            parties.entry(party).or_insert(entry.address.as_str());
        }
    }
    if parties.len() < 2 {
        return;
    }
    let severity = if parties.len() >= ctx.settings.exposed_high {
        Severity::High
    } else {
        Severity::Medium
    };
    let header = match (in_to > 0, in_cc > 0) {
        (true, true) => "To, Cc",
        (false, true) => "Cc",
        _ => "To",
    };
    let sample: Vec<String> = parties.values().take(3).map(|a| mask_address(a)).collect();
    let more = if parties.len() > 3 {
        format!(", and {} more", parties.len() - 3)
    } else {
        String::new()
    };
    out.push(
        Finding::new(ID, severity, Location::header(header))
            .count(external)
            .evidence(format!(
                "{external} external recipients from {} unrelated parties in {header}: {}{more}",
                parties.len(),
                sample.join(", ")
            ))
            .reason(format!(
                "Every recipient can see the other {} addresses, and a reply-all reaches all of them.",
                external.saturating_sub(1)
            ))
            .fix("Send one message per recipient (explode) or put the recipients in Bcc with a Reply-To of your own address."),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::testutil::run;

    #[test]
    fn customers_in_to_are_exposed() {
        let f = run(
            detect,
            "From: a@example.com\r\nTo: x@gmail.com, y@yahoo.com, z@hotmail.com\r\n\r\nhi\r\n",
            &[],
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].id, ID);
        assert_eq!(f[0].count, 3);
        assert_eq!(f[0].location.header.as_deref(), Some("To"));
        assert!(
            !f[0].evidence.contains("x@gmail.com"),
            "evidence must be masked: {}",
            f[0].evidence
        );
    }

    #[test]
    fn cc_counts_too() {
        let f = run(
            detect,
            "From: a@example.com\r\nTo: x@gmail.com\r\nCc: y@yahoo.com\r\n\r\nhi\r\n",
            &[],
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].location.header.as_deref(), Some("To, Cc"));
        assert_eq!(f[0].severity, Severity::Medium);
    }

    #[test]
    fn same_organization_is_not_exposed() {
        let f = run(
            detect,
            "From: a@example.com\r\nTo: x@corp.test, y@corp.test, z@example.com\r\n\r\nhi\r\n",
            &[],
        );
        assert!(f.is_empty());
    }

    #[test]
    fn internal_only_and_single_customer_are_fine() {
        assert!(
            run(
                detect,
                "From: a@example.com\r\nTo: b@example.com, c@sub.example.com\r\n\r\nhi\r\n",
                &[]
            )
            .is_empty()
        );
        assert!(
            run(
                detect,
                "From: a@example.com\r\nTo: x@gmail.com\r\nCc: b@example.com\r\n\r\nhi\r\n",
                &[]
            )
            .is_empty()
        );
    }

    #[test]
    fn bcc_and_undisclosed_are_not_exposed() {
        let f = run(
            detect,
            "From: a@example.com\r\nTo: undisclosed-recipients:;\r\nBcc: x@gmail.com, y@yahoo.com\r\n\r\nhi\r\n",
            &[],
        );
        assert!(f.is_empty());
    }

    #[test]
    fn many_parties_is_high() {
        let to: Vec<String> = (0..6).map(|i| format!("c{i}@gmail.com")).collect();
        let raw = format!("From: a@example.com\r\nTo: {}\r\n\r\nhi\r\n", to.join(", "));
        let f = run(detect, &raw, &[]);
        assert_eq!(f[0].severity, Severity::High);
        assert!(f[0].evidence.contains("and 3 more"));
    }
}
