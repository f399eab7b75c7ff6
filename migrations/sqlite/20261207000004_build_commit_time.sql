-- When a build's commit was made (as CI or the forge says), so lead time
-- for changes can be measured from it.
ALTER TABLE builds ADD COLUMN committed_at TEXT;
