mod common;

use common::*;
use intercom_emulator::{EmulatorConfig, Faults};
use serde_json::json;

fn is_hex24(s: &str) -> bool {
    s.len() == 24 && s.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
}

#[tokio::test]
async fn me_reports_workspace() {
    let (_emu, c) = start_default().await;
    let r = c.get("/me").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["type"], "admin");
    assert_eq!(r.body["app"]["region"], "US");
    assert!(r.body["app"]["id_code"].is_string());
    assert!(r.body["app"]["name"].is_string());
    assert!(r.header("x-ratelimit-limit").is_some());
}

#[tokio::test]
async fn auth_is_required() {
    let (_emu, c) = start_default().await;
    for token in ["", "wrong"] {
        let r = c.with_token(token).get("/me").await;
        assert_eq!(r.status, 401);
        assert_eq!(r.body["type"], "error.list");
        assert_eq!(r.error_code(), "unauthorized");
        assert_eq!(r.body["errors"][0]["message"], "Access Token Invalid");
        assert!(r.body["request_id"].is_string());
        assert!(r.header("x-ratelimit-limit").is_none());
    }
}

#[tokio::test]
async fn create_get_find_and_conflict() {
    let (_emu, c) = start_default().await;
    let r = c.post("/contacts", json!({"email": "jane@example.com", "external_id": "ext-1", "name": "Jane"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    assert!(is_hex24(&id), "{id}");
    assert_eq!(r.body["type"], "contact");
    assert_eq!(r.body["role"], "user");
    assert!(r.body["created_at"].is_i64());

    let g = c.get(&format!("/contacts/{id}")).await;
    assert_eq!(g.status, 200);
    assert_eq!(g.body["email"], "jane@example.com");

    let f = c.get("/contacts/find_by_external_id/ext-1").await;
    assert_eq!(f.status, 200);
    assert_eq!(f.body["id"], id.as_str());

    let dup = c.post("/contacts", json!({"email": "jane@example.com"})).await;
    assert_eq!(dup.status, 409);
    assert_eq!(dup.error_code(), "conflict");
    assert_eq!(
        dup.body["errors"][0]["message"],
        format!("A contact matching those details already exists with id={id}")
    );
    let dup2 = c.post("/contacts", json!({"external_id": "ext-1"})).await;
    assert_eq!(dup2.status, 409);

    let missing = c.get("/contacts/5ba682d23d7cf92bef87bfd4").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.error_code(), "not_found");
    assert_eq!(missing.body["errors"][0]["message"], "User Not Found");

    // Leads are not found by external id.
    let lead = c.post("/contacts", json!({"role": "lead", "external_id": "lead-1"})).await;
    assert_eq!(lead.status, 200);
    let f = c.get("/contacts/find_by_external_id/lead-1").await;
    assert_eq!(f.status, 404);
}

#[tokio::test]
async fn updated_at_moves_on_write() {
    let (emu, c) = start_default().await;
    let r = c.post("/contacts", json!({"email": "t@example.com"})).await;
    let id = r.body["id"].as_str().unwrap().to_string();
    let before = r.body["updated_at"].as_i64().unwrap();
    emu.state().clock().advance(30);
    let u = c.put(&format!("/contacts/{id}"), json!({"name": "T"})).await;
    assert_eq!(u.status, 200);
    assert_eq!(u.body["name"], "T");
    assert_eq!(u.body["email"], "t@example.com");
    assert!(u.body["updated_at"].as_i64().unwrap() >= before + 30);
}

#[tokio::test]
async fn merged_contact_is_gone_with_canonical_link() {
    let (emu, c) = start_default().await;
    let a = c.post("/contacts", json!({"email": "a@example.com"})).await.body["id"].as_str().unwrap().to_string();
    let b = c.post("/contacts", json!({"email": "b@example.com"})).await.body["id"].as_str().unwrap().to_string();
    emu.state().merge_contact(&a, &b).unwrap();
    let r = c.get(&format!("/contacts/{a}")).await;
    assert_eq!(r.status, 410);
    assert_eq!(r.error_code(), "contact_merged");
    assert_eq!(r.header("link").unwrap(), format!("</contacts/{b}>; rel=\"canonical\""));
    // Merged contacts drop out of search.
    let s = c
        .post("/contacts/search", json!({"query": {"field": "email", "operator": "=", "value": "a@example.com"}}))
        .await;
    assert_eq!(s.body["total_count"], 0);
}

#[tokio::test]
async fn search_by_email_and_groups() {
    let (_emu, c) = start_default().await;
    for i in 0..5 {
        let role = if i % 2 == 0 { "user" } else { "lead" };
        let r = c
            .post(
                "/contacts",
                json!({"email": format!("p{i}@corp.example"), "role": role, "name": format!("Person {i}")}),
            )
            .await;
        assert_eq!(r.status, 200);
    }
    let s = c
        .post("/contacts/search", json!({"query": {"field": "email", "operator": "=", "value": "p3@corp.example"}}))
        .await;
    assert_eq!(s.status, 200);
    assert_eq!(s.body["type"], "list");
    assert_eq!(s.body["total_count"], 1);
    assert_eq!(s.body["data"][0]["email"], "p3@corp.example");

    let s = c
        .post(
            "/contacts/search",
            json!({"query": {"operator": "AND", "value": [
                {"field": "role", "operator": "=", "value": "user"},
                {"operator": "OR", "value": [
                    {"field": "email", "operator": "^", "value": "p0"},
                    {"field": "email", "operator": "$", "value": "p4@corp.example"}
                ]}
            ]}}),
        )
        .await;
    assert_eq!(s.status, 200, "{}", s.body);
    assert_eq!(s.body["total_count"], 2);

    let s = c
        .post(
            "/contacts/search",
            json!({"query": {"field": "name", "operator": "IN", "value": ["Person 1", "Person 2"]}}),
        )
        .await;
    assert_eq!(s.body["total_count"], 2);
}

#[tokio::test]
async fn strict_mode_rejects_bad_bodies() {
    let (_emu, c) = start_default().await;
    let r = c.post("/contacts", json!({"email": 42})).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_code(), "parameter_invalid");
    assert_eq!(r.body["errors"][0]["field"], "email");
    assert!(r.body["errors"][0]["message"].as_str().unwrap().contains("email"));

    let r = c.post("/contacts/search", json!({"pagination": {"per_page": 5}})).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_code(), "parameter_not_found");
    assert_eq!(r.body["errors"][0]["field"], "query");

    let r = c.get("/no/such/endpoint").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["type"], "error.list");
    let r = c.send("PATCH", "/contacts", None).await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn versions() {
    let (_emu, c) = start_default().await;
    for v in [Some("1.0"), Some("2.13"), Some("2.16"), None] {
        assert_eq!(c.get_as(v, "/me").await.status, 200, "{v:?}");
    }
    let r = c.get_as(Some("3.7"), "/me").await;
    assert_eq!((r.status, r.error_code()), (400, "intercom_version_invalid".to_string()));
    // find_by_external_id exists from 2.13 on.
    let r = c.get_as(Some("2.12"), "/contacts/find_by_external_id/x").await;
    assert_eq!((r.status, r.error_code()), (400, "intercom_version_invalid".to_string()));
}

#[tokio::test]
async fn rate_limit_headers_and_429() {
    let (emu, c) = start(EmulatorConfig { rate_limit_per_window: 5, ..Default::default() }).await;
    emu.state().clock().freeze_at(1_700_000_003);
    for i in 0..5 {
        let r = c.get("/me").await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-ratelimit-limit").unwrap(), "5");
        assert_eq!(r.header("x-ratelimit-remaining").unwrap(), (4 - i).to_string());
        assert_eq!(r.header("x-ratelimit-reset").unwrap(), "1700000010");
    }
    let r = c.get("/me").await;
    assert_eq!(r.status, 429);
    assert_eq!(r.error_code(), "rate_limit_exceeded");
    assert_eq!(r.body["errors"][0]["message"], "Exceeded rate limit of 5 in 10_seconds");
    assert_eq!(r.header("x-ratelimit-remaining").unwrap(), "0");
    // A new window resets the budget.
    emu.state().clock().advance(7);
    let r = c.get("/me").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-ratelimit-reset").unwrap(), "1700000020");
    assert_eq!(r.header("x-ratelimit-remaining").unwrap(), "4");
    let _ = Faults::default();
}

#[tokio::test]
async fn lenient_mode_skips_schema_checks() {
    let (emu, c) = start(EmulatorConfig { strict: false, ..Default::default() }).await;
    // A wrongly typed optional field is ignored instead of refused.
    let r = c.post("/contacts", json!({"email": "len@example.com", "signed_up_at": "yesterday"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["signed_up_at"].is_null());
    // Handlers still refuse what they cannot process.
    let r = c.post("/contacts/search", json!({})).await;
    assert_eq!(r.status, 400);
    emu.state().set_strict(true);
    let r = c.post("/contacts", json!({"email": "len2@example.com", "signed_up_at": "yesterday"})).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["errors"][0]["field"], "signed_up_at");
}

#[tokio::test]
async fn ids_may_be_numbers_in_bodies() {
    let (_emu, c) = start_default().await;
    let me = c.get("/me").await;
    let admin: i64 = me.body["id"].as_str().unwrap().parse().unwrap();
    let u = c.post("/contacts", json!({"email": "num@example.com"})).await;
    let uid = u.body["id"].as_str().unwrap().to_string();
    // admin_id as an integer (the spec says string) and owner_id as an integer.
    let r = c.post(&format!("/contacts/{uid}/notes"), json!({"body": "hi", "admin_id": admin})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = c.put(&format!("/contacts/{uid}"), json!({"owner_id": admin})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["owner_id"], admin.to_string());
}

#[tokio::test]
async fn older_versions_get_older_field_types() {
    let (_emu, c) = start_default().await;
    let admin = c.get("/me").await.body["id"].as_str().unwrap().to_string();
    let u = c.post("/contacts", json!({"email": "v@example.com", "owner_id": admin})).await;
    let id = u.body["id"].as_str().unwrap().to_string();
    assert!(u.body["owner_id"].is_string());
    let path = format!("/contacts/{id}");
    assert!(c.get_as(Some("2.16"), &path).await.body["owner_id"].is_string());
    assert!(c.get_as(Some("2.15"), &path).await.body["owner_id"].is_i64());
    let m = c.post("/conversations", json!({"from": {"type": "user", "id": id}, "body": "hi"})).await;
    let conv = m.body["conversation_id"].as_str().unwrap().to_string();
    let r = c.get_as(Some("2.15"), &format!("/conversations/{conv}")).await.body;
    assert!(r["admin_assignee_id"].is_null());
    assert_eq!(r["priority"], "not_priority");
}
