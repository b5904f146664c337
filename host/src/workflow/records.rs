//! Workflows and run history in the embedded store (migrations `0400_workflows.sql`, and
//! `0420_workflow_components.sql` for what a workflow's components resolved to).

use crate::store::Store;
use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::Value;
use sqlx::{Sqlite, SqliteConnection, Transaction};

pub type RunId = i64;

pub use crate::store::now_ms;

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
    /// A write step's outcome is unknown (its host died or its request went unanswered): the run waits
    /// for an operator's `runs retry` (send it again) or `runs skip` (treat it as done).
    NeedsAttention,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Pending => "pending",
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
            RunStatus::NeedsAttention => "needs_attention",
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
    /// A write was sent and never answered (a crash, a deadline, a transport failure after sending):
    /// whether it took effect is unknown, so it is not sent again without an operator.
    OutcomeUnknown,
    /// An operator marked the step done (`runs skip`), optionally with the output to use.
    SkippedByOperator,
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
            StepStatus::OutcomeUnknown => "outcome_unknown",
            StepStatus::SkippedByOperator => "skipped_by_operator",
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
    /// The host process executing the run (`hosts.id`), while one does.
    pub owner: Option<String>,
    /// Until when the owner holds it (Unix ms).
    pub lease_expires_at: Option<i64>,
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
    /// The action's declared effect (`read`, `idempotent`, `write`), when it was called.
    pub effect: Option<String>,
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

/// Records what each component of the workflow `name` resolved to when it was enabled (column
/// `resolved`, migration `0420_workflow_components.sql`): component key -> "bundle@version
/// (component version)". `None` clears it.
pub async fn save_resolved(
    store: &Store,
    name: &str,
    resolved: Option<&std::collections::BTreeMap<String, String>>,
) -> Result<()> {
    let text = resolved.map(serde_json::to_string).transpose()?;
    sqlx::query("UPDATE workflows SET resolved = ? WHERE name = ?")
        .bind(text)
        .bind(name)
        .execute(store.pool())
        .await
        .context("recording what the workflow's components resolved to")?;
    Ok(())
}

/// What each workflow's components resolved to when it was enabled, by workflow name (JSON null for
/// a workflow enabled before this was recorded).
pub async fn resolved_components(store: &Store) -> Result<std::collections::BTreeMap<String, Value>> {
    let rows: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT name, resolved FROM workflows").fetch_all(store.pool()).await?;
    Ok(rows
        .into_iter()
        .map(|(name, text)| {
            let value = text.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or(Value::Null);
            (name, value)
        })
        .collect())
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
         WHERE (?1 IS NULL OR workflow = ?1) AND (?2 = 0 OR status IN ('failed', 'needs_attention', 'interrupted'))
         ORDER BY id DESC LIMIT ?3",
    )
    .bind(&filter.workflow)
    .bind(filter.failed_only)
    .bind(limit)
    .fetch_all(store.pool())
    .await?)
}

// ---- ownership: every change to a run being executed is a compare-and-set on its owner ----

/// Another process holds the run now: this one's record write was refused, and it stops executing it.
#[derive(Debug, thiserror::Error)]
#[error(
    "run {0} is no longer held by this host (its lease lapsed and another host took it over); this host stopped executing it"
)]
pub struct LeaseLost(pub RunId);

/// What [`claim`] got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The run is this process's to execute; `session` counts its executions (retry budgets are per session).
    Claimed { session: i64 },
    /// A write step of the run was cut short after its request may have been sent: the run now waits
    /// for an operator instead.
    NeedsAttention { step: String },
    /// Finished, waiting for an operator, or held by a live owner.
    Unavailable,
}

/// The runs a process may claim now: new, interrupted, or held by an owner whose lease expired;
/// oldest first.
pub async fn runnable(store: &Store, limit: i64) -> Result<Vec<RunId>> {
    let ids: Vec<(RunId,)> = sqlx::query_as(
        "SELECT id FROM workflow_runs
         WHERE status IN ('pending', 'interrupted', 'running') AND (owner IS NULL OR lease_expires_at < ?)
         ORDER BY id LIMIT ?",
    )
    .bind(now_ms())
    .bind(limit)
    .fetch_all(store.pool())
    .await?;
    Ok(ids.into_iter().map(|(id,)| id).collect())
}

/// Takes run `id` for `lease`'s owner if nobody else holds it: a new or interrupted run (or one this
/// owner reopened, see [`reopen`]), or one whose owner's lease expired (a host that died). A step such a host left `running` is settled first: a
/// read or idempotent write is marked interrupted and runs again; a write is marked outcome unknown
/// and the run needs attention, because its request may have reached the service.
pub async fn claim(store: &Store, id: RunId, lease: &super::lease::Lease) -> Result<Claim> {
    let now = now_ms();
    let mut tx = store.begin_write().await?;
    let taken: Option<(RunStatus,)> = sqlx::query_as(
        "UPDATE workflow_runs SET owner = ?1, lease_expires_at = ?2
         WHERE id = ?3 AND (
            (status IN ('pending', 'interrupted') AND (owner IS NULL OR owner = ?1 OR lease_expires_at < ?4))
            OR (status = 'running' AND (owner IS NULL OR lease_expires_at < ?4)))
         RETURNING status",
    )
    .bind(&*lease.owner)
    .bind(lease.expires_at())
    .bind(id)
    .bind(now)
    .fetch_optional(&mut *tx)
    .await
    .context("claiming a run")?;
    if taken.is_none() {
        return Ok(Claim::Unavailable);
    }
    if let Some(step) = settle_cut_short(&mut tx, id, now).await? {
        tx.commit().await?;
        return Ok(Claim::NeedsAttention { step });
    }
    let (session,): (i64,) = sqlx::query_as(
        "UPDATE workflow_runs SET status = 'running', session = session + 1, error = NULL, failed_step = NULL,
           started_at = COALESCE(started_at, ?), finished_at = NULL
         WHERE id = ? RETURNING session",
    )
    .bind(now)
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await.context("claiming a run")?;
    Ok(Claim::Claimed { session })
}

/// Settles the steps of run `id` left `running` by an execution that ended without recording them
/// (a crash, or a shutdown that could not wait). Returns the step whose write outcome is unknown, if
/// any, after moving the run to `needs_attention` and releasing it.
async fn settle_cut_short(tx: &mut Transaction<'_, Sqlite>, id: RunId, now: i64) -> Result<Option<String>> {
    let unknown: Vec<(String,)> = sqlx::query_as(
        "UPDATE workflow_steps SET
           status = CASE WHEN effect = 'write' THEN 'outcome_unknown' ELSE 'interrupted' END,
           error = CASE WHEN effect = 'write'
             THEN 'the host stopped while this write was being sent; whether it reached the service is unknown'
             ELSE error END,
           error_kind = CASE WHEN effect = 'write' THEN 'outcome_unknown' ELSE error_kind END,
           finished_at = ?, duration_ms = ? - started_at
         WHERE run_id = ? AND status = 'running'
         RETURNING step_id, status",
    )
    .bind(now)
    .bind(now)
    .bind(id)
    .fetch_all(&mut **tx)
    .await
    .map(|rows: Vec<(String, StepStatus)>| {
        rows.into_iter().filter(|(_, status)| *status == StepStatus::OutcomeUnknown).map(|(step, _)| (step,)).collect()
    })?;
    let Some((step,)) = unknown.into_iter().next() else { return Ok(None) };
    let message = format!("step `{step}`: {}", attention_message());
    sqlx::query(
        "UPDATE workflow_runs SET status = 'needs_attention', owner = NULL, lease_expires_at = NULL, error = ?,
           failed_step = ?, finished_at = NULL
         WHERE id = ?",
    )
    .bind(&message)
    .bind(&step)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(Some(step))
}

/// What a run needing attention asks of the operator.
pub fn attention_message() -> &'static str {
    "a write was sent and its outcome is unknown; check in Intercom whether it took effect, then \
     `switchyard runs skip RUN` (it did: mark the step done, optionally `--output JSON`) or \
     `switchyard runs retry RUN` (it did not: send it again)"
}

/// Gives run `id` back when this process stops before finishing it: steps cut short are settled as
/// in [`claim`], and the run becomes `interrupted` (resumed by whoever claims it next) or
/// `needs_attention`. Does nothing if another process holds it.
pub async fn release(store: &Store, id: RunId, lease: &super::lease::Lease) -> Result<()> {
    let now = now_ms();
    let mut tx = store.begin_write().await?;
    let held: Option<(RunId,)> = sqlx::query_as("SELECT id FROM workflow_runs WHERE id = ? AND owner = ?")
        .bind(id)
        .bind(&*lease.owner)
        .fetch_optional(&mut *tx)
        .await?;
    if held.is_none() {
        return Ok(());
    }
    if settle_cut_short(&mut tx, id, now).await?.is_none() {
        sqlx::query(
            "UPDATE workflow_runs SET status = 'interrupted', owner = NULL, lease_expires_at = NULL
             WHERE id = ? AND status = 'running'",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The runs `lease`'s owner still holds.
pub async fn held_by(store: &Store, lease: &super::lease::Lease) -> Result<Vec<RunId>> {
    let ids: Vec<(RunId,)> = sqlx::query_as("SELECT id FROM workflow_runs WHERE owner = ? ORDER BY id")
        .bind(&*lease.owner)
        .fetch_all(store.pool())
        .await?;
    Ok(ids.into_iter().map(|(id,)| id).collect())
}

/// Ends a run this process holds, and releases it.
pub async fn finish_run(
    store: &Store,
    lease: &super::lease::Lease,
    id: RunId,
    status: RunStatus,
    error: Option<&str>,
    failed_step: Option<&str>,
) -> Result<()> {
    let done = sqlx::query(
        "UPDATE workflow_runs SET status = ?, error = ?, failed_step = ?, finished_at = ?, owner = NULL,
           lease_expires_at = NULL
         WHERE id = ? AND owner = ?",
    )
    .bind(status)
    .bind(error)
    .bind(failed_step)
    .bind(now_ms())
    .bind(id)
    .bind(&*lease.owner)
    .execute(store.pool())
    .await?;
    if done.rows_affected() != 1 {
        return Err(LeaseLost(id).into());
    }
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
    pub effect: Option<&'a str>,
    pub input: Option<&'a Value>,
}

/// Records the start of an attempt, if this process still holds the run.
pub async fn begin_attempt(
    store: &Store,
    lease: &super::lease::Lease,
    start: &AttemptStart<'_>,
    status: StepStatus,
) -> Result<()> {
    let done = sqlx::query(
        "INSERT INTO workflow_steps (run_id, step_index, step_id, attempt, session, status, component_key,
           component_version, component_sha256, effect, input, started_at)
         SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?
         WHERE EXISTS (SELECT 1 FROM workflow_runs WHERE id = ? AND owner = ?)",
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
    .bind(start.effect)
    .bind(start.input.map(Value::to_string))
    .bind(now_ms())
    .bind(start.run_id)
    .bind(&*lease.owner)
    .execute(store.pool())
    .await
    .context("recording a step")?;
    if done.rows_affected() != 1 {
        return Err(LeaseLost(start.run_id).into());
    }
    Ok(())
}

/// How one attempt ended.
pub struct AttemptEnd<'a> {
    pub status: StepStatus,
    pub output: Option<&'a Value>,
    /// The error kind (`ErrorKind::as_str`) and message.
    pub error: Option<(&'a str, &'a str)>,
}

/// Records how an attempt ended, if this process still holds the run.
pub async fn finish_attempt(
    store: &Store,
    lease: &super::lease::Lease,
    run_id: RunId,
    step_index: usize,
    attempt: i64,
    end: AttemptEnd<'_>,
) -> Result<()> {
    let now = now_ms();
    let done = sqlx::query(
        "UPDATE workflow_steps SET status = ?, output = ?, error = ?, error_kind = ?, finished_at = ?,
           duration_ms = ? - started_at
         WHERE run_id = ? AND step_index = ? AND attempt = ?
           AND EXISTS (SELECT 1 FROM workflow_runs WHERE id = ? AND owner = ?)",
    )
    .bind(end.status)
    .bind(end.output.map(Value::to_string))
    .bind(end.error.map(|e| e.1))
    .bind(end.error.map(|e| e.0))
    .bind(now)
    .bind(now)
    .bind(run_id)
    .bind(step_index as i64)
    .bind(attempt)
    .bind(run_id)
    .bind(&*lease.owner)
    .execute(store.pool())
    .await
    .context("recording a step's result")?;
    if done.rows_affected() != 1 {
        return Err(LeaseLost(run_id).into());
    }
    Ok(())
}

/// Makes a failed, interrupted or attention-needing run runnable again (`runs retry`), reserved for
/// `lease`'s owner so that it, not a daemon that happens to look first, executes it: it resumes at the
/// step that did not finish, which is sent again. Returns false if the run is in no such state or
/// another live process holds it.
pub async fn reopen(store: &Store, id: RunId, lease: &super::lease::Lease) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE workflow_runs SET status = 'pending', owner = ?1, lease_expires_at = ?2
         WHERE id = ?3 AND status IN ('failed', 'interrupted', 'needs_attention')
           AND (owner IS NULL OR owner = ?1 OR lease_expires_at < ?4)",
    )
    .bind(&*lease.owner)
    .bind(lease.expires_at())
    .bind(id)
    .bind(now_ms())
    .execute(store.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// `runs skip`: an operator marks the step that stopped run `id` (a write with an unknown outcome, or
/// a failed step) as done, with `output` as what later steps see of it, and the run becomes runnable
/// again from the next step, reserved for `lease`'s owner (as by [`reopen`]). Returns the step's id.
pub async fn skip_step(
    store: &Store,
    id: RunId,
    output: Option<&Value>,
    lease: &super::lease::Lease,
) -> Result<String> {
    let mut tx = store.begin_write().await?;
    let run: Option<(RunStatus, Option<String>)> =
        sqlx::query_as("SELECT status, failed_step FROM workflow_runs WHERE id = ?")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((status, failed_step)) = run else { anyhow::bail!("there is no run {id}") };
    if !matches!(status, RunStatus::NeedsAttention | RunStatus::Failed) {
        anyhow::bail!("run {id} is {}: only a run that needs attention or failed has a step to skip", status.as_str());
    }
    let Some(failed_step) = failed_step else { anyhow::bail!("run {id} names no step that stopped it") };
    let last: Option<(i64, String, i64, i64, StepStatus)> = sqlx::query_as(
        "SELECT step_index, step_id, attempt, session, status FROM workflow_steps WHERE run_id = ? AND step_id = ?
         ORDER BY attempt DESC LIMIT 1",
    )
    .bind(id)
    .bind(&failed_step)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((index, step, attempt, session, last_status)) = last else {
        anyhow::bail!("run {id} has no step to skip")
    };
    if !matches!(last_status, StepStatus::OutcomeUnknown | StepStatus::Failed) {
        anyhow::bail!("run {id}'s last step `{step}` is {}; there is nothing to skip", last_status.as_str());
    }
    let now = now_ms();
    sqlx::query(
        "INSERT INTO workflow_steps (run_id, step_index, step_id, attempt, session, status, output, error,
           started_at, finished_at, duration_ms)
         VALUES (?, ?, ?, ?, ?, 'skipped_by_operator', ?, 'marked done by an operator (`runs skip`)', ?, ?, 0)",
    )
    .bind(id)
    .bind(index)
    .bind(&step)
    .bind(attempt + 1)
    .bind(session)
    .bind(output.map(Value::to_string))
    .bind(now)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE workflow_runs SET status = 'pending', error = NULL, failed_step = NULL, owner = ?, lease_expires_at = ?
         WHERE id = ?",
    )
    .bind(&*lease.owner)
    .bind(lease.expires_at())
    .bind(id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(step)
}
