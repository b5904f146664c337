//! Convert Conversation to Ticket: a Customer ticket linked to the conversation.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use switchyard_sdk::intercom::{self, segment};
use switchyard_sdk::output::ids_as_strings;
use switchyard_sdk::{Action, Error, input, tickets};

struct ConvertConversationToTicket;

/// Convert a conversation to a ticket
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Input {
    /// The conversation to convert.
    #[schemars(title = "Conversation ID")]
    conversation_id: String,
    /// The ticket type's id; it must be a Customer ticket type (list them with GET /ticket_types).
    #[schemars(title = "Ticket type ID")]
    ticket_type_id: String,
    /// The state the ticket starts in; it must belong to the ticket type (default: the type's first state).
    #[schemars(title = "State ID")]
    ticket_state_id: Option<String>,
    /// The ticket's title (its `_default_title_` attribute).
    #[schemars(title = "Title")]
    title: Option<String>,
    /// The ticket's description (its `_default_description_` attribute).
    #[schemars(title = "Description")]
    description: Option<String>,
    /// Further attributes of the ticket type, by attribute name. A list attribute takes its option's id.
    #[schemars(title = "Other attributes")]
    attributes: Option<Map<String, Value>>,
}

impl Action for ConvertConversationToTicket {
    type Input = Input;
    const NAME: &'static str = "Convert Conversation to Ticket";
    const SUMMARY: &'static str = "Turns a conversation into a Customer ticket of the given type, optionally in a \
        given state and with attributes; the ticket is linked to the conversation. Returns the ticket.";

    fn sample_output() -> Value {
        json!({
            "type": "ticket", "id": "495", "ticket_id": "38", "category": "Customer",
            "ticket_attributes": { "_default_title_": "Refund request" },
            "ticket_state": { "type": "ticket_state", "id": "7493", "category": "submitted",
                              "internal_label": "Submitted", "external_label": "Submitted" },
            "linked_objects": { "type": "list", "total_count": 1, "has_more": false,
                                "data": [{ "type": "conversation", "id": "147", "category": null }] },
            "admin_assignee_id": "0", "team_assignee_id": "0", "open": true,
            "created_at": 1717415380, "updated_at": 1717415380
        })
    }

    fn run(input: Input) -> Result<Value, Error> {
        let conversation_id = input::non_empty("conversation_id", &input.conversation_id)?;
        let mut body = json!({ "ticket_type_id": input::non_empty("ticket_type_id", &input.ticket_type_id)? });
        if let Some(state) = &input.ticket_state_id {
            body["ticket_state_id"] = json!(input::non_empty("ticket_state_id", state)?);
        }
        let attributes = tickets::attributes(
            input.title.as_deref(),
            input.description.as_deref(),
            input.attributes.as_ref(),
            "attributes",
        )?;
        if let Some(attributes) = attributes {
            body["attributes"] = Value::Object(attributes);
        }
        intercom::post(format!("/conversations/{}/convert", segment(conversation_id)), &body).send().map(ids_as_strings)
    }
}

switchyard_sdk::export_action!(ConvertConversationToTicket);
