//! ICAO 9303 machine readable zone (TD3, passports): check digits.

fn val(c: u8) -> Option<u32> {
    match c {
        b'0'..=b'9' => Some(u32::from(c - b'0')),
        b'A'..=b'Z' => Some(u32::from(c - b'A') + 10),
        b'<' => Some(0),
        _ => None,
    }
}

/// ICAO 9303 check digit (weights 7, 3, 1) over `field`; `None` on a byte
/// outside `0-9 A-Z <`.
pub fn mrz_check_digit(field: &[u8]) -> Option<u8> {
    let w = [7u32, 3, 1];
    let mut s = 0u32;
    for (i, &c) in field.iter().enumerate() {
        s += val(c)? * w[i % 3];
    }
    Some((s % 10) as u8)
}

fn check(field: &[u8], digit: u8) -> bool {
    let expect = if digit == b'<' {
        0
    } else {
        digit.wrapping_sub(b'0')
    };
    if expect > 9 {
        return false;
    }
    mrz_check_digit(field) == Some(expect)
}

/// Validate the second line of a TD3 MRZ (44 characters): document number,
/// birth date, expiry, personal number and composite check digits.
/// Returns the three-letter nationality on success.
pub fn mrz_td3_line2(l: &[u8]) -> Option<[u8; 3]> {
    if l.len() != 44 || !l.iter().all(|&c| val(c).is_some()) {
        return None;
    }
    // Document number must hold at least one digit; dates must be digits.
    if !l[..9].iter().any(u8::is_ascii_digit)
        || !l[13..19].iter().all(u8::is_ascii_digit)
        || !l[21..27].iter().all(u8::is_ascii_digit)
        || !l[10..13]
            .iter()
            .all(|c| c.is_ascii_uppercase() || *c == b'<')
        || !matches!(l[20], b'M' | b'F' | b'X' | b'<')
        || !l[9].is_ascii_digit()
        || !l[19].is_ascii_digit()
        || !l[27].is_ascii_digit()
        || !l[43].is_ascii_digit()
    {
        return None;
    }
    let ok = check(&l[0..9], l[9])
        && check(&l[13..19], l[19])
        && check(&l[21..27], l[27])
        && check(&l[28..42], l[42]);
    if !ok {
        return None;
    }
    let mut comp = [0u8; 39];
    comp[..10].copy_from_slice(&l[0..10]);
    comp[10..17].copy_from_slice(&l[13..20]);
    comp[17..].copy_from_slice(&l[21..43]);
    if !check(&comp, l[43]) {
        return None;
    }
    Some([l[10], l[11], l[12]])
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECIMEN: &[u8] = b"L898902C36UTO7408122F1204159ZE184226B<<<<<10";

    #[test]
    fn check_digits() {
        assert_eq!(mrz_check_digit(b"L898902C3"), Some(6));
        assert_eq!(mrz_check_digit(b"740812"), Some(2));
        assert_eq!(mrz_check_digit(b"120415"), Some(9));
        assert_eq!(mrz_check_digit(b"abc"), None);
    }

    #[test]
    fn line2() {
        assert_eq!(mrz_td3_line2(SPECIMEN), Some(*b"UTO"));
        let mut bad = SPECIMEN.to_vec();
        bad[9] = b'7';
        assert_eq!(mrz_td3_line2(&bad), None);
        let mut bad = SPECIMEN.to_vec();
        bad[43] = b'1';
        assert_eq!(mrz_td3_line2(&bad), None);
        assert_eq!(mrz_td3_line2(&SPECIMEN[..43]), None);
    }
}
