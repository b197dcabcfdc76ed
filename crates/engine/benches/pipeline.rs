//! Criterion benchmarks of the whole pipeline.
//!
//! - `corpus/*`: every message of the real-world corpus (`../shared/corpus`, or the golden
//!   corpus where it is absent) per iteration: `mail-parser` parse alone (the baseline) and
//!   `Engine::check` (parse + detectors + policy). Throughput in messages.
//! - `big/check_25mb`: one 25 MB message with attachments.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use doublecheck_engine::{Engine, Envelope, Policy};
use std::path::Path;
use std::time::Duration;

#[path = "../examples/figures/big_message.rs"]
mod big_message;

#[path = "../tests/support/corpus.rs"]
mod corpus_files;

fn messages() -> Vec<Vec<u8>> {
    if let Some(dir) = corpus_files::corpus_dir() {
        return corpus_files::messages(&dir)
            .into_iter()
            .map(|(_, m)| m)
            .collect();
    }
    eprintln!("../shared/corpus not found: benchmarking the golden corpus instead");
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/golden");
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(golden) {
        for e in rd.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "eml")
                && let Ok(b) = std::fs::read(&p)
            {
                out.push(b);
            }
        }
    }
    out
}

fn corpus(c: &mut Criterion) {
    let msgs = messages();
    let engine = Engine::new(Policy::builtin());
    let env = Envelope::default();
    let parser = mail_parser::MessageParser::default();
    let mut g = c.benchmark_group("corpus");
    g.throughput(Throughput::Elements(msgs.len() as u64));
    g.measurement_time(Duration::from_secs(5));
    g.bench_function("mail_parser_parse_only", |b| {
        b.iter(|| {
            msgs.iter()
                .map(|m| parser.parse(m).map_or(0, |p| p.parts.len()))
                .sum::<usize>()
        })
    });
    g.bench_function("engine_check", |b| {
        b.iter(|| {
            msgs.iter()
                .map(|m| engine.check(m, &env).findings.len())
                .sum::<usize>()
        })
    });
    g.finish();
}

fn big(c: &mut Criterion) {
    let engine = Engine::new(Policy::builtin());
    let raw = big_message::build(25);
    let mut g = c.benchmark_group("big");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(raw.len() as u64));
    g.bench_function("check_25mb", |b| {
        b.iter(|| engine.check(&raw, &Envelope::default()).findings.len())
    });
    g.finish();
}

criterion_group!(benches, corpus, big);
criterion_main!(benches);
