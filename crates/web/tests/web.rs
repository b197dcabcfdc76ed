//! The review queue in-process: the router driven with `oneshot`, a real SQLite store under a
//! temporary directory, the engine with a test policy, and a small SMTP sink as the upstream.

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use doublecheck_engine::{Envelope, Policy};
use doublecheck_gate::{AppState, Config};
use doublecheck_store::{HoldStatus, NewHold, Role, Store};
use doublecheck_web::{WebState, app};
use http_body_util::BodyExt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tower::ServiceExt;

const PASSWORD: &str = "correct horse battery";
const EXPOSED: &str = include_str!("../../../examples/store-closure-exposed.eml");
const CARD: &str = include_str!("../../../examples/card-number-in-body.eml");
const CARD_DIGITS: [&str; 2] = ["4556 7375 8689 9855", "4556737586899855"];
const CUSTOMERS: [&str; 3] = [
    "maria.garcia@gmail.com",
    "j.smith1987@yahoo.com",
    "tomwilson@hotmail.com",
];
const POLICY: &str = r#"
defaults = false
org_domains = ["phoneco.example", "example.com"]

[[rules]]
name = "exposed"
if_any = ["recipients.exposed"]
recipients = "external"
action = "hold"
reason = "External recipients could see each other."

[[rules]]
name = "card"
if_any = ["content.sensitive_data"]
min_severity = "high"
recipients = "external"
action = "hold"
reason = "The message contains a sensitive value."
"#;

// ------------------------------------------------------------------ the upstream sink

#[derive(Clone, Debug)]
struct Received {
    rcpts: Vec<String>,
    data: String,
}

#[derive(Clone)]
struct Sink {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<Received>>>,
    /// Answer the data with 451 (try later) while set.
    refuse: Arc<std::sync::atomic::AtomicBool>,
}

impl Sink {
    async fn start() -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let refuse = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let g = got.clone();
        let no = refuse.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let g = g.clone();
                let no = no.clone();
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
                            if no.load(std::sync::atomic::Ordering::SeqCst) {
                                rcpts.clear();
                                b"451 try later\r\n"
                            } else {
                                g.lock().unwrap().push(Received {
                                    rcpts: std::mem::take(&mut rcpts),
                                    data: String::from_utf8_lossy(&data).into_owned(),
                                });
                                b"250 queued\r\n"
                            }
                        } else if upper.starts_with("QUIT") {
                            let _ = w.write_all(b"221 bye\r\n").await;
                            return;
                        } else {
                            b"250 ok\r\n"
                        };
                        if w.write_all(reply).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Sink { addr, got, refuse }
    }

    /// What reached the sink, without the gate's own notices to senders.
    fn got(&self) -> Vec<Received> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|r| !r.data.contains("Auto-Submitted:"))
            .cloned()
            .collect()
    }
}

// ------------------------------------------------------------------ the app under test

struct Env {
    state: WebState,
    app: Router,
    sink: Sink,
    _dir: tempfile::TempDir,
}

/// The database a story runs on: SQLite always; PostgreSQL (a schema of its own in the server
/// `DOUBLECHECK_TEST_POSTGRES_URL` names) when that is set.
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
        let schema = format!("dc_web_{}_{nanos}", std::process::id());
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

async fn env_with(tweak: impl FnOnce(&mut Config)) -> Env {
    env_on(Db::Sqlite, tweak).await
}

async fn env_on(db: Db, tweak: impl FnOnce(&mut Config)) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start().await;
    let mut config = Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    config.smtp.upstream = Some(sink.addr.to_string());
    if let Db::Postgres(url) = db {
        config.database.url = Some(url);
    }
    tweak(&mut config);
    let store = Store::open(&config.database_url()).await.unwrap();
    let policy = Policy::from_toml(POLICY, "test policy").unwrap();
    let state = WebState::new(AppState::new(config, policy, store));
    let hash = doublecheck_web::password::hash(PASSWORD.into())
        .await
        .unwrap();
    for (email, role) in [
        ("admin@example.com", Role::Admin),
        ("rev@example.com", Role::Reviewer),
        ("rev2@example.com", Role::Reviewer),
        ("agent@example.com", Role::Agent),
        ("agent2@example.com", Role::Agent),
        ("off@example.com", Role::Reviewer),
    ] {
        state
            .app
            .store
            .user_add(email, role, &hash, "test", &serde_json::Map::new())
            .await
            .unwrap();
    }
    state
        .app
        .store
        .user_set_disabled("off@example.com", true, "test", &serde_json::Map::new())
        .await
        .unwrap();
    Env {
        app: app(state.clone()),
        state,
        sink,
        _dir: dir,
    }
}

async fn env() -> Env {
    env_with(|_| {}).await
}

impl Env {
    /// Holds `raw` as the gate would: checked by the engine, stored with its verdict.
    async fn hold(&self, raw: &str, sender: &str) -> String {
        let raw = raw.replace("care@phoneco.example", sender);
        let msg = doublecheck_engine::parse::parse(raw.as_bytes(), &Default::default());
        let envelope = doublecheck_engine::envelope_from_headers(&msg);
        let verdict = self.state.app.engine.check(
            raw.as_bytes(),
            &Envelope {
                mail_from: Some(sender.into()),
                ..envelope.clone()
            },
        );
        assert_eq!(
            verdict.action,
            doublecheck_engine::Action::Hold,
            "the test message is held"
        );
        self.state
            .app
            .store
            .create_hold(NewHold {
                raw: raw.into_bytes(),
                mail_from: sender.into(),
                rcpt_to: envelope.rcpt_to,
                verdict_json: serde_json::to_string(&verdict).unwrap(),
                reason: verdict.reason().unwrap_or("held").to_string(),
                sender: Some(sender.into()),
                queue_id: None,
            })
            .await
            .unwrap()
            .id
    }

    async fn status(&self, id: &str) -> HoldStatus {
        self.state
            .app
            .store
            .get_hold(id)
            .await
            .unwrap()
            .unwrap()
            .status
    }

    async fn actions(&self) -> Vec<(String, String, String)> {
        self.state
            .app
            .store
            .audit_list(0, 1000)
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.actor, e.action, e.subject))
            .collect()
    }
}

struct Res {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

impl Res {
    fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect()
    }

    fn cookie(&self, name: &str) -> Option<String> {
        self.set_cookies().iter().find_map(|c| {
            c.strip_prefix(&format!("{name}="))
                .map(|v| v.split(';').next().unwrap().to_string())
        })
    }

    fn hidden(&self, name: &str) -> String {
        let needle = format!("name=\"{name}\" value=\"");
        let at = self.body.find(&needle).unwrap_or_else(|| {
            panic!(
                "no hidden {name} in {}",
                &self.body[..self.body.len().min(3000)]
            )
        }) + needle.len();
        self.body[at..].split('"').next().unwrap().to_string()
    }
}

const HOST: &str = "localhost";
const ORIGIN: &str = "http://localhost";

async fn send(app: &Router, mut req: Request<Body>, ip: [u8; 4]) -> Res {
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from((ip, 40000))));
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    Res {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", urlenc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn urlenc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn get(app: &Router, path: &str, session: Option<&str>) -> Res {
    let mut b = Request::get(path).header(header::HOST, HOST);
    if let Some(s) = session {
        b = b.header(header::COOKIE, format!("dc_session={s}"));
    }
    send(app, b.body(Body::empty()).unwrap(), [127, 0, 0, 1]).await
}

async fn post_raw(
    app: &Router,
    path: &str,
    cookie: Option<&str>,
    body: String,
    origin: Option<&str>,
    ip: [u8; 4],
) -> Res {
    let mut b = Request::post(path)
        .header(header::HOST, HOST)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(c) = cookie {
        b = b.header(header::COOKIE, c);
    }
    if let Some(o) = origin {
        b = b.header(header::ORIGIN, o);
    }
    send(app, b.body(Body::from(body)).unwrap(), ip).await
}

async fn post(app: &Router, path: &str, session: &Session, pairs: &[(&str, &str)]) -> Res {
    let mut all = vec![("csrf", session.csrf.as_str())];
    all.extend_from_slice(pairs);
    post_raw(
        app,
        path,
        Some(&format!("dc_session={}", session.id)),
        form(&all),
        Some(ORIGIN),
        [127, 0, 0, 1],
    )
    .await
}

#[derive(Clone, Debug)]
struct Session {
    id: String,
    csrf: String,
}

/// Signs in through the sign-in form; returns the response to the form post.
async fn try_login(
    app: &Router,
    email: &str,
    password: &str,
    ip: [u8; 4],
    old: Option<&str>,
) -> Res {
    try_login_via(app, email, password, ip, old, None).await
}

/// [`try_login`] with an `X-Forwarded-For` header (as a proxy in front would add).
async fn try_login_via(
    app: &Router,
    email: &str,
    password: &str,
    ip: [u8; 4],
    old: Option<&str>,
    forwarded_for: Option<&str>,
) -> Res {
    let with_xff = |b: axum::http::request::Builder| match forwarded_for {
        Some(x) => b.header("x-forwarded-for", x),
        None => b,
    };
    let page = send(
        app,
        with_xff(Request::get("/login").header(header::HOST, HOST))
            .body(Body::empty())
            .unwrap(),
        ip,
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    let login_cookie = page
        .cookie("dc_login")
        .expect("the sign-in form sets its cookie");
    let csrf = page.hidden("csrf");
    let mut cookie = format!("dc_login={login_cookie}");
    if let Some(o) = old {
        cookie.push_str(&format!("; dc_session={o}"));
    }
    let body = form(&[
        ("email", email),
        ("password", password),
        ("csrf", &csrf),
        ("next", "/holds"),
    ]);
    let req = with_xff(
        Request::post("/login")
            .header(header::HOST, HOST)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, cookie)
            .header(header::ORIGIN, ORIGIN),
    )
    .body(Body::from(body))
    .unwrap();
    send(app, req, ip).await
}

async fn login(app: &Router, email: &str) -> Session {
    let res = try_login(app, email, PASSWORD, [127, 0, 0, 1], None).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let id = res.cookie("dc_session").expect("a session cookie");
    let page = get(app, "/logout", Some(&id)).await;
    assert_eq!(page.status, StatusCode::OK);
    Session {
        csrf: page.hidden("csrf"),
        id,
    }
}

/// A story run twice: `NAME::sqlite` always, `NAME::postgres` when a server is configured.
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

// ------------------------------------------------------------------ tests

#[tokio::test]
async fn signed_out_every_staff_page_redirects_to_sign_in() {
    let e = env().await;
    let id = e.hold(EXPOSED, "agent@example.com").await;
    for path in [
        "/holds".to_string(),
        "/holds?status=all".to_string(),
        format!("/holds/{id}"),
        "/audit".to_string(),
        "/audit.csv".to_string(),
        "/users".to_string(),
        "/account".to_string(),
        "/logout".to_string(),
    ] {
        let res = get(&e.app, &path, None).await;
        assert_eq!(res.status, StatusCode::SEE_OTHER, "{path}");
        let loc = res.location();
        assert!(loc.starts_with("/login?next=%2F"), "{path} → {loc}");
        assert_eq!(res.headers["cache-control"], "no-store");
    }
    // A made-up session cookie is worth nothing.
    let res = get(
        &e.app,
        "/holds",
        Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
    )
    .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    for path in [
        format!("/holds/{id}/approve"),
        format!("/holds/{id}/reject"),
        format!("/holds/{id}/fix"),
        format!("/holds/{id}/retry"),
        format!("/holds/{id}/reassign"),
        "/users".into(),
        "/users/role".into(),
        "/users/disable".into(),
        "/users/enable".into(),
        "/users/password".into(),
        "/account/password".into(),
        "/logout".into(),
    ] {
        let res = post_raw(
            &e.app,
            &path,
            None,
            "csrf=x".into(),
            Some(ORIGIN),
            [127, 0, 0, 1],
        )
        .await;
        assert_eq!(res.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(res.location(), "/login", "{path}");
    }
    assert_eq!(e.status(&id).await, HoldStatus::Held);

    let root = get(&e.app, "/", None).await;
    assert_eq!(root.location(), "/holds");
    let login = get(&e.app, "/login?next=%2Fholds%2Fx", None).await;
    assert_eq!(login.status, StatusCode::OK);
    assert!(login.body.contains("<label for=\"email\">Email</label>"));
    assert_eq!(login.hidden("next"), "/holds/x");
    let csp = login.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
    assert!(csp.contains("style-src 'self'") && csp.contains("form-action 'self'"));
    assert_eq!(login.headers["x-content-type-options"], "nosniff");
    assert_eq!(login.headers["cache-control"], "no-store");
    assert!(login.headers.contains_key("referrer-policy"));
    let css = get(&e.app, "/static/style.css", None).await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(
        css.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    assert!(css.body.contains("@media"));
    // Somewhere else after sign-in never means another site.
    let evil = get(&e.app, "/login?next=%2F%2Fevil.example", None).await;
    assert_eq!(evil.hidden("next"), "/holds");
}

both!(role_matrix, role_matrix_story);

async fn role_matrix_story(db: Db) {
    let e = env_on(db, |_| {}).await;
    let agent_own = e.hold(EXPOSED, "agent@example.com").await;
    let agent2_own = e.hold(CARD, "agent2@example.com").await;
    let reviewer_own = e.hold(EXPOSED, "rev@example.com").await;
    let admin = login(&e.app, "admin@example.com").await;
    let rev = login(&e.app, "rev@example.com").await;
    let agent = login(&e.app, "agent@example.com").await;

    // The queue: agents see their own messages only, whatever they ask for.
    for path in [
        "/holds",
        "/holds?status=all",
        "/holds?sender=agent2%40example.com&status=all",
    ] {
        let q = get(&e.app, path, Some(&agent.id)).await;
        assert_eq!(q.status, StatusCode::OK, "{path}");
        assert!(q.body.contains(&agent_own), "{path}");
        assert!(
            !q.body.contains(&agent2_own),
            "{path}: another agent's message leaked"
        );
        assert!(!q.body.contains(&reviewer_own), "{path}");
        assert!(!q.body.contains("Approve"), "{path}");
    }
    for s in [&rev, &admin] {
        let q = get(&e.app, "/holds", Some(&s.id)).await;
        for id in [&agent_own, &agent2_own, &reviewer_own] {
            assert!(q.body.contains(id.as_str()));
        }
    }

    // The message page: an agent sees their own (and why), never another's: 404 as if absent.
    let own = get(&e.app, &format!("/holds/{agent_own}"), Some(&agent.id)).await;
    assert_eq!(own.status, StatusCode::OK);
    assert!(own.body.contains("recipients.exposed"));
    assert!(
        !own.body.contains("/approve"),
        "an agent gets no decision forms"
    );
    let other = get(&e.app, &format!("/holds/{agent2_own}"), Some(&agent.id)).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    let missing = get(&e.app, "/holds/hold_aaaaaaaaaaaaaaaa", Some(&agent.id)).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(
        other.body, missing.body,
        "no difference between another's and none"
    );

    // Agents decide nothing, on their own messages or anyone's.
    for id in [&agent_own, &agent2_own] {
        for (action, extra) in [
            ("approve", ("justification", "fine")),
            ("reject", ("reason", "no")),
            ("fix", ("justification", "fine")),
            ("reassign", ("assignee", "rev2@example.com")),
        ] {
            let res = post(
                &e.app,
                &format!("/holds/{id}/{action}"),
                &agent,
                &[extra, ("fix", "bccify")],
            )
            .await;
            assert_eq!(res.status, StatusCode::FORBIDDEN, "agent {action} {id}");
            assert!(!res.body.contains("4556"), "no content in the refusal");
        }
        assert_eq!(e.status(id).await, HoldStatus::Held);
    }

    // A reviewer never decides on their own message (four eyes), whatever the action.
    let mine = get(&e.app, &format!("/holds/{reviewer_own}"), Some(&rev.id)).await;
    assert!(mine.body.contains("You sent this message"));
    assert!(!mine.body.contains("/approve"));
    for (action, extra) in [
        ("approve", ("justification", "mine is fine")),
        ("reject", ("reason", "no")),
        ("fix", ("justification", "fixed")),
        ("reassign", ("assignee", "rev2@example.com")),
    ] {
        let res = post(
            &e.app,
            &format!("/holds/{reviewer_own}/{action}"),
            &rev,
            &[extra, ("fix", "bccify")],
        )
        .await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "self {action}");
    }
    assert_eq!(e.status(&reviewer_own).await, HoldStatus::Held);
    assert!(e.sink.got().is_empty());
    let denied = e
        .actions()
        .await
        .into_iter()
        .filter(|(a, act, s)| {
            a == "rev@example.com" && act == "hold.decide_denied" && *s == reviewer_own
        })
        .count();
    assert_eq!(denied, 4, "every refused attempt is in the audit log");

    // Admin pages: admins only.
    for path in ["/audit", "/audit.csv", "/users"] {
        for s in [&agent, &rev] {
            let res = get(&e.app, path, Some(&s.id)).await;
            assert_eq!(res.status, StatusCode::FORBIDDEN, "{path}");
        }
        assert_eq!(
            get(&e.app, path, Some(&admin.id)).await.status,
            StatusCode::OK,
            "{path}"
        );
    }
    for (path, pairs) in [
        (
            "/users",
            vec![
                ("email", "new@example.com"),
                ("role", "admin"),
                ("password", "a long enough password"),
            ],
        ),
        (
            "/users/role",
            vec![("email", "agent@example.com"), ("role", "admin")],
        ),
        ("/users/disable", vec![("email", "admin@example.com")]),
        ("/users/enable", vec![("email", "off@example.com")]),
    ] {
        for s in [&agent, &rev] {
            let res = post(&e.app, path, s, &pairs).await;
            assert_eq!(res.status, StatusCode::FORBIDDEN, "{path}");
        }
    }
    let agent_user = e
        .state
        .app
        .store
        .user_get("agent@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(agent_user.role, Role::Agent, "no escalation");
    assert!(
        e.state
            .app
            .store
            .user_get("new@example.com")
            .await
            .unwrap()
            .is_none()
    );

    // Admins manage staff: add, change a role, disable (which ends the sessions), not themselves.
    let res = post(
        &e.app,
        "/users",
        &admin,
        &[
            ("email", "New@Example.com"),
            ("role", "reviewer"),
            ("password", "a long enough password"),
        ],
    )
    .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(
        e.state
            .app
            .store
            .user_get("new@example.com")
            .await
            .unwrap()
            .unwrap()
            .role,
        Role::Reviewer
    );
    let short = post(
        &e.app,
        "/users",
        &admin,
        &[
            ("email", "x@example.com"),
            ("role", "agent"),
            ("password", "short"),
        ],
    )
    .await;
    assert_eq!(short.status, StatusCode::BAD_REQUEST);
    let dup = post(
        &e.app,
        "/users",
        &admin,
        &[
            ("email", "rev@example.com"),
            ("role", "agent"),
            ("password", "a long enough password"),
        ],
    )
    .await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    let me = post(
        &e.app,
        "/users/disable",
        &admin,
        &[("email", "admin@example.com")],
    )
    .await;
    assert_eq!(me.status, StatusCode::CONFLICT);
    let me = post(
        &e.app,
        "/users/role",
        &admin,
        &[("email", "admin@example.com"), ("role", "agent")],
    )
    .await;
    assert_eq!(me.status, StatusCode::CONFLICT);
    let res = post(
        &e.app,
        "/users/role",
        &admin,
        &[("email", "agent2@example.com"), ("role", "reviewer")],
    )
    .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert!(get(&e.app, "/holds", Some(&rev.id)).await.status == StatusCode::OK);
    let res = post(
        &e.app,
        "/users/disable",
        &admin,
        &[("email", "rev@example.com")],
    )
    .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(
        get(&e.app, "/holds", Some(&rev.id)).await.status,
        StatusCode::SEE_OTHER,
        "a disabled user's session ends at once"
    );
    let users = get(&e.app, "/users?done=disabled", Some(&admin.id)).await;
    assert!(users.body.contains("rev@example.com") && users.body.contains("disabled"));
    let acts: Vec<String> = e.actions().await.into_iter().map(|a| a.1).collect();
    for a in ["user.add", "user.role", "user.disable"] {
        assert!(acts.iter().any(|x| x == a), "{a} audited");
    }
    assert!(e.state.app.store.audit_verify().await.unwrap().is_ok());
}

#[tokio::test]
async fn disabled_user_cannot_sign_in() {
    let e = env().await;
    let res = try_login(&e.app, "off@example.com", PASSWORD, [127, 0, 0, 1], None).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert!(res.cookie("dc_session").is_none());
    assert!(res.body.contains("disabled"));
    let res = try_login(
        &e.app,
        "off@example.com",
        "wrong password here",
        [127, 0, 0, 1],
        None,
    )
    .await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert!(
        res.body.contains("Wrong email or password"),
        "a wrong password says nothing more"
    );
    let acts = e.actions().await;
    assert!(
        acts.iter()
            .any(|(a, act, _)| a == "off@example.com" && act == "auth.login_failed")
    );
}

#[tokio::test]
async fn csrf_token_missing_or_wrong_is_403() {
    let e = env().await;
    let id = e.hold(EXPOSED, "agent@example.com").await;
    let rev = login(&e.app, "rev@example.com").await;
    let cookie = format!("dc_session={}", rev.id);
    for body in [
        form(&[("justification", "ok")]),
        form(&[("justification", "ok"), ("csrf", "")]),
        form(&[("justification", "ok"), ("csrf", "not-the-token")]),
        form(&[("justification", "ok"), ("csrf", &format!("{}x", rev.csrf))]),
    ] {
        for action in ["approve", "reject", "fix", "reassign"] {
            let res = post_raw(
                &e.app,
                &format!("/holds/{id}/{action}"),
                Some(&cookie),
                body.clone(),
                Some(ORIGIN),
                [127, 0, 0, 1],
            )
            .await;
            assert_eq!(res.status, StatusCode::FORBIDDEN, "{action} {body}");
        }
        let res = post_raw(
            &e.app,
            "/logout",
            Some(&cookie),
            body.clone(),
            Some(ORIGIN),
            [127, 0, 0, 1],
        )
        .await;
        assert_eq!(res.status, StatusCode::FORBIDDEN);
    }
    assert_eq!(e.status(&id).await, HoldStatus::Held);
    // Another session's token is not this one's.
    let rev2 = login(&e.app, "rev2@example.com").await;
    let res = post_raw(
        &e.app,
        &format!("/holds/{id}/approve"),
        Some(&cookie),
        form(&[("justification", "ok"), ("csrf", &rev2.csrf)]),
        Some(ORIGIN),
        [127, 0, 0, 1],
    )
    .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    // The sign-in form: its token must match its cookie.
    let res = post_raw(
        &e.app,
        "/login",
        Some("dc_login=abc"),
        form(&[
            ("email", "rev@example.com"),
            ("password", PASSWORD),
            ("csrf", "abd"),
        ]),
        Some(ORIGIN),
        [127, 0, 0, 1],
    )
    .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    let res = post_raw(
        &e.app,
        "/login",
        None,
        form(&[("email", "rev@example.com"), ("password", PASSWORD)]),
        Some(ORIGIN),
        [127, 0, 0, 1],
    )
    .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert!(res.cookie("dc_session").is_none());
    // With the right token it works.
    let res = post(
        &e.app,
        &format!("/holds/{id}/reject"),
        &rev,
        &[("reason", "not like this")],
    )
    .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(e.status(&id).await, HoldStatus::Rejected);
}

#[tokio::test]
async fn cross_origin_posts_are_403() {
    let e = env().await;
    let id = e.hold(EXPOSED, "agent@example.com").await;
    let rev = login(&e.app, "rev@example.com").await;
    let body = form(&[("justification", "ok"), ("csrf", &rev.csrf)]);
    let cookie = format!("dc_session={}", rev.id);
    for origin in [
        "http://evil.example",
        "null",
        "https://localhost",
        "http://localhost.evil.example",
    ] {
        let res = post_raw(
            &e.app,
            &format!("/holds/{id}/approve"),
            Some(&cookie),
            body.clone(),
            Some(origin),
            [127, 0, 0, 1],
        )
        .await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{origin}");
    }
    // Without Origin, a foreign Referer is refused too.
    let mut req = Request::post(format!("/holds/{id}/approve"))
        .header(header::HOST, HOST)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, &cookie)
        .header(header::REFERER, "http://evil.example/page")
        .body(Body::from(body.clone()))
        .unwrap();
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 1))));
    assert_eq!(
        e.app.clone().oneshot(req).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    // A cross-origin sign-in is refused as well.
    let res = post_raw(
        &e.app,
        "/login",
        None,
        form(&[("email", "rev@example.com")]),
        Some("http://evil.example"),
        [127, 0, 0, 1],
    )
    .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert_eq!(e.status(&id).await, HoldStatus::Held);
    // Same origin: accepted.
    let res = post(
        &e.app,
        &format!("/holds/{id}/approve"),
        &rev,
        &[("justification", "customers agreed")],
    )
    .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(e.status(&id).await, HoldStatus::Released);
}

both!(
    sign_in_makes_a_new_session_and_the_old_one_dies,
    sign_in_makes_a_new_session_and_the_old_one_dies_story
);

async fn sign_in_makes_a_new_session_and_the_old_one_dies_story(db: Db) {
    let e = env_on(db, |_| {}).await;
    let first = login(&e.app, "rev@example.com").await;
    // Signing in again from the same browser (carrying the first session's cookie).
    let res = try_login(
        &e.app,
        "rev2@example.com",
        PASSWORD,
        [127, 0, 0, 1],
        Some(&first.id),
    )
    .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    let second = res.cookie("dc_session").unwrap();
    assert_ne!(second, first.id, "a new session id at sign-in");
    assert_eq!(
        get(&e.app, "/holds", Some(&first.id)).await.status,
        StatusCode::SEE_OTHER,
        "the old id is dead"
    );
    assert_eq!(
        get(&e.app, "/holds", Some(&second)).await.status,
        StatusCode::OK
    );
    // A session id planted before sign-in is not adopted.
    let planted = "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE";
    let res = try_login(
        &e.app,
        "rev@example.com",
        PASSWORD,
        [127, 0, 0, 1],
        Some(planted),
    )
    .await;
    assert_ne!(res.cookie("dc_session").unwrap(), planted);
    assert_eq!(
        get(&e.app, "/holds", Some(planted)).await.status,
        StatusCode::SEE_OTHER
    );
    // Only the hash of a session id is stored.
    let stored = e.state.app.store.session_get(&second).await.unwrap();
    assert!(stored.is_none());
    let by_hash = e
        .state
        .app
        .store
        .session_get(&doublecheck_store::sha256_hex(second.as_bytes()))
        .await
        .unwrap();
    assert_eq!(by_hash.unwrap().user.email, "rev2@example.com");
}

both!(
    password_guessing_is_throttled_per_account_and_per_address,
    password_guessing_is_throttled_per_account_and_per_address_story
);

async fn password_guessing_is_throttled_per_account_and_per_address_story(db: Db) {
    let e = env_on(db, |_| {}).await;
    for i in 0..5 {
        let res = try_login(
            &e.app,
            "rev@example.com",
            &format!("guess number {i}"),
            [10, 0, 0, i + 1],
            None,
        )
        .await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    }
    // The account is paused, even with the right password, from any address.
    let res = try_login(&e.app, "rev@example.com", PASSWORD, [10, 0, 0, 99], None).await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(res.body.contains("Too many failed sign-ins"));
    assert_eq!(res.headers["retry-after"], "900");
    assert!(res.cookie("dc_session").is_none());
    // One address guessing across accounts is paused too; other addresses are not.
    for i in 0..5 {
        let res = try_login(
            &e.app,
            &format!("nobody{i}@example.com"),
            "whatever it is",
            [10, 9, 9, 9],
            None,
        )
        .await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    }
    let res = try_login(&e.app, "rev2@example.com", PASSWORD, [10, 9, 9, 9], None).await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS);
    let res = try_login(&e.app, "rev2@example.com", PASSWORD, [10, 9, 9, 8], None).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    let acts = e.actions().await;
    assert!(acts.iter().filter(|a| a.1 == "auth.login_failed").count() >= 10);
    assert!(
        acts.iter()
            .any(|a| a.1 == "auth.throttled" && a.0 == "rev@example.com")
    );
    assert!(
        acts.iter()
            .any(|a| a.1 == "auth.login" && a.0 == "rev2@example.com")
    );
    let details: Vec<String> = e
        .state
        .app
        .store
        .audit_list(0, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|x| x.action == "auth.login")
        .map(|x| x.details_json)
        .collect();
    assert!(
        details[0].contains("10.9.9.8"),
        "the address is recorded: {details:?}"
    );
}

#[tokio::test]
async fn cookies_are_flagged() {
    let e = env().await;
    let res = try_login(&e.app, "rev@example.com", PASSWORD, [127, 0, 0, 1], None).await;
    let c = res
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("dc_session="))
        .unwrap();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/;"] {
        assert!(c.contains(flag), "{c}");
    }
    assert!(!c.contains("Secure"), "not on plain HTTP: {c}");
    assert_eq!(res.cookie("dc_session").unwrap().len(), 43, "256 bits");
    let page = get(&e.app, "/login", None).await;
    let lc = page
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("dc_login="))
        .unwrap();
    assert!(
        lc.contains("HttpOnly") && lc.contains("SameSite=Strict"),
        "{lc}"
    );

    let tls = env_with(|c| c.web.secure_cookies = true).await;
    let page = get(&tls.app, "/login", None).await;
    let res = post_raw(
        &tls.app,
        "/login",
        Some(&format!("dc_login={}", page.cookie("dc_login").unwrap())),
        form(&[
            ("email", "rev@example.com"),
            ("password", PASSWORD),
            ("csrf", &page.hidden("csrf")),
        ]),
        Some("https://localhost"),
        [127, 0, 0, 1],
    )
    .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let c = res
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("dc_session="))
        .unwrap();
    assert!(c.contains("; Secure"), "{c}");
}

#[tokio::test]
async fn sessions_end_when_idle_and_everywhere_on_request() {
    let e = env_with(|c| c.web.session_idle_secs = 1).await;
    let s = login(&e.app, "rev@example.com").await;
    assert_eq!(
        get(&e.app, "/holds", Some(&s.id)).await.status,
        StatusCode::OK
    );
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    assert_eq!(
        get(&e.app, "/holds", Some(&s.id)).await.status,
        StatusCode::SEE_OTHER,
        "idle too long"
    );

    let e = env_with(|c| c.web.session_absolute_secs = 1).await;
    let s = login(&e.app, "rev@example.com").await;
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    assert_eq!(
        get(&e.app, "/holds", Some(&s.id)).await.status,
        StatusCode::SEE_OTHER,
        "too old"
    );

    let e = env().await;
    let a = login(&e.app, "rev@example.com").await;
    let b = login(&e.app, "rev@example.com").await;
    let c = login(&e.app, "rev2@example.com").await;
    let res = post(&e.app, "/logout", &a, &[]).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert!(
        res.set_cookies()
            .iter()
            .any(|c| c.starts_with("dc_session=;") && c.contains("Max-Age=0"))
    );
    assert_eq!(
        get(&e.app, "/holds", Some(&a.id)).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        get(&e.app, "/holds", Some(&b.id)).await.status,
        StatusCode::OK
    );
    let a = login(&e.app, "rev@example.com").await;
    let res = post(&e.app, "/logout", &a, &[("everywhere", "1")]).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(
        get(&e.app, "/holds", Some(&b.id)).await.status,
        StatusCode::SEE_OTHER,
        "signed out everywhere"
    );
    assert_eq!(
        get(&e.app, "/holds", Some(&c.id)).await.status,
        StatusCode::OK,
        "others stay"
    );
    let acts: Vec<String> = e.actions().await.into_iter().map(|a| a.1).collect();
    assert!(
        acts.contains(&"auth.logout".to_string())
            && acts.contains(&"auth.logout_everywhere".to_string())
    );
}

#[tokio::test]
async fn sensitive_values_are_never_shown_unmasked() {
    let e = env().await;
    // The card number in the body, in the subject and in an attachment's name.
    let raw = CARD
        .replace(
            "Subject: Card on file",
            "Subject: Card 4556 7375 8689 9855 on file",
        )
        .replace(
            "Content-Type: text/plain; charset=\"us-ascii\"\r\n",
            "Content-Type: multipart/mixed; boundary=\"b1\"\r\n",
        )
        .replace(
            "\r\n\r\nHi,",
            "\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nHi,",
        )
        + "--b1\r\nContent-Type: text/csv; name=\"4556737586899855.csv\"\r\nContent-Disposition: attachment; filename=\"4556737586899855.csv\"\r\n\r\nname,card\r\nann,4556 7375 8689 9855\r\n--b1--\r\n";
    let id = e.hold(&raw, "agent2@example.com").await;
    let admin = login(&e.app, "admin@example.com").await;
    let agent2 = login(&e.app, "agent2@example.com").await;
    let page = get(&e.app, &format!("/holds/{id}"), Some(&admin.id)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("4556 **** **** 9855"),
        "masked evidence is shown"
    );
    assert!(page.body.contains("<mark"), "and highlighted");
    assert!(page.body.contains("content.sensitive_data"));
    assert!(page.body.contains("Remove the value"), "the fix is shown");
    assert!(page.body.contains(".csv"), "the attachment is listed");
    let mut pages = vec![page];
    for path in [
        "/holds".to_string(),
        "/holds?status=all".to_string(),
        "/audit".to_string(),
        "/audit.csv".to_string(),
    ] {
        pages.push(get(&e.app, &path, Some(&admin.id)).await);
    }
    pages.push(get(&e.app, &format!("/holds/{id}"), Some(&agent2.id)).await);
    pages.push(get(&e.app, "/holds", Some(&agent2.id)).await);
    for p in &pages {
        assert_eq!(p.status, StatusCode::OK);
        for digits in CARD_DIGITS {
            assert!(
                !p.body.contains(digits),
                "unmasked card number on a page:\n{}",
                p.body
            );
        }
    }
    // Nor in the audit log.
    for entry in e.state.app.store.audit_list(0, 1000).await.unwrap() {
        for digits in CARD_DIGITS {
            assert!(!entry.details_json.contains(digits) && !entry.subject.contains(digits));
        }
    }
}

#[tokio::test]
async fn html_mail_is_shown_as_escaped_text() {
    let e = env().await;
    let raw = EXPOSED
        .replace("Content-Type: text/plain; charset=\"us-ascii\"", "Content-Type: text/html; charset=\"us-ascii\"")
        .replace(
            "Dear customers,",
            "<p>Dear customers,</p><script>alert(1)</script><img src=\"https://tracker.example/p.gif\"><a href=\"javascript:x\">x</a>",
        );
    let id = e.hold(&raw, "agent@example.com").await;
    let rev = login(&e.app, "rev@example.com").await;
    let page = get(&e.app, &format!("/holds/{id}"), Some(&rev.id)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Dear customers,"));
    for bad in ["<script", "tracker.example", "javascript:", "<img"] {
        assert!(!page.body.contains(bad), "{bad} in the page");
    }
    assert!(page.body.contains("HTML, shown as text"));
}

both!(
    two_approvals_for_severe_findings,
    two_approvals_for_severe_findings_story
);

async fn two_approvals_for_severe_findings_story(db: Db) {
    let e = env_on(db, |c| {
        c.web.two_approvals_min_severity = Some(doublecheck_engine::Severity::High)
    })
    .await;
    let card = e.hold(CARD, "agent2@example.com").await;
    let exposed = e.hold(EXPOSED, "agent@example.com").await; // medium: one approval
    let rev = login(&e.app, "rev@example.com").await;
    let rev2 = login(&e.app, "rev2@example.com").await;

    let page = get(&e.app, &format!("/holds/{card}"), Some(&rev.id)).await;
    assert!(page.body.contains("two different reviewers"));
    let res = post(
        &e.app,
        &format!("/holds/{card}/approve"),
        &rev,
        &[("justification", "")],
    )
    .await;
    assert_eq!(
        res.status,
        StatusCode::BAD_REQUEST,
        "a justification is required"
    );
    let res = post(
        &e.app,
        &format!("/holds/{card}/approve"),
        &rev,
        &[("justification", "customer asked for it")],
    )
    .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert!(res.location().ends_with("done=approval_recorded"));
    assert_eq!(
        e.status(&card).await,
        HoldStatus::Held,
        "one approval is not enough"
    );
    assert!(e.sink.got().is_empty());
    let again = post(
        &e.app,
        &format!("/holds/{card}/approve"),
        &rev,
        &[("justification", "really")],
    )
    .await;
    assert_eq!(
        again.status,
        StatusCode::CONFLICT,
        "the same person twice is not two"
    );
    assert_eq!(e.status(&card).await, HoldStatus::Held);
    let res = post(
        &e.app,
        &format!("/holds/{card}/approve"),
        &rev2,
        &[("justification", "agreed")],
    )
    .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert!(res.location().ends_with("done=released"));
    assert_eq!(e.status(&card).await, HoldStatus::Released);
    let got = e.sink.got();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].rcpts, ["maria.garcia@gmail.com"]);

    let res = post(
        &e.app,
        &format!("/holds/{exposed}/approve"),
        &rev,
        &[("justification", "ok to send")],
    )
    .await;
    assert!(res.location().ends_with("done=released"));
    assert_eq!(e.status(&exposed).await, HoldStatus::Released);

    let acts: Vec<(String, String, String)> = e.actions().await;
    let on_card: Vec<(&str, &str)> = acts
        .iter()
        .filter(|a| a.2 == card && a.1 != "hold.view")
        .map(|a| (a.0.as_str(), a.1.as_str()))
        .collect();
    assert_eq!(
        on_card,
        [
            ("gate", "hold.create"),
            ("rev@example.com", "hold.approve"),
            ("rev2@example.com", "hold.approve"),
            ("rev2@example.com", "hold.release"),
        ]
    );
    let shown = get(&e.app, &format!("/holds/{card}"), Some(&rev.id)).await;
    assert!(shown.body.contains("Approvals (2 of 2)"));
    assert!(e.state.app.store.audit_verify().await.unwrap().is_ok());
}

both!(
    fix_and_release_bccify_and_explode_deliver_the_fixed_message,
    fix_and_release_bccify_and_explode_deliver_the_fixed_message_story
);

async fn fix_and_release_bccify_and_explode_deliver_the_fixed_message_story(db: Db) {
    let e = env_on(db, |_| {}).await;
    let a = e.hold(EXPOSED, "agent@example.com").await;
    let b = e.hold(EXPOSED, "agent@example.com").await;
    let card = e.hold(CARD, "agent2@example.com").await;
    let rev = login(&e.app, "rev@example.com").await;

    // Bcc-ify: one message to the same recipients, none visible.
    let res = post(
        &e.app,
        &format!("/holds/{a}/fix"),
        &rev,
        &[("fix", "bccify"), ("justification", "shared list removed")],
    )
    .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert!(res.location().ends_with("done=fixed"));
    assert_eq!(e.status(&a).await, HoldStatus::Released);
    let got = e.sink.got();
    assert_eq!(got.len(), 1);
    let mut rcpts = got[0].rcpts.clone();
    rcpts.sort();
    let mut want: Vec<String> = CUSTOMERS.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(rcpts, want);
    assert!(
        got[0]
            .data
            .starts_with("To: undisclosed-recipients:;\r\nReply-To: <agent@example.com>\r\n"),
        "{}",
        got[0].data
    );
    for c in CUSTOMERS {
        assert!(!got[0].data.contains(c), "{c} visible");
    }
    assert!(got[0].data.contains("Our Main Street store will be closed"));

    // The original never leaves, even if someone releases it again by hand.
    let again = doublecheck_gate::release::release(&e.state.app, &a, "admin@example.com", None)
        .await
        .unwrap();
    assert!(
        matches!(
            again,
            doublecheck_gate::release::Outcome::Delivered { sent: 0, .. }
        ),
        "{again:?}"
    );
    assert_eq!(e.sink.got().len(), 1);

    // Explode: one message per recipient, each seeing only itself.
    let res = post(
        &e.app,
        &format!("/holds/{b}/fix"),
        &rev,
        &[("fix", "explode"), ("justification", "one each")],
    )
    .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let got = e.sink.got();
    assert_eq!(got.len(), 4);
    for (copy, customer) in got[1..].iter().zip(CUSTOMERS) {
        assert_eq!(copy.rcpts, [customer]);
        assert!(
            copy.data.starts_with(&format!("To: <{customer}>\r\n")),
            "{}",
            copy.data
        );
        for other in CUSTOMERS.iter().filter(|c| **c != customer) {
            assert!(!copy.data.contains(other), "{other} visible to {customer}");
        }
    }
    let page = get(&e.app, &format!("/holds/{b}?done=fixed"), Some(&rev.id)).await;
    assert!(page.body.contains("Fixed and released"));
    assert!(page.body.contains("explode by rev@example.com"));
    assert!(page.body.contains("delivered at"));
    // Each sender is told, in a notice stored with the decision, how their message went out.
    for (hold, words) in [
        (&a, "released with a fix: recipients hidden from each other"),
        (
            &b,
            "released with a fix: one separate message per recipient",
        ),
    ] {
        let notices = e
            .state
            .app
            .store
            .notices_list(&doublecheck_store::NoticeFilter {
                hold_id: Some(hold.to_string()),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        let released: Vec<_> = notices.iter().filter(|n| n.event == "released").collect();
        assert_eq!(released.len(), 1, "{notices:?}");
        assert_eq!(released[0].recipient, "agent@example.com");
        // Sent to the sender through the upstream (the sink here).
        doublecheck_gate::notice::drain(std::time::Duration::from_secs(20)).await;
        let sent: Vec<String> = e
            .sink
            .got
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.data.contains("Auto-Submitted:") && r.data.contains(hold.as_str()))
            .filter_map(|r| {
                mail_parser::MessageParser::new()
                    .parse(r.data.as_bytes())
                    .and_then(|m| m.body_text(0).map(|t| t.to_string()))
            })
            .filter(|t| t.contains("released for delivery"))
            .collect();
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert!(sent[0].contains(words), "{}", sent[0]);
    }

    // A fix that does not remove the problem is refused, and nothing is sent.
    let res = post(
        &e.app,
        &format!("/holds/{card}/fix"),
        &rev,
        &[("fix", "bccify"), ("justification", "try")],
    )
    .await;
    assert_eq!(res.status, StatusCode::CONFLICT);
    assert!(res.body.contains("would still be held"), "{}", res.body);
    assert_eq!(e.status(&card).await, HoldStatus::Held);
    assert_eq!(e.sink.got().len(), 4);
    let res = post(
        &e.app,
        &format!("/holds/{card}/fix"),
        &rev,
        &[
            ("fix", "remove_attachment"),
            ("part", "2"),
            ("justification", "x"),
        ],
    )
    .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "no such attachment");
    let res = post(
        &e.app,
        &format!("/holds/{card}/fix"),
        &rev,
        &[("fix", "shred"), ("justification", "x")],
    )
    .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    // A decided message cannot be fixed again.
    let res = post(
        &e.app,
        &format!("/holds/{a}/fix"),
        &rev,
        &[("fix", "explode"), ("justification", "again")],
    )
    .await;
    assert_eq!(res.status, StatusCode::CONFLICT);
    assert_eq!(e.sink.got().len(), 4);

    let acts = e.actions().await;
    for id in [&a, &b] {
        assert!(
            acts.iter()
                .any(|x| x.1 == "hold.release" && x.2 == *id && x.0 == "rev@example.com")
        );
        assert!(
            acts.iter()
                .any(|x| x.1 == "hold.fix_delivered" && x.2 == *id)
        );
    }
    assert!(e.state.app.store.audit_verify().await.unwrap().is_ok());
}

#[tokio::test]
async fn remove_an_attachment_then_release() {
    let e = env().await;
    let raw = "From: Care <care@phoneco.example>\r\nTo: maria.garcia@gmail.com\r\nSubject: Statement\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"zz\"\r\n\r\n--zz\r\n\
Content-Type: text/plain\r\n\r\nYour statement is attached.\r\n--zz\r\nContent-Type: text/csv; name=\"cards.csv\"\r\n\
Content-Disposition: attachment; filename=\"cards.csv\"\r\n\r\nname,card\r\nann,4556 7375 8689 9855\r\n--zz--\r\n";
    let id = e.hold(raw, "agent@example.com").await;
    let rev = login(&e.app, "rev@example.com").await;
    let page = get(&e.app, &format!("/holds/{id}"), Some(&rev.id)).await;
    assert!(
        page.body
            .contains("<option value=\"2\">part 2: cards.csv</option>"),
        "{}",
        page.body
    );
    let res = post(
        &e.app,
        &format!("/holds/{id}/fix"),
        &rev,
        &[
            ("fix", "remove_attachment"),
            ("part", "2"),
            ("justification", "card list removed"),
        ],
    )
    .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let got = e.sink.got();
    assert_eq!(got.len(), 1);
    assert!(!got[0].data.contains("cards.csv") && !got[0].data.contains("4556"));
    assert!(got[0].data.contains("Your statement is attached."));
}

both!(reject_and_reassign, reject_and_reassign_story);

async fn reject_and_reassign_story(db: Db) {
    let e = env_on(db, |_| {}).await;
    let id = e.hold(EXPOSED, "agent@example.com").await;
    let rev = login(&e.app, "rev@example.com").await;
    let res = post(
        &e.app,
        &format!("/holds/{id}/reassign"),
        &rev,
        &[("assignee", "agent2@example.com")],
    )
    .await;
    assert_eq!(
        res.status,
        StatusCode::BAD_REQUEST,
        "only reviewers take messages"
    );
    let res = post(
        &e.app,
        &format!("/holds/{id}/reassign"),
        &rev,
        &[("assignee", "agent@example.com")],
    )
    .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    let res = post(
        &e.app,
        &format!("/holds/{id}/reassign"),
        &rev,
        &[("assignee", "rev2@example.com")],
    )
    .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    let q = get(&e.app, "/holds", Some(&rev.id)).await;
    assert!(q.body.contains("rev2@example.com"));
    let res = post(
        &e.app,
        &format!("/holds/{id}/reject"),
        &rev,
        &[("reason", "   ")],
    )
    .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "a reason is required");
    let res = post(
        &e.app,
        &format!("/holds/{id}/reject"),
        &rev,
        &[("reason", "Send one message per customer.")],
    )
    .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    let hold = e.state.app.store.get_hold(&id).await.unwrap().unwrap();
    assert_eq!(hold.status, HoldStatus::Rejected);
    assert_eq!(
        hold.decision_reason.as_deref(),
        Some("Send one message per customer.")
    );
    assert!(e.sink.got().is_empty());
    // The agent sees the outcome and why.
    let agent = login(&e.app, "agent@example.com").await;
    let page = get(&e.app, &format!("/holds/{id}"), Some(&agent.id)).await;
    assert!(page.body.contains("rejected by rev@example.com"));
    assert!(page.body.contains("Send one message per customer."));
    let res = post(
        &e.app,
        &format!("/holds/{id}/approve"),
        &rev,
        &[("justification", "changed my mind")],
    )
    .await;
    assert_eq!(res.status, StatusCode::CONFLICT);
    let acts = e.actions().await;
    assert!(acts.iter().any(|a| a.1 == "hold.reassign"));
    assert!(
        acts.iter()
            .any(|a| a.1 == "hold.reject" && a.0 == "rev@example.com")
    );
    // The decision's own entry names the reviewer's address, as the request entry does.
    let entry = e
        .state
        .app
        .store
        .audit_list(0, 1000)
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.action == "hold.reject" && a.subject == id)
        .expect("a hold.reject entry");
    assert!(
        entry.details_json.contains("\"ip\":\"127.0.0.1\""),
        "{}",
        entry.details_json
    );
}

both!(
    every_view_and_step_is_audited_and_exported,
    every_view_and_step_is_audited_and_exported_story
);

async fn every_view_and_step_is_audited_and_exported_story(db: Db) {
    let e = env_on(db, |_| {}).await;
    let id = e.hold(EXPOSED, "agent@example.com").await;
    let admin = login(&e.app, "admin@example.com").await;
    let rev = login(&e.app, "rev@example.com").await;
    get(&e.app, &format!("/holds/{id}"), Some(&rev.id)).await;
    get(&e.app, &format!("/holds/{id}"), Some(&rev.id)).await;
    post(
        &e.app,
        &format!("/holds/{id}/fix"),
        &rev,
        &[("fix", "explode"), ("justification", "one each")],
    )
    .await;
    let views = e
        .actions()
        .await
        .into_iter()
        .filter(|a| a.1 == "hold.view" && a.2 == id)
        .count();
    assert_eq!(views, 2);
    let page = get(&e.app, "/audit?action=hold.", Some(&admin.id)).await;
    assert_eq!(page.status, StatusCode::OK);
    for a in [
        "hold.view",
        "hold.release",
        "hold.fix_delivered",
        "hold.create",
    ] {
        assert!(page.body.contains(a), "{a}");
    }
    assert!(!page.body.contains("auth.login"));
    let page = get(
        &e.app,
        "/audit?actor=rev%40example.com&action=auth.login",
        Some(&admin.id),
    )
    .await;
    assert!(page.body.contains("auth.login") && page.body.contains("127.0.0.1"));
    assert!(!page.body.contains("hold.view"));
    let page = get(
        &e.app,
        "/audit?from=2000-01-01&to=2000-01-02",
        Some(&admin.id),
    )
    .await;
    assert!(page.body.contains("No entries match"));
    let bad = get(&e.app, "/audit?from=yesterday", Some(&admin.id)).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let csv = get(&e.app, "/audit.csv?action=hold.", Some(&admin.id)).await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(
        csv.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        csv.headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("attachment")
    );
    let lines: Vec<&str> = csv.body.lines().collect();
    assert_eq!(lines[0], "seq,at,actor,action,subject,ip,details,hash");
    assert!(
        lines
            .iter()
            .any(|l| l.contains(",hold.release,") && l.contains("127.0.0.1"))
    );
    assert!(lines[1..].iter().all(|l| l.contains(",hold.")));
    assert!(e.actions().await.iter().any(|a| a.1 == "audit.export"));
    assert!(e.state.app.store.audit_verify().await.unwrap().is_ok());
}

both!(
    queue_filters_counts_and_pages,
    queue_filters_counts_and_pages_story
);

async fn queue_filters_counts_and_pages_story(db: Db) {
    let e = env_on(db, |_| {}).await;
    let mut exposed = Vec::new();
    for _ in 0..55 {
        exposed.push(e.hold(EXPOSED, "agent@example.com").await);
    }
    let card = e.hold(CARD, "agent2@example.com").await;
    let rev = login(&e.app, "rev@example.com").await;
    let first = get(&e.app, "/holds", Some(&rev.id)).await;
    assert_eq!(first.status, StatusCode::OK);
    assert!(first.body.contains("<strong>56</strong> held"));
    assert_eq!(first.body.matches("<a href=\"/holds/hold_").count(), 50);
    assert!(
        first.body.find(&card).unwrap() < first.body.find(&exposed[54]).unwrap(),
        "newest first"
    );
    let next = first
        .body
        .split("href=\"")
        .filter_map(|s| s.split('"').next())
        .find(|h| h.contains("cursor="))
        .expect("a link to older messages")
        .replace("&#38;", "&")
        .replace("&amp;", "&");
    let second = get(&e.app, &next, Some(&rev.id)).await;
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(second.body.matches("<a href=\"/holds/hold_").count(), 6);
    assert!(second.body.contains(&exposed[0]));
    assert!(
        !second.body.contains("cursor="),
        "no older page after the last"
    );

    let by_detector = get(
        &e.app,
        "/holds?detector=content.sensitive_data",
        Some(&rev.id),
    )
    .await;
    assert_eq!(
        by_detector.body.matches("<a href=\"/holds/hold_").count(),
        1
    );
    assert!(by_detector.body.contains(&card));
    let by_sender = get(&e.app, "/holds?sender=AGENT2%40example.com", Some(&rev.id)).await;
    assert_eq!(by_sender.body.matches("<a href=\"/holds/hold_").count(), 1);
    let old = get(&e.app, "/holds?age=1h", Some(&rev.id)).await;
    assert!(old.body.contains("No messages match"));
    let released = get(&e.app, "/holds?status=released", Some(&rev.id)).await;
    assert!(released.body.contains("No messages match"));
    assert!(first.body.contains("just now"), "time waiting is shown");
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_page() {
    let e = env().await;
    let id = e.hold(EXPOSED, "agent@example.com").await;
    let rev = login(&e.app, "rev@example.com").await;
    for (path, status) in [
        ("/holds?status=bogus", StatusCode::BAD_REQUEST),
        ("/holds?detector=nope", StatusCode::BAD_REQUEST),
        ("/holds?age=forever", StatusCode::BAD_REQUEST),
        ("/holds?cursor=garbage", StatusCode::BAD_REQUEST),
        ("/holds?cursor=12.hold_..%2F", StatusCode::BAD_REQUEST),
        ("/holds/not-a-hold", StatusCode::NOT_FOUND),
        ("/holds/hold_%FF%FE", StatusCode::NOT_FOUND),
        ("/holds/..%2F..%2Fetc%2Fpasswd", StatusCode::NOT_FOUND),
        ("/audit?before=x", StatusCode::FORBIDDEN),
    ] {
        let res = get(&e.app, path, Some(&rev.id)).await;
        assert_eq!(res.status, status, "{path}");
        assert!(
            res.body.contains("<h1"),
            "a page, not a bare message: {path}"
        );
    }
    let big = "x".repeat(100 * 1024);
    let res = post(
        &e.app,
        &format!("/holds/{id}/approve"),
        &rev,
        &[("justification", &big)],
    )
    .await;
    assert_eq!(res.status, StatusCode::PAYLOAD_TOO_LARGE);
    let long = "y".repeat(3000);
    let res = post(
        &e.app,
        &format!("/holds/{id}/approve"),
        &rev,
        &[("justification", &long)],
    )
    .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    let res = post_raw(
        &e.app,
        &format!("/holds/{id}/approve"),
        Some(&format!("dc_session={}", rev.id)),
        format!("csrf={}&justification=a&justification=b", rev.csrf),
        Some(ORIGIN),
        [127, 0, 0, 1],
    )
    .await;
    assert!(res.status.is_client_error(), "{}", res.status);
    let mut req = Request::post(format!("/holds/{id}/approve"))
        .header(header::HOST, HOST)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::COOKIE, format!("dc_session={}", rev.id))
        .body(Body::from("{}"))
        .unwrap();
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 1))));
    assert!(
        e.app
            .clone()
            .oneshot(req)
            .await
            .unwrap()
            .status()
            .is_client_error()
    );
    let weird = get(&e.app, "/holds", Some("a;b=c; dc_session=\"x\"; =;;")).await;
    assert_eq!(weird.status, StatusCode::SEE_OTHER);
    assert_eq!(e.status(&id).await, HoldStatus::Held);
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_is_throttled_on_its_own() {
    let e = env_with(|c| c.web.trusted_proxies = vec![[127, 0, 0, 1].into()]).await;
    let proxy = [127, 0, 0, 1];
    for i in 0..5 {
        let res = try_login_via(
            &e.app,
            &format!("nobody{i}@example.com"),
            "some guess here",
            proxy,
            None,
            Some("198.51.100.7, 203.0.113.5"),
        )
        .await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    }
    // The guessing client is paused; another client behind the same proxy is not.
    let res = try_login_via(
        &e.app,
        "rev@example.com",
        PASSWORD,
        proxy,
        None,
        Some("203.0.113.5"),
    )
    .await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS);
    let res = try_login_via(
        &e.app,
        "rev@example.com",
        PASSWORD,
        proxy,
        None,
        Some("203.0.113.6"),
    )
    .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    let login = e
        .state
        .app
        .store
        .audit_list(0, 1000)
        .await
        .unwrap()
        .into_iter()
        .find(|x| x.action == "auth.login")
        .unwrap();
    assert!(
        login.details_json.contains("203.0.113.6"),
        "{}",
        login.details_json
    );
    // From any other peer the header is not believed: it cannot dodge the throttle.
    let e = env().await;
    for i in 0..5 {
        let xff = format!("203.0.113.{i}");
        let res = try_login_via(
            &e.app,
            "rev@example.com",
            "guess again",
            [10, 1, 1, 1],
            None,
            Some(&xff),
        )
        .await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    }
    let res = try_login_via(
        &e.app,
        "rev2@example.com",
        PASSWORD,
        [10, 1, 1, 1],
        None,
        Some("203.0.113.200"),
    )
    .await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_failed_delivery_of_the_fix_can_be_retried_and_never_sends_the_original() {
    let e = env().await;
    let id = e.hold(EXPOSED, "agent@example.com").await;
    let rev = login(&e.app, "rev@example.com").await;
    e.sink
        .refuse
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let res = post(
        &e.app,
        &format!("/holds/{id}/fix"),
        &rev,
        &[("fix", "bccify"), ("justification", "list removed")],
    )
    .await;
    assert_eq!(res.status, StatusCode::BAD_GATEWAY, "{}", res.body);
    assert!(res.body.contains("Released, but not delivered yet"));
    assert_eq!(e.status(&id).await, HoldStatus::Released);
    assert!(e.sink.got().is_empty());
    let page = get(&e.app, &format!("/holds/{id}"), Some(&rev.id)).await;
    assert!(page.body.contains("Deliver again"));
    assert!(page.body.contains("not delivered yet"));
    // A plain release (the command line's retry) does not send the unfixed original.
    e.sink
        .refuse
        .store(false, std::sync::atomic::Ordering::SeqCst);
    doublecheck_gate::release::release(&e.state.app, &id, "admin@example.com", None)
        .await
        .unwrap();
    assert!(e.sink.got().is_empty(), "the original left");
    let agent = login(&e.app, "agent@example.com").await;
    let res = post(&e.app, &format!("/holds/{id}/retry"), &agent, &[]).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "agents do not deliver");
    let res = post(&e.app, &format!("/holds/{id}/retry"), &rev, &[]).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let got = e.sink.got();
    assert_eq!(got.len(), 1);
    assert!(got[0].data.starts_with("To: undisclosed-recipients:;"));
    let res = post(&e.app, &format!("/holds/{id}/retry"), &rev, &[]).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(e.sink.got().len(), 1, "delivered once");
    let page = get(&e.app, &format!("/holds/{id}"), Some(&rev.id)).await;
    assert!(!page.body.contains("Deliver again"));
    let other = e.hold(EXPOSED, "agent@example.com").await;
    let res = post(&e.app, &format!("/holds/{other}/retry"), &rev, &[]).await;
    assert_eq!(res.status, StatusCode::CONFLICT, "nothing to deliver again");
}

#[tokio::test]
async fn a_message_the_mta_holds_is_fixed_by_reinjection_and_the_original_discarded() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("discarded");
    let log2 = log.clone();
    let sink = Sink::start().await;
    let e = env_with(move |c| {
        c.smtp.upstream = None;
        c.milter.reinject = Some(sink.addr.to_string());
        c.milter.discard_command = vec![
            "sh".into(),
            "-c".into(),
            format!("echo \"$1\" >> {}", log2.display()),
            "discard".into(),
            "{queue_id}".into(),
        ];
    })
    .await;
    let raw = EXPOSED.replace("care@phoneco.example", "agent@example.com");
    let msg = doublecheck_engine::parse::parse(raw.as_bytes(), &Default::default());
    let env = doublecheck_engine::envelope_from_headers(&msg);
    let verdict = e.state.app.engine.check(raw.as_bytes(), &env);
    let id = e
        .state
        .app
        .store
        .create_hold(NewHold {
            raw: raw.into_bytes(),
            mail_from: "agent@example.com".into(),
            rcpt_to: env.rcpt_to,
            verdict_json: serde_json::to_string(&verdict).unwrap(),
            reason: "held".into(),
            sender: Some("agent@example.com".into()),
            queue_id: Some("mta:4XyZ123ABC".into()),
        })
        .await
        .unwrap()
        .id;
    let rev = login(&e.app, "rev@example.com").await;
    let res = post(
        &e.app,
        &format!("/holds/{id}/fix"),
        &rev,
        &[("fix", "explode"), ("justification", "one each")],
    )
    .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(sink.got().len(), 3, "one copy per recipient, re-injected");
    let discarded = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        discarded.trim(),
        "4XyZ123ABC",
        "the original is deleted from the hold queue"
    );
}

/// The subject, decoded (RFC 2047), escaped and masked, names each row of the queue and heads
/// the message page, with the hold id beside it in small type.
#[tokio::test]
async fn subjects_name_the_rows_and_head_the_message_page() {
    let e = env().await;
    // "Verificación <b>" encoded, then a card number in plain text.
    let raw = EXPOSED.replace(
        "\r\nSubject: ",
        "\r\nSubject: =?UTF-8?B?VmVyaWZpY2FjacOzbiA8Yj4=?= card 4556 7375 8689 9855 ",
    );
    assert_ne!(raw, EXPOSED, "the test message has a subject");
    let id = e.hold(&raw, "agent@example.com").await;
    let no_subject = EXPOSED
        .lines()
        .filter(|l| !l.starts_with("Subject:"))
        .collect::<Vec<_>>()
        .join("\r\n");
    let bare = e.hold(&no_subject, "agent@example.com").await;
    let rev = login(&e.app, "rev@example.com").await;
    let agent = login(&e.app, "agent@example.com").await;
    for s in [&rev, &agent] {
        let q = get(&e.app, "/holds", Some(&s.id)).await;
        assert_eq!(q.status, StatusCode::OK);
        assert!(
            q.body.contains(&format!(
                "<a href=\"/holds/{id}\" class=\"subject\">Verificación &#60;b&#62; card 4556 **** **** 9855"
            )) || q.body.contains(&format!(
                "<a href=\"/holds/{id}\" class=\"subject\">Verificación &lt;b&gt; card 4556 **** **** 9855"
            )),
            "the decoded, escaped, masked subject links the row:\n{}",
            q.body
        );
        assert!(q.body.contains(&format!("<span class=\"hid\">{id}</span>")));
        assert!(q.body.contains(&format!(
            "<a href=\"/holds/{bare}\" class=\"subject\">(no subject)</a>"
        )));
        for digits in CARD_DIGITS {
            assert!(
                !q.body.contains(digits),
                "unmasked card number in the queue"
            );
        }
        assert!(!q.body.contains("<b>"), "escaped");
    }
    let page = get(&e.app, &format!("/holds/{id}"), Some(&rev.id)).await;
    assert_eq!(page.status, StatusCode::OK);
    let h1 = page
        .body
        .split("<h1>")
        .nth(1)
        .and_then(|r| r.split("</h1>").next())
        .unwrap()
        .to_string();
    assert!(h1.contains("<span class=\"subject\">Verificación "), "{h1}");
    assert!(h1.contains("4556 **** **** 9855"), "{h1}");
    assert!(
        h1.contains(&format!("<span class=\"hid\">{id}</span>")),
        "{h1}"
    );
    assert!(!h1.contains("<b>"));
    for digits in CARD_DIGITS {
        assert!(
            !page.body.contains(digits),
            "unmasked card number on the page"
        );
    }
    let page = get(&e.app, &format!("/holds/{bare}"), Some(&rev.id)).await;
    assert!(
        page.body
            .contains("<span class=\"subject\">(no subject)</span>")
    );
}

/// A signed-in person changes their own password on /account: the current one is required
/// (a wrong one is throttled and audited), the new one must be long, not the email, typed twice;
/// their other sessions end, this one stays.
#[tokio::test]
async fn own_password_change_on_the_account_page() {
    let e = env_with(|c| c.web.max_login_failures = 3).await;
    let here = login(&e.app, "rev@example.com").await;
    let elsewhere = login(&e.app, "rev@example.com").await;
    let other = login(&e.app, "rev2@example.com").await;
    let page = get(&e.app, "/account", Some(&here.id)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body
            .contains("<label for=\"pw-current\">Current password</label>")
    );
    assert!(page.body.contains("action=\"/account/password\""));
    const NEW: &str = "a brand new passphrase";
    let change = |current: &'static str, new: &'static str, again: &'static str| {
        let app = e.app.clone();
        let here = here.clone();
        async move {
            post(
                &app,
                "/account/password",
                &here,
                &[("current", current), ("password", new), ("again", again)],
            )
            .await
        }
    };
    let wrong = change("not my password", NEW, NEW).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert!(
        wrong.body.contains("current password is not right"),
        "{}",
        wrong.body
    );
    let short = change(PASSWORD, "short", "short").await;
    assert_eq!(short.status, StatusCode::BAD_REQUEST);
    assert!(short.body.contains("at least 12 characters"));
    let email = change(PASSWORD, "REV@example.com", "REV@example.com").await;
    assert_eq!(email.status, StatusCode::BAD_REQUEST);
    assert!(email.body.contains("email address"));
    let differ = change(PASSWORD, NEW, "a brand new passphrasE").await;
    assert_eq!(differ.status, StatusCode::BAD_REQUEST);
    let same = change(PASSWORD, PASSWORD, PASSWORD).await;
    assert_eq!(same.status, StatusCode::BAD_REQUEST);
    // Without the CSRF token: refused before anything else.
    let forged = post_raw(
        &e.app,
        "/account/password",
        Some(&format!("dc_session={}", here.id)),
        form(&[("current", PASSWORD), ("password", NEW), ("again", NEW)]),
        Some(ORIGIN),
        [127, 0, 0, 1],
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    let ok = change(PASSWORD, NEW, NEW).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    assert_eq!(ok.location(), "/account?done=password");
    let after = get(&e.app, "/account?done=password", Some(&here.id)).await;
    assert_eq!(after.status, StatusCode::OK, "this session stays");
    assert!(after.body.contains("Password changed"));
    assert_eq!(
        get(&e.app, "/holds", Some(&elsewhere.id)).await.status,
        StatusCode::SEE_OTHER,
        "the other session ended"
    );
    assert_eq!(
        get(&e.app, "/holds", Some(&other.id)).await.status,
        StatusCode::OK,
        "other people's sessions stay"
    );
    let old = try_login(&e.app, "rev@example.com", PASSWORD, [127, 0, 0, 2], None).await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    let new = try_login(&e.app, "rev@example.com", NEW, [127, 0, 0, 3], None).await;
    assert_eq!(new.status, StatusCode::SEE_OTHER);

    let acts = e.actions().await;
    let changed: Vec<_> = acts.iter().filter(|a| a.1 == "user.password").collect();
    assert_eq!(changed.len(), 1, "{acts:?}");
    assert_eq!(changed[0].0, "rev@example.com");
    assert_eq!(changed[0].2, "rev@example.com");
    assert!(acts.iter().any(|a| a.1 == "user.password_denied"));
    for a in &acts {
        assert!(!a.2.contains(NEW) && !a.2.contains(PASSWORD));
    }
    for entry in e.state.app.store.audit_list(0, 1000).await.unwrap() {
        assert!(!entry.details_json.contains(NEW), "no password in the log");
    }

    // Guessing the current password from a stolen session is throttled like sign-in.
    let s = login(&e.app, "rev2@example.com").await;
    for _ in 0..3 {
        let r = post(
            &e.app,
            "/account/password",
            &s,
            &[
                ("current", "guess guess guess"),
                ("password", NEW),
                ("again", NEW),
            ],
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
    }
    let r = post(
        &e.app,
        "/account/password",
        &s,
        &[("current", PASSWORD), ("password", NEW), ("again", NEW)],
    )
    .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers.contains_key("retry-after"));
}

/// An administrator sets a new password for someone else from /users: that person's sessions
/// end; only admins may, never for themselves there, and the rules for passwords hold.
#[tokio::test]
async fn admins_reset_a_password_from_the_staff_page() {
    let e = env().await;
    let admin = login(&e.app, "admin@example.com").await;
    let rev = login(&e.app, "rev@example.com").await;
    let users = get(&e.app, "/users", Some(&admin.id)).await;
    assert!(users.body.contains("action=\"/users/password\""));
    assert!(users.body.contains("New password for rev@example.com"));
    const NEW: &str = "set by the administrator";
    let denied = post(
        &e.app,
        "/users/password",
        &rev,
        &[("email", "rev2@example.com"), ("password", NEW)],
    )
    .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN, "reviewers may not");
    let own = post(
        &e.app,
        "/users/password",
        &admin,
        &[("email", "admin@example.com"), ("password", NEW)],
    )
    .await;
    assert_eq!(own.status, StatusCode::CONFLICT);
    let as_email = post(
        &e.app,
        "/users/password",
        &admin,
        &[
            ("email", "rev@example.com"),
            ("password", "rev@example.com"),
        ],
    )
    .await;
    assert_eq!(as_email.status, StatusCode::BAD_REQUEST);
    let nobody = post(
        &e.app,
        "/users/password",
        &admin,
        &[("email", "nobody@example.com"), ("password", NEW)],
    )
    .await;
    assert_eq!(nobody.status, StatusCode::NOT_FOUND);
    let ok = post(
        &e.app,
        "/users/password",
        &admin,
        &[("email", "Rev@Example.com"), ("password", NEW)],
    )
    .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    assert_eq!(ok.location(), "/users?done=password");
    assert_eq!(
        get(&e.app, "/holds", Some(&rev.id)).await.status,
        StatusCode::SEE_OTHER,
        "their sessions ended"
    );
    assert_eq!(
        get(&e.app, "/users", Some(&admin.id)).await.status,
        StatusCode::OK,
        "the admin's stays"
    );
    let new = try_login(&e.app, "rev@example.com", NEW, [127, 0, 0, 4], None).await;
    assert_eq!(new.status, StatusCode::SEE_OTHER);
    let acts = e.actions().await;
    assert!(
        acts.iter().any(|a| a.0 == "admin@example.com"
            && a.1 == "user.password"
            && a.2 == "rev@example.com"),
        "{acts:?}"
    );
}
