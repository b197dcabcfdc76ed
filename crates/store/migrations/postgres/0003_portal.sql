-- The verification portal: sessions, their links and one-time codes, documents, events, API
-- keys, idempotency records, webhook endpoints and deliveries, and the outbox of messages to
-- customers. Kept in step with ../sqlite/0003_portal.sql. Times are unix milliseconds.

-- API keys (`dk_test_…`, `dk_live_…`): only the SHA-256 of the key and its first characters.
CREATE TABLE api_keys (
    id              TEXT    PRIMARY KEY NOT NULL,
    key_hash        TEXT    NOT NULL UNIQUE,
    prefix          TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    livemode        BIGINT  NOT NULL CHECK (livemode IN (0, 1)),
    created_at_ms   BIGINT  NOT NULL,
    last_used_at_ms BIGINT,
    revoked_at_ms   BIGINT
);

-- Verification sessions. `seq` orders them (lists are newest first). Personal fields are NULL
-- after redaction; `known_json` holds only keyed hashes of the known values.
CREATE TABLE verification_sessions (
    seq                 BIGSERIAL PRIMARY KEY,
    id                  TEXT    NOT NULL UNIQUE,
    livemode            BIGINT  NOT NULL CHECK (livemode IN (0, 1)),
    type                TEXT    NOT NULL CHECK (type IN ('address', 'document', 'address_and_document')),
    status              TEXT    NOT NULL CHECK (status IN ('requires_input', 'processing',
                            'requires_review', 'verified', 'rejected', 'canceled', 'expired')),
    customer_email      TEXT,
    customer_phone      TEXT,
    customer_name       TEXT,
    customer_reference  TEXT,
    known_json          TEXT,
    address_json        TEXT,
    return_url          TEXT,
    metadata_json       TEXT    NOT NULL,
    api_key_id          TEXT,
    batch_id            TEXT,
    last_error_code     TEXT,
    last_error_reason   TEXT,
    expires_at_ms       BIGINT  NOT NULL,
    created_at_ms       BIGINT  NOT NULL,
    updated_at_ms       BIGINT  NOT NULL,
    redacted_at_ms      BIGINT,
    decided_by          TEXT,
    decided_at_ms       BIGINT,
    decision_reason     TEXT
);
CREATE INDEX verification_sessions_status ON verification_sessions (livemode, status, seq);
CREATE INDEX verification_sessions_expires ON verification_sessions (status, expires_at_ms);
CREATE INDEX verification_sessions_batch ON verification_sessions (batch_id);

-- Links sent to customers: only the SHA-256 of the 256-bit token. Single use; a new link
-- revokes the older ones.
CREATE TABLE verification_links (
    token_hash      TEXT    PRIMARY KEY NOT NULL,
    session_id      TEXT    NOT NULL REFERENCES verification_sessions (id),
    created_at_ms   BIGINT  NOT NULL,
    expires_at_ms   BIGINT  NOT NULL,
    used_at_ms      BIGINT,
    revoked_at_ms   BIGINT
);
CREATE INDEX verification_links_session ON verification_links (session_id);

-- The current one-time code of a session (one row per session, replaced on resend): only its
-- keyed hash; attempts, sends and the lock.
CREATE TABLE verification_codes (
    session_id      TEXT    PRIMARY KEY NOT NULL REFERENCES verification_sessions (id),
    code_hash       TEXT    NOT NULL,
    channel         TEXT    NOT NULL,
    created_at_ms   BIGINT  NOT NULL,
    expires_at_ms   BIGINT  NOT NULL,
    attempts        BIGINT  NOT NULL,
    sends           BIGINT  NOT NULL,
    last_sent_at_ms BIGINT  NOT NULL,
    locked          BIGINT  NOT NULL CHECK (locked IN (0, 1)),
    verified_at_ms  BIGINT
);

-- Documents: the vault's sealed record (encrypted data key, blob path) until destroyed.
CREATE TABLE verification_documents (
    id              TEXT    PRIMARY KEY NOT NULL,
    session_id      TEXT    NOT NULL REFERENCES verification_sessions (id),
    sealed_json     TEXT,
    filename        TEXT,
    content_type    TEXT    NOT NULL,
    size            BIGINT  NOT NULL,
    created_at_ms   BIGINT  NOT NULL,
    destroyed_at_ms BIGINT
);
CREATE INDEX verification_documents_session ON verification_documents (session_id);

-- Events (`evt_…`): every status change of a session, and its redaction.
CREATE TABLE portal_events (
    seq             BIGSERIAL PRIMARY KEY,
    id              TEXT    NOT NULL UNIQUE,
    type            TEXT    NOT NULL,
    livemode        BIGINT  NOT NULL CHECK (livemode IN (0, 1)),
    session_id      TEXT,
    data_json       TEXT    NOT NULL,
    created_at_ms   BIGINT  NOT NULL
);
CREATE INDEX portal_events_type ON portal_events (livemode, type, seq);
CREATE INDEX portal_events_session ON portal_events (session_id, seq);

-- Idempotency records per API key and `Idempotency-Key`: the request's fingerprint and the
-- response given (status 0 while the first request is still running).
CREATE TABLE idempotency_keys (
    api_key_id      TEXT    NOT NULL,
    idem_key        TEXT    NOT NULL,
    fingerprint     TEXT    NOT NULL,
    status_code     BIGINT  NOT NULL,
    response_json   TEXT,
    created_at_ms   BIGINT  NOT NULL,
    PRIMARY KEY (api_key_id, idem_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at_ms);

-- Webhook endpoints (`we_…`): the signing secret is kept to sign deliveries.
CREATE TABLE webhook_endpoints (
    seq                 BIGSERIAL PRIMARY KEY,
    id                  TEXT    NOT NULL UNIQUE,
    livemode            BIGINT  NOT NULL CHECK (livemode IN (0, 1)),
    url                 TEXT    NOT NULL,
    enabled_events_json TEXT    NOT NULL,
    secret              TEXT    NOT NULL,
    description         TEXT,
    created_at_ms       BIGINT  NOT NULL,
    disabled_at_ms      BIGINT
);

-- One delivery per event and subscribed endpoint: attempts, the next one, the last outcome.
CREATE TABLE webhook_deliveries (
    event_id            TEXT    NOT NULL,
    endpoint_id         TEXT    NOT NULL,
    created_at_ms       BIGINT  NOT NULL,
    attempts            BIGINT  NOT NULL,
    next_attempt_at_ms  BIGINT,
    last_attempt_at_ms  BIGINT,
    last_status_code    BIGINT,
    last_error          TEXT,
    delivered_at_ms     BIGINT,
    failed_at_ms        BIGINT,
    PRIMARY KEY (event_id, endpoint_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at_ms);

-- Batches of sessions created from a CSV or JSON rows.
CREATE TABLE verification_batches (
    id              TEXT    PRIMARY KEY NOT NULL,
    livemode        BIGINT  NOT NULL CHECK (livemode IN (0, 1)),
    api_key_id      TEXT,
    count           BIGINT  NOT NULL,
    created_at_ms   BIGINT  NOT NULL
);

-- Messages to customers (one per customer, never one to many), sent through the gate's
-- upstream. The link is made when the message is sent, so no token is ever stored.
CREATE TABLE portal_outbox (
    id                  TEXT    PRIMARY KEY NOT NULL,
    session_id          TEXT    NOT NULL,
    recipient           TEXT,
    subject             TEXT    NOT NULL,
    body_template       TEXT    NOT NULL,
    created_at_ms       BIGINT  NOT NULL,
    attempts            BIGINT  NOT NULL,
    next_attempt_at_ms  BIGINT,
    last_error          TEXT,
    sent_at_ms          BIGINT,
    failed_at_ms        BIGINT
);
CREATE INDEX portal_outbox_due ON portal_outbox (next_attempt_at_ms);
