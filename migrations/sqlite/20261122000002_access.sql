-- Access control: identities from OAuth2/OIDC providers, groups, scoped
-- API tokens, protected environments' deployers, login flows, and
-- "log out everywhere".

-- Groups a user belongs to, as the identity provider said at the last login (JSON array).
ALTER TABLE users ADD COLUMN groups TEXT NOT NULL DEFAULT '[]';
-- Sessions that started before this instant are refused ("log out everywhere").
ALTER TABLE users ADD COLUMN sessions_valid_after TEXT;

-- An account at an identity provider, mapped to one Slipway user.
CREATE TABLE identities (
    provider      TEXT NOT NULL,
    subject       TEXT NOT NULL,
    user_id       INTEGER NOT NULL REFERENCES users(id),
    email         TEXT,
    created_at    TEXT NOT NULL,
    last_login_at TEXT NOT NULL,
    PRIMARY KEY (provider, subject)
);

-- What a token may do: space-separated scopes (read, builds:write, deploy).
-- Tokens made before scopes existed keep everything their user may do.
ALTER TABLE api_tokens ADD COLUMN scopes TEXT NOT NULL DEFAULT 'read builds:write deploy';

-- Who may deploy to a protected environment besides admins:
-- 'user:<login>' or 'group:<name>'.
CREATE TABLE environment_deployers (
    environment_id INTEGER NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    principal      TEXT NOT NULL,
    PRIMARY KEY (environment_id, principal)
);

-- A sign-in in progress at an identity provider. The browser holds only a
-- random handle (a short-lived SameSite=Lax cookie); the state, PKCE verifier
-- and nonce never leave the server. Each row is spent once.
CREATE TABLE login_flows (
    handle_hash   TEXT PRIMARY KEY,
    provider      TEXT NOT NULL,
    state         TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    nonce         TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL
);
