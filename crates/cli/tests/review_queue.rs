//! The review queue as an administrator sets it up: `doublecheck user add|list|disable` against
//! the data directory, and `doublecheck serve` answering the web app and the API on one listener.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
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

/// Runs the command with `stdin` as its standard input; returns (code, stdout, stderr).
fn run(dir: &Path, args: &[&str], stdin: &str) -> (Option<i32>, String, String) {
    let mut child = bin()
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run doublecheck");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One HTTP/1.1 request over a fresh connection; returns the status line, headers and body.
fn http(port: u16, request: &str) -> (String, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(request.as_bytes()).expect("send");
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let (status, headers) = head.split_once("\r\n").unwrap_or((head, ""));
    (status.to_string(), headers.to_string(), body.to_string())
}

fn header<'a>(headers: &'a str, name: &str) -> Vec<&'a str> {
    headers
        .lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
        .collect()
}

/// A fresh directory under the system's temporary directory, removed afterwards.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .subsec_nanos();
        let p = std::env::temp_dir().join(format!("dc-review-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).expect("create a temporary directory");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn staff_accounts_from_the_command_line_and_the_queue_on_the_http_listener() {
    let dir = TempDir::new();
    let d = dir.0.as_path();

    // The first admin, before the gate ever ran (the data directory is created).
    let (code, out, err) = run(
        d,
        &[
            "user",
            "add",
            "Admin@Example.com",
            "--role",
            "admin",
            "--data-dir",
            "data",
        ],
        "a long admin password\n",
    );
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("added admin@example.com (admin)"), "{out}");
    let (code, _, err) = run(
        d,
        &[
            "user",
            "add",
            "admin@example.com",
            "--role",
            "agent",
            "--data-dir",
            "data",
        ],
        "another long password\n",
    );
    assert_eq!(
        code,
        Some(65),
        "a second account with the same email: {err}"
    );
    let (code, _, err) = run(
        d,
        &[
            "user",
            "add",
            "rev@example.com",
            "--role",
            "reviewer",
            "--data-dir",
            "data",
        ],
        "short\n",
    );
    assert_eq!(code, Some(64), "too short a password: {err}");
    assert!(err.contains("at least 12"), "{err}");
    let (code, _, _) = run(
        d,
        &[
            "user",
            "add",
            "rev@example.com",
            "--role",
            "reviewer",
            "--data-dir",
            "data",
        ],
        "reviewer password 1\n",
    );
    assert_eq!(code, Some(0));
    let (code, _, _) = run(
        d,
        &[
            "user",
            "add",
            "rev@example.com",
            "--role",
            "boss",
            "--data-dir",
            "data",
        ],
        "reviewer password 1\n",
    );
    assert_eq!(code, Some(64), "unknown role");

    let (code, out, _) = run(d, &["user", "list", "--data-dir", "data"], "");
    assert_eq!(code, Some(0));
    assert!(
        out.contains("admin@example.com") && out.contains("admin"),
        "{out}"
    );
    assert!(
        out.contains("rev@example.com") && out.contains("reviewer"),
        "{out}"
    );
    assert!(out.contains("2 users"), "{out}");
    let (code, out, _) = run(
        d,
        &["user", "list", "--data-dir", "data", "--format", "json"],
        "",
    );
    assert_eq!(code, Some(0));
    assert_eq!(out.lines().count(), 2);
    assert!(!out.contains("argon2"), "hashes are never printed: {out}");
    let (code, _, err) = run(d, &["user", "list", "--data-dir", "elsewhere"], "");
    assert_eq!(code, Some(66), "{err}");

    // The gate serves the queue and the API on one listener.
    let http_port = free_port();
    let smtp_port = free_port();
    let server = Server(
        bin()
            .args([
                "serve",
                "--data-dir",
                "data",
                "--http",
                &format!("127.0.0.1:{http_port}"),
                "--smtp",
                &format!("127.0.0.1:{smtp_port}"),
                "--milter",
                &format!("127.0.0.1:{}", free_port()),
            ])
            .current_dir(d)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start doublecheck serve"),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", http_port)).is_err() {
        assert!(Instant::now() < deadline, "doublecheck serve did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let host = format!("127.0.0.1:{http_port}");
    let (status, headers, body) = http(
        http_port,
        &format!("GET /holds HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
    );
    assert!(status.contains("303"), "{status}");
    assert_eq!(header(&headers, "location"), ["/login?next=%2Fholds"]);
    let (status, headers, body2) = http(
        http_port,
        &format!("GET /login HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
    );
    assert!(status.contains("200"), "{status} {body}");
    assert!(body2.contains("Sign in"));
    let csp = header(&headers, "content-security-policy");
    assert!(csp[0].contains("default-src 'none'"), "{csp:?}");
    let (status, _, body) = http(
        http_port,
        &format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
    );
    assert!(
        status.contains("200") && body.contains("ok"),
        "the API answers too: {body}"
    );

    // Sign in over the socket: the session cookie comes back, and the address is recorded.
    let login_cookie = header(&headers, "set-cookie")
        .into_iter()
        .find_map(|c| c.strip_prefix("dc_login="))
        .and_then(|c| c.split(';').next())
        .expect("the sign-in form's cookie")
        .to_string();
    let csrf = body2
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("csrf")
        .to_string();
    let form =
        format!("email=rev%40example.com&password=reviewer+password+1&csrf={csrf}&next=%2Fholds");
    let (status, headers, _) = http(
        http_port,
        &format!(
            "POST /login HTTP/1.1\r\nHost: {host}\r\nOrigin: http://{host}\r\nCookie: dc_login={login_cookie}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}",
            form.len()
        ),
    );
    assert!(status.contains("303"), "{status} {headers}");
    let session = header(&headers, "set-cookie")
        .into_iter()
        .find_map(|c| c.strip_prefix("dc_session="))
        .and_then(|c| c.split(';').next())
        .expect("a session")
        .to_string();
    let (status, _, body) = http(
        http_port,
        &format!(
            "GET /holds HTTP/1.1\r\nHost: {host}\r\nCookie: dc_session={session}\r\nConnection: close\r\n\r\n"
        ),
    );
    assert!(status.contains("200"), "{status}");
    assert!(body.contains("Held messages") && body.contains("rev@example.com"));

    // Disabling from the command line ends the session at once.
    let (code, out, _) = run(
        d,
        &["user", "disable", "REV@example.com", "--data-dir", "data"],
        "",
    );
    assert_eq!(code, Some(0));
    assert!(out.contains("disabled rev@example.com"), "{out}");
    let (status, _, _) = http(
        http_port,
        &format!(
            "GET /holds HTTP/1.1\r\nHost: {host}\r\nCookie: dc_session={session}\r\nConnection: close\r\n\r\n"
        ),
    );
    assert!(status.contains("303"), "{status}");
    let (code, _, _) = run(
        d,
        &[
            "user",
            "disable",
            "nobody@example.com",
            "--data-dir",
            "data",
        ],
        "",
    );
    assert_eq!(code, Some(66));
    drop(server);

    let (code, out, _) = run(d, &["audit", "verify", "--data-dir", "data"], "");
    assert_eq!(code, Some(0), "{out}");
    let (_, out, _) = run(d, &["user", "list", "--data-dir", "data"], "");
    assert!(out.contains("disabled"), "{out}");
}

/// Stores a held message with one finding of `severity` in the data directory's database, as
/// the milter would (the message waits in the MTA's hold queue under `queue_id`).
fn hold_in(data: &Path, severity: &str, queue_id: &str) -> String {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let url = format!(
            "sqlite://{}?mode=rwc",
            data.join("doublecheck.db").display()
        );
        let store = doublecheck_store::Store::open(&url).await.expect("open");
        let hold = store
            .create_hold(doublecheck_store::NewHold {
                raw: b"From: agent@example.com\r\nSubject: Card on file\r\n\r\nHi\r\n".to_vec(),
                mail_from: "agent@example.com".into(),
                rcpt_to: vec!["customer@example.net".into()],
                verdict_json: serde_json::json!({
                    "findings": [{ "id": "content.sensitive_data", "severity": severity }]
                })
                .to_string(),
                reason: "a card number".into(),
                sender: Some("agent@example.com".into()),
                queue_id: Some(format!("mta:{queue_id}")),
            })
            .await
            .expect("hold");
        store.close().await;
        hold.id
    })
}

#[test]
fn holds_release_needs_two_distinct_approvers_for_severe_findings() {
    let dir = TempDir::new();
    let d = dir.0.as_path();
    std::fs::create_dir_all(d.join("data")).expect("data dir");
    std::fs::write(
        d.join("doublecheck.toml"),
        "data_dir = \"data\"\n\
         [web]\ntwo_approvals_min_severity = \"critical\"\n\
         [milter]\nrelease_command = [\"touch\", \"released-{queue_id}\"]\n",
    )
    .expect("config");
    let critical = hold_in(&d.join("data"), "critical", "CRIT1");
    let medium = hold_in(&d.join("data"), "medium", "MED1");
    let release = |id: &str, who: &str| {
        run(
            d,
            &[
                "holds",
                "release",
                id,
                "--as",
                who,
                "--reason",
                "checked",
                "--config",
                "doublecheck.toml",
            ],
            "",
        )
    };

    // The sender can never approve.
    let (code, out, err) = release(&critical, "agent@example.com");
    assert_eq!(code, Some(65), "{out}{err}");
    assert!(err.contains("may not approve"), "{err}");
    // The first reviewer: recorded, still held, nothing released (exit 2).
    let (code, out, err) = release(&critical, "rev-a@example.com");
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(
        out.contains("approval by rev-a@example.com recorded (1 of 2)"),
        "{out}"
    );
    assert!(out.contains("nothing was delivered"), "{out}");
    assert!(
        !d.join("released-CRIT1").exists(),
        "not released after one approval"
    );
    let (_, shown, _) = run(
        d,
        &["holds", "show", &critical, "--config", "doublecheck.toml"],
        "",
    );
    assert!(shown.contains("status:     held"), "{shown}");
    // The same reviewer again does not count twice.
    let (code, out, err) = release(&critical, "REV-A@example.com");
    assert_eq!(code, Some(65), "{out}{err}");
    assert!(err.contains("a second reviewer must approve"), "{err}");
    assert!(!d.join("released-CRIT1").exists());
    // A second, different reviewer releases it.
    let (code, out, err) = release(&critical, "rev-b@example.com");
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("released by rev-b@example.com"), "{out}");
    assert!(
        d.join("released-CRIT1").exists(),
        "the MTA was told to release it"
    );

    // Below the threshold one approval is enough.
    let (code, out, err) = release(&medium, "rev-a@example.com");
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(d.join("released-MED1").exists());

    let (code, out, _) = run(d, &["audit", "verify", "--config", "doublecheck.toml"], "");
    assert_eq!(code, Some(0), "{out}");
}

#[test]
fn user_enable_passwd_and_role_from_the_command_line() {
    let dir = TempDir::new();
    let d = dir.0.as_path();
    let args = |extra: &[&'static str]| {
        let mut v: Vec<&str> = vec!["user"];
        v.extend_from_slice(extra);
        v.extend_from_slice(&["--data-dir", "data"]);
        v
    };
    let (code, out, err) = run(
        d,
        &args(&["add", "rev@example.com", "--role", "reviewer"]),
        "the first long password\n",
    );
    assert_eq!(code, Some(0), "{out}{err}");

    // Passwords: at least 12 characters, never the email address.
    let (code, _, err) = run(d, &args(&["passwd", "rev@example.com"]), "short\n");
    assert_eq!(code, Some(64), "{err}");
    assert!(err.contains("at least 12"), "{err}");
    let (code, _, err) = run(
        d,
        &args(&["passwd", "rev@example.com"]),
        "Rev@Example.com\n",
    );
    assert_eq!(code, Some(64), "{err}");
    assert!(err.contains("email address"), "{err}");
    let (code, _, err) = run(
        d,
        &args(&["passwd", "nobody@example.com"]),
        "a second long password\n",
    );
    assert_eq!(code, Some(66), "{err}");
    let (code, out, err) = run(
        d,
        &args(&["passwd", "REV@example.com"]),
        "a second long password\n",
    );
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("password of rev@example.com changed"), "{out}");

    // Role.
    let (code, out, err) = run(d, &args(&["role", "rev@example.com", "admin"]), "");
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("rev@example.com is now admin"), "{out}");
    let (code, _, err) = run(d, &args(&["role", "rev@example.com", "boss"]), "");
    assert_eq!(code, Some(64), "an unknown role is a usage error: {err}");

    // The last active administrator can be neither disabled nor demoted.
    let (code, _, err) = run(d, &args(&["disable", "rev@example.com"]), "");
    assert_eq!(code, Some(65), "{err}");
    assert!(err.contains("last active administrator"), "{err}");
    let (code, _, err) = run(d, &args(&["role", "rev@example.com", "agent"]), "");
    assert_eq!(code, Some(65), "{err}");
    assert!(err.contains("before you demote"), "{err}");
    let (code, out, err) = run(
        d,
        &args(&["add", "second@example.com", "--role", "admin"]),
        "the second admin password\n",
    );
    assert_eq!(code, Some(0), "{out}{err}");

    // Disable, then enable.
    let (code, ..) = run(d, &args(&["disable", "rev@example.com"]), "");
    assert_eq!(code, Some(0));
    let (_, list, _) = run(d, &args(&["list"]), "");
    assert!(list.contains("disabled"), "{list}");
    let (code, out, err) = run(d, &args(&["enable", "rev@example.com"]), "");
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("enabled rev@example.com (admin)"), "{out}");
    let (_, list, _) = run(d, &args(&["list"]), "");
    assert!(
        list.contains("active") && !list.contains("disabled"),
        "{list}"
    );
    let (code, ..) = run(d, &args(&["enable", "nobody@example.com"]), "");
    assert_eq!(code, Some(66));

    // Each change is in the audit log, and the chain holds.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let actions: Vec<String> = rt.block_on(async {
        let url = format!(
            "sqlite://{}?mode=rwc",
            d.join("data/doublecheck.db").display()
        );
        let store = doublecheck_store::Store::open(&url).await.expect("open");
        let all = store.audit_list(0, 100).await.expect("audit");
        assert!(store.audit_verify().await.expect("verify").is_ok());
        all.into_iter()
            .filter(|e| e.subject == "rev@example.com")
            .map(|e| e.action)
            .collect()
    });
    assert_eq!(
        actions,
        [
            "user.add",
            "user.password",
            "user.role",
            "user.disable",
            "user.enable"
        ]
    );
}
