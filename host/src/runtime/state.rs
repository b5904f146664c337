//! The per-invocation store state and the host side of the contract's imports.

use crate::contract::{clock, http, log, types};
use crate::http::{CallState, Connection, HostPolicy, OutboundHttp};
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
    /// Bytes of log text written so far (capped at [`LOG_BYTES_PER_INVOCATION`]).
    logged: usize,
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
            limiter: MemoryLimiter::new(memory_bytes),
            http,
            connection,
            policy,
            component_key,
            call,
            logged: 0,
        }
    }
}

impl WasiView for InvocationState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// Refuses memory growth past the limit with an error that says so, instead of letting the guest's
/// allocator fail into an anonymous `unreachable` trap. The limit is for the whole invocation: every
/// linear memory of every core instance counts, so a component cannot multiply its share by declaring
/// more memories; the number of instances, memories and tables is capped too, in both allocators (the
/// pool has its own caps, the on-demand fallback has only these).
pub struct MemoryLimiter {
    limit: usize,
    /// Bytes of linear memory the invocation holds, across all its memories.
    used: usize,
    pub(crate) exceeded: Option<usize>,
}

impl MemoryLimiter {
    /// Core instances one invocation may create: a wit-bindgen component has a handful (the program
    /// and adapter shims); the pool allows 16 per component.
    pub const MAX_INSTANCES: usize = 16;
    /// Linear memories one invocation may create (the pool allows 4 per component).
    pub const MAX_MEMORIES: usize = 4;
    /// Tables one invocation may create (the pool allows 8 per component).
    pub const MAX_TABLES: usize = 8;

    pub fn new(limit: usize) -> MemoryLimiter {
        MemoryLimiter { limit, used: 0, exceeded: None }
    }
}

/// The trap raised when a component asks for more memory than its limit.
#[derive(Debug, thiserror::Error)]
#[error("the component tried to grow its memory to {desired} bytes, over the limit of {limit} bytes")]
pub struct MemoryLimitExceeded {
    pub desired: usize,
    pub limit: usize,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        // A new memory arrives with `current` 0; a growing one with its old size.
        let total = self.used.saturating_sub(current).saturating_add(desired);
        if total > self.limit {
            self.exceeded = Some(total);
            return Err(wasmtime::Error::new(MemoryLimitExceeded { desired: total, limit: self.limit }));
        }
        self.used = total;
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        // Tables hold function references; 100k is far beyond any real component.
        Ok(desired <= 100_000)
    }

    fn instances(&self) -> usize {
        Self::MAX_INSTANCES
    }

    fn memories(&self) -> usize {
        Self::MAX_MEMORIES
    }

    fn tables(&self) -> usize {
        Self::MAX_TABLES
    }
}

/// The most log text one invocation may write into the host's log; past it, lines are dropped (and
/// one line says so), so a component cannot flood the log.
pub const LOG_BYTES_PER_INVOCATION: usize = 64 << 10;

/// Guest text as it may appear in a log line or on a terminal: control characters (newlines and
/// carriage returns included, which would forge log lines, and escape sequences, which drive
/// terminals) are written as escapes.
pub fn escape_guest_text(text: &str) -> String {
    text.chars().flat_map(|c| if c.is_control() { c.escape_default().collect::<Vec<_>>() } else { vec![c] }).collect()
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
        if self.logged >= LOG_BYTES_PER_INVOCATION {
            return Ok(());
        }
        self.logged += message.len();
        let message = if self.logged >= LOG_BYTES_PER_INVOCATION {
            format!(
                "{} [log limit of {LOG_BYTES_PER_INVOCATION} bytes reached; further lines dropped]",
                escape_guest_text(&message)
            )
        } else {
            escape_guest_text(&message)
        };
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

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1 << 20;

    #[test]
    fn the_memory_limit_counts_every_memory_of_the_invocation() {
        let mut limiter = MemoryLimiter::new(64 * MIB);
        // Two memories of 30 MiB fit; a third memory of 10 MiB does not, although each alone would.
        assert!(limiter.memory_growing(0, 30 * MIB, None).unwrap());
        assert!(limiter.memory_growing(0, 30 * MIB, None).unwrap());
        assert!(limiter.memory_growing(0, 10 * MIB, None).is_err());
        assert_eq!(limiter.exceeded, Some(70 * MIB));
        // Growing one that exists counts only the growth.
        let mut limiter = MemoryLimiter::new(64 * MIB);
        assert!(limiter.memory_growing(0, 40 * MIB, None).unwrap());
        assert!(limiter.memory_growing(40 * MIB, 60 * MIB, None).unwrap());
        assert!(limiter.memory_growing(60 * MIB, 65 * MIB, None).is_err());
        assert!(limiter.instances() <= 16 && limiter.memories() <= 4 && limiter.tables() <= 8);
    }

    #[test]
    fn guest_text_cannot_forge_log_lines_or_drive_a_terminal() {
        let forged = "ok\n2026-12-02T00:00:00Z  INFO switchyard: connection acme removed\r\u{1b}[2J";
        let escaped = escape_guest_text(forged);
        assert!(!escaped.chars().any(char::is_control), "{escaped}");
        assert!(escaped.contains("\\n") && escaped.contains("\\r") && escaped.contains("\\u{1b}"), "{escaped}");
        assert_eq!(escape_guest_text("plain text, ünïcode"), "plain text, ünïcode");
    }
}
