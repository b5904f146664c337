//! Create or Update Company: an upsert keyed by the caller's own `company_id`.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_sdk::error::invalid_input;
use switchyard_sdk::fields::CompanyFields;
use switchyard_sdk::output::ids_as_strings;
use switchyard_sdk::{Action, Error, input, intercom};

struct CreateOrUpdateCompany;

/// Create or update a company
///
/// The company with this `company_id` is updated if it exists, else created.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Input {
    /// The id your own system gives the company: the key of the upsert. It cannot be changed later.
    #[schemars(title = "Company ID (yours)")]
    company_id: String,
    #[serde(flatten)]
    fields: CompanyFields,
    /// When the company was created in your system, as a Unix time in seconds.
    #[schemars(title = "Created in your system at")]
    remote_created_at: Option<i64>,
    /// Set true to record that the company was active just now (its "last seen" time).
    #[schemars(title = "Update last request time")]
    update_last_request_at: Option<bool>,
}

impl Action for CreateOrUpdateCompany {
    type Input = Input;
    const NAME: &'static str = "Create or Update Company";
    const SUMMARY: &'static str = "Creates a company, or updates the one with the same company_id (your own id \
        for it). Intercom shows a company in its lists only once a contact is attached to it.";

    fn sample_output() -> Value {
        json!({
            "type": "company", "id": "6657adc96abd0167d9419d1e", "company_id": "acme-1", "name": "Acme",
            "plan": {"type": "plan", "id": "plan-pro", "name": "Pro"}, "size": 120, "website": "https://acme.example",
            "industry": "Manufacturing", "monthly_spend": 1000, "user_count": 0, "session_count": 0,
            "created_at": 1717415380, "updated_at": 1717415380, "custom_attributes": {"tier": "gold"},
            "tags": {"type": "tag.list", "tags": []}
        })
    }

    fn run(input: Input) -> Result<Value, Error> {
        let company_id = input::non_empty("company_id", &input.company_id)?;
        input.fields.validate()?;
        if input.remote_created_at.is_some_and(|t| t < 0) {
            return Err(invalid_input("remote_created_at", "must be a Unix time in seconds (not negative)"));
        }
        let mut body = input.fields.body();
        body["company_id"] = json!(company_id);
        if let Some(at) = input.remote_created_at {
            body["remote_created_at"] = json!(at);
        }
        if let Some(update) = input.update_last_request_at {
            body["update_last_request_at"] = json!(update);
        }
        Ok(ids_as_strings(intercom::post("/companies", &body).send()?))
    }
}

switchyard_sdk::export_action!(CreateOrUpdateCompany);
