//! The review queue in a real browser: headless Chromium driven over WebDriver (chromedriver),
//! in front of the real `doublecheck serve` process, with a real SMTP client and a real SMTP
//! upstream (a sink on a local socket).
//!
//! The story of issue 5: the group email that asked customers for their driver's licenses is
//! sent through the gate's SMTP listener and held. The sender (an agent) sees it and why, but
//! no decision buttons. A reviewer signs in (after one wrong password), opens the queue and the
//! message, chooses fix and release → explode with a justification, and the outcome page says
//! it was released. At the sink, each customer got a separate copy with only their own address
//! in To; no copy carried the whole list.
//!
//! Screenshots of the sign-in page, the queue and the message page at desktop (1280×800) and
//! phone (390×844) widths go to `target/test-artifacts/browser/`. Every page is checked with
//! axe-core; a violation of impact `serious` or `critical` fails the test.
//!
//! Needs Chromium, chromedriver and axe-core: `scripts/test-browser` installs them and runs
//! this test (it is ignored in a plain `cargo test`). Paths can be set with `CHROMIUM`,
//! `CHROMEDRIVER` and `AXE_JS`.

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const INCIDENT: &str = include_str!("../../../examples/incident.eml");
const SENDER: &str = "care@phoneco.example";
const CUSTOMERS: [&str; 6] = [
    "maria.garcia@gmail.com",
    "j.smith1987@yahoo.com",
    "tomwilson@hotmail.com",
    "li.wei@outlook.com",
    "sam.okafor@icloud.com",
    "ana.souza@aol.com",
];
const REVIEWER: &str = "rev@phoneco.example";
const REVIEWER_PASSWORD: &str = "reviewer password 42";
const AGENT_PASSWORD: &str = "agent password 4242";

/// Holds a group request for sensitive documents (the built-in policy rejects it outright);
/// a copy to one customer alone passes, so explode is a fix that works.
const POLICY: &str = r#"
defaults = false
org_domains = ["phoneco.example"]

[[rules]]
name = "group request for sensitive documents"
if_all = ["content.solicits_sensitive"]
if_any = ["recipients.exposed", "recipients.reply_fanout"]
recipients = "external"
action = "hold"
reason = "This message asks a group of customers to send sensitive documents by email, and their replies would reach each other."
"#;

const DESKTOP: (u32, u32) = (1280, 800);
const PHONE: (u32, u32) = (390, 844);

// ------------------------------------------------------------------ processes and sockets

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_doublecheck"));
    c.env("NO_COLOR", "1");
    c
}

/// `target/` of this build (the binary is `target/<profile>/doublecheck`).
fn target_dir() -> PathBuf {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_doublecheck"));
    exe.parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn wait_listening(port: u16, what: &str, child: &mut Child) {
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
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[derive(Clone, Debug)]
struct Received {
    rcpts: Vec<String>,
    data: String,
}

impl Received {
    fn is_notice(&self) -> bool {
        self.data.contains("\r\nX-Doublecheck-Notice: ")
            || self.data.starts_with("X-Doublecheck-Notice: ")
    }

    /// The value of a header field, unfolded (first occurrence).
    fn header(&self, name: &str) -> Option<String> {
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
fn sink() -> (u16, Arc<Mutex<Vec<Received>>>) {
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
    (port, got)
}

/// Sends one message over SMTP, as a mail client would; returns the reply to the DATA.
fn send(port: u16, from: &str, rcpts: &[&str], message: &str) -> String {
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

fn run_with_stdin(dir: &Path, args: &[&str], stdin: &str) {
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

fn tool(var: &str, default: &str) -> PathBuf {
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

struct Browser {
    c: Client,
    base: String,
    axe_js: String,
    shots: PathBuf,
    saved: Vec<PathBuf>,
    /// Serious and critical accessibility violations, page by page.
    a11y: Vec<String>,
}

impl Browser {
    async fn goto(&self, path: &str) {
        self.c
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap_or_else(|e| panic!("open {path}: {e}"));
    }

    async fn path(&self) -> String {
        let u = self.c.current_url().await.expect("current url");
        match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_string(),
        }
    }

    /// The visible text of `<main>`, for assertions and failure messages.
    async fn main_text(&self) -> String {
        match self.c.find(Locator::Css("main")).await {
            Ok(m) => m.text().await.unwrap_or_default(),
            Err(_) => self.c.source().await.unwrap_or_default(),
        }
    }

    async fn has(&self, css: &str) -> bool {
        !self
            .c
            .find_all(Locator::Css(css))
            .await
            .expect("find_all")
            .is_empty()
    }

    async fn text_of(&self, css: &str) -> String {
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

    async fn fill(&self, css: &str, text: &str) {
        let e = self
            .c
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no `{css}`: {e}"));
        e.clear().await.expect("clear");
        e.send_keys(text).await.expect("type");
    }

    async fn click(&self, css: &str) {
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
    async fn click_to_page(&self, css: &str) {
        self.c
            .execute("window.__dcOldPage = true;", vec![])
            .await
            .expect("mark the page");
        self.click(css).await;
        self.wait_new_page(&format!("clicking `{css}`")).await;
    }

    /// Waits until the page marked with `__dcOldPage` has been replaced and the new one loaded.
    async fn wait_new_page(&self, what: &str) {
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

    async fn inner_size(&self) -> (u64, u64) {
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
    async fn viewport(&self, (w, h): (u32, u32)) {
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

    /// A screenshot of the viewport at `size`, saved as `<name>-<label>.png`.
    async fn shot(&mut self, name: &str, label: &str, size: (u32, u32)) {
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
        let png = self.c.screenshot().await.expect("screenshot");
        assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
        let path = self.shots.join(format!("{name}-{label}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        self.saved.push(path);
    }

    /// Runs axe-core on the page as it is: `(rules passed, violations)`.
    async fn axe_run(&self, page: &str) -> (u64, Vec<Value>) {
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
    async fn axe(&mut self, page: &str) {
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
    async fn axe_self_check(&self) {
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
    async fn sign_in_by_keyboard(&self, email: &str, password: &str) {
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

    async fn sign_in(&self, email: &str, password: &str) {
        self.fill("#email", email).await;
        self.fill("#password", password).await;
        self.click_to_page("main form button[type=submit]").await;
    }

    async fn sign_out(&self) {
        self.click_to_page("header nav a[href='/logout']").await;
        self.click_to_page("form[action='/logout'] button[type=submit]")
            .await;
        let p = self.path().await;
        assert!(p.starts_with("/login"), "signed out, at {p}");
    }
}

async fn wait_until<F, Fut>(what: &str, mut f: F)
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

// ------------------------------------------------------------------ the story

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium: run scripts/test-browser"]
async fn reviewer_explodes_the_incident_in_chromium() {
    let started = Instant::now();
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

    // The gate: the SMTP relay in front of the sink, the review queue on the HTTP listener.
    let dir = std::env::temp_dir().join(format!("doublecheck-browser-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let (upstream, got) = sink();
    let (smtp, http) = (free_port(), free_port());
    std::fs::write(dir.join("policy.toml"), POLICY).expect("policy");
    std::fs::write(
        dir.join("doublecheck.toml"),
        format!(
            "data_dir = {data:?}\npolicy = {policy:?}\n\
             [http]\nlisten = \"127.0.0.1:{http}\"\n\
             [smtp]\nlisten = \"127.0.0.1:{smtp}\"\nupstream = \"127.0.0.1:{upstream}\"\n\
             [milter]\nenabled = false\n",
            data = dir.join("data").display().to_string(),
            policy = dir.join("policy.toml").display().to_string(),
        ),
    )
    .expect("config");
    let config = dir.join("doublecheck.toml");
    let config = config.to_str().expect("utf-8 path");
    run_with_stdin(
        &dir,
        &[
            "user", "add", REVIEWER, "--role", "reviewer", "--config", config,
        ],
        &format!("{REVIEWER_PASSWORD}\n"),
    );
    run_with_stdin(
        &dir,
        &["user", "add", SENDER, "--role", "agent", "--config", config],
        &format!("{AGENT_PASSWORD}\n"),
    );
    let mut server = Proc(
        bin()
            .args(["serve", "--config", config])
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start doublecheck serve"),
    );
    wait_listening(smtp, "doublecheck serve (SMTP)", &mut server.0);
    wait_listening(http, "doublecheck serve (HTTP)", &mut server.0);

    // The incident, through the real SMTP listener: held, nothing delivered.
    let reply = send(smtp, SENDER, &CUSTOMERS, INCIDENT);
    assert!(
        reply.starts_with("250") && reply.contains("hold_"),
        "the incident message should be held: {reply}"
    );
    let id = reply
        .split_whitespace()
        .find(|w| w.starts_with("hold_"))
        .expect("hold id")
        .trim_end_matches(['.', ')', ','])
        .to_string();
    let delivered = |got: &Mutex<Vec<Received>>| -> Vec<Received> {
        got.lock()
            .expect("lock")
            .iter()
            .filter(|m| !m.is_notice())
            .cloned()
            .collect()
    };
    assert!(
        delivered(&got).is_empty(),
        "a held message must not reach the upstream"
    );

    // Chromium, through chromedriver.
    let wd_port = free_port();
    let mut driver = Proc(
        Command::new(&chromedriver)
            .arg(format!("--port={wd_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", chromedriver.display())),
    );
    wait_listening(wd_port, "chromedriver", &mut driver.0);
    let profile = dir.join("chromium-profile");
    std::fs::create_dir_all(&profile).expect("profile dir");
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium.to_str().expect("utf-8 path"),
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--hide-scrollbars",
                format!("--window-size={},{}", DESKTOP.0, DESKTOP.1),
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
    let mut b = Browser {
        c,
        base: format!("http://127.0.0.1:{http}"),
        axe_js,
        shots,
        saved: Vec::new(),
        a11y: Vec::new(),
    };
    println!(
        "browser ready after {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // Signed out, the queue sends the browser to the sign-in page.
    b.goto("/holds").await;
    let p = b.path().await;
    assert!(p.starts_with("/login"), "signed out, /holds → {p}");
    b.shot("login", "desktop", DESKTOP).await;
    b.shot("login", "phone", PHONE).await;
    b.axe("sign-in page").await;
    b.axe_self_check().await;
    b.viewport(DESKTOP).await;

    // A wrong password: an error, still signed out.
    b.sign_in(REVIEWER, "not the password").await;
    let err = b.text_of("[role=alert]").await;
    assert!(
        err.contains("Wrong email or password"),
        "the sign-in error: {err}"
    );
    assert!(b.path().await.starts_with("/login"));
    assert!(!b.has("a[href='/logout']").await, "not signed in");
    b.axe("sign-in page with an error").await;

    // The sender (an agent) sees the held message and why, but cannot decide on it.
    b.sign_in(SENDER, AGENT_PASSWORD).await;
    assert_eq!(b.path().await, "/holds", "signed in as the agent");
    assert!(
        b.has(&format!("a[href='/holds/{id}']")).await,
        "the agent's queue lists their held message:\n{}",
        b.main_text().await
    );
    b.click_to_page(&format!("a[href='/holds/{id}']")).await;
    assert_eq!(b.path().await, format!("/holds/{id}"));
    assert!(b.text_of("h1").await.contains(&id));
    assert!(
        b.main_text().await.contains("content.solicits_sensitive"),
        "the agent sees why it was held"
    );
    for action in ["approve", "fix", "reject", "reassign"] {
        assert!(
            !b.has(&format!("form[action$='/{action}']")).await,
            "an agent must not see the {action} form"
        );
    }
    assert!(!b.has("#act-title").await, "no Decide section for an agent");
    b.axe("message page (agent)").await;
    b.sign_out().await;

    // The reviewer signs in (with the keyboard) and opens the queue.
    b.sign_in_by_keyboard(REVIEWER, REVIEWER_PASSWORD).await;
    assert_eq!(b.path().await, "/holds", "signed in as the reviewer");
    assert!(
        b.text_of(".who").await.contains(REVIEWER),
        "the header names who is signed in"
    );
    let row = format!("a[href='/holds/{id}']");
    assert!(
        b.has(&row).await,
        "the queue lists the held message:\n{}",
        b.main_text().await
    );
    b.shot("queue", "desktop", DESKTOP).await;
    b.axe("queue").await;
    b.shot("queue", "phone", PHONE).await;
    b.axe("queue (phone)").await;
    b.viewport(DESKTOP).await;

    // The message page: why it was held, the recipients, and the decisions.
    b.click_to_page(&row).await;
    assert_eq!(b.path().await, format!("/holds/{id}"));
    let text = b.main_text().await;
    assert!(text.contains("content.solicits_sensitive"), "{text}");
    assert!(text.contains("asks a group of customers"), "{text}");
    for customer in CUSTOMERS {
        assert!(text.contains(customer), "the recipients: {customer}");
    }
    for action in ["approve", "fix", "reject"] {
        assert!(
            b.has(&format!("form[action='/holds/{id}/{action}']")).await,
            "a reviewer sees the {action} form"
        );
    }
    b.shot("message", "desktop", DESKTOP).await;
    b.axe("message page (reviewer)").await;
    b.shot("message", "phone", PHONE).await;
    b.axe("message page (reviewer, phone)").await;
    // The decision forms, scrolled into view on a phone.
    b.c.execute(
        "document.getElementById('act-title').scrollIntoView();",
        vec![],
    )
    .await
    .expect("scroll");
    b.shot("message-decide", "phone", PHONE).await;
    b.viewport(DESKTOP).await;

    // Fix and release → explode, with a justification.
    b.click("#fx-exp").await;
    assert!(
        b.c.find(Locator::Css("#fx-exp"))
            .await
            .expect("radio")
            .is_selected()
            .await
            .expect("selected"),
        "explode is chosen"
    );
    b.fill(
        "#f-just",
        "Group email: each customer gets their own copy; replies go only to us.",
    )
    .await;
    b.click_to_page(&format!(
        "form[action='/holds/{id}/fix'] button[type=submit]"
    ))
    .await;

    // The outcome page.
    let p = b.path().await;
    assert_eq!(
        p,
        format!("/holds/{id}?done=fixed"),
        "after fix and release; the page says:\n{}",
        b.main_text().await
    );
    let flash = b.text_of(".flash[role=status]").await;
    assert!(flash.contains("Fixed and released"), "{flash}");
    assert_eq!(b.text_of("h1 .status").await.trim(), "released");
    let text = b.main_text().await;
    assert!(text.contains(&format!("explode by {REVIEWER}")), "{text}");
    assert!(!b.has(&format!("form[action='/holds/{id}/approve']")).await);
    b.shot("outcome", "desktop", DESKTOP).await;
    b.shot("outcome", "phone", PHONE).await;
    b.axe("outcome page").await;
    b.viewport(DESKTOP).await;

    // At the upstream: one copy per customer, each with only that customer in To.
    wait_until("six copies at the upstream", || {
        let n = delivered(&got).len();
        async move { n >= CUSTOMERS.len() }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let copies = delivered(&got);
    assert_eq!(copies.len(), CUSTOMERS.len(), "one copy per recipient");
    let mut seen: Vec<String> = Vec::new();
    for m in &copies {
        assert_eq!(
            m.rcpts.len(),
            1,
            "one envelope recipient per copy: {:?}",
            m.rcpts
        );
        let rcpt = &m.rcpts[0];
        let to = m.header("To").expect("a To field").to_ascii_lowercase();
        assert!(to.contains(rcpt.as_str()), "To: {to} for {rcpt}");
        for other in CUSTOMERS.iter().filter(|c| *c != rcpt) {
            assert!(
                !m.data.to_ascii_lowercase().contains(other),
                "the copy for {rcpt} mentions {other}"
            );
        }
        assert!(m.header("Cc").is_none(), "no Cc on the copy for {rcpt}");
        assert!(m.data.contains("driver's license"), "the message itself");
        seen.push(rcpt.clone());
    }
    seen.sort();
    let mut want: Vec<String> = CUSTOMERS.iter().map(|c| c.to_string()).collect();
    want.sort();
    assert_eq!(seen, want, "every customer got exactly one copy");
    // Nothing that went to a customer (notices included) listed another customer.
    for m in got.lock().expect("lock").iter() {
        if !m.rcpts.iter().any(|r| CUSTOMERS.contains(&r.as_str())) {
            continue;
        }
        let listed = CUSTOMERS
            .iter()
            .filter(|c| m.data.to_ascii_lowercase().contains(*c))
            .count();
        assert!(
            listed <= 1,
            "a message to {:?} lists {listed} customers",
            m.rcpts
        );
    }

    // The sender sees the outcome.
    b.sign_out().await;
    b.sign_in(SENDER, AGENT_PASSWORD).await;
    b.goto(&format!("/holds/{id}")).await;
    assert_eq!(b.text_of("h1 .status").await.trim(), "released");
    assert!(
        b.main_text()
            .await
            .contains(&format!("explode by {REVIEWER}"))
    );

    let _ = b.c.clone().close().await;
    drop(driver);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);

    for p in &b.saved {
        println!("screenshot: {}", p.display());
    }
    assert!(
        b.a11y.is_empty(),
        "serious or critical accessibility violations (axe-core):\n{}",
        b.a11y.join("\n")
    );
    println!(
        "browser test done in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
