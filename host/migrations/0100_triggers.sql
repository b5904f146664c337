-- Polling triggers: subscriptions, their cursors, the keys each has emitted, and the outbox of events.
-- A poll's new events and its new cursor are written in one transaction (see host/src/store/triggers.rs).

CREATE TABLE subscriptions (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    trigger_key   TEXT    NOT NULL,
    -- A named connection; until named connections exist, an inline base URL plus the name of the
    -- environment variable that holds the token (the token itself is never stored here).
    connection    TEXT,
    base_url      TEXT,
    token_env     TEXT,
    interval_secs INTEGER NOT NULL CHECK (interval_secs >= 1),
    settings      TEXT    NOT NULL DEFAULT '{}',
    enabled       INTEGER NOT NULL DEFAULT 1,
    created_at    INTEGER NOT NULL,
    CHECK (connection IS NOT NULL OR (base_url IS NOT NULL AND token_env IS NOT NULL))
);

CREATE TABLE trigger_state (
    subscription_id INTEGER PRIMARY KEY REFERENCES subscriptions (id) ON DELETE CASCADE,
    -- The trigger's own cursor (JSON); NULL until the first poll succeeded.
    cursor          TEXT,
    -- Bumped by every committed poll: a commit based on an older version is refused.
    version         INTEGER NOT NULL DEFAULT 0,
    backlog         INTEGER NOT NULL DEFAULT 0,
    polls           INTEGER NOT NULL DEFAULT 0,
    events          INTEGER NOT NULL DEFAULT 0,
    -- Consecutive failed polls (drives the backoff); reset by a success.
    failures        INTEGER NOT NULL DEFAULT 0,
    last_poll_at    INTEGER,
    last_success_at INTEGER,
    last_error      TEXT
);

-- Every key a subscription emitted whose change could still be seen again (pruned below the trigger's
-- `floor`, under which it promises to emit nothing).
CREATE TABLE emitted_keys (
    subscription_id INTEGER NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    dedupe_key      TEXT    NOT NULL,
    occurred_at     INTEGER NOT NULL,
    PRIMARY KEY (subscription_id, dedupe_key)
) WITHOUT ROWID;
CREATE INDEX emitted_keys_by_age ON emitted_keys (subscription_id, occurred_at);

-- Events waiting for (or handed to) their consumers. Kept when a subscription is removed: they happened.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    subscription_id INTEGER NOT NULL,
    trigger_key     TEXT    NOT NULL,
    dedupe_key      TEXT    NOT NULL,
    occurred_at     INTEGER NOT NULL,
    payload         TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    delivered_at    INTEGER
);
CREATE INDEX outbox_undelivered ON outbox (id) WHERE delivered_at IS NULL;
