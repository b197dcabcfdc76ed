//! The per-hour limits of the customer's pages — code sends per session, link renewals per
//! session and per client address — counted in the store ([`Store::rate_count`]), so that they
//! hold across a restart and across every instance sharing the database.
//!
//! Each instance remembers, in memory, the subjects the store has found over a limit and until
//! when ([`BlockedUntil`]): while that time has not come, the request is refused without asking
//! the store. This fast path is never more lenient than the store: a subject's count in the
//! store only falls as its actions age out of the window, and the time remembered is when the
//! oldest of them ages out. (A count given back with [`Store::rate_release`] also clears what
//! this instance remembers of that subject.)
//!
//! Addresses are counted under a keyed hash of the address (the server key's), never the
//! address itself.

use super::CustomerState;
use doublecheck_store::{RateCount, RateLimit, Store, StoreError};
use std::collections::HashMap;
use std::sync::Mutex;

/// The window of the per-hour limits.
pub const HOUR_MS: i64 = 3_600_000;

/// A code sent to a session.
pub const CODE_SEND: &str = "code_send";
/// A new link asked for on a session's link page.
pub const RENEW_SESSION: &str = "renew_session";
/// A new link asked for from a client address.
pub const RENEW_ADDRESS: &str = "renew_address";

/// The most subjects remembered as blocked; past it, expired entries are dropped, and if that
/// is not enough nothing more is remembered (the store still answers, a little slower).
const MAX_REMEMBERED: usize = 100_000;

/// The subjects found over a limit, and until when (unix ms).
#[derive(Debug, Default)]
pub struct BlockedUntil {
    map: Mutex<HashMap<(&'static str, String), i64>>,
}

impl BlockedUntil {
    /// Milliseconds until `subject` may act under `kind` again, when it is known to be blocked.
    pub fn wait(&self, kind: &'static str, subject: &str, now_ms: i64) -> Option<i64> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&(kind, subject.to_string()))
            .filter(|until| now_ms < **until)
            .map(|until| until - now_ms)
    }

    fn remember(&self, kind: &'static str, subject: &str, until_ms: i64, now_ms: i64) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_REMEMBERED {
            map.retain(|_, until| now_ms < *until);
            if map.len() >= MAX_REMEMBERED {
                return;
            }
        }
        map.insert((kind, subject.to_string()), until_ms);
    }

    fn forget(&self, kind: &'static str, subject: &str) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&(kind, subject.to_string()));
    }
}

/// One limit of a request: what is counted, for whom, how many an hour.
#[derive(Debug, Clone)]
pub struct Limit {
    pub kind: &'static str,
    pub subject: String,
    pub per_hour: u32,
}

/// The outcome of [`count`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Counted {
    /// Counted; the ticket gives the count back ([`release`]).
    Yes(Ticket),
    /// Over a limit; try again in this many milliseconds.
    Over { retry_after_ms: i64 },
}

/// What [`release`] needs to give a count back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    id: String,
    subjects: Vec<(&'static str, String)>,
}

/// Counts one action under every limit of `limits` (all or none), first against what this
/// instance remembers as blocked, then in the store.
pub async fn count(
    st: &CustomerState,
    limits: &[Limit],
    now_ms: i64,
) -> Result<Counted, StoreError> {
    let known = &st.limits.blocked;
    if let Some(wait) = limits
        .iter()
        .filter_map(|l| known.wait(l.kind, &l.subject, now_ms))
        .max()
    {
        return Ok(Counted::Over {
            retry_after_ms: wait,
        });
    }
    let store: &Store = &st.portal.app.store;
    let asked: Vec<RateLimit<'_>> = limits
        .iter()
        .map(|l| RateLimit {
            kind: l.kind,
            subject: &l.subject,
            limit: l.per_hour,
            window_ms: HOUR_MS,
        })
        .collect();
    match store.rate_count(&asked, now_ms).await? {
        RateCount::Counted { ticket } => Ok(Counted::Yes(Ticket {
            id: ticket,
            subjects: limits.iter().map(|l| (l.kind, l.subject.clone())).collect(),
        })),
        RateCount::Over {
            index,
            retry_after_ms,
        } => {
            if let Some(l) = limits.get(index) {
                known.remember(l.kind, &l.subject, now_ms + retry_after_ms, now_ms);
            }
            Ok(Counted::Over { retry_after_ms })
        }
    }
}

/// Gives back a count whose action did not happen after all.
pub async fn release(st: &CustomerState, ticket: Ticket) {
    for (kind, subject) in &ticket.subjects {
        st.limits.blocked.forget(kind, subject);
    }
    if let Err(e) = st.portal.app.store.rate_release(&ticket.id).await {
        tracing::warn!(error = %e, "customer pages: a count was not given back");
    }
}

/// The subject under which an address is counted: a keyed hash of it.
pub fn address_subject(st: &CustomerState, ip: &str) -> String {
    st.portal
        .key
        .known_hash("customer-pages/v1", "client-address", ip)
}

/// Deletes the counts older than the window (the portal's housekeeping round).
pub async fn purge(store: &Store, now_ms: i64) -> Result<u64, StoreError> {
    store.rate_purge(now_ms.saturating_sub(HOUR_MS)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocked_until_expires_and_forgets() {
        let b = BlockedUntil::default();
        assert_eq!(b.wait(CODE_SEND, "vs_1", 0), None);
        b.remember(CODE_SEND, "vs_1", 1000, 0);
        assert_eq!(b.wait(CODE_SEND, "vs_1", 400), Some(600));
        assert_eq!(b.wait(RENEW_SESSION, "vs_1", 400), None, "per kind");
        assert_eq!(b.wait(CODE_SEND, "vs_1", 1000), None, "expired");
        b.remember(CODE_SEND, "vs_2", 1000, 0);
        b.forget(CODE_SEND, "vs_2");
        assert_eq!(b.wait(CODE_SEND, "vs_2", 1), None, "forgotten");
    }
}
