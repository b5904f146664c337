//! Builds the guest components and writes one bundle per connector into target/bundles/.

use crate::{cargo, status};
use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

pub const WASM_TARGET: &str = "wasm32-wasip2";
/// The WIT package version the components are built against (see wit/).
const WIT_VERSION: &str = "0.1.0";

#[derive(Serialize)]
struct Manifest {
    bundle: BundleInfo,
    component: Vec<ComponentEntry>,
}

#[derive(Serialize)]
struct BundleInfo {
    name: String,
    version: String,
    wit: String,
    allowed_hosts: Vec<String>,
}

#[derive(Serialize)]
struct ComponentEntry {
    key: String,
    kind: String,
    version: String,
    file: String,
    sha256: String,
}

struct Crate {
    package: String,
    lib_name: String,
    key: String,
    kind: String,
    version: String,
}

/// Installs the wasm target if rustup does not have it yet.
pub fn ensure_wasm_target() -> Result<()> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("running rustup (Switchyard's build needs rustup to add the wasm32-wasip2 target)")?;
    if String::from_utf8_lossy(&installed.stdout).lines().any(|l| l.trim() == WASM_TARGET) {
        return Ok(());
    }
    eprintln!("xtask: installing the {WASM_TARGET} target with rustup");
    let mut cmd = Command::new("rustup");
    cmd.args(["target", "add", WASM_TARGET]);
    status(cmd, "rustup target add")
}

/// Builds every component crate in one cargo invocation and writes the bundles. Returns the bundles directory.
pub fn build(root: &Path) -> Result<PathBuf> {
    let started = Instant::now();
    ensure_wasm_target()?;
    let components_manifest = root.join("components/Cargo.toml");
    let metadata = cargo_metadata(root, &components_manifest)?;
    let crates = component_crates(&metadata)?;
    let bundle_settings = metadata.pointer("/metadata/switchyard/bundles").cloned().unwrap_or(Value::Null);
    let target_dir = root.join("target/wasm");

    eprintln!("xtask: building {} components for {WASM_TARGET}", crates.len());
    let mut cmd = cargo(root);
    cmd.args(["build", "--release", "--target", WASM_TARGET, "--manifest-path"])
        .arg(&components_manifest)
        .arg("--target-dir")
        .arg(&target_dir);
    for c in &crates {
        cmd.args(["-p", &c.package]);
    }
    status(cmd, "cargo build (components)")?;

    let out_dir = target_dir.join(WASM_TARGET).join("release");
    let bundles_dir = root.join("target/bundles");
    let mut by_bundle: BTreeMap<String, Vec<&Crate>> = BTreeMap::new();
    for c in &crates {
        let (bundle, _) =
            c.key.split_once('/').with_context(|| format!("{}: key {:?} must be connector/name", c.package, c.key))?;
        by_bundle.entry(bundle.to_string()).or_default().push(c);
    }
    let mut summary = Vec::new();
    for (name, members) in &by_bundle {
        let settings = bundle_settings.get(name);
        let version = settings.and_then(|s| s.get("version")).and_then(Value::as_str).unwrap_or("0.1.0").to_string();
        let allowed_hosts = settings
            .and_then(|s| s.get("allowed_hosts"))
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|h| h.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        let dir = bundles_dir.join(name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
        }
        std::fs::create_dir_all(&dir)?;
        let mut entries = Vec::new();
        for c in members {
            let wasm_path = out_dir.join(format!("{}.wasm", c.lib_name));
            let wasm = std::fs::read(&wasm_path).with_context(|| format!("reading {}", wasm_path.display()))?;
            let file = format!("{}.wasm", c.key.split_once('/').map(|(_, n)| n).unwrap_or(&c.key));
            std::fs::write(dir.join(&file), &wasm)?;
            entries.push(ComponentEntry {
                key: c.key.clone(),
                kind: c.kind.clone(),
                version: c.version.clone(),
                file,
                sha256: hex::encode(Sha256::digest(&wasm)),
            });
        }
        let manifest = Manifest {
            bundle: BundleInfo { name: name.clone(), version, wit: WIT_VERSION.into(), allowed_hosts },
            component: entries,
        };
        std::fs::write(dir.join("bundle.toml"), toml::to_string_pretty(&manifest)?)?;
        summary.push(format!("{name} ({} components)", members.len()));
    }
    eprintln!(
        "xtask: built {} bundles in {:.1}s: {} -> {}",
        by_bundle.len(),
        started.elapsed().as_secs_f64(),
        summary.join(", "),
        bundles_dir.display()
    );
    Ok(bundles_dir)
}

fn cargo_metadata(root: &Path, manifest: &Path) -> Result<Value> {
    let output = cargo(root)
        .args(["metadata", "--format-version", "1", "--no-deps", "--manifest-path"])
        .arg(manifest)
        .output()
        .context("running cargo metadata")?;
    if !output.status.success() {
        bail!("cargo metadata failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(serde_json::from_slice(&output.stdout)?)
}

/// The crates that declare `[package.metadata.switchyard]`: the components.
fn component_crates(metadata: &Value) -> Result<Vec<Crate>> {
    let mut crates = Vec::new();
    for package in metadata["packages"].as_array().context("cargo metadata without packages")? {
        let Some(meta) = package.pointer("/metadata/switchyard") else { continue };
        let name = package["name"].as_str().unwrap_or_default().to_string();
        let key = meta["key"].as_str().with_context(|| format!("{name}: metadata.switchyard.key missing"))?;
        let kind = meta["kind"].as_str().with_context(|| format!("{name}: metadata.switchyard.kind missing"))?;
        if kind != "action" && kind != "trigger" {
            bail!("{name}: metadata.switchyard.kind must be \"action\" or \"trigger\", not {kind:?}");
        }
        let lib_name = package["targets"]
            .as_array()
            .and_then(|t| t.iter().find(|t| t["kind"].as_array().is_some_and(|k| k.iter().any(|k| k == "cdylib"))))
            .and_then(|t| t["name"].as_str())
            .with_context(|| format!("{name}: a component crate needs crate-type = [\"cdylib\"]"))?
            .replace('-', "_");
        crates.push(Crate {
            package: name,
            lib_name,
            key: key.to_string(),
            kind: kind.to_string(),
            version: package["version"].as_str().unwrap_or("0.0.0").to_string(),
        });
    }
    crates.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(crates)
}
