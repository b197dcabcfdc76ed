//! The `doublecheck` binary as a user runs it: real files, stdin, exit codes, output formats.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_doublecheck"));
    c.env_remove("CLICOLOR_FORCE").env("NO_COLOR", "1");
    c
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run(args: &[&str]) -> Output {
    bin()
        .args(args)
        .current_dir(root())
        .output()
        .expect("run doublecheck")
}

fn run_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = bin()
        .args(args)
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn doublecheck");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("doublecheck-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

#[test]
fn the_incident_is_rejected_with_a_clear_explanation() {
    let o = run(&["check", "examples/incident.eml"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("examples/incident.eml: REJECT"), "{out}");
    assert!(out.contains("content.solicits_sensitive"), "{out}");
    assert!(out.contains("recipients.exposed"), "{out}");
    assert!(out.contains("fix:"), "{out}");
    // The fix points to the safe way: a verification link per customer.
    assert!(out.contains("doublecheck verify send"), "{out}");
    // Recipient addresses are masked in evidence.
    assert!(!out.contains("maria.garcia@gmail.com"), "{out}");
    assert!(out.contains("1 message checked"), "{out}");
    assert!(!out.contains("\x1b["), "no colors when not a terminal");
}

#[test]
fn exit_codes_follow_the_worst_action() {
    assert_eq!(
        run(&["check", "examples/verification-link-ok.eml"])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        run(&["check", "examples/typo-domain.eml"]).status.code(),
        Some(1)
    );
    assert_eq!(
        run(&["check", "examples/license-photo-attached.eml"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        run(&["check", "examples/store-closure-exposed.eml"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        run(&[
            "check",
            "examples/verification-link-ok.eml",
            "examples/typo-domain.eml"
        ])
        .status
        .code(),
        Some(1)
    );
}

#[test]
fn json_output_is_one_object_per_message_with_stable_fields() {
    let o = run(&["check", "--format", "json", "examples/"]);
    assert_eq!(o.status.code(), Some(2));
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), 11, "one object per example message");
    let incident = lines
        .iter()
        .find(|v| v["source"] == "examples/incident.eml")
        .expect("incident in output");
    assert_eq!(incident["action"], "reject");
    assert_eq!(incident["would"], "reject");
    assert_eq!(incident["audit"], false);
    assert_eq!(incident["plan"]["type"], "reject");
    assert_eq!(incident["plan"]["code"], 550);
    assert_eq!(incident["plan"]["enhanced"], "5.7.1");
    assert_eq!(incident["recipients"], 6);
    let f = &incident["findings"][0];
    for key in [
        "id", "severity", "location", "evidence", "reason", "fix", "count",
    ] {
        assert!(!f[key].is_null(), "finding field {key} missing: {f}");
    }
    assert!(incident["elapsed_us"].is_u64());
    assert!(
        stderr(&o).contains("11 messages checked"),
        "summary on stderr: {}",
        stderr(&o)
    );
    let card = lines
        .iter()
        .find(|v| v["source"] == "examples/card-number-in-body.eml")
        .expect("card example");
    let evidence = card["findings"][0]["evidence"].as_str().unwrap_or("");
    assert_eq!(evidence, "4556 **** **** 9855");
}

#[test]
fn envelope_flags_and_org_domain_change_the_verdict() {
    // Internal recipients only: nothing is exposed.
    let raw = b"From: a@phoneco.example\r\nTo: b@phoneco.example, c@phoneco.example, d@gmail.com\r\nSubject: x\r\n\r\nHello team.\r\n";
    let o = run_stdin(&["check", "--format", "json", "-"], raw);
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).expect("json");
    assert_eq!(v["source"], "<stdin>");
    assert!(
        v["findings"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x["id"] == "recipients.exposed"))
    );
    let o = run_stdin(
        &[
            "check",
            "--format",
            "json",
            "--org-domain",
            "phoneco.example",
            "-",
        ],
        raw,
    );
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).expect("json");
    assert_eq!(v["action"], "allow", "{v}");
    // --rcpt sets the envelope: a Bcc-style mailing to 30 customers is a large (hidden) audience.
    let mut args = vec!["check", "--format", "json", "--verbose"];
    let rcpts: Vec<String> = (0..30).map(|i| format!("c{i}@gmail.com")).collect();
    for r in &rcpts {
        args.push("--rcpt");
        args.push(r);
    }
    args.push("-");
    let o = run_stdin(&args, b"From: news@phoneco.example\r\nTo: undisclosed-recipients:;\r\nSubject: news\r\n\r\nOpen late.\r\n");
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).expect("json");
    assert_eq!(v["recipients"], 30);
    assert_eq!(v["findings"][0]["id"], "recipients.large_audience");
    assert_eq!(v["action"], "allow");
}

#[test]
fn mbox_and_directories() {
    let d = tmp("mbox");
    let mbox = d.join("sent.mbox");
    let incident = std::fs::read(root().join("examples/incident.eml")).expect("example");
    let ok = std::fs::read(root().join("examples/verification-link-ok.eml")).expect("example");
    let mut data = Vec::new();
    for m in [&incident, &ok] {
        data.extend_from_slice(b"From care@phoneco.example Tue Mar  3 10:00:00 2026\n");
        data.extend_from_slice(m);
        data.extend_from_slice(b"\n");
    }
    std::fs::write(&mbox, &data).expect("write mbox");
    std::fs::write(d.join("notes.md"), "not mail").expect("write md");
    let o = run(&["check", "--format", "json", d.to_str().expect("utf-8 path")]);
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(
        lines.len(),
        2,
        "two messages from the mbox, the .md skipped: {}",
        stdout(&o)
    );
    assert!(
        lines[0]["source"]
            .as_str()
            .is_some_and(|s| s.ends_with("sent.mbox#1"))
    );
    assert_eq!(lines[0]["action"], "reject");
    assert_eq!(lines[1]["action"], "allow");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn missing_input_and_usage_errors() {
    let o = run(&["check", "no/such/file.eml"]);
    assert_eq!(o.status.code(), Some(66));
    assert!(
        stderr(&o).contains("no/such/file.eml: no such file or directory"),
        "{}",
        stderr(&o)
    );
    let o = run(&["check"]);
    assert_eq!(o.status.code(), Some(64));
    let o = run(&["check", "--format", "xml", "examples/incident.eml"]);
    assert_eq!(o.status.code(), Some(64));
    let o = run(&["check", "--org-domain", "nodots", "examples/incident.eml"]);
    assert_eq!(o.status.code(), Some(64));
    assert!(stderr(&o).contains("not a domain name"), "{}", stderr(&o));
    // A missing file does not stop the others from being checked.
    let o = run(&["check", "no/such.eml", "examples/incident.eml"]);
    assert_eq!(o.status.code(), Some(66));
    assert!(stdout(&o).contains("REJECT"));
}

#[test]
fn policy_check_reports_line_and_column() {
    let d = tmp("policy");
    let bad = d.join("bad.toml");
    std::fs::write(&bad, "mode = \"audit\"\n[[rules]]\nname = \"x\"\nif_any = [\"recipients.exposd\"]\naction = \"hold\"\n").expect("write");
    let o = run(&["policy", "check", bad.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(65));
    let err = stderr(&o);
    assert!(
        err.contains("bad.toml:4:11: unknown detector id `recipients.exposd`"),
        "{err}"
    );
    let good = d.join("good.toml");
    std::fs::write(
        &good,
        "mode = \"audit\"\norg_domains = [\"phoneco.example\"]\n",
    )
    .expect("write");
    let o = run(&["policy", "check", good.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("OK"));
    // Audit mode: the incident is reported, nothing is stopped (exit code follows what would happen).
    let o = run(&[
        "check",
        "--policy",
        good.to_str().expect("utf-8"),
        "--format",
        "json",
        "examples/incident.eml",
    ]);
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).expect("json");
    assert_eq!(v["action"], "allow");
    assert_eq!(v["would"], "reject");
    assert_eq!(v["audit"], true);
    let o = run(&[
        "check",
        "--policy",
        "no/such/policy.toml",
        "examples/incident.eml",
    ]);
    assert_eq!(o.status.code(), Some(66));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn policy_show_prints_a_valid_policy() {
    let o = run(&["policy", "show"]);
    assert_eq!(o.status.code(), Some(0));
    let d = tmp("show");
    let p = d.join("default.toml");
    std::fs::write(&p, &o.stdout).expect("write");
    let o = run(&["policy", "check", p.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn scan_prints_masked_matches() {
    let text = b"Card 4556 7375 8689 9855, SSN 536-22-1234, IBAN DE89 3704 0044 0532 0130 00. Order 4556 7375 8689 9856.\n";
    let o = run_stdin(&["scan", "--format", "json"], text);
    assert_eq!(o.status.code(), Some(1));
    let matches: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let kinds: Vec<&str> = matches.iter().filter_map(|m| m["kind"].as_str()).collect();
    assert_eq!(kinds, ["credit_card", "us_ssn", "iban"], "{}", stdout(&o));
    assert_eq!(matches[0]["start"], 5);
    assert_eq!(matches[0]["end"], 24);
    let all = stdout(&o);
    assert!(!all.contains("7375 8689"), "values are masked: {all}");
    assert!(!all.contains("536-22-1234"));
    let o = run_stdin(&["scan"], b"nothing to see here, order 12345\n");
    assert_eq!(o.status.code(), Some(0));
    let o = run_stdin(&["scan", "--kind", "passport_number"], b"x");
    assert_eq!(o.status.code(), Some(64));
    assert!(stderr(&o).contains("known kinds"), "{}", stderr(&o));
}

#[test]
fn garbage_input_is_handled() {
    let o = run_stdin(&["check", "-"], &[0xff, 0xfe, 0x00, b'\n', b'\r', 0x80]);
    assert!(
        matches!(o.status.code(), Some(0..=2)),
        "{:?} {}",
        o.status,
        stderr(&o)
    );
    assert!(stdout(&o).contains("message.malformed"), "{}", stdout(&o));
}

#[test]
fn config_init_serve_check_and_empty_holds() {
    let d = tmp("gate");
    let o = bin()
        .args(["config", "init"])
        .current_dir(&d)
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(d.join("doublecheck.toml").is_file());
    // A second init refuses to overwrite.
    let o = bin()
        .args(["config", "init"])
        .current_dir(&d)
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(64));
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    // serve --check reads ./doublecheck.toml and reports the listeners.
    let o = bin()
        .args(["serve", "--check", "--http", "127.0.0.1:18080"])
        .current_dir(&d)
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("configuration OK")
            && out.contains("127.0.0.1:18080")
            && out.contains("built-in"),
        "{out}"
    );
    // A broken config file is reported with file:line:column.
    std::fs::write(d.join("bad.toml"), "[smtp]\nmax_recipient = 3\n").expect("write");
    let o = bin()
        .args(["serve", "--check", "--config", "bad.toml"])
        .current_dir(&d)
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(65));
    assert!(stderr(&o).contains("bad.toml:2:1:"), "{}", stderr(&o));
    // No data directory yet: holds says how to get one.
    let o = bin()
        .args(["holds", "list"])
        .current_dir(&d)
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(66));
    assert!(stderr(&o).contains("doublecheck serve"), "{}", stderr(&o));
    let _ = std::fs::remove_dir_all(&d);
}
