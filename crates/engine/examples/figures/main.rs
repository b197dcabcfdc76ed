//! Prints the engine's performance figures (run through `scripts/bench`):
//!
//! - `figures pipeline`: messages/s of the whole pipeline (parse + all detectors + policy) over
//!   the real-world corpus on one core, next to mail-parser's parse alone on the same messages
//!   in the same run (the baseline), and the ratio.
//! - `figures big [MB]`: time and peak memory (VmHWM) to check one large message with
//!   attachments (default 25 MB), built in memory. Run it in its own process so the peak is its own.

use doublecheck_engine::{Engine, Envelope, Policy};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("pipeline") => pipeline(args.get(1).map(PathBuf::from)),
        Some("profile") => {
            // The engine alone for a few seconds, for a profiler.
            let msgs = corpus(None);
            let engine = Engine::new(Policy::builtin());
            let r = rate(&msgs, Duration::from_secs(5), |m| engine.check(m, &Envelope::default()).findings.len());
            println!("{r:.0} msg/s");
        }
        Some("big") => big(args.get(1).and_then(|s| s.parse().ok()).unwrap_or(25)),
        _ => {
            eprintln!("usage: figures pipeline [CORPUS_DIR] | figures big [MB]");
            std::process::exit(64);
        }
    }
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    let mut v: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    v.sort();
    for p in v {
        if p.is_dir() {
            files(&p, out);
        } else if p.is_file() {
            out.push(p);
        }
    }
}

fn corpus(dir: Option<PathBuf>) -> Vec<Vec<u8>> {
    let dir = dir.unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"));
    let mut paths = Vec::new();
    files(&dir, &mut paths);
    // The header-parser vectors are header fragments, not messages.
    paths.retain(|p| !p.to_string_lossy().contains("header-vectors"));
    paths.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

/// Run `f` over all messages repeatedly for at least `min`, return messages per second.
fn rate(msgs: &[Vec<u8>], min: Duration, mut f: impl FnMut(&[u8]) -> usize) -> f64 {
    let mut n = 0usize;
    let mut sink = 0usize;
    let start = Instant::now();
    while start.elapsed() < min {
        for m in msgs {
            sink = sink.wrapping_add(f(m));
            n += 1;
        }
    }
    std::hint::black_box(sink);
    n as f64 / start.elapsed().as_secs_f64()
}

fn pipeline(dir: Option<PathBuf>) {
    let msgs = corpus(dir);
    if msgs.is_empty() {
        eprintln!("skipped: no corpus found (../shared/corpus)");
        return;
    }
    let bytes: usize = msgs.iter().map(Vec::len).sum();
    let engine = Engine::new(Policy::builtin());
    let env = Envelope::default();
    let parser = mail_parser::MessageParser::default();
    // Warm up, then alternate baseline and engine rounds so both see the same machine load.
    rate(&msgs, Duration::from_millis(300), |m| engine.check(m, &env).findings.len());
    let (mut base, mut full) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        base.push(rate(&msgs, Duration::from_secs(1), |m| parser.parse(m).map_or(0, |p| p.parts.len())));
        full.push(rate(&msgs, Duration::from_secs(1), |m| engine.check(m, &env).findings.len()));
    }
    let best = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    let (b, e) = (best(&base), best(&full));
    println!("pipeline: {} messages, {:.1} KB average", msgs.len(), bytes as f64 / msgs.len() as f64 / 1e3);
    println!("  mail-parser parse only (baseline): {b:>10.0} msg/s");
    println!("  doublecheck check (parse + detectors + policy): {e:>10.0} msg/s  ({:.1} MB/s)", e * bytes as f64 / msgs.len() as f64 / 1e6);
    println!("  ratio check / parse: {:.2}", e / b);
}

/// A realistic large message: text and HTML bodies, a CSV customer export, a DOCX-like text
/// document, a PDF with a text layer and photos (binary), base64-encoded as a mail client would.
pub fn big_message(target_mb: usize) -> Vec<u8> {
    let target = target_mb * 1_000_000;
    let mut out = String::with_capacity(target + 1_000_000);
    out.push_str("From: Billing <billing@phoneco.example>\r\nTo: partner@billing-partner.example\r\nSubject: Monthly export\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"BIG\"\r\n\r\n");
    out.push_str("--BIG\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n");
    for i in 0..2000 {
        out.push_str(&format!("Line {i}: the monthly export is attached; call 415-555-0132 with questions.\r\n"));
    }
    // CSV export, ~1/4 of the size.
    let mut csv = String::from("id,name,email,card,amount\n");
    let mut i = 0u64;
    while csv.len() < target / 4 * 3 / 4 {
        csv.push_str(&format!("{i},Customer {i},customer{i}@example.org,4111 1111 1111 1111,{}.{:02}\n", i % 997, i % 100));
        i += 1;
    }
    push_b64(&mut out, "text/csv", "export.csv", csv.as_bytes());
    // PDF with a text layer, ~1/8.
    let pdf = pdf_with_text(target / 8 * 3 / 4);
    push_b64(&mut out, "application/pdf", "statement.pdf", &pdf);
    // Photos: pseudo-random binary with a JPEG header, the rest of the size.
    let mut k = 0u32;
    while out.len() < target {
        let mut jpg = vec![0xFF, 0xD8, 0xFF, 0xE0];
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ k as u64;
        while jpg.len() < 2_000_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            jpg.extend_from_slice(&x.to_le_bytes());
        }
        push_b64(&mut out, "image/jpeg", &format!("photo{k}.jpg"), &jpg);
        k += 1;
    }
    out.push_str("--BIG--\r\n");
    out.into_bytes()
}

fn push_b64(out: &mut String, ctype: &str, name: &str, data: &[u8]) {
    out.push_str(&format!(
        "--BIG\r\nContent-Type: {ctype}; name=\"{name}\"\r\nContent-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    ));
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut line = 0;
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = [T[(n >> 18) as usize & 63], T[(n >> 12) as usize & 63], T[(n >> 6) as usize & 63], T[n as usize & 63]];
        let keep = chunk.len() + 1;
        for (j, c) in chars.iter().enumerate() {
            out.push(if j < keep { *c as char } else { '=' });
        }
        line += 4;
        if line >= 76 {
            out.push_str("\r\n");
            line = 0;
        }
    }
    out.push_str("\r\n");
}

fn pdf_with_text(size: usize) -> Vec<u8> {
    let mut content = String::from("BT /F1 10 Tf 50 750 Td 12 TL\n");
    let mut i = 0;
    while content.len() < size {
        content.push_str(&format!("(Account {i} holder statement line, balance {}.00) Tj T*\n", i % 5000));
        i += 1;
    }
    content.push_str("ET\n");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_string(),
        format!("<< /Length {} >>\nstream\n{content}endstream", content.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_string(),
    ];
    let mut pdf = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (n, o) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", n + 1).as_bytes());
    }
    let xref = pdf.len();
    pdf.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for o in offsets {
        pdf.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    pdf.extend_from_slice(format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1).as_bytes());
    pdf
}

fn vm_hwm_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn big(mb: usize) {
    let engine = Engine::new(Policy::builtin());
    let raw = big_message(mb);
    let before = vm_hwm_kb().unwrap_or(0);
    let start = Instant::now();
    let v = engine.check(&raw, &Envelope::default());
    let elapsed = start.elapsed();
    let after = vm_hwm_kb().unwrap_or(0);
    println!("big message: {:.1} MB raw, {} findings, action {}", raw.len() as f64 / 1e6, v.findings.len(), v.would);
    for f in &v.findings {
        println!("  {} ({}) count {}", f.id, f.kind.as_deref().unwrap_or("-"), f.count);
    }
    println!("  check time: {:.3} s", elapsed.as_secs_f64());
    println!(
        "  peak memory (VmHWM) of this process: {:.1} MB, of which the message itself {:.1} MB; added by the check: {:.1} MB",
        after as f64 / 1024.0,
        raw.len() as f64 / 1e6,
        after.saturating_sub(before) as f64 / 1024.0
    );
}
