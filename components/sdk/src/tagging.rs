//! What Assign Tags and Remove Tags share: the object being (un)tagged, the tags given by id or by
//! name, and the per-target shape of Intercom's tagging endpoints, which differ by object type
//! (contacts, conversations and tickets have `/{type}/{id}/tags`; companies are tagged through
//! `POST /tags`, by tag name).

use crate::error::not_found;
use crate::intercom::segment;
use crate::resolve::{self, TagRef};
use crate::{Error, input};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

/// The kinds of object Intercom can tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TargetType {
    Contact,
    Company,
    Conversation,
    Ticket,
}

impl TargetType {
    pub fn name(self) -> &'static str {
        match self {
            TargetType::Contact => "contact",
            TargetType::Company => "company",
            TargetType::Conversation => "conversation",
            TargetType::Ticket => "ticket",
        }
    }
}

/// The object whose tags change, and who changes them.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
pub struct Target {
    /// What kind of object to change: a contact, a company, a conversation or a ticket.
    #[schemars(title = "Object type")]
    pub target_type: TargetType,
    /// The object's Intercom id (for a ticket, its API id, not the inbox number).
    #[schemars(title = "Object ID")]
    pub target_id: String,
    /// The admin (teammate) a conversation's or ticket's tags are attributed to. Defaults to the
    /// admin the connection belongs to; not used for contacts and companies.
    #[schemars(title = "Admin ID")]
    pub admin_id: Option<String>,
}

/// One or more tags, by id or by name (both lists may be used together).
#[derive(Clone, Debug, Deserialize, JsonSchema)]
pub struct Tags {
    /// Tag ids.
    #[schemars(title = "Tag IDs")]
    #[serde(default)]
    pub tag_ids: Vec<String>,
    /// Tag names (matched case-insensitively, as Intercom does).
    #[schemars(title = "Tag names")]
    #[serde(default)]
    pub tag_names: Vec<String>,
}

/// A validated target, ready to build requests.
pub struct Checked {
    pub kind: TargetType,
    pub id: String,
    /// The acting admin, for conversations and tickets (see [`Checked::settle_admin`]).
    pub admin_id: Option<String>,
}

impl Target {
    /// Validates the target before any request, including a given admin id.
    pub fn check(&self) -> Result<Checked, Error> {
        let id = input::non_empty("target_id", &self.target_id)?.to_string();
        let admin_id = match (self.target_type, self.admin_id.as_deref()) {
            (TargetType::Conversation | TargetType::Ticket, Some(given)) => {
                Some(crate::admins::admin_id("admin_id", given)?.to_string())
            }
            _ => None,
        };
        Ok(Checked { kind: self.target_type, id, admin_id })
    }
}

impl Tags {
    /// Checks the tag inputs; call it before any request.
    pub fn validate(&self) -> Result<(), Error> {
        resolve::check_tags(&self.tag_ids, &self.tag_names)
    }

    /// Resolves the tags (see [`resolve::tags`]); company tagging needs every tag's name.
    /// `create_missing` is `None` where creating tags is no option (removing them).
    pub fn resolve(&self, target: &Checked, create_missing: Option<bool>) -> Result<Vec<TagRef>, Error> {
        resolve::tags(&self.tag_ids, &self.tag_names, create_missing, target.kind == TargetType::Company)
    }
}

impl Checked {
    /// `/contacts/{id}/tags`, `/conversations/{id}/tags` or `/tickets/{id}/tags`; companies have none.
    pub fn tags_path(&self) -> String {
        let collection = match self.kind {
            TargetType::Contact => "contacts",
            TargetType::Conversation => "conversations",
            TargetType::Ticket => "tickets",
            TargetType::Company => "companies",
        };
        format!("/{collection}/{}/tags", segment(&self.id))
    }

    /// Intercom attributes a conversation's or ticket's tags to an admin: without a given one, the
    /// connection's own admin acts (one `GET /me`), as in Intercom's UI. Call it after validation.
    pub fn settle_admin(&mut self) -> Result<(), Error> {
        if matches!(self.kind, TargetType::Conversation | TargetType::Ticket) && self.admin_id.is_none() {
            self.admin_id = Some(crate::admins::acting_admin("admin_id", None)?);
        }
        Ok(())
    }

    /// A body with the acting admin where the endpoint takes one, plus `extra`.
    pub fn body(&self, mut extra: Value) -> Value {
        if let Some(admin) = &self.admin_id {
            extra["admin_id"] = json!(admin);
        }
        extra
    }

    /// Company tagging: `POST /tags {name, companies: [{id, untag?}]}`. Intercom 2.16 skips a
    /// company it does not find instead of failing, so the company is checked first, and the
    /// answer's `tagged` flag is checked when tagging.
    pub fn tag_company(&self, tag: &TagRef, untag: bool) -> Result<Value, Error> {
        let name = tag.name.as_deref().ok_or_else(|| crate::error::internal("company tagging needs the tag's name"))?;
        let mut company = json!({ "id": self.id });
        if untag {
            company["untag"] = json!(true);
        }
        let answer = crate::intercom::post("/tags", &json!({ "name": name, "companies": [company] })).send()?;
        let tagged = answer
            .get("companies")
            .and_then(Value::as_array)
            .and_then(|list| list.iter().find(|c| c.get("id").and_then(Value::as_str) == Some(self.id.as_str())))
            .and_then(|c| c.get("tagged"))
            .and_then(Value::as_bool);
        if !untag && tagged != Some(true) {
            return Err(not_found(format!(
                "Intercom did not tag company {}: no company has that Intercom id",
                self.id
            )));
        }
        Ok(answer)
    }

    /// Companies are checked up front, because company tagging does not fail on an unknown company.
    pub fn ensure_exists(&self) -> Result<(), Error> {
        if self.kind == TargetType::Company {
            resolve::company_by_id(&self.id)?;
        }
        Ok(())
    }

    /// The action's output: Intercom's tag objects, as a tag list, and which object changed.
    pub fn output(&self, tags: Vec<Value>) -> Value {
        crate::output::ids_as_strings(json!({
            "type": "tag.list",
            "tags": tags,
            "target": { "type": self.kind.name(), "id": self.id },
        }))
    }
}
