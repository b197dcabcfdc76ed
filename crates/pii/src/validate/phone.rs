//! Phone numbers: country calling codes with national number lengths (E.164),
//! and North American numbering plan rules.

/// (calling code, min national length, max national length).
const CODES: &[(&str, u8, u8)] = &[
    ("1", 10, 10),
    ("7", 10, 10),
    ("20", 8, 10),
    ("27", 9, 9),
    ("30", 10, 10),
    ("31", 9, 9),
    ("32", 8, 9),
    ("33", 9, 9),
    ("34", 9, 9),
    ("36", 8, 9),
    ("39", 6, 11),
    ("40", 9, 9),
    ("41", 9, 9),
    ("43", 4, 13),
    ("44", 9, 10),
    ("45", 8, 8),
    ("46", 7, 10),
    ("47", 8, 8),
    ("48", 9, 9),
    ("49", 5, 13),
    ("51", 8, 9),
    ("52", 10, 10),
    ("53", 6, 8),
    ("54", 10, 11),
    ("55", 10, 11),
    ("56", 9, 9),
    ("57", 8, 10),
    ("58", 10, 10),
    ("60", 7, 10),
    ("61", 9, 9),
    ("62", 8, 12),
    ("63", 8, 10),
    ("64", 8, 10),
    ("65", 8, 8),
    ("66", 8, 9),
    ("81", 9, 10),
    ("82", 8, 10),
    ("84", 9, 10),
    ("86", 10, 11),
    ("90", 10, 10),
    ("91", 10, 10),
    ("92", 9, 10),
    ("93", 9, 9),
    ("94", 9, 9),
    ("95", 7, 10),
    ("98", 10, 10),
    ("212", 9, 9),
    ("213", 9, 9),
    ("216", 8, 8),
    ("234", 8, 10),
    ("254", 9, 9),
    ("351", 9, 9),
    ("352", 6, 11),
    ("353", 7, 9),
    ("354", 7, 9),
    ("355", 8, 9),
    ("356", 8, 8),
    ("357", 8, 8),
    ("358", 6, 10),
    ("359", 8, 9),
    ("370", 8, 8),
    ("371", 8, 8),
    ("372", 7, 8),
    ("380", 9, 9),
    ("381", 8, 9),
    ("385", 8, 9),
    ("386", 8, 8),
    ("420", 9, 9),
    ("421", 9, 9),
    ("506", 8, 8),
    ("507", 7, 8),
    ("593", 8, 9),
    ("598", 8, 8),
    ("852", 8, 8),
    ("886", 8, 9),
    ("961", 7, 8),
    ("962", 8, 9),
    ("965", 8, 8),
    ("966", 9, 9),
    ("971", 8, 9),
    ("972", 8, 9),
    ("974", 8, 8),
];

/// Look up the calling code at the start of `digits` (calling codes are
/// prefix-free). Returns (code length, min, max national length).
pub fn calling_code(digits: &[u8]) -> Option<(usize, usize, usize)> {
    for len in 1..=3 {
        let p = digits.get(..len)?;
        if let Some(&(c, lo, hi)) = CODES.iter().find(|(c, _, _)| c.as_bytes() == p) {
            return Some((c.len(), usize::from(lo), usize::from(hi)));
        }
    }
    None
}

/// Whether a calling code prefix is assigned at all (used for codes missing
/// from the table: accepted with a generic 7-12 digit national length).
pub fn plausible_code(cc: &[u8]) -> bool {
    !cc.is_empty() && cc.len() <= 3 && cc[0] != b'0' && cc.iter().all(u8::is_ascii_digit)
}

/// North American number (10 digits): area code and exchange start with 2-9,
/// area code not N11, not the 555-01xx fictional block only when strict.
pub fn nanp(d: &[u8]) -> bool {
    if d.len() != 10 || !d.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let area_ok = d[0] >= b'2' && !(d[1] == b'1' && d[2] == b'1');
    let exch_ok = d[3] >= b'2' && !(d[4] == b'1' && d[5] == b'1');
    area_ok && exch_ok && !d.iter().all(|&c| c == d[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        assert_eq!(calling_code(b"14155550132"), Some((1, 10, 10)));
        assert_eq!(calling_code(b"442071234567").map(|c| c.0), Some(2));
        assert_eq!(calling_code(b"3725551234").map(|c| c.0), Some(3));
        assert_eq!(calling_code(b"0"), None);
        assert!(plausible_code(b"299"));
        assert!(!plausible_code(b"0"));
    }

    #[test]
    fn north_america() {
        assert!(nanp(b"4155550132"));
        assert!(!nanp(b"1555550132"));
        assert!(!nanp(b"4151550132"));
        assert!(!nanp(b"9115550132"));
        assert!(!nanp(b"2222222222"));
        assert!(!nanp(b"415555013"));
    }
}
