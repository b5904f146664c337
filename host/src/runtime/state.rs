//! The per-invocation store state and the host side of the contract's imports.

use crate::http::{CallState, Connection, HostPolicy, OutboundHttp};
use crate::runtime::bindings::{clock, http, log, types};
use std::sync::Arc;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Everything one invocation may touch. A fresh one per invocation: nothing leaks between calls.
pub struct InvocationState {
    /// An empty WASI context: no preopened directories, environment, arguments or network, and
    /// stdio discarded. Rust's std imports a few WASI interfaces; they get nothing to work with.
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) http: Option<Arc<OutboundHttp>>,
    pub(crate) connection: Option<Connection>,
    pub(crate) policy: Arc<HostPolicy>,
    pub(crate) component_key: Arc<str>,
    /// What this invocation's requests share: rate waits (which the deadline does not count),
    /// unanswered writes (which make a failure's outcome unknown), the deadline a request may use.
    pub(crate) call: CallState,
}

impl InvocationState {
    pub(crate) fn new(
        memory_bytes: usize,
        http: Option<Arc<OutboundHttp>>,
        connection: Option<Connection>,
        policy: Arc<HostPolicy>,
        component_key: Arc<str>,
        call: CallState,
    ) -> Self {
        InvocationState {
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
            limiter: MemoryLimiter { limit: memory_bytes, exceeded: None },
            http,
            connection,
            policy,
            component_key,
            call,
        }
    }
}

impl WasiView for InvocationState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// Refuses memory growth past the limit with an error that says so, instead of letting the guest's
/// allocator fail into an anonymous `unreachable` trap.
pub struct MemoryLimiter {
    limit: usize,
    pub(crate) exceeded: Option<usize>,
}

/// The trap raised when a component asks for more memory than its limit.
#[derive(Debug, thiserror::Error)]
#[error("the component tried to grow its memory to {desired} bytes, over the limit of {limit} bytes")]
pub struct MemoryLimitExceeded {
    pub desired: usize,
    pub limit: usize,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.exceeded = Some(desired);
            return Err(wasmtime::Error::new(MemoryLimitExceeded { desired, limit: self.limit }));
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        // Tables hold function references; 100k is far beyond any real component.
        Ok(desired <= 100_000)
    }
}

impl types::Host for InvocationState {}

impl http::Host for InvocationState {
    async fn send(&mut self, request: http::Request) -> wasmtime::Result<Result<http::Response, types::Error>> {
        let (Some(outbound), Some(connection)) = (&self.http, &self.connection) else {
            return Ok(Err(types::Error::Forbidden(
                "this invocation has no connection, so it may not make HTTP requests".into(),
            )));
        };
        let started = std::time::Instant::now();
        let path = request.path.clone();
        let method = format!("{:?}", request.method);
        let result = outbound.send(connection, &self.policy, request, &self.call).await;
        match &result {
            Ok(response) => tracing::debug!(
                component = &*self.component_key,
                method,
                path,
                status = response.status,
                ms = started.elapsed().as_millis() as u64,
                "http"
            ),
            Err(error) => tracing::debug!(component = &*self.component_key, method, path, ?error, "http refused"),
        }
        Ok(result)
    }
}

impl log::Host for InvocationState {
    async fn log(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        let component = &*self.component_key;
        match level {
            log::Level::Trace => tracing::trace!(target: "component", component, "{message}"),
            log::Level::Debug => tracing::debug!(target: "component", component, "{message}"),
            log::Level::Info => tracing::info!(target: "component", component, "{message}"),
            log::Level::Warn => tracing::warn!(target: "component", component, "{message}"),
            log::Level::Error => tracing::error!(target: "component", component, "{message}"),
        }
        Ok(())
    }
}

impl clock::Host for InvocationState {
    async fn now(&mut self) -> wasmtime::Result<u64> {
        Ok(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0))
    }
}
