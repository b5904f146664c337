//! The component runtime: one engine, each component compiled once (and cached on disk), one
//! `InstancePre` per component, and a fresh `Store` per invocation under the limits in [`Limits`].

pub mod bindings;
pub mod cache;
pub mod engine;
pub mod state;

use crate::http::{Connection, HostPolicy, OutboundHttp};
use anyhow::{Context, Result, bail};
use bindings::action::ActionPre;
use bindings::trigger::TriggerPre;
use bindings::{ComponentError, ComponentKind, Description};
use cache::CompiledCache;
pub use engine::{Allocator, Limits};
use state::{InvocationState, MemoryLimitExceeded};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Engine, Store, Trap};

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

/// A component ready to run: compiled, linked, described, with its input validator.
pub struct LoadedComponent {
    pub description: Description,
    pub sha256: String,
    /// The file it was loaded from, for messages.
    pub file: String,
    pub policy: Arc<HostPolicy>,
    key: Arc<str>,
    prepared: Prepared,
    input_validator: jsonschema::Validator,
}

enum Prepared {
    Action(ActionPre<InvocationState>),
    Trigger(TriggerPre<InvocationState>),
}

impl LoadedComponent {
    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn kind(&self) -> ComponentKind {
        match self.prepared {
            Prepared::Action(_) => ComponentKind::Action,
            Prepared::Trigger(_) => ComponentKind::Trigger,
        }
    }

    /// Checks `input` against the component's JSON Schema, naming the first offending field.
    pub fn validate_input(&self, input: &serde_json::Value) -> Result<(), ComponentError> {
        match self.input_validator.iter_errors(input).next() {
            None => Ok(()),
            Some(error) => {
                let error = most_specific(&error);
                Err(ComponentError::InvalidInput(bindings::types::FieldError {
                    field: field_of(error),
                    message: error.to_string(),
                }))
            }
        }
    }
}

/// An optional object or a choice of shapes fails as a whole ("not valid under any of the schemas
/// listed in 'anyOf'"); the useful error is inside the branch that got furthest into the input, not
/// the one that merely says "not null".
fn most_specific<'a, 'i>(error: &'a jsonschema::ValidationError<'i>) -> &'a jsonschema::ValidationError<'i> {
    use jsonschema::error::ValidationErrorKind;
    let context = match error.kind() {
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => context,
        _ => return error,
    };
    let depth = |e: &jsonschema::ValidationError<'_>| e.instance_path().as_str().len();
    let is_type_mismatch_here = |e: &jsonschema::ValidationError<'_>| {
        matches!(e.kind(), ValidationErrorKind::Type { .. }) && depth(e) == depth(error)
    };
    context
        .iter()
        .filter_map(|branch| branch.first())
        .filter(|e| !is_type_mismatch_here(e))
        .max_by_key(|e| depth(e))
        .map(most_specific)
        .unwrap_or(error)
}

/// The field a schema error is about: the missing property for `required`, the offending property
/// for `additionalProperties`, otherwise the instance path, dotted.
fn field_of(error: &jsonschema::ValidationError<'_>) -> String {
    use jsonschema::error::ValidationErrorKind;
    let path = error.instance_path().as_str().trim_start_matches('/').replace('/', ".");
    let child = match error.kind() {
        ValidationErrorKind::Required { property } => property.as_str().map(str::to_string),
        ValidationErrorKind::AdditionalProperties { unexpected } => unexpected.first().cloned(),
        _ => None,
    };
    match (child, path.is_empty()) {
        (Some(child), true) => child,
        (Some(child), false) => format!("{path}.{child}"),
        (None, _) => path,
    }
}

/// Why an invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum InvocationError {
    /// The component ran and returned one of the contract's typed errors.
    #[error("{}", describe_component_error(.0))]
    Component(ComponentError),
    #[error("the component did not finish within its deadline of {0:?} and was stopped")]
    DeadlineExceeded(std::time::Duration),
    #[error("{0}")]
    MemoryLimit(MemoryLimitExceeded),
    #[error("the component's output is {size} bytes, over the limit of {limit} bytes; it was discarded")]
    OutputTooLarge { size: usize, limit: usize },
    #[error("the component crashed (trapped): {0}")]
    Trapped(String),
    #[error("{0:#}")]
    Host(anyhow::Error),
}

impl InvocationError {
    /// The typed error, for callers that branch on it.
    pub fn component_error(&self) -> Option<&ComponentError> {
        match self {
            InvocationError::Component(e) => Some(e),
            _ => None,
        }
    }
}

pub fn describe_component_error(error: &ComponentError) -> String {
    match error {
        ComponentError::InvalidInput(f) if f.field.is_empty() => format!("invalid input: {}", f.message),
        ComponentError::InvalidInput(f) => format!("invalid input: field `{}`: {}", f.field, f.message),
        ComponentError::NotFound(m) => format!("not found: {m}"),
        ComponentError::Unauthorized(m) => format!("unauthorized: {m}"),
        ComponentError::Forbidden(m) => format!("forbidden: {m}"),
        ComponentError::RateLimited(r) => match r.retry_after_seconds {
            Some(s) => format!("rate limited: {} (retry in {s} s)", r.message),
            None => format!("rate limited: {}", r.message),
        },
        ComponentError::Conflict(c) => match &c.existing_id {
            Some(id) => format!("conflict: {} (existing id {id})", c.message),
            None => format!("conflict: {}", c.message),
        },
        ComponentError::Upstream(u) => format!("upstream error: HTTP {} {}: {}", u.status, u.code, u.message),
        ComponentError::Internal(m) => format!("internal error in the component: {m}"),
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
        let http = Arc::new(OutboundHttp::new(&config.limits)?);
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
        if !exports.iter().any(|e| e == wanted) {
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
        let mut store = self.new_store(key.clone(), None, policy.clone());
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
            prepared,
            input_validator,
        })
    }

    fn new_store(
        &self,
        key: Arc<str>,
        connection: Option<&Connection>,
        policy: Arc<HostPolicy>,
    ) -> Store<InvocationState> {
        let http = connection.map(|_| self.http.clone());
        let state = InvocationState::new(self.limits.memory_bytes, http, connection.cloned(), policy, key);
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(engine::deadline_ticks(self.limits.deadline));
        store.epoch_deadline_trap();
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
        let Prepared::Action(pre) = &component.prepared else {
            return Err(InvocationError::Host(anyhow::anyhow!("{} is a trigger, not an action", component.key)));
        };
        let value: serde_json::Value = serde_json::from_str(input).map_err(|e| {
            InvocationError::Component(ComponentError::InvalidInput(bindings::types::FieldError {
                field: String::new(),
                message: format!("the input is not valid JSON: {e}"),
            }))
        })?;
        component.validate_input(&value).map_err(InvocationError::Component)?;

        let started = Instant::now();
        let mut store = self.new_store(component.key.clone(), connection, component.policy.clone());
        let call = async {
            let instance = pre.instantiate_async(&mut store).await?;
            instance.switchyard_connector_action_handler().call_run(&mut store, input).await
        };
        let outcome = tokio::time::timeout(self.limits.deadline, call).await;
        let result = match outcome {
            Err(_elapsed) => return Err(InvocationError::DeadlineExceeded(self.limits.deadline)),
            Ok(Err(trap)) => return Err(self.classify_trap(trap, &store)),
            Ok(Ok(result)) => result,
        };
        tracing::debug!(component = &*component.key, us = started.elapsed().as_micros() as u64, "invocation finished");
        let output = result.map_err(InvocationError::Component)?;
        if output.len() > self.limits.output_bytes {
            return Err(InvocationError::OutputTooLarge { size: output.len(), limit: self.limits.output_bytes });
        }
        serde_json::from_str(&output).map_err(|e| {
            InvocationError::Component(ComponentError::Internal(format!(
                "the component returned output that is not JSON: {e}"
            )))
        })
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
