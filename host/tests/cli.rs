//! The `switchyard` binary: output on stdout, one clear line on stderr, distinct exit codes.

mod common;

use common::*;
use serde_json::{Value, json};
use std::process::Output;

/// The CLI with the shared test home and `token` as $SWITCHYARD_TOKEN.
async fn run(args: &[&str], token: &str) -> Output {
    let mut command = switchyard_command(&repo_root().join("target/test-home"), args);
    command.env("SWITCHYARD_TOKEN", token);
    tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn action_run_prints_json_and_uses_exit_codes() {
    let emulator = emulator().await;
    let contact = create_contact(&emulator, json!({"role": "user", "email": "ada@example.com"})).await;
    let bundle = bundle_path("intercom");
    let bundle = bundle.to_str().unwrap();
    let base = emulator.base_url();
    let token = emulator.token().to_string();
    let find = |input: &'static str| {
        vec!["action", "run", "intercom/find-contact", "--bundle", bundle, "--base-url", &base, "--input", input]
    };

    let out = run(&find(r#"{"email":"ada@example.com"}"#), &token).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let found: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(found["id"], contact["id"]);

    let out = run(&find(r#"{"email":"nobody@example.com"}"#), &token).await;
    assert_eq!(out.status.code(), Some(3), "not found: {}", stderr(&out));
    assert_eq!(stderr(&out).trim().lines().count(), 1, "one line: {}", stderr(&out));
    assert!(stderr(&out).contains("not found"), "{}", stderr(&out));
    assert!(out.stdout.is_empty());

    let out = run(&find(r#"{"email": 5}"#), &token).await;
    assert_eq!(out.status.code(), Some(2), "bad input: {}", stderr(&out));
    assert!(stderr(&out).contains("field `email`"), "{}", stderr(&out));

    let out = run(&find(r#"{"email":"ada@example.com"}"#), "wrong-token").await;
    assert_eq!(out.status.code(), Some(4), "unauthorized: {}", stderr(&out));
    assert!(!stderr(&out).contains("wrong-token"), "the token must not be echoed");

    let out = run(
        &["action", "run", "intercom/find-kontact", "--bundle", bundle, "--base-url", &base, "--input", "{}"],
        &token,
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "unknown component: {}", stderr(&out));
    assert!(stderr(&out).contains("intercom/find-contact"), "lists what exists: {}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn action_list_and_describe() {
    let bundle = bundle_path("intercom");
    let bundle = bundle.to_str().unwrap();
    let out = run(&["action", "list", "--bundle", bundle, "--json"], "").await;
    assert!(out.status.success(), "{}", stderr(&out));
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        rows.iter().any(|r| r["key"] == "intercom/find-contact" && r["kind"] == "action" && r["version"] == "1.0.0")
    );

    let out = run(&["action", "describe", "intercom/find-contact", "--bundle", bundle], "").await;
    assert!(out.status.success(), "{}", stderr(&out));
    let d: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(d["name"], "Find Contact");
    assert_eq!(d["input_schema"]["properties"]["external_id"]["title"], "External ID");
    assert_eq!(d["sample_output"]["type"], "contact");

    let out = run(&["action", "list", "--bundle", "/nonexistent/bundle"], "").await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("/nonexistent/bundle"), "{}", stderr(&out));
}
