//! US social security numbers: area/group/serial rules and known fakes.

use super::digit_values;

/// Numbers that are published examples or advertising specimens, never real.
const KNOWN_FAKE: &[&[u8; 9]] = &[
    b"078051120",
    b"219099999",
    b"123456789",
    b"457555462",
    b"987654320",
    b"987654321",
];

/// Validate a 9-digit SSN (ASCII digits, no separators).
/// Area not 000, 666 or 900-999; group not 00; serial not 0000; not a known fake
/// and not one repeated digit.
pub fn ssn(d: &[u8]) -> bool {
    let Some(v) = digit_values::<9>(d) else {
        return false;
    };
    let area = u32::from(v[0]) * 100 + u32::from(v[1]) * 10 + u32::from(v[2]);
    if area == 0 || area == 666 || area >= 900 {
        return false;
    }
    if v[3] == 0 && v[4] == 0 {
        return false;
    }
    if v[5..].iter().all(|&x| x == 0) {
        return false;
    }
    if v.iter().all(|&x| x == v[0]) {
        return false;
    }
    !KNOWN_FAKE.iter().any(|f| &f[..] == d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid() {
        assert!(ssn(b"078051121"));
        assert!(ssn(b"536221234"));
        assert!(ssn(b"665121234"));
    }

    #[test]
    fn invalid() {
        assert!(!ssn(b"000121234"));
        assert!(!ssn(b"666121234"));
        assert!(!ssn(b"900121234"));
        assert!(!ssn(b"999121234"));
        assert!(!ssn(b"123001234"));
        assert!(!ssn(b"123450000"));
        assert!(!ssn(b"078051120"));
        assert!(!ssn(b"123456789"));
        assert!(!ssn(b"111111111"));
        assert!(!ssn(b"12345678"));
        assert!(!ssn(b"12345678a"));
    }
}
