use clap::Parser;
use switchyard::cli::{Cli, run};
use tracing_subscriber::EnvFilter;

fn main() {
    restore_default_sigpipe();
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_env("SWITCHYARD_LOG").unwrap_or_else(|_| EnvFilter::new("warn")))
        .with_writer(std::io::stderr)
        // Colour only on a terminal: a log written to a file or a pipe carries no escape codes.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            std::process::exit(1);
        }
    };
    if let Err(failure) = runtime.block_on(run(cli)) {
        // One line, whatever the error carries: guest text is escaped, so it cannot forge output.
        eprintln!("error: {}", switchyard::runtime::state::escape_guest_text(&format!("{:#}", failure.error)));
        std::process::exit(failure.code);
    }
}

/// Rust ignores SIGPIPE, so `switchyard ... | head` would panic on a closed pipe; a command-line tool
/// should end quietly instead, as other Unix tools do.
fn restore_default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists; it only resets a signal disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
