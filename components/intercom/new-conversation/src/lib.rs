//! New Conversation: a polling trigger. The polling itself (watermark, boundary keys, lag window, paging) is
//! the SDK's `polling` module; this crate says only what to watch.

use serde_json::{Value, json};
use switchyard_sdk::polling::{Feed, FeedTrigger, Source};

struct NewConversation;

impl FeedTrigger for NewConversation {
    const FEED: Feed = Feed {
        source: Source::FilteredSearch { path: "/conversations/search", list_key: "conversations" },
        field: "created_at",
        new_only: true,
        lag_seconds: 300,
    };
    const NAME: &'static str = "New Conversation";
    const SUMMARY: &'static str = "Fires once for every conversation started. The payload is the search result (no conversation parts). Each poll reads every page of the conversation search, whose order Intercom does not document.";

    fn sample_output() -> Value {
        json!({"type": "conversation", "id": "1295", "title": null, "state": "open", "open": true, "read": false, "priority": "none", "admin_assignee_id": 0, "team_assignee_id": 0, "created_at": 1717415380, "updated_at": 1717415380, "waiting_since": 1717415380, "source": {"type": "conversation", "delivered_as": "customer_initiated", "body": "<p>Hello</p>", "author": {"type": "user", "id": "6657add46abd0167d9419cd2"}}, "contacts": {"type": "contact.list", "contacts": [{"type": "contact", "id": "6657add46abd0167d9419cd2"}]}})
    }
}

switchyard_sdk::export_trigger!(NewConversation);
