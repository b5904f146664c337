//! New Ticket: a polling trigger. The polling itself (watermark, boundary keys, lag window, paging) is
//! the SDK's `polling` module; this crate says only what to watch.

use serde_json::{Value, json};
use switchyard_sdk::polling::{Feed, FeedTrigger, Source};

struct NewTicket;

impl FeedTrigger for NewTicket {
    const FEED: Feed = Feed {
        source: Source::FilteredSearch { path: "/tickets/search", list_key: "tickets" },
        field: "created_at",
        new_only: true,
        lag_seconds: 300,
    };
    const NAME: &'static str = "New Ticket";
    const SUMMARY: &'static str = "Fires once for every ticket created. Each poll reads every page of the ticket search, whose order Intercom does not document.";

    fn sample_output() -> Value {
        json!({"type": "ticket", "id": "494", "ticket_id": "12", "category": "Customer", "ticket_type": {"type": "ticket_type", "id": "1", "name": "Bug report"}, "ticket_state": {"type": "ticket_state", "id": "1", "category": "submitted"}, "open": true, "created_at": 1717415380, "updated_at": 1717415380, "ticket_attributes": {"_default_title_": "Login fails"}})
    }
}

switchyard_sdk::export_trigger!(NewTicket);
