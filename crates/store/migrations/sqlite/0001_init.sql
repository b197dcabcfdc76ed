-- Held messages: the raw message waits here until a reviewer decides.
CREATE TABLE holds (
    id              TEXT    PRIMARY KEY NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('held', 'released', 'rejected')),
    created_at_ms   BIGINT  NOT NULL,
    mail_from       TEXT    NOT NULL,
    rcpt_to_json    TEXT    NOT NULL,
    rcpt_count      BIGINT  NOT NULL,
    sender          TEXT,
    queue_id        TEXT,
    reason          TEXT    NOT NULL,
    verdict_json    TEXT    NOT NULL,
    raw             BLOB    NOT NULL,
    raw_size        BIGINT  NOT NULL,
    raw_sha256      TEXT    NOT NULL,
    decided_by      TEXT,
    decided_at_ms   BIGINT,
    decision_reason TEXT
);
CREATE INDEX holds_status_created ON holds (status, created_at_ms, id);
CREATE INDEX holds_created ON holds (created_at_ms, id);

-- One row per (message, recipient) of an exploded message: a retry skips what was delivered.
CREATE TABLE deliveries (
    message_key     TEXT    NOT NULL,
    recipient       TEXT    NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('pending', 'delivered')),
    attempts        BIGINT  NOT NULL,
    claimed_at_ms   BIGINT  NOT NULL,
    delivered_at_ms BIGINT,
    PRIMARY KEY (message_key, recipient)
);

-- Append-only, hash-chained audit log.
CREATE TABLE audit_log (
    seq             BIGINT  PRIMARY KEY NOT NULL,
    at_ms           BIGINT  NOT NULL,
    actor           TEXT    NOT NULL,
    action          TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    details_json    TEXT    NOT NULL,
    prev_hash       TEXT    NOT NULL,
    hash            TEXT    NOT NULL
);

-- The chain's head, one row. Every append updates it first, which serializes writers
-- (the write lock on SQLite, a row lock on PostgreSQL) and lets verification notice a cut tail.
CREATE TABLE audit_head (
    id              BIGINT  PRIMARY KEY NOT NULL CHECK (id = 1),
    seq             BIGINT  NOT NULL,
    hash            TEXT    NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
