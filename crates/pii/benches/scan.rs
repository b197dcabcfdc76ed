//! Scanner throughput over real messages and synthetic mail, with baselines
//! (memchr scan of the same bytes, naive regex for one SSN pattern).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use doublecheck_pii::{ScanOptions, Scanner};
use std::hint::black_box;

#[path = "support/text.rs"]
mod text;
use text::{corpus, synthetic};

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
