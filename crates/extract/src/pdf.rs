//! PDF text through `lopdf`.
//!
//! Before the document is parsed, a pre-scan inflates every Flate stream that
//! is not an image, counting the bytes it produces against the attachment's
//! expansion budget (images and embedded files are never decompressed for
//! text, so they do not count). A PDF that would expand past the budget is
//! reported as [`ProblemKind::LimitExceeded`] without being parsed. `lopdf`
//! itself also bounds each stream it decompresses.
//!
//! Text is read from each page's content stream: `Tj`, `TJ`, `'` and `"`
//! show text, decoded through the font's encoding (`ToUnicode` maps
//! included); text moves (`Td`, `TD`, `T*`, `Tm`) and text-object ends become
//! line breaks, wide `TJ` gaps become spaces. Form XObjects are not followed.
//!
//! A document whose `/Encrypt` cannot be opened with the empty password is
//! reported as [`ProblemKind::Encrypted`]; one that opens (owner-password only)
//! is read normally. A PDF without any text (a scan) is reported as
//! [`ProblemKind::Unscannable`], since its content was not seen.

use std::collections::BTreeMap;

use lopdf::content::Content;
use lopdf::{Document, Encoding, LoadOptions, Object};

use crate::limits::{MAX_PDF_PAGES, TextSink};
use crate::text::windows_1252;
use crate::{Ctx, FileKind, ProblemKind};

pub(crate) fn extract(ctx: &mut Ctx<'_>, bytes: &[u8], path: &str) {
    if bytes.len() > ctx.limits.max_pdf_bytes {
        ctx.problem(
            path,
            ProblemKind::LimitExceeded,
            format!(
                "The PDF is larger than {} bytes and was not scanned.",
                ctx.limits.max_pdf_bytes
            ),
        );
        return;
    }
    let raw_encrypt = memchr::memmem::find(bytes, b"/Encrypt").is_some();
    let budget = ctx.budget.expand_left(ctx.limits);
    let expanded = match prescan(bytes, budget) {
        Some(n) => n,
        None => {
            ctx.budget.expanded = ctx.limits.max_expanded_bytes;
            ctx.problem(
                path,
                ProblemKind::LimitExceeded,
                format!(
                    "The PDF's streams expand to more than {} bytes (a decompression bomb?); it was not scanned.",
                    ctx.limits.max_expanded_bytes
                ),
            );
            return;
        }
    };
    ctx.budget.expanded = ctx.budget.expanded.saturating_add(expanded);
    let per_stream = usize::try_from(budget.max(1)).unwrap_or(usize::MAX);
    let options = LoadOptions {
        max_decompressed_size: Some(per_stream),
        ..LoadOptions::default()
    };
    let doc = match Document::load_mem_with_options(bytes, options) {
        Ok(d) => d,
        Err(e) => {
            if raw_encrypt {
                encrypted(ctx, path);
            } else {
                ctx.problem(
                    path,
                    ProblemKind::Unscannable,
                    format!("The PDF is corrupt ({e}) and could not be scanned."),
                );
            }
            return;
        }
    };
    if doc.is_encrypted() && !doc.was_encrypted() {
        encrypted(ctx, path);
        return;
    }
    let pages = doc.get_pages();
    if pages.len() > MAX_PDF_PAGES {
        ctx.problem(
            path,
            ProblemKind::LimitExceeded,
            format!("Only the first {MAX_PDF_PAGES} pages of the PDF were scanned."),
        );
    }
    let mut sink = TextSink::new(ctx.text_room());
    let mut failed_pages = 0usize;
    let mut first_error = String::new();
    let mut content_left = budget;
    for (_, page_id) in pages.iter().take(MAX_PDF_PAGES) {
        if sink.full() {
            break;
        }
        let limit = usize::try_from(content_left.max(1)).unwrap_or(usize::MAX);
        match page_text(&doc, *page_id, limit, &mut sink) {
            Ok(used) => content_left = content_left.saturating_sub(used as u64),
            Err(e) => {
                failed_pages += 1;
                if first_error.is_empty() {
                    first_error = e;
                }
            }
        }
        sink.newline();
    }
    if failed_pages > 0 {
        ctx.problem(
            path,
            ProblemKind::Unscannable,
            format!(
                "{failed_pages} of {} PDF pages could not be read ({first_error}).",
                pages.len().min(MAX_PDF_PAGES)
            ),
        );
    }
    let truncated = sink.truncated;
    let text = sink.text.trim_end().to_owned();
    if text.trim().is_empty() && failed_pages == 0 && !pages.is_empty() {
        ctx.problem(
            path,
            ProblemKind::Unscannable,
            "The PDF has no text layer (a scan or images only); its content was not scanned.",
        );
    }
    ctx.emit(path, FileKind::Pdf, text, truncated);
}

fn encrypted(ctx: &mut Ctx<'_>, path: &str) {
    ctx.problem(
        path,
        ProblemKind::Encrypted,
        "The PDF is password-protected and could not be scanned.",
    );
}

/// Text of one page. Returns the decompressed content size used.
fn page_text(
    doc: &Document,
    page_id: lopdf::ObjectId,
    limit: usize,
    sink: &mut TextSink,
) -> Result<usize, String> {
    let fonts = doc.get_page_fonts(page_id).unwrap_or_default();
    let encodings: BTreeMap<Vec<u8>, Encoding<'_>> = fonts
        .into_iter()
        .filter_map(|(name, font)| {
            font.get_font_encoding_with_limit(doc, limit)
                .ok()
                .map(|e| (name, e))
        })
        .collect();
    let data = doc
        .get_page_content_with_limit(page_id, limit)
        .map_err(|e| e.to_string())?;
    let content = Content::decode(&data).map_err(|e| e.to_string())?;
    let mut font: Option<&Encoding<'_>> = None;
    for op in &content.operations {
        if sink.full() {
            break;
        }
        match op.operator.as_str() {
            "Tf" => {
                font = op
                    .operands
                    .first()
                    .and_then(|o| o.as_name().ok())
                    .and_then(|n| encodings.get(n));
            }
            "Tj" => show(&op.operands, font, sink),
            "'" => {
                sink.newline();
                show(&op.operands, font, sink);
            }
            "\"" => {
                sink.newline();
                show(op.operands.get(2..).unwrap_or(&[]), font, sink);
            }
            "TJ" => {
                for o in &op.operands {
                    if let Object::Array(items) = o {
                        for item in items {
                            match item {
                                Object::String(..) => show(std::slice::from_ref(item), font, sink),
                                Object::Integer(i) if *i < -200 => space(sink),
                                Object::Real(r) if *r < -200.0 => space(sink),
                                _ => {}
                            }
                        }
                    }
                }
            }
            "Td" | "TD" => {
                let dy = op.operands.get(1).and_then(number).unwrap_or(0.0);
                if dy.abs() > 0.01 {
                    sink.newline();
                } else {
                    space(sink);
                }
            }
            "T*" | "Tm" | "ET" => sink.newline(),
            _ => {}
        }
    }
    Ok(data.len())
}

fn number(o: &Object) -> Option<f64> {
    match o {
        Object::Integer(i) => Some(*i as f64),
        Object::Real(r) => Some(f64::from(*r)),
        _ => None,
    }
}

fn space(sink: &mut TextSink) {
    if !matches!(sink.last_char(), None | Some(' ' | '\n')) {
        sink.push(' ');
    }
}

fn show(operands: &[Object], font: Option<&Encoding<'_>>, sink: &mut TextSink) {
    for o in operands {
        if let Object::String(bytes, _) = o {
            let decoded = font.and_then(|enc| Document::decode_text(enc, bytes).ok());
            match decoded {
                Some(s) => {
                    for c in s.chars() {
                        if !c.is_control() || c == '\t' {
                            sink.push(c);
                        }
                    }
                }
                None => {
                    for &b in bytes {
                        let c = windows_1252(b);
                        if !c.is_control() {
                            sink.push(c);
                        }
                    }
                }
            }
        }
    }
}

/// Inflates every non-image stream, counting output bytes. Returns the total,
/// or `None` once it passes `budget`.
fn prescan(bytes: &[u8], budget: u64) -> Option<u64> {
    let mut total: u64 = 0;
    let mut pos = 0;
    let finder = memchr::memmem::Finder::new(b"stream");
    let end_finder = memchr::memmem::Finder::new(b"endstream");
    while let Some(off) = finder.find(&bytes[pos..]) {
        let kw = pos + off;
        pos = kw + 6;
        // "endstream" also contains "stream".
        if kw >= 3 && &bytes[kw - 3..kw] == b"end" {
            continue;
        }
        let mut start = pos;
        if bytes.get(start) == Some(&b'\r') {
            start += 1;
        }
        if bytes.get(start) != Some(&b'\n') {
            continue;
        }
        start += 1;
        let dict_from = kw.saturating_sub(2048);
        let dict = &bytes[dict_from..kw];
        let dict = match memchr::memmem::rfind(dict, b"obj") {
            Some(i) => &dict[i..],
            None => dict,
        };
        let end = end_finder
            .find(&bytes[start..])
            .map_or(bytes.len(), |i| start + i);
        pos = end.max(start);
        if memchr::memmem::find(dict, b"/Image").is_some()
            || memchr::memmem::find(dict, b"/EmbeddedFile").is_some()
            || memchr::memmem::find(dict, b"/FlateDecode").is_none()
        {
            continue;
        }
        total = total.saturating_add(inflate_count(&bytes[start..end], budget - total + 1));
        if total > budget {
            return None;
        }
    }
    Some(total)
}

/// Bytes a zlib (or raw deflate) stream inflates to, stopping past `cap`.
fn inflate_count(data: &[u8], cap: u64) -> u64 {
    let zlib = data.first().is_some_and(|b| b & 0x0F == 8);
    let mut d = flate2::Decompress::new(zlib);
    let mut out = vec![0u8; 64 * 1024];
    let mut input = data;
    loop {
        let before_in = d.total_in();
        let before_out = d.total_out();
        let status = d.decompress(input, &mut out, flate2::FlushDecompress::None);
        let used = (d.total_in() - before_in) as usize;
        let produced = d.total_out() - before_out;
        input = &input[used.min(input.len())..];
        match status {
            Ok(flate2::Status::StreamEnd) | Err(_) => break,
            Ok(_) => {}
        }
        if d.total_out() > cap || (used == 0 && produced == 0) {
            break;
        }
    }
    d.total_out()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inflate_counts_and_stops() {
        use std::io::Write;
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(&vec![0u8; 1_000_000]).unwrap();
        let z = e.finish().unwrap();
        assert_eq!(inflate_count(&z, u64::MAX), 1_000_000);
        let n = inflate_count(&z, 1000);
        assert!(n > 1000 && n < 200_000, "{n}");
        assert_eq!(inflate_count(b"not deflate", 100), 0);
    }
}
