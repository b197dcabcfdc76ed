//! The retention job: `portal.retention_days` (default 30) after a session's decision —
//! verified, rejected, canceled or expired — its documents are destroyed (the blob through the
//! [`crate::DocumentShredder`], the sealed record with its wrapped data key in the store) and
//! its personal data redacted, with the event `verification_session.redacted`. Run by the
//! webhook worker's housekeeping round (which also expires stale sessions), and callable with
//! any clock and threshold.

use crate::PortalState;
use doublecheck_store::StoreError;

/// The actor of retention redactions in the audit log and events.
pub const ACTOR: &str = "retention";

/// At most this many sessions are redacted per round.
pub const BATCH: u32 = 200;

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Sessions redacted.
    pub sessions: u64,
    /// Documents destroyed.
    pub documents: u64,
    /// Blobs the shredder could not delete (their wrapped keys are gone all the same).
    pub blob_failures: u64,
}

/// Redacts the sessions decided at least `retention_ms` before `now_ms` (at most [`BATCH`]).
pub async fn run_once(
    state: &PortalState,
    now_ms: i64,
    retention_ms: i64,
) -> Result<RetentionReport, StoreError> {
    let mut report = RetentionReport::default();
    let cutoff = now_ms.saturating_sub(retention_ms.max(0));
    let due = state.app.store.vs_retention_due(cutoff, BATCH).await?;
    for id in due {
        let (_, docs) = match state.app.store.vs_redact(&id, ACTOR).await {
            Ok(r) => r,
            // Moved meanwhile (a session cannot be redacted while processing): next round.
            Err(StoreError::InvalidTransition { .. } | StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e),
        };
        report.sessions += 1;
        for d in &docs {
            report.documents += 1;
            if let Err(e) = state.documents.destroy(d).await {
                report.blob_failures += 1;
                tracing::warn!(document = %d.id, error = %e, "retention: blob not deleted");
            }
        }
    }
    Ok(report)
}

/// The configured retention in milliseconds.
pub fn retention_ms(state: &PortalState) -> i64 {
    i64::try_from(state.app.config.portal.retention_days)
        .unwrap_or(i64::MAX)
        .saturating_mul(86_400_000)
}
