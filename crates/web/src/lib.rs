//! doublecheck's review queue: the staff web app served by `doublecheck serve` on the HTTP
//! listener, in front of the gate's API.
//!
//! Staff sign in (argon2id passwords, throttled per account and per address), see the held
//! messages they may see (agents: their own; reviewers and admins: all), read why each was held
//! in a safe preview (text only, sensitive values masked), and approve, reject, fix (bcc-ify,
//! explode, remove an attachment — checked again before it leaves) or reassign it. The sender of
//! a message never decides on it; severe findings can require two approvers. Every view and
//! decision, sign-in and account change goes to the store's hash-chained audit log.
//!
//! # Layout
//!
//! - [`app`]: the router, apart from any socket (tests drive it with `oneshot`).
//! - `auth`: sessions (cookie → SHA-256 → store), CSRF tokens, the Origin check, sign-in,
//!   throttling, sign-out (here or everywhere).
//! - [`password`]: argon2id hashing off the async runtime.
//! - `pages`: the queue, the message page, the audit log (and its CSV), staff accounts.
//! - `account`: `/account` (change your own password) and an administrator's password reset.
//! - `actions`: approve, reject, fix and release, reassign.
//! - [`fix`]: building a fixed message (bcc-ify, explode, remove an attachment).
//! - `preview`: the message as text with the findings' spans highlighted and masked.
//! - `error`: [`AppError`], one friendly page with the right status.
//! - [`verifications`]: the verification portal's staff side — the queue of verification
//!   sessions, the session page with documents decrypted on the fly and watermarked, approve
//!   or reject with a reason.
//!
//! Every response carries `Content-Security-Policy: default-src 'none'; style-src 'self'; …`,
//! `X-Content-Type-Options: nosniff`, `Referrer-Policy` and (pages) `Cache-Control: no-store`.

mod account;
mod actions;
mod auth;
mod error;
pub mod fix;
mod pages;
pub mod password;
mod preview;
mod util;
pub mod verifications;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use doublecheck_gate::{AppState, WebConfig};
use std::sync::Arc;

pub use error::AppError;

/// The largest form body accepted.
pub const MAX_FORM_BYTES: usize = 64 * 1024;

const CSS: &str = include_str!("../assets/style.css");

/// What the web app shares: the gate's state, and a scanner for masking.
#[derive(Clone)]
pub struct WebState {
    pub app: AppState,
    pub(crate) scanner: Arc<doublecheck_engine::pii::Scanner>,
    pub(crate) dummy_hash: Arc<tokio::sync::OnceCell<String>>,
    /// Decrypts verification documents for reviewers (`None`: documents answer 503).
    pub(crate) vault: Option<Arc<doublecheck_vault::Vault>>,
}

impl WebState {
    pub fn new(app: AppState) -> WebState {
        // Every kind of sensitive value is masked in what a page shows, except e-mail addresses
        // (the envelope and headers are what a reviewer needs to see).
        let kinds: Vec<_> = doublecheck_engine::pii::Kind::all()
            .iter()
            .copied()
            .filter(|k| *k != doublecheck_engine::pii::Kind::Email)
            .collect();
        let opts = doublecheck_engine::pii::ScanOptions {
            kinds,
            min_confidence: doublecheck_engine::pii::Confidence::Low,
            ..Default::default()
        };
        WebState {
            app,
            scanner: Arc::new(doublecheck_engine::pii::Scanner::new(opts)),
            dummy_hash: Arc::new(tokio::sync::OnceCell::new()),
            vault: None,
        }
    }

    pub(crate) fn web(&self) -> &WebConfig {
        &self.app.config.web
    }
}

/// The review queue's routes, for `serve_with` (nothing when `web.enabled` is false).
pub fn router(app_state: AppState) -> Router {
    if !app_state.config.web.enabled {
        return Router::new();
    }
    let vault = verifications::vault_from_config(&app_state.config);
    app(WebState::new(app_state).with_vault(vault))
}

/// The review queue's router, apart from any socket.
pub fn app(state: WebState) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/holds") }))
        .route("/static/style.css", get(css))
        .route("/login", get(auth::login_page).post(auth::login))
        .route("/logout", get(auth::logout_page).post(auth::logout))
        .route("/holds", get(pages::queue))
        .route("/holds/{id}", get(pages::hold))
        .route("/holds/{id}/approve", post(actions::approve))
        .route("/holds/{id}/reject", post(actions::reject))
        .route("/holds/{id}/fix", post(actions::fix))
        .route("/holds/{id}/retry", post(actions::retry))
        .route("/holds/{id}/reassign", post(actions::reassign))
        .route("/verifications", get(verifications::queue))
        .route("/verifications/{id}", get(verifications::session))
        .route(
            "/verifications/{id}/documents/{doc_id}",
            get(verifications::document),
        )
        .route("/verifications/{id}/approve", post(verifications::approve))
        .route("/verifications/{id}/reject", post(verifications::reject))
        .route("/static/verifications.css", get(verifications::css))
        .route("/audit", get(pages::audit))
        .route("/audit.csv", get(pages::audit_csv))
        .route("/users", get(pages::users).post(pages::user_add))
        .route("/users/role", post(pages::user_role))
        .route("/users/disable", post(pages::user_disable))
        .route("/users/enable", post(pages::user_enable))
        .route("/users/password", post(account::reset_password))
        .route("/account", get(account::account))
        .route("/account/password", post(account::change_password))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::origin_guard,
        ))
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(state)
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        CSS,
    )
        .into_response()
}

/// The headers every response of the web app carries.
async fn security_headers(req: Request, next: Next) -> Response {
    let is_get = req.method() == Method::GET;
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    // A handler may set a stricter or more specific policy (a document, a page embedding one).
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
                 frame-ancestors 'none'; base-uri 'none'",
            ),
        );
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if !h.contains_key(header::X_FRAME_OPTIONS) {
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    // `same-origin` rather than `no-referrer`: under `no-referrer` browsers send `Origin: null`
    // with form posts, which would defeat the Origin check; nothing leaks to other sites.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !(is_get && h.contains_key(header::CACHE_CONTROL)) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}
