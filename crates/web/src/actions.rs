//! What reviewers do with a held message: approve (and release), reject, fix and release,
//! reassign. Each is a form post: the session's CSRF token, a reviewer (or admin) who is not
//! the message's sender, and the reason for the record.

use crate::auth::Staff;
use crate::fix::{self, FixError};
use crate::util::{Form, ip_details};
use crate::{AppError, WebState};
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use doublecheck_engine::{Action, Envelope};
use doublecheck_gate::notice;
use doublecheck_gate::release::{self, MTA_QUEUE_PREFIX};
use doublecheck_store::{FixKind, Hold, HoldFix, HoldStatus};
use serde::Deserialize;
use std::sync::Arc;

/// Longest justification or reason kept.
const MAX_REASON_CHARS: usize = 2000;
/// Most recipients an explode from the queue sends to (each copy is checked again).
const MAX_EXPLODE: usize = 1000;

/// The `{id}` of a `/holds/{id}/…` path, checked to look like a hold id (else 404).
pub struct HoldPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for HoldPath {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(id) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|_| AppError::not_found())?;
        match crate::util::hold_id(&id) {
            Some(_) => Ok(HoldPath(id)),
            None => Err(AppError::not_found()),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ActionForm {
    csrf: Option<String>,
    justification: Option<String>,
    reason: Option<String>,
    fix: Option<String>,
    part: Option<String>,
    assignee: Option<String>,
}

fn required_text(v: Option<&str>, what: &str) -> Result<String, AppError> {
    let t = v.unwrap_or("").trim();
    if t.is_empty() {
        return Err(AppError::bad_request(format!(
            "A {what} is required: say why, for the record."
        )));
    }
    if t.chars().count() > MAX_REASON_CHARS || t.contains('\0') {
        return Err(AppError::bad_request(format!(
            "The {what} must be at most {MAX_REASON_CHARS} characters of text."
        )));
    }
    Ok(t.to_string())
}

fn done(id: &str, what: &str) -> Response {
    Redirect::to(&format!("/holds/{id}?done={what}")).into_response()
}

/// True when `email` sent this hold (its sender or envelope sender).
pub fn is_own(hold: &Hold, email: &str) -> bool {
    let norm = |s: &str| {
        s.trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .trim()
            .to_ascii_lowercase()
    };
    let me = norm(email);
    !me.is_empty()
        && hold
            .sender
            .iter()
            .chain(std::iter::once(&hold.mail_from))
            .any(|s| norm(s) == me)
}

/// How many distinct approvers this hold needs (the gate's rule, shared with the command line).
pub fn required_approvals(state: &WebState, hold: &Hold) -> i64 {
    release::required_approvals(&state.app.config, &hold.verdict_json)
}

/// The hold, for a reviewer about to decide on it: it exists, waits, and was not sent by them
/// (an attempt on one's own message is refused and recorded).
async fn hold_to_decide(
    state: &WebState,
    staff: &Staff,
    id: &str,
    action: &str,
) -> Result<Hold, AppError> {
    let hold = state
        .app
        .store
        .get_hold(id)
        .await?
        .ok_or_else(AppError::not_found)?;
    if staff.user.role.as_str() == "agent" && !is_own(&hold, staff.email()) {
        return Err(AppError::not_found());
    }
    staff.require_decider()?;
    if is_own(&hold, staff.email()) {
        let mut d = ip_details(&staff.ip);
        d.insert("action".into(), action.into());
        d.insert(
            "why".into(),
            "the sender may not decide on their own message".into(),
        );
        state
            .app
            .store
            .audit(
                staff.email(),
                "hold.decide_denied",
                id,
                &serde_json::Value::Object(d).to_string(),
            )
            .await?;
        return Err(AppError::forbidden(
            "You sent this message, so another reviewer must decide on it (four eyes).",
        ));
    }
    if hold.status != HoldStatus::Held {
        return Err(AppError::conflict(format!(
            "This message was already {} by {}.",
            hold.status,
            hold.decided_by.as_deref().unwrap_or("someone")
        )));
    }
    Ok(hold)
}

/// Approve: recorded with the justification; released once the hold has the approvals it
/// needs (two distinct reviewers for severe findings under `web.two_approvals_min_severity`).
pub async fn approve(
    State(state): State<WebState>,
    staff: Staff,
    HoldPath(id): HoldPath,
    Form(f): Form<ActionForm>,
) -> Result<Response, AppError> {
    staff.check_csrf(f.csrf.as_deref())?;
    staff.require_decider()?;
    let justification = required_text(f.justification.as_deref(), "justification")?;
    hold_to_decide(&state, &staff, &id, "approve").await?;
    // The gate's release records the approval and releases once enough people approved.
    let outcome = release::release_with(
        &state.app,
        &id,
        staff.email(),
        Some(&justification),
        &ip_details(&staff.ip),
    )
    .await?;
    if matches!(outcome, release::Outcome::AwaitingApproval { .. }) {
        return Ok(done(&id, "approval_recorded"));
    }
    Ok(done(&id, "released"))
}

/// Reject: never delivered; the reason goes into the decision.
pub async fn reject(
    State(state): State<WebState>,
    staff: Staff,
    HoldPath(id): HoldPath,
    Form(f): Form<ActionForm>,
) -> Result<Response, AppError> {
    staff.check_csrf(f.csrf.as_deref())?;
    staff.require_decider()?;
    let reason = required_text(f.reason.as_deref(), "reason")?;
    hold_to_decide(&state, &staff, &id, "reject").await?;
    let mut d = ip_details(&staff.ip);
    d.insert("reason".into(), reason.clone().into());
    state
        .app
        .store
        .audit(
            staff.email(),
            "hold.reject_request",
            &id,
            &serde_json::Value::Object(d).to_string(),
        )
        .await?;
    release::reject_with(
        &state.app,
        &id,
        staff.email(),
        Some(&reason),
        &ip_details(&staff.ip),
    )
    .await?;
    Ok(done(&id, "rejected"))
}

/// Fix and release: build the fixed message, check it again (it must now be allowed), record
/// the release with the fix, then deliver the fixed message.
pub async fn fix(
    State(state): State<WebState>,
    staff: Staff,
    HoldPath(id): HoldPath,
    Form(f): Form<ActionForm>,
) -> Result<Response, AppError> {
    staff.check_csrf(f.csrf.as_deref())?;
    staff.require_decider()?;
    let kind = f.fix.as_deref().and_then(FixKind::parse).ok_or_else(|| {
        AppError::bad_request("Choose a fix: bccify, explode or remove_attachment.")
    })?;
    let justification = required_text(f.justification.as_deref(), "justification")?;
    let part = f
        .part
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty() && kind == FixKind::RemoveAttachment);
    if part.is_some_and(|p| p.len() > 64) {
        return Err(AppError::bad_request(
            "That is not an attachment of this message.",
        ));
    }
    let hold = hold_to_decide(&state, &staff, &id, "fix").await?;
    release::check_fix_approvals(&state.app, &hold, staff.email())
        .await
        .map_err(|e| match e {
            release::ReleaseError::Store(doublecheck_store::StoreError::Conflict(_)) => {
                AppError::conflict(
                    "This message needs two reviewers: another reviewer must approve it first; \
                     then you can fix and release it.",
                )
            }
            other => other.into(),
        })?;
    let copies = prepare(&state, &hold, kind, part).await?;
    // The sender hears that it went out, and how it was changed.
    let event = notice::Event::Released {
        by: staff.email().to_string(),
        reason: Some(format!(
            "{justification} (released with a fix: {})",
            fix_words(kind)
        )),
    };
    let (hold, _, queued) = state
        .app
        .store
        .release_fixed(
            &id,
            kind,
            part,
            staff.email(),
            &justification,
            &ip_details(&staff.ip),
            |h| notice::for_hold(&state.app, &event, h),
        )
        .await?;
    notice::queued(&state.app, queued);
    deliver(&state, &hold, kind, &copies, staff.email()).await?;
    Ok(done(&id, "fixed"))
}

/// Delivers again a fixed message whose delivery failed (copies delivered before are skipped).
pub async fn retry(
    State(state): State<WebState>,
    staff: Staff,
    HoldPath(id): HoldPath,
    Form(f): Form<ActionForm>,
) -> Result<Response, AppError> {
    staff.check_csrf(f.csrf.as_deref())?;
    staff.require_decider()?;
    let store = &state.app.store;
    let hold = store.get_hold(&id).await?.ok_or_else(AppError::not_found)?;
    let Some(rec) = store.hold_fix(&id).await? else {
        return Err(AppError::conflict(
            "This message was not released with a fix; there is nothing to deliver again here.",
        ));
    };
    if rec.delivered_at_ms.is_some() {
        return Ok(done(&id, "fixed"));
    }
    let copies = prepare(&state, &hold, rec.fix, rec.part.as_deref()).await?;
    deliver(&state, &hold, rec.fix, &copies, staff.email()).await?;
    Ok(done(&id, "fixed"))
}

/// Builds the fixed copies and checks each again with the engine: refused (409) unless every
/// copy would now simply go out (allow or warn). Warning headers are added as the gate would.
async fn prepare(
    state: &WebState,
    hold: &Hold,
    kind: FixKind,
    part: Option<&str>,
) -> Result<Vec<(Vec<String>, Vec<u8>)>, AppError> {
    if kind == FixKind::Explode && hold.rcpt_to.len() > MAX_EXPLODE {
        return Err(AppError::conflict(format!(
            "Explode sends at most {MAX_EXPLODE} copies from the review queue; this message has {} recipients.",
            hold.rcpt_to.len()
        )));
    }
    let fixed = fix::build(kind, &hold.raw, &hold.mail_from, &hold.rcpt_to, part)
        .map_err(|FixError(m)| AppError::bad_request(m))?;
    let mut out = Vec::with_capacity(fixed.copies.len());
    for (rcpts, raw) in fixed.copies {
        let envelope = Envelope {
            mail_from: Some(hold.mail_from.clone()).filter(|m| !m.is_empty()),
            rcpt_to: rcpts.clone(),
            auth_user: hold.sender.clone(),
        };
        let verdict = state
            .app
            .check(Arc::new(raw.clone()), envelope, "web")
            .await
            .map_err(AppError::internal)?;
        match verdict.action {
            Action::Allow | Action::Warn => {}
            other => {
                let reasons: Vec<String> = verdict
                    .rules
                    .iter()
                    .map(|r| r.reason.clone())
                    .take(3)
                    .collect();
                return Err(AppError::new(
                    StatusCode::CONFLICT,
                    "The fixed message would still be stopped",
                    format!(
                        "After this fix the message would still be {} ({}). Choose another fix, or reject it.",
                        action_word(other),
                        if reasons.is_empty() {
                            "no reason given".to_string()
                        } else {
                            reasons.join(" ")
                        }
                    ),
                ));
            }
        }
        let raw = if verdict.headers.is_empty() {
            raw
        } else {
            doublecheck_engine::rewrite::add_headers(&raw, &verdict.headers)
        };
        out.push((rcpts, raw));
    }
    Ok(out)
}

/// The fix as the sender's notice names it.
fn fix_words(kind: FixKind) -> &'static str {
    match kind {
        FixKind::Bccify => "recipients hidden from each other (Bcc)",
        FixKind::Explode => "one separate message per recipient",
        FixKind::RemoveAttachment => "an attachment removed",
    }
}

fn action_word(a: Action) -> &'static str {
    match a {
        Action::Allow => "allowed",
        Action::Warn => "delivered with a warning",
        Action::Bccify => "bcc-ified",
        Action::Explode => "exploded",
        Action::Hold => "held",
        Action::Reject => "rejected",
    }
}

/// Sends the fixed copies through the gate's delivery path (each copy claimed under the fix's
/// delivery key, so a retry sends only what is missing); for a message the MTA holds, the fixed
/// copies are re-injected and the original is deleted from the MTA's hold queue.
async fn deliver(
    state: &WebState,
    hold: &Hold,
    kind: FixKind,
    copies: &[(Vec<String>, Vec<u8>)],
    actor: &str,
) -> Result<(), AppError> {
    let config = &state.app.config;
    let mta = hold
        .queue_id
        .as_deref()
        .and_then(|q| q.strip_prefix(MTA_QUEUE_PREFIX))
        .filter(|q| !q.is_empty());
    let target = match mta {
        Some(_) => config
            .milter
            .reinject
            .clone()
            .or(config.smtp.upstream.clone()),
        None => config.smtp.upstream.clone(),
    };
    let Some(target) = target else {
        return Err(AppError::new(
            StatusCode::BAD_GATEWAY,
            "Released, but not delivered yet",
            "No upstream is configured (smtp.upstream, or milter.reinject for messages the MTA holds). \
             Configure one, then use “Deliver again” on this message.",
        ));
    };
    let key = HoldFix::delivery_key(&hold.id);
    let store = &state.app.store;
    let mut sent = 0;
    for (rcpts, raw) in copies {
        let slot = if kind == FixKind::Explode {
            rcpts.first().map(String::as_str).unwrap_or("*")
        } else {
            "*"
        };
        if !store.delivery_claim(&key, slot).await? {
            continue;
        }
        doublecheck_gate::delivery::send(&target, &hold.mail_from, rcpts, raw)
            .await
            .map_err(|e| {
                AppError::new(
                    StatusCode::BAD_GATEWAY,
                    "Released, but not delivered yet",
                    format!("The fixed message was not delivered: {e}. Use “Deliver again” on this message."),
                )
            })?;
        store.delivery_done(&key, slot).await?;
        sent += 1;
    }
    if let Some(q) = mta {
        discard_original(state, q).await?;
    }
    store.hold_fix_delivered(&hold.id, actor, sent).await?;
    Ok(())
}

/// Deletes the original from the MTA's hold queue (`milter.discard_command`).
async fn discard_original(state: &WebState, queue_id: &str) -> Result<(), AppError> {
    let fail = |m: String| {
        AppError::new(
            StatusCode::BAD_GATEWAY,
            "Delivered, but the original is still in the MTA's hold queue",
            m,
        )
    };
    if !queue_id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(fail(format!("Refusing an unusual queue id {queue_id:?}.")));
    }
    let template = &state.app.config.milter.discard_command;
    let Some((program, args)) = template.split_first() else {
        return Err(fail("No milter.discard_command is configured.".into()));
    };
    let args: Vec<String> = args
        .iter()
        .map(|a| a.replace("{queue_id}", queue_id))
        .collect();
    let out = tokio::process::Command::new(program)
        .args(&args)
        .output()
        .await
        .map_err(|e| fail(format!("{program}: {e}")))?;
    if !out.status.success() {
        return Err(fail(format!(
            "{program} {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Reassign to another reviewer (never the message's sender).
pub async fn reassign(
    State(state): State<WebState>,
    staff: Staff,
    HoldPath(id): HoldPath,
    Form(f): Form<ActionForm>,
) -> Result<Response, AppError> {
    staff.check_csrf(f.csrf.as_deref())?;
    staff.require_decider()?;
    let hold = hold_to_decide(&state, &staff, &id, "reassign").await?;
    let assignee = f.assignee.as_deref().unwrap_or("").trim().to_string();
    let user = state
        .app
        .store
        .user_get(&assignee)
        .await?
        .filter(|u| u.role.can_decide() && !u.disabled)
        .ok_or_else(|| {
            AppError::bad_request("Choose an active reviewer to assign this message to.")
        })?;
    if is_own(&hold, &user.email) {
        return Err(AppError::bad_request(
            "That reviewer sent this message; assign it to someone else.",
        ));
    }
    state
        .app
        .store
        .hold_assign(&id, &user.email, staff.email(), &ip_details(&staff.ip))
        .await?;
    Ok(done(&id, "reassigned"))
}
