//! Server time of the review queue's pages with 10,000 held messages in SQLite.
//!
//! ```text
//! cargo run --release -p doublecheck-web --example queue_bench [-- HOLDS [ROUNDS]]
//! ```
//!
//! Seeds HOLDS (default 10,000) held messages — realistic raw messages and engine verdicts,
//! 100 senders, two kinds of findings — straight into a fresh SQLite database under a temporary
//! directory (one transaction; the audit log is not needed to measure pages), then drives the
//! router in-process (`oneshot`, as the tests do) and prints the median, 95th percentile and
//! maximum of ROUNDS (default 200) requests for each page. The target is < 50 ms per page.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use doublecheck_engine::{Envelope, Policy};
use doublecheck_gate::{AppState, Config};
use doublecheck_store::{Role, Store, sha256_hex};
use doublecheck_web::{WebState, app};
use http_body_util::BodyExt;
use std::time::{Duration, Instant};
use tower::ServiceExt;

const EXPOSED: &str = include_str!("../../../examples/store-closure-exposed.eml");
const CARD: &str = include_str!("../../../examples/card-number-in-body.eml");
const POLICY: &str = r#"
defaults = false
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

async fn seed(state: &AppState, n: usize) -> Vec<String> {
    let pool = state.store.pool();
    let mut tx = pool.begin().await.unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let sender = format!("agent{}@phoneco.example", i % 100);
        let template = if i % 10 == 0 { CARD } else { EXPOSED };
        let raw = template.replace("care@phoneco.example", &sender);
        let msg = doublecheck_engine::parse::parse(raw.as_bytes(), &Default::default());
        let env = doublecheck_engine::envelope_from_headers(&msg);
        let verdict = state.engine.check(
            raw.as_bytes(),
            &Envelope {
                mail_from: Some(sender.clone()),
                ..env.clone()
            },
        );
        let id = format!("hold_bench{i:011}");
        let created = now - ((n - i) as i64) * 60_000;
        sqlx::query(
            "INSERT INTO holds (id, status, created_at_ms, mail_from, rcpt_to_json, rcpt_count, \
             sender, queue_id, reason, verdict_json, raw, raw_size, raw_sha256, subject) \
             VALUES ($1, 'held', $2, $3, $4, $5, $6, NULL, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&id)
        .bind(created)
        .bind(&sender)
        .bind(serde_json::to_string(&env.rcpt_to).unwrap())
        .bind(env.rcpt_to.len() as i64)
        .bind(&sender)
        .bind(verdict.reason().unwrap_or("held"))
        .bind(serde_json::to_string(&verdict).unwrap())
        .bind(raw.as_bytes())
        .bind(raw.len() as i64)
        .bind(sha256_hex(raw.as_bytes()))
        .bind(doublecheck_store::subject_of(raw.as_bytes()))
        .execute(&mut *tx)
        .await
        .unwrap();
        for f in &verdict.findings {
            sqlx::query(
                "INSERT INTO hold_detectors (hold_id, detector_id, severity) VALUES ($1, $2, $3) \
                 ON CONFLICT (hold_id, detector_id) DO NOTHING",
            )
            .bind(&id)
            .bind(f.id)
            .bind(doublecheck_store::severity_rank(f.severity.as_str()))
            .execute(&mut *tx)
            .await
            .unwrap();
        }
        ids.push(id);
    }
    tx.commit().await.unwrap();
    ids
}

async fn session(store: &Store, email: &str, role: Role) -> String {
    store
        .user_add(
            email,
            role,
            "$argon2id$unused",
            "bench",
            &Default::default(),
        )
        .await
        .unwrap();
    let id = format!("{:A<43}", email.replace(['@', '.'], ""));
    store
        .session_create(&sha256_hex(id.as_bytes()), email, "csrf", "127.0.0.1")
        .await
        .unwrap();
    id
}

async fn page(router: &axum::Router, path: &str, sid: &str) -> (Duration, String) {
    let req = Request::get(path)
        .header(header::HOST, "localhost")
        .header(header::COOKIE, format!("dc_session={sid}"))
        .body(Body::empty())
        .unwrap();
    let start = Instant::now();
    let res = router.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let took = start.elapsed();
    assert_eq!(status, StatusCode::OK, "{path}");
    (took, String::from_utf8_lossy(&body).into_owned())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    let store = Store::open(&config.database_url()).await.unwrap();
    let state = AppState::new(config, Policy::from_toml(POLICY, "bench").unwrap(), store);
    let t = Instant::now();
    let ids = seed(&state, n).await;
    println!(
        "seeded {n} held messages in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let reviewer = session(&state.store, "reviewer@phoneco.example", Role::Reviewer).await;
    let agent = session(&state.store, "agent7@phoneco.example", Role::Agent).await;
    let router = app(WebState::new(state));

    // The link to the 20th page (1,000 messages deep).
    let mut deep = "/holds".to_string();
    for _ in 0..20 {
        let (_, body) = page(&router, &deep, &reviewer).await;
        let next = body
            .split("href=\"")
            .filter_map(|s| s.split('"').next())
            .find(|h| h.contains("cursor="))
            .expect("a next page")
            .replace("&#38;", "&");
        deep = next;
    }

    let cases: Vec<(&str, String, &String)> = vec![
        ("queue, first page (reviewer)", "/holds".into(), &reviewer),
        ("queue, all statuses", "/holds?status=all".into(), &reviewer),
        (
            "queue, by detector (1 in 10)",
            "/holds?detector=content.sensitive_data".into(),
            &reviewer,
        ),
        (
            "queue, by sender (1 in 100)",
            "/holds?sender=agent42%40phoneco.example".into(),
            &reviewer,
        ),
        (
            "queue, waiting 1 day or more",
            "/holds?age=24h".into(),
            &reviewer,
        ),
        ("queue, 21st page by cursor", deep.clone(), &reviewer),
        ("queue, an agent's own (1 in 100)", "/holds".into(), &agent),
        (
            "message page (audited view)",
            format!("/holds/{}", ids[n - 1]),
            &reviewer,
        ),
    ];
    println!(
        "{:<36} {:>9} {:>9} {:>9}   ({rounds} requests each)",
        "page", "p50 ms", "p95 ms", "max ms"
    );
    let mut worst_p50: f64 = 0.0;
    for (name, path, sid) in &cases {
        for _ in 0..5 {
            page(&router, path, sid).await;
        }
        let mut times: Vec<Duration> = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            times.push(page(&router, path, sid).await.0);
        }
        times.sort();
        let p50 = ms(times[times.len() / 2]);
        let p95 = ms(times[(times.len() * 95 / 100).min(times.len() - 1)]);
        let max = ms(*times.last().unwrap());
        if name.starts_with("queue") {
            worst_p50 = worst_p50.max(p50);
        }
        println!("{name:<36} {p50:>9.2} {p95:>9.2} {max:>9.2}");
    }
    println!(
        "slowest queue page median: {worst_p50:.2} ms (target < 50 ms): {}",
        if worst_p50 < 50.0 { "OK" } else { "TOO SLOW" }
    );
}
