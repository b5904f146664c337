//! The `switchyard` command line: one module per command group; this one holds the shared options,
//! exit codes and the dispatch.

mod action;
mod bundle;
mod common;
mod connections;
mod prune;
mod runs;
mod subscriptions;
mod trigger;
mod workflow;

pub use action::ActionCommand;
pub use connections::{ConnectCommand, ConnectionsCommand, ResolvedConnection, resolve_connection};
pub use runs::RunsCommand;
pub use workflow::WorkflowCommand;

use crate::runtime::{Limits, Runtime, RuntimeConfig};
use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

/// Run Intercom automations as sandboxed WebAssembly components.
#[derive(Parser, Debug)]
#[command(name = "switchyard", version, about)]
pub struct Cli {
    /// The data directory: the database (connections, workflows, subscriptions, run history), the
    /// installed bundles, the secret key and the component cache. Defaults to $SWITCHYARD_HOME, else
    /// the platform's data directory.
    #[arg(long, global = true, env = "SWITCHYARD_HOME")]
    pub home: Option<PathBuf>,

    #[command(flatten)]
    pub limits: LimitArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Per-invocation limits (see `docs/ARCHITECTURE.md`).
#[derive(Args, Debug)]
pub struct LimitArgs {
    /// Memory a component may use, in MiB.
    #[arg(long, global = true, default_value_t = 64, value_name = "MIB")]
    pub memory_limit: usize,
    /// Wall-clock deadline of one invocation, in seconds.
    #[arg(long, global = true, default_value_t = 10, value_name = "SECONDS")]
    pub deadline: u64,
    /// Largest output accepted from a component, in MiB.
    #[arg(long, global = true, default_value_t = 4, value_name = "MIB")]
    pub output_limit: usize,
    /// Let components reach their bundle's allowed hosts at loopback, private and other non-public
    /// addresses (and loopback over plain http). Off by default: an allowed name can point at the
    /// cloud metadata service or the internal network. The connection's own origin is always reachable.
    #[arg(long, global = true)]
    pub allow_private_egress: bool,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// List, describe and run actions.
    #[command(subcommand)]
    Action(ActionCommand),
    /// Install, list and remove bundles (versions side by side; changes apply without a restart).
    #[command(subcommand)]
    Bundle(bundle::BundleCommand),
    /// Connect a workspace (OAuth 2.0 or an access token) under a name.
    #[command(subcommand)]
    Connect(ConnectCommand),
    /// List, test and remove connections.
    #[command(subcommand)]
    Connections(ConnectionsCommand),
    /// Validate, enable, disable, list and test workflows.
    #[command(subcommand)]
    Workflow(WorkflowCommand),
    /// Run history: list runs, show one step by step, retry a failed one.
    #[command(subcommand)]
    Runs(RunsCommand),
    /// Delete delivered events, finished runs and stopped hosts older than their retention (the
    /// daemon does this every hour); `--dry-run` only counts.
    Prune(prune::PruneArgs),
    /// List polling triggers, run one poll, print samples.
    #[command(subcommand)]
    Trigger(trigger::TriggerCommand),
    /// Add, list and remove trigger subscriptions (polled by `switchyard run`).
    #[command(subcommand)]
    Subscriptions(subscriptions::SubscriptionsCommand),
    /// The daemon: poll every subscription and run the enabled workflows (from the installed bundles)
    /// until SIGTERM or Ctrl-C.
    Run(subscriptions::RunArgs),
}

#[derive(Args, Debug)]
pub struct BundleArg {
    /// The bundle directory (built by `cargo xtask build` into target/bundles/NAME).
    #[arg(long, value_name = "DIR")]
    pub bundle: PathBuf,
}

/// The connection a component runs on: `--connection NAME` (see `switchyard connections`), or for a
/// quick try `--base-url` with the token in $SWITCHYARD_TOKEN (never a flag: the command lines of
/// running processes are visible to every user of the machine). Resolve it with [`resolve_connection`].
#[derive(Args, Debug)]
pub struct ConnectionArgs {
    /// The named connection to run on (see `switchyard connections list`).
    #[arg(long, value_name = "NAME", required_unless_present = "base_url", conflicts_with = "base_url")]
    pub connection: Option<String>,
    /// Quick try without a stored connection: the API base URL, e.g. the emulator's address (https://,
    /// or http:// on loopback only). The token comes from $SWITCHYARD_TOKEN.
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
}

/// Exit codes (their meaning is the error kind's policy, `runtime::error`).
pub use crate::runtime::error::exit;

/// A failure with the exit code it should end the process with.
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub error: anyhow::Error,
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(error: E) -> Self {
        Failure { code: exit::INVALID_INPUT, error: error.into() }
    }
}

/// The data directory: `--home`/`$SWITCHYARD_HOME`, else the platform's.
pub fn home_dir(home: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(home) = home {
        return Ok(home);
    }
    let dirs = directories::ProjectDirs::from("dev", "switchyard", "switchyard")
        .context("no home directory found; set SWITCHYARD_HOME")?;
    Ok(dirs.data_dir().to_path_buf())
}

impl LimitArgs {
    pub fn limits(&self) -> Limits {
        Limits {
            memory_bytes: self.memory_limit << 20,
            deadline: Duration::from_secs(self.deadline),
            output_bytes: self.output_limit << 20,
            http: crate::http::HttpLimits { allow_private_egress: self.allow_private_egress, ..Default::default() },
            ..Limits::default()
        }
    }
}

pub async fn run(cli: Cli) -> Result<(), Failure> {
    let home = home_dir(cli.home)?;
    let runtime = Runtime::new(RuntimeConfig { limits: cli.limits.limits(), cache_dir: home.join("cache") })
        .map_err(|error| Failure { code: exit::INTERNAL, error })?;
    let runtime = std::sync::Arc::new(runtime);
    match cli.command {
        Command::Action(command) => action::run(&runtime, &home, command).await,
        Command::Bundle(command) => bundle::run(&runtime, &home, command).await,
        Command::Connect(command) => connections::connect(&home, command).await,
        Command::Connections(command) => connections::connections(&home, command).await,
        Command::Workflow(command) => workflow::run(&runtime, &home, command).await,
        Command::Runs(command) => runs::run(&runtime, &home, command).await,
        Command::Prune(args) => prune::run(&home, args).await,
        Command::Trigger(command) => trigger::run(&runtime, &home, command).await,
        Command::Subscriptions(command) => subscriptions::run(&runtime, &home, command).await,
        Command::Run(args) => subscriptions::serve(runtime.clone(), &home, args).await,
    }
}
