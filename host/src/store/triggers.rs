//! Durable trigger state: subscriptions, cursors, the keys each subscription emitted, and the outbox.
//!
//! Exactly-once rests on one transaction per poll ([`Triggers::commit_poll`]): the new events go into
//! the outbox (each key at most once per subscription, checked against `emitted_keys`) and the cursor
//! advances, together or not at all. A crash before the commit leaves the old cursor, so the next poll
//! finds the same changes again; a crash after it leaves both. Consumers take events from the
//! [`Outbox`] and mark them delivered, ideally in the same transaction as their own work
//! ([`Outbox::mark_delivered_in`]).

use super::Store;
use crate::runtime::PollResult;
use anyhow::{Context, Result, bail};
use serde::Serialize;
use sqlx::{Row, SqliteConnection, SqlitePool};

/// Subscriptions with their state; a macro so queries can `concat!` their conditions to it.
macro_rules! select_state {
    () => {
        "SELECT s.id, s.trigger_key, s.connection, s.base_url, s.token_env, s.interval_secs, s.settings,
        s.enabled, s.created_at, t.cursor, t.version, t.backlog, t.polls, t.events, t.failures, t.last_poll_at,
        t.last_success_at, t.last_error
    FROM subscriptions s JOIN trigger_state t ON t.subscription_id = s.id"
    };
}

/// Outbox rows; a macro for the same reason.
macro_rules! select_outbox {
    () => {
        "SELECT id, subscription_id, trigger_key, dedupe_key, occurred_at, payload, created_at, delivered_at FROM outbox"
    };
}

/// Where a subscription's requests go.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionRef {
    /// A named connection (resolved by the connection store).
    Named(String),
    /// A base URL and the environment variable holding the token, until named connections exist.
    Inline { base_url: String, token_env: String },
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Subscription {
    pub id: i64,
    pub trigger_key: String,
    pub connection: ConnectionRef,
    pub interval_secs: u32,
    /// The trigger's settings, a JSON object as text.
    pub settings: String,
    pub enabled: bool,
    pub created_at: i64,
}

/// A subscription to add.
#[derive(Clone, Debug)]
pub struct NewSubscription {
    pub trigger_key: String,
    pub connection: ConnectionRef,
    pub interval_secs: u32,
    pub settings: serde_json::Value,
}

/// Where a subscription's polling stands.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TriggerState {
    /// The trigger's cursor as JSON text; `None` before the first successful poll.
    pub cursor: Option<String>,
    /// The commit a new poll must build on (see [`Triggers::commit_poll`]).
    pub version: i64,
    pub backlog: bool,
    pub polls: i64,
    pub events: i64,
    pub failures: i64,
    pub last_poll_at: Option<i64>,
    pub last_success_at: Option<i64>,
    pub last_error: Option<String>,
}

/// What a committed poll did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Committed {
    /// Events added to the outbox.
    pub emitted: usize,
    /// Events dropped because their key was emitted before.
    pub duplicates: usize,
}

/// The state of one subscription changed under this poll (another process polled it): nothing was written.
#[derive(Debug, thiserror::Error)]
#[error("subscription {0} was polled by someone else meanwhile; this poll's result was discarded")]
pub struct StaleCursor(pub i64);

#[derive(Clone)]
pub struct Triggers {
    pool: SqlitePool,
}

impl Triggers {
    pub fn new(store: &Store) -> Self {
        Triggers { pool: store.pool().clone() }
    }

    pub async fn add(&self, new: &NewSubscription, now: i64) -> Result<i64> {
        if !new.settings.is_object() {
            bail!("the settings must be a JSON object");
        }
        let (name, base_url, token_env) = match &new.connection {
            ConnectionRef::Named(name) => (Some(name.as_str()), None, None),
            ConnectionRef::Inline { base_url, token_env } => (None, Some(base_url.as_str()), Some(token_env.as_str())),
        };
        let mut tx = self.pool.begin().await?;
        let id: i64 = sqlx::query(
            "INSERT INTO subscriptions (trigger_key, connection, base_url, token_env, interval_secs, settings, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(&new.trigger_key)
        .bind(name)
        .bind(base_url)
        .bind(token_env)
        .bind(i64::from(new.interval_secs))
        .bind(new.settings.to_string())
        .bind(now)
        .fetch_one(&mut *tx)
        .await?
        .get(0);
        sqlx::query("INSERT INTO trigger_state (subscription_id) VALUES (?)").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Removes a subscription with its cursor and keys; its events stay in the outbox.
    pub async fn remove(&self, id: i64) -> Result<bool> {
        let done = sqlx::query("DELETE FROM subscriptions WHERE id = ?").bind(id).execute(&self.pool).await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn set_enabled(&self, id: i64, enabled: bool) -> Result<bool> {
        let done = sqlx::query("UPDATE subscriptions SET enabled = ? WHERE id = ?")
            .bind(enabled)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn list(&self) -> Result<Vec<(Subscription, TriggerState)>> {
        let rows = sqlx::query(concat!(select_state!(), " ORDER BY s.id")).fetch_all(&self.pool).await?;
        rows.iter().map(row_to_pair).collect()
    }

    /// Every subscription with the time of its last poll, without cursors: what the scheduler needs.
    pub async fn schedule(&self) -> Result<Vec<(Subscription, Option<i64>)>> {
        let rows = sqlx::query(
            "SELECT s.id, s.trigger_key, s.connection, s.base_url, s.token_env, s.interval_secs, s.settings,
                 s.enabled, s.created_at, t.last_poll_at
             FROM subscriptions s JOIN trigger_state t ON t.subscription_id = s.id ORDER BY s.id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|row| (row_to_subscription(row), row.get("last_poll_at"))).collect())
    }

    pub async fn get(&self, id: i64) -> Result<Option<(Subscription, TriggerState)>> {
        let row = sqlx::query(concat!(select_state!(), " WHERE s.id = ?")).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(row_to_pair).transpose()
    }

    /// Writes one successful poll: its new events (each key once per subscription) into the outbox,
    /// its cursor, and the pruning of keys under the cursor's `floor`, in ONE transaction. `version` is
    /// the state the poll started from; if another poll committed meanwhile, nothing is written and
    /// [`StaleCursor`] is returned.
    pub async fn commit_poll(
        &self,
        subscription: &Subscription,
        version: i64,
        result: &PollResult,
        now: i64,
    ) -> Result<Committed> {
        let id = subscription.id;
        // IMMEDIATE takes the write lock up front, so the transaction never fails half-way on an upgrade.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let mut committed = Committed::default();
        for event in &result.events {
            let fresh = sqlx::query(
                "INSERT INTO emitted_keys (subscription_id, dedupe_key, occurred_at) VALUES (?, ?, ?)
                 ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(&event.dedupe_key)
            .bind(event.occurred_at as i64)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if !fresh {
                committed.duplicates += 1;
                continue;
            }
            sqlx::query(
                "INSERT INTO outbox (subscription_id, trigger_key, dedupe_key, occurred_at, payload, created_at)
                 VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(id)
            .bind(&subscription.trigger_key)
            .bind(&event.dedupe_key)
            .bind(event.occurred_at as i64)
            .bind(&event.payload)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            committed.emitted += 1;
        }
        // The trigger promises never to emit an event older than its floor again (the SDK's polling
        // cursor carries it); keys below it can go. Without a floor, nothing is pruned.
        if let Some(floor) = result.cursor.get("floor").and_then(serde_json::Value::as_u64) {
            sqlx::query("DELETE FROM emitted_keys WHERE subscription_id = ? AND occurred_at < ?")
                .bind(id)
                .bind(floor as i64)
                .execute(&mut *tx)
                .await?;
        }
        let updated = sqlx::query(
            "UPDATE trigger_state SET cursor = ?, version = version + 1, backlog = ?, polls = polls + 1,
                 events = events + ?, failures = 0, last_poll_at = ?, last_success_at = ?, last_error = NULL
             WHERE subscription_id = ? AND version = ?",
        )
        .bind(result.cursor.to_string())
        .bind(result.backlog)
        .bind(committed.emitted as i64)
        .bind(now)
        .bind(now)
        .bind(id)
        .bind(version)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() != 1 {
            tx.rollback().await?;
            return Err(StaleCursor(id).into());
        }
        tx.commit().await.context("committing a poll")?;
        Ok(committed)
    }

    /// Records a failed poll; the cursor stays. Returns the number of consecutive failures.
    pub async fn record_failure(&self, id: i64, error: &str, now: i64) -> Result<i64> {
        let row = sqlx::query(
            "UPDATE trigger_state SET failures = failures + 1, last_poll_at = ?, last_error = ?
             WHERE subscription_id = ? RETURNING failures",
        )
        .bind(now)
        .bind(error)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.get(0)).unwrap_or(0))
    }

    /// How many keys a subscription remembers (for tests and `subscriptions list`).
    pub async fn remembered_keys(&self, id: i64) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) FROM emitted_keys WHERE subscription_id = ?")
            .bind(id)
            .fetch_one(&self.pool)
            .await?
            .get(0))
    }
}

fn row_to_subscription(row: &sqlx::sqlite::SqliteRow) -> Subscription {
    let name: Option<String> = row.get("connection");
    let connection = match name {
        Some(name) => ConnectionRef::Named(name),
        None => ConnectionRef::Inline { base_url: row.get("base_url"), token_env: row.get("token_env") },
    };
    Subscription {
        id: row.get("id"),
        trigger_key: row.get("trigger_key"),
        connection,
        interval_secs: row.get::<i64, _>("interval_secs").clamp(1, i64::from(u32::MAX)) as u32,
        settings: row.get("settings"),
        enabled: row.get("enabled"),
        created_at: row.get("created_at"),
    }
}

fn row_to_pair(row: &sqlx::sqlite::SqliteRow) -> Result<(Subscription, TriggerState)> {
    let subscription = row_to_subscription(row);
    let state = TriggerState {
        cursor: row.get("cursor"),
        version: row.get("version"),
        backlog: row.get("backlog"),
        polls: row.get("polls"),
        events: row.get("events"),
        failures: row.get("failures"),
        last_poll_at: row.get("last_poll_at"),
        last_success_at: row.get("last_success_at"),
        last_error: row.get("last_error"),
    };
    Ok((subscription, state))
}

/// One event in the outbox.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct OutboxEvent {
    /// Increases with every event written; consumers may keep it as their position.
    pub id: i64,
    pub subscription_id: i64,
    pub trigger_key: String,
    pub dedupe_key: String,
    pub occurred_at: i64,
    /// The object, as JSON text.
    pub payload: String,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
}

/// The events polls found, in the order they were written, until consumers mark them delivered.
#[derive(Clone)]
pub struct Outbox {
    pool: SqlitePool,
}

impl Outbox {
    pub fn new(store: &Store) -> Self {
        Outbox { pool: store.pool().clone() }
    }

    /// Up to `limit` undelivered events, oldest first. Reading does not claim them: a consumer that
    /// crashes before [`Outbox::mark_delivered`] gets the same events again.
    pub async fn next_batch(&self, limit: u32) -> Result<Vec<OutboxEvent>> {
        let rows = sqlx::query(concat!(select_outbox!(), " WHERE delivered_at IS NULL ORDER BY id LIMIT ?"))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(outbox_row).collect())
    }

    /// Every event after `after_id` (delivered or not), oldest first: the full history.
    pub async fn list(&self, after_id: i64, limit: u32) -> Result<Vec<OutboxEvent>> {
        let rows = sqlx::query(concat!(select_outbox!(), " WHERE id > ? ORDER BY id LIMIT ?"))
            .bind(after_id)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(outbox_row).collect())
    }

    pub async fn mark_delivered(&self, ids: &[i64], now: i64) -> Result<u64> {
        let mut connection = self.pool.acquire().await?;
        Self::mark_delivered_in(&mut connection, ids, now).await
    }

    /// Marks events delivered inside the caller's transaction, so a consumer can record its own work
    /// and the hand-off atomically (exactly once end to end).
    pub async fn mark_delivered_in(connection: &mut SqliteConnection, ids: &[i64], now: i64) -> Result<u64> {
        let mut marked = 0;
        for id in ids {
            marked += sqlx::query("UPDATE outbox SET delivered_at = ? WHERE id = ? AND delivered_at IS NULL")
                .bind(now)
                .bind(id)
                .execute(&mut *connection)
                .await?
                .rows_affected();
        }
        Ok(marked)
    }

    pub async fn pending(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL").fetch_one(&self.pool).await?.get(0))
    }
}

fn outbox_row(row: &sqlx::sqlite::SqliteRow) -> OutboxEvent {
    OutboxEvent {
        id: row.get("id"),
        subscription_id: row.get("subscription_id"),
        trigger_key: row.get("trigger_key"),
        dedupe_key: row.get("dedupe_key"),
        occurred_at: row.get("occurred_at"),
        payload: row.get("payload"),
        created_at: row.get("created_at"),
        delivered_at: row.get("delivered_at"),
    }
}
