-- Notifications (PostgreSQL). Keep in step with sqlite/0005_notifications.sql.

-- How to reach a user, and when not to disturb them (minutes after local midnight in
-- their own IANA zone; quiet hours may wrap past midnight).
ALTER TABLE users ADD COLUMN phone TEXT;
ALTER TABLE users ADD COLUMN locale TEXT NOT NULL DEFAULT 'en';
ALTER TABLE users ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'UTC';
ALTER TABLE users ADD COLUMN quiet_start_min BIGINT CHECK (quiet_start_min BETWEEN 0 AND 1439);
ALTER TABLE users ADD COLUMN quiet_end_min BIGINT CHECK (quiet_end_min BETWEEN 0 AND 1439);
ALTER TABLE users ADD COLUMN email_verified_at BIGINT;

-- Which out-of-band channels a user wants per category, in order of preference
-- (comma-separated subset of `sms,email`; empty = none), and whether in-app notices show.
CREATE TABLE notification_preferences (
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    category    TEXT NOT NULL CHECK (category IN ('appointments', 'reminders', 'messages')),
    channels    TEXT NOT NULL,
    in_app      BIGINT NOT NULL CHECK (in_app IN (0, 1)),
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (user_id, category)
);

-- Numbers that answered STOP: no SMS goes to them until they opt back in (START).
CREATE TABLE sms_opt_outs (
    phone         TEXT PRIMARY KEY,
    opted_out_at  BIGINT NOT NULL
);

-- Reminder offsets (minutes before the appointment) per organization; default 1440,60.
CREATE TABLE org_notification_settings (
    org_id                TEXT PRIMARY KEY REFERENCES organizations(id),
    reminder_offsets_min  TEXT NOT NULL,
    updated_at            BIGINT NOT NULL
);

-- The durable outbox. A row is written in the same transaction as the change that
-- causes it, so a committed change always has its notification and a rolled-back one
-- never does. `idempotency_key` makes enqueueing the same notice twice a no-op.
CREATE TABLE notifications (
    id               TEXT PRIMARY KEY,
    idempotency_key  TEXT NOT NULL UNIQUE,
    recipient_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
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
    sent_at          BIGINT
);
CREATE INDEX notifications_due ON notifications(status, due_at);
CREATE INDEX notifications_subject ON notifications(subject_ref);
CREATE INDEX notifications_recipient ON notifications(recipient_id, created_at);
CREATE INDEX notifications_provider_ref ON notifications(provider_ref);
CREATE INDEX notifications_org_status ON notifications(org_id, status);

-- Every hand-off to a provider and its outcome, for admins and for receipts.
CREATE TABLE notification_attempts (
    notification_id  TEXT NOT NULL REFERENCES notifications(id) ON DELETE CASCADE,
    attempt_no       BIGINT NOT NULL,
    channel          TEXT NOT NULL,
    outcome          TEXT NOT NULL,
    provider_ref     TEXT,
    error            TEXT,
    at               BIGINT NOT NULL,
    PRIMARY KEY (notification_id, attempt_no)
);

-- Final delivery receipts that arrived before the worker recorded the message id
-- (a fast carrier can answer before our own write commits); applied when it does.
CREATE TABLE sms_early_receipts (
    sid          TEXT PRIMARY KEY,
    status       TEXT NOT NULL,
    error_code   TEXT,
    received_at  BIGINT NOT NULL
);

-- Single-use tokens mailed to a user (email verification, password reset), stored hashed.
CREATE TABLE account_tokens (
    token_hash  TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    purpose     TEXT NOT NULL CHECK (purpose IN ('verify_email', 'password_reset')),
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX account_tokens_user ON account_tokens(user_id, purpose);
