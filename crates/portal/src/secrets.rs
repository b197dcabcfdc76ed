//! Secrets of the portal: link tokens, the server key and its keyed hashes (known values,
//! one-time codes), webhook signing secrets and signatures.
//!
//! # Why HMAC-SHA256 with a server key for `known` values and codes
//!
//! A postcode, a birth date, the last four digits of an account and a 6-digit code have little
//! entropy: 10⁴–10⁶ candidates. A salted hash without a secret — however slow (argon2) — falls
//! to an offline search in seconds to hours once the database leaks, so its cost buys nothing.
//! A keyed hash (HMAC-SHA256 under a 256-bit server key kept outside the database: a file under
//! the data directory or `DOUBLECHECK_PORTAL_KEY`) cannot be searched without the key, and
//! online guessing is bounded by attempt limits. Each session also has its own random salt, so
//! equal values in two sessions hash differently. HMAC is cheap, so a page checking a code
//! stays well under a millisecond.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::path::Path;

type HmacSha256 = Hmac<Sha256>;

/// Why a secret could not be made or loaded.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("no randomness: {0}")]
    Random(String),
    #[error("the portal key {0}")]
    Key(String),
}

/// `n` random bytes.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], SecretError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| SecretError::Random(e.to_string()))?;
    Ok(b)
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(H[usize::from(b >> 4)] as char);
        s.push(H[usize::from(b & 15)] as char);
    }
    s
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// SHA-256 hex of a string (link tokens are stored this way).
pub fn sha256_hex(s: &str) -> String {
    hex(&Sha256::digest(s.as_bytes()))
}

/// A link token: 256 random bits, base64url (43 characters), and the SHA-256 hex to store.
pub fn new_link_token() -> Result<(String, String), SecretError> {
    let token = URL_SAFE_NO_PAD.encode(random_bytes::<32>()?);
    let hash = sha256_hex(&token);
    Ok((token, hash))
}

/// Whether a string has the shape of a link token (checked before any database look-up).
pub fn token_shape(s: &str) -> bool {
    s.len() == 43
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A 6-digit one-time code, uniformly drawn.
pub fn new_code() -> Result<String, SecretError> {
    loop {
        let b = random_bytes::<4>()?;
        let n = u32::from_le_bytes(b);
        // reject the top of the range so every code is equally likely
        if n < 4_294_000_000 {
            return Ok(format!("{:06}", n % 1_000_000));
        }
    }
}

/// The server key of the keyed hashes.
#[derive(Clone)]
pub struct ServerKey([u8; 32]);

impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerKey(…)")
    }
}

impl ServerKey {
    pub fn from_bytes(b: [u8; 32]) -> ServerKey {
        ServerKey(b)
    }

    /// From 64 hex digits.
    pub fn from_hex(s: &str) -> Result<ServerKey, SecretError> {
        let v = unhex(s.trim())
            .filter(|v| v.len() == 32)
            .ok_or_else(|| SecretError::Key("must be 64 hex digits".into()))?;
        let mut b = [0u8; 32];
        b.copy_from_slice(&v);
        Ok(ServerKey(b))
    }

    /// `DOUBLECHECK_PORTAL_KEY` if set, else the file (created with 32 random bytes, mode 0600,
    /// when missing).
    pub fn load(file: &Path, env: Option<String>) -> Result<ServerKey, SecretError> {
        if let Some(v) = env {
            return ServerKey::from_hex(&v);
        }
        match std::fs::read_to_string(file) {
            Ok(s) => ServerKey::from_hex(&s)
                .map_err(|e| SecretError::Key(format!("in {}: {e}", file.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = ServerKey(random_bytes::<32>()?);
                if let Some(dir) = file.parent() {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| SecretError::Key(format!("directory: {e}")))?;
                }
                write_private(file, &hex(&key.0))
                    .map_err(|e| SecretError::Key(format!("{}: {e}", file.display())))?;
                Ok(key)
            }
            Err(e) => Err(SecretError::Key(format!("{}: {e}", file.display()))),
        }
    }

    fn mac(&self, parts: &[&str]) -> String {
        let mut m = match HmacSha256::new_from_slice(&self.0) {
            Ok(m) => m,
            Err(_) => unreachable_key(),
        };
        for p in parts {
            m.update(&(p.len() as u64).to_be_bytes());
            m.update(p.as_bytes());
        }
        hex(&m.finalize().into_bytes())
    }

    /// The keyed hash of a known value (already normalized) of one session.
    pub fn known_hash(&self, salt: &str, field: &str, value: &str) -> String {
        self.mac(&["known/v1", salt, field, value])
    }

    /// The keyed hash of a one-time code of a session.
    pub fn code_hash(&self, session_id: &str, code: &str) -> String {
        self.mac(&["code/v1", session_id, code])
    }

    /// Whether `value` (normalized with [`normalize_known`]) matches the known value `field` of
    /// a session's `known_json`; `None` when that value was not given.
    pub fn known_matches(&self, known_json: &str, field: &str, value: &str) -> Option<bool> {
        let v: serde_json::Value = serde_json::from_str(known_json).ok()?;
        let salt = v.get("salt")?.as_str()?;
        let stored = v.get(field)?.as_str()?;
        Some(doublecheck_store::constant_time_eq(
            stored,
            &self.known_hash(salt, field, value),
        ))
    }
}

#[cold]
fn unreachable_key() -> ! {
    // HMAC accepts keys of any length; a 32-byte key cannot be refused.
    panic!("HMAC refused a 32-byte key")
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

/// The known fields the API accepts.
pub const KNOWN_FIELDS: &[&str] = &["postcode", "birth_date", "account_last4"];

/// A known value in the one form it is hashed in, or `None` when it is malformed:
/// postcodes upper-case without spaces or dashes (2–10 letters and digits), birth dates
/// `YYYY-MM-DD` (a real date after 1900), the last four digits of an account.
pub fn normalize_known(field: &str, value: &str) -> Option<String> {
    let v = value.trim();
    match field {
        "postcode" => {
            let n: String = v
                .chars()
                .filter(|c| !matches!(c, ' ' | '-'))
                .map(|c| c.to_ascii_uppercase())
                .collect();
            (2..=10)
                .contains(&n.len())
                .then_some(())
                .filter(|_| n.chars().all(|c| c.is_ascii_alphanumeric()))
                .map(|_| n)
        }
        "birth_date" => {
            let b = v.as_bytes();
            if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
                return None;
            }
            let y: u32 = v[0..4].parse().ok()?;
            let m: u32 = v[5..7].parse().ok()?;
            let d: u32 = v[8..10].parse().ok()?;
            let leap = (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400);
            let days = [
                31,
                if leap { 29 } else { 28 },
                31,
                30,
                31,
                30,
                31,
                31,
                30,
                31,
                30,
                31,
            ];
            let ok = (1900..=2100).contains(&y)
                && (1..=12).contains(&m)
                && d >= 1
                && d <= days[(m - 1) as usize];
            ok.then(|| v.to_string())
        }
        "account_last4" => {
            (v.len() == 4 && v.bytes().all(|b| b.is_ascii_digit())).then(|| v.to_string())
        }
        _ => None,
    }
}

/// A webhook signing secret: `whsec_` and 32 random bytes in base64.
pub fn new_webhook_secret() -> Result<String, SecretError> {
    Ok(format!("whsec_{}", STANDARD.encode(random_bytes::<32>()?)))
}

/// The Standard Webhooks signature header value: `v1,` and the base64 HMAC-SHA256 of
/// `{id}.{timestamp}.{body}` keyed by the base64-decoded secret after `whsec_`.
pub fn sign_webhook(secret: &str, id: &str, timestamp: i64, body: &str) -> Option<String> {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .ok()?;
    let mut m = HmacSha256::new_from_slice(&key).ok()?;
    m.update(format!("{id}.{timestamp}.").as_bytes());
    m.update(body.as_bytes());
    Some(format!("v1,{}", STANDARD.encode(m.finalize().into_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_normalize() {
        assert_eq!(
            normalize_known("postcode", " sw1a 1aa "),
            Some("SW1A1AA".into())
        );
        assert_eq!(normalize_known("postcode", "2801-3"), Some("28013".into()));
        assert_eq!(normalize_known("postcode", "x"), None);
        assert_eq!(
            normalize_known("birth_date", "1990-02-28"),
            Some("1990-02-28".into())
        );
        assert_eq!(normalize_known("birth_date", "1990-02-30"), None);
        assert_eq!(
            normalize_known("birth_date", "2000-02-29"),
            Some("2000-02-29".into())
        );
        assert_eq!(
            normalize_known("account_last4", "1234"),
            Some("1234".into())
        );
        assert_eq!(normalize_known("account_last4", "12a4"), None);
        assert_eq!(normalize_known("other", "1"), None);
    }

    #[test]
    fn hashes_are_keyed_and_salted() {
        let k = ServerKey::from_bytes([7; 32]);
        let other = ServerKey::from_bytes([8; 32]);
        assert_ne!(
            k.known_hash("s", "postcode", "X1"),
            other.known_hash("s", "postcode", "X1")
        );
        assert_ne!(
            k.known_hash("s", "postcode", "X1"),
            k.known_hash("t", "postcode", "X1")
        );
        let known =
            serde_json::json!({"salt": "s", "postcode": k.known_hash("s", "postcode", "X1")})
                .to_string();
        assert_eq!(k.known_matches(&known, "postcode", "X1"), Some(true));
        assert_eq!(k.known_matches(&known, "postcode", "X2"), Some(false));
        assert_eq!(k.known_matches(&known, "birth_date", "X1"), None);
        assert_eq!(k.code_hash("vs_1", "123456").len(), 64);
    }

    #[test]
    fn tokens_and_codes() {
        let (t, h) = new_link_token().unwrap();
        assert!(token_shape(&t));
        assert_eq!(h, sha256_hex(&t));
        let c = new_code().unwrap();
        assert!(c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit()));
        assert!(new_webhook_secret().unwrap().starts_with("whsec_"));
    }

    #[test]
    fn key_file_is_created_once() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k/portal.key");
        let a = ServerKey::load(&p, None).unwrap();
        let b = ServerKey::load(&p, None).unwrap();
        assert_eq!(a.code_hash("s", "1"), b.code_hash("s", "1"));
        assert!(ServerKey::load(&p, Some("zz".into())).is_err());
    }

    #[test]
    fn signature_matches_the_standard_webhooks_example() {
        // From the Standard Webhooks specification's reference test vector.
        let sig = sign_webhook(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(
            sig.as_deref(),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
    }
}
