-- Staff accounts, web sessions and the review queue's own records (approvals, assignments,
-- fixes). Kept in step with ../postgres/0002_staff.sql.

-- Staff who sign in to the review queue. Emails are stored lower-cased.
CREATE TABLE users (
    email           TEXT    PRIMARY KEY NOT NULL,
    role            TEXT    NOT NULL CHECK (role IN ('agent', 'reviewer', 'admin')),
    password_hash   TEXT    NOT NULL,
    disabled        BIGINT  NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at_ms   BIGINT  NOT NULL,
    updated_at_ms   BIGINT  NOT NULL
);

-- Signed-in sessions. Only the SHA-256 of the session id is stored: a copy of the database
-- does not let anyone sign in.
CREATE TABLE web_sessions (
    id_hash         TEXT    PRIMARY KEY NOT NULL,
    email           TEXT    NOT NULL REFERENCES users (email),
    csrf_token      TEXT    NOT NULL,
    created_at_ms   BIGINT  NOT NULL,
    last_seen_ms    BIGINT  NOT NULL,
    ip              TEXT    NOT NULL
);
CREATE INDEX web_sessions_email ON web_sessions (email);

-- Failed sign-ins by key (`account:EMAIL`, `ip:ADDRESS`), for throttling.
CREATE TABLE login_failures (
    throttle_key    TEXT    NOT NULL,
    at_ms           BIGINT  NOT NULL
);
CREATE INDEX login_failures_key_at ON login_failures (throttle_key, at_ms);

-- The detectors that fired on each hold and their highest severity (0 info … 4 critical),
-- for the queue's filter by detector.
CREATE TABLE hold_detectors (
    hold_id         TEXT    NOT NULL,
    detector_id     TEXT    NOT NULL,
    severity        BIGINT  NOT NULL,
    PRIMARY KEY (hold_id, detector_id)
);
CREATE INDEX hold_detectors_detector ON hold_detectors (detector_id, hold_id);

-- Approvals of a held message, one per approver (two distinct approvers for severe findings).
CREATE TABLE hold_approvals (
    hold_id         TEXT    NOT NULL,
    approver        TEXT    NOT NULL,
    at_ms           BIGINT  NOT NULL,
    justification   TEXT    NOT NULL,
    PRIMARY KEY (hold_id, approver)
);

-- Who a held message is assigned to.
CREATE TABLE hold_assignments (
    hold_id         TEXT    PRIMARY KEY NOT NULL,
    assignee        TEXT    NOT NULL,
    assigned_by     TEXT    NOT NULL,
    at_ms           BIGINT  NOT NULL
);

-- Held messages released after a fix (bccify, explode, remove an attachment): the original is
-- never delivered; the fixed message is, under the delivery key `fix:<hold id>`.
CREATE TABLE hold_fixes (
    hold_id         TEXT    PRIMARY KEY NOT NULL,
    fix             TEXT    NOT NULL CHECK (fix IN ('bccify', 'explode', 'remove_attachment')),
    part            TEXT,
    actor           TEXT    NOT NULL,
    at_ms           BIGINT  NOT NULL,
    delivered_at_ms BIGINT
);

-- The queue: filters by sender (case-insensitive), newest first.
CREATE INDEX holds_sender_lower ON holds (lower(sender), created_at_ms);
CREATE INDEX holds_mail_from_lower ON holds (lower(mail_from), created_at_ms);

-- The audit page: filters by actor, action and time.
CREATE INDEX audit_log_actor ON audit_log (actor, seq);
CREATE INDEX audit_log_action ON audit_log (action, seq);
CREATE INDEX audit_log_at ON audit_log (at_ms);

-- Holds stored before this migration get their detectors from their verdict.
INSERT INTO hold_detectors (hold_id, detector_id, severity)
SELECT h.id, json_extract(f.value, '$.id'),
       MAX(CASE json_extract(f.value, '$.severity')
           WHEN 'critical' THEN 4 WHEN 'high' THEN 3 WHEN 'medium' THEN 2 WHEN 'low' THEN 1
           ELSE 0 END)
FROM holds h, json_each(CASE WHEN json_type(h.verdict_json, '$.findings') = 'array'
                             THEN json_extract(h.verdict_json, '$.findings') ELSE '[]' END) f
WHERE json_type(f.value, '$.id') = 'text'
GROUP BY h.id, json_extract(f.value, '$.id');
