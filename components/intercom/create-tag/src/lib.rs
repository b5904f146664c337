//! Create Tag: an upsert by name (Intercom matches tag names case-insensitively).

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_sdk::output::ids_as_strings;
use switchyard_sdk::{Action, Error, input, resolve};

struct CreateTag;

/// Create a tag
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Input {
    /// The tag's name. If a tag with this name exists (in any letter case), that tag is returned.
    #[schemars(title = "Name")]
    name: String,
    /// To rename a tag instead: the id of the existing tag that gets the new `name`.
    #[schemars(title = "Tag ID to rename")]
    id: Option<String>,
}

impl Action for CreateTag {
    type Input = Input;
    const NAME: &'static str = "Create Tag";
    const SUMMARY: &'static str = "Creates a tag, or returns the existing tag with the same name (names are \
        case-insensitive), so running it twice is harmless. With an id, renames that tag instead.";

    fn sample_output() -> Value {
        json!({ "type": "tag", "id": "656452352", "name": "VIP" })
    }

    fn run(input: Input) -> Result<Value, Error> {
        let name = input::non_empty("name", &input.name)?;
        let id = match &input.id {
            Some(id) => Some(input::non_empty("id", id)?),
            None => None,
        };
        Ok(ids_as_strings(resolve::create_tag(name, id)?))
    }
}

switchyard_sdk::export_action!(CreateTag);
