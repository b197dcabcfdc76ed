-- The decoded Subject of each held message, for the queue's rows (read once at hold creation
-- instead of parsing every row's raw message per page). NULL: not read yet — holds stored
-- before this migration are filled in by the store when it opens (RFC 2047 decoding needs
-- code, not SQL). An empty string: the message has no subject.
ALTER TABLE holds ADD COLUMN subject TEXT;
