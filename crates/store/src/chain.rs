//! The audit chain's hash: SHA-256 over the previous entry's hash and the entry's fields,
//! each field length-prefixed so that no two different entries share an encoding.

use sha2::{Digest, Sha256};

/// The `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const DOMAIN: &[u8] = b"doublecheck-audit-v1";

/// Lowercase hex of SHA-256 over `prev_hash || seq || at_ms || actor || action || subject || details`.
pub fn entry_hash(
    prev_hash: &str,
    seq: i64,
    at_ms: i64,
    actor: &str,
    action: &str,
    subject: &str,
    details_json: &str,
) -> String {
    let mut h = Sha256::new();
    let mut field = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(bytes);
    };
    field(DOMAIN);
    field(prev_hash.as_bytes());
    field(&seq.to_be_bytes());
    field(&at_ms.to_be_bytes());
    field(actor.as_bytes());
    field(action.as_bytes());
    field(subject.as_bytes());
    field(details_json.as_bytes());
    hex(h.finalize().as_slice())
}

/// Lowercase hex of SHA-256 over `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(Sha256::digest(bytes).as_slice())
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_empty_input() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn fields_do_not_run_together() {
        let a = entry_hash(GENESIS_HASH, 1, 0, "ab", "c", "s", "{}");
        let b = entry_hash(GENESIS_HASH, 1, 0, "a", "bc", "s", "{}");
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn depends_on_the_previous_hash() {
        let a = entry_hash(GENESIS_HASH, 2, 5, "x", "y", "z", "{}");
        let b = entry_hash(&"1".repeat(64), 2, 5, "x", "y", "z", "{}");
        assert_ne!(a, b);
    }
}
