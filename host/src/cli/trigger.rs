//! `switchyard trigger ...`: list triggers, run one poll, print samples. Nothing here stores state:
//! `poll` takes the cursor on the command line and prints the next one.

use super::{BundleArg, ConnectionArgs, Failure, exit, resolve_connection};
use crate::bundle;
use crate::contract::ComponentKind;
use crate::runtime::{PollInput, PolledEvent, Runtime};
use anyhow::{Context, anyhow};
use clap::Subcommand;
use serde_json::{Value, json};
use std::path::Path;

#[derive(Subcommand, Debug)]
pub enum TriggerCommand {
    /// List the triggers of a bundle: key, version, name.
    List {
        #[command(flatten)]
        bundle: BundleArg,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Run one poll and print the events and the next cursor as JSON. Stores nothing: pass the printed
    /// cursor back with --cursor to poll on from there.
    Poll {
        /// The trigger key, e.g. intercom/new-ticket.
        key: String,
        #[command(flatten)]
        bundle: BundleArg,
        #[command(flatten)]
        connection: ConnectionArgs,
        /// The cursor a previous poll printed (JSON). Without it, this is a first poll: it starts now.
        #[arg(long, value_name = "JSON")]
        cursor: Option<String>,
        /// The trigger's settings, a JSON object (see `switchyard action describe KEY`).
        #[arg(long, value_name = "JSON", default_value = "{}")]
        settings: String,
        /// The most pages the poll may read.
        #[arg(long, value_name = "N", default_value_t = 10)]
        page_budget: u32,
        /// The time the poll runs at, Unix seconds (default: now).
        #[arg(long, value_name = "SECONDS")]
        now: Option<u64>,
    },
    /// Print a few recent objects in the shape the trigger emits. Changes nothing.
    Sample {
        /// The trigger key, e.g. intercom/new-ticket.
        key: String,
        #[command(flatten)]
        bundle: BundleArg,
        #[command(flatten)]
        connection: ConnectionArgs,
        /// The trigger's settings, a JSON object.
        #[arg(long, value_name = "JSON", default_value = "{}")]
        settings: String,
    },
}

pub async fn run(runtime: &Runtime, home: &Path, command: TriggerCommand) -> Result<(), Failure> {
    match command {
        TriggerCommand::List { bundle, json } => {
            let bundle = super::bundle::load_dir(runtime, &bundle.bundle, home).await?;
            let triggers: Vec<_> = bundle.components.values().filter(|c| c.kind() == ComponentKind::Trigger).collect();
            if json {
                let rows: Vec<_> = triggers
                    .iter()
                    .map(|c| json!({"key": c.key(), "kind": c.kind().name(), "version": c.description.version, "name": c.description.name, "summary": c.description.summary}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows).context("printing")?);
            } else {
                println!("{:<36} {:<9} NAME", "KEY", "VERSION");
                for c in triggers {
                    println!("{:<36} {:<9} {}", c.key(), c.description.version, c.description.name);
                }
            }
            Ok(())
        }
        TriggerCommand::Poll { key, bundle, connection, cursor, settings, page_budget, now } => {
            if let Some(cursor) = &cursor {
                serde_json::from_str::<Value>(cursor).map_err(|e| anyhow!("--cursor is not JSON: {e}"))?;
            }
            let bundle = super::bundle::load_dir(runtime, &bundle.bundle, home).await?;
            let component = trigger(&bundle, &key)?;
            let resolved = resolve_connection(&connection, home).await?;
            let now = now.unwrap_or_else(unix_now);
            let input = PollInput { cursor: cursor.as_deref(), now, page_budget, settings: &settings };
            match runtime.poll_trigger(component, Some(&resolved.connection), input).await {
                Ok(result) => {
                    let out = json!({
                        "events": events_json(&result.events),
                        "cursor": result.cursor,
                        "backlog": result.backlog,
                    });
                    println!("{}", serde_json::to_string_pretty(&out).context("printing")?);
                    Ok(())
                }
                Err(error) => {
                    let note = resolved.observe(&error).await.map(|n| format!(" ({n})")).unwrap_or_default();
                    Err(Failure { code: error.exit_code(), error: anyhow!("{key}: {error}{note}") })
                }
            }
        }
        TriggerCommand::Sample { key, bundle, connection, settings } => {
            let bundle = super::bundle::load_dir(runtime, &bundle.bundle, home).await?;
            let component = trigger(&bundle, &key)?;
            let resolved = resolve_connection(&connection, home).await?;
            match runtime.sample_trigger(component, Some(&resolved.connection), &settings).await {
                Ok(events) => {
                    println!("{}", serde_json::to_string_pretty(&events_json(&events)).context("printing")?);
                    Ok(())
                }
                Err(error) => {
                    let note = resolved.observe(&error).await.map(|n| format!(" ({n})")).unwrap_or_default();
                    Err(Failure { code: error.exit_code(), error: anyhow!("{key}: {error}{note}") })
                }
            }
        }
    }
}

/// The trigger `key` of `bundle`, or a usage error naming what it is instead.
pub(super) fn trigger<'a>(
    bundle: &'a bundle::Bundle,
    key: &str,
) -> Result<&'a std::sync::Arc<crate::runtime::LoadedComponent>, Failure> {
    let component = bundle.component(key)?;
    if component.kind() != ComponentKind::Trigger {
        return Err(Failure {
            code: exit::INVALID_INPUT,
            error: anyhow!(
                "{key} is an action, not a trigger; `switchyard trigger list --bundle ...` shows the triggers"
            ),
        });
    }
    Ok(component)
}

pub(super) fn events_json(events: &[PolledEvent]) -> Vec<Value> {
    events
        .iter()
        .map(|e| {
            json!({
                "dedupe_key": e.dedupe_key,
                "occurred_at": e.occurred_at,
                "payload": serde_json::from_str::<Value>(&e.payload).unwrap_or(Value::Null),
            })
        })
        .collect()
}

pub(super) fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}
