use std::io::Write;
use std::path::PathBuf;

use clap::Parser;
use intercom_emulator::{EmulatorConfig, Faults, Seed};

/// An offline emulator of Intercom's REST API 2.16.
#[derive(Parser, Debug)]
#[command(name = "intercom-emulator", version)]
struct Args {
    /// Port to bind on 127.0.0.1 (0 = any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Bearer token accepted for the default workspace.
    #[arg(long, default_value = "test-token")]
    token: String,
    /// Seed data: `demo`.
    #[arg(long)]
    seed: Option<String>,
    /// Persist and reload the workspace to/from this JSON file.
    #[arg(long)]
    state: Option<PathBuf>,
    /// Requests per 10-second window per workspace.
    #[arg(long, default_value_t = 1000)]
    rate_limit: u32,
    /// Disable strict request checking against the spec.
    #[arg(long)]
    lenient: bool,
    /// Fault: probability (0..1) of a 500 response.
    #[arg(long, default_value_t = 0.0)]
    fault_500_rate: f64,
    /// Fault: probability (0..1) of a 429 response.
    #[arg(long, default_value_t = 0.0)]
    fault_429_rate: f64,
    /// Fault: latency added to every API request before it is handled, in milliseconds.
    #[arg(long, default_value_t = 0)]
    fault_latency_ms: u64,
    /// Fault: delay, in milliseconds, between a request being applied and its response being sent.
    #[arg(long, default_value_t = 0)]
    fault_response_delay_ms: u64,
    /// Fault: probability (0..1) that a connection is dropped.
    #[arg(long, default_value_t = 0.0)]
    fault_drop_rate: f64,
    /// Fault: seconds that new/updated records stay invisible to search.
    #[arg(long, default_value_t = 0)]
    search_lag_secs: i64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber_init();
    let args = Args::parse();
    let seed = match args.seed.as_deref() {
        None | Some("none") | Some("") => None,
        Some("demo") => Some(Seed::Demo),
        Some(other) => anyhow::bail!("unknown seed '{other}' (expected: demo)"),
    };
    let config = EmulatorConfig {
        token: args.token,
        rate_limit_per_window: args.rate_limit,
        strict: !args.lenient,
        seed,
        state_file: args.state,
        port: args.port,
    };
    let emu = intercom_emulator::spawn(config).await?;
    emu.state().set_faults(Faults {
        error_500_rate: args.fault_500_rate,
        error_429_rate: args.fault_429_rate,
        latency_ms: args.fault_latency_ms,
        response_delay_ms: args.fault_response_delay_ms,
        drop_rate: args.fault_drop_rate,
        search_lag_secs: args.search_lag_secs,
    });
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "intercom-emulator listening on {}", emu.base_url())?;
        out.flush()?;
    }
    shutdown_signal().await;
    emu.shutdown().await;
    Ok(())
}

fn tracing_subscriber_init() {}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
