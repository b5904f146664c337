//! New Or Updated Company: a polling trigger. The polling itself (watermark, boundary keys, lag window, paging) is
//! the SDK's `polling` module; this crate says only what to watch.

use serde_json::{Value, json};
use switchyard_sdk::polling::{Feed, FeedTrigger, Source};

struct NewOrUpdatedCompany;

impl FeedTrigger for NewOrUpdatedCompany {
    const FEED: Feed = Feed {
        source: Source::Scroll { path: "/companies/scroll", sample_path: "/companies/list" },
        field: "updated_at",
        new_only: false,
        lag_seconds: 60,
    };
    const NAME: &'static str = "New Or Updated Company";
    const SUMMARY: &'static str = "Fires once for every company created or changed (each new `updated_at`). Intercom has no company search, so every poll scrolls all companies (one scroll per workspace at a time); companies with no contacts are not listed by Intercom and never fire.";

    fn sample_output() -> Value {
        json!({"type": "company", "id": "6657adc96abd0167d9419d1f", "company_id": "acme-1", "name": "Acme", "plan": {}, "size": 120, "website": "https://acme.example", "industry": "Manufacturing", "monthly_spend": 0, "session_count": 0, "user_count": 3, "created_at": 1717415380, "updated_at": 1717415900, "remote_created_at": null, "last_request_at": null, "custom_attributes": {}, "tags": {"type": "tag.list", "tags": []}})
    }
}

switchyard_sdk::export_trigger!(NewOrUpdatedCompany);
