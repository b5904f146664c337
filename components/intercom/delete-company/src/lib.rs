//! Delete Company: Intercom archives the company; it does not erase it.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_sdk::intercom::{self, segment};
use switchyard_sdk::output::ids_as_strings;
use switchyard_sdk::{Action, Error, resolve};

struct DeleteCompany;

/// Delete (archive) a company
///
/// Give exactly one of `id` or `company_id`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Input {
    /// The company's Intercom id.
    #[schemars(title = "Company ID (Intercom)")]
    id: Option<String>,
    /// The id your own system gave the company; it is looked up first.
    #[schemars(title = "Company ID (yours)")]
    company_id: Option<String>,
}

const EFFECT: &str = "Intercom archives a deleted company rather than erasing it: it disappears from the \
    workspace and its contacts are detached in the background, but its data is kept, and a synced \
    integration (such as Salesforce) may bring it back.";

impl Action for DeleteCompany {
    type Input = Input;
    const NAME: &'static str = "Delete Company";
    const SUMMARY: &'static str = "Deletes a company the way Intercom does: it is ARCHIVED, not erased. It leaves \
        the workspace and its contacts are detached in the background, but Intercom keeps its data, and a synced \
        integration may recreate it.";

    fn sample_output() -> Value {
        json!({
            "id": "6657adc96abd0167d9419d1e", "object": "company", "deleted": true, "archived": true,
            "note": EFFECT
        })
    }

    fn run(input: Input) -> Result<Value, Error> {
        let id = resolve::company_intercom_id(input.id.as_deref(), input.company_id.as_deref(), ("id", "company_id"))?;
        let answer = intercom::delete(format!("/companies/{}", segment(&id))).send()?;
        let mut out = ids_as_strings(answer);
        if let Some(map) = out.as_object_mut() {
            map.insert("archived".into(), json!(true));
            map.insert("note".into(), json!(EFFECT));
        }
        Ok(out)
    }
}

switchyard_sdk::export_action!(DeleteCompany);
