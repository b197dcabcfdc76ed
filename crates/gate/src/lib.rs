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
//! - [`serve`]: starts the enabled listeners and stops them on shutdown.

pub mod config;
pub mod http;
pub mod metrics;
pub mod milter;
pub mod serve;
pub mod state;

pub use config::{Config, ConfigError, OnError};
pub use serve::{ServeError, serve};
pub use state::AppState;
