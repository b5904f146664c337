//! The bundle format, defined once for the host (which reads bundles) and xtask (which writes them).
//!
//! A bundle is a directory with [`MANIFEST_FILE`] (a [`Manifest`]: the bundle's name, version, the
//! contract version and every component with its sha256) and the component files it lists. It may be
//! signed: [`SIGNATURE_FILE`] (a [`SignatureFile`]) holds an ed25519 signature over the exact bytes of
//! the manifest, which carries every component's sha256, so the signature covers the components too.
//!
//! Reading bundles from disk, the WIT compatibility rule and which signers to trust are the host's.

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const MANIFEST_FILE: &str = "bundle.toml";
pub const SIGNATURE_FILE: &str = "bundle.sig";

/// The version of the `switchyard:connector` WIT package in `wit/`, which components are built against
/// and which `bundle.wit` records.
pub const WIT_VERSION: &str = "0.1.0";

/// `bundle.toml`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub bundle: BundleInfo,
    #[serde(rename = "component", default)]
    pub components: Vec<ComponentEntry>,
}

impl Manifest {
    /// Parses the text of a `bundle.toml`.
    pub fn parse(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }

    /// The text of `bundle.toml` for this manifest (what gets signed: sign these exact bytes).
    pub fn to_toml(&self) -> Result<String, toml::ser::Error> {
        toml::to_string_pretty(self)
    }

    /// The rules a bundle obeys beyond its syntax, checked by xtask before it writes one and by the
    /// host before it compiles one: every component key is in the bundle's own namespace
    /// ([`check_component_key`]) and every allowed host is a valid pattern ([`check_allowed_host`]).
    /// The message names the bundle and the key or pattern at fault.
    pub fn check(&self) -> Result<(), String> {
        let name = &self.bundle.name;
        for entry in &self.components {
            check_component_key(name, &entry.key).map_err(|e| format!("bundle {name}: {e}"))?;
        }
        for pattern in &self.bundle.allowed_hosts {
            check_allowed_host(pattern).map_err(|e| format!("bundle {name}: allowed_hosts entry {pattern:?}: {e}"))?;
        }
        Ok(())
    }
}

/// A bundle provides only its own keys: the bundle named `N` may list only components `N/name`.
/// Otherwise a bundle could ship `intercom/create-ticket` at a higher version and every workflow
/// using Intercom's would silently run it instead.
pub fn check_component_key(bundle: &str, key: &str) -> Result<(), String> {
    let Some((connector, name)) = key.split_once('/') else {
        return Err(format!("component key {key:?} must be {bundle}/NAME"));
    };
    if name.is_empty() || name.contains('/') {
        return Err(format!("component key {key:?} must be {bundle}/NAME"));
    }
    if connector != bundle {
        return Err(format!(
            "component {key} is outside the bundle's namespace: a bundle named {bundle} may provide only keys \
             {bundle}/..., so {key} would take the place of bundle {connector}'s component; name the bundle \
             {connector} or the key {bundle}/{name}"
        ));
    }
    Ok(())
}

/// Checks one `allowed_hosts` pattern: a host name (`api.example.com`) or a wildcard over the
/// subdomains of one (`*.example.com`), in lower-case ASCII (an international name in its IDNA
/// form, `xn--...`), or an IPv4 address. Refused: a bare `*`, a wildcard over a single label
/// (`*.com`: every host under a public suffix), any other `*`, a trailing dot, a scheme, path, port
/// or user, upper case, and anything else that is not a host name. The error says why.
pub fn check_allowed_host(pattern: &str) -> Result<(), String> {
    if pattern.is_empty() {
        return Err("an allowed host must not be empty".into());
    }
    if pattern.contains("://") {
        return Err(
            "give the host name only, without a scheme (e.g. api.example.com, not https://api.example.com)".into()
        );
    }
    if let Some(c) = pattern.chars().find(|c| matches!(c, '/' | '?' | '#')) {
        return Err(format!("give the host name only, without a path ({c:?} found)"));
    }
    if pattern.contains(':') {
        return Err("give the host name only, without a port (the port is the URL's business)".into());
    }
    if pattern.contains('@') {
        return Err("give the host name only, without a user".into());
    }
    if !pattern.is_ascii() {
        return Err("an international host name must be written in its IDNA (punycode, xn--...) form".into());
    }
    if pattern.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(format!("host names are written in lower case: {:?}", pattern.to_ascii_lowercase()));
    }
    if pattern.ends_with('.') {
        return Err("remove the trailing dot".into());
    }
    let (wildcard, host) = match pattern.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, pattern),
    };
    if pattern == "*" || host.contains('*') {
        return Err(
            "a wildcard may only be the first label, over the subdomains of a named domain: *.example.com".into()
        );
    }
    if host.len() > 253 {
        return Err("longer than a host name may be (253 characters)".into());
    }
    let labels: Vec<&str> = host.split('.').collect();
    let ipv4 = labels.len() == 4 && labels.iter().all(|l| !l.is_empty() && l.len() <= 3 && l.parse::<u8>().is_ok());
    if ipv4 {
        return if wildcard { Err("a wildcard over an IP address is not a host pattern".into()) } else { Ok(()) };
    }
    for label in &labels {
        if label.is_empty() {
            return Err("a host name has no empty labels (no leading dot or `..`)".into());
        }
        if label.len() > 63 {
            return Err(format!("the label {label:?} is longer than 63 characters"));
        }
        if !label.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
            return Err(format!("the label {label:?} holds a character a host name may not have (a-z, 0-9, '-')"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("the label {label:?} starts or ends with '-'"));
        }
    }
    if labels.last().is_some_and(|top| top.chars().all(|c| c.is_ascii_digit())) {
        return Err("the last label is all digits, so this is neither a host name nor an IPv4 address".into());
    }
    if wildcard && labels.len() < 2 {
        return Err(format!(
            "*.{host} would allow every host under the suffix {host}; name the domain: *.example.{host}"
        ));
    }
    Ok(())
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
    /// What the component does to the outside world. A manifest written before effects existed has
    /// none: its components count as writes, the safe assumption.
    #[serde(default)]
    pub effect: Effect,
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

impl EntryKind {
    /// "action" or "trigger", as in the manifest (and the name of the component's WIT world).
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Action => "action",
            EntryKind::Trigger => "trigger",
        }
    }
}

/// What an action does to the outside world; decides whether the host may send it again by itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// Only reads (every trigger, and actions such as find-contact).
    Read,
    /// Changes something, but sending it twice leaves the same state as sending it once (setting
    /// attributes, tagging, an upsert).
    Idempotent,
    /// Creates something new each time, or destroys something: sending it twice is not the same as once.
    #[default]
    Write,
}

impl Effect {
    pub const ALL: [Effect; 3] = [Effect::Read, Effect::Idempotent, Effect::Write];

    /// "read", "idempotent" or "write", as in the manifest.
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Read => "read",
            Effect::Idempotent => "idempotent",
            Effect::Write => "write",
        }
    }

    /// A read or an idempotent write may be repeated after a failure whose outcome is unknown.
    pub fn may_repeat(self) -> bool {
        matches!(self, Effect::Read | Effect::Idempotent)
    }
}

impl std::fmt::Display for Effect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not one of the three effects.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an effect: it must be \"read\", \"idempotent\" or \"write\"")]
pub struct ParseEffectError(pub String);

impl std::str::FromStr for Effect {
    type Err = ParseEffectError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Effect::ALL.into_iter().find(|e| e.as_str() == s).ok_or_else(|| ParseEffectError(s.to_string()))
    }
}

/// The sha256 of `bytes` as 64 lowercase hex digits (how the manifest records a component's hash).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `bundle.sig`: who signed `bundle.toml` and the signature, hex encoded.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureFile {
    /// Always "ed25519".
    pub algorithm: String,
    /// [`key_id`] of the public key.
    pub key_id: String,
    /// The 32-byte ed25519 public key.
    pub public_key: String,
    /// The 64-byte signature over the bytes of `bundle.toml`.
    pub signature: String,
}

impl SignatureFile {
    /// Parses the text of a `bundle.sig`.
    pub fn parse(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }

    /// The text of `bundle.sig`.
    pub fn to_toml(&self) -> Result<String, toml::ser::Error> {
        toml::to_string_pretty(self)
    }
}

/// A short, stable name for a public key: the first 16 hex digits of the sha256 of its 32 bytes.
/// `cargo xtask keygen` prints it and the host shows it.
pub fn key_id(key: &VerifyingKey) -> String {
    sha256_hex(key.as_bytes())[..16].to_string()
}

/// Signs manifest bytes (what `cargo xtask build --sign` does; used by tests and tools).
pub fn sign_manifest(key: &SigningKey, manifest: &[u8]) -> SignatureFile {
    let public = key.verifying_key();
    SignatureFile {
        algorithm: "ed25519".into(),
        key_id: key_id(&public),
        public_key: hex::encode(public.as_bytes()),
        signature: hex::encode(key.sign(manifest).to_bytes()),
    }
}

/// Why a [`SignatureFile`] does not verify. The messages name the field at fault; the caller adds
/// which file it read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("algorithm {0:?} is not supported (only \"ed25519\")")]
    UnsupportedAlgorithm(String),
    #[error("public_key must be the key's 32 bytes as 64 hex digits")]
    MalformedPublicKey,
    #[error("public_key is not a valid ed25519 public key")]
    InvalidPublicKey,
    #[error("key_id {claimed} does not belong to its public key (whose id is {actual})")]
    KeyIdMismatch { claimed: String, actual: String },
    #[error("signature must be 128 hex digits")]
    MalformedSignature,
    #[error(
        "the signature by key {key_id} does not match {MANIFEST_FILE}: the bundle was modified after it was \
         signed, or signed with another key; it is refused"
    )]
    Mismatch { key_id: String },
}

/// Verifies `signature` against the exact bytes of a manifest and returns the key that signed them.
/// Whether that key is trusted is the caller's decision.
pub fn verify_manifest_signature(signature: &SignatureFile, manifest: &[u8]) -> Result<VerifyingKey, SignatureError> {
    if signature.algorithm != "ed25519" {
        return Err(SignatureError::UnsupportedAlgorithm(signature.algorithm.clone()));
    }
    let key: [u8; 32] = hex::decode(signature.public_key.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(SignatureError::MalformedPublicKey)?;
    let public_key = VerifyingKey::from_bytes(&key).map_err(|_| SignatureError::InvalidPublicKey)?;
    let id = key_id(&public_key);
    if id != signature.key_id {
        return Err(SignatureError::KeyIdMismatch { claimed: signature.key_id.clone(), actual: id });
    }
    let bytes: [u8; 64] = hex::decode(signature.signature.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(SignatureError::MalformedSignature)?;
    public_key
        .verify_strict(manifest, &Signature::from_bytes(&bytes))
        .map_err(|_| SignatureError::Mismatch { key_id: id })?;
    Ok(public_key)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A manifest as xtask wrote it before components had an effect.
    const OLD_MANIFEST: &str = r#"
[bundle]
name = "intercom"
version = "0.1.0"
wit = "0.1.0"
allowed_hosts = ["api.intercom.io"]

[[component]]
key = "intercom/create-contact"
kind = "action"
version = "1.0.0"
file = "create-contact.wasm"
sha256 = "2723a02adc65a577a3da6da0b0d1e36b1a69fa40b712e8b40cb3018b4e875c89"

[[component]]
key = "intercom/new-ticket"
kind = "trigger"
version = "1.0.0"
file = "new-ticket.wasm"
sha256 = "0574157edfbcd792381feb92ced7604d5b6098b3701530b0cd4390f9be83c2ac"
"#;

    fn sample() -> Manifest {
        let entry = |key: &str, kind, effect| ComponentEntry {
            key: format!("acme/{key}"),
            kind,
            effect,
            version: semver::Version::new(1, 2, 3),
            file: format!("{key}.wasm"),
            sha256: sha256_hex(key.as_bytes()),
        };
        Manifest {
            bundle: BundleInfo {
                name: "acme".into(),
                version: semver::Version::new(1, 0, 0),
                wit: WIT_VERSION.parse().unwrap(),
                allowed_hosts: vec!["api.intercom.io".into()],
            },
            components: vec![
                entry("find", EntryKind::Action, Effect::Read),
                entry("tag", EntryKind::Action, Effect::Idempotent),
                entry("create", EntryKind::Action, Effect::Write),
                entry("new", EntryKind::Trigger, Effect::Read),
            ],
        }
    }

    #[test]
    fn a_manifest_without_effects_parses_and_its_components_count_as_writes() {
        let manifest = Manifest::parse(OLD_MANIFEST).unwrap();
        assert_eq!(manifest.components.len(), 2);
        assert!(manifest.components.iter().all(|c| c.effect == Effect::Write));
        assert!(!manifest.components[0].effect.may_repeat());
        assert_eq!(manifest.components[1].kind, EntryKind::Trigger);
    }

    #[test]
    fn a_manifest_round_trips() {
        let manifest = sample();
        let text = manifest.to_toml().unwrap();
        assert!(text.contains("effect = \"idempotent\""), "{text}");
        let back = Manifest::parse(&text).unwrap();
        assert_eq!(back.to_toml().unwrap(), text);
        let effects: Vec<Effect> = back.components.iter().map(|c| c.effect).collect();
        assert_eq!(effects, [Effect::Read, Effect::Idempotent, Effect::Write, Effect::Read]);
        assert_eq!(back.bundle.wit.to_string(), WIT_VERSION);
        assert_eq!(back.components[0].version, semver::Version::new(1, 2, 3));
    }

    #[test]
    fn unknown_fields_and_effects_are_refused() {
        let extra = OLD_MANIFEST.replace("kind = \"trigger\"", "kind = \"trigger\"\nretries = 3");
        assert!(Manifest::parse(&extra).is_err());
        let bad = OLD_MANIFEST.replace("kind = \"trigger\"", "kind = \"trigger\"\neffect = \"safe\"");
        let err = Manifest::parse(&bad).unwrap_err().to_string();
        assert!(err.contains("safe"), "{err}");
    }

    #[test]
    fn effects_by_name() {
        for effect in Effect::ALL {
            assert_eq!(effect.as_str().parse::<Effect>(), Ok(effect));
            assert_eq!(effect.to_string(), effect.as_str());
        }
        assert!(Effect::Read.may_repeat() && Effect::Idempotent.may_repeat() && !Effect::Write.may_repeat());
        assert_eq!(Effect::default(), Effect::Write);
        let err = "Read".parse::<Effect>().unwrap_err().to_string();
        assert!(
            err.contains("\"Read\"") && err.contains("read") && err.contains("idempotent") && err.contains("write")
        );
    }

    #[test]
    fn a_signed_manifest_verifies_and_names_its_key() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let text = sample().to_toml().unwrap();
        let signature = sign_manifest(&key, text.as_bytes());
        assert_eq!(signature.key_id, key_id(&key.verifying_key()));
        assert_eq!(signature.key_id.len(), 16);
        // Through its file format, as the host reads it.
        let signature = SignatureFile::parse(&signature.to_toml().unwrap()).unwrap();
        assert_eq!(verify_manifest_signature(&signature, text.as_bytes()), Ok(key.verifying_key()));
    }

    #[test]
    fn a_tampered_manifest_fails_verification() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let text = sample().to_toml().unwrap();
        let signature = sign_manifest(&key, text.as_bytes());
        let tampered = text.replace("effect = \"write\"", "effect = \"idempotent\"");
        assert_ne!(tampered, text);
        let err = verify_manifest_signature(&signature, tampered.as_bytes()).unwrap_err();
        assert_eq!(err, SignatureError::Mismatch { key_id: signature.key_id.clone() });
        assert!(err.to_string().contains("does not match bundle.toml"), "{err}");

        // Another key's signature, or a signature file whose key id lies, fails too.
        let other = sign_manifest(&SigningKey::from_bytes(&[8; 32]), text.as_bytes());
        let swapped = SignatureFile { signature: other.signature.clone(), ..signature.clone() };
        assert!(matches!(verify_manifest_signature(&swapped, text.as_bytes()), Err(SignatureError::Mismatch { .. })));
        let lying = SignatureFile { key_id: other.key_id.clone(), ..signature.clone() };
        assert!(matches!(
            verify_manifest_signature(&lying, text.as_bytes()),
            Err(SignatureError::KeyIdMismatch { .. })
        ));
        let other_algorithm = SignatureFile { algorithm: "rsa".into(), ..signature };
        assert_eq!(
            verify_manifest_signature(&other_algorithm, text.as_bytes()),
            Err(SignatureError::UnsupportedAlgorithm("rsa".into()))
        );
    }

    #[test]
    fn allowed_host_patterns() {
        for good in [
            "api.intercom.io",
            "*.intercom.io",
            "*.eu.intercom.io",
            "localhost",
            "xn--bcher-kva.example",
            "api-2.example.com",
            "10.0.0.1",
        ] {
            assert_eq!(check_allowed_host(good), Ok(()), "{good}");
        }
        let refused = |pattern: &str, why: &str| {
            let err = check_allowed_host(pattern).expect_err(pattern);
            assert!(err.contains(why), "{pattern:?}: {err}");
        };
        refused("", "empty");
        refused("*", "wildcard");
        refused("*.com", "every host under the suffix com");
        refused("*.", "trailing dot");
        refused("api.intercom.io.", "trailing dot");
        refused("https://api.intercom.io", "scheme");
        refused("api.intercom.io/v2", "path");
        refused("api.intercom.io:443", "port");
        refused("[::1]", "port");
        refused("user@api.intercom.io", "user");
        refused("API.Intercom.io", "\"api.intercom.io\"");
        refused("bücher.example", "IDNA");
        refused("*.*.intercom.io", "first label");
        refused("api.*.intercom.io", "first label");
        refused("*intercom.io", "first label");
        refused(".intercom.io", "empty labels");
        refused("api..intercom.io", "empty labels");
        refused("api_v2.intercom.io", "\"api_v2\"");
        refused("-api.intercom.io", "'-'");
        refused("intercom.123", "all digits");
        refused("*.10.0.0.1", "IP address");
        refused(&format!("{}.com", "a".repeat(64)), "63");
    }

    #[test]
    fn a_bundle_provides_only_its_own_keys() {
        let mut manifest = sample();
        assert_eq!(manifest.check(), Ok(()));
        manifest.components[1].key = "intercom/create-ticket".into();
        let err = manifest.check().unwrap_err();
        assert!(
            err.contains("bundle acme") && err.contains("intercom/create-ticket") && err.contains("acme/..."),
            "{err}"
        );
        for bad in ["acme", "acme/", "acme/a/b"] {
            manifest.components[1].key = bad.into();
            let err = manifest.check().unwrap_err();
            assert!(err.contains("acme/NAME"), "{bad}: {err}");
        }
        let mut manifest = sample();
        manifest.bundle.allowed_hosts.push("*.io".into());
        let err = manifest.check().unwrap_err();
        assert!(err.contains("bundle acme") && err.contains("\"*.io\""), "{err}");
    }

    #[test]
    fn wit_version_is_the_package_version_in_wit() {
        for (name, text) in [
            ("worlds.wit", include_str!("../../../wit/worlds.wit")),
            ("types.wit", include_str!("../../../wit/types.wit")),
        ] {
            let package = format!("package switchyard:connector@{WIT_VERSION};");
            assert!(text.lines().any(|l| l.trim() == package), "wit/{name} does not declare `{package}`");
        }
    }
}
