-- Workflows and their run history.

-- Enabled (and disabled) workflows, with the file content they were enabled with: the host runs
-- exactly what was enabled, even if the file changes or moves afterwards.
CREATE TABLE workflows (
    name               TEXT PRIMARY KEY,
    enabled            INTEGER NOT NULL,
    source_path        TEXT NOT NULL,
    content            TEXT NOT NULL,
    sha256             TEXT NOT NULL,
    trigger_key        TEXT NOT NULL,
    trigger_connection TEXT,
    trigger_settings   TEXT NOT NULL,
    updated_at         INTEGER NOT NULL
);

-- One run per (workflow, trigger event): the UNIQUE constraint is what makes a redelivered event,
-- a restart or a second runner unable to start the same run twice.
CREATE TABLE workflow_runs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    workflow        TEXT NOT NULL,
    -- The definition the run executes (and resumes and retries with).
    definition      TEXT NOT NULL,
    definition_sha256 TEXT NOT NULL,
    trigger_key     TEXT NOT NULL,
    dedupe_key      TEXT NOT NULL,
    occurred_at     INTEGER NOT NULL,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'interrupted')),
    error           TEXT,
    failed_step     TEXT,
    -- Incremented each time the run starts, resumes or is retried; retry budgets count per session.
    session         INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    started_at      INTEGER,
    finished_at     INTEGER,
    UNIQUE (workflow, dedupe_key)
);
CREATE INDEX workflow_runs_status ON workflow_runs (status);
CREATE INDEX workflow_runs_workflow ON workflow_runs (workflow, id);

-- Every attempt of every step. A step's state is its latest attempt.
CREATE TABLE workflow_steps (
    run_id            INTEGER NOT NULL REFERENCES workflow_runs (id) ON DELETE CASCADE,
    step_index        INTEGER NOT NULL,
    step_id           TEXT NOT NULL,
    attempt           INTEGER NOT NULL,
    session           INTEGER NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'skipped', 'interrupted', 'not_sent')),
    component_key     TEXT,
    component_version TEXT,
    component_sha256  TEXT,
    input             TEXT,
    output            TEXT,
    error             TEXT,
    error_kind        TEXT,
    started_at        INTEGER NOT NULL,
    finished_at       INTEGER,
    duration_ms       INTEGER,
    PRIMARY KEY (run_id, step_index, attempt)
);
