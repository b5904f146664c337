//! Reading a bundle into a staging directory: copying a bundle directory, or extracting a `.tar` /
//! `.tar.gz` archive within the size and entry caps.

use super::{INSTALL_RECORD, unique_suffix};
use crate::bundle::{self, MANIFEST_FILE, SIGNATURE_FILE};
use anyhow::{Context, Result, bail};
use cap_std::fs::Dir;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// Extracting an archive stops past this many bytes: a bundle is a few MB of wasm, and a gzip bomb
/// must not fill the disk.
const MAX_ARCHIVE_BYTES: u64 = 512 << 20;
const MAX_ARCHIVE_ENTRIES: usize = 10_000;

/// A private directory under `bundles/` for one install, deleted when dropped (on success its
/// `bundle/` has been renamed out of it first).
pub(super) struct Staging<'a> {
    parent: &'a Dir,
    name: String,
    pub(super) dir: Dir,
    pub(super) bundle: Dir,
}

impl<'a> Staging<'a> {
    pub(super) fn create(parent: &'a Dir, root: &Path) -> Result<Self> {
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
pub(super) fn copy_bundle(from: &Dir, shown: &Path, to: &Dir) -> Result<()> {
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
pub(super) fn extract_archive(archive: &Path, into: &Dir) -> Result<()> {
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
pub(super) fn bundle_root_in(raw: &Dir, archive: &Path) -> Result<(Dir, PathBuf)> {
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
