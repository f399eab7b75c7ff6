-- Times never decrease along the audit chain (an append stamps at least
-- the previous row's time), so a date range is a range of rows: this
-- index finds its first and last row, and the (actor|action|environment,
-- seq) indexes serve every filter combination within it.
CREATE INDEX audit_by_ts ON audit_log (ts);
