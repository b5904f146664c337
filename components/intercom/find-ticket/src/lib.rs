//! Find Ticket: by API id, or by the ticket number users see in the inbox.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_sdk::output::ids_as_strings;
use switchyard_sdk::{Action, Error, input, tickets};

struct FindTicket;

/// Find a ticket
///
/// Give exactly one of `id` or `ticket_id`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Input {
    /// The ticket's API id, as other actions and webhooks give it.
    #[schemars(title = "Ticket ID")]
    id: Option<String>,
    /// The ticket number the inbox shows ("#37" or 37). Intercom calls it `ticket_id`; it differs from
    /// the API id.
    #[schemars(title = "Ticket number (inbox)")]
    ticket_id: Option<String>,
}

impl Action for FindTicket {
    type Input = Input;
    const NAME: &'static str = "Find Ticket";
    const SUMMARY: &'static str = "Finds one ticket by its API id or by the ticket number shown in the inbox \
        (searched, since the two differ). Not found is an error, never an empty result.";

    fn sample_output() -> Value {
        json!({
            "type": "ticket", "id": "494", "ticket_id": "37", "category": "Customer",
            "ticket_attributes": { "_default_title_": "Export fails", "_default_description_": "CSV export times out" },
            "ticket_state": { "type": "ticket_state", "id": "7493", "category": "submitted",
                              "internal_label": "Submitted", "external_label": "Submitted" },
            "admin_assignee_id": "0", "team_assignee_id": "0", "open": true,
            "created_at": 1717415380, "updated_at": 1717415380
        })
    }

    fn run(input: Input) -> Result<Value, Error> {
        let by = input::exactly_one(&[("id", input.id.is_some()), ("ticket_id", input.ticket_id.is_some())])?;
        let ticket = if by == "id" {
            tickets::get(input::non_empty("id", input.id.as_deref().unwrap_or_default())?)?
        } else {
            tickets::by_number(tickets::number("ticket_id", input.ticket_id.as_deref().unwrap_or_default())?)?
        };
        Ok(ids_as_strings(ticket))
    }
}

switchyard_sdk::export_action!(FindTicket);
