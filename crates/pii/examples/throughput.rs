//! Prints scanner throughput next to baselines over the same bytes.
//! Run: `cargo run --release -p doublecheck-pii --example throughput`

use std::time::Instant;

use doublecheck_pii::{ScanOptions, Scanner};

fn corpus() -> Option<String> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/corpus");
    let mut files = Vec::new();
    let mut stack = vec![std::path::PathBuf::from(root)];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    files.sort();
    let mut text = String::new();
    for f in files {
        if let Ok(b) = std::fs::read(&f) {
            text.push_str(&String::from_utf8_lossy(&b));
            text.push('\n');
        }
    }
    (!text.is_empty()).then_some(text)
}

fn synthetic() -> String {
    let para = "Hi team,\n\nFollowing up on yesterday's call about the Q3 roadmap. We agreed to \
ship the onboarding changes before the 15th and revisit pricing after the review with \
finance. Order 48213 shipped on 2024-03-12 at 10:30, tracking 1Z999AA10123456784. \
\n\
The budget is $12,500 for 3 months; ticket #4471 has the details and v2.3.1 notes.\n\
Thanks,\nAlex\n\n";
    let mut s = String::new();
    let mut i = 0u64;
    while s.len() < 8 << 20 {
        s.push_str(para);
        if i.is_multiple_of(50) {
            s.push_str("Reach me at jane.doe@example.com or (415) 555-0132. Card 4111 1111 1111 1111, SSN 078-05-1121.\n");
        }
        i += 1;
    }
    s
}

fn time<F: FnMut() -> usize>(bytes: usize, mut f: F) -> f64 {
    let mut best = f64::MAX;
    let mut sink = 0;
    for _ in 0..7 {
        let t = Instant::now();
        sink += f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    std::hint::black_box(sink);
    bytes as f64 / best / 1e6
}

fn main() {
    let scanner = Scanner::new(ScanOptions::default());
    let re = regex::Regex::new(r"\d{3}-\d{2}-\d{4}").expect("regex");
    let mut sets = vec![("synthetic mail", synthetic())];
    match corpus() {
        Some(c) => sets.insert(0, ("corpus (raw messages)", c)),
        None => eprintln!("corpus not found; synthetic text only"),
    }
    for (name, text) in &sets {
        let n = text.len();
        let mut out = Vec::new();
        let scan = time(n, || {
            out.clear();
            scanner.scan_into(text, &mut out);
            out.len()
        });
        let mem = time(n, || memchr::memchr(0, text.as_bytes()).unwrap_or(0));
        let rx = time(n, || re.find_iter(text).count());
        println!("{name}: {:.1} MB, {} matches", n as f64 / 1e6, out.len());
        println!("  scanner            {scan:>9.0} MB/s");
        println!(
            "  memchr(0) baseline {mem:>9.0} MB/s   (scanner = {:.4}x of baseline)",
            scan / mem
        );
        println!(
            "  regex \\d{{3}}-\\d{{2}}-\\d{{4}} {rx:>6.0} MB/s   (scanner = {:.2}x)",
            scan / rx
        );
    }
}
