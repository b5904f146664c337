//! Tickets: the attribute map the ticket actions send, and the two ways to look a ticket up.

use crate::error::{invalid_input, not_found};
use crate::intercom::{self, filter, segment};
use crate::{Error, input};
use serde_json::{Map, Value, json};

/// Intercom's keys for the two attributes every ticket type has.
pub const TITLE: &str = "_default_title_";
pub const DESCRIPTION: &str = "_default_description_";

/// Builds `ticket_attributes` from the friendly `title` and `description` inputs plus any further
/// attributes of the ticket type (`extra`, given under the input field `extra_field`).
/// `None` when nothing was given, so the key can be left out of the request.
pub fn attributes(
    title: Option<&str>,
    description: Option<&str>,
    extra: Option<&Map<String, Value>>,
    extra_field: &str,
) -> Result<Option<Map<String, Value>>, Error> {
    let mut map = Map::new();
    for (key, value) in extra.into_iter().flatten() {
        let field = format!("{extra_field}.{key}");
        if key.trim().is_empty() {
            return Err(invalid_input(extra_field, "attribute names must not be empty"));
        }
        // The spec allows text (or null), numbers, booleans and lists; an object is always a mistake.
        if value.is_object() {
            return Err(invalid_input(
                field,
                "must be text, a number, true/false or a list; a list attribute takes its option's id as text",
            ));
        }
        map.insert(key.clone(), value.clone());
    }
    for (name, key, value) in [("title", TITLE, title), ("description", DESCRIPTION, description)] {
        let Some(value) = value else { continue };
        if map.contains_key(key) {
            return Err(invalid_input(
                format!("{extra_field}.{key}"),
                format!("give the {name} either as `{name}` or as `{extra_field}.{key}`, not both"),
            ));
        }
        let value = if name == "title" { input::non_empty(name, value)? } else { value };
        map.insert(key.to_string(), json!(value));
    }
    Ok((!map.is_empty()).then_some(map))
}

/// `GET /tickets/{id}` by the ticket's API id.
pub fn get(id: &str) -> Result<Value, Error> {
    intercom::get(format!("/tickets/{}", segment(id))).send()
}

/// The inbox number users see ("#123"), validated and without its `#`.
pub fn number<'a>(field: &str, value: &'a str) -> Result<&'a str, Error> {
    let value = input::non_empty(field, value)?;
    let digits = value.strip_prefix('#').unwrap_or(value);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid_input(
            field,
            format!("`{value}` is not a ticket number: give the number shown in the inbox, such as 123"),
        ));
    }
    Ok(digits)
}

/// The ticket with this inbox number (`ticket_id`), found through `POST /tickets/search`:
/// the number is not the API id `GET /tickets/{id}` takes.
pub fn by_number(number: &str) -> Result<Value, Error> {
    let query = json!({ "query": filter("ticket_id", "=", number) });
    let page = intercom::search_page("/tickets/search", "tickets", query, 5, None)?;
    page.items
        .into_iter()
        .find(|t| t.get("ticket_id").and_then(Value::as_str) == Some(number))
        .ok_or_else(|| not_found(format!("no ticket has the number #{number}")))
}
