//! Switchyard's host: runs Intercom triggers and actions as sandboxed WebAssembly components.
//!
//! - [`contract`]: the WIT contract's bindings and version (below everything else).
//! - [`files`]: the data directory's files, private to the host's user.
//! - [`runtime`]: the wasmtime engine, per-invocation stores and limits, the component cache.
//! - [`http`]: outbound HTTP on behalf of components (credentials, allowed hosts, rate limits).
//! - [`bundle`]: bundle manifests and loading components from them.
//! - [`scheduler`]: polls trigger subscriptions into the outbox (one transaction per poll).
//! - [`registry`]: installed bundles, side-by-side versions, `key@requirement` resolution, hot swap.
//! - [`store`]: the embedded SQLite database (sqlx) and its migrations.
//! - [`workflow`]: workflow files, their validation, runs and run history.
//! - [`auth`]: named connections, encrypted secrets, OAuth 2.0 and Intercom regions.
//! - [`service`]: the daemon (`switchyard run`): components, connections, scheduler, workflow runner.
//! - [`cli`]: the `switchyard` command line.

pub mod auth;
pub mod bundle;
pub mod cli;
pub mod contract;
pub mod files;
pub mod http;
pub mod registry;
pub mod runtime;
pub mod scheduler;
pub mod service;
pub mod store;
pub mod workflow;
