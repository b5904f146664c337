//! Connections against the emulator's OAuth endpoints: the full flow through the CLI, state and code
//! checks, workspaces side by side, re-authorization after a 401, no secret in clear text anywhere,
//! and a wrong encryption key.

mod common;

use common::*;
use intercom_emulator::RunningEmulator;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;
use switchyard::auth::oauth::{self, OAuthApp};
use url::Url;

const CLIENT_ID: &str = "switchyard-test-app";
const CLIENT_SECRET: &str = "cs_9f1c2d7e-very-secret";

/// Output of one `switchyard` run, with stdout and stderr as text.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
    fn ok(&self) -> bool {
        self.code == Some(0)
    }
    fn both(&self) -> String {
        format!("stdout: {}\nstderr: {}", self.stdout, self.stderr)
    }
}

/// Runs `switchyard` against `home`, at debug log level, with a clean credential environment.
struct Cli {
    home: PathBuf,
    env: Vec<(String, String)>,
    /// Every run's output, for the grep test.
    transcript: std::sync::Mutex<String>,
}

impl Cli {
    fn new(home: &Path) -> Cli {
        Cli { home: home.to_path_buf(), env: vec![], transcript: Default::default() }
    }

    fn with_env(mut self, key: &str, value: &str) -> Cli {
        self.env.push((key.into(), value.into()));
        self
    }

    fn command(&self, args: &[&str], extra_env: &[(&str, &str)]) -> Command {
        let mut command = switchyard_command(&self.home, args);
        command
            .env("SWITCHYARD_LOG", "debug")
            .env_remove("SWITCHYARD_SECRET_KEY")
            .env_remove("SWITCHYARD_CLIENT_SECRET")
            .stdin(Stdio::null());
        for (k, v) in &self.env {
            command.env(k, v);
        }
        for (k, v) in extra_env {
            command.env(k, v);
        }
        command
    }

    fn record(&self, run: &Run) {
        let mut transcript = self.transcript.lock().unwrap();
        transcript.push_str(&run.stdout);
        transcript.push_str(&run.stderr);
    }

    async fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, &[]).await
    }

    async fn run_with(&self, args: &[&str], extra_env: &[(&str, &str)]) -> Run {
        let mut command = self.command(args, extra_env);
        let run = Run::from(tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap());
        self.record(&run);
        run
    }

    /// `connect intercom` with OAuth: waits for the authorize URL on stderr, follows it (as the
    /// browser would), then waits for the command to finish. With `replace`, re-authorizes without
    /// $SWITCHYARD_CLIENT_SECRET: the stored client secret is reused.
    async fn connect_oauth(
        &self,
        emulator: &RunningEmulator,
        name: &str,
        workspace: Option<&str>,
        replace: bool,
    ) -> Run {
        let owned = emulator_oauth_connect_args(emulator, name, CLIENT_ID);
        let mut args: Vec<&str> = owned.iter().map(String::as_str).collect();
        args.push("--no-browser");
        let secret_env: &[(&str, &str)] = if replace {
            args.push("--replace");
            &[]
        } else {
            &[("SWITCHYARD_CLIENT_SECRET", CLIENT_SECRET)]
        };
        let mut child = self.command(&args, secret_env).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let (mut url, reader) = authorize_url(&mut child).await;
        assert_eq!(url.query_pairs().find(|(k, _)| k == "client_id").unwrap().1, CLIENT_ID);
        assert!(url.query_pairs().any(|(k, v)| k == "state" && v.len() >= 16), "a random state: {url}");
        if let Some(workspace) = workspace {
            // The emulator's way of choosing which workspace the user installs the app on.
            url.query_pairs_mut().append_pair("workspace", workspace);
        }
        // The "browser": follows the redirect to the loopback callback.
        let page = reqwest::get(url).await.unwrap();
        assert_eq!(page.status(), 200, "the callback page");
        let output = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()).await.unwrap();
        let mut run = Run::from(output);
        run.stderr = reader.join().unwrap();
        self.record(&run);
        run
    }

    async fn connect_token(&self, emulator: &RunningEmulator, name: &str, token: &str, replace: bool) -> Run {
        let base = emulator.base_url();
        let mut args = vec![
            "connect",
            "intercom",
            "--name",
            name,
            "--access-token-env",
            "TEST_INTERCOM_TOKEN",
            "--base-url",
            &base,
        ];
        if replace {
            args.push("--replace");
        }
        self.run_with(&args, &[("TEST_INTERCOM_TOKEN", token)]).await
    }

    async fn find_contact(&self, connection: &str, email: &str) -> Run {
        let bundle = bundle_path("intercom");
        let input = json!({ "email": email }).to_string();
        self.run(&[
            "action",
            "run",
            "intercom/find-contact",
            "--bundle",
            bundle.to_str().unwrap(),
            "--connection",
            connection,
            "--input",
            &input,
        ])
        .await
    }

    async fn list_json(&self) -> Vec<Value> {
        let run = self.run(&["connections", "list", "--json"]).await;
        assert!(run.ok(), "{}", run.both());
        serde_json::from_str(&run.stdout).unwrap()
    }
}

fn home() -> tempfile::TempDir {
    let root = repo_root().join("target/tmp");
    std::fs::create_dir_all(&root).unwrap();
    tempfile::tempdir_in(root).unwrap()
}

async fn emulator_with_app() -> RunningEmulator {
    let emulator = emulator().await;
    emulator.state().add_oauth_client(CLIENT_ID, CLIENT_SECRET, vec![]);
    emulator
}

/// Creates a contact in the workspace that `token` belongs to.
async fn create_contact_with(emulator: &RunningEmulator, token: &str, email: &str) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{}/contacts", emulator.base_url()))
        .bearer_auth(token)
        .header("Intercom-Version", "2.16")
        .json(&json!({ "role": "user", "email": email }))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "creating a contact: {}", response.status());
    response.json().await.unwrap()
}

fn app(emulator: &RunningEmulator) -> OAuthApp {
    let base = emulator.base_url();
    OAuthApp {
        client_id: CLIENT_ID.into(),
        client_secret: SecretString::from(CLIENT_SECRET.to_string()),
        authorize_url: Url::parse(&format!("{base}/oauth")).unwrap(),
        token_url: Url::parse(&format!("{base}/auth/eagle/token")).unwrap(),
    }
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread")]
async fn oauth_connects_two_workspaces_side_by_side_and_no_secret_leaks() {
    let emulator = emulator_with_app().await;
    let state = emulator.state();
    let beta_api_token = "tok_beta_for_test_setup";
    let beta = state.add_workspace("Beta GmbH", "EU", beta_api_token);
    let ada = create_contact_with(&emulator, emulator.token(), "ada@acme.test").await;
    let bob = create_contact_with(&emulator, beta_api_token, "bob@beta.test").await;

    let home = home();
    let cli = Cli::new(home.path());
    let run = cli.connect_oauth(&emulator, "acme", None, false).await;
    assert!(run.ok(), "{}", run.both());
    assert!(run.stdout.contains("Connected `acme`") && run.stdout.contains("region US"), "{}", run.both());
    let run = cli.connect_oauth(&emulator, "beta", Some(&beta), false).await;
    assert!(run.ok(), "{}", run.both());
    assert!(run.stdout.contains("\"Beta GmbH\"") && run.stdout.contains("region EU"), "{}", run.both());

    // The same name again is refused before any browser is involved.
    let run = cli.connect_token(&emulator, "acme", "whatever", false).await;
    assert_eq!(run.code, Some(2), "{}", run.both());
    assert!(run.stderr.contains("already exists") && run.stderr.contains("--replace"), "{}", run.both());

    let list = cli.list_json().await;
    assert_eq!(list.len(), 2);
    let (acme_row, beta_row) = (&list[0], &list[1]);
    assert_eq!((acme_row["name"].as_str(), acme_row["region"].as_str()), (Some("acme"), Some("US")));
    assert_eq!(acme_row["workspace_name"], "Emulated Workspace");
    assert_eq!((beta_row["name"].as_str(), beta_row["region"].as_str()), (Some("beta"), Some("EU")));
    assert_eq!(beta_row["workspace_id"].as_str(), Some(beta.as_str()));
    assert_eq!(beta_row["auth_method"], "oauth");
    assert_eq!(beta_row["client_id"], CLIENT_ID);
    assert!(list.iter().all(|c| c["status"] == "active" && c["last_used_at"].is_null()), "{list:?}");

    // Each connection sees its own workspace only.
    let run = cli.find_contact("acme", "ada@acme.test").await;
    assert!(run.ok(), "{}", run.both());
    assert_eq!(serde_json::from_str::<Value>(&run.stdout).unwrap()["id"], ada["id"]);
    let run = cli.find_contact("acme", "bob@beta.test").await;
    assert_eq!(run.code, Some(3), "acme cannot see beta's contact: {}", run.both());
    let run = cli.find_contact("beta", "bob@beta.test").await;
    assert!(run.ok(), "{}", run.both());
    assert_eq!(serde_json::from_str::<Value>(&run.stdout).unwrap()["id"], bob["id"]);
    let run = cli.find_contact("beta", "ada@acme.test").await;
    assert_eq!(run.code, Some(3), "beta cannot see acme's contact: {}", run.both());
    let run = cli.find_contact("gamma", "ada@acme.test").await;
    assert_eq!(run.code, Some(2), "{}", run.both());
    assert!(run.stderr.contains("no connection named `gamma`") && run.stderr.contains("acme, beta"), "{}", run.both());

    let run = cli.run(&["connections", "list"]).await;
    assert!(run.ok(), "{}", run.both());
    let header = run.stdout.lines().next().unwrap();
    for column in ["NAME", "WORKSPACE", "REGION", "CREATED", "LAST USED", "STATUS"] {
        assert!(header.contains(column), "{header}");
    }
    let beta_line = run.stdout.lines().find(|l| l.starts_with("beta ")).unwrap();
    assert!(beta_line.contains("Beta GmbH") && beta_line.contains("EU") && beta_line.ends_with("ok"), "{beta_line}");
    assert!(!beta_line.contains("never"), "used connections show when: {beta_line}");
    let run = cli.run(&["connections", "test", "beta"]).await;
    assert!(run.ok() && run.stdout.contains("`beta` works"), "{}", run.both());

    // The grep test: the tokens the emulator issued, the authorization codes and the client secret
    // appear nowhere under the data directory nor in any output (all runs at debug log level).
    let (issued, codes): (Vec<String>, Vec<String>) = state.read(|w| {
        let issued = w.tokens.keys().filter(|t| *t != emulator.token() && *t != beta_api_token).cloned().collect();
        (issued, w.oauth_codes.keys().cloned().collect())
    });
    assert_eq!((issued.len(), codes.len()), (2, 2), "two OAuth connections: two codes, two tokens");
    let secrets: Vec<&str> = issued.iter().chain(&codes).map(String::as_str).chain([CLIENT_SECRET]).collect();
    let transcript = cli.transcript.lock().unwrap().clone();
    assert!(transcript.contains("DEBUG") && transcript.contains("connection saved"), "debug logs were captured");
    let all_files = files(home.path());
    assert!(
        all_files.iter().any(|f| f.ends_with("switchyard.db")) && all_files.iter().any(|f| f.ends_with("secret.key"))
    );
    for secret in &secrets {
        assert!(!transcript.contains(secret), "a secret appears in the output");
        for file in &all_files {
            assert!(!contains(&std::fs::read(file).unwrap(), secret), "a secret appears in {}", file.display());
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(home.path().join("secret.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the key file is owner-only");
    }

    // Re-authorizing reuses the stored client secret (none in the environment, no terminal to prompt).
    let run = cli.connect_oauth(&emulator, "beta", Some(&beta), true).await;
    assert!(run.ok() && run.stdout.contains("Connected `beta`"), "{}", run.both());
    assert!(cli.find_contact("beta", "bob@beta.test").await.ok());

    // Removing a connection removes its secrets; the other one keeps working.
    let run = cli.run(&["connections", "remove", "acme"]).await;
    assert!(run.ok(), "{}", run.both());
    assert_eq!(cli.list_json().await.len(), 1);
    assert!(cli.find_contact("beta", "bob@beta.test").await.ok());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_callback_with_the_wrong_state_is_refused_and_the_flow_goes_on() {
    let emulator = emulator_with_app().await;
    let pending = oauth::begin(&app(&emulator), 0).await.unwrap();
    let callback = pending.redirect_uri().clone();
    let authorize = pending.authorize_url().clone();
    let flow = tokio::spawn(pending.complete(Duration::from_secs(30)));

    for query in ["code=forged&state=not-the-state", "code=forged"] {
        let response = reqwest::get(format!("{callback}?{query}")).await.unwrap();
        assert_eq!(response.status(), 400, "{query}");
        assert!(response.text().await.unwrap().contains("state"));
    }
    assert!(!flow.is_finished(), "a forged callback neither completes nor aborts the flow");

    let page = reqwest::get(authorize).await.unwrap();
    assert_eq!(page.status(), 200);
    let tokens = flow.await.unwrap().expect("the real callback completes the flow");
    let me = reqwest::Client::new()
        .get(format!("{}/me", emulator.base_url()))
        .bearer_auth(tokens.access_token.expose_secret())
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200, "the issued token works");
    assert!(tokens.refresh_token.is_none() && tokens.expires_in.is_none(), "Intercom tokens do not expire");
}

/// Follows the authorize URL up to the redirect and returns the callback URL carrying the code.
async fn callback_with_code(authorize: &Url) -> Url {
    let response = no_redirects().get(authorize.clone()).send().await.unwrap();
    assert!(response.status().is_redirection(), "{}", response.status());
    Url::parse(response.headers()["location"].to_str().unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn reused_and_expired_codes_are_refused_clearly() {
    let emulator = emulator_with_app().await;

    // Reused: someone else tries the code first. Without the flow's PKCE verifier they get no token,
    // and the emulator burns the code.
    let pending = oauth::begin(&app(&emulator), 0).await.unwrap();
    let callback = callback_with_code(pending.authorize_url()).await;
    let code = callback.query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
    let first = reqwest::Client::new()
        .post(format!("{}/auth/eagle/token", emulator.base_url()))
        .form(&[("code", code.as_str()), ("client_id", CLIENT_ID), ("client_secret", CLIENT_SECRET)])
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 400);
    assert!(first.text().await.unwrap().contains("code_verifier"), "refused for the missing verifier");
    let flow = tokio::spawn(pending.complete(Duration::from_secs(30)));
    assert_eq!(reqwest::get(callback).await.unwrap().status(), 200);
    let error = format!("{:#}", flow.await.unwrap().unwrap_err());
    assert!(error.contains("already been used") && error.contains("run `switchyard connect` again"), "{error}");
    assert!(!error.contains(&code), "the code is not echoed: {error}");

    // Expired: the code waits longer than five minutes.
    let pending = oauth::begin(&app(&emulator), 0).await.unwrap();
    let callback = callback_with_code(pending.authorize_url()).await;
    emulator.state().clock().advance(301);
    let flow = tokio::spawn(pending.complete(Duration::from_secs(30)));
    assert_eq!(reqwest::get(callback).await.unwrap().status(), 200);
    let error = format!("{:#}", flow.await.unwrap().unwrap_err());
    assert!(error.contains("expired") && error.contains("5 minutes"), "{error}");

    // A wrong client secret is named as such.
    let wrong = OAuthApp { client_secret: SecretString::from("nope".to_string()), ..app(&emulator) };
    let pending = oauth::begin(&wrong, 0).await.unwrap();
    let callback = callback_with_code(pending.authorize_url()).await;
    let flow = tokio::spawn(pending.complete(Duration::from_secs(30)));
    reqwest::get(callback).await.unwrap();
    let error = format!("{:#}", flow.await.unwrap().unwrap_err());
    assert!(error.contains("invalid_client") && error.contains("SWITCHYARD_CLIENT_SECRET"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_token_marks_the_connection_as_needing_reauthorization() {
    let emulator = emulator().await;
    let state = emulator.state();
    let token = "tok_gamma_private_app_1";
    state.add_workspace("Gamma Pty", "AU", token);
    let carol = create_contact_with(&emulator, token, "carol@gamma.test").await;

    let home = home();
    let cli = Cli::new(home.path());
    let run = cli.connect_token(&emulator, "gamma", token, false).await;
    assert!(run.ok() && run.stdout.contains("\"Gamma Pty\"") && run.stdout.contains("region AU"), "{}", run.both());
    let run = cli.run(&["connections", "test", "gamma"]).await;
    assert!(run.ok() && run.stdout.contains("`gamma` works"), "{}", run.both());
    let run = cli.find_contact("gamma", "carol@gamma.test").await;
    assert!(run.ok(), "{}", run.both());
    assert_eq!(serde_json::from_str::<Value>(&run.stdout).unwrap()["id"], carol["id"]);

    // The app is uninstalled: the token is refused from now on.
    state.write(|w| w.tokens.remove(token));
    let run = cli.find_contact("gamma", "carol@gamma.test").await;
    assert_eq!(run.code, Some(4), "{}", run.both());
    assert!(run.stderr.contains("`gamma` now needs re-authorization"), "{}", run.both());
    let list = cli.list_json().await;
    assert_eq!(list[0]["status"], "needs_reauthorization", "{list:?}");
    let run = cli.run(&["connections", "list"]).await;
    assert!(
        run.stdout.lines().any(|l| l.starts_with("gamma") && l.ends_with("needs re-authorization")),
        "{}",
        run.both()
    );

    let run = cli.run(&["connections", "test", "gamma"]).await;
    assert_eq!(run.code, Some(4), "{}", run.both());
    assert!(run.stderr.contains("does not work") && run.stderr.contains("401"), "{}", run.both());

    // Not retried: even with the token accepted again, runs are refused until the connection is
    // re-authorized or a test shows it works.
    let gamma = state.read(|w| w.workspaces.iter().position(|ws| ws.name == "Gamma Pty").unwrap());
    state.write(|w| w.tokens.insert(token.to_string(), gamma));
    let run = cli.find_contact("gamma", "carol@gamma.test").await;
    assert_eq!(run.code, Some(4), "{}", run.both());
    assert!(
        run.stderr.contains("connection `gamma` needs re-authorization")
            && run.stderr.contains("--access-token-env VAR --replace"),
        "{}",
        run.both()
    );
    let run = cli.run(&["connections", "test", "gamma"]).await;
    assert!(run.ok(), "{}", run.both());
    assert_eq!(cli.list_json().await[0]["status"], "active");
    assert!(cli.find_contact("gamma", "carol@gamma.test").await.ok());
    state.write(|w| w.tokens.remove(token));
    assert_eq!(cli.find_contact("gamma", "carol@gamma.test").await.code, Some(4));

    // Re-authorized with a new token: active again.
    let new_token = "tok_gamma_private_app_2";
    state.write(|w| w.tokens.insert(new_token.to_string(), gamma));
    let run = cli.connect_token(&emulator, "gamma", new_token, true).await;
    assert!(run.ok(), "{}", run.both());
    assert_eq!(cli.list_json().await[0]["status"], "active");
    assert!(cli.find_contact("gamma", "carol@gamma.test").await.ok());

    for secret in [token, new_token] {
        assert!(!cli.transcript.lock().unwrap().contains(secret));
    }
    let run = cli.run(&["connections", "remove", "gamma"]).await;
    assert!(run.ok(), "{}", run.both());
    let run = cli.run(&["connections", "remove", "gamma"]).await;
    assert_eq!(run.code, Some(2), "{}", run.both());
    assert!(run.stderr.contains("no connection named `gamma`"), "{}", run.both());
}

/// Everything the connections tables hold, to compare before and after.
async fn snapshot(home: &Path) -> Vec<(String, Vec<u8>, Option<i64>, String)> {
    let store = switchyard::store::Store::open(home).await.unwrap();
    let mut rows: Vec<(String, Vec<u8>, Option<i64>, String)> = sqlx::query_as(
        "SELECT name, access_token_sealed, last_used_at, status FROM connections \
         UNION ALL SELECT 'key-check', sealed, created_at, '' FROM secret_key_check ORDER BY 1",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    rows.sort();
    rows
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_encryption_key_fails_clearly_and_leaves_the_data_intact() {
    let emulator = emulator().await;
    let token = "tok_delta_private_app";
    emulator.state().add_workspace("Delta", "US", token);
    let key_a = hex::encode([0x11u8; 32]);
    let key_b = hex::encode([0x22u8; 32]);

    let home = home();
    let right = Cli::new(home.path()).with_env("SWITCHYARD_SECRET_KEY", &key_a);
    let run = right.connect_token(&emulator, "delta", token, false).await;
    assert!(run.ok(), "{}", run.both());
    assert!(!home.path().join("secret.key").exists(), "the key came from the environment");
    let before = snapshot(home.path()).await;
    assert_eq!(before.len(), 2);

    let wrong = Cli::new(home.path()).with_env("SWITCHYARD_SECRET_KEY", &key_b);
    let bundle = bundle_path("intercom");
    let attempts: Vec<Vec<&str>> = vec![
        vec!["connections", "list"],
        vec!["connections", "test", "delta"],
        vec!["connections", "remove", "delta"],
        vec![
            "action",
            "run",
            "intercom/find-contact",
            "--bundle",
            bundle.to_str().unwrap(),
            "--connection",
            "delta",
            "--input",
            r#"{"email":"x@delta.test"}"#,
        ],
    ];
    for args in &attempts {
        let run = wrong.run(args).await;
        assert_eq!(run.code, Some(2), "{args:?}: {}", run.both());
        assert!(
            run.stderr.contains("$SWITCHYARD_SECRET_KEY") && run.stderr.contains("nothing was read or changed"),
            "{args:?}: {}",
            run.both()
        );
    }
    let run = wrong.connect_token(&emulator, "other", token, false).await;
    assert_eq!(run.code, Some(2), "{}", run.both());

    // No key at all, and a malformed one.
    let run = Cli::new(home.path()).run(&["connections", "list"]).await;
    assert_eq!(run.code, Some(2), "{}", run.both());
    assert!(run.stderr.contains("no key was found"), "{}", run.both());
    assert!(!home.path().join("secret.key").exists(), "no new key is made over existing secrets");
    let run = Cli::new(home.path()).with_env("SWITCHYARD_SECRET_KEY", "not-a-key").run(&["connections", "list"]).await;
    assert!(!run.ok() && run.stderr.contains("not a valid key"), "{}", run.both());

    assert_eq!(snapshot(home.path()).await, before, "nothing was changed");
    let run = right.run(&["connections", "test", "delta"]).await;
    assert!(run.ok(), "the right key still opens everything: {}", run.both());
    let seen: HashSet<_> = right.list_json().await.iter().map(|c| c["name"].as_str().unwrap().to_string()).collect();
    assert_eq!(seen, HashSet::from(["delta".to_string()]));
}

/// The scheduler polling in the background meets a revoked token: the connection is marked as
/// needing re-authorization (visible in `connections list`) instead of being polled forever.
#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_token_met_by_background_polling_marks_the_connection() {
    let emulator = emulator().await;
    let state = emulator.state();
    let token = "tok_delta_private_app_1";
    state.add_workspace("Delta GmbH", "EU", token);
    let home = home();
    let cli = Cli::new(home.path());
    let run = cli.connect_token(&emulator, "delta", token, false).await;
    assert!(run.ok(), "{}", run.both());
    let bundle = bundle_path("intercom");
    let bundle = bundle.to_str().unwrap();
    let run = cli
        .run(&[
            "subscriptions",
            "add",
            "intercom/new-ticket",
            "--connection",
            "delta",
            "--bundle",
            bundle,
            "--interval",
            "1",
        ])
        .await;
    assert!(run.ok(), "{}", run.both());

    state.write(|w| w.tokens.remove(token));
    let mut host =
        cli.command(&["run", "--bundle", bundle], &[]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let mut status = Value::Null;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        status = cli.list_json().await[0]["status"].clone();
        if status == "needs_reauthorization" {
            break;
        }
    }
    host.kill().unwrap();
    host.wait().unwrap();
    assert_eq!(status, "needs_reauthorization");
}
