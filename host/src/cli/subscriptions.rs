//! `switchyard subscriptions add|list|remove` and `switchyard run`: durable trigger subscriptions, and
//! the daemon that polls them and runs the enabled workflows (built by [`crate::service`]).

use super::{BundleArg, Failure, exit};
use crate::auth::ConnectionStore;
use crate::auth::urls::check_endpoint_url;
use crate::runtime::state::escape_guest_text;
use crate::runtime::{PollInput, Runtime};
use crate::scheduler::{self, SchedulerConfig};
use crate::service::{ComponentSource, Service, ServiceConfig};
use crate::store::Store;
use crate::store::triggers::{ConnectionRef, NewSubscription, Triggers};
use anyhow::{Context, anyhow};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Subcommand, Debug)]
pub enum SubscriptionsCommand {
    /// Subscribe to a trigger. Runs the first poll right away, which sets the watermark to now (or
    /// `--backfill-days` back) and shows any error (bad settings, refused credentials) before anything
    /// is stored. `switchyard run` then polls it.
    Add {
        /// The trigger key, e.g. intercom/new-ticket.
        key: String,
        #[command(flatten)]
        bundle: BundleArg,
        #[command(flatten)]
        connection: SubscriptionConnection,
        /// Seconds between polls.
        #[arg(long, value_name = "SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..))]
        interval: u32,
        /// The trigger's settings, a JSON object (see `switchyard action describe KEY`).
        #[arg(long, value_name = "JSON", default_value = "{}")]
        settings: String,
        /// Also report what changed in the last N days (default: only changes from now on).
        #[arg(long, value_name = "DAYS")]
        backfill_days: Option<u32>,
    },
    /// List subscriptions with their polling state.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Remove a subscription with its cursor; the events it produced stay in the outbox.
    Remove {
        /// The subscription id (see `switchyard subscriptions list`).
        id: i64,
    },
}

/// The connection a subscription polls through.
#[derive(Args, Debug)]
pub struct SubscriptionConnection {
    /// A named connection (see `switchyard connections list`).
    #[arg(long, value_name = "NAME", required_unless_present = "base_url", conflicts_with = "base_url")]
    pub connection: Option<String>,
    /// Without a named connection: the API base URL, e.g. the emulator's address (https://, or
    /// http:// on loopback only).
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// With --base-url: the environment variable that holds the token when the scheduler runs
    /// (the token itself is never stored).
    #[arg(long, value_name = "VAR", default_value = "SWITCHYARD_TOKEN")]
    pub token_env: String,
}

/// `switchyard run`: the daemon, until SIGTERM or Ctrl-C.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// Development override: run the components of these bundle directories instead of the installed
    /// bundles (repeatable). Without it the daemon runs what `switchyard bundle install` installed and
    /// picks up installs and removals while it runs.
    #[arg(long = "bundle", value_name = "DIR")]
    pub bundles: Vec<PathBuf>,
    /// The most pages one poll may read before it continues in the next.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub page_budget: u32,
    /// Polls running at once.
    #[arg(long, value_name = "N", default_value_t = 32)]
    pub max_concurrent_polls: usize,
    /// Workflow runs executing at once.
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub max_runs: usize,
    /// Seconds a run stays held by this host without a heartbeat (renewed every third of it). Another
    /// host takes over the runs of one that died once their lease has expired.
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub lease: u64,
}

fn failure(code: i32, error: anyhow::Error) -> Failure {
    Failure { code, error }
}

pub async fn run(runtime: &Runtime, home: &Path, command: SubscriptionsCommand) -> Result<(), Failure> {
    let store = Store::open(home).await.map_err(|e| failure(exit::INTERNAL, e))?;
    let triggers = Triggers::new(&store);
    match command {
        SubscriptionsCommand::Add { key, bundle, connection, interval, settings, backfill_days } => {
            let mut settings: Value =
                serde_json::from_str(&settings).map_err(|e| anyhow!("--settings is not JSON: {e}"))?;
            let Some(object) = settings.as_object_mut() else {
                return Err(anyhow!("--settings must be a JSON object, like {{\"lag_seconds\": 600}}").into());
            };
            if let Some(days) = backfill_days {
                object.insert("backfill_days".into(), json!(days));
            }
            let connection = match (connection.connection, connection.base_url) {
                (Some(name), _) => ConnectionRef::Named(name),
                (None, Some(base_url)) => {
                    check_endpoint_url("--base-url", &base_url)?;
                    ConnectionRef::Inline { base_url, token_env: connection.token_env }
                }
                (None, None) => return Err(anyhow!("give --connection NAME or --base-url URL").into()),
            };
            let bundle = super::bundle::load_dir(runtime, &bundle.bundle, home).await?;
            let component = super::trigger::trigger(&bundle, &key)?;
            let resolved = match &connection {
                ConnectionRef::Named(name) => {
                    let connections = ConnectionStore::open(store.clone(), home).await?;
                    connections.resolve(name).await.map_err(|e| anyhow!("connection {name:?}: {e}"))?
                }
                inline => scheduler::resolve_inline(inline)?,
            };
            let new = NewSubscription { trigger_key: key.clone(), connection, interval_secs: interval, settings };
            // The first poll: an error is shown now instead of failing silently in the background.
            let now = super::trigger::unix_now();
            let settings_text = new.settings.to_string();
            let input = PollInput { cursor: None, now, page_budget: 10, settings: &settings_text };
            let result = runtime
                .poll_trigger(component, Some(&resolved), input)
                .await
                .map_err(|error| failure(error.exit_code(), anyhow!("{key}: first poll failed: {error}")))?;
            let id = triggers.add(&new, now as i64).await.map_err(|e| failure(exit::INTERNAL, e))?;
            let (subscription, state) = triggers
                .get(id)
                .await
                .and_then(|s| s.context("the subscription vanished"))
                .map_err(|e| failure(exit::INTERNAL, e))?;
            let committed = triggers
                .commit_poll(&subscription, state.version, &result, now as i64)
                .await
                .map_err(|e| failure(exit::INTERNAL, e))?;
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({
                    "id": id,
                    "trigger": key,
                    "interval_secs": interval,
                    "first_poll": { "events": committed.emitted, "backlog": result.backlog },
                }))
                .context("printing")?
            );
            Ok(())
        }
        SubscriptionsCommand::List { json } => {
            let listed = triggers.list().await.map_err(|e| failure(exit::INTERNAL, e))?;
            if json {
                let rows: Vec<_> = listed
                    .iter()
                    .map(|(s, t)| {
                        json!({
                            "id": s.id, "trigger": s.trigger_key, "connection": s.connection,
                            "interval_secs": s.interval_secs, "enabled": s.enabled,
                            "settings": serde_json::from_str::<Value>(&s.settings).unwrap_or(Value::Null),
                            "polls": t.polls, "events": t.events, "failures": t.failures, "backlog": t.backlog,
                            "last_poll_at": t.last_poll_at, "last_success_at": t.last_success_at,
                            "last_error": t.last_error,
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows).context("printing")?);
            } else {
                println!(
                    "{:<5} {:<34} {:<24} {:>8} {:>7} {:>7} {:>8}  LAST ERROR",
                    "ID", "TRIGGER", "CONNECTION", "INTERVAL", "POLLS", "EVENTS", "FAILURES"
                );
                for (s, t) in &listed {
                    let connection = match &s.connection {
                        ConnectionRef::Named(name) => name.clone(),
                        ConnectionRef::Inline { base_url, .. } => base_url.clone(),
                    };
                    println!(
                        "{:<5} {:<34} {:<24} {:>7}s {:>7} {:>7} {:>8}  {}",
                        s.id,
                        s.trigger_key,
                        connection,
                        s.interval_secs,
                        t.polls,
                        t.events,
                        t.failures,
                        t.last_error.as_deref().map(escape_guest_text).unwrap_or_else(|| "-".into())
                    );
                }
            }
            Ok(())
        }
        SubscriptionsCommand::Remove { id } => {
            if !triggers.remove(id).await.map_err(|e| failure(exit::INTERNAL, e))? {
                return Err(failure(
                    exit::NOT_FOUND,
                    anyhow!("no subscription {id}; `switchyard subscriptions list` shows them"),
                ));
            }
            println!("removed subscription {id}");
            Ok(())
        }
    }
}

/// `switchyard run`: the daemon ([`crate::service`]) until SIGTERM or Ctrl-C.
pub async fn serve(runtime: Arc<Runtime>, home: &Path, args: RunArgs) -> Result<(), Failure> {
    let mut config = ServiceConfig::new(home.to_path_buf());
    config.bundles = args.bundles;
    config.scheduler = SchedulerConfig {
        page_budget: args.page_budget.max(1),
        max_concurrent_polls: args.max_concurrent_polls.max(1),
        ..SchedulerConfig::default()
    };
    config.max_runs_in_flight = args.max_runs.max(1);
    config.lease = std::time::Duration::from_secs(args.lease);
    let service = Service::start(runtime, config).await.map_err(|e| failure(exit::INTERNAL, e))?;
    let source = match service.components() {
        ComponentSource::Installed(_) => "the installed bundles",
        ComponentSource::Directories(_) => "the given bundle directories",
    };
    eprintln!(
        "switchyard: host {} polling subscriptions and running workflows from {source}; stop with Ctrl-C or SIGTERM",
        service.host_id()
    );
    wait_for_stop().await.map_err(|e| failure(exit::INTERNAL, e))?;
    eprintln!("switchyard: stopping; letting polls and steps in flight finish");
    service.shutdown().await.map_err(|e| failure(exit::INTERNAL, e))?;
    Ok(())
}

async fn wait_for_stop() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("listening for SIGTERM")?;
        tokio::select! {
            _ = term.recv() => {}
            result = tokio::signal::ctrl_c() => result.context("listening for Ctrl-C")?,
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await.context("listening for Ctrl-C")?;
    Ok(())
}
