//! Update Company: by Intercom id; only the given fields change.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_sdk::error::invalid_input;
use switchyard_sdk::fields::CompanyFields;
use switchyard_sdk::intercom::{self, segment};
use switchyard_sdk::output::ids_as_strings;
use switchyard_sdk::{Action, Error, input};

struct UpdateCompany;

/// Update a company
///
/// Only the fields you give change. A company's own `company_id` cannot be changed.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Input {
    /// The company's Intercom id (Find Company gives it from your `company_id` or the name).
    #[schemars(title = "Company ID (Intercom)")]
    id: String,
    #[serde(flatten)]
    fields: CompanyFields,
}

impl Action for UpdateCompany {
    type Input = Input;
    const NAME: &'static str = "Update Company";
    const SUMMARY: &'static str = "Changes the given fields of a company found by its Intercom id; the other \
        fields keep their values. Custom attributes are merged (null clears one).";

    fn sample_output() -> Value {
        json!({
            "type": "company", "id": "6657adc96abd0167d9419d1e", "company_id": "acme-1", "name": "Acme Inc",
            "plan": {"type": "plan", "id": "plan-pro", "name": "Pro"}, "size": 150, "monthly_spend": 1200,
            "user_count": 3, "created_at": 1717415380, "updated_at": 1717501780,
            "custom_attributes": {"tier": "platinum"}, "tags": {"type": "tag.list", "tags": []}
        })
    }

    fn run(input: Input) -> Result<Value, Error> {
        let id = input::non_empty("id", &input.id)?;
        input.fields.validate()?;
        if input.fields.is_empty() {
            return Err(invalid_input("", "give at least one field to change besides the id"));
        }
        let answer = intercom::put(format!("/companies/{}", segment(id)), &input.fields.body()).send()?;
        Ok(ids_as_strings(answer))
    }
}

switchyard_sdk::export_action!(UpdateCompany);
