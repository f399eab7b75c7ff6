-- QA environments: jobs that create and destroy an environment, and
-- environments that end (destroyed_at) while their history stays.
--
-- SQLite cannot alter a CHECK constraint, so `jobs` is rebuilt. sqlx runs
-- every SQLite migration inside a transaction, where foreign keys cannot be
-- switched off; dropping `jobs` while rows of job_hosts, job_events and
-- releases point at it would fail. So those three are set aside first (plain
-- copies), dropped, and recreated with their data once the new `jobs` is in
-- place: every reference is checked again on the way back in.

CREATE TABLE jobs_new (
    id               INTEGER PRIMARY KEY,
    kind             TEXT NOT NULL CHECK (kind IN ('deploy', 'rollback', 'create', 'destroy')),
    environment_id   INTEGER NOT NULL REFERENCES environments(id),
    build_id         INTEGER NOT NULL REFERENCES builds(id),
    release_id       INTEGER,               -- the release this job creates
    rollback_of      INTEGER,               -- for rollbacks: the release being returned to
    requested_by     TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'interrupted')),
    error            TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    lease_owner      TEXT,
    lease_expires_at TEXT,
    created_at       TEXT NOT NULL,
    started_at       TEXT,
    finished_at      TEXT
);
INSERT INTO jobs_new (id, kind, environment_id, build_id, release_id, rollback_of, requested_by, state,
                      error, cancel_requested, lease_owner, lease_expires_at, created_at, started_at, finished_at)
    SELECT id, kind, environment_id, build_id, release_id, rollback_of, requested_by, state,
           error, cancel_requested, lease_owner, lease_expires_at, created_at, started_at, finished_at
    FROM jobs;

CREATE TEMP TABLE job_hosts_saved AS SELECT * FROM job_hosts;
CREATE TEMP TABLE job_events_saved AS SELECT * FROM job_events;
CREATE TEMP TABLE releases_saved AS SELECT * FROM releases;
DROP TABLE job_hosts;
DROP TABLE job_events;
DROP TABLE releases;
DROP TABLE jobs;
ALTER TABLE jobs_new RENAME TO jobs;
CREATE UNIQUE INDEX jobs_one_active_per_environment ON jobs (environment_id)
    WHERE state IN ('queued', 'running');
CREATE INDEX jobs_by_state ON jobs (state);

CREATE TABLE job_hosts (
    job_id      INTEGER NOT NULL REFERENCES jobs(id),
    host        TEXT NOT NULL,
    phase       TEXT NOT NULL,
    step        TEXT NOT NULL,
    steps_done  INTEGER NOT NULL DEFAULT 0,
    steps_total INTEGER NOT NULL DEFAULT 0,
    state       TEXT NOT NULL,
    error       TEXT,
    started_at  TEXT,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (job_id, host)
);
INSERT INTO job_hosts (job_id, host, phase, step, steps_done, steps_total, state, error, started_at, updated_at)
    SELECT job_id, host, phase, step, steps_done, steps_total, state, error, started_at, updated_at
    FROM job_hosts_saved;

CREATE TABLE job_events (
    job_id INTEGER NOT NULL REFERENCES jobs(id),
    seq    INTEGER NOT NULL,
    ts     TEXT NOT NULL,
    host   TEXT,
    level  TEXT NOT NULL,
    text   TEXT NOT NULL,
    PRIMARY KEY (job_id, seq)
);
INSERT INTO job_events (job_id, seq, ts, host, level, text)
    SELECT job_id, seq, ts, host, level, text FROM job_events_saved;

CREATE TABLE releases (
    id             INTEGER PRIMARY KEY,
    environment_id INTEGER NOT NULL REFERENCES environments(id),
    build_id       INTEGER NOT NULL REFERENCES builds(id),
    job_id         INTEGER NOT NULL REFERENCES jobs(id),
    release_key    TEXT NOT NULL,           -- directory name under releases/ (docker: container name suffix)
    kind           TEXT NOT NULL CHECK (kind IN ('deploy', 'rollback')),
    state          TEXT NOT NULL CHECK (state IN ('pending', 'live', 'superseded', 'failed')),
    released_by    TEXT NOT NULL,
    released_at    TEXT,
    created_at     TEXT NOT NULL
);
INSERT INTO releases (id, environment_id, build_id, job_id, release_key, kind, state, released_by, released_at, created_at)
    SELECT id, environment_id, build_id, job_id, release_key, kind, state, released_by, released_at, created_at
    FROM releases_saved;
CREATE INDEX releases_by_environment ON releases (environment_id, id);

DROP TABLE temp.job_hosts_saved;
DROP TABLE temp.job_events_saved;
DROP TABLE temp.releases_saved;

-- A destroyed environment keeps its row (its jobs, releases and audit rows
-- point at it) but gives up its name, so a new one may take it.
ALTER TABLE environments ADD COLUMN destroyed_at TEXT;
CREATE INDEX environments_expiring ON environments (expires_at)
    WHERE kind = 'qa' AND destroyed_at IS NULL;
