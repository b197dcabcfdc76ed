//! The harness shared by the real-process tests (`browser.rs`, `browser_portal.rs`, `notices.rs`): the
//! `doublecheck` binary and its child processes, an SMTP sink standing in for the upstream, an
//! SMTP client, and a WebDriver session in headless Chromium with screenshots and axe-core.
//! Each test binary uses part of it.
#![allow(dead_code)]

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const DESKTOP: (u32, u32) = (1280, 800);
pub const PHONE: (u32, u32) = (390, 844);
/// The tallest full-page screenshot taken (CSS pixels); longer pages are cut there.
pub const MAX_SHOT_HEIGHT: u32 = 8000;

// ------------------------------------------------------------------ processes and sockets

pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_doublecheck"));
    c.env("NO_COLOR", "1");
    c
}

/// `target/` of this build (the binary is `target/<profile>/doublecheck`).
pub fn target_dir() -> PathBuf {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_doublecheck"));
    exe.parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf()
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

pub fn wait_listening(port: u16, what: &str, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited before listening: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "{what} is not listening on port {port} after 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A child process ended when the test ends, however it ends.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[derive(Clone, Debug)]
pub struct Received {
    pub rcpts: Vec<String>,
    pub data: String,
}

impl Received {
    pub fn is_notice(&self) -> bool {
        self.data.contains("\r\nX-Doublecheck-Notice: ")
            || self.data.starts_with("X-Doublecheck-Notice: ")
    }

    /// The value of a header field, unfolded (first occurrence).
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or("");
        let mut out: Option<String> = None;
        let mut in_field = false;
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                if in_field && let Some(v) = out.as_mut() {
                    v.push(' ');
                    v.push_str(line.trim());
                }
                continue;
            }
            if out.is_some() {
                in_field = false;
                continue;
            }
            if let Some((n, v)) = line.split_once(':')
                && n.trim().eq_ignore_ascii_case(name)
            {
                out = Some(v.trim().to_string());
                in_field = true;
            }
        }
        out
    }
}

/// The upstream: accepts every message and keeps its envelope recipients and DATA.
pub fn sink() -> (u16, Arc<Mutex<Vec<Received>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind sink");
    let port = listener.local_addr().expect("addr").port();
    (port, serve_sink(listener))
}

/// The same upstream on a given port (one that comes up after the gate started).
pub fn sink_at(port: u16) -> Arc<Mutex<Vec<Received>>> {
    serve_sink(TcpListener::bind(("127.0.0.1", port)).expect("bind sink"))
}

fn serve_sink(listener: TcpListener) -> Arc<Mutex<Vec<Received>>> {
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
                let mut rcpts = Vec::new();
                let mut data: Option<String> = None;
                loop {
                    line.clear();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    if let Some(d) = data.as_mut() {
                        if line == ".\r\n" {
                            store.lock().expect("lock").push(Received {
                                rcpts: std::mem::take(&mut rcpts),
                                data: std::mem::take(d),
                            });
                            data = None;
                            let _ = w.write_all(b"250 2.0.0 queued\r\n");
                        } else {
                            d.push_str(line.strip_prefix('.').unwrap_or(&line));
                        }
                        continue;
                    }
                    let up = line.to_ascii_uppercase();
                    let reply: &[u8] = if up.starts_with("EHLO") {
                        b"250-sink\r\n250 8BITMIME\r\n"
                    } else if up.starts_with("MAIL FROM:") || up.starts_with("RSET") {
                        rcpts.clear();
                        b"250 2.0.0 ok\r\n"
                    } else if up.starts_with("RCPT TO:") {
                        let a = line[8..].trim();
                        let a = a.trim_start_matches('<');
                        let a = a.split('>').next().unwrap_or("");
                        rcpts.push(a.to_ascii_lowercase());
                        b"250 2.1.5 ok\r\n"
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
    got
}

// ------------------------------------------------------------------ HTTP, by hand

/// An HTTP answer read by [`http`].
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `name=value` of each `Set-Cookie`.
    pub fn cookies(&self) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            .filter_map(|(_, v)| v.split(';').next())
            .map(str::to_string)
            .collect()
    }
}

/// One HTTP/1.1 request with `Connection: close`; the answer read to its end.
pub fn http(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Answer {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).expect("connect to the HTTP listener");
    conn.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Content-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    conn.write_all(req.as_bytes()).expect("send the request");
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw).expect("read the answer");
    let raw = String::from_utf8(raw).expect("a UTF-8 answer");
    let (head, rest) = raw.split_once("\r\n\r\n").expect("an HTTP answer");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("a status line: {head}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    let body = if chunked {
        let mut out = String::new();
        let mut r = rest;
        loop {
            let (size, tail) = r.split_once("\r\n").expect("a chunk size");
            let n = usize::from_str_radix(size.trim(), 16).expect("a hex chunk size");
            if n == 0 {
                break;
            }
            out.push_str(&tail[..n]);
            r = &tail[n + 2..];
        }
        out
    } else {
        rest.to_string()
    };
    Answer {
        status,
        headers,
        body,
    }
}

/// The text body of a message caught at the sink, with its transfer encoding undone.
pub fn text_body(m: &Received) -> String {
    let (_, body) = m.data.split_once("\r\n\r\n").expect("a body");
    let cte = m
        .header("Content-Transfer-Encoding")
        .unwrap_or_default()
        .to_ascii_lowercase();
    match cte.as_str() {
        "quoted-printable" => {
            let b = body.as_bytes();
            let mut out = Vec::new();
            let mut i = 0;
            while i < b.len() {
                if b[i] == b'=' {
                    if b[i + 1..].starts_with(b"\r\n") {
                        i += 3;
                        continue;
                    }
                    let h = std::str::from_utf8(&b[i + 1..i + 3]).expect("hex");
                    out.push(u8::from_str_radix(h, 16).expect("a QP escape"));
                    i += 3;
                } else {
                    out.push(b[i]);
                    i += 1;
                }
            }
            String::from_utf8(out).expect("UTF-8 text")
        }
        "base64" => {
            const B64: &[u8; 64] =
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            let mut out = Vec::new();
            let (mut acc, mut bits) = (0u32, 0);
            for ch in body.bytes().filter(|b| !b" \r\n\t=".contains(b)) {
                let v = B64.iter().position(|&b| b == ch).expect("base64") as u32;
                acc = (acc << 6) | v;
                bits += 6;
                if bits >= 8 {
                    bits -= 8;
                    out.push((acc >> bits) as u8);
                }
            }
            String::from_utf8(out).expect("UTF-8 text")
        }
        _ => body.to_string(),
    }
}

/// Sends one message over SMTP, as a mail client would; returns the reply to the DATA.
pub fn send(port: u16, from: &str, rcpts: &[&str], message: &str) -> String {
    let conn = TcpStream::connect(("127.0.0.1", port)).expect("connect to the SMTP listener");
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
    let expect = |what: &str, code: char, reply: String| {
        assert!(reply.starts_with(code), "{what}: {reply}");
        reply
    };
    expect("greeting", '2', reply());
    let mut cmd = |c: String| w.write_all(c.as_bytes()).expect("write");
    cmd("EHLO client.test\r\n".into());
    expect("EHLO", '2', reply());
    cmd(format!("MAIL FROM:<{from}>\r\n"));
    expect("MAIL FROM", '2', reply());
    for to in rcpts {
        cmd(format!("RCPT TO:<{to}>\r\n"));
        expect("RCPT TO", '2', reply());
    }
    cmd("DATA\r\n".into());
    expect("DATA", '3', reply());
    let mut body = String::new();
    for line in message.split_inclusive('\n') {
        let line = line.strip_suffix('\n').unwrap_or(line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.starts_with('.') {
            body.push('.');
        }
        body.push_str(line);
        body.push_str("\r\n");
    }
    cmd(format!("{body}.\r\n"));
    let last = reply();
    cmd("QUIT\r\n".into());
    last
}

pub fn run_with_stdin(dir: &Path, args: &[&str], stdin: &str) {
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
    assert!(
        out.status.success(),
        "doublecheck {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn tool(var: &str, default: &str) -> PathBuf {
    let p = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default));
    assert!(
        p.is_file(),
        "{} not found (set {var}, or run scripts/test-browser, which installs it)",
        p.display()
    );
    p
}

// ------------------------------------------------------------------ the browser

pub struct Browser {
    pub c: Client,
    pub base: String,
    pub axe_js: String,
    pub shots: PathBuf,
    pub saved: Vec<PathBuf>,
    /// Serious and critical accessibility violations, page by page.
    pub a11y: Vec<String>,
}

impl Browser {
    pub async fn goto(&self, path: &str) {
        self.c
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap_or_else(|e| panic!("open {path}: {e}"));
    }

    pub async fn path(&self) -> String {
        let u = self.c.current_url().await.expect("current url");
        match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_string(),
        }
    }

    /// The visible text of `<main>`, for assertions and failure messages.
    pub async fn main_text(&self) -> String {
        match self.c.find(Locator::Css("main")).await {
            Ok(m) => m.text().await.unwrap_or_default(),
            Err(_) => self.c.source().await.unwrap_or_default(),
        }
    }

    pub async fn has(&self, css: &str) -> bool {
        !self
            .c
            .find_all(Locator::Css(css))
            .await
            .expect("find_all")
            .is_empty()
    }

    pub async fn text_of(&self, css: &str) -> String {
        let e = match self.c.find(Locator::Css(css)).await {
            Ok(e) => e,
            Err(e) => panic!(
                "no `{css}` on {} ({e}); the page says:\n{}",
                self.path().await,
                self.main_text().await
            ),
        };
        e.text().await.expect("text")
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let e = self
            .c
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no `{css}`: {e}"));
        e.clear().await.expect("clear");
        e.send_keys(text).await.expect("type");
    }

    pub async fn click(&self, css: &str) {
        let e = match self.c.find(Locator::Css(css)).await {
            Ok(e) => e,
            Err(e) => panic!(
                "no `{css}` on {} ({e}); the page says:\n{}",
                self.path().await,
                self.main_text().await
            ),
        };
        e.click()
            .await
            .unwrap_or_else(|e| panic!("click `{css}`: {e}"));
    }

    /// Clicks what loads a new page (a link, a submit button) and waits until the new page
    /// has loaded: chromedriver may return from the click before the navigation starts.
    pub async fn click_to_page(&self, css: &str) {
        self.c
            .execute("window.__dcOldPage = true;", vec![])
            .await
            .expect("mark the page");
        self.click(css).await;
        self.wait_new_page(&format!("clicking `{css}`")).await;
    }

    /// Waits until the page marked with `__dcOldPage` has been replaced and the new one loaded.
    pub async fn wait_new_page(&self, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let fresh = self
                .c
                .execute(
                    "return window.__dcOldPage !== true && document.readyState === 'complete';",
                    vec![],
                )
                .await
                .unwrap_or(Value::Bool(false));
            if fresh == Value::Bool(true) {
                return;
            }
            assert!(Instant::now() < deadline, "{what} did not load a new page");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub async fn inner_size(&self) -> (u64, u64) {
        let v = self
            .c
            .execute("return [window.innerWidth, window.innerHeight];", vec![])
            .await
            .expect("inner size");
        (
            v[0].as_u64().expect("innerWidth"),
            v[1].as_u64().expect("innerHeight"),
        )
    }

    /// Sizes the window so that the page's viewport is `w`×`h` CSS pixels.
    pub async fn viewport(&self, (w, h): (u32, u32)) {
        self.c.set_window_size(w, h).await.expect("window size");
        let (iw, ih) = self.inner_size().await;
        if (iw, ih) != (u64::from(w), u64::from(h)) {
            let w2 = (2 * u64::from(w)).saturating_sub(iw) as u32;
            let h2 = (2 * u64::from(h)).saturating_sub(ih) as u32;
            self.c.set_window_size(w2, h2).await.expect("window size");
        }
        let (iw, _) = self.inner_size().await;
        assert_eq!(iw, u64::from(w), "the viewport should be {w} px wide");
    }

    /// A screenshot of the whole page at the width of `size` (the window grows to the page's
    /// height, at most [`MAX_SHOT_HEIGHT`], then goes back to `size`), saved as
    /// `<name>-<label>.png`.
    pub async fn shot(&mut self, name: &str, label: &str, size: (u32, u32)) {
        self.viewport(size).await;
        // A page wider than the viewport scrolls sideways: unusable on a phone.
        let overflow = self
            .c
            .execute(
                "return document.documentElement.scrollWidth - window.innerWidth;",
                vec![],
            )
            .await
            .expect("scrollWidth");
        assert!(
            overflow.as_i64().unwrap_or(0) <= 0,
            "{name} at {}×{}: the page is {overflow} px wider than the screen",
            size.0,
            size.1
        );
        let height = self
            .c
            .execute("return document.documentElement.scrollHeight;", vec![])
            .await
            .expect("scrollHeight")
            .as_u64()
            .unwrap_or(0)
            .min(u64::from(MAX_SHOT_HEIGHT)) as u32;
        let taller = height > size.1;
        if taller {
            self.viewport((size.0, height)).await;
        }
        let png = self.c.screenshot().await.expect("screenshot");
        if taller {
            self.viewport(size).await;
        }
        assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
        let path = self.shots.join(format!("{name}-{label}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        self.saved.push(path);
    }

    /// Runs axe-core on the page as it is: `(rules passed, violations)`.
    pub async fn axe_run(&self, page: &str) -> (u64, Vec<Value>) {
        let loaded = self
            .c
            .execute("return typeof window.axe === 'object';", vec![])
            .await
            .expect("axe check");
        if loaded != Value::Bool(true) {
            self.c
                .execute(&self.axe_js, vec![])
                .await
                .expect("inject axe-core");
        }
        let result = self
            .c
            .execute_async(
                r#"const done = arguments[arguments.length - 1];
                axe.run(document, { resultTypes: ['violations'] })
                  .then(r => done({ passes: r.passes.length, violations: r.violations.map(v => ({
                      id: v.id, impact: v.impact, help: v.help,
                      targets: v.nodes.map(n => n.target.join(' ')) })) }))
                  .catch(e => done({ error: String(e) }));"#,
                vec![],
            )
            .await
            .expect("axe.run");
        assert!(
            result.get("error").is_none(),
            "axe.run failed on {page}: {result}"
        );
        let passes = result["passes"].as_u64().unwrap_or(0);
        assert!(passes > 0, "axe-core checked nothing on {page}: {result}");
        let violations = result["violations"].as_array().expect("violations").clone();
        (passes, violations)
    }

    /// Runs axe-core on the page; records serious and critical violations.
    pub async fn axe(&mut self, page: &str) {
        let (passes, violations) = self.axe_run(page).await;
        for v in &violations {
            let impact = v["impact"].as_str().unwrap_or("");
            let line = format!(
                "{page}: {} ({impact}): {} — {}",
                v["id"].as_str().unwrap_or("?"),
                v["help"].as_str().unwrap_or(""),
                v["targets"]
            );
            println!("axe: {line}");
            if impact == "serious" || impact == "critical" {
                self.a11y.push(line);
            }
        }
        println!(
            "axe: {page}: {passes} rules passed, {} violated",
            violations.len()
        );
    }

    /// The checker itself: an unlabelled field and low-contrast text put into the page must be
    /// reported (so a clean report means something).
    pub async fn axe_self_check(&self) {
        self.c
            .execute(
                "const i = document.createElement('input'); i.type = 'text'; i.id = 'dc-probe-input';\
                 const p = document.createElement('p'); p.id = 'dc-probe-text';\
                 p.textContent = 'faint text'; p.style.color = '#cccccc'; p.style.background = '#ffffff';\
                 document.querySelector('main').append(i, p);",
                vec![],
            )
            .await
            .expect("add the probes");
        let (_, violations) = self.axe_run("self-check").await;
        let found = |id: &str, target: &str| {
            violations.iter().any(|v| {
                v["id"] == id
                    && v["targets"]
                        .as_array()
                        .is_some_and(|t| t.iter().any(|t| t.as_str() == Some(target)))
            })
        };
        assert!(
            found("label", "#dc-probe-input") && found("color-contrast", "#dc-probe-text"),
            "axe-core should report the unlabelled field and the faint text: {violations:?}"
        );
        println!("axe: self-check: an unlabelled field and faint text are reported");
        self.c
            .execute(
                "document.getElementById('dc-probe-input').remove();\
                 document.getElementById('dc-probe-text').remove();",
                vec![],
            )
            .await
            .expect("remove the probes");
    }

    /// Signs in with the keyboard alone: the email field has the focus when the page opens,
    /// Tab moves to the password, Enter sends the form.
    pub async fn sign_in_by_keyboard(&self, email: &str, password: &str) {
        let focused = self.c.active_element().await.expect("focused element");
        assert_eq!(
            focused.attr("id").await.expect("id").as_deref(),
            Some("email"),
            "the sign-in page opens with the focus on the email field"
        );
        focused.send_keys(email).await.expect("type the email");
        focused
            .send_keys(&char::from(fantoccini::key::Key::Tab).to_string())
            .await
            .expect("Tab");
        let focused = self.c.active_element().await.expect("focused element");
        assert_eq!(
            focused.attr("id").await.expect("id").as_deref(),
            Some("password"),
            "Tab moves from the email to the password"
        );
        self.c
            .execute("window.__dcOldPage = true;", vec![])
            .await
            .expect("mark the page");
        focused
            .send_keys(&format!(
                "{password}{}",
                char::from(fantoccini::key::Key::Enter)
            ))
            .await
            .expect("type the password and Enter");
        self.wait_new_page("Enter in the password field").await;
    }

    pub async fn sign_in(&self, email: &str, password: &str) {
        self.fill("#email", email).await;
        self.fill("#password", password).await;
        self.click_to_page("main form button[type=submit]").await;
    }

    pub async fn sign_out(&self) {
        self.click_to_page("header nav a[href='/logout']").await;
        self.click_to_page("form[action='/logout'] button[type=submit]")
            .await;
        let p = self.path().await;
        assert!(p.starts_with("/login"), "signed out, at {p}");
    }
}

pub async fn wait_until<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The browser tools' paths (`CHROMIUM`, `CHROMEDRIVER`, `AXE_JS`), checked, and axe-core's
/// source; the screenshot directory (`target/test-artifacts/browser`), created.
pub struct Tools {
    pub chromium: PathBuf,
    pub chromedriver: PathBuf,
    pub axe_js: String,
    pub shots: PathBuf,
}

pub fn tools() -> Tools {
    let chromium = tool("CHROMIUM", "/usr/bin/chromium");
    let chromedriver = tool("CHROMEDRIVER", "/usr/bin/chromedriver");
    let target = target_dir();
    let axe_path = std::env::var_os("AXE_JS")
        .map(PathBuf::from)
        .unwrap_or_else(|| target.join("browser-tools/node_modules/axe-core/axe.min.js"));
    let axe_js = std::fs::read_to_string(&axe_path).unwrap_or_else(|e| {
        panic!(
            "axe-core not found at {} ({e}); set AXE_JS or run scripts/test-browser",
            axe_path.display()
        )
    });
    let shots = target.join("test-artifacts/browser");
    std::fs::create_dir_all(&shots).expect("create the screenshot directory");
    Tools {
        chromium,
        chromedriver,
        axe_js,
        shots,
    }
}

/// Starts chromedriver and a headless Chromium session (profile under `dir`, window `size`),
/// browsing `base`. The driver process ends when the returned [`Proc`] is dropped.
pub async fn launch(t: Tools, dir: &Path, base: String, size: (u32, u32)) -> (Proc, Browser) {
    let wd_port = free_port();
    let mut driver = Proc(
        Command::new(&t.chromedriver)
            .arg(format!("--port={wd_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", t.chromedriver.display())),
    );
    wait_listening(wd_port, "chromedriver", &mut driver.0);
    let profile = dir.join("chromium-profile");
    std::fs::create_dir_all(&profile).expect("profile dir");
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": t.chromium.to_str().expect("utf-8 path"),
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--hide-scrollbars",
                format!("--window-size={},{}", size.0, size.1),
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    let c = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{wd_port}"))
        .await
        .expect("a Chromium session through chromedriver");
    c.update_timeouts(fantoccini::wd::TimeoutConfiguration::new(
        Some(Duration::from_secs(30)),
        Some(Duration::from_secs(30)),
        Some(Duration::ZERO),
    ))
    .await
    .expect("timeouts");
    let b = Browser {
        c,
        base,
        axe_js: t.axe_js,
        shots: t.shots,
        saved: Vec::new(),
        a11y: Vec::new(),
    };
    (driver, b)
}
