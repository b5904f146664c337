//! New Added Contact: a polling trigger. The polling itself (watermark, boundary keys, lag window, paging) is
//! the SDK's `polling` module; this crate says only what to watch.

use serde_json::{Value, json};
use switchyard_sdk::polling::{Feed, FeedTrigger, Source};

struct NewAddedContact;

impl FeedTrigger for NewAddedContact {
    const FEED: Feed = Feed {
        source: Source::SortedSearch { path: "/contacts/search", list_key: "data" },
        field: "created_at",
        new_only: true,
        lag_seconds: 600,
    };
    const NAME: &'static str = "New Added Contact";
    const SUMMARY: &'static str = "Fires once for every contact (user or lead) created. Intercom's contact search lags creation by minutes and compares dates by day, so each poll re-reads a lag window and filters on the exact timestamp.";

    fn sample_output() -> Value {
        json!({"type": "contact", "id": "6657add46abd0167d9419cd2", "role": "user", "email": "ada@example.com", "external_id": "user-42", "name": "Ada Lovelace", "created_at": 1717415380, "updated_at": 1717415380, "custom_attributes": {}})
    }
}

switchyard_sdk::export_trigger!(NewAddedContact);
