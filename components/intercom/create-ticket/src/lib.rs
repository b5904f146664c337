//! Create Ticket: a ticket of a given type for one contact.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use switchyard_sdk::contact_ref::ContactRef;
use switchyard_sdk::output::ids_as_strings;
use switchyard_sdk::{Action, Error, admins, input, intercom, tickets};

struct CreateTicket;

/// Create a ticket
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Input {
    /// The ticket type's id (list them with GET /ticket_types). Its category decides who sees the
    /// ticket: Customer, Back-office or Tracker.
    #[schemars(title = "Ticket type ID")]
    ticket_type_id: String,
    /// The contact the ticket is for: exactly one of `id`, `external_id` or `email`. An email that no
    /// contact has yet creates a new contact.
    #[schemars(title = "Contact")]
    contact: ContactRef,
    /// The ticket's title (its `_default_title_` attribute).
    #[schemars(title = "Title")]
    title: Option<String>,
    /// The ticket's description (its `_default_description_` attribute).
    #[schemars(title = "Description")]
    description: Option<String>,
    /// Further attributes of the ticket type, by attribute name: text, numbers, true/false or lists.
    /// A list attribute takes its option's id.
    #[schemars(title = "Other attributes")]
    attributes: Option<Map<String, Value>>,
    /// The Intercom id of a company to link the ticket to (not your own `company_id`).
    #[schemars(title = "Company ID")]
    company_id: Option<String>,
    /// The admin (teammate) to assign the ticket to.
    #[schemars(title = "Assign to admin")]
    admin_assignee_id: Option<String>,
    /// The team to assign the ticket to.
    #[schemars(title = "Assign to team")]
    team_assignee_id: Option<String>,
    /// A conversation to link the ticket to.
    #[schemars(title = "Link to conversation")]
    conversation_to_link_id: Option<String>,
    /// When the ticket was created, as a Unix time in seconds (for importing history; default now).
    #[schemars(title = "Created at")]
    created_at: Option<i64>,
}

impl Action for CreateTicket {
    type Input = Input;
    const NAME: &'static str = "Create Ticket";
    const SUMMARY: &'static str = "Creates a ticket of the given type for one contact (by id, external_id or email; \
        an unknown email creates the contact), with its title, description and other attributes, optionally \
        linked to a company and assigned to an admin or a team. Returns the ticket.";

    fn sample_output() -> Value {
        json!({
            "type": "ticket", "id": "494", "ticket_id": "37", "category": "Customer",
            "ticket_attributes": { "_default_title_": "Export fails", "_default_description_": "CSV export times out" },
            "ticket_state": { "type": "ticket_state", "id": "7493", "category": "submitted",
                              "internal_label": "Submitted", "external_label": "Submitted" },
            "ticket_type": { "type": "ticket_type", "id": "1234", "name": "Bug report", "category": "Customer" },
            "contacts": { "type": "contact.list", "contacts": [{ "type": "contact", "id": "6657add46abd0167d9419cd2" }] },
            "admin_assignee_id": "991267", "team_assignee_id": "0", "open": true, "is_shared": true,
            "created_at": 1717415380, "updated_at": 1717415380
        })
    }

    fn run(input: Input) -> Result<Value, Error> {
        let ticket_type_id = input::non_empty("ticket_type_id", &input.ticket_type_id)?;
        let contact = input.contact.key("contact")?;
        let attributes = tickets::attributes(
            input.title.as_deref(),
            input.description.as_deref(),
            input.attributes.as_ref(),
            "attributes",
        )?;
        let mut body = json!({ "ticket_type_id": ticket_type_id, "contacts": [contact.ticket_contact()] });
        if let Some(attributes) = attributes {
            body["ticket_attributes"] = Value::Object(attributes);
        }
        if let Some(company_id) = &input.company_id {
            body["company_id"] = json!(input::non_empty("company_id", company_id)?);
        }
        let mut assignment = Map::new();
        if let Some(admin) = &input.admin_assignee_id {
            assignment.insert("admin_assignee_id".into(), json!(admins::admin_id("admin_assignee_id", admin)?));
        }
        if let Some(team) = &input.team_assignee_id {
            assignment.insert("team_assignee_id".into(), json!(input::non_empty("team_assignee_id", team)?));
        }
        if !assignment.is_empty() {
            body["assignment"] = Value::Object(assignment);
        }
        if let Some(conversation) = &input.conversation_to_link_id {
            body["conversation_to_link_id"] = json!(input::non_empty("conversation_to_link_id", conversation)?);
        }
        if let Some(created_at) = input.created_at {
            body["created_at"] = json!(created_at);
        }
        intercom::post("/tickets", &body).send().map(ids_as_strings)
    }
}

switchyard_sdk::export_action!(CreateTicket);
