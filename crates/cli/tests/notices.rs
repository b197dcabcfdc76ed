//! Notices to senders as a mail admin sees them: `doublecheck serve` as a real process with its
//! upstream down, `holds notices` and `holds show` showing the notice waiting (attempts, last
//! error), then the upstream up and the notice sent once.

mod support;

use std::net::TcpStream;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use support::{Proc, bin, free_port, send, sink_at};

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
    let _server = Proc(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", smtp)).is_err() {
        assert!(Instant::now() < deadline, "serve did not start listening");
        std::thread::sleep(Duration::from_millis(50));
    }
    let ask = "From: care@phoneco.example\r\nTo: maria.garcia@gmail.com\r\nSubject: Address check\r\n\r\nPlease reply with a copy of your driver's license.\r\n";
    let r = send(
        smtp,
        "care@phoneco.example",
        &["maria.garcia@gmail.com"],
        ask,
    );
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
    let got: Vec<String> = got
        .lock()
        .expect("lock")
        .iter()
        .map(|r| r.data.clone())
        .collect();
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
