//! The ticket and conversation actions end to end: each component runs in the host against the
//! emulator in strict mode. Every action has a normal case that reads the resulting emulator state
//! back (not only the action's answer), a bad-input case and an upstream-error case.

mod common;

use common::*;
use intercom_emulator::state::{Conversation, Ticket};
use serde_json::{Value, json};
use switchyard::runtime::bindings::ComponentError;

const CREATE_TICKET: &str = "intercom/create-ticket";
const UPDATE_TICKET: &str = "intercom/update-ticket";
const FIND_TICKET: &str = "intercom/find-ticket";
const DELETE_TICKET: &str = "intercom/delete-ticket";
const CONVERT: &str = "intercom/convert-conversation-to-ticket";
const CREATE_CONVERSATION: &str = "intercom/create-conversation";
const UPDATE_CONVERSATION: &str = "intercom/update-conversation";
const FIND_CONVERSATION: &str = "intercom/find-conversation";
const DELETE_CONVERSATION: &str = "intercom/delete-conversation";

fn ticket_state(env: &ActionEnv, id: &str) -> Option<Ticket> {
    env.emu.state().with_workspace(|ws| ws.ticket(id).cloned())
}

fn conversation_state(env: &ActionEnv, id: &str) -> Option<Conversation> {
    env.emu.state().with_workspace(|ws| ws.conversation(id).cloned())
}

/// The workspace's ticket types by category: (Customer, Back-office).
fn ticket_types(env: &ActionEnv) -> (String, String) {
    env.emu.state().with_workspace(|ws| {
        let of = |category: &str| ws.ticket_types.iter().find(|t| t.category == category).unwrap().id.clone();
        (of("Customer"), of("Back-office"))
    })
}

fn ticket_state_id(env: &ActionEnv, category: &str) -> String {
    env.emu.state().with_workspace(|ws| ws.ticket_states.iter().find(|s| s.category == category).unwrap().id.clone())
}

/// Admin ids other than the connection's own, and a team id.
fn other_admin_and_team(env: &ActionEnv) -> (String, String) {
    env.emu.state().with_workspace(|ws| {
        let admin = ws.admins.iter().find(|a| a.id != ws.me_admin_id).unwrap().id.clone();
        (admin, ws.teams[0].id.clone())
    })
}

fn counts(env: &ActionEnv) -> (usize, usize, usize) {
    env.emu.state().with_workspace(|ws| (ws.tickets.len(), ws.conversations.len(), ws.messages.len()))
}

fn parts(env: &ActionEnv, conversation: &str) -> usize {
    conversation_state(env, conversation).unwrap().parts.len()
}

fn in_an_hour(env: &ActionEnv) -> i64 {
    env.emu.state().now() + 3600
}

// ---------------------------------------------------------------------------------------------
// Tickets

#[tokio::test]
async fn create_ticket_for_a_contact_with_attributes_company_and_assignees() {
    let env = action_env().await;
    let contact = env.user("ada@example.com").await;
    let (customer, _) = ticket_types(&env);
    let (admin, team) = other_admin_and_team(&env);
    let company = env.post("/companies", json!({"company_id": "acme-1", "name": "Acme"})).await;
    let company = id_text(&company["id"]);
    let out = env
        .ok(
            CREATE_TICKET,
            json!({
                "ticket_type_id": customer, "contact": {"id": contact},
                "title": "Export fails", "description": "CSV export times out",
                "company_id": company, "admin_assignee_id": admin, "team_assignee_id": team,
            }),
        )
        .await;
    assert_eq!(out["type"], "ticket");
    // Ids are strings in the output, even those Intercom 2.16 sends as integers.
    assert_eq!(out["admin_assignee_id"], json!(admin));
    assert_eq!(out["team_assignee_id"], json!(team));
    let stored = ticket_state(&env, out["id"].as_str().unwrap()).expect("the ticket exists");
    assert_eq!(stored.ticket_type_id, customer);
    assert_eq!(stored.contact_ids, vec![contact]);
    assert_eq!(stored.attributes["_default_title_"], "Export fails");
    assert_eq!(stored.attributes["_default_description_"], "CSV export times out");
    assert_eq!(stored.company_id.as_deref(), Some(company.as_str()));
    assert_eq!(stored.admin_assignee_id.to_string(), admin);
    assert_eq!(stored.team_assignee_id.to_string(), team);

    // By email: an unknown email creates the contact.
    let out = env
        .ok(CREATE_TICKET, json!({"ticket_type_id": customer, "contact": {"email": "new@example.com"}, "title": "Hi"}))
        .await;
    let stored = ticket_state(&env, out["id"].as_str().unwrap()).unwrap();
    let created = env.emu.state().with_workspace(|ws| ws.contact_by_email("new@example.com").map(|c| c.id.clone()));
    assert_eq!(Some(stored.contact_ids[0].clone()), created);

    // By the contact's external id.
    let grace =
        create_contact(&env.emu, json!({"role": "user", "email": "grace@example.com", "external_id": "g-7"})).await;
    let out = env.ok(CREATE_TICKET, json!({"ticket_type_id": customer, "contact": {"external_id": "g-7"}})).await;
    assert_eq!(ticket_state(&env, out["id"].as_str().unwrap()).unwrap().contact_ids, vec![id_text(&grace["id"])]);
}

#[tokio::test]
async fn create_ticket_bad_input_is_refused_before_sending() {
    let env = action_env().await;
    let contact = env.user("ada@example.com").await;
    let (customer, _) = ticket_types(&env);
    let cases = [
        (json!({"contact": {"id": contact}}), "ticket_type_id"),
        (json!({"ticket_type_id": customer}), "contact"),
        (json!({"ticket_type_id": customer, "contact": {}}), "contact.id"),
        (json!({"ticket_type_id": customer, "contact": {"id": contact, "email": "a@example.com"}}), "contact.email"),
        (json!({"ticket_type_id": customer, "contact": {"email": "not an email"}}), "contact.email"),
        (json!({"ticket_type_id": " ", "contact": {"id": contact}}), "ticket_type_id"),
        (json!({"ticket_type_id": customer, "contact": {"id": contact}, "title": "  "}), "title"),
        (
            json!({"ticket_type_id": customer, "contact": {"id": contact}, "attributes": {"priority": {"a": 1}}}),
            "attributes.priority",
        ),
        (
            json!({"ticket_type_id": customer, "contact": {"id": contact}, "title": "A",
                   "attributes": {"_default_title_": "B"}}),
            "attributes._default_title_",
        ),
        (
            json!({"ticket_type_id": customer, "contact": {"id": contact}, "admin_assignee_id": "ada"}),
            "admin_assignee_id",
        ),
        (json!({"ticket_type_id": customer, "contact": {"id": contact}, "priority": "high"}), "priority"),
    ];
    for (input, field) in cases {
        env.invalid(CREATE_TICKET, input, field).await;
    }
    assert_eq!(counts(&env).0, 0, "no ticket was created");
}

#[tokio::test]
async fn create_ticket_upstream_errors() {
    let env = action_env().await;
    let contact = env.user("ada@example.com").await;
    let (customer, _) = ticket_types(&env);
    env.not_found(CREATE_TICKET, json!({"ticket_type_id": customer, "contact": {"id": "ffffffffffffffffffffffff"}}))
        .await;
    env.not_found(
        CREATE_TICKET,
        json!({"ticket_type_id": customer, "contact": {"id": contact}, "admin_assignee_id": "999"}),
    )
    .await;
    // Intercom names the field it refuses: an unknown ticket type.
    env.invalid(CREATE_TICKET, json!({"ticket_type_id": "424242", "contact": {"id": contact}}), "ticket_type_id").await;
    assert_eq!(counts(&env).0, 0);
}

#[tokio::test]
async fn update_ticket_state_assignee_attributes_snooze_and_close() {
    let env = action_env().await;
    let contact = env.user("ada@example.com").await;
    let id = env.ticket_for(&contact, "Export fails").await;
    let (admin, _) = other_admin_and_team(&env);
    let in_progress = ticket_state_id(&env, "in_progress");
    let until = in_an_hour(&env);
    let out = env
        .ok(
            UPDATE_TICKET,
            json!({"id": id, "ticket_state_id": in_progress, "assignee_id": admin, "title": "Export fails on Safari",
                   "attributes": {"_default_description_": "Only Safari"}, "snoozed_until": until,
                   "admin_id": env.me_admin()}),
        )
        .await;
    assert_eq!(out["admin_assignee_id"], json!(admin));
    let stored = ticket_state(&env, &id).unwrap();
    assert_eq!(stored.ticket_state_id, in_progress);
    assert_eq!(stored.admin_assignee_id.to_string(), admin);
    assert_eq!(stored.attributes["_default_title_"], "Export fails on Safari");
    assert_eq!(stored.attributes["_default_description_"], "Only Safari");
    assert_eq!(stored.snoozed_until, Some(until));
    assert!(stored.previous_ticket_state_id.is_some());

    // Closing ends the snooze; "0" unassigns.
    let out = env.ok(UPDATE_TICKET, json!({"id": id, "open": false, "assignee_id": "0"})).await;
    assert_eq!(out["open"], false);
    assert_eq!(out["admin_assignee_id"], "0");
    let stored = ticket_state(&env, &id).unwrap();
    assert!(!stored.open);
    assert_eq!(stored.snoozed_until, None);
    assert_eq!(stored.admin_assignee_id, 0);
    assert_eq!(stored.attributes["_default_title_"], "Export fails on Safari", "left-out fields stay");
}

#[tokio::test]
async fn update_ticket_bad_input_and_upstream_errors() {
    let env = action_env().await;
    let contact = env.user("ada@example.com").await;
    let id = env.ticket_for(&contact, "Export fails").await;
    let before = ticket_state(&env, &id).unwrap();
    let past = env.emu.state().now() - 60;
    let cases = [
        (json!({"id": id}), "ticket_state_id"),
        (json!({"open": false}), "id"),
        (json!({"id": id, "snoozed_until": past}), "snoozed_until"),
        (json!({"id": id, "open": false, "snoozed_until": in_an_hour(&env)}), "snoozed_until"),
        (json!({"id": id, "open": "no"}), "open"),
        (json!({"id": id, "open": true, "admin_id": "ada@example.com"}), "admin_id"),
        (json!({"id": id, "assignee_id": ""}), "assignee_id"),
    ];
    for (input, field) in cases {
        env.invalid(UPDATE_TICKET, input, field).await;
    }
    assert_eq!(ticket_state(&env, &id).unwrap().updated_at, before.updated_at, "nothing was sent");

    env.not_found(UPDATE_TICKET, json!({"id": "999999", "open": false})).await;
    env.not_found(UPDATE_TICKET, json!({"id": id, "assignee_id": "999"})).await;
    // A state of no ticket type: Intercom's own code comes back.
    match env.err(UPDATE_TICKET, json!({"id": id, "ticket_state_id": "1"})).await {
        ComponentError::Upstream(e) => assert_eq!(e.code, "ticket_state_id_invalid", "{e:?}"),
        other => panic!("expected an upstream error, got {other:?}"),
    }
}

#[tokio::test]
async fn find_ticket_by_id_and_by_inbox_number() {
    let env = action_env().await;
    let contact = env.user("ada@example.com").await;
    env.ticket_for(&contact, "First").await;
    let id = env.ticket_for(&contact, "Second").await;
    let number = ticket_state(&env, &id).unwrap().ticket_id;
    assert_ne!(number, id, "the inbox number differs from the API id");
    for input in [json!({"id": id}), json!({"ticket_id": format!("#{number}")}), json!({"ticket_id": number})] {
        let out = env.ok(FIND_TICKET, input.clone()).await;
        assert_eq!(out["id"], json!(id), "{input}");
        assert_eq!(out["ticket_id"], json!(number));
        assert_eq!(out["ticket_attributes"]["_default_title_"], "Second");
    }
}

#[tokio::test]
async fn find_ticket_bad_input_and_not_found() {
    let env = action_env().await;
    let contact = env.user("ada@example.com").await;
    let id = env.ticket_for(&contact, "First").await;
    env.invalid(FIND_TICKET, json!({}), "id").await;
    env.invalid(FIND_TICKET, json!({"id": id, "ticket_id": "1"}), "ticket_id").await;
    env.invalid(FIND_TICKET, json!({"ticket_id": "abc"}), "ticket_id").await;
    env.invalid(FIND_TICKET, json!({"id": 5}), "id").await;
    env.not_found(FIND_TICKET, json!({"id": "999999"})).await;
    let message = env.not_found(FIND_TICKET, json!({"ticket_id": "#999"})).await;
    assert!(message.contains("#999"), "{message}");
}

#[tokio::test]
async fn delete_ticket_is_permanent_and_says_so() {
    let env = action_env().await;
    let contact = env.user("ada@example.com").await;
    let id = env.ticket_for(&contact, "Spam").await;
    let out = env.ok(DELETE_TICKET, json!({"id": id})).await;
    assert_eq!(out["id"], json!(id));
    assert_eq!(out["deleted"], true);
    assert_eq!(out["permanent"], true);
    assert!(out["note"].as_str().unwrap().contains("permanently"));
    assert!(ticket_state(&env, &id).is_none(), "the ticket is gone");
    let (status, _) = env.get(&format!("/tickets/{id}")).await;
    assert_eq!(status, 404);
    // The description says it too.
    let component = env.bundle.component(DELETE_TICKET).unwrap();
    assert!(component.description.summary.contains("PERMANENTLY"));

    // Deleting it again: not found. Bad input never reaches Intercom.
    env.not_found(DELETE_TICKET, json!({"id": id})).await;
    env.invalid(DELETE_TICKET, json!({}), "id").await;
    env.invalid(DELETE_TICKET, json!({"id": "  "}), "id").await;
}

#[tokio::test]
async fn convert_conversation_to_ticket_links_both() {
    let env = action_env().await;
    let contact = env.user("ada@example.com").await;
    let conversation = env.conversation_from(&contact, "I want a refund").await;
    let (customer, _) = ticket_types(&env);
    let in_progress = ticket_state_id(&env, "in_progress");
    let out = env
        .ok(
            CONVERT,
            json!({"conversation_id": conversation, "ticket_type_id": customer, "ticket_state_id": in_progress,
                   "title": "Refund", "attributes": {"_default_description_": "Order 42"}}),
        )
        .await;
    assert_eq!(out["type"], "ticket");
    let ticket = out["id"].as_str().unwrap().to_string();
    let stored = ticket_state(&env, &ticket).unwrap();
    assert_eq!(stored.ticket_state_id, in_progress);
    assert_eq!(stored.attributes["_default_title_"], "Refund");
    assert_eq!(stored.attributes["_default_description_"], "Order 42");
    assert_eq!(stored.linked_conversation_ids, vec![conversation.clone()]);
    assert_eq!(stored.contact_ids, vec![contact]);
    assert_eq!(conversation_state(&env, &conversation).unwrap().linked_ticket_ids, vec![ticket]);
}

#[tokio::test]
async fn convert_conversation_to_ticket_bad_input_and_upstream_errors() {
    let env = action_env().await;
    let contact = env.user("ada@example.com").await;
    let conversation = env.conversation_from(&contact, "Hello").await;
    let (customer, back_office) = ticket_types(&env);
    env.invalid(CONVERT, json!({"conversation_id": conversation}), "ticket_type_id").await;
    env.invalid(CONVERT, json!({"ticket_type_id": customer}), "conversation_id").await;
    env.invalid(
        CONVERT,
        json!({"conversation_id": conversation, "ticket_type_id": customer, "attributes": {"x": {"y": 1}}}),
        "attributes.x",
    )
    .await;
    assert_eq!(counts(&env).0, 0);

    env.not_found(CONVERT, json!({"conversation_id": "999999", "ticket_type_id": customer})).await;
    // Only Customer ticket types convert; Intercom says which field is wrong.
    env.invalid(CONVERT, json!({"conversation_id": conversation, "ticket_type_id": back_office}), "ticket_type_id")
        .await;
    assert_eq!(counts(&env).0, 0);
}

// ---------------------------------------------------------------------------------------------
// Conversations

#[tokio::test]
async fn create_conversation_started_by_a_contact_returns_the_conversation() {
    let env = action_env().await;
    let contact = env.user("ada@example.com").await;
    let out = env
        .ok(
            CREATE_CONVERSATION,
            json!({"initiated_by": "contact", "contact_id": contact, "body": "My export fails", "contact_role": "user"}),
        )
        .await;
    assert_eq!(out["type"], "conversation");
    let id = out["id"].as_str().unwrap().to_string();
    assert_eq!(out["message"]["conversation_id"], json!(id));
    assert!(out["source"]["body"].as_str().unwrap().contains("My export fails"));
    let stored = conversation_state(&env, &id).expect("the conversation exists");
    assert_eq!(stored.contact_ids, vec![contact.clone()]);
    assert_eq!(stored.source_author_id, contact);
    assert_eq!(stored.source_delivered_as, "customer_initiated");
    assert!(stored.source_body.contains("My export fails"));

    // Without a role the sender is typed `contact`, which Intercom accepts for users and leads alike.
    let out =
        env.ok(CREATE_CONVERSATION, json!({"initiated_by": "contact", "contact_id": contact, "body": "Again"})).await;
    let stored = conversation_state(&env, out["id"].as_str().unwrap()).expect("the second conversation exists");
    assert!(stored.source_body.contains("Again"));
    assert_eq!(counts(&env).1, 2);
}

#[tokio::test]
async fn create_conversation_by_an_admin_with_and_without_a_conversation_yet() {
    let env = action_env().await;
    let lead = create_contact(&env.emu, json!({"role": "lead", "email": "lead@example.com"})).await;
    let lead = id_text(&lead["id"]);
    let (admin, _) = other_admin_and_team(&env);

    // An in-app message has no conversation until the contact replies: the output says so.
    let out = env
        .ok(
            CREATE_CONVERSATION,
            json!({"initiated_by": "admin", "contact_id": lead, "body": "Welcome!", "admin_id": admin}),
        )
        .await;
    assert_eq!(out["type"], "admin_message");
    assert_eq!(out["conversation_id"], Value::Null);
    assert!(out["note"].as_str().unwrap().contains("replies"), "{out}");
    let (tickets, conversations, messages) = counts(&env);
    assert_eq!((tickets, conversations, messages), (0, 0, 1));
    let message = env.emu.state().with_workspace(|ws| ws.messages[0].clone());
    assert_eq!(message.message_type, "inapp");
    assert!(message.body.contains("Welcome!"));

    // An email opened at once: the conversation comes back, sent by the connection's own admin (and
    // the lead's role was looked up, since `to` must say user or lead).
    let out = env
        .ok(
            CREATE_CONVERSATION,
            json!({"initiated_by": "admin", "contact_id": lead, "body": "Your invoice", "message_type": "email",
                   "subject": "Invoice 42", "create_conversation_without_contact_reply": true}),
        )
        .await;
    assert_eq!(out["type"], "conversation");
    assert_eq!(out["message"]["type"], "admin_message");
    let stored = conversation_state(&env, out["id"].as_str().unwrap()).expect("the conversation exists");
    assert_eq!(stored.source_type, "email");
    assert_eq!(stored.source_subject, "Invoice 42");
    assert_eq!(stored.source_author_type, "admin");
    assert_eq!(stored.source_author_id, env.me_admin());
    assert_eq!(stored.contact_ids, vec![lead]);
}

#[tokio::test]
async fn create_conversation_bad_input_and_unknown_contact() {
    let env = action_env().await;
    let contact = env.user("ada@example.com").await;
    let cases = [
        (json!({"contact_id": contact, "body": "Hi"}), "initiated_by"),
        (json!({"initiated_by": "bot", "contact_id": contact, "body": "Hi"}), "initiated_by"),
        (json!({"initiated_by": "contact", "body": "Hi"}), "contact_id"),
        (json!({"initiated_by": "contact", "contact_id": contact, "body": " "}), "body"),
        (json!({"initiated_by": "contact", "contact_id": contact, "body": "Hi", "admin_id": "1"}), "admin_id"),
        (
            json!({"initiated_by": "contact", "contact_id": contact, "body": "Hi", "message_type": "email"}),
            "message_type",
        ),
        (
            json!({"initiated_by": "contact", "contact_id": contact, "body": "Hi",
                   "attachment_urls": vec!["https://example.com/a.png"; 11]}),
            "attachment_urls",
        ),
        (json!({"initiated_by": "admin", "contact_id": contact, "body": "Hi", "message_type": "email"}), "subject"),
        (json!({"initiated_by": "admin", "contact_id": contact, "body": "Hi", "message_type": "sms"}), "message_type"),
        (json!({"initiated_by": "admin", "contact_id": contact, "body": "Hi", "admin_id": "ciaran"}), "admin_id"),
        (json!({"initiated_by": "admin", "contact_id": contact, "body": "Hi", "template": "plain"}), "template"),
        (
            json!({"initiated_by": "admin", "contact_id": contact, "body": "Hi",
                   "attachment_urls": ["https://example.com/a.png"]}),
            "attachment_urls",
        ),
    ];
    for (input, field) in cases {
        env.invalid(CREATE_CONVERSATION, input, field).await;
    }
    assert_eq!(counts(&env), (0, 0, 0), "nothing was created");

    let nobody = "ffffffffffffffffffffffff";
    env.not_found(CREATE_CONVERSATION, json!({"initiated_by": "contact", "contact_id": nobody, "body": "Hi"})).await;
    env.not_found(CREATE_CONVERSATION, json!({"initiated_by": "admin", "contact_id": nobody, "body": "Hi"})).await;
    env.not_found(
        CREATE_CONVERSATION,
        json!({"initiated_by": "admin", "contact_id": contact, "body": "Hi", "admin_id": "999"}),
    )
    .await;
    assert_eq!(counts(&env), (0, 0, 0));
}

#[tokio::test]
async fn update_conversation_close_with_a_note_first() {
    let env = action_env().await;
    let contact = env.user("ada@example.com").await;
    let id = env.conversation_from(&contact, "Help").await;
    let out = env
        .ok(
            UPDATE_CONVERSATION,
            json!({"id": id, "state": "closed", "reply": {"body": "Fixed in 4.2", "message_type": "note"}}),
        )
        .await;
    assert_eq!(out["state"], "closed");
    let stored = conversation_state(&env, &id).unwrap();
    assert_eq!(stored.state, "closed");
    // The note came first, then the close, both by the connection's admin (GET /me).
    let kinds: Vec<&str> = stored.parts.iter().map(|p| p.part_type.as_str()).collect();
    assert_eq!(kinds, ["note", "close"]);
    assert!(stored.parts[0].body.as_deref().unwrap().contains("Fixed in 4.2"));
    assert!(stored.parts.iter().all(|p| p.author_type == "admin" && p.author_id == env.me_admin()));
    assert_eq!(stored.first_admin_reply_at, None, "a note is not a reply to the contact");

    // Reopen.
    env.ok(UPDATE_CONVERSATION, json!({"id": id, "state": "open"})).await;
    assert_eq!(conversation_state(&env, &id).unwrap().state, "open");
}

#[tokio::test]
async fn update_conversation_assign_and_unassign() {
    let env = action_env().await;
    let contact = env.user("ada@example.com").await;
    let id = env.conversation_from(&contact, "Help").await;
    let (admin, team) = other_admin_and_team(&env);
    let out = env
        .ok(
            UPDATE_CONVERSATION,
            json!({"id": id, "admin_assignee_id": admin, "team_assignee_id": team, "admin_id": admin}),
        )
        .await;
    assert_eq!(out["admin_assignee_id"], json!(admin), "ids come back as strings");
    assert_eq!(out["team_assignee_id"], json!(team));
    let stored = conversation_state(&env, &id).unwrap();
    assert_eq!(stored.admin_assignee_id.to_string(), admin);
    assert_eq!(stored.team_assignee_id.to_string(), team);
    assert_eq!(stored.parts.len(), 2);
    assert!(stored.parts.iter().all(|p| p.part_type == "assignment" && p.author_id == admin));

    let out = env.ok(UPDATE_CONVERSATION, json!({"id": id, "admin_assignee_id": "0", "team_assignee_id": "0"})).await;
    assert_eq!(out["admin_assignee_id"], "0");
    let stored = conversation_state(&env, &id).unwrap();
    assert_eq!((stored.admin_assignee_id, stored.team_assignee_id), (0, 0));
}

#[tokio::test]
async fn update_conversation_snooze_title_attributes_and_read() {
    let env = action_env().await;
    let contact = env.user("ada@example.com").await;
    let id = env.conversation_from(&contact, "Help").await;
    let until = in_an_hour(&env);
    env.ok(
        UPDATE_CONVERSATION,
        json!({"id": id, "snoozed_until": until, "title": "Export bug", "read": true,
               "custom_attributes": {"Issue type": "Bug", "Order": 42}}),
    )
    .await;
    let stored = conversation_state(&env, &id).unwrap();
    assert_eq!(stored.state, "snoozed");
    assert_eq!(stored.snoozed_until, Some(until));
    assert_eq!(stored.title.as_deref(), Some("Export bug"));
    assert!(stored.read);
    assert_eq!(stored.custom_attributes["Issue type"], "Bug");
    assert_eq!(stored.custom_attributes["Order"], 42, "custom attributes are the customer's data, kept as given");
}

#[tokio::test]
async fn update_conversation_replies_as_admin_and_as_contact() {
    let env = action_env().await;
    let contact = env.user("ada@example.com").await;
    let id = env.conversation_from(&contact, "Help").await;
    env.ok(UPDATE_CONVERSATION, json!({"id": id, "state": "closed"})).await;
    env.ok(
        UPDATE_CONVERSATION,
        json!({"id": id, "reply": {"body": "Still broken", "author": "contact",
                                                            "contact": {"email": "ada@example.com"}}}),
    )
    .await;
    let stored = conversation_state(&env, &id).unwrap();
    assert_eq!(stored.state, "open", "a contact's reply reopens the conversation");
    let last = stored.parts.last().unwrap();
    assert_eq!((last.part_type.as_str(), last.author_id.as_str()), ("comment", contact.as_str()));
    // The contact by its Intercom id and by its external id (Intercom's `intercom_user_id` and `user_id`).
    let grace =
        create_contact(&env.emu, json!({"role": "user", "email": "grace@example.com", "external_id": "g-7"})).await;
    let grace = id_text(&grace["id"]);
    for who in [json!({"id": contact}), json!({"external_id": "g-7"})] {
        env.ok(
            UPDATE_CONVERSATION,
            json!({"id": id, "reply": {"body": "Me too", "author": "contact", "contact": who}}),
        )
        .await;
    }
    let stored = conversation_state(&env, &id).unwrap();
    let authors: Vec<&str> = stored.parts.iter().rev().take(2).map(|p| p.author_id.as_str()).collect();
    assert_eq!(authors, [grace.as_str(), contact.as_str()]);
    assert!(stored.contact_ids.contains(&grace), "a new participant joins the conversation");

    // An admin's reply, then marked read after it.
    let out = env.ok(UPDATE_CONVERSATION, json!({"id": id, "reply": {"body": "On it"}, "read": true})).await;
    assert_eq!(out["read"], true);
    let stored = conversation_state(&env, &id).unwrap();
    let last = stored.parts.last().unwrap();
    assert_eq!((last.part_type.as_str(), last.author_type.as_str()), ("comment", "admin"));
    assert!(stored.first_admin_reply_at.is_some());
    assert!(stored.read);
}

#[tokio::test]
async fn update_conversation_bad_input_sends_nothing() {
    let env = action_env().await;
    let contact = env.user("ada@example.com").await;
    let id = env.conversation_from(&contact, "Help").await;
    let past = env.emu.state().now() - 60;
    let cases = [
        (json!({"id": id}), "state"),
        (json!({"state": "closed"}), "id"),
        (json!({"id": id, "state": "archived"}), "state"),
        (json!({"id": id, "state": "snoozed"}), "snoozed_until"),
        (json!({"id": id, "state": "closed", "snoozed_until": in_an_hour(&env)}), "snoozed_until"),
        (json!({"id": id, "snoozed_until": past}), "snoozed_until"),
        (json!({"id": id, "state": "closed", "admin_id": "me"}), "admin_id"),
        (json!({"id": id, "admin_assignee_id": "Maeve"}), "admin_assignee_id"),
        (json!({"id": id, "title": ""}), "title"),
        (json!({"id": id, "custom_attributes": {}}), "custom_attributes"),
        (json!({"id": id, "reply": {"message_type": "note"}}), "reply.body"),
        (json!({"id": id, "reply": {"body": "Hi", "author": "contact"}}), "reply.contact"),
        (json!({"id": id, "reply": {"body": "Hi", "contact": {"id": contact}}}), "reply.contact"),
        (
            json!({"id": id, "reply": {"body": "Hi", "author": "contact", "message_type": "note", "contact": {"id": contact}}}),
            "reply.message_type",
        ),
        (json!({"id": id, "reply": {"body": "Hi", "author": "contact", "contact": {}}}), "reply.contact.id"),
    ];
    for (input, field) in cases {
        env.invalid(UPDATE_CONVERSATION, input, field).await;
    }
    let stored = conversation_state(&env, &id).unwrap();
    assert_eq!((stored.parts.len(), stored.state.as_str(), stored.title), (0, "open", None));
}

#[tokio::test]
async fn update_conversation_upstream_errors_say_what_was_applied() {
    let env = action_env().await;
    let contact = env.user("ada@example.com").await;
    let id = env.conversation_from(&contact, "Help").await;
    env.not_found(UPDATE_CONVERSATION, json!({"id": "999999", "state": "closed"})).await;
    env.not_found(UPDATE_CONVERSATION, json!({"id": id, "state": "closed", "admin_id": "999"})).await;
    assert_eq!(parts(&env, &id), 0);

    // The note is sent, then the assignment to an unknown admin fails: the error says the note went in.
    let message = env
        .not_found(
            UPDATE_CONVERSATION,
            json!({"id": id, "reply": {"body": "FYI", "message_type": "note"}, "admin_assignee_id": "999"}),
        )
        .await;
    assert!(message.contains("assignment failed after reply had been applied"), "{message}");
    assert_eq!(parts(&env, &id), 1);
}

#[tokio::test]
async fn find_conversation_with_parts_and_as_plain_text() {
    let env = action_env().await;
    let contact = env.user("ada@example.com").await;
    let id = env.conversation_from(&contact, "Help").await;
    env.post(
        &format!("/conversations/{id}/reply"),
        json!({"type": "admin", "admin_id": env.me_admin(), "message_type": "comment", "body": "<p>Try <b>again</b></p>"}),
    )
    .await;
    let out = env.ok(FIND_CONVERSATION, json!({"id": id})).await;
    assert_eq!(out["id"], json!(id));
    let stored = conversation_state(&env, &id).unwrap();
    let found = out["conversation_parts"]["conversation_parts"].as_array().unwrap();
    assert_eq!(found.len(), stored.parts.len());
    assert_eq!(found[0]["id"], json!(stored.parts[0].id));
    assert_eq!(found[0]["body"], "<p>Try <b>again</b></p>");
    assert_eq!(out["admin_assignee_id"], "0", "ids come back as strings");

    let out = env.ok(FIND_CONVERSATION, json!({"id": id, "plaintext": true})).await;
    assert_eq!(out["conversation_parts"]["conversation_parts"][0]["body"], "Try again");

    env.invalid(FIND_CONVERSATION, json!({}), "id").await;
    env.invalid(FIND_CONVERSATION, json!({"id": id, "plaintext": "yes"}), "plaintext").await;
    env.not_found(FIND_CONVERSATION, json!({"id": "999999"})).await;
}

#[tokio::test]
async fn delete_conversation_is_permanent_with_or_without_metrics() {
    let env = action_env().await;
    let contact = env.user("ada@example.com").await;
    let kept = env.conversation_from(&contact, "One").await;
    let erased = env.conversation_from(&contact, "Two").await;
    let out = env.ok(DELETE_CONVERSATION, json!({"id": kept})).await;
    assert_eq!((out["deleted"].clone(), out["permanent"].clone()), (json!(true), json!(true)));
    assert!(out["note"].as_str().unwrap().contains("kept"));
    let out = env.ok(DELETE_CONVERSATION, json!({"id": erased, "retain_metrics": false})).await;
    assert!(out["note"].as_str().unwrap().contains("erased"));
    assert!(conversation_state(&env, &kept).is_none() && conversation_state(&env, &erased).is_none());
    let deleted = env.emu.state().with_workspace(|ws| ws.deleted_conversations.clone());
    let retained: Vec<(String, bool)> = deleted.into_iter().map(|(id, retained, _)| (id, retained)).collect();
    assert_eq!(retained, vec![(kept.clone(), true), (erased, false)]);

    env.not_found(DELETE_CONVERSATION, json!({"id": kept})).await;
    env.invalid(DELETE_CONVERSATION, json!({}), "id").await;
    env.invalid(DELETE_CONVERSATION, json!({"id": "1", "retain_metrics": "no"}), "retain_metrics").await;
}
