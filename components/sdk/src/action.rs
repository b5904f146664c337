//! The `Action` trait and the glue `export_action!` calls.

use crate::input;
use crate::{ComponentKind, Description, Error};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// One action. `Input` derives `Deserialize` and `JsonSchema`: its doc comments and `#[schemars(title)]`
/// attributes become the form a workflow editor shows, so the schema and the parser never disagree.
pub trait Action {
    type Input: DeserializeOwned + JsonSchema;
    /// Human name, e.g. "Find Contact".
    const NAME: &'static str;
    /// What it does, including anything destructive or surprising.
    const SUMMARY: &'static str;
    /// An example output, in the shape `run` returns.
    fn sample_output() -> Value;
    fn run(input: Self::Input) -> Result<Value, Error>;
}

#[doc(hidden)]
pub fn describe<A: Action>(key: &str, version: &str) -> Description {
    Description {
        key: key.to_string(),
        name: A::NAME.to_string(),
        version: version.to_string(),
        kind: ComponentKind::Action,
        summary: A::SUMMARY.to_string(),
        input_schema: input_schema::<A::Input>(),
        sample_output: A::sample_output().to_string(),
    }
}

#[doc(hidden)]
pub fn run<A: Action>(input_text: &str) -> Result<String, Error> {
    let input = input::parse::<A::Input>(input_text)?;
    let output = A::run(input)?;
    Ok(crate::output::json_text(&output))
}

/// The JSON Schema of an input type, as JSON text.
pub fn input_schema<T: JsonSchema>() -> String {
    schemars::schema_for!(T).as_value().to_string()
}
