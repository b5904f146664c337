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
        }
    }
}

switchyard_sdk::export_action!(Hostile);
