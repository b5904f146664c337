//! Security hygiene of the CLI: PKCE (S256) in the OAuth flow, no plain `http://` endpoint except on
//! loopback, no secret as a command-line flag, and no `SWITCHYARD_*` variable handed to the browser.

mod common;

use common::*;
use intercom_emulator::RunningEmulator;
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;
use url::Url;

const CLIENT_ID: &str = "hygiene-test-app";
const CLIENT_SECRET: &str = "cs_hygiene-very-secret";

fn text(out: &Output) -> String {
    format!("stdout: {}\nstderr: {}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

async fn output(mut command: Command) -> Output {
    command.stdin(Stdio::null());
    tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap()
}

async fn emulator_with_app() -> RunningEmulator {
    let emulator = emulator().await;
    emulator.state().add_oauth_client(CLIENT_ID, CLIENT_SECRET, vec![]);
    emulator
}

/// `switchyard connect intercom` with OAuth against the emulator, as `tests/connections.rs` drives
/// it: the returned child prints the authorize URL on stderr and waits for the callback.
fn connect_command(home: &Path, emulator: &RunningEmulator, name: &str, no_browser: bool) -> Command {
    let owned = emulator_oauth_connect_args(emulator, name, CLIENT_ID);
    let mut args: Vec<&str> = owned.iter().map(String::as_str).collect();
    if no_browser {
        args.push("--no-browser");
    }
    let mut command = switchyard_command(home, &args);
    command
        .env("SWITCHYARD_CLIENT_SECRET", CLIENT_SECRET)
        .env_remove("SWITCHYARD_SECRET_KEY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Runs a connect command: reads the authorize URL it prints, plays the browser (follows it to the
/// loopback callback) and waits for the end. Returns the authorize URL and the output.
async fn connect(mut command: Command) -> (Url, Output) {
    let mut child = command.spawn().unwrap();
    let (url, reader) = authorize_url(&mut child).await;
    let page = reqwest::get(url.clone()).await.unwrap();
    assert_eq!(page.status(), 200, "the callback page");
    let mut out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()).await.unwrap();
    out.stderr = reader.join().unwrap().into_bytes();
    (url, out)
}

fn query(url: &Url, key: &str) -> Option<String> {
    url.query_pairs().find(|(k, _)| k == key).map(|(_, v)| v.into_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn connect_over_oauth_sends_an_s256_challenge_and_the_verifier_end_to_end() {
    let emulator = emulator_with_app().await;
    let home = test_home();
    let (url, out) = connect(connect_command(home.path(), &emulator, "acme", true)).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Connected `acme`"), "{}", text(&out));

    assert_eq!(query(&url, "code_challenge_method").as_deref(), Some("S256"), "{url}");
    let challenge = query(&url, "code_challenge").unwrap_or_else(|| panic!("a code_challenge: {url}"));
    assert_eq!(challenge.len(), 43, "base64url of a SHA-256 digest: {challenge}");
    // The emulator bound the code to the challenge, and the exchange (which it refuses without the
    // matching verifier) went through: the code is used and the stored token works.
    let codes: Vec<(Option<String>, bool)> =
        emulator.state().read(|w| w.oauth_codes.values().map(|c| (c.code_challenge.clone(), c.used)).collect());
    assert_eq!(codes, [(Some(challenge.clone()), true)]);
    let out = switchyard(home.path(), &["connections", "test", "acme"]);
    assert!(out.status.success(), "{}", text(&out));

    // A second flow gets a fresh challenge.
    let (url, out) = connect(connect_command(home.path(), &emulator, "acme2", true)).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_ne!(query(&url, "code_challenge"), Some(challenge));
}

/// The browser is started with the environment of `switchyard connect` minus every `SWITCHYARD_*`
/// variable (the client secret may be in $SWITCHYARD_CLIENT_SECRET). `$BROWSER` names a script
/// that records its environment and arguments.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread")]
async fn the_browser_opened_for_oauth_inherits_no_switchyard_variable() {
    use std::os::unix::fs::PermissionsExt;

    let emulator = emulator_with_app().await;
    let home = test_home();
    let dump = home.path().join("browser-env.txt");
    let script = home.path().join("fake-browser.sh");
    let body = format!("#!/bin/sh\n{{ env; echo \"ARGS=$*\"; }} > '{0}.tmp' && mv '{0}.tmp' '{0}'\n", dump.display());
    std::fs::write(&script, body).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();

    let mut command = connect_command(home.path(), &emulator, "acme", false);
    command
        .env("BROWSER", &script)
        .env("SWITCHYARD_TOKEN", "tok_from_the_environment")
        .env("SWITCHYARD_LOG", "info")
        .env("HYGIENE_MARKER", "inherited");
    let (url, out) = connect(command).await;
    assert!(out.status.success(), "{}", text(&out));

    let mut recorded = None;
    for _ in 0..100 {
        if let Ok(text) = std::fs::read_to_string(&dump) {
            recorded = Some(text);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let recorded = recorded.expect("the browser was started");
    assert!(recorded.contains(&format!("ARGS={url}")), "the browser got the authorize URL: {recorded}");
    assert!(recorded.contains("HYGIENE_MARKER=inherited"), "the rest of the environment is kept: {recorded}");
    let leaked: Vec<&str> = recorded.lines().filter(|l| l.starts_with("SWITCHYARD_")).collect();
    assert!(leaked.is_empty(), "the browser inherited {leaked:?}");
    assert!(!recorded.contains(CLIENT_SECRET) && !recorded.contains("tok_from_the_environment"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_token_comes_from_the_environment_never_from_a_flag() {
    let emulator = emulator().await;
    let contact = create_contact(&emulator, json!({"role": "user", "email": "ada@example.com"})).await;
    let home = test_home();
    let bundle = bundle_path("intercom");
    let bundle = bundle.to_str().unwrap();
    let base = emulator.base_url();
    let token = emulator.token().to_string();
    let find = ["action", "run", "intercom/find-contact", "--bundle", bundle, "--base-url", &base];
    let input = ["--input", r#"{"email":"ada@example.com"}"#];

    // `--token` is no flag any more: clap refuses it (a secret on the command line shows in `ps`).
    let out = output(switchyard_command(home.path(), &[&find[..], &["--token", &token], &input[..]].concat())).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(stderr(&out).contains("unexpected argument '--token'"), "{}", text(&out));
    assert!(!stderr(&out).contains(&token), "the refused value is not echoed: {}", text(&out));

    // From $SWITCHYARD_TOKEN it works.
    let mut command = switchyard_command(home.path(), &[&find[..], &input[..]].concat());
    command.env("SWITCHYARD_TOKEN", &token);
    let out = output(command).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(serde_json::from_slice::<Value>(&out.stdout).unwrap()["id"], contact["id"]);

    // Without it, --base-url is a clear usage error naming the variable.
    let out = output(switchyard_command(home.path(), &[&find[..], &input[..]].concat())).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(stderr(&out).contains("$SWITCHYARD_TOKEN"), "{}", text(&out));

    // The same for the commands that take an optional quick connection.
    let workflow = home.path().join("find.yaml");
    std::fs::write(
        &workflow,
        "name: find\ntrigger: { key: intercom/contact-updated }\nsteps:\n  - id: find\n    action: intercom/find-contact\n    input: { email: \"{{ trigger.email }}\" }\n",
    )
    .unwrap();
    let event = home.path().join("event.json");
    std::fs::write(&event, json!({"email": "ada@example.com"}).to_string()).unwrap();
    let test = ["workflow", "test", workflow.to_str().unwrap(), "--bundle", bundle, "--base-url", &base];
    let rest = ["--event", event.to_str().unwrap(), "--dry-run", "--json"];
    let out = output(switchyard_command(home.path(), &[&test[..], &["--token", &token], &rest[..]].concat())).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(stderr(&out).contains("unexpected argument '--token'"), "{}", text(&out));
    let out = output(switchyard_command(home.path(), &[&test[..], &rest[..]].concat())).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(stderr(&out).contains("$SWITCHYARD_TOKEN"), "{}", text(&out));
    let mut command = switchyard_command(home.path(), &[&test[..], &rest[..]].concat());
    command.env("SWITCHYARD_TOKEN", &token);
    let out = output(command).await;
    assert!(out.status.success(), "{}", text(&out));

    // --help says where the token comes from, and offers no --token.
    for command in [&["action", "run", "--help"][..], &["workflow", "test", "--help"][..]] {
        let out = switchyard(home.path(), command);
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains("$SWITCHYARD_TOKEN"), "{help}");
        assert!(!help.contains("--token "), "{help}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn plain_http_endpoints_are_refused_except_on_loopback() {
    let home = test_home();
    let bundle = bundle_path("intercom");
    let bundle = bundle.to_str().unwrap();
    let remote = "http://switchyard-test.invalid";
    let refused = |flag: &str, out: &Output| {
        assert_eq!(out.status.code(), Some(2), "{flag}: {}", text(out));
        let err = stderr(out);
        assert!(err.contains(flag) && err.contains("https://"), "{flag}: {}", text(out));
    };

    let oauth = ["connect", "intercom", "--name", "acme", "--client-id", "id", "--no-browser", "--callback-port", "0"];
    for flag in ["--authorize-url", "--token-url", "--base-url"] {
        let mut command = switchyard_command(home.path(), &[&oauth[..], &[flag, remote]].concat());
        command.env("SWITCHYARD_CLIENT_SECRET", CLIENT_SECRET);
        refused(flag, &output(command).await);
    }
    let mut command = switchyard_command(
        home.path(),
        &["connect", "intercom", "--name", "acme", "--access-token-env", "HYGIENE_TOKEN", "--base-url", remote],
    );
    command.env("HYGIENE_TOKEN", "tok");
    refused("--base-url", &output(command).await);

    let mut command = switchyard_command(
        home.path(),
        &["action", "run", "intercom/find-contact", "--bundle", bundle, "--base-url", remote, "--input", "{}"],
    );
    command.env("SWITCHYARD_TOKEN", "tok");
    refused("--base-url", &output(command).await);

    let mut command = switchyard_command(
        home.path(),
        &["subscriptions", "add", "intercom/new-conversation", "--bundle", bundle, "--base-url", remote],
    );
    command.env("SWITCHYARD_TOKEN", "tok");
    refused("--base-url", &output(command).await);

    // Credentials in the URL are refused too, without echoing them.
    let mut command = switchyard_command(
        home.path(),
        &[
            "action",
            "run",
            "intercom/find-contact",
            "--bundle",
            bundle,
            "--base-url",
            "https://user:hunter2pw@switchyard-test.invalid",
            "--input",
            "{}",
        ],
    );
    command.env("SWITCHYARD_TOKEN", "tok");
    let out = output(command).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(stderr(&out).contains("--base-url") && !stderr(&out).contains("hunter2pw"), "{}", text(&out));

    let out = output(switchyard_command(home.path(), &["connections", "list", "--json"])).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(serde_json::from_slice::<Value>(&out.stdout).unwrap(), json!([]), "nothing was stored");
    let out = output(switchyard_command(home.path(), &["subscriptions", "list", "--json"])).await;
    assert_eq!(serde_json::from_slice::<Value>(&out.stdout).unwrap(), json!([]), "nothing was stored");

    // Loopback stays allowed over http (the emulator).
    let emulator = emulator().await;
    let base = emulator.base_url();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    let mut command = switchyard_command(
        home.path(),
        &["connect", "intercom", "--name", "emu", "--access-token-env", "HYGIENE_TOKEN", "--base-url", &base],
    );
    command.env("HYGIENE_TOKEN", emulator.token());
    let out = output(command).await;
    assert!(out.status.success(), "{}", text(&out));
    let localhost = base.replace("127.0.0.1", "localhost");
    let mut command = switchyard_command(
        home.path(),
        &[
            "action",
            "run",
            "intercom/find-contact",
            "--bundle",
            bundle,
            "--base-url",
            &localhost,
            "--input",
            r#"{"email":"nobody@example.com"}"#,
        ],
    );
    command.env("SWITCHYARD_TOKEN", emulator.token());
    let out = output(command).await;
    assert_eq!(out.status.code(), Some(3), "localhost is loopback: the search ran and found nobody: {}", text(&out));
}
