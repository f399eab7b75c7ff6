-- Outgoing webhooks: who is told of what, and each delivery.
--
-- A target belongs to an application, and to one of its environments or
-- (environment_id NULL) all of them. Its URL may carry a credential in its
-- path (Slack's do): it is read only to send, and shown as scheme and host.
-- A generic target's bodies are signed with its secret.
CREATE TABLE notification_targets (
    id             INTEGER PRIMARY KEY,
    application_id INTEGER NOT NULL REFERENCES applications(id),
    environment_id INTEGER REFERENCES environments(id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    url            TEXT NOT NULL,
    format         TEXT NOT NULL CHECK (format IN ('slack', 'generic')),
    secret         TEXT,
    events         TEXT NOT NULL,           -- space-separated event names
    created_by     TEXT NOT NULL,
    created_at     TEXT NOT NULL
);
CREATE INDEX notification_targets_by_application ON notification_targets (application_id);

-- The outbox: written in the same transaction as what it tells of, sent
-- in the background, retried with backoff until it is delivered or has
-- used its attempts. `body` is the JSON sent, secrets already masked.
CREATE TABLE notification_deliveries (
    id              INTEGER PRIMARY KEY,
    target_id       INTEGER NOT NULL REFERENCES notification_targets(id) ON DELETE CASCADE,
    event           TEXT NOT NULL,
    body            TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_status     INTEGER,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    delivered_at    TEXT
);
CREATE INDEX notification_deliveries_due ON notification_deliveries (state, next_attempt_at);
CREATE INDEX notification_deliveries_by_target ON notification_deliveries (target_id, id);

-- Freeze periods already announced, so each start is told once.
CREATE TABLE freeze_announcements (
    window_id    INTEGER NOT NULL,
    period_start TEXT NOT NULL,
    PRIMARY KEY (window_id, period_start)
);
