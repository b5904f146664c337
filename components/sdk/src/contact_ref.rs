//! A contact named by exactly one of its identifiers, as several actions take it (Create Ticket's
//! contact, a contact's reply to a conversation). Intercom spells the identifiers differently per
//! endpoint; `ContactKey` renders each spelling so components never rebuild it.

use crate::{Error, input};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

/// A contact: give exactly one of `id`, `external_id` or `email`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactRef {
    /// The contact's Intercom id.
    #[schemars(title = "Contact ID")]
    pub id: Option<String>,
    /// The id your own system gave the contact (Intercom's `external_id`).
    #[schemars(title = "External ID")]
    pub external_id: Option<String>,
    /// The contact's email address.
    #[schemars(title = "Email")]
    pub email: Option<String>,
}

/// The one identifier a `ContactRef` gave, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContactKey {
    Id(String),
    ExternalId(String),
    Email(String),
}

impl ContactRef {
    /// Validates the reference; `field` is where it sits in the input (`contact`, `reply.contact`),
    /// so an error names the full path.
    pub fn key(&self, field: &str) -> Result<ContactKey, Error> {
        let names = [format!("{field}.id"), format!("{field}.external_id"), format!("{field}.email")];
        let chosen = input::exactly_one(&[
            (names[0].as_str(), self.id.is_some()),
            (names[1].as_str(), self.external_id.is_some()),
            (names[2].as_str(), self.email.is_some()),
        ])?
        .to_string();
        let text = |value: &Option<String>| {
            input::non_empty(&chosen, value.as_deref().unwrap_or_default()).map(str::to_string)
        };
        if chosen == names[0] {
            Ok(ContactKey::Id(text(&self.id)?))
        } else if chosen == names[1] {
            Ok(ContactKey::ExternalId(text(&self.external_id)?))
        } else {
            let email = text(&self.email)?;
            input::email(&chosen, &email)?;
            Ok(ContactKey::Email(email))
        }
    }
}

impl ContactKey {
    /// The `contacts[]` item of `POST /tickets`: `{id}`, `{external_id}` or `{email}`.
    pub fn ticket_contact(&self) -> Value {
        match self {
            ContactKey::Id(id) => json!({ "id": id }),
            ContactKey::ExternalId(external_id) => json!({ "external_id": external_id }),
            ContactKey::Email(email) => json!({ "email": email }),
        }
    }

    /// The author fields of a contact's `POST /conversations/{id}/reply`: `intercom_user_id`,
    /// `user_id` (the external id) or `email`.
    pub fn reply_author(&self) -> (&'static str, &str) {
        match self {
            ContactKey::Id(id) => ("intercom_user_id", id),
            ContactKey::ExternalId(external_id) => ("user_id", external_id),
            ContactKey::Email(email) => ("email", email),
        }
    }
}
