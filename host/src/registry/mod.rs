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
//!
//! [`ArcSwap`]: arc_swap::ArcSwap
//!
//! - `resolve`: the installed set ([`Installed`]), `key@requirement` ([`ComponentRef`]) and its
//!   resolution to a [`Resolved`] component; the installed set and the registry as component sources.
//! - `lifecycle`: the [`Registry`] itself: opening, refreshing, installing and removing bundles, and
//!   the trusted keys.
//! - `archive`: reading a bundle from a directory or a `.tar` / `.tar.gz` archive into a staging
//!   directory, within the archive's size and entry caps.

mod archive;
mod lifecycle;
mod resolve;

pub use lifecycle::{Registry, load_trusted_keys, parse_bundle_version, trust_key};
pub use resolve::{ComponentRef, Installed, Resolved};

use crate::bundle::{Bundle, Signer};
use semver::Version;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};

pub const BUNDLES_DIR: &str = "bundles";
pub const TRUSTED_KEYS_DIR: &str = "trusted-keys";
const INSTALL_RECORD: &str = ".install.toml";

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

fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{}-{nanos}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}
