//! The embedded store: one SQLite database in the data directory, through sqlx (the same queries can
//! later target PostgreSQL). Schema changes are migrations in `host/migrations/`, applied on open.

pub mod retention;
pub mod triggers;

use anyhow::{Context, Result};
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

pub const DATABASE_FILE: &str = "switchyard.db";

/// The time as the store records it in its `*_at` columns kept in milliseconds: Unix ms.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
}

impl Store {
    /// Opens (creating if needed) the database in `home` and applies pending migrations.
    pub async fn open(home: &Path) -> Result<Self> {
        std::fs::create_dir_all(home).with_context(|| format!("creating the data directory {}", home.display()))?;
        let path = home.join(DATABASE_FILE);
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            // WAL lets readers run beside the one writer; FULL sync makes a committed transaction
            // survive a crash, which the exactly-once guarantees rest on.
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        Self::connect(options).await.with_context(|| format!("opening the database {}", path.display()))
    }

    /// A private in-memory database, for tests.
    pub async fn in_memory() -> Result<Self> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?.foreign_keys(true);
        Self::connect(options).await
    }

    async fn connect(options: SqliteConnectOptions) -> Result<Self> {
        let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await?;
        sqlx::migrate!("./migrations").run(&pool).await.context("applying database migrations")?;
        Ok(Store { pool })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// A transaction that takes the write lock at its start. A read-then-write transaction that began
    /// as a reader fails with "database is locked" if another writer committed meanwhile; one that
    /// begins as the writer waits its turn instead (up to the busy timeout).
    pub async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn opens_and_migrates_twice() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        sqlx::query("INSERT INTO host_meta (key, value) VALUES ('k', 'v')").execute(store.pool()).await.unwrap();
        drop(store);
        let store = Store::open(dir.path()).await.unwrap();
        let (value,): (String,) =
            sqlx::query_as("SELECT value FROM host_meta WHERE key = 'k'").fetch_one(store.pool()).await.unwrap();
        assert_eq!(value, "v");
    }
}
