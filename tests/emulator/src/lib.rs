#![recursion_limit = "512"]
//! An offline emulator of Intercom's REST API 2.16 for tests, benchmarks and demos.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let emu = intercom_emulator::spawn(intercom_emulator::EmulatorConfig::default()).await?;
//! let url = format!("{}/me", emu.base_url());
//! // ... send `Authorization: Bearer test-token` ...
//! emu.shutdown().await;
//! # Ok(()) }
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::Context;

mod admin;
pub mod api;
pub mod search;
pub mod seed;
mod server;
pub mod spec;
pub mod state;

pub use server::{ApiError, Reply};
pub use state::{Clock, EmulatorState, Faults, Workspace, World};

/// Emulator settings.
#[derive(Clone, Debug)]
pub struct EmulatorConfig {
    /// Accepted bearer token of the default workspace.
    pub token: String,
    /// Requests per 10-second window per workspace.
    pub rate_limit_per_window: u32,
    /// Strict request checking against the spec.
    pub strict: bool,
    /// `None` = empty workspace (still has admins, teams and ticket types).
    pub seed: Option<Seed>,
    /// Persist the world to this JSON file and reload it at start.
    pub state_file: Option<PathBuf>,
    /// 0 = any free port; always binds 127.0.0.1.
    pub port: u16,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            token: "test-token".to_string(),
            rate_limit_per_window: 1000,
            strict: true,
            seed: None,
            state_file: None,
            port: 0,
        }
    }
}

/// Predefined workspace contents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seed {
    /// A realistic workspace: admins, teams, a few hundred contacts, companies,
    /// conversations, tickets and tags (deterministic RNG).
    Demo,
}

/// A running emulator; dropping it stops the server.
pub struct RunningEmulator {
    addr: SocketAddr,
    token: String,
    state: EmulatorState,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RunningEmulator {
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
    /// The bearer token of the default workspace.
    pub fn token(&self) -> &str {
        &self.token
    }
    /// A cloneable handle to read/modify the workspace data directly.
    pub fn state(&self) -> EmulatorState {
        self.state.clone()
    }
    /// The bound socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// Graceful shutdown: stop accepting, finish in-flight requests, flush the state file.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        persist(&self.state.inner);
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
        persist(&self.state.inner);
    }
}

/// Build the shared state for a config (seeded or loaded from `state_file`).
pub fn build_state(config: &EmulatorConfig) -> anyhow::Result<EmulatorState> {
    let mut inner = state::Inner::new(state::World::default(), config.rate_limit_per_window, config.strict);
    let mut world = seed::initial_world(&inner, config);
    *inner.initial.get_mut() = world.clone();
    if let Some(path) = &config.state_file
        && path.exists()
    {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading state file {}", path.display()))?;
        let mut loaded: state::World =
            serde_json::from_str(&text).with_context(|| format!("parsing state file {}", path.display()))?;
        for ws in &mut loaded.workspaces {
            ws.rebuild_indexes();
        }
        if loaded.workspaces.is_empty() {
            anyhow::bail!("state file {} has no workspaces", path.display());
        }
        // The configured token always reaches the default workspace.
        loaded.tokens.insert(config.token.clone(), 0);
        world = loaded;
    }
    inner.state_file = config.state_file.clone();
    *inner.world.get_mut() = world;
    Ok(EmulatorState { inner: Arc::new(inner) })
}

/// The axum router serving the whole API for this state (for benchmarks/embedding).
pub fn router(state: EmulatorState) -> axum::Router {
    axum::Router::new().fallback(server::handle).with_state(state.inner)
}

fn persist(inner: &state::Inner) {
    if let Some(path) = &inner.state_file
        && inner.dirty.swap(false, Ordering::Relaxed)
    {
        let text = {
            let w = inner.world.read();
            serde_json::to_string(&*w)
        };
        if let Ok(text) = text {
            let tmp = path.with_extension("tmp");
            if std::fs::write(&tmp, text).is_ok() {
                let _ = std::fs::rename(&tmp, path);
            }
        }
    }
}

/// Start the emulator on 127.0.0.1.
pub async fn spawn(config: EmulatorConfig) -> anyhow::Result<RunningEmulator> {
    // Parse the spec before accepting traffic so the first request is fast.
    let _ = spec::spec();
    let state = build_state(&config)?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port))
        .await
        .with_context(|| format!("binding 127.0.0.1:{}", config.port))?;
    let addr = listener.local_addr()?;
    let app = router(state.clone());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let inner = state.inner.clone();
    let task = tokio::spawn(async move {
        let flusher = {
            let inner = inner.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                    let i = inner.clone();
                    let _ = tokio::task::spawn_blocking(move || persist(&i)).await;
                }
            })
        };
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await;
        flusher.abort();
    });
    Ok(RunningEmulator { addr, token: config.token.clone(), state, shutdown: Some(tx), task: Some(task) })
}
