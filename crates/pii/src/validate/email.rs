//! E-mail addresses: local@domain.tld with a sane domain and TLD.

const LOCAL: u8 = 1;
const DOMAIN: u8 = 2;
const LABEL: u8 = 4;

/// Per byte: allowed in the local part, in a domain, in a domain label.
const CHARS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        let an = c.is_ascii_alphanumeric();
        let mut f = 0;
        if an || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-' | b'\'') {
            f |= LOCAL;
        }
        if an || c == b'-' || c == b'.' {
            f |= DOMAIN;
        }
        if an || c == b'-' {
            f |= LABEL;
        }
        t[i] = f;
        i += 1;
    }
    t
};

/// Characters allowed in the local part (dot-atom, without the rare ones).
#[inline(always)]
pub(crate) fn local_char(c: u8) -> bool {
    CHARS[usize::from(c)] & LOCAL != 0
}

#[inline(always)]
pub(crate) fn domain_char(c: u8) -> bool {
    CHARS[usize::from(c)] & DOMAIN != 0
}

/// A label's length and edges, for a label known to hold only letters,
/// digits and `-`.
#[inline(always)]
fn label_edges_ok(l: &[u8]) -> bool {
    !l.is_empty() && l.len() <= 63 && l[0] != b'-' && l[l.len() - 1] != b'-'
}

#[cfg(test)]
fn label_ok(l: &[u8]) -> bool {
    !l.is_empty()
        && l.len() <= 63
        && l[0] != b'-'
        && l[l.len() - 1] != b'-'
        && l.iter().all(|&c| CHARS[usize::from(c)] & LABEL != 0)
}

/// Validate a domain: at least two labels, TLD alphabetic (2-24) or punycode.
/// One pass over the bytes (round 7; a test compares it with the label-split
/// form it replaced).
pub fn domain(d: &[u8]) -> bool {
    if d.is_empty() || d.len() > 253 {
        return false;
    }
    let mut labels = 0;
    let mut st = 0;
    for (i, &c) in d.iter().enumerate() {
        if c == b'.' {
            if !label_edges_ok(&d[st..i]) {
                return false;
            }
            labels += 1;
            st = i + 1;
        } else if CHARS[usize::from(c)] & LABEL == 0 {
            return false;
        }
    }
    let last = &d[st..];
    if labels < 1 || !label_edges_ok(last) {
        return false;
    }
    let tld_alpha = (2..=24).contains(&last.len()) && last.iter().all(u8::is_ascii_alphabetic);
    let tld_puny = last.len() > 4
        && last[..4].eq_ignore_ascii_case(b"xn--")
        && last[4..].iter().all(u8::is_ascii_alphanumeric);
    tld_alpha || tld_puny
}

/// Validate a whole address `local@domain`.
pub fn email(a: &[u8]) -> bool {
    let Some(at) = a.iter().position(|&c| c == b'@') else {
        return false;
    };
    let (l, d) = (&a[..at], &a[at + 1..]);
    local_ok(l) && domain(d)
}

pub(crate) fn local_ok(l: &[u8]) -> bool {
    !l.is_empty()
        && l.len() <= 64
        && l[0] != b'.'
        && l[l.len() - 1] != b'.'
        && !l.windows(2).any(|w| w == b"..")
        && l.iter().all(|&c| local_char(c))
        && l.iter().any(u8::is_ascii_alphanumeric)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn char_tables() {
        for c in 0..=255u8 {
            let an = c.is_ascii_alphanumeric();
            assert_eq!(local_char(c), an || b"._%+-'".contains(&c), "{c:#x}");
            assert_eq!(domain_char(c), an || c == b'-' || c == b'.', "{c:#x}");
            assert_eq!(
                CHARS[usize::from(c)] & LABEL != 0,
                an || c == b'-',
                "{c:#x}"
            );
        }
    }

    /// The label-split form [`domain`] replaced.
    fn domain_by_labels(d: &[u8]) -> bool {
        if d.is_empty() || d.len() > 253 {
            return false;
        }
        let mut labels = 0;
        let mut last: &[u8] = &[];
        for l in d.split(|&c| c == b'.') {
            if !label_ok(l) {
                return false;
            }
            labels += 1;
            last = l;
        }
        if labels < 2 {
            return false;
        }
        let tld_alpha = (2..=24).contains(&last.len()) && last.iter().all(u8::is_ascii_alphabetic);
        let tld_puny = last.len() > 4
            && last[..4].eq_ignore_ascii_case(b"xn--")
            && last[4..].iter().all(u8::is_ascii_alphanumeric);
        tld_alpha || tld_puny
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(5000))]
        #[test]
        fn domain_equals_label_split(
            d in "([a-z0-9_-]{0,5}|xn--|XN--|\\.|[a-z]{60,66}|[0-9]{2}|@){0,8}",
        ) {
            proptest::prop_assert_eq!(domain(d.as_bytes()), domain_by_labels(d.as_bytes()), "{}", d);
        }
    }

    #[test]
    fn domain_long_inputs() {
        for n in [250, 253, 254, 300] {
            let d = format!("{}.com", "a.".repeat(n / 2));
            assert_eq!(domain(d.as_bytes()), domain_by_labels(d.as_bytes()), "{n}");
        }
    }

    #[test]
    fn valid() {
        assert!(email(b"info@presidio.site"));
        assert!(email(b"user@xn--80ak6aa92e.com"));
        assert!(email(b"a@xn--d1acufc.xn--p1ai"));
        assert!(email(b"first.last+tag@mail.example.co.uk"));
    }

    #[test]
    fn invalid() {
        assert!(!email(b"info@presidio."));
        assert!(!email(b"info@presidio"));
        assert!(!email(b"@example.com"));
        assert!(!email(b"a..b@example.com"));
        assert!(!email(b"a@-x.com"));
        assert!(!email(b"a@x.c0m"));
        assert!(!email(b"image001.png@01D9A1B2.C3D4E5F0"));
        assert!(!email(b"hello-world"));
    }
}
