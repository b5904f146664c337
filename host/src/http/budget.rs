//! The per-workspace rate budget: the window's permits, its statistics, the time invocations spent
//! waiting for it, and the workspace's company-scroll lease.

use crate::contract::http::Response;
use crate::contract::types::{Error as ComponentError, RateLimit};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use url::Url;

/// Time an invocation spent waiting for its workspace's rate budget: for the window to reset, for a
/// 429's reset, or for the workspace's open company scroll. The runtime extends the invocation's
/// deadline by it, because that pacing is the host's doing, not the component's slowness.
#[derive(Clone, Debug, Default)]
pub struct RateWaits(Arc<std::sync::Mutex<WaitTally>>);

#[derive(Debug, Default)]
struct WaitTally {
    finished: Duration,
    /// The start of the wait in progress, counted as it goes so a deadline falling inside it moves.
    since: Option<Instant>,
}

impl RateWaits {
    /// Everything waited so far, including the wait in progress.
    pub fn total(&self) -> Duration {
        let tally = self.0.lock().unwrap_or_else(|e| e.into_inner());
        tally.finished + tally.since.map(|s| s.elapsed()).unwrap_or_default()
    }

    /// Runs `wait`, counting its duration.
    pub(crate) async fn during<F: std::future::Future>(&self, wait: F) -> F::Output {
        struct Counting<'a>(&'a RateWaits, Instant);
        impl Drop for Counting<'_> {
            fn drop(&mut self) {
                let mut tally = (self.0).0.lock().unwrap_or_else(|e| e.into_inner());
                tally.finished += self.1.elapsed();
                tally.since = None;
            }
        }
        let started = Instant::now();
        self.0.lock().unwrap_or_else(|e| e.into_inner()).since = Some(started);
        let _counting = Counting(self, started);
        wait.await
    }
}
// ---------------------------------------------------------------------------------------------------
// The per-workspace rate budget.
//
// Intercom counts requests per workspace in fixed 10-second windows and says on every answer how many
// are left (`X-RateLimit-Remaining`) and when the window ends (`X-RateLimit-Reset`, Unix seconds). The
// budget mirrors exactly that: it hands out at most `remaining` permits until `reset`, then waits for
// the next window. It is not `governor`: governor's GCRA refills a locally configured quota at a
// steady rate and has no way to be told "the server says 3 left until 12:00:10", so it would either
// overshoot when other clients share the workspace or leave the window's budget unused. A counter
// that the server's headers correct is the smallest thing that paces a burst to the window.
// Before the first answer the limit is unknown, so one request at a time goes out as a probe.
// ---------------------------------------------------------------------------------------------------

/// Waiting past the reset by this much absorbs clock differences of whole-second resets.
const RESET_MARGIN: Duration = Duration::from_millis(100);
/// An open scroll that was not continued for this long has expired at Intercom (its documented TTL).
const SCROLL_IDLE: Duration = Duration::from_secs(60);
/// Intercom's windows are 10 seconds; no single wait for the next one is longer.
const MAX_WINDOW: Duration = Duration::from_secs(10);
/// How many recent windows the statistics keep.
const STATS_WINDOWS: usize = 64;

#[derive(Default)]
pub(super) struct Workspace {
    window: std::sync::Mutex<Window>,
    /// Wakes requests waiting for an answer to tell them the budget.
    answered: tokio::sync::Notify,
    /// The workspace's open company scroll, if this host opened one.
    pub(super) scroll: tokio::sync::Mutex<Option<OpenScroll>>,
}

#[derive(Default)]
struct Window {
    /// `X-RateLimit-Limit`, applied to a window before its first answer arrives.
    limit: Option<u32>,
    /// The server's end of the window `remaining` belongs to (`X-RateLimit-Reset`, Unix seconds).
    reset: Option<u64>,
    /// The same moment on this host's monotonic clock (at most one window ahead, whatever the
    /// clocks say); `None` once it passed and a fresh window is being counted.
    ends: Option<Instant>,
    /// Permits left in the window.
    remaining: u32,
    /// Requests sent whose answer has not arrived.
    in_flight: u32,
    sent: u64,
    throttled: u64,
    /// Requests answered per window (by its reset time), for the statistics.
    per_window: BTreeMap<u64, u32>,
}

/// A request's claim on the budget; dropping it without an answer (transport error, cancellation)
/// gives back the in-flight slot.
pub(super) struct Permit<'a> {
    workspace: &'a Workspace,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut w = self.workspace.window.lock().unwrap_or_else(|e| e.into_inner());
        w.in_flight = w.in_flight.saturating_sub(1);
        drop(w);
        self.workspace.answered.notify_waiters();
    }
}

/// What a workspace's budget has seen.
#[derive(Clone, Debug, Default)]
pub struct BudgetStats {
    /// `X-RateLimit-Limit` as last seen.
    pub limit: Option<u32>,
    /// Requests sent to the workspace.
    pub sent: u64,
    /// 429 answers received (each retried after the reset, or surfaced once retries ran out).
    pub throttled: u64,
    /// Requests answered per window, oldest first: (the window's reset time, count).
    pub windows: Vec<(u64, u32)>,
}

fn unix_now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

fn header_u64(headers: &reqwest::header::HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

impl Workspace {
    pub(super) async fn acquire(&self) -> Permit<'_> {
        loop {
            let notified = self.answered.notified();
            let wait = {
                let mut w = self.window.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                if let (Some(ends), Some(limit)) = (w.ends, w.limit)
                    && now >= ends + RESET_MARGIN
                {
                    // The window is over: a fresh one with the whole limit, whose end the next answer tells.
                    w.ends = None;
                    w.remaining = limit;
                }
                let available = match w.limit {
                    None => w.in_flight == 0,
                    Some(_) => w.remaining > 0,
                };
                if available {
                    w.remaining = w.remaining.saturating_sub(1);
                    w.in_flight += 1;
                    w.sent += 1;
                    return Permit { workspace: self };
                }
                w.ends.filter(|_| w.limit.is_some()).map(|ends| (ends + RESET_MARGIN).saturating_duration_since(now))
            };
            match wait {
                Some(wait) => tokio::time::sleep(wait).await,
                // The end of the window is not known yet: wait for an answer to say, or retry shortly
                // in case answers come without rate-limit headers.
                None => {
                    let _ = tokio::time::timeout(Duration::from_millis(250), notified).await;
                }
            }
        }
    }

    /// Corrects the budget from an answer's headers.
    pub(super) fn observe(&self, permit: Permit<'_>, status: u16, headers: &reqwest::header::HeaderMap) {
        {
            let mut w = self.window.lock().unwrap_or_else(|e| e.into_inner());
            if status == 429 {
                w.throttled += 1;
            }
            let limit = header_u64(headers, "x-ratelimit-limit").map(|v| v.min(u64::from(u32::MAX)) as u32);
            let remaining = header_u64(headers, "x-ratelimit-remaining").map(|v| v.min(u64::from(u32::MAX)) as u32);
            let reset = header_u64(headers, "x-ratelimit-reset");
            if let (Some(limit), Some(remaining), Some(reset)) = (limit, remaining, reset) {
                *w.per_window.entry(reset).or_default() += 1;
                while w.per_window.len() > STATS_WINDOWS {
                    w.per_window.pop_first();
                }
                w.limit = Some(limit);
                let ends = || {
                    let left = Duration::from_secs(reset).saturating_sub(unix_now());
                    Instant::now() + left.min(MAX_WINDOW)
                };
                match w.reset {
                    // An older window than the one counted.
                    Some(current) if reset < current => {}
                    // The window counted: trust whichever count is lower, since ours includes requests
                    // the server has not answered yet. (If this host already counts it as over, the
                    // answer is late and says nothing about the new window.)
                    Some(current) if reset == current => {
                        if w.ends.is_some() {
                            w.remaining = w.remaining.min(remaining);
                        }
                    }
                    // A window this host has not seen an answer from yet.
                    previous => {
                        w.remaining = if previous.is_some() && w.ends.is_none() {
                            // Already counting it since the old one ended here: both counts cover it.
                            w.remaining.min(remaining)
                        } else {
                            // The server moved on first (or this is the first answer): its count misses
                            // the other requests still in flight.
                            remaining.saturating_sub(w.in_flight.saturating_sub(1))
                        };
                        w.reset = Some(reset);
                        w.ends = Some(ends());
                    }
                }
            }
        }
        drop(permit);
    }

    pub(super) fn stats(&self) -> BudgetStats {
        let w = self.window.lock().unwrap_or_else(|e| e.into_inner());
        BudgetStats {
            limit: w.limit,
            sent: w.sent,
            throttled: w.throttled,
            windows: w.per_window.iter().map(|(k, v)| (*k, *v)).collect(),
        }
    }

    /// Waits until no scroll this host opened is open in the workspace, then holds the lease while
    /// the new scroll's first page is fetched (so two starts cannot race into `scroll_exists`).
    pub(super) async fn begin_scroll(
        &self,
        max_wait: Duration,
        host: &str,
    ) -> Result<tokio::sync::MutexGuard<'_, Option<OpenScroll>>, ComponentError> {
        let started = Instant::now();
        loop {
            let mut open = self.scroll.lock().await;
            match &*open {
                Some(scroll) if scroll.last_used.elapsed() < SCROLL_IDLE => {}
                _ => {
                    *open = None;
                    return Ok(open);
                }
            }
            drop(open);
            if started.elapsed() >= max_wait {
                return Err(ComponentError::RateLimited(RateLimit {
                    message: format!(
                        "another company scroll is open in this workspace of {host}; Intercom allows one at a time"
                    ),
                    retry_after_seconds: Some(SCROLL_IDLE.as_secs() as u32),
                }));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Tracks the open scroll from a scroll answer: a page with objects keeps it open (refreshing its idle
/// time), an empty page or a refused `scroll_param` closes it.
pub(super) fn track_scroll(answer: &Response, open: &mut Option<OpenScroll>) {
    let body: serde_json::Value = serde_json::from_str(&answer.body).unwrap_or_default();
    let has_data = body.get("data").and_then(|d| d.as_array()).is_some_and(|d| !d.is_empty());
    match (answer.status, has_data) {
        (200, true) => *open = Some(OpenScroll { last_used: Instant::now() }),
        (200, false) | (404, _) => *open = None,
        _ => {}
    }
}

pub(super) struct OpenScroll {
    last_used: Instant,
}

/// A request to Intercom's company scroll, and the scroll it continues.
pub(super) struct ScrollCall {
    pub(super) param: Option<String>,
}

impl ScrollCall {
    pub(super) fn of(url: &Url) -> Option<ScrollCall> {
        if !url.path().ends_with("/companies/scroll") {
            return None;
        }
        let param = url.query_pairs().find(|(k, _)| k == "scroll_param").map(|(_, v)| v.into_owned());
        Some(ScrollCall { param: param.filter(|p| !p.is_empty()) })
    }
}
/// How long until `X-RateLimit-Reset` (Unix seconds), at most `max`; one second if the header is missing.
pub(super) fn reset_wait(headers: &reqwest::header::HeaderMap, max: Duration) -> Duration {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let reset = headers
        .get("x-ratelimit-reset")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|reset| Duration::from_secs(reset).saturating_sub(now));
    reset.unwrap_or(Duration::from_secs(1)).clamp(Duration::from_millis(50), max)
}
