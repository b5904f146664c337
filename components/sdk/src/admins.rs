//! The admin (teammate) an action acts as. Conversation and ticket changes are attributed to an admin;
//! when the input names none, the admin the connection belongs to acts, as in Intercom's own UI.

use crate::error::invalid_input;
use crate::{Error, input, intercom};
use serde_json::Value;

/// Refuses an admin id that is not Intercom's numeric form, such as an email pasted by mistake.
pub fn admin_id<'a>(field: &str, value: &'a str) -> Result<&'a str, Error> {
    let value = input::non_empty(field, value)?;
    if !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid_input(
            field,
            format!("`{value}` is not an admin id: Intercom admin ids are numbers (list them with GET /admins)"),
        ));
    }
    Ok(value)
}

/// An admin id for the endpoints whose spec types it as an integer (`POST /messages` `from.id`,
/// `PUT /tickets/{id}` `admin_id`).
pub fn admin_number(field: &str, value: &str) -> Result<u64, Error> {
    admin_id(field, value)?.parse().map_err(|_| invalid_input(field, format!("`{value}` is too large for an admin id")))
}

/// The given admin id (validated), or else the connection's own admin from `GET /me`.
/// Call it after the rest of the input is validated: without a given id it sends a request.
pub fn acting_admin(field: &str, given: Option<&str>) -> Result<String, Error> {
    if let Some(id) = given {
        return Ok(admin_id(field, id)?.to_string());
    }
    let me = intercom::get("/me").send()?;
    match me.get("id") {
        Some(Value::String(id)) => Ok(id.clone()),
        Some(Value::Number(id)) => Ok(id.to_string()),
        _ => Err(invalid_input(field, "the connection has no admin of its own (GET /me gave no id): give an admin id")),
    }
}
