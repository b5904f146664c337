//! Trigger events in, workflow runs out.
//!
//! [`handle_event`] runs one workflow for one event. [`WorkflowRunner`] drains the scheduler's
//! outbox: for each undelivered event it creates the run of every matching enabled workflow and
//! marks the event delivered in one transaction, then executes the runs. A crash before the commit
//! leaves the event undelivered (it is taken again, and the UNIQUE (workflow, dedupe key) keeps a
//! second run from starting); a crash after it leaves `pending` runs that any host claims. Runs are
//! held by leases ([`super::lease`]), so a run is executed by one host at a time and a dead host's
//! runs are taken over once its lease expires. So an event is never lost and never runs a workflow
//! twice, and a write is never sent twice without an operator's say.

use super::definition::{self, Workflow};
use super::executor::{BoxFuture, Executor};
use super::records::{self, RunId, RunStatus, StoredWorkflow, TriggerEvent};
use crate::bundle::sha256_hex;
use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;
use sqlx::{Sqlite, Transaction};
use std::time::Duration;

/// A workflow ready to run: the parsed definition and the exact text it came from.
#[derive(Clone, Debug)]
pub struct LoadedWorkflow {
    pub workflow: Workflow,
    pub text: String,
    pub sha256: String,
}

impl LoadedWorkflow {
    /// Parses workflow text; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Self> {
        let (workflow, _) = definition::parse(file, text).map_err(|problems| anyhow!("{problems}"))?;
        Ok(LoadedWorkflow { workflow, text: text.to_string(), sha256: sha256_hex(text.as_bytes()) })
    }

    pub fn from_stored(stored: &StoredWorkflow) -> Result<Self> {
        Self::parse(&stored.source_path, &stored.content)
    }
}

/// Runs `workflow` for `event` and returns the run's id. If this event already started a run of this
/// workflow, nothing runs again: the existing run's id is returned.
pub async fn handle_event(executor: &Executor<'_>, workflow: &LoadedWorkflow, event: &TriggerEvent) -> Result<RunId> {
    let mut tx = executor.store.pool().begin().await?;
    let (id, created) =
        records::create_run(&mut tx, &workflow.workflow.name, &workflow.text, &workflow.sha256, event).await?;
    tx.commit().await?;
    if created {
        executor.execute(id).await?;
    }
    Ok(id)
}

/// Re-runs a failed, interrupted or attention-needing run from the step that did not finish (`runs
/// retry`); the steps that succeeded keep their output. A write whose outcome was unknown is sent
/// again: that is what the operator asked for.
pub async fn retry_run(executor: &Executor<'_>, id: RunId) -> Result<RunStatus> {
    let run = records::get_run(executor.store, id).await?.with_context(|| format!("there is no run {id}"))?;
    match run.status {
        RunStatus::Failed | RunStatus::Interrupted | RunStatus::Pending | RunStatus::NeedsAttention => {}
        RunStatus::Succeeded => bail!("run {id} succeeded; there is nothing to retry"),
        RunStatus::Running => match (&run.owner, run.lease_expires_at) {
            (Some(owner), Some(until)) if until >= records::now_ms() => bail!(
                "run {id} is being executed right now by host {owner}; if that host is gone, its lease \
                 expires in {} s and the run can be retried then",
                (until - records::now_ms()) / 1000 + 1
            ),
            // Its owner's lease has expired: claiming it settles what the dead host left.
            _ => return executor.execute(id).await,
        },
    }
    if !records::reopen(executor.store, id, &executor.lease).await? {
        bail!("run {id} could not be reopened: another host holds it or its state changed meanwhile");
    }
    executor.execute(id).await
}

/// Marks the step that stopped run `id` as done (`runs skip`), with `output` as what later steps see
/// of it, and runs the rest of the run.
pub async fn skip_step(executor: &Executor<'_>, id: RunId, output: Option<&Value>) -> Result<(String, RunStatus)> {
    let step = records::skip_step(executor.store, id, output, &executor.lease).await?;
    let status = executor.execute(id).await?;
    Ok((step, status))
}

/// One undelivered event from the scheduler's outbox.
#[derive(Clone, Debug)]
pub struct PendingEvent {
    /// The outbox row, for marking it delivered.
    pub id: i64,
    /// The subscription's connection name, if any: the event feeds the workflows on that connection.
    pub connection: Option<String>,
    /// The subscription's trigger settings; null when the subscription is gone (matches nothing).
    pub settings: Value,
    pub event: TriggerEvent,
}

/// The scheduler's outbox, as the runner needs it. Both calls run inside the runner's transaction,
/// so the delivery mark commits together with the runs it created.
pub trait EventFeed: Send + Sync {
    fn undelivered<'a>(
        &'a self,
        tx: &'a mut Transaction<'static, Sqlite>,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<PendingEvent>>>;
    fn mark_delivered<'a>(&'a self, tx: &'a mut Transaction<'static, Sqlite>, id: i64) -> BoxFuture<'a, Result<()>>;
}

/// Whether an enabled workflow takes events of this subscription.
pub fn matches(stored: &StoredWorkflow, event: &PendingEvent) -> bool {
    let settings: Value = serde_json::from_str(&stored.trigger_settings).unwrap_or(Value::Object(Default::default()));
    event.settings.is_object()
        && stored.trigger_key == event.event.trigger_key
        && stored.trigger_connection == event.connection
        && (settings == event.settings || (is_empty(&settings) && is_empty(&event.settings)))
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(map) => map.is_empty(),
        _ => false,
    }
}

/// Feeds outbox events to the enabled workflows, and executes every run nobody holds: new ones,
/// interrupted ones, and those whose owner's lease expired (a host that died).
pub struct WorkflowRunner<'a, O: EventFeed> {
    pub executor: Executor<'a>,
    pub outbox: O,
    /// Events taken per transaction.
    pub batch: u32,
    /// Runs executing at once in [`run_until`](Self::run_until).
    pub max_in_flight: usize,
}

impl<'a, O: EventFeed> WorkflowRunner<'a, O> {
    pub fn new(executor: Executor<'a>, outbox: O) -> Self {
        WorkflowRunner { executor, outbox, batch: 100, max_in_flight: 16 }
    }

    /// Executes every run nobody holds, one after another (tests and one-shot commands; the daemon
    /// uses [`run_until`](Self::run_until)). Returns the runs it executed.
    pub async fn recover(&self) -> Result<Vec<RunId>> {
        let ids = records::runnable(self.executor.store, i64::MAX).await?;
        for id in &ids {
            self.execute_logged(*id).await;
        }
        Ok(ids)
    }

    /// Takes one batch of undelivered events: creates their runs and marks them delivered in one
    /// transaction, then executes the new runs. Returns the runs created.
    pub async fn tick(&self) -> Result<Vec<RunId>> {
        let created = self.deliver().await?;
        for id in &created {
            self.execute_logged(*id).await;
        }
        Ok(created)
    }

    /// Takes one batch of undelivered events and, in one transaction, creates the runs of the matching
    /// enabled workflows and marks the events delivered. Returns the runs created (not yet executed).
    /// The transaction takes the write lock first, so two hosts delivering at once take turns and
    /// each event is delivered by one of them.
    pub async fn deliver(&self) -> Result<Vec<RunId>> {
        let mut tx = self.executor.store.begin_write().await?;
        let events = self.outbox.undelivered(&mut tx, self.batch).await?;
        let mut created = Vec::new();
        for event in &events {
            let workflows = records::enabled_for(&mut tx, &event.event.trigger_key).await?;
            for stored in workflows.iter().filter(|w| matches(w, event)) {
                let (id, new) =
                    records::create_run(&mut tx, &stored.name, &stored.content, &stored.sha256, &event.event).await?;
                if new {
                    created.push(id);
                }
            }
            self.outbox.mark_delivered(&mut tx, event.id).await?;
        }
        tx.commit().await.context("committing delivered events and their runs")?;
        Ok(created)
    }

    /// Executes run `id` and logs its outcome in one line: workflow, run, status, the step that
    /// stopped it and why, and what to do about it.
    async fn execute_logged(&self, id: RunId) {
        let status = match self.executor.execute(id).await {
            Ok(status) => status,
            Err(error) => {
                tracing::error!(
                    run = id,
                    "the run could not be executed: {error:#}; `switchyard runs retry {id}` tries again"
                );
                return;
            }
        };
        let Ok(Some(run)) = records::get_run(self.executor.store, id).await else { return };
        let step = run.failed_step.as_deref().unwrap_or("-");
        let error = run.error.as_deref().map(crate::runtime::state::escape_guest_text).unwrap_or_default();
        match status {
            RunStatus::Succeeded => tracing::info!(workflow = run.workflow, run = id, "run succeeded"),
            RunStatus::Failed => tracing::warn!(
                workflow = run.workflow,
                run = id,
                step,
                "run failed: {error}; `switchyard runs show {id}` shows it, `switchyard runs retry {id}` retries it"
            ),
            RunStatus::NeedsAttention => {
                tracing::warn!(workflow = run.workflow, run = id, step, "run needs attention: {error}")
            }
            // Interrupted (this host is stopping) or held by another host: nothing to report.
            _ => {}
        }
    }

    /// Delivers the outbox and executes the runs nobody holds, every `every`, until `shutdown`
    /// resolves. Runs execute concurrently (up to `max_in_flight`), so one waiting out a retry's backoff
    /// does not hold up the others. On shutdown every run stops at its next step boundary (a step
    /// calling its action is let finish, for up to `grace`) and is released as interrupted; one still
    /// busy after the grace is dropped and released by its steps' effects (a write in flight needs
    /// attention).
    pub async fn run_until(
        &self,
        every: Duration,
        grace: Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<()> {
        use futures_util::stream::{FuturesUnordered, StreamExt};
        tokio::pin!(shutdown);
        let mut in_flight = FuturesUnordered::new();
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                Some(()) = in_flight.next(), if !in_flight.is_empty() => {}
                _ = ticker.tick(), if in_flight.len() < self.max_in_flight => {
                    if let Err(error) = self.deliver().await {
                        tracing::error!("delivering trigger events failed: {error:#}");
                    }
                    let room = (self.max_in_flight - in_flight.len()) as i64;
                    match records::runnable(self.executor.store, room).await {
                        Ok(ids) => ids.into_iter().for_each(|id| in_flight.push(self.execute_logged(id))),
                        Err(error) => tracing::error!("listing runnable runs failed: {error:#}"),
                    }
                }
            }
        }
        // The executor sees the stop at the next step boundary; give the steps in flight their grace.
        let _ = tokio::time::timeout(grace, async { while in_flight.next().await.is_some() {} }).await;
        drop(in_flight);
        for id in records::held_by(self.executor.store, &self.executor.lease).await? {
            records::release(self.executor.store, id, &self.executor.lease).await?;
        }
        Ok(())
    }
}
