//! Who executes a run: every host process that executes runs (the daemon, or a CLI command such as
//! `runs retry`) has an id, registers it in `hosts`, and holds each run it executes by a lease that a
//! heartbeat renews. Recovery takes only runs whose lease expired, so two processes on one database
//! never execute the same step, and a process killed outright has its runs taken over once its lease
//! runs out (see [`super::records::claim`]).

use crate::store::{Store, now_ms};
use anyhow::{Context, Result};
use rand::Rng;
use std::sync::Arc;
use std::time::Duration;

/// The default lease: long enough that a busy database or a long rate-limit wait never lets it lapse
/// under a live owner (the heartbeat renews it every third of it), short enough that a dead host's
/// runs are picked up within a minute.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// One process's claim on the runs it executes.
#[derive(Clone, Debug)]
pub struct Lease {
    /// `hosts.id`: the host name, the process id and a random suffix, unique across restarts.
    pub owner: Arc<str>,
    /// How long a claim lasts without renewal.
    pub duration: Duration,
}

impl Lease {
    pub fn new(duration: Duration) -> Lease {
        let suffix: u32 = rand::rng().random();
        let owner = format!("{}-{}-{suffix:08x}", hostname(), std::process::id());
        Lease { owner: owner.into(), duration }
    }

    /// When a claim taken or renewed now expires, in Unix milliseconds.
    pub fn expires_at(&self) -> i64 {
        now_ms() + self.duration.as_millis() as i64
    }

    /// Records this process in `hosts` (for operators: who holds what, when it was last alive).
    pub async fn register(&self, store: &Store) -> Result<()> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO hosts (id, pid, hostname, version, started_at, heartbeat_at) VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, stopped_at = NULL",
        )
        .bind(&*self.owner)
        .bind(i64::from(std::process::id()))
        .bind(hostname())
        .bind(env!("CARGO_PKG_VERSION"))
        .bind(now)
        .bind(now)
        .execute(store.pool())
        .await
        .context("registering this host")?;
        Ok(())
    }

    /// Marks this process alive in `hosts`.
    pub async fn beat(&self, store: &Store) -> Result<()> {
        sqlx::query("UPDATE hosts SET heartbeat_at = ? WHERE id = ?")
            .bind(now_ms())
            .bind(&*self.owner)
            .execute(store.pool())
            .await?;
        Ok(())
    }

    /// Extends this process's lease on run `id`; false if it no longer holds it.
    pub async fn renew(&self, store: &Store, id: i64) -> Result<bool> {
        let done = sqlx::query("UPDATE workflow_runs SET lease_expires_at = ? WHERE id = ? AND owner = ?")
            .bind(self.expires_at())
            .bind(id)
            .bind(&*self.owner)
            .execute(store.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Marks this process as stopped in `hosts`.
    pub async fn stopped(&self, store: &Store) -> Result<()> {
        sqlx::query("UPDATE hosts SET stopped_at = ? WHERE id = ?")
            .bind(now_ms())
            .bind(&*self.owner)
            .execute(store.pool())
            .await?;
        Ok(())
    }

    /// Keeps run `id`'s lease renewed, every third of its duration, for as long as the returned
    /// handle lives (the executor holds one while it executes the run). A renewal that fails is
    /// retried at the next beat; if renewals fail for a whole lease another host may take the run
    /// over, and this one's next record write finds out ([`super::records::LeaseLost`]) and stops.
    pub fn hold(&self, store: &Store, id: i64) -> Heartbeat {
        let (lease, store) = (self.clone(), store.clone());
        self.every_beat(move || {
            let (lease, store) = (lease.clone(), store.clone());
            async move {
                match lease.renew(&store, id).await {
                    Ok(_) => {}
                    Err(error) => tracing::warn!(run = id, "renewing the run's lease failed: {error:#}"),
                }
            }
        })
    }

    /// Keeps this process's `hosts` row alive (the daemon holds one for its lifetime).
    pub fn spawn_heartbeat(&self, store: &Store) -> Heartbeat {
        let (lease, store) = (self.clone(), store.clone());
        self.every_beat(move || {
            let (lease, store) = (lease.clone(), store.clone());
            async move {
                if let Err(error) = lease.beat(&store).await {
                    tracing::warn!(host = &*lease.owner, "recording this host's heartbeat failed: {error:#}");
                }
            }
        })
    }

    fn every_beat<F, Fut>(&self, beat: F) -> Heartbeat
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let every = (self.duration / 3).max(Duration::from_millis(100));
        Heartbeat(tokio::spawn(async move {
            let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                beat().await;
            }
        }))
    }
}

/// The running heartbeat; it stops when dropped.
pub struct Heartbeat(tokio::task::JoinHandle<()>);

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}
