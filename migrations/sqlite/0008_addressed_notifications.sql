-- no-transaction
-- Mail to an address that has no account yet (an organization's invite). Keep in
-- step with postgres/0008_addressed_notifications.sql.
--
-- Such a row has no `recipient_id`; it names the address and the language to write
-- in instead. Every row names exactly one of the two.
--
-- SQLite cannot drop a NOT NULL constraint in place, so the table is rebuilt the
-- way https://sqlite.org/lang_altertable.html#otheralter describes: with foreign
-- keys off (which only works outside a transaction, hence `no-transaction` above
-- and the explicit BEGIN/COMMIT), so dropping the old table does not cascade to
-- notification_attempts.
PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TABLE notifications_new (
    id               TEXT PRIMARY KEY,
    idempotency_key  TEXT NOT NULL UNIQUE,
    recipient_id     TEXT REFERENCES users(id) ON DELETE CASCADE,
    org_id           TEXT,
    category         TEXT NOT NULL CHECK (category IN ('appointments', 'reminders', 'messages', 'account', 'critical')),
    template         TEXT NOT NULL,
    payload          TEXT NOT NULL,
    -- What the notice is about (an appointment id), so a change can withdraw it.
    subject_ref      TEXT,
    -- 'in_app' rows go to sockets; 'out_of_band' rows to SMS or email by preference.
    delivery         TEXT NOT NULL CHECK (delivery IN ('in_app', 'out_of_band', 'email')),
    channel          TEXT CHECK (channel IN ('in_app', 'sms', 'email', 'file_sms', 'file_email')),
    tried_channels   TEXT NOT NULL DEFAULT '',
    due_at           BIGINT NOT NULL,
    -- Never sent at or after this instant (a reminder for an appointment that began).
    expires_at       BIGINT,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'delivered', 'undelivered', 'failed', 'cancelled', 'suppressed')),
    attempts         BIGINT NOT NULL DEFAULT 0,
    claimed_by       TEXT,
    claimed_at       BIGINT,
    lease_until      BIGINT,
    -- 1 when the latest claim took the row over from a worker whose lease ran out:
    -- that worker may have handed the message over before dying (see docs/notifications.md).
    recovered_lease  BIGINT NOT NULL DEFAULT 0,
    provider_ref     TEXT,
    last_error       TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    sent_at          BIGINT,
    to_address       TEXT,
    to_locale        TEXT,
    CONSTRAINT notifications_one_recipient CHECK ((recipient_id IS NULL) <> (to_address IS NULL))
);
INSERT INTO notifications_new (id, idempotency_key, recipient_id, org_id, category, template,
    payload, subject_ref, delivery, channel, tried_channels, due_at, expires_at, status, attempts,
    claimed_by, claimed_at, lease_until, recovered_lease, provider_ref, last_error, created_at,
    updated_at, sent_at)
SELECT id, idempotency_key, recipient_id, org_id, category, template,
    payload, subject_ref, delivery, channel, tried_channels, due_at, expires_at, status, attempts,
    claimed_by, claimed_at, lease_until, recovered_lease, provider_ref, last_error, created_at,
    updated_at, sent_at
FROM notifications;
DROP TABLE notifications;
ALTER TABLE notifications_new RENAME TO notifications;
CREATE INDEX notifications_due ON notifications(status, due_at);
CREATE INDEX notifications_subject ON notifications(subject_ref);
CREATE INDEX notifications_recipient ON notifications(recipient_id, created_at);
CREATE INDEX notifications_provider_ref ON notifications(provider_ref);
CREATE INDEX notifications_org_status ON notifications(org_id, status);
COMMIT;
PRAGMA foreign_keys = ON;
