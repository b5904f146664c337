//! `cargo xtask bench`: the host's own overhead per invocation, and Find Contact end to end.
//! Figures are medians and percentiles (this machine is shared and noisy), never pass/fail.

use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchyard::bundle;
use switchyard::http::Connection;
use switchyard::runtime::{Limits, Runtime, RuntimeConfig};

const OVERHEAD_RUNS: usize = 20_000;
const E2E_RUNS: usize = 4_000;
const E2E_CONCURRENCY: usize = 8;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{name:<44} median {:>8.1} us   p99 {:>8.1} us   (n = {})",
        percentile(&samples, 0.5).as_secs_f64() * 1e6,
        percentile(&samples, 0.99).as_secs_f64() * 1e6,
        samples.len()
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let bundles = root.join("target/bundles");
    let cache_dir = root.join("target/bench-home/cache");
    let runtime = Arc::new(Runtime::new(RuntimeConfig { limits: Limits::default(), cache_dir })?);
    println!("switchyard benchmarks (allocator: {:?})", runtime.allocator());

    // 1. Host overhead: fresh store, instantiate from InstancePre, one call, drop. No network.
    let testing = bundle::load(&runtime, &bundles.join("testing")).await?;
    let echo = testing.component("testing/hostile")?;
    let input = r#"{"mode":"echo"}"#;
    for _ in 0..1_000 {
        runtime.run_action(echo, None, input).await?;
    }
    let mut samples = Vec::with_capacity(OVERHEAD_RUNS);
    for _ in 0..OVERHEAD_RUNS {
        let started = Instant::now();
        runtime.run_action(echo, None, input).await?;
        samples.push(started.elapsed());
    }
    report("host overhead per invocation (goal < 25 us)", samples);

    // 2. Find Contact end to end against the emulator on loopback.
    let emulator = intercom_emulator::spawn(intercom_emulator::EmulatorConfig {
        rate_limit_per_window: u32::MAX / 2,
        ..Default::default()
    })
    .await?;
    let client = reqwest::Client::new();
    let contact: serde_json::Value = client
        .post(format!("{}/contacts", emulator.base_url()))
        .bearer_auth(emulator.token())
        .json(&json!({"role": "user", "email": "bench@example.com"}))
        .send()
        .await?
        .json()
        .await?;
    let id = contact["id"].as_str().unwrap_or_default().to_string();
    let intercom = Arc::new(bundle::load(&runtime, &bundles.join("intercom")).await?);
    let conn = Connection::new("bench", &emulator.base_url(), emulator.token())?;
    let input = Arc::new(json!({ "id": id }).to_string());

    let find = intercom.component("intercom/find-contact")?;
    let mut samples = Vec::with_capacity(E2E_RUNS / 4);
    for _ in 0..E2E_RUNS / 4 {
        let started = Instant::now();
        runtime.run_action(find, Some(&conn), &input).await?;
        samples.push(started.elapsed());
    }
    report("find-contact by id, one at a time", samples);

    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..E2E_CONCURRENCY {
        let (runtime, intercom, conn, input) = (runtime.clone(), intercom.clone(), conn.clone(), input.clone());
        tasks.push(tokio::spawn(async move {
            let find = intercom.component("intercom/find-contact").expect("find-contact");
            for _ in 0..E2E_RUNS / E2E_CONCURRENCY {
                runtime.run_action(find, Some(&conn), &input).await.expect("find-contact");
            }
        }));
    }
    for task in tasks {
        task.await?;
    }
    let elapsed = started.elapsed();
    println!(
        "{:<44} {:>8.0} actions/s ({E2E_RUNS} in {:.2} s, {E2E_CONCURRENCY} concurrent)",
        "find-contact by id, end to end",
        E2E_RUNS as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64()
    );
    Ok(())
}
