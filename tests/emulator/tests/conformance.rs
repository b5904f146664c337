//! Drives every emulated operation and validates each response body against the schema the
//! spec declares for that operation and status. Prints the coverage counts.

mod common;

use std::collections::BTreeSet;

use common::*;
use intercom_emulator::spec::spec;
use intercom_emulator::{EmulatorConfig, Seed};
use serde_json::{Value, json};

struct Checker {
    c: Client,
    covered: BTreeSet<String>,
    validated: usize,
    bodiless: usize,
    failures: Vec<String>,
}

impl Checker {
    async fn call(&mut self, method: &str, template: &str, path: &str, body: Option<Value>) -> Resp {
        let r = self.c.send(method, path, body).await;
        let op = spec()
            .operation(method, template)
            .unwrap_or_else(|| panic!("no operation {method} {template} in the spec"));
        if (200..300).contains(&r.status) {
            self.covered.insert(op.operation_id.clone());
        }
        // GET /events (listing) answers Intercom's `event.list` shape, which the spec
        // only describes as the component `data_event_list`.
        let res = if op.operation_id == "lisDataEvents" && r.body["type"] == "event.list" {
            spec().validate_component("data_event_list", &r.body).map(|_| true)
        } else {
            spec().validate_response(op, r.status, &r.body)
        };
        match res {
            Ok(true) => self.validated += 1,
            Ok(false) => {
                // No JSON schema declared for this status: the body must be empty or an error.
                if r.body.is_null() {
                    self.bodiless += 1;
                } else if r.body["type"] == "error.list" {
                    match spec().validate_component("error", &r.body) {
                        Ok(()) => self.validated += 1,
                        Err(e) => self.failures.push(format!("{method} {path} error body: {e}")),
                    }
                } else {
                    self.failures.push(format!("{method} {path} -> {} has no schema but a body: {}", r.status, r.body));
                }
            }
            Err(e) => self.failures.push(format!(
                "{method} {path} -> {}: {e}\nbody: {}",
                r.status,
                truncate(&r.body.to_string())
            )),
        }
        r
    }
    async fn ok(&mut self, method: &str, template: &str, path: &str, body: Option<Value>) -> Value {
        let r = self.call(method, template, path, body).await;
        assert!((200..300).contains(&r.status), "{method} {path} -> {}: {}", r.status, r.body);
        r.body
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(600).collect()
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[tokio::test]
async fn every_operation_conforms_to_the_spec() {
    let (emu, c) = start(EmulatorConfig { seed: Some(Seed::Demo), ..Default::default() }).await;
    let mut k = Checker { c, covered: BTreeSet::new(), validated: 0, bodiless: 0, failures: Vec::new() };

    // Admins and teams.
    let me = k.ok("GET", "/me", "/me", None).await;
    let admin_id = s(&me["id"]);
    k.ok("GET", "/admins", "/admins", None).await;
    k.ok("GET", "/admins/{admin_id}", &format!("/admins/{admin_id}"), None).await;
    let teams = k.ok("GET", "/teams", "/teams", None).await;
    let team_id = s(&teams["teams"][0]["id"]);
    k.ok("GET", "/teams/{team_id}", &format!("/teams/{team_id}"), None).await;

    // Contacts.
    let user = k
        .ok(
            "POST",
            "/contacts",
            "/contacts",
            Some(json!({"email": "conf@example.com", "external_id": "conf-1", "name": "Conf",
                        "phone": "+353871234567", "custom_attributes": {"plan": "pro"}})),
        )
        .await;
    let uid = s(&user["id"]);
    let lead = k.ok("POST", "/contacts", "/contacts", Some(json!({"role": "lead", "name": "Lead"}))).await;
    let lead_id = s(&lead["id"]);
    k.ok("GET", "/contacts/{contact_id}", &format!("/contacts/{uid}"), None).await;
    k.ok("GET", "/contacts/{contact_id}", &format!("/contacts/{uid}?include_merge_history=true"), None).await;
    k.ok(
        "PUT",
        "/contacts/{contact_id}",
        &format!("/contacts/{uid}"),
        Some(json!({"name": "Conf Updated", "owner_id": admin_id})),
    )
    .await;
    k.ok("GET", "/contacts/find_by_external_id/{external_id}", "/contacts/find_by_external_id/conf-1", None).await;
    let page1 = k.ok("GET", "/contacts", "/contacts?per_page=25", None).await;
    let cursor = s(&page1["pages"]["next"]["starting_after"]);
    k.ok("GET", "/contacts", &format!("/contacts?per_page=25&starting_after={cursor}"), None).await;
    k.ok(
        "POST",
        "/contacts/search",
        "/contacts/search",
        Some(json!({"query": {"operator": "AND", "value": [
            {"field": "role", "operator": "IN", "value": ["user", "lead"]},
            {"field": "created_at", "operator": ">", "value": 0}
        ]}, "sort": {"field": "created_at", "order": "descending"},
           "pagination": {"per_page": 150}})),
    )
    .await;
    k.ok("POST", "/contacts/{contact_id}/archive", &format!("/contacts/{lead_id}/archive"), None).await;
    k.ok("POST", "/contacts/{contact_id}/unarchive", &format!("/contacts/{lead_id}/unarchive"), None).await;

    // Notes.
    let note = k
        .ok(
            "POST",
            "/contacts/{contact_id}/notes",
            &format!("/contacts/{uid}/notes"),
            Some(json!({"body": "Met at the conference", "admin_id": admin_id})),
        )
        .await;
    k.ok("GET", "/contacts/{contact_id}/notes", &format!("/contacts/{uid}/notes"), None).await;
    k.ok("GET", "/notes/{note_id}", &format!("/notes/{}", s(&note["id"])), None).await;

    // Companies.
    let co = k
        .ok(
            "POST",
            "/companies",
            "/companies",
            Some(json!({"company_id": "conf-co", "name": "Conf Co", "plan": "Pro", "size": 12,
                        "website": "https://conf.example.com", "industry": "Software",
                        "monthly_spend": 1000, "custom_attributes": {"tier": "gold"}})),
        )
        .await;
    let co_id = s(&co["id"]);
    k.ok("POST", "/companies", "/companies", Some(json!({"company_id": "conf-co", "name": "Conf Co Renamed"}))).await;
    k.ok("GET", "/companies/{company_id}", &format!("/companies/{co_id}"), None).await;
    k.ok("GET", "/companies", "/companies?company_id=conf-co", None).await;
    k.ok("GET", "/companies", "/companies?name=Conf%20Co%20Renamed", None).await;
    k.ok("PUT", "/companies/{company_id}", &format!("/companies/{co_id}"), Some(json!({"industry": "Fintech"}))).await;
    k.ok("POST", "/contacts/{contact_id}/companies", &format!("/contacts/{uid}/companies"), Some(json!({"id": co_id})))
        .await;
    k.ok("GET", "/contacts/{contact_id}/companies", &format!("/contacts/{uid}/companies"), None).await;
    k.ok("GET", "/companies/{company_id}/contacts", &format!("/companies/{co_id}/contacts"), None).await;
    k.ok("POST", "/companies/list", "/companies/list?page=1&per_page=10&order=desc", None).await;
    let sc = k.ok("GET", "/companies/scroll", "/companies/scroll", None).await;
    let param = s(&sc["scroll_param"]);
    k.ok("GET", "/companies/scroll", &format!("/companies/scroll?scroll_param={param}"), None).await;
    k.ok(
        "DELETE",
        "/contacts/{contact_id}/companies/{company_id}",
        &format!("/contacts/{uid}/companies/{co_id}"),
        None,
    )
    .await;

    // Company notes and segments.
    k.ok(
        "POST",
        "/companies/{company_id}/notes",
        &format!("/companies/{co_id}/notes"),
        Some(json!({"body": "Renewal due", "admin_id": admin_id})),
    )
    .await;
    k.ok("GET", "/companies/{company_id}/notes", &format!("/companies/{co_id}/notes"), None).await;
    k.ok("GET", "/companies/{company_id}", &format!("/companies/{co_id}"), None).await;
    k.ok("GET", "/companies/{company_id}/segments", &format!("/companies/{co_id}/segments"), None).await;
    k.ok("GET", "/segments", "/segments", None).await;
    k.ok("GET", "/subscription_types", "/subscription_types", None).await;
    k.ok("GET", "/contacts/{contact_id}/segments", &format!("/contacts/{uid}/segments"), None).await;
    k.ok("GET", "/contacts/{contact_id}/subscriptions", &format!("/contacts/{uid}/subscriptions"), None).await;

    // Tags.
    let tag = k.ok("POST", "/tags", "/tags", Some(json!({"name": "Conformance"}))).await;
    let tag_id = s(&tag["id"]);
    k.ok("POST", "/tags", "/tags", Some(json!({"name": "conformance", "companies": [{"company_id": "conf-co"}]})))
        .await;
    k.ok("POST", "/tags", "/tags", Some(json!({"name": "Conformance", "companies": [{"id": co_id, "untag": true}]})))
        .await;
    k.ok("POST", "/tags", "/tags", Some(json!({"name": "Conformance", "users": [{"id": uid}]}))).await;
    k.ok("GET", "/tags", "/tags", None).await;
    k.ok("GET", "/tags/{tag_id}", &format!("/tags/{tag_id}"), None).await;
    k.ok("POST", "/contacts/{contact_id}/tags", &format!("/contacts/{uid}/tags"), Some(json!({"id": tag_id}))).await;
    k.ok("GET", "/contacts/{contact_id}/tags", &format!("/contacts/{uid}/tags"), None).await;
    k.ok("DELETE", "/contacts/{contact_id}/tags/{tag_id}", &format!("/contacts/{uid}/tags/{tag_id}"), None).await;

    // Conversations.
    let msg = k
        .ok(
            "POST",
            "/conversations",
            "/conversations",
            Some(json!({"from": {"type": "user", "id": uid}, "body": "Hello, I need help"})),
        )
        .await;
    let conv = s(&msg["conversation_id"]);
    k.ok(
        "POST",
        "/messages",
        "/messages",
        Some(json!({"message_type": "email", "subject": "Welcome", "body": "Hi there",
                    "template": "plain", "from": {"type": "admin", "id": admin_id},
                    "to": {"type": "user", "id": uid},
                    "create_conversation_without_contact_reply": true})),
    )
    .await;
    k.ok("GET", "/conversations/{conversation_id}", &format!("/conversations/{conv}?display_as=plaintext"), None).await;
    k.ok(
        "PUT",
        "/conversations/{conversation_id}",
        &format!("/conversations/{conv}"),
        Some(json!({"read": true, "title": "Help request",
                    "custom_attributes": {"issue_type": "Billing"}})),
    )
    .await;
    k.ok(
        "POST",
        "/conversations/{conversation_id}/reply",
        &format!("/conversations/{conv}/reply"),
        Some(json!({"type": "admin", "admin_id": admin_id, "message_type": "comment",
                    "body": "On it"})),
    )
    .await;
    k.ok(
        "POST",
        "/conversations/{conversation_id}/reply",
        &format!("/conversations/{conv}/reply"),
        Some(json!({"type": "admin", "admin_id": admin_id, "message_type": "note",
                    "body": "internal"})),
    )
    .await;
    k.ok(
        "POST",
        "/conversations/{conversation_id}/reply",
        &format!("/conversations/{conv}/reply"),
        Some(json!({"type": "user", "intercom_user_id": uid, "message_type": "comment",
                    "body": "Thanks"})),
    )
    .await;
    for body in [
        json!({"message_type": "assignment", "type": "admin", "admin_id": admin_id,
               "assignee_id": admin_id}),
        json!({"message_type": "assignment", "type": "team", "admin_id": admin_id,
               "assignee_id": team_id}),
        json!({"message_type": "assignment", "type": "admin", "admin_id": admin_id,
               "assignee_id": "0"}),
        json!({"message_type": "snoozed", "admin_id": admin_id,
               "snoozed_until": 4_102_444_800i64}),
        json!({"message_type": "open", "admin_id": admin_id}),
        json!({"message_type": "close", "type": "admin", "admin_id": admin_id, "body": "Bye"}),
    ] {
        k.ok("POST", "/conversations/{conversation_id}/parts", &format!("/conversations/{conv}/parts"), Some(body))
            .await;
    }
    k.ok(
        "POST",
        "/conversations/{conversation_id}/tags",
        &format!("/conversations/{conv}/tags"),
        Some(json!({"id": tag_id, "admin_id": admin_id})),
    )
    .await;
    k.ok(
        "DELETE",
        "/conversations/{conversation_id}/tags/{tag_id}",
        &format!("/conversations/{conv}/tags/{tag_id}"),
        Some(json!({"admin_id": admin_id})),
    )
    .await;
    let cl = k.ok("GET", "/conversations", "/conversations?per_page=5", None).await;
    let cur = s(&cl["pages"]["next"]["starting_after"]);
    k.ok("GET", "/conversations", &format!("/conversations?per_page=5&starting_after={cur}"), None).await;
    k.ok(
        "POST",
        "/conversations/search",
        "/conversations/search",
        Some(json!({"query": {"operator": "OR", "value": [
            {"field": "state", "operator": "=", "value": "open"},
            {"field": "updated_at", "operator": ">", "value": 0}
        ]}, "pagination": {"per_page": 10}})),
    )
    .await;

    // Tickets.
    let types = k.ok("GET", "/ticket_types", "/ticket_types", None).await;
    let tt = types["data"].as_array().unwrap().iter().find(|t| t["category"] == "Customer").cloned().unwrap();
    let tt_id = s(&tt["id"]);
    k.ok("GET", "/ticket_types/{ticket_type_id}", &format!("/ticket_types/{tt_id}"), None).await;
    let states = k.ok("GET", "/ticket_states", "/ticket_states", None).await;
    let state_id = s(&states["data"][1]["id"]);
    let converted = k
        .ok(
            "POST",
            "/conversations/{conversation_id}/convert",
            &format!("/conversations/{conv}/convert"),
            Some(json!({"ticket_type_id": tt_id,
                        "attributes": {"_default_title_": "From a conversation"}})),
        )
        .await;
    assert_ne!(converted["id"], converted["ticket_id"]);
    let ticket = k
        .ok(
            "POST",
            "/tickets",
            "/tickets",
            Some(json!({"ticket_type_id": tt_id, "contacts": [{"email": "new-ticket@example.com"}],
                        "ticket_attributes": {"_default_title_": "Broken",
                                              "_default_description_": "It broke"}})),
        )
        .await;
    let tid = s(&ticket["id"]);
    k.ok("GET", "/tickets/{ticket_id}", &format!("/tickets/{tid}"), None).await;
    k.ok(
        "PUT",
        "/tickets/{ticket_id}",
        &format!("/tickets/{tid}"),
        Some(json!({"ticket_state_id": state_id, "assignee_id": admin_id,
                    "ticket_attributes": {"_default_title_": "Still broken"},
                    "snoozed_until": 4_102_444_800i64, "admin_id": admin_id})),
    )
    .await;
    k.ok("PUT", "/tickets/{ticket_id}", &format!("/tickets/{tid}"), Some(json!({"open": false}))).await;
    k.ok(
        "POST",
        "/tickets/{ticket_id}/tags",
        &format!("/tickets/{tid}/tags"),
        Some(json!({"id": tag_id, "admin_id": admin_id})),
    )
    .await;
    k.ok(
        "DELETE",
        "/tickets/{ticket_id}/tags/{tag_id}",
        &format!("/tickets/{tid}/tags/{tag_id}"),
        Some(json!({"admin_id": admin_id})),
    )
    .await;
    k.ok(
        "POST",
        "/tickets/search",
        "/tickets/search",
        Some(json!({"query": {"field": "created_at", "operator": ">=", "value": 0},
                    "pagination": {"per_page": 10}})),
    )
    .await;

    // Events.
    let r = k
        .call(
            "POST",
            "/events",
            "/events",
            Some(json!({"event_name": "ordered-item", "created_at": 1_700_000_000,
                        "user_id": "conf-1", "metadata": {"order_number": "123"}})),
        )
        .await;
    assert_eq!(r.status, 202);
    assert!(r.body.is_null());
    k.ok("GET", "/events", &format!("/events?type=user&intercom_user_id={uid}"), None).await;
    k.ok("GET", "/events", "/events?type=user&user_id=conf-1&summary=true", None).await;

    // Merge a lead into a user.
    let lead2 = k.ok("POST", "/contacts", "/contacts", Some(json!({"role": "lead", "email": "l2@example.com"}))).await;
    let merged = k
        .ok(
            "POST",
            "/contacts/merge",
            "/contacts/merge?include_merge_history=true",
            Some(json!({"from": s(&lead2["id"]), "into": uid})),
        )
        .await;
    assert_eq!(merged["merge_history"][0]["source_contact_id"], lead2["id"]);
    let gone = k.call("GET", "/contacts/{contact_id}", &format!("/contacts/{}", s(&lead2["id"])), None).await;
    assert_eq!(gone.status, 410);

    // Deletes.
    let r = k.call("DELETE", "/tags/{tag_id}", &format!("/tags/{tag_id}"), None).await;
    assert_eq!(r.status, 200);
    k.ok("DELETE", "/tickets/{ticket_id}", &format!("/tickets/{tid}"), None).await;
    k.ok("DELETE", "/conversations/{conversation_id}", &format!("/conversations/{conv}?retain_metrics=true"), None)
        .await;
    k.ok("GET", "/conversations/deleted", "/conversations/deleted?per_page=10&order=desc", None).await;
    k.ok("DELETE", "/companies/{company_id}", &format!("/companies/{co_id}"), None).await;
    k.ok("DELETE", "/contacts/{contact_id}", &format!("/contacts/{lead_id}"), None).await;

    // Error responses are validated too.
    k.call("GET", "/contacts/{contact_id}", "/contacts/000000000000000000000000", None).await;
    k.call("GET", "/companies/{company_id}", "/companies/nope", None).await;
    k.call("GET", "/tags/{tag_id}", "/tags/999999999", None).await;
    k.call("GET", "/tickets/{ticket_id}", "/tickets/999999999", None).await;

    let implemented: BTreeSet<String> = intercom_emulator::api::IMPLEMENTED.iter().map(|s| s.to_string()).collect();
    let missing: Vec<&String> = implemented.difference(&k.covered).collect();
    println!(
        "conformance: {} of {} emulated operations covered ({} in the spec); {} responses \
         validated against the spec, {} bodiless responses",
        k.covered.len(),
        implemented.len(),
        spec().ops.len(),
        k.validated,
        k.bodiless
    );
    assert!(k.failures.is_empty(), "schema failures:\n{}", k.failures.join("\n\n"));
    assert!(missing.is_empty(), "operations not driven: {missing:?}");
    drop(emu);
}

#[tokio::test]
async fn malformed_requests_are_refused() {
    let (_emu, c) = start_default().await;
    let me = c.get("/me").await;
    let admin_id = me.body["id"].as_str().unwrap().to_string();
    let uid = c.post("/contacts", json!({"email": "m@example.com"})).await.body["id"].as_str().unwrap().to_string();
    let cases: Vec<(&str, String, Option<Value>, u16, &str)> = vec![
        ("POST", format!("/contacts/{uid}/notes"), Some(json!({})), 400, "parameter_not_found"),
        ("POST", format!("/contacts/{uid}/notes"), Some(json!({"body": 5})), 400, "parameter_invalid"),
        ("POST", "/contacts".into(), Some(json!({"name": "x", "signed_up_at": "yesterday"})), 400, "parameter_invalid"),
        ("POST", "/contacts".into(), Some(json!({"name": "only a name"})), 400, "parameter_not_found"),
        ("POST", "/tags".into(), Some(json!({"id": "1"})), 400, "parameter_not_found"),
        ("POST", "/tickets".into(), Some(json!({"contacts": []})), 400, "parameter_not_found"),
        ("POST", "/conversations".into(), Some(json!({"body": "hi"})), 400, "parameter_not_found"),
        (
            "POST",
            "/conversations".into(),
            Some(json!({"from": {"type": "robot", "id": uid}, "body": "hi"})),
            400,
            "parameter_invalid",
        ),
        (
            "POST",
            "/contacts/search".into(),
            Some(json!({"query": {"field": "email", "operator": "LIKE", "value": "x"}})),
            400,
            "parameter_invalid",
        ),
        (
            "POST",
            "/contacts/search".into(),
            Some(json!({"query": {"field": "created_at", "operator": ">=", "value": 1}})),
            400,
            "parameter_invalid",
        ),
        (
            "POST",
            "/contacts/search".into(),
            Some(json!({"query": {"field": "tag_id", "operator": "IN", "value": ["1"]}})),
            400,
            "parameter_invalid",
        ),
        (
            "POST",
            "/contacts/search".into(),
            Some(
                json!({"query": {"field": "email", "operator": "=", "value": "x"}, "sort": {"field": "created_at", "order": "up"}}),
            ),
            400,
            "invalid_sort_order",
        ),
        ("POST", "/conversations/1/parts".into(), Some(json!({"message_type": "close"})), 400, "parameter_not_found"),
        ("POST", "/events".into(), Some(json!({"event_name": "x"})), 400, "parameter_not_found"),
        ("GET", "/contacts?per_page=abc".into(), None, 400, "parameter_invalid"),
        ("POST", "/companies/list?page=x".into(), None, 400, "parameter_invalid"),
        ("GET", "/events?user_id=x".into(), None, 400, "parameter_not_found"),
        ("DELETE", "/conversations/1/tags/1".to_string(), Some(json!({})), 400, "parameter_not_found"),
        ("GET", "/definitely/not/an/endpoint".into(), None, 404, "not_found"),
        ("PATCH", "/me".into(), None, 404, "not_found"),
        ("POST", format!("/contacts/{uid}/companies"), Some(json!({"id": "nope"})), 404, "company_not_found"),
        (
            "POST",
            "/conversations/1/parts".into(),
            Some(json!({"message_type": "open", "admin_id": admin_id})),
            404,
            "not_found",
        ),
    ];
    let mut refused = 0;
    for (m, p, b, status, code) in cases {
        let r = c.send(m, &p, b.clone()).await;
        assert_eq!(r.status, status, "{m} {p} {b:?}: {}", r.body);
        assert_eq!(r.error_code(), code, "{m} {p} {b:?}: {}", r.body);
        spec().validate_component("error", &r.body).unwrap_or_else(|e| panic!("{m} {p}: error body invalid: {e}"));
        refused += 1;
    }
    // Invalid JSON.
    let r = c
        .http
        .post(format!("{}/contacts", c.base))
        .bearer_auth(&c.token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    refused += 1;
    println!("malformed: {refused} malformed requests refused");
}

#[test]
fn validators_reject_wrong_shapes() {
    let op = spec().operation("GET", "/contacts/{contact_id}").unwrap();
    assert!(spec().validate_response(op, 200, &json!({"type": "contact", "created_at": "x"})).is_err());
    assert!(spec().validate_response(op, 200, &json!({"type": "contact", "created_at": 1})).unwrap());
    let op = spec().operation("GET", "/conversations").unwrap();
    assert!(spec().validate_response(op, 200, &json!({"type": "nope"})).is_err());
    assert!(spec().validate_component("error", &json!({"type": "error.list"})).is_err());
}

/// The spec's own request examples for the emulated operations pass strict checking
/// (guards the OpenAPI → JSON Schema translation against refusing real traffic).
#[test]
fn spec_request_examples_pass_strict_checks() {
    let mut checked = 0;
    let mut refused = Vec::new();
    for id in intercom_emulator::api::IMPLEMENTED {
        let op = spec().operation_by_id(id).unwrap();
        for (name, ex) in &op.body_examples {
            checked += 1;
            if let Err(e) = spec().validate_request_body(op, ex) {
                refused.push(format!("{id} example '{name}': {e:?}"));
            }
        }
    }
    println!("request examples: {checked} checked, {} refused", refused.len());
    for r in &refused {
        println!("  {r}");
    }
    // Only the spec's error examples and shapes the emulator does not model are refused.
    let expected = [
        "bad_request",
        "invalid_parameters",
        "no_body_supplied",
        "no_subject_supplied",
        "whatsapp",
        "lead_message_created",
        "user_message_created",
    ];
    let unexpected: Vec<&String> = refused.iter().filter(|r| !expected.iter().any(|e| r.contains(e))).collect();
    assert!(unexpected.is_empty(), "valid spec examples refused: {unexpected:#?}");
}
