//! The pages: the queue, a held message, the audit log (and its CSV), staff accounts.

use crate::actions::{HoldPath, is_own, required_approvals};
use crate::auth::{Staff, now_ms};
use crate::preview::{self, MessageView, mask_plain};
use crate::util::{Form, Nav, Query, clip, ip_details, parse_date, urlencode, waited};
use crate::{AppError, WebState};
use askama::Template;
use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse, Redirect, Response};
use doublecheck_engine::DETECTOR_IDS;
use doublecheck_store::{AuditEntry, AuditQuery, HoldStatus, QueueQuery, Role, rfc3339};
use serde::Deserialize;

const PAGE: u32 = 50;
const AUDIT_PAGE: u32 = 100;
const CSV_MAX_ROWS: usize = 100_000;

fn render(t: &impl Template) -> Result<Response, AppError> {
    Ok(Html(t.render().map_err(AppError::internal)?).into_response())
}

// ---------------------------------------------------------------- the queue

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct QueueParams {
    status: Option<String>,
    sender: Option<String>,
    detector: Option<String>,
    age: Option<String>,
    cursor: Option<String>,
}

pub struct Row {
    pub id: String,
    /// The decoded subject, masked; empty when the message has none.
    pub subject: String,
    pub status: &'static str,
    pub waited: String,
    pub created_at: String,
    pub sender: String,
    pub recipients: u64,
    pub reason: String,
    pub detectors: String,
    pub severity: &'static str,
    pub assignee: String,
    pub approvals: i64,
}

pub struct Opt {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "holds.html")]
struct QueuePage {
    nav: Option<Nav>,
    rows: Vec<Row>,
    counts: Vec<(String, i64)>,
    statuses: Vec<Opt>,
    detectors: Vec<Opt>,
    ages: Vec<Opt>,
    sender: String,
    agent: bool,
    next: Option<String>,
    first: Option<String>,
}

const AGES: [(&str, &str, i64); 5] = [
    ("", "any time", 0),
    ("1h", "1 hour or more", 3_600_000),
    ("4h", "4 hours or more", 4 * 3_600_000),
    ("24h", "1 day or more", 86_400_000),
    ("7d", "7 days or more", 7 * 86_400_000),
];

pub async fn queue(
    State(state): State<WebState>,
    staff: Staff,
    Query(p): Query<QueueParams>,
) -> Result<Response, AppError> {
    let agent = staff.user.role == Role::Agent;
    let status_param = p.status.as_deref().unwrap_or("held");
    let status = match status_param {
        "all" => None,
        s => Some(
            HoldStatus::parse(s).ok_or_else(|| AppError::bad_request("Unknown status filter."))?,
        ),
    };
    let sender = if agent {
        Some(staff.email().to_string())
    } else {
        p.sender
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                if s.len() > 254 {
                    Err(AppError::bad_request("The sender filter is too long."))
                } else {
                    Ok(s.to_string())
                }
            })
            .transpose()?
    };
    let detector = p
        .detector
        .as_deref()
        .filter(|d| !d.is_empty())
        .map(|d| {
            DETECTOR_IDS
                .iter()
                .find(|k| **k == d)
                .map(|k| k.to_string())
                .ok_or_else(|| AppError::bad_request("Unknown detector filter."))
        })
        .transpose()?;
    let age = p.age.as_deref().unwrap_or("");
    let age_ms = AGES
        .iter()
        .find(|a| a.0 == age)
        .map(|a| a.2)
        .ok_or_else(|| AppError::bad_request("Unknown age filter."))?;
    let now = now_ms();
    let before = match p.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => {
            let (ms, id) = c
                .split_once('.')
                .and_then(|(ms, id)| Some((ms.parse::<i64>().ok()?, crate::util::hold_id(id)?)))
                .ok_or_else(|| AppError::bad_request("That page link is not valid."))?;
            Some((ms, id.to_string()))
        }
    };
    let q = QueueQuery {
        status,
        sender: sender.clone(),
        detector: detector.clone(),
        created_before_ms: (age_ms > 0).then(|| now - age_ms),
        before,
        limit: PAGE,
    };
    let store = &state.app.store;
    let page = store.queue(&q).await?;
    let counts = store
        .queue_counts(if agent { Some(staff.email()) } else { None })
        .await?;

    let rows = page
        .items
        .iter()
        .map(|it| {
            let h = &it.hold;
            Row {
                id: h.id.clone(),
                subject: mask_plain(&state, &h.subject),
                status: h.status.as_str(),
                waited: match h.status {
                    HoldStatus::Held => waited(now - h.created_at_ms),
                    _ => format!(
                        "{} {}",
                        h.status,
                        h.decided_at_ms.map(rfc3339).unwrap_or_default()
                    ),
                },
                created_at: h.created_at.clone(),
                sender: h.sender.clone().unwrap_or_else(|| h.mail_from.clone()),
                recipients: h.rcpt_count,
                reason: mask_plain(&state, &clip(&h.reason, 200)),
                detectors: it.detectors.join(", "),
                severity: it
                    .max_severity
                    .map(doublecheck_store::severity_name)
                    .unwrap_or(""),
                assignee: it.assignee.clone().unwrap_or_default(),
                approvals: it.approvals,
            }
        })
        .collect();

    let filters = |cursor: Option<&str>| {
        let mut qs = vec![format!("status={}", urlencode(status_param))];
        if !agent && let Some(s) = &sender {
            qs.push(format!("sender={}", urlencode(s)));
        }
        if let Some(d) = &detector {
            qs.push(format!("detector={}", urlencode(d)));
        }
        if !age.is_empty() {
            qs.push(format!("age={}", urlencode(age)));
        }
        if let Some(c) = cursor {
            qs.push(format!("cursor={}", urlencode(c)));
        }
        format!("/holds?{}", qs.join("&"))
    };
    let next = page
        .next
        .as_ref()
        .map(|(ms, id)| filters(Some(&format!("{ms}.{id}"))));
    let first = p.cursor.as_ref().map(|_| filters(None));

    let opt = |value: &str, label: &str, selected: bool| Opt {
        value: value.into(),
        label: label.into(),
        selected,
    };
    let statuses = ["held", "released", "rejected", "all"]
        .iter()
        .map(|s| opt(s, s, *s == status_param))
        .collect();
    let mut detectors = vec![opt("", "any detector", detector.is_none())];
    detectors.extend(
        DETECTOR_IDS
            .iter()
            .map(|d| opt(d, d, detector.as_deref() == Some(*d))),
    );
    let ages = AGES.iter().map(|a| opt(a.0, a.1, a.0 == age)).collect();
    render(&QueuePage {
        nav: Some(staff.nav()),
        rows,
        counts: counts
            .into_iter()
            .map(|(s, n)| (s.as_str().to_string(), n))
            .collect(),
        statuses,
        detectors,
        ages,
        sender: if agent {
            String::new()
        } else {
            sender.unwrap_or_default()
        },
        agent,
        next,
        first,
    })
}

// ---------------------------------------------------------------- one held message

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct HoldParams {
    done: Option<String>,
}

#[derive(Template)]
#[template(path = "hold.html")]
struct HoldPage {
    nav: Option<Nav>,
    id: String,
    /// The decoded subject, masked as in the headers panel; empty when there is none.
    subject: String,
    status: &'static str,
    created_at: String,
    waited: String,
    mail_from: String,
    rcpt_to: Vec<String>,
    sender: String,
    queue_id: String,
    size: String,
    sha256: String,
    reason: String,
    decided: Option<String>,
    view: MessageView,
    flash: Option<&'static str>,
    can_act: bool,
    own: bool,
    agent: bool,
    required: i64,
    approvals: Vec<(String, String, String)>,
    assignee: String,
    reviewers: Vec<String>,
    fix: Option<String>,
    fix_pending: bool,
}

fn flash(code: Option<&str>) -> Option<&'static str> {
    Some(match code? {
        "approval_recorded" => {
            "Your approval is recorded. A second reviewer must approve before the message is released."
        }
        "released" => "Approved and released.",
        "rejected" => "Rejected: the message will not be delivered.",
        "fixed" => "Fixed and released: the fixed message was checked again and delivered.",
        "reassigned" => "Reassigned.",
        _ => return None,
    })
}

pub async fn hold(
    State(state): State<WebState>,
    staff: Staff,
    HoldPath(id): HoldPath,
    Query(p): Query<HoldParams>,
) -> Result<Response, AppError> {
    let store = &state.app.store;
    let hold = store.get_hold(&id).await?.ok_or_else(AppError::not_found)?;
    let own = is_own(&hold, staff.email());
    let agent = staff.user.role == Role::Agent;
    if agent && !own {
        return Err(AppError::not_found());
    }
    store
        .audit(
            staff.email(),
            "hold.view",
            &id,
            &serde_json::Value::Object(ip_details(&staff.ip)).to_string(),
        )
        .await?;
    let required = required_approvals(&state, &hold);
    let approvals = store
        .hold_approvals(&id)
        .await?
        .into_iter()
        .map(|a| {
            (
                a.approver,
                rfc3339(a.at_ms),
                mask_plain(&state, &a.justification),
            )
        })
        .collect();
    let assignee = store
        .hold_assignment(&id)
        .await?
        .map(|a| a.assignee)
        .unwrap_or_default();
    let fix = store.hold_fix(&id).await?;
    let can_act = staff.user.role.can_decide() && hold.status == HoldStatus::Held && !own;
    let reviewers = if can_act {
        store
            .user_list()
            .await?
            .into_iter()
            .filter(|u| u.role.can_decide() && !u.disabled && !is_own(&hold, &u.email))
            .map(|u| u.email)
            .collect()
    } else {
        Vec::new()
    };
    let st = state.clone();
    let h2 = hold.clone();
    let view = tokio::task::spawn_blocking(move || preview::build(&st, &h2))
        .await
        .map_err(AppError::internal)?;
    let now = now_ms();
    let subject = view
        .headers
        .iter()
        .find(|h| h.name == "Subject")
        .map(|h| clip(&h.value, doublecheck_store::MAX_SUBJECT_CHARS))
        .unwrap_or_default();
    render(&HoldPage {
        nav: Some(staff.nav()),
        subject,
        status: hold.status.as_str(),
        created_at: hold.created_at.clone(),
        waited: waited(now - hold.created_at_ms),
        mail_from: hold.mail_from.clone(),
        rcpt_to: hold.rcpt_to.iter().take(1000).cloned().collect(),
        sender: hold.sender.clone().unwrap_or_default(),
        queue_id: hold.queue_id.clone().unwrap_or_default(),
        size: preview::human_size(hold.raw_size),
        sha256: hold.raw_sha256.clone(),
        reason: mask_plain(&state, &hold.reason),
        decided: hold.decided_by.as_ref().map(|by| {
            format!(
                "{} by {by} at {}{}",
                hold.status,
                hold.decided_at.as_deref().unwrap_or("?"),
                hold.decision_reason
                    .as_deref()
                    .map(|r| format!(": {}", mask_plain(&state, r)))
                    .unwrap_or_default()
            )
        }),
        view,
        flash: flash(p.done.as_deref()),
        can_act,
        own,
        agent,
        required,
        approvals,
        assignee,
        reviewers,
        fix_pending: fix.as_ref().is_some_and(|f| f.delivered_at_ms.is_none())
            && staff.user.role.can_decide(),
        fix: fix.map(|f| {
            format!(
                "{}{} by {} at {}{}",
                f.fix.as_str(),
                f.part.map(|p| format!(" (part {p})")).unwrap_or_default(),
                f.actor,
                rfc3339(f.at_ms),
                match f.delivered_at_ms {
                    Some(d) => format!("; delivered at {}", rfc3339(d)),
                    None => "; not delivered yet".into(),
                }
            )
        }),
        id,
    })
}

// ---------------------------------------------------------------- the audit log

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct AuditParams {
    actor: Option<String>,
    action: Option<String>,
    from: Option<String>,
    to: Option<String>,
    before: Option<String>,
}

pub struct AuditRow {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub ip: String,
    pub details: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    nav: Option<Nav>,
    rows: Vec<AuditRow>,
    actor: String,
    action: String,
    from: String,
    to: String,
    older: Option<String>,
    csv: String,
}

fn audit_query(p: &AuditParams) -> Result<(AuditQuery, String), AppError> {
    let text = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let actor = text(&p.actor);
    let action = text(&p.action);
    if actor.as_ref().is_some_and(|a| a.len() > 254)
        || action.as_ref().is_some_and(|a| a.len() > 100)
    {
        return Err(AppError::bad_request("A filter is too long."));
    }
    let date = |v: &Option<String>, what: &str| -> Result<Option<i64>, AppError> {
        match text(v) {
            None => Ok(None),
            Some(d) => parse_date(&d).map(Some).ok_or_else(|| {
                AppError::bad_request(format!("The {what} date must be written YYYY-MM-DD."))
            }),
        }
    };
    let from_ms = date(&p.from, "from")?;
    let to_ms = date(&p.to, "to")?.map(|d| d + 86_400_000);
    let before_seq = match text(&p.before) {
        None => None,
        Some(b) => Some(
            b.parse::<i64>()
                .map_err(|_| AppError::bad_request("That page link is not valid."))?,
        ),
    };
    let mut qs = Vec::new();
    for (k, v) in [
        ("actor", &actor),
        ("action", &action),
        ("from", &text(&p.from)),
        ("to", &text(&p.to)),
    ] {
        if let Some(v) = v {
            qs.push(format!("{k}={}", urlencode(v)));
        }
    }
    Ok((
        AuditQuery {
            actor,
            action,
            from_ms,
            to_ms,
            before_seq,
            limit: AUDIT_PAGE,
        },
        qs.join("&"),
    ))
}

fn audit_row(state: &WebState, e: AuditEntry) -> AuditRow {
    let details: serde_json::Value =
        serde_json::from_str(&e.details_json).unwrap_or(serde_json::Value::Null);
    let ip = details["ip"].as_str().unwrap_or("").to_string();
    AuditRow {
        seq: e.seq,
        at: e.at,
        actor: e.actor,
        action: e.action,
        subject: e.subject,
        ip,
        details: mask_plain(state, &clip(&e.details_json, 600)),
    }
}

pub async fn audit(
    State(state): State<WebState>,
    staff: Staff,
    Query(p): Query<AuditParams>,
) -> Result<Response, AppError> {
    staff.require_admin()?;
    let (q, qs) = audit_query(&p)?;
    let entries = state.app.store.audit_search(&q).await?;
    let older = (entries.len() == AUDIT_PAGE as usize)
        .then(|| entries.last().map(|e| e.seq))
        .flatten()
        .map(|seq| {
            if qs.is_empty() {
                format!("/audit?before={seq}")
            } else {
                format!("/audit?{qs}&before={seq}")
            }
        });
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    render(&AuditPage {
        nav: Some(staff.nav()),
        rows: entries.into_iter().map(|e| audit_row(&state, e)).collect(),
        actor: text(&p.actor),
        action: text(&p.action),
        from: text(&p.from),
        to: text(&p.to),
        older,
        csv: if qs.is_empty() {
            "/audit.csv".into()
        } else {
            format!("/audit.csv?{qs}")
        },
    })
}

/// A CSV field: quoted when needed, and never read as a formula by a spreadsheet.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

pub async fn audit_csv(
    State(state): State<WebState>,
    staff: Staff,
    Query(p): Query<AuditParams>,
) -> Result<Response, AppError> {
    staff.require_admin()?;
    let (mut q, _) = audit_query(&p)?;
    q.limit = 1000;
    let store = &state.app.store;
    let mut out = String::from("seq,at,actor,action,subject,ip,details,hash\r\n");
    let mut rows = 0;
    loop {
        let page = store.audit_search(&q).await?;
        let Some(last) = page.last().map(|e| e.seq) else {
            break;
        };
        for e in page {
            let hash = e.hash.clone();
            let r = audit_row(&state, e);
            let fields = [
                r.seq.to_string(),
                r.at,
                r.actor,
                r.action,
                r.subject,
                r.ip,
                r.details,
                hash,
            ];
            let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
            out.push_str(&line.join(","));
            out.push_str("\r\n");
            rows += 1;
        }
        if rows >= CSV_MAX_ROWS {
            break;
        }
        q.before_seq = Some(last);
    }
    let mut d = ip_details(&staff.ip);
    d.insert("rows".into(), rows.into());
    store
        .audit(
            staff.email(),
            "audit.export",
            "audit_log",
            &serde_json::Value::Object(d).to_string(),
        )
        .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"doublecheck-audit.csv\"",
            ),
        ],
        out,
    )
        .into_response())
}

// ---------------------------------------------------------------- staff accounts

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct UsersParams {
    done: Option<String>,
}

pub struct UserRow {
    pub email: String,
    pub role: &'static str,
    pub disabled: bool,
    pub created_at: String,
    pub me: bool,
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    nav: Option<Nav>,
    users: Vec<UserRow>,
    roles: Vec<&'static str>,
    flash: Option<&'static str>,
}

pub async fn users(
    State(state): State<WebState>,
    staff: Staff,
    Query(p): Query<UsersParams>,
) -> Result<Response, AppError> {
    staff.require_admin()?;
    let users = state
        .app
        .store
        .user_list()
        .await?
        .into_iter()
        .map(|u| UserRow {
            me: u.email == staff.user.email,
            email: u.email,
            role: u.role.as_str(),
            disabled: u.disabled,
            created_at: u.created_at,
        })
        .collect();
    render(&UsersPage {
        nav: Some(staff.nav()),
        users,
        roles: Role::ALL.iter().map(|r| r.as_str()).collect(),
        flash: match p.done.as_deref() {
            Some("added") => Some("Account added."),
            Some("role") => Some("Role changed."),
            Some("disabled") => Some("Account disabled; its sessions have ended."),
            Some("enabled") => Some("Account enabled."),
            Some("password") => Some("Password set; that account's sessions have ended."),
            _ => None,
        },
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct UserForm {
    csrf: Option<String>,
    email: String,
    role: String,
    password: String,
}

fn parse_role(s: &str) -> Result<Role, AppError> {
    Role::parse(s).ok_or_else(|| AppError::bad_request("Choose a role: agent, reviewer or admin."))
}

pub async fn user_add(
    State(state): State<WebState>,
    staff: Staff,
    Form(f): Form<UserForm>,
) -> Result<Response, AppError> {
    staff.check_csrf(f.csrf.as_deref())?;
    staff.require_admin()?;
    let role = parse_role(&f.role)?;
    let email = doublecheck_store::normalize_email(&f.email)?;
    if let Some(problem) = crate::password::problem_for(&email, &f.password) {
        return Err(AppError::bad_request(problem));
    }
    let hash = crate::password::hash(f.password)
        .await
        .map_err(AppError::internal)?;
    state
        .app
        .store
        .user_add(&email, role, &hash, staff.email(), &ip_details(&staff.ip))
        .await?;
    Ok(Redirect::to("/users?done=added").into_response())
}

fn not_yourself(staff: &Staff, email: &str, what: &str) -> Result<String, AppError> {
    let email = doublecheck_store::normalize_email(email)?;
    if email == staff.user.email {
        return Err(AppError::conflict(format!(
            "You cannot {what} your own account; ask another administrator."
        )));
    }
    Ok(email)
}

pub async fn user_role(
    State(state): State<WebState>,
    staff: Staff,
    Form(f): Form<UserForm>,
) -> Result<Response, AppError> {
    staff.check_csrf(f.csrf.as_deref())?;
    staff.require_admin()?;
    let role = parse_role(&f.role)?;
    let email = not_yourself(&staff, &f.email, "change the role of")?;
    state
        .app
        .store
        .user_set_role(&email, role, staff.email(), &ip_details(&staff.ip))
        .await?;
    Ok(Redirect::to("/users?done=role").into_response())
}

pub async fn user_disable(
    State(state): State<WebState>,
    staff: Staff,
    Form(f): Form<UserForm>,
) -> Result<Response, AppError> {
    set_disabled(state, staff, f, true).await
}

pub async fn user_enable(
    State(state): State<WebState>,
    staff: Staff,
    Form(f): Form<UserForm>,
) -> Result<Response, AppError> {
    set_disabled(state, staff, f, false).await
}

async fn set_disabled(
    state: WebState,
    staff: Staff,
    f: UserForm,
    disabled: bool,
) -> Result<Response, AppError> {
    staff.check_csrf(f.csrf.as_deref())?;
    staff.require_admin()?;
    let email = not_yourself(&staff, &f.email, "disable or enable")?;
    state
        .app
        .store
        .user_set_disabled(&email, disabled, staff.email(), &ip_details(&staff.ip))
        .await?;
    Ok(Redirect::to(if disabled {
        "/users?done=disabled"
    } else {
        "/users?done=enabled"
    })
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(csv_field("-1,2"), "\"'-1,2\"");
    }
}
