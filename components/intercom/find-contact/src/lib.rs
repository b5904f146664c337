//! Find Contact: by Intercom id, by external_id, or by email.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_sdk::error::not_found;
use switchyard_sdk::intercom::{self, filter, segment};
use switchyard_sdk::{Action, Error, input};

struct FindContact;

/// Find a contact
///
/// Give exactly one of `id`, `email` or `external_id`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Input {
    /// The contact's Intercom id.
    #[schemars(title = "Contact ID")]
    id: Option<String>,
    /// The contact's email address. Several contacts can share one (a user and leads): the user wins,
    /// then the most recently updated. Intercom's search lags creation by a few minutes.
    #[schemars(title = "Email")]
    email: Option<String>,
    /// The id your own system gave the contact (users only, as in Intercom).
    #[schemars(title = "External ID")]
    external_id: Option<String>,
}

/// A merged contact answers 410 with a link to the contact it was merged into; follow a few hops.
const MAX_MERGE_HOPS: usize = 3;

impl Action for FindContact {
    type Input = Input;
    const NAME: &'static str = "Find Contact";
    const SUMMARY: &'static str = "Finds one contact (user or lead) by Intercom id, email or external_id. \
        Not found is an error, never an empty result; a merged contact leads to the contact it was merged into.";

    fn sample_output() -> Value {
        json!({
            "type": "contact", "id": "6657add46abd0167d9419cd2", "role": "user",
            "email": "ada@example.com", "external_id": "user-42", "name": "Ada Lovelace",
            "created_at": 1717415380, "updated_at": 1717415380, "custom_attributes": {}
        })
    }

    fn run(input: Input) -> Result<Value, Error> {
        let by = input::exactly_one(&[
            ("id", input.id.is_some()),
            ("email", input.email.is_some()),
            ("external_id", input.external_id.is_some()),
        ])?;
        match by {
            "id" => by_id(input::non_empty("id", input.id.as_deref().unwrap_or_default())?),
            "external_id" => {
                let external_id = input::non_empty("external_id", input.external_id.as_deref().unwrap_or_default())?;
                intercom::get(format!("/contacts/find_by_external_id/{}", segment(external_id))).send()
            }
            _ => by_email(input::non_empty("email", input.email.as_deref().unwrap_or_default())?),
        }
    }
}

fn by_id(id: &str) -> Result<Value, Error> {
    let mut path = format!("/contacts/{}", segment(id));
    for _ in 0..=MAX_MERGE_HOPS {
        let response = intercom::get(path.clone()).send_raw()?;
        match (response.status, intercom::canonical_link(&response)) {
            (410, Some(canonical)) => {
                switchyard_sdk::log::info(&format!("contact {id} was merged; following {canonical}"));
                path = canonical;
            }
            _ => return intercom::into_json(response),
        }
    }
    Err(not_found(format!("contact {id} was merged more than {MAX_MERGE_HOPS} times; give the surviving contact's id")))
}

fn by_email(email: &str) -> Result<Value, Error> {
    let query = json!({ "query": filter("email", "=", email) });
    let page = intercom::search_page("/contacts/search", "data", query, 50, None)?;
    let is_user = |c: &&Value| c.get("role").and_then(Value::as_str) == Some("user");
    let updated = |c: &&Value| c.get("updated_at").and_then(Value::as_i64).unwrap_or(0);
    let best = page.items.iter().max_by_key(|c| (is_user(c), updated(c))).cloned();
    best.ok_or_else(|| not_found(format!("no contact has the email {email}")))
}

switchyard_sdk::export_action!(FindContact);
