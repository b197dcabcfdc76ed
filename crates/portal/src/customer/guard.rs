//! What protects the customer's pages: signed cookies, CSRF tokens, rate limits and the
//! client's address.
//!
//! # Cookies
//!
//! - `dc_pre` (before the second factor): a random nonce. Forms before the second factor carry
//!   `HMAC(k, "pre/v1", token hash, nonce)`, so a page of another site cannot post them.
//! - `dc_vs` (after the second factor): `{session id}.{expiry ms}.{nonce}.{mac}` with
//!   `mac = HMAC(k, "vs/v1", session id, expiry, nonce, link token hash)`. It is valid only
//!   with the link it was earned on (another customer's link, or a newer link, does not accept
//!   it) and only until its expiry (30 minutes by default). Forms after the second factor
//!   carry `HMAC(k, "csrf/v1", cookie)`.
//!
//! Both are `HttpOnly; SameSite=Strict; Path=/verify` (and `Secure` when configured).
//! `k` is derived from the portal's server key, so cookies survive a restart and work on
//! every instance, and no cookie state is stored.

use axum::extract::ConnectInfo;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;

type HmacSha256 = Hmac<Sha256>;

pub const PRE_COOKIE: &str = "dc_pre";
pub const SESSION_COOKIE: &str = "dc_vs";
pub const LANG_COOKIE: &str = "dc_lang";

/// The key of the cookies' and forms' MACs.
#[derive(Clone)]
pub struct CookieKey(Vec<u8>);

impl std::fmt::Debug for CookieKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CookieKey(…)")
    }
}

impl CookieKey {
    /// Derived from the portal's server key (a keyed hash under a purpose of its own).
    pub fn derive(key: &crate::ServerKey) -> CookieKey {
        CookieKey(
            key.known_hash("customer-pages/v1", "cookie-key", "")
                .into_bytes(),
        )
    }

    fn mac(&self, parts: &[&str]) -> String {
        let Ok(mut m) = HmacSha256::new_from_slice(&self.0) else {
            // HMAC takes keys of any length.
            return String::new();
        };
        for p in parts {
            m.update(&(p.len() as u64).to_be_bytes());
            m.update(p.as_bytes());
        }
        crate::secrets::hex(&m.finalize().into_bytes()[..20])
    }

    /// The CSRF token of the forms before the second factor.
    pub fn pre_csrf(&self, token_hash: &str, nonce: &str) -> String {
        self.mac(&["pre/v1", token_hash, nonce])
    }

    /// A session cookie value for `session_id` on the link `token_hash`, valid until `exp_ms`.
    pub fn session_cookie(&self, session_id: &str, token_hash: &str, exp_ms: i64) -> String {
        let nonce = random_nonce();
        let exp = exp_ms.to_string();
        let mac = self.mac(&["vs/v1", session_id, &exp, &nonce, token_hash]);
        format!("{session_id}.{exp}.{nonce}.{mac}")
    }

    /// Whether `cookie` is a valid session cookie for `session_id` on `token_hash` at `now_ms`.
    pub fn session_valid(
        &self,
        cookie: &str,
        session_id: &str,
        token_hash: &str,
        now_ms: i64,
    ) -> bool {
        if cookie.len() > 256 {
            return false;
        }
        let mut it = cookie.split('.');
        let (Some(id), Some(exp), Some(nonce), Some(mac), None) =
            (it.next(), it.next(), it.next(), it.next(), it.next())
        else {
            return false;
        };
        let Ok(exp_ms) = exp.parse::<i64>() else {
            return false;
        };
        let expected = self.mac(&["vs/v1", id, exp, nonce, token_hash]);
        doublecheck_store::constant_time_eq(&expected, mac) && id == session_id && now_ms < exp_ms
    }

    /// The CSRF token of the forms after the second factor.
    pub fn session_csrf(&self, cookie: &str) -> String {
        self.mac(&["csrf/v1", cookie])
    }
}

/// 128 random bits, hex (empty if the system has no randomness: such a cookie never verifies
/// a form, since the form token is checked against a non-empty nonce).
pub fn random_nonce() -> String {
    crate::secrets::random_bytes::<16>()
        .map(|b| crate::secrets::hex(&b))
        .unwrap_or_default()
}

/// The value of cookie `name` (the first if repeated).
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

/// A `Set-Cookie` value for the customer's pages.
pub fn set_cookie(name: &str, value: &str, max_age_secs: i64, secure: bool) -> String {
    format!(
        "{name}={value}; Path=/verify; Max-Age={max_age_secs}; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The client's address: the connection's peer, or for a peer in `web.trusted_proxies` the
/// last address of its `X-Forwarded-For`; "unknown" without a connection (tests).
pub fn client_ip(parts: &Parts, trusted: &[std::net::IpAddr]) -> String {
    let Some(peer) = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
    else {
        return "unknown".to_string();
    };
    if trusted.contains(&peer) {
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

/// Fixed-window counters per key (an address, a session), bounded in memory: past
/// `max_keys`, expired windows are dropped, and if that is not enough new keys are refused
/// (counted as over the limit) until windows expire.
#[derive(Debug)]
pub struct Limiter {
    limit: u32,
    window_ms: i64,
    max_keys: usize,
    map: Mutex<HashMap<String, (i64, u32)>>,
}

impl Limiter {
    pub fn new(limit: u32, window_ms: i64, max_keys: usize) -> Limiter {
        Limiter {
            limit,
            window_ms: window_ms.max(1),
            max_keys: max_keys.max(1),
            map: Mutex::new(HashMap::new()),
        }
    }

    /// Milliseconds until `key` may act again, or `None` when it is under the limit now.
    pub fn blocked(&self, key: &str, now_ms: i64) -> Option<i64> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(key) {
            Some((start, n)) if now_ms < start + self.window_ms && *n >= self.limit => {
                Some(start + self.window_ms - now_ms)
            }
            Some(_) => None,
            None if map.len() >= self.max_keys => Some(self.window_ms),
            None => None,
        }
    }

    /// Counts one action of `key`.
    pub fn hit(&self, key: &str, now_ms: i64) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if !map.contains_key(key) && map.len() >= self.max_keys {
            let w = self.window_ms;
            map.retain(|_, (start, _)| now_ms < *start + w);
            if map.len() >= self.max_keys {
                return;
            }
        }
        let e = map.entry(key.to_string()).or_insert((now_ms, 0));
        if now_ms >= e.0 + self.window_ms {
            *e = (now_ms, 0);
        }
        e.1 = e.1.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_cookies_are_bound() {
        let k = CookieKey::derive(&crate::ServerKey::from_bytes([3; 32]));
        let other = CookieKey::derive(&crate::ServerKey::from_bytes([4; 32]));
        let c = k.session_cookie("vs_a", "hash_a", 1_000);
        assert!(k.session_valid(&c, "vs_a", "hash_a", 999));
        assert!(!k.session_valid(&c, "vs_a", "hash_a", 1_000), "expired");
        assert!(
            !k.session_valid(&c, "vs_b", "hash_a", 10),
            "another session"
        );
        assert!(!k.session_valid(&c, "vs_a", "hash_b", 10), "another link");
        assert!(
            !other.session_valid(&c, "vs_a", "hash_a", 10),
            "another key"
        );
        let forged = c.replacen("1000", "9999", 1);
        assert!(
            !k.session_valid(&forged, "vs_a", "hash_a", 10),
            "longer expiry"
        );
        assert!(!k.session_valid("a.b.c", "vs_a", "hash_a", 10));
        assert_ne!(k.session_csrf(&c), k.session_csrf("x"));
        assert_ne!(k.pre_csrf("h", "n1"), k.pre_csrf("h", "n2"));
    }

    #[test]
    fn limiter_windows_and_bound() {
        let l = Limiter::new(2, 1000, 3);
        assert_eq!(l.blocked("a", 0), None);
        l.hit("a", 0);
        l.hit("a", 10);
        assert_eq!(l.blocked("a", 20), Some(980));
        assert_eq!(l.blocked("a", 1000), None);
        l.hit("b", 0);
        l.hit("c", 0);
        assert!(l.blocked("d", 5).is_some(), "full: new keys refused");
        l.hit("d", 2000);
        assert_eq!(l.blocked("d", 2000), None, "expired windows dropped");
    }
}
