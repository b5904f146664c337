//! Precompiled components on disk, so a component is compiled once per engine build, not per start.
//!
//! Entries are keyed by the wasm's sha256 and the engine's compatibility hash (wasmtime version and
//! compilation settings). Only this directory, written by this host, is ever deserialized: loading
//! precompiled code runs it as native code, so it must never come from a bundle or the network.
//!
//! Nor from anyone else on the machine: the directory is created 0700, and an entry is deserialized
//! only while the directory and the entry are owned by the user the host runs as and writable by no
//! one else (group or others). Otherwise the cache is not used at all: each component is compiled
//! from its (sha256-checked) wasm, nothing is stored, and a warning says how to fix the directory.

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use wasmtime::Engine;
use wasmtime::component::Component;

pub struct CompiledCache {
    dir: PathBuf,
    engine_key: String,
    /// The warning about an unsafe cache directory has been logged (once per cache, not per component).
    warned: AtomicBool,
}

impl CompiledCache {
    pub fn new(engine: &Engine, dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        crate::files::create_private_dir(&dir)
            .with_context(|| format!("creating the component cache {}", dir.display()))?;
        let mut hasher = Sha256Hasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_key = hex::encode(&hasher.0.finalize()[..8]);
        Ok(CompiledCache { dir, engine_key, warned: AtomicBool::new(false) })
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
        if let Err(why) = dir_is_private(&self.dir) {
            if !self.warned.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    "not using the component cache {}: {why}, so another user could plant native code in it; \
                     compiling every component instead (fix it with `chmod 700 {}`, as its owner)",
                    self.dir.display(),
                    self.dir.display()
                );
            }
            return Ok(Component::new(engine, wasm)?);
        }
        let entry = self.entry(sha256);
        let usable = match entry_is_private(&entry) {
            Ok(()) => true,
            Err(_) if std::fs::symlink_metadata(&entry).is_err() => false,
            Err(why) => {
                tracing::warn!("recompiling: not loading the cached {}: {why}", entry.display());
                false
            }
        };
        if usable {
            // SAFETY: the file is in the host's own cache directory and was written by `store` below
            // from code this engine compiled; the name binds it to the engine's compatibility hash.
            // Directory and file are this user's and writable by no one else (checked just above).
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

/// Whether the cache directory (what it names, if it is a link: tests share one) is owned by the
/// user this process runs as and not writable by group or others; if not, why.
fn dir_is_private(dir: &Path) -> std::result::Result<(), String> {
    let metadata = std::fs::metadata(dir).map_err(|e| format!("cannot read its metadata ({e})"))?;
    if !metadata.is_dir() {
        return Err("it is not a directory".into());
    }
    private_to_this_user(&metadata)
}

/// The same for a cache entry, which must be a regular file (not a link).
fn entry_is_private(entry: &Path) -> std::result::Result<(), String> {
    let metadata = std::fs::symlink_metadata(entry).map_err(|e| format!("cannot read its metadata ({e})"))?;
    if !metadata.is_file() {
        return Err("it is not a regular file".into());
    }
    private_to_this_user(&metadata)
}

#[cfg(unix)]
fn private_to_this_user(metadata: &std::fs::Metadata) -> std::result::Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if metadata.uid() != me {
        return Err(format!("it is owned by uid {}, not by this host's user (uid {me})", metadata.uid()));
    }
    let mode = metadata.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(format!("it is writable by its group or by others (mode {mode:04o})"));
    }
    Ok(())
}

#[cfg(not(unix))]
fn private_to_this_user(_metadata: &std::fs::Metadata) -> std::result::Result<(), String> {
    Ok(())
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
