-- What a deploy changes.
--
-- Commits Slipway was told about: the list CI sent with a build, or a push
-- webhook's. Read only when the application's repository mirror cannot say
-- which commits lie between two builds. `parents` is the space-separated
-- parent shas ('' for a root commit), NULL when the sender did not say.
CREATE TABLE commits (
    application_id INTEGER NOT NULL REFERENCES applications(id),
    sha            TEXT NOT NULL,
    parents        TEXT,
    author         TEXT NOT NULL,
    committed_at   TEXT,
    subject        TEXT NOT NULL,
    source         TEXT NOT NULL CHECK (source IN ('ci', 'webhook')),
    PRIMARY KEY (application_id, sha)
);

-- The environment's settings and variables when the job was queued (JSON;
-- secret values only as digests), so each release says what else changed.
ALTER TABLE jobs ADD COLUMN settings_snapshot TEXT;
