//! Update Contact: a partial update by Intercom id, custom attributes included.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_sdk::error::invalid_input;
use switchyard_sdk::fields::ContactFields;
use switchyard_sdk::intercom::{self, segment};
use switchyard_sdk::output::ids_as_strings;
use switchyard_sdk::{Action, Error, input};

struct UpdateContact;

/// Update a contact
///
/// Only the fields you give change; custom attributes are merged (null clears one).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Input {
    /// The contact's Intercom id.
    #[schemars(title = "Contact ID")]
    id: String,
    #[serde(flatten)]
    fields: ContactFields,
}

impl Action for UpdateContact {
    type Input = Input;
    const NAME: &'static str = "Update Contact";
    const SUMMARY: &'static str = "Changes the given fields of a contact (user or lead) found by its Intercom \
        id; other fields keep their values. Custom attributes are merged, and null clears one. Giving an email \
        or external_id another contact has is refused as a conflict.";

    fn sample_output() -> Value {
        json!({
            "type": "contact", "id": "6657add46abd0167d9419cd2", "role": "user", "email": "ada@example.com",
            "name": "Ada King", "created_at": 1717415380, "updated_at": 1717501780,
            "custom_attributes": {"plan": "enterprise", "seats": 12}
        })
    }

    fn run(input: Input) -> Result<Value, Error> {
        let id = input::non_empty("id", &input.id)?;
        input.fields.validate()?;
        if input.fields.is_empty() {
            return Err(invalid_input("", "give at least one field to change besides the id"));
        }
        let answer = intercom::put(format!("/contacts/{}", segment(id)), &input.fields.body()).send()?;
        Ok(ids_as_strings(answer))
    }
}

switchyard_sdk::export_action!(UpdateContact);
