//! doublecheck's engine: a pure library that takes a raw RFC 5322 message and its envelope and
//! returns a [`Verdict`] — findings, the action the policy chose, and a plan for the front-end.
//! No I/O: no files, sockets or wall clock (a monotonic clock only when asked for timings:
//! [`Engine::try_check_timed`]); deterministic; never panics; bounded on every input.
//!
//! # Layout
//!
//! The modules follow the flow of a message:
//!
//! - [`envelope`]: the SMTP envelope (MAIL FROM, RCPT TO, AUTH user).
//! - [`parse`]: raw bytes → [`ParsedMessage`] (headers, addresses, text of every MIME part and
//!   attachment, anomalies), on top of mail-parser and `doublecheck-extract`.
//! - [`party`]: who a recipient is — internal, a consumer mailbox, or an organization.
//! - [`detectors`]: one module per detector; each turns a parsed message into [`Finding`]s.
//! - [`policy`]: the TOML policy (rules, groups, settings, audit mode) → a decision.
//! - [`verdict`]: the verdict and the [`Plan`] (deliver, bcc-ify, explode, hold, reject).
//! - [`rewrite`]: the fixes on raw bytes (bcc-ify, one copy per recipient, added headers).
//! - [`engine`]: [`Engine::check`], which runs the whole flow.
//! - [`finding`], [`settings`]: shared types.

pub mod detectors;
pub mod engine;
pub mod envelope;
pub mod finding;
pub mod parse;
pub mod party;
pub mod policy;
pub mod rewrite;
pub mod settings;
pub mod verdict;

pub use engine::{Engine, InternalError, Timings, envelope_from_headers};
pub use envelope::Envelope;
pub use finding::{DETECTOR_IDS, Finding, Location, Severity};
pub use parse::ParsedMessage;
pub use policy::{Action, Mode, Policy, PolicyError, PolicyErrors};
pub use settings::{Limits, Settings};
pub use verdict::{Plan, Verdict};

pub use doublecheck_pii as pii;
