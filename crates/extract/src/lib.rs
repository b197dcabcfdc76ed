//! Text extraction for doublecheck: turns the parts of an email (HTML bodies
//! and attachments) into text that detectors can scan, and says what could
//! not be seen.
//!
//! This is a pure library: bytes in, text out. It does no I/O, never panics
//! on any input, and bounds every size, depth and count by [`Limits`].
//!
//! ```
//! use doublecheck_extract::{extract, html_to_text, FileKind, Limits};
//!
//! assert_eq!(html_to_text("dri<b>ver</b>&#39;s lic<span>ense</span>"), "driver's license");
//! let x = extract(b"name,ssn\nAnn,123-45-6789\n", Some("list.csv"), None, &Limits::default());
//! assert_eq!(x.kind, FileKind::Csv);
//! assert!(x.texts[0].text.contains("123-45-6789"));
//! ```
//!
//! # Layout
//!
//! - `lib.rs`: public types, [`extract`] (dispatch on the sniffed kind, the
//!   per-document text budget) and the panic guard around every extractor.
//! - `limits.rs`: [`Limits`], the running budget of one extraction, and the
//!   bounded text buffer every extractor writes into.
//! - `sniff.rs`: [`sniff`], [`FileKind`], [`ImageKind`]: magic bytes, then
//!   file name extension, then content type.
//! - `text.rs`: plain text and CSV decoding (UTF-8, UTF-16 with BOM,
//!   Windows-1252 fallback).
//! - `html.rs`: [`html_to_text`], a linear single-pass HTML to text converter.
//! - `pdf.rs`: PDF text through `lopdf`, with decompression bounded and
//!   encryption detected.
//! - `ooxml.rs`: DOCX, XLSX and PPTX text through `zip` + `quick-xml`, and
//!   the recognition of OOXML packages among zip files.
//! - `archive.rs`: zip archives: member listing, encrypted members,
//!   recursion, and the bounded reader shared with `ooxml.rs` that stops
//!   decompression bombs.
//! - `ole.rs`: OLE compound files: password-protected OOXML
//!   (`EncryptedPackage`) and best-effort strings from legacy .doc/.xls/.ppt/.msg.
//!
//! # Panics and output
//!
//! Each extractor runs under [`std::panic::catch_unwind`]; a panic becomes a
//! [`ProblemKind::Unscannable`] problem. So that such a caught panic prints
//! nothing, the first extraction installs a process-wide panic hook that stays
//! silent for panics raised inside this crate's extractors on the current
//! thread and forwards every other panic to the hook that was installed
//! before it. A host that installs its own hook afterwards replaces it (and
//! then decides itself what is printed). No dependency used here prints.

mod archive;
mod html;
mod limits;
mod ole;
mod ooxml;
mod pdf;
mod sniff;
mod text;

use serde::{Deserialize, Serialize};

pub use html::html_to_text;

/// Run `f`, turning a panic into `Err(message)` without printing it. For third-party parsers
/// that may panic on hostile input (the engine wraps its MIME parser in this too).
pub fn contain<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    guard::run(f)
}
pub use limits::Limits;
pub use sniff::{FileKind, ImageKind, sniff};

use limits::Budget;

/// Everything learned from one part or attachment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extraction {
    /// What the file itself is.
    pub kind: FileKind,
    /// Text of the file and of every archive member that has text.
    pub texts: Vec<Extracted>,
    /// What could not be seen, and why.
    pub problems: Vec<Problem>,
    /// Every archive member seen (including images and encrypted members).
    pub members: Vec<Member>,
}

/// The text of one document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extracted {
    /// `""` for the file itself; `"inner/a.csv"` or `"a.zip/b.docx"` for
    /// archive members.
    pub path: String,
    pub kind: FileKind,
    pub text: String,
    /// The text was cut at [`Limits::max_text_bytes`] (or a budget).
    pub truncated: bool,
}

/// One archive member. Paths are reported as written in the archive and are
/// never used for anything else.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub path: String,
    pub kind: FileKind,
    /// Bytes read when the member was read whole, else its declared size.
    pub size: u64,
    pub encrypted: bool,
}

/// Something that could not be seen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// Same convention as [`Extracted::path`].
    pub path: String,
    pub kind: ProblemKind,
    /// One human sentence.
    pub detail: String,
}

/// Why something could not be seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ProblemKind {
    /// Encrypted archive member, password-protected Office document or PDF.
    Encrypted,
    /// Corrupt file, or the extractor failed.
    Unscannable,
    /// Depth, expanded size, member count, compression ratio or text size.
    LimitExceeded,
    /// Recognized but not opened (rar, 7z, legacy Office...).
    Unsupported,
}

/// The state of one call to [`extract`].
pub(crate) struct Ctx<'l> {
    pub limits: &'l Limits,
    pub budget: Budget,
    pub out: Extraction,
}

impl Ctx<'_> {
    pub fn problem(&mut self, path: &str, kind: ProblemKind, detail: impl Into<String>) {
        // Bound the list itself: one entry per member plus a few is plenty.
        let cap = self.limits.max_members.saturating_mul(2).saturating_add(64);
        if self.out.problems.len() < cap {
            self.out.problems.push(Problem {
                path: path.to_owned(),
                kind,
                detail: detail.into(),
            });
        }
    }

    /// Text bytes the next document may have.
    pub fn text_room(&self) -> usize {
        self.budget.text_left(self.limits)
    }

    /// Records the text of one document.
    pub fn emit(&mut self, path: &str, kind: FileKind, mut text: String, mut truncated: bool) {
        let room = self.text_room();
        if limits::truncate_str(&mut text, room) {
            truncated = true;
        }
        if truncated {
            self.problem(
                path,
                ProblemKind::LimitExceeded,
                format!(
                    "Only the first {} bytes of text were kept; the rest was not scanned.",
                    text.len()
                ),
            );
        }
        self.budget.text = self.budget.text.saturating_add(text.len() as u64);
        if text.is_empty() && !truncated {
            return;
        }
        self.out.texts.push(Extracted {
            path: path.to_owned(),
            kind,
            text,
            truncated,
        });
    }
}

/// Extracts the text of one part or attachment.
///
/// `filename` and `content_type` only help [`sniff`] when the bytes have no
/// recognizable signature. Never panics; everything that could not be seen is
/// listed in [`Extraction::problems`].
pub fn extract(
    bytes: &[u8],
    filename: Option<&str>,
    content_type: Option<&str>,
    limits: &Limits,
) -> Extraction {
    let kind = match guard::run(|| sniff(bytes, filename, content_type)) {
        Ok(k) => k,
        Err(_) => FileKind::Binary,
    };
    let mut ctx = Ctx {
        limits,
        budget: Budget::new(),
        out: Extraction {
            kind,
            texts: Vec::new(),
            problems: Vec::new(),
            members: Vec::new(),
        },
    };
    process(&mut ctx, bytes, kind, "", 0);
    ctx.out
}

/// Extracts one document (the file itself or an archive member) into `ctx`.
pub(crate) fn process(ctx: &mut Ctx<'_>, bytes: &[u8], kind: FileKind, path: &str, depth: u32) {
    let result = guard::run(|| process_inner(ctx, bytes, kind, path, depth));
    if let Err(msg) = result {
        ctx.problem(
            path,
            ProblemKind::Unscannable,
            format!(
                "The {} extractor failed ({msg}); its content was not scanned.",
                kind_name(kind)
            ),
        );
    }
}

fn process_inner(ctx: &mut Ctx<'_>, bytes: &[u8], kind: FileKind, path: &str, depth: u32) {
    match kind {
        FileKind::Text | FileKind::Csv => {
            let (text, cut) = text::decode_text(bytes, ctx.text_room());
            ctx.emit(path, kind, text, cut);
        }
        FileKind::Email if depth > 0 => {
            // A message inside an archive: nobody else will look at it, so its
            // raw text (headers and undecoded body) is scanned here.
            let (text, cut) = text::decode_text(bytes, ctx.text_room());
            ctx.emit(path, kind, text, cut);
        }
        FileKind::Html => {
            let (src, cut_src) = text::decode_text(bytes, usize::MAX);
            let (text, cut) = html::html_to_text_limited(&src, ctx.text_room());
            ctx.emit(path, kind, text, cut || cut_src);
        }
        FileKind::Pdf => pdf::extract(ctx, bytes, path),
        FileKind::Docx | FileKind::Xlsx | FileKind::Pptx => {
            ooxml::extract(ctx, bytes, kind, path, depth)
        }
        FileKind::Zip => archive::extract(ctx, bytes, path, depth),
        FileKind::OtherOffice => ole::extract_legacy(ctx, bytes, path),
        FileKind::EncryptedOffice => ctx.problem(
            path,
            ProblemKind::Encrypted,
            "The Office document is password-protected and could not be scanned.",
        ),
        FileKind::OtherArchive => ctx.problem(
            path,
            ProblemKind::Unsupported,
            "This archive format (rar, 7z, gzip, tar...) is not opened; its contents were not scanned.",
        ),
        FileKind::Image(_) | FileKind::Email | FileKind::Binary => {}
    }
}

pub(crate) fn kind_name(kind: FileKind) -> &'static str {
    match kind {
        FileKind::Text => "text",
        FileKind::Csv => "CSV",
        FileKind::Html => "HTML",
        FileKind::Pdf => "PDF",
        FileKind::Docx => "DOCX",
        FileKind::Xlsx => "XLSX",
        FileKind::Pptx => "PPTX",
        FileKind::OtherOffice => "legacy Office",
        FileKind::EncryptedOffice => "encrypted Office",
        FileKind::Zip => "zip",
        FileKind::OtherArchive => "archive",
        FileKind::Image(_) => "image",
        FileKind::Email => "email",
        FileKind::Binary => "binary",
    }
}

/// Joins an archive path and a member name.
pub(crate) fn join_path(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}/{name}")
    }
}

/// Runs extractors under `catch_unwind`, keeping caught panics quiet.
mod guard {
    use std::cell::Cell;
    use std::panic::{self, AssertUnwindSafe};
    use std::sync::Once;

    thread_local! {
        static INSIDE: Cell<u32> = const { Cell::new(0) };
    }

    static HOOK: Once = Once::new();

    fn install_hook() {
        HOOK.call_once(|| {
            let previous = panic::take_hook();
            panic::set_hook(Box::new(move |info| {
                let inside = INSIDE.try_with(|c| c.get() > 0).unwrap_or(false);
                if !inside {
                    previous(info);
                }
            }));
        });
    }

    /// Runs `f`; a panic becomes `Err` with its message.
    pub(crate) fn run<T>(f: impl FnOnce() -> T) -> Result<T, String> {
        install_hook();
        let _ = INSIDE.try_with(|c| c.set(c.get().saturating_add(1)));
        let result = panic::catch_unwind(AssertUnwindSafe(f));
        let _ = INSIDE.try_with(|c| c.set(c.get().saturating_sub(1)));
        result.map_err(|payload| {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "internal error".to_owned());
            let mut msg: String = msg.chars().take(200).collect();
            if msg.is_empty() {
                msg.push_str("internal error");
            }
            msg
        })
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn panic_becomes_err() {
            let r: Result<(), String> = super::run(|| panic!("boom"));
            assert_eq!(r, Err("boom".to_owned()));
            assert_eq!(super::run(|| 7), Ok(7));
        }
    }
}
