//! The component runtime: one engine, each component compiled once (and cached on disk), one
//! `InstancePre` per component, and a fresh `Store` per invocation under the limits in [`Limits`].
//!
//! The component side (a loaded component, its input validation, and what a poll takes and returns)
//! is in `component`.

/// The contract bindings, where the runtime's callers have always found them.
pub use crate::contract as bindings;
pub mod cache;
mod component;
pub mod engine;
pub mod error;
pub mod source;
pub mod state;

use crate::http::{CallState, Connection, HostPolicy, OutboundHttp, RateWaits, RequestDeadline};
use anyhow::{Context, Result, bail};
use bindings::action::ActionPre;
use bindings::trigger::TriggerPre;
use bindings::trigger::exports::switchyard::connector::trigger_handler::{Event, PollRequest, PollResponse};
use bindings::{ComponentError, ComponentKind};
use cache::CompiledCache;
pub use component::{LoadedComponent, PollInput, PollResult, PolledEvent};
use component::{Prepared, checked_events, parse_and_validate};
pub use engine::{Allocator, Limits};
pub use error::{ErrorKind, InvocationError, describe_component_error};
pub use source::Components;
use state::{InvocationState, MemoryLimitExceeded};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Engine, Store, Trap, UpdateDeadline};

pub struct RuntimeConfig {
    pub limits: Limits,
    /// Where precompiled components are kept (the host's own data directory).
    pub cache_dir: PathBuf,
}

pub struct Runtime {
    engine: Engine,
    allocator: Allocator,
    linker: Linker<InvocationState>,
    cache: CompiledCache,
    limits: Limits,
    http: Arc<OutboundHttp>,
}

enum Call<'a> {
    Run(&'a str),
    Poll(PollRequest),
    Sample(&'a str),
}

enum Answer {
    Run(String),
    Poll(PollResponse),
    Sample(Vec<Event>),
}

fn trigger_only(component: &LoadedComponent) -> Result<(), InvocationError> {
    match component.prepared {
        Prepared::Trigger(_) => Ok(()),
        Prepared::Action(_) => Err(InvocationError::Host(bindings::wrong_kind(
            &component.key,
            ComponentKind::Action,
            ComponentKind::Trigger,
        ))),
    }
}
/// Runs `work` for at most `deadline`, not counting the time it spent waiting for its workspace's rate
/// budget (up to `allowance`); `None` when the deadline passed first.
async fn within_deadline<F: std::future::Future>(
    deadline: Duration,
    allowance: Duration,
    waits: &RateWaits,
    work: F,
) -> Option<F::Output> {
    let started = tokio::time::Instant::now();
    let mut allowed = deadline;
    tokio::pin!(work);
    loop {
        match tokio::time::timeout_at(started + allowed, &mut work).await {
            Ok(output) => return Some(output),
            Err(_elapsed) => {
                let extended = deadline + waits.total().min(allowance);
                if extended <= allowed {
                    return None;
                }
                allowed = extended;
            }
        }
    }
}

impl Runtime {
    pub fn new(config: RuntimeConfig) -> Result<Self> {
        let (engine, allocator) = engine::build_engine(&config.limits)?;
        engine::start_epoch_ticker(&engine);
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        bindings::action::Action::add_to_linker::<InvocationState, HasSelf<InvocationState>>(&mut linker, |s| s)?;
        let cache = CompiledCache::new(&engine, config.cache_dir)?;
        let http = Arc::new(OutboundHttp::new(&config.limits.http)?);
        Ok(Runtime { engine, allocator, linker, cache, limits: config.limits, http })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn allocator(&self) -> Allocator {
        self.allocator
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Compiles (or loads from cache) and prepares one component, checks that it exports the world
    /// its manifest entry claims, and asks it to describe itself. `file` names it in every error.
    pub async fn load(
        &self,
        file: &str,
        wasm: &[u8],
        sha256: &str,
        kind: ComponentKind,
        effect: switchyard_manifest::Effect,
        policy: Arc<HostPolicy>,
    ) -> Result<LoadedComponent> {
        let component = self
            .cache
            .load_or_compile(&self.engine, wasm, sha256)
            .with_context(|| format!("{file}: not a valid WebAssembly component"))?;
        let wanted = match kind {
            ComponentKind::Action => bindings::ACTION_EXPORT,
            ComponentKind::Trigger => bindings::TRIGGER_EXPORT,
        };
        let exports: Vec<String> =
            component.component_type().exports(&self.engine).map(|(name, _)| name.to_string()).collect();
        if !bindings::exports_compatible(&exports, wanted) {
            bail!(
                "{file}: wrong world: the manifest lists it as {kind:?} but it does not export {wanted} \
                 (it exports [{}]). Rebuild it against the `{}` world of switchyard:connector@{}",
                exports.join(", "),
                if kind == ComponentKind::Action { "action" } else { "trigger" },
                bindings::WIT_VERSION,
            );
        }
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("{file}: imports something this host does not provide"))?;
        let prepared = match kind {
            ComponentKind::Action => Prepared::Action(ActionPre::new(pre).map_err(anyhow::Error::from)?),
            ComponentKind::Trigger => Prepared::Trigger(TriggerPre::new(pre).map_err(anyhow::Error::from)?),
        };
        let key: Arc<str> = Arc::from(file);
        let mut store = self.new_store(key.clone(), None, policy.clone(), false);
        let description = match &prepared {
            Prepared::Action(pre) => {
                let instance = pre.instantiate_async(&mut store).await.map_err(anyhow::Error::from)?;
                instance.switchyard_connector_action_handler().call_describe(&mut store).await
            }
            Prepared::Trigger(pre) => {
                let instance = pre.instantiate_async(&mut store).await.map_err(anyhow::Error::from)?;
                instance.switchyard_connector_trigger_handler().call_describe(&mut store).await
            }
        }
        .map_err(anyhow::Error::from)
        .with_context(|| format!("{file}: describe() failed"))?;
        let schema: serde_json::Value = serde_json::from_str(&description.input_schema)
            .with_context(|| format!("{file}: its input schema is not JSON"))?;
        let input_validator = jsonschema::validator_for(&schema)
            .map_err(|e| anyhow::anyhow!("{file}: its input schema is not a valid JSON Schema: {e}"))?;
        Ok(LoadedComponent {
            key: Arc::from(description.key.as_str()),
            description,
            sha256: sha256.to_string(),
            file: file.to_string(),
            policy,
            effect,
            prepared,
            input_validator,
        })
    }

    fn new_store(
        &self,
        key: Arc<str>,
        connection: Option<&Connection>,
        policy: Arc<HostPolicy>,
        reads_only: bool,
    ) -> Store<InvocationState> {
        let http = connection.map(|_| self.http.clone());
        let call = CallState {
            deadline: Some(RequestDeadline::new(self.limits.deadline, self.limits.rate_wait_allowance())),
            reads_only,
            ..CallState::default()
        };
        let state = InvocationState::new(self.limits.memory_bytes, http, connection.cloned(), policy, key, call);
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        // Guest code gets control back to the host at every epoch tick: it yields to the async executor
        // (so a guest spinning in a loop holds no tokio worker for more than a tick and the host keeps
        // serving), and at the deadline it is stopped, unless the invocation spent time waiting for
        // its rate budget that extends the deadline (that wait is the host's, see `RateWaits`).
        store.set_epoch_deadline(1);
        let (deadline, allowance) = (self.limits.deadline, self.limits.rate_wait_allowance());
        let started = std::time::Instant::now();
        store.epoch_deadline_callback(move |store| {
            let allowed = deadline + store.data().call.rate_waits.total().min(allowance);
            if started.elapsed() >= allowed {
                return Ok(UpdateDeadline::Interrupt);
            }
            Ok(UpdateDeadline::Yield(1))
        });
        store
    }

    /// Runs an action on `input` (JSON text). The input is checked against the component's schema
    /// before any instance exists; the output must be JSON within the output limit.
    pub async fn run_action(
        &self,
        component: &LoadedComponent,
        connection: Option<&Connection>,
        input: &str,
    ) -> Result<serde_json::Value, InvocationError> {
        self.run_action_with(component, connection, input, false).await
    }

    /// [`run_action`](Self::run_action) for a dry run: no write request leaves the host (the HTTP
    /// layer refuses it, whatever the component declares), reads go out as usual.
    pub async fn run_action_reads_only(
        &self,
        component: &LoadedComponent,
        connection: Option<&Connection>,
        input: &str,
    ) -> Result<serde_json::Value, InvocationError> {
        self.run_action_with(component, connection, input, true).await
    }

    async fn run_action_with(
        &self,
        component: &LoadedComponent,
        connection: Option<&Connection>,
        input: &str,
        reads_only: bool,
    ) -> Result<serde_json::Value, InvocationError> {
        if !matches!(component.prepared, Prepared::Action(_)) {
            return Err(InvocationError::Host(bindings::wrong_kind(
                &component.key,
                ComponentKind::Trigger,
                ComponentKind::Action,
            )));
        }
        parse_and_validate(component, input, "input")?;
        let Answer::Run(output) = self.invoke(component, connection, Call::Run(input), reads_only).await? else {
            unreachable!("a run call answers with run output")
        };
        if output.len() > self.limits.output_bytes {
            return Err(InvocationError::OutputTooLarge { size: output.len(), limit: self.limits.output_bytes });
        }
        serde_json::from_str(&output).map_err(|e| {
            InvocationError::Component(ComponentError::Internal(format!(
                "the component returned output that is not JSON: {e}"
            )))
        })
    }

    /// Runs one poll of a trigger: `cursor` is what the previous poll returned (none on the first),
    /// `now` the host's time, `page_budget` the most pages the trigger may read, `settings` the
    /// subscription's settings (JSON, checked against the trigger's schema first). The events and the
    /// next cursor are checked (JSON, non-empty keys, within the output limit) before they are returned.
    pub async fn poll_trigger(
        &self,
        component: &LoadedComponent,
        connection: Option<&Connection>,
        poll: PollInput<'_>,
    ) -> Result<PollResult, InvocationError> {
        trigger_only(component)?;
        parse_and_validate(component, poll.settings, "settings")?;
        let request = PollRequest {
            cursor: poll.cursor.map(str::to_string),
            now: poll.now,
            page_budget: poll.page_budget,
            settings: poll.settings.to_string(),
        };
        let Answer::Poll(response) = self.invoke(component, connection, Call::Poll(request), false).await? else {
            unreachable!("a poll call answers with a poll response")
        };
        let size = response.cursor.len() + response.events.iter().map(|e| e.payload.len()).sum::<usize>();
        if size > self.limits.output_bytes {
            return Err(InvocationError::OutputTooLarge { size, limit: self.limits.output_bytes });
        }
        let cursor: serde_json::Value = serde_json::from_str(&response.cursor).map_err(|e| {
            InvocationError::Component(ComponentError::Internal(format!(
                "the trigger returned a cursor that is not JSON: {e}"
            )))
        })?;
        Ok(PollResult { events: checked_events(response.events)?, cursor, backlog: response.backlog })
    }

    /// A few recent objects in the shape `poll` emits, for test runs. Changes no state.
    pub async fn sample_trigger(
        &self,
        component: &LoadedComponent,
        connection: Option<&Connection>,
        settings: &str,
    ) -> Result<Vec<PolledEvent>, InvocationError> {
        trigger_only(component)?;
        parse_and_validate(component, settings, "settings")?;
        let Answer::Sample(events) = self.invoke(component, connection, Call::Sample(settings), false).await? else {
            unreachable!("a sample call answers with events")
        };
        let size = events.iter().map(|e| e.payload.len()).sum::<usize>();
        if size > self.limits.output_bytes {
            return Err(InvocationError::OutputTooLarge { size, limit: self.limits.output_bytes });
        }
        checked_events(events)
    }

    /// One invocation, whatever the export: a fresh store, an instance from the `InstancePre`, the
    /// call under the deadline, and traps classified by the limit that caused them.
    async fn invoke(
        &self,
        component: &LoadedComponent,
        connection: Option<&Connection>,
        call: Call<'_>,
        reads_only: bool,
    ) -> Result<Answer, InvocationError> {
        let started = Instant::now();
        let mut store = self.new_store(component.key.clone(), connection, component.policy.clone(), reads_only);
        let waits = store.data().call.rate_waits.clone();
        let unanswered = store.data().call.unanswered_writes.clone();
        let work = async {
            let answer = match (&component.prepared, call) {
                (Prepared::Action(pre), Call::Run(input)) => {
                    let instance = pre.instantiate_async(&mut store).await?;
                    instance.switchyard_connector_action_handler().call_run(&mut store, input).await?.map(Answer::Run)
                }
                (Prepared::Trigger(pre), Call::Poll(request)) => {
                    let instance = pre.instantiate_async(&mut store).await?;
                    instance
                        .switchyard_connector_trigger_handler()
                        .call_poll(&mut store, &request)
                        .await?
                        .map(Answer::Poll)
                }
                (Prepared::Trigger(pre), Call::Sample(settings)) => {
                    let instance = pre.instantiate_async(&mut store).await?;
                    instance
                        .switchyard_connector_trigger_handler()
                        .call_sample(&mut store, settings)
                        .await?
                        .map(Answer::Sample)
                }
                _ => {
                    return Ok(Err(ComponentError::Internal(format!(
                        "{} does not export this call (wrong component kind)",
                        component.key
                    ))));
                }
            };
            Ok::<_, wasmtime::Error>(answer)
        };
        let outcome = within_deadline(self.limits.deadline, self.limits.rate_wait_allowance(), &waits, work).await;
        let refused = store.data().call.origin_refused.load(std::sync::atomic::Ordering::SeqCst);
        let result = match outcome {
            None => Err(InvocationError::DeadlineExceeded(self.limits.deadline)),
            Some(Err(trap)) => Err(self.classify_trap(trap, &store)),
            Some(Ok(Err(error @ ComponentError::Unauthorized(_)))) if refused => {
                Err(InvocationError::CredentialsRefused(error))
            }
            Some(Ok(result)) => result.map_err(InvocationError::Component),
        };
        tracing::debug!(component = &*component.key, us = started.elapsed().as_micros() as u64, "invocation finished");
        // A failure while a write was on its way means nobody knows whether the write happened.
        match result {
            Err(error) if unanswered.count() > 0 => Err(InvocationError::OutcomeUnknown(Box::new(error))),
            other => other,
        }
    }

    /// The outbound HTTP layer shared by every invocation (rate budgets, statistics).
    pub fn http(&self) -> &Arc<OutboundHttp> {
        &self.http
    }

    fn classify_trap(&self, error: wasmtime::Error, store: &Store<InvocationState>) -> InvocationError {
        if let Some(exceeded) = error.downcast_ref::<MemoryLimitExceeded>() {
            return InvocationError::MemoryLimit(MemoryLimitExceeded {
                desired: exceeded.desired,
                limit: exceeded.limit,
            });
        }
        if let Some(desired) = store.data().limiter.exceeded {
            return InvocationError::MemoryLimit(MemoryLimitExceeded { desired, limit: self.limits.memory_bytes });
        }
        if let Some(Trap::Interrupt) = error.downcast_ref::<Trap>() {
            return InvocationError::DeadlineExceeded(self.limits.deadline);
        }
        let text = format!("{error:#}");
        InvocationError::Trapped(text.lines().take(12).collect::<Vec<_>>().join("\n"))
    }

    /// Compiles a component for benchmarks and tools that want the raw `Component`.
    pub fn compile(&self, wasm: &[u8], sha256: &str) -> Result<Component> {
        self.cache.load_or_compile(&self.engine, wasm, sha256)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[tokio::test]
    async fn rate_waits_extend_the_deadline_up_to_the_allowance() {
        // 300 ms of rate waiting, then 50 ms of work, under a 300 ms deadline: finishes (at 350 ms,
        // with room until 600 ms).
        let waits = RateWaits::default();
        let work = async {
            waits.during(tokio::time::sleep(300 * MS)).await;
            tokio::time::sleep(50 * MS).await;
        };
        assert!(within_deadline(300 * MS, 1000 * MS, &waits, work).await.is_some());

        // The same with only 50 ms of waiting allowed: stopped (at about 250 ms).
        let waits = RateWaits::default();
        let work = async {
            waits.during(tokio::time::sleep(300 * MS)).await;
            tokio::time::sleep(100 * MS).await;
        };
        assert!(within_deadline(200 * MS, 50 * MS, &waits, work).await.is_none());

        // Work that is merely slow gets no extension.
        let waits = RateWaits::default();
        assert!(within_deadline(100 * MS, 1000 * MS, &waits, tokio::time::sleep(300 * MS)).await.is_none());
    }
}
