//! Health Score (acme/health-score): a third-party action. Reads a contact and its conversations,
//! computes a 0-100 customer-health score, and writes it back as a custom attribute.
//!
//! The score, deliberately simple and explained in the output so it can be audited:
//! start at 50; +20 if the contact was seen in the last 7 days (+10 within 30 days, -20 if never or
//! over 90 days ago); +3 per conversation in the last 90 days (at most +15); -10 per open
//! conversation (at most -30). Clamped to 0..=100.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_sdk::intercom::{self, filter, segment};
use switchyard_sdk::{Action, Error, input};

struct HealthScore;

/// Compute a customer-health score
///
/// Writes the score (0-100) to the contact's custom attribute, which must exist in the workspace.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Input {
    /// The contact's Intercom id.
    #[schemars(title = "Contact ID")]
    contact_id: String,
    /// The custom attribute to write the score to (a number attribute). Default: health_score.
    #[schemars(title = "Attribute")]
    #[serde(default = "default_attribute")]
    attribute: String,
}

fn default_attribute() -> String {
    "health_score".into()
}

const DAY: i64 = 86_400;
/// The most conversations read: enough to saturate the score's conversation term many times over.
const CONVERSATION_PAGE: u32 = 50;

impl Action for HealthScore {
    type Input = Input;
    const NAME: &'static str = "Health Score";
    const SUMMARY: &'static str = "Scores a contact's health from 0 to 100 from its recent activity and open \
        conversations, and writes the score to one of its custom attributes (overwriting it).";

    fn sample_output() -> Value {
        json!({
            "contact_id": "6657add46abd0167d9419cd2", "attribute": "health_score", "score": 73,
            "factors": {"base": 50, "recency": 20, "conversations": 3, "open_conversations": 0},
            "conversations": 1, "open_conversations": 0
        })
    }

    fn run(input: Input) -> Result<Value, Error> {
        let id = input::non_empty("contact_id", &input.contact_id)?;
        let attribute = input::non_empty("attribute", &input.attribute)?;
        let path = format!("/contacts/{}", segment(id));
        let contact = intercom::get(path.clone()).send()?;
        let now = switchyard_sdk::now() as i64;

        let query = json!({"query": filter("contact_ids", "=", id)});
        let page = intercom::search_page("/conversations/search", "conversations", query, CONVERSATION_PAGE, None)?;
        let recent = page
            .items
            .iter()
            .filter(|c| c.get("created_at").and_then(Value::as_i64).is_some_and(|t| now - t <= 90 * DAY))
            .count() as i64;
        let open = page.items.iter().filter(|c| c.get("state").and_then(Value::as_str) == Some("open")).count() as i64;

        let recency = match contact.get("last_seen_at").and_then(Value::as_i64) {
            Some(seen) if now - seen <= 7 * DAY => 20,
            Some(seen) if now - seen <= 30 * DAY => 10,
            Some(seen) if now - seen <= 90 * DAY => 0,
            _ => -20,
        };
        let conversations = (recent * 3).min(15);
        let open_penalty = -(open * 10).min(30);
        let score = (50 + recency + conversations + open_penalty).clamp(0, 100);

        let body = json!({"custom_attributes": {attribute: score}});
        intercom::put(path, &body).send()?;
        Ok(json!({
            "contact_id": id,
            "attribute": attribute,
            "score": score,
            "factors": {"base": 50, "recency": recency, "conversations": conversations, "open_conversations": open_penalty},
            "conversations": page.items.len(),
            "open_conversations": open,
        }))
    }
}

switchyard_sdk::export_action!(HealthScore);
