//! Ticket Updated: a polling trigger. The polling itself (watermark, boundary keys, lag window, paging) is
//! the SDK's `polling` module; this crate says only what to watch.

use serde_json::{Value, json};
use switchyard_sdk::polling::{Feed, FeedTrigger, Source};

struct TicketUpdated;

impl FeedTrigger for TicketUpdated {
    const FEED: Feed = Feed {
        source: Source::FilteredSearch { path: "/tickets/search", list_key: "tickets" },
        field: "updated_at",
        new_only: false,
        lag_seconds: 300,
    };
    const NAME: &'static str = "Ticket Updated";
    const SUMMARY: &'static str = "Fires once for every change to a ticket (each new `updated_at`), including its creation. Each poll reads every page of the ticket search, whose order Intercom does not document.";

    fn sample_output() -> Value {
        json!({"type": "ticket", "id": "494", "ticket_id": "12", "category": "Customer", "ticket_type": {"type": "ticket_type", "id": "1", "name": "Bug report"}, "ticket_state": {"type": "ticket_state", "id": "2", "category": "in_progress"}, "open": true, "created_at": 1717415380, "updated_at": 1717419000, "ticket_attributes": {"_default_title_": "Login fails"}})
    }
}

switchyard_sdk::export_trigger!(TicketUpdated);
