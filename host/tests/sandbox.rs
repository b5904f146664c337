//! Hostile components: each attack fails only its own invocation, with a clear error, and the host
//! keeps serving.

mod common;

use common::*;
use serde_json::{Value, json};
use switchyard::runtime::bindings::ComponentError;
use switchyard::runtime::{InvocationError, LoadedComponent, Runtime};

async fn echo_still_works(runtime: &Runtime, hostile: &LoadedComponent, conn: &switchyard::http::Connection) {
    let out = runtime
        .run_action(hostile, Some(conn), r#"{"mode":"echo"}"#)
        .await
        .expect("a normal invocation after the attack");
    assert_eq!(out["mode"], "echo");
    assert!(out["now"].as_u64().unwrap() > 1_700_000_000, "the host clock reaches the guest");
}

async fn attack(mode_input: Value) -> InvocationError {
    let emulator = emulator().await;
    let runtime = runtime();
    let bundle = load(&runtime, "testing").await;
    let hostile = bundle.component("testing/hostile").unwrap();
    let conn = connection(&emulator);
    let err = runtime.run_action(hostile, Some(&conn), &mode_input.to_string()).await.unwrap_err();
    echo_still_works(&runtime, hostile, &conn).await;
    err
}

#[tokio::test]
async fn an_endless_loop_is_stopped_by_the_deadline() {
    let started = std::time::Instant::now();
    let err = attack(json!({"mode": "loop"})).await;
    assert!(matches!(err, InvocationError::DeadlineExceeded(_)), "{err}");
    assert!(err.to_string().contains("deadline"), "{err}");
    // Functional bound only (not a timing assertion): the loop did not run forever.
    assert!(started.elapsed().as_secs() < 60);
}

#[tokio::test]
async fn a_memory_bomb_is_stopped_by_the_limit() {
    let err = attack(json!({"mode": "memory-bomb"})).await;
    assert!(matches!(err, InvocationError::MemoryLimit(_)), "{err}");
    assert!(err.to_string().contains("limit of 67108864 bytes"), "{err}");
}

#[tokio::test]
async fn an_oversized_output_is_refused() {
    let err = attack(json!({"mode": "big-output"})).await;
    assert!(matches!(err, InvocationError::OutputTooLarge { limit: 4194304, .. }), "{err}");
}

#[tokio::test]
async fn a_trap_fails_only_its_invocation() {
    let err = attack(json!({"mode": "trap"})).await;
    assert!(matches!(err, InvocationError::Trapped(_)), "{err}");
}

#[tokio::test]
async fn a_request_outside_the_allow_list_is_denied() {
    let err = attack(json!({"mode": "call", "path": "https://evil.example.com/steal"})).await;
    match err.component_error() {
        Some(ComponentError::Forbidden(message)) => {
            assert!(message.contains("evil.example.com"), "{message}");
            assert!(message.contains("allowed hosts"), "{message}");
        }
        _ => panic!("expected forbidden, got {err}"),
    }
}

#[tokio::test]
async fn a_guest_set_authorization_header_is_refused() {
    for header in ["Authorization", "cookie", "Intercom-Version"] {
        let err = attack(json!({"mode": "call", "path": "/me", "headers": [[header, "Bearer stolen"]]})).await;
        match err.component_error() {
            Some(ComponentError::Forbidden(message)) => assert!(message.contains(header), "{message}"),
            _ => panic!("expected forbidden for {header}, got {err}"),
        }
    }
}

#[tokio::test]
async fn the_connection_origin_gets_the_token_but_the_guest_never_sees_it() {
    let emulator = emulator().await;
    let runtime = runtime();
    let bundle = load(&runtime, "testing").await;
    let hostile = bundle.component("testing/hostile").unwrap();
    let out =
        runtime.run_action(hostile, Some(&connection(&emulator)), r#"{"mode":"call","path":"/me"}"#).await.unwrap();
    assert_eq!(out["status"], 200, "the host injected the bearer token: {out}");
    assert!(!out.to_string().contains(emulator.token()), "the token reached the guest");
}

#[tokio::test]
async fn a_component_without_a_connection_cannot_make_requests() {
    let runtime = runtime();
    let bundle = load(&runtime, "testing").await;
    let hostile = bundle.component("testing/hostile").unwrap();
    let err = runtime.run_action(hostile, None, r#"{"mode":"call","path":"/me"}"#).await.unwrap_err();
    assert!(matches!(err.component_error(), Some(ComponentError::Forbidden(_))), "{err}");
}
