//! Dates of birth: calendar validation, plausible year range and month names
//! (English and Spanish).

/// Earliest and latest accepted birth years.
pub const MIN_YEAR: u32 = 1900;
pub const MAX_YEAR: u32 = 2030;

fn leap(y: u32) -> bool {
    (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400)
}

/// A real calendar date with a plausible birth year.
pub fn date_valid(y: u32, m: u32, d: u32) -> bool {
    if !(MIN_YEAR..=MAX_YEAR).contains(&y) || !(1..=12).contains(&m) || d == 0 {
        return false;
    }
    let dim = match m {
        2 if leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    d <= dim
}

/// Two-digit years: any century, validated against a leap year-agnostic table.
pub fn date_valid_yy(m: u32, d: u32) -> bool {
    date_valid(2000, m, d)
}

/// Every month name and abbreviation [`month_from_name`] accepts, with its
/// number.
pub const MONTHS: &[(&str, u32)] = &[
    ("january", 1),
    ("jan", 1),
    ("enero", 1),
    ("ene", 1),
    ("february", 2),
    ("feb", 2),
    ("febrero", 2),
    ("march", 3),
    ("mar", 3),
    ("marzo", 3),
    ("april", 4),
    ("apr", 4),
    ("abril", 4),
    ("abr", 4),
    ("may", 5),
    ("mayo", 5),
    ("june", 6),
    ("jun", 6),
    ("junio", 6),
    ("july", 7),
    ("jul", 7),
    ("julio", 7),
    ("august", 8),
    ("aug", 8),
    ("agosto", 8),
    ("ago", 8),
    ("september", 9),
    ("sep", 9),
    ("sept", 9),
    ("septiembre", 9),
    ("setiembre", 9),
    ("set", 9),
    ("october", 10),
    ("oct", 10),
    ("octubre", 10),
    ("november", 11),
    ("nov", 11),
    ("noviembre", 11),
    ("december", 12),
    ("dec", 12),
    ("diciembre", 12),
    ("dic", 12),
];

/// Bit tables of the first three and the last three letters (lower-case) of
/// every name in [`MONTHS`]: `t[26 * c0 + c1] >> c2 & 1`.
pub const MONTH_HEADS: [u32; 676] = trigrams(false);
pub const MONTH_TAILS: [u32; 676] = trigrams(true);

const fn trigrams(tail: bool) -> [u32; 676] {
    let mut t = [0u32; 676];
    let mut i = 0;
    while i < MONTHS.len() {
        let w = MONTHS[i].0.as_bytes();
        let o = if tail { w.len() - 3 } else { 0 };
        let (a, b, c) = (w[o] - b'a', w[o + 1] - b'a', w[o + 2] - b'a');
        t[26 * a as usize + b as usize] |= 1 << c;
        i += 1;
    }
    t
}

/// Whether the three bytes are ASCII letters (either case) whose lower-case
/// trigram is set in `table` ([`MONTH_HEADS`] or [`MONTH_TAILS`]): a
/// necessary condition for a month name starting (heads) or ending (tails)
/// with them.
#[inline(always)]
pub fn month_trigram(table: &[u32; 676], c0: u8, c1: u8, c2: u8) -> bool {
    let a = usize::from((c0 | 0x20).wrapping_sub(b'a'));
    let b = usize::from((c1 | 0x20).wrapping_sub(b'a'));
    let c = u32::from((c2 | 0x20).wrapping_sub(b'a'));
    a < 26 && b < 26 && c < 26 && table[26 * a + b] >> c & 1 != 0
}

/// Month number for an English or Spanish month name or abbreviation
/// (ASCII, case-insensitive).
pub fn month_from_name(w: &[u8]) -> Option<u32> {
    if w.len() < 3 || w.len() > 10 {
        return None;
    }
    // Lengths of the names by first letter (bit per length): most words
    // are rejected here without lower-casing them.
    let lens: u16 = match w[0] | 0x20 {
        b'j' => 1 << 3 | 1 << 4 | 1 << 5 | 1 << 7,
        b'e' => 1 << 3 | 1 << 5,
        b'f' => 1 << 3 | 1 << 7 | 1 << 8,
        b'm' => 1 << 3 | 1 << 4 | 1 << 5,
        b'a' => 1 << 3 | 1 << 5 | 1 << 6,
        b's' => 1 << 3 | 1 << 4 | 1 << 9 | 1 << 10,
        b'o' => 1 << 3 | 1 << 7,
        b'n' | b'd' => 1 << 3 | 1 << 8 | 1 << 9,
        _ => 0,
    };
    if lens & (1 << w.len()) == 0 {
        return None;
    }
    let mut low = [0u8; 10];
    for (d, c) in low.iter_mut().zip(w) {
        *d = c.to_ascii_lowercase();
    }
    // The names of MONTHS, as one match the compiler can dispatch on length.
    match &low[..w.len()] {
        b"january" | b"jan" | b"enero" | b"ene" => Some(1),
        b"february" | b"feb" | b"febrero" => Some(2),
        b"march" | b"mar" | b"marzo" => Some(3),
        b"april" | b"apr" | b"abril" | b"abr" => Some(4),
        b"may" | b"mayo" => Some(5),
        b"june" | b"jun" | b"junio" => Some(6),
        b"july" | b"jul" | b"julio" => Some(7),
        b"august" | b"aug" | b"agosto" | b"ago" => Some(8),
        b"september" | b"sep" | b"sept" | b"septiembre" | b"setiembre" | b"set" => Some(9),
        b"october" | b"oct" | b"octubre" => Some(10),
        b"november" | b"nov" | b"noviembre" => Some(11),
        b"december" | b"dec" | b"diciembre" | b"dic" => Some(12),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_names_match_table() {
        for (n, m) in MONTHS {
            assert_eq!(month_from_name(n.as_bytes()), Some(*m), "{n}");
            assert_eq!(
                month_from_name(n.to_uppercase().as_bytes()),
                Some(*m),
                "{n}"
            );
        }
        assert_eq!(month_from_name(b"months"), None);
        assert_eq!(month_from_name(b"for"), None);
    }

    #[test]
    fn month_trigrams_cover_every_name() {
        for (n, _) in MONTHS {
            for w in [n.to_string(), n.to_uppercase()] {
                let b = w.as_bytes();
                let z = b.len();
                assert!(month_trigram(&MONTH_HEADS, b[0], b[1], b[2]), "{w}");
                assert!(
                    month_trigram(&MONTH_TAILS, b[z - 3], b[z - 2], b[z - 1]),
                    "{w}"
                );
            }
        }
        // Any word the tables reject is rejected by `month_from_name` too:
        // every three-letter head and tail, padded to every length.
        for a in b'a'..=b'z' {
            for b in b'a'..=b'z' {
                for c in b'a'..=b'z' {
                    let head = month_trigram(&MONTH_HEADS, a, b, c);
                    let tail = month_trigram(&MONTH_TAILS, a, b, c);
                    for len in 3..=10 {
                        let mut w = vec![b'x'; len];
                        w[..3].copy_from_slice(&[a, b, c]);
                        if month_from_name(&w).is_some() {
                            assert!(head, "{}", String::from_utf8_lossy(&w));
                        }
                        let mut w = vec![b'x'; len];
                        w[len - 3..].copy_from_slice(&[a, b, c]);
                        if month_from_name(&w).is_some() {
                            assert!(tail, "{}", String::from_utf8_lossy(&w));
                        }
                    }
                }
            }
        }
        for c in [b'@', b'[', b'`', b'{', b'0', b' ', 0x80, 0xc3] {
            assert!(!month_trigram(&MONTH_HEADS, c, b'a', b'n'));
            assert!(!month_trigram(&MONTH_HEADS, b'j', c, b'n'));
            assert!(!month_trigram(&MONTH_HEADS, b'j', b'a', c));
        }
        assert!(month_trigram(&MONTH_HEADS, b'J', b'a', b'N'));
        assert!(!month_trigram(&MONTH_HEADS, b'f', b'o', b'r'));
        assert!(!month_trigram(&MONTH_TAILS, b'f', b'o', b'r'));
    }

    #[test]
    fn dates() {
        assert!(date_valid(1990, 4, 23));
        assert!(date_valid(2000, 2, 29));
        assert!(!date_valid(1900, 2, 29));
        assert!(!date_valid(1990, 4, 31));
        assert!(!date_valid(1990, 13, 1));
        assert!(!date_valid(1850, 1, 1));
        assert!(!date_valid(2990, 1, 1));
        assert!(date_valid_yy(2, 29));
    }

    #[test]
    fn months() {
        assert_eq!(month_from_name(b"April"), Some(4));
        assert_eq!(month_from_name(b"ABRIL"), Some(4));
        assert_eq!(month_from_name(b"sept"), Some(9));
        assert_eq!(month_from_name(b"diciembre"), Some(12));
        assert_eq!(month_from_name(b"foo"), None);
        assert_eq!(month_from_name(b"ma"), None);
    }
}
