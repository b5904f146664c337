//! Retention: what the store forgets, and when. Without it the outbox, the run history and the list of
//! hosts grow for as long as the data directory lives. [`prune`] deletes only what nobody needs any
//! more: events already handed to their consumers, runs that ended (succeeded or failed) and hosts that
//! stopped, each once it is older than its [`Retention`]. It never deletes an undelivered event, nor a
//! run that is pending, running, interrupted or needs attention: those are work still to do, or wait
//! for an operator. (The keys a trigger emitted are pruned by the trigger's own floor, see
//! [`super::triggers`].)
//!
//! Deletes go in batches of [`BATCH`] rows: their rowids are read first (readers never block the writer in
//! WAL mode), then deleted by id in one short statement that re-checks the conditions, so a huge
//! backlog never holds the write lock for long and a row that changed in between (a run retried) stays.
//!
//! Units: `outbox.delivered_at` is Unix seconds; `workflow_runs.finished_at` and `hosts.stopped_at`
//! are Unix milliseconds.

use super::Store;
use anyhow::{Context, Result};
use std::time::Duration;

/// Rows deleted by one statement.
pub const BATCH: i64 = 1_000;

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// How long finished things are kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Delivered outbox events. Once delivered an event lives on in the runs it started (each run
    /// keeps its own copy of the payload); the outbox row only shows what a trigger emitted. 30 days
    /// covers looking back over a month of trigger activity.
    pub delivered_events: Duration,
    /// Succeeded and failed runs, with their steps. 30 days: long enough to look into last month's
    /// failure, to compare with what ran before, and for a weekly or monthly review of the history.
    pub finished_runs: Duration,
    /// Hosts (`switchyard run` processes) that stopped. They only tell an operator who ran here
    /// lately and hold no runs; 7 days covers a week of restarts and deploys.
    pub stopped_hosts: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Retention { delivered_events: 30 * DAY, finished_runs: 30 * DAY, stopped_hosts: 7 * DAY }
    }
}

/// What [`prune`] deleted (or [`count`] would delete).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Delivered outbox events.
    pub events: u64,
    /// Succeeded or failed runs (their steps went with them).
    pub runs: u64,
    /// Stopped hosts.
    pub hosts: u64,
}

impl Pruned {
    pub fn is_empty(&self) -> bool {
        self.events == 0 && self.runs == 0 && self.hosts == 0
    }
}

/// One table's rule: which rows may go, as the statements that count, find and delete them (the
/// cutoff is their one parameter besides the batch). The condition is written once, in [`rule!`].
struct Rule {
    count: &'static str,
    select: &'static str,
    delete: &'static str,
    what: &'static str,
}

/// By rowid (every one of these tables has one; it is `id` itself for the outbox and runs). The ids
/// of a batch go as one JSON array parameter, and the condition is checked again as they are deleted.
macro_rules! rule {
    ($table:literal, $condition:literal, $what:literal) => {
        Rule {
            count: concat!("SELECT COUNT(*) FROM ", $table, " WHERE ", $condition),
            select: concat!("SELECT rowid FROM ", $table, " WHERE ", $condition, " LIMIT ?"),
            delete: concat!(
                "DELETE FROM ",
                $table,
                " WHERE rowid IN (SELECT value FROM json_each(?)) AND ",
                $condition
            ),
            what: $what,
        }
    };
}

// delivered_at is Unix seconds; NULL (not delivered yet) never matches.
const EVENTS: Rule = rule!("outbox", "delivered_at IS NOT NULL AND delivered_at < ?", "delivered events");

// finished_at is Unix ms. Pending, running, interrupted and needs_attention runs never match; their
// steps go with them (ON DELETE CASCADE).
const RUNS: Rule = rule!(
    "workflow_runs",
    "status IN ('succeeded', 'failed') AND finished_at IS NOT NULL AND finished_at < ?",
    "finished runs"
);

// stopped_at is Unix ms; a host still running has none.
const HOSTS: Rule = rule!("hosts", "stopped_at IS NOT NULL AND stopped_at < ?", "stopped hosts");

/// The cutoffs of `retention` at `now_ms`: events in Unix seconds, runs and hosts in Unix ms.
fn cutoffs(retention: &Retention, now_ms: i64) -> [(&'static Rule, i64); 3] {
    let before = |age: Duration| now_ms.saturating_sub(i64::try_from(age.as_millis()).unwrap_or(i64::MAX));
    [
        (&EVENTS, before(retention.delivered_events).div_euclid(1000)),
        (&RUNS, before(retention.finished_runs)),
        (&HOSTS, before(retention.stopped_hosts)),
    ]
}

/// Deletes what `retention` no longer keeps at `now_ms` (Unix ms), in batches of [`BATCH`].
pub async fn prune(store: &Store, retention: &Retention, now_ms: i64) -> Result<Pruned> {
    let mut counts = [0u64; 3];
    for (count, (rule, cutoff)) in counts.iter_mut().zip(cutoffs(retention, now_ms)) {
        *count = prune_rule(store, rule, cutoff).await.with_context(|| format!("pruning {}", rule.what))?;
    }
    let [events, runs, hosts] = counts;
    Ok(Pruned { events, runs, hosts })
}

/// What [`prune`] would delete at `now_ms`, deleting nothing (`switchyard prune --dry-run`).
pub async fn count(store: &Store, retention: &Retention, now_ms: i64) -> Result<Pruned> {
    let mut counts = [0u64; 3];
    for (count, (rule, cutoff)) in counts.iter_mut().zip(cutoffs(retention, now_ms)) {
        let (n,): (i64,) = sqlx::query_as(rule.count)
            .bind(cutoff)
            .fetch_one(store.pool())
            .await
            .with_context(|| format!("counting {}", rule.what))?;
        *count = n as u64;
    }
    let [events, runs, hosts] = counts;
    Ok(Pruned { events, runs, hosts })
}

async fn prune_rule(store: &Store, rule: &Rule, cutoff: i64) -> Result<u64> {
    let mut deleted = 0;
    loop {
        let ids: Vec<(i64,)> = sqlx::query_as(rule.select).bind(cutoff).bind(BATCH).fetch_all(store.pool()).await?;
        if ids.is_empty() {
            return Ok(deleted);
        }
        let batch = ids.len() as i64;
        let ids = serde_json::Value::from(ids.into_iter().map(|(id,)| id).collect::<Vec<_>>()).to_string();
        deleted += sqlx::query(rule.delete).bind(ids).bind(cutoff).execute(store.pool()).await?.rows_affected();
        if batch < BATCH {
            return Ok(deleted);
        }
        // Let other writers in between two batches.
        tokio::task::yield_now().await;
    }
}
