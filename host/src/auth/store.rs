//! Named connections in the embedded store, their secrets sealed with the data directory's key.

use super::secrets::{KEY_ENV, KEY_FILE, KeySource, SecretBox};
use crate::http::Connection;
use crate::store::Store;
use anyhow::Context;
use secrecy::SecretString;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use url::Url;

const KEY_CHECK_CONTEXT: &str = "switchyard/key-check";
const KEY_CHECK_PLAINTEXT: &[u8] = b"switchyard secret key check v1";

/// The connections of one data directory.
#[derive(Clone)]
pub struct ConnectionStore {
    store: Store,
    home: PathBuf,
    /// Set at open when a key exists; created with the first stored secret otherwise.
    secrets: Arc<tokio::sync::OnceCell<SecretBox>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error("no connection named `{name}` ({})", known_names(.known))]
    NotFound { name: String, known: Vec<String> },
    #[error("a connection named `{0}` already exists: pass --replace to re-authorize it, or choose another --name")]
    AlreadyExists(String),
    #[error("connection `{name}` needs re-authorization ({detail}): {hint}")]
    NeedsReauthorization { name: String, detail: String, hint: String },
    #[error(
        "the secret key from {key} is not the key this data directory's secrets were encrypted with ({home}): \
         set ${KEY_ENV} to the original key or restore the original {KEY_FILE}; nothing was read or changed"
    )]
    WrongKey { key: KeySource, home: PathBuf },
    #[error(
        "this data directory ({home}) holds encrypted secrets but no key was found: set ${KEY_ENV} or restore \
         {home}/{KEY_FILE}; nothing was read or changed"
    )]
    MissingKey { home: PathBuf },
    #[error(
        "invalid connection name {0:?}: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
    )]
    InvalidName(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

fn known_names(known: &[String]) -> String {
    if known.is_empty() {
        "there are none yet: create one with `switchyard connect intercom --name NAME ...`".to_string()
    } else {
        format!("known: {}; see `switchyard connections list`", known.join(", "))
    }
}

impl From<sqlx::Error> for ConnectionError {
    fn from(error: sqlx::Error) -> Self {
        ConnectionError::Other(anyhow::Error::new(error).context("the connections table"))
    }
}

/// Whether a connection's credentials still work, as far as the host knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Active,
    /// A request was refused with 401 (token revoked, app uninstalled) or the token expired.
    NeedsReauthorization,
}

impl Status {
    fn parse(text: &str) -> Status {
        if text == "needs_reauthorization" { Status::NeedsReauthorization } else { Status::Active }
    }

    /// For people: `ok` or `needs re-authorization`.
    pub fn label(self) -> &'static str {
        match self {
            Status::Active => "ok",
            Status::NeedsReauthorization => "needs re-authorization",
        }
    }
}

/// A connection as listed: everything but its secrets.
#[derive(Clone, Debug, Serialize)]
pub struct ConnectionInfo {
    pub name: String,
    pub provider: String,
    /// `oauth` or `access_token`.
    pub auth_method: String,
    pub base_url: String,
    pub region: Option<String>,
    pub workspace_id: Option<String>,
    pub workspace_name: Option<String>,
    pub client_id: Option<String>,
    pub status: Status,
    pub status_detail: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub expires_at: Option<i64>,
}

impl ConnectionInfo {
    /// The command that re-authorizes this connection.
    pub fn reconnect_hint(&self) -> String {
        let how = match &self.client_id {
            Some(client_id) if self.auth_method == "oauth" => format!("--client-id {client_id}"),
            _ => "--access-token-env VAR".to_string(),
        };
        format!("reconnect it with `switchyard connect {} --name {} {how} --replace`", self.provider, self.name)
    }
}

/// A connection to store.
pub struct NewConnection {
    pub name: String,
    pub provider: String,
    pub base_url: Url,
    pub region: Option<String>,
    pub workspace_id: Option<String>,
    pub workspace_name: Option<String>,
    pub access_token: SecretString,
    /// For providers whose tokens expire (not Intercom).
    pub refresh_token: Option<SecretString>,
    pub expires_at: Option<i64>,
    /// Set for OAuth connections; `None` for an access token.
    pub oauth: Option<OAuthClientRecord>,
}

/// The OAuth app a connection was authorized with.
pub struct OAuthClientRecord {
    pub client_id: String,
    pub client_secret: SecretString,
    pub authorize_url: Url,
    pub token_url: Url,
}

#[derive(sqlx::FromRow)]
struct Row {
    name: String,
    provider: String,
    auth_method: String,
    base_url: String,
    region: Option<String>,
    workspace_id: Option<String>,
    workspace_name: Option<String>,
    client_id: Option<String>,
    status: String,
    status_detail: Option<String>,
    created_at: i64,
    last_used_at: Option<i64>,
    expires_at: Option<i64>,
}

/// `SELECT <the ConnectionInfo columns> FROM connections <rest>`, as a static string.
macro_rules! select_info {
    ($rest:literal) => {
        concat!(
            "SELECT name, provider, auth_method, base_url, region, workspace_id, workspace_name, client_id, \
             status, status_detail, created_at, last_used_at, expires_at FROM connections ",
            $rest
        )
    };
}

impl From<Row> for ConnectionInfo {
    fn from(row: Row) -> Self {
        ConnectionInfo {
            name: row.name,
            provider: row.provider,
            auth_method: row.auth_method,
            base_url: row.base_url,
            region: row.region,
            workspace_id: row.workspace_id,
            workspace_name: row.workspace_name,
            client_id: row.client_id,
            status: Status::parse(&row.status),
            status_detail: row.status_detail,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            expires_at: row.expires_at,
        }
    }
}

fn context(name: &str, field: &str) -> String {
    format!("connection/{name}/{field}")
}

pub fn now_unix() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Connection names appear in commands and logs: keep them plain.
pub fn validate_name(name: &str) -> Result<(), ConnectionError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok { Ok(()) } else { Err(ConnectionError::InvalidName(name.to_string())) }
}

impl ConnectionStore {
    /// Opens the connections of `store`, whose data directory is `home`. When secrets are already
    /// stored, the key ($SWITCHYARD_SECRET_KEY or `<home>/secret.key`) must be the one they were
    /// sealed with; otherwise this fails before reading or writing anything.
    pub async fn open(store: Store, home: &Path) -> Result<Self, ConnectionError> {
        let check: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT sealed FROM secret_key_check WHERE id = 1").fetch_optional(store.pool()).await?;
        let secrets = tokio::sync::OnceCell::new();
        match (check, SecretBox::load(home)?) {
            (Some(sealed), Some(secret_box)) => {
                if secret_box.open(KEY_CHECK_CONTEXT, &sealed).is_err() {
                    return Err(ConnectionError::WrongKey {
                        key: secret_box.source().clone(),
                        home: home.to_path_buf(),
                    });
                }
                let _ = secrets.set(secret_box);
            }
            (Some(_), None) => return Err(ConnectionError::MissingKey { home: home.to_path_buf() }),
            (None, Some(secret_box)) => {
                let _ = secrets.set(secret_box);
            }
            (None, None) => {}
        }
        Ok(ConnectionStore { store, home: home.to_path_buf(), secrets: Arc::new(secrets) })
    }

    /// Opens the store in `home` (`Store::open`) and its connections.
    pub async fn open_home(home: &Path) -> Result<Self, ConnectionError> {
        let store = Store::open(home).await?;
        Self::open(store, home).await
    }

    async fn secret_box(&self) -> Result<&SecretBox, ConnectionError> {
        let home = self.home.clone();
        Ok(self
            .secrets
            .get_or_try_init(|| async move {
                tokio::task::spawn_blocking(move || SecretBox::load_or_create(&home)).await.context("key set-up")?
            })
            .await?)
    }

    /// Stores a connection. With `replace`, an existing connection of that name is re-authorized:
    /// its credentials and workspace are replaced, it becomes active, its creation time stays.
    pub async fn save(&self, new: NewConnection, replace: bool) -> Result<(), ConnectionError> {
        validate_name(&new.name)?;
        let secrets = self.secret_box().await?;
        let name = &new.name;
        let access_token = secrets.seal_str(&context(name, "access_token"), &new.access_token)?;
        let refresh_token =
            new.refresh_token.as_ref().map(|t| secrets.seal_str(&context(name, "refresh_token"), t)).transpose()?;
        let client_secret = new
            .oauth
            .as_ref()
            .map(|o| secrets.seal_str(&context(name, "client_secret"), &o.client_secret))
            .transpose()?;
        let now = now_unix();

        let mut tx = self.store.pool().begin().await?;
        // The first stored secret records which key seals this directory's secrets.
        let check: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT sealed FROM secret_key_check WHERE id = 1").fetch_optional(&mut *tx).await?;
        match check {
            Some(sealed) => {
                if secrets.open(KEY_CHECK_CONTEXT, &sealed).is_err() {
                    return Err(ConnectionError::WrongKey { key: secrets.source().clone(), home: self.home.clone() });
                }
            }
            None => {
                sqlx::query("INSERT INTO secret_key_check (id, sealed, created_at) VALUES (1, ?, ?)")
                    .bind(secrets.seal(KEY_CHECK_CONTEXT, KEY_CHECK_PLAINTEXT)?)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let exists: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM connections WHERE name = ?").bind(name).fetch_optional(&mut *tx).await?;
        if exists.is_some() && !replace {
            return Err(ConnectionError::AlreadyExists(name.clone()));
        }
        let auth_method = if new.oauth.is_some() { "oauth" } else { "access_token" };
        sqlx::query(
            "INSERT INTO connections (name, provider, auth_method, base_url, region, workspace_id, workspace_name, \
                 client_id, authorize_url, token_url, client_secret_sealed, access_token_sealed, refresh_token_sealed, \
                 expires_at, status, status_detail, status_changed_at, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', NULL, ?, ?, ?) \
             ON CONFLICT (name) DO UPDATE SET provider = excluded.provider, auth_method = excluded.auth_method, \
                 base_url = excluded.base_url, region = excluded.region, workspace_id = excluded.workspace_id, \
                 workspace_name = excluded.workspace_name, client_id = excluded.client_id, \
                 authorize_url = excluded.authorize_url, token_url = excluded.token_url, \
                 client_secret_sealed = excluded.client_secret_sealed, access_token_sealed = excluded.access_token_sealed, \
                 refresh_token_sealed = excluded.refresh_token_sealed, expires_at = excluded.expires_at, \
                 status = 'active', status_detail = NULL, status_changed_at = excluded.status_changed_at, \
                 updated_at = excluded.updated_at",
        )
        .bind(name)
        .bind(&new.provider)
        .bind(auth_method)
        .bind(new.base_url.as_str())
        .bind(&new.region)
        .bind(&new.workspace_id)
        .bind(&new.workspace_name)
        .bind(new.oauth.as_ref().map(|o| o.client_id.clone()))
        .bind(new.oauth.as_ref().map(|o| o.authorize_url.to_string()))
        .bind(new.oauth.as_ref().map(|o| o.token_url.to_string()))
        .bind(client_secret)
        .bind(access_token)
        .bind(refresh_token)
        .bind(new.expires_at)
        .bind(now)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::info!(connection = %name, provider = %new.provider, auth_method, replace, "connection saved");
        Ok(())
    }

    pub async fn list(&self) -> Result<Vec<ConnectionInfo>, ConnectionError> {
        let rows: Vec<Row> = sqlx::query_as(select_info!("ORDER BY name")).fetch_all(self.store.pool()).await?;
        Ok(rows.into_iter().map(ConnectionInfo::from).collect())
    }

    pub async fn get(&self, name: &str) -> Result<ConnectionInfo, ConnectionError> {
        let row: Option<Row> =
            sqlx::query_as(select_info!("WHERE name = ?")).bind(name).fetch_optional(self.store.pool()).await?;
        match row {
            Some(row) => Ok(row.into()),
            None => Err(self.not_found(name).await),
        }
    }

    async fn not_found(&self, name: &str) -> ConnectionError {
        let known = sqlx::query_scalar("SELECT name FROM connections ORDER BY name")
            .fetch_all(self.store.pool())
            .await
            .unwrap_or_default();
        ConnectionError::NotFound { name: name.to_string(), known }
    }

    /// The connection an invocation runs on: its base URL and decrypted token (which stays inside
    /// [`Connection`]). Refuses a connection that needs re-authorization, so nothing keeps retrying a
    /// revoked token. Records the use.
    pub async fn resolve(&self, name: &str) -> Result<Connection, ConnectionError> {
        let (info, connection) = self.credentials(name).await?;
        if info.status == Status::NeedsReauthorization {
            return Err(ConnectionError::NeedsReauthorization {
                name: info.name.clone(),
                detail: info.status_detail.clone().unwrap_or_else(|| "its token was refused".into()),
                hint: info.reconnect_hint(),
            });
        }
        if let Some(expires_at) = info.expires_at
            && expires_at <= now_unix()
        {
            // No provider with refreshing tokens exists yet; once one does, refresh here.
            self.mark_unauthorized(name, "the access token expired").await?;
            return Err(ConnectionError::NeedsReauthorization {
                name: info.name.clone(),
                detail: "the access token expired".into(),
                hint: info.reconnect_hint(),
            });
        }
        sqlx::query("UPDATE connections SET last_used_at = ? WHERE name = ?")
            .bind(now_unix())
            .bind(name)
            .execute(self.store.pool())
            .await?;
        Ok(connection)
    }

    /// The connection and its credentials whatever its status (for `connections test`).
    pub async fn credentials(&self, name: &str) -> Result<(ConnectionInfo, Connection), ConnectionError> {
        let info = self.get(name).await?;
        let sealed: Vec<u8> = sqlx::query_scalar("SELECT access_token_sealed FROM connections WHERE name = ?")
            .bind(name)
            .fetch_one(self.store.pool())
            .await?;
        let secrets = self.secrets.get().ok_or_else(|| ConnectionError::MissingKey { home: self.home.clone() })?;
        let token = secrets.open_str(&context(name, "access_token"), &sealed).map_err(anyhow::Error::new)?;
        let connection = Connection::new(name, &info.base_url, secrecy::ExposeSecret::expose_secret(&token))?;
        Ok((info, connection))
    }

    /// The OAuth client id and secret a connection was authorized with, to re-authorize it.
    pub async fn oauth_client(&self, name: &str) -> Result<Option<(String, SecretString)>, ConnectionError> {
        let row: Option<(Option<String>, Option<Vec<u8>>)> =
            sqlx::query_as("SELECT client_id, client_secret_sealed FROM connections WHERE name = ?")
                .bind(name)
                .fetch_optional(self.store.pool())
                .await?;
        let Some((Some(client_id), Some(sealed))) = row else { return Ok(None) };
        let secrets = self.secrets.get().ok_or_else(|| ConnectionError::MissingKey { home: self.home.clone() })?;
        let secret = secrets.open_str(&context(name, "client_secret"), &sealed).map_err(anyhow::Error::new)?;
        Ok(Some((client_id, secret)))
    }

    /// Marks a connection as needing re-authorization (after a 401): `list` shows it, and
    /// [`resolve`](Self::resolve) refuses it until it is reconnected. Returns whether it exists.
    pub async fn mark_unauthorized(&self, name: &str, detail: &str) -> Result<bool, ConnectionError> {
        let now = now_unix();
        let done = sqlx::query(
            "UPDATE connections SET status = 'needs_reauthorization', status_detail = ?, status_changed_at = ?, \
             updated_at = ? WHERE name = ?",
        )
        .bind(detail)
        .bind(now)
        .bind(now)
        .bind(name)
        .execute(self.store.pool())
        .await?;
        if done.rows_affected() > 0 {
            tracing::warn!(connection = %name, detail, "connection marked as needing re-authorization");
        }
        Ok(done.rows_affected() > 0)
    }

    /// Marks a connection as working again (its token was accepted).
    pub async fn mark_active(&self, name: &str) -> Result<bool, ConnectionError> {
        let now = now_unix();
        let done = sqlx::query(
            "UPDATE connections SET status = 'active', status_detail = NULL, status_changed_at = ?, updated_at = ?, \
             last_used_at = ? WHERE name = ?",
        )
        .bind(now)
        .bind(now)
        .bind(now)
        .bind(name)
        .execute(self.store.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes a connection and its secrets.
    pub async fn remove(&self, name: &str) -> Result<(), ConnectionError> {
        let done = sqlx::query("DELETE FROM connections WHERE name = ?").bind(name).execute(self.store.pool()).await?;
        if done.rows_affected() == 0 {
            return Err(self.not_found(name).await);
        }
        tracing::info!(connection = %name, "connection removed");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn new(name: &str, token: &str) -> NewConnection {
        NewConnection {
            name: name.into(),
            provider: "intercom".into(),
            base_url: Url::parse("http://127.0.0.1:9").unwrap(),
            region: Some("EU".into()),
            workspace_id: Some("ws1".into()),
            workspace_name: Some("Acme".into()),
            access_token: SecretString::from(token.to_string()),
            refresh_token: None,
            expires_at: None,
            oauth: Some(OAuthClientRecord {
                client_id: "app".into(),
                client_secret: SecretString::from("shh-secret".to_string()),
                authorize_url: Url::parse("http://127.0.0.1:9/oauth").unwrap(),
                token_url: Url::parse("http://127.0.0.1:9/auth/eagle/token").unwrap(),
            }),
        }
    }

    #[tokio::test]
    async fn saves_resolves_marks_and_removes() {
        if std::env::var_os(KEY_ENV).is_some() {
            return; // the test exercises the key file
        }
        let home = tempfile::tempdir().unwrap();
        let store = Store::in_memory().await.unwrap();
        let connections = ConnectionStore::open(store.clone(), home.path()).await.unwrap();
        connections.save(new("acme", "tok_secret_1"), false).await.unwrap();
        assert!(home.path().join(KEY_FILE).exists(), "the key file is created with the first secret");
        assert!(matches!(connections.save(new("acme", "x"), false).await, Err(ConnectionError::AlreadyExists(_))));

        // Nothing in clear text in the table.
        let blobs: Vec<(Vec<u8>, Vec<u8>)> =
            sqlx::query_as("SELECT access_token_sealed, client_secret_sealed FROM connections")
                .fetch_all(store.pool())
                .await
                .unwrap();
        for (token, secret) in blobs {
            assert!(!token.windows(12).any(|w| w == b"tok_secret_1"));
            assert!(!secret.windows(10).any(|w| w == b"shh-secret"));
        }

        let connection = connections.resolve("acme").await.unwrap();
        assert_eq!(connection.name, "acme");
        let info = connections.get("acme").await.unwrap();
        assert!(info.last_used_at.is_some());
        assert_eq!(info.region.as_deref(), Some("EU"));
        let (client_id, secret) = connections.oauth_client("acme").await.unwrap().unwrap();
        assert_eq!((client_id.as_str(), secret.expose_secret()), ("app", "shh-secret"));

        assert!(connections.mark_unauthorized("acme", "401 unauthorized").await.unwrap());
        let error = connections.resolve("acme").await.unwrap_err().to_string();
        assert!(error.contains("needs re-authorization") && error.contains("--client-id app --replace"), "{error}");
        assert_eq!(connections.list().await.unwrap()[0].status, Status::NeedsReauthorization);
        connections.save(new("acme", "tok_secret_2"), true).await.unwrap();
        assert_eq!(connections.get("acme").await.unwrap().status, Status::Active);

        let error = connections.resolve("acne").await.unwrap_err().to_string();
        assert!(error.contains("known: acme"), "{error}");
        connections.remove("acme").await.unwrap();
        assert!(matches!(connections.remove("acme").await, Err(ConnectionError::NotFound { .. })));

        // Reopened with another key: refused before anything is read.
        std::fs::write(home.path().join(KEY_FILE), format!("{}\n", hex::encode([9u8; 32]))).unwrap();
        let error = ConnectionStore::open(store.clone(), home.path()).await.err().unwrap();
        assert!(matches!(error, ConnectionError::WrongKey { .. }), "{error}");
        std::fs::remove_file(home.path().join(KEY_FILE)).unwrap();
        let error = ConnectionStore::open(store, home.path()).await.err().unwrap();
        assert!(matches!(error, ConnectionError::MissingKey { .. }), "{error}");
    }

    #[test]
    fn names_are_plain() {
        assert!(validate_name("acme-eu.2").is_ok());
        assert!(validate_name("").is_err());
        assert!(validate_name("-x").is_err());
        assert!(validate_name("a b").is_err());
        assert!(validate_name(&"a".repeat(65)).is_err());
    }
}
