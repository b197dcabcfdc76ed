-- The verification portal's per-hour limits on the customer's pages (code sends per session,
-- link renewals per session and per client address), counted here so that they hold across a
-- restart and across every instance sharing the database. Kept in step with the other
-- dialect's 0005_portal_rate_limits.sql. Times are unix milliseconds.

-- One row per counted action: `kind` names the limit (`code_send`, `renew_session`,
-- `renew_address`); `subject` is a session id or a keyed hash of an address (never the address
-- itself); `ticket` groups the rows one request counted, so that a request that did not go
-- through can give them back. Rows older than the window are deleted.
CREATE TABLE portal_rate_hits (
    ticket          TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    at_ms           BIGINT  NOT NULL
);
CREATE INDEX portal_rate_hits_subject ON portal_rate_hits (kind, subject, at_ms);
CREATE INDEX portal_rate_hits_ticket ON portal_rate_hits (ticket);
CREATE INDEX portal_rate_hits_at ON portal_rate_hits (at_ms);

-- One row per limited subject, written first by every counting transaction: on PostgreSQL the
-- write locks the row, so two instances counting the same subject take turns (SQLite's write
-- transactions are serial already).
CREATE TABLE portal_rate_subjects (
    kind            TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    touched_at_ms   BIGINT  NOT NULL,
    PRIMARY KEY (kind, subject)
);
CREATE INDEX portal_rate_subjects_touched ON portal_rate_subjects (touched_at_ms);
