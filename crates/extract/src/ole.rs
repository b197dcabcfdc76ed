//! OLE compound files (`D0 CF 11 E0 A1 B1 1A E1`).
//!
//! Two things live in this container:
//! - password-protected OOXML documents: Office encrypts the whole package
//!   into an `EncryptedPackage` stream (sniffed as
//!   [`FileKind::EncryptedOffice`](crate::FileKind::EncryptedOffice));
//! - legacy binary formats: .doc, .xls, .ppt and Outlook .msg. Their formats
//!   are not parsed. Instead, runs of printable characters, both single-byte
//!   (Windows-1252) and UTF-16LE, are pulled out of the raw bytes: Word, Excel
//!   and Outlook keep their text in one of these two forms, so numbers and
//!   phrases are still seen. A problem of kind `Unsupported` says the scan
//!   was best-effort. Text in a legacy file that is itself RC4-encrypted, or
//!   compressed (PowerPoint's zlib records), is not seen.

use crate::limits::TextSink;
use crate::text::windows_1252;
use crate::{Ctx, FileKind, ProblemKind};

/// Shortest run of characters kept as a string.
const MIN_RUN: usize = 5;

/// Whether the directory of the compound file names an `EncryptedPackage` stream.
pub(crate) fn has_encrypted_package(bytes: &[u8]) -> bool {
    const NAME: &[u8] = b"E\0n\0c\0r\0y\0p\0t\0e\0d\0P\0a\0c\0k\0a\0g\0e\0";
    memchr::memmem::find(bytes, NAME).is_some()
}

/// Best-effort text of a legacy Office file.
pub(crate) fn extract_legacy(ctx: &mut Ctx<'_>, bytes: &[u8], path: &str) {
    ctx.problem(
        path,
        ProblemKind::Unsupported,
        "Legacy Office format (.doc/.xls/.ppt/.msg) is not parsed; only the strings found in its raw bytes were scanned.",
    );
    let mut sink = TextSink::new(ctx.text_room());
    strings(bytes, &mut sink);
    let truncated = sink.truncated;
    ctx.emit(path, FileKind::OtherOffice, sink.text, truncated);
}

fn printable(c: char) -> bool {
    !c.is_control() || c == '\t'
}

/// Is this byte, read as Windows-1252, printable text?
fn printable_byte(b: u8) -> bool {
    (b >= 0x20 || b == b'\t') && printable(windows_1252(b))
}

/// Is this UTF-16 unit a printable character worth keeping? Plain ASCII pairs ("ab" read as one
/// unit) would duplicate the single-byte pass, so UTF-16 text must be Latin-1 or other real code
/// points below U+3000; surrogates end a run.
fn printable_unit(u: u16) -> bool {
    (0x20..0x3000).contains(&u)
        && !(0xD800..0xE000).contains(&u)
        && printable(char::from_u32(u32::from(u)).unwrap_or('\0'))
}

/// Appends the runs of printable text found in `bytes`, one per line: first
/// single-byte runs, then UTF-16LE runs (at both byte alignments). Runs are
/// found by index and converted only when long enough, so binary data costs
/// one table look-up per byte.
pub(crate) fn strings(bytes: &[u8], sink: &mut TextSink) {
    let mut table = [false; 256];
    for (b, slot) in table.iter_mut().enumerate() {
        *slot = printable_byte(b as u8);
    }
    let mut start = 0usize;
    let emit_bytes = |run: &[u8], sink: &mut TextSink| {
        if run.len() >= MIN_RUN {
            let text: String = run.iter().map(|&b| windows_1252(b)).collect();
            sink.push_str(text.trim());
            sink.push('\n');
        }
    };
    for (i, &b) in bytes.iter().enumerate() {
        if !table[b as usize] {
            if i > start {
                emit_bytes(&bytes[start..i], sink);
                if sink.full() {
                    return;
                }
            }
            start = i + 1;
        }
    }
    if start < bytes.len() {
        emit_bytes(&bytes[start..], sink);
    }
    for align in 0..2 {
        let units: Vec<u16> = bytes
            .get(align..)
            .unwrap_or(&[])
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        let emit_units = |run: &[u16], sink: &mut TextSink| {
            if run.len() >= MIN_RUN {
                let text: String = char::decode_utf16(run.iter().copied())
                    .map(|r| r.unwrap_or('\u{FFFD}'))
                    .collect();
                sink.push_str(text.trim());
                sink.push('\n');
            }
        };
        let mut start = 0usize;
        for (i, &u) in units.iter().enumerate() {
            if !printable_unit(u) {
                if i > start {
                    emit_units(&units[start..i], sink);
                    if sink.full() {
                        return;
                    }
                }
                start = i + 1;
            }
        }
        if start < units.len() {
            emit_units(&units[start..], sink);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()
    }

    #[test]
    fn encrypted_package() {
        let mut b = crate::sniff::OLE_MAGIC.to_vec();
        b.extend_from_slice(&[0; 100]);
        assert!(!has_encrypted_package(&b));
        b.extend(utf16("EncryptedPackage"));
        assert!(has_encrypted_package(&b));
    }

    #[test]
    fn strings_single_byte_and_utf16() {
        let mut b = vec![0u8, 1, 2];
        b.extend_from_slice(b"SSN 123-45-6789");
        b.extend_from_slice(&[0, 0, 3]);
        b.extend(utf16("Número de pasaporte"));
        b.extend_from_slice(&[0, 0, 0, 0]);
        b.extend_from_slice(b"ab\0");
        let mut sink = TextSink::new(1000);
        strings(&b, &mut sink);
        assert!(sink.text.contains("SSN 123-45-6789"), "{}", sink.text);
        assert!(sink.text.contains("Número de pasaporte"), "{}", sink.text);
        assert!(!sink.text.contains("ab\n"));
    }

    #[test]
    fn strings_bounded() {
        let b = vec![b'A'; 10_000];
        let mut sink = TextSink::new(100);
        strings(&b, &mut sink);
        assert!(sink.text.len() <= 100);
        assert!(sink.truncated);
    }
}
