//! The verification portal in a real browser: headless Chromium driven over WebDriver
//! (chromedriver), at phone width, in front of the real `doublecheck serve` process with the
//! portal on, a real SMTP upstream (a sink on a local socket) and a real webhook receiver (a
//! local HTTP socket).
//!
//! The story of issue 4: an API key made with `doublecheck apikey create`, a webhook endpoint
//! registered through the API, a CSV batch of three customers (`address_and_document`). At the
//! sink, each customer got their own message with their own link and only their own address.
//! One customer opens the link from their message on a phone (390×844): the page shows nothing
//! personal; they ask for a code by email, type the code caught at the sink, fill in their
//! address (a missing city is pointed out, then corrected), upload a JPEG made in the test, and
//! reach the confirmation page. A reviewer signs in to the staff pages, finds the session in the
//! verification queue, sees the address and the document, and approves it; the webhook
//! receiver gets `verification_session.verified`, and every delivery's `webhook-signature`
//! checks out against an HMAC-SHA256 computed here, by hand. The blob on disk under the
//! documents directory holds none of the JPEG's bytes.
//!
//! Screenshots of each step go to `target/test-artifacts/browser/portal-*.png`; every page is
//! checked with axe-core (a violation of impact `serious` or `critical` fails the test).
//! Run by `scripts/test-browser` (ignored in a plain `cargo test`).

mod support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::*;

const CUSTOMERS: [(&str, &str); 3] = [
    ("maria.garcia@gmail.com", "María García"),
    ("j.smith1987@yahoo.com", "John Smith"),
    ("li.wei@outlook.com", "Li Wei"),
];
const MAIL_FROM: &str = "verify@phoneco.example";
const REVIEWER: &str = "rev@phoneco.example";
const REVIEWER_PASSWORD: &str = "reviewer password 42";

// ------------------------------------------------------------------ HTTP, by hand

/// A webhook delivery as the receiver got it: lower-case header names, the raw body.
#[derive(Clone, Debug)]
struct Delivery {
    headers: HashMap<String, String>,
    body: String,
}

/// The webhook receiver: answers 204 to every POST and keeps it.
fn receiver() -> (u16, Arc<Mutex<Vec<Delivery>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the receiver");
    let port = listener.local_addr().expect("addr").port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let store = got.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let store = store.clone();
            std::thread::spawn(move || {
                let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
                let mut w = conn.try_clone().expect("clone");
                let mut r = BufReader::new(conn);
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    if line.trim().is_empty() {
                        continue;
                    }
                    let mut headers = HashMap::new();
                    loop {
                        let mut h = String::new();
                        if r.read_line(&mut h).unwrap_or(0) == 0 {
                            return;
                        }
                        let h = h.trim_end();
                        if h.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = h.split_once(':') {
                            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                        }
                    }
                    let n: usize = headers
                        .get("content-length")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    let mut body = vec![0; n];
                    if r.read_exact(&mut body).is_err() {
                        return;
                    }
                    let close = headers
                        .get("connection")
                        .is_some_and(|v| v.eq_ignore_ascii_case("close"));
                    store.lock().expect("lock").push(Delivery {
                        headers,
                        body: String::from_utf8_lossy(&body).into_owned(),
                    });
                    let _ = w.write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n");
                    if close {
                        return;
                    }
                }
            });
        }
    });
    (port, got)
}

// ------------------------------------------------------------------ SHA-256, HMAC, base64

/// SHA-256 (FIPS 180-4), written out so that the signature check owes nothing to the product.
fn sha256(data: &[u8]) -> [u8; 32] {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((data.len() as u64) * 8).to_be_bytes());
    for block in msg.chunks(64) {
        let mut w = [0u32; 64];
        for i in 0..16 {
            w[i] = u32::from_be_bytes(block[4 * i..4 * i + 4].try_into().expect("4 bytes"));
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 32];
    for (i, x) in h.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&x.to_be_bytes());
    }
    out
}

/// HMAC-SHA256 (RFC 2104).
fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&sha256(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    inner.extend_from_slice(msg);
    let mut outer: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    outer.extend_from_slice(&sha256(&inner));
    sha256(&outer)
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn b64_encode(data: &[u8]) -> String {
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn b64_decode(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for ch in s.bytes().filter(|b| !b" \r\n\t=".contains(b)) {
        let v = B64
            .iter()
            .position(|&b| b == ch)
            .unwrap_or_else(|| panic!("not base64: {s:?}")) as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// The Standard Webhooks check: HMAC-SHA256 over `{webhook-id}.{webhook-timestamp}.{body}`
/// keyed with the base64 after `whsec_`, equal to one of the `v1,…` signatures, and a
/// timestamp within five minutes.
fn signed_by(secret: &str, d: &Delivery) -> bool {
    let key = b64_decode(secret.strip_prefix("whsec_").expect("a whsec_ secret"));
    let (Some(id), Some(ts), Some(sigs)) = (
        d.headers.get("webhook-id"),
        d.headers.get("webhook-timestamp"),
        d.headers.get("webhook-signature"),
    ) else {
        return false;
    };
    let expected = format!(
        "v1,{}",
        b64_encode(&hmac_sha256(
            &key,
            format!("{id}.{ts}.{}", d.body).as_bytes()
        ))
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let fresh = ts.parse::<i64>().is_ok_and(|t| (now - t).abs() < 300);
    fresh && sigs.split(' ').any(|s| s == expected)
}

/// The hand-written primitives against published vectors, so that a bad check cannot pass
/// (or fail) every delivery.
fn self_check_hmac() {
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    assert_eq!(
        hex(&sha256(b"abc")),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(
        hex(&sha256(&[b'a'; 1000])),
        "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3"
    );
    // RFC 4231, test cases 2 and 6 (a key longer than the block).
    assert_eq!(
        hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
    assert_eq!(
        hex(&hmac_sha256(
            &[0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First"
        )),
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
    );
    for s in [&b""[..], b"f", b"fo", b"foo", b"foob", b"fooba", b"foobar"] {
        assert_eq!(b64_decode(&b64_encode(s)), s);
    }
    assert_eq!(b64_encode(b"foobar"), "Zm9vYmFy");
    assert_eq!(b64_encode(b"fooba"), "Zm9vYmE=");
}

// ------------------------------------------------------------------ messages at the sink

/// The `/verify/…` path of the one link in the text, checked to point at this server.
fn verify_path(text: &str, base: &str) -> String {
    let links: Vec<&str> = text
        .split_whitespace()
        .filter(|w| w.contains("/verify/"))
        .collect();
    assert_eq!(links.len(), 1, "one link in the message:\n{text}");
    let path = links[0]
        .strip_prefix(base)
        .unwrap_or_else(|| panic!("the link {} is not under {base}", links[0]));
    let token = path.strip_prefix("/verify/").expect("a /verify/ link");
    assert!(
        token.len() >= 43
            && token
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'),
        "a 256-bit token in the link: {token}"
    );
    path.to_string()
}

fn six_digits(s: &str) -> Option<String> {
    let b = s.as_bytes();
    (0..b.len().saturating_sub(5)).find_map(|i| {
        let w = &b[i..i + 6];
        let edge_ok = (i == 0 || !b[i - 1].is_ascii_digit())
            && b.get(i + 6).is_none_or(|c| !c.is_ascii_digit());
        (edge_ok && w.iter().all(u8::is_ascii_digit))
            .then(|| String::from_utf8_lossy(w).into_owned())
    })
}

/// A photo of a document, as a phone would take it: a gradient with some texture, as JPEG.
fn jpeg() -> Vec<u8> {
    let img = image::RgbImage::from_fn(640, 400, |x, y| {
        image::Rgb([
            (x % 256) as u8,
            (y % 256) as u8,
            ((x * 7 + y * 13) % 256) as u8,
        ])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(&img)
        .expect("encode the JPEG");
    out
}

fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

// ------------------------------------------------------------------ the story

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium: run scripts/test-browser"]
async fn customer_verifies_on_a_phone_and_the_webhook_fires() {
    let started = Instant::now();
    self_check_hmac();
    let tools = tools();

    // The gate with the portal: SMTP relay to the sink, the API and the customer's pages on
    // the HTTP listener, documents under `documents` in the data directory.
    let dir =
        std::env::temp_dir().join(format!("doublecheck-browser-portal-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let (upstream, got) = sink();
    let (hook_port, hooks) = receiver();
    let (smtp, http_port) = (free_port(), free_port());
    let base = format!("http://127.0.0.1:{http_port}");
    let documents = dir.join("data/documents");
    std::fs::write(
        dir.join("doublecheck.toml"),
        format!(
            "data_dir = {data:?}\n\
             [http]\nlisten = \"127.0.0.1:{http_port}\"\n\
             [smtp]\nlisten = \"127.0.0.1:{smtp}\"\nupstream = \"127.0.0.1:{upstream}\"\n\
             [milter]\nenabled = false\n\
             [portal]\nenabled = true\npublic_url = {base:?}\nmail_from = {MAIL_FROM:?}\n\
             worker_interval_ms = 100\nwebhook_retry_secs = [1, 1, 1]\n\
             documents_dir = {documents:?}\n",
            data = dir.join("data").display().to_string(),
            documents = documents.display().to_string(),
        ),
    )
    .expect("config");
    let config = dir.join("doublecheck.toml");
    let config = config.to_str().expect("utf-8 path");
    // A master key for the documents (64 hex digits), from the environment as in production.
    let master_key: String = (0..32)
        .map(|i| format!("{:02x}", (i * 37 + std::process::id() as usize) % 256))
        .collect();

    // An API key, made by the CLI: printed once on stdout.
    let out = bin()
        .args([
            "apikey",
            "create",
            "--name",
            "browser test",
            "--config",
            config,
        ])
        .current_dir(&dir)
        .output()
        .expect("doublecheck apikey create");
    assert!(
        out.status.success(),
        "apikey create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let api_key = String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_string();
    assert!(api_key.starts_with("dk_test_"), "a test key: {api_key}");
    let bearer = format!("Bearer {api_key}");

    run_with_stdin(
        &dir,
        &[
            "user", "add", REVIEWER, "--role", "reviewer", "--config", config,
        ],
        &format!("{REVIEWER_PASSWORD}\n"),
    );
    let mut server = Proc(
        bin()
            .args(["serve", "--config", config])
            .current_dir(&dir)
            .env("DOUBLECHECK_MASTER_KEY", &master_key)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start doublecheck serve"),
    );
    wait_listening(http_port, "doublecheck serve (HTTP)", &mut server.0);

    // Without the key, the API answers 401; with it, a webhook endpoint is registered and its
    // secret shown once.
    let r = http(http_port, "GET", "/v1/verification_sessions", &[], "");
    assert_eq!(r.status, 401, "no key: {}", r.body);
    let r = http(
        http_port,
        "POST",
        "/v1/webhook_endpoints",
        &[
            ("Authorization", &bearer),
            ("Content-Type", "application/json"),
        ],
        &serde_json::json!({
            "url": format!("http://127.0.0.1:{hook_port}/hooks/doublecheck"),
            "enabled_events": ["*"],
        })
        .to_string(),
    );
    assert_eq!(r.status, 200, "webhook endpoint: {}", r.body);
    let secret = r.json()["secret"]
        .as_str()
        .expect("the endpoint's secret")
        .to_string();
    assert!(secret.starts_with("whsec_"), "{secret}");

    // A batch of three customers from CSV: one session and one message each.
    let mut csv = String::from("email,name\r\n");
    for (email, name) in CUSTOMERS {
        csv.push_str(&format!("{email},{name}\r\n"));
    }
    let r = http(
        http_port,
        "POST",
        "/v1/verification_batches?type=address_and_document",
        &[
            ("Authorization", &bearer),
            ("Content-Type", "text/csv"),
            ("Idempotency-Key", "browser-portal-batch-1"),
        ],
        &csv,
    );
    assert_eq!(r.status, 200, "batch: {}", r.body);
    let batch = r.json();
    assert_eq!(batch["count"], 3, "{batch}");
    let batch_id = batch["id"].as_str().expect("batch id").to_string();
    let r = http(
        http_port,
        "GET",
        &format!("/v1/verification_sessions?batch={batch_id}&limit=10"),
        &[("Authorization", &bearer)],
        "",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let listed = r.json();
    let sessions = listed["data"].as_array().expect("sessions");
    assert_eq!(sessions.len(), 3, "{listed}");
    let session_of = |email: &str| -> String {
        sessions
            .iter()
            .find(|s| s["customer"]["email"] == email)
            .unwrap_or_else(|| panic!("a session for {email}: {listed}"))["id"]
            .as_str()
            .expect("id")
            .to_string()
    };
    for s in sessions {
        assert_eq!(s["status"], "requires_input", "{s}");
        assert_eq!(s["type"], "address_and_document", "{s}");
    }

    // At the sink: one message per customer, each to them alone, each with a different link.
    wait_until("three messages at the sink", || {
        let n = got.lock().expect("lock").len();
        async move { n >= CUSTOMERS.len() }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let messages = got.lock().expect("lock").clone();
    assert_eq!(messages.len(), 3, "exactly one message per customer");
    let mut links: HashMap<String, String> = HashMap::new();
    for m in &messages {
        assert_eq!(m.rcpts.len(), 1, "one envelope recipient: {:?}", m.rcpts);
        let rcpt = m.rcpts[0].clone();
        let to = m.header("To").expect("a To field").to_ascii_lowercase();
        assert!(to.contains(&rcpt), "To: {to} for {rcpt}");
        assert!(m.header("Cc").is_none() && m.header("Bcc").is_none());
        for (other, other_name) in CUSTOMERS.iter().filter(|(e, _)| *e != rcpt) {
            assert!(
                !m.data.to_ascii_lowercase().contains(other),
                "the message to {rcpt} mentions {other}"
            );
            assert!(
                !text_body(m).contains(other_name),
                "the message to {rcpt} names {other_name}"
            );
        }
        let path = verify_path(&text_body(m), &base);
        assert!(
            links.insert(rcpt.clone(), path).is_none(),
            "two messages to {rcpt}"
        );
    }
    let mut distinct: Vec<&String> = links.values().collect();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 3, "three different links: {links:?}");
    let (email, name) = CUSTOMERS[0];
    let link = links
        .get(email)
        .unwrap_or_else(|| panic!("no message to {email}: {links:?}"))
        .clone();
    let id = session_of(email);

    // The customer, on a phone.
    let (driver, mut b) = launch(tools, &dir, base.clone(), PHONE).await;
    b.viewport(PHONE).await;
    println!(
        "browser ready after {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // The link alone: a page that says nothing personal, and a button to get a code.
    b.goto(&link).await;
    assert_eq!(b.path().await, link);
    let source = b.c.source().await.expect("page source");
    for personal in [email, "maria.garcia", name, "García", &id] {
        assert!(
            !source.contains(personal),
            "the link alone shows {personal:?}"
        );
    }
    assert!(
        b.has("form[action$='/send'] button[value=email]").await,
        "a button to get a code by email:\n{}",
        b.main_text().await
    );
    b.shot("portal-1-link", "phone", PHONE).await;
    b.axe("portal: the link").await;
    b.axe_self_check().await;

    // A code by email, caught at the sink: to this customer alone.
    b.click_to_page("form[action$='/send'] button[value=email]")
        .await;
    let sent = messages.len();
    wait_until("the code at the sink", || {
        let n = got.lock().expect("lock").len();
        async move { n > sent }
    })
    .await;
    let code_mail = got
        .lock()
        .expect("lock")
        .last()
        .cloned()
        .expect("a message");
    assert_eq!(
        code_mail.rcpts,
        vec![email.to_string()],
        "the code's recipient"
    );
    let code = six_digits(&text_body(&code_mail)).expect("a 6-digit code in the message");
    assert!(
        b.has("input#code").await,
        "the code page:\n{}",
        b.main_text().await
    );
    b.shot("portal-2-code", "phone", PHONE).await;
    b.axe("portal: the code").await;
    b.fill("#code", &code).await;
    b.click_to_page("form[action$='/code'] button[type=submit]")
        .await;
    assert_eq!(
        b.path().await,
        format!("{link}/address"),
        "after the code; the page says:\n{}",
        b.main_text().await
    );

    // The address: a missing city is named next to its field, then corrected.
    b.shot("portal-3-address", "phone", PHONE).await;
    b.axe("portal: the address").await;
    b.fill("#line1", "Calle Mayor 5").await;
    b.fill("#line2", "3º B").await;
    b.fill("#city", "").await;
    b.fill("#postal_code", "28013").await;
    b.fill("#country", "Spain").await;
    b.click_to_page("form[action$='/address'] button[type=submit]")
        .await;
    assert_eq!(b.path().await, format!("{link}/address"));
    let err = b.text_of("#city-error").await;
    assert!(!err.trim().is_empty(), "an error next to the city");
    assert_eq!(
        b.c.find(fantoccini::Locator::Css("#city"))
            .await
            .expect("city")
            .attr("aria-invalid")
            .await
            .expect("attr")
            .as_deref(),
        Some("true")
    );
    assert_eq!(
        b.c.find(fantoccini::Locator::Css("#line1"))
            .await
            .expect("line1")
            .prop("value")
            .await
            .expect("value")
            .as_deref(),
        Some("Calle Mayor 5"),
        "what was typed is kept"
    );
    b.shot("portal-4-address-error", "phone", PHONE).await;
    b.axe("portal: the address with an error").await;
    b.fill("#city", "Madrid").await;
    b.click_to_page("form[action$='/address'] button[type=submit]")
        .await;
    assert_eq!(
        b.path().await,
        format!("{link}/document"),
        "after the address; the page says:\n{}",
        b.main_text().await
    );

    // The document: a JPEG made here, chosen in the file field and sent.
    b.shot("portal-5-document", "phone", PHONE).await;
    b.axe("portal: the document").await;
    let photo = jpeg();
    let photo_path = dir.join("passport.jpg");
    std::fs::write(&photo_path, &photo).expect("write the photo");
    b.c.find(fantoccini::Locator::Css("#document"))
        .await
        .expect("the file field")
        .send_keys(photo_path.to_str().expect("utf-8 path"))
        .await
        .expect("choose the file");
    b.click_to_page("form[action$='/document'] button[type=submit]")
        .await;
    assert_eq!(
        b.path().await,
        format!("{link}/done"),
        "after the upload; the page says:\n{}",
        b.main_text().await
    );
    let text = b.main_text().await;
    assert!(
        b.has("main [role=status]").await && !text.contains("passport"),
        "the confirmation, with nothing of the upload:\n{text}"
    );
    b.shot("portal-6-done", "phone", PHONE).await;
    b.axe("portal: the confirmation").await;

    // The link is used up: opening it again says so and shows nothing personal.
    b.goto(&link).await;
    let source = b.c.source().await.expect("page source");
    assert!(!source.contains(email) && !source.contains("Calle Mayor"));
    assert!(
        !b.has("input#code").await,
        "no second factor on a used link"
    );
    b.shot("portal-7-used-link", "phone", PHONE).await;
    b.axe("portal: the used link").await;

    // The session waits for review, with the corrected address.
    let session = |id: &str| {
        let r = http(
            http_port,
            "GET",
            &format!("/v1/verification_sessions/{id}"),
            &[("Authorization", &bearer)],
            "",
        );
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()
    };
    let s = session(&id);
    assert_eq!(s["status"], "requires_review", "{s}");
    assert_eq!(s["address"]["city"], "Madrid", "{s}");
    assert_eq!(s["address"]["line1"], "Calle Mayor 5", "{s}");
    for (other, _) in &CUSTOMERS[1..] {
        assert_eq!(
            session(&session_of(other))["status"],
            "requires_input",
            "the others' sessions did not move"
        );
    }

    // A reviewer approves it on the staff page: the queue lists it (and not the sessions still
    // waiting for their customers), the page shows the corrected address and the document.
    b.viewport(DESKTOP).await;
    b.goto("/verifications").await;
    let p = b.path().await;
    assert!(p.starts_with("/login"), "signed out, /verifications → {p}");
    b.sign_in(REVIEWER, REVIEWER_PASSWORD).await;
    b.goto("/verifications").await;
    assert_eq!(b.path().await, "/verifications");
    let row = format!("a[href='/verifications/{id}']");
    assert!(
        b.has(&row).await,
        "the queue lists the session waiting for review:\n{}",
        b.main_text().await
    );
    for (other, _) in &CUSTOMERS[1..] {
        let other = session_of(other);
        assert!(
            !b.has(&format!("a[href='/verifications/{other}']")).await,
            "the queue lists {other}, which waits for its customer"
        );
    }
    b.shot("portal-8-review-queue", "desktop", DESKTOP).await;
    b.axe("staff: verification queue").await;
    b.click_to_page(&row).await;
    assert_eq!(b.path().await, format!("/verifications/{id}"));
    let text = b.main_text().await;
    for shown in [name, email, "Calle Mayor 5", "Madrid", "28013"] {
        assert!(
            text.contains(shown),
            "the session page shows {shown}:\n{text}"
        );
    }
    // The document, decrypted on the fly for the page: the image loads and has pixels.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let width =
            b.c.execute(
                "const i = document.querySelector('img.vs-img'); \
                 return i && i.complete ? i.naturalWidth : 0;",
                vec![],
            )
            .await
            .expect("the document image");
        if width.as_i64().unwrap_or(0) > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the document image does not load on the session page"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    b.shot("portal-9-review-session", "desktop", DESKTOP).await;
    b.c.execute(
        "document.querySelector('img.vs-img').scrollIntoView();",
        vec![],
    )
    .await
    .expect("scroll");
    b.shot("portal-9-review-document", "desktop", DESKTOP).await;
    b.axe("staff: verification session").await;
    b.fill("#a-reason", "Address and passport match.").await;
    b.click_to_page(&format!(
        "form[action='/verifications/{id}/approve'] button[type=submit]"
    ))
    .await;
    assert_eq!(
        b.path().await,
        format!("/verifications/{id}?done=verified"),
        "after approving; the page says:\n{}",
        b.main_text().await
    );
    let flash = b.text_of(".flash[role=status]").await;
    assert!(flash.contains("verified"), "{flash}");
    assert!(
        !b.has(&format!("form[action='/verifications/{id}/approve']"))
            .await,
        "no decision forms once decided"
    );
    b.shot("portal-10-review-approved", "desktop", DESKTOP)
        .await;
    b.shot("portal-10-review-approved", "phone", PHONE).await;
    b.axe("staff: verification approved").await;
    let s = session(&id);
    assert_eq!(s["status"], "verified", "{s}");
    assert_eq!(s["review"]["decided_by"], REVIEWER, "{s}");

    // The webhook receiver gets verification_session.verified for this session, signed.
    let verified = |d: &Delivery| {
        serde_json::from_str::<serde_json::Value>(&d.body).is_ok_and(|v| {
            v["type"] == "verification_session.verified" && v["data"]["object"]["id"] == id
        })
    };
    wait_until("verification_session.verified at the receiver", || {
        let found = hooks.lock().expect("lock").iter().any(&verified);
        async move { found }
    })
    .await;
    let deliveries = hooks.lock().expect("lock").clone();
    let event = deliveries.iter().find(|d| verified(d)).expect("the event");
    assert!(
        signed_by(&secret, event),
        "the signature of verification_session.verified: {:?}",
        event.headers
    );
    let v: serde_json::Value = serde_json::from_str(&event.body).expect("JSON");
    assert_eq!(v["data"]["object"]["status"], "verified", "{v}");
    assert_eq!(
        event.headers.get("webhook-id").map(String::as_str),
        v["id"].as_str(),
        "webhook-id is the event's id"
    );
    let mut altered = event.clone();
    altered.body = altered.body.replace("verified", "rejected");
    assert!(
        !signed_by(&secret, &altered),
        "an altered body does not verify"
    );
    assert!(
        !signed_by("whsec_d3Jvbmcgc2VjcmV0", event),
        "another secret does not verify"
    );
    let kinds: Vec<String> = deliveries
        .iter()
        .map(|d| {
            assert!(
                signed_by(&secret, d),
                "every delivery is signed: {}",
                d.body
            );
            serde_json::from_str::<serde_json::Value>(&d.body).expect("JSON")["type"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    for k in [
        "verification_session.processing",
        "verification_session.requires_review",
    ] {
        assert!(kinds.iter().any(|x| x == k), "{k} delivered: {kinds:?}");
    }

    // At rest: one blob under the documents directory, none of the JPEG's bytes in it.
    let blobs = files_under(&documents);
    assert_eq!(blobs.len(), 1, "one stored document: {blobs:?}");
    let blob = std::fs::read(&blobs[0]).expect("read the blob");
    assert!(blob.len() > 1000, "a blob of {} bytes", blob.len());
    for start in (0..photo.len().saturating_sub(32)).step_by(509) {
        assert!(
            !contains(&blob, &photo[start..start + 32]),
            "the upload's bytes at {start} are on disk"
        );
    }

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
        "portal browser test done in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
