//! The verification portal's staff side in-process: the router driven with `oneshot`, a real
//! store (SQLite; PostgreSQL too when `DOUBLECHECK_TEST_POSTGRES_URL` is set) and a real vault
//! over a temporary directory. Sessions are set up through the store as the customer's pages
//! leave them (address, a sealed document, `requires_review`).

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode, header};
use doublecheck_engine::Policy;
use doublecheck_gate::{AppState, Config};
use doublecheck_store::{
    Customer, EventQuery, NewDocument, NewVerificationSession, Role, Store, Transition,
    VerificationStatus as St, VerificationType, new_document_id, sha256_hex,
};
use doublecheck_vault::{Vault, VaultConfig};
use doublecheck_web::{WebState, app};
use http_body_util::BodyExt;
use std::net::SocketAddr;
use std::sync::Arc;
use tower::ServiceExt;

const HOST: &str = "localhost";
const ORIGIN: &str = "http://localhost";
const IP: [u8; 4] = [127, 0, 0, 7];

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
        let schema = format!("dc_webvs_{}_{nanos}", std::process::id());
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

struct Env {
    store: Store,
    vault: Arc<Vault>,
    app: Router,
    _dir: tempfile::TempDir,
}

#[derive(Clone)]
struct Who {
    cookie: String,
    csrf: String,
}

async fn env_on(db: Db) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    if let Db::Postgres(url) = db {
        config.database.url = Some(url);
    }
    let store = Store::open(&config.database_url()).await.unwrap();
    let policy = Policy::from_toml("defaults = false\n", "test policy").unwrap();
    let key = doublecheck_vault::generate_master_key().unwrap();
    let vault = Arc::new(
        VaultConfig {
            store: doublecheck_vault::StoreConfig::Local {
                path: dir.path().join("documents").to_string_lossy().into_owned(),
            },
            master_key: Some(key.as_str().to_string()),
            previous_master_keys: Some(Vec::new()),
            fsync: false,
            ..Default::default()
        }
        .build_with_env(|_| None)
        .unwrap(),
    );
    let state =
        WebState::new(AppState::new(config, policy, store.clone())).with_vault(Some(vault.clone()));
    for (email, role) in [
        ("admin@example.com", Role::Admin),
        ("rev@example.com", Role::Reviewer),
        ("agent@example.com", Role::Agent),
    ] {
        store
            .user_add(
                email,
                role,
                "not-a-password-hash",
                "test",
                &serde_json::Map::new(),
            )
            .await
            .unwrap();
    }
    Env {
        store,
        vault,
        app: app(state),
        _dir: dir,
    }
}

async fn env() -> Env {
    env_on(Db::Sqlite).await
}

/// A session of the web app for `email`, made in the store as sign-in makes them (sign-in
/// itself is covered by the review queue's tests).
async fn signed_in(env: &Env, email: &str) -> Who {
    let id: String = format!("{:0<43}", sha256_hex(email.as_bytes()))
        .chars()
        .take(43)
        .collect();
    let csrf = sha256_hex(format!("csrf {email}").as_bytes());
    env.store
        .session_create(&sha256_hex(id.as_bytes()), email, &csrf, "127.0.0.1")
        .await
        .unwrap();
    Who {
        cookie: format!("dc_session={id}"),
        csrf,
    }
}

fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 3) as u8, (y * 5) as u8, 90]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// A PDF without pages: it opens in a reader's parser but cannot carry a watermark.
const PAGELESS_PDF: &[u8] =
    b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";

/// A one-page PDF with a line of text, written by lopdf.
fn one_page_pdf() -> Vec<u8> {
    use lopdf::{Dictionary, Document, Object, Stream, dictionary};
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Courier",
    });
    let content = doc.add_object(Stream::new(
        Dictionary::new(),
        b"BT /F1 12 Tf 72 700 Td (Driving licence 1234) Tj ET".to_vec(),
    ));
    let page = doc.add_object(dictionary! {
        "Type" => "Page", "Parent" => pages_id, "Contents" => content,
        "Resources" => dictionary! { "Font" => dictionary! { "F1" => font } },
    });
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => vec![page.into()], "Count" => 1,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        }),
    );
    let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog);
    let mut out = Vec::new();
    doc.save_to(&mut out).unwrap();
    out
}

impl Env {
    /// A session as the customer's pages leave it: address given, documents sealed, and (when
    /// `review`) moved to `requires_review`.
    async fn session(
        &self,
        email: &str,
        docs: &[(&[u8], &str)],
        review: bool,
    ) -> (String, Vec<String>) {
        let s = self
            .store
            .vs_create(
                NewVerificationSession {
                    livemode: false,
                    kind: VerificationType::AddressAndDocument,
                    customer: Customer {
                        email: Some(email.into()),
                        phone: None,
                        name: Some("Ana Ruiz".into()),
                        reference: Some("C-1".into()),
                    },
                    known_json: None,
                    return_url: None,
                    metadata_json: "{}".into(),
                    api_key_id: None,
                    expires_at_ms: now() + 3_600_000,
                },
                "key_test",
            )
            .await
            .unwrap();
        self.store
            .vs_set_address(
                &s.id,
                r#"{"line1":"1 Calle Mayor","line2":null,"city":"Madrid","postal_code":"28013","country":"Spain"}"#,
            )
            .await
            .unwrap();
        let mut ids = Vec::new();
        for (bytes, ct) in docs {
            let id = new_document_id().unwrap();
            let sealed = self
                .vault
                .put(&id, axum::body::Bytes::copy_from_slice(bytes), ct)
                .await
                .unwrap();
            self.store
                .doc_add(NewDocument {
                    id: id.clone(),
                    session_id: s.id.clone(),
                    sealed_json: serde_json::to_string(&sealed).unwrap(),
                    filename: Some(format!(
                        "scan.{}",
                        if *ct == "application/pdf" {
                            "pdf"
                        } else {
                            "png"
                        }
                    )),
                    content_type: ct.to_string(),
                    size: bytes.len() as u64,
                })
                .await
                .unwrap();
            ids.push(id);
        }
        if review {
            for to in [St::Processing, St::RequiresReview] {
                self.store
                    .vs_transition(
                        &s.id,
                        to,
                        Transition {
                            actor: "portal".into(),
                            ..Default::default()
                        },
                    )
                    .await
                    .unwrap();
            }
        }
        (s.id, ids)
    }

    async fn status(&self, id: &str) -> St {
        self.store.vs_get(id).await.unwrap().unwrap().status
    }

    /// (actor, action, subject, details) of every audit entry.
    async fn audit(&self) -> Vec<(String, String, String, String)> {
        self.store
            .audit_list(0, 10_000)
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.actor, e.action, e.subject, e.details_json))
            .collect()
    }

    async fn count(&self, actor: &str, action: &str, subject: &str) -> usize {
        self.audit()
            .await
            .iter()
            .filter(|(a, act, s, d)| {
                a == actor && act == action && s == subject && d.contains("\"ip\":\"127.0.0.7\"")
            })
            .count()
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

struct Res {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Res {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

async fn send(app: &Router, mut req: Request<Body>) -> Res {
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from((IP, 40000))));
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.unwrap().to_bytes().to_vec();
    Res {
        status,
        headers,
        body,
    }
}

async fn get_with(app: &Router, path: &str, who: Option<&Who>, extra: &[(&str, &str)]) -> Res {
    let mut b = Request::get(path).header(header::HOST, HOST);
    if let Some(w) = who {
        b = b.header(header::COOKIE, &w.cookie);
    }
    for (k, v) in extra {
        b = b.header(*k, *v);
    }
    send(app, b.body(Body::empty()).unwrap()).await
}

async fn get(app: &Router, path: &str, who: Option<&Who>) -> Res {
    get_with(app, path, who, &[]).await
}

async fn post(app: &Router, path: &str, who: Option<&Who>, pairs: &[(&str, &str)]) -> Res {
    let body = pairs
        .iter()
        .map(|(k, v)| {
            let enc: String = v
                .bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect();
            format!("{k}={enc}")
        })
        .collect::<Vec<_>>()
        .join("&");
    let mut b = Request::post(path)
        .header(header::HOST, HOST)
        .header(header::ORIGIN, ORIGIN)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(w) = who {
        b = b.header(header::COOKIE, &w.cookie);
    }
    send(app, b.body(Body::from(body)).unwrap()).await
}

fn redirects_to_login(r: &Res) {
    assert!(r.status.is_redirection(), "{}", r.status);
    assert!(
        r.header("location").starts_with("/login"),
        "{}",
        r.header("location")
    );
}

// ------------------------------------------------------------------ the role matrix

#[tokio::test]
async fn role_matrix() {
    let env = env().await;
    let image = png(64, 48);
    let (id, docs) = env
        .session("ana.ruiz@example.net", &[(&image, "image/png")], true)
        .await;
    let doc = format!("/verifications/{id}/documents/{}", docs[0]);
    let page = format!("/verifications/{id}");
    let agent = signed_in(&env, "agent@example.com").await;
    let rev = signed_in(&env, "rev@example.com").await;
    let admin = signed_in(&env, "admin@example.com").await;

    // Signed out: every page goes to sign-in, and decisions too.
    for path in ["/verifications", page.as_str(), doc.as_str()] {
        redirects_to_login(&get(&env.app, path, None).await);
    }
    let r = post(
        &env.app,
        &format!("{page}/approve"),
        None,
        &[("reason", "ok")],
    )
    .await;
    redirects_to_login(&r);

    // Agents: the queue with customers masked, nothing else.
    let q = get(&env.app, "/verifications", Some(&agent)).await;
    assert_eq!(q.status, StatusCode::OK);
    let body = q.text();
    assert!(body.contains(&id), "{body}");
    assert!(body.contains("a•••@e•••.net"), "{body}");
    assert!(!body.contains("ana.ruiz@example.net") && !body.contains("Ana Ruiz"));
    assert!(!body.contains(&format!("href=\"{page}\"")));
    for path in [page.as_str(), doc.as_str()] {
        let r = get(&env.app, path, Some(&agent)).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
        assert!(!r.body.windows(8).any(|w| w == b"\x89PNG\r\n\x1a\n"));
    }
    for action in ["approve", "reject"] {
        let r = post(
            &env.app,
            &format!("{page}/{action}"),
            Some(&agent),
            &[("csrf", &agent.csrf), ("reason", "looks fine")],
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{action}");
    }
    assert_eq!(env.status(&id).await, St::RequiresReview);
    assert_eq!(
        env.count("agent@example.com", "verification.denied", &id)
            .await,
        3
    );
    assert_eq!(
        env.count("agent@example.com", "verification.denied", &docs[0])
            .await,
        1
    );

    // Reviewers and administrators: everything, the customer in full.
    for who in [&rev, &admin] {
        let q = get(&env.app, "/verifications", Some(who)).await;
        assert_eq!(q.status, StatusCode::OK);
        assert!(q.text().contains("ana.ruiz@example.net"));
        assert!(q.text().contains(&format!("href=\"{page}\"")));
        let p = get(&env.app, &page, Some(who)).await;
        assert_eq!(p.status, StatusCode::OK, "{}", p.text());
        let d = get(&env.app, &doc, Some(who)).await;
        assert_eq!(d.status, StatusCode::OK);
    }
}

// ------------------------------------------------------------------ documents

#[tokio::test]
async fn documents_are_decrypted_watermarked_never_cached_and_audited() {
    let env = env().await;
    let image = png(320, 200);
    let pdf_doc = one_page_pdf();
    let (id, docs) = env
        .session(
            "ana.ruiz@example.net",
            &[
                (&image, "image/png"),
                (&pdf_doc, "application/pdf"),
                (PAGELESS_PDF, "application/pdf"),
            ],
            true,
        )
        .await;
    let rev = signed_in(&env, "rev@example.com").await;

    // The session page: customer, address, events, documents inline, the PDF framed by the
    // watermark, its own policy allowing the PDF object.
    let p = get(&env.app, &format!("/verifications/{id}"), Some(&rev)).await;
    assert_eq!(p.status, StatusCode::OK);
    let html = p.text();
    for want in [
        "Ana Ruiz",
        "ana.ruiz@example.net",
        "1 Calle Mayor",
        "Madrid",
        "28013",
        "requires review",
        "created",
        &format!("src=\"/verifications/{id}/documents/{}\"", docs[0]),
        &format!("data=\"/verifications/{id}/documents/{}\"", docs[1]),
        "viewed by rev@example.com",
        "action=\"/verifications/",
    ] {
        assert!(html.contains(want), "{want} missing in {html}");
    }
    assert!(
        p.header("content-security-policy")
            .contains("object-src 'self'")
    );
    assert_eq!(p.header("cache-control"), "no-store");
    assert_eq!(
        env.count("rev@example.com", "verification.view", &id).await,
        1
    );

    // The image: decrypted, marked in its pixels, same size, never cached.
    let r = get(
        &env.app,
        &format!("/verifications/{id}/documents/{}", docs[0]),
        Some(&rev),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), "image/png");
    assert_eq!(r.header("cache-control"), "no-store, private");
    assert!(r.header("content-disposition").starts_with("inline"));
    assert_eq!(r.header("x-content-type-options"), "nosniff");
    let csp = r.header("content-security-policy");
    assert!(
        csp.starts_with("default-src 'none'; img-src 'self'"),
        "{csp}"
    );
    assert!(!csp.contains("style-src"), "{csp}");
    assert_ne!(r.body, image, "the stored plaintext is not what is shown");
    let shown = image::load_from_memory_with_format(&r.body, image::ImageFormat::Png).unwrap();
    assert_eq!((shown.width(), shown.height()), (320, 200));
    let original = image::load_from_memory(&image).unwrap().to_rgb8();
    let shown = shown.to_rgb8();
    let changed = original
        .pixels()
        .zip(shown.pixels())
        .filter(|(a, b)| a != b)
        .count();
    assert!(changed > 320 * 200 / 50, "watermark pixels: {changed}");
    assert!(
        changed < 320 * 200 / 2,
        "the document stays readable: {changed}"
    );
    assert_eq!(
        env.count("rev@example.com", "verification.document_view", &docs[0])
            .await,
        1
    );
    let entry = env
        .audit()
        .await
        .into_iter()
        .find(|e| e.1 == "verification.document_view")
        .unwrap();
    assert!(
        entry.3.contains(&id) && entry.3.contains("viewed by rev@example.com"),
        "{}",
        entry.3
    );

    // A second view is a second audit entry.
    get(
        &env.app,
        &format!("/verifications/{id}/documents/{}", docs[0]),
        Some(&rev),
    )
    .await;
    assert_eq!(
        env.count("rev@example.com", "verification.document_view", &docs[0])
            .await,
        2
    );

    // The PDF: inside the session page only (a browser's direct navigation is refused).
    let pdf = format!("/verifications/{id}/documents/{}", docs[1]);
    let r = get_with(&env.app, &pdf, Some(&rev), &[("sec-fetch-dest", "object")]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), "application/pdf");
    assert_eq!(r.header("cache-control"), "no-store, private");
    assert_eq!(r.header("x-frame-options"), "SAMEORIGIN");
    assert!(
        r.header("content-security-policy")
            .contains("object-src 'self'")
    );
    // The file itself is marked: every page keeps its content and carries the viewer's lines.
    assert_ne!(r.body, pdf_doc);
    let shown = lopdf::Document::load_mem(&r.body).unwrap();
    let pages = shown.get_pages();
    assert_eq!(pages.len(), 1);
    let content = String::from_utf8_lossy(&shown.get_page_content(pages[&1])).into_owned();
    assert!(content.contains("(Driving licence 1234) Tj"), "{content}");
    assert!(
        content.contains("viewed by rev@example.com  |  "),
        "{content}"
    );
    assert!(
        content.contains(&format!("{} - do not copy", docs[1])),
        "{content}"
    );
    let entry = env
        .audit()
        .await
        .into_iter()
        .rfind(|e| e.1 == "verification.document_view" && e.2 == docs[1])
        .unwrap();
    assert!(entry.3.contains("\"file_watermark\":true"), "{}", entry.3);
    // A PDF that cannot carry a mark is still shown in the framed page, and the audit log
    // says its file is unmarked.
    let r = get_with(
        &env.app,
        &format!("/verifications/{id}/documents/{}", docs[2]),
        Some(&rev),
        &[("sec-fetch-dest", "object")],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, PAGELESS_PDF);
    let entry = env
        .audit()
        .await
        .into_iter()
        .rfind(|e| e.1 == "verification.document_view" && e.2 == docs[2])
        .unwrap();
    assert!(entry.3.contains("\"file_watermark\":false"), "{}", entry.3);
    let r = get_with(
        &env.app,
        &pdf,
        Some(&rev),
        &[("sec-fetch-dest", "document")],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(!r.text().contains("%PDF"));
    assert_eq!(
        env.count("rev@example.com", "verification.document_view", &docs[1])
            .await,
        1
    );
}

#[tokio::test]
async fn no_document_bytes_in_the_wrong_state_or_for_another_session() {
    let env = env().await;
    let image = png(40, 30);
    let (waiting, wdocs) = env
        .session("a@example.net", &[(&image, "image/png")], false)
        .await;
    let (other, _) = env
        .session("b@example.net", &[(&image, "image/png")], true)
        .await;
    let rev = signed_in(&env, "rev@example.com").await;
    let png_magic = |b: &[u8]| b.windows(8).any(|w| w == b"\x89PNG\r\n\x1a\n");

    // Still waiting for the customer: no bytes.
    let r = get(
        &env.app,
        &format!("/verifications/{waiting}/documents/{}", wdocs[0]),
        Some(&rev),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(!png_magic(&r.body));
    let page = get(&env.app, &format!("/verifications/{waiting}"), Some(&rev)).await;
    assert!(
        page.text()
            .contains("shown only while the session waits for review")
    );
    assert!(!page.text().contains("<img"));

    // A document asked for under another session's id: not found.
    let r = get(
        &env.app,
        &format!("/verifications/{other}/documents/{}", wdocs[0]),
        Some(&rev),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(!png_magic(&r.body));

    // Malformed and unknown ids.
    for path in [
        "/verifications/vs_nope".to_string(),
        format!("/verifications/{other}/documents/vdoc_nope"),
        format!("/verifications/{other}/documents/..%2F..%2Fetc"),
        "/verifications/x".to_string(),
    ] {
        let r = get(&env.app, &path, Some(&rev)).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(
        env.count("rev@example.com", "verification.document_view", &wdocs[0])
            .await,
        0
    );

    // Bad queue parameters are a 400, not a panic.
    for q in ["?status=nope", "?after=vs_unknown", "?after=%00"] {
        let r = get(&env.app, &format!("/verifications{q}"), Some(&rev)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}");
    }
}

// ------------------------------------------------------------------ decisions

async fn decisions_story(env: Env) {
    let image = png(50, 40);
    let (a, adocs) = env
        .session("a@example.net", &[(&image, "image/png")], true)
        .await;
    let (b, _) = env
        .session("b@example.net", &[(&image, "image/png")], true)
        .await;
    let rev = signed_in(&env, "rev@example.com").await;

    // The queue: both waiting, newest first, with counts.
    let q = get(&env.app, "/verifications", Some(&rev)).await;
    assert_eq!(q.status, StatusCode::OK);
    let html = q.text();
    let (pa, pb) = (html.find(&a).unwrap(), html.find(&b).unwrap());
    assert!(pb < pa, "newest first");
    assert!(
        html.contains("<strong>2</strong> waiting for review"),
        "{html}"
    );
    assert!(
        env.audit()
            .await
            .iter()
            .any(|e| e.1 == "verification.queue")
    );

    // CSRF missing or wrong: refused, nothing changes.
    for pairs in [
        vec![("reason", "fine")],
        vec![("csrf", "wrong"), ("reason", "fine")],
    ] {
        let r = post(
            &env.app,
            &format!("/verifications/{a}/approve"),
            Some(&rev),
            &pairs,
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
    }
    // A reason is required, for approval as for rejection.
    for action in ["approve", "reject"] {
        let r = post(
            &env.app,
            &format!("/verifications/{a}/{action}"),
            Some(&rev),
            &[("csrf", &rev.csrf), ("reason", "  ")],
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{action}");
    }
    let r = post(
        &env.app,
        &format!("/verifications/{a}/approve"),
        Some(&rev),
        &[("csrf", &rev.csrf), ("reason", &"x".repeat(1001))],
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(env.status(&a).await, St::RequiresReview);

    // Approve: verified, the event recorded, the decision kept.
    let r = post(
        &env.app,
        &format!("/verifications/{a}/approve"),
        Some(&rev),
        &[
            ("csrf", &rev.csrf),
            ("reason", "Document matches the address."),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        r.header("location"),
        format!("/verifications/{a}?done=verified")
    );
    let s = env.store.vs_get(&a).await.unwrap().unwrap();
    assert_eq!(s.status, St::Verified);
    assert_eq!(s.decided_by.as_deref(), Some("rev@example.com"));
    assert_eq!(
        s.decision_reason.as_deref(),
        Some("Document matches the address.")
    );
    let kinds = |id: String| {
        let store = env.store.clone();
        async move {
            store
                .event_list(EventQuery {
                    session_id: Some(id),
                    limit: 100,
                    ..Default::default()
                })
                .await
                .unwrap()
                .data
                .into_iter()
                .map(|e| e.kind)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(kinds(a.clone()).await[0], "verification_session.verified");
    let page = get(
        &env.app,
        &format!("/verifications/{a}?done=verified"),
        Some(&rev),
    )
    .await;
    let html = page.text();
    assert!(html.contains("Approved: the session is verified."));
    assert!(html.contains("Document matches the address."));
    assert!(html.contains("verified"));
    assert!(
        !html.contains("action=\"/verifications/"),
        "no decision forms once decided"
    );
    // Decided: no document bytes any more, and no second decision.
    let r = get(
        &env.app,
        &format!("/verifications/{a}/documents/{}", adocs[0]),
        Some(&rev),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = post(
        &env.app,
        &format!("/verifications/{a}/reject"),
        Some(&rev),
        &[("csrf", &rev.csrf), ("reason", "changed my mind")],
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(env.status(&a).await, St::Verified);

    // Reject the other.
    let r = post(
        &env.app,
        &format!("/verifications/{b}/reject"),
        Some(&rev),
        &[
            ("csrf", &rev.csrf),
            ("reason", "The document is unreadable."),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(env.status(&b).await, St::Rejected);
    assert_eq!(kinds(b.clone()).await[0], "verification_session.rejected");
    let audit = env.audit().await;
    for id in [&a, &b] {
        assert!(
            audit.iter().any(|e| e.0 == "rev@example.com"
                && &e.2 == id
                && e.1.starts_with("verification_session.")),
            "the decision on {id} is in the audit log"
        );
    }

    // The queue is empty now; the filter shows decided sessions.
    let q = get(&env.app, "/verifications", Some(&rev)).await;
    assert!(q.text().contains("No verification sessions match."));
    let q = get(&env.app, "/verifications?status=verified", Some(&rev)).await;
    assert!(q.text().contains(&a) && !q.text().contains(&b));
    let q = get(&env.app, "/verifications?status=all", Some(&rev)).await;
    assert!(q.text().contains(&a) && q.text().contains(&b));
}

#[tokio::test]
async fn approve_and_reject_sqlite() {
    decisions_story(env().await).await;
}

#[tokio::test]
async fn approve_and_reject_postgres() {
    let Some(db) = Db::postgres().await else {
        return;
    };
    decisions_story(env_on(db).await).await;
}

#[tokio::test]
async fn documents_on_postgres() {
    let Some(db) = Db::postgres().await else {
        return;
    };
    let env = env_on(db).await;
    let image = png(80, 60);
    let (id, docs) = env
        .session("a@example.net", &[(&image, "image/png")], true)
        .await;
    let rev = signed_in(&env, "rev@example.com").await;
    let r = get(
        &env.app,
        &format!("/verifications/{id}/documents/{}", docs[0]),
        Some(&rev),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_ne!(r.body, image);
    let shown = image::load_from_memory(&r.body).unwrap();
    assert_eq!((shown.width(), shown.height()), (80, 60));
    assert_eq!(
        env.count("rev@example.com", "verification.document_view", &docs[0])
            .await,
        1
    );
}

#[tokio::test]
async fn pagination() {
    let env = env().await;
    let mut ids = Vec::new();
    for i in 0..53 {
        ids.push(env.session(&format!("c{i}@example.net"), &[], true).await.0);
    }
    let rev = signed_in(&env, "rev@example.com").await;
    let first = get(&env.app, "/verifications", Some(&rev)).await.text();
    assert!(first.contains(&ids[52]) && first.contains(&ids[3]) && !first.contains(&ids[2]));
    let next = first
        .split("href=\"")
        .filter_map(|s| s.split('"').next())
        .find(|h| h.contains("after="))
        .expect("a link to older sessions")
        .replace("&amp;", "&")
        .replace("&#38;", "&");
    let second = get(&env.app, &next, Some(&rev)).await;
    assert_eq!(second.status, StatusCode::OK);
    let second = second.text();
    for id in &ids[0..3] {
        assert!(second.contains(id.as_str()), "{next}: {second}");
    }
    assert!(!second.contains(&ids[3]));
    assert!(second.contains(">Newest<"));
}

#[tokio::test]
async fn without_a_vault_documents_answer_503() {
    let env = env().await;
    let image = png(20, 20);
    let (id, docs) = env
        .session("a@example.net", &[(&image, "image/png")], true)
        .await;
    let state = WebState::new(AppState::new(
        Config::default(),
        Policy::from_toml("defaults = false\n", "t").unwrap(),
        env.store.clone(),
    ));
    let app = app(state);
    let rev = signed_in(&env, "rev@example.com").await;
    let r = get(
        &app,
        &format!("/verifications/{id}/documents/{}", docs[0]),
        Some(&rev),
    )
    .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
}
