//! The daemon, built in the library: everything `switchyard run` is, put together from a
//! [`ServiceConfig`] so the CLI only parses arguments and later front ends (an HTTP API, several
//! hosts on one database) start the same thing.
//!
//! ```text
//!  ComponentSource ─┬─► scheduler ── polls subscriptions ──► outbox
//!  (installed        │                                        │
//!   bundles, hot     └─► workflow runner ◄── deliver ─────────┘
//!   swapped by the          │ claims runs by lease (records::claim), executes them step by step
//!   refresher)              ▼
//!                    runs + steps in the store; a heartbeat renews each held run's lease
//! ```
//!
//! A pruner deletes what the store no longer keeps ([`Retention`]) at start and then every hour.
//!
//! Shutdown stops the scheduler (polls in flight commit) and the runner (each run stops at its next
//! step boundary and is released as interrupted, to be resumed by whoever claims it next).

mod connections;

pub use connections::StoreConnections;

use crate::auth::ConnectionStore;
use crate::bundle::Bundles;
use crate::registry::Registry;
use crate::runtime::{Components, Runtime};
use crate::scheduler::{self, SchedulerConfig, SchedulerHandle};
use crate::store::Store;
use crate::store::retention::{self, Retention};
use crate::workflow::executor::{Executor, Options};
use crate::workflow::lease::{DEFAULT_LEASE, Heartbeat, Lease};
use crate::workflow::records::now_ms;
use crate::workflow::runner::WorkflowRunner;
use crate::workflow::sources::TriggerOutbox;
use anyhow::{Context, Result, anyhow};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How the daemon runs.
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    /// The data directory: database, connections, installed bundles, component cache.
    pub home: PathBuf,
    /// A development override: run the components of these bundle directories instead of the
    /// installed bundles (no hot swap). Empty: the installed bundles.
    pub bundles: Vec<PathBuf>,
    pub scheduler: SchedulerConfig,
    /// How long a run stays held without a heartbeat; a dead host's runs are taken over after it.
    pub lease: Duration,
    /// How often the outbox is delivered and runnable runs are looked for.
    pub deliver_every: Duration,
    /// How often the installed bundles are re-read, so another process's install or removal applies.
    pub refresh_every: Duration,
    /// Runs executing at once.
    pub max_runs_in_flight: usize,
    /// How long delivered events, finished runs and stopped hosts are kept (pruned every hour).
    pub retention: Retention,
}

/// How often the daemon prunes the store (and once at its start).
pub const PRUNE_EVERY: Duration = Duration::from_secs(60 * 60);

impl ServiceConfig {
    pub fn new(home: PathBuf) -> ServiceConfig {
        ServiceConfig {
            home,
            bundles: Vec::new(),
            scheduler: SchedulerConfig::default(),
            lease: DEFAULT_LEASE,
            deliver_every: Duration::from_secs(1),
            refresh_every: Duration::from_secs(2),
            max_runs_in_flight: 16,
            retention: Retention::default(),
        }
    }
}

/// Where the daemon's components come from.
#[derive(Clone)]
pub enum ComponentSource {
    /// The installed bundles (`switchyard bundle install`), under the data directory's trust policy,
    /// hot-swapped as they change.
    Installed(Arc<Registry>),
    /// Bundle directories given explicitly (development).
    Directories(Arc<Bundles>),
}

impl ComponentSource {
    /// The installed bundles of `config.home`, or the directories of `config.bundles`.
    pub async fn open(runtime: &Runtime, config: &ServiceConfig) -> Result<ComponentSource> {
        if config.bundles.is_empty() {
            let registry = Registry::open(runtime, &config.home).await?;
            for problem in registry.snapshot().problems() {
                tracing::warn!("an installed bundle does not load: {problem}");
            }
            return Ok(ComponentSource::Installed(Arc::new(registry)));
        }
        // The development override obeys the same rule as an install: with trusted keys configured,
        // only a bundle signed by one of them runs (checked before any of its wasm is compiled).
        let trust = crate::registry::load_trusted_keys(&config.home)?;
        let bundles = Bundles::load(runtime, &config.bundles, &trust).await?;
        Ok(ComponentSource::Directories(Arc::new(bundles)))
    }

    pub fn components(&self) -> Arc<dyn Components> {
        match self {
            ComponentSource::Installed(registry) => registry.clone(),
            ComponentSource::Directories(bundles) => bundles.clone(),
        }
    }
}

/// A running daemon.
pub struct Service {
    store: Store,
    lease: Lease,
    stop: tokio::sync::watch::Sender<bool>,
    scheduler: SchedulerHandle,
    runner: tokio::task::JoinHandle<Result<()>>,
    refresher: Option<tokio::task::JoinHandle<()>>,
    pruner: tokio::task::JoinHandle<()>,
    _heartbeat: Heartbeat,
    source: ComponentSource,
}

impl Service {
    /// Opens the store, the connections and the components, registers this host, and starts the
    /// scheduler, the workflow runner and (for installed bundles) the refresher.
    pub async fn start(runtime: Arc<Runtime>, config: ServiceConfig) -> Result<Service> {
        let store = Store::open(&config.home).await?;
        let connections =
            Arc::new(StoreConnections::open(ConnectionStore::open(store.clone(), &config.home).await?).await?);
        let source = ComponentSource::open(&runtime, &config).await?;
        let refresher = match &source {
            ComponentSource::Installed(registry) => {
                Some(registry.spawn_refresher(runtime.clone(), config.refresh_every))
            }
            ComponentSource::Directories(_) => None,
        };
        let lease = Lease::new(config.lease);
        lease.register(&store).await?;
        let heartbeat = lease.spawn_heartbeat(&store);

        let scheduler = scheduler::start(
            store.clone(),
            runtime.clone(),
            source.components(),
            connections.clone(),
            config.scheduler.clone(),
        );

        let (stop, stopped) = tokio::sync::watch::channel(false);
        // A step calling its action is let finish: at most a deadline, plus the rate waits it may make.
        let grace = runtime.limits().deadline + runtime.limits().rate_wait_allowance() + Duration::from_secs(1);
        let runner = {
            let (store, runtime, components, lease) =
                (store.clone(), runtime.clone(), source.components(), lease.clone());
            let mut stopped = stopped.clone();
            let options = Options { stop: Some(stopped.clone()), ..Options::default() };
            let (every, max_in_flight) = (config.deliver_every, config.max_runs_in_flight.max(1));
            tokio::spawn(async move {
                let executor = Executor::new(&store, &runtime, components.as_ref(), connections.as_ref())
                    .with_options(options)
                    .with_lease(lease);
                let mut runner = WorkflowRunner::new(executor, TriggerOutbox::new(&store));
                runner.max_in_flight = max_in_flight;
                runner
                    .run_until(every, grace, async move {
                        let _ = stopped.wait_for(|stop| *stop).await;
                    })
                    .await
            })
        };
        let pruner = spawn_pruner(store.clone(), config.retention.clone(), stopped.clone());
        Ok(Service { store, lease, stop, scheduler, runner, refresher, pruner, _heartbeat: heartbeat, source })
    }

    /// This host's id (`hosts.id`, the owner recorded on the runs it holds).
    pub fn host_id(&self) -> &str {
        &self.lease.owner
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn components(&self) -> &ComponentSource {
        &self.source
    }

    pub fn scheduler(&self) -> &SchedulerHandle {
        &self.scheduler
    }

    /// Stops polling (polls in flight commit) and running (each run stops at its next step and is
    /// released as interrupted), then records this host as stopped.
    pub async fn shutdown(self) -> Result<()> {
        let _ = self.stop.send(true);
        self.scheduler.shutdown().await;
        let result = self.runner.await.map_err(|e| anyhow!("the workflow runner panicked: {e}"))?;
        if let Some(refresher) = self.refresher {
            refresher.abort();
        }
        let _ = self.pruner.await;
        self.lease.stopped(&self.store).await.context("recording this host as stopped")?;
        result
    }
}

/// Prunes the store now and then every [`PRUNE_EVERY`] until `stopped`; a prune in progress is
/// dropped at the stop (each batch is its own statement, so what was deleted stays deleted).
fn spawn_pruner(
    store: Store,
    retention: Retention,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let stop = async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let work = async move {
        let mut every = tokio::time::interval(PRUNE_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            match retention::prune(&store, &retention, now_ms()).await {
                Ok(p) if p.is_empty() => tracing::debug!("pruned the store: nothing past its retention"),
                Ok(p) => tracing::info!(
                    "pruned the store: {} delivered events, {} finished runs, {} stopped hosts",
                    p.events,
                    p.runs,
                    p.hosts
                ),
                Err(error) => tracing::warn!("pruning the store failed (tried again in an hour): {error:#}"),
            }
        }
    };
    tokio::spawn(async move {
        tokio::select! {
            () = stop => {}
            () = work => {}
        }
    })
}
