//! Shaping an action's output: Intercom's object as returned, with ids as strings so that later
//! workflow steps can map any id into any id input.

use serde_json::{Map, Value, json};

/// `value` as compact JSON text. Faster than `Value::to_string` (which goes through `fmt::Write` a
/// piece at a time): outputs and event payloads are the bulk of what a component serialises.
pub fn json_text(value: &Value) -> String {
    // Serialising a `Value` cannot fail: its map keys are strings.
    serde_json::to_string(value).unwrap_or_default()
}

/// Keys holding the customer's own data, whose values are left exactly as they are.
const USER_DATA: &[&str] = &["custom_attributes", "ticket_attributes", "metadata"];

/// Turns integer ids into strings, recursively: `id`, `*_id` and the items of `*_ids`. Intercom 2.16
/// sends some ids as integers (a ticket's `admin_assignee_id`, a conversation's `team_assignee_id`,
/// where `0` means unassigned); everywhere else, and in every input, ids are strings.
pub fn ids_as_strings(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| {
                    let value = if USER_DATA.contains(&key.as_str()) {
                        value
                    } else if key == "id" || key.ends_with("_id") {
                        number_to_string(value)
                    } else if key.ends_with("_ids") {
                        match value {
                            Value::Array(items) => Value::Array(items.into_iter().map(number_to_string).collect()),
                            other => other,
                        }
                    } else {
                        ids_as_strings(value)
                    };
                    (key, value)
                })
                .collect::<Map<String, Value>>(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(ids_as_strings).collect()),
        other => other,
    }
}

fn number_to_string(value: Value) -> Value {
    match value {
        Value::Number(n) if n.is_i64() || n.is_u64() => Value::String(n.to_string()),
        other => ids_as_strings(other),
    }
}

/// Intercom's answer to a hard delete, with the fact that it cannot be undone stated in the output
/// itself (`permanent`, `note`), so a workflow's run history says so too.
pub fn permanently_deleted(answer: Value, note: &str) -> Value {
    let mut out = match ids_as_strings(answer) {
        Value::Object(map) => map,
        other => Map::from_iter([("response".to_string(), other)]),
    };
    out.insert("permanent".to_string(), json!(true));
    out.insert("note".to_string(), json!(note));
    Value::Object(out)
}
