//! The component side of the runtime: a loaded component and its input schema, and the shapes a
//! trigger's poll takes and returns, checked against that schema and the host's rules.

use super::bindings::action::ActionPre;
use super::bindings::trigger::TriggerPre;
use super::bindings::trigger::exports::switchyard::connector::trigger_handler::Event;
use super::bindings::{self, ComponentError, ComponentKind, Description};
use super::error::InvocationError;
use super::state::InvocationState;
use crate::http::HostPolicy;
use std::sync::Arc;

/// A component ready to run: compiled, linked, described, with its input validator.
pub struct LoadedComponent {
    pub description: Description,
    pub sha256: String,
    /// The file it was loaded from, for messages.
    pub file: String,
    pub policy: Arc<HostPolicy>,
    /// What it does to the outside world (from its manifest entry): whether a failed step may be sent again.
    pub effect: switchyard_manifest::Effect,
    pub(super) key: Arc<str>,
    pub(super) prepared: Prepared,
    pub(super) input_validator: jsonschema::Validator,
}

pub(super) enum Prepared {
    Action(ActionPre<InvocationState>),
    Trigger(TriggerPre<InvocationState>),
}

impl LoadedComponent {
    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn kind(&self) -> ComponentKind {
        match self.prepared {
            Prepared::Action(_) => ComponentKind::Action,
            Prepared::Trigger(_) => ComponentKind::Trigger,
        }
    }

    /// Checks `input` against the component's JSON Schema, naming the first offending field.
    pub fn validate_input(&self, input: &serde_json::Value) -> Result<(), ComponentError> {
        match self.input_validator.iter_errors(input).next() {
            None => Ok(()),
            Some(error) => {
                let error = most_specific(&error);
                Err(ComponentError::InvalidInput(bindings::types::FieldError {
                    field: field_of(error),
                    message: error.to_string(),
                }))
            }
        }
    }
}

/// An optional object or a choice of shapes fails as a whole ("not valid under any of the schemas
/// listed in 'anyOf'"); the useful error is inside the branch that got furthest into the input, not
/// the one that merely says "not null".
fn most_specific<'a, 'i>(error: &'a jsonschema::ValidationError<'i>) -> &'a jsonschema::ValidationError<'i> {
    use jsonschema::error::ValidationErrorKind;
    let context = match error.kind() {
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => context,
        _ => return error,
    };
    let depth = |e: &jsonschema::ValidationError<'_>| e.instance_path().as_str().len();
    let is_type_mismatch_here = |e: &jsonschema::ValidationError<'_>| {
        matches!(e.kind(), ValidationErrorKind::Type { .. }) && depth(e) == depth(error)
    };
    context
        .iter()
        .filter_map(|branch| branch.first())
        .filter(|e| !is_type_mismatch_here(e))
        .max_by_key(|e| depth(e))
        .map(most_specific)
        .unwrap_or(error)
}

/// The field a schema error is about: the missing property for `required`, the offending property
/// for `additionalProperties`, otherwise the instance path, dotted.
fn field_of(error: &jsonschema::ValidationError<'_>) -> String {
    use jsonschema::error::ValidationErrorKind;
    let path = error.instance_path().as_str().trim_start_matches('/').replace('/', ".");
    let child = match error.kind() {
        ValidationErrorKind::Required { property } => property.as_str().map(str::to_string),
        ValidationErrorKind::AdditionalProperties { unexpected } => unexpected.first().cloned(),
        _ => None,
    };
    match (child, path.is_empty()) {
        (Some(child), true) => child,
        (Some(child), false) => format!("{path}.{child}"),
        (None, _) => path,
    }
}

/// One poll's input; see [`Runtime::poll_trigger`](super::Runtime::poll_trigger).
#[derive(Clone, Copy, Debug)]
pub struct PollInput<'a> {
    pub cursor: Option<&'a str>,
    pub now: u64,
    pub page_budget: u32,
    pub settings: &'a str,
}

/// One event a poll found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolledEvent {
    /// Stable across polls for the same change; the host emits each key once per subscription.
    pub dedupe_key: String,
    pub occurred_at: u64,
    /// The object, as JSON text (checked to be JSON).
    pub payload: String,
}

/// What one poll returned.
#[derive(Clone, Debug)]
pub struct PollResult {
    pub events: Vec<PolledEvent>,
    /// The cursor for the next poll.
    pub cursor: serde_json::Value,
    /// True when the trigger stopped early and wants to be polled again soon.
    pub backlog: bool,
}
/// Parses `text` as JSON and checks it against the component's schema; `what` names it in errors.
pub(super) fn parse_and_validate(component: &LoadedComponent, text: &str, what: &str) -> Result<(), InvocationError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        InvocationError::Component(ComponentError::InvalidInput(bindings::types::FieldError {
            field: String::new(),
            message: format!("the {what} is not valid JSON: {e}"),
        }))
    })?;
    component.validate_input(&value).map_err(InvocationError::Component)
}

/// Checks a trigger's events: a non-empty key and a JSON payload each.
pub(super) fn checked_events(events: Vec<Event>) -> Result<Vec<PolledEvent>, InvocationError> {
    events
        .into_iter()
        .map(|e| {
            let bad = |why: String| InvocationError::Component(ComponentError::Internal(why));
            if e.dedupe_key.is_empty() {
                return Err(bad("the trigger returned an event with an empty dedupe key".into()));
            }
            serde_json::from_str::<serde::de::IgnoredAny>(&e.payload).map_err(|err| {
                bad(format!("the trigger returned event {} with a payload that is not JSON: {err}", e.dedupe_key))
            })?;
            Ok(PolledEvent { dedupe_key: e.dedupe_key, occurred_at: e.occurred_at, payload: e.payload })
        })
        .collect()
}
