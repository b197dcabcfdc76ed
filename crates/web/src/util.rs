//! Small pieces the handlers share: extractors that answer bad input with an error page,
//! tokens, cookies, the client's address, and formatting.

use crate::AppError;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use base64::Engine as _;
use serde::de::DeserializeOwned;
use std::net::SocketAddr;

/// What the page header shows about the person signed in.
#[derive(Clone, Debug)]
pub struct Nav {
    pub email: String,
    pub role: &'static str,
    pub csrf: String,
    pub is_admin: bool,
}

/// `axum::Form` whose rejection is an error page (400, 413 or 415).
pub struct Form<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Form<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Form::<T>::from_request(req, state).await {
            Ok(axum::Form(v)) => Ok(Form(v)),
            Err(r) => Err(AppError::new(
                r.status(),
                "The form could not be read",
                format!("{}.", r.body_text().trim_end_matches('.')),
            )),
        }
    }
}

/// `axum::extract::Query` whose rejection is an error page (400).
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Query(v)),
            Err(r) => Err(AppError::bad_request(format!(
                "{}.",
                r.body_text().trim_end_matches('.')
            ))),
        }
    }
}

/// `n` random bytes, URL-safe base64 without padding.
pub fn random_token(n: usize) -> Result<String, AppError> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).map_err(|e| AppError::internal(format!("no randomness: {e}")))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// Compares two secrets in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The value of cookie `name`, if the request carries it once or more (the first wins).
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    for value in headers.get_all(axum::http::header::COOKIE) {
        let Ok(v) = value.to_str() else { continue };
        if v.len() > 8192 {
            continue;
        }
        for pair in v.split(';') {
            if let Some((k, val)) = pair.trim().split_once('=')
                && k.trim() == name
            {
                return Some(val.trim().trim_matches('"').to_string());
            }
        }
    }
    None
}

/// The client's address: the connection's peer (`serve_with` provides it), else "unknown";
/// for a peer in `web.trusted_proxies`, the last address of its `X-Forwarded-For`.
pub fn client_ip(parts: &Parts, web: &doublecheck_gate::WebConfig) -> String {
    let Some(peer) = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
    else {
        return "unknown".to_string();
    };
    if web.trusted_proxies.contains(&peer) {
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .rfind(|v| !v.is_empty())
            .and_then(|v| v.parse::<std::net::IpAddr>().ok());
        if let Some(client) = forwarded {
            return client.to_string();
        }
    }
    peer.to_string()
}

/// The client's address as an extractor.
pub struct ClientIp(pub String);

impl FromRequestParts<crate::WebState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &crate::WebState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(parts, state.web())))
    }
}

/// A JSON object with the client's address, for audit details.
pub fn ip_details(ip: &str) -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::new();
    m.insert("ip".into(), ip.into());
    m
}

/// Percent-encodes everything but unreserved characters (for query strings).
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A local path to return to after sign-in; anything else becomes `/holds`.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.starts_with("/\\")
                && n.len() <= 1024
                && !n.chars().any(|c| c.is_control() || c == '\\')
                && !n.starts_with("/login")
                && !n.starts_with("/logout") =>
        {
            n.to_string()
        }
        _ => "/holds".to_string(),
    }
}

/// "3 d 4 h", "2 h 5 min", "4 min", "just now".
pub fn waited(ms: i64) -> String {
    let mins = ms.max(0) / 60_000;
    let (d, h, m) = (mins / 1440, (mins / 60) % 24, mins % 60);
    if d > 0 {
        format!("{d} d {h} h")
    } else if h > 0 {
        format!("{h} h {m} min")
    } else if m > 0 {
        format!("{m} min")
    } else {
        "just now".into()
    }
}

/// Unix ms of `YYYY-MM-DD` at 00:00 UTC.
pub fn parse_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y: i64 = s.get(0..4)?.parse().ok()?;
    let m: i64 = s.get(5..7)?.parse().ok()?;
    let d: i64 = s.get(8..10)?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || !(1970..=9999).contains(&y) {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400_000)
}

/// A held message's id as the store makes them (`hold_` + base32), else `None`.
pub fn hold_id(s: &str) -> Option<&str> {
    let rest = s.strip_prefix("hold_")?;
    (!rest.is_empty()
        && rest.len() <= 64
        && rest
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-'))
    .then_some(s)
}

/// Text cut to `max` characters, with an ellipsis when cut.
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max).collect();
        out.push('…');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_durations() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2000-03-01"), Some(951_868_800_000));
        assert_eq!(parse_date("2000-13-01"), None);
        assert_eq!(parse_date("20000301"), None);
        assert_eq!(parse_date("２000-03-01"), None);
        assert_eq!(waited(0), "just now");
        assert_eq!(waited(61 * 60_000), "1 h 1 min");
        assert_eq!(waited(26 * 3_600_000), "1 d 2 h");
    }

    #[test]
    fn next_is_local_only() {
        assert_eq!(
            safe_next(Some("/holds/hold_abc?x=1")),
            "/holds/hold_abc?x=1"
        );
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil",
            "/login",
            "x",
        ] {
            assert_eq!(safe_next(Some(bad)), "/holds", "{bad}");
        }
        assert_eq!(safe_next(None), "/holds");
    }

    #[test]
    fn secrets_and_ids() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
        assert_eq!(hold_id("hold_abc234"), Some("hold_abc234"));
        assert_eq!(hold_id("hold_"), None);
        assert_eq!(hold_id("hold_../x"), None);
        assert_eq!(urlencode("/holds?a=b c"), "%2Fholds%3Fa%3Db%20c");
        assert_eq!(clip("abcdef", 3), "abc…");
    }
}
