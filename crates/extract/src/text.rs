//! Decoding of plain-text files: UTF-8 (with or without BOM), UTF-16 with a
//! BOM, and Windows-1252 for anything that is not valid UTF-8 (the usual
//! encoding of CSV files exported by Excel in Western locales).

/// Decodes at most enough of `bytes` to produce `max` bytes of text.
/// Returns the text and whether anything was left out.
pub(crate) fn decode_text(bytes: &[u8], max: usize) -> (String, bool) {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return decode_utf8_or_1252(rest, max);
    }
    if let Some(rest) = bytes.strip_prefix(b"\xFF\xFE") {
        return decode_utf16(rest, max, u16::from_le_bytes);
    }
    if let Some(rest) = bytes.strip_prefix(b"\xFE\xFF") {
        return decode_utf16(rest, max, u16::from_be_bytes);
    }
    decode_utf8_or_1252(bytes, max)
}

fn decode_utf16(bytes: &[u8], max: usize, unit: fn([u8; 2]) -> u16) -> (String, bool) {
    let mut out = String::new();
    let units = bytes.chunks_exact(2).map(|c| unit([c[0], c[1]]));
    for r in char::decode_utf16(units) {
        let c = r.unwrap_or('\u{FFFD}');
        if out.len() + c.len_utf8() > max {
            return (out, true);
        }
        out.push(c);
    }
    (out, false)
}

fn decode_utf8_or_1252(bytes: &[u8], max: usize) -> (String, bool) {
    let mut cut = bytes.len() > max;
    let mut slice = &bytes[..bytes.len().min(max)];
    match std::str::from_utf8(slice) {
        Ok(s) => return (s.to_owned(), cut),
        Err(e) if e.error_len().is_none() && e.valid_up_to() + 4 > slice.len() && cut => {
            // The cut fell inside a character: drop its first bytes.
            slice = &slice[..e.valid_up_to()];
            if let Ok(s) = std::str::from_utf8(slice) {
                return (s.to_owned(), cut);
            }
        }
        Err(_) => {}
    }
    let mut out = String::new();
    for &b in bytes {
        let c = windows_1252(b);
        if out.len() + c.len_utf8() > max {
            cut = true;
            break;
        }
        out.push(c);
    }
    (out, cut)
}

/// Windows-1252 to Unicode (undefined bytes map to the C1 control of the same value).
pub(crate) fn windows_1252(b: u8) -> char {
    const HIGH: [char; 32] = [
        '\u{20AC}', '\u{81}', '\u{201A}', '\u{0192}', '\u{201E}', '\u{2026}', '\u{2020}',
        '\u{2021}', '\u{02C6}', '\u{2030}', '\u{0160}', '\u{2039}', '\u{0152}', '\u{8D}',
        '\u{017D}', '\u{8F}', '\u{90}', '\u{2018}', '\u{2019}', '\u{201C}', '\u{201D}', '\u{2022}',
        '\u{2013}', '\u{2014}', '\u{02DC}', '\u{2122}', '\u{0161}', '\u{203A}', '\u{0153}',
        '\u{9D}', '\u{017E}', '\u{0178}',
    ];
    match b {
        0x80..=0x9F => HIGH[usize::from(b - 0x80)],
        _ => char::from(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_and_bom() {
        assert_eq!(decode_text("añb".as_bytes(), 100), ("añb".into(), false));
        assert_eq!(decode_text(b"\xEF\xBB\xBFhi", 100), ("hi".into(), false));
    }

    #[test]
    fn utf16() {
        let mut le = vec![0xFF, 0xFE];
        for u in "Número".encode_utf16() {
            le.extend_from_slice(&u.to_le_bytes());
        }
        assert_eq!(decode_text(&le, 100), ("Número".into(), false));
        let mut be = vec![0xFE, 0xFF];
        for u in "ID".encode_utf16() {
            be.extend_from_slice(&u.to_be_bytes());
        }
        assert_eq!(decode_text(&be, 100), ("ID".into(), false));
        assert_eq!(decode_text(&le, 2), ("N".into(), true));
    }

    #[test]
    fn latin1_fallback() {
        assert_eq!(
            decode_text(b"Jos\xe9 Pe\xf1a \x80", 100),
            ("José Peña €".into(), false)
        );
    }

    #[test]
    fn limits() {
        assert_eq!(decode_text(b"abcdef", 3), ("abc".into(), true));
        // Cut inside 'ñ' (2 bytes): stays UTF-8, drops the partial char.
        assert_eq!(decode_text("añ".as_bytes(), 2), ("a".into(), true));
    }
}
