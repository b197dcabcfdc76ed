//! The HTTP API driven through the router with `oneshot`, on a real SQLite store.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use doublecheck_engine::Policy;
use doublecheck_gate::{AppState, Config, http::app};
use doublecheck_store::Store;
use http_body_util::BodyExt;
use tower::ServiceExt;

async fn state() -> (AppState, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let store = Store::open(&url).await.expect("store");
    (
        AppState::new(Config::default(), Policy::builtin(), store),
        dir,
    )
}

async fn send(state: &AppState, req: Request<Body>) -> (StatusCode, serde_json::Value, String) {
    let resp = app(state.clone()).oneshot(req).await.expect("response");
    let status = resp.status();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    let text = String::from_utf8_lossy(&bytes).to_string();
    let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, json, text)
}

const INCIDENT: &str = include_str!("../../../examples/incident.eml");

#[tokio::test]
async fn health_and_readiness() {
    let (s, _d) = state().await;
    let (st, j, _) = send(&s, Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(j["status"], "ok");
    let (st, j, _) = send(&s, Request::get("/readyz").body(Body::empty()).unwrap()).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(j["status"], "ready");
    s.store.close().await;
    let (st, j, _) = send(&s, Request::get("/readyz").body(Body::empty()).unwrap()).await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE, "{j}");
    assert_eq!(j["error"]["type"], "not_ready");
}

#[tokio::test]
async fn check_json_and_raw_bodies() {
    let (s, _d) = state().await;
    let body = serde_json::json!({ "message": INCIDENT }).to_string();
    let req = Request::post("/v1/check")
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    let (st, j, _) = send(&s, req).await;
    assert_eq!(st, StatusCode::OK, "{j}");
    assert_eq!(j["action"], "reject");
    assert_eq!(j["plan"]["code"], 550);
    assert_eq!(j["recipients"], 6);

    // Raw message with the envelope in the query: one internal recipient only.
    let req =
        Request::post("/v1/check?mail_from=care@phoneco.example&rcpt_to=maria.garcia@gmail.com")
            .header("content-type", "message/rfc822")
            .body(Body::from(INCIDENT))
            .unwrap();
    let (st, j, _) = send(&s, req).await;
    assert_eq!(st, StatusCode::OK, "{j}");
    assert_eq!(j["recipients"], 1);
    assert_ne!(j["action"], "allow");

    let b64 = base64_encode(INCIDENT.as_bytes());
    let body = serde_json::json!({ "message_base64": b64, "rcpt_to": ["a@gmail.com"] }).to_string();
    let req = Request::post("/v1/check")
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    let (st, j, _) = send(&s, req).await;
    assert_eq!(st, StatusCode::OK, "{j}");
    assert_eq!(j["recipients"], 1);

    let (_, _, metrics) = send(&s, Request::get("/metrics").body(Body::empty()).unwrap()).await;
    assert!(metrics.contains("doublecheck_messages_total"), "{metrics}");
    assert!(metrics.contains("doublecheck_findings_total"), "{metrics}");
    // The time of each detector and of the parser, with microsecond buckets.
    for detector in doublecheck_engine::Timings::DETECTORS {
        let count = format!("doublecheck_detector_seconds_count{{detector=\"{detector}\"}} ");
        let line = metrics
            .lines()
            .find(|l| l.starts_with(&count))
            .unwrap_or_else(|| panic!("no {count}in {metrics}"));
        let n: f64 = line[count.len()..].trim().parse().expect("a count");
        assert!(n >= 3.0, "{line}");
    }
    assert!(
        metrics.contains("doublecheck_detector_seconds_bucket{detector=\"content.sensitive_data\",le=\"0.000005\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("doublecheck_parse_seconds_count "),
        "{metrics}"
    );
    // Findings per detector: the incident's request for documents, counted three times.
    let findings = metrics
        .lines()
        .find(|l| {
            l.starts_with("doublecheck_findings_total{detector=\"content.solicits_sensitive\"")
        })
        .unwrap_or_else(|| panic!("no solicits_sensitive findings in {metrics}"));
    let n: f64 = findings
        .rsplit(' ')
        .next()
        .unwrap_or("")
        .parse()
        .expect("a count");
    assert!(n >= 3.0, "{findings}");
}

fn base64_encode(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}

#[tokio::test]
async fn bad_requests_get_clear_errors() {
    let (s, _d) = state().await;
    for (ct, body, status, kind) in [
        (
            "application/json",
            "{not json",
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "application/json",
            "{\"message\": \"x\", \"message_base64\": \"eA==\"}",
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "application/json",
            "{\"message_base64\": \"***\"}",
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "application/json",
            "{\"message\": \"x\", \"evil\": 1}",
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "image/png",
            "x",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "message/rfc822",
            "",
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ] {
        let req = Request::post("/v1/check")
            .header("content-type", ct)
            .body(Body::from(body))
            .unwrap();
        let (st, j, text) = send(&s, req).await;
        assert_eq!(st, status, "{ct} {body}: {text}");
        assert_eq!(j["error"]["type"], kind, "{text}");
        assert!(
            j["error"]["message"]
                .as_str()
                .is_some_and(|m| m.ends_with('.')),
            "{text}"
        );
    }
    let (st, j, _) = send(&s, Request::get("/nope").body(Body::empty()).unwrap()).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_eq!(j["error"]["type"], "not_found");
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let store = Store::open(&url).await.expect("store");
    let mut config = Config::default();
    config.http.max_body_bytes = 1024;
    let s = AppState::new(config, Policy::builtin(), store);
    let req = Request::post("/v1/check")
        .header("content-type", "message/rfc822")
        .body(Body::from(vec![b'a'; 4096]))
        .unwrap();
    let (st, _, _) = send(&s, req).await;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE);
}
