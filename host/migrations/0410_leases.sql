-- Runs owned by leases, and steps that know their effect (see host/src/workflow/lease.rs).
--
-- A run being executed belongs to one host process (`owner`) until `lease_expires_at` (Unix ms); the
-- owner renews the lease while it works and every status change is a compare-and-set on the owner, so
-- two hosts on one database never execute the same step, and a killed host's runs are taken over only
-- once its lease has expired. A step remembers its action's effect, so whoever takes over knows whether
-- a step left `running` may be sent again (a read or an idempotent write) or must wait for an operator
-- (a write whose outcome is unknown).
--
-- SQLite cannot change a CHECK constraint in place, so both tables are rebuilt with their rows.

CREATE TABLE hosts (
    id           TEXT PRIMARY KEY,
    pid          INTEGER NOT NULL,
    hostname     TEXT NOT NULL,
    version      TEXT NOT NULL,
    started_at   INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL,
    stopped_at   INTEGER
);

CREATE TABLE workflow_runs_v2 (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    workflow        TEXT NOT NULL,
    definition      TEXT NOT NULL,
    definition_sha256 TEXT NOT NULL,
    trigger_key     TEXT NOT NULL,
    dedupe_key      TEXT NOT NULL,
    occurred_at     INTEGER NOT NULL,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN
                        ('pending', 'running', 'succeeded', 'failed', 'interrupted', 'needs_attention')),
    error           TEXT,
    failed_step     TEXT,
    session         INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    started_at      INTEGER,
    finished_at     INTEGER,
    -- The host process executing the run (hosts.id) and until when it holds it; NULL when nobody does.
    owner           TEXT,
    lease_expires_at INTEGER,
    UNIQUE (workflow, dedupe_key)
);
INSERT INTO workflow_runs_v2 (id, workflow, definition, definition_sha256, trigger_key, dedupe_key, occurred_at,
    payload, status, error, failed_step, session, created_at, started_at, finished_at)
SELECT id, workflow, definition, definition_sha256, trigger_key, dedupe_key, occurred_at, payload,
    -- A run left `running` by a host before leases existed has no owner: it is resumable.
    CASE status WHEN 'running' THEN 'interrupted' ELSE status END,
    error, failed_step, session, created_at, started_at, finished_at
FROM workflow_runs;

CREATE TABLE workflow_steps_v2 (
    run_id            INTEGER NOT NULL REFERENCES workflow_runs_v2 (id) ON DELETE CASCADE,
    step_index        INTEGER NOT NULL,
    step_id           TEXT NOT NULL,
    attempt           INTEGER NOT NULL,
    session           INTEGER NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'skipped', 'interrupted',
                          'not_sent', 'outcome_unknown', 'skipped_by_operator')),
    component_key     TEXT,
    component_version TEXT,
    component_sha256  TEXT,
    -- The action's declared effect: 'read', 'idempotent' or 'write' (NULL: not called).
    effect            TEXT,
    input             TEXT,
    output            TEXT,
    error             TEXT,
    error_kind        TEXT,
    started_at        INTEGER NOT NULL,
    finished_at       INTEGER,
    duration_ms       INTEGER,
    PRIMARY KEY (run_id, step_index, attempt)
);
INSERT INTO workflow_steps_v2 (run_id, step_index, step_id, attempt, session, status, component_key,
    component_version, component_sha256, input, output, error, error_kind, started_at, finished_at, duration_ms)
SELECT run_id, step_index, step_id, attempt, session,
    -- Before effects were recorded nobody can tell whether a step cut short reached the service.
    CASE status WHEN 'running' THEN 'interrupted' ELSE status END,
    component_key, component_version, component_sha256, input, output, error, error_kind, started_at,
    finished_at, duration_ms
FROM workflow_steps;

DROP TABLE workflow_steps;
DROP TABLE workflow_runs;
ALTER TABLE workflow_runs_v2 RENAME TO workflow_runs;
ALTER TABLE workflow_steps_v2 RENAME TO workflow_steps;

CREATE INDEX workflow_runs_status ON workflow_runs (status);
CREATE INDEX workflow_runs_workflow ON workflow_runs (workflow, id);
CREATE INDEX workflow_runs_owner ON workflow_runs (owner) WHERE owner IS NOT NULL;
