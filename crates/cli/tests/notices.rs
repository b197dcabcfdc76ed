//! Notices to senders as a mail admin sees them: `doublecheck serve` as a real process with its
//! upstream down, `holds notices` and `holds show` showing the notice waiting (attempts, last
//! error), then the upstream up and the notice sent once.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_doublecheck"));
    c.env("NO_COLOR", "1");
    c
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// An upstream on `port` that accepts everything and keeps each message's DATA.
fn sink_at(port: u16) -> Arc<Mutex<Vec<String>>> {
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind sink");
    let got = Arc::new(Mutex::new(Vec::new()));
    let store = got.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut w = conn.try_clone().expect("clone");
                let mut r = BufReader::new(conn);
                let _ = w.write_all(b"220 sink ESMTP\r\n");
                let mut line = String::new();
                let mut data: Option<String> = None;
                loop {
                    line.clear();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    if let Some(d) = data.as_mut() {
                        if line == ".\r\n" {
                            if let Ok(mut g) = store.lock() {
                                g.push(d.clone());
                            }
                            data = None;
                            let _ = w.write_all(b"250 2.0.0 queued\r\n");
                        } else {
                            d.push_str(&line);
                        }
                        continue;
                    }
                    let up = line.to_ascii_uppercase();
                    let reply: &[u8] = if up.starts_with("DATA") {
                        data = Some(String::new());
                        b"354 go\r\n"
                    } else if up.starts_with("QUIT") {
                        let _ = w.write_all(b"221 bye\r\n");
                        return;
                    } else {
                        b"250 2.0.0 ok\r\n"
                    };
                    let _ = w.write_all(reply);
                }
            });
        }
    });
    got
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Send one message over SMTP; returns the final reply line.
fn send(port: u16, from: &str, rcpt: &str, message: &str) -> String {
    let conn = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut w = conn.try_clone().expect("clone");
    let mut r = BufReader::new(conn);
    let mut reply = || {
        let mut last = String::new();
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                return last;
            }
            let more = line.as_bytes().get(3) == Some(&b'-');
            last = line;
            if !more {
                return last;
            }
        }
    };
    let mut last = reply();
    for c in [
        "EHLO client.test\r\n".to_string(),
        format!("MAIL FROM:<{from}>\r\n"),
        format!("RCPT TO:<{rcpt}>\r\n"),
        "DATA\r\n".to_string(),
        format!("{message}.\r\n"),
    ] {
        w.write_all(c.as_bytes()).expect("write");
        last = reply();
    }
    let _ = w.write_all(b"QUIT\r\n");
    last
}

fn run(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let o = bin().args(args).current_dir(dir).output().expect("run");
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn a_waiting_notice_is_listed_then_sent_once_the_upstream_is_up() {
    let dir = std::env::temp_dir().join(format!("doublecheck-notices-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let (smtp, upstream) = (free_port(), free_port());
    std::fs::write(
        dir.join("doublecheck.toml"),
        format!(
            "data_dir = \"data\"\n[http]\nenabled = false\n[milter]\nenabled = false\n\
             [web]\nenabled = false\n[smtp]\nlisten = \"127.0.0.1:{smtp}\"\n\
             upstream = \"127.0.0.1:{upstream}\"\n[notices]\nretry_initial_secs = 1\n\
             retry_max_secs = 1\n"
        ),
    )
    .expect("write doublecheck.toml");
    let child = bin()
        .args(["serve"])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start doublecheck serve");
    let _server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", smtp)).is_err() {
        assert!(Instant::now() < deadline, "serve did not start listening");
        std::thread::sleep(Duration::from_millis(50));
    }
    let ask = "From: care@phoneco.example\r\nTo: maria.garcia@gmail.com\r\nSubject: Address check\r\n\r\nPlease reply with a copy of your driver's license.\r\n";
    let r = send(smtp, "care@phoneco.example", "maria.garcia@gmail.com", ask);
    assert!(r.starts_with("250 2.6.0"), "{r}");
    let hold = r.trim().rsplit(' ').next().expect("id").to_string();

    // The upstream is down: the notice waits, tried again and again, and says why.
    let deadline = Instant::now() + Duration::from_secs(20);
    let listed = loop {
        let (c, out, err) = run(&dir, &["holds", "notices"]);
        assert_eq!(c, Some(0), "{err}");
        if out.contains("last error: ") {
            break out;
        }
        assert!(Instant::now() < deadline, "{out}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(listed.contains(&hold), "{listed}");
    assert!(
        listed.contains("held     pending to care@phoneco.example"),
        "{listed}"
    );
    assert!(listed.contains("last error: "), "{listed}");
    assert!(listed.contains("(1 pending, 0 failed, 0 sent)"), "{listed}");
    let (c, out, _) = run(&dir, &["holds", "show", &hold]);
    assert_eq!(c, Some(0));
    assert!(out.contains("notice:     held     pending"), "{out}");
    let (c, out, _) = run(&dir, &["holds", "notices", "--format", "json"]);
    assert_eq!(c, Some(0));
    let row: serde_json::Value =
        serde_json::from_str(out.lines().next().expect("a row")).expect("JSON");
    assert_eq!(row["status"], "pending");
    assert_eq!(row["hold_id"], hold.as_str());
    let notice = row["id"].as_str().expect("id").to_string();
    // Only a notice that was given up can be queued again.
    let (c, _, err) = run(&dir, &["holds", "requeue-notice", &notice]);
    assert_eq!(c, Some(65), "{err}");

    // The upstream comes up: the notice goes out, once.
    let got = sink_at(upstream);
    let deadline = Instant::now() + Duration::from_secs(20);
    while got.lock().expect("lock").is_empty() {
        assert!(Instant::now() < deadline, "the notice never arrived");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(2500));
    let got = got.lock().expect("lock").clone();
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].contains("\r\nX-Doublecheck-Notice: held\r\n"),
        "{}",
        got[0]
    );
    assert!(got[0].contains(&hold), "{}", got[0]);
    let (_, out, _) = run(&dir, &["holds", "notices"]);
    assert!(
        out.contains("0 notices (0 pending, 0 failed, 0 sent)"),
        "{out}"
    );
    let (_, out, _) = run(&dir, &["holds", "notices", "--status", "sent"]);
    assert!(out.contains(&notice) && out.contains(" sent "), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}
