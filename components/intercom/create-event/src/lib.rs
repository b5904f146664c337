//! Create Event: records a data event on a contact's timeline. Intercom answers 202 with no body.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use switchyard_sdk::error::invalid_input;
use switchyard_sdk::{Action, Error, input, intercom};

struct CreateEvent;

/// Create an event
///
/// Give the contact by exactly one of `id`, `user_id` or `email`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Input {
    /// What happened, ideally a past-tense verb-noun such as `upgraded-plan`. Intercom groups
    /// events by this name in filters and segments.
    #[schemars(title = "Event name")]
    event_name: String,
    /// When it happened, as a Unix time in seconds; now when left empty. Intercom ignores a second
    /// event with the same contact, name and time.
    #[schemars(title = "Happened at")]
    created_at: Option<i64>,
    /// The contact's Intercom id (the only way to name a lead).
    #[schemars(title = "Contact ID")]
    id: Option<String>,
    /// The user's id in your own system (Intercom's `external_id`; users only).
    #[schemars(title = "User ID (yours)")]
    user_id: Option<String>,
    /// The user's email address.
    #[schemars(title = "Email")]
    email: Option<String>,
    /// Up to 10 details about the event, by name: text, numbers or true/false, a link as
    /// `{"url": …, "value": …}`, or money as `{"amount": cents, "currency": "eur"}`. Keys ending
    /// in `_date` hold Unix times. An event name's keys are fixed by its first event.
    #[schemars(title = "Metadata")]
    metadata: Option<Map<String, Value>>,
}

/// Intercom keeps only the first 10 metadata keys of an event; more is refused here instead of dropped.
const MAX_METADATA_KEYS: usize = 10;

impl Action for CreateEvent {
    type Input = Input;
    const NAME: &'static str = "Create Event";
    const SUMMARY: &'static str = "Records an event (such as upgraded-plan) on a contact's timeline, with up \
        to 10 metadata details. Intercom accepts events asynchronously and sends nothing back, so the output is \
        `accepted: true` and the event as sent; a repeated event with the same contact, name and time is \
        accepted and ignored.";

    fn sample_output() -> Value {
        json!({
            "accepted": true, "event_name": "upgraded-plan", "created_at": 1717415380,
            "email": "ada@example.com", "metadata": {"plan": "pro", "seats": 12}
        })
    }

    fn run(input: Input) -> Result<Value, Error> {
        let event_name = input::non_empty("event_name", &input.event_name)?;
        let by = input::exactly_one(&[
            ("id", input.id.is_some()),
            ("user_id", input.user_id.is_some()),
            ("email", input.email.is_some()),
        ])?;
        let contact = match by {
            "id" => input.id.as_deref(),
            "user_id" => input.user_id.as_deref(),
            _ => input.email.as_deref(),
        };
        let contact = input::non_empty(by, contact.unwrap_or_default())?;
        if by == "email" {
            input::email("email", contact)?;
        }
        let created_at = match input.created_at {
            Some(t) if t < 0 => {
                return Err(invalid_input("created_at", "must be a Unix time in seconds (not negative)"));
            }
            Some(t) => t,
            None => switchyard_sdk::now() as i64,
        };
        let mut event = json!({ "event_name": event_name, "created_at": created_at, by: contact });
        if let Some(metadata) = &input.metadata {
            check_metadata(metadata)?;
            event["metadata"] = json!(metadata);
        }
        // 202 Accepted, empty body: there is no event object to return.
        intercom::post("/events", &event).send()?;
        event["accepted"] = json!(true);
        Ok(event)
    }
}

/// Flat values, plus the two typed objects Intercom documents (rich link, money).
fn check_metadata(metadata: &Map<String, Value>) -> Result<(), Error> {
    if metadata.len() > MAX_METADATA_KEYS {
        return Err(invalid_input(
            "metadata",
            format!("give at most {MAX_METADATA_KEYS} keys (got {}); Intercom would drop the rest", metadata.len()),
        ));
    }
    for (key, value) in metadata {
        let field = format!("metadata.{key}");
        if key.trim().is_empty() {
            return Err(invalid_input("metadata", "metadata keys must not be empty"));
        }
        let fine = match value {
            Value::String(_) | Value::Number(_) | Value::Bool(_) => true,
            Value::Object(o) => is_link(o) || is_money(o),
            Value::Null | Value::Array(_) => false,
        };
        if !fine {
            return Err(invalid_input(
                field,
                "must be text, a number, true/false, a link {\"url\", \"value\"} or money {\"amount\" (cents), \
                 \"currency\"}; nested objects and lists are not allowed",
            ));
        }
    }
    Ok(())
}

fn is_link(o: &Map<String, Value>) -> bool {
    o.len() == 2 && o.get("url").is_some_and(Value::is_string) && o.get("value").is_some_and(Value::is_string)
}

fn is_money(o: &Map<String, Value>) -> bool {
    o.len() == 2 && o.get("amount").is_some_and(Value::is_i64) && o.get("currency").is_some_and(Value::is_string)
}

switchyard_sdk::export_action!(CreateEvent);
