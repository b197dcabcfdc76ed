//! `recipients.lookalike`: a recipient domain one edit or one confusable character away from a
//! well-known provider, a partner or the organization's own domain (`gmial.com`, `rnicrosoft.com`).

use super::Context;
use crate::finding::{Finding, Location, Severity};
use crate::party::{
    CONSUMER_PROVIDERS, WELL_KNOWN_DOMAINS, domain_of, domain_within, mask_address,
};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::OnceLock;

pub const ID: &str = "recipients.lookalike";

/// The built-in domains, indexed once: a set for exact and parent-domain checks, and lists by
/// length for the one-edit comparison (a near miss differs in length by at most one).
struct Index {
    set: HashSet<&'static str>,
    by_len: HashMap<usize, Vec<&'static str>>,
}

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut set = HashSet::new();
        let mut by_len: HashMap<usize, Vec<&'static str>> = HashMap::new();
        for &d in CONSUMER_PROVIDERS.iter().chain(WELL_KNOWN_DOMAINS) {
            set.insert(d);
            by_len.entry(d.chars().count()).or_default().push(d);
        }
        Index { set, by_len }
    })
}

/// Is `domain` (or a parent domain of it) one of the built-in or configured domains?
fn is_known(domain: &str, configured: &[&str]) -> bool {
    let idx = index();
    let mut rest = domain;
    loop {
        if idx.set.contains(rest) {
            return true;
        }
        match rest.split_once('.') {
            Some((_, parent)) if parent.contains('.') => rest = parent,
            _ => break,
        }
    }
    configured.iter().any(|k| domain_within(domain, k))
}

/// The candidates a near miss of `domain` could be: built-in domains of length ±1, and the
/// configured ones.
fn candidates<'a>(domain: &str, configured: &[&'a str]) -> Vec<&'a str> {
    let idx = index();
    let n = domain.chars().count();
    let mut out: Vec<&'a str> = Vec::new();
    for len in [n.saturating_sub(1), n, n + 1] {
        if let Some(v) = idx.by_len.get(&len) {
            out.extend(v.iter().copied());
        }
    }
    out.extend(configured.iter().copied());
    out
}

pub fn detect(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    let s = ctx.settings;
    let configured: Vec<&str> = s
        .org_domains
        .iter()
        .chain(&s.partner_domains)
        .map(String::as_str)
        .collect();

    let mut seen = BTreeSet::new();
    let visible: Vec<(&str, &str)> = [
        ("To", &ctx.msg.headers.to),
        ("Cc", &ctx.msg.headers.cc),
        ("Bcc", &ctx.msg.headers.bcc),
    ]
    .into_iter()
    .flat_map(|(h, l)| l.iter().map(move |a| (h, a.address.as_str())))
    .collect();
    let envelope = ctx.envelope_recipients();
    let all = visible
        .iter()
        .copied()
        .chain(envelope.iter().map(|a| ("envelope", a.as_str())));
    for (header, addr) in all {
        let Some(domain) = domain_of(addr) else {
            continue;
        };
        if !seen.insert(domain.to_string()) {
            continue;
        }
        if is_known(domain, &configured) {
            continue;
        }
        // Confusables can change the length (rn → m), so fold first and look for an exact hit.
        let folded = if may_have_confusables(domain) {
            fold_confusables(domain)
        } else {
            domain.to_string()
        };
        let known = if folded != domain {
            let mut k = candidates(domain, &configured);
            k.extend(candidates(&folded, &[]));
            k
        } else {
            candidates(domain, &configured)
        };
        if let Some((target, how)) = near_miss(domain, &known) {
            let own = s.org_domains.iter().any(|o| o == target);
            let location = if header == "envelope" {
                Location::message()
            } else {
                Location::header(header)
            };
            out.push(
                Finding::new(ID, if own { Severity::High } else { Severity::Medium }, location)
                    .kind(if own { "own_domain" } else { "known_domain" })
                    .evidence(format!("{} looks like {target} ({how})", mask_address(addr)))
                    .reason(format!(
                        "The domain {domain} is one character away from {target}: the message may go to the wrong person."
                    ))
                    .fix(format!("Check the address; did you mean @{target}?")),
            );
        }
    }
}

/// Is `domain` a near miss of one of `known`? Returns the target and how it differs.
pub fn near_miss<'k>(domain: &str, known: &[&'k str]) -> Option<(&'k str, &'static str)> {
    let folded = fold_confusables(domain);
    for &k in known {
        if folded != domain && folded == k {
            return Some((k, "confusable characters"));
        }
    }
    for &k in known {
        // Ignore very short names: one edit from a 3-letter name is another real name.
        let label_len = k.split('.').next().map_or(0, str::len);
        if label_len < 4 {
            continue;
        }
        if within_one_edit(domain, k) {
            return Some((k, "one character different"));
        }
        if folded != domain && within_one_edit(&folded, k) {
            return Some((k, "confusable characters"));
        }
    }
    None
}

/// Could `fold_confusables` change this domain? (Cheap test before allocating.)
fn may_have_confusables(domain: &str) -> bool {
    !domain.is_ascii()
        || domain.contains("rn")
        || domain.contains("vv")
        || domain.bytes().any(|b| b == b'0' || b == b'1')
}

/// Map characters that look alike to their ASCII twin: `rn`→`m`, `vv`→`w`, `0`→`o`, `1`→`l`,
/// and Cyrillic/Greek homoglyphs → Latin.
pub fn fold_confusables(domain: &str) -> String {
    let mut s = String::with_capacity(domain.len());
    for c in domain.chars() {
        let m = match c {
            'а' => 'a',
            'е' => 'e',
            'о' | 'ο' | '0' => 'o',
            'р' | 'ρ' => 'p',
            'с' => 'c',
            'у' => 'y',
            'х' => 'x',
            'і' | 'ι' => 'i',
            'ј' => 'j',
            'ѕ' => 's',
            'ԁ' => 'd',
            'ɡ' => 'g',
            'ո' => 'n',
            'ν' => 'v',
            'κ' => 'k',
            'τ' => 't',
            'ѵ' => 'v',
            '1' => 'l',
            other => other,
        };
        s.push(m);
    }
    s.replace("rn", "m").replace("vv", "w")
}

/// Damerau–Levenshtein distance ≤ 1 (one insertion, deletion, substitution or adjacent swap).
pub fn within_one_edit(a: &str, b: &str) -> bool {
    if a == b || a.len().abs_diff(b.len()) > 8 {
        return false;
    }
    if a.is_ascii() && b.is_ascii() {
        return a.len().abs_diff(b.len()) <= 1 && one_edit(a.as_bytes(), b.as_bytes());
    }
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    one_edit(&a, &b)
}

fn one_edit<T: PartialEq>(a: &[T], b: &[T]) -> bool {
    if a == b {
        return false;
    }
    let (la, lb) = (a.len(), b.len());
    if la.abs_diff(lb) > 1 {
        return false;
    }
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let ra = la - prefix - suffix.min(la - prefix);
    let rb = lb - prefix - suffix.min(lb - prefix);
    match (ra, rb) {
        (0, 1) | (1, 0) | (1, 1) => true,
        (2, 2) => {
            let i = prefix;
            a[i] == b[i + 1] && a[i + 1] == b[i]
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::testutil::run;

    #[test]
    fn edit_distance_one() {
        assert!(within_one_edit("gmial.com", "gmail.com"));
        assert!(within_one_edit("gmail.con", "gmail.com"));
        assert!(within_one_edit("gmail.co", "gmail.com"));
        assert!(within_one_edit("gmaill.com", "gmail.com"));
        assert!(within_one_edit("hotmial.com", "hotmail.com"));
        assert!(!within_one_edit("gmail.com", "gmail.com"));
        assert!(!within_one_edit("gamil.org", "gmail.com"));
        assert!(!within_one_edit("example.org", "example.com"));
    }

    #[test]
    fn confusables() {
        assert_eq!(fold_confusables("rnicrosoft.com"), "microsoft.com");
        assert_eq!(fold_confusables("gmаil.com"), "gmail.com"); // Cyrillic а
        assert_eq!(fold_confusables("paypa1.com"), "paypal.com");
    }

    #[test]
    fn flags_typo_of_provider_and_own_domain() {
        let f = run(
            detect,
            "From: a@example.com\r\nTo: jane@gmial.com\r\nCc: bob@exarnple.com\r\n\r\nhi\r\n",
            &[],
        );
        assert_eq!(f.len(), 2, "{f:?}");
        assert!(
            f.iter()
                .any(|x| x.evidence.contains("gmail.com") && x.severity == Severity::Medium)
        );
        assert!(
            f.iter()
                .any(|x| x.kind.as_deref() == Some("own_domain") && x.severity == Severity::High)
        );
        assert!(f.iter().all(|x| !x.evidence.contains("jane@")));
    }

    #[test]
    fn real_domains_are_not_flagged() {
        let f = run(
            detect,
            "From: a@example.com\r\nTo: x@gmail.com, y@mail.com, z@sub.example.com, w@acme-partner.com, v@unrelated.org\r\n\r\nhi\r\n",
            &[],
        );
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn partner_near_miss() {
        let f = run(
            detect,
            "From: a@example.com\r\nTo: x@acme-partners.com\r\n\r\nhi\r\n",
            &[],
        );
        assert_eq!(f.len(), 1);
        assert!(f[0].evidence.contains("acme-partner.com"));
    }
}
