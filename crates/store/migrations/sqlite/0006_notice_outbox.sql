-- Notices to senders (held, released, rejected), written in the same transaction as the hold or
-- the decision they tell about, and sent by the gate's notice worker: the message is built once
-- and kept as it will be sent (MAIL FROM:<>, one recipient). Pending while next_attempt_at_ms
-- is set; sent (sent_at_ms) or given up (failed_at_ms) otherwise. One notice per hold and event.
CREATE TABLE notice_outbox (
    id                  TEXT    PRIMARY KEY NOT NULL,
    hold_id             TEXT    NOT NULL,
    event               TEXT    NOT NULL,
    recipient           TEXT    NOT NULL,
    raw                 BLOB    NOT NULL,
    created_at_ms       BIGINT  NOT NULL,
    attempts            BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at_ms  BIGINT,
    last_attempt_at_ms  BIGINT,
    last_error          TEXT,
    sent_at_ms          BIGINT,
    failed_at_ms        BIGINT
);
CREATE UNIQUE INDEX notice_outbox_hold_event ON notice_outbox (hold_id, event);
CREATE INDEX notice_outbox_due ON notice_outbox (next_attempt_at_ms);
