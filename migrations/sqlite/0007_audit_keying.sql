-- Where the keyed audit chain begins (docs/architecture.md, "Audit log").
-- Rows up to legacy_seq were written before the chain was keyed and keep their
-- plain SHA-256 hashes; every later row's hash is an HMAC under the audit key,
-- which the database does not hold. The hub writes this one row at its first
-- start with the key; `mac` (under the audit key) binds the chain id and the
-- boundary, so the boundary cannot be moved to pass keyed rows off as legacy.
CREATE TABLE audit_chain (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    chain_id    TEXT NOT NULL,
    legacy_seq  BIGINT NOT NULL,
    legacy_hash TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    mac         TEXT NOT NULL
);

CREATE TRIGGER audit_chain_no_update BEFORE UPDATE ON audit_chain
BEGIN
    SELECT RAISE(ABORT, 'audit_chain is append-only');
END;

CREATE TRIGGER audit_chain_no_delete BEFORE DELETE ON audit_chain
BEGIN
    SELECT RAISE(ABORT, 'audit_chain is append-only');
END;
