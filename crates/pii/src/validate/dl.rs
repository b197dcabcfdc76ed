//! US driver's license number shapes. Per-state formats (AAMVA-style summary):
//!
//! | shape | states (examples) |
//! |---|---|
//! | 1 letter + 7 digits | CA, NY(old), OH(2L+6 also), DE... |
//! | 1 letter + 8 digits | MA (S+8), ... |
//! | 1 letter + 12 digits | FL, MD, MI, MN |
//! | 1 letter + 9-11 / 13-14 digits | NJ (14), IL (11), WI (13), ... |
//! | 1 letter + 4-6 digits | AK, some legacy |
//! | 2 letters + 3-7 digits | CO, OH, IA, ... |
//! | 7-13 digits only | many (CT, KS, NY, NC, PA, TX, VA...) |
//! | 3 digits + 2 letters + 4 digits | IA |
//! | 2 digits + 3 letters + 5 digits | NH |
//!
//! None of them has a checksum, so a license number is only reported with
//! context words ("driver's license", "DL", "licencia de conducir"...).

/// Whether `v` (upper-case letters and digits) fits one of the state shapes.
pub fn dl_shape(v: &[u8]) -> bool {
    let n = v.len();
    if !(4..=14).contains(&n)
        || !v
            .iter()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
    {
        return false;
    }
    let letters = v.iter().take_while(|c| c.is_ascii_uppercase()).count();
    let rest = &v[letters..];
    let rest_digits = rest.iter().all(u8::is_ascii_digit);
    let d = rest.len();
    match letters {
        0 if rest_digits => (7..=13).contains(&d),
        1 if rest_digits => (4..=14).contains(&d),
        2 if rest_digits => (3..=7).contains(&d),
        0 => {
            // IA 999AA9999, NH 99AAA99999
            let ia = n == 9
                && v[..3].iter().all(u8::is_ascii_digit)
                && v[3..5].iter().all(u8::is_ascii_uppercase)
                && v[5..].iter().all(u8::is_ascii_digit);
            let nh = n == 10
                && v[..2].iter().all(u8::is_ascii_digit)
                && v[2..5].iter().all(u8::is_ascii_uppercase)
                && v[5..].iter().all(u8::is_ascii_digit);
            ia || nh
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert!(dl_shape(b"H12234567"));
        assert!(dl_shape(b"D1234567"));
        assert!(dl_shape(b"S12345678"));
        assert!(dl_shape(b"A123456789012"));
        assert!(dl_shape(b"123456789"));
        assert!(dl_shape(b"1234567901234"));
        assert!(dl_shape(b"123AB4567"));
        assert!(dl_shape(b"12ABC34567"));
        assert!(!dl_shape(b"C12T345672"));
        assert!(!dl_shape(b"ABCDEFG"));
        assert!(!dl_shape(b"123456"));
        assert!(!dl_shape(b"h12234567"));
    }
}
