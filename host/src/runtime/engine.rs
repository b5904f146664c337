//! Engine policy in one place: every limit a component runs under, and why it has that value.

pub use crate::http::HttpLimits;
use anyhow::{Context, Result};
use std::time::Duration;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Limits for one invocation of one component. Each can be changed by the operator; the defaults
/// suit Intercom actions, which move a few KB of JSON per call.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Linear memory a component may grow to. 64 MiB holds any Intercom page (150 records) many times
    /// over, and keeps a memory bomb from taking the host with it.
    pub memory_bytes: usize,
    /// Wall-clock time for one invocation, including the HTTP calls it makes but not the time spent
    /// waiting for the workspace's rate budget (that pacing is the host's; see
    /// [`Limits::rate_wait_allowance`]). Enforced twice: by epoch
    /// interruption for guest code that never yields, and by a timer for time spent awaiting the host.
    pub deadline: Duration,
    /// The largest JSON output accepted from a component; larger is refused rather than stored.
    pub output_bytes: usize,
    /// Outbound HTTP: response size, timeouts, 429 retries, private egress (see [`HttpLimits`]).
    pub http: HttpLimits,
    /// Invocations that may run at once: sizes the pooling allocator's slots.
    pub max_concurrent_invocations: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 64 << 20,
            deadline: Duration::from_secs(10),
            output_bytes: 4 << 20,
            http: HttpLimits::default(),
            max_concurrent_invocations: 128,
        }
    }
}

impl Limits {
    /// The most an invocation's deadline is extended for rate pacing: every wait it may make (the first
    /// try and each 429 retry) at its longest. A workspace saturated for longer than that still ends
    /// the invocation rather than holding it forever.
    pub fn rate_wait_allowance(&self) -> Duration {
        self.http.rate_limit_max_wait * (self.http.rate_limit_retries + 1)
    }
}

/// The interval of the epoch ticker. Deadlines are counted in ticks, so this is their resolution;
/// 10 ms costs nothing measurable and keeps a runaway loop's overshoot small.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// How the engine allocates instances, for diagnostics and benchmarks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Allocator {
    Pooling,
    OnDemand,
}

/// Builds the one engine of this process, preferring the pooling allocator (a fresh instance per
/// invocation costs ~20 us from a warm pool instead of ~45 us with mmap per instance). If the machine
/// refuses the pool's virtual memory reservation (tight `ulimit -v`, some containers), it falls back
/// to on-demand allocation rather than not starting.
pub fn build_engine(limits: &Limits) -> Result<(Engine, Allocator)> {
    match Engine::new(&config(limits, true)) {
        Ok(engine) => Ok((engine, Allocator::Pooling)),
        Err(err) => {
            tracing::warn!("pooling allocator unavailable ({err}); using on-demand allocation");
            let engine = Engine::new(&config(limits, false))
                .map_err(anyhow::Error::from)
                .context("creating the WebAssembly engine")?;
            Ok((engine, Allocator::OnDemand))
        }
    }
}

fn config(limits: &Limits, pooling: bool) -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    // Guest recursion deeper than this traps; the async stack must hold it plus host frames.
    config.max_wasm_stack(1 << 20);
    config.async_stack_size(2 << 20);
    if pooling {
        let slots = limits.max_concurrent_invocations;
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(slots);
        // A wit-bindgen Rust component instantiates a handful of core modules (the program plus
        // adapter shims); 16 leaves room for components from other toolchains.
        pool.max_core_instances_per_component(16);
        pool.total_core_instances(slots * 16);
        pool.max_memories_per_component(4);
        pool.total_memories(slots * 2);
        pool.max_tables_per_component(8);
        pool.total_tables(slots * 4);
        pool.total_stacks(slots);
        pool.max_memory_size(limits.memory_bytes);
        // Keep a few warm slots' pages resident so back-to-back invocations skip page faults.
        pool.max_unused_warm_slots(slots.min(16));
        // Reset a slot's memory and tables with memset instead of returning the pages to the kernel:
        // refaulting them plus the TLB shootdowns of madvise cost more than the memset. Up to 2 MiB
        // stays resident, which covers a Rust guest's stack and data.
        pool.linear_memory_keep_resident(2 << 20);
        pool.table_keep_resident(64 << 10);
        // Where the kernel has PAGEMAP_SCAN (Linux 6.7+), memset only the pages the guest dirtied
        // rather than the whole 2 MiB: a call dirties a few dozen KiB, and the blanket memset was a
        // fifth of all CPU time in the action benchmark. Older kernels fall back to the plain memset.
        pool.pagemap_scan(wasmtime::Enabled::Auto);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    config
}

/// Advances the engine's epoch every [`EPOCH_TICK`] on a background thread. The thread holds only a
/// weak reference and stops when the engine is dropped.
pub fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("switchyard-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawning the epoch ticker thread");
}

/// Whole ticks in `elapsed`, rounded down.
pub fn elapsed_ticks(elapsed: Duration) -> u64 {
    (elapsed.as_millis() / EPOCH_TICK.as_millis()) as u64
}

/// Ticks until `deadline`, rounded up, at least one.
pub fn deadline_ticks(deadline: Duration) -> u64 {
    (deadline.as_millis().div_ceil(EPOCH_TICK.as_millis()) as u64).max(1)
}
