//! Update Conversation: one action for everything Intercom spreads over three endpoints.
//! `POST /reply` for replies, `PUT` for read, title, custom attributes and company, and
//! `POST /parts` for assignment and state. They run in that order: a reply first (a contact's reply
//! reopens and unreads the conversation), then attributes (Intercom can require some before a close),
//! then assignment, and the state change last so that "reply and close" ends closed.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use switchyard_sdk::contact_ref::{ContactKey, ContactRef};
use switchyard_sdk::error::{invalid_input, with_context};
use switchyard_sdk::intercom::{self, segment};
use switchyard_sdk::output::ids_as_strings;
use switchyard_sdk::{Action, Error, admins, input};

struct UpdateConversation;

#[derive(Clone, Copy, Deserialize, JsonSchema, PartialEq)]
#[serde(rename_all = "snake_case")]
enum State {
    Open,
    Closed,
    Snoozed,
}

#[derive(Clone, Copy, Deserialize, JsonSchema, PartialEq, Default)]
#[serde(rename_all = "snake_case")]
enum ReplyType {
    #[default]
    Comment,
    Note,
}

#[derive(Clone, Copy, Deserialize, JsonSchema, PartialEq, Default)]
#[serde(rename_all = "snake_case")]
enum Author {
    #[default]
    Admin,
    Contact,
}

/// A reply to add to the conversation.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Reply {
    /// The reply's text. An admin's reply and note may use some HTML.
    #[schemars(title = "Message")]
    body: String,
    /// `comment` (the default) is seen by the contact; `note` only by teammates (admins only).
    #[schemars(title = "Reply or note")]
    message_type: Option<ReplyType>,
    /// `admin` (the default; the acting admin writes) or `contact` (written as the contact).
    #[schemars(title = "Written by")]
    author: Option<Author>,
    /// When a contact writes: which contact, by exactly one of `id`, `external_id` or `email`.
    #[schemars(title = "Contact", with = "ContactRef")]
    #[serde(default)]
    contact: Option<ContactRef>,
    /// Up to 10 image URLs to attach.
    #[schemars(title = "Attachment URLs")]
    attachment_urls: Option<Vec<String>>,
}

/// Update a conversation
///
/// Give the conversation's id and at least one change; what is left out stays as it is.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Input {
    /// The conversation's id.
    #[schemars(title = "Conversation ID")]
    id: String,
    /// `open`, `closed` or `snoozed` (snoozing needs `snoozed_until`).
    #[schemars(title = "State")]
    state: Option<State>,
    /// Snooze until this Unix time (seconds, in the future). Given alone, it snoozes.
    #[schemars(title = "Snoozed until")]
    snoozed_until: Option<i64>,
    /// The admin to assign the conversation to; "0" removes the assigned admin.
    #[schemars(title = "Assign to admin")]
    admin_assignee_id: Option<String>,
    /// The team to assign the conversation to; "0" removes the assigned team.
    #[schemars(title = "Assign to team")]
    team_assignee_id: Option<String>,
    /// Mark the conversation read (true) or unread (false).
    #[schemars(title = "Read")]
    read: Option<bool>,
    /// The conversation's new title.
    #[schemars(title = "Title")]
    title: Option<String>,
    /// Conversation data attributes to set, by name (they must exist in Intercom). null clears one.
    #[schemars(title = "Custom attributes")]
    custom_attributes: Option<Map<String, Value>>,
    /// The Intercom id of a company to link the conversation to.
    #[schemars(title = "Company ID")]
    company_id: Option<String>,
    /// A reply or an internal note to add.
    // A plain `$ref` rather than Option's `anyOf [Reply, null]`, so that a schema error inside the
    // reply names its field (`reply.body`), not just `reply`.
    #[schemars(title = "Reply", with = "Reply")]
    #[serde(default)]
    reply: Option<Reply>,
    /// The admin who acts (closes, assigns, replies); default: the admin the connection belongs to.
    #[schemars(title = "Acting admin ID")]
    admin_id: Option<String>,
}

/// One request of the update, validated before any is sent.
enum Step {
    Reply(Value),
    Attributes(Value),
    Parts(&'static str, Value),
}

impl Step {
    fn name(&self) -> &'static str {
        match self {
            Step::Reply(_) => "reply",
            Step::Attributes(_) => "attributes",
            Step::Parts(name, _) => name,
        }
    }
}

impl Action for UpdateConversation {
    type Input = Input;
    const NAME: &'static str = "Update Conversation";
    const SUMMARY: &'static str = "Changes a conversation in one step: reply (admin comment or note, or a contact's \
        reply), mark read or unread, set the title, custom attributes or company, assign or unassign (\"0\") an admin \
        or team, and open, close or snooze it. Returns the conversation as it is afterwards.";

    fn sample_output() -> Value {
        json!({
            "type": "conversation", "id": "147", "title": "Export fails", "state": "closed", "open": false,
            "read": true, "created_at": 1717415380, "updated_at": 1717419000,
            "admin_assignee_id": "991267", "team_assignee_id": "0", "custom_attributes": { "Priority reason": "VIP" },
            "conversation_parts": { "type": "conversation_part.list", "total_count": 2, "conversation_parts": [
                { "type": "conversation_part", "id": "1502", "part_type": "note", "body": "<p>Fixed in 4.2</p>",
                  "author": { "type": "admin", "id": "991267" } },
                { "type": "conversation_part", "id": "1503", "part_type": "close", "body": null,
                  "author": { "type": "admin", "id": "991267" } }
            ]}
        })
    }

    fn run(input: Input) -> Result<Value, Error> {
        let id = input::non_empty("id", &input.id)?;
        if let Some(admin) = &input.admin_id {
            admins::admin_id("admin_id", admin)?;
        }
        let state = validated_state(&input)?;
        let admin_assignee =
            input.admin_assignee_id.as_deref().map(|a| admins::admin_id("admin_assignee_id", a)).transpose()?;
        let team_assignee =
            input.team_assignee_id.as_deref().map(|t| input::non_empty("team_assignee_id", t)).transpose()?;
        let attributes = attributes_body(&input)?;
        let reply = input.reply.as_ref().map(validated_reply).transpose()?;
        let admin_acts =
            state.is_some() || admin_assignee.is_some() || team_assignee.is_some() || matches!(reply, Some((_, None)));
        if reply.is_none() && attributes.is_none() && !admin_acts {
            return Err(invalid_input(
                "state",
                "nothing to change: give at least one of state, snoozed_until, admin_assignee_id, team_assignee_id, \
                 read, title, custom_attributes, company_id or reply",
            ));
        }

        // Everything is valid; from here on requests are sent.
        let admin = if admin_acts { Some(admins::acting_admin("admin_id", input.admin_id.as_deref())?) } else { None };
        let admin = admin.as_deref().unwrap_or_default();
        let mut steps = Vec::new();
        if let Some((mut body, contact)) = reply {
            match contact {
                Some(key) => {
                    let (field, value) = key.reply_author();
                    body["type"] = json!("user");
                    body[field] = json!(value);
                }
                None => {
                    body["type"] = json!("admin");
                    body["admin_id"] = json!(admin);
                }
            }
            steps.push(Step::Reply(body));
        }
        if let Some(body) = attributes {
            steps.push(Step::Attributes(body));
        }
        for (kind, assignee) in [("admin", admin_assignee), ("team", team_assignee)] {
            if let Some(assignee) = assignee {
                let body =
                    json!({ "message_type": "assignment", "type": kind, "admin_id": admin, "assignee_id": assignee });
                let name = if assignee == "0" { "unassignment" } else { "assignment" };
                steps.push(Step::Parts(name, body));
            }
        }
        match state {
            Some(State::Open) => steps.push(Step::Parts("open", json!({ "message_type": "open", "admin_id": admin }))),
            Some(State::Closed) => {
                steps.push(Step::Parts("close", json!({ "message_type": "close", "type": "admin", "admin_id": admin })))
            }
            Some(State::Snoozed) => steps.push(Step::Parts(
                "snooze",
                json!({ "message_type": "snoozed", "admin_id": admin, "snoozed_until": input.snoozed_until }),
            )),
            None => {}
        }

        let path = format!("/conversations/{}", segment(id));
        let mut done: Vec<&str> = Vec::new();
        let mut conversation = Value::Null;
        for step in &steps {
            let call = match step {
                Step::Reply(body) => intercom::post(format!("{path}/reply"), body),
                Step::Attributes(body) => intercom::put(path.clone(), body),
                Step::Parts(_, body) => intercom::post(format!("{path}/parts"), body),
            };
            // Every endpoint answers with the whole conversation, so the last answer is the final state.
            conversation = call.send().map_err(|e| match done.as_slice() {
                [] => e,
                applied => {
                    with_context(e, &format!("{} failed after {} had been applied", step.name(), applied.join(", ")))
                }
            })?;
            done.push(step.name());
        }
        Ok(ids_as_strings(conversation))
    }
}

/// The state to set: `snoozed_until` alone means snooze, and a snooze needs its end.
fn validated_state(input: &Input) -> Result<Option<State>, Error> {
    match (input.state, input.snoozed_until) {
        (None, Some(until)) | (Some(State::Snoozed), Some(until)) => {
            input::future_time("snoozed_until", until)?;
            Ok(Some(State::Snoozed))
        }
        (Some(State::Snoozed), None) => {
            Err(invalid_input("snoozed_until", "snoozing needs snoozed_until (a Unix time)"))
        }
        (Some(_), Some(_)) => Err(invalid_input("snoozed_until", "only applies when the state is snoozed")),
        (state, None) => Ok(state),
    }
}

/// The `PUT /conversations/{id}` body, when any of its fields was given.
fn attributes_body(input: &Input) -> Result<Option<Value>, Error> {
    let mut body = Map::new();
    if let Some(read) = input.read {
        body.insert("read".into(), json!(read));
    }
    if let Some(title) = &input.title {
        body.insert("title".into(), json!(input::non_empty("title", title)?));
    }
    if let Some(attributes) = &input.custom_attributes {
        if attributes.is_empty() {
            return Err(invalid_input("custom_attributes", "give at least one attribute, or leave the field out"));
        }
        if let Some(key) = attributes.keys().find(|k| k.trim().is_empty()) {
            return Err(invalid_input(format!("custom_attributes.{key}"), "attribute names must not be empty"));
        }
        body.insert("custom_attributes".into(), Value::Object(attributes.clone()));
    }
    if let Some(company_id) = &input.company_id {
        body.insert("company_id".into(), json!(input::non_empty("company_id", company_id)?));
    }
    Ok((!body.is_empty()).then_some(Value::Object(body)))
}

/// The reply's body without its author fields, and the writing contact (None: an admin writes).
fn validated_reply(reply: &Reply) -> Result<(Value, Option<ContactKey>), Error> {
    let text = input::non_empty("reply.body", &reply.body)?;
    let message_type = reply.message_type.unwrap_or_default();
    let contact = match (reply.author.unwrap_or_default(), &reply.contact) {
        (Author::Admin, Some(_)) => {
            return Err(invalid_input("reply.contact", "only applies when the contact writes (reply.author: contact)"));
        }
        (Author::Admin, None) => None,
        (Author::Contact, None) => {
            return Err(invalid_input("reply.contact", "say which contact writes: one of id, external_id or email"));
        }
        (Author::Contact, Some(contact)) => {
            if message_type == ReplyType::Note {
                return Err(invalid_input(
                    "reply.message_type",
                    "only admins write notes; a contact's reply is a comment",
                ));
            }
            Some(contact.key("reply.contact")?)
        }
    };
    let kind = if message_type == ReplyType::Note { "note" } else { "comment" };
    let mut body = json!({ "message_type": kind, "body": text });
    if let Some(urls) = &reply.attachment_urls {
        input::at_most("reply.attachment_urls", urls, 10)?;
        body["attachment_urls"] = json!(urls);
    }
    Ok((body, contact))
}

switchyard_sdk::export_action!(UpdateConversation);
