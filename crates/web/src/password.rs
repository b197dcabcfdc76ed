//! Staff passwords: argon2id (the crate's defaults: 19 MiB, 2 passes, 1 lane), hashed and checked
//! on the blocking pool so a sign-in never stalls the async runtime.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// Shortest password accepted for a staff account.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest password accepted (bytes): bounds the hashing work.
pub const MAX_PASSWORD_BYTES: usize = 1024;

fn hasher() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default())
}

/// Why a password is not acceptable for a new account, if it is not.
pub fn problem(password: &str) -> Option<String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Some(format!(
            "The password must have at least {MIN_PASSWORD_CHARS} characters."
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Some(format!(
            "The password must have at most {MAX_PASSWORD_BYTES} bytes."
        ));
    }
    None
}

/// Why `password` is not acceptable for the account `email`, if it is not: [`problem`], and
/// never the account's own email address (in any case).
pub fn problem_for(email: &str, password: &str) -> Option<String> {
    if let Some(p) = problem(password) {
        return Some(p);
    }
    let email = email.trim();
    if !email.is_empty() && password.trim().eq_ignore_ascii_case(email) {
        return Some("The password must not be the account's email address.".into());
    }
    None
}

/// The PHC string of an argon2id hash of `password` with a fresh salt.
pub async fn hash(password: String) -> Result<String, String> {
    tokio::task::spawn_blocking(move || hash_now(&password))
        .await
        .map_err(|e| format!("the hashing task failed: {e}"))?
}

/// [`hash`], on the calling thread (for the command line).
pub fn hash_now(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| format!("no randomness: {e}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Does `password` match the PHC string `hash`? False for a malformed hash or an overlong
/// password.
pub async fn verify(password: String, hash: String) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    tokio::task::spawn_blocking(move || match PasswordHash::new(&hash) {
        Ok(parsed) => hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_differ() {
        let a = hash("correct horse battery".into()).await.unwrap();
        let b = hash("correct horse battery".into()).await.unwrap();
        assert!(a.starts_with("$argon2id$v=19$"), "{a}");
        assert_ne!(a, b, "fresh salt each time");
        assert!(verify("correct horse battery".into(), a.clone()).await);
        assert!(!verify("correct horse battery!".into(), a).await);
        assert!(!verify("x".into(), "not a hash".into()).await);
        assert!(problem("short").is_some());
        assert!(problem("twelve chars").is_none());
        assert!(problem_for("longname@example.com", "LongName@Example.com ").is_some());
        assert!(
            problem_for("a@example.com", "a@example.com").is_some(),
            "short too"
        );
        assert!(problem_for("longname@example.com", "longname@example.co").is_none());
    }
}
