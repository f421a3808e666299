-- HealthBridge foundation schema (SQLite). Keep in step with postgres/0001_foundation.sql:
-- same tables, columns and constraints; only types and trigger syntax differ.
-- Identifiers are UUID text; instants are milliseconds since the Unix epoch (BIGINT),
-- which both engines store and compare the same way.

CREATE TABLE users (
    id              TEXT PRIMARY KEY,
    email           TEXT NOT NULL UNIQUE,
    display_name    TEXT NOT NULL,
    password_hash   TEXT NOT NULL,
    platform_admin  INTEGER NOT NULL DEFAULT 0 CHECK (platform_admin IN (0, 1)),
    status          TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    mfa_enabled     INTEGER NOT NULL DEFAULT 0 CHECK (mfa_enabled IN (0, 1)),
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

CREATE TABLE organizations (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_by  TEXT REFERENCES users(id),
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- A user's role is held per organization; a patient may be under the care of several.
CREATE TABLE memberships (
    org_id      TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role        TEXT NOT NULL CHECK (role IN ('admin', 'clinician', 'patient', 'analyst', 'guest')),
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_user ON memberships(user_id);

CREATE TABLE invites (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    email        TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('admin', 'clinician', 'patient', 'analyst', 'guest')),
    token_hash   TEXT NOT NULL UNIQUE,
    created_by   TEXT NOT NULL REFERENCES users(id),
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    accepted_at  BIGINT,
    accepted_by  TEXT REFERENCES users(id),
    revoked_at   BIGINT
);
CREATE INDEX invites_org ON invites(org_id);

-- A login session; its refresh tokens rotate inside it.
CREATE TABLE sessions (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    revoked_at      BIGINT,
    revoked_reason  TEXT,
    client_ip       TEXT,
    user_agent      TEXT
);
CREATE INDEX sessions_user ON sessions(user_id);

-- Refresh tokens are stored as SHA-256 hashes; `rotated_at` marks one already used,
-- so presenting it again reveals theft and revokes the session.
CREATE TABLE refresh_tokens (
    token_hash  TEXT PRIMARY KEY,
    session_id  TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    rotated_at  BIGINT
);
CREATE INDEX refresh_tokens_session ON refresh_tokens(session_id);

-- TOTP secrets are encrypted with the data key (AES-256-GCM), key id beside them.
CREATE TABLE totp_credentials (
    user_id         TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    secret_sealed   BLOB NOT NULL,
    key_id          TEXT NOT NULL,
    confirmed_at    BIGINT,
    last_used_step  BIGINT,
    created_at      BIGINT NOT NULL
);

CREATE TABLE recovery_codes (
    code_hash  TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    used_at    BIGINT
);
CREATE INDEX recovery_codes_user ON recovery_codes(user_id);

-- Failed-login counters per key ('account:<id>' or 'ip:<addr>'), shared by all nodes.
CREATE TABLE login_throttle (
    key              TEXT PRIMARY KEY,
    failures         BIGINT NOT NULL,
    first_failure_at BIGINT NOT NULL,
    last_failure_at  BIGINT NOT NULL,
    locked_until     BIGINT
);

-- Append-only, hash-chained audit log. hash = SHA-256(prev_hash || canonical row).
CREATE TABLE audit_log (
    seq          BIGINT PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    at           BIGINT NOT NULL,
    actor_id     TEXT,
    actor_ip     TEXT,
    action       TEXT NOT NULL,
    outcome      TEXT NOT NULL,
    org_id       TEXT,
    target_type  TEXT,
    target_id    TEXT,
    details      TEXT NOT NULL,
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL
);

-- The chain's head. Appending updates this one row first, which serializes writers
-- on both engines (a row lock on PostgreSQL, the write lock on SQLite) and lets
-- `hub audit verify` notice rows deleted from the end.
CREATE TABLE audit_head (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    seq   BIGINT NOT NULL,
    hash  TEXT NOT NULL
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
