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
//!    upstream, or SMS through an HTTP hook — `portal.codes.channel`; valid 10 minutes, 5
//!    wrong attempts lock the session, at most 3 sends an hour and 10 in all, by default), or
//!    a knowledge check against the session's `known` values (keyed hashes; wrong answers
//!    count against the same attempts). Success gives a short-lived cookie bound to the
//!    session and to this link ([`guard`]).
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
//! The settings come from `[portal.codes]`, `[portal.sms]` and `[portal.limits]`
//! ([`CustomerOptions::from_config`]). The per-hour limits (code sends per session, new links
//! per session and per address) are counted in the store ([`limits`]), so a restart or a
//! second instance does not reset them.
//!
//! Every response carries the review queue's security headers (CSP
//! `default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'`,
//! `nosniff`, `no-store`, `Referrer-Policy: no-referrer`); every form carries a CSRF token.

pub mod guard;
pub mod i18n;
pub mod limits;
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
pub use sender::{CodeMessage, CodeSender, EmailCodeSender, SmsHookSender, UnavailableSender};

const CSS: &str = include_str!("../../assets/customer.css");

/// The largest form body (everything but the upload).
pub const MAX_FORM_BYTES: usize = 16 * 1024;

/// The limits of the customer's pages. `Default` is the configuration's defaults;
/// [`CustomerOptions::from_config`] reads `[portal.codes]` and `[portal.limits]`.
#[derive(Debug, Clone)]
pub struct CustomerOptions {
    /// How long a one-time code is valid (10 minutes).
    pub code_ttl: Duration,
    /// Wrong codes or answers before the session locks (5).
    pub max_attempts: u32,
    /// Codes sent per session in any hour (3), counted in the store.
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
    /// Requests for a new link per session in any hour (3), and per address in any hour (20),
    /// counted in the store.
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

impl CustomerOptions {
    /// The options `[portal.codes]` and `[portal.limits]` describe; cookies `Secure` when
    /// `portal.public_url` is https.
    pub fn from_config(cfg: &doublecheck_gate::Config) -> CustomerOptions {
        let p = &cfg.portal;
        let (c, l) = (&p.codes, &p.limits);
        CustomerOptions {
            code_ttl: Duration::from_secs(c.validity_minutes.saturating_mul(60)),
            max_attempts: c.max_attempts,
            sends_per_hour: c.sends_per_hour,
            max_sends: c.max_sends,
            min_resend_interval: Duration::from_secs(c.resend_interval_secs),
            session_ttl: Duration::from_secs(c.signed_in_secs),
            secure_cookies: p
                .public_url
                .as_deref()
                .is_some_and(|u| u.starts_with("https://")),
            bad_tokens_per_minute: l.bad_links_per_address_per_minute,
            renewals_per_hour: l.renewals_per_session_per_hour,
            renewals_per_address_per_hour: l.renewals_per_address_per_hour,
            max_upload_bytes: l.max_upload_bytes,
        }
    }

    /// How long a code is valid, in whole minutes (at least 1), as the messages say it.
    pub fn code_minutes(&self) -> u64 {
        (self.code_ttl.as_secs() / 60).max(1)
    }
}

/// The rate limits' state in this process: requests for links that do not exist per address
/// per minute (in memory only), and the subjects the store found over a per-hour limit.
#[derive(Debug)]
pub(crate) struct Limits {
    pub bad_tokens: Limiter,
    pub blocked: limits::BlockedUntil,
}

/// What the customer's pages share.
#[derive(Clone)]
pub struct CustomerState {
    pub portal: PortalState,
    /// Where documents go; without one, the upload step answers 503.
    pub vault: Option<Arc<doublecheck_vault::Vault>>,
    /// Codes by email (offered when the session has an email address and no SMS is offered).
    pub email: Arc<dyn CodeSender>,
    /// Codes by SMS: when set (`portal.codes.channel = "sms"`), sessions with a phone number
    /// get their code by SMS only, the others by email.
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
            blocked: limits::BlockedUntil::default(),
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

    /// What the configuration describes: the options of `[portal.codes]` and
    /// `[portal.limits]` ([`CustomerOptions::from_config`]), codes by SMS through the
    /// `[portal.sms]` hook when `portal.codes.channel = "sms"` (its header's value from the
    /// environment; [`PortalState::load`](crate::PortalState::load) refuses to start without
    /// it, and should the hook still be unusable here every SMS send fails rather than falling
    /// back to email), and the vault the `[portal]` section describes (documents directory,
    /// master keys, or `DOUBLECHECK_MASTER_KEY`; no vault, so uploads answer 503, when that
    /// fails).
    pub fn from_portal(portal: PortalState) -> CustomerState {
        CustomerState::from_portal_with_env(portal, |k| std::env::var(k).ok())
    }

    /// [`CustomerState::from_portal`] with the environment read through `env`.
    pub fn from_portal_with_env(
        portal: PortalState,
        env: impl Fn(&str) -> Option<String>,
    ) -> CustomerState {
        let cfg = portal.app.config.clone();
        let options = CustomerOptions::from_config(&cfg);
        let sms: Option<Arc<dyn CodeSender>> = match cfg.portal.codes.channel {
            doublecheck_gate::portal_config::CodeChannel::Email => None,
            doublecheck_gate::portal_config::CodeChannel::Sms => {
                match SmsHookSender::from_config(&cfg.portal.sms, env) {
                    Ok(s) => Some(Arc::new(s)),
                    Err(e) => {
                        tracing::error!(error = %e, "verification portal: the SMS hook is unusable; codes by SMS fail");
                        Some(Arc::new(UnavailableSender(e)))
                    }
                }
            }
        };
        let vault = match crate::documents::open_vault(&cfg) {
            Ok(v) => Some(Arc::new(v)),
            Err(e) => {
                tracing::warn!(error = %e, "verification portal: no document vault; uploads are refused");
                None
            }
        };
        let state = CustomerState::new(portal, vault, options);
        match sms {
            Some(s) => state.with_sms(s),
            None => state,
        }
    }

    /// The same state with another email channel.
    pub fn with_email(mut self, s: Arc<dyn CodeSender>) -> CustomerState {
        self.email = s;
        self
    }

    /// The same state with codes by SMS (for the sessions with a phone number).
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
