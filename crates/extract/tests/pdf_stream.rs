//! PDF text extraction of pages with very long content streams.

mod common;

use std::io::Write;

use common::*;
use doublecheck_extract::{FileKind, Limits, extract};

fn page_pdf(contents: &str, streams: Vec<String>) -> Vec<u8> {
    let mut objects = vec![
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {contents} /Resources << /Font << /F1 4 0 R >> >> >>"
        ),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
            .to_owned(),
    ];
    objects.extend(streams);
    assemble_pdf(&objects, "")
}

fn statement(lines: usize) -> String {
    let mut content = String::from("BT /F1 9 Tf 11 TL 36 806 Td\n");
    for i in 0..lines {
        content.push_str(&format!("(line {i}) Tj T*\n"));
    }
    content.push_str("ET\n");
    content
}

fn text(pdf: &[u8]) -> String {
    let x = extract(pdf, Some("statement.pdf"), None, &Limits::default());
    assert_eq!(x.kind, FileKind::Pdf);
    assert!(x.problems.is_empty(), "{:?}", x.problems);
    x.texts[0].text.clone()
}

#[test]
fn long_text_page_is_complete() {
    let content = statement(60_000);
    let pdf = page_pdf(
        "5 0 R",
        vec![format!(
            "<< /Length {} >>\nstream\n{content}endstream",
            content.len()
        )],
    );
    assert!(pdf.len() > 900_000);
    let t = text(&pdf);
    let lines: Vec<&str> = t.lines().collect();
    assert_eq!(lines.len(), 60_000);
    assert_eq!(lines[0], "line 0");
    assert_eq!(lines[30_000], "line 30000");
    assert_eq!(lines[59_999], "line 59999");
}

#[test]
fn compressed_streams_split_between_operands_and_operator() {
    let content = statement(20_000);
    // The first stream ends in the middle of an operation: its operands are
    // in one stream, its operator in the next.
    let split = content.find("(line 10000) Tj").unwrap() + "(line 10000)".len();
    let mut placeholders = Vec::new();
    let mut blobs = Vec::new();
    for (n, part) in [&content[..split], &content[split..]]
        .into_iter()
        .enumerate()
    {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(part.as_bytes()).unwrap();
        let z = e.finish().unwrap();
        let mut stream =
            format!("<< /Length {} /Filter /FlateDecode >>\nstream\n", z.len()).into_bytes();
        stream.extend_from_slice(&z);
        stream.extend_from_slice(b"\nendstream");
        placeholders.push(format!("STREAM{n}"));
        blobs.push(stream);
    }
    let mut pdf = page_pdf("[5 0 R 6 0 R]", placeholders.clone());
    for (p, blob) in placeholders.iter().zip(blobs) {
        let at = pdf
            .windows(p.len())
            .position(|w| w == p.as_bytes())
            .unwrap();
        pdf.splice(at..at + p.len(), blob);
    }
    let t = text(&pdf);
    let lines: Vec<&str> = t.lines().collect();
    assert_eq!(lines.len(), 20_000);
    assert_eq!(lines[10_000], "line 10000");
    assert_eq!(lines[19_999], "line 19999");
}

#[test]
fn normal_pdf_text_is_unchanged() {
    let p = pdf(&["Hello world", "SSN 123-45-6789", "a (nested) \\ string"]);
    assert_eq!(
        text(&p),
        "Hello world\nSSN 123-45-6789\na (nested) \\ string"
    );
}

#[test]
fn text_limit_applies() {
    let content = statement(60_000);
    let pdf = page_pdf(
        "5 0 R",
        vec![format!(
            "<< /Length {} >>\nstream\n{content}endstream",
            content.len()
        )],
    );
    let limits = Limits {
        max_text_bytes: 1000,
        ..Limits::default()
    };
    let x = extract(&pdf, None, None, &limits);
    assert!(x.texts[0].truncated);
    assert!(x.texts[0].text.len() <= 1000);
    assert!(x.texts[0].text.starts_with("line 0\nline 1\n"));
}
