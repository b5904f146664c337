//! Outbound HTTP on behalf of components: every request a component makes passes through here.
//!
//! The component names a method, a path (or an absolute URL), query, headers and body. This module
//! resolves the path against the connection's base URL, checks the destination against the bundle's
//! allowed hosts, refuses credential headers from the guest, adds the connection's bearer token (only
//! toward the connection's own origin) and the pinned Intercom API version, caps the response size,
//! and waits out 429s until the rate-limit window resets, a bounded number of times.

use crate::runtime::bindings::http::{Method, Request, Response};
use crate::runtime::bindings::types::{Error as ComponentError, RateLimit, UpstreamError};
use crate::runtime::engine::Limits;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use url::Url;

/// The Intercom API version every request is pinned to.
pub const INTERCOM_VERSION: &str = "2.16";

/// Headers a component may never set: credentials are the host's, and so is the API version.
const FORBIDDEN_HEADERS: &[&str] = &["authorization", "proxy-authorization", "cookie", "host", "intercom-version"];

/// Where a component's requests go and with which credentials. The token never leaves the host.
#[derive(Clone)]
pub struct Connection {
    pub name: String,
    pub base_url: Url,
    token: SecretString,
    /// Which workspace's rate budget this connection spends: a hash of its API origin and token,
    /// computed once rather than on every request.
    budget_key: [u8; 32],
}

impl Connection {
    pub fn new(name: impl Into<String>, base_url: &str, token: impl Into<String>) -> anyhow::Result<Self> {
        let base_url = Url::parse(base_url).map_err(|e| anyhow::anyhow!("invalid base URL {base_url:?}: {e}"))?;
        if !matches!(base_url.scheme(), "http" | "https") || base_url.host_str().is_none() {
            anyhow::bail!("invalid base URL {base_url}: it must be an http(s) URL with a host");
        }
        let token = SecretString::from(token.into());
        let mut hasher = Sha256::new();
        hasher.update(base_url.origin().ascii_serialization().as_bytes());
        hasher.update([0]);
        hasher.update(token.expose_secret().as_bytes());
        Ok(Connection { name: name.into(), base_url, token, budget_key: hasher.finalize().into() })
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").field("name", &self.name).field("base_url", &self.base_url.as_str()).finish()
    }
}

/// The hosts a bundle's components may reach besides their connection's own origin.
#[derive(Clone, Debug, Default)]
pub struct HostPolicy {
    /// Exact host names, or `*.example.com` for any subdomain.
    pub allowed_hosts: Vec<String>,
}

impl HostPolicy {
    fn allows(&self, host: &str) -> bool {
        self.allowed_hosts.iter().any(|pattern| match pattern.strip_prefix("*.") {
            Some(suffix) => host.strip_suffix(suffix).is_some_and(|rest| rest.ends_with('.')),
            None => pattern.eq_ignore_ascii_case(host),
        })
    }
}

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

/// Write requests an invocation sent that were never answered: no status came back because the
/// transport failed after the request may have been written, a timeout fired, or the invocation was
/// stopped mid-request. While any is open, a failed invocation's outcome is unknown: the service may
/// have applied the write. (A request refused before sending, or whose connection could not even be
/// opened, is not counted: it cannot have reached the service.)
#[derive(Clone, Debug, Default)]
pub struct UnansweredWrites(Arc<std::sync::atomic::AtomicU32>);

impl UnansweredWrites {
    pub fn count(&self) -> u32 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn sent(&self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    fn answered(&self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Whether a request may change something at the service. Intercom's searches are POSTs that only read.
pub fn is_write(method: Method, url: &Url) -> bool {
    match method {
        Method::Get => false,
        Method::Post => !url.path().ends_with("/search"),
        Method::Put | Method::Patch | Method::Delete => true,
    }
}

/// The invocation's wall-clock deadline as its requests see it: a request is given at most the time
/// the deadline has left (less a margin for the component to report the failure), so the HTTP client
/// gives up on a slow answer before the deadline stops the component mid-request. Time spent waiting
/// for the rate budget moves the deadline, as it does for the invocation itself.
#[derive(Clone, Debug)]
pub struct RequestDeadline {
    started: Instant,
    deadline: Duration,
    allowance: Duration,
}

impl RequestDeadline {
    /// What the deadline leaves a request that starts now.
    const MARGIN: Duration = Duration::from_millis(250);

    pub fn new(deadline: Duration, allowance: Duration) -> RequestDeadline {
        RequestDeadline { started: Instant::now(), deadline, allowance }
    }

    fn remaining(&self, waits: &RateWaits) -> Duration {
        let ends = self.started + self.deadline + waits.total().min(self.allowance);
        ends.saturating_duration_since(Instant::now()).saturating_sub(Self::MARGIN).max(Duration::from_millis(10))
    }
}

/// What one invocation's requests share.
#[derive(Clone, Debug, Default)]
pub struct CallState {
    /// Time spent waiting for the workspace's rate budget (the deadline does not count it).
    pub rate_waits: RateWaits,
    pub unanswered_writes: UnansweredWrites,
    /// `None`: no invocation deadline (the host's own calls, such as `GET /me`).
    pub deadline: Option<RequestDeadline>,
}

/// The shared HTTP client and its limits.
pub struct OutboundHttp {
    client: reqwest::Client,
    limits: Limits,
    /// One rate budget (and company-scroll lease) per workspace, shared by every trigger and action
    /// that talks to it through this host.
    workspaces: std::sync::Mutex<HashMap<[u8; 32], Arc<Workspace>>>,
}

impl OutboundHttp {
    pub fn new(limits: &Limits) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(limits.http_timeout)
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("switchyard/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(OutboundHttp { client, limits: limits.clone(), workspaces: Default::default() })
    }

    /// Sends a component's request. Any HTTP status is an `Ok` response; an `Err` is a request the
    /// host refused or could not complete. Time spent waiting for the rate budget is added to the
    /// call's rate waits; a write sent without an answer stays counted in its unanswered writes.
    pub async fn send(
        &self,
        connection: &Connection,
        policy: &HostPolicy,
        request: Request,
        call: &CallState,
    ) -> Result<Response, ComponentError> {
        let waits = &call.rate_waits;
        for (name, _) in &request.headers {
            if FORBIDDEN_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                return Err(ComponentError::Forbidden(format!(
                    "components may not set the `{name}` header: the host adds credentials and the API version itself"
                )));
            }
        }
        let url = resolve(connection, &request)?;
        let host = url.host_str().unwrap_or_default().to_string();
        let own_origin = url.origin() == connection.base_url.origin();
        if !own_origin && !policy.allows(&host) {
            return Err(ComponentError::Forbidden(format!(
                "request to {host} denied: it is neither the connection's host ({}) nor in the bundle's allowed hosts [{}]",
                connection.base_url.host_str().unwrap_or_default(),
                policy.allowed_hosts.join(", ")
            )));
        }

        // The workspace's budget paces requests to the connection's own origin (the API); requests to
        // other allowed hosts carry no credentials and spend no Intercom budget.
        let workspace = own_origin.then(|| self.workspace(connection));
        let scroll = ScrollCall::of(&url);
        // Intercom allows one open company scroll per workspace: a new scroll waits for the open one
        // to finish (or go idle) instead of failing with `scroll_exists`.
        let mut scroll_start = match (&workspace, &scroll) {
            (Some(ws), Some(ScrollCall { param: None })) => {
                let max_wait = self.limits.rate_limit_max_wait.max(Duration::from_secs(1));
                Some(waits.during(ws.begin_scroll(max_wait, &host)).await?)
            }
            _ => None,
        };
        let mut attempt = 0;
        loop {
            let permit = match &workspace {
                Some(ws) => Some(waits.during(ws.acquire()).await),
                None => None,
            };
            let mut builder = self.client.request(method(request.method), url.clone());
            for (name, value) in &request.headers {
                builder = builder.header(name, value);
            }
            builder = builder.header("accept", "application/json");
            if own_origin {
                builder =
                    builder.bearer_auth(connection.token.expose_secret()).header("intercom-version", INTERCOM_VERSION);
            }
            if let Some(body) = &request.body {
                builder = builder.header("content-type", "application/json").body(body.clone());
            }
            if let Some(deadline) = &call.deadline {
                builder = builder.timeout(deadline.remaining(waits).min(self.limits.http_timeout));
            }
            let write = is_write(request.method, &url);
            if write {
                call.unanswered_writes.sent();
            }
            let response = match builder.send().await {
                Ok(response) => response,
                Err(error) => {
                    // A connection that could not be opened carried nothing; any other failure may
                    // have come after the request was written.
                    if write && error.is_connect() {
                        call.unanswered_writes.answered();
                    }
                    return Err(transport_error(&host, error));
                }
            };
            if write {
                call.unanswered_writes.answered();
            }
            let status = response.status().as_u16();
            if let (Some(ws), Some(permit)) = (&workspace, permit) {
                ws.observe(permit, status, response.headers());
            }
            if status == 429 && attempt < self.limits.rate_limit_retries {
                attempt += 1;
                let wait = reset_wait(response.headers(), self.limits.rate_limit_max_wait);
                tracing::info!(
                    host,
                    attempt,
                    wait_ms = wait.as_millis() as u64,
                    "rate limited; waiting for the window to reset"
                );
                waits.during(tokio::time::sleep(wait)).await;
                continue;
            }
            if status == 429 {
                let wait = reset_wait(response.headers(), self.limits.rate_limit_max_wait);
                return Err(ComponentError::RateLimited(RateLimit {
                    message: format!(
                        "{host} still answers 429 Too Many Requests after {attempt} waits for the rate-limit window"
                    ),
                    retry_after_seconds: Some(wait.as_secs().max(1) as u32),
                }));
            }
            let answer = self.read(response, &host).await?;
            if let (Some(ws), Some(_)) = (&workspace, &scroll) {
                match scroll_start.as_mut() {
                    Some(lease) => track_scroll(&answer, lease),
                    None => track_scroll(&answer, &mut *ws.scroll.lock().await),
                }
            }
            return Ok(answer);
        }
    }

    /// The budget of `connection`'s workspace: its API origin plus the identity of its token.
    fn workspace(&self, connection: &Connection) -> Arc<Workspace> {
        let mut map = self.workspaces.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(connection.budget_key).or_default().clone()
    }

    /// What the budget of `connection`'s workspace has seen so far, if it was used.
    pub fn budget_stats(&self, connection: &Connection) -> BudgetStats {
        self.workspace(connection).stats()
    }

    async fn read(&self, mut response: reqwest::Response, host: &str) -> Result<Response, ComponentError> {
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        let cap = self.limits.http_response_bytes;
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| transport_error(host, e))? {
            if body.len() + chunk.len() > cap {
                return Err(ComponentError::Upstream(UpstreamError {
                    status,
                    code: "response_too_large".into(),
                    message: format!("the response from {host} is larger than the {cap}-byte limit"),
                }));
            }
            body.extend_from_slice(&chunk);
        }
        // Intercom answers UTF-8 JSON; only a body that is not gets the replacement-character copy.
        let body = String::from_utf8(body).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        Ok(Response { status, headers, body })
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
struct Workspace {
    window: std::sync::Mutex<Window>,
    /// Wakes requests waiting for an answer to tell them the budget.
    answered: tokio::sync::Notify,
    /// The workspace's open company scroll, if this host opened one.
    scroll: tokio::sync::Mutex<Option<OpenScroll>>,
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
struct Permit<'a> {
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
    async fn acquire(&self) -> Permit<'_> {
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
    fn observe(&self, permit: Permit<'_>, status: u16, headers: &reqwest::header::HeaderMap) {
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

    fn stats(&self) -> BudgetStats {
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
    async fn begin_scroll(
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
fn track_scroll(answer: &Response, open: &mut Option<OpenScroll>) {
    let body: serde_json::Value = serde_json::from_str(&answer.body).unwrap_or_default();
    let has_data = body.get("data").and_then(|d| d.as_array()).is_some_and(|d| !d.is_empty());
    match (answer.status, has_data) {
        (200, true) => *open = Some(OpenScroll { last_used: Instant::now() }),
        (200, false) | (404, _) => *open = None,
        _ => {}
    }
}

struct OpenScroll {
    last_used: Instant,
}

/// A request to Intercom's company scroll, and the scroll it continues.
struct ScrollCall {
    param: Option<String>,
}

impl ScrollCall {
    fn of(url: &Url) -> Option<ScrollCall> {
        if !url.path().ends_with("/companies/scroll") {
            return None;
        }
        let param = url.query_pairs().find(|(k, _)| k == "scroll_param").map(|(_, v)| v.into_owned());
        Some(ScrollCall { param: param.filter(|p| !p.is_empty()) })
    }
}

fn method(method: Method) -> reqwest::Method {
    match method {
        Method::Get => reqwest::Method::GET,
        Method::Post => reqwest::Method::POST,
        Method::Put => reqwest::Method::PUT,
        Method::Patch => reqwest::Method::PATCH,
        Method::Delete => reqwest::Method::DELETE,
    }
}

/// A path is joined to the connection's base URL; an absolute URL stands as it is.
fn resolve(connection: &Connection, request: &Request) -> Result<Url, ComponentError> {
    let invalid = |why: String| ComponentError::Internal(format!("the component built a bad request URL: {why}"));
    let mut url = if request.path.starts_with("http://") || request.path.starts_with("https://") {
        Url::parse(&request.path).map_err(|e| invalid(format!("{}: {e}", request.path)))?
    } else if request.path.starts_with('/') {
        let base = connection.base_url.as_str().trim_end_matches('/');
        Url::parse(&format!("{base}{}", request.path)).map_err(|e| invalid(format!("{}: {e}", request.path)))?
    } else {
        return Err(invalid(format!("path {:?} must start with '/'", request.path)));
    };
    if !request.query.is_empty() {
        url.query_pairs_mut().extend_pairs(request.query.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    }
    Ok(url)
}

/// How long until `X-RateLimit-Reset` (Unix seconds), at most `max`; one second if the header is missing.
fn reset_wait(headers: &reqwest::header::HeaderMap, max: Duration) -> Duration {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let reset = headers
        .get("x-ratelimit-reset")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|reset| Duration::from_secs(reset).saturating_sub(now));
    reset.unwrap_or(Duration::from_secs(1)).clamp(Duration::from_millis(50), max)
}

fn transport_error(host: &str, err: reqwest::Error) -> ComponentError {
    let what = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    ComponentError::Upstream(UpstreamError {
        status: 0,
        code: "transport_error".into(),
        message: format!("the request to {host} {what}: {}", error_chain(&err)),
    })
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_hosts_match_subdomains_only() {
        let policy = HostPolicy { allowed_hosts: vec!["*.intercom.io".into(), "api.example.com".into()] };
        assert!(policy.allows("api.intercom.io"));
        assert!(policy.allows("api.eu.intercom.io"));
        assert!(!policy.allows("intercom.io"));
        assert!(!policy.allows("evilintercom.io"));
        assert!(policy.allows("API.example.com"));
        assert!(!policy.allows("example.com"));
    }

    #[test]
    fn paths_resolve_against_the_base_url() {
        let conn = Connection::new("t", "http://127.0.0.1:9/", "tok").unwrap();
        let req = Request {
            method: Method::Get,
            path: "/contacts/a%2Fb".into(),
            query: vec![("per_page".into(), "2".into())],
            headers: vec![],
            body: None,
        };
        assert_eq!(resolve(&conn, &req).unwrap().as_str(), "http://127.0.0.1:9/contacts/a%2Fb?per_page=2");
        let bad = Request { path: "contacts".into(), ..req };
        assert!(resolve(&conn, &bad).is_err());
    }
}
