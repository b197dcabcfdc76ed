//! The staff side of the verification portal: the queue of verification sessions, the session
//! page with each document viewed inline, and the decision (approve or reject, with a reason).
//!
//! - `/verifications`: sessions newest first, `requires_review` by default (`?status=` any
//!   status or `all`), counts per status, time waiting, cursor pagination. Reviewers and
//!   administrators see the customer's name and e-mail address; agents see them masked and
//!   cannot open a session.
//! - `/verifications/{id}`: status, customer, the confirmed or corrected address, the events
//!   timeline, the documents, and the decision forms. Reviewers and administrators only.
//! - `/verifications/{id}/documents/{doc_id}`: the document decrypted by the vault on the fly,
//!   only while the session waits for review, only for a document of that session. Never
//!   cached (`Cache-Control: no-store, private`), `inline`, `nosniff`, a CSP that allows
//!   nothing but the document itself.
//!   - Images (PNG, JPEG) are decoded and the viewer's e-mail address, the time and the
//!     document id are drawn into the pixels across the whole picture (`watermark`), then
//!     encoded again; the original bytes never leave the server.
//!   - PDFs get the same lines written into every page (`pdf_mark`: diagonal rows and a top
//!     line in semi-transparent Helvetica), so a saved copy is marked too, and are shown
//!     inside the session page, which frames the `<object>` with the watermark lines above,
//!     below and over it. A browser's direct navigation to a PDF (`Sec-Fetch-Dest: document`)
//!     is refused. A PDF that cannot be rewritten (lopdf cannot read it) is still shown in the
//!     framed page; the audit entry says `file_watermark: false`.
//! - `POST /verifications/{id}/approve` and `/reject`: a reason is required; the move goes
//!   through the store's transition (`requires_review → verified | rejected`), which records
//!   the event, the webhook deliveries and an audit entry.
//!
//! Every view of the queue, a session or a document is an audit event (`verification.queue`,
//! `verification.view`, `verification.document_view`, with the client's address); so is an
//! agent's refused attempt (`verification.denied`).
//!
//! The vault comes from the configuration at start ([`vault_from_config`]: `[portal]`'s
//! documents directory and master keys, or `DOUBLECHECK_MASTER_KEY` /
//! `DOUBLECHECK_PREVIOUS_MASTER_KEYS` — the same vault the customer's pages store documents
//! in); without one, documents answer 503 and everything else works.

mod pdf_mark;
mod watermark;

use crate::auth::{Staff, now_ms};
use crate::util::{Form, Nav, Query, clip, ip_details, urlencode, waited};
use crate::{AppError, WebState};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use doublecheck_store::{
    EventQuery, SessionQuery, StoreError, Transition, VerificationDocument, VerificationSession,
    VerificationStatus, rfc3339,
};
use doublecheck_vault::{SealedDocument, Vault};
use serde::Deserialize;
use std::sync::Arc;

/// Sessions per page of the queue.
const PAGE: u32 = 50;
/// Events shown on a session page (newest ones).
const MAX_EVENTS: u32 = 100;
/// The longest decision reason.
const MAX_REASON_CHARS: usize = 1000;
/// Documents are shown only while the session is in this status.
const VIEWABLE: VerificationStatus = VerificationStatus::RequiresReview;

const CSS: &str = include_str!("../assets/verifications.css");

/// The policy of the session page: the app's, plus `object-src 'self'` for PDFs.
const PAGE_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; object-src 'self'; \
                        form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
/// The policy of an image document: nothing but the image.
const IMAGE_CSP: &str = "default-src 'none'; img-src 'self'; frame-ancestors 'self'; \
                         base-uri 'none'; form-action 'none'; sandbox";
/// The policy of a PDF document: the viewer only, framed by the session page alone.
const PDF_CSP: &str = "default-src 'none'; object-src 'self'; frame-ancestors 'self'; \
                       base-uri 'none'; form-action 'none'";

/// The vault as the configuration's `[portal]` section describes it (the same one the
/// customer's pages store documents in), or `None` (logged) when it cannot be built.
pub fn vault_from_config(config: &doublecheck_gate::Config) -> Option<Arc<Vault>> {
    match doublecheck_gate::portal_config::open_vault(config) {
        Ok(v) => Some(Arc::new(v)),
        Err(e) => {
            tracing::warn!(error = %e, "review queue: no document vault; documents cannot be shown");
            None
        }
    }
}

impl WebState {
    /// The same state with this vault for showing documents (`None`: documents answer 503).
    pub fn with_vault(mut self, vault: Option<Arc<Vault>>) -> WebState {
        self.vault = vault;
        self
    }
}

// ---------------------------------------------------------------- helpers

/// A session id as the store makes them (`vs_` + base32), else `None`.
fn session_id(s: &str) -> Option<&str> {
    prefixed(s, "vs_")
}

/// A document id as the store makes them (`vdoc_` + base32), else `None`.
fn document_id(s: &str) -> Option<&str> {
    prefixed(s, "vdoc_")
}

fn prefixed<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = s.strip_prefix(prefix)?;
    (!rest.is_empty()
        && rest.len() <= 64
        && rest
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-'))
    .then_some(s)
}

/// `ana.ruiz@example.com` → `a•••@e•••.com`.
fn mask_email(email: &str) -> String {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return "•••".into();
    };
    let first = |s: &str| s.chars().next().map(String::from).unwrap_or_default();
    let tld = domain
        .rsplit_once('.')
        .map(|(_, t)| format!(".{}", clip(t, 6)))
        .unwrap_or_default();
    format!("{}•••@{}•••{tld}", first(local), first(domain))
}

/// `Ana María Ruiz` → `A. M. R.`.
fn mask_name(name: &str) -> String {
    name.split_whitespace()
        .take(4)
        .filter_map(|w| w.chars().next())
        .map(|c| format!("{c}."))
        .collect::<Vec<_>>()
        .join(" ")
}

fn forbidden_for_agents() -> AppError {
    AppError::forbidden(
        "Only reviewers and administrators can open verification sessions and see documents.",
    )
}

fn details(ip: &str, extra: &[(&str, serde_json::Value)]) -> String {
    let mut d = ip_details(ip);
    for (k, v) in extra {
        d.insert((*k).into(), v.clone());
    }
    serde_json::Value::Object(d).to_string()
}

/// An agent's refused attempt, in the audit log; then 403.
async fn deny(state: &WebState, staff: &Staff, target: &str, what: &str) -> AppError {
    if let Err(e) = state
        .app
        .store
        .audit(
            staff.email(),
            "verification.denied",
            target,
            &details(&staff.ip, &[("what", what.into())]),
        )
        .await
    {
        return e.into();
    }
    forbidden_for_agents()
}

fn status_label(s: VerificationStatus) -> &'static str {
    match s {
        VerificationStatus::RequiresInput => "waiting for the customer",
        VerificationStatus::Processing => "processing",
        VerificationStatus::RequiresReview => "waiting for review",
        VerificationStatus::Verified => "verified",
        VerificationStatus::Rejected => "rejected",
        VerificationStatus::Canceled => "canceled",
        VerificationStatus::Expired => "expired",
    }
}

/// "2026-03-01 12:34:56 UTC".
fn when(ms: i64) -> String {
    let s = rfc3339(ms);
    match (s.get(0..10), s.get(11..19)) {
        (Some(d), Some(t)) => format!("{d} {t} UTC"),
        _ => s,
    }
}

fn html_page(html: String, csp: Option<&'static str>) -> Response {
    let mut res = Html(html).into_response();
    if let Some(csp) = csp {
        res.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(csp),
        );
    }
    res
}

// ---------------------------------------------------------------- the queue

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct QueueParams {
    status: Option<String>,
    after: Option<String>,
}

struct Row {
    id: String,
    customer: String,
    email: String,
    kind: &'static str,
    status: &'static str,
    status_label: &'static str,
    waited: String,
    since: String,
    created_at: String,
}

struct Choice {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

#[derive(Template)]
#[template(path = "verifications.html")]
struct QueuePage {
    nav: Option<Nav>,
    agent: bool,
    heading: &'static str,
    counts: Vec<(&'static str, &'static str, i64)>,
    statuses: Vec<Choice>,
    rows: Vec<Row>,
    first: Option<String>,
    next: Option<String>,
}

pub async fn queue(
    State(state): State<WebState>,
    staff: Staff,
    Query(p): Query<QueueParams>,
) -> Result<Response, AppError> {
    let store = &state.app.store;
    let status_param = p.status.as_deref().unwrap_or("requires_review");
    let status = match status_param {
        "all" => None,
        s => Some(VerificationStatus::parse(s).ok_or_else(|| {
            AppError::bad_request(
                "status must be all or one of requires_input, processing, requires_review, \
                 verified, rejected, canceled, expired.",
            )
        })?),
    };
    let after = match p.after.as_deref().filter(|a| !a.is_empty()) {
        None => None,
        Some(a) => Some(
            session_id(a)
                .ok_or_else(|| AppError::bad_request("The page cursor is not a session id."))?
                .to_string(),
        ),
    };
    let page = store
        .vs_list(SessionQuery {
            status,
            limit: PAGE,
            starting_after: after.clone(),
            ..Default::default()
        })
        .await
        .map_err(|e| match e {
            StoreError::NotFound | StoreError::Invalid(_) => {
                AppError::bad_request("The page cursor names no session.")
            }
            e => e.into(),
        })?;
    let counts = store.vs_counts(None).await?;
    store
        .audit(
            staff.email(),
            "verification.queue",
            status_param,
            &details(&staff.ip, &[("shown", page.data.len().into())]),
        )
        .await?;
    let agent = !staff.user.role.can_decide();
    let now = now_ms();
    let rows = page
        .data
        .iter()
        .map(|s| {
            let name = s.customer.name.as_deref().unwrap_or("");
            let email = s.customer.email.as_deref().unwrap_or("");
            let (customer, email) = if s.redacted_at_ms.is_some() {
                ("(redacted)".to_string(), String::new())
            } else if agent {
                (mask_name(name), mask_email(email))
            } else {
                (clip(name, 80), clip(email, 254))
            };
            // Waiting since the last change (entering review, for the default view).
            let since_ms = if s.status.is_terminal() {
                s.decided_at_ms.unwrap_or(s.updated_at_ms)
            } else {
                s.updated_at_ms
            };
            Row {
                id: s.id.clone(),
                customer,
                email,
                kind: s.kind.as_str(),
                status: s.status.as_str(),
                status_label: status_label(s.status),
                waited: if s.status.is_terminal() {
                    String::new()
                } else {
                    waited(now - since_ms)
                },
                since: when(since_ms),
                created_at: when(s.created_at_ms),
            }
        })
        .collect::<Vec<_>>();
    let q = format!("/verifications?status={}", urlencode(status_param));
    let next = match (page.has_more, rows.last()) {
        (true, Some(last)) => Some(format!("{q}&after={}", last.id)),
        _ => None,
    };
    let mut statuses = vec![Choice {
        value: "all",
        label: "all",
        selected: status.is_none(),
    }];
    statuses.extend(VerificationStatus::ALL.into_iter().map(|s| Choice {
        value: s.as_str(),
        label: status_label(s),
        selected: status == Some(s),
    }));
    let heading = match status {
        Some(VerificationStatus::RequiresReview) => "Verifications waiting for review",
        _ => "Verifications",
    };
    let page = QueuePage {
        nav: Some(staff.nav()),
        agent,
        heading,
        counts: counts
            .into_iter()
            .map(|(s, n)| (s.as_str(), status_label(s), n))
            .collect(),
        statuses,
        rows,
        first: after.is_some().then_some(q),
        next,
    };
    Ok(html_page(page.render().map_err(AppError::internal)?, None))
}

// ---------------------------------------------------------------- the session page

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SessionParams {
    done: Option<String>,
}

struct EventRow {
    at: String,
    kind: String,
}

struct DocRow {
    id: String,
    name: String,
    content_type: String,
    size: String,
    uploaded: String,
    url: String,
    /// Shown inline (the session waits for review and the document exists).
    viewable: bool,
    is_pdf: bool,
    destroyed: bool,
}

#[derive(Template)]
#[template(path = "verifications_session.html")]
struct SessionPage {
    nav: Option<Nav>,
    s: VerificationSession,
    status_label: &'static str,
    flash: Option<&'static str>,
    created_at: String,
    updated_at: String,
    expires_at: String,
    decided_at: String,
    address: Vec<(String, String)>,
    events: Vec<EventRow>,
    more_events: bool,
    documents: Vec<DocRow>,
    can_decide: bool,
    /// The watermark lines around PDFs: who is viewing, when.
    mark: Vec<String>,
}

/// The address fields the customer's page collects, in the order of an address.
const ADDRESS_FIELDS: [(&str, &str); 6] = [
    ("line1", "Address line 1"),
    ("line2", "Address line 2"),
    ("city", "City"),
    ("state", "State or province"),
    ("postal_code", "Postal code"),
    ("country", "Country"),
];

/// The address object as label/value pairs (known fields in address order, then any others),
/// empty values left out.
fn address_rows(json: Option<&str>) -> Vec<(String, String)> {
    let Some(v) = json.and_then(|j| serde_json::from_str::<serde_json::Value>(j).ok()) else {
        return Vec::new();
    };
    let Some(obj) = v.as_object() else {
        return Vec::new();
    };
    let rank = |k: &str| {
        ADDRESS_FIELDS
            .iter()
            .position(|(f, _)| *f == k)
            .unwrap_or(ADDRESS_FIELDS.len())
    };
    let mut keys: Vec<&String> = obj.keys().collect();
    keys.sort_by_key(|k| rank(k));
    keys.into_iter()
        .filter_map(|k| {
            let text = match obj.get(k)? {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => return None,
                other => other.to_string(),
            };
            let label = ADDRESS_FIELDS
                .iter()
                .find(|(f, _)| f == k)
                .map(|(_, l)| (*l).to_string())
                .unwrap_or_else(|| clip(&k.replace('_', " "), 40));
            (!text.trim().is_empty()).then(|| (label, clip(&text, 200)))
        })
        .take(20)
        .collect()
}

fn mark_lines(staff: &Staff, doc_id: Option<&str>) -> Vec<String> {
    let mut lines = vec![
        format!("viewed by {}", clip(staff.email(), 80)),
        when(now_ms()),
    ];
    if let Some(d) = doc_id {
        lines.push(format!("{d} - do not copy"));
    }
    lines
}

pub async fn session(
    State(state): State<WebState>,
    staff: Staff,
    Path(id): Path<String>,
    Query(p): Query<SessionParams>,
) -> Result<Response, AppError> {
    let id = session_id(&id).ok_or_else(AppError::not_found)?.to_string();
    if !staff.user.role.can_decide() {
        return Err(deny(&state, &staff, &id, "session").await);
    }
    let store = &state.app.store;
    let s = store.vs_get(&id).await?.ok_or_else(AppError::not_found)?;
    store
        .audit(
            staff.email(),
            "verification.view",
            &id,
            &details(&staff.ip, &[("status", s.status.as_str().into())]),
        )
        .await?;
    let events_page = store
        .event_list(EventQuery {
            session_id: Some(id.clone()),
            limit: MAX_EVENTS,
            ..Default::default()
        })
        .await?;
    let mut events: Vec<EventRow> = events_page
        .data
        .iter()
        .map(|e| EventRow {
            at: when(e.created_at_ms),
            kind: e
                .kind
                .strip_prefix("verification_session.")
                .unwrap_or(&e.kind)
                .replace('_', " "),
        })
        .collect();
    events.reverse();
    let session_open = s.status == VIEWABLE && s.redacted_at_ms.is_none();
    let documents = store
        .doc_list(&id)
        .await?
        .into_iter()
        .map(|d| doc_row(&s.id, &d, session_open))
        .collect();
    let flash = match p.done.as_deref() {
        Some("verified") => Some("Approved: the session is verified."),
        Some("rejected") => Some("Rejected: the session is closed."),
        _ => None,
    };
    let page = SessionPage {
        nav: Some(staff.nav()),
        status_label: status_label(s.status),
        flash,
        created_at: when(s.created_at_ms),
        updated_at: when(s.updated_at_ms),
        expires_at: when(s.expires_at_ms),
        decided_at: s.decided_at_ms.map(when).unwrap_or_default(),
        address: address_rows(s.address_json.as_deref()),
        events,
        more_events: events_page.has_more,
        documents,
        can_decide: s.status == VerificationStatus::RequiresReview,
        mark: mark_lines(&staff, None),
        s,
    };
    Ok(html_page(
        page.render().map_err(AppError::internal)?,
        Some(PAGE_CSP),
    ))
}

fn doc_row(session_id: &str, d: &VerificationDocument, session_open: bool) -> DocRow {
    let destroyed = d.sealed_json.is_none() || d.destroyed_at_ms.is_some();
    DocRow {
        id: d.id.clone(),
        name: d
            .filename
            .as_deref()
            .map(|f| clip(f, 80))
            .unwrap_or_else(|| "(no name)".into()),
        content_type: clip(&d.content_type, 60),
        size: crate::preview::human_size(d.size),
        uploaded: when(d.created_at_ms),
        url: format!("/verifications/{session_id}/documents/{}", d.id),
        viewable: session_open && !destroyed && content_kind(&d.content_type).is_some(),
        is_pdf: d.content_type == "application/pdf",
        destroyed,
    }
}

// ---------------------------------------------------------------- documents

#[derive(Clone, Copy, PartialEq, Eq)]
enum ContentKind {
    Png,
    Jpeg,
    Pdf,
}

fn content_kind(ct: &str) -> Option<ContentKind> {
    match ct {
        "image/png" => Some(ContentKind::Png),
        "image/jpeg" => Some(ContentKind::Jpeg),
        "application/pdf" => Some(ContentKind::Pdf),
        _ => None,
    }
}

pub async fn document(
    State(state): State<WebState>,
    staff: Staff,
    Path((id, doc_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let (Some(id), Some(doc_id)) = (session_id(&id), document_id(&doc_id)) else {
        return Err(AppError::not_found());
    };
    if !staff.user.role.can_decide() {
        return Err(deny(&state, &staff, doc_id, "document").await);
    }
    let store = &state.app.store;
    let s = store.vs_get(id).await?.ok_or_else(AppError::not_found)?;
    // A document of another session is not found here, whatever its id.
    let d = store
        .doc_get(doc_id)
        .await?
        .filter(|d| d.session_id == s.id)
        .ok_or_else(AppError::not_found)?;
    if s.status != VIEWABLE || s.redacted_at_ms.is_some() {
        return Err(AppError::conflict(format!(
            "Documents are shown only while a session waits for review; this one is {}.",
            status_label(s.status)
        )));
    }
    let Some(sealed_json) = d.sealed_json.as_deref() else {
        return Err(AppError::new(
            StatusCode::GONE,
            "The document was erased",
            "This document was erased (redaction or retention); nothing can be shown.",
        ));
    };
    let sealed: SealedDocument = serde_json::from_str(sealed_json)
        .map_err(|e| AppError::internal(format!("document {doc_id}: sealed record: {e}")))?;
    // The content type bound into the ciphertext decides how it is served.
    let kind = content_kind(&sealed.content_type).ok_or_else(|| {
        AppError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "This document cannot be shown",
            "Only PNG, JPEG and PDF documents are shown.",
        )
    })?;
    if kind == ContentKind::Pdf
        && headers
            .get("sec-fetch-dest")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("document"))
    {
        return Err(AppError::forbidden(
            "PDF documents are shown inside their verification session's page, with the \
             watermark. Open the session instead.",
        ));
    }
    let Some(vault) = state.vault.clone() else {
        return Err(AppError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Documents are not available",
            "The document vault is not configured on this server (DOUBLECHECK_MASTER_KEY). \
             Tell your administrator.",
        ));
    };
    let lines = mark_lines(&staff, Some(doc_id));
    let joined = lines.join(" | ");
    let plain = vault
        .get(&sealed)
        .await
        .map_err(|e| AppError::internal(format!("document {doc_id}: {e}")))?;
    // Marked off the async workers: decoding an image or a PDF takes milliseconds.
    let ct = sealed.content_type.clone();
    let (body, file_marked) = tokio::task::spawn_blocking(move || match kind {
        ContentKind::Pdf => match pdf_mark::mark_pdf(&plain, &lines) {
            Ok(marked) => Ok((marked, true)),
            // A PDF lopdf cannot rewrite is still shown inside the watermarked page (the
            // audit entry records that the file itself is unmarked).
            Err(e) => {
                tracing::warn!(error = %e, "PDF shown without a watermark in the file");
                Ok((plain.to_vec(), false))
            }
        },
        ContentKind::Png | ContentKind::Jpeg => {
            watermark::mark_image(&plain, &ct, &lines).map(|marked| (marked, true))
        }
    })
    .await
    .map_err(AppError::internal)?
    .map_err(|e| AppError::internal(format!("document {doc_id}: {e}")))?;
    // The view is audited before a byte leaves; a failed entry means nothing is shown.
    store
        .audit(
            staff.email(),
            "verification.document_view",
            doc_id,
            &details(
                &staff.ip,
                &[
                    ("session", s.id.clone().into()),
                    ("content_type", sealed.content_type.clone().into()),
                    ("watermark", joined.into()),
                    ("file_watermark", file_marked.into()),
                ],
            ),
        )
        .await?;
    let (csp, ext) = match kind {
        ContentKind::Pdf => (PDF_CSP, "pdf"),
        ContentKind::Png => (IMAGE_CSP, "png"),
        ContentKind::Jpeg => (IMAGE_CSP, "jpg"),
    };
    let content_type = HeaderValue::from_str(&sealed.content_type).map_err(AppError::internal)?;
    let disposition = HeaderValue::from_str(&format!("inline; filename=\"{doc_id}.{ext}\""))
        .map_err(AppError::internal)?;
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, content_type);
    h.insert(header::CONTENT_DISPOSITION, disposition);
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, private"),
    );
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    h.insert(
        header::X_FRAME_OPTIONS,
        HeaderValue::from_static("SAMEORIGIN"),
    );
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    Ok(res)
}

// ---------------------------------------------------------------- decisions

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct DecisionForm {
    csrf: Option<String>,
    reason: String,
}

pub async fn approve(
    state: State<WebState>,
    staff: Staff,
    path: Path<String>,
    form: Form<DecisionForm>,
) -> Result<Response, AppError> {
    decide(state, staff, path, form, VerificationStatus::Verified).await
}

pub async fn reject(
    state: State<WebState>,
    staff: Staff,
    path: Path<String>,
    form: Form<DecisionForm>,
) -> Result<Response, AppError> {
    decide(state, staff, path, form, VerificationStatus::Rejected).await
}

async fn decide(
    State(state): State<WebState>,
    staff: Staff,
    Path(id): Path<String>,
    Form(f): Form<DecisionForm>,
    to: VerificationStatus,
) -> Result<Response, AppError> {
    staff.check_csrf(f.csrf.as_deref())?;
    let id = session_id(&id).ok_or_else(AppError::not_found)?.to_string();
    if !staff.user.role.can_decide() {
        return Err(deny(&state, &staff, &id, "decision").await);
    }
    let reason = f.reason.trim();
    if reason.is_empty() {
        return Err(AppError::bad_request(
            "Give a reason for the decision; it is kept with the session.",
        ));
    }
    if reason.chars().count() > MAX_REASON_CHARS
        || reason
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err(AppError::bad_request(format!(
            "The reason must be plain text of at most {MAX_REASON_CHARS} characters."
        )));
    }
    let store = &state.app.store;
    store.vs_get(&id).await?.ok_or_else(AppError::not_found)?;
    let t = Transition {
        actor: staff.email().to_string(),
        reason: Some(reason.replace("\r\n", "\n")),
        expected_from: Some(VerificationStatus::RequiresReview),
        last_error: None,
    };
    match store.vs_transition(&id, to, t).await {
        Ok(_) => {}
        Err(StoreError::InvalidTransition { from, .. }) => {
            return Err(AppError::conflict(format!(
                "This session is {} and no longer waits for a decision.",
                VerificationStatus::parse(from)
                    .map(status_label)
                    .unwrap_or(from)
            )));
        }
        Err(e) => return Err(e.into()),
    }
    let mut res =
        Redirect::to(&format!("/verifications/{id}?done={}", to.as_str())).into_response();
    *res.status_mut() = StatusCode::SEE_OTHER;
    Ok(res)
}

pub async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        CSS,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_and_ids() {
        assert_eq!(mask_email("ana.ruiz@example.com"), "a•••@e•••.com");
        assert_eq!(mask_email("nope"), "•••");
        assert_eq!(mask_name("Ana María Ruiz"), "A. M. R.");
        assert_eq!(session_id("vs_abc234"), Some("vs_abc234"));
        assert_eq!(session_id("vs_"), None);
        assert_eq!(session_id("vs_../x"), None);
        assert_eq!(document_id("vdoc_abc"), Some("vdoc_abc"));
        assert_eq!(document_id("vs_abc"), None);
    }

    #[test]
    fn addresses_are_listed_without_empty_fields() {
        let rows = address_rows(Some(
            r#"{"city":"Madrid","line1":"1 Calle Mayor","line2":null,"postal_code":""}"#,
        ));
        assert_eq!(
            rows,
            vec![
                ("Address line 1".to_string(), "1 Calle Mayor".to_string()),
                ("City".to_string(), "Madrid".to_string())
            ]
        );
        assert!(address_rows(Some("not json")).is_empty());
        assert!(address_rows(None).is_empty());
    }
}
