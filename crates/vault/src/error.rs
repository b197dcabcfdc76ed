use thiserror::Error;

/// A master key could not be read from the configuration. Never contains key material.
#[derive(Debug, Error)]
pub enum KeyError {
    /// The setting is absent or empty.
    #[error("{which} is not set (generate one with `doublecheck keys generate`)")]
    Missing { which: String },
    /// The setting does not hold a valid key.
    #[error("{which} is not a valid master key: {reason}")]
    Malformed { which: String, reason: &'static str },
    /// Two keys in the ring have the same id.
    #[error("two master keys have the id {id:?}; each key needs its own id")]
    DuplicateId { id: String },
    /// The operating system's random number generator failed.
    #[error("the system random number generator is unavailable")]
    Random,
}

/// Why a vault operation failed. `Display` is one sentence for the operator; nothing in it is
/// secret (no key material, no document bytes).
#[derive(Debug, Error)]
pub enum VaultError {
    /// The document id cannot name a blob (empty, too long, or characters outside
    /// `A-Z a-z 0-9 _ -`).
    #[error("invalid document id: {0}")]
    InvalidId(String),
    /// The document is larger than the vault accepts.
    #[error("document of {size} bytes exceeds the vault's limit of {max} bytes")]
    TooLarge { size: u64, max: u64 },
    /// The document's wrapped data key names a master key that is not in the ring (it was
    /// dropped before this document was re-wrapped).
    #[error(
        "master key {0:?} is not configured; add it to the previous master keys to read this document"
    )]
    UnknownKey(String),
    /// The wrapped data key does not unwrap under its master key: the wrong key material under
    /// that id, or the record was altered.
    #[error("the document's data key does not unwrap (wrong master key or altered record)")]
    KeyUnwrap,
    /// The blob does not decrypt: it was altered, truncated, replaced, or belongs to another
    /// document id.
    #[error("the document does not decrypt (altered blob or record)")]
    Decrypt,
    /// The database record is not one this version can read.
    #[error("the document record is malformed: {0}")]
    BadRecord(String),
    /// A blob already exists under this document id.
    #[error("a document with this id is already stored")]
    AlreadyExists,
    /// The blob is gone (destroyed, or never stored).
    #[error("the document's blob is not in the object store")]
    NotFound,
    /// The object store failed (I/O, network, permissions); may succeed later.
    #[error("object store: {0}")]
    Store(String),
    /// The configuration is invalid.
    #[error("vault configuration: {0}")]
    Config(String),
    /// A master key problem.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The operating system's random number generator failed.
    #[error("the system random number generator is unavailable")]
    Random,
}

impl VaultError {
    /// True when retrying later may succeed (the object store was unreachable or busy).
    pub fn is_temporary(&self) -> bool {
        matches!(self, VaultError::Store(_))
    }
}

impl From<object_store::Error> for VaultError {
    fn from(e: object_store::Error) -> Self {
        use object_store::Error as E;
        match e {
            E::NotFound { .. } => VaultError::NotFound,
            E::AlreadyExists { .. } => VaultError::AlreadyExists,
            other => VaultError::Store(other.to_string()),
        }
    }
}
