//! The handlers of the customer's pages (see the module documentation for the path).

use super::CustomerState;
use super::guard::{LANG_COOKIE, PRE_COOKIE, SESSION_COOKIE, client_ip, cookie, set_cookie};
use super::i18n::{Lang, Texts, fill};
use super::limits::{self, Counted, Limit};
use super::sender::CodeMessage;
use crate::secrets::{KNOWN_FIELDS, new_code, normalize_known, sha256_hex, token_shape};
use askama::Template;
use axum::extract::{FromRequest, FromRequestParts, Multipart, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use doublecheck_store::{
    CodeCheck, CodeIssue, LinkState, MessageTemplate, NewDocument, Transition, VerificationLink,
    VerificationSession, VerificationStatus, new_document_id,
};
use std::collections::HashMap;

fn now_ms() -> i64 {
    crate::api::now_ms()
}

// ------------------------------------------------------------------ the visitor

/// Who is asking: language, address, cookies.
pub struct Visitor {
    lang: Lang,
    /// `?lang=` was given: remember it.
    chosen: Option<Lang>,
    ip: String,
    headers: HeaderMap,
}

impl FromRequestParts<CustomerState> for Visitor {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &CustomerState,
    ) -> Result<Self, Self::Rejection> {
        Ok(visitor(parts, state))
    }
}

fn visitor(parts: &Parts, state: &CustomerState) -> Visitor {
    let chosen = parts.uri.query().and_then(|q| {
        q.split('&')
            .filter_map(|p| p.strip_prefix("lang="))
            .find_map(Lang::parse)
    });
    let lang = chosen
        .or_else(|| cookie(&parts.headers, LANG_COOKIE).and_then(|c| Lang::parse(&c)))
        .or_else(|| Lang::from_accept_language(&parts.headers))
        .unwrap_or(Lang::En);
    Visitor {
        lang,
        chosen,
        ip: client_ip(parts, &state.portal.app.config.web.trusted_proxies),
        headers: parts.headers.clone(),
    }
}

impl Visitor {
    fn t(&self) -> &'static Texts {
        self.lang.texts()
    }
}

/// A urlencoded form whose rejection is a page (400, 413, 415).
pub struct FormData(HashMap<String, String>);

impl FromRequest<CustomerState> for FormData {
    type Rejection = Response;

    async fn from_request(req: Request, state: &CustomerState) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let v = visitor(&parts, state);
        let req = Request::from_parts(parts, body);
        match axum::Form::<Vec<(String, String)>>::from_request(req, state).await {
            Ok(axum::Form(pairs)) if pairs.len() <= 32 => {
                let mut m = HashMap::new();
                for (k, val) in pairs {
                    m.entry(k).or_insert(val);
                }
                Ok(FormData(m))
            }
            Ok(_) => Err(message(&v, StatusCode::BAD_REQUEST, Msg::error(&v), "")),
            Err(r) => Err(message(&v, r.status(), Msg::error(&v), "")),
        }
    }
}

impl FormData {
    fn get(&self, k: &str) -> &str {
        self.0.get(k).map(String::as_str).unwrap_or("")
    }
}

// ------------------------------------------------------------------ templates

/// What every page shows around its content.
pub struct Chrome {
    pub lang: &'static str,
    pub t: &'static Texts,
    pub title: String,
    pub switch_en: String,
    pub switch_es: String,
}

fn chrome(v: &Visitor, title: &str, path: &str) -> Chrome {
    Chrome {
        lang: v.lang.code(),
        t: v.t(),
        title: title.to_string(),
        switch_en: format!("{path}?lang=en"),
        switch_es: format!("{path}?lang=es"),
    }
}

pub struct Renew {
    pub action: String,
    pub csrf: String,
}

#[derive(Template)]
#[template(path = "customer/message.html")]
struct MessagePage {
    c: Chrome,
    paragraphs: Vec<String>,
    renew: Option<Renew>,
}

/// An input with its label, hint and error.
pub struct Field {
    pub name: &'static str,
    pub label: &'static str,
    pub hint: Option<&'static str>,
    pub value: String,
    pub error: Option<String>,
    pub required: bool,
    pub maxlength: usize,
    pub autocomplete: &'static str,
    pub inputmode: &'static str,
}

#[derive(Template)]
#[template(path = "customer/start.html")]
struct StartPage {
    c: Chrome,
    base: String,
    csrf: String,
    email: bool,
    sms: bool,
    error: Option<String>,
    known: Vec<Field>,
    known_error: Option<String>,
}

#[derive(Template)]
#[template(path = "customer/code.html")]
struct CodePage {
    c: Chrome,
    base: String,
    csrf: String,
    channel: &'static str,
    notice: Option<String>,
    error: Option<String>,
    code: Field,
}

#[derive(Template)]
#[template(path = "customer/address.html")]
struct AddressPage {
    c: Chrome,
    base: String,
    csrf: String,
    step: String,
    has_errors: bool,
    fields: Vec<Field>,
}

#[derive(Template)]
#[template(path = "customer/upload.html")]
struct UploadPage {
    c: Chrome,
    base: String,
    csrf: String,
    step: String,
    error: Option<String>,
    wants_address: bool,
}

#[derive(Template)]
#[template(path = "customer/done.html")]
struct DonePage {
    c: Chrome,
    return_url: Option<String>,
}

/// A rendered page with its status; the language cookie when `?lang=` chose it.
fn html(v: &Visitor, status: StatusCode, t: &impl Template) -> Response {
    match t.render() {
        Ok(body) => {
            let mut res = (
                status,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                body,
            )
                .into_response();
            remember_lang(v, &mut res);
            res
        }
        Err(e) => {
            tracing::error!(error = %e, "customer page did not render");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

fn remember_lang(v: &Visitor, res: &mut Response) {
    if let Some(l) = v.chosen {
        let c = format!(
            "{LANG_COOKIE}={}; Path=/verify; Max-Age=31536000; SameSite=Lax",
            l.code()
        );
        if let Ok(h) = HeaderValue::from_str(&c) {
            res.headers_mut().append(header::SET_COOKIE, h);
        }
    }
}

fn add_cookie(res: &mut Response, c: &str) {
    if let Ok(h) = HeaderValue::from_str(c) {
        res.headers_mut().append(header::SET_COOKIE, h);
    }
}

fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_string())]).into_response()
}

/// A message page: title and paragraphs.
struct Msg {
    title: &'static str,
    paragraphs: Vec<String>,
}

impl Msg {
    fn new(title: &'static str, body: &'static str) -> Msg {
        Msg {
            title,
            paragraphs: vec![body.to_string()],
        }
    }

    fn error(v: &Visitor) -> Msg {
        Msg::new(v.t().error_title, v.t().error_body)
    }
}

fn message(v: &Visitor, status: StatusCode, m: Msg, path: &str) -> Response {
    let page = MessagePage {
        c: chrome(v, m.title, if path.is_empty() { "/verify" } else { path }),
        paragraphs: m.paragraphs,
        renew: None,
    };
    html(v, status, &page)
}

fn internal(v: &Visitor, what: &str, e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "customer pages: {what}");
    message(v, StatusCode::INTERNAL_SERVER_ERROR, Msg::error(v), "")
}

fn forbidden(v: &Visitor, base: &str) -> Response {
    message(
        v,
        StatusCode::FORBIDDEN,
        Msg::new(v.t().forbidden_title, v.t().forbidden_body),
        base,
    )
}

fn locked(v: &Visitor, base: &str) -> Response {
    message(
        v,
        StatusCode::FORBIDDEN,
        Msg::new(v.t().locked_title, v.t().locked_body),
        base,
    )
}

// ------------------------------------------------------------------ the link

/// A link that exists, whatever its state.
struct Opened {
    token_hash: String,
    base: String,
    state: LinkState,
    session: VerificationSession,
    #[allow(dead_code)]
    link: VerificationLink,
}

/// Looks the token up. Unknown or malformed tokens count against the address; an address
/// over the limit gets 429 for every token, known or not.
async fn open(st: &CustomerState, v: &Visitor, token: &str) -> Result<Opened, Response> {
    let now = now_ms();
    let limiter = &st.limits.bad_tokens;
    if let Some(wait) = limiter.blocked(&v.ip, now) {
        let res = message(
            v,
            StatusCode::TOO_MANY_REQUESTS,
            Msg::new(v.t().too_many_title, v.t().too_many_body),
            "",
        );
        return Err(with_retry_after(res, wait));
    }
    let invalid = |v: &Visitor| {
        limiter.hit(&v.ip, now);
        message(
            v,
            StatusCode::NOT_FOUND,
            Msg::new(v.t().invalid_title, v.t().invalid_body),
            "",
        )
    };
    if !token_shape(token) {
        return Err(invalid(v));
    }
    let token_hash = sha256_hex(token);
    match st.portal.app.store.link_find(&token_hash).await {
        Ok(Some((link, state, session))) => Ok(Opened {
            base: format!("/verify/{token}"),
            token_hash,
            state,
            session,
            link,
        }),
        Ok(None) => Err(invalid(v)),
        Err(e) => Err(internal(v, "link look-up", e)),
    }
}

impl Opened {
    /// The link works and the session waits for the customer.
    fn open_for_input(&self) -> bool {
        self.state == LinkState::Valid
            && self.session.status == VerificationStatus::RequiresInput
            && self.session.redacted_at_ms.is_none()
    }

    /// The cookie `dc_vs` when it was earned on this link for this session.
    fn session_cookie(&self, st: &CustomerState, v: &Visitor) -> Option<String> {
        let c = cookie(&v.headers, SESSION_COOKIE)?;
        st.keys
            .session_valid(&c, &self.session.id, &self.token_hash, now_ms())
            .then_some(c)
    }

    fn first_step(&self) -> String {
        if self.session.kind.wants_address() {
            format!("{}/address", self.base)
        } else {
            format!("{}/document", self.base)
        }
    }
}

/// The pre-second-factor nonce (`dc_pre`), and the cookie to set when there was none.
fn pre_nonce(st: &CustomerState, v: &Visitor) -> (String, Option<String>) {
    if let Some(n) = cookie(&v.headers, PRE_COOKIE)
        && n.len() == 32
        && n.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return (n, None);
    }
    let n = super::guard::random_nonce();
    let c = set_cookie(PRE_COOKIE, &n, 3600, st.options.secure_cookies);
    (n, Some(c))
}

/// The common start of a form posted before the second factor: the link opened, the form's
/// CSRF token checked (403), and the session still waiting for the customer (otherwise back to
/// the link's page, which says why).
async fn open_pre_form(
    st: &CustomerState,
    v: &Visitor,
    token: &str,
    form: &FormData,
) -> Result<Opened, Response> {
    let o = open(st, v, token).await?;
    if !pre_csrf_ok(st, v, &o, form) {
        return Err(forbidden(v, &o.base));
    }
    if !o.open_for_input() {
        return Err(see_other(&o.base));
    }
    Ok(o)
}

/// Whether a form before the second factor carries the right CSRF token.
fn pre_csrf_ok(st: &CustomerState, v: &Visitor, o: &Opened, form: &FormData) -> bool {
    let Some(n) = cookie(&v.headers, PRE_COOKIE).filter(|n| n.len() == 32) else {
        return false;
    };
    let sent = form.get("csrf");
    !sent.is_empty()
        && doublecheck_store::constant_time_eq(&st.keys.pre_csrf(&o.token_hash, &n), sent)
}

/// The page of a link that cannot be used (any more), with the offer of a new link.
fn closed_page(st: &CustomerState, v: &Visitor, o: &Opened) -> Response {
    let t = v.t();
    let gone = |title, body| (StatusCode::GONE, Msg::new(title, body));
    // A session that closed revokes its links: say why it closed rather than "replaced".
    let closed = o.session.status.is_terminal() || o.session.redacted_at_ms.is_some();
    let (status, m) = match (o.state, o.session.status) {
        (LinkState::Used, _) => gone(t.used_title, t.used_body),
        (_, VerificationStatus::Canceled) if closed => gone(t.canceled_title, t.canceled_body),
        (_, VerificationStatus::Expired) if closed => gone(t.expired_title, t.expired_body),
        _ if closed => gone(t.closed_title, t.closed_body),
        (LinkState::Revoked, _) => gone(t.replaced_title, t.replaced_body),
        (LinkState::Expired | LinkState::SessionClosed, _) => gone(t.expired_title, t.expired_body),
        (LinkState::Valid, _) => (
            StatusCode::OK,
            Msg::new(t.submitted_title, t.submitted_body),
        ),
    };
    let offer = o.state != LinkState::Valid;
    let (nonce, set) = pre_nonce(st, v);
    let page = MessagePage {
        c: chrome(v, m.title, &o.base),
        paragraphs: m.paragraphs,
        renew: offer.then(|| Renew {
            action: format!("{}/renew", o.base),
            csrf: st.keys.pre_csrf(&o.token_hash, &nonce),
        }),
    };
    let mut res = html(v, status, &page);
    if offer && let Some(c) = set {
        add_cookie(&mut res, &c);
    }
    res
}

// ------------------------------------------------------------------ the second factor

/// The known fields of a session (those its `known` values include).
fn known_fields(s: &VerificationSession) -> Vec<&'static str> {
    let Some(j) = s.known_json.as_deref() else {
        return Vec::new();
    };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(j) else {
        return Vec::new();
    };
    KNOWN_FIELDS
        .iter()
        .copied()
        .filter(|f| v.get(*f).is_some_and(|x| x.is_string()))
        .collect()
}

fn known_field(t: &Texts, name: &'static str, value: String, error: Option<String>) -> Field {
    let (label, hint, maxlength, inputmode, autocomplete) = match name {
        "postcode" => (t.postcode, t.postcode_hint, 12, "", "off"),
        "birth_date" => (t.birth_date, t.birth_date_hint, 10, "numeric", "bday"),
        _ => (t.account_last4, t.account_last4_hint, 4, "numeric", "off"),
    };
    Field {
        name,
        label,
        hint: Some(hint),
        value,
        error,
        required: true,
        maxlength,
        autocomplete,
        inputmode,
    }
}

/// The channels offered to a session: (email, SMS). With codes by SMS
/// (`portal.codes.channel = "sms"`), a session with a phone number gets SMS only (the link
/// came by email: a code by SMS is a second channel), one without gets email.
fn channels(st: &CustomerState, s: &VerificationSession) -> (bool, bool) {
    let sms = st.sms.is_some() && s.customer.phone.is_some();
    (s.customer.email.is_some() && !sms, sms)
}

/// The second-factor page.
#[allow(clippy::too_many_arguments)]
fn start_page(
    st: &CustomerState,
    v: &Visitor,
    o: &Opened,
    status: StatusCode,
    error: Option<String>,
    known_values: &HashMap<&'static str, (String, Option<String>)>,
    known_error: Option<String>,
) -> Response {
    let (nonce, set) = pre_nonce(st, v);
    let (email, sms) = channels(st, &o.session);
    let known = known_fields(&o.session)
        .into_iter()
        .map(|f| {
            let (val, err) = known_values.get(f).cloned().unwrap_or_default();
            known_field(v.t(), f, val, err)
        })
        .collect();
    let page = StartPage {
        c: chrome(v, v.t().start_title, &o.base),
        base: o.base.clone(),
        csrf: st.keys.pre_csrf(&o.token_hash, &nonce),
        email,
        sms,
        error,
        known,
        known_error,
    };
    let mut res = html(v, status, &page);
    if let Some(c) = set {
        add_cookie(&mut res, &c);
    }
    res
}

/// `GET /verify/{token}`.
pub async fn landing(
    State(st): State<CustomerState>,
    v: Visitor,
    Path(token): Path<String>,
) -> Response {
    let o = match open(&st, &v, &token).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    if !o.open_for_input() {
        return closed_page(&st, &v, &o);
    }
    if o.session_cookie(&st, &v).is_some() {
        return see_other(&o.first_step());
    }
    start_page(&st, &v, &o, StatusCode::OK, None, &HashMap::new(), None)
}

#[allow(clippy::too_many_arguments)]
fn code_page_for(
    st: &CustomerState,
    v: &Visitor,
    o: &Opened,
    status: StatusCode,
    channel: &'static str,
    notice: Option<String>,
    error: Option<String>,
    field_error: Option<String>,
) -> Response {
    let (nonce, set) = pre_nonce(st, v);
    let t = v.t();
    let page = CodePage {
        c: chrome(v, t.code_title, &format!("{}/code", o.base)),
        base: o.base.clone(),
        csrf: st.keys.pre_csrf(&o.token_hash, &nonce),
        channel,
        notice,
        error,
        code: Field {
            name: "code",
            label: t.code_label,
            hint: Some(t.code_hint),
            value: String::new(),
            error: field_error,
            required: true,
            maxlength: 12,
            autocomplete: "one-time-code",
            inputmode: "numeric",
        },
    };
    let mut res = html(v, status, &page);
    if let Some(c) = set {
        add_cookie(&mut res, &c);
    }
    res
}

fn channel_of(st: &CustomerState, o: &Opened) -> &'static str {
    if channels(st, &o.session).1 {
        "sms"
    } else {
        "email"
    }
}

/// A wait in whole seconds, rounded up (1,001 ms is 2 s) and at least 1: a client that waits
/// this long is not refused again.
fn wait_secs(wait_ms: i64) -> i64 {
    (wait_ms.max(0).saturating_add(999) / 1000).max(1)
}

/// `res` with `Retry-After: wait_secs(wait_ms)`.
fn with_retry_after(mut res: Response, wait_ms: i64) -> Response {
    if let Ok(h) = HeaderValue::from_str(&wait_secs(wait_ms).to_string()) {
        res.headers_mut().insert(header::RETRY_AFTER, h);
    }
    res
}

/// A 429 message page with `Retry-After`.
fn too_many(v: &Visitor, base: &str, wait_ms: i64) -> Response {
    let res = message(
        v,
        StatusCode::TOO_MANY_REQUESTS,
        Msg::new(v.t().too_many_title, v.t().too_many_body),
        base,
    );
    with_retry_after(res, wait_ms)
}

/// `POST /verify/{token}/send`: sends a one-time code.
pub async fn send_code(
    State(st): State<CustomerState>,
    v: Visitor,
    Path(token): Path<String>,
    form: FormData,
) -> Response {
    let o = match open_pre_form(&st, &v, &token, &form).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let t = v.t();
    let channel = channel_of(&st, &o);
    let (sender, to) = match channel {
        "sms" => (st.sms.clone(), o.session.customer.phone.clone()),
        _ => (Some(st.email.clone()), o.session.customer.email.clone()),
    };
    let (Some(sender), Some(to)) = (sender, to) else {
        return start_page(
            &st,
            &v,
            &o,
            StatusCode::SERVICE_UNAVAILABLE,
            Some(t.send_failed.into()),
            &HashMap::new(),
            None,
        );
    };
    // The hourly limit is counted in the store first (so it holds across restarts and
    // instances), and given back when no code is issued after all.
    let sends = [Limit {
        kind: limits::CODE_SEND,
        subject: o.session.id.clone(),
        per_hour: st.options.sends_per_hour,
    }];
    let ticket = match limits::count(&st, &sends, now_ms()).await {
        Ok(Counted::Yes(t)) => t,
        Ok(Counted::Over { retry_after_ms }) => {
            let res = start_page(
                &st,
                &v,
                &o,
                StatusCode::TOO_MANY_REQUESTS,
                Some(t.send_too_many.into()),
                &HashMap::new(),
                None,
            );
            return with_retry_after(res, retry_after_ms);
        }
        Err(e) => return internal(&v, "send limit", e),
    };
    let code = match new_code() {
        Ok(c) => c,
        Err(e) => {
            limits::release(&st, ticket).await;
            return internal(&v, "code", e);
        }
    };
    let hash = st.portal.key.code_hash(&o.session.id, &code);
    let opts = &st.options;
    let issued = st
        .portal
        .app
        .store
        .code_issue(
            &o.session.id,
            &hash,
            channel,
            i64::try_from(opts.code_ttl.as_millis()).unwrap_or(600_000),
            opts.max_sends,
            i64::try_from(opts.min_resend_interval.as_millis()).unwrap_or(30_000),
        )
        .await;
    if !matches!(issued, Ok(CodeIssue::Issued { .. })) {
        limits::release(&st, ticket).await;
    }
    match issued {
        Ok(CodeIssue::Issued { .. }) => {
            let m = CodeMessage {
                to: &to,
                code: &code,
                lang: v.lang,
                valid_minutes: opts.code_minutes(),
            };
            if let Err(e) = sender.send(m).await {
                tracing::warn!(session = %o.session.id, channel, error = %e, "one-time code not sent");
                return start_page(
                    &st,
                    &v,
                    &o,
                    StatusCode::BAD_GATEWAY,
                    Some(t.send_failed.into()),
                    &HashMap::new(),
                    None,
                );
            }
            tracing::info!(session = %o.session.id, channel, "one-time code sent");
            see_other(&format!("{}/code?via={channel}", o.base))
        }
        Ok(CodeIssue::TooSoon { retry_after_ms }) => with_retry_after(
            code_page_for(
                &st,
                &v,
                &o,
                StatusCode::TOO_MANY_REQUESTS,
                channel,
                None,
                Some(fill(t.send_too_soon, wait_secs(retry_after_ms))),
                None,
            ),
            retry_after_ms,
        ),
        Ok(CodeIssue::TooMany) => start_page(
            &st,
            &v,
            &o,
            StatusCode::TOO_MANY_REQUESTS,
            Some(t.send_too_many.into()),
            &HashMap::new(),
            None,
        ),
        Ok(CodeIssue::Locked) => locked(&v, &o.base),
        Err(e) => internal(&v, "code issue", e),
    }
}

/// `GET /verify/{token}/code`: the code form.
pub async fn code_page(
    State(st): State<CustomerState>,
    v: Visitor,
    Path(token): Path<String>,
) -> Response {
    let o = match open(&st, &v, &token).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    if !o.open_for_input() {
        return closed_page(&st, &v, &o);
    }
    // The channel is the session's (`?via=` in the redirect is informative only).
    let channel = channel_of(&st, &o);
    let t = v.t();
    let notice = Some(fill(
        if channel == "sms" {
            t.code_sent_sms
        } else {
            t.code_sent_email
        },
        st.options.code_minutes(),
    ));
    code_page_for(&st, &v, &o, StatusCode::OK, channel, notice, None, None)
}

/// Sets the session cookie and goes to the first step.
fn signed_in(st: &CustomerState, o: &Opened) -> Response {
    let ttl = i64::try_from(st.options.session_ttl.as_millis()).unwrap_or(1_800_000);
    let value = st
        .keys
        .session_cookie(&o.session.id, &o.token_hash, now_ms().saturating_add(ttl));
    let mut res = see_other(&o.first_step());
    add_cookie(
        &mut res,
        &set_cookie(
            SESSION_COOKIE,
            &value,
            ttl / 1000,
            st.options.secure_cookies,
        ),
    );
    res
}

/// `POST /verify/{token}/code`: checks a one-time code.
pub async fn check_code(
    State(st): State<CustomerState>,
    v: Visitor,
    Path(token): Path<String>,
    form: FormData,
) -> Response {
    let o = match open_pre_form(&st, &v, &token, &form).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let t = v.t();
    let channel = channel_of(&st, &o);
    let code: String = form
        .get("code")
        .chars()
        .filter(|c| !matches!(c, ' ' | '-'))
        .collect();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return code_page_for(
            &st,
            &v,
            &o,
            StatusCode::UNPROCESSABLE_ENTITY,
            channel,
            None,
            None,
            Some(t.code_malformed.into()),
        );
    }
    let hash = st.portal.key.code_hash(&o.session.id, &code);
    match st
        .portal
        .app
        .store
        .code_check(&o.session.id, &hash, st.options.max_attempts)
        .await
    {
        Ok(CodeCheck::Verified) => signed_in(&st, &o),
        Ok(CodeCheck::Wrong { attempts_left }) => code_page_for(
            &st,
            &v,
            &o,
            StatusCode::UNPROCESSABLE_ENTITY,
            channel,
            None,
            None,
            Some(fill(t.code_wrong, attempts_left)),
        ),
        Ok(CodeCheck::Locked) => locked(&v, &o.base),
        Ok(CodeCheck::Expired) => code_page_for(
            &st,
            &v,
            &o,
            StatusCode::UNPROCESSABLE_ENTITY,
            channel,
            None,
            Some(t.code_expired.into()),
            None,
        ),
        Ok(CodeCheck::NoCode) => code_page_for(
            &st,
            &v,
            &o,
            StatusCode::UNPROCESSABLE_ENTITY,
            channel,
            None,
            Some(t.code_none.into()),
            None,
        ),
        Err(e) => internal(&v, "code check", e),
    }
}

/// `POST /verify/{token}/knowledge`: checks the answers against the session's known values.
pub async fn check_knowledge(
    State(st): State<CustomerState>,
    v: Visitor,
    Path(token): Path<String>,
    form: FormData,
) -> Response {
    let o = match open_pre_form(&st, &v, &token, &form).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let t = v.t();
    let fields = known_fields(&o.session);
    let Some(known_json) = o
        .session
        .known_json
        .as_deref()
        .filter(|_| !fields.is_empty())
    else {
        return see_other(&o.base);
    };
    let mut values = HashMap::new();
    let mut normalized = Vec::new();
    let mut bad = false;
    for f in &fields {
        let raw: String = form.get(f).chars().take(64).collect();
        let err = if raw.trim().is_empty() {
            Some(t.required_field.to_string())
        } else {
            match normalize_known(f, &raw) {
                Some(n) => {
                    normalized.push((*f, n));
                    None
                }
                None => Some(
                    match *f {
                        "postcode" => t.postcode_hint,
                        "birth_date" => t.birth_date_hint,
                        _ => t.account_last4_hint,
                    }
                    .to_string(),
                ),
            }
        };
        bad |= err.is_some();
        values.insert(*f, (raw, err));
    }
    if bad {
        // Malformed answers cannot match; they count no attempt.
        return start_page(
            &st,
            &v,
            &o,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            &values,
            Some(t.form_has_errors.into()),
        );
    }
    let mut matched = true;
    for (f, n) in &normalized {
        matched &= st.portal.key.known_matches(known_json, f, n) == Some(true);
    }
    match st
        .portal
        .app
        .store
        .code_knowledge_attempt(&o.session.id, matched, st.options.max_attempts)
        .await
    {
        Ok(CodeCheck::Verified) => signed_in(&st, &o),
        Ok(CodeCheck::Wrong { attempts_left }) => {
            let blank: HashMap<_, _> = fields.iter().map(|f| (*f, (String::new(), None))).collect();
            start_page(
                &st,
                &v,
                &o,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                &blank,
                Some(fill(t.knowledge_wrong, attempts_left)),
            )
        }
        Ok(_) => locked(&v, &o.base),
        Err(e) => internal(&v, "knowledge check", e),
    }
}

/// `POST /verify/{token}/renew`: queues a new link to the contact details on file. The answer
/// is the same whether or not one could be sent.
pub async fn renew(
    State(st): State<CustomerState>,
    v: Visitor,
    Path(token): Path<String>,
    form: FormData,
) -> Response {
    let o = match open(&st, &v, &token).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    if !pre_csrf_ok(&st, &v, &o, &form) {
        return forbidden(&v, &o.base);
    }
    let t = v.t();
    let now = now_ms();
    // Counted in the store per session (whichever of its links asks) and per address.
    let asked = [
        Limit {
            kind: limits::RENEW_SESSION,
            subject: o.session.id.clone(),
            per_hour: st.options.renewals_per_hour,
        },
        Limit {
            kind: limits::RENEW_ADDRESS,
            subject: limits::address_subject(&st, &v.ip),
            per_hour: st.options.renewals_per_address_per_hour,
        },
    ];
    match limits::count(&st, &asked, now).await {
        Ok(Counted::Yes(_)) => {}
        Ok(Counted::Over { retry_after_ms }) => return too_many(&v, &o.base, retry_after_ms),
        Err(e) => return internal(&v, "renewal limit", e),
    }
    let s = &o.session;
    let renewable = s.status == VerificationStatus::RequiresInput
        && s.redacted_at_ms.is_none()
        && s.customer.email.is_some()
        && now < s.expires_at_ms
        && o.state != LinkState::Valid;
    if renewable {
        let cfg = &st.portal.app.config.portal;
        let m = MessageTemplate {
            subject: cfg.message_subject.clone(),
            body: cfg.message_body.clone(),
        };
        match st.portal.app.store.outbox_add(&s.id, &m).await {
            Ok(_) => tracing::info!(session = %s.id, "customer asked for a new link"),
            Err(e) => tracing::warn!(session = %s.id, error = %e, "new link not queued"),
        }
    }
    message(
        &v,
        StatusCode::OK,
        Msg::new(t.renew_sent_title, t.renew_sent_body),
        &o.base,
    )
}

// ------------------------------------------------------------------ the steps

/// A link open for input and a session cookie earned on it; else where to go.
async fn step(st: &CustomerState, v: &Visitor, token: &str) -> Result<(Opened, String), Response> {
    let o = open(st, v, token).await?;
    if !o.open_for_input() {
        return Err(see_other(&o.base));
    }
    match o.session_cookie(st, v) {
        Some(c) => Ok((o, c)),
        None => Err(see_other(&o.base)),
    }
}

fn step_csrf_ok(st: &CustomerState, cookie: &str, form_csrf: &str) -> bool {
    !form_csrf.is_empty()
        && doublecheck_store::constant_time_eq(&st.keys.session_csrf(cookie), form_csrf)
}

fn step_label(v: &Visitor, o: &Opened, n: u32) -> String {
    if o.session.kind == doublecheck_store::VerificationType::AddressAndDocument {
        format!("{} / 2", fill(v.t().step, n))
    } else {
        String::new()
    }
}

/// The address fields: (name, label, required, max length, autocomplete).
const ADDRESS: [(&str, bool, usize, &str); 6] = [
    ("line1", true, 200, "address-line1"),
    ("line2", false, 200, "address-line2"),
    ("city", true, 100, "address-level2"),
    ("state", false, 100, "address-level1"),
    ("postal_code", true, 12, "postal-code"),
    ("country", true, 60, "country-name"),
];

fn address_label(t: &Texts, name: &str) -> &'static str {
    match name {
        "line1" => t.line1,
        "line2" => t.line2,
        "city" => t.city,
        "state" => t.region,
        "postal_code" => t.address_postcode,
        _ => t.country,
    }
}

fn address_fields(
    t: &Texts,
    values: &HashMap<String, String>,
    errors: &HashMap<&str, String>,
) -> Vec<Field> {
    ADDRESS
        .iter()
        .map(|(name, required, max, ac)| Field {
            name,
            label: address_label(t, name),
            hint: None,
            value: values.get(*name).cloned().unwrap_or_default(),
            error: errors.get(name).cloned(),
            required: *required,
            maxlength: *max,
            autocomplete: ac,
            inputmode: "",
        })
        .collect()
}

fn address_form(
    st: &CustomerState,
    v: &Visitor,
    o: &Opened,
    cookie: &str,
    status: StatusCode,
    values: &HashMap<String, String>,
    errors: &HashMap<&str, String>,
) -> Response {
    let page = AddressPage {
        c: chrome(v, v.t().address_title, &format!("{}/address", o.base)),
        base: o.base.clone(),
        csrf: st.keys.session_csrf(cookie),
        step: step_label(v, o, 1),
        has_errors: !errors.is_empty(),
        fields: address_fields(v.t(), values, errors),
    };
    html(v, status, &page)
}

/// `GET /verify/{token}/address`.
pub async fn address_page(
    State(st): State<CustomerState>,
    v: Visitor,
    Path(token): Path<String>,
) -> Response {
    let (o, c) = match step(&st, &v, &token).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !o.session.kind.wants_address() {
        return see_other(&o.first_step());
    }
    let mut values = HashMap::new();
    if let Some(Ok(serde_json::Value::Object(m))) = o
        .session
        .address_json
        .as_deref()
        .map(serde_json::from_str::<serde_json::Value>)
    {
        for (name, ..) in ADDRESS {
            if let Some(s) = m.get(name).and_then(|x| x.as_str()) {
                values.insert(name.to_string(), s.to_string());
            }
        }
    }
    address_form(&st, &v, &o, &c, StatusCode::OK, &values, &HashMap::new())
}

/// Checks the address fields; each error is for its field.
fn check_address<'a>(
    t: &Texts,
    form: &FormData,
) -> (HashMap<String, String>, HashMap<&'a str, String>) {
    let mut values = HashMap::new();
    let mut errors = HashMap::new();
    for (name, required, max, _) in ADDRESS {
        let raw = form.get(name);
        let v: String = raw.split_whitespace().collect::<Vec<_>>().join(" ");
        let err = if v.is_empty() {
            required.then(|| t.required_field.to_string())
        } else if v.chars().count() > max {
            Some(t.field_too_long.to_string())
        } else if v.chars().any(|c| {
            c.is_control()
                || matches!(c, '<' | '>' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        }) {
            Some(t.field_bad_chars.to_string())
        } else if name == "postal_code" && normalize_known("postcode", &v).is_none() {
            Some(t.postcode_invalid.to_string())
        } else {
            None
        };
        if let Some(e) = err {
            errors.insert(name, e);
        }
        values.insert(name.to_string(), v.chars().take(max).collect());
    }
    (values, errors)
}

/// `POST /verify/{token}/address`.
pub async fn save_address(
    State(st): State<CustomerState>,
    v: Visitor,
    Path(token): Path<String>,
    form: FormData,
) -> Response {
    let (o, c) = match step(&st, &v, &token).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !step_csrf_ok(&st, &c, form.get("csrf")) {
        return forbidden(&v, &o.base);
    }
    if !o.session.kind.wants_address() {
        return see_other(&o.first_step());
    }
    let (values, errors) = check_address(v.t(), &form);
    if !errors.is_empty() {
        return address_form(
            &st,
            &v,
            &o,
            &c,
            StatusCode::UNPROCESSABLE_ENTITY,
            &values,
            &errors,
        );
    }
    let mut obj = serde_json::Map::new();
    for (name, ..) in ADDRESS {
        let val = values.get(name).cloned().unwrap_or_default();
        obj.insert(
            name.to_string(),
            if val.is_empty() {
                serde_json::Value::Null
            } else {
                val.into()
            },
        );
    }
    let json = serde_json::Value::Object(obj).to_string();
    if let Err(e) = st
        .portal
        .app
        .store
        .vs_set_address(&o.session.id, &json)
        .await
    {
        return internal(&v, "address", e);
    }
    if o.session.kind.wants_document() {
        return see_other(&format!("{}/document", o.base));
    }
    finish(&st, &v, &o).await
}

fn upload_form(
    st: &CustomerState,
    v: &Visitor,
    o: &Opened,
    cookie: &str,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    let page = UploadPage {
        c: chrome(v, v.t().upload_title, &format!("{}/document", o.base)),
        base: o.base.clone(),
        csrf: st.keys.session_csrf(cookie),
        step: step_label(v, o, 2),
        error,
        wants_address: o.session.kind.wants_address(),
    };
    html(v, status, &page)
}

/// `GET /verify/{token}/document`.
pub async fn upload_page(
    State(st): State<CustomerState>,
    v: Visitor,
    Path(token): Path<String>,
) -> Response {
    let (o, c) = match step(&st, &v, &token).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !o.session.kind.wants_document() {
        return see_other(&o.first_step());
    }
    if o.session.kind.wants_address() && o.session.address_json.is_none() {
        return see_other(&format!("{}/address", o.base));
    }
    upload_form(&st, &v, &o, &c, StatusCode::OK, None)
}

/// The customer's sentence for a refused upload.
fn upload_message(t: &Texts, code: &str) -> &'static str {
    match code {
        "empty_file" => t.up_empty,
        "too_large" => t.up_too_large,
        "unsupported_type" => t.up_type,
        "archive" => t.up_archive,
        "polyglot" => t.up_polyglot,
        "pdf_active_content" => t.up_pdf_active,
        "pdf_encrypted" => t.up_pdf_encrypted,
        "pdf_malformed" => t.up_pdf_malformed,
        "pdf_unsupported" | "pdf_too_complex" => t.up_pdf_unchecked,
        "image_dimensions" | "image_too_large" => t.up_image_large,
        "image_unreadable" => t.up_image_unreadable,
        "bad_filename" => t.up_filename,
        _ => t.error_body,
    }
}

/// The longest an upload may take to arrive (10 MB at about 70 kB/s).
const UPLOAD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(150);

/// What a multipart body held.
#[derive(Default)]
struct Upload {
    csrf: String,
    file: Option<(Option<String>, Vec<u8>)>,
    too_large: bool,
}

/// Reads the multipart body: the file (counted while it streams in, abandoned past the limit)
/// and small text fields.
async fn read_upload(mut mp: Multipart, max: usize) -> Result<Upload, StatusCode> {
    let mut up = Upload::default();
    let mut fields = 0;
    loop {
        let field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(e.status()),
        };
        fields += 1;
        if fields > 8 {
            return Err(StatusCode::BAD_REQUEST);
        }
        let name = field.name().unwrap_or("").to_string();
        let file_name = field.file_name().map(str::to_string);
        let limit = if name == "document" { max } else { 1024 };
        let mut buf = Vec::new();
        let mut field = field;
        loop {
            match field.chunk().await {
                Ok(Some(chunk)) => {
                    if buf.len() + chunk.len() > limit {
                        if name == "document" {
                            up.too_large = true;
                            return Ok(up);
                        }
                        return Err(StatusCode::BAD_REQUEST);
                    }
                    buf.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => {
                    if e.status() == StatusCode::PAYLOAD_TOO_LARGE && name == "document" {
                        up.too_large = true;
                        return Ok(up);
                    }
                    return Err(e.status());
                }
            }
        }
        match name.as_str() {
            "csrf" => up.csrf = String::from_utf8_lossy(&buf).into_owned(),
            "document" if up.file.is_none() => up.file = Some((file_name, buf)),
            _ => {}
        }
    }
    Ok(up)
}

/// `POST /verify/{token}/document`: checks, re-encodes, seals and records the document.
pub async fn upload(
    State(st): State<CustomerState>,
    v: Visitor,
    Path(token): Path<String>,
    mp: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let (o, c) = match step(&st, &v, &token).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let t = v.t();
    let Ok(mp) = mp else {
        return message(&v, StatusCode::BAD_REQUEST, Msg::error(&v), &o.base);
    };
    let max = st.options.max_upload_bytes;
    // A slow upload may not hold the connection for ever.
    let read = tokio::time::timeout(UPLOAD_TIMEOUT, read_upload(mp, max)).await;
    let Ok(read) = read else {
        return message(&v, StatusCode::REQUEST_TIMEOUT, Msg::error(&v), &o.base);
    };
    let up = match read {
        Ok(u) => u,
        Err(status) if status == StatusCode::PAYLOAD_TOO_LARGE => Upload {
            too_large: true,
            ..Default::default()
        },
        Err(status) => return message(&v, status, Msg::error(&v), &o.base),
    };
    if up.too_large {
        // The CSRF field may not have been read; nothing was kept, so nothing is at stake.
        return upload_form(
            &st,
            &v,
            &o,
            &c,
            StatusCode::PAYLOAD_TOO_LARGE,
            Some(t.up_too_large.into()),
        );
    }
    if !step_csrf_ok(&st, &c, &up.csrf) {
        return forbidden(&v, &o.base);
    }
    if !o.session.kind.wants_document() {
        return see_other(&o.first_step());
    }
    let Some(vault) = st.vault.clone() else {
        return upload_form(
            &st,
            &v,
            &o,
            &c,
            StatusCode::SERVICE_UNAVAILABLE,
            Some(t.upload_unavailable.into()),
        );
    };
    let Some((file_name, bytes)) = up
        .file
        .filter(|(n, b)| !(b.is_empty() && n.as_deref().unwrap_or("").is_empty()))
    else {
        return upload_form(
            &st,
            &v,
            &o,
            &c,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(t.upload_missing.into()),
        );
    };
    let policy = doublecheck_vault::UploadPolicy {
        max_bytes: max,
        ..Default::default()
    };
    let checked = tokio::task::spawn_blocking(move || {
        doublecheck_vault::sanitize(&bytes, file_name.as_deref(), &policy)
    })
    .await;
    let clean = match checked {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            tracing::info!(session = %o.session.id, code = e.code(), reason = %e, "upload refused");
            let status = if e.code() == "too_large" {
                StatusCode::PAYLOAD_TOO_LARGE
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            return upload_form(
                &st,
                &v,
                &o,
                &c,
                status,
                Some(upload_message(t, e.code()).into()),
            );
        }
        Err(e) => return internal(&v, "upload check", e),
    };
    let doc_id = match new_document_id() {
        Ok(id) => id,
        Err(e) => return internal(&v, "document id", e),
    };
    let content_type = clean.kind.content_type();
    let size = clean.bytes.len() as u64;
    let sealed = match vault.put(&doc_id, clean.bytes, content_type).await {
        Ok(s) => s,
        Err(e) => return internal(&v, "vault put", e),
    };
    let sealed_json = match serde_json::to_string(&sealed) {
        Ok(j) => j,
        Err(e) => return internal(&v, "sealed record", e),
    };
    let doc = NewDocument {
        id: doc_id,
        session_id: o.session.id.clone(),
        sealed_json,
        filename: Some(clean.display_name),
        content_type: content_type.to_string(),
        size,
    };
    if let Err(e) = st.portal.app.store.doc_add(doc).await {
        if let Err(e2) = vault.destroy(&sealed).await {
            tracing::warn!(error = %e2, "orphan blob not deleted");
        }
        return internal(&v, "document record", e);
    }
    finish(&st, &v, &o).await
}

/// Submits: `requires_input → processing → requires_review`, then uses the link up.
async fn finish(st: &CustomerState, v: &Visitor, o: &Opened) -> Response {
    let store = &st.portal.app.store;
    let id = &o.session.id;
    let moves = [
        (
            VerificationStatus::Processing,
            VerificationStatus::RequiresInput,
        ),
        (
            VerificationStatus::RequiresReview,
            VerificationStatus::Processing,
        ),
    ];
    for (to, from) in moves {
        let t = Transition {
            actor: "customer".into(),
            expected_from: Some(from),
            ..Default::default()
        };
        if let Err(e) = store.vs_transition(id, to, t).await {
            return internal(v, "submit", e);
        }
    }
    match store.link_use(&o.token_hash).await {
        Ok(Ok(_)) => {}
        Ok(Err(state)) => tracing::warn!(session = %id, ?state, "link not marked used"),
        Err(e) => tracing::warn!(session = %id, error = %e, "link not marked used"),
    }
    tracing::info!(session = %id, "customer submitted");
    see_other(&format!("{}/done", o.base))
}

/// `GET /verify/{token}/done`: the confirmation, for the customer who submitted.
pub async fn done(
    State(st): State<CustomerState>,
    v: Visitor,
    Path(token): Path<String>,
) -> Response {
    let o = match open(&st, &v, &token).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let submitted = matches!(
        o.session.status,
        VerificationStatus::Processing
            | VerificationStatus::RequiresReview
            | VerificationStatus::Verified
            | VerificationStatus::Rejected
    );
    if !submitted || o.session_cookie(&st, &v).is_none() {
        return see_other(&o.base);
    }
    let return_url = o
        .session
        .return_url
        .clone()
        .filter(|u| u.starts_with("https://") || u.starts_with("http://"));
    let page = DonePage {
        c: chrome(&v, v.t().done_title, &format!("{}/done", o.base)),
        return_url,
    };
    html(&v, StatusCode::OK, &page)
}
