//! PKCE (RFC 7636) on the emulator's OAuth endpoints: a code issued for an S256 `code_challenge` is
//! only exchanged with the matching `code_verifier`; `plain` and unknown methods are refused at the
//! authorize endpoint; a code issued without a challenge works without a verifier, as at Intercom.
//!
//! A token request that fails the PKCE check (wrong, missing or unexpected verifier) consumes the
//! code: whoever sent it does not hold the verifier of the flow, so the code is treated as
//! compromised and the legitimate client starts over (its next exchange gets `invalid_grant`).

mod common;

use common::*;
use intercom_emulator::RunningEmulator;
use serde_json::Value;

/// RFC 7636, appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const REDIRECT: &str = "https://app.example.com/cb";

struct Oauth {
    emu: RunningEmulator,
    base: String,
    http: reqwest::Client,
}

async fn setup() -> Oauth {
    let (emu, c) = start_default().await;
    emu.state().add_oauth_client("my-app", "s3cret", vec![REDIRECT.into()]);
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    Oauth { emu, base: c.base, http }
}

impl Oauth {
    /// `GET /oauth` with these extra parameters; returns the redirect's query pairs.
    async fn authorize(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut pairs = vec![("client_id", "my-app"), ("redirect_uri", REDIRECT), ("state", "xyz")];
        pairs.extend_from_slice(extra);
        let r = self.http.get(format!("{}/oauth", self.base)).query(&pairs).send().await.unwrap();
        assert_eq!(r.status(), 302, "{extra:?}");
        let location = r.headers()["location"].to_str().unwrap().to_string();
        let rest = location.strip_prefix(&format!("{REDIRECT}?")).unwrap_or_else(|| panic!("{location}"));
        serde_urlencoded::from_str(rest).unwrap()
    }

    async fn code(&self, extra: &[(&str, &str)]) -> String {
        let pairs = self.authorize(extra).await;
        let get = |k: &str| pairs.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
        assert_eq!(get("state").as_deref(), Some("xyz"));
        get("code").unwrap_or_else(|| panic!("a code: {pairs:?}"))
    }

    /// The token request (form-encoded, as the `oauth2` crate sends it).
    async fn exchange(&self, code: &str, verifier: Option<&str>) -> (u16, Value) {
        let mut params = vec![("grant_type", "authorization_code"), ("code", code)];
        params.extend([("client_id", "my-app"), ("client_secret", "s3cret"), ("redirect_uri", REDIRECT)]);
        if let Some(v) = verifier {
            params.push(("code_verifier", v));
        }
        let r = self.http.post(format!("{}/auth/eagle/token", self.base)).form(&params).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    fn tokens(&self) -> usize {
        self.emu.state().read(|w| w.tokens.len())
    }

    fn codes(&self) -> usize {
        self.emu.state().read(|w| w.oauth_codes.len())
    }
}

fn s256(challenge: &str) -> [(&str, &str); 2] {
    [("code_challenge", challenge), ("code_challenge_method", "S256")]
}

fn assert_invalid_grant(answer: &(u16, Value), about: &str) {
    assert_eq!(answer.0, 400, "{}", answer.1);
    assert_eq!(answer.1["type"], "error.list", "{}", answer.1);
    assert_eq!(answer.1["errors"][0]["code"], "invalid_grant", "{}", answer.1);
    let message = answer.1["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains(about), "{message}");
    assert!(answer.1.get("access_token").is_none() && answer.1.get("token").is_none());
}

#[tokio::test]
async fn a_matching_verifier_gets_a_token() {
    let o = setup().await;
    let code = o.code(&s256(CHALLENGE)).await;
    let stored = o.emu.state().read(|w| w.oauth_codes[&code].code_challenge.clone());
    assert_eq!(stored.as_deref(), Some(CHALLENGE), "the challenge is kept with the code");
    let (status, body) = o.exchange(&code, Some(VERIFIER)).await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap();
    let me = o.http.get(format!("{}/me", o.base)).bearer_auth(token).send().await.unwrap();
    assert_eq!(me.status(), 200, "the issued token works");
    // Single use, as always.
    assert_invalid_grant(&o.exchange(&code, Some(VERIFIER)).await, "already been used");
}

#[tokio::test]
async fn a_wrong_or_missing_verifier_is_refused_and_consumes_the_code() {
    let o = setup().await;
    let before = o.tokens();

    let code = o.code(&s256(CHALLENGE)).await;
    let wrong = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj";
    assert_invalid_grant(&o.exchange(&code, Some(wrong)).await, "code_verifier");
    assert_eq!(o.tokens(), before, "no token issued");
    // The code is gone: not even the right verifier redeems it now.
    assert_invalid_grant(&o.exchange(&code, Some(VERIFIER)).await, "already been used");
    assert_eq!(o.tokens(), before);

    let code = o.code(&s256(CHALLENGE)).await;
    assert_invalid_grant(&o.exchange(&code, None).await, "code_verifier");
    assert_eq!(o.tokens(), before, "no token issued");
    assert_invalid_grant(&o.exchange(&code, Some(VERIFIER)).await, "already been used");

    // The verifier of another flow (a well-formed one) does not fit either.
    let other_verifier = "a".repeat(43);
    let code = o.code(&s256(CHALLENGE)).await;
    assert_invalid_grant(&o.exchange(&code, Some(&other_verifier)).await, "code_verifier");
    assert_eq!(o.tokens(), before);
}

#[tokio::test]
async fn plain_and_unknown_methods_are_refused_at_the_authorize_endpoint() {
    let o = setup().await;
    let codes = o.codes();
    let refusals: [&[(&str, &str)]; 6] = [
        &[("code_challenge", CHALLENGE), ("code_challenge_method", "plain")],
        // Without a method the challenge is `plain` (RFC 7636 4.3): refused too.
        &[("code_challenge", CHALLENGE)],
        &[("code_challenge", CHALLENGE), ("code_challenge_method", "S512")],
        &[("code_challenge", CHALLENGE), ("code_challenge_method", "s256")],
        &[("code_challenge_method", "S256")],
        &[("code_challenge", "too-short"), ("code_challenge_method", "S256")],
    ];
    for extra in refusals {
        // An OAuth error response: back to the redirect URI with `error` and the `state`, no code.
        let pairs = o.authorize(extra).await;
        let get = |k: &str| pairs.iter().find(|(a, _)| a == k).map(|(_, v)| v.as_str());
        assert_eq!(get("error"), Some("invalid_request"), "{extra:?}: {pairs:?}");
        assert!(get("error_description").is_some_and(|d| d.contains("code_challenge")), "{pairs:?}");
        assert_eq!(get("state"), Some("xyz"));
        assert_eq!(get("code"), None, "{extra:?}");
    }
    assert_eq!(o.codes(), codes, "no code was issued");

    // Refused before the consent page too.
    o.emu.state().set_oauth_auto_approve(false);
    let pairs = o.authorize(&[("code_challenge", CHALLENGE), ("code_challenge_method", "plain")]).await;
    assert!(pairs.iter().any(|(k, v)| k == "error" && v == "invalid_request"), "{pairs:?}");
    let page = o
        .http
        .get(format!("{}/oauth", o.base))
        .query(&[("client_id", "my-app"), ("redirect_uri", REDIRECT), ("code_challenge", CHALLENGE)])
        .query(&[("code_challenge_method", "S256")])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200, "an S256 challenge gets the consent page");
}

#[tokio::test]
async fn a_code_issued_without_a_challenge_needs_no_verifier() {
    let o = setup().await;
    let code = o.code(&[]).await;
    assert_eq!(o.emu.state().read(|w| w.oauth_codes[&code].code_challenge.clone()), None);
    let (status, body) = o.exchange(&code, None).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["access_token"].as_str().is_some());

    // A verifier for a code that had no challenge means the challenge was stripped on the way
    // (a downgrade): refused (OAuth 2.1, 4.1.3), and the code is consumed.
    let before = o.tokens();
    let code = o.code(&[]).await;
    assert_invalid_grant(&o.exchange(&code, Some(VERIFIER)).await, "code_challenge");
    assert_eq!(o.tokens(), before);
    assert_invalid_grant(&o.exchange(&code, None).await, "already been used");
}
