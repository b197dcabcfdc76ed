//! doublecheck's verification portal: collect customers' data through a secure page, never by
//! email. This crate holds the developer API, following Stripe Identity's conventions —
//! verification sessions (`vs_…`), batches, events (`evt_…`), webhook endpoints (`we_…`)
//! signed by the Standard Webhooks scheme, API keys (`dk_test_…`, `dk_live_…`),
//! `Idempotency-Key`, cursor pagination and an OpenAPI document — and the workers that deliver
//! webhooks and send each customer their own message through the gate's upstream.
//!
//! `doublecheck serve` mounts [`router`] on the gate's HTTP listener and starts [`start_workers`].
//!
//! # Layout
//!
//! - [`api`]: the routes under `/v1` (authentication, idempotency, pagination).
//! - [`validate`]: the input rules (parameters named Stripe-style: `customer[email]`) and CSV.
//! - [`render`]: the objects as JSON (`object`, `created` in unix seconds, `livemode`).
//! - [`secrets`]: link tokens, the server key and its keyed hashes, webhook signatures.
//! - [`webhooks`]: the webhook worker (retries with exponential backoff, delivery log).
//! - [`outbox`]: the message worker (one message per customer, a fresh link in each).
//! - [`openapi`]: `GET /v1/openapi.json`.
//! - [`documents`]: the vault wired in (the shredder used by `serve`, key rotation).
//! - [`retention`]: redaction of decided sessions after `portal.retention_days`.
//! - `customer/` (the customer's pages, `/verify/{token}`) lives beside these modules.

pub mod api;
pub mod customer;
pub mod documents;
pub mod error;
pub mod openapi;
pub mod outbox;
pub mod render;
pub mod retention;
pub mod secrets;
pub mod validate;
pub mod webhooks;

use doublecheck_gate::AppState;
use doublecheck_store::VerificationDocument;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use error::ApiError;
pub use secrets::ServerKey;

/// Deletes what a redacted session leaves outside the database: the documents' blobs. The
/// store has already forgotten each document's sealed record (its wrapped data key), so the
/// blob is unreadable ciphertext either way; the vault implements this to delete it.
pub trait DocumentShredder: Send + Sync {
    fn destroy<'a>(
        &'a self,
        doc: &'a VerificationDocument,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;
}

/// Until the vault is plugged in: nothing outside the database to delete.
pub struct NoBlobs;

impl DocumentShredder for NoBlobs {
    fn destroy<'a>(
        &'a self,
        doc: &'a VerificationDocument,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(async move {
            tracing::info!(document = %doc.id, "document's sealed record forgotten");
            Ok(())
        })
    }
}

/// What the portal shares: the gate's state, the server key and the document shredder.
#[derive(Clone)]
pub struct PortalState {
    pub app: AppState,
    pub key: Arc<ServerKey>,
    pub documents: Arc<dyn DocumentShredder>,
}

/// Why the portal could not start.
#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    #[error("{0}")]
    Secret(#[from] secrets::SecretError),
    /// `portal.codes.channel = "sms"` and the `[portal.sms]` hook cannot be used (its
    /// header's environment variable is missing, …).
    #[error("the SMS hook: {0}")]
    Sms(String),
}

impl PortalState {
    /// With the server key from `DOUBLECHECK_PORTAL_KEY` or `portal.key_file` (created when
    /// missing). With codes by SMS, the `[portal.sms]` hook must be usable (its header's value
    /// in the environment variable `portal.sms.auth_env` names), or the portal does not start.
    pub fn load(app: AppState) -> Result<PortalState, PortalError> {
        let portal = &app.config.portal;
        if portal.enabled
            && portal.codes.channel == doublecheck_gate::portal_config::CodeChannel::Sms
        {
            customer::SmsHookSender::from_config(&portal.sms, |k| std::env::var(k).ok())
                .map_err(PortalError::Sms)?;
        }
        let file = app
            .config
            .portal
            .key_file
            .clone()
            .unwrap_or_else(|| app.config.data_dir.join("portal.key"));
        let key = ServerKey::load(&file, std::env::var("DOUBLECHECK_PORTAL_KEY").ok())?;
        Ok(PortalState::new(app, key))
    }

    pub fn new(app: AppState, key: ServerKey) -> PortalState {
        PortalState {
            app,
            key: Arc::new(key),
            documents: Arc::new(NoBlobs),
        }
    }

    /// The same state with another shredder (the vault).
    pub fn with_documents(mut self, d: Arc<dyn DocumentShredder>) -> PortalState {
        self.documents = d;
        self
    }

    /// The base of customer links, without a trailing slash.
    pub fn public_url(&self) -> String {
        match &self.app.config.portal.public_url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.app.config.http.listen),
        }
    }

    /// The customer link of a token.
    pub fn link_url(&self, token: &str) -> String {
        format!("{}/verify/{token}", self.public_url())
    }
}

/// The portal's routes, for `serve_with` (nothing when `portal.enabled` is false).
pub fn router(state: PortalState) -> axum::Router {
    if !state.app.config.portal.enabled {
        return axum::Router::new();
    }
    api::router(state.clone()).merge(customer::customer_routes(
        customer::CustomerState::from_portal(state),
    ))
}

/// Starts the webhook and message workers; they stop when `stop` turns true.
pub fn start_workers(
    state: PortalState,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    if !state.app.config.portal.enabled {
        return Vec::new();
    }
    vec![
        tokio::spawn(webhooks::run(state.clone(), stop.clone())),
        tokio::spawn(outbox::run(state, stop)),
    ]
}
