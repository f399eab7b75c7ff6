-- An interrupted job someone has looked at and let go (acknowledged, with a
-- reason): until then its pages say it needs attention.
ALTER TABLE jobs ADD COLUMN abandoned_by TEXT;
ALTER TABLE jobs ADD COLUMN abandoned_at TEXT;
ALTER TABLE jobs ADD COLUMN abandon_reason TEXT;
