//! The customer's pages through `oneshot`: a real store (every story on SQLite, and again on
//! PostgreSQL when `DOUBLECHECK_TEST_POSTGRES_URL` is set: `NAME::sqlite`, `NAME::postgres`),
//! a real vault over a temporary directory, codes sent by email to a small SMTP sink (or by SMS
//! to a local HTTP hook), and uploads generated here (a JPEG, a zip bomb, a polyglot…).

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode, header};
use doublecheck_engine::Policy;
use doublecheck_gate::{AppState, Config};
use doublecheck_portal::customer::{
    CustomerOptions, CustomerState, SmsHookSender, customer_routes,
};
use doublecheck_portal::{PortalState, ServerKey, secrets, validate};
use doublecheck_store::{
    Customer, EventQuery, NewVerificationSession, Store, Transition, VerificationStatus,
    VerificationType,
};
use http_body_util::BodyExt;
use serde_json::json;
use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tower::ServiceExt;

#[macro_use]
mod support;
use support::Db;

const EMAIL: &str = "maria.garcia@example.net";
const NAME: &str = "María García";
const PHONE: &str = "+34600111222";
const DAY_MS: i64 = 86_400_000;

// ------------------------------------------------------------------ the SMTP sink

#[derive(Clone, Debug)]
struct Received {
    rcpts: Vec<String>,
    data: String,
}

#[derive(Clone)]
struct Sink {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Sink {
    async fn start() -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = got.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let g = g.clone();
                tokio::spawn(async move {
                    let (r, mut w) = sock.into_split();
                    let mut r = BufReader::new(r);
                    let _ = w.write_all(b"220 sink ESMTP\r\n").await;
                    let mut rcpts = Vec::new();
                    loop {
                        let mut line = String::new();
                        if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let upper = line.to_ascii_uppercase();
                        let reply: &[u8] = if upper.starts_with("EHLO") {
                            b"250-sink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
                        } else if upper.starts_with("RCPT TO:") {
                            let a = line
                                .split_once('<')
                                .and_then(|(_, a)| a.split_once('>'))
                                .map(|(a, _)| a.to_string())
                                .unwrap_or_default();
                            rcpts.push(a);
                            b"250 ok\r\n"
                        } else if upper.starts_with("DATA") {
                            let _ = w.write_all(b"354 go\r\n").await;
                            let mut data = Vec::new();
                            loop {
                                let mut l = Vec::new();
                                if r.read_until(b'\n', &mut l).await.unwrap_or(0) == 0 {
                                    return;
                                }
                                if l == b".\r\n" {
                                    break;
                                }
                                data.extend_from_slice(l.strip_prefix(b".").unwrap_or(&l));
                            }
                            g.lock().unwrap().push(Received {
                                rcpts: std::mem::take(&mut rcpts),
                                data: String::from_utf8_lossy(&data).into_owned(),
                            });
                            b"250 queued\r\n"
                        } else if upper.starts_with("QUIT") {
                            let _ = w.write_all(b"221 bye\r\n").await;
                            return;
                        } else {
                            b"250 ok\r\n"
                        };
                        let _ = w.write_all(reply).await;
                    }
                });
            }
        });
        Sink { addr, got }
    }

    fn count(&self) -> usize {
        self.got.lock().unwrap().len()
    }

    /// The 6-digit code of the last message, which went to `rcpt` alone.
    fn last_code(&self, rcpt: &str) -> String {
        let got = self.got.lock().unwrap();
        let m = got.last().expect("a message at the sink");
        assert_eq!(m.rcpts, vec![rcpt.to_string()], "one recipient only");
        six_digits(&m.data).expect("a code in the message")
    }
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

// ------------------------------------------------------------------ the environment

struct Env {
    dir: tempfile::TempDir,
    state: CustomerState,
    app: Router,
    sink: Sink,
}

async fn env_on(db: Db, tweak: impl FnOnce(&mut CustomerOptions)) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start().await;
    let mut config = Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    config.smtp.upstream = Some(sink.addr.to_string());
    config.portal.mail_from = "verify@bank.example".into();
    db.configure(&mut config).await;
    let store = Store::open(&config.database_url()).await.unwrap();
    let app = AppState::new(config, Policy::builtin(), store);
    let portal = PortalState::new(app, ServerKey::from_bytes([7; 32]));
    let master = doublecheck_vault::generate_master_key().unwrap();
    let vault = doublecheck_vault::VaultConfig {
        store: doublecheck_vault::StoreConfig::Local {
            path: dir.path().join("documents").to_string_lossy().into_owned(),
        },
        master_key: Some(master.to_string()),
        ..Default::default()
    }
    .build()
    .unwrap();
    let mut options = CustomerOptions::default();
    tweak(&mut options);
    let state = CustomerState::new(portal, Some(Arc::new(vault)), options);
    Env {
        app: customer_routes(state.clone()),
        dir,
        state,
        sink,
    }
}

async fn env(db: Db) -> Env {
    env_on(db, |_| {}).await
}

/// A response, its body as text.
struct Resp {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Resp {
    fn location(&self) -> String {
        self.headers
            .get(header::LOCATION)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    }

    /// The value of the first hidden field `name`.
    fn hidden(&self, name: &str) -> String {
        let needle = format!("name=\"{name}\" value=\"");
        let i = self
            .body
            .find(&needle)
            .unwrap_or_else(|| panic!("no {name} in {}", self.body));
        let rest = &self.body[i + needle.len()..];
        rest[..rest.find('"').unwrap()].to_string()
    }

    /// Asserts the page shows nothing of the customer.
    fn nothing_personal(&self) {
        for s in [EMAIL, NAME, "maria", PHONE, "600111222", "Calle"] {
            assert!(!self.body.contains(s), "{s:?} shown: {}", self.body);
        }
    }
}

/// A browser: cookies, an address, a language.
#[derive(Clone)]
struct Browser {
    cookies: HashMap<String, String>,
    ip: SocketAddr,
    lang: Option<&'static str>,
}

impl Browser {
    fn new(ip: &str) -> Browser {
        Browser {
            cookies: HashMap::new(),
            ip: format!("{ip}:50000").parse().unwrap(),
            lang: None,
        }
    }

    async fn request(
        &mut self,
        app: &Router,
        method: &str,
        path: &str,
        ctype: Option<String>,
        body: Vec<u8>,
    ) -> Resp {
        let mut b = Request::builder().method(method).uri(path);
        if !self.cookies.is_empty() {
            let c: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            b = b.header(header::COOKIE, c.join("; "));
        }
        if let Some(l) = self.lang {
            b = b.header(header::ACCEPT_LANGUAGE, l);
        }
        if let Some(t) = ctype {
            b = b.header(header::CONTENT_TYPE, t);
        }
        let mut req = b.body(Body::from(body)).unwrap();
        req.extensions_mut().insert(ConnectInfo(self.ip));
        let res = app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        for v in headers.get_all(header::SET_COOKIE) {
            let v = v.to_str().unwrap();
            let (pair, _) = v.split_once(';').unwrap_or((v, ""));
            let (k, val) = pair.split_once('=').unwrap();
            self.cookies.insert(k.to_string(), val.to_string());
        }
        let body = String::from_utf8_lossy(&res.into_body().collect().await.unwrap().to_bytes())
            .into_owned();
        Resp {
            status,
            headers,
            body,
        }
    }

    async fn get(&mut self, app: &Router, path: &str) -> Resp {
        self.request(app, "GET", path, None, Vec::new()).await
    }

    async fn post(&mut self, app: &Router, path: &str, form: &[(&str, &str)]) -> Resp {
        let body: Vec<String> = form
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect();
        self.request(
            app,
            "POST",
            path,
            Some("application/x-www-form-urlencoded".into()),
            body.join("&").into_bytes(),
        )
        .await
    }

    async fn upload(
        &mut self,
        app: &Router,
        path: &str,
        csrf: Option<&str>,
        filename: &str,
        bytes: &[u8],
    ) -> Resp {
        let boundary = "----doublecheck-test-boundary-7d2f";
        let mut body = Vec::new();
        if let Some(c) = csrf {
            write!(
                body,
                "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{c}\r\n"
            )
            .unwrap();
        }
        write!(
            body,
            "--{boundary}\r\nContent-Disposition: form-data; name=\"document\"; filename=\"{filename}\"\r\nContent-Type: image/jpeg\r\n\r\n"
        )
        .unwrap();
        body.extend_from_slice(bytes);
        write!(body, "\r\n--{boundary}--\r\n").unwrap();
        self.request(
            app,
            "POST",
            path,
            Some(format!("multipart/form-data; boundary={boundary}")),
            body,
        )
        .await
    }
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Env {
    fn store(&self) -> &Store {
        &self.state.portal.app.store
    }

    /// A session waiting for input and the path of a fresh link to it.
    async fn session(
        &self,
        kind: VerificationType,
        known: Option<serde_json::Value>,
        phone: bool,
    ) -> (String, String) {
        let known_json = validate::known(known.as_ref(), &self.state.portal.key).unwrap();
        let s = self
            .store()
            .vs_create(
                NewVerificationSession {
                    livemode: false,
                    kind,
                    customer: Customer {
                        email: Some(EMAIL.into()),
                        phone: phone.then(|| PHONE.to_string()),
                        name: Some(NAME.into()),
                        reference: Some("cust-42".into()),
                    },
                    known_json,
                    return_url: Some("https://bank.example/after".into()),
                    metadata_json: "{}".into(),
                    api_key_id: None,
                    expires_at_ms: now_ms() + 7 * DAY_MS,
                },
                "test",
            )
            .await
            .unwrap();
        let path = self.link(&s.id, 3 * DAY_MS).await;
        (s.id, path)
    }

    async fn link(&self, session_id: &str, ttl_ms: i64) -> String {
        let (token, hash) = secrets::new_link_token().unwrap();
        self.store()
            .link_create(session_id, &hash, ttl_ms)
            .await
            .unwrap();
        format!("/verify/{token}")
    }

    async fn status(&self, id: &str) -> VerificationStatus {
        self.store().vs_get(id).await.unwrap().unwrap().status
    }

    /// Opens the link, asks for a code by email and enters it: signed in.
    async fn sign_in(&self, b: &mut Browser, link: &str) -> Resp {
        let page = b.get(&self.app, link).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let csrf = page.hidden("csrf");
        let sent = b
            .post(
                &self.app,
                &format!("{link}/send"),
                &[("csrf", &csrf), ("channel", "email")],
            )
            .await;
        assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
        let code = self.sink.last_code(EMAIL);
        let form = b.get(&self.app, &sent.location()).await;
        let csrf = form.hidden("csrf");
        let r = b
            .post(
                &self.app,
                &format!("{link}/code"),
                &[("csrf", &csrf), ("code", &code)],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        r
    }

    fn blobs(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut stack = vec![self.dir.path().join("documents")];
        while let Some(d) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push(std::fs::read(p).unwrap());
                }
            }
        }
        out
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A real photo: a gradient with some noise, as JPEG.
fn jpeg() -> Vec<u8> {
    let img = image::RgbImage::from_fn(320, 200, |x, y| {
        image::Rgb([
            (x % 256) as u8,
            (y % 256) as u8,
            ((x * 7 + y * 13) % 256) as u8,
        ])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85)
        .encode_image(&img)
        .unwrap();
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

// ------------------------------------------------------------------ the stories

on_both_databases!(
    customer_verifies_address_and_document,
    guessed_tokens_are_throttled_and_reveal_nothing,
    used_expired_replaced_and_canceled_links_show_nothing_personal,
    code_brute_force_locks_after_five,
    resends_are_limited,
    knowledge_check_signs_in_and_counts_attempts,
    codes_by_sms_through_the_http_hook,
    bad_uploads_are_refused_with_a_clear_message,
    one_customers_cookie_does_not_open_another_session,
    forms_without_the_csrf_token_are_refused,
    spanish_pages_from_accept_language_and_the_switch,
);

// ------------------------------------------------------------------ the main story

async fn customer_verifies_address_and_document(db: Db) {
    let e = env_on(db, |_| {}).await;
    let (id, link) = e
        .session(VerificationType::AddressAndDocument, None, false)
        .await;
    let mut b = Browser::new("192.0.2.10");

    // The link alone: nothing personal, a CSRF token, the security headers.
    let page = b.get(&e.app, &link).await;
    assert_eq!(page.status, StatusCode::OK);
    page.nothing_personal();
    assert!(page.body.contains("Confirm it is you"));
    let h = &page.headers;
    assert_eq!(
        h[header::CONTENT_SECURITY_POLICY],
        "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    );
    assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(h[header::CACHE_CONTROL], "no-store");
    assert_eq!(h[header::REFERRER_POLICY], "no-referrer");

    // A code by email: one message, to the customer alone.
    let signed = e.sign_in(&mut b, &link).await;
    assert_eq!(e.sink.count(), 1);
    assert_eq!(signed.location(), format!("{link}/address"));
    let set: Vec<&str> = signed
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    let vs = set
        .iter()
        .find(|c| c.starts_with("dc_vs="))
        .expect("session cookie");
    assert!(
        vs.contains("HttpOnly") && vs.contains("SameSite=Strict") && vs.contains("Path=/verify"),
        "{vs}"
    );

    // The address: a missing city is named next to its field.
    let form = b.get(&e.app, &format!("{link}/address")).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("Step 1 / 2"));
    let csrf = form.hidden("csrf");
    let bad = b
        .post(
            &e.app,
            &format!("{link}/address"),
            &[
                ("csrf", &csrf),
                ("line1", "Calle Mayor 5"),
                ("city", ""),
                ("postal_code", "28013"),
                ("country", "Spain"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("id=\"city-error\""), "{}", bad.body);
    assert!(bad.body.contains("aria-invalid=\"true\""));
    assert!(
        bad.body.contains("value=\"Calle Mayor 5\""),
        "typed values kept"
    );
    let ok = b
        .post(
            &e.app,
            &format!("{link}/address"),
            &[
                ("csrf", &csrf),
                ("line1", "Calle Mayor 5"),
                ("line2", "3º B"),
                ("city", "Madrid"),
                ("postal_code", "28013"),
                ("country", "Spain"),
            ],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    assert_eq!(ok.location(), format!("{link}/document"));
    let s = e.store().vs_get(&id).await.unwrap().unwrap();
    let addr: serde_json::Value = serde_json::from_str(s.address_json.as_deref().unwrap()).unwrap();
    assert_eq!(addr["city"], "Madrid");
    assert_eq!(addr["line2"], "3º B");

    // The document: a JPEG, sealed; nothing served back.
    let form = b.get(&e.app, &format!("{link}/document")).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("enctype=\"multipart/form-data\""));
    let csrf = form.hidden("csrf");
    let photo = jpeg();
    let up = b
        .upload(
            &e.app,
            &format!("{link}/document"),
            Some(&csrf),
            "passport.jpg",
            &photo,
        )
        .await;
    assert_eq!(up.status, StatusCode::SEE_OTHER, "{}", up.body);
    assert_eq!(up.location(), format!("{link}/done"));
    let done = b.get(&e.app, &up.location()).await;
    assert_eq!(done.status, StatusCode::OK);
    assert!(done.body.contains("we have your details"));
    assert!(done.body.contains("href=\"https://bank.example/after\""));
    assert!(
        !done.body.contains("passport"),
        "nothing of the upload shown"
    );

    // requires_input → processing → requires_review, each an event; the link is used up.
    assert_eq!(e.status(&id).await, VerificationStatus::RequiresReview);
    let events = e
        .store()
        .event_list(EventQuery {
            session_id: Some(id.clone()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let kinds: Vec<&str> = events.data.iter().map(|ev| ev.kind.as_str()).collect();
    assert!(
        kinds.contains(&"verification_session.processing"),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&"verification_session.requires_review"),
        "{kinds:?}"
    );
    let again = b.get(&e.app, &link).await;
    assert_eq!(again.status, StatusCode::GONE);
    assert!(again.body.contains("already been used"));
    again.nothing_personal();
    let form = b.get(&e.app, &format!("{link}/document")).await;
    assert_eq!(
        form.status,
        StatusCode::SEE_OTHER,
        "no upload after submitting"
    );

    // Stored encrypted: the blob holds neither the upload nor the re-encoded image.
    let docs = e.store().doc_list(&id).await.unwrap();
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].content_type, "image/jpeg");
    assert_eq!(docs[0].filename.as_deref(), Some("passport.jpg"));
    let sealed: doublecheck_vault::SealedDocument =
        serde_json::from_str(docs[0].sealed_json.as_deref().unwrap()).unwrap();
    let plain = e.state.vault.as_ref().unwrap().get(&sealed).await.unwrap();
    assert!(plain.starts_with(&[0xFF, 0xD8, 0xFF]), "a JPEG inside");
    assert_ne!(&plain[..], &photo[..], "re-encoded");
    let blobs = e.blobs();
    assert_eq!(blobs.len(), 1);
    for original in [&photo[..], &plain[..]] {
        for start in (0..original.len().saturating_sub(32)).step_by(997) {
            assert!(
                !contains(&blobs[0], &original[start..start + 32]),
                "plaintext at {start} on disk"
            );
        }
    }
}

// ------------------------------------------------------------------ the link

async fn guessed_tokens_are_throttled_and_reveal_nothing(db: Db) {
    let e = env(db).await;
    let (_, link) = e.session(VerificationType::Document, None, false).await;
    let mut attacker = Browser::new("198.51.100.7");
    let mut pages = Vec::new();
    for i in 0..10 {
        let guess = if i == 3 {
            "/verify/short".to_string()
        } else {
            let (t, _) = secrets::new_link_token().unwrap();
            format!("/verify/{t}")
        };
        let r = attacker.get(&e.app, &guess).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "guess {i}");
        r.nothing_personal();
        assert!(r.body.contains("This link does not work"));
        assert!(!r.body.contains("<form"), "nothing to do from a wrong link");
        pages.push(r.body);
    }
    assert!(
        pages.windows(2).all(|w| w[0] == w[1]),
        "every wrong link gets the same page"
    );
    let (t, _) = secrets::new_link_token().unwrap();
    let r = attacker.get(&e.app, &format!("/verify/{t}")).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers.contains_key(header::RETRY_AFTER));
    // Over the limit, even a real link answers 429 to that address (no oracle)…
    let r = attacker.get(&e.app, &link).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    r.nothing_personal();
    let r = attacker
        .post(&e.app, &format!("{link}/send"), &[("channel", "email")])
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    // …while the customer, elsewhere, is not affected.
    let mut customer = Browser::new("203.0.113.5");
    assert_eq!(customer.get(&e.app, &link).await.status, StatusCode::OK);
    assert_eq!(e.sink.count(), 0);
}

async fn used_expired_replaced_and_canceled_links_show_nothing_personal(db: Db) {
    let e = env(db).await;
    let mut b = Browser::new("192.0.2.20");

    // Expired: says so, offers a new link; asking sends one to the address on file.
    let (expired_id, _) = e.session(VerificationType::Address, None, false).await;
    let expired = e.link(&expired_id, 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let r = b.get(&e.app, &expired).await;
    assert_eq!(r.status, StatusCode::GONE);
    assert!(r.body.contains("This link has expired"), "{}", r.body);
    r.nothing_personal();
    let csrf = r.hidden("csrf");
    let code = b
        .post(
            &e.app,
            &format!("{expired}/send"),
            &[("csrf", &csrf), ("channel", "email")],
        )
        .await;
    assert_eq!(
        code.status,
        StatusCode::SEE_OTHER,
        "no code for an expired link"
    );
    assert_eq!(code.location(), expired);
    assert_eq!(e.sink.count(), 0);
    let renewed = b
        .post(&e.app, &format!("{expired}/renew"), &[("csrf", &csrf)])
        .await;
    assert_eq!(renewed.status, StatusCode::OK);
    renewed.nothing_personal();
    let queued = e
        .store()
        .outbox_list(None, Some(&expired_id))
        .await
        .unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].recipient.as_deref(), Some(EMAIL));
    // The message worker sends it, with a fresh link; the old one is replaced.
    doublecheck_portal::outbox::tick(&e.state.portal)
        .await
        .unwrap();
    assert_eq!(e.sink.count(), 1);
    assert!(e.sink.got.lock().unwrap()[0].data.contains("/verify/"));

    // Replaced: a newer link revokes the old one.
    let (replaced_id, old) = e.session(VerificationType::Address, None, false).await;
    let _new = e.link(&replaced_id, DAY_MS).await;
    let r = b.get(&e.app, &old).await;
    assert_eq!(r.status, StatusCode::GONE);
    assert!(r.body.contains("This link has been replaced"));
    r.nothing_personal();

    // Canceled: says so; asking for a new link gives the same answer but sends nothing.
    let (canceled_id, canceled) = e.session(VerificationType::Address, None, false).await;
    e.store()
        .vs_transition(
            &canceled_id,
            VerificationStatus::Canceled,
            Transition {
                actor: "test".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let r = b.get(&e.app, &canceled).await;
    assert_eq!(r.status, StatusCode::GONE);
    assert!(r.body.contains("This verification was canceled"));
    r.nothing_personal();
    let csrf = r.hidden("csrf");
    let again = b
        .post(&e.app, &format!("{canceled}/renew"), &[("csrf", &csrf)])
        .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(
        again.body.replace(&canceled, ""),
        renewed.body.replace(&expired, ""),
        "the same answer"
    );
    assert!(
        e.store()
            .outbox_list(None, Some(&canceled_id))
            .await
            .unwrap()
            .is_empty()
    );
    for step in ["address", "document", "code", "done"] {
        let r = b.get(&e.app, &format!("{canceled}/{step}")).await;
        assert!(
            matches!(r.status, StatusCode::SEE_OTHER | StatusCode::GONE),
            "{step}: {}",
            r.status
        );
        r.nothing_personal();
    }

    // Used: a customer who submitted, then a stranger with the same link.
    let (used_id, used) = e.session(VerificationType::Address, None, false).await;
    let mut customer = Browser::new("192.0.2.21");
    e.sign_in(&mut customer, &used).await;
    let form = customer.get(&e.app, &format!("{used}/address")).await;
    let csrf = form.hidden("csrf");
    let r = customer
        .post(
            &e.app,
            &format!("{used}/address"),
            &[
                ("csrf", &csrf),
                ("line1", "Calle Mayor 5"),
                ("city", "Madrid"),
                ("postal_code", "28013"),
                ("country", "Spain"),
            ],
        )
        .await;
    assert_eq!(r.location(), format!("{used}/done"));
    assert_eq!(e.status(&used_id).await, VerificationStatus::RequiresReview);
    let mut stranger = Browser::new("192.0.2.22");
    let r = stranger.get(&e.app, &used).await;
    assert_eq!(r.status, StatusCode::GONE);
    assert!(r.body.contains("already been used"));
    r.nothing_personal();
    let r = stranger.get(&e.app, &format!("{used}/done")).await;
    assert_eq!(
        r.status,
        StatusCode::SEE_OTHER,
        "the confirmation is the customer's alone"
    );
}

// ------------------------------------------------------------------ the second factor

async fn code_brute_force_locks_after_five(db: Db) {
    let e = env(db).await;
    let (id, link) = e
        .session(
            VerificationType::Address,
            Some(json!({"postcode": "28013"})),
            false,
        )
        .await;
    let mut b = Browser::new("192.0.2.30");
    let page = b.get(&e.app, &link).await;
    let csrf = page.hidden("csrf");
    let sent = b
        .post(
            &e.app,
            &format!("{link}/send"),
            &[("csrf", &csrf), ("channel", "email")],
        )
        .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER);
    let code = e.sink.last_code(EMAIL);
    let wrong = if code == "000000" { "000001" } else { "000000" };
    // Malformed input is refused without counting.
    let r = b
        .post(
            &e.app,
            &format!("{link}/code"),
            &[("csrf", &csrf), ("code", "12ab")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("Enter the 6 digits"));
    for left in (1..=4).rev() {
        let r = b
            .post(
                &e.app,
                &format!("{link}/code"),
                &[("csrf", &csrf), ("code", wrong)],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            r.body.contains(&format!("You have {left} attempts left")),
            "{}",
            r.body
        );
        r.nothing_personal();
    }
    let r = b
        .post(
            &e.app,
            &format!("{link}/code"),
            &[("csrf", &csrf), ("code", wrong)],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("Verification locked"));
    // Locked for good: the right code, a new code and the knowledge check all fail.
    let r = b
        .post(
            &e.app,
            &format!("{link}/code"),
            &[("csrf", &csrf), ("code", &code)],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(
        !r.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("dc_vs="))
    );
    let r = b
        .post(
            &e.app,
            &format!("{link}/knowledge"),
            &[("csrf", &csrf), ("postcode", "28013")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = b
        .post(
            &e.app,
            &format!("{link}/send"),
            &[("csrf", &csrf), ("channel", "email")],
        )
        .await;
    assert!(
        matches!(
            r.status,
            StatusCode::FORBIDDEN | StatusCode::TOO_MANY_REQUESTS
        ),
        "{}",
        r.status
    );
    assert_eq!(e.sink.count(), 1, "no code sent to a locked session");
    let r = b.get(&e.app, &format!("{link}/address")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(e.status(&id).await, VerificationStatus::RequiresInput);
}

async fn resends_are_limited(db: Db) {
    // Without the wait between sends, the hourly limit (3) is what stops the fourth.
    let e = env_on(db.clone(), |o| {
        o.min_resend_interval = std::time::Duration::ZERO
    })
    .await;
    let (_, link) = e.session(VerificationType::Address, None, false).await;
    let mut b = Browser::new("192.0.2.40");
    let csrf = b.get(&e.app, &link).await.hidden("csrf");
    let mut codes = Vec::new();
    for _ in 0..3 {
        let r = b
            .post(
                &e.app,
                &format!("{link}/send"),
                &[("csrf", &csrf), ("channel", "email")],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        codes.push(e.sink.last_code(EMAIL));
    }
    let r = b
        .post(
            &e.app,
            &format!("{link}/send"),
            &[("csrf", &csrf), ("channel", "email")],
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.body.contains("the most codes allowed"));
    assert_eq!(e.sink.count(), 3);
    // Only the newest code works.
    let r = b
        .post(
            &e.app,
            &format!("{link}/code"),
            &[("csrf", &csrf), ("code", &codes[2])],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);

    // With the default 30 s between sends, the second send at once is refused.
    let e = env(db).await;
    let (_, link) = e.session(VerificationType::Address, None, false).await;
    let mut b = Browser::new("192.0.2.41");
    let csrf = b.get(&e.app, &link).await.hidden("csrf");
    let r = b
        .post(
            &e.app,
            &format!("{link}/send"),
            &[("csrf", &csrf), ("channel", "email")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let r = b
        .post(
            &e.app,
            &format!("{link}/send"),
            &[("csrf", &csrf), ("channel", "email")],
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        r.body.contains("seconds before asking for another"),
        "{}",
        r.body
    );
    assert_eq!(e.sink.count(), 1);
}

async fn knowledge_check_signs_in_and_counts_attempts(db: Db) {
    let e = env(db).await;
    let known = json!({"postcode": "EC2V 7HH", "birth_date": "1987-03-14"});
    let (_, link) = e
        .session(VerificationType::Address, Some(known.clone()), false)
        .await;
    let mut b = Browser::new("192.0.2.50");
    let page = b.get(&e.app, &link).await;
    assert!(page.body.contains("name=\"postcode\"") && page.body.contains("name=\"birth_date\""));
    assert!(
        !page.body.contains("name=\"account_last4\""),
        "only the known fields"
    );
    assert!(
        !page.body.contains("EC2V") && !page.body.contains("1987-03"),
        "known values never shown"
    );
    let csrf = page.hidden("csrf");
    let path = format!("{link}/knowledge");
    // Malformed: the field says why, no attempt counted.
    let r = b
        .post(
            &e.app,
            &path,
            &[
                ("csrf", &csrf),
                ("postcode", "EC2V7HH"),
                ("birth_date", "14/03/1987"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("id=\"birth_date-error\""));
    // Wrong: counted.
    let r = b
        .post(
            &e.app,
            &path,
            &[
                ("csrf", &csrf),
                ("postcode", "EC2V7HH"),
                ("birth_date", "1987-03-15"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("You have 4 attempts left"), "{}", r.body);
    // Right (spacing and case do not matter).
    let r = b
        .post(
            &e.app,
            &path,
            &[
                ("csrf", &csrf),
                ("postcode", "ec2v 7hh"),
                ("birth_date", "1987-03-14"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), format!("{link}/address"));
    assert_eq!(b.get(&e.app, &r.location()).await.status, StatusCode::OK);
    assert_eq!(e.sink.count(), 0, "no code needed");

    // Five wrong answers lock, like codes.
    let (_, link) = e
        .session(VerificationType::Address, Some(known), false)
        .await;
    let mut b = Browser::new("192.0.2.51");
    let csrf = b.get(&e.app, &link).await.hidden("csrf");
    let path = format!("{link}/knowledge");
    for _ in 0..4 {
        let r = b
            .post(
                &e.app,
                &path,
                &[
                    ("csrf", &csrf),
                    ("postcode", "AB12CD"),
                    ("birth_date", "1987-03-14"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let r = b
        .post(
            &e.app,
            &path,
            &[
                ("csrf", &csrf),
                ("postcode", "AB12CD"),
                ("birth_date", "1987-03-14"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = b
        .post(
            &e.app,
            &path,
            &[
                ("csrf", &csrf),
                ("postcode", "EC2V7HH"),
                ("birth_date", "1987-03-14"),
            ],
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "locked even for the right answer"
    );
}

async fn codes_by_sms_through_the_http_hook(db: Db) {
    // The hook: a local receiver keeping what it is sent.
    let got: Arc<Mutex<Vec<serde_json::Value>>> = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    let hook = Router::new().route(
        "/sms",
        axum::routing::post(move |body: String| {
            let g = g.clone();
            async move {
                g.lock().unwrap().push(serde_json::from_str(&body).unwrap());
                StatusCode::ACCEPTED
            }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, hook).await.unwrap() });

    let mut e = env(db).await;
    let sms = SmsHookSender::new(
        &format!("http://{addr}/sms"),
        std::time::Duration::from_secs(5),
    )
    .unwrap();
    e.state = e.state.clone().with_sms(Arc::new(sms));
    e.app = customer_routes(e.state.clone());
    let (_, link) = e.session(VerificationType::Address, None, true).await;
    let mut b = Browser::new("192.0.2.60");
    let page = b.get(&e.app, &link).await;
    assert!(page.body.contains("by text message"));
    page.nothing_personal();
    let csrf = page.hidden("csrf");
    let r = b
        .post(
            &e.app,
            &format!("{link}/send"),
            &[("csrf", &csrf), ("channel", "sms")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(e.sink.count(), 0, "not by email");
    let msg = got.lock().unwrap().pop().expect("the hook was called");
    assert_eq!(msg["to"], PHONE);
    assert_eq!(msg["channel"], "sms");
    let code = six_digits(msg["message"].as_str().unwrap()).unwrap();
    let notice = b.get(&e.app, &r.location()).await;
    assert!(notice.body.contains("by text message"));
    let r = b
        .post(
            &e.app,
            &format!("{link}/code"),
            &[("csrf", &csrf), ("code", &code)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), format!("{link}/address"));
}

// ------------------------------------------------------------------ uploads

fn zip_bomb() -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    w.start_file("passport.jpg", opts).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..64 {
        w.write_all(&zeros).unwrap();
    }
    w.finish().unwrap().into_inner()
}

async fn bad_uploads_are_refused_with_a_clear_message(db: Db) {
    let e = env(db).await;
    let (id, link) = e.session(VerificationType::Document, None, false).await;
    let mut b = Browser::new("192.0.2.70");
    let r = e.sign_in(&mut b, &link).await;
    assert_eq!(r.location(), format!("{link}/document"));
    let form = b.get(&e.app, &r.location()).await;
    let csrf = form.hidden("csrf");
    let path = format!("{link}/document");

    let photo = jpeg();
    let mut polyglot = photo.clone();
    polyglot.extend_from_slice(b"<html><body><script>alert(1)</script></body></html>");
    let bomb = zip_bomb();
    assert!(bomb.len() < 1 << 20, "a small file that inflates to 64 MB");
    let mut big = photo.clone();
    big.resize(10 * 1024 * 1024 + 1, 0);
    let mut huge = photo.clone();
    huge.resize(12 * 1024 * 1024, 0);
    let cases: Vec<(&str, &str, Vec<u8>, StatusCode, &str)> = vec![
        (
            "wrong magic",
            "passport.jpg",
            b"GIF89a this is not a JPEG at all".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "This type of file is not accepted",
        ),
        (
            "an executable",
            "passport.jpg",
            b"MZ\x90\x00\x03\x00\x00\x00".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "This type of file is not accepted",
        ),
        (
            "too large",
            "passport.jpg",
            big,
            StatusCode::PAYLOAD_TOO_LARGE,
            "at most 10 MB",
        ),
        (
            "larger than the body limit",
            "passport.jpg",
            huge,
            StatusCode::PAYLOAD_TOO_LARGE,
            "at most 10 MB",
        ),
        (
            "a zip bomb",
            "passport.jpg",
            bomb,
            StatusCode::UNPROCESSABLE_ENTITY,
            "Compressed archives such as ZIP files are not accepted",
        ),
        (
            "a polyglot",
            "passport.jpg",
            polyglot,
            StatusCode::UNPROCESSABLE_ENTITY,
            "extra content that does not belong",
        ),
        (
            "a path in the file name",
            "../../etc/passport.jpg",
            photo.clone(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "The file name is not accepted",
        ),
        (
            "a Windows path",
            "C:\\Users\\maria\\passport.jpg",
            photo.clone(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "The file name is not accepted",
        ),
        (
            "empty",
            "passport.jpg",
            Vec::new(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "The file is empty",
        ),
    ];
    for (what, name, bytes, status, says) in cases {
        let r = b.upload(&e.app, &path, Some(&csrf), name, &bytes).await;
        assert_eq!(r.status, status, "{what}: {}", r.body);
        assert!(r.body.contains(says), "{what}: {}", r.body);
        assert!(r.body.contains("role=\"alert\""), "{what}: announced");
        assert!(
            r.body.contains("aria-invalid=\"true\""),
            "{what}: on the field"
        );
    }
    assert!(e.store().doc_list(&id).await.unwrap().is_empty());
    assert!(e.blobs().is_empty(), "nothing stored");
    assert_eq!(e.status(&id).await, VerificationStatus::RequiresInput);
    // The customer can still send a good one.
    let r = b
        .upload(&e.app, &path, Some(&csrf), "passport.jpg", &photo)
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(e.status(&id).await, VerificationStatus::RequiresReview);
}

// ------------------------------------------------------------------ isolation and CSRF

async fn one_customers_cookie_does_not_open_another_session(db: Db) {
    let e = env(db).await;
    let (id_a, link_a) = e
        .session(VerificationType::AddressAndDocument, None, false)
        .await;
    let (id_b, link_b) = e
        .session(VerificationType::AddressAndDocument, None, false)
        .await;
    let mut a = Browser::new("192.0.2.80");
    e.sign_in(&mut a, &link_a).await;
    let csrf_a = a
        .get(&e.app, &format!("{link_a}/address"))
        .await
        .hidden("csrf");

    // A's cookie on B's link: back to B's second factor, nothing of B shown or changed.
    for step in ["address", "document"] {
        let r = a.get(&e.app, &format!("{link_b}/{step}")).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{step}");
        assert_eq!(r.location(), link_b);
    }
    let r = a
        .post(
            &e.app,
            &format!("{link_b}/address"),
            &[
                ("csrf", &csrf_a),
                ("line1", "Evil 1"),
                ("city", "X"),
                ("postal_code", "12345"),
                ("country", "Y"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let r = a
        .upload(
            &e.app,
            &format!("{link_b}/document"),
            Some(&csrf_a),
            "x.jpg",
            &jpeg(),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let b = e.store().vs_get(&id_b).await.unwrap().unwrap();
    assert!(b.address_json.is_none());
    assert!(e.store().doc_list(&id_b).await.unwrap().is_empty());
    let page = a.get(&e.app, &link_b).await;
    assert!(page.body.contains("Confirm it is you"));

    // A forged cookie naming B's session does not verify either.
    let mut forger = a.clone();
    let vs = forger.cookies["dc_vs"].clone();
    forger.cookies.insert(
        "dc_vs".into(),
        vs.replacen(&vs[..vs.find('.').unwrap()], &id_b, 1),
    );
    let r = forger.get(&e.app, &format!("{link_b}/address")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);

    // And a newer link for A's own session makes A's cookie stale (bound to the link).
    let newer = e.link(&id_a, DAY_MS).await;
    let r = a.get(&e.app, &format!("{newer}/address")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), newer);
}

async fn forms_without_the_csrf_token_are_refused(db: Db) {
    let e = env(db).await;
    let (id, link) = e
        .session(VerificationType::AddressAndDocument, None, false)
        .await;
    let mut b = Browser::new("192.0.2.90");
    let page = b.get(&e.app, &link).await;
    let csrf = page.hidden("csrf");
    // Before the second factor.
    for (path, form) in [
        (format!("{link}/send"), vec![("channel", "email")]),
        (format!("{link}/code"), vec![("code", "123456")]),
        (format!("{link}/renew"), vec![]),
    ] {
        let r = b.post(&e.app, &path, &form).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
        let mut wrong = form.clone();
        wrong.push(("csrf", "0123456789abcdef0123456789abcdef01234567"));
        let r = b.post(&e.app, &path, &wrong).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path} with a wrong token");
    }
    // Another browser's token (another dc_pre cookie) is refused too.
    let mut other = Browser::new("192.0.2.91");
    other.get(&e.app, &link).await;
    let r = other
        .post(
            &e.app,
            &format!("{link}/send"),
            &[("csrf", &csrf), ("channel", "email")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(e.sink.count(), 0);

    // After it.
    e.sign_in(&mut b, &link).await;
    let r = b
        .post(
            &e.app,
            &format!("{link}/address"),
            &[
                ("line1", "Calle Mayor 5"),
                ("city", "Madrid"),
                ("postal_code", "28013"),
                ("country", "Spain"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = b
        .post(
            &e.app,
            &format!("{link}/address"),
            &[
                ("csrf", &csrf),
                ("line1", "Calle Mayor 5"),
                ("city", "Madrid"),
                ("postal_code", "28013"),
                ("country", "Spain"),
            ],
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "the token before the second factor is not this form's"
    );
    let r = b
        .upload(
            &e.app,
            &format!("{link}/document"),
            None,
            "passport.jpg",
            &jpeg(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let s = e.store().vs_get(&id).await.unwrap().unwrap();
    assert!(s.address_json.is_none());
    assert!(e.store().doc_list(&id).await.unwrap().is_empty());
}

// ------------------------------------------------------------------ languages

async fn spanish_pages_from_accept_language_and_the_switch(db: Db) {
    let e = env(db).await;
    let (_, link) = e
        .session(
            VerificationType::Address,
            Some(json!({"account_last4": "4321"})),
            false,
        )
        .await;
    let mut b = Browser::new("192.0.2.100");
    b.lang = Some("es-ES,es;q=0.9,en;q=0.5");
    let page = b.get(&e.app, &link).await;
    assert!(page.body.contains("<html lang=\"es\">"));
    assert!(page.body.contains("Confirme que es usted"), "{}", page.body);
    assert!(
        page.body
            .contains("Enviarme un código por correo electrónico")
    );
    assert!(
        page.body
            .contains("Últimas 4 cifras de su número de cuenta")
    );
    assert!(
        page.body.contains(&format!("href=\"{link}?lang=en\"")),
        "a visible switch"
    );
    // The code message is in Spanish too.
    let csrf = page.hidden("csrf");
    b.post(
        &e.app,
        &format!("{link}/send"),
        &[("csrf", &csrf), ("channel", "email")],
    )
    .await;
    assert!(
        e.sink.got.lock().unwrap()[0].data.contains("Su c"),
        "Spanish subject or body"
    );
    let r = b
        .post(
            &e.app,
            &format!("{link}/code"),
            &[("csrf", &csrf), ("code", "99999x")],
        )
        .await;
    assert!(r.body.contains("Introduzca las 6 cifras del código"));
    // The switch wins over the header and is remembered.
    let en = b.get(&e.app, &format!("{link}?lang=en")).await;
    assert!(en.body.contains("<html lang=\"en\">") && en.body.contains("Confirm it is you"));
    assert_eq!(b.cookies.get("dc_lang").map(String::as_str), Some("en"));
    let again = b.get(&e.app, &link).await;
    assert!(again.body.contains("Confirm it is you"));
    // Unknown links in Spanish.
    let mut s = Browser::new("192.0.2.101");
    s.lang = Some("es");
    let r = s.get(&e.app, "/verify/nope").await;
    assert!(r.body.contains("Este enlace no funciona"));
}

#[tokio::test]
async fn stylesheet_is_served_and_cacheable() {
    let e = env(Db::Sqlite).await;
    let mut b = Browser::new("192.0.2.110");
    let r = b.get(&e.app, "/verify.css").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    assert!(r.body.contains(":focus-visible"));
    assert_eq!(r.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
}
