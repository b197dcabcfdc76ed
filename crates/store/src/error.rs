use thiserror::Error;

/// Why a store operation failed. `Display` is one human sentence.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The hold (or other record) does not exist.
    #[error("no such record")]
    NotFound,
    /// The operation conflicts with the record's current state (a second decision on a hold).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The actor may not do this (the sender approving their own message).
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// A verification session may not move from its status to the one asked for.
    #[error("a verification session cannot go from {from} to {to}")]
    InvalidTransition {
        from: &'static str,
        to: &'static str,
    },
    /// The input is larger than the store accepts.
    #[error("message of {size} bytes exceeds the store's limit of {max} bytes")]
    TooLarge { size: u64, max: u64 },
    /// The input is malformed or out of bounds.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// The database cannot be reached or is busy; the gate should answer with a temporary failure.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// Stored data does not decode as expected.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// Anything else.
    #[error("store error: {0}")]
    Other(String),
}

impl StoreError {
    /// True when retrying later may succeed (the gate answers 4xx).
    pub fn is_temporary(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

/// SQLSTATE classes and codes of PostgreSQL that mean "try again later".
fn pg_code_is_temporary(code: &str) -> bool {
    code.starts_with("08") // connection exception
        || code.starts_with("53") // insufficient resources
        || code.starts_with("57") // operator intervention (admin shutdown, cannot connect now)
        || code == "40001" // serialization failure
        || code == "40P01" // deadlock detected
        || code == "55P03" // lock not available
}

/// SQLite primary result codes that mean "try again later": BUSY, LOCKED, IOERR, FULL, CANTOPEN.
fn sqlite_code_is_temporary(code: &str) -> bool {
    match code.parse::<i64>() {
        Ok(n) => matches!(n & 0xff, 5 | 6 | 10 | 13 | 14),
        Err(_) => false,
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        use sqlx::Error as E;
        match e {
            E::RowNotFound => StoreError::NotFound,
            E::Io(_)
            | E::Tls(_)
            | E::PoolTimedOut
            | E::PoolClosed
            | E::WorkerCrashed
            | E::Protocol(_) => StoreError::Unavailable(e.to_string()),
            E::Database(ref db) => {
                if db.is_unique_violation() {
                    return StoreError::Conflict(db.message().to_string());
                }
                let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
                if pg_code_is_temporary(&code) || sqlite_code_is_temporary(&code) {
                    StoreError::Unavailable(e.to_string())
                } else {
                    StoreError::Other(e.to_string())
                }
            }
            E::ColumnDecode { .. }
            | E::ColumnNotFound(_)
            | E::Decode(_)
            | E::TypeNotFound { .. } => StoreError::Corrupt(e.to_string()),
            E::Configuration(_) => StoreError::Invalid(e.to_string()),
            other => StoreError::Other(other.to_string()),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        use sqlx::migrate::MigrateError as M;
        match e {
            M::Execute(inner) | M::ExecuteMigration(inner, _) => inner.into(),
            M::VersionMissing(_) | M::VersionMismatch(_) | M::Dirty(_) => {
                StoreError::Corrupt(format!("database schema: {e}"))
            }
            other => StoreError::Other(format!("database schema: {other}")),
        }
    }
}
