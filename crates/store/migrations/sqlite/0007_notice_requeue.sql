-- When a notice that was given up was queued again (`doublecheck holds requeue-notice`): its
-- give-up age (notices.give_up_after_secs) counts from then rather than from created_at_ms, so a
-- requeued notice gets the same retries as a new one. Kept in step with the other dialect's
-- 0007_notice_requeue.sql. Unix milliseconds; NULL for a notice never queued again.
ALTER TABLE notice_outbox ADD COLUMN requeued_at_ms BIGINT;
