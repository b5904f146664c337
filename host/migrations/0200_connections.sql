-- Named connections to external workspaces (issue 6). Secrets are encrypted by the host before they
-- reach this table (auth::secrets: XChaCha20-Poly1305, each value bound to its connection and field);
-- the *_sealed columns hold version byte || nonce || ciphertext || tag, never clear text.
CREATE TABLE connections (
    name                 TEXT PRIMARY KEY,
    provider             TEXT NOT NULL,                      -- 'intercom'
    auth_method          TEXT NOT NULL CHECK (auth_method IN ('oauth', 'access_token')),
    base_url             TEXT NOT NULL,                      -- the API origin the token is sent to
    region               TEXT,                               -- as the provider reports it (Intercom: US, EU, AU)
    workspace_id         TEXT,
    workspace_name       TEXT,
    -- OAuth only: the app and endpoints it was authorized with, kept for re-authorization.
    client_id            TEXT,
    authorize_url        TEXT,
    token_url            TEXT,
    client_secret_sealed BLOB,
    access_token_sealed  BLOB NOT NULL,
    -- For providers whose tokens expire; Intercom's do not (both stay NULL).
    refresh_token_sealed BLOB,
    expires_at           INTEGER,                            -- Unix seconds
    status               TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'needs_reauthorization')),
    status_detail        TEXT,
    status_changed_at    INTEGER,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    last_used_at         INTEGER
);

-- A value sealed with the data directory's key when the first secret was stored: opening it proves
-- the current key is the right one before anything is read or written.
CREATE TABLE secret_key_check (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    sealed     BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
