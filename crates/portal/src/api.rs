//! The developer API under `/v1`, following Stripe's conventions: Bearer API keys (or HTTP
//! Basic with the key as the user name), JSON bodies, errors as
//! `{"error": {"type", "code", "message", "param"?}}`, `Idempotency-Key` on every `POST` (same
//! key and same request: the first response again, marked `Idempotent-Replayed: true`; same key
//! and another request: 400 `idempotency_error`), lists as
//! `{"object": "list", "data", "has_more", "url"}` newest first with `limit` (1–100, default
//! 10) and `starting_after`. A test key (`dk_test_…`) sees only test-mode objects, a live key
//! only live ones.
//!
//! Bodies: JSON up to 64 KB; a batch up to 5 MB and 10,000 rows.
//!
//! A batch checks every row first. By default one invalid row fails the whole batch (400
//! `batch_invalid`, each bad row named in `error.errors`, nothing created); with
//! `skip_invalid_rows=true` the valid rows are created and sent, and the answer's `report`
//! (`rows`, `created`, `invalid`, `errors`) names each row left out.

use crate::PortalState;
use crate::error::ApiError;
use crate::render;
use crate::secrets;
use crate::validate;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use doublecheck_store::{
    ApiKey, EVENT_TYPES, EventQuery, IdempotencyBegin, MessageTemplate, NewWebhookEndpoint,
    SessionQuery, Transition, VerificationSession, VerificationStatus,
};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::future::Future;

/// The largest JSON body.
pub const MAX_JSON_BYTES: usize = 64 * 1024;
/// The largest batch body (CSV or JSON).
pub const MAX_BATCH_BYTES: usize = 5 * 1024 * 1024;
/// The most customers in one batch.
pub const MAX_BATCH_ROWS: usize = 10_000;
/// The most row errors one answer lists (the count of invalid rows is always exact).
pub const MAX_REPORTED_ERRORS: usize = 1000;

/// The API's routes, apart from any socket.
pub fn router(state: PortalState) -> Router {
    Router::new()
        .route("/v1/openapi.json", get(openapi))
        .route(
            "/v1/verification_sessions",
            post(create_session).get(list_sessions),
        )
        .route("/v1/verification_sessions/{id}", get(get_session))
        .route(
            "/v1/verification_sessions/{id}/cancel",
            post(cancel_session),
        )
        .route(
            "/v1/verification_sessions/{id}/redact",
            post(redact_session),
        )
        .route(
            "/v1/verification_sessions/{id}/review",
            post(review_session),
        )
        .route("/v1/verification_sessions/{id}/links", post(create_link))
        .route(
            "/v1/verification_batches",
            post(create_batch).layer(DefaultBodyLimit::max(MAX_BATCH_BYTES)),
        )
        .route("/v1/events", get(list_events))
        .route("/v1/events/{id}", get(get_event))
        .route(
            "/v1/webhook_endpoints",
            post(create_endpoint).get(list_endpoints),
        )
        .route(
            "/v1/webhook_endpoints/{id}",
            get(get_endpoint).delete(delete_endpoint),
        )
        .route(
            "/v1/webhook_endpoints/{id}/deliveries",
            get(list_deliveries),
        )
        .layer(DefaultBodyLimit::max(MAX_JSON_BYTES))
        .layer(axum::middleware::from_fn(no_store))
        .with_state(state)
}

async fn no_store(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut res = next.run(req).await;
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

// ------------------------------------------------------------------ authentication

/// The API key of the request (`Authorization: Bearer dk_…` or Basic with the key as user).
pub struct Key(pub ApiKey);

fn presented_key(headers: &HeaderMap) -> Result<String, ApiError> {
    let Some(v) = headers.get(header::AUTHORIZATION) else {
        return Err(ApiError::unauthorized(
            "You did not provide an API key. Provide it as 'Authorization: Bearer dk_test_…'.",
        ));
    };
    let v = v
        .to_str()
        .map_err(|_| ApiError::unauthorized("The Authorization header is not readable."))?
        .trim();
    if let Some(k) = v
        .strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("bearer "))
    {
        return Ok(k.trim().to_string());
    }
    if let Some(b) = v
        .strip_prefix("Basic ")
        .or_else(|| v.strip_prefix("basic "))
    {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b.trim())
            .ok()
            .and_then(|d| String::from_utf8(d).ok())
            .ok_or_else(|| ApiError::unauthorized("The Basic credentials are not readable."))?;
        return Ok(raw.split(':').next().unwrap_or("").to_string());
    }
    Err(ApiError::unauthorized(
        "Use 'Authorization: Bearer <API key>'.",
    ))
}

fn masked(key: &str) -> String {
    let tail: String = key
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let head = if key.starts_with("dk_live_") {
        "dk_live_"
    } else if key.starts_with("dk_test_") {
        "dk_test_"
    } else {
        ""
    };
    format!("{head}****{tail}")
}

impl FromRequestParts<PortalState> for Key {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &PortalState) -> Result<Key, ApiError> {
        let key = presented_key(&parts.headers)?;
        match state.app.store.api_key_authenticate(&key).await? {
            Some(k) => Ok(Key(k)),
            None => Err(ApiError::unauthorized(format!(
                "Invalid API key provided: {}",
                masked(&key)
            ))),
        }
    }
}

/// Who reviews: an API key, or a signed-in reviewer or admin of the review queue (session
/// cookie, and the session's CSRF token in `X-CSRF-Token`).
pub enum Reviewer {
    Key(ApiKey),
    Staff(String),
}

const SESSION_COOKIE: &str = "dc_session";

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

impl FromRequestParts<PortalState> for Reviewer {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &PortalState,
    ) -> Result<Reviewer, ApiError> {
        if parts.headers.contains_key(header::AUTHORIZATION) {
            return Key::from_request_parts(parts, state)
                .await
                .map(|k| Reviewer::Key(k.0));
        }
        let Some(id) = cookie(&parts.headers, SESSION_COOKIE).filter(|c| c.len() <= 128) else {
            return Err(ApiError::unauthorized(
                "Provide an API key, or sign in to the review queue.",
            ));
        };
        let id_hash = secrets::sha256_hex(&id);
        let Some(s) = state.app.store.session_get(&id_hash).await? else {
            return Err(ApiError::unauthorized(
                "Your sign-in has ended; sign in again.",
            ));
        };
        let web = &state.app.config.web;
        let now = now_ms();
        let idle = i64::try_from(web.session_idle_secs).unwrap_or(i64::MAX / 2000) * 1000;
        let absolute = i64::try_from(web.session_absolute_secs).unwrap_or(i64::MAX / 2000) * 1000;
        if s.user.disabled || now - s.last_seen_ms > idle || now - s.created_at_ms > absolute {
            return Err(ApiError::unauthorized(
                "Your sign-in has ended; sign in again.",
            ));
        }
        let csrf = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !doublecheck_store::constant_time_eq(csrf, &s.csrf_token) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "invalid_request_error",
                "csrf_token_invalid",
                "The X-CSRF-Token header does not match your sign-in.",
            ));
        }
        if !matches!(s.user.role.as_str(), "reviewer" | "admin") {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "invalid_request_error",
                "permission_denied",
                "Only reviewers and admins decide on verification sessions.",
            ));
        }
        Ok(Reviewer::Staff(s.user.email))
    }
}

// ------------------------------------------------------------------ bodies and idempotency

fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request_error",
                "request_too_large",
                "The request body is too large.",
            )
        } else {
            ApiError::bad_request("body_invalid", "The request body could not be read.")
        }
    })
}

/// The JSON object of a body; an empty body is `{}`.
fn json_body(bytes: &[u8]) -> Result<Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    let v: Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad_request("body_invalid", format!("The body is not valid JSON: {e}"))
    })?;
    if !v.is_object() {
        return Err(ApiError::bad_request(
            "body_invalid",
            "The body must be a JSON object.",
        ));
    }
    Ok(v)
}

fn ok(status: StatusCode, v: Value) -> Result<(StatusCode, Value), ApiError> {
    Ok((status, v))
}

/// Runs `f` under the request's `Idempotency-Key`, if any.
async fn idempotent<Fut>(
    state: &PortalState,
    key: &ApiKey,
    headers: &HeaderMap,
    path: &str,
    body: Bytes,
    f: impl FnOnce() -> Fut,
) -> Response
where
    Fut: Future<Output = Result<(StatusCode, Value), ApiError>>,
{
    let respond = |r: Result<(StatusCode, Value), ApiError>| -> (StatusCode, String) {
        match r {
            Ok((s, v)) => (s, v.to_string()),
            Err(e) => (e.status, e.json().to_string()),
        }
    };
    let Some(ik) = headers.get("idempotency-key") else {
        let (s, b) = respond(f().await);
        return json_response(s, b, false);
    };
    let ik = match ik.to_str() {
        Ok(s)
            if !s.is_empty()
                && s.len() <= 255
                && s.bytes().all(|b| b.is_ascii_graphic() || b == b' ') =>
        {
            s
        }
        _ => {
            return ApiError::invalid(
                "Idempotency-Key",
                "idempotency_key_invalid",
                "Idempotency-Key must be 1 to 255 printable ASCII characters.",
            )
            .into_response();
        }
    };
    let mut fp = Vec::with_capacity(path.len() + body.len() + 8);
    fp.extend_from_slice(b"POST ");
    fp.extend_from_slice(path.as_bytes());
    fp.push(b'\n');
    fp.extend_from_slice(&body);
    let fingerprint = secrets::hex(&<sha2::Sha256 as sha2::Digest>::digest(&fp));
    let store = &state.app.store;
    match store.idempotency_begin(&key.id, ik, &fingerprint).await {
        Err(e) => ApiError::from(e).into_response(),
        Ok(IdempotencyBegin::Replay { status, body }) => json_response(
            StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
            body,
            true,
        ),
        Ok(IdempotencyBegin::Mismatch) => {
            let mut e = ApiError::new(
                StatusCode::BAD_REQUEST,
                "idempotency_error",
                "idempotency_key_reused",
                "Keys for idempotent requests can only be used with the same parameters they \
                 were first used with. Try using a key other than this one if you meant to \
                 execute a different request.",
            );
            e.param = Some("Idempotency-Key".into());
            e.into_response()
        }
        Ok(IdempotencyBegin::InProgress) => ApiError::new(
            StatusCode::CONFLICT,
            "idempotency_error",
            "idempotency_key_in_use",
            "A request with this Idempotency-Key is still being processed; retry shortly.",
        )
        .into_response(),
        Ok(IdempotencyBegin::New) => {
            let (s, b) = respond(f().await);
            let saved = if s.is_server_error() {
                store.idempotency_abort(&key.id, ik).await
            } else {
                store.idempotency_finish(&key.id, ik, s.as_u16(), &b).await
            };
            if let Err(e) = saved {
                tracing::warn!(error = %e, "portal API: idempotency record not saved");
            }
            json_response(s, b, false)
        }
    }
}

fn json_response(status: StatusCode, body: String, replayed: bool) -> Response {
    let mut res = (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response();
    if replayed {
        res.headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    res
}

fn into_response(r: Result<(StatusCode, Value), ApiError>) -> Response {
    match r {
        Ok((s, v)) => (s, axum::Json(v)).into_response(),
        Err(e) => e.into_response(),
    }
}

// ------------------------------------------------------------------ list parameters

struct ListParams {
    limit: u32,
    starting_after: Option<String>,
    rest: HashMap<String, String>,
}

fn list_params(
    q: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
    allowed: &[&str],
) -> Result<ListParams, ApiError> {
    let Query(mut q) = q.map_err(|_| {
        ApiError::bad_request("parameter_invalid", "The query string is not readable.")
    })?;
    if let Some(k) = q.keys().find(|k| {
        !allowed.contains(&k.as_str()) && !matches!(k.as_str(), "limit" | "starting_after")
    }) {
        return Err(ApiError::invalid(
            k.clone(),
            "parameter_unknown",
            format!("Received unknown parameter: {k}"),
        ));
    }
    let limit = match q.remove("limit") {
        None => 10,
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|l| (1..=100).contains(l))
            .ok_or_else(|| {
                ApiError::invalid(
                    "limit",
                    "parameter_invalid",
                    "limit must be a whole number from 1 to 100.",
                )
            })?,
    };
    let starting_after = q.remove("starting_after").filter(|s| !s.is_empty());
    if starting_after.as_ref().is_some_and(|s| s.len() > 64) {
        return Err(ApiError::invalid(
            "starting_after",
            "parameter_invalid",
            "starting_after is not an id.",
        ));
    }
    Ok(ListParams {
        limit,
        starting_after,
        rest: q,
    })
}

/// `starting_after` must name an object the key can see.
fn cursor_error(e: doublecheck_store::StoreError) -> ApiError {
    match e {
        doublecheck_store::StoreError::Invalid(_) => ApiError::invalid(
            "starting_after",
            "resource_missing",
            "starting_after does not name an object of this list.",
        ),
        other => other.into(),
    }
}

// ------------------------------------------------------------------ sessions

async fn session_of(
    state: &PortalState,
    key: &ApiKey,
    id: &str,
) -> Result<VerificationSession, ApiError> {
    match state.app.store.vs_get(id).await? {
        Some(s) if s.livemode == key.livemode => Ok(s),
        _ => Err(ApiError::not_found("verification_session", id)),
    }
}

fn message_template(state: &PortalState, v: Option<&Value>) -> Result<MessageTemplate, ApiError> {
    let c = &state.app.config.portal;
    let mut t = MessageTemplate {
        subject: c.message_subject.clone(),
        body: c.message_body.clone(),
    };
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(t);
    };
    let obj = v.as_object().ok_or_else(|| {
        ApiError::invalid(
            "message",
            "parameter_invalid",
            "message must be an object with subject and body.",
        )
    })?;
    if let Some(k) = obj
        .keys()
        .find(|k| !matches!(k.as_str(), "subject" | "body"))
    {
        return Err(ApiError::invalid(
            format!("message[{k}]"),
            "parameter_unknown",
            format!("Received unknown parameter: message[{k}]"),
        ));
    }
    if let Some(s) = obj.get("subject") {
        let s = s
            .as_str()
            .filter(|s| !s.trim().is_empty() && s.len() <= 200 && !s.contains(['\r', '\n']))
            .ok_or_else(|| {
                ApiError::invalid(
                    "message[subject]",
                    "parameter_invalid",
                    "message[subject] must be one line of 1 to 200 characters.",
                )
            })?;
        t.subject = s.to_string();
    }
    if let Some(b) = obj.get("body") {
        let b = b.as_str().filter(|b| b.len() <= 16 * 1024).ok_or_else(|| {
            ApiError::invalid(
                "message[body]",
                "parameter_invalid",
                "message[body] must be text of at most 16 KB.",
            )
        })?;
        if !b.contains("{{verify_link}}") {
            return Err(ApiError::invalid(
                "message[body]",
                "parameter_invalid",
                "message[body] must contain {{verify_link}}, where each customer's own link goes.",
            ));
        }
        t.body = b.to_string();
    }
    Ok(t)
}

fn require_upstream(state: &PortalState) -> Result<(), ApiError> {
    if state.app.config.smtp.upstream.is_none() {
        return Err(ApiError::bad_request(
            "delivery_not_configured",
            "The gate has no smtp.upstream, so messages to customers cannot be sent. Set it, or create sessions without sending and make links with POST /v1/verification_sessions/{id}/links.",
        ));
    }
    Ok(())
}

async fn create_session(
    State(state): State<PortalState>,
    Key(key): Key,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let bytes = match body_bytes(body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let st = state.clone();
    let k = key.clone();
    idempotent(
        &state,
        &key,
        &headers,
        "/v1/verification_sessions",
        bytes.clone(),
        || async move {
            let v = json_body(&bytes)?;
            let input = validate::session_body(
                &v,
                &st.key,
                k.livemode,
                &k.id,
                st.app.config.portal.session_ttl_secs,
                now_ms(),
            )?;
            if input.send {
                require_upstream(&st)?;
            }
            let s = st.app.store.vs_create(input.session, &k.id).await?;
            if input.send {
                let t = message_template(&st, None)?;
                st.app.store.outbox_add(&s.id, &t).await?;
            }
            ok(StatusCode::OK, render::session(&s))
        },
    )
    .await
}

async fn get_session(
    State(state): State<PortalState>,
    Key(key): Key,
    Path(id): Path<String>,
) -> Response {
    into_response(
        async {
            ok(
                StatusCode::OK,
                render::session(&session_of(&state, &key, &id).await?),
            )
        }
        .await,
    )
}

async fn list_sessions(
    State(state): State<PortalState>,
    Key(key): Key,
    q: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> Response {
    into_response(
        async {
            let p = list_params(q, &["status", "batch"])?;
            let status = match p.rest.get("status") {
                None => None,
                Some(s) => Some(VerificationStatus::parse(s).ok_or_else(|| {
                    ApiError::invalid(
                        "status",
                        "parameter_invalid",
                        "status must be one of requires_input, processing, requires_review, verified, rejected, canceled, expired.",
                    )
                })?),
            };
            let page = state
                .app
                .store
                .vs_list(SessionQuery {
                    livemode: Some(key.livemode),
                    status,
                    batch_id: p.rest.get("batch").cloned(),
                    limit: p.limit,
                    starting_after: p.starting_after,
                })
                .await
                .map_err(cursor_error)?;
            let data = page.data.iter().map(render::session).collect();
            ok(StatusCode::OK, render::list("/v1/verification_sessions", data, page.has_more))
        }
        .await,
    )
}

async fn transition(
    state: &PortalState,
    key: &ApiKey,
    id: &str,
    to: VerificationStatus,
    t: Transition,
) -> Result<(StatusCode, Value), ApiError> {
    session_of(state, key, id).await?;
    let (s, _) = state.app.store.vs_transition(id, to, t).await?;
    ok(StatusCode::OK, render::session(&s))
}

async fn cancel_session(
    State(state): State<PortalState>,
    Key(key): Key,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let bytes = match body_bytes(body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let path = format!("/v1/verification_sessions/{id}/cancel");
    let (st, k) = (state.clone(), key.clone());
    idempotent(
        &state,
        &key,
        &headers,
        &path,
        bytes.clone(),
        || async move {
            let v = json_body(&bytes)?;
            if let Some(p) = v.as_object().and_then(|o| o.keys().next()) {
                return Err(ApiError::invalid(
                    p.clone(),
                    "parameter_unknown",
                    format!("Received unknown parameter: {p}"),
                ));
            }
            let t = Transition {
                actor: k.id.clone(),
                ..Default::default()
            };
            transition(&st, &k, &id, VerificationStatus::Canceled, t).await
        },
    )
    .await
}

async fn redact_session(
    State(state): State<PortalState>,
    Key(key): Key,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let bytes = match body_bytes(body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let path = format!("/v1/verification_sessions/{id}/redact");
    let (st, k) = (state.clone(), key.clone());
    idempotent(
        &state,
        &key,
        &headers,
        &path,
        bytes.clone(),
        || async move {
            let v = json_body(&bytes)?;
            if let Some(p) = v.as_object().and_then(|o| o.keys().next()) {
                return Err(ApiError::invalid(
                    p.clone(),
                    "parameter_unknown",
                    format!("Received unknown parameter: {p}"),
                ));
            }
            session_of(&st, &k, &id).await?;
            let (s, docs) = st.app.store.vs_redact(&id, &k.id).await?;
            for d in &docs {
                if let Err(e) = st.documents.destroy(d).await {
                    // The sealed record (the wrapped data key) is gone: the blob is unreadable.
                    tracing::warn!(document = %d.id, error = %e, "redaction: blob not deleted");
                }
            }
            ok(StatusCode::OK, render::session(&s))
        },
    )
    .await
}

async fn review_session(
    State(state): State<PortalState>,
    reviewer: Reviewer,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let bytes = match body_bytes(body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let run = |st: PortalState, livemode: Option<bool>, actor: String, bytes: Bytes, id: String| async move {
        let v = json_body(&bytes)?;
        let obj = v.as_object().cloned().unwrap_or_default();
        if let Some(k) = obj
            .keys()
            .find(|k| !matches!(k.as_str(), "decision" | "reason"))
        {
            return Err(ApiError::invalid(
                k.clone(),
                "parameter_unknown",
                format!("Received unknown parameter: {k}"),
            ));
        }
        let to = match obj.get("decision").and_then(Value::as_str) {
            Some("approve") => VerificationStatus::Verified,
            Some("reject") => VerificationStatus::Rejected,
            Some(_) => {
                return Err(ApiError::invalid(
                    "decision",
                    "parameter_invalid",
                    "decision must be approve or reject.",
                ));
            }
            None => {
                return Err(ApiError::invalid(
                    "decision",
                    "parameter_missing",
                    "Missing required param: decision.",
                ));
            }
        };
        let reason = match obj.get("reason") {
            None | Some(Value::Null) => None,
            Some(Value::String(s))
                if s.len() <= 1000 && !s.chars().any(|c| c.is_control() && c != '\n') =>
            {
                Some(s.trim().to_string()).filter(|s| !s.is_empty())
            }
            Some(_) => {
                return Err(ApiError::invalid(
                    "reason",
                    "parameter_invalid",
                    "reason must be text of at most 1000 characters.",
                ));
            }
        };
        if to == VerificationStatus::Rejected && reason.is_none() {
            return Err(ApiError::invalid(
                "reason",
                "parameter_missing",
                "A rejection needs a reason.",
            ));
        }
        match st.app.store.vs_get(&id).await? {
            Some(s) if livemode.is_none_or(|l| l == s.livemode) => {}
            _ => return Err(ApiError::not_found("verification_session", &id)),
        }
        let t = Transition {
            actor,
            reason,
            expected_from: Some(VerificationStatus::RequiresReview),
            last_error: None,
        };
        let (s, _) = st.app.store.vs_transition(&id, to, t).await?;
        ok(StatusCode::OK, render::session(&s))
    };
    match reviewer {
        Reviewer::Key(key) => {
            let path = format!("/v1/verification_sessions/{id}/review");
            let st = state.clone();
            let (livemode, actor) = (Some(key.livemode), key.id.clone());
            idempotent(&state, &key, &headers, &path, bytes.clone(), || {
                run(st, livemode, actor, bytes, id)
            })
            .await
        }
        Reviewer::Staff(email) => into_response(run(state, None, email, bytes, id).await),
    }
}

/// A fresh link for the customer, shown once (it is not kept, so this is never replayed from
/// an `Idempotency-Key`); the older links stop working.
async fn create_link(
    State(state): State<PortalState>,
    Key(key): Key,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    into_response(
        async {
            let bytes = body_bytes(body)?;
            let v = json_body(&bytes)?;
            if let Some(p) = v.as_object().and_then(|o| o.keys().next()) {
                return Err(ApiError::invalid(
                    p.clone(),
                    "parameter_unknown",
                    format!("Received unknown parameter: {p}"),
                ));
            }
            session_of(&state, &key, &id).await?;
            let (token, hash) = secrets::new_link_token().map_err(ApiError::internal)?;
            let ttl = i64::try_from(state.app.config.portal.link_ttl_secs)
                .unwrap_or(i64::MAX / 1000)
                .saturating_mul(1000);
            let link = state.app.store.link_create(&id, &hash, ttl).await?;
            ok(
                StatusCode::OK,
                json!({
                    "object": "verification_link",
                    "verification_session": id,
                    "url": state.link_url(&token),
                    "created": render::secs(link.created_at_ms),
                    "expires_at": render::secs(link.expires_at_ms),
                }),
            )
        }
        .await,
    )
}

// ------------------------------------------------------------------ batches

const CSV_COLUMNS: &[&str] = &[
    "email",
    "phone",
    "name",
    "reference",
    "postcode",
    "birth_date",
    "account_last4",
];

/// CSV rows (header first) as session-shaped JSON rows `{customer, known}`.
fn csv_rows(text: &str) -> Result<Vec<Value>, ApiError> {
    let rows = validate::parse_csv(text, MAX_BATCH_ROWS + 1)
        .map_err(|e| ApiError::bad_request("csv_invalid", format!("The CSV is malformed: {e}.")))?;
    let Some((header, data)) = rows.split_first() else {
        return Err(ApiError::bad_request("csv_invalid", "The CSV is empty."));
    };
    let header: Vec<String> = header
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    if let Some(h) = header.iter().find(|h| !CSV_COLUMNS.contains(&h.as_str())) {
        return Err(ApiError::bad_request(
            "csv_invalid",
            format!(
                "Unknown CSV column {h:?}; the columns are {}.",
                CSV_COLUMNS.join(", ")
            ),
        ));
    }
    if !header.iter().any(|h| h == "email") {
        return Err(ApiError::bad_request(
            "csv_invalid",
            "The CSV needs an email column.",
        ));
    }
    Ok(data
        .iter()
        .map(|r| {
            let mut customer = serde_json::Map::new();
            let mut known = serde_json::Map::new();
            for (h, v) in header.iter().zip(r) {
                if v.trim().is_empty() {
                    continue;
                }
                let target = if matches!(h.as_str(), "postcode" | "birth_date" | "account_last4") {
                    &mut known
                } else {
                    &mut customer
                };
                target.insert(h.clone(), Value::String(v.clone()));
            }
            let mut row = json!({ "customer": customer });
            if !known.is_empty() {
                row["known"] = Value::Object(known);
            }
            if r.len() > header.len() {
                row["_extra_fields"] = Value::Bool(true);
            }
            row
        })
        .collect())
}

async fn create_batch(
    State(state): State<PortalState>,
    Key(key): Key,
    headers: HeaderMap,
    q: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let bytes = match body_bytes(body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let query = q.map(|Query(q)| q).unwrap_or_default();
    let is_csv = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.trim_start().to_ascii_lowercase().starts_with("text/csv"));
    // The query string is part of the request for idempotency.
    let mut qs: Vec<_> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    qs.sort();
    let path = format!("/v1/verification_batches?{}", qs.join("&"));
    let (st, k) = (state.clone(), key.clone());
    idempotent(
        &state,
        &key,
        &headers,
        &path,
        bytes.clone(),
        || async move { batch(st, k, query, is_csv, bytes).await },
    )
    .await
}

async fn batch(
    st: PortalState,
    key: ApiKey,
    query: HashMap<String, String>,
    is_csv: bool,
    bytes: Bytes,
) -> Result<(StatusCode, Value), ApiError> {
    // The batch-wide parameters: from the query string for CSV, from the body for JSON.
    let (params, rows) = if is_csv {
        if let Some(k) = query
            .keys()
            .find(|k| !matches!(k.as_str(), "type" | "expires_in" | "skip_invalid_rows"))
        {
            return Err(ApiError::invalid(
                k.clone(),
                "parameter_unknown",
                format!("Received unknown parameter: {k}"),
            ));
        }
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| ApiError::bad_request("csv_invalid", "The CSV must be UTF-8 text."))?;
        let mut p = serde_json::Map::new();
        p.insert(
            "type".into(),
            Value::String(
                query
                    .get("type")
                    .cloned()
                    .unwrap_or_else(|| "address_and_document".into()),
            ),
        );
        if let Some(e) = query.get("expires_in") {
            let n: i64 = e.parse().map_err(|_| {
                ApiError::invalid(
                    "expires_in",
                    "parameter_invalid",
                    "expires_in must be a whole number of seconds.",
                )
            })?;
            p.insert("expires_in".into(), n.into());
        }
        if let Some(x) = query.get("skip_invalid_rows") {
            let skip = match x.as_str() {
                "true" => true,
                "false" => false,
                _ => {
                    return Err(ApiError::invalid(
                        "skip_invalid_rows",
                        "parameter_invalid",
                        "skip_invalid_rows must be true or false.",
                    ));
                }
            };
            p.insert("skip_invalid_rows".into(), Value::Bool(skip));
        }
        (Value::Object(p), csv_rows(text)?)
    } else {
        if !query.is_empty() {
            return Err(ApiError::bad_request(
                "parameter_unknown",
                "A JSON batch takes its parameters in the body; query parameters are for CSV.",
            ));
        }
        let v: Value = serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::bad_request(
                "body_invalid",
                format!("The body is not valid JSON (send CSV as text/csv): {e}"),
            )
        })?;
        let obj = v.as_object().ok_or_else(|| {
            ApiError::bad_request("body_invalid", "The body must be a JSON object.")
        })?;
        if let Some(k) = obj.keys().find(|k| {
            !matches!(
                k.as_str(),
                "type"
                    | "expires_in"
                    | "rows"
                    | "message"
                    | "metadata"
                    | "return_url"
                    | "skip_invalid_rows"
            )
        }) {
            return Err(ApiError::invalid(
                k.clone(),
                "parameter_unknown",
                format!("Received unknown parameter: {k}"),
            ));
        }
        let rows = match obj.get("rows") {
            Some(Value::Array(a)) => a.clone(),
            Some(_) => {
                return Err(ApiError::invalid(
                    "rows",
                    "parameter_invalid",
                    "rows must be an array.",
                ));
            }
            None => {
                return Err(ApiError::invalid(
                    "rows",
                    "parameter_missing",
                    "Missing required param: rows.",
                ));
            }
        };
        (v.clone(), rows)
    };
    if rows.is_empty() {
        return Err(ApiError::invalid(
            "rows",
            "parameter_invalid",
            "The batch has no customers.",
        ));
    }
    if rows.len() > MAX_BATCH_ROWS {
        return Err(ApiError::invalid(
            "rows",
            "parameter_invalid",
            format!("A batch holds at most {MAX_BATCH_ROWS} customers."),
        ));
    }
    let skip_invalid = match params.get("skip_invalid_rows") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(ApiError::invalid(
                "skip_invalid_rows",
                "parameter_invalid",
                "skip_invalid_rows must be true or false.",
            ));
        }
    };
    let message = message_template(&st, params.get("message"))?;
    require_upstream(&st)?;
    let now = now_ms();
    let ttl = st.app.config.portal.session_ttl_secs;
    let mut sessions = Vec::with_capacity(rows.len());
    let mut errors = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, row) in rows.iter().enumerate() {
        let n = i + 1;
        let mut body = serde_json::Map::new();
        for k in ["type", "expires_in", "metadata", "return_url"] {
            if let Some(v) = params.get(k) {
                body.insert(k.into(), v.clone());
            }
        }
        let Some(r) = row.as_object() else {
            errors.push(json!({ "row": n, "code": "parameter_invalid", "message": "A row must be an object with customer (and known)." }));
            continue;
        };
        if r.contains_key("_extra_fields") {
            errors.push(json!({ "row": n, "code": "csv_invalid", "message": "This row has more fields than the header." }));
            continue;
        }
        if let Some(k) = r
            .keys()
            .find(|k| !matches!(k.as_str(), "customer" | "known" | "metadata"))
        {
            errors.push(json!({ "row": n, "param": k, "code": "parameter_unknown", "message": format!("Received unknown parameter: {k}") }));
            continue;
        }
        for (k, v) in r {
            body.insert(k.clone(), v.clone());
        }
        match validate::session_body(
            &Value::Object(body),
            &st.key,
            key.livemode,
            &key.id,
            ttl,
            now,
        ) {
            Ok(input) => {
                let email = input.session.customer.email.clone().unwrap_or_default();
                if let Some(first) = seen.get(&email) {
                    errors.push(json!({
                        "row": n, "param": "customer[email]", "code": "duplicate",
                        "message": format!("{email} is also in row {first}; each customer gets one session."),
                    }));
                } else {
                    seen.insert(email, n);
                    sessions.push(input.session);
                }
            }
            Err(e) => errors
                .push(json!({ "row": n, "param": e.param, "code": e.code, "message": e.message })),
        }
    }
    let invalid = errors.len();
    if invalid > 0 && (!skip_invalid || sessions.is_empty()) {
        let total = errors.len();
        errors.truncate(MAX_REPORTED_ERRORS);
        let mut e = ApiError::bad_request(
            "batch_invalid",
            format!(
                "{total} of {} rows are invalid; nothing was created. Fix them and send the batch again.",
                rows.len()
            ),
        );
        e.param = Some("rows".into());
        e.errors = Some(Value::Array(errors));
        return Err(e);
    }
    errors.truncate(MAX_REPORTED_ERRORS);
    let (b, created) = st
        .app
        .store
        .batch_create(key.livemode, Some(&key.id), sessions, &message, &key.id)
        .await?;
    ok(
        StatusCode::OK,
        json!({
            "id": b.id,
            "object": "verification_batch",
            "livemode": b.livemode,
            "created": render::secs(b.created_at_ms),
            "count": b.count,
            "verification_sessions": created.iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
            "messages_queued": created.len(),
            "report": {
                "rows": rows.len(),
                "created": created.len(),
                "invalid": invalid,
                "errors": errors,
            },
        }),
    )
}

// ------------------------------------------------------------------ events

async fn list_events(
    State(state): State<PortalState>,
    Key(key): Key,
    q: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> Response {
    into_response(
        async {
            let p = list_params(q, &["type", "verification_session"])?;
            if let Some(t) = p.rest.get("type")
                && !EVENT_TYPES.contains(&t.as_str())
            {
                return Err(ApiError::invalid(
                    "type",
                    "parameter_invalid",
                    format!("Unknown event type {t:?}."),
                ));
            }
            let page = state
                .app
                .store
                .event_list(EventQuery {
                    livemode: Some(key.livemode),
                    kind: p.rest.get("type").cloned(),
                    session_id: p.rest.get("verification_session").cloned(),
                    limit: p.limit,
                    starting_after: p.starting_after,
                })
                .await
                .map_err(cursor_error)?;
            let data = page.data.iter().map(render::event).collect();
            ok(
                StatusCode::OK,
                render::list("/v1/events", data, page.has_more),
            )
        }
        .await,
    )
}

async fn get_event(
    State(state): State<PortalState>,
    Key(key): Key,
    Path(id): Path<String>,
) -> Response {
    into_response(
        async {
            match state.app.store.event_get(&id).await? {
                Some(e) if e.livemode == key.livemode => ok(StatusCode::OK, render::event(&e)),
                _ => Err(ApiError::not_found("event", &id)),
            }
        }
        .await,
    )
}

// ------------------------------------------------------------------ webhook endpoints

async fn create_endpoint(
    State(state): State<PortalState>,
    Key(key): Key,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let bytes = match body_bytes(body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let (st, k) = (state.clone(), key.clone());
    idempotent(
        &state,
        &key,
        &headers,
        "/v1/webhook_endpoints",
        bytes.clone(),
        || async move {
            let v = json_body(&bytes)?;
            let obj = v.as_object().cloned().unwrap_or_default();
            if let Some(x) = obj
                .keys()
                .find(|x| !matches!(x.as_str(), "url" | "enabled_events" | "description"))
            {
                return Err(ApiError::invalid(
                    x.clone(),
                    "parameter_unknown",
                    format!("Received unknown parameter: {x}"),
                ));
            }
            let url = obj.get("url").and_then(Value::as_str).ok_or_else(|| {
                ApiError::invalid("url", "parameter_missing", "Missing required param: url.")
            })?;
            validate::check_url(url, "url")?;
            let events = obj
                .get("enabled_events")
                .and_then(Value::as_array)
                .filter(|a| !a.is_empty() && a.len() <= 64)
                .ok_or_else(|| {
                    ApiError::invalid(
                        "enabled_events",
                        "parameter_missing",
                        "enabled_events must list event types, or [\"*\"] for all.",
                    )
                })?;
            let mut enabled = Vec::new();
            for (i, e) in events.iter().enumerate() {
                match e.as_str() {
                    Some(t) if t == "*" || EVENT_TYPES.contains(&t) => enabled.push(t.to_string()),
                    _ => {
                        return Err(ApiError::invalid(
                            format!("enabled_events[{i}]"),
                            "parameter_invalid",
                            format!(
                                "Unknown event type; the types are {} (or *).",
                                EVENT_TYPES.join(", ")
                            ),
                        ));
                    }
                }
            }
            let description = match obj.get("description") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) if s.len() <= 1000 => Some(s.clone()),
                Some(_) => {
                    return Err(ApiError::invalid(
                        "description",
                        "parameter_invalid",
                        "description is text of at most 1000 characters.",
                    ));
                }
            };
            let secret = secrets::new_webhook_secret().map_err(ApiError::internal)?;
            let ep = st
                .app
                .store
                .webhook_endpoint_create(
                    NewWebhookEndpoint {
                        livemode: k.livemode,
                        url: url.to_string(),
                        enabled_events: enabled,
                        secret,
                        description,
                    },
                    &k.id,
                )
                .await?;
            ok(StatusCode::OK, render::endpoint(&ep, true))
        },
    )
    .await
}

async fn list_endpoints(
    State(state): State<PortalState>,
    Key(key): Key,
    q: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> Response {
    into_response(
        async {
            let p = list_params(q, &[])?;
            let page = state
                .app
                .store
                .webhook_endpoint_list(Some(key.livemode), p.limit, p.starting_after.as_deref())
                .await
                .map_err(cursor_error)?;
            let data = page
                .data
                .iter()
                .map(|e| render::endpoint(e, false))
                .collect();
            ok(
                StatusCode::OK,
                render::list("/v1/webhook_endpoints", data, page.has_more),
            )
        }
        .await,
    )
}

async fn endpoint_of(
    state: &PortalState,
    key: &ApiKey,
    id: &str,
) -> Result<doublecheck_store::WebhookEndpoint, ApiError> {
    match state.app.store.webhook_endpoint_get(id).await? {
        Some(e) if e.livemode == key.livemode => Ok(e),
        _ => Err(ApiError::not_found("webhook_endpoint", id)),
    }
}

async fn get_endpoint(
    State(state): State<PortalState>,
    Key(key): Key,
    Path(id): Path<String>,
) -> Response {
    into_response(
        async {
            ok(
                StatusCode::OK,
                render::endpoint(&endpoint_of(&state, &key, &id).await?, false),
            )
        }
        .await,
    )
}

async fn delete_endpoint(
    State(state): State<PortalState>,
    Key(key): Key,
    Path(id): Path<String>,
) -> Response {
    into_response(
        async {
            endpoint_of(&state, &key, &id).await?;
            state
                .app
                .store
                .webhook_endpoint_disable(&id, &key.id)
                .await?;
            ok(
                StatusCode::OK,
                json!({ "id": id, "object": "webhook_endpoint", "deleted": true }),
            )
        }
        .await,
    )
}

async fn list_deliveries(
    State(state): State<PortalState>,
    Key(key): Key,
    Path(id): Path<String>,
) -> Response {
    into_response(
        async {
            endpoint_of(&state, &key, &id).await?;
            let log = state
                .app
                .store
                .webhook_deliveries(None, Some(&id), 100)
                .await?;
            let data = log.iter().map(render::delivery).collect();
            ok(
                StatusCode::OK,
                render::list(
                    &format!("/v1/webhook_endpoints/{id}/deliveries"),
                    data,
                    false,
                ),
            )
        }
        .await,
    )
}

async fn openapi(method: Method) -> Response {
    let _ = method;
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::openapi::document().to_string(),
    )
        .into_response()
}
