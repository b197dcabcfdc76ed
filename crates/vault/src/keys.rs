//! Master keys: the current one (wraps new data keys) and older ones (unwrap only).
//!
//! A key string is `ID:MATERIAL` or just `MATERIAL`. MATERIAL is 32 bytes written as 64 hex
//! digits or as base64 (standard or URL-safe alphabet, padding optional). ID is 1–64 characters
//! of `A-Z a-z 0-9 . _ -`; without one, the id is `mk-` and the first 12 hex digits of a SHA-256
//! fingerprint of the key, so the same material always gets the same id. The id is stored next
//! to each wrapped data key and tells [`KeyRing`] which master key unwraps it.
//!
//! Key material never appears in `Debug`, `Display` or error messages.

use std::fmt;

use base64::Engine as _;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::KeyError;

/// Length of a master key and of a data key, in bytes (AES-256).
pub const KEY_LEN: usize = 32;
/// The longest key id accepted.
pub const MAX_KEY_ID_LEN: usize = 64;
/// The longest key string accepted (before any decoding).
const MAX_KEY_STRING_LEN: usize = 256;

/// One master key: an id and 32 secret bytes (zeroed when dropped).
#[derive(Clone)]
pub struct MasterKey {
    id: String,
    material: Zeroizing<[u8; KEY_LEN]>,
}

impl MasterKey {
    /// A key from its id and material. The id must be 1–64 characters of `A-Z a-z 0-9 . _ -`.
    pub fn new(id: &str, material: [u8; KEY_LEN]) -> Result<Self, KeyError> {
        let material = Zeroizing::new(material);
        check_id(id, "key")?;
        Ok(MasterKey {
            id: id.to_string(),
            material,
        })
    }

    /// Parses a key string (`ID:MATERIAL` or `MATERIAL`, see the module docs). `which` names the
    /// setting in error messages (e.g. `DOUBLECHECK_MASTER_KEY`); the string itself is never
    /// repeated.
    pub fn parse(s: &str, which: &str) -> Result<Self, KeyError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(KeyError::Missing {
                which: which.to_string(),
            });
        }
        if s.len() > MAX_KEY_STRING_LEN {
            return Err(KeyError::Malformed {
                which: which.to_string(),
                reason: "it is too long to be a 32-byte key",
            });
        }
        let (id, material) = match s.split_once(':') {
            Some((id, m)) => (Some(id.trim()), m.trim()),
            None => (None, s),
        };
        let bytes = decode_material(material).ok_or_else(|| KeyError::Malformed {
            which: which.to_string(),
            reason: "the key is not 32 bytes written as 64 hex digits or as base64",
        })?;
        let id = match id {
            Some(id) => {
                check_id(id, which)?;
                id.to_string()
            }
            None => fingerprint_id(&bytes),
        };
        Ok(MasterKey {
            id,
            material: bytes,
        })
    }

    /// The key id recorded next to each data key this key wraps.
    pub fn id(&self) -> &str {
        &self.id
    }

    pub(crate) fn material(&self) -> &[u8; KEY_LEN] {
        &self.material
    }

    /// The key as a string that [`MasterKey::parse`] reads back: `ID:BASE64`.
    /// This string is secret; show it once and store it in the environment or a secret store.
    pub fn to_key_string(&self) -> Zeroizing<String> {
        let b64 = base64::engine::general_purpose::STANDARD.encode(self.material.as_slice());
        Zeroizing::new(format!("{}:{}", self.id, b64))
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .field("material", &"<redacted>")
            .finish()
    }
}

/// A new random master key as a key string (`mk-<fingerprint>:<base64>`), for
/// `DOUBLECHECK_MASTER_KEY`. Secret: show it once.
pub fn generate_master_key() -> Result<Zeroizing<String>, KeyError> {
    let mut material = Zeroizing::new([0u8; KEY_LEN]);
    getrandom::fill(material.as_mut_slice()).map_err(|_| KeyError::Random)?;
    let key = MasterKey {
        id: fingerprint_id(&material),
        material,
    };
    Ok(key.to_key_string())
}

/// The master keys a vault knows: one current key that wraps every new data key, and older keys
/// kept only to unwrap data keys that have not been re-wrapped yet (see [`crate::Vault::rewrap`]).
#[derive(Clone)]
pub struct KeyRing {
    current: MasterKey,
    previous: Vec<MasterKey>,
}

impl KeyRing {
    /// A ring with only `current`.
    pub fn new(current: MasterKey) -> Self {
        KeyRing {
            current,
            previous: Vec::new(),
        }
    }

    /// Adds an older key for reading. Refuses a second key with the same id.
    pub fn with_previous(mut self, key: MasterKey) -> Result<Self, KeyError> {
        if key.id == self.current.id || self.previous.iter().any(|k| k.id == key.id) {
            return Err(KeyError::DuplicateId { id: key.id.clone() });
        }
        self.previous.push(key);
        Ok(self)
    }

    /// Builds a ring from key strings: `current` (e.g. `DOUBLECHECK_MASTER_KEY`) and `previous`
    /// (e.g. the entries of `DOUBLECHECK_PREVIOUS_MASTER_KEYS`, comma-separated). Empty previous
    /// entries are skipped.
    pub fn from_config(current: &str, previous: &[&str]) -> Result<Self, KeyError> {
        let mut ring = KeyRing::new(MasterKey::parse(current, "current master key")?);
        for (i, p) in previous.iter().enumerate() {
            if p.trim().is_empty() {
                continue;
            }
            let which = format!("previous master key #{}", i + 1);
            ring = ring.with_previous(MasterKey::parse(p, &which)?)?;
        }
        Ok(ring)
    }

    /// Builds a ring from `DOUBLECHECK_MASTER_KEY` and `DOUBLECHECK_PREVIOUS_MASTER_KEYS`
    /// (comma-separated) read through `env` (pass `|k| std::env::var(k).ok()`).
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Result<Self, KeyError> {
        let current = env(crate::MASTER_KEY_ENV).ok_or_else(|| KeyError::Missing {
            which: crate::MASTER_KEY_ENV.to_string(),
        })?;
        let previous = env(crate::PREVIOUS_MASTER_KEYS_ENV).unwrap_or_default();
        let previous = Zeroizing::new(previous);
        let list: Vec<&str> = previous.split(',').collect();
        KeyRing::from_config(&current, &list)
    }

    /// The key that wraps new data keys.
    pub fn current(&self) -> &MasterKey {
        &self.current
    }

    /// The ids of the older keys, oldest last as given.
    pub fn previous_ids(&self) -> impl Iterator<Item = &str> {
        self.previous.iter().map(|k| k.id.as_str())
    }

    /// The key with this id, current or previous.
    pub fn get(&self, id: &str) -> Option<&MasterKey> {
        if self.current.id == id {
            return Some(&self.current);
        }
        self.previous.iter().find(|k| k.id == id)
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("current", &self.current.id)
            .field(
                "previous",
                &self.previous.iter().map(|k| &k.id).collect::<Vec<_>>(),
            )
            .finish()
    }
}

fn check_id(id: &str, which: &str) -> Result<(), KeyError> {
    let ok = !id.is_empty()
        && id.len() <= MAX_KEY_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(KeyError::Malformed {
            which: which.to_string(),
            reason: "the key id must be 1-64 characters of A-Z, a-z, 0-9, '.', '_' or '-'",
        })
    }
}

fn decode_material(s: &str) -> Option<Zeroizing<[u8; KEY_LEN]>> {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let mut out = Zeroizing::new([0u8; KEY_LEN]);
    if s.len() == 2 * KEY_LEN && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode_to_slice(s, out.as_mut_slice()).ok()?;
        return Some(out);
    }
    let unpadded = s.trim_end_matches('=');
    let decoded = Zeroizing::new(
        STANDARD_NO_PAD
            .decode(unpadded)
            .or_else(|_| URL_SAFE_NO_PAD.decode(unpadded))
            .ok()?,
    );
    if decoded.len() != KEY_LEN {
        return None;
    }
    out.copy_from_slice(&decoded);
    Some(out)
}

fn fingerprint_id(material: &[u8; KEY_LEN]) -> String {
    let mut h = Sha256::new();
    h.update(b"doublecheck-vault master key id\0");
    h.update(material);
    let digest = h.finalize();
    format!("mk-{}", hex::encode(&digest[..6]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hex_base64_and_ids() {
        let hex_key = "00".repeat(31) + "01";
        let a = MasterKey::parse(&hex_key, "k").unwrap();
        assert!(a.id().starts_with("mk-") && a.id().len() == 15);
        let b64 = base64::engine::general_purpose::STANDARD.encode(a.material());
        let b = MasterKey::parse(&b64, "k").unwrap();
        assert_eq!(a.id(), b.id());
        let c = MasterKey::parse(&format!("2026-01:{b64}"), "k").unwrap();
        assert_eq!(c.id(), "2026-01");
        assert_eq!(c.material(), a.material());
        let round = MasterKey::parse(&c.to_key_string(), "k").unwrap();
        assert_eq!(round.id(), "2026-01");
    }

    #[test]
    fn bad_keys_are_refused_without_echoing_them() {
        for bad in [
            "short",
            "zz",
            &"ab".repeat(31),
            "bad id!:AAAA",
            &"A".repeat(300),
        ] {
            let err = MasterKey::parse(bad, "DOUBLECHECK_MASTER_KEY").unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains("DOUBLECHECK_MASTER_KEY"), "{msg}");
            if bad.len() > 4 {
                assert!(!msg.contains(bad), "{msg}");
            }
        }
        assert!(matches!(
            MasterKey::parse("  ", "x"),
            Err(KeyError::Missing { .. })
        ));
    }

    #[test]
    fn generated_keys_parse_and_differ() {
        let a = generate_master_key().unwrap();
        let b = generate_master_key().unwrap();
        assert_ne!(*a, *b);
        let k = MasterKey::parse(&a, "k").unwrap();
        assert!(a.starts_with(k.id()));
        assert!(!format!("{k:?}").contains(&a[k.id().len() + 1..]));
    }

    #[test]
    fn ring_refuses_duplicate_ids() {
        let k = generate_master_key().unwrap();
        assert!(matches!(
            KeyRing::from_config(&k, &[&k]),
            Err(KeyError::DuplicateId { .. })
        ));
    }
}
