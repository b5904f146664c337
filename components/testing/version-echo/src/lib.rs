//! Answers with the version it was built as, so a test can tell which installed version ran.
//! `cargo xtask build` also builds a copy with the version bumped (target/bundles/testing-next/),
//! which the hot-swap test installs while invocations are running.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_sdk::{Action, Error};

struct VersionEcho;

/// Report the version
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Input {
    /// Any value; returned as is, to match answers to calls.
    #[serde(default)]
    tag: Option<Value>,
}

impl Action for VersionEcho {
    type Input = Input;
    const NAME: &'static str = "Version Echo (test only)";
    const SUMMARY: &'static str = "Returns the version it was built as; used by the host's hot-swap tests.";

    fn sample_output() -> Value {
        json!({"version": "1.0.0", "tag": 1})
    }

    fn run(input: Input) -> Result<Value, Error> {
        Ok(json!({"version": env!("CARGO_PKG_VERSION"), "tag": input.tag}))
    }
}

switchyard_sdk::export_action!(VersionEcho);
