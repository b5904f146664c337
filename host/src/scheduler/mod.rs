//! The trigger scheduler: polls every enabled subscription at its interval, with jitter, one poll in
//! flight per subscription, and writes each poll's events and cursor in one transaction.
//!
//! ```text
//!  store.subscriptions ──reload──► due queue ──► poll task (≤ max_concurrent_polls at once)
//!                                     ▲              │ runtime.poll_trigger(cursor, now, budget, settings)
//!                                     │              ▼
//!                                     └── reschedule ◄── Triggers::commit_poll (events → outbox + cursor)
//! ```
//!
//! - A successful poll is next due one interval (±10% jitter) after it started; a poll that reports a
//!   backlog is due again almost at once, so a bounded page budget never skips anything.
//! - A failed poll keeps the cursor and backs off exponentially from the interval (capped), waiting at
//!   least as long as a rate-limit error asks.
//! - Subscriptions are re-read from the store every few seconds, so `switchyard subscriptions add` and
//!   `remove` in another process take effect without a restart.
//! - [`SchedulerHandle::shutdown`] stops dispatching and lets polls in flight finish (their commit is
//!   atomic either way, so even an abrupt kill loses and repeats nothing).

use crate::http::Connection;
use crate::runtime::{Components, PollInput, Runtime};
use crate::store::Store;
use crate::store::triggers::{ConnectionRef, Subscription, Triggers};
use anyhow::{Context, Result, anyhow};
use futures_util::future::BoxFuture;
use rand::Rng;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Turns a subscription's connection reference into a connection with credentials, at every poll
/// (so a re-authorized or rotated token is picked up without a restart).
pub trait SubscriptionConnections: Send + Sync {
    fn resolve<'a>(&'a self, connection: &'a ConnectionRef) -> BoxFuture<'a, Result<Connection>>;

    /// Told when the service refused the connection's credentials (HTTP 401). Intercom tokens never
    /// expire, so a named connection is marked as needing re-authorization instead of being retried.
    fn unauthorized<'a>(&'a self, _connection: &'a ConnectionRef, _detail: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }
}

/// Resolves inline connections from the environment (the token is read from the named variable at
/// poll time, never stored). Named connections need the connection store, which plugs in here.
pub struct EnvConnections;

impl SubscriptionConnections for EnvConnections {
    fn resolve<'a>(&'a self, connection: &'a ConnectionRef) -> BoxFuture<'a, Result<Connection>> {
        Box::pin(async move { resolve_inline(connection) })
    }
}

/// Resolves an inline connection (base URL + token environment variable); refuses a named one.
pub fn resolve_inline(connection: &ConnectionRef) -> Result<Connection> {
    match connection {
        ConnectionRef::Inline { base_url, token_env } => {
            let token = std::env::var(token_env)
                .map_err(|_| anyhow!("the environment variable {token_env} (the subscription's token) is not set"))?;
            Connection::new("subscription", base_url, token)
        }
        ConnectionRef::Named(name) => Err(anyhow!(
            "connection {name:?}: named connections are not available to the scheduler in this build; \
                 re-add the subscription with --base-url and --token-env"
        )),
    }
}

#[derive(Clone, Debug)]
pub struct SchedulerConfig {
    /// The most pages one poll may read; a trigger with more to read reports a backlog.
    pub page_budget: u32,
    /// Polls running at once across all subscriptions (each holds an instance slot while it runs).
    pub max_concurrent_polls: usize,
    /// How often subscriptions are re-read from the store.
    pub reload_every: Duration,
    /// The longest backoff after repeated failures.
    pub max_backoff: Duration,
    /// The delay before a poll that reported a backlog runs again.
    pub backlog_delay: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            page_budget: 10,
            max_concurrent_polls: 32,
            reload_every: Duration::from_secs(5),
            max_backoff: Duration::from_secs(3600),
            backlog_delay: Duration::from_millis(200),
        }
    }
}

/// Counters since the scheduler started.
#[derive(Debug, Default)]
pub struct SchedulerStats {
    pub polls: AtomicU64,
    pub failures: AtomicU64,
    pub events: AtomicU64,
    pub subscriptions: AtomicU64,
}

/// A running scheduler.
pub struct SchedulerHandle {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    stats: Arc<SchedulerStats>,
}

impl SchedulerHandle {
    pub fn stats(&self) -> &SchedulerStats {
        &self.stats
    }

    /// Stops dispatching new polls and waits for the ones in flight to finish and commit.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Starts polling the store's subscriptions on the current tokio runtime.
pub fn start(
    store: Store,
    runtime: Arc<Runtime>,
    components: Arc<dyn Components>,
    connections: Arc<dyn SubscriptionConnections>,
    config: SchedulerConfig,
) -> SchedulerHandle {
    let (stop, stopped) = watch::channel(false);
    let stats = Arc::new(SchedulerStats::default());
    let shared = Arc::new(Shared { triggers: Triggers::new(&store), runtime, components, connections, config });
    let task = tokio::spawn(run(shared, stopped, stats.clone()));
    SchedulerHandle { stop, task, stats }
}

struct Shared {
    triggers: Triggers,
    runtime: Arc<Runtime>,
    components: Arc<dyn Components>,
    connections: Arc<dyn SubscriptionConnections>,
    config: SchedulerConfig,
}

struct Entry {
    subscription: Arc<Subscription>,
    due: Instant,
    running: bool,
    /// Bumped whenever `due` changes, so stale heap entries are recognised and skipped.
    generation: u64,
}

enum Outcome {
    Done { backlog: bool },
    Failed { failures: i64, retry_after: Option<Duration> },
}

struct Finished {
    id: i64,
    started: Instant,
    outcome: Outcome,
}

async fn run(shared: Arc<Shared>, mut stopped: watch::Receiver<bool>, stats: Arc<SchedulerStats>) {
    let mut entries: HashMap<i64, Entry> = HashMap::new();
    let mut queue: BinaryHeap<Reverse<(Instant, i64, u64)>> = BinaryHeap::new();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Finished>();
    let permits = Arc::new(Semaphore::new(shared.config.max_concurrent_polls.max(1)));
    let mut polls = JoinSet::new();
    let mut reload = tokio::time::interval(shared.config.reload_every);
    reload.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    loop {
        let next_due = queue.peek().map(|Reverse((due, _, _))| *due);
        tokio::select! {
            _ = stopped.changed() => break,
            _ = reload.tick() => {
                if let Err(error) = reload_subscriptions(&shared, &mut entries, &mut queue, &stats).await {
                    tracing::warn!("reading subscriptions: {error:#}");
                }
            }
            Some(finished) = done_rx.recv() => {
                reschedule(&shared, &mut entries, &mut queue, finished, &stats);
            }
            Some(_) = polls.join_next(), if !polls.is_empty() => {}
            _ = sleep_until(next_due) => {
                let now = Instant::now();
                while let Some(Reverse((due, id, generation))) = queue.peek().copied() {
                    if due > now {
                        break;
                    }
                    queue.pop();
                    let Some(entry) = entries.get_mut(&id) else { continue };
                    if entry.generation != generation || entry.running {
                        continue;
                    }
                    entry.running = true;
                    let subscription = entry.subscription.clone();
                    let (shared, permits, done_tx) = (shared.clone(), permits.clone(), done_tx.clone());
                    polls.spawn(async move {
                        let Ok(_permit) = permits.acquire_owned().await else { return };
                        let started = Instant::now();
                        let outcome = poll_once(&shared, &subscription).await;
                        let _ = done_tx.send(Finished { id: subscription.id, started, outcome });
                    });
                }
            }
        }
    }
    // Let polls in flight finish their commit; a stuck one is cut off after its deadline and a margin.
    let grace = shared.runtime.limits().deadline + Duration::from_secs(5);
    let _ = tokio::time::timeout(grace, async { while polls.join_next().await.is_some() {} }).await;
    polls.abort_all();
}

async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due).await,
        None => std::future::pending().await,
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// `base` stretched or shrunk by up to 10%, so subscriptions added together drift apart.
fn jittered(base: Duration) -> Duration {
    base.mul_f64(rand::rng().random_range(0.9..1.1))
}

async fn reload_subscriptions(
    shared: &Shared,
    entries: &mut HashMap<i64, Entry>,
    queue: &mut BinaryHeap<Reverse<(Instant, i64, u64)>>,
    stats: &SchedulerStats,
) -> Result<()> {
    let listed = shared.triggers.schedule().await?;
    let now = Instant::now();
    let unix = unix_now() as i64;
    let mut live = std::collections::HashSet::with_capacity(listed.len());
    for (subscription, last_poll_at) in listed {
        if !subscription.enabled {
            continue;
        }
        live.insert(subscription.id);
        match entries.get_mut(&subscription.id) {
            Some(entry) => {
                if *entry.subscription != subscription {
                    entry.subscription = Arc::new(subscription);
                }
            }
            None => {
                let interval = Duration::from_secs(u64::from(subscription.interval_secs));
                // Spread new subscriptions over their interval; resume overdue ones within a few seconds.
                let wait = match last_poll_at {
                    Some(last) => {
                        let since = Duration::from_secs(unix.saturating_sub(last).max(0) as u64);
                        match interval.checked_sub(since) {
                            Some(left) => left,
                            None => interval.min(Duration::from_secs(5)).mul_f64(rand::rng().random_range(0.0..1.0)),
                        }
                    }
                    None => interval.mul_f64(rand::rng().random_range(0.0..1.0)),
                };
                let due = now + wait;
                queue.push(Reverse((due, subscription.id, 0)));
                entries.insert(
                    subscription.id,
                    Entry { subscription: Arc::new(subscription), due, running: false, generation: 0 },
                );
            }
        }
    }
    // Removed or disabled: forget them (a poll in flight still finishes and commits atomically).
    entries.retain(|id, _| live.contains(id));
    stats.subscriptions.store(entries.len() as u64, Ordering::Relaxed);
    Ok(())
}

fn reschedule(
    shared: &Shared,
    entries: &mut HashMap<i64, Entry>,
    queue: &mut BinaryHeap<Reverse<(Instant, i64, u64)>>,
    finished: Finished,
    stats: &SchedulerStats,
) {
    let Some(entry) = entries.get_mut(&finished.id) else { return };
    let interval = Duration::from_secs(u64::from(entry.subscription.interval_secs));
    entry.running = false;
    entry.generation += 1;
    stats.polls.fetch_add(1, Ordering::Relaxed);
    entry.due = match finished.outcome {
        Outcome::Done { backlog: true } => Instant::now() + shared.config.backlog_delay,
        Outcome::Done { backlog: false } => (finished.started + jittered(interval)).max(Instant::now()),
        Outcome::Failed { failures, retry_after } => {
            stats.failures.fetch_add(1, Ordering::Relaxed);
            let exponent = failures.clamp(1, 20) as u32 - 1;
            let backoff = interval.saturating_mul(1 << exponent.min(16)).min(shared.config.max_backoff);
            Instant::now() + jittered(backoff.max(retry_after.unwrap_or_default()))
        }
    };
    queue.push(Reverse((entry.due, entry.subscription.id, entry.generation)));
}

/// One poll of one subscription: resolve, poll, commit. Never panics the scheduler; every failure is
/// recorded on the subscription.
async fn poll_once(shared: &Shared, subscription: &Subscription) -> Outcome {
    let now = unix_now();
    match try_poll(shared, subscription, now).await {
        Ok(backlog) => Outcome::Done { backlog },
        Err((error, retry_after)) => {
            let text = format!("{error:#}");
            tracing::warn!(subscription = subscription.id, trigger = subscription.trigger_key, "poll failed: {text}");
            let failures = shared.triggers.record_failure(subscription.id, &text, now as i64).await.unwrap_or(1);
            Outcome::Failed { failures, retry_after }
        }
    }
}

async fn try_poll(
    shared: &Shared,
    subscription: &Subscription,
    now: u64,
) -> Result<bool, (anyhow::Error, Option<Duration>)> {
    let plain = |e: anyhow::Error| (e, None);
    let component = shared.components.trigger(&subscription.trigger_key, None).map_err(plain)?;
    let connection = shared.connections.resolve(&subscription.connection).await.map_err(plain)?;
    // The cursor is read fresh for every poll, so a crash or another process never makes us reuse an old one.
    let (_, state) = shared
        .triggers
        .get(subscription.id)
        .await
        .and_then(|found| found.context("the subscription was removed"))
        .map_err(plain)?;
    let input = PollInput {
        cursor: state.cursor.as_deref(),
        now,
        page_budget: shared.config.page_budget,
        settings: &subscription.settings,
    };
    let result = match shared.runtime.poll_trigger(&component, Some(&connection), input).await {
        Ok(result) => result,
        Err(error) => {
            // Only a 401 the host itself saw from the connection's origin disables the connection.
            if let Some(detail) = error.credentials_refused() {
                shared.connections.unauthorized(&subscription.connection, detail).await;
            }
            // A guest-supplied wait is capped at the longest backoff: no poll is parked for good.
            let retry_after = error.retry_after(shared.config.max_backoff);
            return Err((anyhow!("{}: {error}", subscription.trigger_key), retry_after));
        }
    };
    let committed =
        shared.triggers.commit_poll(subscription, state.version, &result, now as i64).await.map_err(plain)?;
    tracing::debug!(subscription = subscription.id, emitted = committed.emitted, backlog = result.backlog, "polled");
    Ok(result.backlog)
}
