-- Slipway v0 foundation schema. Timestamps are RFC 3339 UTC strings.

CREATE TABLE applications (
    id             INTEGER PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    repository_url TEXT,
    created_at     TEXT NOT NULL
);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    login         TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('viewer', 'deployer', 'admin')),
    created_at    TEXT NOT NULL,
    last_login_at TEXT
);

-- One-time login links (bootstrap / break-glass). Only a hash is stored.
CREATE TABLE login_links (
    token_hash TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT
);

-- Bearer tokens for CI. Only a hash is stored.
CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    user_id      INTEGER NOT NULL REFERENCES users(id),
    created_at   TEXT NOT NULL,
    expires_at   TEXT,
    revoked_at   TEXT,
    last_used_at TEXT
);

CREATE TABLE environments (
    id             INTEGER PRIMARY KEY,
    application_id INTEGER NOT NULL REFERENCES applications(id),
    name           TEXT NOT NULL,
    kind           TEXT NOT NULL DEFAULT 'permanent' CHECK (kind IN ('permanent', 'qa')),
    backend        TEXT NOT NULL,
    config         TEXT NOT NULL,          -- JSON, typed per backend
    protected      INTEGER NOT NULL DEFAULT 0,
    lock_reason    TEXT,
    locked_by      TEXT,
    locked_at      TEXT,
    expires_at     TEXT,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    UNIQUE (application_id, name)
);

CREATE TABLE env_vars (
    environment_id INTEGER NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    value          TEXT NOT NULL,
    secret         INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (environment_id, name)
);

CREATE TABLE builds (
    id             INTEGER PRIMARY KEY,
    application_id INTEGER NOT NULL REFERENCES applications(id),
    commit_sha     TEXT NOT NULL,
    branch         TEXT NOT NULL,
    message        TEXT NOT NULL,
    author         TEXT NOT NULL,
    artifact       TEXT NOT NULL,
    registered_by  TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    UNIQUE (application_id, commit_sha)
);

CREATE TABLE jobs (
    id               INTEGER PRIMARY KEY,
    kind             TEXT NOT NULL CHECK (kind IN ('deploy', 'rollback')),
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
-- One active job per environment, enforced by the database itself.
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

CREATE TABLE job_events (
    job_id INTEGER NOT NULL REFERENCES jobs(id),
    seq    INTEGER NOT NULL,
    ts     TEXT NOT NULL,
    host   TEXT,
    level  TEXT NOT NULL,
    text   TEXT NOT NULL,
    PRIMARY KEY (job_id, seq)
);

CREATE TABLE releases (
    id             INTEGER PRIMARY KEY,
    environment_id INTEGER NOT NULL REFERENCES environments(id),
    build_id       INTEGER NOT NULL REFERENCES builds(id),
    job_id         INTEGER NOT NULL REFERENCES jobs(id),
    release_key    TEXT NOT NULL,           -- directory name under releases/
    kind           TEXT NOT NULL CHECK (kind IN ('deploy', 'rollback')),
    state          TEXT NOT NULL CHECK (state IN ('pending', 'live', 'superseded', 'failed')),
    released_by    TEXT NOT NULL,
    released_at    TEXT,
    created_at     TEXT NOT NULL
);
CREATE INDEX releases_by_environment ON releases (environment_id, id);

CREATE TABLE audit_log (
    seq         INTEGER PRIMARY KEY,
    ts          TEXT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    target      TEXT NOT NULL,
    environment TEXT,                       -- "app/env" when the action concerns one
    details     TEXT NOT NULL,              -- canonical JSON
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);
CREATE INDEX audit_by_actor ON audit_log (actor, seq);
CREATE INDEX audit_by_action ON audit_log (action, seq);
CREATE INDEX audit_by_environment ON audit_log (environment, seq);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
