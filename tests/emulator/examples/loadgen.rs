//! A small loopback load generator: `cargo run --release -p intercom-emulator --example loadgen`.
//! Spawns an emulator (demo seed) and hammers `GET /contacts/{id}` (or `me`, or `search`: an email search)
//! for a bounded time. `cargo xtask bench` runs it for a GET and a search.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use intercom_emulator::{EmulatorConfig, Seed};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let secs: u64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(5);
    let conns: usize = std::env::args().nth(2).and_then(|s| s.parse().ok()).unwrap_or(32);
    let target = std::env::args().nth(3).unwrap_or_else(|| "contact".into());
    let emu = intercom_emulator::spawn(EmulatorConfig {
        seed: Some(Seed::Demo),
        rate_limit_per_window: u32::MAX,
        ..Default::default()
    })
    .await?;
    let ids: Vec<String> = emu.state().with_workspace(|ws| ws.contacts.values().map(|c| c.id.clone()).collect());
    let emails: Vec<String> =
        emu.state().with_workspace(|ws| ws.contacts.values().filter_map(|c| c.email.clone()).collect());
    let ids = Arc::new(ids);
    let emails = Arc::new(emails);
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for t in 0..conns {
        let client = reqwest::Client::new();
        let base = emu.base_url();
        let token = emu.token().to_string();
        let ids = ids.clone();
        let emails = emails.clone();
        let done = done.clone();
        let errors = errors.clone();
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            let mut i = t;
            while Instant::now() < deadline {
                let id = &ids[i % ids.len()];
                i += 7;
                let request = match target.as_str() {
                    "me" => client.get(format!("{base}/me")),
                    // A search by email, the most common lookup (Intercom has no GET by email).
                    "search" => client.post(format!("{base}/contacts/search")).json(&serde_json::json!({
                        "query": {"field": "email", "operator": "=", "value": emails[i % emails.len()]},
                        "pagination": {"per_page": 5}
                    })),
                    _ => client.get(format!("{base}/contacts/{id}")),
                };
                match request.bearer_auth(&token).send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    let start = Instant::now();
    for t in tasks {
        let _ = t.await;
    }
    let n = done.load(Ordering::Relaxed);
    println!(
        "{n} requests ({target}) in {:.1}s = {:.0} req/s ({} errors, {conns} connections)",
        start.elapsed().as_secs_f64(),
        n as f64 / start.elapsed().as_secs_f64(),
        errors.load(Ordering::Relaxed)
    );
    emu.shutdown().await;
    Ok(())
}
