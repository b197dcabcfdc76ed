//! Releasing and rejecting held messages: the decision goes to the store (four eyes, audit log),
//! then the message goes where it belongs.
//!
//! - A message the milter held sits in the MTA's hold queue: its queue id is stored with the
//!   prefix [`MTA_QUEUE_PREFIX`], and release runs `milter.release_command` (Postfix:
//!   `postsuper -H <id> && postqueue -i <id>`), reject runs `milter.discard_command`.
//! - A message the relay held exists only in the store: release sends it to `smtp.upstream`
//!   (one copy per recipient when the policy chose explode), at most once per recipient even if
//!   release is retried after a failure.
//!
//! Either way the sender gets a notice of the decision ([`crate::notice`]), queued in the
//! decision's own transaction, once: a retried release does not queue another.
//!
//! Four eyes, on every path (the review queue and `doublecheck holds release` alike): a release
//! is first an approval ([`doublecheck_store::Store::hold_approve`]: never by the sender, once
//! per person). A message whose worst finding is at least `web.two_approvals_min_severity`
//! needs two distinct approvers ([`required_approvals`]); until the second one approves,
//! [`release`] records the approval and answers [`Outcome::AwaitingApproval`] — nothing leaves.

use crate::delivery::{self, DeliveryError};
use crate::notice::Event;
use crate::state::AppState;
use doublecheck_store::{Decision, Hold, HoldStatus, StoreError};

/// The justification recorded when a release gives none (`holds release` without `--reason`).
pub const NO_REASON: &str = "(no reason given)";

/// Queue ids of messages held in the MTA's own hold queue start with this.
pub const MTA_QUEUE_PREFIX: &str = "mta:";

/// What happened to a released or rejected message.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Sent to the upstream (copies delivered now; copies already delivered before).
    Delivered { sent: usize, already: usize },
    /// The MTA was told to release (or delete) it from its hold queue.
    Mta { queue_id: String },
    /// Rejected: never delivered.
    Rejected,
    /// The approval is recorded, but the message needs more distinct approvers before it is
    /// released: it is still held, and nothing was delivered.
    AwaitingApproval { approvals: i64, required: i64 },
}

#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("the message was rejected earlier and cannot be released")]
    AlreadyRejected,
    #[error("released, but not delivered: {0}; run `doublecheck holds release {1}` again to retry")]
    Delivery(String, String),
    #[error(
        "released, but no upstream is configured (smtp.upstream); the message stays in the store"
    )]
    NoUpstream,
    #[error("the MTA command failed: {0}")]
    Command(String),
}

/// How many distinct people must approve this hold before it is released: two when its worst
/// finding is at least `web.two_approvals_min_severity`, else one.
pub fn required_approvals(config: &crate::Config, verdict_json: &str) -> i64 {
    let Some(min) = config.web.two_approvals_min_severity else {
        return 1;
    };
    let min = doublecheck_store::severity_rank(min.as_str());
    let worst = serde_json::from_str::<serde_json::Value>(verdict_json)
        .ok()
        .and_then(|v| {
            v["findings"].as_array().and_then(|f| {
                f.iter()
                    .map(|f| doublecheck_store::severity_rank(f["severity"].as_str().unwrap_or("")))
                    .max()
            })
        });
    if worst.is_some_and(|w| w >= min) {
        2
    } else {
        1
    }
}

/// Whether `actor` may release `hold` now with a fix (which is a release by `actor`): every
/// approval the hold needs but `actor`'s own must already be in, from other people. `Conflict`
/// with a sentence saying so otherwise.
pub async fn check_fix_approvals(
    state: &AppState,
    hold: &Hold,
    actor: &str,
) -> Result<(), ReleaseError> {
    let required = required_approvals(&state.config, &hold.verdict_json);
    if required <= 1 {
        return Ok(());
    }
    let others = state
        .store
        .hold_approvals(&hold.id)
        .await?
        .iter()
        .filter(|a| !a.approver.trim().eq_ignore_ascii_case(actor.trim()))
        .count() as i64;
    if others < required - 1 {
        return Err(ReleaseError::Store(StoreError::Conflict(format!(
            "hold {} needs {required} reviewers: another reviewer must approve it first",
            hold.id
        ))));
    }
    Ok(())
}

/// Release a held message (or retry delivering one released before): `actor`'s approval is
/// recorded first (see the module's four eyes), and the message leaves once it has the
/// approvals it needs.
pub async fn release(
    state: &AppState,
    id: &str,
    actor: &str,
    reason: Option<&str>,
) -> Result<Outcome, ReleaseError> {
    release_with(state, id, actor, reason, &serde_json::Map::new()).await
}

/// Like [`release`]; `extra` fields (the client's address) go into the audit entries.
pub async fn release_with(
    state: &AppState,
    id: &str,
    actor: &str,
    reason: Option<&str>,
    extra: &serde_json::Map<String, serde_json::Value>,
) -> Result<Outcome, ReleaseError> {
    let hold = state
        .store
        .get_hold(id)
        .await?
        .ok_or(StoreError::NotFound)?;
    let hold = match hold.status {
        HoldStatus::Held => {
            let required = required_approvals(&state.config, &hold.verdict_json);
            let approvals = state.store.hold_approvals(id).await?;
            let mine = approvals
                .iter()
                .any(|a| a.approver.trim().eq_ignore_ascii_case(actor.trim()));
            // A retry by someone who approved already, once enough people approved, goes on to
            // the release; anyone else's approval is recorded (the sender's is refused, and a
            // second one by the same person is a conflict).
            let count = if mine && approvals.len() as i64 >= required {
                approvals.len() as i64
            } else {
                let justification = reason.map(str::trim).filter(|r| !r.is_empty());
                state
                    .store
                    .hold_approve(
                        id,
                        actor,
                        justification.unwrap_or(NO_REASON),
                        required,
                        extra,
                    )
                    .await?
                    .approvals
            };
            if count < required {
                return Ok(Outcome::AwaitingApproval {
                    approvals: count,
                    required,
                });
            }
            let event = Event::Released {
                by: actor.to_string(),
                reason: reason.map(str::to_string),
            };
            let (hold, queued) = state
                .store
                .decide_hold_notify(id, Decision::Release, actor, reason, extra, |h| {
                    crate::notice::for_hold(state, &event, h)
                })
                .await?;
            crate::notice::queued(state, queued);
            hold
        }
        HoldStatus::Released => hold,
        HoldStatus::Rejected => return Err(ReleaseError::AlreadyRejected),
    };
    if let Some(q) = mta_queue_id(&hold) {
        run_command(&state.config.milter.release_command, q).await?;
        return Ok(Outcome::Mta {
            queue_id: q.to_string(),
        });
    }
    let upstream = state
        .config
        .smtp
        .upstream
        .clone()
        .ok_or(ReleaseError::NoUpstream)?;
    let retry = |e: DeliveryError| ReleaseError::Delivery(e.to_string(), hold.id.clone());
    // A message with `{{verify_link}}` is exploded too: each copy gets its recipient's link.
    if hold.reason.starts_with("explode")
        || verdict_is_explode(&hold)
        || crate::verify_link::contains_placeholder(&hold.raw)
    {
        let report = delivery::explode(
            state,
            &hold.id,
            &upstream,
            &hold.mail_from,
            &hold.rcpt_to,
            &hold.raw,
            false,
        )
        .await
        .map_err(retry)?;
        return Ok(Outcome::Delivered {
            sent: report.delivered,
            already: report.skipped,
        });
    }
    // One delivery of the whole message, recorded under the hold id.
    if !state.store.delivery_claim(&hold.id, "*").await? {
        return Ok(Outcome::Delivered {
            sent: 0,
            already: hold.rcpt_to.len(),
        });
    }
    delivery::send(&upstream, &hold.mail_from, &hold.rcpt_to, &hold.raw)
        .await
        .map_err(retry)?;
    state.store.delivery_done(&hold.id, "*").await?;
    Ok(Outcome::Delivered {
        sent: hold.rcpt_to.len(),
        already: 0,
    })
}

/// Reject a held message: it is never delivered (and is removed from the MTA's hold queue).
pub async fn reject(
    state: &AppState,
    id: &str,
    actor: &str,
    reason: Option<&str>,
) -> Result<Outcome, ReleaseError> {
    reject_with(state, id, actor, reason, &serde_json::Map::new()).await
}

/// Like [`reject`]; `extra` fields (the client's address) go into the `hold.reject` entry.
pub async fn reject_with(
    state: &AppState,
    id: &str,
    actor: &str,
    reason: Option<&str>,
    extra: &serde_json::Map<String, serde_json::Value>,
) -> Result<Outcome, ReleaseError> {
    let event = Event::Rejected {
        by: actor.to_string(),
        reason: reason.map(str::to_string),
    };
    let (hold, queued) = state
        .store
        .decide_hold_notify(id, Decision::Reject, actor, reason, extra, |h| {
            crate::notice::for_hold(state, &event, h)
        })
        .await?;
    crate::notice::queued(state, queued);
    if let Some(q) = mta_queue_id(&hold) {
        run_command(&state.config.milter.discard_command, q).await?;
    }
    Ok(Outcome::Rejected)
}

fn mta_queue_id(hold: &Hold) -> Option<&str> {
    hold.queue_id
        .as_deref()
        .and_then(|q| q.strip_prefix(MTA_QUEUE_PREFIX))
        .filter(|q| !q.is_empty())
}

fn verdict_is_explode(hold: &Hold) -> bool {
    serde_json::from_str::<serde_json::Value>(&hold.verdict_json)
        .is_ok_and(|v| v["would"] == "explode")
}

/// Run an MTA command with `{queue_id}` replaced; queue ids are checked to be plain
/// alphanumerics so nothing else can reach the command line.
async fn run_command(template: &[String], queue_id: &str) -> Result<(), ReleaseError> {
    if !queue_id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(ReleaseError::Command(format!(
            "refusing an unusual queue id {queue_id:?}"
        )));
    }
    let Some((program, args)) = template.split_first() else {
        return Err(ReleaseError::Command("no command configured".into()));
    };
    let args: Vec<String> = args
        .iter()
        .map(|a| a.replace("{queue_id}", queue_id))
        .collect();
    let out = tokio::process::Command::new(program)
        .args(&args)
        .output()
        .await
        .map_err(|e| ReleaseError::Command(format!("{program}: {e}")))?;
    if !out.status.success() {
        return Err(ReleaseError::Command(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}
