//! A CSV batch of 1,000 customers end to end, against the real `doublecheck serve` process
//! with the portal on and a real SMTP upstream (a sink on a local socket).
//!
//! An API key made with `doublecheck apikey create` posts the CSV to
//! `/v1/verification_batches` with an `Idempotency-Key`. The answer's report says 1,000
//! created and no invalid row. The sink then receives exactly 1,000 messages: each has one
//! envelope recipient and one `To` address (the same customer), no `Cc` or `Bcc`, and one
//! link; the 1,000 tokens are all different. A sample of links is opened on the customer's
//! pages: each opens the session of the customer it was sent to (that customer's postcode
//! passes the knowledge check, another customer's does not, and the cookie earned on one
//! link opens no other). The same request again with the same `Idempotency-Key` answers the
//! first batch and creates and sends nothing new.
//!
//! A second test sends a CSV with a few bad rows among good ones and `skip_invalid_rows=true`:
//! the good rows go out, one message each, and every bad row has its own error (row, column,
//! reason); without `skip_invalid_rows` the same CSV creates nothing.
//!
//! The time from the request to the last message at the sink, and the messages per second,
//! are printed (`cargo test -p doublecheck --test batch -- --nocapture`); nothing is asserted
//! on time.

mod support;

use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::*;

const MAIL_FROM: &str = "verify@phoneco.example";
const CUSTOMERS: usize = 1000;

// ------------------------------------------------------------------ HTTP, by hand

fn form(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The value of the hidden `csrf` field of a page.
fn csrf_of(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .unwrap_or_else(|| panic!("a CSRF field in the page:\n{html}"));
    let rest = &html[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').expect("end of the value")].to_string()
}

// ------------------------------------------------------------------ messages at the sink

/// The token of the one link in the text, checked to point at this server.
fn token_in(text: &str, base: &str) -> String {
    let links: Vec<&str> = text
        .split_whitespace()
        .filter(|w| w.contains("/verify/"))
        .collect();
    assert_eq!(links.len(), 1, "one link in the message:\n{text}");
    let token = links[0]
        .strip_prefix(&format!("{base}/verify/"))
        .unwrap_or_else(|| panic!("the link {} is not under {base}/verify/", links[0]));
    assert!(
        token.len() >= 43
            && token
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'),
        "a 256-bit token in the link: {token}"
    );
    token.to_string()
}

/// The addresses of an address-list header field (`"Name" <a@b>, c@d`), lower-cased.
fn addresses(field: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut quoted = false;
    let mut cur = String::new();
    for ch in field.chars() {
        match ch {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(ch),
        }
    }
    out.push(cur);
    out.into_iter()
        .filter(|a| !a.trim().is_empty())
        .map(|a| {
            let a = match (a.rfind('<'), a.rfind('>')) {
                (Some(l), Some(r)) if l < r => a[l + 1..r].to_string(),
                _ => a,
            };
            a.trim().to_ascii_lowercase()
        })
        .collect()
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ------------------------------------------------------------------ the server

struct Server {
    dir: PathBuf,
    http: u16,
    base: String,
    bearer: String,
    got: Arc<Mutex<Vec<Received>>>,
    _proc: Proc,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Server {
    /// `doublecheck serve` with the portal on (its default worker settings), relaying to a
    /// fresh sink, and a test API key made by the CLI.
    fn start(name: &str) -> Server {
        let dir =
            std::env::temp_dir().join(format!("doublecheck-batch-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let (upstream, got) = sink();
        let (smtp, http_port) = (free_port(), free_port());
        let base = format!("http://127.0.0.1:{http_port}");
        std::fs::write(
            dir.join("doublecheck.toml"),
            format!(
                "data_dir = {data:?}\n\
                 [http]\nlisten = \"127.0.0.1:{http_port}\"\n\
                 [smtp]\nlisten = \"127.0.0.1:{smtp}\"\nupstream = \"127.0.0.1:{upstream}\"\n\
                 [milter]\nenabled = false\n\
                 [portal]\nenabled = true\npublic_url = {base:?}\nmail_from = {MAIL_FROM:?}\n",
                data = dir.join("data").display().to_string(),
            ),
        )
        .expect("config");
        let config = dir.join("doublecheck.toml");
        let config = config.to_str().expect("utf-8 path").to_string();
        let out = bin()
            .args([
                "apikey",
                "create",
                "--name",
                "batch test",
                "--config",
                &config,
            ])
            .current_dir(&dir)
            .output()
            .expect("doublecheck apikey create");
        assert!(
            out.status.success(),
            "apikey create: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let key = String::from_utf8(out.stdout)
            .expect("utf-8")
            .trim()
            .to_string();
        assert!(key.starts_with("dk_test_"), "a test key: {key}");
        let mut proc = Proc(
            bin()
                .args(["serve", "--config", &config])
                .current_dir(&dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start doublecheck serve"),
        );
        wait_listening(http_port, "doublecheck serve (HTTP)", &mut proc.0);
        Server {
            dir,
            http: http_port,
            base,
            bearer: format!("Bearer {key}"),
            got,
            _proc: proc,
        }
    }

    fn post_csv(&self, query: &str, idempotency_key: &str, csv: &str) -> Answer {
        http(
            self.http,
            "POST",
            &format!("/v1/verification_batches{query}"),
            &[
                ("Authorization", &self.bearer),
                ("Content-Type", "text/csv"),
                ("Idempotency-Key", idempotency_key),
            ],
            csv,
        )
    }

    fn get(&self, path: &str) -> Value {
        let r = http(
            self.http,
            "GET",
            path,
            &[("Authorization", &self.bearer)],
            "",
        );
        assert_eq!(r.status, 200, "GET {path}: {}", r.body);
        r.json()
    }

    /// Every session, page by page (100 a page), newest first.
    fn all_sessions(&self, filter: &str) -> Vec<Value> {
        let mut out: Vec<Value> = Vec::new();
        loop {
            let after = out
                .last()
                .map(|s| format!("&starting_after={}", s["id"].as_str().expect("id")))
                .unwrap_or_default();
            let page = self.get(&format!(
                "/v1/verification_sessions?limit=100{filter}{after}"
            ));
            out.extend(page["data"].as_array().expect("data").iter().cloned());
            if page["has_more"] != true {
                return out;
            }
        }
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().expect("lock").clone()
    }

    fn count(&self) -> usize {
        self.got.lock().expect("lock").len()
    }
}

fn email_of(i: usize) -> String {
    format!("customer{i:04}@example{}.com", i % 7)
}

fn postcode_of(i: usize) -> String {
    format!("{}", 10_000 + i * 7)
}

/// Checks one message at the sink: one envelope recipient, one `To` address (the same), no
/// `Cc` or `Bcc`, from the portal; returns (recipient, token of its one link).
fn check_message(m: &Received, base: &str) -> (String, String) {
    assert_eq!(
        m.rcpts.len(),
        1,
        "one envelope recipient, not {:?}",
        m.rcpts
    );
    let to = addresses(&m.header("To").expect("a To field"));
    assert_eq!(
        to, m.rcpts,
        "the To field names the envelope recipient alone"
    );
    assert!(m.header("Cc").is_none(), "no Cc:\n{}", m.data);
    assert!(m.header("Bcc").is_none(), "no Bcc:\n{}", m.data);
    assert_eq!(
        addresses(&m.header("From").expect("a From field")),
        vec![MAIL_FROM.to_string()]
    );
    (m.rcpts[0].clone(), token_in(&text_body(m), base))
}

/// Opens a link as a customer would: the landing page (nothing personal on it) and its
/// pre-second-factor cookie and CSRF token.
fn landing(s: &Server, token: &str) -> (String, String) {
    let r = http(s.http, "GET", &format!("/verify/{token}"), &[], "");
    assert_eq!(r.status, 200, "the link opens: {}", r.body);
    let cookie = r
        .cookies()
        .into_iter()
        .find(|c| c.starts_with("dc_pre="))
        .expect("the pre-second-factor cookie");
    (cookie, csrf_of(&r.body))
}

fn knowledge(s: &Server, token: &str, cookie: &str, csrf: &str, postcode: &str) -> Answer {
    http(
        s.http,
        "POST",
        &format!("/verify/{token}/knowledge"),
        &[
            ("Cookie", cookie),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        &form(&[("csrf", csrf), ("postcode", postcode)]),
    )
}

// ------------------------------------------------------------------ the tests

#[test]
fn a_thousand_customers_each_get_their_own_message_and_link() {
    let s = Server::start("thousand");
    let mut csv = String::from("email,name,reference,postcode\r\n");
    for i in 0..CUSTOMERS {
        csv.push_str(&format!(
            "{},\"Customer {i}, Jr.\",C-{i},{}\r\n",
            email_of(i),
            postcode_of(i)
        ));
    }

    let started = Instant::now();
    let r = s.post_csv("?type=address", "thousand-1", &csv);
    let answered = started.elapsed();
    assert_eq!(r.status, 200, "batch: {}", r.body);
    assert!(r.header("Idempotent-Replayed").is_none());
    let batch = r.json();
    assert_eq!(batch["object"], "verification_batch");
    assert_eq!(batch["count"], CUSTOMERS, "{}", batch["count"]);
    assert_eq!(batch["messages_queued"], CUSTOMERS);
    let report = &batch["report"];
    assert_eq!(report["rows"], CUSTOMERS, "{report}");
    assert_eq!(report["created"], CUSTOMERS, "{report}");
    assert_eq!(report["invalid"], 0, "{report}");
    assert_eq!(report["errors"], serde_json::json!([]), "{report}");
    let batch_id = batch["id"].as_str().expect("batch id").to_string();
    let ids: Vec<String> = batch["verification_sessions"]
        .as_array()
        .expect("the sessions")
        .iter()
        .map(|v| v.as_str().expect("id").to_string())
        .collect();
    assert_eq!(ids.len(), CUSTOMERS);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), CUSTOMERS);

    wait_for(
        "1,000 messages at the sink",
        Duration::from_secs(300),
        || s.count() >= CUSTOMERS,
    );
    let took = started.elapsed();
    println!(
        "batch of {CUSTOMERS}: answered in {:.2} s; last message at the sink after {:.2} s \
         ({:.0} messages/s)",
        answered.as_secs_f64(),
        took.as_secs_f64(),
        CUSTOMERS as f64 / took.as_secs_f64()
    );
    // Longer than the worker's interval (1 s by default): nothing more is coming.
    std::thread::sleep(Duration::from_millis(2500));
    let got = s.received();
    assert_eq!(got.len(), CUSTOMERS, "exactly one message per customer");

    let mut token_of: HashMap<String, String> = HashMap::new();
    let mut tokens = HashSet::new();
    for m in &got {
        let (rcpt, token) = check_message(m, &s.base);
        assert!(tokens.insert(token.clone()), "a token sent twice: {token}");
        assert!(
            token_of.insert(rcpt.clone(), token).is_none(),
            "two messages to {rcpt}"
        );
    }
    let expected: HashSet<String> = (0..CUSTOMERS).map(email_of).collect();
    assert_eq!(
        token_of.keys().cloned().collect::<HashSet<_>>(),
        expected,
        "one message to each customer of the CSV"
    );

    // The API lists the batch's sessions: 1,000, each still waiting for its customer.
    let sessions = s.all_sessions(&format!("&batch={batch_id}"));
    assert_eq!(sessions.len(), CUSTOMERS);
    assert!(sessions.iter().all(|v| v["status"] == "requires_input"));

    // A sample of links, each opened by its customer: that customer's postcode passes the
    // knowledge check, a neighbour's does not, and the cookie earned opens no other link.
    let sample = [0, 1, 137, 500, 998, 999];
    let mut earned: Vec<(usize, String)> = Vec::new();
    for &i in &sample {
        let token = &token_of[&email_of(i)];
        let other = (i + 1) % CUSTOMERS;
        let (cookie, csrf) = landing(&s, token);
        let wrong = knowledge(&s, token, &cookie, &csrf, &postcode_of(other));
        assert_eq!(
            wrong.status, 422,
            "customer {other}'s postcode does not open customer {i}'s session"
        );
        let right = knowledge(&s, token, &cookie, &csrf, &postcode_of(i));
        assert_eq!(
            right.status, 303,
            "customer {i}'s postcode opens their session: {}",
            right.body
        );
        assert_eq!(
            right.header("Location"),
            Some(format!("/verify/{token}/address").as_str())
        );
        let vs = right
            .cookies()
            .into_iter()
            .find(|c| c.starts_with("dc_vs="))
            .expect("the session cookie");
        let page = http(
            s.http,
            "GET",
            &format!("/verify/{token}/address"),
            &[("Cookie", &vs)],
            "",
        );
        assert_eq!(page.status, 200, "the address page: {}", page.body);
        earned.push((i, vs));
    }
    for (i, vs) in &earned {
        for &j in sample.iter().filter(|j| **j != *i) {
            let page = http(
                s.http,
                "GET",
                &format!("/verify/{}/address", token_of[&email_of(j)]),
                &[("Cookie", vs)],
                "",
            );
            assert_ne!(
                page.status, 200,
                "customer {i}'s cookie does not open customer {j}'s address page"
            );
        }
    }

    // The same request again: the first answer, replayed; nothing created or sent.
    let again = s.post_csv("?type=address", "thousand-1", &csv);
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.header("Idempotent-Replayed"), Some("true"));
    assert_eq!(again.json()["id"], batch_id.as_str());
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(s.count(), CUSTOMERS, "no message sent again");
    assert_eq!(
        s.all_sessions("").len(),
        CUSTOMERS,
        "no session created again"
    );
}

#[test]
fn bad_rows_are_named_and_the_good_rows_go_out() {
    let s = Server::start("bad-rows");
    let good: Vec<String> = (0..20).map(|i| format!("good{i}@example.com")).collect();
    let mut csv = String::from("email,phone,birth_date\n");
    let mut bad = Vec::new();
    for (i, email) in good.iter().enumerate() {
        // Rows are numbered from 1 after the header.
        let row = csv.lines().count();
        match i {
            3 => {
                csv.push_str("not-an-email,,\n");
                bad.push((row, "customer[email]"));
            }
            7 => {
                csv.push_str("short@example.com,12,\n");
                bad.push((row, "customer[phone]"));
            }
            11 => {
                csv.push_str("feb@example.com,,1990-02-31\n");
                bad.push((row, "known[birth_date]"));
            }
            15 => {
                csv.push_str(&format!("{},,\n", good[0]));
                bad.push((row, "customer[email]"));
            }
            _ => {}
        }
        csv.push_str(&format!("{email},,\n"));
    }
    csv.push_str("extra@example.com,,,surplus\n");
    bad.push((csv.lines().count() - 1, ""));
    let rows = csv.lines().count() - 1;

    // By default one bad row fails the batch: each named, nothing created or sent.
    let r = s.post_csv("", "bad-rows-1", &csv);
    assert_eq!(r.status, 400, "{}", r.body);
    let v = r.json();
    assert_eq!(v["error"]["code"], "batch_invalid", "{v}");
    let named: Vec<u64> = v["error"]["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["row"].as_u64().expect("row"))
        .collect();
    assert_eq!(
        named,
        bad.iter().map(|(r, _)| *r as u64).collect::<Vec<_>>()
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(s.count(), 0, "nothing sent");
    assert!(s.all_sessions("").is_empty(), "nothing created");

    // With skip_invalid_rows: the good rows go out, the bad ones are reported row by row.
    let r = s.post_csv("?skip_invalid_rows=true", "bad-rows-2", &csv);
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    let report = &v["report"];
    assert_eq!(report["rows"], rows, "{report}");
    assert_eq!(report["created"], good.len(), "{report}");
    assert_eq!(report["invalid"], bad.len(), "{report}");
    assert_eq!(v["count"], good.len());
    let errors = report["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), bad.len(), "{report}");
    for (e, (row, param)) in errors.iter().zip(&bad) {
        assert_eq!(e["row"].as_u64(), Some(*row as u64), "{e}");
        assert_eq!(e["param"].as_str().unwrap_or(""), *param, "{e}");
        let message = e["message"].as_str().expect("a message");
        assert!(message.len() > 10, "a sentence for row {row}: {message:?}");
        assert!(e["code"].as_str().is_some_and(|c| !c.is_empty()), "{e}");
    }
    assert!(
        errors[3]["message"]
            .as_str()
            .is_some_and(|m| m.contains("row 1")),
        "the duplicate names the first row: {}",
        errors[3]
    );

    wait_for("the good rows' messages", Duration::from_secs(60), || {
        s.count() >= good.len()
    });
    std::thread::sleep(Duration::from_millis(2500));
    let got = s.received();
    assert_eq!(got.len(), good.len(), "one message per good row, no more");
    let mut rcpts: Vec<String> = got.iter().map(|m| check_message(m, &s.base).0).collect();
    rcpts.sort();
    let mut want = good.clone();
    want.sort();
    assert_eq!(rcpts, want);
    assert_eq!(s.all_sessions("").len(), good.len());
}
