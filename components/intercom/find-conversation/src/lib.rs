//! Find Conversation: one conversation with its parts.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_sdk::output::ids_as_strings;
use switchyard_sdk::{Action, Error, conversations, input};

struct FindConversation;

/// Find a conversation
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Input {
    /// The conversation's id.
    #[schemars(title = "Conversation ID")]
    id: String,
    /// Give message bodies as plain text instead of HTML (links become `label (url)`).
    #[schemars(title = "Plain text")]
    #[serde(default)]
    plaintext: bool,
}

impl Action for FindConversation {
    type Input = Input;
    const NAME: &'static str = "Find Conversation";
    const SUMMARY: &'static str = "Finds one conversation by id, with its parts (Intercom returns at most the 500 \
        most recent), optionally as plain text. Not found is an error.";

    fn sample_output() -> Value {
        json!({
            "type": "conversation", "id": "147", "title": "Export fails", "state": "open", "open": true,
            "read": false, "created_at": 1717415380, "updated_at": 1717415999,
            "admin_assignee_id": "991267", "team_assignee_id": "0",
            "source": { "type": "conversation", "id": "147", "delivered_as": "customer_initiated",
                        "body": "<p>My export fails</p>", "author": { "type": "user", "id": "6657add46abd0167d9419cd2" } },
            "contacts": { "type": "contact.list", "contacts": [{ "type": "contact", "id": "6657add46abd0167d9419cd2" }] },
            "custom_attributes": {},
            "conversation_parts": { "type": "conversation_part.list", "total_count": 1, "conversation_parts": [
                { "type": "conversation_part", "id": "1502", "part_type": "comment", "body": "<p>Looking into it</p>",
                  "created_at": 1717415999, "author": { "type": "admin", "id": "991267" } }
            ]}
        })
    }

    fn run(input: Input) -> Result<Value, Error> {
        let id = input::non_empty("id", &input.id)?;
        conversations::get(id, input.plaintext).map(ids_as_strings)
    }
}

switchyard_sdk::export_action!(FindConversation);
