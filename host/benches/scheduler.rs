//! `cargo xtask bench`: how many trigger subscriptions one host keeps polling at a 60-second interval
//! against the emulator. Prints sustained polls per second, the host's CPU (the emulator runs on its
//! own named threads and is subtracted), peak RSS and memory per subscription. Goal: 10,000
//! subscriptions using under one core and under 50 KiB each. Figures, never pass/fail.
//!
//! Knobs: SWITCHYARD_BENCH_SUBS (default 10000), SWITCHYARD_BENCH_SECONDS (measured span, default 60).

use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use switchyard::bundle;
use switchyard::runtime::{Limits, Runtime, RuntimeConfig};
use switchyard::scheduler::{self, EnvConnections, SchedulerConfig};
use switchyard::store::Store;
use switchyard::store::triggers::{ConnectionRef, NewSubscription, Triggers};

const INTERVAL_SECS: u32 = 60;
const TOKEN_ENV: &str = "SWITCHYARD_BENCH_TOKEN";
const EMULATOR_THREAD: &str = "emulator";

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// CPU seconds used by this process's threads, split into (host, emulator) by thread name.
fn cpu_seconds() -> (f64, f64) {
    let ticks = 100.0; // USER_HZ on Linux
    let (mut host, mut emulator) = (0.0, 0.0);
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return (0.0, 0.0) };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else { continue };
        let name = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        // Fields after the command name (which is in parentheses): utime is the 14th, stime the 15th.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { continue };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let used = fields.get(11).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)
            + fields.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        if name.trim().starts_with(EMULATOR_THREAD) {
            emulator += used / ticks;
        } else {
            host += used / ticks;
        }
    }
    (host, emulator)
}

/// (VmRSS, VmHWM) in KiB.
fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn main() -> anyhow::Result<()> {
    let subscriptions = env_or("SWITCHYARD_BENCH_SUBS", 10_000) as usize;
    let measured = Duration::from_secs(env_or("SWITCHYARD_BENCH_SECONDS", 60));

    // The emulator on its own runtime and threads, so its CPU is not counted as the host's.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new().name(EMULATOR_THREAD.into()).spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(EMULATOR_THREAD)
            .enable_all()
            .build()
            .expect("emulator runtime");
        rt.block_on(async move {
            let config = intercom_emulator::EmulatorConfig { rate_limit_per_window: u32::MAX, ..Default::default() };
            let emu = intercom_emulator::spawn(config).await.expect("emulator starts");
            tx.send((emu.base_url(), emu.token().to_string())).unwrap();
            std::future::pending::<()>().await;
            drop(emu);
        });
    })?;
    let (base_url, token) = rx.recv()?;
    // SAFETY: set before the host's runtime and its threads start; nothing reads the environment concurrently.
    unsafe { std::env::set_var(TOKEN_ENV, &token) };

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async move {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let runtime = Arc::new(Runtime::new(RuntimeConfig {
            limits: Limits::default(),
            cache_dir: root.join("target/bench-home/cache"),
        })?);
        let loaded =
            bundle::load(&runtime, &root.join("target/bundles/intercom"), &bundle::TrustPolicy::default()).await?;
        let home = tempfile::tempdir()?;
        let store = Store::open(home.path()).await?;
        let triggers = Triggers::new(&store);
        let (baseline_rss, _) = rss_kib();

        println!(
            "scheduler benchmark: {subscriptions} subscriptions of intercom/new-conversation, every {INTERVAL_SECS} s"
        );
        let started = Instant::now();
        let new = NewSubscription {
            trigger_key: "intercom/new-conversation".into(),
            connection: ConnectionRef::Inline { base_url: base_url.clone(), token_env: TOKEN_ENV.into() },
            interval_secs: INTERVAL_SECS,
            settings: json!({}),
        };
        for _ in 0..subscriptions {
            triggers.add(&new, 0).await?;
        }
        println!("  added in {:.1} s", started.elapsed().as_secs_f64());

        let config = SchedulerConfig { page_budget: 1, max_concurrent_polls: 64, ..SchedulerConfig::default() };
        let handle =
            scheduler::start(store.clone(), runtime.clone(), Arc::new(loaded), Arc::new(EnvConnections), config);

        // Warm-up: the first polls are spread over one interval.
        let warmup = Duration::from_secs(u64::from(INTERVAL_SECS) + 5);
        println!("  warming up for {} s (every subscription polls once)", warmup.as_secs());
        tokio::time::sleep(warmup).await;

        let polls0 = handle.stats().polls.load(Ordering::Relaxed);
        let (cpu0, emu0) = cpu_seconds();
        let t0 = Instant::now();
        tokio::time::sleep(measured).await;
        let elapsed = t0.elapsed().as_secs_f64();
        let polls = handle.stats().polls.load(Ordering::Relaxed) - polls0;
        let failures = handle.stats().failures.load(Ordering::Relaxed);
        let (cpu1, emu1) = cpu_seconds();
        let (rss, peak) = rss_kib();
        handle.shutdown().await;

        let wanted = subscriptions as f64 / f64::from(INTERVAL_SECS);
        let per_sub = rss.saturating_sub(baseline_rss) as f64 / subscriptions as f64;
        println!(
            "  sustained polls/s       {:>10.1}   (needed {wanted:.1} to keep every subscription on time)",
            polls as f64 / elapsed
        );
        println!("  failed polls            {failures:>10}");
        println!("  host CPU                {:>10.2} cores", (cpu1 - cpu0) / elapsed);
        println!("  emulator CPU (excluded) {:>10.2} cores", (emu1 - emu0) / elapsed);
        println!("  peak RSS                {:>10.1} MiB (whole process, emulator included)", peak as f64 / 1024.0);
        println!("  memory per subscription {:>10.1} KiB (RSS growth over the idle host / subscriptions)", per_sub);
        anyhow::Ok(())
    })?;
    Ok(())
}
