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
use std::time::{Duration, SystemTime, UNIX_EPOCH};
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
}

impl Connection {
    pub fn new(name: impl Into<String>, base_url: &str, token: impl Into<String>) -> anyhow::Result<Self> {
        let base_url = Url::parse(base_url).map_err(|e| anyhow::anyhow!("invalid base URL {base_url:?}: {e}"))?;
        if !matches!(base_url.scheme(), "http" | "https") || base_url.host_str().is_none() {
            anyhow::bail!("invalid base URL {base_url}: it must be an http(s) URL with a host");
        }
        Ok(Connection { name: name.into(), base_url, token: SecretString::from(token.into()) })
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

/// The shared HTTP client and its limits.
pub struct OutboundHttp {
    client: reqwest::Client,
    limits: Limits,
}

impl OutboundHttp {
    pub fn new(limits: &Limits) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(limits.http_timeout)
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("switchyard/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(OutboundHttp { client, limits: limits.clone() })
    }

    /// Sends a component's request. Any HTTP status is an `Ok` response; an `Err` is a request the
    /// host refused or could not complete.
    pub async fn send(
        &self,
        connection: &Connection,
        policy: &HostPolicy,
        request: Request,
    ) -> Result<Response, ComponentError> {
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

        let mut attempt = 0;
        loop {
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
            let response = builder.send().await.map_err(|e| transport_error(&host, e))?;
            let status = response.status().as_u16();
            if status == 429 && attempt < self.limits.rate_limit_retries {
                attempt += 1;
                let wait = reset_wait(response.headers(), self.limits.rate_limit_max_wait);
                tracing::info!(
                    host,
                    attempt,
                    wait_ms = wait.as_millis() as u64,
                    "rate limited; waiting for the window to reset"
                );
                tokio::time::sleep(wait).await;
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
            return self.read(response, &host).await;
        }
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
        Ok(Response { status, headers, body: String::from_utf8_lossy(&body).into_owned() })
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
