-- Who asked a running job to stop: its log and summary name them.
ALTER TABLE jobs ADD COLUMN cancel_requested_by TEXT;
