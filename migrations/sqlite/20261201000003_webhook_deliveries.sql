-- Webhook deliveries already acted on, by the forge's delivery id
-- (GitHub's X-GitHub-Delivery, GitLab's X-Gitlab-Event-UUID): a signed
-- body replayed later, or redelivered, is not acted on twice.
CREATE TABLE webhook_deliveries (
    forge TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    application TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (forge, delivery_id)
);
