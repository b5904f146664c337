//! `switchyard connect intercom ...` and `switchyard connections list|test|remove`, plus the resolver
//! every command that runs a component uses to turn `--connection NAME` (or `--base-url` with
//! $SWITCHYARD_TOKEN) into the connection it runs on.

use super::{ConnectionArgs, Failure, exit};
use crate::auth::intercom::{self, IdentifyError, Region};
use crate::auth::oauth::{self, OAuthApp};
use crate::auth::store::{now_unix, validate_name};
use crate::auth::urls::check_endpoint_url;
use crate::auth::{ConnectionError, ConnectionInfo, ConnectionStore, NewConnection, OAuthClientRecord};
use crate::http::Connection;
use crate::runtime::InvocationError;
use anyhow::{Context, anyhow};
use clap::{Args, Subcommand};
use secrecy::SecretString;
use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};
use url::Url;

/// Where the client secret of an OAuth app is read from (never a flag: flags land in shell history).
pub const CLIENT_SECRET_ENV: &str = "SWITCHYARD_CLIENT_SECRET";

/// Where the token of a quick try with `--base-url` is read from (never a flag: the command line of
/// a running process is visible to every user of the machine, e.g. in `ps`).
pub const TOKEN_ENV: &str = "SWITCHYARD_TOKEN";

/// A fixed default, so the redirect URL can be registered on the app once.
pub const DEFAULT_CALLBACK_PORT: u16 = 47615;

#[derive(Subcommand, Debug)]
pub enum ConnectCommand {
    /// Connect an Intercom workspace: OAuth 2.0 with your app's client id (public apps), or a
    /// workspace access token (private apps).
    Intercom(ConnectIntercom),
}

#[derive(Args, Debug)]
pub struct ConnectIntercom {
    /// The connection's name; commands then run on it with `--connection NAME`.
    #[arg(long, value_name = "NAME")]
    pub name: String,
    /// OAuth: your Intercom app's client id. The client secret comes from $SWITCHYARD_CLIENT_SECRET,
    /// else a prompt.
    #[arg(long, value_name = "ID", required_unless_present = "access_token_env", conflicts_with = "access_token_env")]
    pub client_id: Option<String>,
    /// Private app: the name of the environment variable holding the workspace access token
    /// (Developer Hub > Configure > Authentication).
    #[arg(long, value_name = "VAR")]
    pub access_token_env: Option<String>,
    /// The workspace's region: picks the authorize and token URLs. The API URL then follows the region
    /// that `GET /me` reports.
    #[arg(long, value_enum, default_value = "us")]
    pub region: Region,
    /// Override the authorize URL (default: the region's, e.g. https://app.intercom.com/oauth).
    #[arg(long, value_name = "URL", requires = "client_id")]
    pub authorize_url: Option<Url>,
    /// Override the token URL (default: the region's, e.g. https://api.intercom.io/auth/eagle/token).
    #[arg(long, value_name = "URL", requires = "client_id")]
    pub token_url: Option<Url>,
    /// Override the API base URL (default: by the workspace's region), e.g. the emulator's address.
    /// Every URL override must be https://, or http:// on loopback (127.0.0.0/8, [::1], localhost).
    #[arg(long, value_name = "URL")]
    pub base_url: Option<Url>,
    /// Port of the loopback callback. Register http://127.0.0.1:PORT/callback as a redirect URL on
    /// the app; 0 picks any free port.
    #[arg(long, value_name = "PORT", default_value_t = DEFAULT_CALLBACK_PORT)]
    pub callback_port: u16,
    /// Only print the authorize URL; do not try to open a browser.
    #[arg(long)]
    pub no_browser: bool,
    /// How long to wait for the authorization, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub timeout: u64,
    /// Re-authorize (replace the credentials of) an existing connection with this name.
    #[arg(long)]
    pub replace: bool,
}

#[derive(Subcommand, Debug)]
pub enum ConnectionsCommand {
    /// List connections: name, workspace, region, created, last used, status. Never the tokens.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Check that a connection's token still works (calls `GET /me`).
    Test {
        /// The connection's name.
        name: String,
    },
    /// Delete a connection and its secrets.
    Remove {
        /// The connection's name.
        name: String,
    },
}

/// The exit code and message for a connection error.
pub fn failure(error: ConnectionError) -> Failure {
    let code = match &error {
        ConnectionError::NeedsReauthorization { .. } => exit::AUTH,
        ConnectionError::Other(_) => exit::INTERNAL,
        _ => exit::INVALID_INPUT,
    };
    Failure { code, error: error.into() }
}

fn usage(message: impl Into<String>) -> Failure {
    Failure { code: exit::INVALID_INPUT, error: anyhow!(message.into()) }
}

/// The connection a command runs on, and what to do when the invocation is refused.
pub struct ResolvedConnection {
    pub connection: Connection,
    /// Set for a named connection.
    store: Option<ConnectionStore>,
}

impl ResolvedConnection {
    /// The stored connection's name, `None` for a quick try with `--base-url` and $SWITCHYARD_TOKEN.
    pub fn name(&self) -> Option<&str> {
        self.store.as_ref().map(|_| self.connection.name.as_str())
    }

    /// Call with an invocation's error: a 401 on a named connection marks it as needing
    /// re-authorization (so nothing retries a revoked token forever). Returns a sentence to add to
    /// the error message, if anything was marked.
    pub async fn observe(&self, error: &InvocationError) -> Option<String> {
        // Only a 401 the host itself saw from the connection's origin, not a component's say-so.
        let (Some(store), Some(message)) = (&self.store, error.credentials_refused()) else {
            return None;
        };
        let name = &self.connection.name;
        match store.mark_unauthorized(name, &format!("a request was refused with 401: {message}")).await {
            Ok(true) => {
                let hint = match store.get(name).await {
                    Ok(info) => info.reconnect_hint(),
                    Err(_) => format!("reconnect it with `switchyard connect intercom --name {name} ... --replace`"),
                };
                Some(format!("connection `{name}` now needs re-authorization; {hint}"))
            }
            Ok(false) => None,
            Err(e) => {
                tracing::warn!(connection = %name, error = %e, "could not mark the connection as unauthorized");
                None
            }
        }
    }
}

/// The token of a quick try with `--base-url`: $SWITCHYARD_TOKEN, else a usage error (exit 2).
pub fn quick_try_token() -> Result<String, Failure> {
    match std::env::var(TOKEN_ENV) {
        Ok(token) if !token.trim().is_empty() => Ok(token.trim().to_string()),
        _ => Err(usage(format!(
            "--base-url needs a token: set ${TOKEN_ENV} (it is never taken as a flag: command lines are visible \
             in `ps`), or use --connection NAME"
        ))),
    }
}

/// Resolves `--connection NAME` through the connections in `home`, or builds a one-off connection
/// from `--base-url` and $SWITCHYARD_TOKEN. The store is only opened for a named connection.
pub async fn resolve_connection(args: &ConnectionArgs, home: &Path) -> Result<ResolvedConnection, Failure> {
    match (&args.connection, &args.base_url) {
        (Some(name), _) => {
            let store = ConnectionStore::open_home(home).await.map_err(failure)?;
            let connection = store.resolve(name).await.map_err(failure)?;
            Ok(ResolvedConnection { connection, store: Some(store) })
        }
        (None, Some(base_url)) => {
            check_endpoint_url("--base-url", base_url)?;
            let token = quick_try_token()?;
            let connection = Connection::new("cli", base_url, token)?;
            Ok(ResolvedConnection { connection, store: None })
        }
        (None, None) => Err(usage(
            "no connection: pass --connection NAME (see `switchyard connections list`), or --base-url with $SWITCHYARD_TOKEN for a quick try",
        )),
    }
}

pub async fn connect(home: &Path, command: ConnectCommand) -> Result<(), Failure> {
    let ConnectCommand::Intercom(args) = command;
    // Before anything is asked or sent: the code, the client secret and the token only travel over
    // https (or to this machine).
    for (flag, url) in
        [("--authorize-url", &args.authorize_url), ("--token-url", &args.token_url), ("--base-url", &args.base_url)]
    {
        if let Some(url) = url {
            check_endpoint_url(flag, url.as_str())?;
        }
    }
    validate_name(&args.name).map_err(failure)?;
    // Open (and check the key of) the store before asking anything of the user.
    let store = ConnectionStore::open_home(home).await.map_err(failure)?;
    let existing = match store.get(&args.name).await {
        Ok(info) => Some(info),
        Err(ConnectionError::NotFound { .. }) => None,
        Err(e) => return Err(failure(e)),
    };
    if existing.is_some() && !args.replace {
        return Err(failure(ConnectionError::AlreadyExists(args.name.clone())));
    }
    match (&args.client_id, &args.access_token_env) {
        (Some(client_id), _) => connect_oauth(&store, &args, client_id).await,
        (None, Some(var)) => connect_access_token(&store, &args, var).await,
        (None, None) => Err(usage("pass --client-id ID (OAuth) or --access-token-env VAR (access token)")),
    }
}

async fn connect_oauth(store: &ConnectionStore, args: &ConnectIntercom, client_id: &str) -> Result<(), Failure> {
    let client_secret = client_secret(store, args, client_id).await?;
    let app = OAuthApp {
        client_id: client_id.to_string(),
        client_secret: client_secret.clone(),
        authorize_url: args.authorize_url.clone().unwrap_or_else(|| args.region.authorize_url()),
        token_url: args.token_url.clone().unwrap_or_else(|| args.region.token_url()),
    };
    let pending =
        oauth::begin(&app, args.callback_port).await.map_err(|error| Failure { code: exit::INVALID_INPUT, error })?;
    eprintln!("Redirect URL (must be registered on the Intercom app): {}", pending.redirect_uri());
    eprintln!("Authorize switchyard in the browser: {}", pending.authorize_url());
    if !args.no_browser
        && browser_available()
        && let Err(error) = open_browser(pending.authorize_url().as_str())
    {
        eprintln!("(could not open a browser: {error}; open the URL yourself)");
    }
    eprintln!("Waiting for the authorization (at most {} s)...", args.timeout);
    let tokens = pending
        .complete(Duration::from_secs(args.timeout))
        .await
        .map_err(|error| Failure { code: exit::AUTH, error })?;

    let api = args.base_url.clone().unwrap_or_else(|| args.region.api_base_url());
    let (workspace, base_url) = identify(&args.name, &api, &tokens.access_token, args.base_url.is_some()).await?;
    let new = NewConnection {
        name: args.name.clone(),
        provider: intercom::PROVIDER.into(),
        base_url: base_url.clone(),
        region: workspace.region.clone(),
        workspace_id: Some(workspace.id.clone()),
        workspace_name: Some(workspace.name.clone()),
        access_token: tokens.access_token,
        refresh_token: tokens.refresh_token,
        expires_at: tokens.expires_in.map(|d| now_unix() + d.as_secs() as i64),
        oauth: Some(OAuthClientRecord {
            client_id: client_id.to_string(),
            client_secret,
            authorize_url: app.authorize_url,
            token_url: app.token_url,
        }),
    };
    store.save(new, args.replace).await.map_err(failure)?;
    println!("{}", connected_line(&args.name, &workspace, &base_url));
    Ok(())
}

/// $SWITCHYARD_CLIENT_SECRET, else the stored secret when re-authorizing with the same app, else a
/// prompt that does not echo.
async fn client_secret(
    store: &ConnectionStore,
    args: &ConnectIntercom,
    client_id: &str,
) -> Result<SecretString, Failure> {
    if let Ok(secret) = std::env::var(CLIENT_SECRET_ENV)
        && !secret.is_empty()
    {
        return Ok(SecretString::from(secret));
    }
    if args.replace
        && let Some((stored_id, secret)) = store.oauth_client(&args.name).await.map_err(failure)?
        && stored_id == client_id
    {
        return Ok(secret);
    }
    if std::io::stdin().is_terminal() {
        let secret = rpassword::prompt_password(format!("Client secret of Intercom app {client_id}: "))
            .context("reading the client secret")?;
        if !secret.is_empty() {
            return Ok(SecretString::from(secret));
        }
    }
    Err(usage(format!(
        "the client secret is missing: set ${CLIENT_SECRET_ENV} or run in a terminal to be prompted (it is never taken as a flag)"
    )))
}

async fn connect_access_token(store: &ConnectionStore, args: &ConnectIntercom, var: &str) -> Result<(), Failure> {
    let token = match std::env::var(var) {
        Ok(token) if !token.trim().is_empty() => SecretString::from(token.trim().to_string()),
        _ => {
            return Err(usage(format!(
                "the environment variable {var} named by --access-token-env is not set or empty: it should hold the \
                 workspace access token (Developer Hub > Configure > Authentication)"
            )));
        }
    };
    let api = args.base_url.clone().unwrap_or_else(|| args.region.api_base_url());
    let (workspace, base_url) = identify(&args.name, &api, &token, args.base_url.is_some()).await?;
    let new = NewConnection {
        name: args.name.clone(),
        provider: intercom::PROVIDER.into(),
        base_url: base_url.clone(),
        region: workspace.region.clone(),
        workspace_id: Some(workspace.id.clone()),
        workspace_name: Some(workspace.name.clone()),
        access_token: token,
        refresh_token: None,
        expires_at: None,
        oauth: None,
    };
    store.save(new, args.replace).await.map_err(failure)?;
    println!("{}", connected_line(&args.name, &workspace, &base_url));
    Ok(())
}

/// Asks `GET /me` which workspace the token belongs to; the base URL is the override if given, else
/// the workspace region's API host.
async fn identify(
    name: &str,
    api: &Url,
    token: &SecretString,
    overridden: bool,
) -> Result<(intercom::Workspace, Url), Failure> {
    let connection = Connection::new(name, api.as_str(), secrecy::ExposeSecret::expose_secret(token))?;
    let workspace = intercom::identify(&connection).await.map_err(|e| match e {
        IdentifyError::Unauthorized { .. } => Failure { code: exit::AUTH, error: anyhow!("{e}; nothing was stored") },
        IdentifyError::Other(_) => Failure { code: exit::UPSTREAM, error: anyhow!("{e}; nothing was stored") },
    })?;
    let base_url = if overridden { api.clone() } else { workspace.api_base_url(api) };
    Ok((workspace, base_url))
}

fn connected_line(name: &str, workspace: &intercom::Workspace, base_url: &Url) -> String {
    format!(
        "Connected `{name}` to Intercom workspace \"{}\" (id {}, region {}); API base URL {}",
        workspace.name,
        workspace.id,
        workspace.region.as_deref().unwrap_or("unknown"),
        base_url.as_str().trim_end_matches('/')
    )
}

/// Opens `url` in the user's browser without handing it any `SWITCHYARD_*` variable: the client
/// secret may be in $SWITCHYARD_CLIENT_SECRET, a token in $SWITCHYARD_TOKEN, and a browser started
/// here would keep them (and pass them to whatever it starts) long after this command ended.
///
/// The `webbrowser` crate cannot be given an environment, and removing the variables from this
/// process first (`std::env::remove_var`) is not sound here: the tokio runtime's threads run (the
/// callback server among them) and may read the environment at the same time. So where the opener
/// is a child process we choose (Linux and the other freedesktop unixes) it is started here, the way
/// `webbrowser` does it ($BROWSER, else `xdg-open`), with every `SWITCHYARD_*` variable removed from
/// its environment. On macOS `webbrowser` asks LaunchServices, which starts the browser from launchd
/// rather than as a child of this process, so it inherits nothing. On Windows `webbrowser` calls
/// ShellExecute, whose new process does inherit this environment: keep the client secret out of the
/// environment there (the no-echo prompt asks for it when $SWITCHYARD_CLIENT_SECRET is unset).
#[cfg(all(unix, not(any(target_os = "macos", target_os = "ios"))))]
fn open_browser(url: &str) -> std::io::Result<()> {
    let mut candidates: Vec<Vec<String>> = std::env::var("BROWSER")
        .unwrap_or_default()
        .split(':')
        .filter(|entry| !entry.trim().is_empty())
        .map(|entry| browser_command_line(entry, url))
        .collect();
    candidates.push(vec!["xdg-open".into(), url.into()]);
    let mut last_error = None;
    for argv in candidates {
        match opener_command(&argv).spawn() {
            Ok(mut child) => {
                // Reaped in the background: `xdg-open` returns at once, a browser may run for long.
                std::thread::spawn(move || child.wait());
                return Ok(());
            }
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(|| std::io::Error::other("no browser command")))
}

#[cfg(not(all(unix, not(any(target_os = "macos", target_os = "ios")))))]
fn open_browser(url: &str) -> std::io::Result<()> {
    webbrowser::open(url)
}

/// One entry of $BROWSER as a command line, read as `webbrowser` and Python's `webbrowser` read it:
/// `%s` stands for the URL, else the URL is appended.
#[cfg_attr(any(not(unix), target_os = "macos", target_os = "ios"), allow(dead_code))]
fn browser_command_line(entry: &str, url: &str) -> Vec<String> {
    let mut has_url = false;
    let mut argv: Vec<String> = entry
        .split_ascii_whitespace()
        .map(|word| {
            has_url |= word.contains("%s");
            word.replace("%s", url)
        })
        .collect();
    if !has_url {
        argv.push(url.to_string());
    }
    argv
}

/// The browser opener: detached from the terminal, with this process's environment minus every
/// `SWITCHYARD_*` variable.
#[cfg_attr(any(not(unix), target_os = "macos", target_os = "ios"), allow(dead_code))]
fn opener_command(argv: &[String]) -> std::process::Command {
    let mut command = std::process::Command::new(&argv[0]);
    command
        .args(&argv[1..])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SWITCHYARD_") {
            command.env_remove(name);
        }
    }
    command
}

/// Only where a graphical browser can open: elsewhere the opener may start a text browser that
/// takes over the terminal.
fn browser_available() -> bool {
    if cfg!(any(target_os = "macos", target_os = "windows")) {
        return true;
    }
    std::env::var_os("BROWSER").is_some()
        || std::env::var_os("DISPLAY").is_some()
        || std::env::var_os("WAYLAND_DISPLAY").is_some()
}

pub async fn connections(home: &Path, command: ConnectionsCommand) -> Result<(), Failure> {
    let store = ConnectionStore::open_home(home).await.map_err(failure)?;
    match command {
        ConnectionsCommand::List { json } => {
            let list = store.list().await.map_err(failure)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list).context("printing")?);
            } else if list.is_empty() {
                println!("No connections yet: create one with `switchyard connect intercom --name NAME ...`.");
            } else {
                print_table(&list);
            }
            Ok(())
        }
        ConnectionsCommand::Test { name } => test(&store, &name).await,
        ConnectionsCommand::Remove { name } => {
            store.remove(&name).await.map_err(failure)?;
            println!("Removed connection `{name}` and its secrets.");
            Ok(())
        }
    }
}

async fn test(store: &ConnectionStore, name: &str) -> Result<(), Failure> {
    let (info, connection) = store.credentials(name).await.map_err(failure)?;
    match intercom::identify(&connection).await {
        Ok(workspace) => {
            store.mark_active(name).await.map_err(failure)?;
            println!(
                "`{name}` works: the token is accepted by workspace \"{}\" (id {}, region {}) at {}",
                workspace.name,
                workspace.id,
                workspace.region.as_deref().unwrap_or("unknown"),
                info.base_url.trim_end_matches('/')
            );
            Ok(())
        }
        Err(error @ IdentifyError::Unauthorized { .. }) => {
            store.mark_unauthorized(name, &error.to_string()).await.map_err(failure)?;
            Err(Failure {
                code: exit::AUTH,
                error: anyhow!(
                    "`{name}` does not work: {error}; it is now marked as needing re-authorization: {}",
                    info.reconnect_hint()
                ),
            })
        }
        Err(error) => Err(Failure {
            code: exit::UPSTREAM,
            error: anyhow!("`{name}` could not be checked (its status is unchanged): {error}"),
        }),
    }
}

fn print_table(list: &[ConnectionInfo]) {
    let rows: Vec<[String; 6]> = list
        .iter()
        .map(|c| {
            let workspace = match (&c.workspace_name, &c.workspace_id) {
                (Some(name), Some(id)) => format!("{name} ({id})"),
                (None, Some(id)) => id.clone(),
                _ => "-".into(),
            };
            [
                c.name.clone(),
                workspace,
                c.region.clone().unwrap_or_else(|| "-".into()),
                timestamp(Some(c.created_at)),
                timestamp(c.last_used_at),
                c.status.label().to_string(),
            ]
        })
        .collect();
    let header = ["NAME", "WORKSPACE", "REGION", "CREATED", "LAST USED", "STATUS"];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &[&str]| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        text
    };
    println!("{}", line(&header));
    for row in &rows {
        println!("{}", line(&row.each_ref().map(String::as_str)));
    }
}

/// UTC, to the minute; "never" for a connection not used yet.
fn timestamp(unix: Option<i64>) -> String {
    match unix {
        Some(secs) if secs >= 0 => {
            let text = humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs as u64)).to_string();
            // 2026-11-26T07:38:36Z -> 2026-11-26 07:38Z
            format!("{} {}Z", &text[..10], &text[11..16])
        }
        _ => "never".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browser_entries_take_the_url_where_they_say() {
        let url = "https://app.intercom.com/oauth?client_id=a&state=b";
        assert_eq!(browser_command_line("firefox", url), ["firefox", url]);
        assert_eq!(browser_command_line("  firefox   --new-tab ", url), ["firefox", "--new-tab", url]);
        assert_eq!(
            browser_command_line("open-it --url=%s --quiet", url),
            ["open-it", &format!("--url={url}"), "--quiet"]
        );
    }

    #[test]
    fn the_opener_keeps_the_environment_but_drops_switchyard_variables() {
        let command = opener_command(&["xdg-open".into(), "https://example.com/".into()]);
        let removed: Vec<String> = command
            .get_envs()
            .filter(|(_, value)| value.is_none())
            .map(|(name, _)| name.to_string_lossy().into_owned())
            .collect();
        let present: Vec<String> = std::env::vars_os()
            .map(|(n, _)| n.to_string_lossy().into_owned())
            .filter(|n| n.starts_with("SWITCHYARD_"))
            .collect();
        assert_eq!(removed.len(), present.len(), "{removed:?} vs {present:?}");
        assert!(removed.iter().all(|n| n.starts_with("SWITCHYARD_")), "{removed:?}");
        assert!(command.get_envs().all(|(_, value)| value.is_none()), "nothing is added");
    }
}
