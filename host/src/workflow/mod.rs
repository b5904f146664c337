//! Workflows: a trigger and a chain of action steps, described in YAML, run for each trigger event
//! with every run and step recorded (see `docs/ARCHITECTURE.md`, "A workflow run").
//!
//! - [`definition`]: the file format, its JSON Schema, parsing with line numbers.
//! - [`expressions`]: `{{ ... }}` input mapping and `if:` conditions (minijinja).
//! - [`validate`]: everything checkable without running.
//! - [`executor`]: one run, step by step, with error policies, resumable.
//! - [`runner`]: trigger events to runs (`handle_event`, `WorkflowRunner`).
//! - [`lease`]: which host process executes a run, renewed by a heartbeat.
//! - [`records`]: workflows and run history in the store; claims, compare-and-set on the owner.
//! - [`sources`]: the triggers' outbox as the runner's event feed, and the subscriptions workflows need.

pub mod definition;
pub mod executor;
pub mod expressions;
pub mod lease;
pub mod records;
pub mod runner;
pub mod sources;
pub mod validate;

pub use definition::{Workflow, parse};
pub use executor::{Components, Connections, Executor, FixedConnection};
pub use lease::Lease;
pub use records::{RunId, TriggerEvent};
pub use runner::{LoadedWorkflow, WorkflowRunner, handle_event};
