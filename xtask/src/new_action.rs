//! `cargo xtask new-action NAME [--dir PATH]`: scaffolds an action crate that builds with
//! `cargo xtask build --bundle PATH`, with a test that runs it through the host against the emulator.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

pub struct CrateSpec<'a> {
    pub package: &'a str,
    pub version: &'a str,
    /// `connector/name`.
    pub key: &'a str,
    /// "read", "idempotent" or "write" (see [`EFFECT_COMMENT`]).
    pub effect: &'a str,
    pub bundle_version: &'a str,
    pub allowed_hosts: &'a [&'a str],
}

/// Written above `effect` in a new crate's Cargo.toml: what the three values mean to the host.
pub const EFFECT_COMMENT: &str = "\
# What the action does to the outside world, which decides whether the host may send it again by itself:
#   \"read\"       only reads; retried after a transient failure or a crash
#   \"idempotent\" sending it twice leaves the same state as once (setting fields, tagging, upserts); retried too
#   \"write\"      creates something each time, or destroys something; never sent again by itself when its
#                outcome is unknown (the run waits for an operator: `switchyard runs retry` or `runs skip`)
# Leaving it out means \"write\".";

/// The Cargo.toml of an out-of-tree component crate: its own workspace (so it builds outside
/// Switchyard's), the SDK by path, the bundle's settings, and the release profile every component uses.
pub fn crate_manifest(root: &Path, spec: &CrateSpec) -> String {
    let sdk = root.join("components/sdk");
    let connector = spec.key.split_once('/').map(|(c, _)| c).unwrap_or(spec.key);
    let hosts: Vec<String> = spec.allowed_hosts.iter().map(|h| format!("{h:?}")).collect();
    format!(
        r#"[package]
name = "{package}"
version = "{version}"
edition = "2024"
publish = false

[package.metadata.switchyard]
key = "{key}"
kind = "action"
{effect_comment}
effect = "{effect}"

[lib]
crate-type = ["cdylib"]

[dependencies]
switchyard-sdk = {{ path = {sdk:?} }}
serde = {{ version = "1", features = ["derive"] }}
serde_json = "1"
schemars = "1.2"

# Its own workspace: `cargo xtask build --bundle PATH` builds it outside Switchyard's workspaces.
[workspace]

# The bundle this component ships in (the key's prefix names it).
[workspace.metadata.switchyard.bundles.{connector}]
version = "{bundle_version}"
allowed_hosts = [{hosts}]

# The profile of Switchyard's own components: opt-level 3, since a component's time goes mostly to
# JSON work (see components/Cargo.toml).
[profile.release]
opt-level = 3
lto = true
codegen-units = 1
strip = true
panic = "abort"
debug = false
"#,
        package = spec.package,
        version = spec.version,
        key = spec.key,
        effect_comment = EFFECT_COMMENT,
        effect = spec.effect,
        sdk = sdk.display().to_string(),
        bundle_version = spec.bundle_version,
        hosts = hosts.join(", "),
    )
}

/// Starts the crate's Cargo.lock from the components workspace's, so it resolves the same versions
/// of the SDK's dependencies and reuses their compiled artifacts in target/wasm.
pub fn seed_lockfile(root: &Path, dir: &Path) -> Result<()> {
    let lock = dir.join("Cargo.lock");
    if !lock.exists() {
        std::fs::copy(root.join("components/Cargo.lock"), &lock)
            .with_context(|| format!("writing {}", lock.display()))?;
    }
    Ok(())
}

pub fn new_action(root: &Path, name: &str, dir: Option<&Path>) -> Result<PathBuf> {
    let (connector, action) = match name.split_once('/') {
        Some((c, a)) => (c, a),
        None => ("intercom", name),
    };
    let valid = |s: &str| {
        !s.is_empty()
            && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !s.starts_with('-')
    };
    if !valid(connector) || !valid(action) {
        bail!("{name:?}: give the action as kebab-case NAME or CONNECTOR/NAME, e.g. acme/health-score");
    }
    let key = format!("{connector}/{action}");
    let crate_dir = match dir {
        Some(dir) => dir.join(action),
        None => root.join("components").join(connector).join(action),
    };
    if crate_dir.exists() {
        bail!("{} exists; choose another name or --dir", crate_dir.display());
    }
    let package = format!("{connector}-{action}");
    let title: String = action
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ");
    std::fs::create_dir_all(crate_dir.join("src"))?;
    std::fs::create_dir_all(crate_dir.join("tests"))?;
    let in_tree = dir.is_none();
    let manifest = if in_tree {
        // Inside components/: the workspace provides the SDK and the profile.
        format!(
            r#"[package]
name = "{package}"
version = "0.1.0"
edition.workspace = true
rust-version.workspace = true
license.workspace = true

[package.metadata.switchyard]
key = "{key}"
kind = "action"
{EFFECT_COMMENT}
effect = "write"

[lib]
crate-type = ["cdylib"]

[dependencies]
switchyard-sdk.workspace = true
serde.workspace = true
schemars.workspace = true
serde_json.workspace = true
"#
        )
    } else {
        let hosts = ["api.intercom.io", "api.eu.intercom.io", "api.au.intercom.io"];
        crate_manifest(
            root,
            &CrateSpec {
                package: &package,
                version: "0.1.0",
                key: &key,
                effect: "write",
                bundle_version: "0.1.0",
                allowed_hosts: &hosts,
            },
        )
    };
    std::fs::write(crate_dir.join("Cargo.toml"), manifest)?;
    std::fs::write(crate_dir.join("src/lib.rs"), lib_template(&title))?;
    if !in_tree {
        seed_lockfile(root, &crate_dir)?;
        std::fs::write(crate_dir.join(".gitignore"), "/target\n")?;
    }
    let test = test_template(root, &key, in_tree);
    if in_tree {
        // In-tree components are tested from host/tests/ (one wasmtime link for all of them).
        std::fs::write(
            crate_dir.join("tests/README.md"),
            format!("Copy this test into host/tests/ to run it:\n\n```rust\n{test}```\n"),
        )?;
    } else {
        std::fs::write(crate_dir.join("tests/host.rs"), test)?;
    }
    let build = if in_tree {
        "cargo xtask build".to_string()
    } else {
        format!("cargo xtask build --bundle {}", crate_dir.display())
    };
    eprintln!("xtask: created {} ({key}); build it with `{build}`", crate_dir.display());
    Ok(crate_dir)
}

fn lib_template(title: &str) -> String {
    format!(
        r#"//! {title}: describe what it does, and anything destructive, here.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{{Value, json}};
use switchyard_sdk::intercom::{{self, segment}};
use switchyard_sdk::{{Action, Error, input}};

struct Act;

/// {title}
///
/// The doc comment of the input type becomes the form's title and help text.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Input {{
    /// The contact's Intercom id.
    #[schemars(title = "Contact ID")]
    contact_id: String,
}}

impl Action for Act {{
    type Input = Input;
    const NAME: &'static str = "{title}";
    const SUMMARY: &'static str = "Reads a contact. Replace with one or two sentences on what this action does.";

    fn sample_output() -> Value {{
        json!({{"type": "contact", "id": "6657add46abd0167d9419cd2", "email": "ada@example.com"}})
    }}

    fn run(input: Input) -> Result<Value, Error> {{
        let id = input::non_empty("contact_id", &input.contact_id)?;
        intercom::get(format!("/contacts/{{}}", segment(id))).send()
    }}
}}

switchyard_sdk::export_action!(Act);
"#
    )
}

fn test_template(root: &Path, key: &str, in_tree: bool) -> String {
    let connector = key.split_once('/').map(|(c, _)| c).unwrap_or(key);
    let bundle = root.join("target/bundles").join(connector);
    let deps = if in_tree {
        String::new()
    } else {
        format!(
            "//! Add these dev-dependencies to Cargo.toml to run it (they are not built for the wasm target):\n//!\n//! ```toml\n//! [dev-dependencies]\n\
             //! switchyard = {{ path = {:?} }}\n//! intercom-emulator = {{ path = {:?} }}\n\
             //! tokio = {{ version = \"1\", features = [\"full\"] }}\n//! serde_json = \"1\"\n//! reqwest = {{ version = \"0.12\", features = [\"json\"] }}\n//! ```\n",
            root.join("host").display().to_string(),
            root.join("tests/emulator").display().to_string()
        )
    };
    format!(
        r#"//! Runs {key} through the Switchyard host against the Intercom emulator. Build the bundle first
//! (`cargo xtask build --bundle PATH`), then `cargo test` (native target).
{deps}#![cfg(not(target_arch = "wasm32"))]

use serde_json::json;
use switchyard::runtime::{{Limits, Runtime, RuntimeConfig}};

#[tokio::test]
async fn runs_against_the_emulator() {{
    let emulator = intercom_emulator::spawn(intercom_emulator::EmulatorConfig::default()).await.unwrap();
    let home = std::env::temp_dir().join("switchyard-action-test");
    let runtime = Runtime::new(RuntimeConfig {{ limits: Limits::default(), cache_dir: home.join("cache") }}).unwrap();
    // Where `cargo xtask build --bundle` wrote the bundle (override with SWITCHYARD_BUNDLE).
    let bundle = std::env::var("SWITCHYARD_BUNDLE").unwrap_or_else(|_| {bundle:?}.to_string());
    // No trusted keys here; the host checks its own (`switchyard bundle trust`) on every load.
    let trust = switchyard::bundle::TrustPolicy::default();
    let bundle = switchyard::bundle::load(&runtime, std::path::Path::new(&bundle), &trust).await.unwrap();
    let component = bundle.component({key:?}).unwrap();

    let contact: serde_json::Value = reqwest::Client::new()
        .post(format!("{{}}/contacts", emulator.base_url()))
        .bearer_auth(emulator.token())
        .header("Intercom-Version", "2.16")
        .json(&json!({{"role": "user", "email": "ada@example.com"}}))
        .send().await.unwrap()
        .json().await.unwrap();
    let connection = switchyard::http::Connection::new("test", &emulator.base_url(), emulator.token()).unwrap();
    let input = json!({{"contact_id": contact["id"]}}).to_string();
    let output = runtime.run_action(component, Some(&connection), &input).await.unwrap();
    assert_eq!(output["id"], contact["id"]);
}}
"#,
        bundle = bundle.display().to_string()
    )
}
