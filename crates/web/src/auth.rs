//! Signing in and out, sessions, CSRF tokens and the Origin check.
//!
//! - The session cookie holds 256 random bits; the store keeps only their SHA-256, with the
//!   session's CSRF token, its start and its last request. A session ends after
//!   `web.session_idle_secs` without a request or `web.session_absolute_secs` after sign-in, when
//!   its user is disabled, and at sign-out (here, or everywhere).
//! - Every sign-in makes a new session id (a cookie planted before sign-in is worthless); the
//!   session the browser had before is ended.
//! - Cookies: `HttpOnly; SameSite=Strict; Path=/`, `Secure` under `web.secure_cookies`.
//! - Every form carries the session's CSRF token (the sign-in form: a token that its own cookie
//!   repeats); a post without the right one is refused (403). Posts whose `Origin` (or, without
//!   one, `Referer`) is another origin are refused before any handler runs (403).
//! - Sign-in failures are counted per account and per client address; past
//!   `web.max_login_failures` within `web.login_window_secs` further attempts are refused (429)
//!   without checking the password.

use crate::util::{
    ClientIp, Form, Nav, Query, client_ip, cookie, ip_details, random_token, safe_next,
    same_secret, urlencode,
};
use crate::{AppError, WebState};
use askama::Template;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use doublecheck_store::{User, WebSession, normalize_email, sha256_hex};
use serde::Deserialize;

pub const SESSION_COOKIE: &str = "dc_session";
pub const LOGIN_COOKIE: &str = "dc_login";

/// A signed-in member of staff, for handlers that need one. Signed out: a redirect to the
/// sign-in page (which comes back here afterwards).
pub struct Staff {
    pub user: User,
    pub session: WebSession,
    pub ip: String,
}

impl Staff {
    pub fn email(&self) -> &str {
        &self.user.email
    }

    pub fn nav(&self) -> Nav {
        Nav {
            email: self.user.email.clone(),
            role: self.user.role.as_str(),
            csrf: self.session.csrf_token.clone(),
            is_admin: self.user.role.is_admin(),
        }
    }

    /// The form's CSRF token must be this session's.
    pub fn check_csrf(&self, token: Option<&str>) -> Result<(), AppError> {
        match token {
            Some(t) if same_secret(t, &self.session.csrf_token) => Ok(()),
            _ => Err(AppError::forbidden(
                "The form is missing its security token or it does not match your session. \
                 Reload the page and try again.",
            )),
        }
    }

    pub fn require_decider(&self) -> Result<(), AppError> {
        if self.user.role.can_decide() {
            Ok(())
        } else {
            Err(AppError::forbidden(
                "Agents can see their held messages and why they were held; a reviewer decides on them.",
            ))
        }
    }

    pub fn require_admin(&self) -> Result<(), AppError> {
        if self.user.role.is_admin() {
            Ok(())
        } else {
            Err(AppError::forbidden(
                "Only administrators can open this page.",
            ))
        }
    }
}

impl FromRequestParts<WebState> for Staff {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &WebState,
    ) -> Result<Self, Self::Rejection> {
        let ip = client_ip(parts, state.web());
        match current_session(state, &parts.headers).await {
            Ok(Some(session)) => Ok(Staff {
                user: session.user.clone(),
                session,
                ip,
            }),
            Ok(None) => Err(to_login(parts)),
            Err(e) => Err(e.into_response()),
        }
    }
}

/// Where a signed-out request goes: the sign-in page, coming back to the page asked for.
fn to_login(parts: &Parts) -> Response {
    if parts.method == Method::GET || parts.method == Method::HEAD {
        let here = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/holds");
        Redirect::to(&format!(
            "/login?next={}",
            urlencode(&safe_next(Some(here)))
        ))
        .into_response()
    } else {
        Redirect::to("/login").into_response()
    }
}

fn session_id_shape(id: &str) -> bool {
    id.len() == 43
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The request's live session, if any. Expired sessions (idle or absolute) and sessions of
/// disabled users are ended here.
pub async fn current_session(
    state: &WebState,
    headers: &HeaderMap,
) -> Result<Option<WebSession>, AppError> {
    let Some(id) = cookie(headers, SESSION_COOKIE).filter(|c| session_id_shape(c)) else {
        return Ok(None);
    };
    let id_hash = sha256_hex(id.as_bytes());
    let Some(s) = state.app.store.session_get(&id_hash).await? else {
        return Ok(None);
    };
    let web = state.web();
    let now = now_ms();
    let idle_ms = (web.session_idle_secs as i64).saturating_mul(1000);
    let absolute_ms = (web.session_absolute_secs as i64).saturating_mul(1000);
    if s.user.disabled || now - s.last_seen_ms > idle_ms || now - s.created_at_ms > absolute_ms {
        state.app.store.session_delete(&id_hash).await?;
        return Ok(None);
    }
    // Record activity now and then, not at every request.
    if now - s.last_seen_ms > (idle_ms / 4).min(60_000) {
        state.app.store.session_touch(&id_hash).await?;
    }
    Ok(Some(s))
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn cookie_header(
    state: &WebState,
    name: &str,
    value: &str,
    path: &str,
    max_age: u64,
) -> HeaderValue {
    let secure = if state.web().secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let v = format!(
        "{name}={value}; Path={path}; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    );
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The origin this app is served from, as browsers name it.
fn expected_origin(state: &WebState, headers: &HeaderMap) -> Option<String> {
    if let Some(o) = &state.web().public_origin {
        return Some(o.trim_end_matches('/').to_ascii_lowercase());
    }
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let scheme = if state.web().secure_cookies {
        "https"
    } else {
        "http"
    };
    Some(format!("{scheme}://{}", host.to_ascii_lowercase()))
}

/// Refuses posts from another origin (403): `Origin` must be ours; without `Origin`, a
/// `Referer` must be on our origin. Requests with neither (not from a browser) rely on the
/// CSRF token alone.
pub async fn origin_guard(State(state): State<WebState>, req: Request, next: Next) -> Response {
    if req.method() == Method::GET || req.method() == Method::HEAD {
        return next.run(req).await;
    }
    let headers = req.headers();
    let expected = expected_origin(&state, headers);
    let origin = headers
        .get(header::ORIGIN)
        .map(|v| v.to_str().unwrap_or("invalid").to_ascii_lowercase());
    let referer = headers
        .get(header::REFERER)
        .map(|v| v.to_str().unwrap_or("invalid").to_ascii_lowercase());
    let ok = match (&origin, &referer, &expected) {
        (Some(o), _, Some(e)) => o == e,
        (None, Some(r), Some(e)) => r == e || r.starts_with(&format!("{e}/")),
        (None, None, _) => true,
        _ => false,
    };
    if ok {
        next.run(req).await
    } else {
        tracing::warn!(
            origin = origin.as_deref().unwrap_or(""),
            "review queue: refused a cross-origin post"
        );
        AppError::forbidden(
            "This form was sent from another site. Open the review queue directly and try again.",
        )
        .into_response()
    }
}

// ---------------------------------------------------------------- sign-in

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    nav: Option<Nav>,
    csrf: String,
    next: String,
    email: String,
    notice: Option<&'static str>,
    error: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LoginQuery {
    next: Option<String>,
    signed_out: Option<String>,
}

pub async fn login_page(
    State(state): State<WebState>,
    Query(q): Query<LoginQuery>,
) -> Result<Response, AppError> {
    let notice = q.signed_out.is_some().then_some("You are signed out.");
    login_form(
        &state,
        StatusCode::OK,
        safe_next(q.next.as_deref()),
        String::new(),
        notice,
        None,
    )
}

fn login_form(
    state: &WebState,
    status: StatusCode,
    next: String,
    email: String,
    notice: Option<&'static str>,
    error: Option<String>,
) -> Result<Response, AppError> {
    let csrf = random_token(32)?;
    let page = LoginPage {
        nav: None,
        csrf: csrf.clone(),
        next,
        email,
        notice,
        error,
    };
    let html = page.render().map_err(AppError::internal)?;
    let mut res = (status, Html(html)).into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(state, LOGIN_COOKIE, &csrf, "/login", 3600),
    );
    Ok(res)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LoginForm {
    email: String,
    password: String,
    csrf: Option<String>,
    next: Option<String>,
}

pub async fn login(
    State(state): State<WebState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Result<Response, AppError> {
    let store = &state.app.store;
    let next = safe_next(f.next.as_deref());
    // The form must come from our own sign-in page (its token is repeated in its cookie).
    match (cookie(&headers, LOGIN_COOKIE), f.csrf.as_deref()) {
        (Some(c), Some(t)) if !c.is_empty() && same_secret(&c, t) => {}
        _ => {
            return Err(AppError::forbidden(
                "The sign-in form expired or was not sent from this site. Reload the page and sign in again.",
            ));
        }
    }
    let email = normalize_email(&f.email).ok();
    let web = state.web();
    let since = now_ms() - (web.login_window_secs as i64).saturating_mul(1000);
    let ip_key = format!("ip:{ip}");
    let account_key = email.as_ref().map(|e| format!("account:{e}"));
    let max = i64::from(web.max_login_failures);
    let mut throttled = store.login_failures_since(&ip_key, since).await? >= max;
    if let Some(k) = &account_key {
        throttled = throttled || store.login_failures_since(k, since).await? >= max;
    }
    let actor = email.clone().unwrap_or_else(|| "anonymous".to_string());
    if throttled {
        let mut d = ip_details(&ip);
        d.insert("why".into(), "too many failed sign-ins".into());
        store
            .audit(
                &actor,
                "auth.throttled",
                &actor,
                &serde_json::Value::Object(d).to_string(),
            )
            .await?;
        let minutes = web.login_window_secs.div_ceil(60);
        let mut res = AppError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed sign-ins",
            format!(
                "Sign-in is paused for this account or this address after {max} failed attempts. \
                 Wait {minutes} minutes and try again, or ask an administrator."
            ),
        )
        .into_response();
        res.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(web.login_window_secs),
        );
        return Ok(res);
    }
    let user = match &email {
        Some(e) => store.user_get(e).await?,
        None => None,
    };
    let matches = match &user {
        Some(u) => crate::password::verify(f.password.clone(), u.password_hash.clone()).await,
        None => {
            // The same work as for a real account, so timing does not tell who has one.
            let dummy = state
                .dummy_hash
                .get_or_try_init(|| crate::password::hash("not a real password".into()))
                .await
                .map_err(AppError::internal)?;
            let _ = crate::password::verify(f.password.clone(), dummy.clone()).await;
            false
        }
    };
    let user = match user {
        Some(u) if matches && !u.disabled => u,
        other => {
            let why = match &other {
                None => "unknown account",
                Some(u) if u.disabled && matches => "account disabled",
                Some(_) => "wrong password",
            };
            let mut keys = vec![ip_key.as_str()];
            if let Some(k) = &account_key {
                keys.push(k.as_str());
            }
            store.login_failure(&keys).await?;
            let mut d = ip_details(&ip);
            d.insert("why".into(), why.into());
            store
                .audit(
                    &actor,
                    "auth.login_failed",
                    &actor,
                    &serde_json::Value::Object(d).to_string(),
                )
                .await?;
            let (status, msg) = if why == "account disabled" {
                (
                    StatusCode::FORBIDDEN,
                    "This account is disabled. Ask an administrator.",
                )
            } else {
                (StatusCode::UNAUTHORIZED, "Wrong email or password.")
            };
            return login_form(
                &state,
                status,
                next,
                f.email.chars().take(254).collect(),
                None,
                Some(msg.to_string()),
            );
        }
    };

    // A new session id at every sign-in; the browser's previous session (if any) ends.
    if let Some(old) = cookie(&headers, SESSION_COOKIE).filter(|c| session_id_shape(c)) {
        store.session_delete(&sha256_hex(old.as_bytes())).await?;
    }
    let id = random_token(32)?;
    let csrf = random_token(32)?;
    store
        .session_create(&sha256_hex(id.as_bytes()), &user.email, &csrf, &ip)
        .await?;
    if let Some(k) = &account_key {
        store.login_failures_clear(k).await?;
    }
    let now = now_ms();
    let _ = store
        .session_purge(
            now - (web.session_idle_secs as i64).saturating_mul(1000),
            now - (web.session_absolute_secs as i64).saturating_mul(1000),
            since,
        )
        .await;
    store
        .audit(
            &user.email,
            "auth.login",
            &user.email,
            &serde_json::Value::Object(ip_details(&ip)).to_string(),
        )
        .await?;
    let mut res = Redirect::to(&next).into_response();
    *res.status_mut() = StatusCode::SEE_OTHER;
    let h = res.headers_mut();
    h.append(
        header::SET_COOKIE,
        cookie_header(&state, SESSION_COOKIE, &id, "/", web.session_absolute_secs),
    );
    h.append(
        header::SET_COOKIE,
        cookie_header(&state, LOGIN_COOKIE, "", "/login", 0),
    );
    Ok(res)
}

// ---------------------------------------------------------------- sign-out

#[derive(Template)]
#[template(path = "logout.html")]
struct LogoutPage {
    nav: Option<Nav>,
}

pub async fn logout_page(staff: Staff) -> Result<Response, AppError> {
    let page = LogoutPage {
        nav: Some(staff.nav()),
    };
    Ok(Html(page.render().map_err(AppError::internal)?).into_response())
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LogoutForm {
    csrf: Option<String>,
    everywhere: Option<String>,
}

pub async fn logout(
    State(state): State<WebState>,
    staff: Staff,
    Form(f): Form<LogoutForm>,
) -> Result<Response, AppError> {
    staff.check_csrf(f.csrf.as_deref())?;
    let store = &state.app.store;
    let mut d = ip_details(&staff.ip);
    let action = if f.everywhere.is_some() {
        let n = store.session_delete_user(staff.email()).await?;
        d.insert("sessions_ended".into(), n.into());
        "auth.logout_everywhere"
    } else {
        store.session_delete(&staff.session.id_hash).await?;
        "auth.logout"
    };
    store
        .audit(
            staff.email(),
            action,
            staff.email(),
            &serde_json::Value::Object(d).to_string(),
        )
        .await?;
    let mut res = Redirect::to("/login?signed_out=1").into_response();
    *res.status_mut() = StatusCode::SEE_OTHER;
    res.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(&state, SESSION_COOKIE, "", "/", 0),
    );
    Ok(res)
}
