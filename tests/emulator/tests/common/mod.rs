#![allow(dead_code)]
//! Shared helpers for the emulator's integration tests.

use intercom_emulator::{EmulatorConfig, RunningEmulator};
use serde_json::Value;

pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
}

pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn header(&self, k: &str) -> Option<String> {
        self.headers.get(k).and_then(|v| v.to_str().ok()).map(str::to_string)
    }
    pub fn error_code(&self) -> String {
        self.body["errors"][0]["code"].as_str().unwrap_or("").to_string()
    }
}

pub async fn start(config: EmulatorConfig) -> (RunningEmulator, Client) {
    let emu = intercom_emulator::spawn(config).await.expect("spawn");
    let client = Client { http: reqwest::Client::new(), base: emu.base_url(), token: emu.token().to_string() };
    (emu, client)
}

pub async fn start_default() -> (RunningEmulator, Client) {
    start(EmulatorConfig::default()).await
}

impl Client {
    pub fn with_token(&self, token: &str) -> Client {
        Client { http: self.http.clone(), base: self.base.clone(), token: token.to_string() }
    }
    pub async fn send(&self, method: &str, path: &str, body: Option<Value>) -> Resp {
        self.send_as(Some("2.16"), method, path, body).await
    }
    /// A GET with this `Intercom-Version` header, or none.
    pub async fn get_as(&self, version: Option<&str>, path: &str) -> Resp {
        self.send_as(version, "GET", path, None).await
    }
    /// A request with this `Intercom-Version` header, or none.
    pub async fn send_as(&self, version: Option<&str>, method: &str, path: &str, body: Option<Value>) -> Resp {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut rb = self.http.request(m, format!("{}{}", self.base, path)).header("Accept", "application/json");
        if let Some(version) = version {
            rb = rb.header("Intercom-Version", version);
        }
        if !self.token.is_empty() {
            rb = rb.bearer_auth(&self.token);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await.expect("request");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap_or_default();
        let body = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Resp { status, headers, body }
    }
    pub async fn get(&self, path: &str) -> Resp {
        self.send("GET", path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.send("POST", path, Some(body)).await
    }
    pub async fn put(&self, path: &str, body: Value) -> Resp {
        self.send("PUT", path, Some(body)).await
    }
    pub async fn delete(&self, path: &str) -> Resp {
        self.send("DELETE", path, None).await
    }
}
