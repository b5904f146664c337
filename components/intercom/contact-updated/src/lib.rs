//! Contact Updated: a polling trigger. The polling itself (watermark, boundary keys, lag window, paging) is
//! the SDK's `polling` module; this crate says only what to watch.

use serde_json::{Value, json};
use switchyard_sdk::polling::{Feed, FeedTrigger, Source};

struct ContactUpdated;

impl FeedTrigger for ContactUpdated {
    const FEED: Feed = Feed {
        source: Source::SortedSearch { path: "/contacts/search", list_key: "data" },
        field: "updated_at",
        new_only: false,
        lag_seconds: 600,
    };
    const NAME: &'static str = "Contact Updated";
    const SUMMARY: &'static str = "Fires once for every change to a contact (each new `updated_at`), including its creation. Intercom's contact search lags by minutes and compares dates by day, so each poll re-reads a lag window and filters on the exact timestamp; merged-away contacts drop out.";

    fn sample_output() -> Value {
        json!({"type": "contact", "id": "6657add46abd0167d9419cd2", "role": "user", "email": "ada@example.com", "external_id": "user-42", "name": "Ada Lovelace", "created_at": 1717415380, "updated_at": 1717419000, "custom_attributes": {}})
    }
}

switchyard_sdk::export_trigger!(ContactUpdated);
