//! Precompiled components on disk, so a component is compiled once per engine build, not per start.
//!
//! Entries are keyed by the wasm's sha256 and the engine's compatibility hash (wasmtime version and
//! compilation settings). Only this directory, written by this host, is ever deserialized: loading
//! precompiled code runs it as native code, so it must never come from a bundle or the network.

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

pub struct CompiledCache {
    dir: PathBuf,
    engine_key: String,
}

impl CompiledCache {
    pub fn new(engine: &Engine, dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).with_context(|| format!("creating the component cache {}", dir.display()))?;
        let mut hasher = Sha256Hasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_key = hex::encode(&hasher.0.finalize()[..8]);
        Ok(CompiledCache { dir, engine_key })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn entry(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}-{}.cwasm", self.engine_key))
    }

    /// The component for `wasm` (whose sha256 the caller has verified), from the cache when present,
    /// otherwise compiled and stored.
    pub fn load_or_compile(&self, engine: &Engine, wasm: &[u8], sha256: &str) -> Result<Component> {
        let entry = self.entry(sha256);
        if entry.exists() {
            // SAFETY: the file is in the host's own cache directory and was written by `store` below
            // from code this engine compiled; the name binds it to the engine's compatibility hash.
            match unsafe { Component::deserialize_file(engine, &entry) } {
                Ok(component) => return Ok(component),
                Err(err) => tracing::warn!("recompiling: cached {} is unusable: {err}", entry.display()),
            }
        }
        let component = Component::new(engine, wasm)?;
        if let Err(err) = self.store(&component, &entry) {
            tracing::warn!("could not cache {}: {err:#}", entry.display());
        }
        Ok(component)
    }

    fn store(&self, component: &Component, entry: &Path) -> Result<()> {
        let bytes = component.serialize()?;
        // Write then rename, so a concurrent reader never sees half a file.
        let tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
        std::fs::write(tmp.path(), bytes)?;
        tmp.persist(entry)?;
        Ok(())
    }
}

/// Feeds `Hash` output into sha256: unlike `DefaultHasher`, stable across Rust releases.
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        u64::from_le_bytes(digest[..8].try_into().expect("sha256 has 32 bytes"))
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}
