//! `switchyard runs ...`: run history, a readable per-step view, and retrying a failed run.

use super::workflow::{OptionalConnection, failure_for_run, load_components, open_store, require};
use super::{Failure, exit};
use crate::runtime::Runtime;
use crate::store::Store;
use crate::workflow::engine::retry_run;
use crate::workflow::executor::{Engine, Options};
use crate::workflow::records::{self, RunFilter, RunId, RunRecord, RunStatus, StepRecord, StepStatus};
use anyhow::Context;
use clap::Subcommand;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

#[derive(Subcommand, Debug)]
pub enum RunsCommand {
    /// List recent runs, newest first.
    List {
        /// Only the runs of this workflow.
        #[arg(long, value_name = "NAME")]
        workflow: Option<String>,
        /// Only failed runs.
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
    /// Re-run a failed run from its failed step; the steps that succeeded are not repeated.
    Retry {
        id: RunId,
        /// The bundle with the workflow's components (default: the installed bundles).
        #[arg(long, value_name = "DIR")]
        bundle: Option<PathBuf>,
        #[command(flatten)]
        connection: OptionalConnection,
    },
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
            println!("{:<6} {:<28} {:<11} {:<20} {:<9} EVENT", "ID", "WORKFLOW", "STATUS", "STARTED", "DURATION");
            for run in &runs {
                println!(
                    "{:<6} {:<28} {:<11} {:<20} {:<9} {}",
                    run.id,
                    truncate(&run.workflow, 28),
                    run.status.as_str(),
                    run.started_at.map(time).unwrap_or_else(|| "-".into()),
                    run_duration(run),
                    truncate(&run.dedupe_key, 40),
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
        RunsCommand::Retry { id, bundle, connection } => {
            let components = require(load_components(runtime, home, bundle.as_deref()).await?)?;
            let connections = connection.connections(home).await?;
            let engine = Engine::new(&store, runtime, components.as_ref(), connections.as_ref())
                .with_options(Options::default());
            let status = retry_run(&engine, id).await?;
            let run = records::get_run(&store, id).await?.with_context(|| format!("there is no run {id}"))?;
            print_run(&run, &records::run_steps(&store, id).await?);
            match status {
                RunStatus::Succeeded => Ok(()),
                _ => Err(failure_for_run(&store, &run).await),
            }
        }
    }
}

/// A readable view of one run.
pub fn print_run(run: &RunRecord, steps: &[StepRecord]) {
    println!("run {}  workflow {}  {}", run.id, run.workflow, run.status.as_str().to_uppercase());
    println!("  event     {} ({}) at {}", run.dedupe_key, run.trigger_key, time(run.occurred_at * 1000));
    if let Some(started) = run.started_at {
        println!("  started   {}  took {}", time(started), run_duration(run));
    }
    if let Some(error) = &run.error {
        println!("  error     {error}");
    }
    for step in steps {
        let component = match (&step.component_key, &step.component_version) {
            (Some(key), Some(version)) => format!("{key} {version}"),
            (Some(key), None) => key.clone(),
            _ => String::new(),
        };
        let duration = step.duration_ms.map(|ms| format!("{ms} ms")).unwrap_or_else(|| "-".into());
        println!();
        println!(
            "  [{}] {}  attempt {}  {}  {}  {}",
            step.step_index + 1,
            step.step_id,
            step.attempt,
            status_word(step.status),
            component,
            duration
        );
        if let Some(input) = step.input_value() {
            let label = if step.status == StepStatus::NotSent { "would send" } else { "sent" };
            println!("      {label:<9} {}", indent(&pretty(&input)));
        }
        if let Some(output) = step.output_value() {
            let label = if step.status == StepStatus::NotSent { "sample" } else { "received" };
            println!("      {label:<9} {}", indent(&pretty(&output)));
        }
        if let Some(error) = &step.error {
            println!("      error     {} ({})", error, step.error_kind.as_deref().unwrap_or("error"));
        }
    }
}

fn status_word(status: StepStatus) -> &'static str {
    match status {
        StepStatus::Succeeded => "ok",
        StepStatus::Failed => "FAILED",
        StepStatus::Skipped => "skipped (condition false)",
        StepStatus::Interrupted => "interrupted",
        StepStatus::Running => "running",
        StepStatus::NotSent => "not sent (dry run)",
    }
}

fn pretty(value: &serde_json::Value) -> String {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    // Long outputs are cut in the terminal view; `--json` has them whole.
    const MAX_LINES: usize = 30;
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() > MAX_LINES {
        format!("{}\n... ({} more lines; --json shows all)", lines[..MAX_LINES].join("\n"), lines.len() - MAX_LINES)
    } else {
        text
    }
}

fn indent(text: &str) -> String {
    text.replace('\n', "\n                ")
}

fn time(ms: i64) -> String {
    let at = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(at).to_string().replace('T', " ").trim_end_matches('Z').to_string()
}

fn run_duration(run: &RunRecord) -> String {
    match (run.started_at, run.finished_at) {
        (Some(start), Some(end)) => format!("{} ms", end - start),
        _ => "-".into(),
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(max - 1).collect::<String>())
    }
}

/// The exit code for a run that did not succeed, from its failed step's error kind.
pub fn exit_for_kind(kind: Option<&str>) -> i32 {
    match kind {
        Some("invalid_input" | "expression") => exit::INVALID_INPUT,
        Some("not_found") => exit::NOT_FOUND,
        Some("unauthorized" | "forbidden") => exit::AUTH,
        Some("rate_limited" | "conflict" | "upstream") => exit::UPSTREAM,
        Some("timeout" | "component") => exit::COMPONENT,
        _ => exit::INTERNAL,
    }
}

pub async fn last_error_kind(store: &Store, run: &RunRecord) -> Option<String> {
    let steps = records::run_steps(store, run.id).await.ok()?;
    steps.iter().rev().find(|s| s.status == StepStatus::Failed).and_then(|s| s.error_kind.clone())
}
