//! `switchyard runs ...`: run history, a readable per-step view, retrying a run and skipping a step.

use super::Failure;
use super::common::{
    OptionalConnection, failure_for_run, load_components, open_store, print_run, require, run_duration, time, truncate,
};
use crate::runtime::Runtime;
use crate::runtime::state::escape_guest_text;
use crate::store::Store;
use crate::workflow::executor::{Executor, Options};
use crate::workflow::records::{self, RunFilter, RunId, RunStatus};
use crate::workflow::runner::{retry_run, skip_step};
use anyhow::{Context, anyhow};
use clap::{Args, Subcommand};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Subcommand, Debug)]
pub enum RunsCommand {
    /// List recent runs, newest first.
    List {
        /// Only the runs of this workflow.
        #[arg(long, value_name = "NAME")]
        workflow: Option<String>,
        /// Only runs that failed, need attention, or were interrupted and wait to be resumed.
        #[arg(long)]
        failed: bool,
        /// How many runs to show.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one run step by step: what each step received, sent and returned.
    Show {
        id: RunId,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Re-run a failed, interrupted or attention-needing run from the step that did not finish; the
    /// steps that succeeded are not repeated. A write whose outcome was unknown is SENT AGAIN: check
    /// in Intercom first that it did not take effect (else use `runs skip`).
    Retry {
        id: RunId,
        #[command(flatten)]
        with: RunWith,
    },
    /// Mark the step that stopped a run (a write whose outcome is unknown, or a failed step) as done
    /// without sending it, and run the rest. Later steps see `--output` as its output (default: none).
    Skip {
        id: RunId,
        /// The step's output as later steps should see it, a JSON value (e.g. the ticket you found in
        /// Intercom: '{"id": "123"}').
        #[arg(long, value_name = "JSON")]
        output: Option<String>,
        #[command(flatten)]
        with: RunWith,
    },
}

/// What a run continued from the command line executes with.
#[derive(Args, Debug)]
pub struct RunWith {
    /// The bundle with the workflow's components (default: the installed bundles).
    #[arg(long, value_name = "DIR")]
    bundle: Option<PathBuf>,
    #[command(flatten)]
    connection: OptionalConnection,
}

pub async fn run(runtime: &Arc<Runtime>, home: &Path, command: RunsCommand) -> Result<(), Failure> {
    let store = open_store(home).await?;
    match command {
        RunsCommand::List { workflow, failed, limit, json } => {
            let runs = records::list_runs(&store, &RunFilter { workflow, failed_only: failed, limit }).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&runs).context("printing")?);
                return Ok(());
            }
            if runs.is_empty() {
                println!("no matching runs");
                return Ok(());
            }
            println!(
                "{:<6} {:<28} {:<15} {:<20} {:<9} {:<40} ERROR",
                "ID", "WORKFLOW", "STATUS", "STARTED", "DURATION", "EVENT"
            );
            for run in &runs {
                let error = match (&run.failed_step, &run.error) {
                    (Some(step), Some(error)) => format!("[{step}] {error}"),
                    (None, Some(error)) => error.clone(),
                    _ => "-".into(),
                };
                println!(
                    "{:<6} {:<28} {:<15} {:<20} {:<9} {:<40} {}",
                    run.id,
                    truncate(&run.workflow, 28),
                    run.status.as_str(),
                    run.started_at.map(time).unwrap_or_else(|| "-".into()),
                    run_duration(run),
                    truncate(&escape_guest_text(&run.dedupe_key), 40),
                    truncate(&escape_guest_text(&error), 80),
                );
            }
            Ok(())
        }
        RunsCommand::Show { id, json } => {
            let run = records::get_run(&store, id).await?.with_context(|| format!("there is no run {id}"))?;
            let steps = records::run_steps(&store, id).await?;
            if json {
                let value = serde_json::json!({"run": run, "trigger": run.payload(), "steps": steps});
                println!("{}", serde_json::to_string_pretty(&value).context("printing")?);
            } else {
                print_run(&run, &steps);
            }
            Ok(())
        }
        RunsCommand::Retry { id, with } => {
            let status =
                continue_run(runtime, home, &store, &with, |executor| Box::pin(retry_run(executor, id))).await?;
            finish_command(&store, id, status).await
        }
        RunsCommand::Skip { id, output, with } => {
            let output: Option<Value> = match output {
                Some(text) => Some(serde_json::from_str(&text).map_err(|e| anyhow!("--output is not JSON: {e}"))?),
                None => None,
            };
            let status = continue_run(runtime, home, &store, &with, |executor| {
                Box::pin(async move {
                    let (step, status) = skip_step(executor, id, output.as_ref()).await?;
                    eprintln!("marked step `{step}` of run {id} as done");
                    Ok(status)
                })
            })
            .await?;
            finish_command(&store, id, status).await
        }
    }
}

/// Runs `what` (a retry or a skip) on an executor with the run's components and connections.
async fn continue_run(
    runtime: &Arc<Runtime>,
    home: &Path,
    store: &Store,
    with: &RunWith,
    what: impl for<'e> FnOnce(&'e Executor<'e>) -> futures_util::future::BoxFuture<'e, anyhow::Result<RunStatus>>,
) -> Result<RunStatus, Failure> {
    let components = require(load_components(runtime, home, with.bundle.as_deref()).await?)?;
    let connections = with.connection.connections(home).await?;
    let executor =
        Executor::new(store, runtime, components.as_ref(), connections.as_ref()).with_options(Options::default());
    Ok(what(&executor).await?)
}

async fn finish_command(store: &Store, id: RunId, status: RunStatus) -> Result<(), Failure> {
    let run = records::get_run(store, id).await?.with_context(|| format!("there is no run {id}"))?;
    print_run(&run, &records::run_steps(store, id).await?);
    match status {
        RunStatus::Succeeded => Ok(()),
        _ => Err(failure_for_run(store, &run).await),
    }
}
