-- The organization admin's console. Keep in step with sqlite/0012_org_admin.sql.
--
-- The audit log viewer pages an organization's rows newest first by sequence
-- number (`WHERE org_id = $1 AND seq < $2 ORDER BY seq DESC`): without this index
-- every page scans the whole log, which grows with every request of every
-- organization.
CREATE INDEX audit_log_org_seq ON audit_log (org_id, seq);

-- Who disabled an account: the organization whose admin did (that organization's
-- admins may re-enable it), or NULL when a platform admin did (only a platform
-- admin may re-enable it then). Meaningless while the account is active.
ALTER TABLE users ADD COLUMN disabled_by_org TEXT;
