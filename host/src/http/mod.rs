//! Outbound HTTP on behalf of components: every request a component makes passes through here.
//!
//! The component names a method, a path (or an absolute URL), query, headers and body. This module
//! resolves the path against the connection's base URL, checks the destination against the bundle's
//! allowed hosts, refuses credential headers from the guest, adds the connection's bearer token (only
//! toward the connection's own origin) and the pinned Intercom API version, caps the response size,
//! and waits out 429s until the rate-limit window resets, a bounded number of times.
//!
//! The per-workspace rate budget (and the company-scroll lease) that paces those requests is in
//! `budget`.

mod budget;
mod egress;

pub use budget::{BudgetStats, RateWaits};

use crate::contract::http::{Method, Request, Response};
use crate::contract::types::{Error as ComponentError, RateLimit, UpstreamError};
use budget::{ScrollCall, Workspace, reset_wait, track_scroll};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
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
    /// A dry run: no write request leaves the host (see [`is_write`]); reads go out as usual.
    pub reads_only: bool,
    /// Set when the connection's own origin answered 401: the host itself saw its credentials refused
    /// (a component's word for it is not enough to disable the connection).
    pub origin_refused: Arc<std::sync::atomic::AtomicBool>,
}

/// The limits of outbound HTTP (part of the runtime's [`crate::runtime::Limits`]).
#[derive(Clone, Debug)]
pub struct HttpLimits {
    /// The largest HTTP response body handed to a component (it must fit in its memory too).
    pub http_response_bytes: usize,
    /// Timeout of one HTTP request (connect + answer); the invocation deadline still applies.
    pub http_timeout: Duration,
    /// How often a 429 is retried after waiting for `X-RateLimit-Reset` before the component sees it.
    pub rate_limit_retries: u32,
    /// The longest single wait for a rate-limit window to reset.
    pub rate_limit_max_wait: Duration,
    /// Whether components may reach hosts other than their connection's own origin at addresses that
    /// are not public (loopback, private ranges, link-local, CGNAT, ...), and loopback over plain
    /// http. Off by default: allowed hosts are checked by name, and a name a bundle allows can be
    /// pointed at the cloud metadata service (169.254.169.254), the host itself or the internal
    /// network. The connection's own origin is reachable either way (the emulator and a self-hosted
    /// Intercom proxy live on loopback); turn this on only for a trusted bundle that talks to a
    /// service of your own on a private network.
    pub allow_private_egress: bool,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            http_response_bytes: 8 << 20,
            http_timeout: Duration::from_secs(30),
            rate_limit_retries: 3,
            rate_limit_max_wait: Duration::from_secs(10),
            allow_private_egress: false,
        }
    }
}

/// The shared HTTP client and its limits.
pub struct OutboundHttp {
    /// Requests to a connection's own origin, which the operator chose (it may be on loopback).
    client: reqwest::Client,
    /// Requests to a bundle's other allowed hosts: its resolver refuses addresses that are not
    /// public, unless the operator allows private egress (see `egress`).
    egress: reqwest::Client,
    limits: HttpLimits,
    /// One rate budget (and company-scroll lease) per workspace, shared by every trigger and action
    /// that talks to it through this host.
    workspaces: std::sync::Mutex<HashMap<[u8; 32], Arc<Workspace>>>,
}

impl OutboundHttp {
    pub fn new(limits: &HttpLimits) -> anyhow::Result<Self> {
        Self::build(limits, None)
    }

    /// Like [`OutboundHttp::new`], with names resolved by `resolver` instead of the system (tests
    /// point names at loopback without DNS). Hosts other than a connection's own origin still get
    /// only public addresses from it, unless `limits` allows private egress.
    pub fn with_resolver(limits: &HttpLimits, resolver: Arc<dyn reqwest::dns::Resolve>) -> anyhow::Result<Self> {
        Self::build(limits, Some(resolver))
    }

    fn build(limits: &HttpLimits, resolver: Option<Arc<dyn reqwest::dns::Resolve>>) -> anyhow::Result<Self> {
        let builder = || {
            reqwest::Client::builder()
                .timeout(limits.http_timeout)
                .connect_timeout(Duration::from_secs(10))
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("switchyard/", env!("CARGO_PKG_VERSION")))
        };
        let client = match &resolver {
            Some(resolver) => builder().dns_resolver2(resolver.clone()),
            None => builder(),
        }
        .build()?;
        let egress = if limits.allow_private_egress {
            client.clone()
        } else {
            let names = resolver.unwrap_or_else(|| Arc::new(egress::System));
            builder().dns_resolver(Arc::new(egress::PublicOnly(names))).build()?
        };
        Ok(OutboundHttp { client, egress, limits: limits.clone(), workspaces: Default::default() })
    }

    /// The client for a request: the connection's own origin, or another allowed host.
    fn client_for(&self, own_origin: bool) -> &reqwest::Client {
        if own_origin { &self.client } else { &self.egress }
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
        if !own_origin {
            egress::check(&url, self.limits.allow_private_egress)?;
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
            let mut builder = self.client_for(own_origin).request(method(request.method), url.clone());
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
            if write && call.reads_only {
                return Err(ComponentError::Forbidden(format!(
                    "dry run: the write request {} {} was not sent (a dry run sends only reads)",
                    method(request.method),
                    url.path()
                )));
            }
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
            if status == 401 && own_origin {
                call.origin_refused.store(true, std::sync::atomic::Ordering::SeqCst);
            }
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
        let url = Url::parse(&request.path).map_err(|e| invalid(format!("{}: {e}", request.path)))?;
        if !url.username().is_empty() || url.password().is_some() {
            // Shown without the user name and password, which stay out of errors and logs.
            let mut shown = url.clone();
            let _ = shown.set_username("");
            let _ = shown.set_password(None);
            return Err(ComponentError::Forbidden(format!(
                "request to {shown} refused: the URL carries a user name or password, and components may not \
                 send credentials in URLs (the host adds the connection's own)"
            )));
        }
        url
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

fn transport_error(host: &str, err: reqwest::Error) -> ComponentError {
    // The resolver refused the destination: a refusal like any other, not a transport failure.
    if let Some(refused) = egress::refusal(&err) {
        return ComponentError::Forbidden(refused);
    }
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
