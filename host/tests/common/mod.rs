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
    bundle::load(runtime, &bundle_path(name), &bundle::TrustPolicy::default()).await.expect("bundle loads")
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

/// One action test's world: an emulator (strict), a runtime with the intercom bundle loaded, and a
/// connection to the emulator; plus the calls a test makes to set up data and check results.
pub struct ActionEnv {
    pub emu: RunningEmulator,
    pub runtime: Runtime,
    pub bundle: Bundle,
    pub conn: Connection,
}

pub async fn action_env() -> ActionEnv {
    let emu = emulator().await;
    let runtime = runtime();
    let bundle = load(&runtime, "intercom").await;
    let conn = connection(&emu);
    ActionEnv { emu, runtime, bundle, conn }
}

impl ActionEnv {
    pub async fn run(&self, key: &str, input: Value) -> Result<Value, switchyard::runtime::InvocationError> {
        let component = self.bundle.component(key).unwrap();
        self.runtime.run_action(component, Some(&self.conn), &input.to_string()).await
    }

    /// Runs an action that must succeed.
    pub async fn ok(&self, key: &str, input: Value) -> Value {
        match self.run(key, input.clone()).await {
            Ok(out) => out,
            Err(e) => panic!("{key} {input}: {e}"),
        }
    }

    /// Runs an action that must fail with a typed error.
    pub async fn err(&self, key: &str, input: Value) -> switchyard::runtime::bindings::ComponentError {
        match self.run(key, input.clone()).await {
            Ok(out) => panic!("{key} {input}: expected an error, got {out}"),
            Err(switchyard::runtime::InvocationError::Component(e)) => e,
            // A 401 the host saw from the connection's origin (the component's error underneath).
            Err(switchyard::runtime::InvocationError::CredentialsRefused(e)) => e,
            Err(other) => panic!("{key} {input}: expected a typed error, got {other}"),
        }
    }

    /// Asserts an invalid-input error naming `field`; returns its message.
    pub async fn invalid(&self, key: &str, input: Value, field: &str) -> String {
        match self.err(key, input.clone()).await {
            switchyard::runtime::bindings::ComponentError::InvalidInput(f) => {
                assert_eq!(f.field, field, "{key} {input}: {}", f.message);
                assert!(!f.message.is_empty());
                f.message
            }
            other => panic!("{key} {input}: expected invalid input on `{field}`, got {other:?}"),
        }
    }

    /// Asserts a not-found error; returns its message.
    pub async fn not_found(&self, key: &str, input: Value) -> String {
        match self.err(key, input.clone()).await {
            switchyard::runtime::bindings::ComponentError::NotFound(message) => message,
            other => panic!("{key} {input}: expected not found, got {other:?}"),
        }
    }

    /// A request to the emulator's HTTP API, as any Intercom client would send it.
    pub async fn api(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = reqwest::Client::new()
            .request(method, format!("{}{path}", self.emu.base_url()))
            .bearer_auth(self.emu.token())
            .header("Intercom-Version", "2.16");
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.api(reqwest::Method::GET, path, None).await
    }

    /// A POST that must succeed; returns the answer.
    pub async fn post(&self, path: &str, body: Value) -> Value {
        let (status, answer) = self.api(reqwest::Method::POST, path, Some(body.clone())).await;
        assert!((200..300).contains(&status), "POST {path} {body}: {status} {answer}");
        answer
    }

    /// The admin the connection's token belongs to (`GET /me`).
    pub fn me_admin(&self) -> String {
        self.emu.state().with_workspace(|ws| ws.me_admin_id.clone())
    }

    /// A new user with this email; returns its id.
    pub async fn user(&self, email: &str) -> String {
        let contact = create_contact(&self.emu, serde_json::json!({"role": "user", "email": email})).await;
        contact["id"].as_str().unwrap().to_string()
    }

    /// A contact-initiated conversation; returns its id.
    pub async fn conversation_from(&self, contact_id: &str, body: &str) -> String {
        let message = self
            .post("/conversations", serde_json::json!({"from": {"type": "user", "id": contact_id}, "body": body}))
            .await;
        id_text(&message["conversation_id"])
    }

    /// A ticket of the workspace's first (Customer) type for a contact; returns its id.
    pub async fn ticket_for(&self, contact_id: &str, title: &str) -> String {
        let ticket_type = self.emu.state().with_workspace(|ws| ws.ticket_types[0].id.clone());
        let body = serde_json::json!({
            "ticket_type_id": ticket_type, "contacts": [{"id": contact_id}],
            "ticket_attributes": {"_default_title_": title},
        });
        id_text(&self.post("/tickets", body).await["id"])
    }
}

/// An id as text, whether Intercom sent it as a string or a number.
pub fn id_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => panic!("not an id: {other}"),
    }
}

/// The `switchyard` binary with `home` as its data directory and no token taken from the test's
/// environment: every test that runs the CLI goes through here.
pub fn switchyard_command(home: &Path, args: &[&str]) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"));
    command.args(args).env("SWITCHYARD_HOME", home).env_remove("SWITCHYARD_TOKEN");
    command
}

/// Runs the CLI to completion.
pub fn switchyard(home: &Path, args: &[&str]) -> std::process::Output {
    switchyard_command(home, args).output().expect("the switchyard binary runs")
}

/// Runs a CLI command that must succeed; returns its stdout.
pub fn switchyard_ok(home: &Path, args: &[&str]) -> String {
    let out = switchyard(home, args);
    assert!(
        out.status.success(),
        "switchyard {} failed ({}): {}{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A fresh data directory that shares the tests' precompiled component cache (each command would
/// otherwise compile the bundles again).
pub fn test_home() -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    let cache = repo_root().join("target/test-home/cache");
    std::fs::create_dir_all(&cache).unwrap();
    std::os::unix::fs::symlink(&cache, home.path().join("cache")).unwrap();
    home
}

/// The line `switchyard connect` prints the authorize URL on.
pub const AUTHORIZE_LINE: &str = "Authorize switchyard in the browser: ";

/// Reads a running `switchyard connect`'s stderr until it prints the authorize URL. The returned
/// thread keeps collecting stderr; join it once the process has ended to get all of it.
pub async fn authorize_url(child: &mut std::process::Child) -> (url::Url, std::thread::JoinHandle<String>) {
    use std::io::{BufRead, BufReader};
    let stderr = child.stderr.take().expect("connect runs with stderr piped");
    let (url_tx, url_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines() {
            let line = line.unwrap();
            if let Some(url) = line.strip_prefix(AUTHORIZE_LINE) {
                let _ = url_tx.send(url.to_string());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let url = tokio::task::spawn_blocking(move || url_rx.recv_timeout(Duration::from_secs(60)))
        .await
        .unwrap()
        .expect("the authorize URL is printed");
    (url::Url::parse(&url).unwrap(), reader)
}

/// The arguments of `switchyard connect intercom --name NAME` through the emulator's OAuth endpoints
/// (authorize, token and API on the emulator, the callback on a free port, a 30 s timeout).
pub fn emulator_oauth_connect_args(emulator: &RunningEmulator, name: &str, client_id: &str) -> Vec<String> {
    let base = emulator.base_url();
    [
        "connect",
        "intercom",
        "--name",
        name,
        "--client-id",
        client_id,
        "--authorize-url",
        &format!("{base}/oauth"),
        "--token-url",
        &format!("{base}/auth/eagle/token"),
        "--base-url",
        &base,
        "--callback-port",
        "0",
        "--timeout",
        "30",
    ]
    .map(str::to_string)
    .to_vec()
}
