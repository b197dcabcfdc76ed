//! Watermarks written into a PDF document's pages: the viewer's e-mail address, the time and
//! the document id, repeated diagonally across every page and once along its top edge, in
//! semi-transparent red Helvetica. A reviewer who saves the PDF from the viewer saves a marked
//! file, not the customer's original.
//!
//! The document is parsed with lopdf and changed in place of its page objects only:
//!
//! - one font (`/Helvetica`, a standard font every reader has, WinAnsi encoding) and one
//!   graphics state (35% opacity) are added to the document and named in each page's resources
//!   (`DcMark`, `DcMarkGS`), inherited resources copied to the page first so nothing is hidden;
//! - each page's contents become `[q…] + original streams + [Q…] + [watermark]`, with as many
//!   `q` and `Q` as the original's own saves and restores need to come back to the page's
//!   initial state (counted with lopdf's content parser), so whatever graphics state the
//!   original leaves behind (a transformation, a clip, a colour, an unmatched `q` or `Q`) cannot
//!   move, clip or hide the watermark;
//! - pages of the same size share one watermark stream.
//!
//! Bounds: at most [`MAX_PAGES`] pages, page sizes clamped to 200 inches, at most
//! [`MAX_ADDED_BYTES`] added and [`MAX_READ_BYTES`] of page content read, the parser run under
//! `catch_unwind` (a PDF library must not take the server down on a hostile file). Encrypted
//! PDFs, PDFs without pages, PDFs past the bounds and anything lopdf cannot read are refused
//! with [`PdfMarkError`]; the caller decides what to show instead.

use lopdf::content::Content;
use lopdf::{Dictionary, Document, Object, ObjectId, Stream, dictionary};
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// The most pages marked; a longer document is refused.
pub const MAX_PAGES: usize = 2_000;
/// The most watermark bytes added to one document (one stream per distinct page size).
const MAX_ADDED_BYTES: usize = 8 * 1024 * 1024;
/// The most page content decompressed to balance the pages' graphics states, all pages
/// together.
const MAX_READ_BYTES: usize = 64 * 1024 * 1024;
/// The deepest graphics-state nesting repaired around a page's content.
const MAX_NESTING: usize = 64;
/// The largest page side honoured, in points (200 inches); larger boxes are clamped.
const MAX_SIDE_PT: f32 = 14_400.0;
/// US Letter, for a page without a readable `/MediaBox`.
const DEFAULT_BOX: [f32; 4] = [0.0, 0.0, 612.0, 792.0];
/// Names of the added resources (prefixed so that they cannot collide with a producer's).
const FONT_NAME: &str = "DcMark";
const GS_NAME: &str = "DcMarkGS";
/// Font size of the diagonal rows and of the top line, in points.
const ROW_SIZE: f32 = 11.0;
const TOP_SIZE: f32 = 8.0;
/// Distance between diagonal rows, in points.
const ROW_STEP: f32 = 96.0;

/// Why a PDF could not be marked.
#[derive(Debug)]
pub enum PdfMarkError {
    /// The file is encrypted.
    Encrypted,
    /// The file has no pages, or more than [`MAX_PAGES`].
    Pages(usize),
    /// lopdf could not read or write the file (or failed on it).
    Unreadable(String),
    /// Marking would add or read more than the bounds allow.
    TooLarge,
}

impl std::fmt::Display for PdfMarkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PdfMarkError::Encrypted => f.write_str("the PDF is encrypted"),
            PdfMarkError::Pages(0) => f.write_str("the PDF has no pages"),
            PdfMarkError::Pages(n) => write!(f, "the PDF has {n} pages (at most {MAX_PAGES})"),
            PdfMarkError::Unreadable(e) => write!(f, "the PDF could not be read: {e}"),
            PdfMarkError::TooLarge => f.write_str("the PDF has too much page content to mark"),
        }
    }
}

/// `bytes` (a PDF) with `lines` written across every page.
pub fn mark_pdf(bytes: &[u8], lines: &[String]) -> Result<Vec<u8>, PdfMarkError> {
    catch_unwind(AssertUnwindSafe(|| mark(bytes, lines))).unwrap_or_else(|_| {
        Err(PdfMarkError::Unreadable(
            "the PDF library failed on this file".into(),
        ))
    })
}

fn mark(bytes: &[u8], lines: &[String]) -> Result<Vec<u8>, PdfMarkError> {
    let unreadable = |e: lopdf::Error| PdfMarkError::Unreadable(e.to_string());
    let mut doc = Document::load_mem(bytes).map_err(unreadable)?;
    if doc.is_encrypted() || doc.was_encrypted() {
        return Err(PdfMarkError::Encrypted);
    }
    let pages: Vec<ObjectId> = doc.page_iter().take(MAX_PAGES + 1).collect();
    if pages.is_empty() || pages.len() > MAX_PAGES {
        return Err(PdfMarkError::Pages(pages.len()));
    }
    let font = doc.add_object(dictionary! {
        "Type" => "Font",
        "Subtype" => "Type1",
        "BaseFont" => "Helvetica",
        "Encoding" => "WinAnsiEncoding",
    });
    let gs = doc.add_object(dictionary! {
        "Type" => "ExtGState",
        "ca" => 0.35,
        "CA" => 0.35,
    });
    let text = pdf_string(&lines.join("  |  "));
    // One watermark stream per page size (most documents have one or two), and a budget on
    // what is added and read, so that a small file of many huge or odd-sized pages cannot
    // make the server build gigabytes.
    let mut marks: HashMap<[i64; 4], ObjectId> = HashMap::new();
    let mut saves: HashMap<usize, ObjectId> = HashMap::new();
    let mut restores: HashMap<usize, ObjectId> = HashMap::new();
    let mut added = 0usize;
    let mut read = 0usize;
    for page in pages {
        let media = media_box(&doc, page);
        add_resource(&mut doc, page, b"Font", FONT_NAME, font).map_err(unreadable)?;
        add_resource(&mut doc, page, b"ExtGState", GS_NAME, gs).map_err(unreadable)?;
        let (open, close) = balance(&doc, page, &mut read)?;
        let key = media.map(|v| v.round() as i64);
        let mark = match marks.get(&key) {
            Some(id) => *id,
            None => {
                let bytes = content(&text, media);
                added += bytes.len();
                if added > MAX_ADDED_BYTES {
                    return Err(PdfMarkError::TooLarge);
                }
                let id = doc.add_object(Stream::new(Dictionary::new(), bytes));
                marks.insert(key, id);
                id
            }
        };
        let open = *saves
            .entry(open)
            .or_insert_with(|| doc.add_object(Stream::new(Dictionary::new(), b"q\n".repeat(open))));
        let close = *restores.entry(close).or_insert_with(|| {
            doc.add_object(Stream::new(Dictionary::new(), b"Q\n".repeat(close)))
        });
        let mut list = vec![Object::Reference(open)];
        list.extend(page_contents(&doc, page));
        list.push(Object::Reference(close));
        list.push(Object::Reference(mark));
        doc.get_object_mut(page)
            .and_then(Object::as_dict_mut)
            .map_err(unreadable)?
            .set("Contents", list);
    }
    let mut out = Vec::with_capacity(bytes.len() + 4096);
    doc.save_to(&mut out)
        .map_err(|e| PdfMarkError::Unreadable(e.to_string()))?;
    Ok(out)
}

/// The page's content stream references, as lopdf's own `add_page_contents` reads them.
fn page_contents(doc: &Document, page: ObjectId) -> Vec<Object> {
    let Ok(dict) = doc.get_dictionary(page) else {
        return Vec::new();
    };
    match dict.get(b"Contents") {
        Ok(Object::Reference(id)) => match doc.get_object(*id) {
            Ok(Object::Array(items)) => items.clone(),
            _ => vec![Object::Reference(*id)],
        },
        Ok(Object::Array(items)) => items.clone(),
        _ => Vec::new(),
    }
}

/// How many `q` to put before a page's own content and how many `Q` after it, so that the
/// watermark starts from the page's initial graphics state whatever the content does: an
/// unmatched `q` left open (its clip or transformation would apply to the mark) is closed, and
/// extra `Q`s (which would pop the saved state) find one saved for each. Reads the page's
/// content through lopdf's operator parser, charging `read` against [`MAX_READ_BYTES`].
fn balance(
    doc: &Document,
    page: ObjectId,
    read: &mut usize,
) -> Result<(usize, usize), PdfMarkError> {
    let remaining = MAX_READ_BYTES.saturating_sub(*read);
    let content = doc
        .get_page_content_with_limit(page, remaining)
        .map_err(|_| PdfMarkError::TooLarge)?;
    *read += content.len();
    let (mut depth, mut lowest) = (0i64, 0i64);
    for op in Content::decode_iter(&content) {
        // A content stream lopdf cannot parse to the end: what was read counts; readers stop
        // at the same place.
        let Ok(op) = op else { break };
        match op.operator.as_str() {
            "q" => depth += 1,
            "Q" => {
                depth -= 1;
                lowest = lowest.min(depth);
            }
            _ => {}
        }
    }
    let open = (1 - lowest).clamp(1, MAX_NESTING as i64);
    let close = (open + depth).clamp(0, MAX_NESTING as i64);
    Ok((open as usize, close as usize))
}

/// The page's `/MediaBox` (inherited from the page tree when the page has none), normalized to
/// `[x0, y0, width, height]` with sides clamped to 1..=[`MAX_SIDE_PT`].
fn media_box(doc: &Document, page: ObjectId) -> [f32; 4] {
    let mut node = doc.get_dictionary(page).ok();
    let mut found = None;
    // Page trees are shallow; a bound keeps a cyclic /Parent chain from looping.
    for _ in 0..32 {
        let Some(dict) = node else { break };
        if let Ok(obj) = dict.get(b"MediaBox") {
            found = doc.dereference(obj).ok().map(|(_, o)| o);
            break;
        }
        node = dict
            .get(b"Parent")
            .and_then(Object::as_reference)
            .and_then(|id| doc.get_dictionary(id))
            .ok();
    }
    let nums: Vec<f32> = match found {
        Some(Object::Array(items)) => items
            .iter()
            .filter_map(|o| doc.dereference(o).ok())
            .filter_map(|(_, o)| o.as_float().ok())
            .filter(|v| v.is_finite())
            .collect(),
        _ => Vec::new(),
    };
    let [x0, y0, x1, y1] = match nums.as_slice() {
        [a, b, c, d] => [*a, *b, *c, *d],
        _ => DEFAULT_BOX,
    };
    let (lx, hx) = (x0.min(x1), x0.max(x1));
    let (ly, hy) = (y0.min(y1), y0.max(y1));
    [
        lx,
        ly,
        (hx - lx).clamp(1.0, MAX_SIDE_PT),
        (hy - ly).clamp(1.0, MAX_SIDE_PT),
    ]
}

/// Names `id` as `name` in the page's `/Resources` `kind` dictionary (`/Font`, `/ExtGState`),
/// creating the dictionaries as needed and following references.
fn add_resource(
    doc: &mut Document,
    page: ObjectId,
    kind: &[u8],
    name: &str,
    id: ObjectId,
) -> lopdf::Result<()> {
    let sub_ref = {
        let resources = doc.get_or_create_resources(page)?.as_dict_mut()?;
        match resources.get(kind) {
            Ok(Object::Reference(r)) => Some(*r),
            Ok(Object::Dictionary(_)) => None,
            _ => {
                resources.set(kind.to_vec(), Dictionary::new());
                None
            }
        }
    };
    let sub = match sub_ref {
        Some(r) => doc.get_object_mut(r)?.as_dict_mut()?,
        None => doc
            .get_or_create_resources(page)?
            .as_dict_mut()?
            .get_mut(kind)?
            .as_dict_mut()?,
    };
    sub.set(name, Object::Reference(id));
    Ok(())
}

/// The watermark's content stream for pages of `media` (`[x0, y0, width, height]`), drawn
/// from the page's initial graphics state (see [`balance`]) in a state of its own.
fn content(text: &str, [x0, y0, w, h]: [f32; 4]) -> Vec<u8> {
    use std::fmt::Write as _;
    // Helvetica's average advance is about half the font size; a row repeats the text often
    // enough to cross the page's diagonal.
    let chars = text.len().max(1) as f32;
    let row_len = chars * ROW_SIZE * 0.5 + 48.0;
    let diagonal = (w * w + h * h).sqrt();
    let repeats = ((diagonal / row_len).ceil() as usize + 1).clamp(1, 400);
    let row: String = std::iter::repeat_n(text, repeats)
        .collect::<Vec<_>>()
        .join("        ");
    let (cos, sin) = (30f32.to_radians().cos(), 30f32.to_radians().sin());
    let mut s = String::with_capacity(256 + row.len() * 8);
    let _ = write!(
        s,
        "q\n/{GS_NAME} gs\n0.78 0.06 0.06 rg\nBT\n/{FONT_NAME} {ROW_SIZE} Tf\n"
    );
    // Rows at 30°, starting below the page's bottom left corner so that the rows' left ends
    // cover the lower left triangle too.
    let mut y = y0 - w * sin / cos;
    let mut i = 0usize;
    while y < y0 + h && i < 1_000 {
        let _ = writeln!(
            s,
            "{cos:.4} {sin:.4} {:.4} {cos:.4} {:.2} {:.2} Tm\n({row}) Tj",
            -sin, x0, y
        );
        y += ROW_STEP / cos;
        i += 1;
    }
    let _ = write!(
        s,
        "ET\nBT\n/{FONT_NAME} {TOP_SIZE} Tf\n1 0 0 1 {:.2} {:.2} Tm\n({text}) Tj\nET\nQ\n",
        x0 + 12.0,
        y0 + h - TOP_SIZE - 6.0
    );
    s.into_bytes()
}

/// `text` as the inside of a PDF literal string: printable ASCII kept, `(`, `)` and `\`
/// escaped, anything else (control characters, non-ASCII) as `?` — Helvetica in WinAnsi has
/// no glyph for most of it anyway, and the watermark's lines are ASCII by construction.
fn pdf_string(text: &str) -> String {
    let mut s = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '(' | ')' | '\\' => {
                s.push('\\');
                s.push(c);
            }
            ' '..='~' => s.push(c),
            _ => s.push('?'),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-page PDF whose content leaves a transformation and a clip behind (no `Q`).
    fn sample(resources_on_parent: bool) -> Vec<u8> {
        let mut doc = Document::with_version("1.5");
        let pages_id = doc.new_object_id();
        let font = doc.add_object(dictionary! {
            "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Courier",
        });
        let resources = doc.add_object(dictionary! {
            "Font" => dictionary! { "F1" => font },
        });
        let content = doc.add_object(Stream::new(
            Dictionary::new(),
            b"q 0.1 0 0 0.1 0 0 cm 0 0 10 10 re W n BT /F1 12 Tf 72 700 Td (Licence 1234) Tj ET"
                .to_vec(),
        ));
        let mut page = dictionary! {
            "Type" => "Page", "Parent" => pages_id, "Contents" => content,
        };
        let mut pages = dictionary! {
            "Type" => "Pages", "Kids" => vec![], "Count" => 1,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        };
        if resources_on_parent {
            pages.set("Resources", resources);
        } else {
            page.set("Resources", resources);
        }
        let page_id = doc.add_object(page);
        pages.set("Kids", vec![page_id.into()]);
        doc.objects.insert(pages_id, Object::Dictionary(pages));
        let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
        doc.trailer.set("Root", catalog);
        let mut out = Vec::new();
        doc.save_to(&mut out).unwrap();
        out
    }

    fn lines() -> Vec<String> {
        vec![
            "viewed by rev@example.com".into(),
            "2026-11-29 10:00 UTC".into(),
            "doc_1 (copy)".into(),
        ]
    }

    #[test]
    fn every_page_carries_the_mark_and_keeps_its_content() {
        for inherited in [false, true] {
            let marked = mark_pdf(&sample(inherited), &lines()).unwrap();
            let doc = Document::load_mem(&marked).unwrap();
            let pages = doc.get_pages();
            assert_eq!(pages.len(), 1);
            let page = pages[&1];
            let content = String::from_utf8_lossy(&doc.get_page_content(page)).into_owned();
            assert!(content.starts_with("q\n"), "{content}");
            assert!(
                content.contains("(Licence 1234) Tj"),
                "original kept: {content}"
            );
            let after = content.split("Licence 1234").nth(1).unwrap();
            // The unmatched `q` of the original is closed before the mark's own state.
            assert!(
                after.contains("Q\nQ\n\nq\n/DcMarkGS gs"),
                "state reset: {after}"
            );
            assert!(
                after.contains(
                    "viewed by rev@example.com  |  2026-11-29 10:00 UTC  |  doc_1 \\(copy\\)"
                ),
                "{after}"
            );
            // Rows across the page and the top line.
            assert!(after.matches(" Tm\n(").count() > 8, "{after}");
            let fonts = doc.get_page_fonts(page).unwrap();
            assert!(fonts.contains_key(b"F1".as_slice()), "inherited font kept");
            assert!(fonts.contains_key(FONT_NAME.as_bytes()));
        }
    }

    #[test]
    fn refuses_what_it_cannot_mark() {
        assert!(matches!(
            mark_pdf(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n", &lines()),
            Err(PdfMarkError::Pages(0)) | Err(PdfMarkError::Unreadable(_))
        ));
        assert!(matches!(
            mark_pdf(b"not a pdf at all", &lines()),
            Err(PdfMarkError::Unreadable(_))
        ));
        // Truncations of a real file: an error or a marked file, never a panic.
        let pdf = sample(false);
        for cut in (0..pdf.len()).step_by(7) {
            let _ = mark_pdf(&pdf[..cut], &lines());
        }
    }

    /// A document of `pages` pages; page `i` of `size(i)` points square with `content`.
    fn pages_doc(pages: usize, size: impl Fn(usize) -> i64, content: &[u8]) -> Vec<u8> {
        let mut doc = Document::with_version("1.5");
        let pages_id = doc.new_object_id();
        let stream = doc.add_object(Stream::new(Dictionary::new(), content.to_vec()));
        let kids: Vec<Object> = (0..pages)
            .map(|i| {
                let s = size(i);
                doc.add_object(dictionary! {
                    "Type" => "Page", "Parent" => pages_id, "Contents" => stream,
                    "MediaBox" => vec![0.into(), 0.into(), s.into(), s.into()],
                })
                .into()
            })
            .collect();
        doc.objects.insert(
            pages_id,
            Object::Dictionary(dictionary! {
                "Type" => "Pages", "Kids" => kids, "Count" => pages as i64,
            }),
        );
        let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
        doc.trailer.set("Root", catalog);
        let mut out = Vec::new();
        doc.save_to(&mut out).unwrap();
        out
    }

    #[test]
    fn extra_restores_find_a_saved_state_each() {
        // Two `Q` too many, then a clip: the mark must not be clipped.
        let pdf = pages_doc(1, |_| 600, b"Q Q 0 0 1 1 re W n");
        let marked = Document::load_mem(&mark_pdf(&pdf, &lines()).unwrap()).unwrap();
        let page = marked.get_pages()[&1];
        let content = String::from_utf8_lossy(&marked.get_page_content(page)).into_owned();
        assert!(
            content.starts_with("q\nq\nq\n\nQ Q 0 0 1 1 re W n"),
            "{content}"
        );
        assert!(content.contains("W n\nQ\n\nq\n/DcMarkGS gs"), "{content}");
    }

    #[test]
    fn many_huge_pages_share_one_mark_and_odd_sizes_hit_the_budget() {
        // 2,000 pages of the largest size: one shared watermark stream, a bounded file.
        let pdf = pages_doc(MAX_PAGES, |_| 14_400, b"");
        let marked = mark_pdf(&pdf, &lines()).unwrap();
        assert!(
            marked.len() < pdf.len() + 4 * 1024 * 1024,
            "{} bytes",
            marked.len()
        );
        // As many distinct huge sizes: refused before it grows past the budget.
        let pdf = pages_doc(MAX_PAGES, |i| 14_400 - i as i64, b"");
        assert!(matches!(
            mark_pdf(&pdf, &lines()),
            Err(PdfMarkError::TooLarge)
        ));
        // More pages than marked at all.
        let pdf = pages_doc(MAX_PAGES + 1, |_| 600, b"");
        assert!(matches!(
            mark_pdf(&pdf, &lines()),
            Err(PdfMarkError::Pages(n)) if n == MAX_PAGES + 1
        ));
    }

    #[test]
    fn strings_are_escaped() {
        assert_eq!(pdf_string("a(b)c\\d é\n"), "a\\(b\\)c\\\\d ??");
    }

    #[test]
    fn media_boxes_are_normalized_and_bounded() {
        let mut doc = Document::with_version("1.5");
        let p = doc.add_object(dictionary! {
            "Type" => "Page",
            "MediaBox" => vec![600.into(), 800.into(), 0.into(), (-1e9f32).into()],
        });
        assert_eq!(media_box(&doc, p), [0.0, -1e9, 600.0, MAX_SIDE_PT]);
        let q = doc.add_object(dictionary! { "Type" => "Page" });
        assert_eq!(media_box(&doc, q), [0.0, 0.0, 612.0, 792.0]);
    }
}
