//! `switchyard workflow ...`: validate, enable, disable, list and test workflow files.

use super::common::{
    OptionalConnection, failure_for_run, load_components, named_connections, open_store, print_run, require,
};
use super::{Failure, exit};
use crate::bundle::{Bundle, sha256_hex};
use crate::registry::{ComponentRef, Installed, Registry};
use crate::runtime::Runtime;
use crate::store::Store;
use crate::workflow::definition::Workflow;
use crate::workflow::executor::{Components, Connections, Executor, Observer, Options, Progress};
use crate::workflow::records::{self, RunStatus, StoredWorkflow, TriggerEvent, now_ms};
use crate::workflow::runner::{LoadedWorkflow, handle_event};
use crate::workflow::sources::{subscribe, unsubscribe};
use crate::workflow::validate::{Report, validate};
use anyhow::{Context, anyhow};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(Subcommand, Debug)]
pub enum WorkflowCommand {
    /// Check a workflow file without running it: schema, keys, components, inputs, expressions,
    /// step references, error policies. Each problem names the file, line and field.
    Validate {
        file: PathBuf,
        /// Check components and inputs against this bundle (default: the installed bundles).
        #[arg(long, value_name = "DIR")]
        bundle: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Validate a workflow file and enable it: `switchyard run` runs it for every event of its
    /// trigger (a subscription for the trigger on its connection is added if needed).
    Enable {
        file: PathBuf,
        /// Check components and inputs against this bundle first (default: the installed bundles).
        #[arg(long, value_name = "DIR")]
        bundle: Option<PathBuf>,
    },
    /// Stop running a workflow (its history stays).
    Disable { name: String },
    /// List the workflows the host knows.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run a workflow once on its trigger's sample data and show what each step sent and received.
    Test {
        file: PathBuf,
        /// The bundle with the workflow's components (default: the installed bundles).
        #[arg(long, value_name = "DIR")]
        bundle: Option<PathBuf>,
        #[command(flatten)]
        connection: OptionalConnection,
        /// Send no writes: call only read actions (intercom/find-*) and print the mapped input of the others.
        #[arg(long)]
        dry_run: bool,
        /// Use this JSON file as the trigger event's object instead of the trigger's sample.
        #[arg(long, value_name = "FILE")]
        event: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(runtime: &Arc<Runtime>, home: &Path, command: WorkflowCommand) -> Result<(), Failure> {
    match command {
        WorkflowCommand::Validate { file, bundle, json } => {
            let text = read(&file)?;
            let components = load_components(runtime, home, bundle.as_deref()).await?;
            let connections = named_connections(home).await.ok();
            let (workflow, report) =
                validate(&file.display().to_string(), &text, components.as_deref(), connections.as_deref());
            if json {
                let value = serde_json::json!({"valid": report.is_valid(), "workflow": workflow.map(|w| w.name), "problems": report.problems, "notes": report.notes});
                println!("{}", serde_json::to_string_pretty(&value).context("printing")?);
            } else {
                print_report(&file, &report, workflow.as_ref().map(|w| w.name.as_str()));
            }
            if report.is_valid() { Ok(()) } else { Err(invalid(&report)) }
        }
        WorkflowCommand::Enable { file, bundle } => {
            let text = read(&file)?;
            let source = ComponentSource::open(runtime, home, bundle.as_deref()).await?;
            let components = source.components();
            let connections = named_connections(home).await.ok();
            let (workflow, report) = validate(&file.display().to_string(), &text, components, connections.as_deref());
            let workflow = match workflow {
                Some(workflow) if report.is_valid() => workflow,
                _ => {
                    print_report(&file, &report, None);
                    return Err(invalid(&report));
                }
            };
            for note in &report.notes {
                eprintln!("note: {note}");
            }
            let store = open_store(home).await?;
            let path = std::fs::canonicalize(&file).unwrap_or(file.clone());
            let stored = StoredWorkflow {
                name: workflow.name.clone(),
                enabled: true,
                source_path: path.display().to_string(),
                content: text.clone(),
                sha256: sha256_hex(text.as_bytes()),
                trigger_key: workflow.trigger.key.clone(),
                trigger_connection: workflow.trigger.connection.clone(),
                trigger_settings: Value::Object(workflow.trigger.settings.clone()).to_string(),
                updated_at: now_ms(),
            };
            records::save_workflow(&store, &stored).await?;
            let resolved = source.resolved(&workflow)?;
            records::save_resolved(&store, &workflow.name, resolved.as_ref()).await?;
            let interval = workflow.trigger.interval().as_secs().clamp(1, u64::from(u32::MAX)) as u32;
            let subscription = subscribe(&store, &stored, interval).await?;
            println!(
                "enabled {} ({} -> {} step{}); the host runs it for each {} event",
                workflow.name,
                workflow.trigger.key,
                workflow.steps.len(),
                if workflow.steps.len() == 1 { "" } else { "s" },
                workflow.trigger.key
            );
            println!("{subscription}");
            Ok(())
        }
        WorkflowCommand::Disable { name } => {
            let store = open_store(home).await?;
            if records::set_enabled(&store, &name, false).await? {
                println!("disabled {name}");
                let all = records::list_workflows(&store).await?;
                let enabled: Vec<StoredWorkflow> = all.iter().filter(|w| w.enabled).cloned().collect();
                if let Some(stored) = all.iter().find(|w| w.name == name)
                    && let Some(note) = unsubscribe(&store, stored, &enabled).await?
                {
                    println!("{note}");
                }
                Ok(())
            } else {
                Err(Failure {
                    code: exit::NOT_FOUND,
                    error: anyhow!("there is no workflow named {name:?}; `switchyard workflow list` shows them"),
                })
            }
        }
        WorkflowCommand::List { json } => {
            let store = open_store(home).await?;
            let workflows = records::list_workflows(&store).await?;
            if json {
                let resolved = records::resolved_components(&store).await?;
                let rows: Vec<Value> = workflows
                    .iter()
                    .map(|w| serde_json::json!({"name": w.name, "enabled": w.enabled, "trigger": w.trigger_key, "connection": w.trigger_connection, "source": w.source_path, "sha256": w.sha256, "resolved": resolved.get(&w.name).cloned().unwrap_or(Value::Null)}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows).context("printing")?);
            } else if workflows.is_empty() {
                println!("no workflows; enable one with `switchyard workflow enable FILE`");
            } else {
                println!("{:<32} {:<8} {:<34} {:<14} SOURCE", "NAME", "ENABLED", "TRIGGER", "CONNECTION");
                for w in &workflows {
                    println!(
                        "{:<32} {:<8} {:<34} {:<14} {}",
                        w.name,
                        if w.enabled { "yes" } else { "no" },
                        w.trigger_key,
                        w.trigger_connection.as_deref().unwrap_or("-"),
                        w.source_path
                    );
                }
            }
            Ok(())
        }
        WorkflowCommand::Test { file, bundle, connection, dry_run, event, json } => {
            let text = read(&file)?;
            let components = require(load_components(runtime, home, bundle.as_deref()).await?)?;
            let (_, report) = validate(&file.display().to_string(), &text, Some(components.as_ref()), None);
            if !report.is_valid() {
                print_report(&file, &report, None);
                return Err(invalid(&report));
            }
            let loaded = LoadedWorkflow::parse(&file.display().to_string(), &text)?;
            let connections = connection.connections(home).await?;
            let event = match event {
                Some(path) => {
                    let payload: Value = serde_json::from_str(&read(&path)?)
                        .with_context(|| format!("{} is not JSON", path.display()))?;
                    test_event(&loaded, payload, "given")
                }
                None => sample_event(runtime, components.as_ref(), connections.as_ref(), &loaded).await?,
            };
            // A test run is recorded in a throwaway database: it never blocks or shows up as a real run.
            let store = Store::in_memory().await?;
            let spinner = (!json).then(|| {
                let bar = ProgressBar::new_spinner();
                bar.set_style(ProgressStyle::with_template("{spinner} {msg}").expect("a valid template"));
                bar.enable_steady_tick(Duration::from_millis(100));
                bar
            });
            let observer: Option<Observer> = spinner.clone().map(|bar| {
                Arc::new(move |progress: &Progress| match progress {
                    Progress::StepStarted { step, attempt, .. } => {
                        bar.set_message(format!("step {step} (attempt {attempt})"))
                    }
                    Progress::Waiting { step, wait, next_attempt, .. } => {
                        bar.set_message(format!("step {step}: retrying in {wait:?} (attempt {next_attempt})"))
                    }
                    Progress::StepFinished { step, status, .. } => {
                        bar.println(format!("  {step}: {}", status.as_str()))
                    }
                }) as Observer
            });
            let executor = Executor::new(&store, runtime, components.as_ref(), connections.as_ref())
                .with_options(Options { dry_run, observer, ..Options::default() });
            let id = handle_event(&executor, &loaded, &event).await?;
            if let Some(bar) = spinner {
                bar.finish_and_clear();
            }
            let run = records::get_run(&store, id).await?.context("the test run was not recorded")?;
            let steps = records::run_steps(&store, id).await?;
            if json {
                let value =
                    serde_json::json!({"run": run, "trigger": run.payload(), "steps": steps, "dry_run": dry_run});
                println!("{}", serde_json::to_string_pretty(&value).context("printing")?);
            } else {
                if dry_run {
                    println!(
                        "dry run: only read actions (intercom/find-*) were called; the others show what they would send"
                    );
                }
                print_run(&run, &steps);
            }
            match run.status {
                RunStatus::Succeeded => Ok(()),
                _ => Err(failure_for_run(&store, &run).await),
            }
        }
    }
}

/// Where `workflow enable` takes its components from, kept concrete so it can say which bundle and
/// version each one resolved to: the `--bundle DIR` (under the home's trusted keys), else the
/// installed bundles (none when nothing is installed).
enum ComponentSource {
    Directory(Box<Bundle>),
    Installed(Arc<Installed>),
    Nothing,
}

impl ComponentSource {
    async fn open(runtime: &Runtime, home: &Path, dir: Option<&Path>) -> Result<ComponentSource, Failure> {
        if let Some(dir) = dir {
            return Ok(ComponentSource::Directory(Box::new(super::bundle::load_dir(runtime, dir, home).await?)));
        }
        let snapshot = Registry::open(runtime, home).await?.snapshot();
        if snapshot.keys().is_empty() {
            return Ok(ComponentSource::Nothing);
        }
        Ok(ComponentSource::Installed(snapshot))
    }

    /// What validation checks against: the directory, or one snapshot of the installed set (the same
    /// one [`ComponentSource::resolved`] reports on).
    fn components(&self) -> Option<&dyn Components> {
        match self {
            ComponentSource::Directory(bundle) => Some(bundle.as_ref()),
            ComponentSource::Installed(snapshot) => Some(snapshot.as_ref()),
            ComponentSource::Nothing => None,
        }
    }

    /// The trigger's and each step's component key -> "bundle@version (component version)"; a key
    /// used with two requirements that resolve differently is also recorded as `key@requirement`.
    /// `None` when there were no components to resolve against.
    fn resolved(&self, workflow: &Workflow) -> anyhow::Result<Option<BTreeMap<String, String>>> {
        let wanted = std::iter::once((&workflow.trigger.key, &workflow.trigger.version))
            .chain(workflow.steps.iter().map(|s| (&s.action, &s.version)));
        let mut resolved = BTreeMap::new();
        for (key, requirement) in wanted {
            let text = match self {
                ComponentSource::Nothing => return Ok(None),
                ComponentSource::Directory(bundle) => {
                    let component = bundle.component(key)?;
                    let info = &bundle.manifest.bundle;
                    format!("{}@{} (component {})", info.name, info.version, component.description.version)
                }
                ComponentSource::Installed(snapshot) => {
                    let wanted: ComponentRef = match requirement {
                        Some(req) => format!("{key}@{req}"),
                        None => key.clone(),
                    }
                    .parse()?;
                    let found = snapshot.resolve(&wanted)?;
                    format!("{}@{} (component {})", found.bundle.name(), found.bundle.version(), found.version())
                }
            };
            match resolved.get(key) {
                None => {
                    resolved.insert(key.clone(), text);
                }
                Some(first) if *first == text => {}
                Some(_) => {
                    resolved.insert(format!("{key}@{}", requirement.as_deref().unwrap_or("*")), text);
                }
            }
        }
        Ok(Some(resolved))
    }
}

fn read(path: &Path) -> Result<String, Failure> {
    std::fs::read_to_string(path)
        .map_err(|e| Failure { code: exit::INVALID_INPUT, error: anyhow!("cannot read {}: {e}", path.display()) })
}

fn print_report(file: &Path, report: &Report, name: Option<&str>) {
    for problem in &report.problems {
        eprintln!("error: {problem}");
    }
    for note in &report.notes {
        eprintln!("note: {note}");
    }
    if report.is_valid() {
        println!("{}: valid{}", file.display(), name.map(|n| format!(" (workflow {n})")).unwrap_or_default());
    }
}

fn invalid(report: &Report) -> Failure {
    let count = report.problems.len();
    Failure {
        code: exit::INVALID_INPUT,
        error: anyhow!("the workflow has {count} problem{}", if count == 1 { "" } else { "s" }),
    }
}

fn test_event(workflow: &LoadedWorkflow, payload: Value, origin: &str) -> TriggerEvent {
    let id = payload.get("id").map(|v| v.to_string().trim_matches('"').to_string()).unwrap_or_default();
    TriggerEvent {
        trigger_key: workflow.workflow.trigger.key.clone(),
        dedupe_key: format!("test:{origin}:{id}"),
        occurred_at: now_ms() / 1000,
        payload,
    }
}

/// The trigger's sample: its first event, from the component's `sample` export.
async fn sample_event(
    runtime: &Runtime,
    components: &dyn Components,
    connections: &dyn Connections,
    workflow: &LoadedWorkflow,
) -> anyhow::Result<TriggerEvent> {
    let trigger = &workflow.workflow.trigger;
    let component = components.trigger(&trigger.key, trigger.version.as_deref())?;
    let connection = connections.resolve(trigger.connection.as_deref()).await?;
    let settings = Value::Object(trigger.settings.clone()).to_string();
    match runtime.sample_trigger(&component, Some(&connection), &settings).await {
        Ok(events) if !events.is_empty() => {
            let first = &events[0];
            let payload: Value = serde_json::from_str(&first.payload).context("the sample payload is not JSON")?;
            Ok(TriggerEvent {
                trigger_key: trigger.key.clone(),
                dedupe_key: format!("test:{}", first.dedupe_key),
                occurred_at: first.occurred_at as i64,
                payload,
            })
        }
        outcome => {
            let why = match outcome {
                Ok(_) => "the trigger found no recent objects".to_string(),
                Err(e) => format!("sampling failed: {e}"),
            };
            let payload: Value = serde_json::from_str(&component.description.sample_output)
                .context("the trigger's sample output is not JSON")?;
            eprintln!("note: {why}; using the trigger's documented sample output instead");
            Ok(test_event(workflow, payload, "sample_output"))
        }
    }
}
