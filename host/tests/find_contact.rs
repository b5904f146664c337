//! Find Contact end to end: the component runs in the host against the emulator.

mod common;

use common::*;
use serde_json::json;
use switchyard::runtime::InvocationError;
use switchyard::runtime::bindings::ComponentError;

async fn ada(emulator: &intercom_emulator::RunningEmulator) -> String {
    let contact = create_contact(
        emulator,
        json!({"role": "user", "email": "ada@example.com", "external_id": "ada-1", "name": "Ada"}),
    )
    .await;
    contact["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn finds_a_contact_by_id_external_id_and_email() {
    let emulator = emulator().await;
    let id = ada(&emulator).await;
    let runtime = runtime();
    let bundle = load(&runtime, "intercom").await;
    let find = bundle.component("intercom/find-contact").unwrap();
    let conn = connection(&emulator);
    for input in [json!({"id": id}), json!({"external_id": "ada-1"}), json!({"email": "ada@example.com"})] {
        let out = runtime.run_action(find, Some(&conn), &input.to_string()).await.unwrap();
        assert_eq!(out["id"], json!(id), "input {input}");
        assert_eq!(out["email"], "ada@example.com");
        assert_eq!(out["role"], "user");
    }
}

#[tokio::test]
async fn not_found_is_an_error_not_an_empty_success() {
    let emulator = emulator().await;
    ada(&emulator).await;
    let runtime = runtime();
    let bundle = load(&runtime, "intercom").await;
    let find = bundle.component("intercom/find-contact").unwrap();
    let conn = connection(&emulator);
    for input in [
        json!({"id": "ffffffffffffffffffffffff"}),
        json!({"external_id": "nobody"}),
        json!({"email": "nobody@example.com"}),
    ] {
        let err = runtime.run_action(find, Some(&conn), &input.to_string()).await.unwrap_err();
        assert!(matches!(err.component_error(), Some(ComponentError::NotFound(_))), "input {input}: {err}");
    }
}

#[tokio::test]
async fn a_bad_token_is_unauthorized() {
    let emulator = emulator().await;
    let runtime = runtime();
    let bundle = load(&runtime, "intercom").await;
    let find = bundle.component("intercom/find-contact").unwrap();
    let conn = switchyard::http::Connection::new("bad", &emulator.base_url(), "not-the-token").unwrap();
    let err = runtime.run_action(find, Some(&conn), r#"{"email":"ada@example.com"}"#).await.unwrap_err();
    match err.component_error() {
        Some(ComponentError::Unauthorized(message)) => assert!(message.contains("re-authorize"), "{message}"),
        other => panic!("expected unauthorized, got {other:?}"),
    }
}

#[tokio::test]
async fn a_merged_contact_leads_to_the_surviving_contact() {
    let emulator = emulator().await;
    let survivor = ada(&emulator).await;
    let merged = create_contact(&emulator, json!({"role": "lead", "email": "ada.lead@example.com"})).await;
    let merged = merged["id"].as_str().unwrap().to_string();
    emulator.state().merge_contact(&merged, &survivor).unwrap();
    let runtime = runtime();
    let bundle = load(&runtime, "intercom").await;
    let find = bundle.component("intercom/find-contact").unwrap();
    let out = runtime.run_action(find, Some(&connection(&emulator)), &json!({"id": merged}).to_string()).await.unwrap();
    assert_eq!(out["id"], json!(survivor));
}

fn invalid_field(err: &InvocationError) -> (String, String) {
    match err.component_error() {
        Some(ComponentError::InvalidInput(f)) => (f.field.clone(), f.message.clone()),
        _ => panic!("expected invalid input, got {err}"),
    }
}

#[tokio::test]
async fn bad_input_names_the_field() {
    let emulator = emulator().await;
    let runtime = runtime();
    let bundle = load(&runtime, "intercom").await;
    let find = bundle.component("intercom/find-contact").unwrap();
    let conn = connection(&emulator);
    let cases = [
        ("{not json", ""),
        (r#"{"email": 5}"#, "email"),
        (r#"{"mail": "ada@example.com"}"#, "mail"),
        (r#"{}"#, "id"),
        (r#"{"id": "a", "email": "b@example.com"}"#, "email"),
        (r#"{"email": "  "}"#, "email"),
    ];
    for (input, field) in cases {
        let err = runtime.run_action(find, Some(&conn), input).await.unwrap_err();
        let (got, message) = invalid_field(&err);
        assert_eq!(got, field, "input {input}: {message}");
        assert!(!message.is_empty());
    }
}

#[tokio::test]
async fn a_rate_limited_request_waits_for_the_window_without_spending_its_deadline() {
    let emulator = emulator().await;
    let id = ada(&emulator).await;
    // One request per 10-second window: the second call waits for the next window and the third for
    // a whole window, far past the 3-second deadline. Waiting for the rate budget is the host's pacing,
    // not the component's slowness, so it does not count against the deadline.
    emulator.state().set_rate_limit(1);
    let deadline = std::time::Duration::from_secs(3);
    let runtime = runtime_with(switchyard::runtime::Limits {
        deadline,
        http: switchyard::http::HttpLimits {
            rate_limit_max_wait: std::time::Duration::from_secs(11),
            ..Default::default()
        },
        ..test_limits()
    });
    let bundle = load(&runtime, "intercom").await;
    let find = bundle.component("intercom/find-contact").unwrap();
    let conn = connection(&emulator);
    let started = std::time::Instant::now();
    for _ in 0..3 {
        let out = runtime.run_action(find, Some(&conn), &json!({"id": id}).to_string()).await.unwrap();
        assert_eq!(out["id"], json!(id));
    }
    assert!(started.elapsed() > deadline * 3, "the calls waited for the windows ({:?})", started.elapsed());
}

#[tokio::test]
async fn a_request_still_rate_limited_after_the_retries_is_a_rate_limited_error() {
    let emulator = emulator().await;
    emulator.state().set_faults(intercom_emulator::Faults { error_429_rate: 1.0, ..Default::default() });
    let runtime = runtime_with(switchyard::runtime::Limits {
        http: switchyard::http::HttpLimits {
            rate_limit_max_wait: std::time::Duration::from_millis(100),
            ..Default::default()
        },
        ..test_limits()
    });
    let bundle = load(&runtime, "intercom").await;
    let find = bundle.component("intercom/find-contact").unwrap();
    let err = runtime.run_action(find, Some(&connection(&emulator)), r#"{"id":"abc"}"#).await.unwrap_err();
    match err.component_error() {
        Some(ComponentError::RateLimited(r)) => assert!(r.message.contains("429"), "{}", r.message),
        _ => panic!("expected rate limited, got {err}"),
    }
}
