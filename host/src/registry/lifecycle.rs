//! The registry's lifecycle: opening the bundles directory, refreshing from disk, installing and
//! removing bundles, and the trusted keys.

use super::archive::{Staging, bundle_root_in, copy_bundle, extract_archive};
use super::{
    BUNDLES_DIR, INSTALL_RECORD, InstallRecord, Installed, InstalledBundle, Resolved, TRUSTED_KEYS_DIR, unique_suffix,
};
use crate::bundle::{self, Bundle, MANIFEST_FILE, TrustPolicy};
use crate::runtime::Runtime;
use anyhow::{Context, Result, bail};
use arc_swap::ArcSwap;
use cap_std::ambient_authority;
use cap_std::fs::Dir;
use semver::Version;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
        crate::files::create_private_dir(&root).with_context(|| format!("creating {}", root.display()))?;
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
        // Trust, namespace and allowed hosts are checked before anything is compiled.
        let bundle = bundle::load_dir(runtime, &dir, &shown, &self.trust).await?;
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

        // From the manifest alone, before any wasm is compiled or described: the signature, the trust
        // rule, the name, each key in the bundle's namespace, the allowed hosts.
        let (manifest, _) = bundle::check_dir(&staging.bundle, source, &self.trust)?;
        check_bundle_name(&manifest.bundle.name, source)?;
        let bundle = bundle::load_dir(runtime, &staging.bundle, source, &self.trust).await?;
        let name = bundle.manifest.bundle.name.clone();
        let version = bundle.manifest.bundle.version.clone();
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
    crate::files::create_private_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
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
