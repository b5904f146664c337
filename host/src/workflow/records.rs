//! Workflows and run history in the embedded store (migration `0400_workflows.sql`).

use crate::store::Store;
use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::Value;
use sqlx::{Sqlite, SqliteConnection, Transaction};
use std::time::{SystemTime, UNIX_EPOCH};

pub type RunId = i64;

pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// One trigger event, as the scheduler's outbox hands it over (or a test gives it directly).
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct TriggerEvent {
    /// The trigger component's key.
    pub trigger_key: String,
    /// Stable for the change it reports: a run is keyed by (workflow, dedupe key).
    pub dedupe_key: String,
    /// When the change happened, seconds since the Unix epoch.
    pub occurred_at: i64,
    /// The Intercom object: `trigger` in expressions.
    pub payload: Value,
}

/// A workflow as enabled (or disabled) in the store.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct StoredWorkflow {
    pub name: String,
    pub enabled: bool,
    pub source_path: String,
    pub content: String,
    pub sha256: String,
    pub trigger_key: String,
    pub trigger_connection: Option<String>,
    pub trigger_settings: String,
    pub updated_at: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, sqlx::Type)]
#[sqlx(type_name = "TEXT", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
    Interrupted,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Pending => "pending",
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
        }
    }

    pub fn is_finished(self) -> bool {
        matches!(self, RunStatus::Succeeded | RunStatus::Failed)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, sqlx::Type)]
#[sqlx(type_name = "TEXT", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Running,
    Succeeded,
    Failed,
    /// The `if:` condition was false.
    Skipped,
    /// The host stopped (crash or shutdown) while the step ran; it runs again on resume.
    Interrupted,
    /// A dry run: a write action's input was mapped but not sent.
    NotSent,
}

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Running => "running",
            StepStatus::Succeeded => "succeeded",
            StepStatus::Failed => "failed",
            StepStatus::Skipped => "skipped",
            StepStatus::Interrupted => "interrupted",
            StepStatus::NotSent => "not_sent",
        }
    }
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct RunRecord {
    pub id: RunId,
    pub workflow: String,
    #[serde(skip)]
    pub definition: String,
    pub definition_sha256: String,
    pub trigger_key: String,
    pub dedupe_key: String,
    pub occurred_at: i64,
    #[serde(skip)]
    pub payload: String,
    pub status: RunStatus,
    pub error: Option<String>,
    pub failed_step: Option<String>,
    pub session: i64,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct StepRecord {
    pub run_id: RunId,
    pub step_index: i64,
    pub step_id: String,
    pub attempt: i64,
    pub session: i64,
    pub status: StepStatus,
    pub component_key: Option<String>,
    pub component_version: Option<String>,
    pub component_sha256: Option<String>,
    #[serde(serialize_with = "as_json")]
    pub input: Option<String>,
    #[serde(serialize_with = "as_json")]
    pub output: Option<String>,
    pub error: Option<String>,
    pub error_kind: Option<String>,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub duration_ms: Option<i64>,
}

/// Stored JSON text is shown as JSON, not as a string of JSON.
fn as_json<S: serde::Serializer>(text: &Option<String>, serializer: S) -> Result<S::Ok, S::Error> {
    let value = text.as_deref().map(|t| serde_json::from_str::<Value>(t).unwrap_or_else(|_| Value::String(t.into())));
    value.serialize(serializer)
}

impl RunRecord {
    pub fn payload(&self) -> Value {
        serde_json::from_str(&self.payload).unwrap_or(Value::Null)
    }
}

impl StepRecord {
    pub fn output_value(&self) -> Option<Value> {
        self.output.as_deref().and_then(|t| serde_json::from_str(t).ok())
    }
    pub fn input_value(&self) -> Option<Value> {
        self.input.as_deref().and_then(|t| serde_json::from_str(t).ok())
    }
}

// ---- workflows ----

pub async fn save_workflow(store: &Store, workflow: &StoredWorkflow) -> Result<()> {
    sqlx::query(
        "INSERT INTO workflows (name, enabled, source_path, content, sha256, trigger_key, trigger_connection, trigger_settings, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (name) DO UPDATE SET enabled = excluded.enabled, source_path = excluded.source_path,
           content = excluded.content, sha256 = excluded.sha256, trigger_key = excluded.trigger_key,
           trigger_connection = excluded.trigger_connection, trigger_settings = excluded.trigger_settings,
           updated_at = excluded.updated_at",
    )
    .bind(&workflow.name)
    .bind(workflow.enabled)
    .bind(&workflow.source_path)
    .bind(&workflow.content)
    .bind(&workflow.sha256)
    .bind(&workflow.trigger_key)
    .bind(&workflow.trigger_connection)
    .bind(&workflow.trigger_settings)
    .bind(workflow.updated_at)
    .execute(store.pool())
    .await
    .context("saving the workflow")?;
    Ok(())
}

/// Returns false when no workflow has that name.
pub async fn set_enabled(store: &Store, name: &str, enabled: bool) -> Result<bool> {
    let done = sqlx::query("UPDATE workflows SET enabled = ?, updated_at = ? WHERE name = ?")
        .bind(enabled)
        .bind(now_ms())
        .bind(name)
        .execute(store.pool())
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn list_workflows(store: &Store) -> Result<Vec<StoredWorkflow>> {
    Ok(sqlx::query_as("SELECT * FROM workflows ORDER BY name").fetch_all(store.pool()).await?)
}

pub async fn get_workflow(store: &Store, name: &str) -> Result<Option<StoredWorkflow>> {
    Ok(sqlx::query_as("SELECT * FROM workflows WHERE name = ?").bind(name).fetch_optional(store.pool()).await?)
}

/// The enabled workflows a trigger subscription feeds.
pub async fn enabled_for(conn: &mut SqliteConnection, trigger_key: &str) -> Result<Vec<StoredWorkflow>> {
    Ok(sqlx::query_as("SELECT * FROM workflows WHERE enabled = 1 AND trigger_key = ? ORDER BY name")
        .bind(trigger_key)
        .fetch_all(conn)
        .await?)
}

// ---- runs ----

/// Creates the run for (workflow, event) unless it exists. Returns the run's id and whether it was
/// created now. Runs inside the caller's transaction so that marking the event delivered commits
/// together with it.
pub async fn create_run(
    tx: &mut Transaction<'_, Sqlite>,
    workflow: &str,
    definition: &str,
    definition_sha256: &str,
    event: &TriggerEvent,
) -> Result<(RunId, bool)> {
    let inserted: Option<(RunId,)> = sqlx::query_as(
        "INSERT INTO workflow_runs (workflow, definition, definition_sha256, trigger_key, dedupe_key, occurred_at, payload, status, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?)
         ON CONFLICT (workflow, dedupe_key) DO NOTHING
         RETURNING id",
    )
    .bind(workflow)
    .bind(definition)
    .bind(definition_sha256)
    .bind(&event.trigger_key)
    .bind(&event.dedupe_key)
    .bind(event.occurred_at)
    .bind(event.payload.to_string())
    .bind(now_ms())
    .fetch_optional(&mut **tx)
    .await
    .context("recording the run")?;
    if let Some((id,)) = inserted {
        return Ok((id, true));
    }
    let (id,): (RunId,) = sqlx::query_as("SELECT id FROM workflow_runs WHERE workflow = ? AND dedupe_key = ?")
        .bind(workflow)
        .bind(&event.dedupe_key)
        .fetch_one(&mut **tx)
        .await?;
    Ok((id, false))
}

pub async fn get_run(store: &Store, id: RunId) -> Result<Option<RunRecord>> {
    Ok(sqlx::query_as("SELECT * FROM workflow_runs WHERE id = ?").bind(id).fetch_optional(store.pool()).await?)
}

pub async fn run_steps(store: &Store, id: RunId) -> Result<Vec<StepRecord>> {
    Ok(sqlx::query_as("SELECT * FROM workflow_steps WHERE run_id = ? ORDER BY step_index, attempt")
        .bind(id)
        .fetch_all(store.pool())
        .await?)
}

#[derive(Debug, Default, Clone)]
pub struct RunFilter {
    pub workflow: Option<String>,
    pub failed_only: bool,
    pub limit: i64,
}

pub async fn list_runs(store: &Store, filter: &RunFilter) -> Result<Vec<RunRecord>> {
    let limit = if filter.limit > 0 { filter.limit } else { 50 };
    Ok(sqlx::query_as(
        "SELECT * FROM workflow_runs
         WHERE (?1 IS NULL OR workflow = ?1) AND (?2 = 0 OR status = 'failed')
         ORDER BY id DESC LIMIT ?3",
    )
    .bind(&filter.workflow)
    .bind(filter.failed_only)
    .bind(limit)
    .fetch_all(store.pool())
    .await?)
}

/// Starts a new execution session of a run (first start, resume or retry); returns the session number.
pub async fn start_session(store: &Store, id: RunId) -> Result<i64> {
    let (session,): (i64,) = sqlx::query_as(
        "UPDATE workflow_runs SET status = 'running', session = session + 1, error = NULL, failed_step = NULL,
           started_at = COALESCE(started_at, ?), finished_at = NULL
         WHERE id = ? RETURNING session",
    )
    .bind(now_ms())
    .bind(id)
    .fetch_one(store.pool())
    .await?;
    Ok(session)
}

pub async fn finish_run(
    store: &Store,
    id: RunId,
    status: RunStatus,
    error: Option<&str>,
    failed_step: Option<&str>,
) -> Result<()> {
    sqlx::query("UPDATE workflow_runs SET status = ?, error = ?, failed_step = ?, finished_at = ? WHERE id = ?")
        .bind(status)
        .bind(error)
        .bind(failed_step)
        .bind(now_ms())
        .bind(id)
        .execute(store.pool())
        .await?;
    Ok(())
}

/// What one step attempt is, at its start.
pub struct AttemptStart<'a> {
    pub run_id: RunId,
    pub step_index: usize,
    pub step_id: &'a str,
    pub attempt: i64,
    pub session: i64,
    pub component_key: Option<&'a str>,
    pub component_version: Option<&'a str>,
    pub component_sha256: Option<&'a str>,
    pub input: Option<&'a Value>,
}

pub async fn begin_attempt(store: &Store, start: &AttemptStart<'_>, status: StepStatus) -> Result<()> {
    sqlx::query(
        "INSERT INTO workflow_steps (run_id, step_index, step_id, attempt, session, status, component_key,
           component_version, component_sha256, input, started_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(start.run_id)
    .bind(start.step_index as i64)
    .bind(start.step_id)
    .bind(start.attempt)
    .bind(start.session)
    .bind(status)
    .bind(start.component_key)
    .bind(start.component_version)
    .bind(start.component_sha256)
    .bind(start.input.map(Value::to_string))
    .bind(now_ms())
    .execute(store.pool())
    .await
    .context("recording a step")?;
    Ok(())
}

pub async fn finish_attempt(
    store: &Store,
    run_id: RunId,
    step_index: usize,
    attempt: i64,
    status: StepStatus,
    output: Option<&Value>,
    error: Option<(&str, &str)>,
) -> Result<()> {
    let now = now_ms();
    sqlx::query(
        "UPDATE workflow_steps SET status = ?, output = ?, error = ?, error_kind = ?, finished_at = ?,
           duration_ms = ? - started_at
         WHERE run_id = ? AND step_index = ? AND attempt = ?",
    )
    .bind(status)
    .bind(output.map(Value::to_string))
    .bind(error.map(|e| e.1))
    .bind(error.map(|e| e.0))
    .bind(now)
    .bind(now)
    .bind(run_id)
    .bind(step_index as i64)
    .bind(attempt)
    .execute(store.pool())
    .await
    .context("recording a step's result")?;
    Ok(())
}

/// After a crash or a shutdown: steps left `running` become `interrupted`, and so do their runs.
/// Returns the runs to resume (pending or interrupted), oldest first.
pub async fn recover(store: &Store) -> Result<Vec<RunId>> {
    let mut tx = store.pool().begin().await?;
    let now = now_ms();
    sqlx::query(
        "UPDATE workflow_steps SET status = 'interrupted', finished_at = ?, duration_ms = ? - started_at
         WHERE status = 'running'",
    )
    .bind(now)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE workflow_runs SET status = 'interrupted' WHERE status = 'running'").execute(&mut *tx).await?;
    let ids: Vec<(RunId,)> =
        sqlx::query_as("SELECT id FROM workflow_runs WHERE status IN ('pending', 'interrupted') ORDER BY id")
            .fetch_all(&mut *tx)
            .await?;
    tx.commit().await?;
    Ok(ids.into_iter().map(|(id,)| id).collect())
}

/// Marks one run's running step and the run itself interrupted (a shutdown cut it short).
pub async fn mark_interrupted(store: &Store, id: RunId) -> Result<()> {
    let now = now_ms();
    sqlx::query(
        "UPDATE workflow_steps SET status = 'interrupted', finished_at = ?, duration_ms = ? - started_at
         WHERE run_id = ? AND status = 'running'",
    )
    .bind(now)
    .bind(now)
    .bind(id)
    .execute(store.pool())
    .await?;
    sqlx::query("UPDATE workflow_runs SET status = 'interrupted' WHERE id = ? AND status = 'running'")
        .bind(id)
        .execute(store.pool())
        .await?;
    Ok(())
}

/// Makes a failed run runnable again (`runs retry`): it resumes at its failed step.
pub async fn reopen(store: &Store, id: RunId) -> Result<()> {
    sqlx::query("UPDATE workflow_runs SET status = 'pending' WHERE id = ? AND status IN ('failed', 'interrupted')")
        .bind(id)
        .execute(store.pool())
        .await?;
    Ok(())
}
