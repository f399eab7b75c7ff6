-- Deploy requests: a deploy or rollback that waits before it becomes a job
-- (for approvals, behind a running job, until its time). At most one is
-- pending per environment: a newer request supersedes it.
CREATE TABLE deploy_requests (
    id INTEGER PRIMARY KEY,
    environment_id INTEGER NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    build_id INTEGER NOT NULL REFERENCES builds(id),
    -- 'deploy' or 'rollback'
    kind TEXT NOT NULL,
    -- A rollback's release to return to.
    rollback_to INTEGER REFERENCES releases(id),
    requested_by TEXT NOT NULL,
    -- 'awaiting_approval' | 'waiting' | 'started' | 'superseded' | 'cancelled'
    -- | 'rejected' | 'voided' | 'expired' | 'failed'
    state TEXT NOT NULL,
    -- Not started before this (a scheduled deploy, an approval's wait timer).
    not_before TEXT,
    -- An admin's reason to start it through a freeze window.
    freeze_override TEXT,
    -- Why it waits now, or how it ended.
    note TEXT,
    -- Approvals are for the environment's settings and variables as they
    -- were when it was asked for (a digest); a change voids them.
    settings_digest TEXT,
    -- It must be approved before this.
    expires_at TEXT,
    job_id INTEGER REFERENCES jobs(id),
    created_at TEXT NOT NULL,
    ended_at TEXT
);
CREATE UNIQUE INDEX deploy_requests_one_pending_per_environment ON deploy_requests (environment_id)
    WHERE state IN ('awaiting_approval', 'waiting');
CREATE INDEX deploy_requests_by_state ON deploy_requests (state, id);
CREATE INDEX deploy_requests_by_environment ON deploy_requests (environment_id, id);
CREATE INDEX deploy_requests_by_job ON deploy_requests (job_id);

-- Who approved or rejected a request, with the groups they had then.
CREATE TABLE approvals (
    id INTEGER PRIMARY KEY,
    request_id INTEGER NOT NULL REFERENCES deploy_requests(id) ON DELETE CASCADE,
    approver TEXT NOT NULL,
    groups TEXT NOT NULL,
    -- 'approved' or 'rejected'
    decision TEXT NOT NULL,
    comment TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (request_id, approver)
);

-- Whether a deploy that meets a running job waits for it (one waits; a
-- newer one replaces it) instead of being refused.
ALTER TABLE environments ADD COLUMN queue_deploys INTEGER NOT NULL DEFAULT 0;
-- The approvals a deploy or rollback needs (JSON, engine::auth::ApprovalPolicy); NULL: none.
ALTER TABLE environments ADD COLUMN approvals TEXT;
