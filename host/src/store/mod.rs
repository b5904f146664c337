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

pub use crate::files::create_private_dir;

/// Creates an empty file with mode 0600 unless it exists.
fn create_private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Sets a file that exists to mode 0600 (group and others lose every permission).
fn make_private(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let metadata = match std::fs::metadata(path) {
            Ok(metadata) => metadata,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        if metadata.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
}

impl Store {
    /// Opens (creating if needed) the database in `home` and applies pending migrations.
    pub async fn open(home: &Path) -> Result<Self> {
        create_private_dir(home).with_context(|| format!("creating the data directory {}", home.display()))?;
        let path = home.join(DATABASE_FILE);
        // Created 0600 before SQLite opens it (SQLite gives its -wal and -shm files the database's mode).
        create_private_file(&path).with_context(|| format!("creating the database {}", path.display()))?;
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            // WAL lets readers run beside the one writer; FULL sync makes a committed transaction
            // survive a crash, which the exactly-once guarantees rest on.
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let store = Self::connect(options).await.with_context(|| format!("opening the database {}", path.display()))?;
        // Tighten what an older host (or another umask) left readable to others. Not fatal: a database
        // this user does not own cannot be changed, but can still be used.
        for suffix in ["", "-wal", "-shm"] {
            let file = home.join(format!("{DATABASE_FILE}{suffix}"));
            if let Err(err) = make_private(&file) {
                tracing::warn!("could not make {} private (mode 0600): {err}", file.display());
            }
        }
        Ok(store)
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

    #[cfg(unix)]
    #[tokio::test]
    async fn the_data_directory_and_the_database_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let parent = tempfile::tempdir().unwrap();
        let home = parent.path().join("a/home");
        let store = Store::open(&home).await.unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&home), 0o700);
        assert_eq!(mode(&parent.path().join("a")), 0o700);
        for suffix in ["", "-wal", "-shm"] {
            let file = home.join(format!("{DATABASE_FILE}{suffix}"));
            if file.exists() {
                assert_eq!(mode(&file), 0o600, "{}", file.display());
            }
        }
        drop(store);
        let db = home.join(DATABASE_FILE);
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o664)).unwrap();
        let _store = Store::open(&home).await.unwrap();
        assert_eq!(mode(&db), 0o600);
    }
}
