-- With 100,000 releases on one environment, the pages' questions must not
-- read them all.

-- What is live on an environment (at most one release: now the database
-- says so too).
CREATE UNIQUE INDEX releases_one_live_per_environment ON releases (environment_id)
    WHERE state = 'live';
-- An environment's releases by when they went live (DORA), covering.
CREATE INDEX releases_by_environment_released ON releases (environment_id, released_at, build_id, kind);
-- An environment's latest job (overview, environment page, /api/apps).
CREATE INDEX jobs_by_environment ON jobs (environment_id, id);
-- An environment's failed jobs by when they ended (DORA).
CREATE INDEX jobs_failed_by_environment ON jobs (environment_id, finished_at)
    WHERE state IN ('failed', 'interrupted');
