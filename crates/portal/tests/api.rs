//! The developer API through `oneshot`: authentication, every endpoint, status transitions,
//! idempotency, pagination and bad input; and the webhook worker against a real local receiver
//! whose signature check is written here by hand. Every story runs on SQLite, and again on
//! PostgreSQL when `DOUBLECHECK_TEST_POSTGRES_URL` is set (`NAME::sqlite`, `NAME::postgres`).

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine as _;
use doublecheck_engine::Policy;
use doublecheck_gate::{AppState, Config};
use doublecheck_portal::{PortalState, ServerKey, api};
use doublecheck_store::{ALLOWED_MOVES, Store, StoreError, Transition, VerificationStatus as St};
use hmac::{Hmac, Mac};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use tower::ServiceExt;

#[macro_use]
mod support;
use support::Db;

on_both_databases!(
    authentication,
    create_get_and_bad_input,
    idempotency,
    pagination_and_filters,
    status_moves_through_the_api,
    every_transition_is_allowed_or_refused_by_the_table,
    redaction_and_links,
    staff_review_with_the_session_cookie,
    webhook_endpoints,
    batches_from_csv_and_json,
    webhooks_are_signed_and_retried_until_the_receiver_is_up,
    a_receiver_that_keeps_failing_is_given_up_after_the_schedule,
);

struct Env {
    _dir: tempfile::TempDir,
    state: PortalState,
    test_key: String,
    live_key: String,
}

async fn env_with(db: &Db, tweak: impl FnOnce(&mut Config)) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    config.smtp.upstream = Some("127.0.0.1:9".into());
    config.portal.public_url = Some("https://verify.example.com".into());
    db.configure(&mut config).await;
    tweak(&mut config);
    std::fs::create_dir_all(&config.data_dir).unwrap();
    let store = Store::open(&config.database_url()).await.unwrap();
    let app = AppState::new(config, Policy::builtin(), store.clone());
    let state = PortalState::new(app, ServerKey::from_bytes([9; 32]));
    let (_, test_key) = store.api_key_create(false, "test").await.unwrap();
    let (_, live_key) = store.api_key_create(true, "live").await.unwrap();
    Env {
        _dir: dir,
        state,
        test_key,
        live_key,
    }
}

async fn env(db: &Db) -> Env {
    env_with(db, |_| {}).await
}

impl Env {
    fn store(&self) -> &Store {
        &self.state.app.store
    }

    async fn send(&self, req: Request<Body>) -> (StatusCode, Value, axum::http::HeaderMap) {
        let res = api::router(self.state.clone()).oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, v, headers)
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut b = Request::builder().method(method).uri(path);
        if let Some(k) = key {
            b = b.header("authorization", format!("Bearer {k}"));
        }
        let body = match body {
            Some(v) => {
                b = b.header("content-type", "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        let (s, v, _) = self.send(b.body(body).unwrap()).await;
        (s, v)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call("GET", path, Some(&self.test_key.clone()), None)
            .await
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call("POST", path, Some(&self.test_key.clone()), Some(body))
            .await
    }

    async fn create(&self, email: &str) -> Value {
        let (s, v) = self
            .post(
                "/v1/verification_sessions",
                json!({ "type": "address_and_document", "customer": { "email": email } }),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v
    }

    /// Moves a session as the customer's pages would.
    async fn to_review(&self, id: &str) {
        let t = || Transition {
            actor: "customer".into(),
            ..Default::default()
        };
        self.store()
            .vs_transition(id, St::Processing, t())
            .await
            .unwrap();
        self.store()
            .vs_transition(id, St::RequiresReview, t())
            .await
            .unwrap();
    }
}

fn err(v: &Value) -> (&str, &str, Option<&str>) {
    let e = &v["error"];
    (
        e["type"].as_str().unwrap_or(""),
        e["code"].as_str().unwrap_or(""),
        e["param"].as_str(),
    )
}

async fn authentication(db: Db) {
    let env = env(&db).await;
    let (s, v) = env
        .call("GET", "/v1/verification_sessions", None, None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(err(&v).0, "authentication_error");
    let (s, v) = env
        .call(
            "GET",
            "/v1/verification_sessions",
            Some("dk_test_wrongwrongwrong"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("dk_test_****rong")
    );
    // Basic, as Stripe's curl examples: the key as the user name
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{}:", env.test_key));
    let req = Request::get("/v1/verification_sessions")
        .header("authorization", format!("Basic {basic}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(env.send(req).await.0, StatusCode::OK);
    // revoked keys stop at once
    let (k, secret) = env.store().api_key_create(false, "gone").await.unwrap();
    assert_eq!(
        env.call("GET", "/v1/events", Some(&secret), None).await.0,
        StatusCode::OK
    );
    env.store().api_key_revoke(&k.id, "cli").await.unwrap();
    assert_eq!(
        env.call("GET", "/v1/events", Some(&secret), None).await.0,
        StatusCode::UNAUTHORIZED
    );
    // the OpenAPI document is public
    assert_eq!(
        env.call("GET", "/v1/openapi.json", None, None).await.0,
        StatusCode::OK
    );
}

async fn create_get_and_bad_input(db: Db) {
    let env = env(&db).await;
    let (s, v) = env
        .post(
            "/v1/verification_sessions",
            json!({
                "type": "address",
                "customer": { "email": "Ana@Example.NET", "phone": "+34 600 000 000", "name": "Ana", "reference": "C-9" },
                "known": { "postcode": "28013", "birth_date": "1990-02-28" },
                "expires_in": 3600,
                "return_url": "https://shop.example.com/done",
                "metadata": { "order": "42" }
            }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["object"], "verification_session");
    assert_eq!(v["status"], "requires_input");
    assert_eq!(v["livemode"], false);
    assert_eq!(v["customer"]["email"], "ana@example.net");
    assert_eq!(v["customer"]["phone"], "+34600000000");
    assert_eq!(v["known_fields"], json!(["postcode", "birth_date"]));
    assert_eq!(v["metadata"]["order"], "42");
    assert!(
        v["created"].as_i64().unwrap() > 1_600_000_000
            && v["created"].as_i64().unwrap() < 10_000_000_000
    );
    assert_eq!(
        v["expires_at"].as_i64().unwrap() - v["created"].as_i64().unwrap(),
        3600
    );
    assert!(
        !v.to_string().contains("28013"),
        "known values never come back"
    );
    let id = v["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("vs_"));
    let stored = env.store().vs_get(&id).await.unwrap().unwrap();
    let known = stored.known_json.unwrap();
    assert!(!known.contains("28013") && !known.contains("1990"));
    assert_eq!(
        env.state.key.known_matches(&known, "postcode", "28013"),
        Some(true)
    );
    let (s, got) = env.get(&format!("/v1/verification_sessions/{id}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(got["id"], v["id"]);
    // a live key does not see test objects
    let (s, v) = env
        .call(
            "GET",
            &format!("/v1/verification_sessions/{id}"),
            Some(&env.live_key.clone()),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(err(&v).1, "resource_missing");

    for (body, param, code) in [
        (
            json!({ "customer": { "email": "a@b.c" } }),
            "type",
            "parameter_missing",
        ),
        (
            json!({ "type": "selfie", "customer": { "email": "a@b.c" } }),
            "type",
            "parameter_invalid",
        ),
        (
            json!({ "type": "address" }),
            "customer",
            "parameter_missing",
        ),
        (
            json!({ "type": "address", "customer": {} }),
            "customer[email]",
            "parameter_missing",
        ),
        (
            json!({ "type": "address", "customer": { "email": "nope" } }),
            "customer[email]",
            "parameter_invalid",
        ),
        (
            json!({ "type": "address", "customer": { "email": "a@b.c", "phone": "12" } }),
            "customer[phone]",
            "parameter_invalid",
        ),
        (
            json!({ "type": "address", "customer": { "email": "a@b.c", "age": 3 } }),
            "customer[age]",
            "parameter_unknown",
        ),
        (
            json!({ "type": "address", "customer": { "email": "a@b.c" }, "known": { "birth_date": "1990-13-01" } }),
            "known[birth_date]",
            "parameter_invalid",
        ),
        (
            json!({ "type": "address", "customer": { "email": "a@b.c" }, "known": { "account_last4": "12345" } }),
            "known[account_last4]",
            "parameter_invalid",
        ),
        (
            json!({ "type": "address", "customer": { "email": "a@b.c" }, "known": { "ssn": "1" } }),
            "known[ssn]",
            "parameter_unknown",
        ),
        (
            json!({ "type": "address", "customer": { "email": "a@b.c" }, "expires_in": 5 }),
            "expires_in",
            "parameter_invalid",
        ),
        (
            json!({ "type": "address", "customer": { "email": "a@b.c" }, "return_url": "javascript:x" }),
            "return_url",
            "parameter_invalid",
        ),
        (
            json!({ "type": "address", "customer": { "email": "a@b.c" }, "metadata": { "k": "x".repeat(501) } }),
            "metadata[k]",
            "parameter_invalid",
        ),
        (
            json!({ "type": "address", "customer": { "email": "a@b.c" }, "colour": "red" }),
            "colour",
            "parameter_unknown",
        ),
    ] {
        let (s, v) = env.post("/v1/verification_sessions", body.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert_eq!(
            err(&v),
            ("invalid_request_error", code, Some(param)),
            "{body}"
        );
    }
    // not JSON, not an object, too large
    let req = |b: &str| {
        Request::post("/v1/verification_sessions")
            .header("authorization", format!("Bearer {}", env.test_key))
            .body(Body::from(b.to_string()))
            .unwrap()
    };
    assert_eq!(env.send(req("{oops")).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(env.send(req("[1]")).await.0, StatusCode::BAD_REQUEST);
    let big = format!(
        "{{\"type\":\"address\",\"pad\":\"{}\"}}",
        "x".repeat(70 * 1024)
    );
    let (s, v, _) = env.send(req(&big)).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(err(&v).1, "request_too_large");
    let (s, _) = env.get("/v1/verification_sessions/vs_nothing").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

async fn idempotency(db: Db) {
    let env = env(&db).await;
    let body = json!({ "type": "document", "customer": { "email": "i@example.com" } });
    let req = |b: &Value, k: &str| {
        Request::post("/v1/verification_sessions")
            .header("authorization", format!("Bearer {}", env.test_key))
            .header("idempotency-key", k)
            .body(Body::from(b.to_string()))
            .unwrap()
    };
    let (s1, v1, h1) = env.send(req(&body, "key-1")).await;
    assert_eq!(s1, StatusCode::OK);
    assert!(h1.get("idempotent-replayed").is_none());
    let (s2, v2, h2) = env.send(req(&body, "key-1")).await;
    assert_eq!((s2, &v2), (StatusCode::OK, &v1), "the same response again");
    assert_eq!(h2.get("idempotent-replayed").unwrap(), "true");
    let (s, v, _) = env
        .send(req(
            &json!({ "type": "address", "customer": { "email": "i@example.com" } }),
            "key-1",
        ))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(err(&v).0, "idempotency_error");
    let (_, list) = env.get("/v1/verification_sessions").await;
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        1,
        "one session created"
    );
    // a 400 is kept too; a new key makes a new session
    let bad = json!({ "type": "x" });
    let (s, e1, _) = env.send(req(&bad, "key-2")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (_, e2, h) = env.send(req(&bad, "key-2")).await;
    assert_eq!((e1, h.get("idempotent-replayed").is_some()), (e2, true));
    assert_eq!(env.send(req(&body, "key-3")).await.0, StatusCode::OK);
    // a key of another API key is another key
    let other = Request::post("/v1/verification_sessions")
        .header("authorization", format!("Bearer {}", env.live_key))
        .header("idempotency-key", "key-1")
        .body(Body::from(body.to_string()))
        .unwrap();
    let (s, v, h) = env.send(other).await;
    assert_eq!(s, StatusCode::OK);
    assert!(h.get("idempotent-replayed").is_none());
    assert_eq!(v["livemode"], true);
    let bad_key = Request::post("/v1/verification_sessions")
        .header("authorization", format!("Bearer {}", env.test_key))
        .header("idempotency-key", "x".repeat(300))
        .body(Body::from(body.to_string()))
        .unwrap();
    let (s, v, _) = env.send(bad_key).await;
    assert_eq!(
        (s, err(&v).2),
        (StatusCode::BAD_REQUEST, Some("Idempotency-Key"))
    );
}

async fn pagination_and_filters(db: Db) {
    let env = env(&db).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            env.create(&format!("p{i}@example.com")).await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let (_, p1) = env.get("/v1/verification_sessions?limit=2").await;
    assert_eq!(p1["object"], "list");
    assert_eq!(p1["url"], "/v1/verification_sessions");
    assert_eq!(p1["has_more"], true);
    let got: Vec<_> = p1["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, vec![ids[4].clone(), ids[3].clone()]);
    let (_, p2) = env
        .get(&format!(
            "/v1/verification_sessions?limit=2&starting_after={}",
            ids[3]
        ))
        .await;
    let (_, p3) = env
        .get(&format!(
            "/v1/verification_sessions?limit=2&starting_after={}",
            ids[1]
        ))
        .await;
    assert_eq!(p2["data"][0]["id"], ids[2].as_str());
    assert_eq!(p3["data"].as_array().unwrap().len(), 1);
    assert_eq!(p3["has_more"], false);
    env.post(
        &format!("/v1/verification_sessions/{}/cancel", ids[0]),
        json!({}),
    )
    .await;
    let (_, c) = env.get("/v1/verification_sessions?status=canceled").await;
    assert_eq!(c["data"].as_array().unwrap().len(), 1);
    for (q, param) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=x", "limit"),
        ("status=done", "status"),
        ("starting_after=vs_missing", "starting_after"),
        ("colour=red", "colour"),
    ] {
        let (s, v) = env.get(&format!("/v1/verification_sessions?{q}")).await;
        assert_eq!(
            (s, err(&v).2),
            (StatusCode::BAD_REQUEST, Some(param)),
            "{q}"
        );
    }
    let (_, ev) = env
        .get("/v1/events?type=verification_session.created&limit=3")
        .await;
    assert_eq!(ev["data"].as_array().unwrap().len(), 3);
    assert_eq!(ev["has_more"], true);
    let (s, _) = env.get("/v1/events?type=nope").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

async fn status_moves_through_the_api(db: Db) {
    let env = env(&db).await;
    // cancel: from requires_input only once
    let id = env.create("c@example.com").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, v) = env
        .post(
            &format!("/v1/verification_sessions/{id}/review"),
            json!({ "decision": "approve" }),
        )
        .await;
    assert_eq!(
        (s, err(&v).1),
        (
            StatusCode::BAD_REQUEST,
            "verification_session_unexpected_state"
        )
    );
    let (s, v) = env
        .post(&format!("/v1/verification_sessions/{id}/cancel"), json!({}))
        .await;
    assert_eq!(
        (s, v["status"].as_str()),
        (StatusCode::OK, Some("canceled"))
    );
    let (s, v) = env
        .post(&format!("/v1/verification_sessions/{id}/cancel"), json!({}))
        .await;
    assert_eq!(
        (s, err(&v).1),
        (
            StatusCode::BAD_REQUEST,
            "verification_session_unexpected_state"
        )
    );
    let (s, _) = env
        .post(&format!("/v1/verification_sessions/{id}/links"), json!({}))
        .await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "a canceled session takes no link"
    );

    // review: approve and reject from requires_review
    let a = env.create("a@example.com").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    env.to_review(&a).await;
    for (body, param) in [
        (json!({}), "decision"),
        (json!({ "decision": "maybe" }), "decision"),
        (json!({ "decision": "reject" }), "reason"),
        (json!({ "decision": "approve", "extra": 1 }), "extra"),
    ] {
        let (s, v) = env
            .post(&format!("/v1/verification_sessions/{a}/review"), body)
            .await;
        assert_eq!((s, err(&v).2), (StatusCode::BAD_REQUEST, Some(param)));
    }
    let (s, v) = env
        .post(
            &format!("/v1/verification_sessions/{a}/review"),
            json!({ "decision": "approve", "reason": "matches" }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "verified");
    assert_eq!(v["review"]["decision"], "approved");
    let (s, _) = env
        .post(
            &format!("/v1/verification_sessions/{a}/review"),
            json!({ "decision": "reject", "reason": "no" }),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "decided once");
    let r = env.create("r@example.com").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    env.to_review(&r).await;
    let (_, v) = env
        .post(
            &format!("/v1/verification_sessions/{r}/review"),
            json!({ "decision": "reject", "reason": "blurred" }),
        )
        .await;
    assert_eq!(
        (v["status"].as_str(), v["review"]["reason"].as_str()),
        (Some("rejected"), Some("blurred"))
    );

    // every event of those moves is listed
    let (_, ev) = env
        .get(&format!("/v1/events?verification_session={a}"))
        .await;
    let kinds: Vec<_> = ev["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        vec![
            "verification_session.verified",
            "verification_session.requires_review",
            "verification_session.processing",
            "verification_session.created",
        ]
    );
    let eid = ev["data"][0]["id"].as_str().unwrap();
    let (s, e) = env.get(&format!("/v1/events/{eid}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(e["object"], "event");
    assert_eq!(e["data"]["object"]["id"], a.as_str());
    assert_eq!(e["data"]["object"]["status"], "verified");
}

/// Every (from, to) pair: allowed exactly when it is in the table.
async fn every_transition_is_allowed_or_refused_by_the_table(db: Db) {
    let env = env(&db).await;
    // How to reach each status from requires_input.
    let path = |s: St| -> Vec<St> {
        match s {
            St::RequiresInput => vec![],
            St::Processing => vec![St::Processing],
            St::RequiresReview => vec![St::Processing, St::RequiresReview],
            St::Verified => vec![St::Processing, St::RequiresReview, St::Verified],
            St::Rejected => vec![St::Processing, St::RequiresReview, St::Rejected],
            St::Canceled => vec![St::Canceled],
            St::Expired => vec![St::Expired],
        }
    };
    let t = || Transition {
        actor: "test".into(),
        ..Default::default()
    };
    for from in St::ALL {
        for to in St::ALL {
            let id = env.create("m@example.com").await["id"]
                .as_str()
                .unwrap()
                .to_string();
            for step in path(from) {
                env.store().vs_transition(&id, step, t()).await.unwrap();
            }
            let r = env.store().vs_transition(&id, to, t()).await;
            if ALLOWED_MOVES.contains(&(from, to)) {
                assert_eq!(r.unwrap().0.status, to, "{from} → {to}");
            } else {
                assert!(
                    matches!(r, Err(StoreError::InvalidTransition { .. })),
                    "{from} → {to} must be refused"
                );
                assert_eq!(env.store().vs_get(&id).await.unwrap().unwrap().status, from);
            }
        }
    }
}

struct CountingShredder(Arc<Mutex<Vec<String>>>);

impl doublecheck_portal::DocumentShredder for CountingShredder {
    fn destroy<'a>(
        &'a self,
        doc: &'a doublecheck_store::VerificationDocument,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(async move {
            self.0.lock().unwrap().push(doc.id.clone());
            Ok(())
        })
    }
}

async fn redaction_and_links(db: Db) {
    let mut env = env(&db).await;
    let destroyed = Arc::new(Mutex::new(Vec::new()));
    env.state = env
        .state
        .clone()
        .with_documents(Arc::new(CountingShredder(destroyed.clone())));
    let v = env
        .post("/v1/verification_sessions", json!({ "type": "document", "customer": { "email": "d@example.com", "name": "Dora" }, "known": { "postcode": "AB1 2CD" } }))
        .await
        .1;
    let id = v["id"].as_str().unwrap().to_string();
    // links: a URL under /verify/, shown once; a new one revokes the old
    let (s, l1) = env
        .post(&format!("/v1/verification_sessions/{id}/links"), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let url1 = l1["url"].as_str().unwrap();
    let token1 = url1
        .strip_prefix("https://verify.example.com/verify/")
        .unwrap();
    assert_eq!(token1.len(), 43);
    let (_, l2) = env
        .post(&format!("/v1/verification_sessions/{id}/links"), json!({}))
        .await;
    let token2 = l2["url"].as_str().unwrap().rsplit('/').next().unwrap();
    let h = |t: &str| doublecheck_portal::secrets::sha256_hex(t);
    assert_eq!(
        env.store().link_find(&h(token1)).await.unwrap().unwrap().1,
        doublecheck_store::LinkState::Revoked
    );
    assert_eq!(
        env.store().link_find(&h(token2)).await.unwrap().unwrap().1,
        doublecheck_store::LinkState::Valid
    );
    assert!(l2["expires_at"].as_i64().unwrap() - l2["created"].as_i64().unwrap() <= 72 * 3600);

    env.store()
        .doc_add(doublecheck_store::NewDocument {
            id: doublecheck_store::new_document_id().unwrap(),
            session_id: id.clone(),
            sealed_json: "{\"k\":1}".into(),
            filename: Some("id.png".into()),
            content_type: "image/png".into(),
            size: 10,
        })
        .await
        .unwrap();
    // in processing: refused
    env.store()
        .vs_transition(
            &id,
            St::Processing,
            Transition {
                actor: "c".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let (s, v) = env
        .post(&format!("/v1/verification_sessions/{id}/redact"), json!({}))
        .await;
    assert_eq!(
        (s, err(&v).1),
        (
            StatusCode::BAD_REQUEST,
            "verification_session_unexpected_state"
        )
    );
    env.store()
        .vs_transition(
            &id,
            St::RequiresReview,
            Transition {
                actor: "c".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let (s, v) = env
        .post(&format!("/v1/verification_sessions/{id}/redact"), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["redaction"]["status"], "redacted");
    assert_eq!(v["status"], "canceled");
    assert_eq!(v["customer"]["email"], Value::Null);
    assert_eq!(v["known_fields"], json!([]));
    assert_eq!(destroyed.lock().unwrap().len(), 1, "the vault was told");
    assert_eq!(
        env.store().link_find(&h(token2)).await.unwrap().unwrap().1,
        doublecheck_store::LinkState::Revoked
    );
    let (_, evs) = env
        .get(&format!("/v1/events?verification_session={id}"))
        .await;
    assert_eq!(evs["data"][0]["type"], "verification_session.redacted");
    assert!(!evs.to_string().contains("d@example.com") && !evs.to_string().contains("Dora"));
    // again: a no-op
    assert_eq!(
        env.post(&format!("/v1/verification_sessions/{id}/redact"), json!({}))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(destroyed.lock().unwrap().len(), 1);
}

async fn staff_review_with_the_session_cookie(db: Db) {
    let env = env(&db).await;
    let id = env.create("s@example.com").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    env.to_review(&id).await;
    for (email, role) in [
        ("rev@example.com", doublecheck_store::Role::Reviewer),
        ("agent@example.com", doublecheck_store::Role::Agent),
    ] {
        env.store()
            .user_add(email, role, "$argon2id$x", "cli", &serde_json::Map::new())
            .await
            .unwrap();
    }
    let sid = |n: &str| format!("session-id-{n}-0123456789");
    env.store()
        .session_create(
            &doublecheck_portal::secrets::sha256_hex(&sid("r")),
            "rev@example.com",
            "csrf-r",
            "127.0.0.1",
        )
        .await
        .unwrap();
    env.store()
        .session_create(
            &doublecheck_portal::secrets::sha256_hex(&sid("a")),
            "agent@example.com",
            "csrf-a",
            "127.0.0.1",
        )
        .await
        .unwrap();
    let req = |who: &str, csrf: &str| {
        Request::post(format!("/v1/verification_sessions/{id}/review"))
            .header("cookie", format!("dc_session={}", sid(who)))
            .header("x-csrf-token", csrf)
            .body(Body::from(json!({ "decision": "approve" }).to_string()))
            .unwrap()
    };
    assert_eq!(env.send(req("r", "wrong")).await.0, StatusCode::FORBIDDEN);
    assert_eq!(
        env.send(req("a", "csrf-a")).await.0,
        StatusCode::FORBIDDEN,
        "agents do not decide"
    );
    assert_eq!(
        env.send(req("x", "csrf-r")).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (s, v, _) = env.send(req("r", "csrf-r")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["review"]["decided_by"], "rev@example.com");
}

async fn webhook_endpoints(db: Db) {
    let env = env(&db).await;
    let (s, v) = env.post("/v1/webhook_endpoints", json!({ "url": "https://hooks.example.com/in", "enabled_events": ["verification_session.verified"] })).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["secret"].as_str().unwrap().starts_with("whsec_"));
    assert!(v["id"].as_str().unwrap().starts_with("we_"));
    let id = v["id"].as_str().unwrap().to_string();
    let (_, list) = env.get("/v1/webhook_endpoints").await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert!(
        list["data"][0].get("secret").is_none(),
        "the secret is shown once"
    );
    let (s, one) = env.get(&format!("/v1/webhook_endpoints/{id}")).await;
    assert!(s == StatusCode::OK && one.get("secret").is_none());
    for (body, param) in [
        (json!({ "enabled_events": ["*"] }), "url"),
        (json!({ "url": "ftp://x", "enabled_events": ["*"] }), "url"),
        (json!({ "url": "https://x.example" }), "enabled_events"),
        (
            json!({ "url": "https://x.example", "enabled_events": ["charge.succeeded"] }),
            "enabled_events[0]",
        ),
    ] {
        let (s, v) = env.post("/v1/webhook_endpoints", body).await;
        assert_eq!((s, err(&v).2), (StatusCode::BAD_REQUEST, Some(param)));
    }
    let (s, log) = env
        .get(&format!("/v1/webhook_endpoints/{id}/deliveries"))
        .await;
    assert_eq!(
        (s, log["data"].as_array().unwrap().len()),
        (StatusCode::OK, 0)
    );
    let (s, d) = env
        .call(
            "DELETE",
            &format!("/v1/webhook_endpoints/{id}"),
            Some(&env.test_key.clone()),
            None,
        )
        .await;
    assert_eq!((s, d["deleted"].as_bool()), (StatusCode::OK, Some(true)));
    let (_, one) = env.get(&format!("/v1/webhook_endpoints/{id}")).await;
    assert_eq!(one["status"], "disabled");
    let (s, _) = env
        .call(
            "GET",
            &format!("/v1/webhook_endpoints/{id}"),
            Some(&env.live_key.clone()),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

async fn batches_from_csv_and_json(db: Db) {
    let env = env(&db).await;
    let csv_req = |body: &str, q: &str| {
        Request::post(format!("/v1/verification_batches{q}"))
            .header("authorization", format!("Bearer {}", env.test_key))
            .header("content-type", "text/csv")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let good = "email,name,postcode\r\nana@example.com,\"Ruiz, Ana\",28013\nbo@example.com,Bo,\ncy@example.com,,SW1A 1AA\n";
    let (s, v, _) = env.send(csv_req(good, "?type=address")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["object"], "verification_batch");
    assert_eq!(v["count"], 3);
    let batch = v["id"].as_str().unwrap();
    let msgs = env.store().outbox_list(Some(batch), None).await.unwrap();
    assert_eq!(msgs.len(), 3, "one message per customer");
    let mut rcpts: Vec<_> = msgs.iter().map(|m| m.recipient.clone().unwrap()).collect();
    rcpts.sort();
    assert_eq!(
        rcpts,
        vec!["ana@example.com", "bo@example.com", "cy@example.com"]
    );
    assert!(
        msgs.iter()
            .all(|m| m.body_template.contains("{{verify_link}}"))
    );
    let (_, listed) = env
        .get(&format!("/v1/verification_sessions?batch={batch}"))
        .await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 3);
    assert_eq!(listed["data"][0]["type"], "address");

    // every bad row is named; nothing is created
    let bad = "email,phone,birth_date\nok@example.com,,\nnot-an-email,,\nx@example.com,12,\ny@example.com,,1990-02-31\nok@example.com,,\n";
    let (s, v, _) = env.send(csv_req(bad, "")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(err(&v).1, "batch_invalid");
    let errors = v["error"]["errors"].as_array().unwrap();
    let rows: Vec<_> = errors
        .iter()
        .map(|e| {
            (
                e["row"].as_u64().unwrap(),
                e["param"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            (2, "customer[email]"),
            (3, "customer[phone]"),
            (4, "known[birth_date]"),
            (5, "customer[email]")
        ]
    );
    let (_, all) = env.get("/v1/verification_sessions?limit=100").await;
    assert_eq!(all["data"].as_array().unwrap().len(), 3);

    // skip_invalid_rows: the valid rows are created and sent, the others reported row by row
    let (s, v, _) = env.send(csv_req(bad, "?skip_invalid_rows=true")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["count"], 1);
    assert_eq!(
        (
            &v["report"]["rows"],
            &v["report"]["created"],
            &v["report"]["invalid"]
        ),
        (&json!(5), &json!(1), &json!(4))
    );
    let reported: Vec<_> = v["report"]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["row"].as_u64().unwrap(),
                e["param"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(reported, rows, "the same errors as without the option");
    let sent = env
        .store()
        .outbox_list(Some(v["id"].as_str().unwrap()), None)
        .await
        .unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].recipient.as_deref(), Some("ok@example.com"));
    let (s, v, _) = env.send(csv_req(good, "")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["report"]["invalid"], 0, "a clean batch reports no error");
    assert_eq!(v["report"]["errors"], json!([]));
    // every row invalid: nothing to create, with or without the option
    let (s, v, _) = env
        .send(csv_req(
            "email
nope
",
            "?skip_invalid_rows=true",
        ))
        .await;
    assert_eq!((s, err(&v).1), (StatusCode::BAD_REQUEST, "batch_invalid"));
    let (s, v, _) = env
        .send(csv_req(
            "email
a@example.com
",
            "?skip_invalid_rows=yes",
        ))
        .await;
    assert_eq!(
        (s, err(&v).2),
        (StatusCode::BAD_REQUEST, Some("skip_invalid_rows"))
    );
    let (s, v) = env
        .post(
            "/v1/verification_batches",
            json!({ "type": "document", "skip_invalid_rows": true, "rows": [
                { "customer": { "email": "k1@example.com" } },
                { "customer": { "email": "k2@" } }
            ] }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (&v["count"], &v["report"]["errors"][0]["row"]),
        (&json!(1), &json!(2))
    );
    let (s, v) = env
        .post(
            "/v1/verification_batches",
            json!({ "type": "document", "skip_invalid_rows": "yes", "rows": [{ "customer": { "email": "k3@example.com" } }] }),
        )
        .await;
    assert_eq!(
        (s, err(&v).2),
        (StatusCode::BAD_REQUEST, Some("skip_invalid_rows"))
    );
    for (body, code) in [
        ("", "csv_invalid"),
        ("name\nAna\n", "csv_invalid"),
        ("email,ssn\na@b.c,1\n", "csv_invalid"),
        ("email\n\"open\n", "csv_invalid"),
    ] {
        let (s, v, _) = env.send(csv_req(body, "")).await;
        assert_eq!((s, err(&v).1), (StatusCode::BAD_REQUEST, code), "{body:?}");
    }
    let (s, v, _) = env
        .send(csv_req("email\na@example.com\n", "?type=selfie"))
        .await;
    assert_eq!((s, err(&v).1), (StatusCode::BAD_REQUEST, "batch_invalid"));
    let mut many = String::from("email\n");
    for i in 0..10_001 {
        many.push_str(&format!("c{i}@example.com\n"));
    }
    let (s, _, _) = env.send(csv_req(&many, "")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // JSON rows, with a message of our own
    let (s, v) = env
        .post(
            "/v1/verification_batches",
            json!({
                "type": "document",
                "message": { "subject": "Your documents", "body": "Hi {{name}}: {{verify_link}}" },
                "rows": [
                    { "customer": { "email": "j1@example.com", "name": "J1" }, "known": { "account_last4": "1234" } },
                    { "customer": { "email": "j2@example.com" } }
                ]
            }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let msgs = env
        .store()
        .outbox_list(Some(v["id"].as_str().unwrap()), None)
        .await
        .unwrap();
    assert_eq!(msgs[0].subject, "Your documents");
    let (s, v) = env.post("/v1/verification_batches", json!({ "type": "document", "message": { "body": "no link" }, "rows": [{ "customer": { "email": "a@b.c" } }] })).await;
    assert_eq!(
        (s, err(&v).2),
        (StatusCode::BAD_REQUEST, Some("message[body]"))
    );
    let (s, v) = env
        .post("/v1/verification_batches", json!({ "type": "document" }))
        .await;
    assert_eq!((s, err(&v).2), (StatusCode::BAD_REQUEST, Some("rows")));

    // without an upstream there is nowhere to send
    let env2 = env_with(&db, |c| c.smtp.upstream = None).await;
    let (s, v) = env2
        .post(
            "/v1/verification_batches",
            json!({ "type": "document", "rows": [{ "customer": { "email": "a@b.c" } }] }),
        )
        .await;
    assert_eq!(
        (s, err(&v).1),
        (StatusCode::BAD_REQUEST, "delivery_not_configured")
    );
}

#[tokio::test]
async fn openapi_describes_every_route() {
    let env = env(&Db::Sqlite).await;
    let (s, doc) = env.call("GET", "/v1/openapi.json", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    for (path, method) in [
        ("/v1/verification_sessions", "post"),
        ("/v1/verification_sessions", "get"),
        ("/v1/verification_sessions/{id}", "get"),
        ("/v1/verification_sessions/{id}/cancel", "post"),
        ("/v1/verification_sessions/{id}/redact", "post"),
        ("/v1/verification_sessions/{id}/review", "post"),
        ("/v1/verification_sessions/{id}/links", "post"),
        ("/v1/verification_batches", "post"),
        ("/v1/events", "get"),
        ("/v1/events/{id}", "get"),
        ("/v1/webhook_endpoints", "post"),
        ("/v1/webhook_endpoints", "get"),
        ("/v1/webhook_endpoints/{id}", "get"),
        ("/v1/webhook_endpoints/{id}", "delete"),
        ("/v1/webhook_endpoints/{id}/deliveries", "get"),
        ("/v1/openapi.json", "get"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{method} {path}");
    }
    // every $ref resolves
    let text = doc.to_string();
    for r in text.split("\"$ref\":\"#/components/").skip(1) {
        let name = r.split('"').next().unwrap();
        let mut node = &doc["components"];
        for part in name.split('/') {
            node = &node[part];
        }
        assert!(node.is_object(), "{name}");
    }
}

// ------------------------------------------------------------------ webhooks, for real

#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<(axum::http::HeaderMap, String)>>>);

async fn receiver(listener: tokio::net::TcpListener, got: Received) {
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(
                |axum::extract::State(g): axum::extract::State<Received>,
                 h: axum::http::HeaderMap,
                 body: String| async move {
                    g.0.lock().unwrap().push((h, body));
                    StatusCode::NO_CONTENT
                },
            ),
        )
        .with_state(got);
    axum::serve(listener, app).await.unwrap();
}

/// The Standard Webhooks check, written out: HMAC-SHA256 over "{id}.{timestamp}.{body}" with
/// the base64-decoded secret after `whsec_`, compared with each `v1,` signature.
fn verify(secret: &str, headers: &axum::http::HeaderMap, body: &str) -> bool {
    let id = headers["webhook-id"].to_str().unwrap();
    let ts = headers["webhook-timestamp"].to_str().unwrap();
    let key = base64::engine::general_purpose::STANDARD
        .decode(&secret["whsec_".len()..])
        .unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.{body}").as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    (now - ts.parse::<i64>().unwrap()).abs() < 300
        && headers["webhook-signature"]
            .to_str()
            .unwrap()
            .split(' ')
            .any(|s| s == format!("v1,{expected}"))
}

async fn webhooks_are_signed_and_retried_until_the_receiver_is_up(db: Db) {
    // A port that refuses connections for now.
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = probe.local_addr().unwrap();
    drop(probe);
    let env = env_with(&db, |c| c.portal.webhook_retry_secs = vec![0, 0, 3600]).await;
    let (_, ep) = env
        .post(
            "/v1/webhook_endpoints",
            json!({ "url": format!("http://{addr}/hook"), "enabled_events": ["*"] }),
        )
        .await;
    let secret = ep["secret"].as_str().unwrap().to_string();
    let epid = ep["id"].as_str().unwrap().to_string();
    let id = env.create("w@example.com").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let client = doublecheck_portal::webhooks::client(&env.state).unwrap();

    // down: the attempt fails and is scheduled again
    assert_eq!(
        doublecheck_portal::webhooks::tick(&env.state, &client)
            .await
            .unwrap(),
        1
    );
    let log = env
        .store()
        .webhook_deliveries(None, Some(&epid), 10)
        .await
        .unwrap();
    assert_eq!(log[0].attempts, 1);
    assert!(log[0].delivered_at_ms.is_none() && log[0].next_attempt_at_ms.is_some());
    assert!(
        log[0].last_error.as_deref().unwrap().contains("connection"),
        "{:?}",
        log[0].last_error
    );

    // up: delivered, and the signature checks out
    let got = Received::default();
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    tokio::spawn(receiver(listener, got.clone()));
    assert_eq!(
        doublecheck_portal::webhooks::tick(&env.state, &client)
            .await
            .unwrap(),
        1
    );
    let log = env
        .store()
        .webhook_deliveries(None, Some(&epid), 10)
        .await
        .unwrap();
    assert_eq!((log[0].attempts, log[0].last_status_code), (2, Some(204)));
    assert!(log[0].delivered_at_ms.is_some() && log[0].next_attempt_at_ms.is_none());
    {
        let got = got.0.lock().unwrap();
        assert_eq!(got.len(), 1);
        let (h, body) = &got[0];
        assert!(verify(&secret, h, body));
        assert!(
            !verify("whsec_d3Jvbmc=", h, body),
            "another secret does not verify"
        );
        let ev: Value = serde_json::from_str(body).unwrap();
        assert_eq!(ev["type"], "verification_session.created");
        assert_eq!(ev["data"]["object"]["id"], id.as_str());
        assert_eq!(
            h["webhook-id"].to_str().unwrap(),
            ev["id"].as_str().unwrap()
        );
    }
    // the review's event goes out too; nothing is sent twice
    env.to_review(&id).await;
    env.post(
        &format!("/v1/verification_sessions/{id}/review"),
        json!({ "decision": "approve" }),
    )
    .await;
    assert_eq!(
        doublecheck_portal::webhooks::tick(&env.state, &client)
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        doublecheck_portal::webhooks::tick(&env.state, &client)
            .await
            .unwrap(),
        0
    );
    {
        let got = got.0.lock().unwrap();
        let types: Vec<String> = got
            .iter()
            .map(|(_, b)| {
                serde_json::from_str::<Value>(b).unwrap()["type"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(types.last().unwrap(), "verification_session.verified");
        assert!(got.iter().all(|(h, b)| verify(&secret, h, b)));
    }
    // the delivery log through the API
    let (_, log) = env
        .get(&format!("/v1/webhook_endpoints/{epid}/deliveries"))
        .await;
    assert_eq!(log["data"].as_array().unwrap().len(), 4);
    assert!(
        log["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["status"] == "delivered")
    );
}

async fn a_receiver_that_keeps_failing_is_given_up_after_the_schedule(db: Db) {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = probe.local_addr().unwrap();
    drop(probe);
    let env = env_with(&db, |c| c.portal.webhook_retry_secs = vec![0]).await;
    let (_, ep) = env.post("/v1/webhook_endpoints", json!({ "url": format!("http://{addr}/hook"), "enabled_events": ["verification_session.created"] })).await;
    env.create("f@example.com").await;
    let client = doublecheck_portal::webhooks::client(&env.state).unwrap();
    assert_eq!(
        doublecheck_portal::webhooks::tick(&env.state, &client)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        doublecheck_portal::webhooks::tick(&env.state, &client)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        doublecheck_portal::webhooks::tick(&env.state, &client)
            .await
            .unwrap(),
        0
    );
    let log = env
        .store()
        .webhook_deliveries(None, ep["id"].as_str(), 10)
        .await
        .unwrap();
    assert_eq!(log[0].attempts, 2);
    assert!(log[0].failed_at_ms.is_some());
}
