//! Find Company: by Intercom id, by your own company_id, or by name.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_sdk::output::ids_as_strings;
use switchyard_sdk::{Action, Error, input, resolve};

struct FindCompany;

/// Find a company
///
/// Give exactly one of `id`, `company_id` or `name`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Input {
    /// The company's Intercom id.
    #[schemars(title = "Company ID (Intercom)")]
    id: Option<String>,
    /// The id your own system gave the company.
    #[schemars(title = "Company ID (yours)")]
    company_id: Option<String>,
    /// The company's name (case-insensitive). Names are not unique: when several companies share
    /// one, the most recently updated is returned.
    #[schemars(title = "Name")]
    name: Option<String>,
}

impl Action for FindCompany {
    type Input = Input;
    const NAME: &'static str = "Find Company";
    const SUMMARY: &'static str = "Finds one company by Intercom id, by your company_id, or by name, and returns \
        the company itself (not a list). Not found is an error, never an empty result.";

    fn sample_output() -> Value {
        json!({
            "type": "company", "id": "6657adc96abd0167d9419d1e", "company_id": "acme-1", "name": "Acme",
            "plan": {"type": "plan", "id": "plan-pro", "name": "Pro"}, "size": 120, "monthly_spend": 1000,
            "user_count": 3, "session_count": 12, "created_at": 1717415380, "updated_at": 1717415380,
            "custom_attributes": {}, "tags": {"type": "tag.list", "tags": []}
        })
    }

    fn run(input: Input) -> Result<Value, Error> {
        let by = input::exactly_one(&[
            ("id", input.id.is_some()),
            ("company_id", input.company_id.is_some()),
            ("name", input.name.is_some()),
        ])?;
        let value = |v: &Option<String>| input::non_empty(by, v.as_deref().unwrap_or_default()).map(str::to_string);
        let company = match by {
            "id" => resolve::company_by_id(&value(&input.id)?)?,
            "company_id" => resolve::company_by_company_id(&value(&input.company_id)?)?,
            _ => resolve::company_by_name(&value(&input.name)?)?,
        };
        Ok(ids_as_strings(company))
    }
}

switchyard_sdk::export_action!(FindCompany);
