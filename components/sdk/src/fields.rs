//! Input fields shared by the actions that write the same Intercom object (Create Contact and Update
//! Contact, Create or Update Company and Update Company). Components flatten these into their input
//! (`#[serde(flatten)]`), so each field's label, help text and checks are written once; serializing
//! a value gives the request body, without the fields that were not given.

use crate::error::invalid_input;
use crate::{Error, input};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Custom attribute values Intercom stores: text, numbers, true/false, or null to clear one.
/// Nested objects and lists are refused before sending, naming the attribute.
pub fn custom_attributes(field: &str, attributes: &Map<String, Value>) -> Result<(), Error> {
    for (name, value) in attributes {
        if name.trim().is_empty() {
            return Err(invalid_input(field, "attribute names must not be empty"));
        }
        if value.is_object() || value.is_array() {
            return Err(invalid_input(
                format!("{field}.{name}"),
                "must be text, a number, true/false, or null to clear it; nested objects and lists are not custom attribute values",
            ));
        }
    }
    Ok(())
}

/// Whether a contact is a signed-up user or a lead (an anonymous or not-yet-signed-up visitor).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    User,
    Lead,
}

/// The writable fields of a contact (`POST /contacts`, `PUT /contacts/{id}`).
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
pub struct ContactFields {
    /// `user` (signed up) or `lead`. A new contact without a role is a user.
    #[schemars(title = "Role")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// The contact's email address.
    #[schemars(title = "Email")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Set true when you have verified that the contact owns the email; only together with `email`.
    #[schemars(title = "Email verified")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// The id your own system gives this contact (unique per workspace).
    #[schemars(title = "External ID")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Full name.
    #[schemars(title = "Name")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Phone number, ideally in international format (+353871234567).
    #[schemars(title = "Phone")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// The URL of an image to show as the contact's avatar.
    #[schemars(title = "Avatar URL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avatar: Option<String>,
    /// When the contact signed up, as a Unix time in seconds.
    #[schemars(title = "Signed up at")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_up_at: Option<i64>,
    /// When the contact was last seen, as a Unix time in seconds.
    #[schemars(title = "Last seen at")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen_at: Option<i64>,
    /// The id of the admin (teammate) who owns this contact.
    #[schemars(title = "Owner (admin ID)")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<String>,
    /// Whether the contact has unsubscribed from emails.
    #[schemars(title = "Unsubscribed from emails")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unsubscribed_from_emails: Option<bool>,
    /// Values of custom data attributes, by attribute name: text, numbers, true/false, or null to
    /// clear one. The attributes must already exist in Intercom (Settings → Data → People).
    #[schemars(title = "Custom attributes")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_attributes: Option<Map<String, Value>>,
}

impl ContactFields {
    /// Checks what Intercom would refuse, before anything is sent.
    pub fn validate(&self) -> Result<(), Error> {
        if let Some(email) = &self.email {
            input::email("email", email)?;
        }
        if self.email_verified.is_some() && self.email.is_none() {
            return Err(invalid_input(
                "email_verified",
                "give it only together with `email` (Intercom refuses it alone)",
            ));
        }
        for (field, value) in [("external_id", &self.external_id), ("owner_id", &self.owner_id)] {
            if let Some(value) = value {
                input::non_empty(field, value)?;
            }
        }
        if let Some(owner) = &self.owner_id {
            crate::admins::admin_id("owner_id", owner)?;
        }
        if let Some(avatar) = &self.avatar
            && !(avatar.starts_with("https://") || avatar.starts_with("http://"))
        {
            return Err(invalid_input("avatar", "must be the http(s) URL of an image"));
        }
        for (field, time) in [("signed_up_at", self.signed_up_at), ("last_seen_at", self.last_seen_at)] {
            if time.is_some_and(|t| t < 0) {
                return Err(invalid_input(field, "must be a Unix time in seconds (not negative)"));
            }
        }
        if let Some(attributes) = &self.custom_attributes {
            custom_attributes("custom_attributes", attributes)?;
        }
        Ok(())
    }

    /// The request body: only the fields that were given.
    pub fn body(&self) -> Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    pub fn is_empty(&self) -> bool {
        self.body().as_object().is_none_or(Map::is_empty)
    }
}

/// The writable fields of a company that both the upsert and the update take.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
pub struct CompanyFields {
    /// The company's name.
    #[schemars(title = "Name")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The name of the plan the company is on.
    #[schemars(title = "Plan")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    /// The number of employees.
    #[schemars(title = "Size (employees)")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u32>,
    /// The company's website URL (Intercom does not check it).
    #[schemars(title = "Website")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    /// The industry the company works in.
    #[schemars(title = "Industry")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub industry: Option<String>,
    /// Revenue from this company, in whole currency units (at most 2147483647).
    #[schemars(title = "Monthly spend", range(max = 2147483647))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monthly_spend: Option<u32>,
    /// Values of custom company attributes, by attribute name: text, numbers, true/false, or null to
    /// clear one. The attributes must already exist in Intercom (Settings → Data → Companies).
    #[schemars(title = "Custom attributes")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_attributes: Option<Map<String, Value>>,
}

impl CompanyFields {
    /// Checks what Intercom would refuse, before anything is sent.
    pub fn validate(&self) -> Result<(), Error> {
        if let Some(name) = &self.name {
            input::non_empty("name", name)?;
        }
        if self.monthly_spend.is_some_and(|m| m > i32::MAX as u32) {
            return Err(invalid_input("monthly_spend", "must be at most 2147483647 (Intercom's limit)"));
        }
        if let Some(attributes) = &self.custom_attributes {
            custom_attributes("custom_attributes", attributes)?;
        }
        Ok(())
    }

    /// The request body: only the fields that were given.
    pub fn body(&self) -> Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    pub fn is_empty(&self) -> bool {
        self.body().as_object().is_none_or(Map::is_empty)
    }
}
