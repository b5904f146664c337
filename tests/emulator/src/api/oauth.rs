//! OAuth 2.0 authorize (`GET /oauth`) and token exchange (`POST /auth/eagle/token`), with PKCE
//! (RFC 7636) when the client asks for it: an authorize request with an S256 `code_challenge` binds
//! the code to it, and the token request must then bring the matching `code_verifier`. `plain` and
//! unknown methods are refused. A code issued without a challenge needs no verifier, as at Intercom
//! (which does not require PKCE).

use axum::http::{HeaderMap, Method, StatusCode, header};
use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::server::{ApiError, ApiResult, Reply};
use crate::state::{Inner, OAuthCode};

/// Authorization codes expire after this many seconds.
pub const CODE_TTL_SECS: i64 = 300;

fn q<'a>(query: &'a [(String, String)], k: &str) -> Option<&'a str> {
    query.iter().find(|(a, _)| a == k).map(|(_, v)| v.as_str())
}

fn append_query(url: &str, pairs: &[(&str, &str)]) -> String {
    let enc = serde_urlencoded::to_string(pairs).unwrap_or_default();
    if url.contains('?') { format!("{url}&{enc}") } else { format!("{url}?{enc}") }
}

pub fn handle(
    inner: &Inner,
    method: &Method,
    path: &str,
    query: &[(String, String)],
    headers: &HeaderMap,
    body: &[u8],
) -> ApiResult {
    match (method.as_str(), path) {
        ("GET", "/oauth") => authorize(inner, query),
        ("POST", "/auth/eagle/token") => token(inner, headers, body),
        _ => Err(ApiError::not_found("not_found", "Resource Not Found")),
    }
}

fn authorize(inner: &Inner, query: &[(String, String)]) -> ApiResult {
    let client_id = q(query, "client_id").ok_or_else(|| ApiError::missing("client_id"))?;
    let mut w = inner.world.write();
    let client = w
        .oauth_clients
        .iter()
        .find(|c| c.client_id == client_id)
        .cloned()
        .ok_or_else(|| ApiError::bad("invalid_client", "Unknown client_id"))?;
    let redirect = match q(query, "redirect_uri") {
        Some(r) => {
            if !client.redirect_uris.is_empty() && !client.redirect_uris.iter().any(|u| u == r) {
                return Err(ApiError::invalid("redirect_uri", "redirect_uri is not registered for this app"));
            }
            r.to_string()
        }
        None => client.redirect_uris.first().cloned().ok_or_else(|| ApiError::missing("redirect_uri"))?,
    };
    let ws_idx = match q(query, "workspace") {
        Some(code) => w.workspace_index(code).ok_or_else(|| ApiError::invalid("workspace", "Unknown workspace"))?,
        None => 0,
    };
    // A bad PKCE request is an authorization error response (RFC 7636 4.4.1): back to the client's
    // redirect URI with `error=invalid_request`, before any consent page, and no code.
    let code_challenge = match pkce_challenge(query) {
        Ok(challenge) => challenge,
        Err(description) => {
            let mut pairs = vec![("error", "invalid_request"), ("error_description", description.as_str())];
            if let Some(s) = q(query, "state") {
                pairs.push(("state", s));
            }
            return Ok(Reply::Redirect(append_query(&redirect, &pairs)));
        }
    };
    let approve = w.oauth_auto_approve || matches!(q(query, "approve"), Some("1" | "true"));
    if !approve {
        let mut pairs: Vec<(&str, &str)> = query.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        pairs.push(("approve", "1"));
        let link = append_query("/oauth", &pairs);
        return Ok(Reply::Html(format!(
            "<!doctype html><title>Authorize {client_id}</title>\
             <h1>Install app {client_id} on {}?</h1><a id=\"approve\" href=\"{link}\">Authorize access</a>",
            w.workspaces[ws_idx].name
        )));
    }
    let code = inner.random_token("code_");
    let workspace = w.workspaces[ws_idx].id_code.clone();
    w.oauth_codes.insert(
        code.clone(),
        OAuthCode {
            code: code.clone(),
            client_id: client_id.to_string(),
            workspace,
            issued_at: inner.clock.now(),
            used: false,
            code_challenge,
        },
    );
    let mut pairs = vec![("code", code.as_str())];
    if let Some(s) = q(query, "state") {
        pairs.push(("state", s));
    }
    inner.mark_dirty();
    Ok(Reply::Redirect(append_query(&redirect, &pairs)))
}

fn token(inner: &Inner, headers: &HeaderMap, body: &[u8]) -> ApiResult {
    let is_json = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("json"));
    let params: Value = if is_json {
        serde_json::from_slice(body).map_err(|_| ApiError::bad("parameter_invalid", "Body is not valid JSON"))?
    } else {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
        Value::Object(pairs.into_iter().map(|(k, v)| (k, Value::String(v))).collect())
    };
    let get = |k: &str| params.get(k).and_then(Value::as_str).map(str::to_string);
    let code = get("code").ok_or_else(|| ApiError::missing("code"))?;
    let client_id = get("client_id").ok_or_else(|| ApiError::missing("client_id"))?;
    let secret = get("client_secret").ok_or_else(|| ApiError::missing("client_secret"))?;
    let now = inner.clock.now();
    let mut w = inner.world.write();
    if !w.oauth_clients.iter().any(|c| c.client_id == client_id && c.client_secret == secret) {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "invalid_client", "Client authentication failed"));
    }
    let grant = w
        .oauth_codes
        .get_mut(&code)
        .filter(|c| c.client_id == client_id)
        .ok_or_else(|| ApiError::bad("invalid_grant", "Invalid authorization code"))?;
    if grant.used {
        return Err(ApiError::bad("invalid_grant", "Authorization code has already been used"));
    }
    if now - grant.issued_at > CODE_TTL_SECS {
        return Err(ApiError::bad("invalid_grant", "Authorization code has expired"));
    }
    // Consumed whether or not the PKCE check passes: a request without the flow's verifier means the
    // code is in the wrong hands, so it is burnt and the client starts over.
    grant.used = true;
    if let Err(message) = verify_pkce(grant.code_challenge.as_deref(), get("code_verifier").as_deref()) {
        inner.mark_dirty();
        return Err(ApiError::bad("invalid_grant", message));
    }
    let ws_code = grant.workspace.clone();
    let idx =
        w.workspace_index(&ws_code).ok_or_else(|| ApiError::bad("invalid_grant", "Workspace no longer exists"))?;
    let token = inner.random_token("tok_");
    w.tokens.insert(token.clone(), idx);
    inner.mark_dirty();
    Ok(Reply::Json(
        StatusCode::OK,
        json!({ "type": "access_token", "access_token": token, "token": token, "token_type": "Bearer" }),
    ))
}

/// The PKCE challenge of an authorize request: `None` without one, an error (the
/// `error_description`) for `plain`, an unknown method or a malformed challenge.
fn pkce_challenge(query: &[(String, String)]) -> Result<Option<String>, String> {
    match (q(query, "code_challenge"), q(query, "code_challenge_method")) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err("code_challenge_method was given without a code_challenge".into()),
        (Some(_), None) => {
            Err("a code_challenge without code_challenge_method is `plain`, which is not supported: use S256".into())
        }
        (Some(_), Some("plain")) => Err("code_challenge_method `plain` is not supported: use S256".into()),
        (Some(challenge), Some("S256")) => {
            // BASE64URL-no-pad of a SHA-256 digest: 43 characters.
            let alphabet = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
            if challenge.len() == 43 && challenge.chars().all(alphabet) {
                Ok(Some(challenge.to_string()))
            } else {
                Err("code_challenge is not an S256 challenge (43 characters of base64url without padding)".into())
            }
        }
        (Some(_), Some(method)) => Err(format!("unknown code_challenge_method `{method}`: use S256")),
    }
}

/// The token request's `code_verifier` against the challenge its code was issued for.
fn verify_pkce(challenge: Option<&str>, verifier: Option<&str>) -> Result<(), &'static str> {
    match (challenge, verifier) {
        (None, None) => Ok(()),
        // The challenge was stripped from the authorize request (a downgrade): OAuth 2.1, 4.1.3.
        (None, Some(_)) => Err("a code_verifier was given, but the authorization request carried no code_challenge"),
        (Some(_), None) => Err("code_verifier is required: the authorization request carried a code_challenge"),
        (Some(challenge), Some(verifier)) => {
            let unreserved = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~');
            if !(43..=128).contains(&verifier.len()) || !verifier.chars().all(unreserved) {
                return Err("code_verifier is malformed (43 to 128 characters of [A-Za-z0-9-._~])");
            }
            let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
            if computed == challenge { Ok(()) } else { Err("code_verifier does not match the code_challenge") }
        }
    }
}
