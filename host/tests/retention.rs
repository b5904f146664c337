//! Retention: `store::retention::prune` deletes delivered events, finished runs (with their steps) and
//! stopped hosts past their age, and nothing else; `switchyard prune` and the daemon use it. Rows are
//! written with SQL, with timestamps in each column's own unit (outbox: Unix seconds; runs and hosts:
//! Unix milliseconds), so a unit mix-up in the queries deletes too much or too little and fails here.

mod common;

use sqlx::Row;
use std::sync::Arc;
use std::time::Duration;
use switchyard::service::{Service, ServiceConfig};
use switchyard::store::Store;
use switchyard::store::retention::{self, BATCH, Pruned, Retention};
use switchyard::workflow::records::now_ms;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// An outbox event created 40 days ago, delivered `delivered_ms_ago` ago (None: not delivered).
async fn event(store: &Store, key: &str, delivered_ms_ago: Option<i64>) -> i64 {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO outbox (subscription_id, trigger_key, dedupe_key, occurred_at, payload, created_at, delivered_at)
         VALUES (1, 'intercom/new-ticket', ?, ?, '{}', ?, ?)",
    )
    .bind(key)
    .bind((now - 40 * DAY_MS) / 1000)
    .bind((now - 40 * DAY_MS) / 1000)
    // The outbox records seconds.
    .bind(delivered_ms_ago.map(|ago| (now - ago) / 1000))
    .execute(store.pool())
    .await
    .unwrap()
    .last_insert_rowid()
}

/// A run in `status`, finished `finished_ms_ago` ago (None: not finished), with two steps.
async fn run(store: &Store, key: &str, status: &str, finished_ms_ago: Option<i64>) -> i64 {
    let now = now_ms();
    let id = sqlx::query(
        "INSERT INTO workflow_runs (workflow, definition, definition_sha256, trigger_key, dedupe_key, occurred_at,
             payload, status, created_at, started_at, finished_at)
         VALUES ('wf', 'name: wf', 'sha', 'intercom/new-ticket', ?, ?, '{}', ?, ?, ?, ?)",
    )
    .bind(key)
    .bind((now - 40 * DAY_MS) / 1000)
    .bind(status)
    .bind(now - 40 * DAY_MS)
    .bind(now - 40 * DAY_MS)
    // Runs record milliseconds.
    .bind(finished_ms_ago.map(|ago| now - ago))
    .execute(store.pool())
    .await
    .unwrap()
    .last_insert_rowid();
    for index in 0..2 {
        sqlx::query(
            "INSERT INTO workflow_steps (run_id, step_index, step_id, attempt, session, status, started_at)
             VALUES (?, ?, ?, 1, 1, 'succeeded', ?)",
        )
        .bind(id)
        .bind(index)
        .bind(format!("step{index}"))
        .bind(now - 40 * DAY_MS)
        .execute(store.pool())
        .await
        .unwrap();
    }
    id
}

/// A host started 60 days ago, stopped `stopped_ms_ago` ago (None: still running, beat just now).
async fn host(store: &Store, id: &str, stopped_ms_ago: Option<i64>) {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO hosts (id, pid, hostname, version, started_at, heartbeat_at, stopped_at)
         VALUES (?, 1, 'test', '0', ?, ?, ?)",
    )
    .bind(id)
    .bind(now - 60 * DAY_MS)
    .bind(stopped_ms_ago.map(|ago| now - ago - 1000).unwrap_or(now))
    // Hosts record milliseconds.
    .bind(stopped_ms_ago.map(|ago| now - ago))
    .execute(store.pool())
    .await
    .unwrap();
}

async fn exists(store: &Store, table: &str, id: i64) -> bool {
    let sql = format!("SELECT COUNT(*) FROM {table} WHERE id = ?");
    sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_one(store.pool()).await.unwrap().get::<i64, _>(0) == 1
}

async fn host_exists(store: &Store, id: &str) -> bool {
    sqlx::query("SELECT COUNT(*) FROM hosts WHERE id = ?")
        .bind(id)
        .fetch_one(store.pool())
        .await
        .unwrap()
        .get::<i64, _>(0)
        == 1
}

async fn steps_of(store: &Store, run: i64) -> i64 {
    sqlx::query("SELECT COUNT(*) FROM workflow_steps WHERE run_id = ?")
        .bind(run)
        .fetch_one(store.pool())
        .await
        .unwrap()
        .get(0)
}

async fn rows(store: &Store, table: &str) -> i64 {
    sqlx::query(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
        .fetch_one(store.pool())
        .await
        .unwrap()
        .get(0)
}

async fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    (dir, store)
}

#[test]
fn the_defaults_are_thirty_thirty_and_seven_days() {
    let day = Duration::from_secs(86_400);
    assert_eq!(
        Retention::default(),
        Retention { delivered_events: 30 * day, finished_runs: 30 * day, stopped_hosts: 7 * day }
    );
}

#[tokio::test]
async fn only_old_delivered_events_go() {
    let (_dir, store) = open().await;
    let old_delivered = event(&store, "old-delivered", Some(31 * DAY_MS)).await;
    let old_undelivered = event(&store, "old-undelivered", None).await;
    let recent_delivered = event(&store, "recent-delivered", Some(29 * DAY_MS)).await;
    let just_delivered = event(&store, "just-delivered", Some(60 * 1000)).await;

    let pruned = retention::prune(&store, &Retention::default(), now_ms()).await.unwrap();
    assert_eq!(pruned, Pruned { events: 1, runs: 0, hosts: 0 });
    assert!(!exists(&store, "outbox", old_delivered).await, "an event delivered 31 days ago is kept");
    assert!(exists(&store, "outbox", old_undelivered).await, "an undelivered event was deleted");
    assert!(exists(&store, "outbox", recent_delivered).await, "an event delivered 29 days ago was deleted");
    assert!(exists(&store, "outbox", just_delivered).await, "an event delivered a minute ago was deleted");

    // Nothing left to prune: a second pass deletes nothing.
    assert_eq!(retention::prune(&store, &Retention::default(), now_ms()).await.unwrap(), Pruned::default());
    assert_eq!(rows(&store, "outbox").await, 3);
}

#[tokio::test]
async fn only_old_finished_runs_go_with_their_steps() {
    let (_dir, store) = open().await;
    let old = 31 * DAY_MS;
    let old_succeeded = run(&store, "old-succeeded", "succeeded", Some(old)).await;
    let old_failed = run(&store, "old-failed", "failed", Some(old)).await;
    // Work still to do or waiting for an operator, even with an old finished_at.
    let mut kept = Vec::new();
    for status in ["pending", "running", "interrupted", "needs_attention"] {
        kept.push((status, run(&store, &format!("old-{status}"), status, Some(old)).await));
        kept.push((status, run(&store, &format!("old-unfinished-{status}"), status, None).await));
    }
    let recent_succeeded = run(&store, "recent-succeeded", "succeeded", Some(29 * DAY_MS)).await;
    let recent_failed = run(&store, "recent-failed", "failed", Some(DAY_MS)).await;
    assert_eq!(steps_of(&store, old_succeeded).await, 2);

    let pruned = retention::prune(&store, &Retention::default(), now_ms()).await.unwrap();
    assert_eq!(pruned, Pruned { events: 0, runs: 2, hosts: 0 });
    for id in [old_succeeded, old_failed] {
        assert!(!exists(&store, "workflow_runs", id).await, "old finished run {id} is kept");
        assert_eq!(steps_of(&store, id).await, 0, "the steps of deleted run {id} are kept");
    }
    for (status, id) in kept {
        assert!(exists(&store, "workflow_runs", id).await, "a {status} run was deleted");
        assert_eq!(steps_of(&store, id).await, 2, "the steps of a {status} run were deleted");
    }
    for id in [recent_succeeded, recent_failed] {
        assert!(exists(&store, "workflow_runs", id).await, "recent finished run {id} was deleted");
        assert_eq!(steps_of(&store, id).await, 2);
    }
}

#[tokio::test]
async fn only_hosts_stopped_long_ago_go() {
    let (_dir, store) = open().await;
    host(&store, "stopped-8-days-ago", Some(8 * DAY_MS)).await;
    host(&store, "stopped-6-days-ago", Some(6 * DAY_MS)).await;
    host(&store, "live", None).await;

    let pruned = retention::prune(&store, &Retention::default(), now_ms()).await.unwrap();
    assert_eq!(pruned, Pruned { events: 0, runs: 0, hosts: 1 });
    assert!(!host_exists(&store, "stopped-8-days-ago").await, "a host stopped 8 days ago is kept");
    assert!(host_exists(&store, "stopped-6-days-ago").await, "a host stopped 6 days ago was deleted");
    assert!(host_exists(&store, "live").await, "a live host (started 60 days ago) was deleted");
}

#[tokio::test]
async fn each_age_applies_to_its_own_table() {
    let (_dir, store) = open().await;
    let event_id = event(&store, "e", Some(2 * DAY_MS)).await;
    let run_id = run(&store, "r", "succeeded", Some(2 * DAY_MS)).await;
    host(&store, "h", Some(2 * DAY_MS)).await;
    let day = Duration::from_secs(86_400);

    let events_only = Retention { delivered_events: day, finished_runs: 3 * day, stopped_hosts: 3 * day };
    assert_eq!(
        retention::prune(&store, &events_only, now_ms()).await.unwrap(),
        Pruned { events: 1, runs: 0, hosts: 0 }
    );
    assert!(!exists(&store, "outbox", event_id).await);
    assert!(exists(&store, "workflow_runs", run_id).await);

    let runs_only = Retention { delivered_events: 3 * day, finished_runs: day, stopped_hosts: 3 * day };
    assert_eq!(retention::prune(&store, &runs_only, now_ms()).await.unwrap(), Pruned { events: 0, runs: 1, hosts: 0 });
    assert!(!exists(&store, "workflow_runs", run_id).await);
    assert!(host_exists(&store, "h").await);

    let hosts_only = Retention { delivered_events: 3 * day, finished_runs: 3 * day, stopped_hosts: day };
    assert_eq!(retention::prune(&store, &hosts_only, now_ms()).await.unwrap(), Pruned { events: 0, runs: 0, hosts: 1 });
    assert!(!host_exists(&store, "h").await);
}

#[tokio::test]
async fn a_backlog_larger_than_a_batch_is_pruned_whole() {
    let (_dir, store) = open().await;
    let now = now_ms();
    let backlog = 2 * BATCH + BATCH / 2;
    let old_s = (now - 40 * DAY_MS) / 1000;
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
         INSERT INTO outbox (subscription_id, trigger_key, dedupe_key, occurred_at, payload, created_at, delivered_at)
         SELECT 1, 't', 'k' || i, ?, '{}', ?, ? FROM n",
    )
    .bind(backlog)
    .bind(old_s)
    .bind(old_s)
    .bind(old_s)
    .execute(store.pool())
    .await
    .unwrap();
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
         INSERT INTO workflow_runs (workflow, definition, definition_sha256, trigger_key, dedupe_key, occurred_at,
             payload, status, created_at, finished_at)
         SELECT 'wf', '', '', 't', 'k' || i, ?, '{}', CASE i % 2 WHEN 0 THEN 'succeeded' ELSE 'failed' END, ?, ?
         FROM n",
    )
    .bind(backlog)
    .bind(old_s)
    .bind(now - 40 * DAY_MS)
    .bind(now - 40 * DAY_MS)
    .execute(store.pool())
    .await
    .unwrap();
    let undelivered = event(&store, "undelivered", None).await;
    let pending = run(&store, "pending", "pending", None).await;

    let counted = retention::count(&store, &Retention::default(), now_ms()).await.unwrap();
    assert_eq!(counted, Pruned { events: backlog as u64, runs: backlog as u64, hosts: 0 });
    let pruned = retention::prune(&store, &Retention::default(), now_ms()).await.unwrap();
    assert_eq!(pruned, counted);
    assert_eq!(rows(&store, "outbox").await, 1);
    assert!(exists(&store, "outbox", undelivered).await);
    assert_eq!(rows(&store, "workflow_runs").await, 1);
    assert!(exists(&store, "workflow_runs", pending).await);
    assert_eq!(retention::count(&store, &Retention::default(), now_ms()).await.unwrap(), Pruned::default());
}

/// A data directory with, past the default retention: 1 delivered event, 2 finished runs, 1 stopped
/// host; and (to keep) an old undelivered event, a recent delivered one, old runs that are still work,
/// a recent finished run, a recently stopped host and a live one.
struct Seeded {
    old_event: i64,
    kept_events: Vec<i64>,
    old_runs: Vec<i64>,
    kept_runs: Vec<i64>,
}

async fn seed(store: &Store) -> Seeded {
    let old = 31 * DAY_MS;
    let seeded = Seeded {
        old_event: event(store, "old", Some(old)).await,
        kept_events: vec![event(store, "undelivered", None).await, event(store, "recent", Some(DAY_MS)).await],
        old_runs: vec![
            run(store, "old-succeeded", "succeeded", Some(old)).await,
            run(store, "old-failed", "failed", Some(old)).await,
        ],
        kept_runs: vec![
            run(store, "old-needs-attention", "needs_attention", Some(old)).await,
            run(store, "old-interrupted", "interrupted", None).await,
            run(store, "recent-succeeded", "succeeded", Some(DAY_MS)).await,
        ],
    };
    host(store, "old-host", Some(8 * DAY_MS)).await;
    host(store, "recent-host", Some(DAY_MS)).await;
    host(store, "live-host", None).await;
    seeded
}

async fn assert_kept(store: &Store, seeded: &Seeded) {
    for id in &seeded.kept_events {
        assert!(exists(store, "outbox", *id).await, "event {id} was deleted");
    }
    for id in &seeded.kept_runs {
        assert!(exists(store, "workflow_runs", *id).await, "run {id} was deleted");
        assert_eq!(steps_of(store, *id).await, 2, "the steps of run {id} were deleted");
    }
    assert!(host_exists(store, "recent-host").await && host_exists(store, "live-host").await);
}

async fn assert_old_gone(store: &Store, seeded: &Seeded) {
    assert!(!exists(store, "outbox", seeded.old_event).await, "the old delivered event is kept");
    for id in &seeded.old_runs {
        assert!(!exists(store, "workflow_runs", *id).await, "old run {id} is kept");
        assert_eq!(steps_of(store, *id).await, 0, "the steps of old run {id} are kept");
    }
    assert!(!host_exists(store, "old-host").await, "the old stopped host is kept");
}

const SEEDED_SUMMARY: &str = "1 delivered event, 2 finished runs (with their steps), 1 stopped host";

#[tokio::test]
async fn cli_dry_run_counts_and_deletes_nothing() {
    let home = common::test_home();
    let store = Store::open(home.path()).await.unwrap();
    let seeded = seed(&store).await;
    let before =
        (rows(&store, "outbox").await, rows(&store, "workflow_runs").await, rows(&store, "workflow_steps").await);

    let out = common::switchyard_ok(home.path(), &["prune", "--dry-run"]);
    assert!(out.contains(&format!("would remove {SEEDED_SUMMARY}")), "{out}");
    assert!(out.contains("nothing was deleted"), "{out}");

    let after =
        (rows(&store, "outbox").await, rows(&store, "workflow_runs").await, rows(&store, "workflow_steps").await);
    assert_eq!(after, before, "--dry-run deleted rows");
    assert_eq!(rows(&store, "hosts").await, 3, "--dry-run deleted hosts");
    assert!(exists(&store, "outbox", seeded.old_event).await);
    assert_kept(&store, &seeded).await;
}

#[tokio::test]
async fn cli_prune_deletes_and_reports() {
    let home = common::test_home();
    let store = Store::open(home.path()).await.unwrap();
    let seeded = seed(&store).await;

    let out = common::switchyard_ok(home.path(), &["prune"]);
    assert!(out.contains(&format!("removed {SEEDED_SUMMARY}")), "{out}");
    assert_old_gone(&store, &seeded).await;
    assert_kept(&store, &seeded).await;

    let out = common::switchyard_ok(home.path(), &["prune"]);
    assert!(out.contains("removed 0 delivered events, 0 finished runs (with their steps), 0 stopped hosts"), "{out}");
}

#[tokio::test]
async fn cli_ages_are_humantime_durations_per_table() {
    let home = common::test_home();
    let store = Store::open(home.path()).await.unwrap();
    let event_id = event(&store, "e", Some(2 * DAY_MS)).await;
    let run_id = run(&store, "r", "failed", Some(2 * DAY_MS)).await;

    let out = common::switchyard_ok(home.path(), &["prune", "--events-older-than", "1d", "--runs-older-than", "3days"]);
    assert!(out.contains("removed 1 delivered event, 0 finished runs"), "{out}");
    assert!(!exists(&store, "outbox", event_id).await);
    assert!(exists(&store, "workflow_runs", run_id).await);

    let out = common::switchyard_ok(home.path(), &["prune", "--runs-older-than", "36h", "--dry-run"]);
    assert!(out.contains("would remove 0 delivered events, 1 finished run "), "{out}");
    assert!(exists(&store, "workflow_runs", run_id).await);

    let bad = common::switchyard(home.path(), &["prune", "--runs-older-than", "soon"]);
    assert!(!bad.status.success(), "an age that is no duration was accepted");
    assert!(exists(&store, "workflow_runs", run_id).await);
}

#[tokio::test]
async fn the_daemon_prunes_at_start() {
    let home = common::test_home();
    let store = Store::open(home.path()).await.unwrap();
    // Only rows the daemon leaves alone otherwise: no undelivered event (it would deliver it) and no
    // runnable run (it would resume it).
    let old_event = event(&store, "old", Some(31 * DAY_MS)).await;
    let recent_event = event(&store, "recent", Some(DAY_MS)).await;
    let old_run = run(&store, "old", "succeeded", Some(31 * DAY_MS)).await;
    let waiting_run = run(&store, "waiting", "needs_attention", Some(31 * DAY_MS)).await;
    let recent_run = run(&store, "recent", "failed", Some(DAY_MS)).await;
    host(&store, "old-host", Some(8 * DAY_MS)).await;
    host(&store, "live-host", None).await;

    let service = Service::start(Arc::new(common::runtime()), ServiceConfig::new(home.path().to_path_buf()))
        .await
        .expect("the daemon starts");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while retention::count(&store, &Retention::default(), now_ms()).await.unwrap() != Pruned::default() {
        assert!(std::time::Instant::now() < deadline, "the daemon did not prune within 20 s of its start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!exists(&store, "outbox", old_event).await);
    assert!(exists(&store, "outbox", recent_event).await);
    assert!(!exists(&store, "workflow_runs", old_run).await);
    assert_eq!(steps_of(&store, old_run).await, 0);
    assert!(exists(&store, "workflow_runs", waiting_run).await && exists(&store, "workflow_runs", recent_run).await);
    assert!(!host_exists(&store, "old-host").await);
    assert!(host_exists(&store, "live-host").await && host_exists(&store, service.host_id()).await);
    service.shutdown().await.unwrap();
}
