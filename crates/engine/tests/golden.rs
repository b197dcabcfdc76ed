//! Golden corpus: every `tests/golden/*.eml` is checked with `tests/golden/policy.toml` and
//! compared with the expected verdict in the `.json` beside it:
//!
//! ```json
//! { "action": "reject", "findings": ["content.solicits_sensitive:drivers_license", "recipients.exposed"] }
//! ```
//!
//! `findings` is the sorted set of `id` or `id:kind` of every finding. All mismatches are
//! reported at once, each with the verdict that was produced.

use doublecheck_engine::{Engine, Envelope, Policy, Verdict};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/golden")
}

fn summarize(v: &Verdict) -> (String, BTreeSet<String>) {
    let findings = v
        .findings
        .iter()
        .map(|f| match &f.kind {
            Some(k) => format!("{}:{k}", f.id),
            None => f.id.to_string(),
        })
        .collect();
    (v.would.as_str().to_string(), findings)
}

#[test]
fn golden_corpus() {
    let dir = golden_dir();
    let policy_text =
        std::fs::read_to_string(dir.join("policy.toml")).expect("tests/golden/policy.toml");
    let policy =
        Policy::from_toml(&policy_text, "tests/golden/policy.toml").expect("valid golden policy");
    let engine = Engine::new(policy);
    let mut emls: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/golden")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    emls.sort();
    assert!(
        emls.len() >= 25,
        "golden corpus has only {} messages",
        emls.len()
    );
    let mut failures = Vec::new();
    for eml in &emls {
        let raw = std::fs::read(eml).expect("read .eml");
        let verdict = engine.check(&raw, &Envelope::default());
        let (action, findings) = summarize(&verdict);
        let json_path = eml.with_extension("json");
        let name = eml
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let actual = serde_json::json!({ "action": action, "findings": findings });
        let Ok(expected_text) = std::fs::read_to_string(&json_path) else {
            failures.push(format!(
                "{name}: no expected verdict; produced:\n{actual:#}"
            ));
            continue;
        };
        let expected: serde_json::Value = match serde_json::from_str(&expected_text) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!("{name}: expected .json is not valid JSON: {e}"));
                continue;
            }
        };
        let exp_action = expected["action"].as_str().unwrap_or("");
        let exp_findings: BTreeSet<String> = expected["findings"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if exp_action != action || exp_findings != findings {
            failures.push(format!(
                "{name}: expected {exp_action} {exp_findings:?}\n    produced {action} {findings:?}\n    {}",
                verdict
                    .findings
                    .iter()
                    .map(|f| format!("{} [{}] {} — {}", f.id, f.severity, f.location, f.evidence))
                    .collect::<Vec<_>>()
                    .join("\n    ")
            ));
        }
        // Evidence never carries a full sensitive value: no run of 9+ digits survives masking.
        for f in &verdict.findings {
            let digits = f
                .evidence
                .split(|c: char| !c.is_ascii_digit())
                .map(str::len)
                .max()
                .unwrap_or(0);
            assert!(digits < 9, "{name}: evidence not masked: {}", f.evidence);
        }
    }
    println!(
        "golden corpus: {} messages, {} mismatches",
        emls.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} golden mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
