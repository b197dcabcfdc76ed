//! File type recognition: magic bytes first, then the file name's extension,
//! then the declared content type.

use serde::{Deserialize, Serialize};

/// What a part or archive member is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FileKind {
    /// Plain text.
    Text,
    /// Comma- or tab-separated values.
    Csv,
    /// HTML.
    Html,
    /// PDF.
    Pdf,
    /// Word (OOXML).
    Docx,
    /// Excel (OOXML).
    Xlsx,
    /// PowerPoint (OOXML).
    Pptx,
    /// Legacy Office file in an OLE compound file (.doc, .xls, .ppt, .msg).
    OtherOffice,
    /// Password-protected OOXML document (OLE container with an `EncryptedPackage`).
    EncryptedOffice,
    /// Zip archive.
    Zip,
    /// Archive recognized but not opened: rar, 7z, gzip, bzip2, xz, zstd, tar.
    OtherArchive,
    /// Image (no text is extracted).
    Image(ImageKind),
    /// An attached email (message/rfc822); the caller parses it.
    Email,
    /// Anything else.
    Binary,
}

/// Image formats recognized by [`sniff`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ImageKind {
    Jpeg,
    Png,
    Gif,
    Webp,
    /// HEIF family (HEIC, HEIF, and AVIF, which shares the container).
    Heic,
    Tiff,
    Bmp,
}

pub(crate) const OLE_MAGIC: &[u8] = &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

/// Decides what `bytes` are. Magic bytes win; without them the file name's
/// extension decides, then the content type; then a look at the bytes tells
/// text from binary.
pub fn sniff(bytes: &[u8], filename: Option<&str>, content_type: Option<&str>) -> FileKind {
    if let Some(kind) = sniff_magic(bytes, filename) {
        return kind;
    }
    if let Some(kind) = filename.and_then(kind_from_filename) {
        return kind;
    }
    if let Some(kind) = content_type.and_then(kind_from_content_type) {
        return kind;
    }
    if looks_like_text(bytes) {
        FileKind::Text
    } else {
        FileKind::Binary
    }
}

/// Kind from magic bytes alone (the file name only refines a zip into an
/// OOXML kind when its directory cannot be read).
fn sniff_magic(b: &[u8], filename: Option<&str>) -> Option<FileKind> {
    let head = &b[..b.len().min(1024)];
    if b.starts_with(b"%PDF-") || memchr::memmem::find(head, b"%PDF-").is_some() {
        return Some(FileKind::Pdf);
    }
    if b.starts_with(b"PK\x03\x04") || b.starts_with(b"PK\x05\x06") || b.starts_with(b"PK\x07\x08")
    {
        return Some(crate::ooxml::classify_zip(b, filename));
    }
    if b.starts_with(OLE_MAGIC) {
        return Some(if crate::ole::has_encrypted_package(b) {
            FileKind::EncryptedOffice
        } else {
            FileKind::OtherOffice
        });
    }
    if let Some(img) = sniff_image(b) {
        return Some(FileKind::Image(img));
    }
    if is_other_archive(b) {
        return Some(FileKind::OtherArchive);
    }
    if looks_like_html(b) {
        return Some(FileKind::Html);
    }
    None
}

fn sniff_image(b: &[u8]) -> Option<ImageKind> {
    if b.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Some(ImageKind::Jpeg);
    }
    if b.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some(ImageKind::Png);
    }
    if b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a") {
        return Some(ImageKind::Gif);
    }
    if b.len() >= 12 && b.starts_with(b"RIFF") && &b[8..12] == b"WEBP" {
        return Some(ImageKind::Webp);
    }
    if b.len() >= 12 && &b[4..8] == b"ftyp" {
        const HEIF: [&[u8]; 10] = [
            b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif",
            b"avis",
        ];
        if HEIF.contains(&&b[8..12]) {
            return Some(ImageKind::Heic);
        }
    }
    if b.starts_with(b"II*\0") || b.starts_with(b"MM\0*") {
        return Some(ImageKind::Tiff);
    }
    if b.len() >= 18 && b.starts_with(b"BM") {
        let dib = u32::from_le_bytes([b[14], b[15], b[16], b[17]]);
        if matches!(dib, 12 | 16 | 40 | 52 | 56 | 64 | 108 | 124) {
            return Some(ImageKind::Bmp);
        }
    }
    None
}

fn is_other_archive(b: &[u8]) -> bool {
    b.starts_with(&[0x37, 0x7A, 0xBC, 0xAF, 0x27, 0x1C]) // 7z
        || b.starts_with(b"Rar!\x1a\x07") // rar 4 and 5
        || b.starts_with(&[0x1F, 0x8B]) // gzip
        || b.starts_with(&[0xFD, b'7', b'z', b'X', b'Z', 0x00]) // xz
        || b.starts_with(&[0x28, 0xB5, 0x2F, 0xFD]) // zstd
        || (b.starts_with(b"BZh") && b.len() > 3 && (b'1'..=b'9').contains(&b[3])) // bzip2
        || (b.len() >= 262 && &b[257..262] == b"ustar") // tar
        || b.starts_with(b"MSCF\0\0\0\0") // cab
}

fn looks_like_html(b: &[u8]) -> bool {
    let mut rest = b;
    if rest.starts_with(b"\xEF\xBB\xBF") {
        rest = &rest[3..];
    }
    let start = rest
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(rest.len());
    let rest = &rest[start..rest.len().min(start + 64)];
    const PREFIXES: [&[u8]; 6] = [
        b"<!doctype html",
        b"<html",
        b"<head",
        b"<body",
        b"<meta",
        b"<!-- saved from url",
    ];
    PREFIXES
        .iter()
        .any(|p| rest.len() >= p.len() && rest[..p.len()].eq_ignore_ascii_case(p))
}

/// Lower-cased extension of a file name, if any.
pub(crate) fn extension(filename: &str) -> Option<String> {
    let name = filename.rsplit(['/', '\\']).next().unwrap_or(filename);
    let (_, ext) = name.rsplit_once('.')?;
    if ext.is_empty() || ext.len() > 8 {
        return None;
    }
    Some(ext.to_ascii_lowercase())
}

fn kind_from_filename(filename: &str) -> Option<FileKind> {
    let ext = extension(filename)?;
    Some(match ext.as_str() {
        "txt" | "text" | "log" | "md" | "json" | "xml" | "ics" | "vcf" | "ini" | "yaml" | "yml" => {
            FileKind::Text
        }
        "csv" | "tsv" => FileKind::Csv,
        "htm" | "html" | "xhtml" => FileKind::Html,
        "pdf" => FileKind::Pdf,
        "docx" | "docm" | "dotx" | "dotm" => FileKind::Docx,
        "xlsx" | "xlsm" | "xltx" | "xltm" => FileKind::Xlsx,
        "pptx" | "pptm" | "potx" | "ppsx" => FileKind::Pptx,
        "doc" | "xls" | "ppt" | "msg" | "dot" | "xlt" | "pps" => FileKind::OtherOffice,
        "zip" => FileKind::Zip,
        "rar" | "7z" | "gz" | "tgz" | "tar" | "bz2" | "xz" | "zst" | "cab" => {
            FileKind::OtherArchive
        }
        "jpg" | "jpeg" | "jfif" => FileKind::Image(ImageKind::Jpeg),
        "png" => FileKind::Image(ImageKind::Png),
        "gif" => FileKind::Image(ImageKind::Gif),
        "webp" => FileKind::Image(ImageKind::Webp),
        "heic" | "heif" | "avif" => FileKind::Image(ImageKind::Heic),
        "tif" | "tiff" => FileKind::Image(ImageKind::Tiff),
        "bmp" => FileKind::Image(ImageKind::Bmp),
        "eml" => FileKind::Email,
        _ => return None,
    })
}

fn kind_from_content_type(ct: &str) -> Option<FileKind> {
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    Some(match mime.as_str() {
        "text/csv" | "text/tab-separated-values" | "application/csv" => FileKind::Csv,
        "text/html" | "application/xhtml+xml" => FileKind::Html,
        "application/pdf" => FileKind::Pdf,
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => FileKind::Docx,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => FileKind::Xlsx,
        "application/vnd.openxmlformats-officedocument.presentationml.presentation" => {
            FileKind::Pptx
        }
        "application/msword"
        | "application/vnd.ms-excel"
        | "application/vnd.ms-powerpoint"
        | "application/vnd.ms-outlook" => FileKind::OtherOffice,
        "application/zip" | "application/x-zip-compressed" => FileKind::Zip,
        "application/x-rar-compressed"
        | "application/vnd.rar"
        | "application/x-7z-compressed"
        | "application/gzip"
        | "application/x-gzip"
        | "application/x-tar" => FileKind::OtherArchive,
        "image/jpeg" | "image/jpg" | "image/pjpeg" => FileKind::Image(ImageKind::Jpeg),
        "image/png" => FileKind::Image(ImageKind::Png),
        "image/gif" => FileKind::Image(ImageKind::Gif),
        "image/webp" => FileKind::Image(ImageKind::Webp),
        "image/heic" | "image/heif" | "image/avif" => FileKind::Image(ImageKind::Heic),
        "image/tiff" => FileKind::Image(ImageKind::Tiff),
        "image/bmp" | "image/x-ms-bmp" => FileKind::Image(ImageKind::Bmp),
        "message/rfc822" | "message/global" => FileKind::Email,
        m if m.starts_with("text/") => FileKind::Text,
        _ => return None,
    })
}

/// Text if it carries a UTF-16 byte-order mark, or if its first 8 KiB hold
/// no NUL and few control characters.
pub(crate) fn looks_like_text(b: &[u8]) -> bool {
    if b.starts_with(&[0xFF, 0xFE]) || b.starts_with(&[0xFE, 0xFF]) {
        return true;
    }
    let head = &b[..b.len().min(8192)];
    if head.is_empty() {
        return false;
    }
    let mut control = 0usize;
    for &c in head {
        match c {
            0 => return false,
            b'\t' | b'\n' | b'\r' | 0x0C => {}
            c if c < 0x20 || c == 0x7F => control += 1,
            _ => {}
        }
    }
    control * 100 <= head.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_wins_over_name() {
        assert_eq!(sniff(b"%PDF-1.7\n", Some("a.txt"), None), FileKind::Pdf);
        assert_eq!(
            sniff(b"\xFF\xD8\xFF\xE0\0\x10JFIF", Some("passport.pdf"), None),
            FileKind::Image(ImageKind::Jpeg)
        );
        assert_eq!(
            sniff(b"\x89PNG\r\n\x1a\n....", None, None),
            FileKind::Image(ImageKind::Png)
        );
        assert_eq!(
            sniff(b"GIF89a...", None, None),
            FileKind::Image(ImageKind::Gif)
        );
        assert_eq!(
            sniff(b"RIFF\0\0\0\0WEBPVP8 ", None, None),
            FileKind::Image(ImageKind::Webp)
        );
        assert_eq!(
            sniff(b"\0\0\0\x18ftypheic\0\0\0\0", None, None),
            FileKind::Image(ImageKind::Heic)
        );
        assert_eq!(
            sniff(b"II*\0\x08\0\0\0", None, None),
            FileKind::Image(ImageKind::Tiff)
        );
        let mut bmp = b"BM".to_vec();
        bmp.extend_from_slice(&[0; 12]);
        bmp.extend_from_slice(&40u32.to_le_bytes());
        assert_eq!(sniff(&bmp, None, None), FileKind::Image(ImageKind::Bmp));
    }

    #[test]
    fn archives() {
        assert_eq!(
            sniff(b"Rar!\x1a\x07\x01\0", None, None),
            FileKind::OtherArchive
        );
        assert_eq!(
            sniff(&[0x37, 0x7A, 0xBC, 0xAF, 0x27, 0x1C, 0, 4], None, None),
            FileKind::OtherArchive
        );
        assert_eq!(
            sniff(&[0x1F, 0x8B, 8, 0], None, None),
            FileKind::OtherArchive
        );
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(sniff(&tar, None, None), FileKind::OtherArchive);
        assert_eq!(sniff(b"PK\x05\x06", None, None), FileKind::Zip);
    }

    #[test]
    fn names_and_types() {
        assert_eq!(sniff(b"a,b\n1,2\n", Some("x.CSV"), None), FileKind::Csv);
        assert_eq!(
            sniff(b"a,b", None, Some("text/csv; charset=utf-8")),
            FileKind::Csv
        );
        assert_eq!(sniff(b"hello", None, Some("text/plain")), FileKind::Text);
        assert_eq!(sniff(b"hello", None, None), FileKind::Text);
        assert_eq!(sniff(b"\0\x01\x02binary", None, None), FileKind::Binary);
        assert_eq!(sniff(b"", None, None), FileKind::Binary);
        assert_eq!(
            sniff(b"From: a@b\r\n", Some("fwd.eml"), None),
            FileKind::Email
        );
        assert_eq!(sniff(b"x", None, Some("message/rfc822")), FileKind::Email);
        assert_eq!(sniff(b"garbage", Some("broken.pdf"), None), FileKind::Pdf);
        assert_eq!(
            sniff(b"\xFF\xFEh\0i\0", None, None),
            FileKind::Text,
            "UTF-16 with BOM is text"
        );
    }

    #[test]
    fn html_by_content() {
        assert_eq!(sniff(b"  <!DOCTYPE html><p>x", None, None), FileKind::Html);
        assert_eq!(sniff(b"<HTML><body>", Some("a.dat"), None), FileKind::Html);
        assert_eq!(sniff(b"<p>hi</p>", None, Some("text/html")), FileKind::Html);
    }

    #[test]
    fn ole() {
        let mut b = OLE_MAGIC.to_vec();
        b.extend_from_slice(&[0; 600]);
        assert_eq!(sniff(&b, None, None), FileKind::OtherOffice);
        for c in "EncryptedPackage".encode_utf16() {
            b.extend_from_slice(&c.to_le_bytes());
        }
        assert_eq!(sniff(&b, Some("a.docx"), None), FileKind::EncryptedOffice);
    }

    #[test]
    fn extension_parsing() {
        assert_eq!(extension("dir.v2/Report.PDF").as_deref(), Some("pdf"));
        assert_eq!(extension("noext"), None);
        assert_eq!(extension("trailing."), None);
    }
}
