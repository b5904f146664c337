//! `cargo xtask`: builds the component bundles and runs the tests, the demo and the benchmarks.
//! Everything a fresh machine needs (the wasm target) it installs itself.

mod build;
mod demo;
mod new_action;

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
    /// Build every component for wasm32-wasip2 and write the bundles to target/bundles/;
    /// with --bundle, build one out-of-tree component (or a directory of them) into a bundle.
    Build {
        /// An out-of-tree crate or workspace, a component in another language (switchyard.toml),
        /// or a directory of those.
        #[arg(long, value_name = "PATH")]
        bundle: Option<PathBuf>,
        /// Where to write the bundle (default target/bundles/NAME). Only with --bundle.
        #[arg(long, value_name = "DIR", requires = "bundle")]
        out: Option<PathBuf>,
        /// Sign the bundle with this ed25519 key (from `cargo xtask keygen`). Only with --bundle.
        #[arg(long, value_name = "KEYFILE", requires = "bundle")]
        sign: Option<PathBuf>,
        /// Also pack each bundle as DIR.tar.gz, ready for `switchyard bundle install`. Only with --bundle.
        #[arg(long, requires = "bundle")]
        archive: bool,
    },
    /// Scaffold an action crate: under components/CONNECTOR/ by default, or in --dir as an
    /// out-of-tree crate built with `cargo xtask build --bundle PATH`.
    NewAction {
        /// kebab-case NAME (connector intercom) or CONNECTOR/NAME, e.g. acme/health-score.
        name: String,
        /// Create the crate in this directory instead of components/.
        #[arg(long, value_name = "PATH")]
        dir: Option<PathBuf>,
    },
    /// Create an ed25519 signing key: KEYFILE (secret) and KEYFILE.pub (for `switchyard bundle trust`).
    Keygen { keyfile: PathBuf },
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
        Task::Build { bundle: None, .. } => build::build(&root).map(|_| ()),
        Task::Build { bundle: Some(path), out, sign, archive } => {
            let dirs = build::build_bundle(&root, &path, out.as_deref(), sign.as_deref())?;
            if archive {
                for dir in dirs {
                    build::archive(&dir)?;
                }
            }
            Ok(())
        }
        Task::NewAction { name, dir } => new_action::new_action(&root, &name, dir.as_deref()).map(|_| ()),
        Task::Keygen { keyfile } => build::keygen(&keyfile),
        Task::Test { args } => {
            build::build(&root)?;
            // The guest SDK's own unit tests (the polling rules) run natively, in a target dir of their
            // own so the wasm build's is left alone. The extra arguments are for the host workspace only.
            let mut cmd = cargo(&root);
            cmd.args([
                "test",
                "--manifest-path",
                "components/Cargo.toml",
                "-p",
                "switchyard-sdk",
                "--target-dir",
                "target/sdk-native",
            ]);
            status(cmd, "cargo test of the guest SDK")?;
            let mut cmd = cargo(&root);
            cmd.args(["test", "--workspace"]).args(args);
            status(cmd, "cargo test")
        }
        Task::Demo => demo::demo(&root),
        Task::Bench => {
            build::build(&root)?;
            let mut cmd = cargo(&root);
            cmd.args(["bench", "-p", "switchyard", "--bench", "invocation", "--bench", "scheduler"]);
            status(cmd, "cargo bench")?;
            // The emulator must never be the bottleneck: its own request rate for a GET and a search.
            for target in ["contact", "search"] {
                let mut cmd = cargo(&root);
                cmd.args([
                    "run",
                    "--quiet",
                    "--release",
                    "-p",
                    "intercom-emulator",
                    "--example",
                    "loadgen",
                    "--",
                    "5",
                    "32",
                    target,
                ]);
                status(cmd, "emulator load generator")?;
            }
            Ok(())
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
