//! `switchyard bundle ...`: install, list and remove bundles in the data directory, trust signing
//! keys, and show which installed version a `key@requirement` resolves to.

use super::Failure;
use crate::bundle::{self, Bundle};
use crate::registry::{self, InstalledBundle, Registry};
use crate::runtime::Runtime;
use anyhow::Context;
use clap::Subcommand;
use std::path::{Path, PathBuf};

#[derive(Subcommand, Debug)]
pub enum BundleCommand {
    /// Install a bundle: a directory (e.g. target/bundles/NAME) or a .tar / .tar.gz archive.
    /// Several versions of one bundle can be installed side by side.
    Install {
        /// The bundle directory or archive.
        path: PathBuf,
    },
    /// List installed bundles: name, version, components, WIT version, source, signature.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Remove one installed version; running invocations finish on it.
    Remove {
        /// NAME@VERSION, as `bundle list` shows it, e.g. acme@1.0.0.
        bundle: String,
    },
    /// Trust an ed25519 public key (a file of 64 hex digits, e.g. KEYFILE.pub from
    /// `cargo xtask keygen`). Once any key is trusted, only bundles signed by a trusted key install or load.
    Trust {
        /// The public key file.
        public_key: PathBuf,
    },
    /// Show which installed component and version `KEY@REQUIREMENT` resolves to (e.g. intercom/create-contact@^1.2).
    Resolve {
        /// The component key, optionally with a semver requirement.
        component: String,
    },
}

pub async fn run(runtime: &Runtime, home: &Path, command: BundleCommand) -> Result<(), Failure> {
    let open = || Registry::open(runtime, home);
    match command {
        BundleCommand::Trust { public_key } => {
            let id = registry::trust_key(home, &public_key)?;
            println!("trusted key {id}; from now on only bundles signed by a trusted key are accepted");
        }
        BundleCommand::Install { path } => {
            let registry = open().await?;
            let installed = registry.install(runtime, &path).await?;
            println!(
                "installed {}@{} ({} components, {}) into {}",
                installed.name(),
                installed.version(),
                installed.bundle.components.len(),
                signature_status(&registry, &installed),
                installed.bundle.root.display()
            );
            print_contents(&installed.bundle);
        }
        BundleCommand::List { json } => {
            let registry = open().await?;
            let installed = registry.snapshot();
            if json {
                let rows: Vec<_> = installed
                    .bundles()
                    .map(|b| {
                        let components: Vec<_> = b
                            .bundle
                            .components
                            .values()
                            .map(|c| serde_json::json!({"key": c.key(), "version": c.description.version}))
                            .collect();
                        serde_json::json!({
                            "name": b.name(),
                            "version": b.version().to_string(),
                            "components": components,
                            "wit": b.bundle.manifest.bundle.wit.to_string(),
                            "source": b.record.source,
                            "installed_at": b.record.installed_at,
                            "signature": signature_status(&registry, b),
                            "path": b.bundle.root.display().to_string(),
                        })
                    })
                    .collect();
                let problems = installed.problems();
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({"bundles": rows, "problems": problems}))
                        .context("printing")?
                );
            } else {
                println!(
                    "{:<20} {:<10} {:<6} {:<36} {:<40} SOURCE",
                    "NAME", "VERSION", "WIT", "COMPONENTS", "SIGNATURE"
                );
                for b in installed.bundles() {
                    let components: Vec<String> = b
                        .bundle
                        .components
                        .values()
                        .map(|c| format!("{}@{}", c.key(), c.description.version))
                        .collect();
                    println!(
                        "{:<20} {:<10} {:<6} {:<36} {:<40} {}",
                        b.name(),
                        b.version().to_string(),
                        b.bundle.manifest.bundle.wit.to_string(),
                        components.join(","),
                        signature_status(&registry, b),
                        b.record.source
                    );
                }
                for problem in installed.problems() {
                    eprintln!("warning: not loaded: {problem}");
                }
            }
        }
        BundleCommand::Remove { bundle } => {
            let (name, version) = registry::parse_bundle_version(&bundle)?;
            let registry = open().await?;
            registry.remove(&name, &version).await?;
            println!("removed {name}@{version}");
        }
        BundleCommand::Resolve { component } => {
            let registry = open().await?;
            let resolved = registry.resolve(&component)?;
            println!(
                "{component} -> {}@{} (bundle {}@{})",
                resolved.component.key(),
                resolved.version(),
                resolved.bundle.name(),
                resolved.bundle.version()
            );
        }
    }
    Ok(())
}

/// The bundle directory `dir`, loaded under the trusted keys of `home` (`--bundle DIR`: the same rule
/// as `bundle install`, checked before anything is compiled).
pub async fn load_dir(runtime: &Runtime, dir: &Path, home: &Path) -> anyhow::Result<Bundle> {
    let trust = registry::load_trusted_keys(home)?;
    bundle::load(runtime, dir, &trust).await
}

/// What an install adds: each component (key, kind, effect, version) and the hosts its components
/// may reach besides their connection's own origin.
fn print_contents(bundle: &Bundle) {
    println!("  {:<40} {:<8} {:<10} VERSION", "KEY", "KIND", "EFFECT");
    for c in bundle.components.values() {
        println!("  {:<40} {:<8} {:<10} {}", c.key(), c.kind().name(), c.effect.as_str(), c.description.version);
    }
    let hosts = &bundle.manifest.bundle.allowed_hosts;
    if hosts.is_empty() {
        println!("allowed hosts: none (the components reach only their connection's own origin)");
    } else {
        println!("allowed hosts (besides each connection's own origin): {}", hosts.join(", "));
    }
}

/// "unsigned", or "signed by KEYID (trusted|untrusted)".
pub fn signature_status(registry: &Registry, bundle: &InstalledBundle) -> String {
    match bundle.signer() {
        None => "unsigned".into(),
        Some(s) if registry.trust().is_trusted(s) => format!("signed by {} (trusted)", s.key_id),
        Some(s) => format!("signed by {} (not trusted)", s.key_id),
    }
}
