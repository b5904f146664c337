//! Runs one workflow run: step by step, recording every attempt, applying each step's error policy.
//!
//! A run is resumable at any point: steps whose latest attempt succeeded (or was skipped, or
//! continued past after failing) are not run again; their recorded output feeds later steps.

use super::definition::{self, ErrorKind, ErrorPolicy, Step, Workflow};
use super::expressions::Expressions;
use super::records::{self, AttemptStart, RunId, RunRecord, RunStatus, StepRecord, StepStatus};
use crate::http::Connection;
use crate::runtime::bindings::ComponentError;
use crate::runtime::{InvocationError, LoadedComponent, Runtime};
use crate::store::Store;
use anyhow::{Context, Result, anyhow};
use serde_json::{Map, Value, json};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where a run finds its components: a loaded bundle today, the bundle registry once it lands.
pub trait Components: Send + Sync {
    /// The action `key`, matching the semver requirement `version` when given.
    fn action(&self, key: &str, version: Option<&str>) -> Result<Arc<LoadedComponent>>;
    /// The trigger `key`, matching `version` when given.
    fn trigger(&self, key: &str, version: Option<&str>) -> Result<Arc<LoadedComponent>>;
    /// Every key this source has, for "did you mean" hints.
    fn keys(&self) -> Vec<String> {
        Vec::new()
    }
}

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
    /// Call only read actions (keys starting `intercom/find-`); record the mapped input of the
    /// others as `not_sent` and let later steps see their sample output.
    pub dry_run: bool,
    pub sleeper: Sleeper,
    pub observer: Option<Observer>,
}

impl Default for Options {
    fn default() -> Self {
        Options { dry_run: false, sleeper: tokio_sleeper(), observer: None }
    }
}

/// Everything a run needs.
pub struct Engine<'a> {
    pub store: &'a Store,
    pub runtime: &'a Runtime,
    pub components: &'a dyn Components,
    pub connections: &'a dyn Connections,
    pub options: Options,
    pub expressions: Expressions,
}

impl<'a> Engine<'a> {
    pub fn new(
        store: &'a Store,
        runtime: &'a Runtime,
        components: &'a dyn Components,
        connections: &'a dyn Connections,
    ) -> Self {
        Engine { store, runtime, components, connections, options: Options::default(), expressions: Expressions::new() }
    }

    pub fn with_options(mut self, options: Options) -> Self {
        self.options = options;
        self
    }

    /// Records how an attempt ended and tells the progress listener: every way a step ends does both.
    #[allow(clippy::too_many_arguments)]
    async fn finish(
        &self,
        run: RunId,
        index: usize,
        attempt: i64,
        step: &Step,
        status: StepStatus,
        output: Option<&Value>,
        error: Option<(&str, &str)>,
    ) -> Result<()> {
        records::finish_attempt(self.store, run, index, attempt, status, output, error).await?;
        self.report(Progress::StepFinished { run, index, step: step.id.clone(), status });
        Ok(())
    }

    fn report(&self, progress: Progress) {
        if let Some(observer) = &self.options.observer {
            observer(&progress);
        }
    }

    /// Runs (or resumes) run `id` until it succeeds or fails. A finished run is left as it is.
    pub async fn execute(&self, id: RunId) -> Result<RunStatus> {
        let run = records::get_run(self.store, id).await?.with_context(|| format!("no run {id}"))?;
        if run.status.is_finished() {
            return Ok(run.status);
        }
        let (workflow, _) = definition::parse(&format!("run {id}'s workflow {}", run.workflow), &run.definition)
            .map_err(|problems| anyhow!("{problems}"))?;
        let session = records::start_session(self.store, id).await?;
        let history = records::run_steps(self.store, id).await?;
        let mut context = base_context(&run);
        for (index, step) in workflow.steps.iter().enumerate() {
            let attempts: Vec<&StepRecord> = history.iter().filter(|r| r.step_index == index as i64).collect();
            let later_started = history.iter().any(|r| r.step_index > index as i64);
            match attempts.last().map(|r| r.status) {
                Some(StepStatus::Succeeded | StepStatus::NotSent) => {
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
            let next_attempt = attempts.last().map(|r| r.attempt + 1).unwrap_or(1);
            match self.run_step(&run, &workflow, index, step, session, next_attempt, &mut context).await? {
                StepOutcome::Done => {}
                StepOutcome::Stop { error } => {
                    let message = format!("step `{}` failed: {error}", step.id);
                    records::finish_run(self.store, id, RunStatus::Failed, Some(&message), Some(&step.id)).await?;
                    return Ok(RunStatus::Failed);
                }
            }
        }
        records::finish_run(self.store, id, RunStatus::Succeeded, None, None).await?;
        Ok(RunStatus::Succeeded)
    }

    #[allow(clippy::too_many_arguments)]
    async fn run_step(
        &self,
        run: &RunRecord,
        workflow: &Workflow,
        index: usize,
        step: &Step,
        session: i64,
        first_attempt: i64,
        context: &mut Value,
    ) -> Result<StepOutcome> {
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
            input: None,
        };
        // Everything before the call is deterministic: its failures are recorded once, not retried.
        let prepared = self.prepare(workflow, step, context).await;
        let (component, connection, input) = match prepared {
            Ok(Prepared::Skip) => {
                records::begin_attempt(self.store, &start, StepStatus::Skipped).await?;
                self.finish(run.id, index, attempt, step, StepStatus::Skipped, None, None).await?;
                return Ok(StepOutcome::Done);
            }
            Ok(Prepared::Call { component, connection, input }) => (component, connection, input),
            Err((kind, message, input)) => {
                start.input = input.as_ref();
                records::begin_attempt(self.store, &start, StepStatus::Running).await?;
                self.finish(run.id, index, attempt, step, StepStatus::Failed, None, Some((kind.as_str(), &message)))
                    .await?;
                return Ok(if step.on_error.continues() {
                    StepOutcome::Done
                } else {
                    StepOutcome::Stop { error: message }
                });
            }
        };
        start.component_version = Some(&component.description.version);
        start.component_sha256 = Some(&component.sha256);
        start.input = Some(&input);

        if self.options.dry_run && !is_read_only(component.key()) {
            let sample: Value = serde_json::from_str(&component.description.sample_output).unwrap_or(Value::Null);
            records::begin_attempt(self.store, &start, StepStatus::Running).await?;
            self.finish(run.id, index, attempt, step, StepStatus::NotSent, Some(&sample), None).await?;
            context["steps"][&step.id] = sample;
            return Ok(StepOutcome::Done);
        }

        let input_text = input.to_string();
        let mut failed_this_session = 0u32;
        loop {
            start.attempt = attempt;
            records::begin_attempt(self.store, &start, StepStatus::Running).await?;
            self.report(Progress::StepStarted { run: run.id, index, step: step.id.clone(), attempt });
            let result = self.runtime.run_action(&component, connection.as_ref(), &input_text).await;
            match result {
                Ok(output) => {
                    self.finish(run.id, index, attempt, step, StepStatus::Succeeded, Some(&output), None).await?;
                    context["steps"][&step.id] = output;
                    return Ok(StepOutcome::Done);
                }
                Err(error) => {
                    let kind = classify(&error);
                    let message = error.to_string();
                    if let (Some(ComponentError::Unauthorized(detail)), Some(name)) =
                        (error.component_error(), workflow.step_connection(step))
                    {
                        self.connections.rejected(name, detail).await;
                    }
                    self.finish(
                        run.id,
                        index,
                        attempt,
                        step,
                        StepStatus::Failed,
                        None,
                        Some((kind.as_str(), &message)),
                    )
                    .await?;
                    failed_this_session += 1;
                    if let ErrorPolicy::Retry(retry) = &step.on_error
                        && (if retry.on.is_some() { retry.retries(kind) } else { is_transient(&error) })
                        && failed_this_session < retry.max_attempts
                    {
                        let mut wait = retry.delay_before(failed_this_session + 1);
                        // Never retry a rate-limited call before the service's window resets.
                        if let Some(ComponentError::RateLimited(limit)) = error.component_error()
                            && let Some(seconds) = limit.retry_after_seconds
                        {
                            wait = wait.max(Duration::from_secs(seconds.into()));
                        }
                        attempt += 1;
                        self.report(Progress::Waiting {
                            run: run.id,
                            step: step.id.clone(),
                            wait,
                            next_attempt: attempt,
                        });
                        (self.options.sleeper)(wait).await;
                        continue;
                    }
                    return Ok(if step.on_error.continues() {
                        StepOutcome::Done
                    } else {
                        StepOutcome::Stop { error: message }
                    });
                }
            }
        }
    }

    /// Evaluates the condition, maps the input, finds the component and the connection.
    async fn prepare(
        &self,
        workflow: &Workflow,
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
        let component = self
            .components
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

enum StepOutcome {
    Done,
    Stop { error: String },
}

/// Actions a dry run may call: they only read.
pub fn is_read_only(key: &str) -> bool {
    key.starts_with("intercom/find-")
}

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

pub fn classify(error: &InvocationError) -> ErrorKind {
    match error {
        InvocationError::Component(e) => match e {
            ComponentError::InvalidInput(_) => ErrorKind::InvalidInput,
            ComponentError::NotFound(_) => ErrorKind::NotFound,
            ComponentError::Unauthorized(_) => ErrorKind::Unauthorized,
            ComponentError::Forbidden(_) => ErrorKind::Forbidden,
            ComponentError::RateLimited(_) => ErrorKind::RateLimited,
            ComponentError::Conflict(_) => ErrorKind::Conflict,
            ComponentError::Upstream(_) => ErrorKind::Upstream,
            ComponentError::Internal(_) => ErrorKind::Component,
        },
        InvocationError::DeadlineExceeded(_) => ErrorKind::Timeout,
        InvocationError::MemoryLimit(_) | InvocationError::OutputTooLarge { .. } | InvocationError::Trapped(_) => {
            ErrorKind::Component
        }
        InvocationError::Host(_) => ErrorKind::Host,
    }
}

/// Failures worth retrying by default: rate limits, server-side errors and transport failures,
/// timeouts and component crashes. A 4xx answer will not change by asking again.
pub fn is_transient(error: &InvocationError) -> bool {
    match error {
        InvocationError::Component(ComponentError::RateLimited(_)) => true,
        InvocationError::Component(ComponentError::Upstream(u)) => u.status >= 500 || u.status == 0 || u.status == 408,
        InvocationError::Component(ComponentError::Internal(_)) => false,
        InvocationError::Component(_) => false,
        InvocationError::DeadlineExceeded(_) | InvocationError::Trapped(_) => true,
        InvocationError::MemoryLimit(_) | InvocationError::OutputTooLarge { .. } | InvocationError::Host(_) => false,
    }
}
