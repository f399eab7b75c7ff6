-- Freeze windows: while one is in force, deploys to its environment (or to
-- every environment of its application) are refused. The schedule is JSON
-- (once / weekly / cron, see engine::domain::FreezeSchedule), told in
-- `time_zone`, an IANA zone name.
CREATE TABLE freeze_windows (
    id INTEGER PRIMARY KEY,
    application_id INTEGER NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    environment_id INTEGER REFERENCES environments(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    schedule TEXT NOT NULL,
    time_zone TEXT NOT NULL,
    blocks_rollbacks INTEGER NOT NULL DEFAULT 0,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX freeze_windows_by_application ON freeze_windows (application_id, environment_id);
