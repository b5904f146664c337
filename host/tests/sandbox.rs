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

/// A component's log text cannot forge the host's log lines or drive a terminal, and it is capped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_log_line_is_escaped_and_the_log_is_capped() {
    let emulator = emulator().await;
    let forged = format!(
        "innocent{}2026-12-02T00:00:00Z  WARN switchyard: connection acme removed\r\u{1b}[2J{}",
        '\n',
        "x".repeat(200)
    );
    let input = json!({"mode": "log", "text": forged}).to_string();
    let bundle = bundle_path("testing").display().to_string();
    let out = switchyard_command(
        &repo_root().join("target/test-home"),
        &[
            "action",
            "run",
            "testing/hostile",
            "--bundle",
            &bundle,
            "--base-url",
            &emulator.base_url(),
            "--input",
            &input,
        ],
    )
    .env("SWITCHYARD_TOKEN", emulator.token())
    .env("SWITCHYARD_LOG", "component=info")
    .env("NO_COLOR", "1")
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(!log.lines().any(|line| line.starts_with("2026-12-02T00:00:00Z")), "a forged line reached the log");
    assert!(!log.contains('\r') && !log.contains('\u{1b}'), "control characters reached the log");
    assert!(
        log.contains("innocent\\n2026-12-02T00:00:00Z"),
        "the newline is shown escaped: {}",
        &log[..log.len().min(600)]
    );
    let lines = log.lines().filter(|line| line.contains("innocent")).count();
    assert!(lines < 1000 && lines > 10, "{lines} of 1000 lines were logged: the cap holds");
    assert!(log.contains("log limit"), "the cap says so");
}

/// A component asking to be called again in u32::MAX seconds waits at most the host's longest backoff.
#[tokio::test]
async fn a_guest_supplied_retry_wait_is_clamped() {
    use std::sync::{Arc, Mutex};
    use switchyard::store::Store;
    use switchyard::workflow::executor::{Executor, FixedConnection, Options, Sleeper};
    use switchyard::workflow::records::TriggerEvent;
    use switchyard::workflow::runner::{LoadedWorkflow, handle_event};

    let emulator = emulator().await;
    let runtime = runtime();
    let bundle = load(&runtime, "testing").await;
    let connection = FixedConnection(connection(&emulator));
    let store = Store::in_memory().await.unwrap();
    let waits = Arc::new(Mutex::new(Vec::new()));
    let seen = waits.clone();
    let sleeper: Sleeper = Arc::new(move |wait| {
        seen.lock().unwrap().push(wait);
        Box::pin(async {})
    });
    let executor =
        Executor::new(&store, &runtime, &bundle, &connection).with_options(Options { sleeper, ..Options::default() });
    let workflow = LoadedWorkflow::parse(
        "limited.yaml",
        "name: limited\ntrigger: { key: intercom/new-ticket }\nsteps:\n  - id: ask\n    action: testing/hostile\n    input: { mode: rate-limited }\n    on_error:\n      retry: { max_attempts: 2, backoff: 1s }\n",
    )
    .unwrap();
    let event = TriggerEvent {
        trigger_key: "intercom/new-ticket".into(),
        dedupe_key: "t".into(),
        occurred_at: 0,
        payload: json!({}),
    };
    handle_event(&executor, &workflow, &event).await.unwrap();
    let waits = waits.lock().unwrap().clone();
    assert_eq!(waits.len(), 1, "one retry: {waits:?}");
    assert!(waits[0] <= std::time::Duration::from_secs(3600), "waited {:?}, not u32::MAX seconds", waits[0]);
    assert!(waits[0] >= std::time::Duration::from_secs(1));
}

/// Four guests spinning in loops on this 2-core machine do not stall the host: an ordinary action
/// started after them finishes before any of them is stopped at its deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spinning_guests_yield_so_a_normal_action_completes_before_their_deadlines() {
    use std::sync::Arc;
    let emulator = emulator().await;
    let runtime = Arc::new(runtime_with(switchyard::runtime::Limits {
        deadline: std::time::Duration::from_secs(8),
        ..test_limits()
    }));
    let bundle = Arc::new(load(&runtime, "testing").await);
    let conn = connection(&emulator);
    let finished = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut spinners = Vec::new();
    for n in 0..4 {
        let (runtime, bundle, conn, finished) = (runtime.clone(), bundle.clone(), conn.clone(), finished.clone());
        spinners.push(tokio::spawn(async move {
            let hostile = bundle.component("testing/hostile").unwrap();
            let result = runtime.run_action(hostile, Some(&conn), r#"{"mode":"loop"}"#).await;
            finished.lock().unwrap().push(format!("loop {n}"));
            result
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let hostile = bundle.component("testing/hostile").unwrap();
    let echo = runtime.run_action(hostile, Some(&conn), r#"{"mode":"echo"}"#).await.unwrap();
    finished.lock().unwrap().push("echo".into());
    assert_eq!(echo["mode"], "echo");
    for spinner in spinners {
        let err = spinner.await.unwrap().unwrap_err();
        assert!(matches!(err, InvocationError::DeadlineExceeded(_)), "{err}");
    }
    let order = finished.lock().unwrap().clone();
    assert_eq!(order[0], "echo", "the normal action finished first: {order:?}");
}

/// A component that says `unauthorized` without the connection's origin having answered 401 (e.g.
/// for a third-party host) cannot disable the connection; a real 401 from the origin can.
#[tokio::test]
async fn only_a_401_the_host_saw_from_the_origin_counts_as_refused_credentials() {
    let emulator = emulator().await;
    let runtime = runtime();
    let testing = load(&runtime, "testing").await;
    let hostile = testing.component("testing/hostile").unwrap();
    let conn = connection(&emulator);
    let said = runtime.run_action(hostile, Some(&conn), r#"{"mode":"unauthorized"}"#).await.unwrap_err();
    assert!(matches!(said.component_error(), Some(ComponentError::Unauthorized(_))), "{said}");
    assert_eq!(said.credentials_refused(), None, "a component's word is not enough");

    let intercom = load(&runtime, "intercom").await;
    let find = intercom.component("intercom/find-contact").unwrap();
    let revoked = switchyard::http::Connection::new("revoked", &emulator.base_url(), "not-a-token").unwrap();
    let refused = runtime.run_action(find, Some(&revoked), r#"{"email":"ada@example.com"}"#).await.unwrap_err();
    assert!(refused.credentials_refused().is_some(), "the origin's 401: {refused}");
    assert_eq!(refused.exit_code(), 4);
}

/// A dry run sends no write, whatever the component declares: the HTTP layer refuses it.
#[tokio::test]
async fn a_dry_run_write_is_refused_at_the_http_layer() {
    let emulator = emulator().await;
    let runtime = runtime();
    let bundle = load(&runtime, "testing").await;
    let hostile = bundle.component("testing/hostile").unwrap();
    assert_eq!(hostile.effect.as_str(), "read", "it declares itself a read");
    let conn = connection(&emulator);
    let err =
        runtime.run_action_reads_only(hostile, Some(&conn), r#"{"mode":"post","path":"/contacts"}"#).await.unwrap_err();
    assert!(matches!(err.component_error(), Some(ComponentError::Forbidden(m)) if m.contains("dry run")), "{err}");
    assert_eq!(emulator.state().request_count("POST /contacts"), 0, "nothing reached the service");
    // Reads still go out in a dry run, and searches (POST .../search) are reads.
    let read = runtime.run_action_reads_only(hostile, Some(&conn), r#"{"mode":"call","path":"/me"}"#).await.unwrap();
    assert_eq!(read["status"], 200);
    let search = switchyard::http::is_write(
        switchyard::runtime::bindings::http::Method::Post,
        &"http://x/contacts/search".parse().unwrap(),
    );
    assert!(!search);
}
