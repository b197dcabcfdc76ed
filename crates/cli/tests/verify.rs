//! `doublecheck verify send|list` and `doublecheck keys generate|rotate` as a user runs them:
//! a real configuration file, a SQLite database, and a small SMTP sink as the upstream.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_doublecheck"))
        .args(args)
        .env_remove("CLICOLOR_FORCE")
        .env_remove("DOUBLECHECK_MASTER_KEY")
        .env_remove("DOUBLECHECK_PREVIOUS_MASTER_KEYS")
        .env("NO_COLOR", "1")
        .output()
        .expect("run doublecheck")
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// (envelope recipients, data) of every message the sink accepted.
type Got = Arc<Mutex<Vec<(Vec<String>, String)>>>;

/// A blocking SMTP sink on a thread; its address.
fn sink() -> (String, Got) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let got: Got = Arc::default();
    let g = got.clone();
    std::thread::spawn(move || {
        for sock in l.incoming().flatten() {
            let mut w = sock.try_clone().unwrap();
            let mut r = BufReader::new(sock);
            let _ = w.write_all(b"220 sink\r\n");
            let mut rcpts = Vec::new();
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let up = line.to_ascii_uppercase();
                if up.starts_with("RCPT TO:") {
                    let a = line.split(['<', '>']).nth(1).unwrap_or("").to_string();
                    rcpts.push(a);
                }
                if up.starts_with("DATA") {
                    let _ = w.write_all(b"354 go\r\n");
                    let mut data = String::new();
                    loop {
                        let mut l = String::new();
                        if r.read_line(&mut l).unwrap_or(0) == 0 || l == ".\r\n" {
                            break;
                        }
                        data.push_str(&l);
                    }
                    g.lock().unwrap().push((std::mem::take(&mut rcpts), data));
                    let _ = w.write_all(b"250 queued\r\n");
                    continue;
                }
                if up.starts_with("QUIT") {
                    let _ = w.write_all(b"221 bye\r\n");
                    break;
                }
                let reply: &[u8] = if up.starts_with("EHLO") {
                    b"250-sink\r\n250 8BITMIME\r\n"
                } else {
                    b"250 ok\r\n"
                };
                let _ = w.write_all(reply);
            }
        }
    });
    (addr, got)
}

fn write_config(dir: &Path, upstream: &str, key: &str, previous: &[&str]) -> String {
    let path = dir.join("doublecheck.toml");
    let prev: Vec<String> = previous.iter().map(|p| format!("{p:?}")).collect();
    std::fs::write(
        &path,
        format!(
            "data_dir = {:?}\n\n[smtp]\nupstream = {upstream:?}\n\n[portal]\n\
             public_url = \"https://verify.test\"\nmail_from = \"verify@phoneco.example\"\n\
             master_key = {key:?}\nprevious_master_keys = [{}]\n",
            dir.join("data").display().to_string(),
            prev.join(", ")
        ),
    )
    .unwrap();
    path.display().to_string()
}

/// A directory removed when dropped.
struct Dir(std::path::PathBuf);

impl Dir {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn verify_send_list_and_keys() {
    let root = std::env::temp_dir().join(format!("doublecheck-verify-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let dir = Dir(root);
    let (upstream, got) = sink();

    let g = run(&["keys", "generate"]);
    assert_eq!(g.status.code(), Some(0), "{}", err(&g));
    let key_a = out(&g).trim().to_string();
    assert!(key_a.starts_with("mk-") && key_a.contains(':'), "{key_a}");
    let key_b = out(&run(&["keys", "generate"])).trim().to_string();
    assert_ne!(key_a, key_b);
    let cfg = write_config(dir.path(), &upstream, &key_a, &[]);

    // The link printed, nothing sent.
    let o = run(&[
        "verify",
        "send",
        "--email",
        "ana@example.com",
        "--type",
        "address",
        "--print-link",
        "-c",
        &cfg,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let link = out(&o).trim().to_string();
    let token = link
        .strip_prefix("https://verify.test/verify/")
        .unwrap_or_else(|| panic!("{link}"));
    assert_eq!(token.len(), 43, "{link}");
    assert!(err(&o).contains("vs_"), "{}", err(&o));
    assert!(got.lock().unwrap().is_empty());

    // The customer's own message, through the upstream.
    let o = run(&[
        "verify",
        "send",
        "--email",
        "bo@example.com",
        "--name",
        "Bo",
        "-c",
        &cfg,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert!(
        out(&o).contains("sent bo@example.com their own link"),
        "{}",
        out(&o)
    );
    let msgs = got.lock().unwrap().clone();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].0, vec!["bo@example.com".to_string()]);
    assert!(
        msgs[0].1.contains("https://verify.test/verify/"),
        "{}",
        msgs[0].1
    );
    assert!(msgs[0].1.contains("Hello Bo"), "{}", msgs[0].1);
    assert!(!msgs[0].1.contains("{{verify_link}}"));

    // Bad input is a usage error, and creates nothing.
    let o = run(&["verify", "send", "--email", "not an address", "-c", &cfg]);
    assert_eq!(o.status.code(), Some(64), "{}", err(&o));

    let o = run(&["verify", "list", "-c", &cfg]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let text = out(&o);
    assert!(
        text.contains("ana@example.com") && text.contains("bo@example.com"),
        "{text}"
    );
    assert!(
        text.contains("address ") && text.contains("document "),
        "{text}"
    );
    assert!(text.trim_end().ends_with("2 sessions"), "{text}");
    let o = run(&[
        "verify",
        "list",
        "--format",
        "json",
        "--status",
        "requires_input",
        "-c",
        &cfg,
    ]);
    let lines: Vec<serde_json::Value> = out(&o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert!(
        lines.iter().all(|v| v["object"] == "verification_session"),
        "{lines:?}"
    );

    // Rotation with no documents yet: nothing to do, and it says so.
    let cfg = write_config(dir.path(), &upstream, &key_b, &[&key_a]);
    let o = run(&["keys", "rotate", "-c", &cfg]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert!(out(&o).starts_with("0 re-wrapped under mk-"), "{}", out(&o));
    assert!(out(&o).contains("0 failed"), "{}", out(&o));
}
