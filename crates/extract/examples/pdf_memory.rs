//! Peak memory and time of extracting a text-heavy PDF (a long statement: one
//! page whose content stream is ~2.5 MB of `Tj`/`T*` lines).
//! Run with `cargo run --release -p doublecheck-extract --example pdf_memory`
//! (add `-- flate` to compress the content stream).
//! Peak memory is the process's VmHWM from `/proc/self/status` (Linux).

use std::time::Instant;

use doublecheck_extract::{Limits, extract};

/// A field of `/proc/self/status`, in kB.
fn status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// Resets VmHWM to the current resident size (Linux 4.0+), so that the peak
/// reached while building the input does not hide the extraction's.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// A one-page PDF showing `lines` statement lines, one `Tj T*` each, its
/// content stream Flate-compressed or not.
fn statement_pdf(lines: usize, flate: bool) -> Vec<u8> {
    let mut content = String::from("BT /F1 9 Tf 11 TL 36 806 Td\n");
    for i in 0..lines {
        content.push_str(&format!(
            "(2024-03-{:02} CARD ref {i:06} -{}.{:02}) Tj T*\n",
            i % 28 + 1,
            i % 997,
            i % 100
        ));
    }
    content.push_str("ET\n");
    let stream = if flate {
        use std::io::Write;
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(content.as_bytes()).expect("in memory");
        let z = e.finish().expect("in memory");
        let mut s =
            format!("<< /Length {} /Filter /FlateDecode >>\nstream\n", z.len()).into_bytes();
        s.extend_from_slice(&z);
        s.extend_from_slice(b"endstream");
        s
    } else {
        format!(
            "<< /Length {} >>\nstream\n{}endstream",
            content.len(),
            content
        )
        .into_bytes()
    };
    drop(content);
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_owned(),
        String::from("STREAM"),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_owned(),
    ];
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        if o == "STREAM" {
            out.extend_from_slice(&stream);
        } else {
            out.extend_from_slice(o.as_bytes());
        }
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for off in offsets {
        out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

fn main() {
    let lines = 60_000;
    let flate = std::env::args().any(|a| a == "flate");
    let pdf = statement_pdf(lines, flate);
    let peak_of_build = status_kb("VmHWM:").unwrap_or(0);
    let reset = reset_peak();
    let before = status_kb("VmHWM:").unwrap_or(0);
    let t = Instant::now();
    let x = extract(&pdf, Some("statement.pdf"), None, &Limits::default());
    let elapsed = t.elapsed();
    let after = status_kb("VmHWM:").unwrap_or(0);
    let text = x.texts.first().map_or("", |t| t.text.as_str());
    let complete = text.contains("ref 000000") && text.contains(&format!("ref {:06}", lines - 1));
    println!(
        "PDF {:.2} MB{}, {lines} lines -> {} bytes of text (complete: {complete}, problems: {})",
        pdf.len() as f64 / 1e6,
        if flate { " (Flate)" } else { "" },
        text.len(),
        x.problems.len()
    );
    println!(
        "peak while building the PDF: {:.1} MB; peak reset before extraction: {reset}",
        peak_of_build as f64 / 1024.0
    );
    println!(
        "peak memory (VmHWM): before {:.1} MB, after {:.1} MB, extraction +{:.1} MB",
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        after.saturating_sub(before) as f64 / 1024.0
    );
    println!("extraction time: {:.3} s", elapsed.as_secs_f64());
}
