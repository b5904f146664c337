//! Intercom specifics: regional hosts, OAuth endpoints, and `GET /me` to learn a token's workspace.

use crate::contract::ComponentError;
use crate::contract::http::{Method, Request};
use crate::http::{CallState, Connection, HostPolicy, HttpLimits, OutboundHttp};
use serde_json::Value;
use url::Url;

/// The provider name stored with Intercom connections.
pub const PROVIDER: &str = "intercom";

/// Intercom's data-hosting regions. Each has its own API host and app (authorize) host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Region {
    Us,
    Eu,
    Au,
}

impl Region {
    /// From the `app.region` that `GET /me` reports (`US`, `EU`, `AU`; case-insensitive).
    pub fn from_app_region(region: &str) -> Option<Region> {
        match region.trim().to_ascii_uppercase().as_str() {
            "US" => Some(Region::Us),
            "EU" => Some(Region::Eu),
            "AU" => Some(Region::Au),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Region::Us => "US",
            Region::Eu => "EU",
            Region::Au => "AU",
        }
    }

    /// The REST API's base URL (spec `servers`).
    pub fn api_base_url(self) -> Url {
        let url = match self {
            Region::Us => "https://api.intercom.io",
            Region::Eu => "https://api.eu.intercom.io",
            Region::Au => "https://api.au.intercom.io",
        };
        Url::parse(url).expect("static URL")
    }

    /// Where the user approves the app.
    pub fn authorize_url(self) -> Url {
        let url = match self {
            Region::Us => "https://app.intercom.com/oauth",
            Region::Eu => "https://app.eu.intercom.com/oauth",
            Region::Au => "https://app.au.intercom.com/oauth",
        };
        Url::parse(url).expect("static URL")
    }

    /// Where the authorization code is exchanged for a token.
    pub fn token_url(self) -> Url {
        self.api_base_url().join("/auth/eagle/token").expect("static URL")
    }
}

/// What `GET /me` says about the workspace a token belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workspace {
    /// `app.id_code`.
    pub id: String,
    /// `app.name`.
    pub name: String,
    /// `app.region` as reported (`US`, `EU`, `AU`, or whatever a future region is called).
    pub region: Option<String>,
}

impl Workspace {
    /// The API base URL for this workspace's region; `fallback` (the host `/me` answered on) for a
    /// region this version does not know.
    pub fn api_base_url(&self, fallback: &Url) -> Url {
        match self.region.as_deref().and_then(Region::from_app_region) {
            Some(region) => region.api_base_url(),
            None => fallback.clone(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IdentifyError {
    /// The token was refused (401): revoked, the app uninstalled, or simply wrong.
    #[error(
        "{host} refused the token (401 {code}): it was revoked, the app was uninstalled, or it is not a valid token"
    )]
    Unauthorized { host: String, code: String },
    #[error("{0}")]
    Other(String),
}

/// The client for the token exchange: no redirects (a code or secret is never carried to another
/// host) and bounded time.
pub fn http_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(std::time::Duration::from_secs(10))
        .timeout(std::time::Duration::from_secs(30))
        .user_agent(concat!("switchyard/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

/// Calls `GET /me` through the host's mediated HTTP (the same path components use, so the token is
/// injected there and only toward the connection's origin) and returns the token's workspace.
pub async fn identify(connection: &Connection) -> Result<Workspace, IdentifyError> {
    let host = connection.base_url.host_str().unwrap_or_default().to_string();
    let http = OutboundHttp::new(&HttpLimits::default()).map_err(|e| IdentifyError::Other(format!("{e:#}")))?;
    let request = Request { method: Method::Get, path: "/me".into(), query: vec![], headers: vec![], body: None };
    let response =
        http.send(connection, &HostPolicy::default(), request, &CallState::default()).await.map_err(|e| {
            let message = match e {
                ComponentError::Upstream(e) => e.message,
                other => format!("{other:?}"),
            };
            IdentifyError::Other(format!("GET /me on {host} failed: {message}"))
        })?;
    let body: Value = serde_json::from_str(&response.body).unwrap_or(Value::Null);
    let error_code = || body.pointer("/errors/0/code").and_then(Value::as_str).unwrap_or("").to_string();
    if response.status == 401 {
        return Err(IdentifyError::Unauthorized { host, code: error_code() });
    }
    if !(200..300).contains(&response.status) {
        let message = body.pointer("/errors/0/message").and_then(Value::as_str).unwrap_or_default();
        return Err(IdentifyError::Other(format!(
            "GET /me on {host} answered {}: {} {message}",
            response.status,
            error_code()
        )));
    }
    let text = |pointer: &str| body.pointer(pointer).and_then(Value::as_str).map(str::to_string);
    let id = text("/app/id_code").ok_or_else(|| {
        IdentifyError::Other(format!("GET /me on {host} did not return `app.id_code`: is it an Intercom API host?"))
    })?;
    Ok(Workspace { id, name: text("/app/name").unwrap_or_default(), region: text("/app/region") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_map_to_their_hosts() {
        assert_eq!(Region::from_app_region("eu"), Some(Region::Eu));
        assert_eq!(Region::from_app_region(" AU "), Some(Region::Au));
        assert_eq!(Region::from_app_region("mars"), None);
        assert_eq!(Region::Us.api_base_url().as_str(), "https://api.intercom.io/");
        assert_eq!(Region::Eu.api_base_url().as_str(), "https://api.eu.intercom.io/");
        assert_eq!(Region::Au.api_base_url().as_str(), "https://api.au.intercom.io/");
        assert_eq!(Region::Eu.authorize_url().as_str(), "https://app.eu.intercom.com/oauth");
        assert_eq!(Region::Au.token_url().as_str(), "https://api.au.intercom.io/auth/eagle/token");
        let fallback = Url::parse("http://127.0.0.1:9").unwrap();
        let eu = Workspace { id: "x".into(), name: "X".into(), region: Some("EU".into()) };
        assert_eq!(eu.api_base_url(&fallback), Region::Eu.api_base_url());
        let unknown = Workspace { region: Some("CA".into()), ..eu };
        assert_eq!(unknown.api_base_url(&fallback), fallback);
    }
}
