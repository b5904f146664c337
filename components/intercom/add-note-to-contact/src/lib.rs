//! Add Note To Contact: an internal note on a contact, optionally authored by a given admin.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_sdk::intercom::{self, segment};
use switchyard_sdk::output::ids_as_strings;
use switchyard_sdk::{Action, Error, admins, input};

struct AddNoteToContact;

/// Add a note to a contact
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Input {
    /// The contact's Intercom id.
    #[schemars(title = "Contact ID")]
    contact_id: String,
    /// The note's text. Simple HTML (paragraphs, links, bold) is kept.
    #[schemars(title = "Note")]
    body: String,
    /// The admin (teammate) shown as the note's author; by default, the connection's own admin.
    #[schemars(title = "Author (admin ID)")]
    admin_id: Option<String>,
}

impl Action for AddNoteToContact {
    type Input = Input;
    const NAME: &'static str = "Add Note To Contact";
    const SUMMARY: &'static str = "Adds an internal note (seen by teammates only, never by the contact) to a \
        contact, authored by the given admin or else by the connection's admin.";

    fn sample_output() -> Value {
        json!({
            "type": "note", "id": "31", "created_at": 1717415380, "body": "<p>Called about renewal</p>",
            "contact": {"type": "contact", "id": "6657add46abd0167d9419cd2"},
            "author": {"type": "admin", "id": "991267583", "name": "Ciaran Lee", "email": "ciaran@example.com"}
        })
    }

    fn run(input: Input) -> Result<Value, Error> {
        let contact_id = input::non_empty("contact_id", &input.contact_id)?;
        let mut body = json!({ "body": input::non_empty("body", &input.body)? });
        if let Some(admin) = &input.admin_id {
            body["admin_id"] = json!(admins::admin_id("admin_id", admin)?);
        }
        let answer = intercom::post(format!("/contacts/{}/notes", segment(contact_id)), &body).send()?;
        Ok(ids_as_strings(answer))
    }
}

switchyard_sdk::export_action!(AddNoteToContact);
