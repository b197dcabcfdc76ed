//! `/account`: a signed-in person changes their own password (the current one first; every
//! other session of theirs ends), and `/users/password`: an administrator sets a new password
//! for someone else (all of that person's sessions end). Both are in the audit log
//! (`user.password`); a wrong current password counts as a failed sign-in of the account (the
//! same throttle) and is audited as `user.password_denied`.

use crate::auth::{Staff, now_ms};
use crate::util::{Form, Nav, Query, ip_details};
use crate::{AppError, WebState};
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct AccountParams {
    done: Option<String>,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    nav: Option<Nav>,
    flash: Option<&'static str>,
    error: Option<String>,
    min_chars: usize,
}

fn page(
    staff: &Staff,
    status: StatusCode,
    flash: Option<&'static str>,
    error: Option<String>,
) -> Result<Response, AppError> {
    let html = AccountPage {
        nav: Some(staff.nav()),
        flash,
        error,
        min_chars: crate::password::MIN_PASSWORD_CHARS,
    }
    .render()
    .map_err(AppError::internal)?;
    Ok((status, Html(html)).into_response())
}

pub async fn account(staff: Staff, Query(p): Query<AccountParams>) -> Result<Response, AppError> {
    let flash = match p.done.as_deref() {
        Some("password") => Some("Password changed. Your other sessions have ended."),
        _ => None,
    };
    page(&staff, StatusCode::OK, flash, None)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PasswordForm {
    csrf: Option<String>,
    current: String,
    password: String,
    again: String,
}

/// Changes the signed-in person's password: current password required, the new one twice.
pub async fn change_password(
    State(state): State<WebState>,
    staff: Staff,
    Form(f): Form<PasswordForm>,
) -> Result<Response, AppError> {
    staff.check_csrf(f.csrf.as_deref())?;
    let store = &state.app.store;
    let web = state.web();
    let key = format!("account:{}", staff.email());
    let since = now_ms() - (web.login_window_secs as i64).saturating_mul(1000);
    if store.login_failures_since(&key, since).await? >= i64::from(web.max_login_failures) {
        let mut res = AppError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many wrong passwords",
            format!(
                "Password changes are paused for this account after too many wrong passwords. \
                 Wait {} minutes and try again.",
                web.login_window_secs.div_ceil(60)
            ),
        )
        .into_response();
        res.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(web.login_window_secs),
        );
        return Ok(res);
    }
    let ok = crate::password::verify(f.current.clone(), staff.user.password_hash.clone()).await;
    if !ok {
        store.login_failure(&[key.as_str()]).await?;
        let mut d = ip_details(&staff.ip);
        d.insert("why".into(), "wrong current password".into());
        store
            .audit(
                staff.email(),
                "user.password_denied",
                staff.email(),
                &serde_json::Value::Object(d).to_string(),
            )
            .await?;
        return page(
            &staff,
            StatusCode::FORBIDDEN,
            None,
            Some("Your current password is not right. Nothing was changed.".into()),
        );
    }
    if let Some(problem) = crate::password::problem_for(staff.email(), &f.password) {
        return page(&staff, StatusCode::BAD_REQUEST, None, Some(problem));
    }
    if f.password != f.again {
        return page(
            &staff,
            StatusCode::BAD_REQUEST,
            None,
            Some("The two new passwords differ. Nothing was changed.".into()),
        );
    }
    if f.password == f.current {
        return page(
            &staff,
            StatusCode::BAD_REQUEST,
            None,
            Some("The new password is the current one. Choose another.".into()),
        );
    }
    let hash = crate::password::hash(f.password)
        .await
        .map_err(AppError::internal)?;
    store
        .user_set_password(
            staff.email(),
            &hash,
            staff.email(),
            Some(&staff.session.id_hash),
            &ip_details(&staff.ip),
        )
        .await?;
    Ok(Redirect::to("/account?done=password").into_response())
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ResetForm {
    csrf: Option<String>,
    email: String,
    password: String,
}

/// An administrator sets a new password for another account; all its sessions end.
pub async fn reset_password(
    State(state): State<WebState>,
    staff: Staff,
    Form(f): Form<ResetForm>,
) -> Result<Response, AppError> {
    staff.check_csrf(f.csrf.as_deref())?;
    staff.require_admin()?;
    let email = doublecheck_store::normalize_email(&f.email)?;
    if email == staff.user.email {
        return Err(AppError::conflict(
            "Change your own password on your account page, with your current password.",
        ));
    }
    if let Some(problem) = crate::password::problem_for(&email, &f.password) {
        return Err(AppError::bad_request(problem));
    }
    let hash = crate::password::hash(f.password)
        .await
        .map_err(AppError::internal)?;
    state
        .app
        .store
        .user_set_password(&email, &hash, staff.email(), None, &ip_details(&staff.ip))
        .await?;
    Ok(Redirect::to("/users?done=password").into_response())
}
