//! Trigger events in, workflow runs out.
//!
//! [`handle_event`] runs one workflow for one event. [`WorkflowRunner`] drains the scheduler's
//! outbox: for each undelivered event it creates the run of every matching enabled workflow and
//! marks the event delivered in one transaction, then executes the runs. A crash before the commit
//! leaves the event undelivered (it is taken again, and the UNIQUE (workflow, dedupe key) keeps a
//! second run from starting); a crash after it leaves `pending` runs that [`WorkflowRunner::recover`]
//! resumes. So an event is never lost and never runs a workflow twice.

use super::definition::{self, Workflow};
use super::executor::{BoxFuture, Components, Engine};
use super::records::{self, RunId, RunStatus, StoredWorkflow, TriggerEvent};
use crate::bundle::{Bundle, sha256_hex};
use crate::runtime::LoadedComponent;
use crate::runtime::bindings::ComponentKind;
use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;
use sqlx::{Sqlite, Transaction};
use std::sync::Arc;
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
pub async fn handle_event(engine: &Engine<'_>, workflow: &LoadedWorkflow, event: &TriggerEvent) -> Result<RunId> {
    let mut tx = engine.store.pool().begin().await?;
    let (id, created) =
        records::create_run(&mut tx, &workflow.workflow.name, &workflow.text, &workflow.sha256, event).await?;
    tx.commit().await?;
    if created {
        engine.execute(id).await?;
    }
    Ok(id)
}

/// Re-runs a failed run from its failed step (`runs retry`); the steps that succeeded keep their output.
pub async fn retry_run(engine: &Engine<'_>, id: RunId) -> Result<RunStatus> {
    let run = records::get_run(engine.store, id).await?.with_context(|| format!("there is no run {id}"))?;
    match run.status {
        RunStatus::Failed | RunStatus::Interrupted | RunStatus::Pending => {}
        RunStatus::Succeeded => bail!("run {id} succeeded; there is nothing to retry"),
        RunStatus::Running => bail!("run {id} is running right now"),
    }
    records::reopen(engine.store, id).await?;
    engine.execute(id).await
}

/// One undelivered event from the scheduler's outbox.
#[derive(Clone, Debug)]
pub struct OutboxEvent {
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
pub trait Outbox: Send + Sync {
    fn undelivered<'a>(
        &'a self,
        tx: &'a mut Transaction<'static, Sqlite>,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<OutboxEvent>>>;
    fn mark_delivered<'a>(&'a self, tx: &'a mut Transaction<'static, Sqlite>, id: i64) -> BoxFuture<'a, Result<()>>;
}

/// Whether an enabled workflow takes events of this subscription.
pub fn matches(stored: &StoredWorkflow, event: &OutboxEvent) -> bool {
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

/// Feeds outbox events to the enabled workflows.
pub struct WorkflowRunner<'a, O: Outbox> {
    pub engine: Engine<'a>,
    pub outbox: O,
    /// Events taken per transaction.
    pub batch: u32,
    /// Runs executing at once in [`run_until`](Self::run_until).
    pub max_in_flight: usize,
}

impl<'a, O: Outbox> WorkflowRunner<'a, O> {
    pub fn new(engine: Engine<'a>, outbox: O) -> Self {
        WorkflowRunner { engine, outbox, batch: 100, max_in_flight: 16 }
    }

    /// On start: steps a crash or shutdown cut short are marked interrupted, and every unfinished run
    /// resumes (completed steps are not repeated). Returns the runs resumed.
    pub async fn recover(&self) -> Result<Vec<RunId>> {
        let ids = records::recover(self.engine.store).await?;
        for id in &ids {
            if let Err(error) = self.engine.execute(*id).await {
                tracing::error!(run = id, "resuming the run failed: {error:#}");
            }
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
    pub async fn deliver(&self) -> Result<Vec<RunId>> {
        let mut tx = self.engine.store.pool().begin().await?;
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

    async fn execute_logged(&self, id: RunId) {
        if let Err(error) = self.engine.execute(id).await {
            tracing::error!(run = id, "the run could not be executed: {error:#}");
        }
    }

    /// Resumes interrupted runs, then delivers the outbox every `every` until `shutdown` resolves.
    /// Runs execute concurrently (up to `max_in_flight`), so one waiting out a retry's backoff does
    /// not hold up the others. A run cut short by the shutdown is recorded as interrupted and resumes
    /// on the next start.
    pub async fn run_until(&self, every: Duration, shutdown: impl std::future::Future<Output = ()>) -> Result<()> {
        use futures_util::stream::{FuturesUnordered, StreamExt};
        tokio::pin!(shutdown);
        let mut in_flight = FuturesUnordered::new();
        let resumable = tokio::select! {
            ids = records::recover(self.engine.store) => ids?,
            _ = &mut shutdown => return self.interrupt_running().await,
        };
        for id in resumable {
            in_flight.push(self.execute_logged(id));
        }
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut shutdown => {
                    drop(in_flight);
                    return self.interrupt_running().await;
                }
                Some(()) = in_flight.next(), if !in_flight.is_empty() => {}
                _ = ticker.tick(), if in_flight.len() < self.max_in_flight => {
                    match self.deliver().await {
                        Ok(created) => created.into_iter().for_each(|id| in_flight.push(self.execute_logged(id))),
                        Err(error) => tracing::error!("delivering trigger events failed: {error:#}"),
                    }
                }
            }
        }
    }

    async fn interrupt_running(&self) -> Result<()> {
        let running: Vec<(RunId,)> = sqlx::query_as("SELECT id FROM workflow_runs WHERE status = 'running'")
            .fetch_all(self.engine.store.pool())
            .await?;
        for (id,) in running {
            records::mark_interrupted(self.engine.store, id).await?;
        }
        Ok(())
    }
}

/// A bundle is a component source: the key must be in it, of the right kind, and its version must
/// meet the workflow's requirement.
impl Components for Bundle {
    fn action(&self, key: &str, version: Option<&str>) -> Result<Arc<LoadedComponent>> {
        pick(self, key, version, ComponentKind::Action)
    }

    fn trigger(&self, key: &str, version: Option<&str>) -> Result<Arc<LoadedComponent>> {
        pick(self, key, version, ComponentKind::Trigger)
    }

    fn keys(&self) -> Vec<String> {
        self.components.keys().cloned().collect()
    }
}

fn pick(bundle: &Bundle, key: &str, version: Option<&str>, kind: ComponentKind) -> Result<Arc<LoadedComponent>> {
    let component = bundle.component(key)?;
    if component.kind() != kind {
        bail!(
            "{key} is a{} {}, not a{} {}",
            article(component.kind()),
            kind_word(component.kind()),
            article(kind),
            kind_word(kind)
        );
    }
    check_version(component, version)?;
    Ok(component.clone())
}

fn article(kind: ComponentKind) -> &'static str {
    match kind {
        ComponentKind::Action => "n",
        ComponentKind::Trigger => "",
    }
}

fn kind_word(kind: ComponentKind) -> &'static str {
    crate::cli::kind_name(kind)
}

/// Checks a component's version against a semver requirement such as `^0.1`.
pub fn check_version(component: &LoadedComponent, requirement: Option<&str>) -> Result<()> {
    let Some(requirement) = requirement else { return Ok(()) };
    let req = semver::VersionReq::parse(requirement)
        .map_err(|e| anyhow!("version requirement {requirement:?} is not valid semver ({e}); write e.g. ^0.1"))?;
    let version = semver::Version::parse(&component.description.version)
        .with_context(|| format!("{} has a version that is not semver", component.key()))?;
    if !req.matches(&version) {
        bail!("{} is version {version}, which does not meet the requirement {requirement}", component.key());
    }
    Ok(())
}
