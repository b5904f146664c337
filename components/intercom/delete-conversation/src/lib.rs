//! Delete Conversation: a permanent delete.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_sdk::intercom::{self, segment};
use switchyard_sdk::output::permanently_deleted;
use switchyard_sdk::{Action, Error, input};

struct DeleteConversation;

/// Delete a conversation permanently
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Input {
    /// The conversation's id.
    #[schemars(title = "Conversation ID")]
    id: String,
    /// Keep the conversation's reporting data (the default). false erases that too, and needs the
    /// connection to have Intercom's `delete_conversations_and_metrics` permission.
    #[schemars(title = "Keep reporting data")]
    #[serde(default = "keep")]
    retain_metrics: bool,
}

fn keep() -> bool {
    true
}

impl Action for DeleteConversation {
    type Input = Input;
    const NAME: &'static str = "Delete Conversation";
    const SUMMARY: &'static str = "PERMANENTLY deletes a conversation from the inbox: it cannot be restored. \
        Its reporting data is kept unless `retain_metrics` is false.";

    fn sample_output() -> Value {
        json!({
            "id": "147", "object": "conversation", "deleted": true, "permanent": true,
            "note": "Conversation 147 was permanently deleted; it cannot be restored. Its reporting data was kept."
        })
    }

    fn run(input: Input) -> Result<Value, Error> {
        let id = input::non_empty("id", &input.id)?;
        let answer = intercom::delete(format!("/conversations/{}", segment(id)))
            .query("retain_metrics", input.retain_metrics.to_string())
            .send()?;
        let metrics =
            if input.retain_metrics { "Its reporting data was kept." } else { "Its reporting data was erased too." };
        let note = format!("Conversation {id} was permanently deleted; it cannot be restored. {metrics}");
        Ok(permanently_deleted(answer, &note))
    }
}

switchyard_sdk::export_action!(DeleteConversation);
