//! Bundles: a directory with `bundle.toml` and the components it lists. Everything in a bundle is
//! read through a capability to that directory alone (cap-std), so a manifest cannot point outside
//! it, and every component's sha256 is checked against the manifest before it is compiled.
//!
//! A bundle may be signed: `bundle.sig` holds an ed25519 signature over the exact bytes of
//! `bundle.toml`, which carries every component's sha256, so the signature covers the components too.
//!
//! Every load takes the host's [`TrustPolicy`] and checks it, with the signature, the namespace rule
//! (a bundle named `N` provides only keys `N/...`) and the allowed-host patterns, right after
//! reading the manifest: a bundle that fails them has none of its wasm compiled.

use crate::contract::{self, ComponentKind};
use crate::http::HostPolicy;
use crate::runtime::{LoadedComponent, Runtime};
use anyhow::{Context, Result, bail};
use cap_std::ambient_authority;
use cap_std::fs::Dir;
use ed25519_dalek::VerifyingKey;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use switchyard_manifest::verify_manifest_signature;

// The bundle format is defined once, in the switchyard-manifest crate (xtask writes it with the same types).
pub use switchyard_manifest::{
    BundleInfo, ComponentEntry, Effect, EntryKind, MANIFEST_FILE, Manifest, SIGNATURE_FILE, SignatureFile,
    check_allowed_host, check_component_key, key_id, sha256_hex, sign_manifest,
};

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
    /// Who signed `bundle.toml`, if anyone (the signature has been verified).
    pub signer: Option<Signer>,
}

pub use crate::contract::wit_compatible;

/// Reads and parses `bundle.toml` of the bundle directory `root`.
pub fn read_manifest(dir: &Dir, root: &Path) -> Result<Manifest> {
    Ok(read_manifest_bytes(dir, root)?.0)
}

/// The manifest and its exact bytes (what a signature covers).
fn read_manifest_bytes(dir: &Dir, root: &Path) -> Result<(Manifest, Vec<u8>)> {
    let bytes = dir
        .read(MANIFEST_FILE)
        .with_context(|| format!("{}: cannot read {MANIFEST_FILE}; is this a bundle directory?", root.display()))?;
    let text = std::str::from_utf8(&bytes)
        .with_context(|| format!("{}: {MANIFEST_FILE} is not UTF-8 text", root.display()))?;
    let manifest =
        Manifest::parse(text).with_context(|| format!("{}: {MANIFEST_FILE} is malformed", root.display()))?;
    Ok((manifest, bytes))
}

/// A verified signer of a bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signer {
    pub key_id: String,
    pub public_key: VerifyingKey,
}

/// Parses a public key file: 64 hex digits (whitespace and `#` comment lines ignored).
pub fn parse_public_key(text: &str, shown: &str) -> Result<VerifyingKey> {
    let hex_text: String =
        text.lines().filter(|l| !l.trim_start().starts_with('#')).flat_map(|l| l.split_whitespace()).collect();
    let bytes: [u8; 32] = hex::decode(&hex_text)
        .ok()
        .and_then(|b| b.try_into().ok())
        .with_context(|| format!("{shown}: a public key file holds the key's 32 bytes as 64 hex digits"))?;
    VerifyingKey::from_bytes(&bytes).with_context(|| format!("{shown}: not a valid ed25519 public key"))
}

/// Verifies `bundle.sig` (if present) against the manifest bytes. A signature that is present but
/// does not verify is always an error, whatever the trust configuration.
fn verify_signature(dir: &Dir, root: &Path, manifest: &[u8]) -> Result<Option<Signer>> {
    let text = match dir.read_to_string(SIGNATURE_FILE) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("{}: cannot read {SIGNATURE_FILE}", root.display())),
    };
    let shown = format!("{}/{SIGNATURE_FILE}", root.display());
    let file = SignatureFile::parse(&text).with_context(|| format!("{shown} is malformed"))?;
    let public_key = verify_manifest_signature(&file, manifest).map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
    Ok(Some(Signer { key_id: key_id(&public_key), public_key }))
}

/// Which signers the host accepts. Empty: any bundle, signed or not (a bad signature is still refused).
#[derive(Clone, Debug, Default)]
pub struct TrustPolicy {
    pub trusted: Vec<VerifyingKey>,
}

impl TrustPolicy {
    pub fn requires_signature(&self) -> bool {
        !self.trusted.is_empty()
    }

    pub fn is_trusted(&self, signer: &Signer) -> bool {
        self.trusted.contains(&signer.public_key)
    }

    /// Refuses a bundle whose signer is not trusted, when trusted keys are configured.
    pub fn check(&self, root: &Path, signer: Option<&Signer>) -> Result<()> {
        if !self.requires_signature() {
            return Ok(());
        }
        let ids: Vec<String> = self.trusted.iter().map(key_id).collect();
        match signer {
            None => bail!(
                "{}: the bundle is not signed, but this host accepts only bundles signed by a trusted key ({}); \
                 sign it with `cargo xtask build --bundle PATH --sign KEYFILE`",
                root.display(),
                ids.join(", ")
            ),
            Some(s) if !self.is_trusted(s) => bail!(
                "{}: the bundle is signed by key {}, which is not trusted here (trusted: {}); \
                 trust it with `switchyard bundle trust PUBLIC_KEY_FILE` if you mean to",
                root.display(),
                s.key_id,
                ids.join(", ")
            ),
            Some(_) => Ok(()),
        }
    }
}

/// Loads every component of the bundle at `root` into `runtime`, if `trust` accepts it.
pub async fn load(runtime: &Runtime, root: &Path, trust: &TrustPolicy) -> Result<Bundle> {
    let dir = Dir::open_ambient_dir(root, ambient_authority())
        .with_context(|| format!("cannot open bundle directory {}", root.display()))?;
    load_dir(runtime, &dir, root, trust).await
}

/// Checks the bundle in `dir` (shown as `root` in messages) from its manifest alone, before any of
/// its wasm is read: the WIT version, the signature if there is one, the trust rule, and the
/// manifest's own rules (each key in the bundle's namespace, valid allowed-host patterns). Returns
/// the manifest and who signed it.
pub fn check_dir(dir: &Dir, root: &Path, trust: &TrustPolicy) -> Result<(Manifest, Option<Signer>)> {
    let (manifest, manifest_bytes) = read_manifest_bytes(dir, root)?;
    if !wit_compatible(&manifest.bundle.wit) {
        bail!(
            "{}: built against switchyard:connector@{}, but this host serves @{}; rebuild the bundle with a compatible SDK",
            root.display(),
            manifest.bundle.wit,
            contract::WIT_VERSION
        );
    }
    let signer = verify_signature(dir, root, &manifest_bytes)?;
    trust.check(root, signer.as_ref())?;
    manifest.check().map_err(|e| anyhow::anyhow!("{}: {e}", root.display()))?;
    Ok((manifest, signer))
}

/// Loads every component of the bundle in `dir` (shown as `root` in messages): first [`check_dir`]
/// (signature, trust, namespace, allowed hosts: nothing is compiled for a bundle that fails them),
/// then every sha256, then compiles (or takes from the host's cache) and describes each component.
pub async fn load_dir(runtime: &Runtime, dir: &Dir, root: &Path, trust: &TrustPolicy) -> Result<Bundle> {
    let (manifest, signer) = check_dir(dir, root, trust)?;
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
        let loaded = runtime.load(&shown, &wasm, &actual, entry.kind.into(), entry.effect, policy.clone()).await?;
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
    Ok(Bundle { root: root.to_path_buf(), manifest, components, signer })
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

/// A bundle directory is a component source: the key must be in it, of the right kind, and its
/// version must meet the requirement.
impl crate::runtime::Components for Bundle {
    fn action(&self, key: &str, version: Option<&str>) -> Result<Arc<LoadedComponent>> {
        self.pick(key, version, ComponentKind::Action)
    }

    fn trigger(&self, key: &str, version: Option<&str>) -> Result<Arc<LoadedComponent>> {
        self.pick(key, version, ComponentKind::Trigger)
    }

    fn keys(&self) -> Vec<String> {
        self.components.keys().cloned().collect()
    }
}

impl Bundle {
    fn pick(&self, key: &str, requirement: Option<&str>, kind: ComponentKind) -> Result<Arc<LoadedComponent>> {
        let component = self.component(key)?;
        if component.kind() != kind {
            return Err(contract::wrong_kind(key, component.kind(), kind));
        }
        if let Some(requirement) = requirement {
            let req = semver::VersionReq::parse(requirement).map_err(|e| {
                anyhow::anyhow!("version requirement {requirement:?} is not valid semver ({e}); write e.g. ^0.1")
            })?;
            let version = semver::Version::parse(&component.description.version)
                .with_context(|| format!("{key} has a version that is not semver"))?;
            if !req.matches(&version) {
                bail!("{key} is version {version}, which does not meet the requirement {requirement}");
            }
        }
        Ok(component.clone())
    }
}

/// Several bundle directories as one component source (the first that has the key wins): the
/// daemon's `--bundle DIR` development override.
pub struct Bundles(pub Vec<Bundle>);

impl Bundles {
    pub async fn load(runtime: &Runtime, dirs: &[PathBuf], trust: &TrustPolicy) -> Result<Bundles> {
        let mut loaded = Vec::with_capacity(dirs.len());
        for dir in dirs {
            loaded.push(load(runtime, dir, trust).await?);
        }
        Ok(Bundles(loaded))
    }

    fn find(&self, key: &str) -> Result<&Bundle> {
        self.0.iter().find(|b| b.components.contains_key(key)).ok_or_else(|| {
            let dirs: Vec<String> = self.0.iter().map(|b| b.root.display().to_string()).collect();
            anyhow::anyhow!("no loaded bundle has the component {key} (loaded: {})", dirs.join(", "))
        })
    }
}

impl crate::runtime::Components for Bundles {
    fn action(&self, key: &str, version: Option<&str>) -> Result<Arc<LoadedComponent>> {
        self.find(key)?.action(key, version)
    }

    fn trigger(&self, key: &str, version: Option<&str>) -> Result<Arc<LoadedComponent>> {
        self.find(key)?.trigger(key, version)
    }

    fn keys(&self) -> Vec<String> {
        self.0.iter().flat_map(|b| b.components.keys().cloned()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bundle directory holding only `bundle.toml` (and `bundle.sig` when `sign` is given): enough
    /// for [`check_dir`], which reads no wasm.
    fn manifest_only(
        name: &str,
        key: &str,
        hosts: &[&str],
        sign: Option<&ed25519_dalek::SigningKey>,
    ) -> tempfile::TempDir {
        let manifest = Manifest {
            bundle: BundleInfo {
                name: name.into(),
                version: semver::Version::new(1, 0, 0),
                wit: contract::WIT_VERSION.parse().unwrap(),
                allowed_hosts: hosts.iter().map(|h| h.to_string()).collect(),
            },
            components: vec![ComponentEntry {
                key: key.into(),
                kind: EntryKind::Action,
                effect: Effect::Read,
                version: semver::Version::new(1, 0, 0),
                file: "missing.wasm".into(),
                sha256: sha256_hex(b"not here"),
            }],
        };
        let dir = tempfile::tempdir().unwrap();
        let text = manifest.to_toml().unwrap();
        std::fs::write(dir.path().join(MANIFEST_FILE), &text).unwrap();
        if let Some(key) = sign {
            std::fs::write(dir.path().join(SIGNATURE_FILE), sign_manifest(key, text.as_bytes()).to_toml().unwrap())
                .unwrap();
        }
        dir
    }

    fn check(dir: &tempfile::TempDir, trust: &TrustPolicy) -> Result<(Manifest, Option<Signer>)> {
        let cap = Dir::open_ambient_dir(dir.path(), ambient_authority()).unwrap();
        check_dir(&cap, dir.path(), trust)
    }

    #[test]
    fn a_bundle_is_checked_from_its_manifest_before_any_wasm_is_read() {
        let open = TrustPolicy::default();
        let (manifest, signer) = check(&manifest_only("acme", "acme/find", &["*.acme.example"], None), &open).unwrap();
        assert_eq!(manifest.bundle.name, "acme");
        assert!(signer.is_none());

        // Namespace: the key's connector is the bundle's name.
        let err =
            format!("{:#}", check(&manifest_only("acme", "intercom/create-ticket", &[], None), &open).unwrap_err());
        assert!(
            err.contains("bundle acme") && err.contains("intercom/create-ticket") && err.contains("namespace"),
            "{err}"
        );

        // Allowed hosts: the bundle and the pattern are named.
        for bad in
            ["*", "*.com", "api.example.com.", "https://api.example.com", "api.example.com:8443", "Api.example.com"]
        {
            let err = format!("{:#}", check(&manifest_only("acme", "acme/find", &[bad], None), &open).unwrap_err());
            assert!(err.contains("bundle acme") && err.contains(&format!("{bad:?}")), "{bad}: {err}");
        }

        // Trust: unsigned and untrusted signers are refused once keys are trusted; the trusted one passes.
        let key = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
        let other = ed25519_dalek::SigningKey::from_bytes(&[4; 32]);
        let trust = TrustPolicy { trusted: vec![key.verifying_key()] };
        let err = format!("{:#}", check(&manifest_only("acme", "acme/find", &[], None), &trust).unwrap_err());
        assert!(err.contains("not signed"), "{err}");
        let err = format!("{:#}", check(&manifest_only("acme", "acme/find", &[], Some(&other)), &trust).unwrap_err());
        assert!(err.contains("not trusted") && err.contains(&key_id(&other.verifying_key())), "{err}");
        let (_, signer) = check(&manifest_only("acme", "acme/find", &[], Some(&key)), &trust).unwrap();
        assert_eq!(signer.unwrap().public_key, key.verifying_key());
    }

    #[test]
    fn the_host_serves_the_contract_version_bundles_are_built_against() {
        assert_eq!(contract::WIT_VERSION, switchyard_manifest::WIT_VERSION);
        assert!(wit_compatible(&switchyard_manifest::WIT_VERSION.parse().unwrap()));
    }
}
