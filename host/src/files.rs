//! The data directory is the host user's alone: what the host creates in it is private to that user
//! (the database holds customer data, the cache holds native code). Below every other module.

use std::path::Path;

/// Creates `path` and its missing parents with mode 0700 (the data directory and what is in it are
/// the host user's alone). An existing directory is left as it is.
pub fn create_private_dir(path: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)
}
