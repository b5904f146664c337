//! Remove Tags: one or more tags, by id or by name, from a contact, company, conversation or ticket.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_sdk::intercom::{self, segment};
use switchyard_sdk::tagging::{Tags, Target, TargetType};
use switchyard_sdk::{Action, Error};

struct RemoveTags;

/// Remove tags
///
/// Give the object, and at least one tag in `tag_ids` or `tag_names`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Input {
    #[serde(flatten)]
    target: Target,
    #[serde(flatten)]
    tags: Tags,
}

impl Action for RemoveTags {
    type Input = Input;
    const NAME: &'static str = "Remove Tags";
    const SUMMARY: &'static str = "Removes one or more tags, given by id or by name, from a contact, company, \
        conversation or ticket; the tags themselves stay in the workspace. For conversations and tickets the \
        change is attributed to the given admin, or else to the connection's own. Returns the removed tags.";

    fn sample_output() -> Value {
        json!({
            "type": "tag.list",
            "tags": [{"type": "tag", "id": "656452352", "name": "VIP"}],
            "target": {"type": "contact", "id": "6657add46abd0167d9419cd2"}
        })
    }

    fn run(input: Input) -> Result<Value, Error> {
        let mut target = input.target.check()?;
        input.tags.validate()?;
        target.ensure_exists()?;
        target.settle_admin()?;
        let tags = input.tags.resolve(&target, None)?;
        let mut removed = Vec::with_capacity(tags.len());
        for tag in &tags {
            let path = format!("{}/{}", target.tags_path(), segment(&tag.id));
            let answer = match target.kind {
                TargetType::Company => target.tag_company(tag, true)?,
                TargetType::Contact => intercom::delete(path).send()?,
                // Conversations and tickets take the acting admin in a DELETE body.
                TargetType::Conversation | TargetType::Ticket => {
                    intercom::delete(path).json(&target.body(json!({}))).send()?
                }
            };
            removed.push(answer);
        }
        Ok(target.output(removed))
    }
}

switchyard_sdk::export_action!(RemoveTags);
