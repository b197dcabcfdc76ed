//! Throughput of `Detector::find` over the text of the mail corpus, next to a baseline measured
//! in the same run over the same text: one `str::to_lowercase` pass (a simple, allocation-light
//! linear pass over every character). The ratio is less sensitive to a shared machine's load
//! than the MB/s figures.
//!
//! `cargo run --release -p doublecheck-intent --example intent_throughput [DIR]`
//! (DIR defaults to `../shared/corpus` next to the checkout, or `DOUBLECHECK_CORPUS`).

use std::path::{Path, PathBuf};
use std::time::Instant;

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for p in entries.flatten().map(|e| e.path()) {
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn main() {
    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("DOUBLECHECK_CORPUS").map(PathBuf::from))
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"));
    let mut paths = Vec::new();
    files(&dir, &mut paths);
    let texts: Vec<String> = paths
        .iter()
        .filter_map(|p| std::fs::read(p).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .collect();
    let bytes: usize = texts.iter().map(String::len).sum();
    if bytes == 0 {
        println!("no corpus text under {}", dir.display());
        return;
    }
    let detector = doublecheck_intent::Detector::new();
    // Repeat until at least ~200 MB have been scanned. The machine may be shared: report the
    // median and the best round as well as the overall figure.
    let rounds = (200 * 1024 * 1024 / bytes).max(5);
    let mb = bytes as f64 / (1024.0 * 1024.0);
    let mut hits = 0usize;
    let find = measure(rounds, || {
        for text in &texts {
            hits += detector.find(text).len();
        }
    });
    let mut lowered = 0usize;
    let base = measure(rounds, || {
        for text in &texts {
            lowered += text.to_lowercase().len();
        }
    });
    println!(
        "{} files, {mb:.1} MB of text, {rounds} rounds ({} hits per round)",
        texts.len(),
        hits / rounds
    );
    for (name, r) in [("Detector::find", &find), ("to_lowercase baseline", &base)] {
        println!(
            "{name:>22}: {:7.1} MB/s overall, {:7.1} MB/s median round, {:7.1} MB/s best round",
            mb / r.overall,
            mb / r.median,
            mb / r.best
        );
    }
    println!(
        "find / baseline: {:.2} (median rounds), {:.2} (best rounds)",
        base.median / find.median,
        base.best / find.best
    );
    std::hint::black_box(lowered);
}

/// Seconds per round: overall mean, median, best.
struct Rounds {
    overall: f64,
    median: f64,
    best: f64,
}

fn measure(rounds: usize, mut round: impl FnMut()) -> Rounds {
    let mut per_round = Vec::with_capacity(rounds);
    let started = Instant::now();
    for _ in 0..rounds {
        let t = Instant::now();
        round();
        per_round.push(t.elapsed().as_secs_f64());
    }
    let overall = started.elapsed().as_secs_f64() / rounds as f64;
    per_round.sort_by(f64::total_cmp);
    Rounds {
        overall,
        median: per_round[per_round.len() / 2],
        best: per_round[0],
    }
}
