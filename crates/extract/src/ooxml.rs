//! Office Open XML packages (DOCX, XLSX, PPTX) through `zip` + `quick-xml`.
//!
//! - DOCX: `word/document.xml`, then headers, footers, footnotes, endnotes
//!   and comments; `w:t` and `w:delText` (deleted tracked changes are still
//!   in the file) are text, `w:p` ends a line, `w:tab` in a run is a tab,
//!   `w:br`/`w:cr` break lines.
//! - PPTX: `ppt/slides/slideN.xml` in slide order, then speaker notes;
//!   `a:t` is text, `a:p` ends a line.
//! - XLSX: `xl/sharedStrings.xml` resolves shared strings; each
//!   `xl/worksheets/sheetN.xml` becomes rows of tab-separated cells, each
//!   sheet after a blank line. Numbers are written as stored (no number
//!   formats applied).
//!
//! Every part is read through the archive module's bounded reader, so a
//! package is subject to the same expansion and ratio limits as any zip.
//! Files embedded in a document (`*/embeddings/*`) are extracted as members.

use std::io::Cursor;

use quick_xml::Reader;
use quick_xml::events::{BytesRef, Event};
use zip::ZipArchive;

use crate::archive::{ReadStop, read_bounded};
use crate::limits::TextSink;
use crate::{Ctx, FileKind, Member, ProblemKind, join_path, process, sniff};

/// Shared strings kept for one workbook (beyond this, cells show nothing).
const MAX_SHARED_STRINGS: usize = 1_000_000;

/// Recognizes OOXML packages among zip files by their parts, falling back to
/// the file name when the directory cannot be read.
pub(crate) fn classify_zip(bytes: &[u8], filename: Option<&str>) -> FileKind {
    match ZipArchive::new(Cursor::new(bytes)) {
        Ok(a) => {
            let mut kind = FileKind::Zip;
            for name in a.file_names() {
                kind = match name {
                    Ok(n) if n == "word/document.xml" => FileKind::Docx,
                    Ok(n) if n == "xl/workbook.xml" => FileKind::Xlsx,
                    Ok(n) if n == "ppt/presentation.xml" => FileKind::Pptx,
                    _ => continue,
                };
                break;
            }
            kind
        }
        Err(_) => match filename.and_then(crate::sniff::extension).as_deref() {
            Some("docx" | "docm" | "dotx" | "dotm") => FileKind::Docx,
            Some("xlsx" | "xlsm" | "xltx" | "xltm") => FileKind::Xlsx,
            Some("pptx" | "pptm" | "potx" | "ppsx") => FileKind::Pptx,
            _ => FileKind::Zip,
        },
    }
}

/// Number in a part name like `ppt/slides/slide12.xml`, for ordering.
fn part_number(name: &str, prefix: &str) -> Option<u32> {
    let rest = name.strip_prefix(prefix)?.strip_suffix(".xml")?;
    rest.parse().ok()
}

fn numbered_parts(names: &[String], prefix: &str) -> Vec<String> {
    let mut v: Vec<(u32, String)> = names
        .iter()
        .filter_map(|n| part_number(n, prefix).map(|k| (k, n.clone())))
        .collect();
    v.sort();
    v.into_iter().map(|(_, n)| n).collect()
}

pub(crate) fn extract(ctx: &mut Ctx<'_>, bytes: &[u8], kind: FileKind, path: &str, depth: u32) {
    let mut archive = match ZipArchive::new(Cursor::new(bytes)) {
        Ok(a) => a,
        Err(e) => {
            ctx.problem(
                path,
                ProblemKind::Unscannable,
                format!(
                    "The {} document is corrupt ({e}) and could not be scanned.",
                    crate::kind_name(kind)
                ),
            );
            return;
        }
    };
    let names: Vec<String> = archive
        .file_names()
        .filter_map(Result::ok)
        .map(|n| n.into_owned())
        .collect();
    let mut sink = TextSink::new(ctx.text_room());
    match kind {
        FileKind::Docx => {
            let mut parts = vec!["word/document.xml".to_owned()];
            for prefix in [
                "word/header",
                "word/footer",
                "word/footnotes",
                "word/endnotes",
                "word/comments",
            ] {
                let mut more: Vec<String> = names
                    .iter()
                    .filter(|n| n.starts_with(prefix) && n.ends_with(".xml"))
                    .cloned()
                    .collect();
                more.sort();
                parts.extend(more);
            }
            for part in parts {
                if let Some(xml) = read_part(ctx, &mut archive, &part, path) {
                    sink.newline();
                    if let Err(e) = word_text(&xml, &mut sink) {
                        part_error(ctx, path, &part, &e);
                    }
                }
            }
        }
        FileKind::Pptx => {
            let mut parts = numbered_parts(&names, "ppt/slides/slide");
            parts.extend(numbered_parts(&names, "ppt/notesSlides/notesSlide"));
            for part in parts {
                if let Some(xml) = read_part(ctx, &mut archive, &part, path) {
                    sink.newline();
                    if let Err(e) = drawing_text(&xml, &mut sink) {
                        part_error(ctx, path, &part, &e);
                    }
                }
            }
        }
        FileKind::Xlsx => {
            let shared = match read_part(ctx, &mut archive, "xl/sharedStrings.xml", path) {
                Some(xml) => match shared_strings(&xml) {
                    Ok(s) => s,
                    Err((s, e)) => {
                        part_error(ctx, path, "xl/sharedStrings.xml", &e);
                        s
                    }
                },
                None => Vec::new(),
            };
            for part in numbered_parts(&names, "xl/worksheets/sheet") {
                if sink.full() {
                    break;
                }
                if let Some(xml) = read_part(ctx, &mut archive, &part, path) {
                    if !sink.text.is_empty() {
                        sink.newline();
                        sink.push('\n');
                    }
                    if let Err(e) = sheet_text(&xml, &shared, &mut sink) {
                        part_error(ctx, path, &part, &e);
                    }
                }
            }
        }
        _ => {}
    }
    let truncated = sink.truncated;
    let text = sink.text.trim_end().to_owned();
    ctx.emit(path, kind, text, truncated);
    embeddings(ctx, &mut archive, &names, path, depth);
}

fn part_error(ctx: &mut Ctx<'_>, path: &str, part: &str, e: &str) {
    ctx.problem(
        path,
        ProblemKind::Unscannable,
        format!("Part {part} is malformed ({e}); the text after the error was not scanned."),
    );
}

/// Reads one part as text, within the budget. `None` when absent or unreadable
/// (a problem is recorded for the latter).
fn read_part(
    ctx: &mut Ctx<'_>,
    archive: &mut ZipArchive<Cursor<&[u8]>>,
    part: &str,
    path: &str,
) -> Option<String> {
    let read = {
        let mut file = match archive.by_name(part) {
            Ok(f) => f,
            Err(zip::result::ZipError::FileNotFound) => return None,
            Err(e) => {
                ctx.problem(
                    path,
                    ProblemKind::Unscannable,
                    format!("Part {part} could not be read ({e})."),
                );
                return None;
            }
        };
        if file.encrypted() {
            ctx.problem(
                path,
                ProblemKind::Encrypted,
                format!("Part {part} is encrypted and could not be scanned."),
            );
            return None;
        }
        let compressed = file.compressed_size();
        read_bounded(ctx, &mut file, compressed)
    };
    let data = match read {
        Ok(d) => d,
        Err(ReadStop::Ratio) => {
            ctx.problem(
                path,
                ProblemKind::LimitExceeded,
                format!(
                    "Part {part} expands more than {} times its compressed size (a decompression bomb) and was not scanned.",
                    ctx.limits.max_ratio
                ),
            );
            return None;
        }
        Err(ReadStop::Budget(d)) => {
            ctx.problem(
                path,
                ProblemKind::LimitExceeded,
                format!(
                    "The document expands to more than {} bytes; part {part} was only partly scanned.",
                    ctx.limits.max_expanded_bytes
                ),
            );
            d
        }
        Err(ReadStop::Error(e)) => {
            ctx.problem(
                path,
                ProblemKind::Unscannable,
                format!("Part {part} is corrupt ({e}) and was not scanned."),
            );
            return None;
        }
    };
    Some(crate::text::decode_text(&data, usize::MAX).0)
}

/// Files embedded in the document (spreadsheets in a Word file...) are
/// listed as members and extracted like archive members.
fn embeddings(
    ctx: &mut Ctx<'_>,
    archive: &mut ZipArchive<Cursor<&[u8]>>,
    names: &[String],
    path: &str,
    depth: u32,
) {
    let embedded: Vec<&String> = names
        .iter()
        .filter(|n| n.contains("/embeddings/") && !n.ends_with('/'))
        .collect();
    if embedded.is_empty() {
        return;
    }
    if depth >= ctx.limits.max_depth {
        ctx.problem(
            path,
            ProblemKind::LimitExceeded,
            "Files embedded in a document nested too deep were not opened.",
        );
        return;
    }
    for name in embedded {
        if ctx.budget.members >= ctx.limits.max_members {
            ctx.problem(
                path,
                ProblemKind::LimitExceeded,
                "Too many embedded files; the rest were not scanned.",
            );
            return;
        }
        ctx.budget.members += 1;
        let mpath = join_path(path, name);
        let read = match archive.by_name(name) {
            Ok(mut f) if !f.encrypted() => {
                let c = f.compressed_size();
                read_bounded(ctx, &mut f, c)
            }
            Ok(_) => Err(ReadStop::Error("encrypted".to_owned())),
            Err(e) => Err(ReadStop::Error(e.to_string())),
        };
        match read {
            Ok(data) => {
                let kind = sniff(&data, Some(name), None);
                ctx.out.members.push(Member {
                    path: mpath.clone(),
                    kind,
                    size: data.len() as u64,
                    encrypted: false,
                });
                process(ctx, &data, kind, &mpath, depth + 1);
            }
            Err(_) => {
                ctx.problem(
                    &mpath,
                    ProblemKind::Unscannable,
                    "The embedded file could not be read within the limits and was not scanned.",
                );
            }
        }
    }
}

fn xml_reader(xml: &str) -> Reader<&[u8]> {
    let mut r = Reader::from_reader(xml.as_bytes());
    let cfg = r.config_mut();
    cfg.check_end_names = false;
    cfg.trim_text(false);
    r
}

/// Text of an entity reference event (`&amp;`, `&#233;`).
fn entity_text(e: &BytesRef<'_>) -> Option<char> {
    if let Ok(Some(c)) = e.resolve_char_ref() {
        return Some(c);
    }
    match e.as_ref() {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => None,
    }
}

/// WordprocessingML text.
fn word_text(xml: &str, sink: &mut TextSink) -> Result<(), String> {
    let mut r = xml_reader(xml);
    let mut in_text = false;
    let mut in_run = 0u32;
    loop {
        if sink.full() {
            return Ok(());
        }
        match r.read_event().map_err(|e| e.to_string())? {
            Event::Start(e) => match e.local_name().as_ref() {
                "t" | "delText" => in_text = true,
                "r" => in_run = in_run.saturating_add(1),
                _ => {}
            },
            Event::Empty(e) => match e.local_name().as_ref() {
                "tab" if in_run > 0 => sink.push('\t'),
                "br" | "cr" => sink.push('\n'),
                "p" => sink.push('\n'),
                _ => {}
            },
            Event::End(e) => match e.local_name().as_ref() {
                "t" | "delText" => in_text = false,
                "r" => in_run = in_run.saturating_sub(1),
                "p" => sink.push('\n'),
                "tc" => sink.push('\t'),
                _ => {}
            },
            Event::Text(t) if in_text => sink.push_str(&t.xml10_content()),
            Event::CData(t) if in_text => sink.push_str(&t.xml10_content()),
            Event::GeneralRef(e) if in_text => {
                if let Some(c) = entity_text(&e) {
                    sink.push(c);
                }
            }
            Event::Eof => return Ok(()),
            _ => {}
        }
    }
}

/// DrawingML text (slides and notes).
fn drawing_text(xml: &str, sink: &mut TextSink) -> Result<(), String> {
    let mut r = xml_reader(xml);
    let mut in_text = false;
    loop {
        if sink.full() {
            return Ok(());
        }
        match r.read_event().map_err(|e| e.to_string())? {
            Event::Start(e) if e.local_name().as_ref() == "t" => in_text = true,
            Event::End(e) => match e.local_name().as_ref() {
                "t" => in_text = false,
                "p" => sink.push('\n'),
                "tc" => sink.push('\t'),
                _ => {}
            },
            Event::Empty(e) if matches!(e.local_name().as_ref(), "br" | "p") => sink.push('\n'),
            Event::Text(t) if in_text => sink.push_str(&t.xml10_content()),
            Event::CData(t) if in_text => sink.push_str(&t.xml10_content()),
            Event::GeneralRef(e) if in_text => {
                if let Some(c) = entity_text(&e) {
                    sink.push(c);
                }
            }
            Event::Eof => return Ok(()),
            _ => {}
        }
    }
}

/// The shared-string table. On a parse error, the strings read so far are
/// returned with the error.
#[allow(clippy::type_complexity)]
fn shared_strings(xml: &str) -> Result<Vec<String>, (Vec<String>, String)> {
    let mut r = xml_reader(xml);
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_si = false;
    let mut in_t = false;
    let mut in_phonetic = false;
    loop {
        let ev = match r.read_event() {
            Ok(ev) => ev,
            Err(e) => return Err((out, e.to_string())),
        };
        match ev {
            Event::Start(e) => match e.local_name().as_ref() {
                "si" => {
                    in_si = true;
                    cur.clear();
                }
                "t" => in_t = true,
                "rPh" => in_phonetic = true,
                _ => {}
            },
            Event::Empty(e)
                if e.local_name().as_ref() == "si" && out.len() < MAX_SHARED_STRINGS =>
            {
                out.push(String::new());
            }
            Event::End(e) => match e.local_name().as_ref() {
                "si" => {
                    in_si = false;
                    if out.len() < MAX_SHARED_STRINGS {
                        out.push(std::mem::take(&mut cur));
                    }
                }
                "t" => in_t = false,
                "rPh" => in_phonetic = false,
                _ => {}
            },
            Event::Text(t) if in_si && in_t && !in_phonetic => cur.push_str(&t.xml10_content()),
            Event::CData(t) if in_si && in_t && !in_phonetic => cur.push_str(&t.xml10_content()),
            Event::GeneralRef(e) if in_si && in_t && !in_phonetic => {
                if let Some(c) = entity_text(&e) {
                    cur.push(c);
                }
            }
            Event::Eof => return Ok(out),
            _ => {}
        }
    }
}

/// One worksheet: rows of tab-separated cells.
fn sheet_text(xml: &str, shared: &[String], sink: &mut TextSink) -> Result<(), String> {
    let mut r = xml_reader(xml);
    let mut cell_type: Option<String> = None;
    let mut in_value = false;
    let mut in_inline_t = false;
    let mut value = String::new();
    let mut cells_in_row = 0usize;
    let mut in_cell = false;
    loop {
        if sink.full() {
            return Ok(());
        }
        match r.read_event().map_err(|e| e.to_string())? {
            Event::Start(e) => match e.local_name().as_ref() {
                "row" => cells_in_row = 0,
                "c" => {
                    in_cell = true;
                    value.clear();
                    cell_type = e
                        .try_get_attribute("t")
                        .ok()
                        .flatten()
                        .map(|a| a.value.into_owned());
                }
                "v" if in_cell => in_value = true,
                "t" if in_cell => in_inline_t = true,
                _ => {}
            },
            Event::End(e) => match e.local_name().as_ref() {
                "row" if cells_in_row > 0 => sink.push('\n'),
                "c" => {
                    in_cell = false;
                    let text = match cell_type.as_deref() {
                        Some("s") => value
                            .trim()
                            .parse::<usize>()
                            .ok()
                            .and_then(|i| shared.get(i))
                            .map(String::as_str)
                            .unwrap_or(""),
                        Some("b") => match value.trim() {
                            "1" => "TRUE",
                            "0" => "FALSE",
                            v => v,
                        },
                        _ => value.as_str(),
                    };
                    if !text.is_empty() {
                        if cells_in_row > 0 {
                            sink.push('\t');
                        }
                        sink.push_str(text);
                        cells_in_row += 1;
                    }
                }
                "v" => in_value = false,
                "t" => in_inline_t = false,
                _ => {}
            },
            Event::Text(t) if (in_value || in_inline_t) && value.len() < 64 * 1024 => {
                value.push_str(&t.xml10_content());
            }
            Event::GeneralRef(e) if in_value || in_inline_t => {
                if let Some(c) = entity_text(&e) {
                    value.push(c);
                }
            }
            Event::Eof => return Ok(()),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_paragraphs_runs_tabs() {
        let xml = r#"<?xml version="1.0"?><w:document xmlns:w="x"><w:body>
            <w:p><w:pPr><w:tabs><w:tab w:val="left" w:pos="720"/></w:tabs></w:pPr>
            <w:r><w:t>dri</w:t></w:r><w:r><w:t>ver&apos;s</w:t></w:r><w:r><w:tab/><w:t xml:space="preserve"> lic&#233;nse</w:t></w:r></w:p>
            <w:p><w:r><w:delText>SSN 123-45-6789</w:delText></w:r></w:p></w:body></w:document>"#;
        let mut sink = TextSink::new(1000);
        word_text(xml, &mut sink).unwrap();
        assert_eq!(sink.text.trim(), "driver's\t licénse\nSSN 123-45-6789");
    }

    #[test]
    fn drawing_paragraphs() {
        let xml = r#"<p:sld xmlns:a="a" xmlns:p="p"><a:p><a:r><a:t>Hello</a:t></a:r><a:br/><a:r><a:t>World &amp; co</a:t></a:r></a:p><a:p><a:r><a:t>x</a:t></a:r></a:p></p:sld>"#;
        let mut sink = TextSink::new(1000);
        drawing_text(xml, &mut sink).unwrap();
        assert_eq!(sink.text, "Hello\nWorld & co\nx\n");
    }

    #[test]
    fn sheet_cells() {
        let shared = shared_strings(
            r#"<sst><si><t>Name</t></si><si><r><t>S</t></r><r><t>SN</t></r><rPh><t>ignored</t></rPh></si><si/><si><t>Ann</t></si></sst>"#,
        )
        .unwrap();
        assert_eq!(shared, vec!["Name", "SSN", "", "Ann"]);
        let xml = r#"<worksheet><sheetData>
            <row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row>
            <row r="2"><c r="A2" t="s"><v>3</v></c><c r="B2" t="inlineStr"><is><t>123-45-6789</t></is></c><c r="C2"><v>42.5</v></c><c t="b"><v>1</v></c><c t="s"><v>999</v></c></row>
            </sheetData></worksheet>"#;
        let mut sink = TextSink::new(1000);
        sheet_text(xml, &shared, &mut sink).unwrap();
        assert_eq!(sink.text, "Name\tSSN\nAnn\t123-45-6789\t42.5\tTRUE\n");
    }

    #[test]
    fn malformed_xml_is_an_error_not_a_panic() {
        let mut sink = TextSink::new(1000);
        let _ = word_text("<w:t>abc<</w:t><<>>&&&", &mut sink);
        let _ = drawing_text("<a:t>\u{0}</a:p>", &mut sink);
        let _ = sheet_text("<c t='s'><v>1", &[], &mut sink);
        let _ = shared_strings("<si><t>x");
    }

    #[test]
    fn part_numbers() {
        let names: Vec<String> = [
            "ppt/slides/slide10.xml",
            "ppt/slides/slide2.xml",
            "ppt/slides/_rels/slide2.xml.rels",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            numbered_parts(&names, "ppt/slides/slide"),
            vec!["ppt/slides/slide2.xml", "ppt/slides/slide10.xml"]
        );
    }
}
