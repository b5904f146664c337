//! Shared set-up for the host's integration tests: the bundles `cargo xtask build` wrote, a runtime
//! with a shared component cache, and an Intercom emulator.
#![allow(dead_code)]

use intercom_emulator::{EmulatorConfig, RunningEmulator};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;
use switchyard::bundle::{self, Bundle};
use switchyard::http::Connection;
use switchyard::runtime::{Limits, Runtime, RuntimeConfig};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The bundles directory; the tests need it built (`cargo xtask test` builds it first).
pub fn bundles_dir() -> PathBuf {
    let dir = repo_root().join("target/bundles");
    assert!(
        dir.join("intercom/bundle.toml").exists() && dir.join("testing/bundle.toml").exists(),
        "the component bundles are missing from {}: run the tests with `cargo xtask test` (or `cargo xtask build` first)",
        dir.display()
    );
    dir
}

pub fn bundle_path(name: &str) -> PathBuf {
    bundles_dir().join(name)
}

/// A runtime with test-friendly limits: a short deadline so the endless-loop test is quick.
pub fn runtime_with(limits: Limits) -> Runtime {
    let cache_dir = repo_root().join("target/test-home/cache");
    Runtime::new(RuntimeConfig { limits, cache_dir }).expect("runtime")
}

pub fn test_limits() -> Limits {
    Limits { deadline: Duration::from_secs(2), ..Limits::default() }
}

pub fn runtime() -> Runtime {
    runtime_with(test_limits())
}

pub async fn load(runtime: &Runtime, name: &str) -> Bundle {
    bundle::load(runtime, &bundle_path(name)).await.expect("bundle loads")
}

pub async fn emulator() -> RunningEmulator {
    intercom_emulator::spawn(EmulatorConfig::default()).await.expect("emulator starts")
}

pub fn connection(emulator: &RunningEmulator) -> Connection {
    Connection::new("test", &emulator.base_url(), emulator.token()).unwrap()
}

/// Creates a contact through the emulator's HTTP API, as a real Intercom client would.
pub async fn create_contact(emulator: &RunningEmulator, body: Value) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{}/contacts", emulator.base_url()))
        .bearer_auth(emulator.token())
        .header("Intercom-Version", "2.16")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "creating a contact: {}", response.status());
    response.json().await.unwrap()
}
