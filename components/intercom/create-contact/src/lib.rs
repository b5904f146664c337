//! Create Contact: a user or a lead. A duplicate answers the existing contact, so re-runs are safe.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_sdk::error::invalid_input;
use switchyard_sdk::fields::ContactFields;
use switchyard_sdk::intercom::{self, as_conflict, segment};
use switchyard_sdk::output::ids_as_strings;
use switchyard_sdk::{Action, Error, log};

struct CreateContact;

/// Create a contact
///
/// Give at least one of `email`, `external_id` or `role`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Input {
    #[serde(flatten)]
    fields: ContactFields,
}

impl Action for CreateContact {
    type Input = Input;
    const NAME: &'static str = "Create Contact";
    const SUMMARY: &'static str = "Creates a user or a lead. If a contact with the same email or external_id \
        already exists, Intercom refuses the duplicate and this action returns the existing contact instead, \
        unchanged. The output is the contact plus `existing`: false when it was created now, true when it \
        already existed.";

    fn sample_output() -> Value {
        json!({
            "type": "contact", "id": "6657add46abd0167d9419cd2", "role": "user", "email": "ada@example.com",
            "external_id": "user-42", "name": "Ada Lovelace", "phone": null, "owner_id": null,
            "created_at": 1717415380, "updated_at": 1717415380, "custom_attributes": {"plan": "pro"},
            "existing": false
        })
    }

    fn run(input: Input) -> Result<Value, Error> {
        let fields = input.fields;
        fields.validate()?;
        if fields.email.is_none() && fields.external_id.is_none() && fields.role.is_none() {
            return Err(invalid_input("email", "give at least one of: email, external_id, role"));
        }
        let (contact, existing) = match intercom::post("/contacts", &fields.body()).send() {
            Ok(contact) => (contact, false),
            Err(error) => match as_conflict(&error).and_then(|c| c.existing_id.clone()) {
                Some(id) => {
                    log::info(&format!("a contact with these details already exists ({id}); returning it"));
                    (intercom::get(format!("/contacts/{}", segment(&id))).send()?, true)
                }
                None => return Err(error),
            },
        };
        let mut out = ids_as_strings(contact);
        if let Some(map) = out.as_object_mut() {
            map.insert("existing".into(), json!(existing));
        }
        Ok(out)
    }
}

switchyard_sdk::export_action!(CreateContact);
