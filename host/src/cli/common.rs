//! Helpers several commands share: where components and connections come from, how a run is shown,
//! and the exit code a run that did not succeed ends with.

use super::connections::quick_try_token;
use super::{Failure, exit};
use crate::auth::ConnectionStore;
use crate::auth::urls::check_endpoint_url;
use crate::http::Connection;
use crate::registry::Registry;
use crate::runtime::state::escape_guest_text;
use crate::runtime::{Components, ErrorKind, Runtime};
use crate::service::StoreConnections;
use crate::store::Store;
use crate::workflow::executor::{Connections, FixedConnection};
use crate::workflow::records::{self, RunRecord, RunStatus, StepRecord, StepStatus};
use anyhow::anyhow;
use clap::Args;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

/// `--base-url`, optional: one quick connection for every step instead of the named connections the
/// workflow gives (from the connection store). Its token comes from $SWITCHYARD_TOKEN, never a flag.
#[derive(Args, Debug)]
pub struct OptionalConnection {
    /// Quick try: the API base URL for every step, e.g. the emulator's address (https://, or http://
    /// on loopback only). The token comes from $SWITCHYARD_TOKEN.
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
}

impl OptionalConnection {
    /// The quick connection, else the named ones. A refused `--base-url` or a missing
    /// $SWITCHYARD_TOKEN is a usage error (exit 2).
    pub async fn connections(&self, home: &Path) -> Result<Box<dyn Connections>, Failure> {
        match &self.base_url {
            Some(base_url) => {
                check_endpoint_url("--base-url", base_url)?;
                let token = quick_try_token()?;
                Ok(Box::new(FixedConnection(Connection::new("cli", base_url, token)?)))
            }
            None => Ok(named_connections(home).await?),
        }
    }
}

pub async fn open_store(home: &Path) -> anyhow::Result<Store> {
    Store::open(home).await
}

/// The components to check and run against: `--bundle DIR` (under the home's trusted keys, as an
/// install is), else the installed bundles (none when nothing is installed).
pub async fn load_components(
    runtime: &Arc<Runtime>,
    home: &Path,
    dir: Option<&Path>,
) -> Result<Option<Box<dyn Components>>, Failure> {
    if let Some(dir) = dir {
        return Ok(Some(Box::new(super::bundle::load_dir(runtime, dir, home).await?)));
    }
    let registry = Registry::open(runtime, home).await?;
    if registry.keys().is_empty() {
        return Ok(None);
    }
    Ok(Some(Box::new(registry)))
}

pub fn require(components: Option<Box<dyn Components>>) -> Result<Box<dyn Components>, Failure> {
    components.ok_or_else(|| Failure {
        code: exit::INVALID_INPUT,
        error: anyhow!("no components: pass --bundle DIR, or install a bundle with `switchyard bundle install PATH`"),
    })
}

/// The connection store's named connections.
pub async fn named_connections(home: &Path) -> anyhow::Result<Box<dyn Connections>> {
    let store = ConnectionStore::open_home(home).await?;
    Ok(Box::new(StoreConnections::open(store).await?))
}

pub async fn failure_for_run(store: &Store, run: &RunRecord) -> Failure {
    let kind = last_error_kind(store, run).await;
    Failure {
        code: exit_for_kind(kind.as_deref()),
        error: anyhow!(
            "run {} {}: {}",
            run.id,
            run.status.as_str(),
            run.error.as_deref().unwrap_or("no error recorded")
        ),
    }
}

/// A readable view of one run.
pub fn print_run(run: &RunRecord, steps: &[StepRecord]) {
    println!("run {}  workflow {}  {}", run.id, run.workflow, run.status.as_str().to_uppercase());
    println!(
        "  event     {} ({}) at {}",
        escape_guest_text(&run.dedupe_key),
        run.trigger_key,
        time(run.occurred_at * 1000)
    );
    if let Some(started) = run.started_at {
        println!("  started   {}  took {}", time(started), run_duration(run));
    }
    if let Some(error) = &run.error {
        println!("  error     {}", escape_guest_text(error));
    }
    if let (Some(owner), Some(until)) = (&run.owner, run.lease_expires_at) {
        println!("  held by   host {owner} (lease until {})", time(until));
    }
    if run.status == RunStatus::NeedsAttention {
        println!("  NEEDS ATTENTION: {}", records::attention_message().replace("RUN", &run.id.to_string()));
    }
    for step in steps {
        let component = match (&step.component_key, &step.component_version) {
            (Some(key), Some(version)) => match &step.effect {
                Some(effect) => format!("{key} {version} ({effect})"),
                None => format!("{key} {version}"),
            },
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
            println!(
                "      error     {} ({})",
                escape_guest_text(error),
                step.error_kind.as_deref().unwrap_or("error")
            );
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
        StepStatus::OutcomeUnknown => "OUTCOME UNKNOWN (sent, never answered)",
        StepStatus::SkippedByOperator => "marked done by an operator",
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

pub fn time(ms: i64) -> String {
    let at = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(at).to_string().replace('T', " ").trim_end_matches('Z').to_string()
}

pub fn run_duration(run: &RunRecord) -> String {
    match (run.started_at, run.finished_at) {
        (Some(start), Some(end)) => format!("{} ms", end - start),
        _ => "-".into(),
    }
}

pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(max - 1).collect::<String>())
    }
}

/// The exit code for a run that did not succeed, from its failed step's error kind.
pub fn exit_for_kind(kind: Option<&str>) -> i32 {
    kind.and_then(ErrorKind::parse).map_or(exit::INTERNAL, ErrorKind::exit_code)
}

pub async fn last_error_kind(store: &Store, run: &RunRecord) -> Option<String> {
    let steps = records::run_steps(store, run.id).await.ok()?;
    steps
        .iter()
        .rev()
        .find(|s| matches!(s.status, StepStatus::Failed | StepStatus::OutcomeUnknown))
        .and_then(|s| s.error_kind.clone())
}
