//! End-to-end tests of `extract` on fixtures built in memory.

mod common;

use std::io::{Cursor, Write};
use std::time::{Duration, Instant};

use common::*;
use doublecheck_extract::{FileKind, ImageKind, Limits, ProblemKind, extract, sniff};

fn has_problem(x: &doublecheck_extract::Extraction, path: &str, kind: ProblemKind) -> bool {
    x.problems.iter().any(|p| p.path == path && p.kind == kind)
}

fn text_of<'a>(x: &'a doublecheck_extract::Extraction, path: &str) -> &'a str {
    x.texts
        .iter()
        .find(|t| t.path == path)
        .map(|t| t.text.as_str())
        .unwrap_or_else(|| panic!("no text for {path:?} in {x:#?}"))
}

#[test]
fn csv_and_text() {
    let x = extract(
        b"name,ssn\nAnn,123-45-6789\n",
        Some("a.csv"),
        None,
        &Limits::default(),
    );
    assert_eq!(x.kind, FileKind::Csv);
    assert_eq!(text_of(&x, ""), "name,ssn\nAnn,123-45-6789\n");
    assert!(x.problems.is_empty());

    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend(
        "Número,pasaporte"
            .encode_utf16()
            .flat_map(|u| u.to_le_bytes()),
    );
    let x = extract(&utf16, Some("b.csv"), None, &Limits::default());
    assert_eq!(text_of(&x, ""), "Número,pasaporte");

    let x = extract(
        b"Jos\xe9 Pe\xf1a",
        None,
        Some("text/plain"),
        &Limits::default(),
    );
    assert_eq!(x.kind, FileKind::Text);
    assert_eq!(text_of(&x, ""), "José Peña");
}

#[test]
fn text_is_truncated_at_the_limit() {
    let limits = Limits {
        max_text_bytes: 1000,
        ..Limits::default()
    };
    let big = "0123456789\n".repeat(1000);
    let x = extract(big.as_bytes(), Some("big.txt"), None, &limits);
    assert_eq!(x.texts.len(), 1);
    assert!(x.texts[0].truncated);
    assert_eq!(x.texts[0].text.len(), 1000);
    assert!(has_problem(&x, "", ProblemKind::LimitExceeded));
}

#[test]
fn html_part() {
    let x = extract(
        b"<html><body><p>Env&iacute;e su <b>licen</b>cia</p></body></html>",
        None,
        Some("text/html"),
        &Limits::default(),
    );
    assert_eq!(x.kind, FileKind::Html);
    assert_eq!(text_of(&x, ""), "Envíe su licencia");
}

#[test]
fn docx_text() {
    let d = docx(
        &[
            "Please send your driver's license",
            "SSN: 123-45-6789 & more",
        ],
        "Confidential header",
    );
    assert_eq!(sniff(&d, None, None), FileKind::Docx);
    let x = extract(&d, Some("letter.docx"), None, &Limits::default());
    assert_eq!(x.kind, FileKind::Docx);
    let t = text_of(&x, "");
    assert!(
        t.contains("Please send your driver's license\nSSN: 123-45-6789 & more"),
        "{t}"
    );
    assert!(t.contains("Confidential header"), "{t}");
    assert!(x.problems.is_empty(), "{:?}", x.problems);
}

#[test]
fn xlsx_text() {
    let d = xlsx(&[
        &["Name", "SSN", "Amount"],
        &["Ann Lee", "123-45-6789", "12.5"],
    ]);
    assert_eq!(sniff(&d, None, None), FileKind::Xlsx);
    let x = extract(&d, None, None, &Limits::default());
    assert_eq!(
        text_of(&x, ""),
        "Name\tSSN\tAmount\nAnn Lee\t123-45-6789\t12.5"
    );
}

#[test]
fn pptx_text() {
    let d = pptx(&["First slide", "Second: passport 123456789"]);
    let x = extract(&d, None, None, &Limits::default());
    assert_eq!(x.kind, FileKind::Pptx);
    assert_eq!(text_of(&x, ""), "First slide\nSecond: passport 123456789");
}

#[test]
fn pdf_text() {
    let p = pdf(&["Hello world", "SSN 123-45-6789"]);
    let x = extract(&p, Some("scan.pdf"), None, &Limits::default());
    assert_eq!(x.kind, FileKind::Pdf);
    assert!(x.problems.is_empty(), "{:?}", x.problems);
    let t = text_of(&x, "");
    assert!(t.contains("Hello world"), "{t}");
    assert!(t.contains("SSN 123-45-6789"), "{t}");
}

#[test]
fn pdf_corrupt_encrypted_and_too_big() {
    let x = extract(
        b"%PDF-1.4\nthis is not a pdf at all",
        None,
        None,
        &Limits::default(),
    );
    assert_eq!(x.kind, FileKind::Pdf);
    assert!(
        has_problem(&x, "", ProblemKind::Unscannable),
        "{:?}",
        x.problems
    );

    let mut cut = pdf(&["Hello"]);
    cut.truncate(cut.len() / 2);
    let x = extract(&cut, None, None, &Limits::default());
    assert!(!x.problems.is_empty() || !x.texts.is_empty());

    let x = extract(&encrypted_pdf(), None, None, &Limits::default());
    assert!(
        has_problem(&x, "", ProblemKind::Encrypted),
        "{:?}",
        x.problems
    );
    assert!(x.texts.is_empty());

    let limits = Limits {
        max_pdf_bytes: 100,
        ..Limits::default()
    };
    let x = extract(&pdf(&["Hello"]), None, None, &limits);
    assert!(has_problem(&x, "", ProblemKind::LimitExceeded));
}

#[test]
fn pdf_flate_bomb_is_refused() {
    use std::io::Write;
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    let zeros = vec![b' '; 1 << 20];
    for _ in 0..80 {
        e.write_all(&zeros).unwrap();
    }
    let z = e.finish().unwrap();
    let mut stream =
        format!("<< /Length {} /Filter /FlateDecode >>\nstream\n", z.len()).into_bytes();
    stream.extend_from_slice(&z);
    stream.extend_from_slice(b"\nendstream");
    let objects = vec![
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>".to_owned(),
        String::from("PLACEHOLDER"),
    ];
    let mut p = assemble_pdf(&objects, "");
    // Splice the binary stream in place of the placeholder (offsets are not
    // exact any more; lopdf repairs the table, and the pre-scan ignores it).
    let at = p.windows(11).position(|w| w == b"PLACEHOLDER").unwrap();
    p.splice(at..at + 11, stream);
    let t = Instant::now();
    let x = extract(&p, None, None, &Limits::default());
    assert!(t.elapsed() < Duration::from_secs(20));
    assert!(
        has_problem(&x, "", ProblemKind::LimitExceeded),
        "{:?}",
        x.problems
    );
}

#[test]
fn zip_members_recursion_and_images() {
    let inner = zip(&[("deep/ids.csv", b"ssn\n123-45-6789\n")]);
    let d = docx(&["Account 12345678"], "");
    let z = zip(&[
        ("list.csv", b"a,b\n1,2\n"),
        ("docs/", b""),
        ("docs/letter.docx", &d),
        ("inner.zip", &inner),
        ("passport.jpg", b"\xFF\xD8\xFF\xE0\0\x10JFIF\0"),
        ("notes.rar", b"Rar!\x1a\x07\x00rest"),
    ]);
    let x = extract(&z, Some("bundle.zip"), None, &Limits::default());
    assert_eq!(x.kind, FileKind::Zip);
    let paths: Vec<(&str, FileKind)> = x
        .members
        .iter()
        .map(|m| (m.path.as_str(), m.kind))
        .collect();
    assert!(paths.contains(&("list.csv", FileKind::Csv)), "{paths:?}");
    assert!(paths.contains(&("docs/letter.docx", FileKind::Docx)));
    assert!(paths.contains(&("inner.zip", FileKind::Zip)));
    assert!(paths.contains(&("inner.zip/deep/ids.csv", FileKind::Csv)));
    assert!(paths.contains(&("passport.jpg", FileKind::Image(ImageKind::Jpeg))));
    assert!(paths.contains(&("notes.rar", FileKind::OtherArchive)));
    assert!(!paths.iter().any(|(p, _)| *p == "docs/"));
    assert_eq!(text_of(&x, "list.csv"), "a,b\n1,2\n");
    assert_eq!(text_of(&x, "docs/letter.docx"), "Account 12345678");
    assert_eq!(text_of(&x, "inner.zip/deep/ids.csv"), "ssn\n123-45-6789\n");
    assert!(has_problem(&x, "notes.rar", ProblemKind::Unsupported));
    assert!(!x.members.iter().any(|m| m.encrypted));
}

#[test]
fn encrypted_members() {
    let z = mark_encrypted(zip(&[("secret.xlsx", b"xxxx"), ("b.txt", b"hello")]));
    let x = extract(&z, None, None, &Limits::default());
    assert_eq!(x.kind, FileKind::Zip);
    assert_eq!(x.members.len(), 2);
    assert!(x.members.iter().all(|m| m.encrypted));
    assert_eq!(x.members[0].kind, FileKind::Xlsx);
    assert!(has_problem(&x, "secret.xlsx", ProblemKind::Encrypted));
    assert!(has_problem(&x, "b.txt", ProblemKind::Encrypted));
    assert!(x.texts.is_empty());
}

#[test]
fn depth_limit() {
    let mut z = zip(&[("leaf.txt", b"bottom text")]);
    for i in 0..4 {
        z = zip(&[(&format!("level{i}.zip"), &z)]);
    }
    let x = extract(&z, None, None, &Limits::default());
    assert!(
        x.problems
            .iter()
            .any(|p| p.kind == ProblemKind::LimitExceeded
                && p.path == "level3.zip/level2.zip/level1.zip"),
        "{:?}",
        x.problems
    );
    assert!(x.texts.is_empty());
    // One level less is fully read.
    let limits = Limits {
        max_depth: 5,
        ..Limits::default()
    };
    let x = extract(&z, None, None, &limits);
    assert_eq!(
        text_of(&x, "level3.zip/level2.zip/level1.zip/level0.zip/leaf.txt"),
        "bottom text"
    );
}

#[test]
fn member_count_limit() {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for i in 0..1100 {
        w.start_file(format!("f{i}.txt"), deflated()).unwrap();
        w.write_all(b"x").unwrap();
    }
    let z = w.finish().unwrap().into_inner();
    let x = extract(&z, None, None, &Limits::default());
    assert_eq!(x.members.len(), 1000);
    assert!(has_problem(&x, "", ProblemKind::LimitExceeded));
}

#[test]
fn zip_bomb_stops_quickly() {
    // 200 MB of zeros, streamed through the writer.
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    w.start_file(
        "zeros.csv",
        zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .compression_level(Some(6)),
    )
    .unwrap();
    let chunk = vec![0u8; 1 << 20];
    for _ in 0..200 {
        w.write_all(&chunk).unwrap();
    }
    let z = w.finish().unwrap().into_inner();
    assert!(z.len() < 5_000_000, "{}", z.len());
    let t = Instant::now();
    let x = extract(&z, Some("bomb.zip"), None, &Limits::default());
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    assert!(
        has_problem(&x, "zeros.csv", ProblemKind::LimitExceeded),
        "{:?}",
        x.problems
    );
    assert!(x.texts.is_empty());

    // With the ratio test disabled, the expansion budget stops it.
    let limits = Limits {
        max_ratio: u64::MAX,
        max_expanded_bytes: 8 << 20,
        ..Limits::default()
    };
    let x = extract(&z, Some("bomb.zip"), None, &limits);
    assert!(
        has_problem(&x, "zeros.csv", ProblemKind::LimitExceeded),
        "{:?}",
        x.problems
    );
    let total: usize = x.texts.iter().map(|t| t.text.len()).sum();
    assert!(total <= 8 << 20);
}

#[test]
fn overlapping_members_share_one_budget() {
    // Many directory entries pointing at the same compressed data.
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    w.start_file("a.txt", deflated()).unwrap();
    w.write_all(&vec![b'a'; 900_000]).unwrap();
    for i in 0..200 {
        w.shallow_copy_file("a.txt", &format!("copy{i}.txt"))
            .unwrap();
    }
    let z = w.finish().unwrap().into_inner();
    let limits = Limits {
        max_expanded_bytes: 10 << 20,
        ..Limits::default()
    };
    let x = extract(&z, None, None, &limits);
    let total: usize = x.texts.iter().map(|t| t.text.len()).sum();
    assert!(total <= 10 << 20);
    assert!(
        x.problems
            .iter()
            .any(|p| p.kind == ProblemKind::LimitExceeded)
    );
}

#[test]
fn truncated_zip_is_salvaged() {
    let z = zip(&[
        ("first.txt", b"first member text"),
        ("second.txt", &vec![b'z'; 50_000]),
    ]);
    let cut = &z[..z.len() - 200];
    let x = extract(cut, Some("cut.zip"), None, &Limits::default());
    assert_eq!(x.kind, FileKind::Zip);
    assert!(
        has_problem(&x, "", ProblemKind::Unscannable),
        "{:?}",
        x.problems
    );
    assert_eq!(text_of(&x, "first.txt"), "first member text");
}

#[test]
fn ole_files() {
    let x = extract(
        &ole("EncryptedPackage"),
        Some("locked.docx"),
        None,
        &Limits::default(),
    );
    assert_eq!(x.kind, FileKind::EncryptedOffice);
    assert!(has_problem(&x, "", ProblemKind::Encrypted));

    let mut doc = ole("WordDocument");
    doc.extend_from_slice(b"\0\0Customer SSN 123-45-6789\0\0");
    let x = extract(&doc, Some("old.doc"), None, &Limits::default());
    assert_eq!(x.kind, FileKind::OtherOffice);
    assert!(has_problem(&x, "", ProblemKind::Unsupported));
    assert!(text_of(&x, "").contains("Customer SSN 123-45-6789"));
}

#[test]
fn other_archives_are_unsupported() {
    for (bytes, name) in [
        (&b"7z\xBC\xAF\x27\x1C\0\x04"[..], "a.7z"),
        (&b"Rar!\x1a\x07\x01\0"[..], "a.rar"),
        (&b"\x1F\x8B\x08\0\0\0"[..], "a.gz"),
    ] {
        let x = extract(bytes, Some(name), None, &Limits::default());
        assert_eq!(x.kind, FileKind::OtherArchive, "{name}");
        assert!(has_problem(&x, "", ProblemKind::Unsupported), "{name}");
    }
}

#[test]
fn images_email_binary_have_no_text() {
    let x = extract(
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR",
        Some("id.png"),
        None,
        &Limits::default(),
    );
    assert_eq!(x.kind, FileKind::Image(ImageKind::Png));
    assert!(x.texts.is_empty() && x.problems.is_empty());
    let x = extract(
        b"From: a@b.c\r\n\r\nhi",
        None,
        Some("message/rfc822"),
        &Limits::default(),
    );
    assert_eq!(x.kind, FileKind::Email);
    assert!(x.texts.is_empty());
    let x = extract(&[0u8, 1, 2, 3, 255, 0], None, None, &Limits::default());
    assert_eq!(x.kind, FileKind::Binary);
}

#[test]
fn serializes_to_json() {
    let x = extract(b"a,b", Some("a.csv"), None, &Limits::default());
    let j = serde_json::to_string(&x).unwrap();
    assert!(j.contains("\"kind\":\"Csv\""), "{j}");
}
