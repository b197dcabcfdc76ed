//! The customer's pages as the configuration describes them (`[portal.codes]`, `[portal.sms]`,
//! `[portal.limits]`, parsed from TOML): codes by SMS posted to a real local HTTP hook with
//! the authentication header from the environment, and the per-hour limits counted in the
//! store, so that they still hold after the app is built again on the same database (a
//! restart, or a second instance) — on SQLite, and on PostgreSQL when
//! `DOUBLECHECK_TEST_POSTGRES_URL` is set.

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode, header};
use doublecheck_engine::Policy;
use doublecheck_gate::{AppState, Config};
use doublecheck_portal::customer::{CustomerState, customer_routes};
use doublecheck_portal::{PortalError, PortalState, ServerKey, secrets};
use doublecheck_store::{Customer, NewVerificationSession, Store, VerificationType};
use http_body_util::BodyExt;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tower::ServiceExt;

const EMAIL: &str = "lucia.ortiz@example.net";
const PHONE: &str = "+34600333444";
const DAY_MS: i64 = 86_400_000;
const AUTH_ENV: &str = "DC_TEST_SMS_HOOK_AUTH";

// ------------------------------------------------------------------ receivers

/// An SMTP sink counting messages and keeping their text.
#[derive(Clone)]
struct Sink {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<String>>>,
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
                    loop {
                        let mut line = String::new();
                        if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let upper = line.to_ascii_uppercase();
                        let reply: &[u8] = if upper.starts_with("EHLO") {
                            b"250-sink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
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
                                data.extend_from_slice(&l);
                            }
                            g.lock()
                                .unwrap()
                                .push(String::from_utf8_lossy(&data).into_owned());
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
}

/// What the SMS hook received: the JSON body and the headers of each request.
type Hooked = Arc<Mutex<Vec<(serde_json::Value, HeaderMap)>>>;

/// A local HTTP receiver standing in for the SMS provider: answers 202 to an authenticated
/// POST of JSON, 401 without the header.
async fn sms_hook() -> (SocketAddr, Hooked) {
    let got: Hooked = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    let hook = Router::new().route(
        "/v1/sms",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let g = g.clone();
            async move {
                let ok = headers.get("x-hook-key").and_then(|v| v.to_str().ok())
                    == Some("Key hook-secret-42");
                let json: serde_json::Value = match serde_json::from_str(&body) {
                    Ok(j) => j,
                    Err(_) => return StatusCode::BAD_REQUEST,
                };
                g.lock().unwrap().push((json, headers));
                if ok {
                    StatusCode::ACCEPTED
                } else {
                    StatusCode::UNAUTHORIZED
                }
            }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, hook).await.unwrap() });
    (addr, got)
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

#[derive(Clone)]
enum Db {
    Sqlite,
    Postgres(String),
}

impl Db {
    async fn postgres() -> Option<Db> {
        let Ok(base) = std::env::var("DOUBLECHECK_TEST_POSTGRES_URL") else {
            println!("skipped: DOUBLECHECK_TEST_POSTGRES_URL not set");
            return None;
        };
        sqlx::any::install_default_drivers();
        let admin = sqlx::AnyPool::connect(&base)
            .await
            .expect("the test server");
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let schema = format!("dc_settings_{}_{nanos}", std::process::id());
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        let sep = if base.contains('?') { '&' } else { '?' };
        Some(Db::Postgres(format!(
            "{base}{sep}options[search_path]={schema}"
        )))
    }
}

/// A deployment: the configuration parsed from `toml` (plus the sink as upstream and the
/// database), its store, and the environment the SMS hook's header is read from.
struct Deployment {
    _dir: tempfile::TempDir,
    config: Config,
    store: Store,
    sink: Sink,
    env: HashMap<String, String>,
}

impl Deployment {
    async fn new(db: Db, toml: &str, env: &[(&str, &str)]) -> Deployment {
        let dir = tempfile::tempdir().unwrap();
        let sink = Sink::start().await;
        let mut config = Config::from_toml(toml, "doublecheck.toml").expect("valid settings");
        config.data_dir = dir.path().to_path_buf();
        config.smtp.upstream = Some(sink.addr.to_string());
        config.portal.mail_from = "verify@bank.example".into();
        config.portal.documents_dir = Some(dir.path().join("documents"));
        if let Db::Postgres(url) = db {
            config.database.url = Some(url);
        }
        let store = Store::open(&config.database_url()).await.unwrap();
        Deployment {
            _dir: dir,
            config,
            store,
            sink,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// The customer's pages as `serve` builds them, as if the process (or another instance)
    /// had just started: nothing in memory, the same database.
    fn start(&self) -> Router {
        let app = AppState::new(self.config.clone(), Policy::builtin(), self.store.clone());
        let portal = PortalState::new(app, ServerKey::from_bytes([9; 32]));
        let env = self.env.clone();
        customer_routes(CustomerState::from_portal_with_env(portal, move |k| {
            env.get(k).cloned()
        }))
    }

    /// A session waiting for input and the path of a fresh link to it.
    async fn session(&self, phone: bool) -> (String, String) {
        let s = self
            .store
            .vs_create(
                NewVerificationSession {
                    livemode: false,
                    kind: VerificationType::Address,
                    customer: Customer {
                        email: Some(EMAIL.into()),
                        phone: phone.then(|| PHONE.to_string()),
                        name: Some("Lucía Ortiz".into()),
                        reference: None,
                    },
                    known_json: None,
                    return_url: None,
                    metadata_json: "{}".into(),
                    api_key_id: None,
                    expires_at_ms: now_ms() + 7 * DAY_MS,
                },
                "test",
            )
            .await
            .unwrap();
        let link = self.link(&s.id).await;
        (s.id, link)
    }

    async fn link(&self, session_id: &str) -> String {
        let (token, hash) = secrets::new_link_token().unwrap();
        self.store
            .link_create(session_id, &hash, 3 * DAY_MS)
            .await
            .unwrap();
        format!("/verify/{token}")
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

struct Resp {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Resp {
    fn hidden(&self, name: &str) -> String {
        let needle = format!("name=\"{name}\" value=\"");
        let i = self
            .body
            .find(&needle)
            .unwrap_or_else(|| panic!("no {name} in {}", self.body));
        let rest = &self.body[i + needle.len()..];
        rest[..rest.find('"').unwrap()].to_string()
    }

    fn location(&self) -> String {
        self.headers
            .get(header::LOCATION)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    }
}

/// A browser: cookies and an address.
struct Browser {
    cookies: HashMap<String, String>,
    ip: SocketAddr,
}

impl Browser {
    fn new(ip: &str) -> Browser {
        Browser {
            cookies: HashMap::new(),
            ip: format!("{ip}:50000").parse().unwrap(),
        }
    }

    async fn request(&mut self, app: &Router, method: &str, path: &str, form: &str) -> Resp {
        let mut b = Request::builder().method(method).uri(path);
        if !self.cookies.is_empty() {
            let c: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            b = b.header(header::COOKIE, c.join("; "));
        }
        if method == "POST" {
            b = b.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        }
        let mut req = b.body(Body::from(form.to_string())).unwrap();
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
        self.request(app, "GET", path, "").await
    }

    /// Opens `link` and posts its first form (`/send`, `/renew`) with the page's CSRF token.
    async fn post_from(&mut self, app: &Router, link: &str, action: &str) -> Resp {
        let page = self.get(app, link).await;
        let csrf = page.hidden("csrf");
        self.request(
            app,
            "POST",
            &format!("{link}/{action}"),
            &format!("csrf={csrf}"),
        )
        .await
    }
}

macro_rules! both {
    ($name:ident, $story:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$story(super::Db::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(db) = super::Db::postgres().await else {
                    return;
                };
                super::$story(db).await;
            }
        }
    };
}

// ------------------------------------------------------------------ codes by SMS

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_channel_posts_the_code_to_the_configured_hook() {
    let (addr, hooked) = sms_hook().await;
    let toml = format!(
        "[portal.codes]\nchannel = \"sms\"\nvalidity_minutes = 5\n\
         [portal.sms]\nurl = \"http://{addr}/v1/sms\"\nauth_header = \"X-Hook-Key\"\n\
         auth_env = \"{AUTH_ENV}\"\ntimeout_secs = 5\n"
    );
    let d = Deployment::new(Db::Sqlite, &toml, &[(AUTH_ENV, "Key hook-secret-42")]).await;
    let app = d.start();

    // A session with a phone number: SMS only (the link came by email).
    let (_, link) = d.session(true).await;
    let mut b = Browser::new("192.0.2.10");
    let page = b.get(&app, &link).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("value=\"sms\""), "{}", page.body);
    assert!(!page.body.contains("value=\"email\""), "{}", page.body);
    assert!(!page.body.contains(PHONE), "the number is never shown");
    // Even a form asking for email gets the code by SMS.
    let csrf = page.hidden("csrf");
    let sent = b
        .request(
            &app,
            "POST",
            &format!("{link}/send"),
            &format!("csrf={csrf}&channel=email"),
        )
        .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    assert_eq!(d.sink.count(), 0, "nothing by email");
    let (msg, headers) = hooked.lock().unwrap().pop().expect("the hook was called");
    assert_eq!(msg["to"], PHONE);
    assert_eq!(msg["channel"], "sms");
    let text = msg["message"].as_str().unwrap();
    assert!(text.contains("valid for 5 minutes"), "{text}");
    assert_eq!(
        headers.get("x-hook-key").unwrap().to_str().unwrap(),
        "Key hook-secret-42",
        "the header's value from the environment variable auth_env names"
    );
    assert_eq!(
        headers.get(header::CONTENT_TYPE).unwrap(),
        "application/json"
    );
    let code = six_digits(text).expect("a code in the message");
    let form = b.get(&app, &sent.location()).await;
    assert!(form.body.contains("by text message"), "{}", form.body);
    assert!(form.body.contains("valid for 5 minutes"), "{}", form.body);
    let r = b
        .request(
            &app,
            "POST",
            &format!("{link}/code"),
            &format!("csrf={csrf}&code={code}"),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), format!("{link}/address"));

    // A session without a phone number gets its code by email.
    let (_, link) = d.session(false).await;
    let mut b = Browser::new("192.0.2.11");
    let page = b.get(&app, &link).await;
    assert!(page.body.contains("value=\"email\""), "{}", page.body);
    assert!(!page.body.contains("value=\"sms\""), "{}", page.body);
    let sent = b.post_from(&app, &link, "send").await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    assert_eq!(d.sink.count(), 1);
    assert!(d.sink.got.lock().unwrap()[0].contains("valid for 5 minutes"));
    assert!(hooked.lock().unwrap().is_empty());

    // The hook refusing (wrong credentials) is a failed send, not a fallback to email.
    let d2 = Deployment::new(Db::Sqlite, &toml, &[(AUTH_ENV, "Key wrong")]).await;
    let app2 = d2.start();
    let (_, link) = d2.session(true).await;
    let mut b = Browser::new("192.0.2.12");
    let r = b.post_from(&app2, &link, "send").await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.body);
    assert_eq!(d2.sink.count(), 0);
    assert_eq!(hooked.lock().unwrap().len(), 1, "the hook was asked");

    // Without the environment variable, the portal does not start (a sentence saying why).
    let mut config = d.config.clone();
    config.portal.sms.auth_env = Some("DC_TEST_SMS_HOOK_AUTH_NEVER_SET_7F3A".into());
    let app = AppState::new(config, Policy::builtin(), d.store.clone());
    match PortalState::load(app) {
        Err(PortalError::Sms(e)) => {
            assert!(
                e.contains("DC_TEST_SMS_HOOK_AUTH_NEVER_SET_7F3A") && e.contains("not set"),
                "{e}"
            )
        }
        Err(e) => panic!("another error: {e}"),
        Ok(_) => panic!("the portal started without the hook's credentials"),
    }
    // Nor with a URL the client cannot use, or one that would carry the secret in cleartext
    // (the configuration file's checks refuse these too; the portal does not rely on them).
    for (url, words) in [
        ("https://[::1", &["portal.sms.url is not a valid URL"][..]),
        (
            "https://h:99999/",
            &["portal.sms.url is not a valid URL", "port"],
        ),
        ("https://a..b", &["\"a..b\" is not a host name"]),
        (
            "http://sms.example.com/send?key=SeCrEt",
            &["portal.sms.url is an http:// URL", "cleartext"],
        ),
    ] {
        let mut config = d.config.clone();
        config.portal.sms.url = Some(url.into());
        config.portal.sms.auth_env = Some("DC_TEST_SMS_HOOK_AUTH_NEVER_SET_7F3A".into());
        let app = AppState::new(config, Policy::builtin(), d.store.clone());
        match PortalState::load(app) {
            Err(PortalError::Sms(e)) => {
                for w in words {
                    assert!(e.contains(w), "{url}: {e} lacks {w:?}");
                }
                assert!(!e.contains("SeCrEt"), "{e}");
            }
            Err(e) => panic!("{url}: another error: {e}"),
            Ok(_) => panic!("the portal started with the SMS hook {url}"),
        }
    }
    // And were the hook unusable all the same, sends fail rather than go by email.
    let d3 = Deployment::new(Db::Sqlite, &toml, &[]).await;
    let app3 = d3.start();
    let (_, link) = d3.session(true).await;
    let r = Browser::new("192.0.2.13")
        .post_from(&app3, &link, "send")
        .await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.body);
    assert_eq!(d3.sink.count(), 0);
}

// ------------------------------------------------------------------ durable limits

both!(code_sends_per_hour_survive_a_restart, sends_story);

async fn sends_story(db: Db) {
    let toml = "[portal.codes]\nsends_per_hour = 2\nresend_interval_secs = 0\nmax_sends = 10\n";
    let d = Deployment::new(db, toml, &[]).await;
    let (_, link) = d.session(false).await;
    let app = d.start();
    let mut b = Browser::new("192.0.2.20");
    let mut first_counted = 0;
    for _ in 0..2 {
        let r = b.post_from(&app, &link, "send").await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        if first_counted == 0 {
            first_counted = now_ms();
        }
    }
    let asked = now_ms();
    let r = b.post_from(&app, &link, "send").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(d.sink.count(), 2);
    // Retry-After covers the whole wait (the first code leaves the hour's window), rounded
    // up: the first send was counted by `first_counted` and the refusal came after `asked`.
    let longest_wait_ms = first_counted + 3_600_000 - asked;
    let retry_after: i64 = r
        .headers
        .get(header::RETRY_AFTER)
        .expect("Retry-After on the refused send")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        retry_after * 1000 >= longest_wait_ms && retry_after <= 3600,
        "Retry-After {retry_after} s for a wait of up to {longest_wait_ms} ms"
    );

    // A restart (or another instance on the same database): the count holds.
    let app = d.start();
    let mut b = Browser::new("192.0.2.21");
    let r = b.post_from(&app, &link, "send").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert!(r.body.contains("the most codes allowed"), "{}", r.body);
    assert_eq!(d.sink.count(), 2, "no third code");

    // Another session is not affected.
    let (_, other) = d.session(false).await;
    let r = b.post_from(&app, &other, "send").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(d.sink.count(), 3);

    // A send refused for another reason (too soon after the last) counts nothing.
    let d = Deployment::new(
        Db::Sqlite,
        "[portal.codes]\nsends_per_hour = 2\nresend_interval_secs = 600\n",
        &[],
    )
    .await;
    let (id, link) = d.session(false).await;
    let app = d.start();
    let mut b = Browser::new("192.0.2.22");
    assert_eq!(
        b.post_from(&app, &link, "send").await.status,
        StatusCode::SEE_OTHER
    );
    for _ in 0..3 {
        assert_eq!(
            b.post_from(&app, &link, "send").await.status,
            StatusCode::TOO_MANY_REQUESTS
        );
    }
    assert_eq!(
        d.store.rate_hits("code_send", &id, 0).await.unwrap(),
        1,
        "only the code sent is counted"
    );
}

both!(link_renewals_per_hour_survive_a_restart, renewals_story);

async fn renewals_story(db: Db) {
    let toml = "[portal.limits]\nrenewals_per_session_per_hour = 2\n\
                renewals_per_address_per_hour = 3\n";
    let d = Deployment::new(db, toml, &[]).await;
    // A replaced link offers a new one.
    let (id, old) = d.session(false).await;
    let _current = d.link(&id).await;
    let app = d.start();
    let mut b = Browser::new("192.0.2.30");
    for _ in 0..2 {
        let r = b.post_from(&app, &old, "renew").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    // Per session: a restart, and another address, change nothing.
    let app = d.start();
    let mut b = Browser::new("192.0.2.31");
    let r = b.post_from(&app, &old, "renew").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    let wait: i64 = r.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((3000..=3600).contains(&wait), "{wait}");
    assert!(!r.body.contains(EMAIL));

    // Per address: three sessions' old links from one address, the fourth refused after a
    // restart.
    let app = d.start();
    let mut b = Browser::new("192.0.2.32");
    let mut olds = Vec::new();
    for _ in 0..4 {
        let (id, old) = d.session(false).await;
        d.link(&id).await;
        olds.push(old);
    }
    for old in &olds[..3] {
        let r = b.post_from(&app, old, "renew").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    let app = d.start();
    let r = b.post_from(&app, &olds[3], "renew").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    // From another address the same link may still ask.
    let r = Browser::new("192.0.2.33")
        .post_from(&app, &olds[3], "renew")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}
