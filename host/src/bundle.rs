//! Bundles: a directory with `bundle.toml` and the components it lists. Everything in a bundle is
//! read through a capability to that directory alone (cap-std), so a manifest cannot point outside
//! it, and every component's sha256 is checked against the manifest before it is compiled.

use crate::http::HostPolicy;
use crate::runtime::bindings::{self, ComponentKind};
use crate::runtime::{LoadedComponent, Runtime};
use anyhow::{Context, Result, bail};
use cap_std::ambient_authority;
use cap_std::fs::Dir;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const MANIFEST_FILE: &str = "bundle.toml";

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub bundle: BundleInfo,
    #[serde(rename = "component", default)]
    pub components: Vec<ComponentEntry>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BundleInfo {
    pub name: String,
    pub version: semver::Version,
    /// The version of the `switchyard:connector` WIT package the components were built against.
    pub wit: semver::Version,
    /// Hosts the components may reach besides their connection's own origin.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentEntry {
    pub key: String,
    pub kind: EntryKind,
    pub version: semver::Version,
    pub file: String,
    pub sha256: String,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    Action,
    Trigger,
}

impl From<EntryKind> for ComponentKind {
    fn from(kind: EntryKind) -> Self {
        match kind {
            EntryKind::Action => ComponentKind::Action,
            EntryKind::Trigger => ComponentKind::Trigger,
        }
    }
}

/// A loaded bundle.
pub struct Bundle {
    pub root: PathBuf,
    pub manifest: Manifest,
    pub components: BTreeMap<String, Arc<LoadedComponent>>,
}

/// Whether this host can run components built against WIT package `version`: the same major (for
/// 0.x, the same minor) and not newer than the host's.
pub fn wit_compatible(version: &semver::Version) -> bool {
    let host: semver::Version = bindings::WIT_VERSION.parse().expect("WIT_VERSION is semver");
    let same_line =
        if host.major == 0 { version.major == 0 && version.minor == host.minor } else { version.major == host.major };
    same_line && *version <= host
}

/// Reads and parses `bundle.toml` of the bundle directory `root`.
pub fn read_manifest(dir: &Dir, root: &Path) -> Result<Manifest> {
    let text = dir
        .read_to_string(MANIFEST_FILE)
        .with_context(|| format!("{}: cannot read {MANIFEST_FILE}; is this a bundle directory?", root.display()))?;
    toml::from_str(&text).with_context(|| format!("{}: {MANIFEST_FILE} is malformed", root.display()))
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Loads every component of the bundle at `root` into `runtime`.
pub async fn load(runtime: &Runtime, root: &Path) -> Result<Bundle> {
    let dir = Dir::open_ambient_dir(root, ambient_authority())
        .with_context(|| format!("cannot open bundle directory {}", root.display()))?;
    let manifest = read_manifest(&dir, root)?;
    if !wit_compatible(&manifest.bundle.wit) {
        bail!(
            "{}: built against switchyard:connector@{}, but this host serves @{}; rebuild the bundle with a compatible SDK",
            root.display(),
            manifest.bundle.wit,
            bindings::WIT_VERSION
        );
    }
    let policy = Arc::new(HostPolicy { allowed_hosts: manifest.bundle.allowed_hosts.clone() });
    let mut components = BTreeMap::new();
    for entry in &manifest.components {
        let shown = root.join(&entry.file).display().to_string();
        let wasm = dir.read(&entry.file).with_context(|| {
            format!("{shown}: cannot read the component listed for {} (files must be inside the bundle)", entry.key)
        })?;
        let actual = sha256_hex(&wasm);
        if !actual.eq_ignore_ascii_case(&entry.sha256) {
            bail!(
                "{shown}: sha256 mismatch: the file hashes to {actual} but {MANIFEST_FILE} says {}; \
                 the bundle was modified after it was built, so it is refused (rebuild it with `cargo xtask build`)",
                entry.sha256
            );
        }
        let loaded = runtime.load(&shown, &wasm, &actual, entry.kind.into(), policy.clone()).await?;
        let described = &loaded.description;
        if described.key != entry.key
            || described.version != entry.version.to_string()
            || ComponentKind::from(entry.kind) != loaded.kind()
        {
            bail!(
                "{shown}: the component describes itself as {} {} but {MANIFEST_FILE} lists {} {}",
                described.key,
                described.version,
                entry.key,
                entry.version
            );
        }
        if components.insert(entry.key.clone(), Arc::new(loaded)).is_some() {
            bail!("{}: {MANIFEST_FILE} lists {} twice", root.display(), entry.key);
        }
    }
    Ok(Bundle { root: root.to_path_buf(), manifest, components })
}

impl Bundle {
    pub fn component(&self, key: &str) -> Result<&Arc<LoadedComponent>> {
        self.components.get(key).with_context(|| {
            let known: Vec<&str> = self.components.keys().map(String::as_str).collect();
            format!(
                "no component {key:?} in bundle {} (it has: {}); `switchyard action list --bundle {}` shows them",
                self.manifest.bundle.name,
                known.join(", "),
                self.root.display()
            )
        })
    }
}
