//! IBAN: per-country length table (SWIFT IBAN registry) and ISO 7064 mod 97-10.

const LENGTHS: &[(&[u8; 2], u8)] = &[
    (b"AD", 24),
    (b"AE", 23),
    (b"AL", 28),
    (b"AT", 20),
    (b"AZ", 28),
    (b"BA", 20),
    (b"BE", 16),
    (b"BG", 22),
    (b"BH", 22),
    (b"BI", 27),
    (b"BR", 29),
    (b"BY", 28),
    (b"CH", 21),
    (b"CR", 22),
    (b"CY", 28),
    (b"CZ", 24),
    (b"DE", 22),
    (b"DJ", 27),
    (b"DK", 18),
    (b"DO", 28),
    (b"EE", 20),
    (b"EG", 29),
    (b"ES", 24),
    (b"FI", 18),
    (b"FK", 18),
    (b"FO", 18),
    (b"FR", 27),
    (b"GB", 22),
    (b"GE", 22),
    (b"GI", 23),
    (b"GL", 18),
    (b"GR", 27),
    (b"GT", 28),
    (b"HN", 28),
    (b"HR", 21),
    (b"HU", 28),
    (b"IE", 22),
    (b"IL", 23),
    (b"IQ", 23),
    (b"IS", 26),
    (b"IT", 27),
    (b"JO", 30),
    (b"KW", 30),
    (b"KZ", 20),
    (b"LB", 28),
    (b"LC", 32),
    (b"LI", 21),
    (b"LT", 20),
    (b"LU", 20),
    (b"LV", 21),
    (b"LY", 25),
    (b"MC", 27),
    (b"MD", 24),
    (b"ME", 22),
    (b"MK", 19),
    (b"MN", 20),
    (b"MR", 27),
    (b"MT", 31),
    (b"MU", 30),
    (b"NI", 28),
    (b"NL", 18),
    (b"NO", 15),
    (b"OM", 23),
    (b"PK", 24),
    (b"PL", 28),
    (b"PS", 29),
    (b"PT", 25),
    (b"QA", 29),
    (b"RO", 24),
    (b"RS", 22),
    (b"RU", 33),
    (b"SA", 24),
    (b"SC", 31),
    (b"SD", 18),
    (b"SE", 24),
    (b"SI", 19),
    (b"SK", 24),
    (b"SM", 27),
    (b"SO", 23),
    (b"ST", 25),
    (b"SV", 28),
    (b"TL", 23),
    (b"TN", 24),
    (b"TR", 26),
    (b"UA", 29),
    (b"VA", 22),
    (b"VG", 24),
    (b"XK", 20),
    (b"YE", 30),
];

/// [`LENGTHS`] indexed by the two letters (0: no IBAN), built at compile
/// time (round 7: a look-up instead of a search of the list).
const BY_CODE: [u8; 26 * 26] = {
    let mut t = [0u8; 26 * 26];
    let mut i = 0;
    while i < LENGTHS.len() {
        let (c, l) = LENGTHS[i];
        t[(c[0] - b'A') as usize * 26 + (c[1] - b'A') as usize] = l;
        i += 1;
    }
    t
};

/// IBAN length for an (upper-case) country code.
pub fn iban_length(cc: &[u8]) -> Option<usize> {
    let &[a, b] = cc else {
        return None;
    };
    let (a, b) = (a.wrapping_sub(b'A'), b.wrapping_sub(b'A'));
    if a >= 26 || b >= 26 {
        return None;
    }
    match BY_CODE[usize::from(a) * 26 + usize::from(b)] {
        0 => None,
        l => Some(usize::from(l)),
    }
}

/// Validate a compact IBAN (upper-case letters and digits, no separators):
/// country code, length, check digits 02-98 and mod 97 == 1.
pub fn iban(v: &[u8]) -> bool {
    let Some(len) = iban_length(v.get(..2).unwrap_or(&[])) else {
        return false;
    };
    if v.len() != len
        || !v[2].is_ascii_digit()
        || !v[3].is_ascii_digit()
        || !v[4..]
            .iter()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
    {
        return false;
    }
    let check = (v[2] - b'0') * 10 + (v[3] - b'0');
    if !(2..=98).contains(&check) {
        return false;
    }
    let mut r: u32 = 0;
    for &c in v[4..].iter().chain(&v[..4]) {
        if c.is_ascii_digit() {
            r = (r * 10 + u32::from(c - b'0')) % 97;
        } else {
            r = (r * 100 + u32::from(c - b'A') + 10) % 97;
        }
    }
    r == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_table_equals_list() {
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                let want = LENGTHS
                    .iter()
                    .find(|(c, _)| c[0] == a && c[1] == b)
                    .map(|&(_, l)| usize::from(l));
                assert_eq!(iban_length(&[a, b]), want, "{a:#x} {b:#x}");
            }
        }
        assert_eq!(iban_length(b"D"), None);
        assert_eq!(iban_length(b"DEX"), None);
    }

    #[test]
    fn valid() {
        assert!(iban(b"DE89370400440532013000"));
        assert!(iban(b"GB29NWBK60161331926819"));
        assert!(iban(b"NO9386011117947"));
        assert!(iban(b"MT84MALT011000012345MTLCAST001S"));
        assert!(iban(b"LC55HEMM000100010012001200023015"));
    }

    #[test]
    fn invalid() {
        assert!(!iban(b"DE89370400440532013001"));
        assert!(!iban(b"DE8937040044053201300"));
        assert!(!iban(b"XX89370400440532013000"));
        assert!(!iban(b"de89370400440532013000"));
        assert!(!iban(b"GB29nWBK60161331926819"));
        assert!(!iban(b""));
        assert!(!iban(b"D"));
        assert_eq!(iban_length(b"DE"), Some(22));
        assert_eq!(iban_length(b"US"), None);
    }
}
