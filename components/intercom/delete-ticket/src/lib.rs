//! Delete Ticket: a permanent delete.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_sdk::intercom::{self, segment};
use switchyard_sdk::output::permanently_deleted;
use switchyard_sdk::{Action, Error, input};

struct DeleteTicket;

/// Delete a ticket permanently
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Input {
    /// The ticket's API id (not the inbox number; Find Ticket turns one into the other).
    #[schemars(title = "Ticket ID")]
    id: String,
}

impl Action for DeleteTicket {
    type Input = Input;
    const NAME: &'static str = "Delete Ticket";
    const SUMMARY: &'static str = "PERMANENTLY deletes a ticket: it cannot be restored (Intercom keeps it only in \
        reporting). To stop work on a ticket but keep it, close it with Update Ticket instead.";

    fn sample_output() -> Value {
        json!({
            "id": "494", "object": "ticket", "deleted": true, "permanent": true,
            "note": "Ticket 494 was permanently deleted; it cannot be restored."
        })
    }

    fn run(input: Input) -> Result<Value, Error> {
        let id = input::non_empty("id", &input.id)?;
        let answer = intercom::delete(format!("/tickets/{}", segment(id))).send()?;
        Ok(permanently_deleted(answer, &format!("Ticket {id} was permanently deleted; it cannot be restored.")))
    }
}

switchyard_sdk::export_action!(DeleteTicket);
