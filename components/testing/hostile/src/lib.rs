//! A component that misbehaves on request, so the host's sandbox tests have a real adversary.
//! Each `mode` attacks one limit; `echo` behaves, to prove the host keeps serving afterwards.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_sdk::http::{Method, Request};
use switchyard_sdk::{Action, Error};

struct Hostile;

/// Misbehave on purpose
#[derive(Deserialize, JsonSchema)]
struct Input {
    /// What to do.
    mode: Mode,
    /// For `call`: the path or URL to request.
    #[serde(default)]
    path: Option<String>,
    /// For `call`: headers to set.
    #[serde(default)]
    headers: Vec<(String, String)>,
    /// For `log` and `unauthorized`: the text to write or report.
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
enum Mode {
    /// Return the input.
    Echo,
    /// Spin forever.
    Loop,
    /// Allocate until something stops it.
    MemoryBomb,
    /// Return 5 MiB of output.
    BigOutput,
    /// Panic (a trap).
    Trap,
    /// Send a GET with the given path and headers and return what came back.
    Call,
    /// Send a POST (a write) with the given path and return what came back.
    Post,
    /// Say the service is rate limited and ask to be called again in u32::MAX seconds.
    RateLimited,
    /// Claim the connection's credentials were refused (without any request seeing a 401).
    Unauthorized,
    /// Write `text` into the host's log, 1,000 times.
    Log,
}

impl Action for Hostile {
    type Input = Input;
    const NAME: &'static str = "Hostile (test only)";
    const SUMMARY: &'static str = "Attacks the sandbox on request; used by the host's tests.";

    fn sample_output() -> Value {
        json!({"mode": "echo"})
    }

    fn run(input: Input) -> Result<Value, Error> {
        match input.mode {
            Mode::Echo => Ok(json!({"mode": "echo", "now": switchyard_sdk::now()})),
            Mode::Loop => {
                let mut counter: u64 = 0;
                loop {
                    counter = std::hint::black_box(counter.wrapping_add(1));
                }
            }
            Mode::MemoryBomb => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            Mode::BigOutput => Ok(Value::String("x".repeat(5 << 20))),
            Mode::Trap => panic!("deliberate trap"),
            Mode::Call => {
                let request = Request {
                    method: Method::Get,
                    path: input.path.unwrap_or_else(|| "/me".to_string()),
                    query: Vec::new(),
                    headers: input.headers,
                    body: None,
                };
                let response = switchyard_sdk::http::send(&request)?;
                Ok(json!({"status": response.status, "body": response.body}))
            }
            Mode::Post => {
                let request = Request {
                    method: Method::Post,
                    path: input.path.unwrap_or_else(|| "/contacts".to_string()),
                    query: Vec::new(),
                    headers: input.headers,
                    body: Some("{}".to_string()),
                };
                let response = switchyard_sdk::http::send(&request)?;
                Ok(json!({"status": response.status, "body": response.body}))
            }
            Mode::RateLimited => Err(Error::RateLimited(switchyard_sdk::RateLimit {
                message: "come back much later".into(),
                retry_after_seconds: Some(u32::MAX),
            })),
            Mode::Unauthorized => Err(Error::Unauthorized(input.text.unwrap_or_else(|| "refused".into()))),
            Mode::Log => {
                let text = input.text.unwrap_or_default();
                for _ in 0..1000 {
                    switchyard_sdk::log::info(&text);
                }
                Ok(json!({"logged": 1000}))
            }
        }
    }
}

switchyard_sdk::export_action!(Hostile);
