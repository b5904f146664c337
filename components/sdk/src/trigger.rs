//! The `Trigger` trait and the glue `export_trigger!` calls.

use crate::input;
use crate::{ComponentKind, Description, Error};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// An event a poll found: the host emits each `dedupe_key` once.
pub struct TriggerEvent {
    pub dedupe_key: String,
    pub occurred_at: u64,
    pub payload: String,
}

pub struct PollOutcome {
    pub events: Vec<TriggerEvent>,
    /// The next cursor, as JSON text.
    pub cursor: String,
    pub backlog: bool,
}

/// One polling trigger. The cursor is the trigger's own state; the host stores it with the events.
pub trait Trigger {
    type Settings: DeserializeOwned + JsonSchema;
    const NAME: &'static str;
    const SUMMARY: &'static str;
    fn sample_output() -> Value;
    fn poll(cursor: Option<Value>, now: u64, page_budget: u32, settings: Self::Settings) -> Result<PollOutcome, Error>;
    fn sample(settings: Self::Settings) -> Result<Vec<TriggerEvent>, Error>;
}

#[doc(hidden)]
pub fn describe<T: Trigger>(key: &str, version: &str) -> Description {
    Description {
        key: key.to_string(),
        name: T::NAME.to_string(),
        version: version.to_string(),
        kind: ComponentKind::Trigger,
        summary: T::SUMMARY.to_string(),
        input_schema: crate::action::input_schema::<T::Settings>(),
        sample_output: T::sample_output().to_string(),
    }
}

#[doc(hidden)]
pub fn poll<T: Trigger>(
    cursor: Option<&str>,
    now: u64,
    page_budget: u32,
    settings: &str,
) -> Result<PollOutcome, Error> {
    let settings = input::parse::<T::Settings>(settings)?;
    let cursor = match cursor {
        Some(text) => Some(
            serde_json::from_str(text)
                .map_err(|e| crate::error::internal(format!("the stored cursor is not JSON: {e}")))?,
        ),
        None => None,
    };
    T::poll(cursor, now, page_budget, settings)
}

#[doc(hidden)]
pub fn sample<T: Trigger>(settings: &str) -> Result<Vec<TriggerEvent>, Error> {
    T::sample(input::parse::<T::Settings>(settings)?)
}
