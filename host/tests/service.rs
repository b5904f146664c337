//! The daemon (`switchyard run`) as operators run it: processes on one data directory, killed with
//! SIGKILL at the worst moment, bundles installed while it runs. Runs are held by leases, and a write
//! whose outcome is unknown is never sent again without an operator's say.
//!
//! Trigger events are put into the outbox directly (as a poll would commit them) so each test decides
//! exactly when a run starts; the triggers' own polling is tested in `triggers.rs`.

mod common;

use common::*;
use intercom_emulator::{EmulatorConfig, Faults, RunningEmulator};
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use switchyard::store::Store;
use switchyard::workflow::records::{self, RunRecord, RunStatus, StepStatus};

/// A `switchyard run` child process, killed when dropped.
struct Daemon(Child);

impl Daemon {
    fn start(home: &Path, lease_secs: u64) -> Daemon {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(home.join("daemon.log")).unwrap();
        let child = switchyard_command(home, &["run", "--lease", &lease_secs.to_string()])
            .env("SWITCHYARD_LOG", std::env::var("SERVICE_TEST_LOG").unwrap_or("switchyard=info".into()))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Daemon(child)
    }

    fn kill(mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }

    /// SIGTERM, and wait for it to stop by itself.
    fn terminate(mut self) {
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let started = Instant::now();
        while self.0.try_wait().unwrap().is_none() {
            assert!(started.elapsed() < Duration::from_secs(60), "the daemon did not stop after SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A data directory with the emulator connected as `acme`, the intercom bundle installed and one
/// workflow enabled: a new contact gets a ticket (a write), and the ticket a tag.
struct World {
    emulator: RunningEmulator,
    home: tempfile::TempDir,
    store: Store,
    subscription: i64,
}

const WELCOME: &str = r#"
name: welcome-ticket
trigger:
  key: intercom/new-added-contact
  connection: acme
  interval: 3600s
steps:
  - id: ticket
    action: intercom/create-ticket
    input:
      ticket_type_id: "TICKET_TYPE"
      contact: { id: "{{ trigger.id }}" }
      title: "Welcome {{ trigger.email }}"
    on_error:
      retry: { max_attempts: 3, backoff: 1s }
  - id: tag
    action: intercom/assign-tags
    input:
      target_type: ticket
      target_id: "{{ steps.ticket.id }}"
      tag_names: ["welcomed"]
      create_missing: true
"#;

async fn world_with(workflow: &str, bundles: &[&str]) -> World {
    let emulator = intercom_emulator::spawn(EmulatorConfig::default()).await.unwrap();
    let home = test_home();
    let token_env = "SERVICE_TEST_TOKEN";
    let out = switchyard_command(
        home.path(),
        &["connect", "intercom", "--name", "acme", "--access-token-env", token_env, "--base-url", &emulator.base_url()],
    )
    .env(token_env, emulator.token())
    .output()
    .unwrap();
    assert!(out.status.success(), "connect: {}", String::from_utf8_lossy(&out.stderr));
    for bundle in bundles {
        switchyard_ok(home.path(), &["bundle", "install", bundle_path(bundle).to_str().unwrap()]);
    }
    let ticket_type = emulator.state().with_workspace(|ws| ws.ticket_types[0].id.clone());
    let file = home.path().join("workflow.yaml");
    std::fs::write(&file, workflow.replace("TICKET_TYPE", &ticket_type)).unwrap();
    switchyard_ok(home.path(), &["workflow", "enable", file.to_str().unwrap()]);
    let store = Store::open(home.path()).await.unwrap();
    let (subscription,): (i64,) = sqlx::query_as("SELECT id FROM subscriptions").fetch_one(store.pool()).await.unwrap();
    World { emulator, home, store, subscription }
}

impl World {
    fn path(&self) -> &Path {
        self.home.path()
    }

    /// A new contact in the emulator, and its event in the outbox (as the New Added Contact trigger
    /// would commit it). Returns the contact.
    async fn new_contact(&self, email: &str) -> Value {
        let contact = create_contact(&self.emulator, json!({"role": "user", "email": email})).await;
        self.fire(&contact).await;
        contact
    }

    /// Puts the New Added Contact event of `contact` into the outbox.
    async fn fire(&self, contact: &Value) {
        let id = contact["id"].as_str().unwrap();
        sqlx::query(
            "INSERT INTO outbox (subscription_id, trigger_key, dedupe_key, occurred_at, payload, created_at)
             VALUES (?, 'intercom/new-added-contact', ?, ?, ?, ?)",
        )
        .bind(self.subscription)
        .bind(format!("{id}@created"))
        .bind(contact["created_at"].as_i64().unwrap())
        .bind(contact.to_string())
        .bind(records::now_ms() / 1000)
        .execute(self.store.pool())
        .await
        .unwrap();
    }

    fn faults(&self, faults: Faults) {
        self.emulator.state().set_faults(faults);
    }

    fn tickets(&self) -> usize {
        self.emulator.state().with_workspace(|ws| ws.tickets.len())
    }

    fn creates(&self) -> u64 {
        self.emulator.state().request_count("POST /tickets")
    }

    async fn runs(&self) -> Vec<RunRecord> {
        records::list_runs(&self.store, &records::RunFilter { limit: 1000, ..Default::default() }).await.unwrap()
    }

    /// Waits until `done` holds for the runs, or fails the test after `within`.
    async fn wait_for_runs(&self, what: &str, within: Duration, done: impl Fn(&[RunRecord]) -> bool) -> Vec<RunRecord> {
        let started = Instant::now();
        loop {
            let runs = self.runs().await;
            if done(&runs) {
                return runs;
            }
            if started.elapsed() > within {
                let log = std::fs::read_to_string(self.path().join("daemon.log")).unwrap_or_default();
                let shown: Vec<String> =
                    runs.iter().map(|r| format!("{} {:?} {:?} {:?}", r.id, r.status, r.owner, r.error)).collect();
                let steps = attempts(&self.store).await;
                panic!("timed out waiting for {what}: runs {shown:#?}\nsteps {steps:#?}\ndaemon log:\n{log}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn wait_until(&self, what: &str, within: Duration, done: impl Fn() -> bool) {
        let started = Instant::now();
        while !done() {
            assert!(started.elapsed() < within, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn all(status: RunStatus, count: usize) -> impl Fn(&[RunRecord]) -> bool {
    move |runs| runs.len() == count && runs.iter().all(|r| r.status == status)
}

/// Every attempt of every step of every run, as (run, step, attempt, status).
async fn attempts(store: &Store) -> Vec<(i64, String, i64, StepStatus)> {
    sqlx::query_as("SELECT run_id, step_id, attempt, status FROM workflow_steps ORDER BY run_id, step_index, attempt")
        .fetch_all(store.pool())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_daemons_on_one_data_directory_send_each_slow_write_once() {
    let world = world_with(WELCOME, &["intercom"]).await;
    world.faults(Faults { response_delay_ms: 1500, ..Faults::default() });
    let first = Daemon::start(world.path(), 3);
    for n in 0..3 {
        world.new_contact(&format!("first{n}@example.com")).await;
    }
    // The second daemon starts while the first is in the middle of its writes: before leases, its
    // start-up recovery took those runs as interrupted and sent their writes again.
    world.wait_until("the first ticket request", Duration::from_secs(60), || world.creates() >= 1).await;
    let second = Daemon::start(world.path(), 3);
    for n in 0..3 {
        world.new_contact(&format!("second{n}@example.com")).await;
    }
    let runs = world.wait_for_runs("six succeeded runs", Duration::from_secs(120), all(RunStatus::Succeeded, 6)).await;
    assert_eq!(world.creates(), 6, "each write reached the emulator once");
    assert_eq!(world.tickets(), 6);
    for (run, step, attempt, status) in attempts(&world.store).await {
        assert_eq!((attempt, status), (1, StepStatus::Succeeded), "run {run} step {step}");
    }
    assert!(runs.iter().all(|r| r.owner.is_none()), "a finished run is released");
    second.terminate();
    first.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_cut_short_by_sigkill_needs_attention_and_the_operator_skips_or_retries_it() {
    let world = world_with(WELCOME, &["intercom"]).await;
    let daemon = Daemon::start(world.path(), 2);
    // One run first: the workspace's rate budget lets a single probe request out until the first
    // answer tells it the limit, and the two writes below should be in flight together.
    world.new_contact("warm@example.com").await;
    world.wait_for_runs("the first run", Duration::from_secs(60), all(RunStatus::Succeeded, 1)).await;
    let ada = create_contact(&world.emulator, json!({"role": "user", "email": "ada@example.com"})).await;
    let bob = create_contact(&world.emulator, json!({"role": "user", "email": "bob@example.com"})).await;
    // The emulator creates the ticket, then holds the answer: the daemon dies in between.
    world.faults(Faults { response_delay_ms: 5000, ..Faults::default() });
    world.fire(&ada).await;
    world.fire(&bob).await;
    world.wait_until("both ticket requests", Duration::from_secs(60), || world.creates() == 3).await;
    daemon.kill();
    assert_eq!(world.tickets(), 3, "both writes took effect at the service");
    world.faults(Faults::default());

    let daemon = Daemon::start(world.path(), 2);
    let attention = |runs: &[RunRecord]| runs.iter().filter(|r| r.status == RunStatus::NeedsAttention).count() == 2;
    let runs = world.wait_for_runs("both runs to need attention", Duration::from_secs(60), attention).await;
    assert_eq!(world.creates(), 3, "no write was sent again by itself");
    assert_eq!(world.tickets(), 3, "exactly one ticket per contact");
    let by_email =
        |email: &str| runs.iter().find(|r| r.payload().get("email").and_then(Value::as_str) == Some(email)).unwrap().id;
    let (ada_run, bob_run) = (by_email("ada@example.com"), by_email("bob@example.com"));
    let shown = switchyard_ok(world.path(), &["runs", "show", &ada_run.to_string()]);
    assert!(shown.contains("NEEDS ATTENTION") && shown.contains("OUTCOME UNKNOWN"), "{shown}");
    assert!(shown.contains("runs skip") && shown.contains("runs retry"), "runs show says what to do: {shown}");
    let listed = switchyard_ok(world.path(), &["runs", "list", "--failed"]);
    assert!(listed.contains("needs_attention"), "{listed}");

    // Ada's ticket exists: the operator finds it in Intercom and marks the step done with it.
    let ada_id = ada["id"].as_str().unwrap().to_string();
    let ada_ticket = world.emulator.state().with_workspace(|ws| {
        ws.tickets.values().find(|t| t.contact_ids.contains(&ada_id)).map(|t| Value::String(t.id.clone()))
    });
    let ada_ticket = ada_ticket.expect("the ticket created for ada");
    let output = json!({"id": ada_ticket, "type": "ticket"}).to_string();
    switchyard_ok(world.path(), &["runs", "skip", &ada_run.to_string(), "--output", &output]);
    let run = records::get_run(&world.store, ada_run).await.unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(world.tickets(), 3, "skipping sends nothing");
    let steps = records::run_steps(&world.store, ada_run).await.unwrap();
    let tag = steps.iter().find(|s| s.step_id == "tag").unwrap();
    assert_eq!(tag.input_value().unwrap()["target_id"], ada_ticket, "the next step used the given output");

    // Bob's: the operator decides it must be sent again.
    switchyard_ok(world.path(), &["runs", "retry", &bob_run.to_string()]);
    let run = records::get_run(&world.store, bob_run).await.unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(world.creates(), 4, "retry sent the write again, once");
    assert_eq!(world.tickets(), 4);
    let bob_id = bob["id"].as_str().unwrap().to_string();
    let bobs = world
        .emulator
        .state()
        .with_workspace(|ws| ws.tickets.values().filter(|t| t.contact_ids.contains(&bob_id)).count());
    assert_eq!(bobs, 2, "bob's ticket was created again by the retry");
    daemon.terminate();
}

/// A read step the killed daemon had in flight: the next daemon waits out the lease, then runs it
/// again (a read may be repeated).
const FIND: &str = r#"
name: find-new-contact
trigger:
  key: intercom/new-added-contact
  connection: acme
  interval: 3600s
steps:
  - id: find
    action: intercom/find-contact
    input: { id: "{{ trigger.id }}" }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_daemon_takes_over_a_killed_daemons_run_once_its_lease_expires_and_not_before() {
    let world = world_with(FIND, &["intercom"]).await;
    world.faults(Faults { response_delay_ms: 3000, ..Faults::default() });
    let first = Daemon::start(world.path(), 4);
    world.new_contact("ada@example.com").await;
    let reads = || world.emulator.state().request_count("GET /contacts/{contact_id}");
    world.wait_until("the read request", Duration::from_secs(60), || reads() == 1).await;
    first.kill();
    let held = world.runs().await.remove(0);
    let (owner, expires) = (held.owner.clone().expect("held by the first daemon"), held.lease_expires_at.unwrap());
    world.faults(Faults::default());

    let second = Daemon::start(world.path(), 4);
    let started = Instant::now();
    loop {
        let run = world.runs().await.remove(0);
        let now = records::now_ms();
        if run.owner.as_deref() != Some(owner.as_str()) {
            assert!(now >= expires, "taken over {} ms before the lease expired", expires - now);
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "never taken over");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    world.wait_for_runs("the run to succeed", Duration::from_secs(60), all(RunStatus::Succeeded, 1)).await;
    let steps = attempts(&world.store).await;
    let statuses: Vec<StepStatus> = steps.iter().map(|s| s.3).collect();
    assert_eq!(statuses, [StepStatus::Interrupted, StepStatus::Succeeded], "{steps:?}");
    assert_eq!(reads(), 2, "the read was sent again after the takeover");
    second.terminate();
}

/// The testing bundle's version-echo action answers with its own version.
const ECHO: &str = r#"
name: echo-version
trigger:
  key: intercom/new-added-contact
  connection: acme
  interval: 3600s
steps:
  - id: echo
    action: testing/version-echo
    input: {}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_runs_installed_bundles_and_a_new_version_installed_while_it_runs() {
    let world = world_with(ECHO, &["intercom", "testing"]).await;
    let daemon = Daemon::start(world.path(), 5);
    world.new_contact("one@example.com").await;
    let runs = world.wait_for_runs("the first run", Duration::from_secs(60), all(RunStatus::Succeeded, 1)).await;
    let version = |run: i64| {
        let store = world.store.clone();
        async move {
            let steps = records::run_steps(&store, run).await.unwrap();
            steps[0].component_version.clone().unwrap()
        }
    };
    let before = version(runs[0].id).await;

    // Installed from another process while the daemon runs: the next run uses it, no restart.
    switchyard_ok(world.path(), &["bundle", "install", bundle_path("testing-next").to_str().unwrap()]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    world.new_contact("two@example.com").await;
    let runs = world.wait_for_runs("the second run", Duration::from_secs(60), all(RunStatus::Succeeded, 2)).await;
    let after = version(runs.iter().map(|r| r.id).max().unwrap()).await;
    let (before, after): (semver::Version, semver::Version) = (before.parse().unwrap(), after.parse().unwrap());
    assert!(after > before, "the second run used the new version ({before} -> {after})");
    daemon.terminate();
}

/// A step's request outlives the invocation deadline (the emulator applies it and answers late): the
/// HTTP client gives up first, and a write is not sent again by itself while a read is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_whose_request_outlives_its_deadline_is_not_sent_again_and_a_read_is() {
    use switchyard::workflow::executor::{Executor, FixedConnection, Options, Sleeper};
    use switchyard::workflow::records::TriggerEvent;
    use switchyard::workflow::runner::{LoadedWorkflow, handle_event};

    let emulator = intercom_emulator::spawn(EmulatorConfig::default()).await.unwrap();
    let runtime = runtime_with(switchyard::runtime::Limits { deadline: Duration::from_secs(1), ..test_limits() });
    let bundle = load(&runtime, "intercom").await;
    let connection = FixedConnection(connection(&emulator));
    let store = Store::in_memory().await.unwrap();
    let no_wait: Sleeper = std::sync::Arc::new(|_| Box::pin(async {}));
    let engine = Executor::new(&store, &runtime, &bundle, &connection)
        .with_options(Options { sleeper: no_wait, ..Options::default() });
    let ada = create_contact(&emulator, json!({"role": "user", "email": "ada@example.com"})).await;
    let ticket_type = emulator.state().with_workspace(|ws| ws.ticket_types[0].id.clone());
    emulator.state().set_faults(Faults { response_delay_ms: 2000, ..Faults::default() });
    let event = |key: &str| TriggerEvent {
        trigger_key: "intercom/new-added-contact".into(),
        dedupe_key: key.into(),
        occurred_at: 1_700_000_000,
        payload: ada.clone(),
    };

    let write = LoadedWorkflow::parse(
        "write.yaml",
        &format!(
            "name: slow-write\ntrigger: {{ key: intercom/new-added-contact }}\nsteps:\n  - id: ticket\n    action: intercom/create-ticket\n    input: {{ ticket_type_id: \"{ticket_type}\", contact: {{ id: \"{{{{ trigger.id }}}}\" }} }}\n    on_error:\n      retry: {{ max_attempts: 3, backoff: 1s }}\n"
        ),
    )
    .unwrap();
    let run = handle_event(&engine, &write, &event("w")).await.unwrap();
    let record = records::get_run(&store, run).await.unwrap().unwrap();
    assert_eq!(record.status, RunStatus::NeedsAttention, "{:?}", record.error);
    let steps = records::run_steps(&store, run).await.unwrap();
    assert_eq!(steps.len(), 1, "one attempt: {steps:?}");
    assert_eq!(steps[0].status, StepStatus::OutcomeUnknown);
    let error = steps[0].error.clone().unwrap();
    assert!(error.contains("timed out"), "the HTTP client gave up before the deadline: {error}");
    assert_eq!(emulator.state().request_count("POST /tickets"), 1, "the write was sent once");
    // Let the held answer finish so the count below is only the read's.
    tokio::time::sleep(Duration::from_millis(2200)).await;

    let read = LoadedWorkflow::parse(
        "read.yaml",
        "name: slow-read\ntrigger: { key: intercom/new-added-contact }\nsteps:\n  - id: find\n    action: intercom/find-contact\n    input: { id: \"{{ trigger.id }}\" }\n    on_error:\n      retry: { max_attempts: 3, backoff: 1s }\n",
    )
    .unwrap();
    let run = handle_event(&engine, &read, &event("r")).await.unwrap();
    let record = records::get_run(&store, run).await.unwrap().unwrap();
    assert_eq!(record.status, RunStatus::Failed, "{:?}", record.error);
    let steps = records::run_steps(&store, run).await.unwrap();
    assert_eq!(steps.iter().map(|s| s.status).collect::<Vec<_>>(), [StepStatus::Failed; 3]);
    assert_eq!(emulator.state().request_count("GET /contacts/{contact_id}"), 3, "the read was retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_runs_in_flight_lets_their_steps_finish_and_a_restart_resumes_every_run_once() {
    let world = world_with(WELCOME, &["intercom"]).await;
    let daemon = Daemon::start(world.path(), 5);
    world.new_contact("warm@example.com").await;
    world.wait_for_runs("the first run", Duration::from_secs(60), all(RunStatus::Succeeded, 1)).await;
    let mut contacts = Vec::new();
    for n in 0..20 {
        contacts
            .push(create_contact(&world.emulator, json!({"role": "user", "email": format!("c{n}@example.com")})).await);
    }
    world.faults(Faults { response_delay_ms: 2000, ..Faults::default() });
    for contact in &contacts {
        world.fire(contact).await;
    }
    world.wait_until("writes in flight", Duration::from_secs(60), || world.creates() >= 6).await;
    let stopping = Instant::now();
    daemon.terminate();
    assert!(stopping.elapsed() < Duration::from_secs(30), "the daemon stopped in {:?}", stopping.elapsed());
    let runs = world.runs().await;
    assert!(runs.iter().all(|r| r.owner.is_none()), "a stopped daemon holds nothing: {runs:?}");
    let cut_short = attempts(&world.store).await.into_iter().filter(|a| a.3 == StepStatus::Running).count();
    assert_eq!(cut_short, 0, "every step in flight was let finish");

    world.faults(Faults::default());
    let daemon = Daemon::start(world.path(), 5);
    world.wait_for_runs("every run to succeed", Duration::from_secs(120), all(RunStatus::Succeeded, 21)).await;
    assert_eq!(world.creates(), 21, "each ticket was created once");
    assert_eq!(world.tickets(), 21);
    assert_eq!(world.emulator.state().request_count("POST /tickets/{ticket_id}/tags"), 21, "each ticket tagged once");
    daemon.terminate();
}
