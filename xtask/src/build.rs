//! Builds the guest components and writes one bundle per connector into target/bundles/; builds
//! out-of-tree component crates (`--bundle PATH`), Python components (componentize-py, installed into
//! target/tools/ from PyPI), and signs bundles (`--sign KEYFILE`).

use crate::{cargo, status};
use anyhow::{Context, Result, bail};
use ed25519_dalek::SigningKey;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;
// The bundle format, shared with the host (host/manifest).
use switchyard_manifest::{
    BundleInfo, ComponentEntry, Effect, EntryKind, MANIFEST_FILE, Manifest, SIGNATURE_FILE, WIT_VERSION,
    check_allowed_host, key_id, sha256_hex, sign_manifest,
};

pub const WASM_TARGET: &str = "wasm32-wasip2";

struct Crate {
    package: String,
    lib_name: String,
    key: String,
    kind: EntryKind,
    effect: Effect,
    version: semver::Version,
}

/// A built component waiting to be written into a bundle.
struct Built {
    key: String,
    kind: EntryKind,
    effect: Effect,
    version: semver::Version,
    wasm: Vec<u8>,
}

/// A bundle's own settings: `[workspace.metadata.switchyard.bundles.NAME]` for Rust crates, the
/// `[bundle]` table of `switchyard.toml` for components in other languages.
#[derive(Default, Deserialize)]
struct BundleSettings {
    version: Option<String>,
    #[serde(default)]
    allowed_hosts: Vec<String>,
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

/// Builds every component crate in one cargo invocation and writes the bundles; then the
/// out-of-tree examples (which exercise `--bundle`). Returns the bundles directory.
pub fn build(root: &Path) -> Result<PathBuf> {
    let started = Instant::now();
    ensure_wasm_target()?;
    let components_manifest = root.join("components/Cargo.toml");
    let bundles_dir = root.join("target/bundles");
    let built = build_cargo(root, &components_manifest)?;
    let count = built.components.len();
    let names = write_bundles(built, &bundles_dir, None, None)?;
    eprintln!(
        "xtask: built {} bundles ({count} components) in {:.1}s: {} -> {}",
        names.len(),
        started.elapsed().as_secs_f64(),
        names.join(", "),
        bundles_dir.display()
    );

    // Out of tree, the way a third party builds: the example bundle (signed with its test-only key),
    // the Python example, and a copy of testing/version-echo at the next version for the hot-swap test.
    let third_party = root.join("examples/third-party");
    let test_key = third_party.join("acme-test.key");
    build_bundle(root, &third_party.join("health-score"), Some(&bundles_dir.join("acme")), Some(&test_key))?;
    build_bundle(root, &root.join("examples/python/contact-summary"), Some(&bundles_dir.join("polyglot")), None)?;
    let next = version_echo_next(root)?;
    build_bundle(root, &next, Some(&bundles_dir.join("testing-next")), None)?;
    Ok(bundles_dir)
}

/// Components built from one cargo workspace (or crate), with its bundle settings.
struct BuiltSet {
    components: Vec<Built>,
    settings: BTreeMap<String, BundleSettings>,
}

/// Builds the component crates of the workspace (or single crate) at `manifest` for wasm32-wasip2.
/// All builds share target/wasm, so the SDK's dependencies compile once for every crate.
fn build_cargo(root: &Path, manifest: &Path) -> Result<BuiltSet> {
    let metadata = cargo_metadata(root, manifest)?;
    let crates = component_crates(&metadata)?;
    if crates.is_empty() {
        bail!(
            "{}: no component crate found: a component declares [package.metadata.switchyard] key and kind \
             (`cargo xtask new-action NAME` scaffolds one)",
            manifest.display()
        );
    }
    let settings: BTreeMap<String, BundleSettings> = match metadata.pointer("/metadata/switchyard/bundles") {
        Some(v) => serde_json::from_value(v.clone())
            .with_context(|| format!("{}: metadata.switchyard.bundles is malformed", manifest.display()))?,
        None => BTreeMap::new(),
    };
    let target_dir = root.join("target/wasm");
    eprintln!("xtask: building {} components for {WASM_TARGET} ({})", crates.len(), manifest.display());
    let mut cmd = cargo(root);
    cmd.args(["build", "--release", "--target", WASM_TARGET, "--manifest-path"])
        .arg(manifest)
        .arg("--target-dir")
        .arg(&target_dir);
    for c in &crates {
        cmd.args(["-p", &c.package]);
    }
    status(cmd, "cargo build (components)")?;
    let out_dir = target_dir.join(WASM_TARGET).join("release");
    let mut components = Vec::new();
    for c in crates {
        let wasm_path = out_dir.join(format!("{}.wasm", c.lib_name));
        let wasm = std::fs::read(&wasm_path).with_context(|| format!("reading {}", wasm_path.display()))?;
        components.push(Built { key: c.key, kind: c.kind, effect: c.effect, version: c.version, wasm });
    }
    Ok(BuiltSet { components, settings })
}

/// Writes one bundle per connector (the key's prefix). `out`: where the bundle goes when there is
/// exactly one (default `bundles_dir/NAME`). Returns the bundle names.
fn write_bundles(built: BuiltSet, bundles_dir: &Path, out: Option<&Path>, sign: Option<&Path>) -> Result<Vec<String>> {
    let mut by_bundle: BTreeMap<String, Vec<Built>> = BTreeMap::new();
    for c in built.components {
        let (bundle, _) = c.key.split_once('/').with_context(|| format!("key {:?} must be connector/name", c.key))?;
        by_bundle.entry(bundle.to_string()).or_default().push(c);
    }
    if out.is_some() && by_bundle.len() > 1 {
        bail!(
            "--out names one bundle directory, but these components make {} bundles ({}); build them separately",
            by_bundle.len(),
            by_bundle.keys().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    // The host refuses a bundle whose allowed hosts are too broad or not host names, so refuse to
    // write one: before any bundle directory is touched.
    for name in by_bundle.keys() {
        for pattern in built.settings.get(name).map(|s| s.allowed_hosts.as_slice()).unwrap_or_default() {
            check_allowed_host(pattern).map_err(|e| {
                anyhow::anyhow!(
                    "bundle {name}: allowed_hosts entry {pattern:?}: {e} (set in [workspace.metadata.switchyard.bundles.{name}] \
                     of Cargo.toml, or the [bundle] table of {LANGUAGE_MANIFEST})"
                )
            })?;
        }
    }
    let key = sign.map(read_signing_key).transpose()?;
    let mut names = Vec::new();
    for (name, members) in by_bundle {
        let settings = built.settings.get(&name);
        let version = match settings.and_then(|s| s.version.as_deref()) {
            Some(v) => v.parse().with_context(|| format!("bundle {name}: version {v:?} is not semver"))?,
            None => semver::Version::new(0, 1, 0),
        };
        let allowed_hosts = settings.map(|s| s.allowed_hosts.clone()).unwrap_or_default();
        let dir = out.map(Path::to_path_buf).unwrap_or_else(|| bundles_dir.join(&name));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
        }
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut entries = Vec::new();
        for c in members {
            let file = format!("{}.wasm", c.key.split_once('/').map(|(_, n)| n).unwrap_or(&c.key));
            std::fs::write(dir.join(&file), &c.wasm)?;
            entries.push(ComponentEntry {
                key: c.key,
                kind: c.kind,
                effect: c.effect,
                version: c.version,
                file,
                sha256: sha256_hex(&c.wasm),
            });
        }
        let manifest = Manifest {
            bundle: BundleInfo {
                name: name.clone(),
                version,
                wit: WIT_VERSION.parse().expect("WIT_VERSION is semver"),
                allowed_hosts,
            },
            components: entries,
        };
        // Every key is the bundle's own (the name is the keys' prefix) and every host valid: the rules
        // the host checks at install and load.
        manifest.check().map_err(anyhow::Error::msg)?;
        let text = manifest.to_toml()?;
        std::fs::write(dir.join(MANIFEST_FILE), &text)?;
        if let Some(key) = &key {
            let signature = sign_manifest(key, text.as_bytes());
            std::fs::write(dir.join(SIGNATURE_FILE), signature.to_toml()?)?;
        }
        names.push(name);
    }
    Ok(names)
}

/// `cargo xtask build --bundle PATH`: builds an out-of-tree component into a bundle. PATH is a
/// crate or workspace (Cargo.toml), a component in another language (switchyard.toml), or a
/// directory of those. Returns the bundle directories written.
pub fn build_bundle(root: &Path, path: &Path, out: Option<&Path>, sign: Option<&Path>) -> Result<Vec<PathBuf>> {
    ensure_wasm_target()?;
    let path = std::path::absolute(path).with_context(|| format!("{}: cannot resolve the path", path.display()))?;
    let mut sources = Vec::new();
    if path.join("Cargo.toml").exists() || path.join(LANGUAGE_MANIFEST).exists() {
        sources.push(path.clone());
    } else {
        let entries = std::fs::read_dir(&path)
            .with_context(|| format!("{}: not a directory with Cargo.toml or {LANGUAGE_MANIFEST}", path.display()))?;
        for entry in entries {
            let p = entry?.path();
            if p.join("Cargo.toml").exists() || p.join(LANGUAGE_MANIFEST).exists() {
                sources.push(p);
            }
        }
        sources.sort();
    }
    if sources.is_empty() {
        bail!(
            "{}: no component here: give a crate (Cargo.toml with [package.metadata.switchyard]), a component in \
             another language ({LANGUAGE_MANIFEST}), or a directory of them",
            path.display()
        );
    }
    let mut all = BuiltSet { components: Vec::new(), settings: BTreeMap::new() };
    for source in &sources {
        let set = if source.join(LANGUAGE_MANIFEST).exists() {
            build_foreign(root, source)?
        } else {
            build_cargo(root, &source.join("Cargo.toml"))?
        };
        all.components.extend(set.components);
        all.settings.extend(set.settings);
    }
    let bundles_dir = root.join("target/bundles");
    let names = write_bundles(all, &bundles_dir, out, sign)?;
    let dirs: Vec<PathBuf> =
        names.iter().map(|n| out.map(Path::to_path_buf).unwrap_or_else(|| bundles_dir.join(n))).collect();
    for dir in &dirs {
        eprintln!("xtask: wrote bundle {}{}", dir.display(), if sign.is_some() { " (signed)" } else { "" });
    }
    Ok(dirs)
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
        let kind = entry_kind(kind).with_context(|| format!("{name}: metadata.switchyard.kind"))?;
        let effect = match meta.get("effect") {
            None => None,
            Some(Value::String(effect)) => Some(effect.as_str()),
            Some(other) => {
                bail!("{name}: metadata.switchyard.effect must be \"read\", \"idempotent\" or \"write\", not {other}")
            }
        };
        let effect = declared_effect(&name, "metadata.switchyard.effect", kind, effect)?;
        let version = package["version"].as_str().unwrap_or("0.0.0");
        let version = version.parse().with_context(|| format!("{name}: version {version:?} is not semver"))?;
        let lib_name = package["targets"]
            .as_array()
            .and_then(|t| t.iter().find(|t| t["kind"].as_array().is_some_and(|k| k.iter().any(|k| k == "cdylib"))))
            .and_then(|t| t["name"].as_str())
            .with_context(|| format!("{name}: a component crate needs crate-type = [\"cdylib\"]"))?
            .replace('-', "_");
        crates.push(Crate { package: name, lib_name, key: key.to_string(), kind, effect, version });
    }
    crates.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(crates)
}

fn entry_kind(kind: &str) -> Result<EntryKind> {
    match kind {
        "action" => Ok(EntryKind::Action),
        "trigger" => Ok(EntryKind::Trigger),
        other => bail!("must be \"action\" or \"trigger\", not {other:?}"),
    }
}

/// The effect a component declares (`field` of `owner`, named in messages). A trigger only reads; an
/// action that declares none counts as a write (the host never sends it again by itself), with a note.
fn declared_effect(owner: &str, field: &str, kind: EntryKind, declared: Option<&str>) -> Result<Effect> {
    let effect = match declared {
        None => None,
        Some(text) => Some(text.parse::<Effect>().map_err(|e| anyhow::anyhow!("{owner}: {field}: {e}"))?),
    };
    match (kind, effect) {
        (EntryKind::Trigger, None | Some(Effect::Read)) => Ok(Effect::Read),
        (EntryKind::Trigger, Some(other)) => {
            bail!("{owner}: {field} is \"{other}\", but a trigger only reads: declare \"read\" or leave it out")
        }
        (EntryKind::Action, Some(effect)) => Ok(effect),
        (EntryKind::Action, None) => {
            eprintln!(
                "xtask: note: {owner} declares no {field} (\"read\", \"idempotent\" or \"write\"); \
                 it counts as \"write\""
            );
            Ok(Effect::Write)
        }
    }
}

/// The manifest of a component written in a language other than Rust.
pub const LANGUAGE_MANIFEST: &str = "switchyard.toml";
/// The componentize-py release xtask installs from PyPI (into target/tools/, per checkout).
const COMPONENTIZE_PY: &str = "componentize-py==0.25.1";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LanguageManifest {
    component: ForeignComponent,
    #[serde(default)]
    bundle: BundleSettings,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ForeignComponent {
    key: String,
    kind: String,
    /// "read", "idempotent" or "write" (see `declared_effect`).
    #[serde(default)]
    effect: Option<String>,
    version: String,
    language: String,
    /// Python: the module defining the exported class.
    module: String,
}

/// Builds a component written in another language, described by its `switchyard.toml`.
fn build_foreign(root: &Path, dir: &Path) -> Result<BuiltSet> {
    let manifest_path = dir.join(LANGUAGE_MANIFEST);
    let text =
        std::fs::read_to_string(&manifest_path).with_context(|| format!("reading {}", manifest_path.display()))?;
    let manifest: LanguageManifest =
        toml::from_str(&text).with_context(|| format!("{} is malformed", manifest_path.display()))?;
    let c = &manifest.component;
    let shown = manifest_path.display().to_string();
    let kind = entry_kind(&c.kind).with_context(|| format!("{shown}: component.kind"))?;
    let effect = declared_effect(&shown, "component.effect", kind, c.effect.as_deref())?;
    let version =
        c.version.parse().with_context(|| format!("{shown}: component.version {:?} is not semver", c.version))?;
    let (bundle_name, _) = c
        .key
        .split_once('/')
        .with_context(|| format!("{}: key {:?} must be connector/name", manifest_path.display(), c.key))?;
    let wasm = match c.language.as_str() {
        "python" => build_python(root, dir, c)?,
        other => {
            bail!("{}: language {other:?} is not supported by xtask (supported: \"python\")", manifest_path.display())
        }
    };
    let mut settings = BTreeMap::new();
    settings.insert(bundle_name.to_string(), manifest.bundle);
    Ok(BuiltSet { components: vec![Built { key: c.key.clone(), kind, effect, version, wasm }], settings })
}

/// Builds a Python component with componentize-py against the repository's wit/. The result is
/// cached under target/wasm/python/, keyed by the sources, the contract and the toolchain version,
/// because componentize-py takes ~20 s.
fn build_python(root: &Path, dir: &Path, c: &ForeignComponent) -> Result<Vec<u8>> {
    let tool = ensure_componentize_py(root)?;
    let wit = root.join("wit");
    let mut hasher = Sha256::new();
    hasher.update(COMPONENTIZE_PY);
    hasher.update(format!("{}|{}|{}|{}", c.key, c.kind, c.version, c.module));
    for folder in [dir, wit.as_path()] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(folder)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "py" || x == "wit" || x == "toml"))
            .collect();
        files.sort();
        for f in files {
            hasher.update(f.file_name().unwrap_or_default().as_encoded_bytes());
            hasher.update(std::fs::read(&f)?);
        }
    }
    let stamp = hex::encode(hasher.finalize());
    let cache = root.join("target/wasm/python");
    std::fs::create_dir_all(&cache)?;
    let name = c.key.replace('/', "-");
    let wasm_path = cache.join(format!("{name}.wasm"));
    let stamp_path = cache.join(format!("{name}.stamp"));
    if wasm_path.exists() && std::fs::read_to_string(&stamp_path).ok().as_deref() == Some(stamp.as_str()) {
        eprintln!("xtask: {} (python) is up to date", c.key);
        return std::fs::read(&wasm_path).with_context(|| format!("reading {}", wasm_path.display()));
    }
    eprintln!("xtask: building {} (python) with {COMPONENTIZE_PY}", c.key);
    let mut cmd = Command::new(&tool);
    cmd.arg("-d")
        .arg(&wit)
        .arg("-w")
        .arg(format!("switchyard:connector/{}@{WIT_VERSION}", c.kind))
        .arg("componentize")
        .arg("-p")
        .arg(dir)
        .arg(&c.module)
        .arg("-o")
        .arg(&wasm_path)
        // componentize-py writes its bindings next to the sources otherwise.
        .current_dir(&cache);
    status(cmd, "componentize-py")?;
    std::fs::write(&stamp_path, &stamp)?;
    std::fs::read(&wasm_path).with_context(|| format!("reading {}", wasm_path.display()))
}

/// Installs componentize-py from PyPI into a virtual environment under target/tools/ (once per
/// checkout, like the wasm target), and returns the path of its executable.
fn ensure_componentize_py(root: &Path) -> Result<PathBuf> {
    let venv = root.join("target/tools/componentize-py");
    let tool = venv.join("bin/componentize-py");
    let marker = venv.join("installed.txt");
    if tool.exists() && std::fs::read_to_string(&marker).ok().as_deref() == Some(COMPONENTIZE_PY) {
        return Ok(tool);
    }
    eprintln!("xtask: installing {COMPONENTIZE_PY} from PyPI into {}", venv.display());
    let python = ["python3", "python"]
        .into_iter()
        .find(|p| Command::new(p).arg("--version").output().is_ok_and(|o| o.status.success()))
        .context("Python 3 is needed to build the Python example (componentize-py); install python3 (with venv)")?;
    let mut cmd = Command::new(python);
    cmd.args(["-m", "venv"]).arg(&venv);
    status(cmd, "python3 -m venv (is the python3-venv package installed?)")?;
    let mut cmd = Command::new(venv.join("bin/pip"));
    cmd.args(["install", "--quiet", "--disable-pip-version-check", COMPONENTIZE_PY]);
    status(cmd, "pip install componentize-py")?;
    std::fs::write(&marker, COMPONENTIZE_PY)?;
    Ok(tool)
}

/// Reads a key file written by `cargo xtask keygen`: the 32-byte secret as 64 hex digits (`#` lines ignored).
fn read_signing_key(path: &Path) -> Result<SigningKey> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading the signing key {}", path.display()))?;
    let hex_text: String =
        text.lines().filter(|l| !l.trim_start().starts_with('#')).flat_map(|l| l.split_whitespace()).collect();
    let bytes: [u8; 32] = hex::decode(&hex_text).ok().and_then(|b| b.try_into().ok()).with_context(|| {
        format!("{}: a key file holds the secret key as 64 hex digits (`cargo xtask keygen`)", path.display())
    })?;
    Ok(SigningKey::from_bytes(&bytes))
}

/// `cargo xtask keygen KEYFILE`: a new ed25519 key; the secret goes to KEYFILE (mode 0600), the
/// public key to KEYFILE.pub (give that to operators: `switchyard bundle trust KEYFILE.pub`).
pub fn keygen(path: &Path) -> Result<()> {
    if path.exists() {
        bail!("{} exists; refusing to overwrite a key", path.display());
    }
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| anyhow::anyhow!("no system randomness: {e}"))?;
    let key = SigningKey::from_bytes(&secret);
    let id = key_id(&key.verifying_key());
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    use std::io::Write;
    let mut file = options.open(path).with_context(|| format!("creating {}", path.display()))?;
    writeln!(file, "# ed25519 signing key {id} (secret: keep it out of version control)\n{}", hex::encode(secret))?;
    let mut public = path.as_os_str().to_owned();
    public.push(".pub");
    let public = PathBuf::from(public);
    std::fs::write(&public, format!("# ed25519 public key {id}\n{}\n", hex::encode(key.verifying_key().as_bytes())))?;
    eprintln!("xtask: key {id}: secret in {}, public key in {}", path.display(), public.display());
    Ok(())
}

/// A copy of components/testing/version-echo at the next version, laid out as an out-of-tree crate
/// (as `new-action --dir` would) so the hot-swap test can install a second version.
fn version_echo_next(root: &Path) -> Result<PathBuf> {
    let dir = root.join("target/xtask/version-echo-next");
    std::fs::create_dir_all(dir.join("src"))?;
    let source = root.join("components/testing/version-echo/src/lib.rs");
    let lib = std::fs::read_to_string(&source).with_context(|| format!("reading {}", source.display()))?;
    write_if_changed(&dir.join("src/lib.rs"), &lib)?;
    let manifest = crate::new_action::crate_manifest(
        root,
        &crate::new_action::CrateSpec {
            // Its own package name: both copies share target/wasm, where the artifact is named after it.
            package: "testing-version-echo-next",
            version: "1.1.0",
            key: "testing/version-echo",
            effect: "read",
            bundle_version: "0.2.0",
            allowed_hosts: &[],
        },
    );
    write_if_changed(&dir.join("Cargo.toml"), &manifest)?;
    crate::new_action::seed_lockfile(root, &dir)?;
    Ok(dir)
}

/// Writes only when the content differs, so cargo's fingerprints stay fresh.
pub fn write_if_changed(path: &Path, text: &str) -> Result<()> {
    if std::fs::read_to_string(path).ok().as_deref() != Some(text) {
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Packs the bundle directory `dir` as `dir.tar.gz`, its files under one top-level directory.
pub fn archive(dir: &Path) -> Result<PathBuf> {
    let name = dir.file_name().context("the bundle directory has no name")?;
    let mut path = dir.as_os_str().to_owned();
    path.push(".tar.gz");
    let path = PathBuf::from(path);
    let file = std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(file, flate2::Compression::best()));
    tar.append_dir_all(name, dir).with_context(|| format!("packing {}", dir.display()))?;
    tar.into_inner()?.finish()?;
    eprintln!("xtask: wrote {}", path.display());
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_component(hosts: &[&str]) -> BuiltSet {
        let mut settings = BTreeMap::new();
        settings.insert(
            "acme".to_string(),
            BundleSettings { version: None, allowed_hosts: hosts.iter().map(|h| h.to_string()).collect() },
        );
        BuiltSet {
            components: vec![Built {
                key: "acme/find".into(),
                kind: EntryKind::Action,
                effect: Effect::Read,
                version: semver::Version::new(1, 0, 0),
                wasm: b"\0asm".to_vec(),
            }],
            settings,
        }
    }

    #[test]
    fn a_bundle_with_a_bad_allowed_host_is_not_written() {
        let scratch = std::env::temp_dir().join(format!("xtask-build-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&scratch);
        for bad in
            ["*", "*.com", "api.example.com.", "https://api.example.com", "api.example.com:443", "API.example.com"]
        {
            let err = write_bundles(one_component(&[bad]), &scratch, None, None).unwrap_err().to_string();
            assert!(err.contains("bundle acme") && err.contains(&format!("{bad:?}")), "{bad}: {err}");
            assert!(!scratch.join("acme").exists(), "{bad}: the bundle directory was written");
        }
        let names = write_bundles(one_component(&["*.example.com"]), &scratch, None, None).unwrap();
        assert_eq!(names, ["acme"]);
        let manifest = Manifest::parse(&std::fs::read_to_string(scratch.join("acme/bundle.toml")).unwrap()).unwrap();
        assert_eq!(manifest.bundle.allowed_hosts, ["*.example.com"]);
        std::fs::remove_dir_all(&scratch).unwrap();
    }
}
