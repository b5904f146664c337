//! Resolution: the installed set at one moment, `key@requirement`, and the component it resolves to.

use super::{InstalledBundle, Registry};
use crate::contract::ComponentKind;
use crate::runtime::LoadedComponent;
use anyhow::{Context, Result, bail};
use semver::{Version, VersionReq};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// The set of installed bundles at one moment. Immutable: a change builds a new set and swaps it in.
#[derive(Default)]
pub struct Installed {
    /// name -> version -> bundle.
    pub(super) bundles: BTreeMap<String, BTreeMap<Version, Arc<InstalledBundle>>>,
    /// Installed bundles that failed to load (tampered with on disk, no longer trusted, ...).
    pub(super) problems: Vec<String>,
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

    /// The newest installed component matching `wanted`, from the versions of the bundle its key
    /// names (`intercom/...` only from bundle `intercom`: a bundle provides only its own keys, which
    /// every load checks). When two bundle versions carry the same component version, the newer
    /// bundle wins.
    pub fn resolve(&self, wanted: &ComponentRef) -> Result<Resolved> {
        let connector = wanted.key.split_once('/').map_or(wanted.key.as_str(), |(connector, _)| connector);
        let mut candidates: Vec<(&Arc<InstalledBundle>, &Arc<LoadedComponent>)> = self
            .bundles
            .get(connector)
            .into_iter()
            .flat_map(|versions| versions.values())
            .filter_map(|b| b.bundle.components.get(&wanted.key).map(|c| (b, c)))
            .collect();
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
            return Err(crate::contract::wrong_kind(key, resolved.component.kind(), kind));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_component_reference_is_a_key_with_an_optional_requirement() {
        let plain: ComponentRef = "intercom/create-contact".parse().unwrap();
        assert_eq!((plain.key.as_str(), &plain.requirement), ("intercom/create-contact", &VersionReq::STAR));
        assert_eq!(plain.to_string(), "intercom/create-contact");

        let pinned: ComponentRef = " intercom/create-contact @ ^1.2 ".parse().unwrap();
        assert_eq!(pinned.key, "intercom/create-contact");
        assert!(pinned.requirement.matches(&Version::new(1, 9, 0)));
        assert!(!pinned.requirement.matches(&Version::new(2, 0, 0)));
        assert_eq!(pinned.to_string(), "intercom/create-contact@^1.2");

        // A bare version is a caret range; `=` pins it.
        let bare: ComponentRef = "intercom/find-contact@1.0.0".parse().unwrap();
        assert!(bare.requirement.matches(&Version::new(1, 1, 0)));
        let exact: ComponentRef = "intercom/find-contact@=1.0.0".parse().unwrap();
        assert!(!exact.requirement.matches(&Version::new(1, 1, 0)));
    }

    #[test]
    fn a_malformed_reference_says_what_a_reference_looks_like() {
        for bad in ["create-contact", "/create-contact", "intercom/", "intercom/a/b", ""] {
            let error = bad.parse::<ComponentRef>().unwrap_err().to_string();
            assert!(error.contains("connector/name"), "{bad:?}: {error}");
        }
        let error = "intercom/create-contact@banana".parse::<ComponentRef>().unwrap_err().to_string();
        assert!(error.contains("not a version requirement") && error.contains("^1.2"), "{error}");
    }
}
