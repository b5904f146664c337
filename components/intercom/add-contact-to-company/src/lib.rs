//! Add Contact to Company: attaches a contact to a company given by Intercom id or by your company_id.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_sdk::intercom::{self, segment};
use switchyard_sdk::output::ids_as_strings;
use switchyard_sdk::{Action, Error, input, resolve};

struct AddContactToCompany;

/// Add a contact to a company
///
/// Give the contact, and the company by exactly one of `company_intercom_id` or `company_id`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Input {
    /// The contact's Intercom id.
    #[schemars(title = "Contact ID")]
    contact_id: String,
    /// The company's Intercom id.
    #[schemars(title = "Company ID (Intercom)")]
    company_intercom_id: Option<String>,
    /// The id your own system gave the company; it is looked up first.
    #[schemars(title = "Company ID (yours)")]
    company_id: Option<String>,
}

impl Action for AddContactToCompany {
    type Input = Input;
    const NAME: &'static str = "Add Contact to Company";
    const SUMMARY: &'static str = "Attaches a contact to a company, given by its Intercom id or by your own \
        company_id. Attaching twice is harmless. Returns the company. A contact can belong to at most 1,000 companies.";

    fn sample_output() -> Value {
        json!({
            "type": "company", "id": "6657adc96abd0167d9419d1e", "company_id": "acme-1", "name": "Acme",
            "user_count": 1, "created_at": 1717415380, "updated_at": 1717415500,
            "custom_attributes": {}, "tags": {"type": "tag.list", "tags": []}
        })
    }

    fn run(input: Input) -> Result<Value, Error> {
        let contact_id = input::non_empty("contact_id", &input.contact_id)?;
        let company = resolve::company_intercom_id(
            input.company_intercom_id.as_deref(),
            input.company_id.as_deref(),
            ("company_intercom_id", "company_id"),
        )?;
        let path = format!("/contacts/{}/companies", segment(contact_id));
        Ok(ids_as_strings(intercom::post(path, &json!({ "id": company })).send()?))
    }
}

switchyard_sdk::export_action!(AddContactToCompany);
