//! Create Conversation: started by a contact (`POST /conversations`) or by an admin (`POST /messages`).
//! Both answer with a message; the action returns the conversation it belongs to, once one exists.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_sdk::error::invalid_input;
use switchyard_sdk::intercom::{self, segment};
use switchyard_sdk::output::ids_as_strings;
use switchyard_sdk::{Action, Error, admins, conversations, input};

struct CreateConversation;

#[derive(Clone, Copy, Deserialize, JsonSchema, PartialEq)]
#[serde(rename_all = "snake_case")]
enum Initiator {
    Contact,
    Admin,
}

#[derive(Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Role {
    User,
    Lead,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Lead => "lead",
        }
    }
}

#[derive(Clone, Copy, Deserialize, JsonSchema, PartialEq)]
#[serde(rename_all = "snake_case")]
enum MessageType {
    InApp,
    Email,
}

#[derive(Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Template {
    Plain,
    Personal,
}

/// Create a conversation
///
/// A contact can start a conversation (as if writing in the Messenger), or an admin can message a
/// contact. An admin's message becomes a conversation when the contact replies, or at once with
/// `create_conversation_without_contact_reply`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Input {
    /// `contact`: the contact writes first. `admin`: an admin messages the contact.
    #[schemars(title = "Started by")]
    initiated_by: Initiator,
    /// The contact's Intercom id: the sender when the contact starts, the recipient when an admin does.
    #[schemars(title = "Contact ID")]
    contact_id: String,
    /// The contact's role. Left out, a contact-started conversation says `contact` and an admin's
    /// message looks the role up.
    #[schemars(title = "Contact role")]
    contact_role: Option<Role>,
    /// The message. Plain text when a contact writes; an admin's message may use HTML.
    #[schemars(title = "Message")]
    body: String,
    /// The email subject; required when an admin sends an email.
    #[schemars(title = "Subject")]
    subject: Option<String>,
    /// Admin only: the admin who sends the message (default: the admin the connection belongs to).
    #[schemars(title = "Sending admin ID")]
    admin_id: Option<String>,
    /// Admin only: `in_app` (the default) or `email`.
    #[schemars(title = "Channel")]
    message_type: Option<MessageType>,
    /// Admin email only: `plain` (the default) or `personal` styling.
    #[schemars(title = "Email template")]
    template: Option<Template>,
    /// Admin only: open the conversation in the inbox now instead of when the contact replies.
    #[schemars(title = "Open the conversation now")]
    create_conversation_without_contact_reply: Option<bool>,
    /// Contact only: up to 10 image URLs to attach.
    #[schemars(title = "Attachment URLs")]
    attachment_urls: Option<Vec<String>>,
    /// When the message was sent, as a Unix time in seconds (for importing history; default now).
    #[schemars(title = "Created at")]
    created_at: Option<i64>,
}

impl Action for CreateConversation {
    type Input = Input;
    const NAME: &'static str = "Create Conversation";
    const SUMMARY: &'static str = "Starts a conversation, either from a contact or as an admin's in-app or email \
        message to a contact. Returns the conversation (with the created message under `message`); an admin's \
        message that has no conversation yet (until the contact replies) returns the message with \
        `conversation_id: null` and a note saying so.";

    fn sample_output() -> Value {
        json!({
            "type": "conversation", "id": "147", "state": "open", "open": true, "read": false,
            "created_at": 1717415380, "updated_at": 1717415380,
            "source": { "type": "conversation", "id": "147", "delivered_as": "customer_initiated",
                        "body": "<p>My export fails</p>", "author": { "type": "user", "id": "6657add46abd0167d9419cd2" } },
            "contacts": { "type": "contact.list", "contacts": [{ "type": "contact", "id": "6657add46abd0167d9419cd2" }] },
            "message": { "type": "user_message", "id": "403918", "created_at": 1717415380,
                         "body": "<p>My export fails</p>", "message_type": "inapp", "conversation_id": "147" }
        })
    }

    fn run(input: Input) -> Result<Value, Error> {
        let contact_id = input::non_empty("contact_id", &input.contact_id)?;
        let body = input::non_empty("body", &input.body)?;
        let subject = input.subject.as_deref().map(|s| input::non_empty("subject", s)).transpose()?;
        let message = match input.initiated_by {
            Initiator::Contact => {
                refuse_admin_only(&input)?;
                let role = input.contact_role.map_or("contact", Role::as_str);
                let mut request = json!({ "from": { "type": role, "id": contact_id }, "body": body });
                if let Some(subject) = subject {
                    request["subject"] = json!(subject);
                }
                if let Some(urls) = &input.attachment_urls {
                    input::at_most("attachment_urls", urls, 10)?;
                    request["attachment_urls"] = json!(urls);
                }
                if let Some(created_at) = input.created_at {
                    request["created_at"] = json!(created_at);
                }
                intercom::post("/conversations", &request).send()?
            }
            Initiator::Admin => {
                if input.attachment_urls.is_some() {
                    return Err(invalid_input(
                        "attachment_urls",
                        "attachments can only be sent when the contact starts the conversation",
                    ));
                }
                let message_type = input.message_type.unwrap_or(MessageType::InApp);
                if message_type == MessageType::Email && subject.is_none() {
                    return Err(invalid_input("subject", "an email needs a subject"));
                }
                if message_type != MessageType::Email && input.template.is_some() {
                    return Err(invalid_input("template", "a template only applies to email messages"));
                }
                if let Some(admin) = &input.admin_id {
                    admins::admin_number("admin_id", admin)?;
                }
                // All input is valid: the look-ups below are the first requests.
                let admin = admins::acting_admin("admin_id", input.admin_id.as_deref())?;
                let admin = admins::admin_number("admin_id", &admin)?;
                let role = match input.contact_role {
                    Some(role) => role.as_str().to_string(),
                    None => contact_role(contact_id)?,
                };
                let mut request = json!({
                    "message_type": if message_type == MessageType::Email { "email" } else { "in_app" },
                    "body": body,
                    // The spec types the sender's admin id as an integer.
                    "from": { "type": "admin", "id": admin },
                    "to": { "type": role, "id": contact_id },
                });
                if let Some(subject) = subject {
                    request["subject"] = json!(subject);
                }
                if message_type == MessageType::Email {
                    let template = match input.template.unwrap_or(Template::Plain) {
                        Template::Plain => "plain",
                        Template::Personal => "personal",
                    };
                    request["template"] = json!(template);
                }
                if let Some(now) = input.create_conversation_without_contact_reply {
                    request["create_conversation_without_contact_reply"] = json!(now);
                }
                if let Some(created_at) = input.created_at {
                    request["created_at"] = json!(created_at);
                }
                intercom::post("/messages", &request).send()?
            }
        };
        let message = ids_as_strings(message);
        match message.get("conversation_id").and_then(Value::as_str).filter(|id| !id.is_empty()) {
            Some(conversation_id) => {
                let mut conversation = ids_as_strings(conversations::get(conversation_id, false)?);
                conversation["message"] = message;
                Ok(conversation)
            }
            None => {
                let mut out = message;
                out["conversation_id"] = Value::Null;
                out["note"] = json!(
                    "The message was sent; Intercom opens its conversation when the contact replies \
                     (set create_conversation_without_contact_reply to open it at once)."
                );
                Ok(out)
            }
        }
    }
}

/// Inputs that only mean something for an admin's message are refused rather than ignored.
fn refuse_admin_only(input: &Input) -> Result<(), Error> {
    let admin_only = [
        ("admin_id", input.admin_id.is_some()),
        ("message_type", input.message_type.is_some()),
        ("template", input.template.is_some()),
        ("create_conversation_without_contact_reply", input.create_conversation_without_contact_reply.is_some()),
    ];
    match admin_only.iter().find(|(_, given)| *given) {
        Some((field, _)) => {
            Err(invalid_input(*field, "only applies when an admin starts the conversation (initiated_by: admin)"))
        }
        None => Ok(()),
    }
}

/// A recipient must be typed `user` or `lead`: ask Intercom which this contact is.
fn contact_role(contact_id: &str) -> Result<String, Error> {
    let contact = intercom::get(format!("/contacts/{}", segment(contact_id))).send()?;
    match contact.get("role").and_then(Value::as_str) {
        Some(role @ ("user" | "lead")) => Ok(role.to_string()),
        _ => Err(invalid_input(
            "contact_role",
            "Intercom did not say whether the contact is a user or a lead: give contact_role",
        )),
    }
}

switchyard_sdk::export_action!(CreateConversation);
