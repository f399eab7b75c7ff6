-- Secret variables are sealed at rest (see engine::secrets): `value` holds
-- the sealed text, `value_digest` a keyed digest of the plaintext, which
-- approvals and release snapshots compare instead of the value. Secrets
-- stored before this are sealed at the next start.
ALTER TABLE env_vars ADD COLUMN value_digest TEXT;
