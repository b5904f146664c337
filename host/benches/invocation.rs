//! `cargo xtask bench`: the host's own overhead per invocation, Find Contact end to end, and the
//! component path against a plain native reqwest call doing the same Intercom request (a read, Find
//! Contact, and a write, Create Contact), in the same run on loopback.
//! Figures are medians and percentiles (this machine is shared and noisy), never pass/fail.

use intercom_emulator::Faults;
use serde_json::json;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use switchyard::bundle;
use switchyard::http::Connection;
use switchyard::runtime::{Limits, Runtime, RuntimeConfig};

const OVERHEAD_RUNS: usize = 20_000;
const E2E_RUNS: usize = 4_000;
const E2E_CONCURRENCY: usize = 8;
const VERSUS_RUNS: usize = 1_000;
/// The latency of the context figure: well under what Intercom's API takes from anywhere.
const NETWORK_LATENCY_MS: u64 = 20;
const LATENCY_RUNS: usize = 400;
const LATENCY_CONCURRENCY: usize = 32;
/// Interleaved rounds of each comparison; the median ratio is reported.
const VERSUS_ROUNDS: usize = 5;
/// The goal: the component path costs at most this much of the native path's time per action.
const VERSUS_GOAL: f64 = 1.2;

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
    let testing = bundle::load(&runtime, &bundles.join("testing"), &bundle::TrustPolicy::default()).await?;
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
    let intercom = Arc::new(bundle::load(&runtime, &bundles.join("intercom"), &bundle::TrustPolicy::default()).await?);
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

    // 3. Component path vs. native reqwest, same request, same emulator, same concurrency.
    println!("component vs. native ({VERSUS_RUNS} each, {E2E_CONCURRENCY} concurrent, loopback):");
    let native = Native { client: client.clone(), base: emulator.base_url(), token: emulator.token().to_string() };
    let read_native = {
        let (native, id) = (native.clone(), id.clone());
        move |_: usize| {
            let (native, id) = (native.clone(), id.clone());
            async move { native.send(reqwest::Method::GET, &format!("/contacts/{id}"), None).await }
        }
    };
    let read_component = {
        let (runtime, intercom, conn, input) = (runtime.clone(), intercom.clone(), conn.clone(), input.clone());
        move |_: usize| {
            let (runtime, intercom, conn, input) = (runtime.clone(), intercom.clone(), conn.clone(), input.clone());
            async move {
                let find = intercom.component("intercom/find-contact")?;
                runtime.run_action(find, Some(&conn), &input).await?;
                anyhow::Ok(())
            }
        }
    };
    versus("find-contact by id (read)", read_native.clone(), read_component.clone()).await?;
    // Where the read's extra cost goes: the same GET through a component that does no JSON work of
    // its own (testing/hostile `call` returns the body as one string), so its ratio is the sandbox
    // and the boundary alone, without Find Contact's parse and re-serialisation in the guest.
    let floor_component = {
        let (runtime, conn) = (runtime.clone(), conn.clone());
        let input = Arc::new(json!({ "mode": "call", "path": format!("/contacts/{id}") }).to_string());
        let testing = Arc::new(testing);
        move |_: usize| {
            let (runtime, testing, conn, input) = (runtime.clone(), testing.clone(), conn.clone(), input.clone());
            async move {
                let call = testing.component("testing/hostile")?;
                runtime.run_action(call, Some(&conn), &input).await?;
                anyhow::Ok(())
            }
        }
    };
    versus_at(
        "the same GET, no JSON work in the guest",
        VERSUS_RUNS,
        E2E_CONCURRENCY,
        read_native.clone(),
        floor_component,
    )
    .await?;

    // Creating contacts slows the emulator's duplicate check as contacts accumulate, so each path
    // writes into a fresh emulator of its own: both start from the same empty workspace.
    let write_native = {
        let emulator = spawn_emulator().await?;
        let native = Native { client: client.clone(), base: emulator.base_url(), token: emulator.token().to_string() };
        let emulator = Arc::new(emulator);
        move |i: usize| {
            let (native, _alive) = (native.clone(), emulator.clone());
            async move {
                let body = json!({"role": "user", "email": format!("native-{i}@example.com")});
                native.send(reqwest::Method::POST, "/contacts", Some(body)).await
            }
        }
    };
    let write_component = {
        let emulator = Arc::new(spawn_emulator().await?);
        let conn = Connection::new("bench-write", &emulator.base_url(), emulator.token())?;
        let (runtime, intercom) = (runtime.clone(), intercom.clone());
        move |i: usize| {
            let (runtime, intercom, conn, _alive) = (runtime.clone(), intercom.clone(), conn.clone(), emulator.clone());
            async move {
                let create = intercom.component("intercom/create-contact")?;
                let input = json!({"role": "user", "email": format!("component-{i}@example.com")}).to_string();
                let out = runtime.run_action(create, Some(&conn), &input).await?;
                anyhow::ensure!(out["existing"] == false, "the bench's emails must be new: {out}");
                anyhow::Ok(())
            }
        }
    };
    versus("create-contact, unique emails (write)", write_native, write_component).await?;

    // 4. The same read with a network in between. Loopback makes the request itself nearly free, so
    // the ratios above set the component machinery (a fresh sandbox, JSON across the boundary) against
    // almost nothing. Real Intercom answers in tens to hundreds of milliseconds; with a latency far
    // below that the machinery is a small share of an action's time. Context, not the goal's measure.
    println!(
        "with {NETWORK_LATENCY_MS} ms of emulated network latency ({LATENCY_RUNS} each, {LATENCY_CONCURRENCY} concurrent):"
    );
    emulator.state().set_faults(Faults { latency_ms: NETWORK_LATENCY_MS, ..Default::default() });
    versus_at("find-contact by id (read)", LATENCY_RUNS, LATENCY_CONCURRENCY, read_native, read_component).await?;
    Ok(())
}

async fn spawn_emulator() -> anyhow::Result<intercom_emulator::RunningEmulator> {
    intercom_emulator::spawn(intercom_emulator::EmulatorConfig {
        rate_limit_per_window: u32::MAX / 2,
        ..Default::default()
    })
    .await
}

/// The baseline: what a native Rust integration would do for the same action, one reqwest call
/// with the same headers the host sends, its JSON body parsed.
#[derive(Clone)]
struct Native {
    client: reqwest::Client,
    base: String,
    token: String,
}

impl Native {
    async fn send(&self, method: reqwest::Method, path: &str, body: Option<serde_json::Value>) -> anyhow::Result<()> {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("intercom-version", switchyard::http::INTERCOM_VERSION)
            .header("accept", "application/json");
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?.error_for_status()?;
        let _object: serde_json::Value = response.json().await?;
        Ok(())
    }
}

/// Runs `runs` operations over `concurrency` tasks; `op(i)` gets a unique `i`. Actions per second.
async fn rate<F, Fut>(runs: usize, concurrency: usize, op: F) -> anyhow::Result<f64>
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let started = Instant::now();
    let end = NEXT.load(Ordering::Relaxed) + runs;
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let i = NEXT.fetch_add(1, Ordering::Relaxed);
                if i >= end {
                    return anyhow::Ok(());
                }
                op(i).await?;
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(runs as f64 / started.elapsed().as_secs_f64())
}

/// Warms both paths up, then measures them in `VERSUS_ROUNDS` interleaved rounds (the order swapping
/// each round, so a burst of load from elsewhere on this shared machine hits both alike) and prints
/// the median rates and the median of the per-round cost ratios.
async fn versus<N, NF, C, CF>(name: &str, native: N, component: C) -> anyhow::Result<f64>
where
    N: Fn(usize) -> NF + Clone + Send + 'static,
    NF: Future<Output = anyhow::Result<()>> + Send + 'static,
    C: Fn(usize) -> CF + Clone + Send + 'static,
    CF: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let ratio = versus_at(name, VERSUS_RUNS, E2E_CONCURRENCY, native, component).await?;
    println!("  {:<42} goal <= {VERSUS_GOAL}x: {}", "", if ratio <= VERSUS_GOAL { "met" } else { "NOT met" });
    Ok(ratio)
}

async fn versus_at<N, NF, C, CF>(
    name: &str,
    runs: usize,
    concurrency: usize,
    native: N,
    component: C,
) -> anyhow::Result<f64>
where
    N: Fn(usize) -> NF + Clone + Send + 'static,
    NF: Future<Output = anyhow::Result<()>> + Send + 'static,
    C: Fn(usize) -> CF + Clone + Send + 'static,
    CF: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    rate(runs / 10, concurrency, native.clone()).await?;
    rate(runs / 10, concurrency, component.clone()).await?;
    let (mut native_rates, mut component_rates, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..VERSUS_ROUNDS {
        let (native_rate, component_rate) = if round % 2 == 0 {
            let n = rate(runs, concurrency, native.clone()).await?;
            (n, rate(runs, concurrency, component.clone()).await?)
        } else {
            let c = rate(runs, concurrency, component.clone()).await?;
            (rate(runs, concurrency, native.clone()).await?, c)
        };
        native_rates.push(native_rate);
        component_rates.push(component_rate);
        ratios.push(native_rate / component_rate);
    }
    let ratio = median(&mut ratios);
    println!(
        "  {name:<42} native {:>8.0} actions/s   component {:>8.0} actions/s   (medians of {VERSUS_ROUNDS} rounds)",
        median(&mut native_rates),
        median(&mut component_rates)
    );
    println!(
        "  {:<42} component/native time per action {ratio:.2}x (rounds {:.2}x..{:.2}x)",
        "",
        ratios[0],
        ratios[ratios.len() - 1],
    );
    Ok(ratio)
}

/// Sorts `values` and returns the middle one.
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
