//! Where loaded components come from: one trait, implemented beside each source (a bundle directory
//! in `bundle`, the installed set in `registry`). The scheduler asks it for triggers, workflows for
//! actions and triggers.

use super::LoadedComponent;
use anyhow::Result;
use std::sync::Arc;

pub trait Components: Send + Sync {
    /// The action `key`, matching the semver requirement `version` when given.
    fn action(&self, key: &str, version: Option<&str>) -> Result<Arc<LoadedComponent>>;
    /// The trigger `key`, matching `version` when given.
    fn trigger(&self, key: &str, version: Option<&str>) -> Result<Arc<LoadedComponent>>;
    /// Every key this source has, for "did you mean" hints.
    fn keys(&self) -> Vec<String> {
        Vec::new()
    }
    /// A consistent view for one workflow run, if this source changes while it runs (the registry's
    /// installed set hot-swaps): the run resolves every step against it, so it keeps the versions it
    /// started with. `None`: this source never changes.
    fn pinned(&self) -> Option<Arc<dyn Components>> {
        None
    }
}
