-- The release timeline reads releases across environments by time: an
-- index that holds every column it needs, so no row is read for it.
CREATE INDEX releases_by_created_at ON releases (created_at, environment_id, state, kind, job_id);
