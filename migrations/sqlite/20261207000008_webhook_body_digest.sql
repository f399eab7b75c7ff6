-- A webhook body is acted on once, whatever delivery id it comes with: the
-- forge's id is not covered by the signature, so a captured body replayed
-- under a new id would otherwise act again. (Rows from before keep no
-- digest; NULLs do not collide.)
ALTER TABLE webhook_deliveries ADD COLUMN body_digest TEXT;
CREATE UNIQUE INDEX webhook_deliveries_by_body ON webhook_deliveries (application, body_digest);
