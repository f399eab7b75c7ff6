-- An API token may be limited to applications and environments (a
-- comma-separated list of `app` and `app/env`); NULL: wherever its owner may act.
ALTER TABLE api_tokens ADD COLUMN reach TEXT;
