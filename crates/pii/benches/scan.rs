//! Scanner throughput over real messages and synthetic mail, with baselines
//! (memchr scan of the same bytes, naive regex for one SSN pattern).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use doublecheck_pii::{ScanOptions, Scanner};
use std::hint::black_box;

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
finance. Order 48213 shipped on 2024-03-12 at 10:30, tracking 1Z999AA10123456784.\n\
The budget is $12,500 for 3 months; ticket #4471 has the details and v2.3.1 notes.\n\
Thanks,\nAlex\n\n";
    let mut s = String::new();
    let mut i = 0u64;
    while s.len() < 4 << 20 {
        s.push_str(para);
        if i.is_multiple_of(50) {
            s.push_str(
                "Reach me at jane.doe@example.com or (415) 555-0132. Card 4111 1111 1111 1111.\n",
            );
        }
        i += 1;
    }
    s
}

fn bench(c: &mut Criterion) {
    let scanner = Scanner::new(ScanOptions::default());
    let re = regex::Regex::new(r"\d{3}-\d{2}-\d{4}").expect("regex");
    let mut sets = vec![("synthetic", synthetic())];
    match corpus() {
        Some(t) => sets.insert(0, ("corpus", t)),
        None => eprintln!("corpus not found under shared/corpus; benchmarking synthetic text only"),
    }
    for (name, text) in &sets {
        let mut g = c.benchmark_group(*name);
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.sample_size(20);
        let mut out = Vec::new();
        g.bench_function("scanner", |b| {
            b.iter(|| {
                out.clear();
                scanner.scan_into(black_box(text), &mut out);
                out.len()
            })
        });
        g.bench_function("baseline_memchr0", |b| {
            b.iter(|| memchr::memchr(0, black_box(text.as_bytes())))
        });
        g.bench_function("baseline_regex_ssn", |b| {
            b.iter(|| re.find_iter(black_box(text)).count())
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
