//! The company, contact, tag and event actions end to end: each component runs in the host against
//! the emulator in strict mode. Every action has a normal case that reads the resulting emulator
//! state back (not only the action's answer), a bad-input case and an upstream-error case. Plus the
//! checks that span the bundle: every description is a usable form, and the CLI lists every key.

mod common;

use common::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use switchyard::http::Connection;
use switchyard::runtime::bindings::ComponentError;

/// The actions this file covers, with Find Contact from the foundation.
const CRM_KEYS: &[&str] = &[
    "intercom/create-or-update-company",
    "intercom/update-company",
    "intercom/find-company",
    "intercom/delete-company",
    "intercom/add-contact-to-company",
    "intercom/create-contact",
    "intercom/update-contact",
    "intercom/find-contact",
    "intercom/add-note-to-contact",
    "intercom/create-tag",
    "intercom/assign-tags",
    "intercom/remove-tags",
    "intercom/delete-tag",
    "intercom/create-event",
];

/// What these tests need beyond the shared `ActionEnv`: companies and tags to act on, and the
/// emulator's records to check results against.
trait Crm {
    async fn company(&self, company_id: &str, name: &str) -> String;
    async fn tag(&self, name: &str) -> String;
    fn contact_state(&self, id: &str) -> intercom_emulator::state::Contact;
    fn company_state(&self, id: &str) -> intercom_emulator::state::Company;
    fn tag_names(&self) -> Vec<String>;
}

impl Crm for ActionEnv {
    async fn company(&self, company_id: &str, name: &str) -> String {
        let company = self.post("/companies", json!({"company_id": company_id, "name": name})).await;
        id_text(&company["id"])
    }

    async fn tag(&self, name: &str) -> String {
        id_text(&self.post("/tags", json!({"name": name})).await["id"])
    }

    fn contact_state(&self, id: &str) -> intercom_emulator::state::Contact {
        self.emu.state().with_workspace(|ws| ws.contact(id).cloned()).expect("contact in the emulator")
    }

    fn company_state(&self, id: &str) -> intercom_emulator::state::Company {
        self.emu.state().with_workspace(|ws| ws.company(id).cloned()).expect("company in the emulator")
    }

    fn tag_names(&self) -> Vec<String> {
        self.emu.state().with_workspace(|ws| ws.tags.iter().map(|t| t.name.clone()).collect())
    }
}

fn is_unauthorized(error: &ComponentError) -> bool {
    matches!(error, ComponentError::Unauthorized(_))
}

// ---------------------------------------------------------------------------------------------
// Companies

#[tokio::test]
async fn create_or_update_company_upserts_by_company_id() {
    let env = action_env().await;
    let key = "intercom/create-or-update-company";
    let created = env
        .ok(
            key,
            json!({"company_id": "acme-1", "name": "Acme", "plan": "Pro", "size": 120, "monthly_spend": 1000,
                   "custom_attributes": {"tier": "gold"}, "remote_created_at": 1700000000}),
        )
        .await;
    assert_eq!(created["type"], "company");
    let id = created["id"].as_str().expect("the id is a string").to_string();
    let company = env.company_state(&id);
    assert_eq!((company.company_id.as_str(), company.name.as_str()), ("acme-1", "Acme"));
    assert_eq!(company.plan.as_deref(), Some("Pro"));
    assert_eq!((company.size, company.monthly_spend, company.remote_created_at), (Some(120), 1000, Some(1700000000)));
    assert_eq!(company.custom_attributes["tier"], "gold");

    // The same company_id again updates that company; nothing else changes.
    let updated = env.ok(key, json!({"company_id": "acme-1", "name": "Acme Inc"})).await;
    assert_eq!(updated["id"], json!(id));
    let count = env.emu.state().with_workspace(|ws| ws.companies.len());
    assert_eq!(count, 1, "an upsert, not a second company");
    let company = env.company_state(&id);
    assert_eq!(company.name, "Acme Inc");
    assert_eq!(company.plan.as_deref(), Some("Pro"), "fields not given keep their values");
}

#[tokio::test]
async fn create_or_update_company_refuses_bad_input_and_reports_upstream_errors() {
    let env = action_env().await;
    let key = "intercom/create-or-update-company";
    env.invalid(key, json!({"name": "Acme"}), "company_id").await;
    env.invalid(key, json!({"company_id": "  "}), "company_id").await;
    env.invalid(key, json!({"company_id": "a", "custom_attributes": {"tier": {"level": 1}}}), "custom_attributes.tier")
        .await;
    env.invalid(key, json!({"company_id": "a", "monthly_spend": 3_000_000_000u64}), "monthly_spend").await;
    env.invalid(key, json!({"company_id": "a", "size": "big"}), "size").await;
    env.invalid(key, json!({"company_id": "a", "colour": "red"}), "colour").await;
    assert_eq!(env.emu.state().with_workspace(|ws| ws.companies.len()), 0, "nothing was sent");

    let bad = Connection::new("bad", &env.emu.base_url(), "wrong-token").unwrap();
    let component = env.bundle.component(key).unwrap();
    let err = env.runtime.run_action(component, Some(&bad), r#"{"company_id":"acme-1"}"#).await.unwrap_err();
    assert!(err.component_error().is_some_and(is_unauthorized), "{err}");
}

#[tokio::test]
async fn update_company_changes_only_the_given_fields() {
    let env = action_env().await;
    let id = env.post("/companies", json!({"company_id": "acme-1", "name": "Acme", "plan": "Pro", "size": 10})).await;
    let id = id["id"].as_str().unwrap().to_string();
    let out = env
        .ok(
            "intercom/update-company",
            json!({"id": id, "name": "Acme Inc", "monthly_spend": 1200, "custom_attributes": {"tier": "platinum"}}),
        )
        .await;
    assert_eq!(out["id"], json!(id));
    assert_eq!(out["name"], "Acme Inc");
    let company = env.company_state(&id);
    assert_eq!((company.name.as_str(), company.monthly_spend), ("Acme Inc", 1200));
    assert_eq!(company.custom_attributes["tier"], "platinum");
    assert_eq!((company.plan.as_deref(), company.size), (Some("Pro"), Some(10)), "untouched fields stay");
    assert_eq!(company.company_id, "acme-1");
}

#[tokio::test]
async fn update_company_bad_input_and_not_found() {
    let env = action_env().await;
    let key = "intercom/update-company";
    let id = env.company("acme-1", "Acme").await;
    env.invalid(key, json!({"id": id}), "").await;
    env.invalid(key, json!({"name": "x"}), "id").await;
    env.invalid(key, json!({"id": id, "company_id": "new"}), "company_id").await;
    env.invalid(key, json!({"id": id, "name": " "}), "name").await;
    assert_eq!(env.company_state(&id).name, "Acme");
    let message = env.not_found(key, json!({"id": "ffffffffffffffffffffffff", "name": "x"})).await;
    assert!(message.contains("company_not_found"), "{message}");
}

#[tokio::test]
async fn find_company_by_id_company_id_and_name_unwraps_the_list() {
    let env = action_env().await;
    let id = env.company("acme-1", "Acme").await;
    env.company("other-1", "Other").await;
    let key = "intercom/find-company";
    for input in [json!({"id": id}), json!({"company_id": "acme-1"}), json!({"name": "acme"})] {
        let out = env.ok(key, input.clone()).await;
        assert_eq!(out["type"], "company", "the company itself, not a list: {input}");
        assert_eq!(out["id"], json!(id), "{input}");
        // The answer is the emulator's record, field for field.
        let company = env.company_state(&id);
        assert_eq!(out["company_id"], json!(company.company_id));
        assert_eq!(out["name"], json!(company.name));
    }
}

#[tokio::test]
async fn find_company_bad_input_and_not_found() {
    let env = action_env().await;
    env.company("acme-1", "Acme").await;
    let key = "intercom/find-company";
    env.invalid(key, json!({}), "id").await;
    env.invalid(key, json!({"id": "a", "name": "Acme"}), "name").await;
    env.invalid(key, json!({"company_id": ""}), "company_id").await;
    for input in [json!({"id": "ffffffffffffffffffffffff"}), json!({"company_id": "nope"}), json!({"name": "Nope"})] {
        let message = env.not_found(key, input.clone()).await;
        assert!(message.contains("no company"), "{input}: {message}");
    }
}

#[tokio::test]
async fn delete_company_archives_and_says_so() {
    let env = action_env().await;
    let id = env.company("acme-1", "Acme").await;
    let contact = env.user("ada@example.com").await;
    env.post(&format!("/contacts/{contact}/companies"), json!({"id": id})).await;
    let out = env.ok("intercom/delete-company", json!({"company_id": "acme-1"})).await;
    assert_eq!(
        (out["id"].clone(), out["deleted"].clone(), out["archived"].clone()),
        (json!(id), json!(true), json!(true))
    );
    assert!(out["note"].as_str().unwrap().contains("archives"), "{out}");
    let summary = env.bundle.component("intercom/delete-company").unwrap().description.summary.clone();
    assert!(summary.contains("ARCHIVED, not erased"), "{summary}");

    // Archived, not erased: the record is kept, hidden from the API, and its contacts detached.
    let company = env.company_state(&id);
    assert!(company.archived);
    assert!(env.contact_state(&contact).company_ids.is_empty());
    assert_eq!(env.get(&format!("/companies/{id}")).await.0, 404);
}

#[tokio::test]
async fn delete_company_bad_input_and_not_found() {
    let env = action_env().await;
    let id = env.company("acme-1", "Acme").await;
    let key = "intercom/delete-company";
    env.invalid(key, json!({}), "id").await;
    env.invalid(key, json!({"id": id, "company_id": "acme-1"}), "company_id").await;
    assert!(!env.company_state(&id).archived);
    env.not_found(key, json!({"id": "ffffffffffffffffffffffff"})).await;
    env.not_found(key, json!({"company_id": "nope"})).await;
    env.ok(key, json!({"id": id})).await;
    env.not_found(key, json!({"id": id})).await;
}

#[tokio::test]
async fn add_contact_to_company_by_intercom_id_or_company_id() {
    let env = action_env().await;
    let acme = env.company("acme-1", "Acme").await;
    let globex = env.company("globex-1", "Globex").await;
    let contact = env.user("ada@example.com").await;
    let key = "intercom/add-contact-to-company";
    let out = env.ok(key, json!({"contact_id": contact, "company_id": "acme-1"})).await;
    assert_eq!((out["type"].clone(), out["id"].clone()), (json!("company"), json!(acme)));
    let out = env.ok(key, json!({"contact_id": contact, "company_intercom_id": globex})).await;
    assert_eq!(out["id"], json!(globex));
    assert_eq!(env.contact_state(&contact).company_ids, vec![acme.clone(), globex]);
    // Attaching again is harmless.
    env.ok(key, json!({"contact_id": contact, "company_id": "acme-1"})).await;
    assert_eq!(env.contact_state(&contact).company_ids.len(), 2);
}

#[tokio::test]
async fn add_contact_to_company_bad_input_and_not_found() {
    let env = action_env().await;
    let acme = env.company("acme-1", "Acme").await;
    let contact = env.user("ada@example.com").await;
    let key = "intercom/add-contact-to-company";
    env.invalid(key, json!({"company_id": "acme-1"}), "contact_id").await;
    env.invalid(key, json!({"contact_id": contact}), "company_intercom_id").await;
    env.invalid(key, json!({"contact_id": contact, "company_id": "acme-1", "company_intercom_id": acme}), "company_id")
        .await;
    env.not_found(key, json!({"contact_id": "ffffffffffffffffffffffff", "company_id": "acme-1"})).await;
    env.not_found(key, json!({"contact_id": contact, "company_id": "nope"})).await;
    env.not_found(key, json!({"contact_id": contact, "company_intercom_id": "ffffffffffffffffffffffff"})).await;
    assert!(env.contact_state(&contact).company_ids.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Contacts

#[tokio::test]
async fn create_contact_creates_users_and_leads() {
    let env = action_env().await;
    let key = "intercom/create-contact";
    let admin = env.me_admin();
    let user = env
        .ok(
            key,
            json!({"role": "user", "email": "ada@example.com", "external_id": "ada-1", "name": "Ada",
                   "owner_id": admin, "signed_up_at": 1700000000, "custom_attributes": {"plan": "pro", "seats": 3}}),
        )
        .await;
    assert_eq!(user["existing"], false);
    let id = user["id"].as_str().unwrap().to_string();
    let stored = env.contact_state(&id);
    assert_eq!((stored.role.as_str(), stored.email.as_deref()), ("user", Some("ada@example.com")));
    assert_eq!((stored.external_id.as_deref(), stored.name.as_deref()), (Some("ada-1"), Some("Ada")));
    assert_eq!((stored.owner_id, stored.signed_up_at), (Some(admin), Some(1700000000)));
    assert_eq!(stored.custom_attributes["seats"], 3);

    let lead = env.ok(key, json!({"role": "lead", "name": "Visitor"})).await;
    assert_eq!(env.contact_state(lead["id"].as_str().unwrap()).role, "lead");
}

#[tokio::test]
async fn create_contact_duplicate_returns_the_existing_contact() {
    let env = action_env().await;
    let key = "intercom/create-contact";
    let first = env.ok(key, json!({"email": "ada@example.com", "name": "Ada"})).await;
    let again = env.ok(key, json!({"email": "ADA@example.com", "name": "Someone else"})).await;
    assert_eq!(again["existing"], true, "{again}");
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["name"], "Ada", "the existing contact, unchanged");
    assert_eq!(env.emu.state().with_workspace(|ws| ws.contacts.len()), 1, "no duplicate was created");
    let by_external = env.ok(key, json!({"external_id": "x-1"})).await;
    let again = env.ok(key, json!({"external_id": "x-1", "email": "other@example.com"})).await;
    assert_eq!((again["existing"].clone(), again["id"].clone()), (json!(true), by_external["id"].clone()));
}

#[tokio::test]
async fn create_contact_bad_input_and_upstream_errors() {
    let env = action_env().await;
    let key = "intercom/create-contact";
    env.invalid(key, json!({}), "email").await;
    env.invalid(key, json!({"name": "Ada"}), "email").await;
    env.invalid(key, json!({"email": "ada at example"}), "email").await;
    env.invalid(key, json!({"email_verified": true, "role": "user"}), "email_verified").await;
    env.invalid(key, json!({"role": "admin"}), "role").await;
    env.invalid(key, json!({"role": "lead", "owner_id": "ada@example.com"}), "owner_id").await;
    env.invalid(key, json!({"role": "lead", "custom_attributes": {"tags": ["a"]}}), "custom_attributes.tags").await;
    env.invalid(key, json!({"role": "lead", "avatar": "me.png"}), "avatar").await;
    assert_eq!(env.emu.state().with_workspace(|ws| ws.contacts.len()), 0, "nothing was sent");
    // An owner that is no admin of the workspace: Intercom's own validation error, naming the field.
    env.invalid(key, json!({"role": "lead", "owner_id": "999"}), "owner_id").await;
    assert_eq!(env.emu.state().with_workspace(|ws| ws.contacts.len()), 0);
}

#[tokio::test]
async fn update_contact_is_partial_and_merges_custom_attributes() {
    let env = action_env().await;
    let contact = create_contact(
        &env.emu,
        json!({"role": "user", "email": "ada@example.com", "name": "Ada", "phone": "+353871234567",
               "custom_attributes": {"plan": "free", "seats": 1}}),
    )
    .await;
    let id = contact["id"].as_str().unwrap().to_string();
    let out = env
        .ok(
            "intercom/update-contact",
            json!({"id": id, "name": "Ada King", "unsubscribed_from_emails": true,
                   "custom_attributes": {"plan": "pro", "seats": null}}),
        )
        .await;
    assert_eq!((out["id"].clone(), out["name"].clone()), (json!(id), json!("Ada King")));
    let stored = env.contact_state(&id);
    assert_eq!(stored.name.as_deref(), Some("Ada King"));
    assert!(stored.unsubscribed_from_emails);
    assert_eq!(stored.phone.as_deref(), Some("+353871234567"), "fields not given keep their values");
    assert_eq!(stored.email.as_deref(), Some("ada@example.com"));
    assert_eq!(stored.custom_attributes.get("plan"), Some(&json!("pro")));
    assert!(!stored.custom_attributes.contains_key("seats"), "null clears an attribute");
}

#[tokio::test]
async fn update_contact_bad_input_not_found_and_conflict() {
    let env = action_env().await;
    let key = "intercom/update-contact";
    let ada = env.user("ada@example.com").await;
    env.user("bob@example.com").await;
    env.invalid(key, json!({"id": ada}), "").await;
    env.invalid(key, json!({"name": "Ada"}), "id").await;
    env.invalid(
        key,
        json!({"id": ada, "custom_attributes": {"address": {"city": "Dublin"}}}),
        "custom_attributes.address",
    )
    .await;
    env.invalid(key, json!({"id": ada, "signed_up_at": "yesterday"}), "signed_up_at").await;
    env.not_found(key, json!({"id": "ffffffffffffffffffffffff", "name": "x"})).await;
    match env.err(key, json!({"id": ada, "email": "bob@example.com"})).await {
        ComponentError::Conflict(c) => assert!(c.existing_id.is_some(), "{}", c.message),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(env.contact_state(&ada).email.as_deref(), Some("ada@example.com"));
}

#[tokio::test]
async fn add_note_to_contact_with_and_without_an_author() {
    let env = action_env().await;
    let contact = env.user("ada@example.com").await;
    let key = "intercom/add-note-to-contact";
    let other_admin = env.emu.state().with_workspace(|ws| ws.admins[1].id.clone());
    let out =
        env.ok(key, json!({"contact_id": contact, "body": "Called about renewal", "admin_id": other_admin})).await;
    assert_eq!(out["type"], "note");
    assert!(out["id"].is_string(), "{out}");
    env.ok(key, json!({"contact_id": contact, "body": "<p>Second</p>"})).await;
    let notes: Vec<(Option<String>, Option<String>, String)> = env.emu.state().with_workspace(|ws| {
        ws.notes.values().map(|n| (n.contact_id.clone(), n.author_id.clone(), n.body.clone())).collect()
    });
    assert_eq!(notes.len(), 2);
    assert_eq!(notes[0], (Some(contact.clone()), Some(other_admin), "<p>Called about renewal</p>".to_string()));
    assert_eq!(notes[1].1, Some(env.me_admin()), "without an admin, the connection's admin writes it");
}

#[tokio::test]
async fn add_note_to_contact_bad_input_and_not_found() {
    let env = action_env().await;
    let contact = env.user("ada@example.com").await;
    let key = "intercom/add-note-to-contact";
    env.invalid(key, json!({"contact_id": contact}), "body").await;
    env.invalid(key, json!({"contact_id": contact, "body": "  "}), "body").await;
    env.invalid(key, json!({"contact_id": contact, "body": "x", "admin_id": "ciaran@example.com"}), "admin_id").await;
    env.not_found(key, json!({"contact_id": "ffffffffffffffffffffffff", "body": "x"})).await;
    let message = env.not_found(key, json!({"contact_id": contact, "body": "x", "admin_id": "999"})).await;
    assert!(message.contains("admin_not_found"), "{message}");
    assert!(env.emu.state().with_workspace(|ws| ws.notes.is_empty()));
}

// ---------------------------------------------------------------------------------------------
// Tags

#[tokio::test]
async fn create_tag_is_an_upsert_by_name_and_can_rename() {
    let env = action_env().await;
    let key = "intercom/create-tag";
    let vip = env.ok(key, json!({"name": "VIP"})).await;
    assert_eq!((vip["type"].clone(), vip["name"].clone()), (json!("tag"), json!("VIP")));
    assert!(vip["id"].is_string());
    let again = env.ok(key, json!({"name": "vip"})).await;
    assert_eq!(again["id"], vip["id"], "names are case-insensitive: the same tag");
    assert_eq!(env.tag_names(), vec!["VIP"]);
    env.ok(key, json!({"name": "Key account", "id": vip["id"]})).await;
    assert_eq!(env.tag_names(), vec!["Key account"]);
}

#[tokio::test]
async fn create_tag_bad_input_and_not_found() {
    let env = action_env().await;
    let key = "intercom/create-tag";
    env.invalid(key, json!({}), "name").await;
    env.invalid(key, json!({"name": "  "}), "name").await;
    env.invalid(key, json!({"name": "VIP", "id": ""}), "id").await;
    assert!(env.tag_names().is_empty());
    env.not_found(key, json!({"name": "VIP", "id": "424242"})).await;
    assert!(env.tag_names().is_empty());
}

#[tokio::test]
async fn assign_tags_to_every_kind_of_target() {
    let env = action_env().await;
    let key = "intercom/assign-tags";
    let admin = env.me_admin();
    let contact = env.user("ada@example.com").await;
    let vip = env.tag("VIP").await;

    // A contact: one tag by id, one by name that does not exist yet.
    let out = env
        .ok(
            key,
            json!({"target_type": "contact", "target_id": contact, "tag_ids": [vip], "tag_names": ["Churn risk"],
                   "create_missing": true}),
        )
        .await;
    assert_eq!(out["type"], "tag.list");
    assert_eq!(out["tags"].as_array().unwrap().len(), 2);
    assert_eq!(out["target"], json!({"type": "contact", "id": contact}));
    let churn =
        env.emu.state().with_workspace(|ws| ws.tags.iter().find(|t| t.name == "Churn risk").map(|t| t.id.clone()));
    let churn = churn.expect("the missing tag was created");
    let applied: Vec<String> = env.contact_state(&contact).tags.iter().map(|t| t.tag_id.clone()).collect();
    assert_eq!(applied, vec![vip.clone(), churn.clone()]);

    // A company, by tag name (company tagging goes through POST /tags).
    let company = env.company("acme-1", "Acme").await;
    env.ok(key, json!({"target_type": "company", "target_id": company, "tag_names": ["vip"]})).await;
    assert_eq!(env.company_state(&company).tag_ids, vec![vip.clone()]);

    // A conversation and a ticket, by the acting admin.
    let conversation = env.conversation_from(&contact, "Hi").await;
    env.ok(key, json!({"target_type": "conversation", "target_id": conversation, "tag_ids": [vip], "admin_id": admin}))
        .await;
    let tags = env.emu.state().with_workspace(|ws| ws.conversation(&conversation).unwrap().tags.clone());
    assert_eq!(
        (tags.len(), tags[0].tag_id.as_str(), tags[0].applied_by.clone()),
        (1, vip.as_str(), Some(admin.clone()))
    );
    let ticket = env.ticket_for(&contact, "Broken export").await;
    env.ok(key, json!({"target_type": "ticket", "target_id": ticket, "tag_names": ["churn risk"], "admin_id": admin}))
        .await;
    let tags = env.emu.state().with_workspace(|ws| ws.ticket(&ticket).unwrap().tags.clone());
    assert_eq!(tags.iter().map(|t| t.tag_id.clone()).collect::<Vec<_>>(), vec![churn]);

    // Without an admin id, the connection's own admin acts (as in Intercom's UI).
    let other = env.conversation_from(&contact, "Hello again").await;
    env.ok(key, json!({"target_type": "conversation", "target_id": other, "tag_ids": [vip]})).await;
    let tags = env.emu.state().with_workspace(|ws| ws.conversation(&other).unwrap().tags.clone());
    assert_eq!(tags[0].applied_by, Some(env.me_admin()));
}

#[tokio::test]
async fn assign_tags_bad_input_and_not_found() {
    let env = action_env().await;
    let key = "intercom/assign-tags";
    let contact = env.user("ada@example.com").await;
    let vip = env.tag("VIP").await;
    let conversation = env.conversation_from(&contact, "Hi").await;
    env.invalid(
        key,
        json!({"target_type": "conversation", "target_id": conversation, "tag_ids": [vip], "admin_id": "ops@example.com"}),
        "admin_id",
    )
    .await;
    env.invalid(key, json!({"target_type": "contact", "target_id": contact}), "tag_ids").await;
    env.invalid(key, json!({"target_type": "contact", "target_id": contact, "tag_names": [""]}), "tag_names.0").await;
    env.invalid(key, json!({"target_type": "user", "target_id": contact, "tag_ids": [vip]}), "target_type").await;
    env.invalid(key, json!({"target_type": "contact", "target_id": " ", "tag_ids": [vip]}), "target_id").await;

    // A missing name without `create_missing` is an error, and creates nothing.
    let message =
        env.not_found(key, json!({"target_type": "contact", "target_id": contact, "tag_names": ["Nope"]})).await;
    assert!(message.contains("create_missing"), "{message}");
    assert_eq!(env.tag_names(), vec!["VIP"]);
    env.not_found(key, json!({"target_type": "contact", "target_id": "ffffffffffffffffffffffff", "tag_ids": [vip]}))
        .await;
    env.not_found(key, json!({"target_type": "contact", "target_id": contact, "tag_ids": ["424242"]})).await;
    env.not_found(key, json!({"target_type": "company", "target_id": "ffffffffffffffffffffffff", "tag_ids": [vip]}))
        .await;
    assert!(env.contact_state(&contact).tags.is_empty());
}

#[tokio::test]
async fn remove_tags_from_every_kind_of_target() {
    let env = action_env().await;
    let key = "intercom/remove-tags";
    let admin = env.me_admin();
    let contact = env.user("ada@example.com").await;
    let company = env.company("acme-1", "Acme").await;
    let conversation = env.conversation_from(&contact, "Hi").await;
    let ticket = env.ticket_for(&contact, "Broken export").await;
    let vip = env.tag("VIP").await;
    let churn = env.tag("Churn risk").await;
    env.post(&format!("/contacts/{contact}/tags"), json!({"id": vip})).await;
    env.post(&format!("/contacts/{contact}/tags"), json!({"id": churn})).await;
    env.post("/tags", json!({"name": "VIP", "companies": [{"id": company}]})).await;
    env.post(&format!("/conversations/{conversation}/tags"), json!({"id": vip, "admin_id": admin})).await;
    env.post(&format!("/tickets/{ticket}/tags"), json!({"id": vip, "admin_id": admin})).await;

    let out =
        env.ok(key, json!({"target_type": "contact", "target_id": contact, "tag_names": ["vip", "CHURN RISK"]})).await;
    assert_eq!(out["tags"].as_array().unwrap().len(), 2);
    assert!(env.contact_state(&contact).tags.is_empty());
    env.ok(key, json!({"target_type": "company", "target_id": company, "tag_ids": [vip]})).await;
    assert!(env.company_state(&company).tag_ids.is_empty());
    env.ok(key, json!({"target_type": "conversation", "target_id": conversation, "tag_ids": [vip], "admin_id": admin}))
        .await;
    assert!(env.emu.state().with_workspace(|ws| ws.conversation(&conversation).unwrap().tags.is_empty()));
    // Without an admin id, the connection's own admin acts.
    env.ok(key, json!({"target_type": "ticket", "target_id": ticket, "tag_ids": [vip]})).await;
    assert!(env.emu.state().with_workspace(|ws| ws.ticket(&ticket).unwrap().tags.is_empty()));
    assert_eq!(env.tag_names(), vec!["VIP", "Churn risk"], "the tags themselves stay");
}

#[tokio::test]
async fn remove_tags_bad_input_and_not_found() {
    let env = action_env().await;
    let key = "intercom/remove-tags";
    let contact = env.user("ada@example.com").await;
    let ticket = env.ticket_for(&contact, "Broken export").await;
    let vip = env.tag("VIP").await;
    env.post(&format!("/contacts/{contact}/tags"), json!({"id": vip})).await;
    env.invalid(
        key,
        json!({"target_type": "ticket", "target_id": ticket, "tag_ids": [vip], "admin_id": "me"}),
        "admin_id",
    )
    .await;
    env.invalid(key, json!({"target_type": "contact", "target_id": contact, "tag_names": [" "]}), "tag_names.0").await;
    env.invalid(
        key,
        json!({"target_type": "contact", "target_id": contact, "tag_ids": [vip], "create_missing": true}),
        "create_missing",
    )
    .await;
    env.not_found(key, json!({"target_type": "contact", "target_id": contact, "tag_names": ["Nope"]})).await;
    env.not_found(
        key,
        json!({"target_type": "ticket", "target_id": ticket, "tag_ids": [vip], "admin_id": env.me_admin()}),
    )
    .await;
    assert_eq!(env.contact_state(&contact).tags.len(), 1, "still tagged");
}

#[tokio::test]
async fn delete_tag_removes_it_everywhere() {
    let env = action_env().await;
    let key = "intercom/delete-tag";
    let contact = env.user("ada@example.com").await;
    let vip = env.tag("VIP").await;
    let other = env.tag("Other").await;
    env.post(&format!("/contacts/{contact}/tags"), json!({"id": vip})).await;
    let out = env.ok(key, json!({"name": "vip"})).await;
    assert_eq!((out["id"].clone(), out["deleted"].clone()), (json!(vip), json!(true)));
    assert_eq!(env.tag_names(), vec!["Other"]);
    assert!(env.contact_state(&contact).tags.is_empty());
    env.ok(key, json!({"id": other})).await;
    assert!(env.tag_names().is_empty());
}

#[tokio::test]
async fn delete_tag_bad_input_in_use_and_not_found() {
    let env = action_env().await;
    let key = "intercom/delete-tag";
    let vip = env.tag("VIP").await;
    env.invalid(key, json!({}), "id").await;
    env.invalid(key, json!({"id": vip, "name": "VIP"}), "name").await;
    env.not_found(key, json!({"id": "424242"})).await;
    env.not_found(key, json!({"name": "Nope"})).await;
    env.emu.state().with_workspace_mut(|ws| ws.tags[0].has_dependents = true);
    match env.err(key, json!({"id": vip})).await {
        ComponentError::Conflict(c) => {
            assert!(c.message.contains("in use") && c.message.contains("tag_has_dependent_objects"), "{}", c.message);
            assert_eq!(c.existing_id.as_deref(), Some(vip.as_str()));
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(env.tag_names(), vec!["VIP"], "a tag in use stays");
}

// ---------------------------------------------------------------------------------------------
// Events

#[tokio::test]
async fn create_event_defaults_to_now_and_is_accepted() {
    let env = action_env().await;
    let key = "intercom/create-event";
    let contact = env.user("ada@example.com").await;
    let before = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let out = env
        .ok(
            key,
            json!({"event_name": "upgraded-plan", "email": "ada@example.com",
                   "metadata": {"plan": "pro", "source": "billing page"}}),
        )
        .await;
    assert_eq!(out["accepted"], true);
    let at = out["created_at"].as_i64().unwrap();
    assert!((before - 5..=before + 60).contains(&at), "now by the host's clock: {at} vs {before}");
    let events = env.emu.state().with_workspace(|ws| ws.events.clone());
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].event_name.as_str(), events[0].contact_id.as_str(), events[0].created_at),
        ("upgraded-plan", contact.as_str(), at)
    );
    assert_eq!(events[0].metadata, json!({"plan": "pro", "source": "billing page"}).as_object().unwrap().clone());

    // By Intercom id with a given time; the same event again is accepted and stored once.
    for _ in 0..2 {
        let out = env.ok(key, json!({"event_name": "logged-in", "id": contact, "created_at": 1700000000})).await;
        assert_eq!((out["accepted"].clone(), out["created_at"].clone()), (json!(true), json!(1700000000)));
    }
    let logins = env.emu.state().with_workspace(|ws| ws.events.iter().filter(|e| e.event_name == "logged-in").count());
    assert_eq!(logins, 1);
}

/// Numbers, true/false, rich links and money are metadata types the operation's description in the
/// spec documents, although its schema says `additionalProperties: string`.
#[tokio::test]
async fn create_event_metadata_takes_numbers_links_and_money() {
    let env = action_env().await;
    env.user("ada@example.com").await;
    let metadata = json!({"seats": 12, "load": 3.67, "paid": true,
                          "invoice": {"url": "https://example.com/i/1", "value": "Invoice 1"},
                          "price": {"amount": 34999, "currency": "eur"}});
    let input = json!({"event_name": "upgraded-plan", "email": "ada@example.com", "metadata": metadata});
    env.ok("intercom/create-event", input).await;
    let events = env.emu.state().with_workspace(|ws| ws.events.clone());
    assert_eq!(events.len(), 1);
    assert_eq!(Value::Object(events[0].metadata.clone()), metadata);
}

#[tokio::test]
async fn create_event_bad_input_and_unknown_contact() {
    let env = action_env().await;
    let key = "intercom/create-event";
    env.user("ada@example.com").await;
    let eleven: serde_json::Map<String, Value> = (0..11).map(|i| (format!("k{i}"), json!(i))).collect();
    env.invalid(key, json!({"event_name": "x", "email": "ada@example.com", "metadata": eleven}), "metadata").await;
    env.invalid(key, json!({"event_name": "x", "email": "ada@example.com", "metadata": {"a": {"b": 1}}}), "metadata.a")
        .await;
    env.invalid(key, json!({"event_name": "x", "email": "ada@example.com", "metadata": {"a": [1]}}), "metadata.a")
        .await;
    env.invalid(key, json!({"event_name": "x"}), "id").await;
    env.invalid(key, json!({"event_name": "x", "id": "a", "email": "ada@example.com"}), "email").await;
    env.invalid(key, json!({"event_name": " ", "email": "ada@example.com"}), "event_name").await;
    env.invalid(key, json!({"email": "ada@example.com"}), "event_name").await;
    env.invalid(key, json!({"event_name": "x", "email": "ada@example.com", "created_at": -1}), "created_at").await;
    assert!(env.emu.state().with_workspace(|ws| ws.events.is_empty()), "nothing was sent");
    env.not_found(key, json!({"event_name": "x", "email": "nobody@example.com"})).await;
    env.not_found(key, json!({"event_name": "x", "user_id": "nobody"})).await;
    assert!(env.emu.state().with_workspace(|ws| ws.events.is_empty()));
}

// ---------------------------------------------------------------------------------------------
// The bundle as a whole

#[tokio::test]
async fn every_description_is_a_usable_form() {
    let runtime = runtime();
    let bundle = load(&runtime, "intercom").await;
    for key in CRM_KEYS {
        assert!(bundle.components.contains_key(*key), "{key} is missing from the bundle");
    }
    for (key, component) in &bundle.components {
        let d = &component.description;
        assert!(!d.name.is_empty() && !d.summary.is_empty(), "{key}: name and summary");
        let schema: Value = serde_json::from_str(&d.input_schema).unwrap_or_else(|e| panic!("{key}: schema: {e}"));
        jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{key}: not a valid JSON Schema: {e}"));
        assert_eq!(schema["type"], "object", "{key}");
        let properties = schema["properties"].as_object().unwrap_or_else(|| panic!("{key}: no properties"));
        assert!(!properties.is_empty(), "{key}: no input fields");
        for (name, property) in properties {
            for label in ["title", "description"] {
                let text = property[label].as_str().unwrap_or_default();
                assert!(!text.trim().is_empty(), "{key}: property `{name}` has no {label}: {property}");
            }
        }
        if let Some(required) = schema.get("required") {
            for name in required.as_array().unwrap() {
                assert!(properties.contains_key(name.as_str().unwrap()), "{key}: required `{name}` is no property");
            }
        }
        let sample: Value =
            serde_json::from_str(&d.sample_output).unwrap_or_else(|e| panic!("{key}: sample output: {e}"));
        assert!(sample.is_object(), "{key}: the sample output is an object");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn action_list_names_every_action_once() {
    let bundle = bundle_path("intercom");
    let out = tokio::task::spawn_blocking(move || {
        let args = ["action", "list", "--bundle", bundle.to_str().unwrap(), "--json"];
        switchyard(&repo_root().join("target/test-home"), &args)
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let keys: Vec<&str> = rows.iter().map(|r| r["key"].as_str().unwrap()).collect();
    let unique: BTreeSet<&str> = keys.iter().copied().collect();
    assert_eq!(unique.len(), keys.len(), "keys are unique: {keys:?}");
    for key in CRM_KEYS {
        assert!(unique.contains(key), "{key} is not listed: {keys:?}");
    }
    // Everything the bundle's manifest declares is listed, whoever built it.
    let manifest = std::fs::read_to_string(bundle_path("intercom").join("bundle.toml")).unwrap();
    let manifest: toml::Value = toml::from_str(&manifest).unwrap();
    let declared: BTreeSet<&str> =
        manifest["component"].as_array().unwrap().iter().map(|c| c["key"].as_str().unwrap()).collect();
    assert_eq!(declared, unique, "the CLI lists exactly the bundle's components");
    for row in &rows {
        if row["kind"] == "action" {
            assert_eq!(row["version"], "1.0.0", "{row}");
        }
    }
}
