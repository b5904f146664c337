//! The OAuth 2.0 authorization-code flow for a command-line app: a loopback callback server, the
//! authorize URL with a random `state` and a PKCE S256 `code_challenge` (RFC 7636), the state check,
//! and the code exchange with the `code_verifier` (the `oauth2` crate). PKCE binds the code to this
//! process: a code intercepted on the way (another local app listening on the callback port, a
//! browser extension, a log) cannot be exchanged without the verifier, which never leaves memory.
//! Intercom does not require PKCE; a provider that ignores the parameters is unaffected.
//!
//! Intercom's flavour: no scopes (permissions are set on the app), the client authenticates in the
//! request body, the token may come as `access_token` or as the legacy `token`, errors come as an
//! `error.list`, and tokens neither expire nor refresh. The types below also accept the RFC 6749
//! shapes (`error`, `refresh_token`, `expires_in`) so another provider can reuse the flow.

use anyhow::{Context, Result, anyhow, bail};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Html;
use oauth2::basic::{BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenType};
use oauth2::{
    AccessToken, AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    ErrorResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, Scope,
    StandardRevocableToken, TokenResponse, TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use url::Url;

/// The callback path on the loopback server.
pub const CALLBACK_PATH: &str = "/callback";

/// An OAuth app (client) and the provider's endpoints.
#[derive(Clone)]
pub struct OAuthApp {
    pub client_id: String,
    pub client_secret: SecretString,
    pub authorize_url: Url,
    pub token_url: Url,
}

/// What the token endpoint issued.
pub struct Tokens {
    pub access_token: SecretString,
    /// Unused by Intercom (its tokens do not expire).
    pub refresh_token: Option<SecretString>,
    pub expires_in: Option<Duration>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("access_token", &"[redacted]")
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "[redacted]"))
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

type OAuthClient = oauth2::Client<
    TokenEndpointError,
    TokenAnswer,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// An authorization in progress: the loopback server is listening and the authorize URL is ready
/// to be opened.
pub struct PendingAuthorization {
    authorize_url: Url,
    redirect_uri: Url,
    token_url: Url,
    client: OAuthClient,
    /// The PKCE verifier of this flow, sent with the code exchange (taken by [`Self::complete`]).
    pkce_verifier: Option<PkceCodeVerifier>,
    callbacks: mpsc::Receiver<Callback>,
    shutdown: Option<oneshot::Sender<()>>,
}

enum Callback {
    Code(SecretString),
    Denied { error: String, description: Option<String> },
}

struct CallbackState {
    expected_state: SecretString,
    callbacks: mpsc::Sender<Callback>,
}

/// Binds the loopback callback server on `127.0.0.1:callback_port` (0 = any free port) and builds
/// the authorize URL with a fresh random `state` and PKCE challenge (S256 of a random verifier).
pub async fn begin(app: &OAuthApp, callback_port: u16) -> Result<PendingAuthorization> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", callback_port)).await.map_err(|e| {
        anyhow!(
            "cannot listen for the authorization callback on 127.0.0.1:{callback_port}: {e}; pass --callback-port with a free port (and register http://127.0.0.1:PORT{CALLBACK_PATH} as a redirect URL on the app)"
        )
    })?;
    let port = listener.local_addr().context("reading the callback address")?.port();
    let redirect_uri = Url::parse(&format!("http://127.0.0.1:{port}{CALLBACK_PATH}")).expect("valid URL");

    let client = oauth2::Client::new(ClientId::new(app.client_id.clone()))
        .set_client_secret(ClientSecret::new(app.client_secret.expose_secret().to_string()))
        .set_auth_uri(AuthUrl::from_url(app.authorize_url.clone()))
        .set_token_uri(TokenUrl::from_url(app.token_url.clone()))
        .set_redirect_uri(RedirectUrl::from_url(redirect_uri.clone()))
        // Intercom reads client_id and client_secret from the body, not from Basic auth.
        .set_auth_type(AuthType::RequestBody);
    let (pkce_challenge, pkce_verifier) = PkceCodeChallenge::new_random_sha256();
    let (authorize_url, state) = client.authorize_url(CsrfToken::new_random).set_pkce_challenge(pkce_challenge).url();

    let (sender, callbacks) = mpsc::channel(4);
    let shared =
        Arc::new(CallbackState { expected_state: SecretString::from(state.secret().clone()), callbacks: sender });
    let router = axum::Router::new().route(CALLBACK_PATH, axum::routing::get(callback)).with_state(shared);
    let (shutdown, stop) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let server = axum::serve(listener, router).with_graceful_shutdown(async move {
            let _ = stop.await;
        });
        if let Err(error) = server.await {
            tracing::warn!(%error, "the authorization callback server stopped");
        }
    });
    Ok(PendingAuthorization {
        authorize_url,
        redirect_uri,
        token_url: app.token_url.clone(),
        client,
        pkce_verifier: Some(pkce_verifier),
        callbacks,
        shutdown: Some(shutdown),
    })
}

impl PendingAuthorization {
    /// The URL the user opens to approve the app (it carries the client id, the `state` and the PKCE
    /// `code_challenge`).
    pub fn authorize_url(&self) -> &Url {
        &self.authorize_url
    }

    /// The loopback URL the provider redirects to; it must be registered on the app.
    pub fn redirect_uri(&self) -> &Url {
        &self.redirect_uri
    }

    /// Waits (at most `timeout`) for the redirect with a matching `state`, then exchanges the code
    /// with the PKCE verifier. Callbacks with a wrong `state` are refused and the wait goes on.
    pub async fn complete(mut self, timeout: Duration) -> Result<Tokens> {
        let received = tokio::time::timeout(timeout, self.callbacks.recv()).await;
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let code = match received {
            Err(_) => bail!(
                "no authorization arrived within {} s; run the command again and approve the app in the browser",
                timeout.as_secs()
            ),
            Ok(None) => bail!("the authorization callback server stopped unexpectedly"),
            Ok(Some(Callback::Denied { error, description })) => bail!(
                "the authorization was not granted: {error}{}",
                description.map(|d| format!(" ({d})")).unwrap_or_default()
            ),
            Ok(Some(Callback::Code(code))) => code,
        };
        let http = super::intercom::http_client()?;
        let verifier = self.pkce_verifier.take().context("the PKCE verifier was already used")?;
        let answer = self
            .client
            .exchange_code(AuthorizationCode::new(code.expose_secret().to_string()))
            .set_pkce_verifier(verifier)
            .request_async(&http)
            .await
            .map_err(|error| exchange_error(&self.token_url, error))?;
        Ok(Tokens {
            access_token: SecretString::from(answer.access_token.secret().clone()),
            refresh_token: answer.refresh_token.as_ref().map(|t| SecretString::from(t.secret().clone())),
            expires_in: answer.expires_in.map(Duration::from_secs),
        })
    }
}

impl Drop for PendingAuthorization {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

async fn callback(
    State(shared): State<Arc<CallbackState>>,
    Query(query): Query<HashMap<String, String>>,
) -> (StatusCode, Html<&'static str>) {
    // The state ties the redirect to this run: anything else is a stale tab or a forged request.
    if query.get("state").map(String::as_str) != Some(shared.expected_state.expose_secret()) {
        tracing::warn!("refused an authorization callback whose `state` does not match this `switchyard connect`");
        return (StatusCode::BAD_REQUEST, Html(page::WRONG_STATE));
    }
    if let Some(error) = query.get("error") {
        let _ = shared
            .callbacks
            .try_send(Callback::Denied { error: error.clone(), description: query.get("error_description").cloned() });
        return (StatusCode::OK, Html(page::DENIED));
    }
    match query.get("code") {
        Some(code) if !code.is_empty() => {
            let _ = shared.callbacks.try_send(Callback::Code(SecretString::from(code.clone())));
            (StatusCode::OK, Html(page::RECEIVED))
        }
        _ => (StatusCode::BAD_REQUEST, Html(page::NO_CODE)),
    }
}

mod page {
    pub const RECEIVED: &str = "<!doctype html><title>switchyard</title><h1>Authorization received</h1>\
        <p>You can close this tab; the terminal shows the result.</p>";
    pub const DENIED: &str = "<!doctype html><title>switchyard</title><h1>Authorization not granted</h1>\
        <p>The terminal shows the reason.</p>";
    pub const WRONG_STATE: &str = "<!doctype html><title>switchyard</title><h1>Refused</h1>\
        <p>This authorization response does not belong to the running <code>switchyard connect</code> (its \
        <code>state</code> does not match). It was ignored.</p>";
    pub const NO_CODE: &str = "<!doctype html><title>switchyard</title><h1>Refused</h1>\
        <p>The redirect carried no authorization code.</p>";
}

/// A readable message for a failed code exchange. Never includes a response body: a body that did
/// not parse could still hold a token.
fn exchange_error(
    token_url: &Url,
    error: RequestTokenError<oauth2::HttpClientError<reqwest::Error>, TokenEndpointError>,
) -> anyhow::Error {
    let what = format!("exchanging the authorization code at {token_url}");
    match error {
        RequestTokenError::ServerResponse(answer) => {
            let hint = match answer.code() {
                "invalid_grant" => {
                    " (authorization codes are single-use, expire after about 5 minutes and are bound to this run's PKCE \
                     verifier: run `switchyard connect` again)"
                }
                "invalid_client" => " (check the client id and the client secret in $SWITCHYARD_CLIENT_SECRET)",
                _ => "",
            };
            anyhow!("{what} was refused: {answer}{hint}")
        }
        RequestTokenError::Request(error) => anyhow!("{what} failed: {}", error_chain(&error)),
        RequestTokenError::Parse(error, _body) => {
            anyhow!("{what}: the answer is not the expected JSON (at `{}`)", error.path())
        }
        RequestTokenError::Other(message) => anyhow!("{what}: {message}"),
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// An error from the token endpoint: Intercom's `error.list`, or RFC 6749's `error`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TokenEndpointError {
    Intercom {
        errors: Vec<ErrorItem>,
    },
    Rfc6749 {
        error: String,
        #[serde(default)]
        error_description: Option<String>,
    },
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorItem {
    pub code: String,
    #[serde(default)]
    pub message: Option<String>,
}

impl TokenEndpointError {
    pub fn code(&self) -> &str {
        match self {
            TokenEndpointError::Intercom { errors } => errors.first().map(|e| e.code.as_str()).unwrap_or(""),
            TokenEndpointError::Rfc6749 { error, .. } => error,
        }
    }
}

impl std::fmt::Display for TokenEndpointError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let item = |f: &mut std::fmt::Formatter<'_>, code: &str, message: Option<&str>| match message {
            Some(message) if !message.is_empty() => write!(f, "{code}: {message}"),
            _ => write!(f, "{code}"),
        };
        match self {
            TokenEndpointError::Intercom { errors } => {
                for (i, error) in errors.iter().enumerate() {
                    if i > 0 {
                        write!(f, "; ")?;
                    }
                    item(f, &error.code, error.message.as_deref())?;
                }
                Ok(())
            }
            TokenEndpointError::Rfc6749 { error, error_description } => item(f, error, error_description.as_deref()),
        }
    }
}

impl ErrorResponse for TokenEndpointError {}

/// The token endpoint's answer. Intercom sends the token as `access_token` and/or `token`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(try_from = "RawTokenAnswer")]
pub struct TokenAnswer {
    access_token: AccessToken,
    token_type: BasicTokenType,
    refresh_token: Option<RefreshToken>,
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct RawTokenAnswer {
    access_token: Option<AccessToken>,
    token: Option<AccessToken>,
    token_type: Option<BasicTokenType>,
    refresh_token: Option<RefreshToken>,
    expires_in: Option<u64>,
}

impl TryFrom<RawTokenAnswer> for TokenAnswer {
    type Error = &'static str;
    fn try_from(raw: RawTokenAnswer) -> Result<Self, Self::Error> {
        Ok(TokenAnswer {
            access_token: raw.access_token.or(raw.token).ok_or("neither `access_token` nor `token` is present")?,
            token_type: raw.token_type.unwrap_or(BasicTokenType::Bearer),
            refresh_token: raw.refresh_token,
            expires_in: raw.expires_in,
        })
    }
}

impl TokenResponse for TokenAnswer {
    type TokenType = BasicTokenType;
    fn access_token(&self) -> &AccessToken {
        &self.access_token
    }
    fn token_type(&self) -> &BasicTokenType {
        &self.token_type
    }
    fn expires_in(&self) -> Option<Duration> {
        self.expires_in.map(Duration::from_secs)
    }
    fn refresh_token(&self) -> Option<&RefreshToken> {
        self.refresh_token.as_ref()
    }
    fn scopes(&self) -> Option<&Vec<Scope>> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_answers_in_both_shapes() {
        let a: TokenAnswer = serde_json::from_str(r#"{"token":"t1","token_type":"Bearer"}"#).unwrap();
        assert_eq!(a.access_token.secret(), "t1");
        let b: TokenAnswer =
            serde_json::from_str(r#"{"type":"access_token","access_token":"t2","token":"t2","token_type":"bearer"}"#)
                .unwrap();
        assert_eq!(b.access_token.secret(), "t2");
        assert!(serde_json::from_str::<TokenAnswer>(r#"{"token_type":"Bearer"}"#).is_err());
    }

    #[test]
    fn token_errors_in_both_shapes() {
        let intercom: TokenEndpointError = serde_json::from_str(
            r#"{"type":"error.list","errors":[{"code":"invalid_grant","message":"Authorization code has expired"}]}"#,
        )
        .unwrap();
        assert_eq!(intercom.code(), "invalid_grant");
        assert_eq!(intercom.to_string(), "invalid_grant: Authorization code has expired");
        let rfc: TokenEndpointError = serde_json::from_str(r#"{"error":"invalid_client"}"#).unwrap();
        assert_eq!(rfc.to_string(), "invalid_client");
    }

    #[tokio::test]
    async fn the_authorize_url_carries_an_s256_challenge_of_the_kept_verifier() {
        use base64::Engine;
        use sha2::{Digest, Sha256};

        let app = OAuthApp {
            client_id: "app".into(),
            client_secret: SecretString::from("secret".to_string()),
            authorize_url: Url::parse("https://app.intercom.com/oauth").unwrap(),
            token_url: Url::parse("https://api.intercom.io/auth/eagle/token").unwrap(),
        };
        let pending = begin(&app, 0).await.unwrap();
        let pairs: HashMap<String, String> = pending.authorize_url().query_pairs().into_owned().collect();
        assert_eq!(pairs.get("code_challenge_method").map(String::as_str), Some("S256"));
        let verifier = pending.pkce_verifier.as_ref().unwrap().secret();
        assert!((43..=128).contains(&verifier.len()), "{verifier}");
        let expected = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        assert_eq!(pairs.get("code_challenge"), Some(&expected));
        assert!(!pending.authorize_url().as_str().contains(verifier.as_str()), "the verifier stays here");

        let other = begin(&app, 0).await.unwrap();
        assert_ne!(other.pkce_verifier.as_ref().unwrap().secret(), verifier, "a fresh verifier per flow");
    }
}
