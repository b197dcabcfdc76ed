//! The gate as an administrator runs it: `doublecheck serve` as a real process, a real SMTP
//! client and upstream, `kill -9` while a message is held, restart, `holds release`.

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

/// A minimal upstream that accepts everything and keeps each message's DATA.
fn sink() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind sink");
    let port = listener.local_addr().expect("addr").port();
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
                    let reply: &[u8] = if up.starts_with("EHLO") {
                        b"250-sink\r\n250 8BITMIME\r\n"
                    } else if up.starts_with("DATA") {
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
    (port, got)
}

/// What the upstream received, without doublecheck's notices to senders.
fn messages(got: &Mutex<Vec<String>>) -> Vec<String> {
    got.lock()
        .expect("lock")
        .iter()
        .filter(|d| !d.contains("\r\nX-Doublecheck-Notice: "))
        .cloned()
        .collect()
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(dir: &Path, smtp: u16, http: u16, upstream: u16) -> Server {
    let child = bin()
        .args([
            "serve",
            "--data-dir",
            "data",
            "--smtp",
            &format!("127.0.0.1:{smtp}"),
            "--http",
            &format!("127.0.0.1:{http}"),
            "--milter",
            &format!("127.0.0.1:{}", free_port()),
            "--upstream",
            &format!("127.0.0.1:{upstream}"),
        ])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start doublecheck serve");
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", smtp)).is_err() {
        assert!(
            Instant::now() < deadline,
            "doublecheck serve did not start listening"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Server(child)
}

/// Send one message over SMTP; returns the final reply line.
fn send(port: u16, from: &str, rcpts: &[&str], message: &str) -> String {
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
    reply();
    let mut cmd = |c: String| {
        w.write_all(c.as_bytes()).expect("write");
    };
    cmd("EHLO client.test\r\n".into());
    let _ = reply();
    cmd(format!("MAIL FROM:<{from}>\r\n"));
    let _ = reply();
    for r_ in rcpts {
        cmd(format!("RCPT TO:<{r_}>\r\n"));
        let _ = reply();
    }
    cmd("DATA\r\n".into());
    let _ = reply();
    let mut body = String::new();
    for line in message.split_inclusive('\n') {
        if line.starts_with('.') {
            body.push('.');
        }
        body.push_str(line);
    }
    cmd(format!("{body}.\r\n"));
    let last = reply();
    cmd("QUIT\r\n".into());
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
fn held_message_survives_kill_9_and_is_released_by_a_reviewer() {
    let dir = std::env::temp_dir().join(format!("doublecheck-gate-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let (upstream, got) = sink();
    let (smtp, http) = (free_port(), free_port());
    let mut server = start(&dir, smtp, http, upstream);

    // A clean message goes straight through.
    let clean = "From: care@phoneco.example\r\nTo: maria.garcia@gmail.com\r\nSubject: Your bill\r\n\r\nYour bill is ready.\r\n";
    let r = send(
        smtp,
        "care@phoneco.example",
        &["maria.garcia@gmail.com"],
        clean,
    );
    assert!(r.starts_with("250"), "{r}");
    // A request for a license to one customer is held for a second person.
    let ask = "From: care@phoneco.example\r\nTo: maria.garcia@gmail.com\r\nSubject: Address check\r\n\r\nPlease reply with a copy of your driver's license.\r\n";
    let r = send(
        smtp,
        "care@phoneco.example",
        &["maria.garcia@gmail.com"],
        ask,
    );
    assert!(r.starts_with("250 2.6.0") && r.contains("hold_"), "{r}");
    let id = r.trim().rsplit(' ').next().expect("id").to_string();
    assert_eq!(
        messages(&got).len(),
        1,
        "only the clean message reached the upstream"
    );

    // kill -9, then start again: the hold is still there.
    let _ = server.0.kill();
    let _ = server.0.wait();
    drop(server);
    let (c, out, err) = run(&dir, &["holds", "list", "--data-dir", "data"]);
    assert_eq!(c, Some(0), "{err}");
    assert!(out.contains(&id), "{out}");
    let _server = start(&dir, smtp, http, upstream);

    // The sender may not approve their own message; a reviewer may.
    std::fs::write(
        dir.join("doublecheck.toml"),
        format!("data_dir = \"data\"\n[smtp]\nupstream = \"127.0.0.1:{upstream}\"\n[http]\nlisten = \"127.0.0.1:{http}\"\n"),
    )
    .expect("write doublecheck.toml");
    let (c, _, err) = run(
        &dir,
        &["holds", "release", &id, "--as", "care@phoneco.example"],
    );
    assert_eq!(c, Some(65), "{err}");
    assert_eq!(messages(&got).len(), 1);
    let (c, out, err) = run(
        &dir,
        &[
            "holds", "release", &id, "--as", "reviewer", "--reason", "checked",
        ],
    );
    assert_eq!(c, Some(0), "{err}");
    assert!(out.contains("released by reviewer: 1 delivered"), "{out}");
    let delivered = messages(&got);
    assert_eq!(delivered.len(), 2);
    assert!(delivered[1].contains("driver's license"));
    // The command waited for the notice to the sender before it exited.
    let released: Vec<String> = got
        .lock()
        .expect("lock")
        .iter()
        .filter(|d| d.contains("\r\nX-Doublecheck-Notice: released\r\n"))
        .cloned()
        .collect();
    assert_eq!(released.len(), 1, "{:?}", got.lock().expect("lock"));
    assert!(released[0].contains(&id), "{}", released[0]);
    assert!(
        released[0].contains("To: <care@phoneco.example>"),
        "{}",
        released[0]
    );
    let (c, out, _) = run(&dir, &["holds", "show", &id]);
    assert_eq!(c, Some(0));
    assert!(
        out.contains("released") && out.contains("decided by: reviewer"),
        "{out}"
    );
    let (c, out, err) = run(&dir, &["audit", "verify"]);
    assert_eq!(c, Some(0), "{err}");
    assert!(out.contains("audit log OK"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}
