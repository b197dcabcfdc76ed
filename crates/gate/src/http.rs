//! The HTTP listener: health, readiness, Prometheus metrics and `POST /v1/check`.
//!
//! `POST /v1/check` takes either JSON —
//! `{"message": "<raw RFC 5322 text>" | "message_base64": "…", "mail_from": "…", "rcpt_to": […], "auth_user": "…"}`
//! — or a raw `message/rfc822` body with the envelope in the query string
//! (`?mail_from=a@x&rcpt_to=b@y,c@z`), and answers with the verdict as JSON (the same fields as
//! `doublecheck check --format json`). Errors are JSON too: `{"error": {"type", "message"}}`.

use crate::state::AppState;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use doublecheck_engine::Envelope;
use serde::Deserialize;
use std::sync::Arc;

/// Every error the API returns: a status and one sentence.
#[derive(Debug)]
pub struct AppError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub message: String,
}

impl AppError {
    fn bad_request(message: impl Into<String>) -> AppError {
        AppError {
            status: StatusCode::BAD_REQUEST,
            kind: "invalid_request",
            message: message.into(),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": { "type": self.kind, "message": self.message } });
        (self.status, axum::Json(body)).into_response()
    }
}

/// The router, apart from any socket (tests drive it with `oneshot`).
pub fn app(state: AppState) -> Router {
    let limit = state.config.http.max_body_bytes;
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/v1/check", post(check))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

async fn not_found() -> AppError {
    AppError {
        status: StatusCode::NOT_FOUND,
        kind: "not_found",
        message: "No such endpoint; see /v1/check, /healthz, /readyz and /metrics.".into(),
    }
}

async fn healthz() -> impl IntoResponse {
    axum::Json(serde_json::json!({ "status": "ok" }))
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => axum::Json(serde_json::json!({ "status": "ready" })).into_response(),
        Err(e) => AppError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            kind: "not_ready",
            message: format!("The database is not reachable: {e}"),
        }
        .into_response(),
    }
}

async fn metrics() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::metrics::handle().render(),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckJson {
    message: Option<String>,
    message_base64: Option<String>,
    mail_from: Option<String>,
    #[serde(default)]
    rcpt_to: Vec<String>,
    auth_user: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckQuery {
    mail_from: Option<String>,
    rcpt_to: Option<String>,
    auth_user: Option<String>,
}

async fn check(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<CheckQuery>, axum::extract::rejection::QueryRejection>,
    body: Bytes,
) -> Result<Response, AppError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let (raw, envelope) = match content_type.as_str() {
        "application/json" => {
            let req: CheckJson = serde_json::from_slice(&body).map_err(|e| {
                AppError::bad_request(format!("The JSON body is not a check request: {e}."))
            })?;
            let raw = match (req.message, req.message_base64) {
                (Some(m), None) => m.into_bytes(),
                (None, Some(b)) => base64::engine::general_purpose::STANDARD
                    .decode(b.trim())
                    .map_err(|e| {
                        AppError::bad_request(format!("message_base64 is not valid base64: {e}."))
                    })?,
                _ => {
                    return Err(AppError::bad_request(
                        "Give the message as exactly one of \"message\" (text) or \"message_base64\".",
                    ));
                }
            };
            let envelope = Envelope {
                mail_from: req.mail_from,
                rcpt_to: req.rcpt_to,
                auth_user: req.auth_user,
            };
            (raw, envelope)
        }
        "message/rfc822" | "text/plain" | "application/octet-stream" => {
            let Query(q) =
                query.map_err(|e| AppError::bad_request(format!("Bad query string: {e}.")))?;
            let envelope = Envelope {
                mail_from: q.mail_from,
                rcpt_to: q
                    .rcpt_to
                    .map(|r| {
                        r.split(',')
                            .map(|s| s.trim().to_string())
                            .filter(|s| !s.is_empty())
                            .collect()
                    })
                    .unwrap_or_default(),
                auth_user: q.auth_user,
            };
            (body.to_vec(), envelope)
        }
        other => {
            return Err(AppError {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                kind: "unsupported_media_type",
                message: format!(
                    "Send the message as application/json or message/rfc822{}.",
                    if other.is_empty() {
                        String::new()
                    } else {
                        format!(", not {other}")
                    }
                ),
            });
        }
    };
    if raw.is_empty() {
        return Err(AppError::bad_request("The message is empty."));
    }
    let verdict = state
        .check(Arc::new(raw), envelope, "http")
        .await
        .map_err(|e| AppError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            kind: "internal_error",
            message: e.to_string(),
        })?;
    Ok(axum::Json(verdict).into_response())
}
