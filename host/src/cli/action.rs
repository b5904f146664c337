//! `switchyard action ...`: list, describe and run actions.

use super::{BundleArg, ConnectionArgs, Failure, resolve_connection};
use crate::runtime::Runtime;
use anyhow::Context;
use clap::Subcommand;
use std::path::{Path, PathBuf};

#[derive(Subcommand, Debug)]
pub enum ActionCommand {
    /// List the components of a bundle: key, kind, effect (read, idempotent or write), version.
    List {
        #[command(flatten)]
        bundle: BundleArg,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print a component's description: its effect, its input fields as JSON Schema and a sample output.
    Describe {
        /// The component key, e.g. intercom/find-contact.
        key: String,
        #[command(flatten)]
        bundle: BundleArg,
    },
    /// Run an action once and print its output as JSON.
    Run {
        /// The component key, e.g. intercom/find-contact.
        key: String,
        #[command(flatten)]
        bundle: BundleArg,
        #[command(flatten)]
        connection: ConnectionArgs,
        /// The input, a JSON object.
        #[arg(long, value_name = "JSON", conflicts_with = "input_file")]
        input: Option<String>,
        /// Read the input from a file ("-" for standard input).
        #[arg(long, value_name = "FILE")]
        input_file: Option<PathBuf>,
    },
}

pub async fn run(runtime: &Runtime, home: &Path, command: ActionCommand) -> Result<(), Failure> {
    match command {
        ActionCommand::List { bundle, json } => {
            let bundle = super::bundle::load_dir(runtime, &bundle.bundle, home).await?;
            if json {
                let rows: Vec<_> = bundle
                    .components
                    .values()
                    .map(|c| serde_json::json!({"key": c.key(), "kind": c.kind().name(), "effect": c.effect.as_str(), "version": c.description.version, "name": c.description.name}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows).context("printing")?);
            } else {
                println!("{:<36} {:<8} {:<10} {:<9} NAME", "KEY", "KIND", "EFFECT", "VERSION");
                for c in bundle.components.values() {
                    println!(
                        "{:<36} {:<8} {:<10} {:<9} {}",
                        c.key(),
                        c.kind().name(),
                        c.effect.as_str(),
                        c.description.version,
                        c.description.name
                    );
                }
            }
            Ok(())
        }
        ActionCommand::Describe { key, bundle } => {
            let bundle = super::bundle::load_dir(runtime, &bundle.bundle, home).await?;
            let c = bundle.component(&key)?;
            let d = &c.description;
            let description = serde_json::json!({
                "key": d.key,
                "name": d.name,
                "version": d.version,
                "kind": d.kind.name(),
                // From the manifest: a read or idempotent step may be sent again after a failure, a write not.
                "effect": c.effect.as_str(),
                "summary": d.summary,
                "input_schema": serde_json::from_str::<serde_json::Value>(&d.input_schema).context("input schema")?,
                "sample_output": serde_json::from_str::<serde_json::Value>(&d.sample_output).context("sample output")?,
                "sha256": c.sha256,
            });
            println!("{}", serde_json::to_string_pretty(&description).context("printing")?);
            Ok(())
        }
        ActionCommand::Run { key, bundle, connection, input, input_file } => {
            let input = match (input, input_file) {
                (Some(input), _) => input,
                (None, Some(path)) if path.as_os_str() == "-" => {
                    std::io::read_to_string(std::io::stdin()).context("reading the input from standard input")?
                }
                (None, Some(path)) => std::fs::read_to_string(&path)
                    .with_context(|| format!("reading the input file {}", path.display()))?,
                (None, None) => "{}".to_string(),
            };
            let bundle = super::bundle::load_dir(runtime, &bundle.bundle, home).await?;
            let component = bundle.component(&key)?;
            let resolved = resolve_connection(&connection, home).await?;
            match runtime.run_action(component, Some(&resolved.connection), &input).await {
                Ok(output) => {
                    println!("{}", serde_json::to_string_pretty(&output).context("printing")?);
                    Ok(())
                }
                Err(error) => {
                    // A 401 on a named connection marks it as needing re-authorization.
                    let note = resolved.observe(&error).await.map(|note| format!(" ({note})")).unwrap_or_default();
                    Err(Failure { code: error.exit_code(), error: anyhow::anyhow!("{key}: {error}{note}") })
                }
            }
        }
    }
}
