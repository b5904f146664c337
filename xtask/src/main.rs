//! `cargo xtask`: builds the component bundles and runs the tests, the demo and the benchmarks.
//! Everything a fresh machine needs (the wasm target) it installs itself.

mod build;
mod demo;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Build, test, demo and benchmark Switchyard")]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Build every component for wasm32-wasip2 and write the bundles to target/bundles/.
    Build,
    /// Build the bundles, then run the whole workspace's tests (extra arguments go to `cargo test`).
    Test {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Build everything, start the Intercom emulator and run the main job against it.
    Demo,
    /// Run the benchmarks (release build) and print their figures.
    Bench,
}

fn main() {
    if let Err(err) = run(Cli::parse()) {
        eprintln!("xtask: error: {err:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    let root = repo_root();
    match cli.command {
        Task::Build => build::build(&root).map(|_| ()),
        Task::Test { args } => {
            build::build(&root)?;
            let mut cmd = cargo(&root);
            cmd.args(["test", "--workspace"]).args(args);
            status(cmd, "cargo test")
        }
        Task::Demo => demo::demo(&root),
        Task::Bench => {
            build::build(&root)?;
            let mut cmd = cargo(&root);
            cmd.args(["bench", "-p", "switchyard", "--bench", "invocation", "--bench", "scheduler"]);
            status(cmd, "cargo bench")
        }
    }
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the repository root").to_path_buf()
}

/// A `cargo` command run from the repository root, with the same toolchain as this xtask.
pub fn cargo(root: &Path) -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root);
    cmd
}

pub fn status(mut cmd: Command, what: &str) -> Result<()> {
    let status = cmd.status().with_context(|| format!("running {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}
