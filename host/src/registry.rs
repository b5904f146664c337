//! Installed bundles: several versions side by side in the data directory, resolution of
//! `key@requirement` to the newest matching installed component, and hot swap.
//!
//! Layout, all under `<home>/bundles/` and only ever opened through cap-std:
//!
//! ```text
//! bundles/<name>/<version>/bundle.toml       the manifest (and bundle.sig when signed)
//! bundles/<name>/<version>/<component>.wasm  the components the manifest lists, nothing else
//! bundles/<name>/<version>/.install.toml     where it was installed from, and when
//! bundles/.staging-*/                        an install in progress (removed when it fails)
//! ```
//!
//! The disk is the only source of truth (no database rows): an install is complete exactly when its
//! directory has been renamed into place, which is atomic, so a crash never leaves a half-installed
//! bundle and there is nothing to keep consistent with a second store. Other processes (a running
//! `switchyard run`) pick changes up with [`Registry::refresh`].
//!
//! The in-memory set of loaded bundles sits behind an [`ArcSwap`]: an invocation takes the current
//! set (or just the `Arc` of its component) and keeps it, so an install or removal never disturbs a
//! call in flight, and new calls see the new set immediately. Every component is compiled (into the
//! host's precompiled cache) before the swap, so no invocation ever waits for compilation.

use crate::bundle::{self, Bundle, MANIFEST_FILE, SIGNATURE_FILE, Signer, TrustPolicy};
use crate::runtime::bindings::ComponentKind;
use crate::runtime::{LoadedComponent, Runtime};
use anyhow::{Context, Result, bail};
use arc_swap::ArcSwap;
use cap_std::ambient_authority;
use cap_std::fs::Dir;
use semver::{Version, VersionReq};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub const BUNDLES_DIR: &str = "bundles";
pub const TRUSTED_KEYS_DIR: &str = "trusted-keys";
const INSTALL_RECORD: &str = ".install.toml";
/// Extracting an archive stops past this many bytes: a bundle is a few MB of wasm, and a gzip bomb
/// must not fill the disk.
const MAX_ARCHIVE_BYTES: u64 = 512 << 20;
const MAX_ARCHIVE_ENTRIES: usize = 10_000;

/// Where an installed bundle came from, recorded at install.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct InstallRecord {
    /// The path given to `bundle install`.
    pub source: String,
    /// Seconds since the Unix epoch.
    pub installed_at: u64,
}

/// One installed version of a bundle, loaded and ready to run.
pub struct InstalledBundle {
    pub bundle: Bundle,
    pub record: InstallRecord,
}

impl InstalledBundle {
    pub fn name(&self) -> &str {
        &self.bundle.manifest.bundle.name
    }

    pub fn version(&self) -> &Version {
        &self.bundle.manifest.bundle.version
    }

    pub fn signer(&self) -> Option<&Signer> {
        self.bundle.signer.as_ref()
    }
}

/// The set of installed bundles at one moment. Immutable: a change builds a new set and swaps it in.
#[derive(Default)]
pub struct Installed {
    /// name -> version -> bundle.
    bundles: BTreeMap<String, BTreeMap<Version, Arc<InstalledBundle>>>,
    /// Installed bundles that failed to load (tampered with on disk, no longer trusted, ...).
    problems: Vec<String>,
}

impl Installed {
    /// Every installed bundle, by name then version.
    pub fn bundles(&self) -> impl Iterator<Item = &Arc<InstalledBundle>> {
        self.bundles.values().flat_map(|versions| versions.values())
    }

    pub fn get(&self, name: &str, version: &Version) -> Option<&Arc<InstalledBundle>> {
        self.bundles.get(name)?.get(version)
    }

    /// Installed bundles that could not be loaded, with the reason.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }

    /// The newest installed component matching `wanted`. When two bundle versions carry the same
    /// component version, the newer bundle wins.
    pub fn resolve(&self, wanted: &ComponentRef) -> Result<Resolved> {
        let mut candidates: Vec<(&Arc<InstalledBundle>, &Arc<LoadedComponent>)> =
            self.bundles().filter_map(|b| b.bundle.components.get(&wanted.key).map(|c| (b, c))).collect();
        if candidates.is_empty() {
            bail!(
                "{wanted}: no installed bundle has the component {}; install one with `switchyard bundle install PATH` \
                 (`switchyard bundle list` shows what is installed)",
                wanted.key
            );
        }
        candidates.sort_by(|(ba, ca), (bb, cb)| {
            (component_version(ca), ba.version()).cmp(&(component_version(cb), bb.version()))
        });
        let found = candidates.iter().rev().find(|(_, c)| wanted.requirement.matches(&component_version(c)));
        match found {
            Some((bundle, component)) => Ok(Resolved { bundle: Arc::clone(bundle), component: Arc::clone(component) }),
            None => {
                let installed: Vec<String> = candidates
                    .iter()
                    .map(|(b, c)| format!("{} (bundle {}@{})", c.description.version, b.name(), b.version()))
                    .collect();
                bail!(
                    "{wanted}: no installed version matches {}; installed: {}",
                    wanted.requirement,
                    installed.join(", ")
                )
            }
        }
    }
}

impl Installed {
    /// Resolves `key` at the semver `requirement` (none: the newest) and checks it is of `kind`.
    pub fn component(&self, key: &str, requirement: Option<&str>, kind: ComponentKind) -> Result<Arc<LoadedComponent>> {
        let text = match requirement {
            Some(req) => format!("{key}@{req}"),
            None => key.to_string(),
        };
        let resolved = self.resolve(&text.parse()?)?;
        if resolved.component.kind() != kind {
            return Err(crate::runtime::bindings::wrong_kind(key, resolved.component.kind(), kind));
        }
        Ok(resolved.component)
    }

    /// Every installed component key, once.
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.bundles().flat_map(|b| b.bundle.components.keys().cloned()).collect();
        keys.sort();
        keys.dedup();
        keys
    }
}

/// Workflows run against a snapshot of the installed set: `registry.snapshot()` for each run, so a
/// run keeps the versions it started with while installs and removals apply to the next one.
impl crate::runtime::Components for Installed {
    fn action(&self, key: &str, version: Option<&str>) -> Result<Arc<LoadedComponent>> {
        self.component(key, version, ComponentKind::Action)
    }

    fn trigger(&self, key: &str, version: Option<&str>) -> Result<Arc<LoadedComponent>> {
        self.component(key, version, ComponentKind::Trigger)
    }

    fn keys(&self) -> Vec<String> {
        Installed::keys(self)
    }
}

/// The registry resolves against its current installed set; a workflow run pins one snapshot.
impl crate::runtime::Components for Registry {
    fn action(&self, key: &str, version: Option<&str>) -> Result<Arc<LoadedComponent>> {
        self.snapshot().component(key, version, ComponentKind::Action)
    }

    fn trigger(&self, key: &str, version: Option<&str>) -> Result<Arc<LoadedComponent>> {
        self.snapshot().component(key, version, ComponentKind::Trigger)
    }

    fn keys(&self) -> Vec<String> {
        self.snapshot().keys()
    }

    fn pinned(&self) -> Option<Arc<dyn crate::runtime::Components>> {
        Some(self.snapshot())
    }
}

/// A component's own version, from its description (checked against the manifest at load).
fn component_version(component: &LoadedComponent) -> Version {
    component.description.version.parse().unwrap_or(Version::new(0, 0, 0))
}

/// `key@requirement`, e.g. `intercom/create-contact@^1.2`; without `@` any version matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComponentRef {
    pub key: String,
    pub requirement: VersionReq,
}

impl FromStr for ComponentRef {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> Result<Self> {
        let (key, requirement) = match text.split_once('@') {
            Some((key, req)) => {
                let requirement = VersionReq::parse(req.trim()).with_context(|| {
                    format!("{text:?}: {req:?} is not a version requirement (examples: ^1.2, ~1.2.3, =1.0.0, >=1, *)")
                })?;
                (key.trim(), requirement)
            }
            None => (text.trim(), VersionReq::STAR),
        };
        let valid = key
            .split_once('/')
            .is_some_and(|(connector, name)| !connector.is_empty() && !name.is_empty() && !name.contains('/'));
        if !valid {
            bail!(
                "{text:?}: a component is named connector/name, optionally followed by @requirement, e.g. intercom/create-contact@^1.2"
            );
        }
        Ok(ComponentRef { key: key.to_string(), requirement })
    }
}

impl fmt::Display for ComponentRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.requirement == VersionReq::STAR {
            write!(f, "{}", self.key)
        } else {
            write!(f, "{}@{}", self.key, self.requirement)
        }
    }
}

/// A resolved component and the installed bundle it belongs to. Holding it keeps that version
/// alive (and runnable) even after it is removed or replaced.
#[derive(Clone)]
pub struct Resolved {
    pub bundle: Arc<InstalledBundle>,
    pub component: Arc<LoadedComponent>,
}

impl Resolved {
    pub fn version(&self) -> Version {
        component_version(&self.component)
    }
}

/// The installed bundles of one data directory.
pub struct Registry {
    root: PathBuf,
    dir: Dir,
    trust: TrustPolicy,
    current: ArcSwap<Installed>,
    /// Serialises changes (install, remove, refresh) within this process; readers never wait.
    changes: tokio::sync::Mutex<()>,
}

impl Registry {
    /// Opens the registry in `home` (creating `bundles/`), with the trusted keys found in
    /// `home/trusted-keys/`, and loads every installed bundle into `runtime` (the process's one
    /// runtime; pass the same one to every later call).
    pub async fn open(runtime: &Runtime, home: &Path) -> Result<Registry> {
        let trust = load_trusted_keys(home)?;
        Self::open_with(runtime, home, trust).await
    }

    /// Like [`Registry::open`] with an explicit trust policy.
    pub async fn open_with(runtime: &Runtime, home: &Path, trust: TrustPolicy) -> Result<Registry> {
        let root = home.join(BUNDLES_DIR);
        std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
        let dir = Dir::open_ambient_dir(&root, ambient_authority())
            .with_context(|| format!("opening the bundles directory {}", root.display()))?;
        let registry = Registry {
            root,
            dir,
            trust,
            current: ArcSwap::from_pointee(Installed::default()),
            changes: tokio::sync::Mutex::new(()),
        };
        registry.remove_leftovers();
        registry.refresh(runtime).await?;
        Ok(registry)
    }

    /// Deletes what interrupted changes left behind: `.trash-*` (already out of the set) and the
    /// `.staging-*` of installs whose process is gone (known where /proc exists; elsewhere kept).
    fn remove_leftovers(&self) {
        let Ok(entries) = self.dir.entries() else { return };
        let proc_fs = Path::new("/proc/self").exists();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let stale = if name.starts_with(".trash-") {
                true
            } else if let Some(rest) = name.strip_prefix(".staging-") {
                let pid = rest.split('-').next().unwrap_or_default();
                proc_fs && !pid.is_empty() && !Path::new("/proc").join(pid).exists()
            } else {
                false
            };
            if stale && let Err(err) = self.dir.remove_dir_all(&name) {
                tracing::warn!("could not delete {}: {err}", self.root.join(&name).display());
            }
        }
    }

    pub fn trust(&self) -> &TrustPolicy {
        &self.trust
    }

    /// The installed set right now. Keep the `Arc` for as long as a consistent view is needed.
    pub fn snapshot(&self) -> Arc<Installed> {
        self.current.load_full()
    }

    /// Resolves `key@requirement` against the current set.
    pub fn resolve(&self, wanted: &str) -> Result<Resolved> {
        self.snapshot().resolve(&wanted.parse()?)
    }

    /// Re-reads the bundles directory and swaps in what changed (bundles installed or removed by
    /// another process). Bundles already loaded are kept as they are; new ones are compiled before
    /// the swap. A bundle that fails to load is reported in [`Installed::problems`], not fatal.
    pub async fn refresh(&self, runtime: &Runtime) -> Result<()> {
        let _change = self.changes.lock().await;
        let old = self.snapshot();
        let mut next = Installed::default();
        for (name, version) in self.scan()? {
            if let Some(existing) = old.get(&name, &version) {
                next.bundles.entry(name).or_default().insert(version, existing.clone());
                continue;
            }
            match self.load_installed(runtime, &name, &version).await {
                Ok(installed) => {
                    next.bundles.entry(name).or_default().insert(version, Arc::new(installed));
                }
                Err(err) => {
                    tracing::warn!("installed bundle {name}@{version} does not load: {err:#}");
                    next.problems.push(format!("{name}@{version}: {err:#}"));
                }
            }
        }
        self.current.store(Arc::new(next));
        Ok(())
    }

    /// Keeps this registry in step with the disk: refreshes every `every` until the registry is
    /// dropped. A long-running host (`switchyard run`) starts this so `switchyard bundle install` and
    /// `remove`, run from another process, take effect without a restart; the installing process has
    /// already compiled the new components into the shared cache, so the refresh only loads them.
    pub fn spawn_refresher(
        self: &Arc<Self>,
        runtime: Arc<Runtime>,
        every: std::time::Duration,
    ) -> tokio::task::JoinHandle<()> {
        let registry = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(registry) = registry.upgrade() else { return };
                if let Err(err) = registry.refresh(&runtime).await {
                    tracing::warn!("refreshing the installed bundles: {err:#}");
                }
            }
        })
    }

    /// The `(name, version)` directories present on disk.
    fn scan(&self) -> Result<Vec<(String, Version)>> {
        let mut found = Vec::new();
        for entry in self.dir.entries().with_context(|| format!("reading {}", self.root.display()))? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !entry.file_type()?.is_dir() {
                continue;
            }
            let versions =
                self.dir.open_dir(&name).with_context(|| format!("opening {}", self.root.join(&name).display()))?;
            for v in versions.entries()? {
                let v = v?;
                let text = v.file_name().to_string_lossy().into_owned();
                match Version::parse(&text) {
                    Ok(version) if v.file_type()?.is_dir() => found.push((name.clone(), version)),
                    _ => tracing::warn!(
                        "ignoring {}: not a bundle version directory",
                        self.root.join(&name).join(&text).display()
                    ),
                }
            }
        }
        Ok(found)
    }

    async fn load_installed(&self, runtime: &Runtime, name: &str, version: &Version) -> Result<InstalledBundle> {
        let relative = Path::new(name).join(version.to_string());
        let shown = self.root.join(&relative);
        let dir = self.dir.open_dir(&relative).with_context(|| format!("opening {}", shown.display()))?;
        let bundle = bundle::load_dir(runtime, &dir, &shown).await?;
        self.trust.check(&shown, bundle.signer.as_ref())?;
        let info = &bundle.manifest.bundle;
        if info.name != name || &info.version != version {
            bail!(
                "{}: {MANIFEST_FILE} says {}@{}, which does not match its directory",
                shown.display(),
                info.name,
                info.version
            );
        }
        let record = match dir.read_to_string(INSTALL_RECORD) {
            Ok(text) => {
                toml::from_str(&text).with_context(|| format!("{}/{INSTALL_RECORD} is malformed", shown.display()))?
            }
            Err(_) => InstallRecord { source: "unknown".into(), installed_at: 0 },
        };
        Ok(InstalledBundle { bundle, record })
    }

    /// Installs the bundle at `source` (a directory, or a `.tar` / `.tar.gz` archive). Everything is
    /// checked and compiled in a staging directory first; only then is it moved into place and
    /// swapped in. On any error the installed set, on disk and in memory, is unchanged.
    pub async fn install(&self, runtime: &Runtime, source: &Path) -> Result<Arc<InstalledBundle>> {
        let _change = self.changes.lock().await;
        let staging = Staging::create(&self.dir, &self.root)?;
        let metadata = std::fs::metadata(source).with_context(|| format!("{}: cannot read it", source.display()))?;
        if metadata.is_dir() {
            let from = Dir::open_ambient_dir(source, ambient_authority())
                .with_context(|| format!("opening the bundle directory {}", source.display()))?;
            copy_bundle(&from, source, &staging.bundle)?;
        } else {
            staging.dir.create_dir("raw")?;
            let raw = staging.dir.open_dir("raw")?;
            extract_archive(source, &raw)?;
            let (from, shown) = bundle_root_in(&raw, source)?;
            copy_bundle(&from, &shown, &staging.bundle)?;
        }

        let bundle = bundle::load_dir(runtime, &staging.bundle, source).await?;
        self.trust.check(source, bundle.signer.as_ref())?;
        let name = bundle.manifest.bundle.name.clone();
        let version = bundle.manifest.bundle.version.clone();
        check_bundle_name(&name, source)?;
        let relative = Path::new(&name).join(version.to_string());
        if self.snapshot().get(&name, &version).is_some() || self.dir.exists(&relative) {
            bail!(
                "{}: {name}@{version} is already installed; remove it first with `switchyard bundle remove {name}@{version}` \
                 (or give the new build a new version)",
                source.display()
            );
        }
        let record = InstallRecord {
            source: std::path::absolute(source).unwrap_or_else(|_| source.to_path_buf()).display().to_string(),
            installed_at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        };
        staging.bundle.write(INSTALL_RECORD, toml::to_string(&record)?)?;

        // Move into place: the one step that makes the install visible on disk.
        self.dir.create_dir_all(&name).with_context(|| format!("creating {}", self.root.join(&name).display()))?;
        staging
            .dir
            .rename("bundle", &self.dir, &relative)
            .with_context(|| format!("moving the bundle into {}", self.root.join(&relative).display()))?;
        drop(staging);

        let installed =
            Arc::new(InstalledBundle { bundle: Bundle { root: self.root.join(&relative), ..bundle }, record });
        let current = self.snapshot();
        let mut next = Installed { bundles: current.bundles.clone(), problems: current.problems.clone() };
        next.bundles.entry(name).or_default().insert(version, installed.clone());
        self.current.store(Arc::new(next));
        Ok(installed)
    }

    /// Removes an installed version. Invocations already holding it finish on it.
    pub async fn remove(&self, name: &str, version: &Version) -> Result<()> {
        let _change = self.changes.lock().await;
        let relative = Path::new(name).join(version.to_string());
        let current = self.snapshot();
        if current.get(name, version).is_none() && !self.dir.exists(&relative) {
            let installed: Vec<String> = current.bundles().map(|b| format!("{}@{}", b.name(), b.version())).collect();
            bail!(
                "{name}@{version} is not installed (installed: {})",
                if installed.is_empty() { "none".to_string() } else { installed.join(", ") }
            );
        }
        if self.dir.exists(&relative) {
            // Rename away first (atomic), then delete: a concurrent scan never sees half a bundle.
            let trash = format!(".trash-{}", unique_suffix());
            self.dir
                .rename(&relative, &self.dir, &trash)
                .with_context(|| format!("removing {}", self.root.join(&relative).display()))?;
            if let Err(err) = self.dir.remove_dir_all(&trash) {
                tracing::warn!("could not delete {}: {err}", self.root.join(&trash).display());
            }
            // Drop the name directory when its last version is gone.
            let _ = self.dir.remove_dir(name);
        }
        let mut next = Installed { bundles: current.bundles.clone(), problems: current.problems.clone() };
        if let Some(versions) = next.bundles.get_mut(name) {
            versions.remove(version);
            if versions.is_empty() {
                next.bundles.remove(name);
            }
        }
        next.problems.retain(|p| !p.starts_with(&format!("{name}@{version}:")));
        self.current.store(Arc::new(next));
        Ok(())
    }
}

/// Parses `NAME@VERSION` as `bundle remove` takes it.
pub fn parse_bundle_version(text: &str) -> Result<(String, Version)> {
    let (name, version) = text.split_once('@').with_context(|| {
        format!("{text:?}: give the bundle as NAME@VERSION, e.g. acme@1.0.0 (`switchyard bundle list` shows them)")
    })?;
    let version = Version::parse(version)
        .with_context(|| format!("{text:?}: {version:?} is not an exact version such as 1.0.0"))?;
    Ok((name.to_string(), version))
}

/// The trusted public keys: every `*.pub` file in `home/trusted-keys/` (64 hex digits each).
pub fn load_trusted_keys(home: &Path) -> Result<TrustPolicy> {
    let dir = home.join(TRUSTED_KEYS_DIR);
    let mut trusted = Vec::new();
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(TrustPolicy::default()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "pub") {
            let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            trusted.push(bundle::parse_public_key(&text, &path.display().to_string())?);
        }
    }
    Ok(TrustPolicy { trusted })
}

/// Adds a public key file to `home/trusted-keys/`. From then on only signed bundles are accepted.
pub fn trust_key(home: &Path, public_key_file: &Path) -> Result<String> {
    let text = std::fs::read_to_string(public_key_file)
        .with_context(|| format!("reading the public key file {}", public_key_file.display()))?;
    let key = bundle::parse_public_key(&text, &public_key_file.display().to_string())?;
    let id = bundle::key_id(&key);
    let dir = home.join(TRUSTED_KEYS_DIR);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(dir.join(format!("{id}.pub")), format!("{}\n", hex::encode(key.as_bytes())))?;
    Ok(id)
}

fn check_bundle_name(name: &str, source: &Path) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !ok {
        bail!(
            "{}: bundle.name {name:?} must be 1-64 lowercase letters, digits, '-' or '_', starting with a letter or digit",
            source.display()
        );
    }
    Ok(())
}

fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{}-{nanos}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// A private directory under `bundles/` for one install, deleted when dropped (on success its
/// `bundle/` has been renamed out of it first).
struct Staging<'a> {
    parent: &'a Dir,
    name: String,
    dir: Dir,
    bundle: Dir,
}

impl<'a> Staging<'a> {
    fn create(parent: &'a Dir, root: &Path) -> Result<Self> {
        let name = format!(".staging-{}", unique_suffix());
        parent.create_dir(&name).with_context(|| format!("creating a staging directory in {}", root.display()))?;
        let dir = parent.open_dir(&name)?;
        dir.create_dir("bundle")?;
        let bundle = dir.open_dir("bundle")?;
        Ok(Staging { parent, name, dir, bundle })
    }
}

impl Drop for Staging<'_> {
    fn drop(&mut self) {
        if let Err(err) = self.parent.remove_dir_all(&self.name) {
            tracing::warn!("could not delete the staging directory {}: {err}", self.name);
        }
    }
}

/// Copies `bundle.toml`, `bundle.sig` and the files the manifest lists from `from` into `to`:
/// nothing else of the source directory is installed.
fn copy_bundle(from: &Dir, shown: &Path, to: &Dir) -> Result<()> {
    let manifest = bundle::read_manifest(from, shown)?;
    let copy = |file: &str| -> Result<()> {
        if file.starts_with('.') || file == INSTALL_RECORD {
            bail!("{}: {file:?}: component files may not start with '.'", shown.display());
        }
        let bytes = from.read(file).with_context(|| {
            format!("{}: cannot read {file} (files must be inside the bundle)", shown.join(file).display())
        })?;
        if let Some(parent) = Path::new(file).parent().filter(|p| !p.as_os_str().is_empty()) {
            to.create_dir_all(parent)?;
        }
        to.write(file, bytes).with_context(|| format!("copying {file}"))?;
        Ok(())
    };
    copy(MANIFEST_FILE)?;
    if from.exists(SIGNATURE_FILE) {
        copy(SIGNATURE_FILE)?;
    }
    for entry in &manifest.components {
        copy(&entry.file)?;
    }
    Ok(())
}

/// Extracts a `.tar` or `.tar.gz` archive (told apart by the gzip magic bytes, not the name) into
/// `into`. Refuses absolute paths, `..`, links and special files, rather than skipping them, so a
/// hostile archive is reported.
fn extract_archive(archive: &Path, into: &Dir) -> Result<()> {
    let shown = archive.display();
    let mut file = std::fs::File::open(archive).with_context(|| format!("opening {shown}"))?;
    let mut magic = [0u8; 2];
    let gzip = file.read(&mut magic)? == 2 && magic == [0x1f, 0x8b];
    let file = std::fs::File::open(archive)?;
    let reader: Box<dyn Read> = if gzip { Box::new(flate2::read::GzDecoder::new(file)) } else { Box::new(file) };
    let mut tar = tar::Archive::new(reader.take(MAX_ARCHIVE_BYTES));
    let mut total: u64 = 0;
    let entries = tar.entries().with_context(|| format!("{shown}: not a tar archive"))?;
    for (count, entry) in entries.enumerate() {
        let mut entry = entry.with_context(|| format!("{shown}: not a readable tar archive (or .tar.gz)"))?;
        if count >= MAX_ARCHIVE_ENTRIES {
            bail!("{shown}: more than {MAX_ARCHIVE_ENTRIES} entries; a bundle holds a manifest and its components");
        }
        let path = entry.path().with_context(|| format!("{shown}: an entry has an unreadable path"))?.into_owned();
        let entry_type = entry.header().entry_type();
        let shown_entry = path.display();
        if entry_type.is_pax_global_extensions() || entry_type.is_pax_local_extensions() {
            continue;
        }
        let mut clean = PathBuf::new();
        for part in path.components() {
            match part {
                Component::Normal(p) => clean.push(p),
                Component::CurDir => {}
                Component::ParentDir => bail!(
                    "{shown}: entry {shown_entry:?} climbs out of the archive with '..' (path traversal); the archive is refused"
                ),
                Component::RootDir | Component::Prefix(_) => {
                    bail!("{shown}: entry {shown_entry:?} is an absolute path; the archive is refused")
                }
            }
        }
        if entry_type.is_symlink() || entry_type.is_hard_link() {
            bail!(
                "{shown}: entry {shown_entry:?} is a link; bundles may hold only files and directories, so the archive is refused"
            );
        }
        if entry_type.is_dir() {
            if !clean.as_os_str().is_empty() {
                into.create_dir_all(&clean)?;
            }
            continue;
        }
        if !entry_type.is_file() {
            bail!("{shown}: entry {shown_entry:?} is not a regular file ({entry_type:?}); the archive is refused");
        }
        if clean.as_os_str().is_empty() {
            bail!("{shown}: an entry has an empty path");
        }
        total += entry.size();
        if total > MAX_ARCHIVE_BYTES {
            bail!("{shown}: more than {} MiB once extracted; refused", MAX_ARCHIVE_BYTES >> 20);
        }
        if let Some(parent) = clean.parent().filter(|p| !p.as_os_str().is_empty()) {
            into.create_dir_all(parent)?;
        }
        let mut out = into
            .open_with(&clean, cap_std::fs::OpenOptions::new().write(true).create_new(true))
            .with_context(|| format!("{shown}: entry {shown_entry:?} appears twice or cannot be written"))?;
        std::io::copy(&mut entry, &mut out).with_context(|| format!("{shown}: extracting {shown_entry:?}"))?;
    }
    Ok(())
}

/// The directory holding `bundle.toml` in an extracted archive: its root, or its only top-level directory.
fn bundle_root_in(raw: &Dir, archive: &Path) -> Result<(Dir, PathBuf)> {
    if raw.exists(MANIFEST_FILE) {
        return Ok((raw.try_clone()?, archive.to_path_buf()));
    }
    let mut dirs = Vec::new();
    for entry in raw.entries()? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            dirs.push(entry.file_name());
        }
    }
    if let [only] = dirs.as_slice()
        && raw.exists(Path::new(only).join(MANIFEST_FILE))
    {
        return Ok((raw.open_dir(only)?, archive.join(only)));
    }
    bail!(
        "{}: no {MANIFEST_FILE} at the archive's root or in its single top-level directory; is this a bundle archive?",
        archive.display()
    )
}
