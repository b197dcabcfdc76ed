//! doublecheck's gate: the listeners that put the engine in the mail path, and the actions they
//! carry out.
//!
//! # Layout
//!
//! - [`config`]: `doublecheck.toml` — listeners, database, limits, fail-open/fail-closed.
//! - [`state`]: what every listener shares — the engine, the store, the configuration.
//! - [`http`]: the HTTP listener — `/healthz`, `/readyz`, `/metrics`, `POST /v1/check`.
//! - [`metrics`]: Prometheus counters and latency histograms.
//! - [`milter`]: the milter listener — Postfix/Sendmail hand each message over; the verdict
//!   becomes accept, added headers, 550, quarantine (held in the store too) or bcc-ified headers.
//! - [`smtp`]: the SMTP relay — ESMTP in front of a smarthost or as a Postfix content filter;
//!   250 only once the upstream accepted the message or the store holds it.
//! - [`delivery`]: SMTP delivery to the upstream, and `explode` (one copy per recipient, each
//!   delivered exactly once across retries).
//! - [`tls`]: STARTTLS certificates — configured PEM files or a self-signed one under `data_dir`.
//! - [`notice`]: emails to the sender when a message is held, released or rejected.
//! - [`release`]: releasing and rejecting held messages (four eyes, then delivery).
//! - [`serve`]: starts the enabled listeners and stops them on shutdown.
//! - [`web_config`]: the `[web]` section — the staff review queue (crate `doublecheck-web`),
//!   mounted on the HTTP listener through [`serve::serve_with`].
//! - [`verify_link`]: `{{verify_link}}` — a verification session and a fresh link per
//!   recipient of an exploded message.
//! - [`portal_config`]: the `[portal]` section — the verification portal's API (crate
//!   `doublecheck-portal`), mounted the same way.

pub mod config;
pub mod delivery;
pub mod http;
pub mod metrics;
pub mod milter;
pub mod notice;
pub mod portal_config;
pub mod release;
pub mod serve;
pub mod smtp;
pub mod state;
pub mod tls;
pub mod verify_link;
pub mod web_config;

pub use config::{Config, ConfigError, OnError};
pub use portal_config::PortalConfig;
pub use serve::{ServeError, serve, serve_with};
pub use state::AppState;
pub use web_config::WebConfig;
