//! The customer's side of the verification portal: the pages a customer reaches from the link
//! in their message (`/verify/{token}`). Server-rendered, no scripts, phone first, in English
//! and Spanish ([`i18n`]).
//!
//! # The path through the pages
//!
//! 1. `GET /verify/{token}` — the link alone shows nothing personal. A token that is not a
//!    link (guessed, mistyped) gets one generic page, and each such request from an address
//!    counts: past 10 a minute the address gets 429 for every link. A used, expired, replaced
//!    or canceled link says so plainly and offers a new one (sent to the contact details on
//!    file, never shown; the answer is the same whether or not one could be sent).
//! 2. The second factor: a 6-digit one-time code ([`CodeSender`]: email through the gate's
//!    upstream, or SMS through an HTTP hook; valid 10 minutes, 5 wrong attempts lock the
//!    session, at most 3 sends an hour and 10 in all), or a knowledge check against the
//!    session's `known` values (keyed hashes; wrong answers count against the same 5
//!    attempts). Success gives a short-lived cookie bound to the session and to this link
//!    ([`guard`]).
//! 3. The address (types `address`, `address_and_document`): confirm or correct it, each
//!    field labelled, each error next to its field.
//! 4. The document (types `document`, `address_and_document`): at most 10 MB, counted while
//!    the upload streams in; checked and re-encoded by the vault's inspection
//!    ([`doublecheck_vault::sanitize`]), sealed with [`doublecheck_vault::Vault::put`] and
//!    recorded with its sealed record. Nothing uploaded is ever served back.
//! 5. The session moves `requires_input → processing → requires_review` (each move an event),
//!    the link is used up, and a confirmation page says what happens next (and links to
//!    `return_url` when the session has one).
//!
//! Every response carries the review queue's security headers (CSP
//! `default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'`,
//! `nosniff`, `no-store`, `Referrer-Policy: no-referrer`); every form carries a CSRF token.

pub mod guard;
pub mod i18n;
mod pages;
pub mod sender;

use crate::PortalState;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::sync::Arc;
use std::time::Duration;

pub use guard::{CookieKey, Limiter};
pub use i18n::Lang;
pub use sender::{CodeMessage, CodeSender, EmailCodeSender, SmsHookSender};

const CSS: &str = include_str!("../../assets/customer.css");

/// The largest form body (everything but the upload).
pub const MAX_FORM_BYTES: usize = 16 * 1024;

/// The limits of the customer's pages. `Default` is what the portal uses.
#[derive(Debug, Clone)]
pub struct CustomerOptions {
    /// How long a one-time code is valid (10 minutes).
    pub code_ttl: Duration,
    /// Wrong codes or answers before the session locks (5).
    pub max_attempts: u32,
    /// Codes sent per session per hour (3).
    pub sends_per_hour: u32,
    /// Codes sent per session in all (10).
    pub max_sends: u32,
    /// The shortest wait between two sends (30 s).
    pub min_resend_interval: Duration,
    /// How long the cookie earned by the second factor lasts (30 minutes).
    pub session_ttl: Duration,
    /// Mark cookies `Secure` (default: when `portal.public_url` is `https://`).
    pub secure_cookies: bool,
    /// Requests for links that do not exist, per address per minute, before 429 (10).
    pub bad_tokens_per_minute: u32,
    /// Requests for a new link per link per hour (3), and per address per hour (20).
    pub renewals_per_hour: u32,
    pub renewals_per_address_per_hour: u32,
    /// The largest upload (10 MB).
    pub max_upload_bytes: usize,
}

impl Default for CustomerOptions {
    fn default() -> Self {
        CustomerOptions {
            code_ttl: Duration::from_secs(600),
            max_attempts: 5,
            sends_per_hour: 3,
            max_sends: 10,
            min_resend_interval: Duration::from_secs(30),
            session_ttl: Duration::from_secs(1800),
            secure_cookies: false,
            bad_tokens_per_minute: 10,
            renewals_per_hour: 3,
            renewals_per_address_per_hour: 20,
            max_upload_bytes: 10 * 1024 * 1024,
        }
    }
}

/// The rate limits kept in memory (per process).
#[derive(Debug)]
pub(crate) struct Limits {
    pub bad_tokens: Limiter,
    pub sends: Limiter,
    pub renew_link: Limiter,
    pub renew_ip: Limiter,
}

/// What the customer's pages share.
#[derive(Clone)]
pub struct CustomerState {
    pub portal: PortalState,
    /// Where documents go; without one, the upload step answers 503.
    pub vault: Option<Arc<doublecheck_vault::Vault>>,
    /// Codes by email (always offered when the session has an email address).
    pub email: Arc<dyn CodeSender>,
    /// Codes by SMS (offered when set and the session has a phone number).
    pub sms: Option<Arc<dyn CodeSender>>,
    pub options: Arc<CustomerOptions>,
    pub(crate) keys: CookieKey,
    pub(crate) limits: Arc<Limits>,
}

impl CustomerState {
    /// With the gate's upstream for codes by email, no SMS hook, and the given vault.
    pub fn new(
        portal: PortalState,
        vault: Option<Arc<doublecheck_vault::Vault>>,
        options: CustomerOptions,
    ) -> CustomerState {
        let cfg = &portal.app.config;
        let email = Arc::new(EmailCodeSender {
            upstream: cfg.smtp.upstream.clone(),
            from: cfg.portal.mail_from.clone(),
        });
        let keys = CookieKey::derive(&portal.key);
        let limits = Arc::new(Limits {
            bad_tokens: Limiter::new(options.bad_tokens_per_minute, 60_000, 100_000),
            sends: Limiter::new(options.sends_per_hour, 3_600_000, 100_000),
            renew_link: Limiter::new(options.renewals_per_hour, 3_600_000, 100_000),
            renew_ip: Limiter::new(options.renewals_per_address_per_hour, 3_600_000, 100_000),
        });
        CustomerState {
            portal,
            vault,
            email,
            sms: None,
            options: Arc::new(options),
            keys,
            limits,
        }
    }

    /// The default options, cookies `Secure` when `portal.public_url` is https, and the vault
    /// the configuration's `[portal]` section describes (documents directory, master keys, or
    /// `DOUBLECHECK_MASTER_KEY`); no vault (uploads answer 503) when that fails.
    pub fn from_portal(portal: PortalState) -> CustomerState {
        let cfg = portal.app.config.clone();
        let options = CustomerOptions {
            secure_cookies: cfg
                .portal
                .public_url
                .as_deref()
                .is_some_and(|u| u.starts_with("https://")),
            ..CustomerOptions::default()
        };
        let vault = match crate::documents::open_vault(&cfg) {
            Ok(v) => Some(Arc::new(v)),
            Err(e) => {
                tracing::warn!(error = %e, "verification portal: no document vault; uploads are refused");
                None
            }
        };
        CustomerState::new(portal, vault, options)
    }

    /// The same state with another email channel.
    pub fn with_email(mut self, s: Arc<dyn CodeSender>) -> CustomerState {
        self.email = s;
        self
    }

    /// The same state with an SMS channel.
    pub fn with_sms(mut self, s: Arc<dyn CodeSender>) -> CustomerState {
        self.sms = Some(s);
        self
    }
}

/// The customer's pages under `/verify`, apart from any socket.
pub fn customer_routes(state: CustomerState) -> Router {
    let upload_limit = state.options.max_upload_bytes.saturating_add(64 * 1024);
    Router::new()
        .route("/verify.css", get(css))
        .route("/verify/{token}", get(pages::landing))
        .route("/verify/{token}/send", post(pages::send_code))
        .route(
            "/verify/{token}/code",
            get(pages::code_page).post(pages::check_code),
        )
        .route("/verify/{token}/knowledge", post(pages::check_knowledge))
        .route("/verify/{token}/renew", post(pages::renew))
        .route(
            "/verify/{token}/address",
            get(pages::address_page).post(pages::save_address),
        )
        .route(
            "/verify/{token}/document",
            get(pages::upload_page)
                .post(pages::upload)
                .layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route("/verify/{token}/done", get(pages::done))
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

/// The headers every response of the customer's pages carries.
async fn security_headers(req: Request, next: Next) -> Response {
    let is_css = req.uri().path() == "/verify.css";
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // The token is in the path: no page sends it anywhere as a referrer.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        "x-robots-tag",
        HeaderValue::from_static("noindex, nofollow"),
    );
    if !is_css {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}
