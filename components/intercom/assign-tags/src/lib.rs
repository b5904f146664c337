//! Assign Tags: one or more tags, by id or by name, to a contact, company, conversation or ticket.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_sdk::tagging::{Tags, Target, TargetType};
use switchyard_sdk::{Action, Error, intercom};

struct AssignTags;

/// Assign tags
///
/// Give the object, and at least one tag in `tag_ids` or `tag_names`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Input {
    #[serde(flatten)]
    target: Target,
    #[serde(flatten)]
    tags: Tags,
    /// Create the tags named in `tag_names` that do not exist yet. Off: a missing name is an error.
    #[schemars(title = "Create missing tags")]
    #[serde(default)]
    create_missing: bool,
}

impl Action for AssignTags {
    type Input = Input;
    const NAME: &'static str = "Assign Tags";
    const SUMMARY: &'static str = "Tags a contact, company, conversation or ticket with one or more tags, given by \
        id or by name (optionally creating missing ones). Tagging twice is harmless. A conversation's or ticket's tags \
        are attributed to the given admin, or else to the connection's own. Returns the applied tags.";

    fn sample_output() -> Value {
        json!({
            "type": "tag.list",
            "tags": [{"type": "tag", "id": "656452352", "name": "VIP", "applied_at": 1717415380,
                      "applied_by": {"type": "admin", "id": "991267583"}}],
            "target": {"type": "contact", "id": "6657add46abd0167d9419cd2"}
        })
    }

    fn run(input: Input) -> Result<Value, Error> {
        let mut target = input.target.check()?;
        input.tags.validate()?;
        target.ensure_exists()?;
        target.settle_admin()?;
        let tags = input.tags.resolve(&target, Some(input.create_missing))?;
        let mut applied = Vec::with_capacity(tags.len());
        for tag in &tags {
            let answer = match target.kind {
                TargetType::Company => target.tag_company(tag, false)?,
                _ => intercom::post(target.tags_path(), &target.body(json!({ "id": tag.id }))).send()?,
            };
            applied.push(answer);
        }
        Ok(target.output(applied))
    }
}

switchyard_sdk::export_action!(AssignTags);
