//! Runs one workflow run: step by step, recording every attempt, applying each step's error policy.
//!
//! A run is resumable at any point: steps whose latest attempt succeeded (or was skipped, or
//! continued past after failing) are not run again; their recorded output feeds later steps.

use super::definition::{self, ErrorKind, ErrorPolicy, Step, Workflow};
use super::expressions::Expressions;
use super::lease::{DEFAULT_LEASE, Lease};
use super::records::{self, AttemptEnd, AttemptStart, Claim, RunId, RunRecord, RunStatus, StepRecord, StepStatus};
use crate::http::Connection;
use crate::runtime::{InvocationError, LoadedComponent, Runtime};
use crate::store::Store;
use anyhow::{Context, Result};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::Duration;
use switchyard_manifest::Effect;

pub use futures_util::future::BoxFuture;

pub use crate::runtime::Components;

/// Where a run finds its connections, by the name a workflow gives (`None`: no name given).
pub trait Connections: Send + Sync {
    fn resolve<'a>(&'a self, name: Option<&'a str>) -> BoxFuture<'a, Result<Connection>>;
    /// Whether a connection of that name exists, for `workflow validate`. `None` when this source
    /// cannot tell (e.g. one fixed connection from `--base-url/--token`).
    fn exists(&self, _name: &str) -> Option<bool> {
        None
    }
    /// The service refused the connection's credentials (401): the source may mark it as needing
    /// re-authorization so nothing keeps retrying a revoked token.
    fn rejected<'a>(&'a self, _name: &'a str, _message: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }
}

/// One connection for every name: `--base-url/--token` on the command line, and tests.
pub struct FixedConnection(pub Connection);

impl Connections for FixedConnection {
    fn resolve<'a>(&'a self, _name: Option<&'a str>) -> BoxFuture<'a, Result<Connection>> {
        Box::pin(async move { Ok(self.0.clone()) })
    }
}

/// How a retry waits. The default sleeps; tests substitute one that records the waits.
pub type Sleeper = Arc<dyn Fn(Duration) -> BoxFuture<'static, ()> + Send + Sync>;

pub fn tokio_sleeper() -> Sleeper {
    Arc::new(|duration| Box::pin(tokio::time::sleep(duration)))
}

/// What the executor reports as it goes (for progress bars and test output).
#[derive(Debug, Clone)]
pub enum Progress {
    StepStarted { run: RunId, index: usize, step: String, attempt: i64 },
    StepFinished { run: RunId, index: usize, step: String, status: StepStatus },
    Waiting { run: RunId, step: String, wait: Duration, next_attempt: i64 },
}

pub type Observer = Arc<dyn Fn(&Progress) + Send + Sync>;

#[derive(Clone)]
pub struct Options {
    /// Call only read actions (declared `effect = "read"`), with write requests refused by the HTTP
    /// layer whatever they declare; record the mapped input of the others as `not_sent` and let later
    /// steps see their sample output.
    pub dry_run: bool,
    pub sleeper: Sleeper,
    pub observer: Option<Observer>,
    /// When it turns true, a run stops at its next step boundary (or during a retry's wait) and is
    /// released as interrupted, to be resumed by whoever claims it next. A step already calling its
    /// action is let finish.
    pub stop: Option<tokio::sync::watch::Receiver<bool>>,
}

impl Default for Options {
    fn default() -> Self {
        Options { dry_run: false, sleeper: tokio_sleeper(), observer: None, stop: None }
    }
}

/// Everything a run needs.
pub struct Executor<'a> {
    pub store: &'a Store,
    pub runtime: &'a Runtime,
    pub components: &'a dyn Components,
    pub connections: &'a dyn Connections,
    pub options: Options,
    pub expressions: Expressions,
    /// This process's claim on the runs it executes.
    pub lease: Lease,
}

impl<'a> Executor<'a> {
    pub fn new(
        store: &'a Store,
        runtime: &'a Runtime,
        components: &'a dyn Components,
        connections: &'a dyn Connections,
    ) -> Self {
        Executor {
            store,
            runtime,
            components,
            connections,
            options: Options::default(),
            expressions: Expressions::new(),
            lease: Lease::new(DEFAULT_LEASE),
        }
    }

    pub fn with_options(mut self, options: Options) -> Self {
        self.options = options;
        self
    }

    pub fn with_lease(mut self, lease: Lease) -> Self {
        self.lease = lease;
        self
    }

    /// Records how an attempt ended and tells the progress listener: every way a step ends does both.
    async fn finish(&self, run: RunId, index: usize, attempt: i64, step: &Step, end: AttemptEnd<'_>) -> Result<()> {
        let status = end.status;
        records::finish_attempt(self.store, &self.lease, run, index, attempt, end).await?;
        self.report(Progress::StepFinished { run, index, step: step.id.clone(), status });
        Ok(())
    }

    fn report(&self, progress: Progress) {
        if let Some(observer) = &self.options.observer {
            observer(&progress);
        }
    }

    fn stopping(&self) -> bool {
        self.options.stop.as_ref().is_some_and(|stop| *stop.borrow())
    }

    /// Claims run `id` and runs (or resumes) it until it succeeds, fails, needs attention or is
    /// stopped. A run that is finished, waits for an operator, or is held by another live process is
    /// left alone and its current status returned.
    pub async fn execute(&self, id: RunId) -> Result<RunStatus> {
        let session = match records::claim(self.store, id, &self.lease).await? {
            Claim::Claimed { session } => session,
            Claim::NeedsAttention { step } => {
                tracing::warn!(run = id, step, "{}", records::attention_message());
                return Ok(RunStatus::NeedsAttention);
            }
            Claim::Unavailable => {
                let run = records::get_run(self.store, id).await?.with_context(|| format!("no run {id}"))?;
                return Ok(run.status);
            }
        };
        let _held = self.lease.hold(self.store, id);
        let run = records::get_run(self.store, id).await?.with_context(|| format!("no run {id}"))?;
        let status = match definition::parse(&format!("run {id}'s workflow {}", run.workflow), &run.definition) {
            Ok((workflow, _)) => self.execute_claimed(&run, &workflow, session).await,
            Err(problems) => {
                let message = format!("the run's workflow definition no longer parses: {problems}");
                records::finish_run(self.store, &self.lease, id, RunStatus::Failed, Some(&message), None).await?;
                Ok(RunStatus::Failed)
            }
        };
        if status.is_err() {
            // Whatever went wrong (the database, a lost lease), give the run back rather than leave it
            // held until the lease runs out; a step cut short is settled by its effect.
            if let Err(error) = records::release(self.store, id, &self.lease).await {
                tracing::warn!(run = id, "releasing the run failed: {error:#}");
            }
        }
        status
    }

    async fn execute_claimed(&self, run: &RunRecord, workflow: &Workflow, session: i64) -> Result<RunStatus> {
        let id = run.id;
        // One view of the components for the whole run: a hot swap applies to the next run.
        let pinned = self.components.pinned();
        let components = pinned.as_deref().unwrap_or(self.components);
        let history = records::run_steps(self.store, id).await?;
        let mut context = base_context(run);
        for (index, step) in workflow.steps.iter().enumerate() {
            let attempts: Vec<&StepRecord> = history.iter().filter(|r| r.step_index == index as i64).collect();
            let later_started = history.iter().any(|r| r.step_index > index as i64);
            match attempts.last().map(|r| r.status) {
                Some(StepStatus::Succeeded | StepStatus::NotSent | StepStatus::SkippedByOperator) => {
                    if let Some(output) = attempts.last().and_then(|r| r.output_value()) {
                        context["steps"][&step.id] = output;
                    }
                    continue;
                }
                Some(StepStatus::Skipped) => continue,
                // A failure the run already went past (policy `continue`): keep going.
                Some(StepStatus::Failed) if later_started => continue,
                _ => {}
            }
            if self.stopping() {
                records::release(self.store, id, &self.lease).await?;
                return Ok(RunStatus::Interrupted);
            }
            let next_attempt = attempts.last().map(|r| r.attempt + 1).unwrap_or(1);
            let call = StepCall { run, workflow, components, index, step, session };
            match self.run_step(&call, next_attempt, &mut context).await? {
                StepOutcome::Done => {}
                StepOutcome::Stop { error } => {
                    let message = format!("step `{}` failed: {error}", step.id);
                    records::finish_run(self.store, &self.lease, id, RunStatus::Failed, Some(&message), Some(&step.id))
                        .await?;
                    return Ok(RunStatus::Failed);
                }
                StepOutcome::NeedsAttention { error } => {
                    let message = format!("step `{}`: {error}; {}", step.id, records::attention_message());
                    records::finish_run(
                        self.store,
                        &self.lease,
                        id,
                        RunStatus::NeedsAttention,
                        Some(&message),
                        Some(&step.id),
                    )
                    .await?;
                    return Ok(RunStatus::NeedsAttention);
                }
                StepOutcome::Stopped => {
                    records::release(self.store, id, &self.lease).await?;
                    return Ok(RunStatus::Interrupted);
                }
            }
        }
        records::finish_run(self.store, &self.lease, id, RunStatus::Succeeded, None, None).await?;
        Ok(RunStatus::Succeeded)
    }

    async fn run_step(&self, call: &StepCall<'_>, first_attempt: i64, context: &mut Value) -> Result<StepOutcome> {
        let StepCall { run, workflow, components, index, step, session } = *call;
        let mut attempt = first_attempt;
        let mut start = AttemptStart {
            run_id: run.id,
            step_index: index,
            step_id: &step.id,
            attempt,
            session,
            component_key: Some(&step.action),
            component_version: None,
            component_sha256: None,
            effect: None,
            input: None,
        };
        // Everything before the call is deterministic: its failures are recorded once, not retried.
        let prepared = self.prepare(workflow, components, step, context).await;
        let (component, connection, input) = match prepared {
            Ok(Prepared::Skip) => {
                records::begin_attempt(self.store, &self.lease, &start, StepStatus::Skipped).await?;
                self.finish(run.id, index, attempt, step, ended(StepStatus::Skipped, None, None)).await?;
                return Ok(StepOutcome::Done);
            }
            Ok(Prepared::Call { component, connection, input }) => (component, connection, input),
            Err((kind, message, input)) => {
                start.input = input.as_ref();
                records::begin_attempt(self.store, &self.lease, &start, StepStatus::Running).await?;
                let end = ended(StepStatus::Failed, None, Some((kind.as_str(), message.as_str())));
                self.finish(run.id, index, attempt, step, end).await?;
                return Ok(if step.on_error.continues() {
                    StepOutcome::Done
                } else {
                    StepOutcome::Stop { error: message }
                });
            }
        };
        start.component_version = Some(&component.description.version);
        start.component_sha256 = Some(&component.sha256);
        start.effect = Some(component.effect.as_str());
        start.input = Some(&input);

        if self.options.dry_run && component.effect != Effect::Read {
            let sample: Value = serde_json::from_str(&component.description.sample_output).unwrap_or(Value::Null);
            records::begin_attempt(self.store, &self.lease, &start, StepStatus::Running).await?;
            self.finish(run.id, index, attempt, step, ended(StepStatus::NotSent, Some(&sample), None)).await?;
            context["steps"][&step.id] = sample;
            return Ok(StepOutcome::Done);
        }

        let input_text = input.to_string();
        let mut failed_this_session = 0u32;
        loop {
            start.attempt = attempt;
            records::begin_attempt(self.store, &self.lease, &start, StepStatus::Running).await?;
            self.report(Progress::StepStarted { run: run.id, index, step: step.id.clone(), attempt });
            let result = if self.options.dry_run {
                self.runtime.run_action_reads_only(&component, connection.as_ref(), &input_text).await
            } else {
                self.runtime.run_action(&component, connection.as_ref(), &input_text).await
            };
            let error = match result {
                Ok(output) => {
                    self.finish(run.id, index, attempt, step, ended(StepStatus::Succeeded, Some(&output), None))
                        .await?;
                    context["steps"][&step.id] = output;
                    return Ok(StepOutcome::Done);
                }
                // A write that may have reached the service is never sent again by the host itself.
                Err(error @ InvocationError::OutcomeUnknown(_)) if !component.effect.may_repeat() => {
                    let message = error.to_string();
                    let end = ended(StepStatus::OutcomeUnknown, None, Some((error.kind().as_str(), message.as_str())));
                    self.finish(run.id, index, attempt, step, end).await?;
                    return Ok(StepOutcome::NeedsAttention { error: message });
                }
                Err(error) => error.for_repeatable_action(),
            };
            let kind = error.kind();
            let message = error.to_string();
            // Only a 401 the host itself saw from the connection's origin disables the connection.
            if let (Some(detail), Some(name)) = (error.credentials_refused(), workflow.step_connection(step)) {
                self.connections.rejected(name, detail).await;
            }
            self.finish(run.id, index, attempt, step, ended(StepStatus::Failed, None, Some((kind.as_str(), &message))))
                .await?;
            failed_this_session += 1;
            if let ErrorPolicy::Retry(retry) = &step.on_error
                && (if retry.on.is_some() { retry.retries(kind) } else { error.is_transient() })
                && failed_this_session < retry.max_attempts
            {
                // Never retry a rate-limited call before the service's window resets.
                let wait = retry
                    .delay_before(failed_this_session + 1)
                    .max(error.retry_after(MAX_RETRY_WAIT).unwrap_or_default());
                attempt += 1;
                self.report(Progress::Waiting { run: run.id, step: step.id.clone(), wait, next_attempt: attempt });
                if !self.wait_or_stop(wait).await {
                    return Ok(StepOutcome::Stopped);
                }
                continue;
            }
            return Ok(if step.on_error.continues() {
                StepOutcome::Done
            } else {
                StepOutcome::Stop { error: message }
            });
        }
    }

    /// Sleeps `wait` (through the sleeper); false if the run was told to stop meanwhile.
    async fn wait_or_stop(&self, wait: Duration) -> bool {
        let sleep = (self.options.sleeper)(wait);
        match self.options.stop.clone() {
            None => {
                sleep.await;
                true
            }
            Some(mut stop) => tokio::select! {
                () = sleep => true,
                _ = stop.wait_for(|stopped| *stopped) => false,
            },
        }
    }

    /// Evaluates the condition, maps the input, finds the component and the connection.
    async fn prepare(
        &self,
        workflow: &Workflow,
        components: &dyn Components,
        step: &Step,
        context: &Value,
    ) -> Result<Prepared, (ErrorKind, String, Option<Value>)> {
        if let Some(condition) = &step.condition {
            let go = self
                .expressions
                .condition(condition, context)
                .map_err(|e| (ErrorKind::Expression, e.to_string(), None))?;
            if !go {
                return Ok(Prepared::Skip);
            }
        }
        let input = self
            .expressions
            .map_input(&step.input, context)
            .map_err(|e| (ErrorKind::Expression, e.to_string(), None))?;
        let component = components
            .action(&step.action, step.version.as_deref())
            .map_err(|e| (ErrorKind::Host, format!("{e:#}"), Some(input.clone())))?;
        let connection = self
            .connections
            .resolve(workflow.step_connection(step))
            .await
            .map_err(|e| (ErrorKind::Host, format!("{e:#}"), Some(input.clone())))?;
        Ok(Prepared::Call { component, connection: Some(connection), input })
    }
}

enum Prepared {
    Skip,
    Call { component: Arc<LoadedComponent>, connection: Option<Connection>, input: Value },
}

fn ended<'e>(status: StepStatus, output: Option<&'e Value>, error: Option<(&'e str, &'e str)>) -> AttemptEnd<'e> {
    AttemptEnd { status, output, error }
}

/// One step of a claimed run, as [`Executor::run_step`] needs it.
#[derive(Clone, Copy)]
struct StepCall<'r> {
    run: &'r RunRecord,
    workflow: &'r Workflow,
    components: &'r dyn Components,
    index: usize,
    step: &'r Step,
    session: i64,
}

enum StepOutcome {
    Done,
    Stop {
        error: String,
    },
    /// A write's outcome is unknown: the run waits for an operator.
    NeedsAttention {
        error: String,
    },
    /// The host is stopping: the run is released as interrupted.
    Stopped,
}

/// The longest a rate limit's `retry-after` may hold a step before its next attempt.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(3600);

/// The expression context at the start of a run: `trigger` (the event's object), `event` and `steps`.
pub fn base_context(run: &RunRecord) -> Value {
    json!({
        "trigger": run.payload(),
        "event": {
            "workflow": run.workflow,
            "trigger": run.trigger_key,
            "dedupe_key": run.dedupe_key,
            "occurred_at": run.occurred_at,
            "run_id": run.id,
        },
        "steps": Value::Object(Map::new()),
    })
}
