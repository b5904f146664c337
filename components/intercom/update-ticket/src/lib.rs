//! Update Ticket: state, open or closed, assignee, attributes and snooze, in one `PUT /tickets/{id}`.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use switchyard_sdk::error::invalid_input;
use switchyard_sdk::intercom::{self, segment};
use switchyard_sdk::output::ids_as_strings;
use switchyard_sdk::{Action, Error, admins, input, tickets};

struct UpdateTicket;

/// Update a ticket
///
/// Give the ticket's id and at least one change; what is left out stays as it is.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Input {
    /// The ticket's API id (not the number shown in the inbox; Find Ticket turns one into the other).
    #[schemars(title = "Ticket ID")]
    id: String,
    /// The new state's id; it must belong to the ticket's type (list them with GET /ticket_states).
    #[schemars(title = "State ID")]
    ticket_state_id: Option<String>,
    /// false closes the ticket (and ends a snooze); true reopens it.
    #[schemars(title = "Open")]
    open: Option<bool>,
    /// The admin or team to assign the ticket to; "0" unassigns it.
    #[schemars(title = "Assignee ID")]
    assignee_id: Option<String>,
    /// The new title (the `_default_title_` attribute).
    #[schemars(title = "Title")]
    title: Option<String>,
    /// The new description (the `_default_description_` attribute).
    #[schemars(title = "Description")]
    description: Option<String>,
    /// Further attributes of the ticket type to change, by attribute name.
    #[schemars(title = "Other attributes")]
    attributes: Option<Map<String, Value>>,
    /// Snooze the ticket until this Unix time (seconds, in the future).
    #[schemars(title = "Snoozed until")]
    snoozed_until: Option<i64>,
    /// Whether the contact can see the ticket.
    #[schemars(title = "Shared with the contact")]
    is_shared: Option<bool>,
    /// The Intercom id of a company to link the ticket to.
    #[schemars(title = "Company ID")]
    company_id: Option<String>,
    /// The admin the change is attributed to (workflows in Intercom see who acted).
    #[schemars(title = "Acting admin ID")]
    admin_id: Option<String>,
}

impl Action for UpdateTicket {
    type Input = Input;
    const NAME: &'static str = "Update Ticket";
    const SUMMARY: &'static str = "Changes a ticket's state, opens or closes it, assigns or unassigns it (assignee \"0\"), \
        sets its title, description and other attributes, or snoozes it. Returns the updated ticket.";

    fn sample_output() -> Value {
        json!({
            "type": "ticket", "id": "494", "ticket_id": "37", "category": "Customer",
            "ticket_attributes": { "_default_title_": "Export fails", "_default_description_": "CSV export times out" },
            "ticket_state": { "type": "ticket_state", "id": "7496", "category": "resolved",
                              "internal_label": "Resolved", "external_label": "Resolved" },
            "previous_ticket_state_id": "7493",
            "admin_assignee_id": "0", "team_assignee_id": "0", "open": false, "is_shared": true,
            "created_at": 1717415380, "updated_at": 1717419000
        })
    }

    fn run(input: Input) -> Result<Value, Error> {
        let id = input::non_empty("id", &input.id)?;
        let mut body = Map::new();
        let attributes = tickets::attributes(
            input.title.as_deref(),
            input.description.as_deref(),
            input.attributes.as_ref(),
            "attributes",
        )?;
        if let Some(attributes) = attributes {
            body.insert("ticket_attributes".into(), Value::Object(attributes));
        }
        if let Some(state) = &input.ticket_state_id {
            body.insert("ticket_state_id".into(), json!(input::non_empty("ticket_state_id", state)?));
        }
        if let Some(open) = input.open {
            body.insert("open".into(), json!(open));
        }
        if let Some(until) = input.snoozed_until {
            // Closing ends a snooze, so asking for both cannot mean anything.
            if input.open == Some(false) {
                return Err(invalid_input(
                    "snoozed_until",
                    "a closed ticket cannot be snoozed: leave out `open: false` or the snooze",
                ));
            }
            body.insert("snoozed_until".into(), json!(input::future_time("snoozed_until", until)?));
        }
        if let Some(assignee) = &input.assignee_id {
            body.insert("assignee_id".into(), json!(input::non_empty("assignee_id", assignee)?));
        }
        if let Some(shared) = input.is_shared {
            body.insert("is_shared".into(), json!(shared));
        }
        if let Some(company_id) = &input.company_id {
            body.insert("company_id".into(), json!(input::non_empty("company_id", company_id)?));
        }
        if body.is_empty() {
            return Err(invalid_input(
                "ticket_state_id",
                "nothing to change: give at least one of ticket_state_id, open, assignee_id, title, description, \
                 attributes, snoozed_until, is_shared or company_id",
            ));
        }
        if let Some(admin) = &input.admin_id {
            // The spec types this one admin id as an integer.
            body.insert("admin_id".into(), json!(admins::admin_number("admin_id", admin)?));
        }
        intercom::put(format!("/tickets/{}", segment(id)), &Value::Object(body)).send().map(ids_as_strings)
    }
}

switchyard_sdk::export_action!(UpdateTicket);
