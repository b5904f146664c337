//! Delete Tag: removes a tag from the workspace and from everything it was applied to.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_sdk::error::conflict;
use switchyard_sdk::intercom::{self, segment};
use switchyard_sdk::{Action, Error, input, resolve};

struct DeleteTag;

/// Delete a tag
///
/// Give exactly one of `id` or `name`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Input {
    /// The tag's id.
    #[schemars(title = "Tag ID")]
    id: Option<String>,
    /// The tag's name (case-insensitive); it is looked up first.
    #[schemars(title = "Tag name")]
    name: Option<String>,
}

impl Action for DeleteTag {
    type Input = Input;
    const NAME: &'static str = "Delete Tag";
    const SUMMARY: &'static str = "Deletes a tag permanently and removes it from every contact, company, \
        conversation and ticket that has it. Intercom refuses to delete a tag that is in use elsewhere (by \
        rules, messages or reports): that is a conflict error saying so.";

    fn sample_output() -> Value {
        json!({ "type": "tag", "id": "656452352", "name": "VIP", "deleted": true })
    }

    fn run(input: Input) -> Result<Value, Error> {
        let by = input::exactly_one(&[("id", input.id.is_some()), ("name", input.name.is_some())])?;
        let (id, name) = if by == "id" {
            (input::non_empty("id", input.id.as_deref().unwrap_or_default())?.to_string(), None)
        } else {
            let name = input::non_empty("name", input.name.as_deref().unwrap_or_default())?;
            let tag = resolve::tags(&[], &[name.to_string()], None, false)?.remove(0);
            (tag.id, tag.name)
        };
        // Intercom answers 200 with no body, or 400 `tag_has_dependent_objects` for a tag in use.
        match intercom::delete(format!("/tags/{}", segment(&id))).send() {
            Ok(_) => Ok(json!({ "type": "tag", "id": id, "name": name, "deleted": true })),
            Err(Error::Upstream(e)) if e.code == "tag_has_dependent_objects" => Err(conflict(
                format!(
                    "tag {id} is in use (by rules, messages or other automation) and Intercom will not delete it \
                     until those stop using it. Intercom says: {} ({})",
                    e.message, e.code
                ),
                Some(id),
            )),
            Err(other) => Err(other),
        }
    }
}

switchyard_sdk::export_action!(DeleteTag);
