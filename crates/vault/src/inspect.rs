//! Upload validation: what a customer's upload must be before it reaches the vault.
//!
//! [`inspect`] decides the type and refuses dangerous files without decoding pixels;
//! [`sanitize`] runs [`inspect`], checks the file name, and re-encodes images.
//!
//! # Rules, in the order they are applied
//!
//! 1. **Size**: empty → `empty_file`; more than [`UploadPolicy::max_bytes`] (10 MiB by default)
//!    → `too_large`. Checked before anything else is read.
//! 2. **Type by magic bytes at offset 0** (the file name and the declared content type are
//!    ignored): JPEG `FF D8 FF`, PNG `89 50 4E 47 0D 0A 1A 0A`, PDF `%PDF-1.` or `%PDF-2.`.
//!    A ZIP (`PK\3\4`, `PK\5\6`, `PK\7\8`), gzip, bzip2, xz, zstd, 7-Zip or RAR signature at
//!    offset 0 → `archive` (this is where a zip bomb renamed `.jpg` ends). Anything else →
//!    `unsupported_type`. A PDF header after leading bytes (which Acrobat tolerates) is refused.
//! 3. **Polyglots** (all three types, over every byte) → `polyglot`:
//!    - a ZIP end-of-central-directory record (`PK\5\6`) in the last 65,557 bytes (where ZIP
//!      readers look for it; ZIP64 archives have one too), or a central directory header
//!      (`PK\1\2`) together with an end-of-central-directory record anywhere;
//!    - a RAR (`Rar!\x1A\x07`) or 7-Zip (`7z\xBC\xAF\x27\x1C`) signature anywhere;
//!    - markup or script, ASCII case-insensitive, anywhere: `<script`, `<iframe`, `<object`,
//!      `<embed`, `<!doctype`, `javascript:`, `onload=`, `onerror=`, and `<html` or `<body`
//!      followed by whitespace, `>` or `/`. (XMP metadata, which photos and PDFs carry, uses
//!      none of these.) Every pattern is at least 6 fixed bytes, so compressed pixel data
//!      matches one by chance about once in 10^5 uploads of 10 MB; shorter tags such as
//!      `<svg` would refuse about 2% of large photos, and what makes them dangerous —
//!      `<script` or an `on…=` handler — is checked anyway.
//! 4. **PDF**:
//!    - `%%EOF` must occur in the last 1,024 bytes and only whitespace or NUL may follow the last
//!      one (appended data is how PDF polyglots are made) → else `pdf_malformed` / `polyglot`;
//!    - every name token (`/Name`, with `#xx` escapes decoded, as a reader does) in the file and
//!      in every object stream (decompressed, see below) is checked against the active-content
//!      list → `pdf_active_content`: `JavaScript`, `Launch`, `EmbeddedFile`, `EmbeddedFiles`,
//!      `FileAttachment`, `RichMedia`, `XFA`, `SubmitForm`, `ImportData`, `GoToE`, `GoToR`.
//!      (`/JS` is not on the list: a script action also needs `/S /JavaScript`, and a 3-byte
//!      name would match by chance in compressed image data);
//!    - the name `Encrypt` (a password-protected or encrypted PDF cannot be checked) →
//!      `pdf_encrypted`;
//!    - object streams (a stream whose dictionary — the names between the last `obj` keyword
//!      and `stream`, however long — has `ObjStm`, or both `N` and `First`) hide objects
//!      inside compressed data: they are inflated when their only filter is
//!      `FlateDecode` and scanned like the file; inflated bytes are limited to
//!      [`UploadPolicy::max_pdf_inflated_bytes`] in total (→ `pdf_too_complex`), other filters
//!      → `pdf_unsupported`, a broken stream → `pdf_malformed`.
//!
//!    PDFs that pass are kept byte for byte.
//! 5. **Images**: the header's dimensions must be at most [`UploadPolicy::max_width`] ×
//!    [`UploadPolicy::max_height`] and [`UploadPolicy::max_pixels`] (→ `image_dimensions`; a
//!    decompression-bomb PNG that declares 100,000 × 100,000 pixels ends here before any
//!    allocation); decoding runs with the same limits and [`UploadPolicy::max_decode_bytes`] of
//!    memory; a file that does not decode → `image_unreadable`. [`sanitize`] applies the EXIF
//!    orientation and re-encodes (JPEG → JPEG at [`UploadPolicy::jpeg_quality`], PNG → PNG), so
//!    EXIF (GPS, camera), XMP, ICC profiles, PNG text chunks and trailing bytes are all dropped.
//! 6. **File name** ([`sanitize_filename`]): refused (`bad_filename`) when it contains `/`, `\`,
//!    NUL or any other control character, a bidirectional-override character (U+200E, U+200F,
//!    U+202A–U+202E, U+2066–U+2069: they disguise extensions), is `.` or `..`, or is longer
//!    than 255 bytes. It is only ever a display name: whitespace collapsed, leading dots
//!    removed, cut to 100 characters, and the extension of the detected type appended when it
//!    has another (`passport.exe` → `passport.exe.pdf`). Absent or blank → `document.<ext>`.
//!
//! Every error has a machine [`UploadError::code`] and a one-sentence
//! [`UploadError::customer_message`] in English.

use std::borrow::Cow;
use std::io::{Cursor, Read};
use std::panic::{AssertUnwindSafe, catch_unwind};

use bytes::Bytes;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use memchr::memmem;
use thiserror::Error;

/// Limits for uploads. `Default` is what the portal uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadPolicy {
    /// Largest upload, bytes (10 MiB).
    pub max_bytes: usize,
    /// Widest image, pixels (12,000).
    pub max_width: u32,
    /// Tallest image, pixels (12,000).
    pub max_height: u32,
    /// Most pixels in an image (50 million).
    pub max_pixels: u64,
    /// Memory for the decoded pixels and one converted copy, bytes (512 MiB).
    pub max_decode_bytes: u64,
    /// Largest re-encoded image, bytes (32 MiB).
    pub max_output_bytes: usize,
    /// JPEG re-encoding quality, 1–100 (90).
    pub jpeg_quality: u8,
    /// Total bytes inflated from a PDF's object streams (32 MiB).
    pub max_pdf_inflated_bytes: usize,
}

impl Default for UploadPolicy {
    fn default() -> Self {
        UploadPolicy {
            max_bytes: 10 * 1024 * 1024,
            max_width: 12_000,
            max_height: 12_000,
            max_pixels: 50_000_000,
            max_decode_bytes: 512 * 1024 * 1024,
            max_output_bytes: 32 * 1024 * 1024,
            jpeg_quality: 90,
            max_pdf_inflated_bytes: 32 * 1024 * 1024,
        }
    }
}

/// The accepted kinds of document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DocumentKind {
    Jpeg,
    Png,
    Pdf,
}

impl DocumentKind {
    /// The content type to store and serve with.
    pub fn content_type(self) -> &'static str {
        match self {
            DocumentKind::Jpeg => "image/jpeg",
            DocumentKind::Png => "image/png",
            DocumentKind::Pdf => "application/pdf",
        }
    }

    /// The file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            DocumentKind::Jpeg => "jpg",
            DocumentKind::Png => "png",
            DocumentKind::Pdf => "pdf",
        }
    }

    fn accepts_extension(self, ext: &str) -> bool {
        let ext = ext.to_ascii_lowercase();
        match self {
            DocumentKind::Jpeg => matches!(ext.as_str(), "jpg" | "jpeg" | "jpe" | "jfif"),
            DocumentKind::Png => ext == "png",
            DocumentKind::Pdf => ext == "pdf",
        }
    }
}

/// A refused upload. [`UploadError::code`] is for programs, [`UploadError::customer_message`]
/// for the customer, `Display` for logs.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UploadError {
    #[error("empty upload")]
    Empty,
    #[error("upload of {size} bytes exceeds the limit of {max} bytes")]
    TooLarge { size: usize, max: usize },
    #[error("not a JPEG, PNG or PDF by its magic bytes")]
    UnsupportedType,
    #[error("an archive ({0})")]
    Archive(&'static str),
    #[error("polyglot: {0}")]
    Polyglot(&'static str),
    #[error("PDF with active content or attachments (/{0})")]
    PdfActiveContent(String),
    #[error("encrypted PDF")]
    PdfEncrypted,
    #[error("malformed PDF: {0}")]
    PdfMalformed(&'static str),
    #[error("PDF object stream with a filter that cannot be checked")]
    PdfUnsupported,
    #[error("PDF object streams inflate beyond the limit")]
    PdfTooComplex,
    #[error("image of {width}x{height} pixels exceeds the limits")]
    ImageDimensions { width: u32, height: u32 },
    #[error("image does not decode: {0}")]
    ImageUnreadable(String),
    #[error("re-encoded image of {size} bytes exceeds the limit of {max} bytes")]
    OutputTooLarge { size: usize, max: usize },
    #[error("file name refused: {0}")]
    BadFilename(&'static str),
}

impl UploadError {
    /// A stable machine code (`too_large`, `polyglot`, …).
    pub fn code(&self) -> &'static str {
        match self {
            UploadError::Empty => "empty_file",
            UploadError::TooLarge { .. } => "too_large",
            UploadError::UnsupportedType => "unsupported_type",
            UploadError::Archive(_) => "archive",
            UploadError::Polyglot(_) => "polyglot",
            UploadError::PdfActiveContent(_) => "pdf_active_content",
            UploadError::PdfEncrypted => "pdf_encrypted",
            UploadError::PdfMalformed(_) => "pdf_malformed",
            UploadError::PdfUnsupported => "pdf_unsupported",
            UploadError::PdfTooComplex => "pdf_too_complex",
            UploadError::ImageDimensions { .. } => "image_dimensions",
            UploadError::ImageUnreadable(_) => "image_unreadable",
            UploadError::OutputTooLarge { .. } => "image_too_large",
            UploadError::BadFilename(_) => "bad_filename",
        }
    }

    /// One sentence for the customer, in English.
    pub fn customer_message(&self) -> Cow<'static, str> {
        if let UploadError::TooLarge { max, .. } = self {
            let mb = (*max as f64 / (1024.0 * 1024.0) * 10.0).floor() / 10.0;
            return Cow::Owned(format!(
                "The file is too large; please upload a file of at most {mb} MB."
            ));
        }
        Cow::Borrowed(match self {
            UploadError::Empty => "The file is empty; please choose the document again.",
            UploadError::TooLarge { .. } => "The file is too large; please upload a smaller file.",
            UploadError::UnsupportedType => {
                "This type of file is not accepted; please upload a JPEG or PNG photo or a PDF."
            }
            UploadError::Archive(_) => {
                "Compressed archives such as ZIP files are not accepted; please upload the document itself as a JPEG, PNG or PDF."
            }
            UploadError::Polyglot(_) => {
                "The file contains extra content that does not belong in a photo or PDF; please export or photograph the document again."
            }
            UploadError::PdfActiveContent(_) => {
                "The PDF contains scripts, actions or attached files; please save it as a plain PDF (for example with Print to PDF) or upload a photo."
            }
            UploadError::PdfEncrypted => {
                "The PDF is password-protected; please upload a copy without a password."
            }
            UploadError::PdfMalformed(_) => {
                "The PDF appears damaged or incomplete; please export it again."
            }
            UploadError::PdfUnsupported | UploadError::PdfTooComplex => {
                "The PDF could not be checked; please save it as a plain PDF (for example with Print to PDF) or upload a photo."
            }
            UploadError::ImageDimensions { .. } | UploadError::OutputTooLarge { .. } => {
                "The image is too large; please upload a smaller photo."
            }
            UploadError::ImageUnreadable(_) => {
                "The image could not be read; please take the photo again."
            }
            UploadError::BadFilename(_) => {
                "The file name is not accepted; please rename the file without slashes or special characters."
            }
        })
    }
}

/// A checked upload, ready for [`crate::Vault::put`].
#[derive(Clone, Debug)]
pub struct CleanUpload {
    pub kind: DocumentKind,
    /// Re-encoded image, or the PDF as uploaded.
    pub bytes: Bytes,
    /// Sanitized display name (never a path; never used to name anything stored).
    pub display_name: String,
    /// Image dimensions after orientation; `None` for PDFs.
    pub dimensions: Option<(u32, u32)>,
}

/// Decides the kind of `bytes` and applies rules 1–5 (without decoding pixels).
pub fn inspect(bytes: &[u8], policy: &UploadPolicy) -> Result<DocumentKind, UploadError> {
    if bytes.is_empty() {
        return Err(UploadError::Empty);
    }
    if bytes.len() > policy.max_bytes {
        return Err(UploadError::TooLarge {
            size: bytes.len(),
            max: policy.max_bytes,
        });
    }
    let kind = sniff(bytes)?;
    check_polyglot(bytes)?;
    match kind {
        DocumentKind::Pdf => check_pdf(bytes, policy)?,
        DocumentKind::Jpeg | DocumentKind::Png => {
            contained(|| image_header(bytes, kind, policy).map(|_| ()))?;
        }
    }
    Ok(kind)
}

/// [`inspect`], then the file name, then re-encoding of images.
pub fn sanitize(
    bytes: &[u8],
    filename: Option<&str>,
    policy: &UploadPolicy,
) -> Result<CleanUpload, UploadError> {
    let kind = inspect(bytes, policy)?;
    let display_name = sanitize_filename(filename.unwrap_or(""), kind)?;
    match kind {
        DocumentKind::Pdf => Ok(CleanUpload {
            kind,
            bytes: Bytes::copy_from_slice(bytes),
            display_name,
            dimensions: None,
        }),
        DocumentKind::Jpeg | DocumentKind::Png => {
            let (out, dims) = contained(|| reencode(bytes, kind, policy))?;
            if out.len() > policy.max_output_bytes {
                return Err(UploadError::OutputTooLarge {
                    size: out.len(),
                    max: policy.max_output_bytes,
                });
            }
            Ok(CleanUpload {
                kind,
                bytes: Bytes::from(out),
                display_name,
                dimensions: Some(dims),
            })
        }
    }
}

/// Rule 6: checks a customer's file name and returns the display name to keep.
pub fn sanitize_filename(name: &str, kind: DocumentKind) -> Result<String, UploadError> {
    if name.len() > 255 {
        return Err(UploadError::BadFilename("longer than 255 bytes"));
    }
    for c in name.chars() {
        if c == '/' || c == '\\' {
            return Err(UploadError::BadFilename("contains a path separator"));
        }
        if c == '\0' || c.is_control() {
            return Err(UploadError::BadFilename("contains a control character"));
        }
        if matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
        {
            return Err(UploadError::BadFilename(
                "contains a bidirectional control character",
            ));
        }
    }
    let trimmed = name.trim();
    if trimmed == "." || trimmed == ".." {
        return Err(UploadError::BadFilename("is a relative path"));
    }
    let collapsed: String = trimmed.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut base = collapsed.trim_start_matches('.').trim().to_string();
    if base.is_empty() {
        base = "document".to_string();
    }
    let has_ext = base
        .rsplit_once('.')
        .is_some_and(|(stem, ext)| !stem.is_empty() && kind.accepts_extension(ext));
    if !has_ext {
        base.push('.');
        base.push_str(kind.extension());
    }
    const MAX_CHARS: usize = 100;
    if base.chars().count() > MAX_CHARS {
        let (stem, ext) = base
            .rsplit_once('.')
            .unwrap_or((base.as_str(), kind.extension()));
        let keep = MAX_CHARS.saturating_sub(ext.chars().count() + 1);
        let stem: String = stem.chars().take(keep).collect();
        base = format!("{}.{ext}", stem.trim_end());
    }
    Ok(base)
}

fn sniff(b: &[u8]) -> Result<DocumentKind, UploadError> {
    if b.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Ok(DocumentKind::Jpeg);
    }
    if b.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Ok(DocumentKind::Png);
    }
    if b.starts_with(b"%PDF-1.") || b.starts_with(b"%PDF-2.") {
        return Ok(DocumentKind::Pdf);
    }
    const ARCHIVES: &[(&[u8], &str)] = &[
        (b"PK\x03\x04", "ZIP"),
        (b"PK\x05\x06", "ZIP"),
        (b"PK\x07\x08", "ZIP"),
        (b"\x1f\x8b", "gzip"),
        (b"BZh", "bzip2"),
        (b"\xfd7zXZ\x00", "xz"),
        (b"\x28\xb5\x2f\xfd", "zstd"),
        (b"7z\xbc\xaf\x27\x1c", "7-Zip"),
        (b"Rar!\x1a\x07", "RAR"),
    ];
    for (magic, name) in ARCHIVES {
        if b.starts_with(magic) {
            return Err(UploadError::Archive(name));
        }
    }
    Err(UploadError::UnsupportedType)
}

/// ZIP end-of-central-directory records sit within the last 22 + 65,535 bytes.
const ZIP_EOCD_WINDOW: usize = 22 + 65_535;

fn check_polyglot(b: &[u8]) -> Result<(), UploadError> {
    let tail = &b[b.len().saturating_sub(ZIP_EOCD_WINDOW)..];
    if memmem::find(tail, b"PK\x05\x06").is_some() {
        return Err(UploadError::Polyglot(
            "a ZIP archive at the end of the file",
        ));
    }
    if memmem::find(b, b"PK\x01\x02").is_some() && memmem::find(b, b"PK\x05\x06").is_some() {
        return Err(UploadError::Polyglot("a ZIP central directory"));
    }
    if memmem::find(b, b"Rar!\x1a\x07").is_some() {
        return Err(UploadError::Polyglot("a RAR archive"));
    }
    if memmem::find(b, b"7z\xbc\xaf\x27\x1c").is_some() {
        return Err(UploadError::Polyglot("a 7-Zip archive"));
    }
    if markup_finder().find(b).is_some() {
        return Err(UploadError::Polyglot("HTML or script"));
    }
    Ok(())
}

fn markup_finder() -> &'static aho_corasick::AhoCorasick {
    use std::sync::OnceLock;
    static FINDER: OnceLock<aho_corasick::AhoCorasick> = OnceLock::new();
    FINDER.get_or_init(|| {
        aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(markup_patterns())
            .unwrap_or_else(|_| unreachable!("fixed patterns build"))
    })
}

fn markup_patterns() -> Vec<String> {
    let mut p: Vec<String> = [
        "<script",
        "<iframe",
        "<object",
        "<embed",
        "<!doctype",
        "javascript:",
        "onload=",
        "onerror=",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for tag in ["<html", "<body"] {
        for end in [" ", "\t", "\n", "\r", "\x0c", ">", "/"] {
            p.push(format!("{tag}{end}"));
        }
    }
    p
}

const PDF_ACTIVE_NAMES: &[&str] = &[
    "JavaScript",
    "Launch",
    "EmbeddedFile",
    "EmbeddedFiles",
    "FileAttachment",
    "RichMedia",
    "XFA",
    "SubmitForm",
    "ImportData",
    "GoToE",
    "GoToR",
];

fn check_pdf(b: &[u8], policy: &UploadPolicy) -> Result<(), UploadError> {
    let tail_start = b.len().saturating_sub(1024);
    let Some(eof) = memmem::rfind(&b[tail_start..], b"%%EOF") else {
        return Err(UploadError::PdfMalformed("no %%EOF at the end"));
    };
    let after = &b[tail_start + eof + 5..];
    if !after.iter().all(|&c| c.is_ascii_whitespace() || c == 0) {
        return Err(UploadError::Polyglot("data after the end of the PDF"));
    }
    check_pdf_names(b)?;

    // Object streams. Every `stream` keyword (not `endstream`) is a candidate; its dictionary
    // is judged by the names between the last `obj` keyword before it and the keyword itself,
    // with no length limit (padding cannot push `/ObjStm` out of view). Names are gathered
    // incrementally while candidates share the same `obj`, so the work stays linear in the
    // file size whatever the file repeats.
    let mut budget = policy.max_pdf_inflated_bytes;
    let stream_finder = memmem::Finder::new(b"stream");
    let obj_finder = memmem::Finder::new(b"obj");
    let mut next_obj = obj_finder.find(b);
    let mut last_obj: Option<usize> = None;
    let mut region: Option<(usize, usize)> = None; // (start, scanned to)
    let mut dict = DictNames::default();
    let mut from = 0;
    while let Some(rel) = stream_finder.find(&b[from..]) {
        let at = from + rel;
        from = at + 6;
        if at >= 3 && &b[at - 3..at] == b"end" {
            continue;
        }
        while let Some(p) = next_obj {
            if p + 3 > at {
                break;
            }
            last_obj = Some(p);
            next_obj = obj_finder.find(&b[p + 3..]).map(|r| p + 3 + r);
        }
        let start = last_obj.unwrap_or(0);
        let scan_from = match region {
            Some((s, scanned)) if s == start => scanned,
            _ => {
                dict = DictNames::default();
                start
            }
        };
        for name in pdf_names(&b[scan_from..at]) {
            dict.add(&name);
        }
        region = Some((start, at));
        if !dict.object_stream {
            continue;
        }
        if dict.filters.is_empty() && !dict.filter_key {
            // Uncompressed object stream: its bytes were scanned with the file.
            continue;
        }
        let flate_only = dict.filters.len() == 1
            && (dict.filters[0].as_slice() == b"FlateDecode"
                || dict.filters[0].as_slice() == b"Fl");
        if !flate_only || dict.decode_parms {
            return Err(UploadError::PdfUnsupported);
        }
        let data_start = stream_data_start(b, at + 6);
        let mut out = Vec::new();
        let limit = budget as u64 + 1;
        let read = flate2::read::ZlibDecoder::new(&b[data_start..])
            .take(limit)
            .read_to_end(&mut out);
        match read {
            Ok(n) if n > budget => return Err(UploadError::PdfTooComplex),
            Ok(n) => budget -= n,
            Err(_) => {
                return Err(UploadError::PdfMalformed(
                    "an object stream does not inflate",
                ));
            }
        }
        check_pdf_names(&out)?;
        if markup_finder().find(&out).is_some() {
            return Err(UploadError::Polyglot("HTML or script"));
        }
    }
    Ok(())
}

/// Where stream data begins after the `stream` keyword: after spaces or tabs and one end of
/// line (CRLF, LF or CR), or right after the keyword when there is none (lenient readers).
fn stream_data_start(b: &[u8], i: usize) -> usize {
    let mut j = i;
    while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
        j += 1;
    }
    match b.get(j..) {
        Some([b'\r', b'\n', ..]) => j + 2,
        Some([b'\n', ..]) | Some([b'\r', ..]) => j + 1,
        _ => i.min(b.len()),
    }
}

/// What a stream's dictionary says about it, from its names.
#[derive(Default)]
struct DictNames {
    /// `/Type /ObjStm`, or both `/N` and `/First`.
    object_stream: bool,
    n: bool,
    first: bool,
    filter_key: bool,
    decode_parms: bool,
    /// Filter names seen (at most 8 kept; more is not flate-only anyway).
    filters: Vec<Vec<u8>>,
}

impl DictNames {
    fn add(&mut self, name: &[u8]) {
        match name {
            b"ObjStm" => self.object_stream = true,
            b"N" => self.n = true,
            b"First" => self.first = true,
            b"Filter" => self.filter_key = true,
            b"DecodeParms" | b"DP" => self.decode_parms = true,
            _ => {
                if (name.ends_with(b"Decode") || name == b"Fl" || name == b"Crypt")
                    && self.filters.len() < 8
                {
                    self.filters.push(name.to_vec());
                }
            }
        }
        if self.n && self.first {
            self.object_stream = true;
        }
    }
}

fn check_pdf_names(b: &[u8]) -> Result<(), UploadError> {
    for name in pdf_names(b) {
        if name == b"Encrypt" {
            return Err(UploadError::PdfEncrypted);
        }
        if let Some(n) = PDF_ACTIVE_NAMES
            .iter()
            .find(|n| n.as_bytes() == name.as_slice())
        {
            return Err(UploadError::PdfActiveContent((*n).to_string()));
        }
    }
    Ok(())
}

fn is_pdf_delimiter(c: u8) -> bool {
    matches!(
        c,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
    ) || c.is_ascii_whitespace()
        || c == 0
        || c == 0x0c
}

/// Every name token in `b`, `#xx` escapes decoded. Names longer than 127 bytes are cut (the
/// PDF limit) — no list entry is that long.
fn pdf_names(b: &[u8]) -> Vec<Vec<u8>> {
    let mut names = Vec::new();
    let mut pos = 0;
    while let Some(rel) = memchr::memchr(b'/', &b[pos..]) {
        let mut i = pos + rel + 1;
        let mut name = Vec::new();
        while i < b.len() && !is_pdf_delimiter(b[i]) {
            let c = b[i];
            if c == b'#' && i + 2 < b.len() {
                let hex = [b[i + 1], b[i + 2]];
                if let Ok(s) = std::str::from_utf8(&hex)
                    && let Ok(v) = u8::from_str_radix(s, 16)
                {
                    if name.len() < 128 {
                        name.push(v);
                    }
                    i += 3;
                    continue;
                }
            }
            if name.len() < 128 {
                name.push(c);
            }
            i += 1;
        }
        if !name.is_empty() && name.len() <= 127 {
            names.push(name);
        }
        pos = i.max(pos + rel + 1);
    }
    names
}

fn limits(policy: &UploadPolicy) -> Limits {
    let mut l = Limits::default();
    l.max_image_width = Some(policy.max_width);
    l.max_image_height = Some(policy.max_height);
    l.max_alloc = Some(policy.max_decode_bytes);
    l
}

fn image_error(e: image::ImageError, w: u32, h: u32) -> UploadError {
    match e {
        image::ImageError::Limits(_) => UploadError::ImageDimensions {
            width: w,
            height: h,
        },
        other => UploadError::ImageUnreadable(other.to_string()),
    }
}

/// Reads the header only; checks the dimensions.
fn image_header(
    b: &[u8],
    kind: DocumentKind,
    policy: &UploadPolicy,
) -> Result<(u32, u32), UploadError> {
    let decoder = open_decoder(b, kind, policy)?;
    let (w, h) = decoder.dimensions();
    check_dims(w, h, policy)?;
    Ok((w, h))
}

fn check_dims(w: u32, h: u32, policy: &UploadPolicy) -> Result<(), UploadError> {
    if w == 0 || h == 0 {
        return Err(UploadError::ImageUnreadable("zero width or height".into()));
    }
    if w > policy.max_width
        || h > policy.max_height
        || u64::from(w) * u64::from(h) > policy.max_pixels
    {
        return Err(UploadError::ImageDimensions {
            width: w,
            height: h,
        });
    }
    Ok(())
}

fn open_decoder<'a>(
    b: &'a [u8],
    kind: DocumentKind,
    policy: &UploadPolicy,
) -> Result<impl ImageDecoder + 'a, UploadError> {
    let mut reader = ImageReader::new(Cursor::new(b));
    reader.set_format(match kind {
        DocumentKind::Png => ImageFormat::Png,
        _ => ImageFormat::Jpeg,
    });
    reader.limits(limits(policy));
    reader.into_decoder().map_err(|e| image_error(e, 0, 0))
}

fn reencode(
    b: &[u8],
    kind: DocumentKind,
    policy: &UploadPolicy,
) -> Result<(Vec<u8>, (u32, u32)), UploadError> {
    let mut decoder = open_decoder(b, kind, policy)?;
    let (w, h) = decoder.dimensions();
    check_dims(w, h, policy)?;
    // The decoded pixels, and a converted copy for the encoder: not every decoder enforces
    // `max_alloc` for its output buffer, so the budget is checked here first.
    if decoder.total_bytes().saturating_mul(2) > policy.max_decode_bytes {
        return Err(UploadError::ImageDimensions {
            width: w,
            height: h,
        });
    }
    let orientation = decoder.orientation().ok();
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| image_error(e, w, h))?;
    if let Some(o) = orientation {
        img.apply_orientation(o);
    }
    let dims = (img.width(), img.height());
    let mut out = Vec::with_capacity(b.len());
    match kind {
        DocumentKind::Jpeg => {
            let img = match img {
                DynamicImage::ImageLuma8(_) | DynamicImage::ImageRgb8(_) => img,
                other => DynamicImage::ImageRgb8(other.to_rgb8()),
            };
            let quality = policy.jpeg_quality.clamp(1, 100);
            let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality);
            img.write_with_encoder(enc)
                .map_err(|e| UploadError::ImageUnreadable(e.to_string()))?;
        }
        DocumentKind::Png | DocumentKind::Pdf => {
            let enc = image::codecs::png::PngEncoder::new_with_quality(
                &mut out,
                image::codecs::png::CompressionType::Default,
                image::codecs::png::FilterType::Adaptive,
            );
            img.write_with_encoder(enc)
                .map_err(|e| UploadError::ImageUnreadable(e.to_string()))?;
        }
    }
    Ok((out, dims))
}

/// Runs image code with a panic turned into `image_unreadable` (a decoder bug must not take
/// the portal down).
fn contained<T>(f: impl FnOnce() -> Result<T, UploadError>) -> Result<T, UploadError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => Err(UploadError::ImageUnreadable("the decoder failed".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_decode_escapes() {
        let names = pdf_names(b"<< /S /J#61vaScript /JS (x) /Type#20x >>");
        assert!(names.contains(&b"JavaScript".to_vec()));
        assert!(names.contains(&b"Type x".to_vec()));
        assert!(pdf_names(b"/#").contains(&b"#".to_vec()));
        assert!(pdf_names(b"/#4").contains(&b"#4".to_vec()));
    }

    #[test]
    fn filenames() {
        let k = DocumentKind::Pdf;
        assert_eq!(
            sanitize_filename("statement.PDF", k).unwrap(),
            "statement.PDF"
        );
        assert_eq!(
            sanitize_filename("passport.exe", k).unwrap(),
            "passport.exe.pdf"
        );
        assert_eq!(sanitize_filename("  ", k).unwrap(), "document.pdf");
        assert_eq!(sanitize_filename(".hidden", k).unwrap(), "hidden.pdf");
        assert_eq!(sanitize_filename("a   b.pdf", k).unwrap(), "a b.pdf");
        let long = "x".repeat(200) + ".pdf";
        let s = sanitize_filename(&long, k).unwrap();
        assert_eq!(s.chars().count(), 100);
        assert!(s.ends_with(".pdf"));
        for bad in [
            "../x.pdf",
            "a/b.pdf",
            "a\\b.pdf",
            "a\0.pdf",
            "a\n.pdf",
            "..",
            "gpj\u{202E}.exe",
        ] {
            assert_eq!(
                sanitize_filename(bad, k).unwrap_err().code(),
                "bad_filename",
                "{bad:?}"
            );
        }
    }
}
