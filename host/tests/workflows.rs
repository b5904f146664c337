//! Workflows: files checked against the intercom bundle (each error's line and field, the examples),
//! and runs against the emulator (recording, error policies, exactly one run per event, resuming after
//! a crash). The file format, its schema and input expressions alone are unit tests beside their
//! modules in `src/workflow/`.

mod common;

use common::*;
use intercom_emulator::Faults;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchyard::store::Store;
use switchyard::workflow::executor::{BoxFuture, Executor, FixedConnection, Options, Sleeper};
use switchyard::workflow::records::{self, RunStatus, StepRecord, StepStatus, TriggerEvent};
use switchyard::workflow::runner::{EventFeed, LoadedWorkflow, PendingEvent, WorkflowRunner, handle_event, retry_run};
use switchyard::workflow::validate::validate;

// ---------- the file format, checked against the bundle ----------

/// (what, file, expected line, expected field, a phrase of the message)
const MALFORMED: &[(&str, &str, usize, &str, &str)] = &[
    (
        "unknown key",
        "name: w\ntrigger: { key: intercom/new-ticket }\nsteps:\n  - id: a\n    action: intercom/find-contact\n    inptu: { email: x }\n",
        6,
        "steps[0].inptu",
        "unknown key `inptu`",
    ),
    (
        "unknown component",
        "name: w\ntrigger: { key: intercom/new-ticket }\nsteps:\n  - id: a\n    action: intercom/find-contatc\n    input: { email: x }\n",
        5,
        "steps[0].action",
        "did you mean `intercom/find-contact`",
    ),
    (
        "missing required input",
        "name: w\ntrigger: { key: intercom/new-ticket }\nsteps:\n  - id: a\n    action: intercom/add-note-to-contact\n    input:\n      body: \"{{ trigger.id }}\"\n",
        6,
        "steps[0].input",
        "missing required input `contact_id`",
    ),
    (
        "bad expression",
        "name: w\ntrigger: { key: intercom/new-ticket }\nsteps:\n  - id: a\n    action: intercom/find-contact\n    input:\n      email: \"{{ trigger.email | }}\"\n",
        7,
        "steps[0].input.email",
        "is not a valid expression",
    ),
    (
        "reference to a later step",
        "name: w\ntrigger: { key: intercom/new-ticket }\nsteps:\n  - id: a\n    action: intercom/find-contact\n    input: { id: \"{{ steps.b.id }}\" }\n  - id: b\n    action: intercom/find-contact\n    input: { email: x }\n",
        6,
        "steps[0].input.id",
        "runs later",
    ),
    (
        "reference to a step that does not exist",
        "name: w\ntrigger: { key: intercom/new-ticket }\nsteps:\n  - id: a\n    action: intercom/find-contact\n    input: { email: x }\n  - id: b\n    action: intercom/find-contact\n    if: steps.nope.id == 1\n    input: { email: x }\n",
        9,
        "steps[1].if",
        "step `nope`, which does not exist",
    ),
    (
        "bad error policy",
        "name: w\ntrigger: { key: intercom/new-ticket }\nsteps:\n  - id: a\n    action: intercom/find-contact\n    input: { email: x }\n    on_error: sometimes\n",
        7,
        "steps[0].on_error",
        "is not an error policy",
    ),
    (
        "bad retry",
        "name: w\ntrigger: { key: intercom/new-ticket }\nsteps:\n  - id: a\n    action: intercom/find-contact\n    input: { email: x }\n    on_error:\n      retry:\n        max_attempts: 3\n        backof: 2s\n",
        10,
        "steps[0].on_error.retry.backof",
        "unknown key `backof`",
    ),
    (
        "bad backoff",
        "name: w\ntrigger: { key: intercom/new-ticket }\nsteps:\n  - id: a\n    action: intercom/find-contact\n    input: { email: x }\n    on_error:\n      retry:\n        max_attempts: 3\n        backoff: soon\n",
        10,
        "steps[0].on_error.retry.backoff",
        "is not a duration",
    ),
    (
        "unknown variable",
        "name: w\ntrigger: { key: intercom/new-ticket }\nsteps:\n  - id: a\n    action: intercom/find-contact\n    input:\n      email: \"{{ triger.email }}\"\n",
        7,
        "steps[0].input.email",
        "unknown variable `triger`",
    ),
    ("YAML syntax", "name: w\ntrigger: { key: intercom/new-ticket\nsteps: []\n", 3, "", "YAML syntax error"),
];

#[tokio::test]
async fn each_malformed_file_names_its_line_and_field() {
    let runtime = runtime();
    let bundle = load(&runtime, "intercom").await;
    for (what, text, line, field, phrase) in MALFORMED {
        let (_, report) = validate("w.yaml", text, Some(&bundle), None);
        let problem = report
            .problems
            .iter()
            .find(|p| p.message.contains(phrase))
            .unwrap_or_else(|| panic!("{what}: no problem saying {phrase:?}; got {:#?}", report.problems));
        assert_eq!(problem.file, "w.yaml", "{what}");
        assert_eq!(problem.line, *line, "{what}: {problem}");
        assert_eq!(problem.field, *field, "{what}: {problem}");
        let shown = problem.to_string();
        assert!(shown.starts_with(&format!("w.yaml:{line}:")), "{what}: {shown}");
    }
}

#[tokio::test]
async fn the_examples_are_valid() {
    let runtime = runtime();
    let bundle = load(&runtime, "intercom").await;
    let mut seen = 0;
    for entry in std::fs::read_dir(repo_root().join("examples")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(&path).unwrap();
            let (_, report) = validate(&path.display().to_string(), &text, Some(&bundle), None);
            assert!(report.is_valid(), "{}:\n{:#?}", path.display(), report.problems);
            seen += 1;
        }
    }
    assert!(seen >= 4, "the four example automations are missing");
}

// ---------- runs ----------

struct Fixture {
    emulator: intercom_emulator::RunningEmulator,
    runtime: switchyard::runtime::Runtime,
    bundle: switchyard::bundle::Bundle,
    store: Store,
    connection: FixedConnection,
}

async fn fixture() -> Fixture {
    let emulator = emulator().await;
    let runtime = runtime();
    let bundle = load(&runtime, "intercom").await;
    let connection = FixedConnection(connection(&emulator));
    Fixture { emulator, runtime, bundle, store: Store::in_memory().await.unwrap(), connection }
}

impl Fixture {
    fn engine(&self) -> Executor<'_> {
        Executor::new(&self.store, &self.runtime, &self.bundle, &self.connection)
    }

    async fn steps(&self, run: i64) -> Vec<StepRecord> {
        records::run_steps(&self.store, run).await.unwrap()
    }

    async fn status(&self, run: i64) -> RunStatus {
        records::get_run(&self.store, run).await.unwrap().unwrap().status
    }
}

fn workflow(text: &str) -> LoadedWorkflow {
    LoadedWorkflow::parse("test.yaml", text).unwrap()
}

fn event(key: &str, payload: Value) -> TriggerEvent {
    TriggerEvent {
        trigger_key: "intercom/contact-updated".into(),
        dedupe_key: key.into(),
        occurred_at: 1_700_000_000,
        payload,
    }
}

async fn ada(emulator: &intercom_emulator::RunningEmulator) -> Value {
    create_contact(emulator, json!({"role": "user", "email": "ada@example.com", "name": "Ada"})).await
}

const FIND_TWICE: &str = r#"
name: find-twice
trigger: { key: intercom/contact-updated }
steps:
  - id: find
    action: intercom/find-contact
    input: { email: "{{ trigger.email }}" }
  - id: never
    action: intercom/find-contact
    if: trigger.role == "lead"
    input: { email: "{{ trigger.email }}" }
  - id: again
    action: intercom/find-contact
    input: { id: "{{ steps.find.id }}" }
"#;

#[tokio::test]
async fn a_run_end_to_end_is_recorded_with_its_steps() {
    let f = fixture().await;
    let contact = ada(&f.emulator).await;
    let wf = workflow(FIND_TWICE);
    let run = handle_event(&f.engine(), &wf, &event("c1@1", json!({"email": "ada@example.com", "role": "user"})))
        .await
        .unwrap();
    let record = records::get_run(&f.store, run).await.unwrap().unwrap();
    assert_eq!(record.status, RunStatus::Succeeded, "{:?}", record.error);
    assert_eq!(record.workflow, "find-twice");
    assert_eq!(record.dedupe_key, "c1@1");
    assert!(record.finished_at.is_some());
    let steps = f.steps(run).await;
    let summary: Vec<(&str, StepStatus)> = steps.iter().map(|s| (s.step_id.as_str(), s.status)).collect();
    assert_eq!(
        summary,
        [("find", StepStatus::Succeeded), ("never", StepStatus::Skipped), ("again", StepStatus::Succeeded)]
    );
    let find = &steps[0];
    assert_eq!(find.input_value().unwrap(), json!({"email": "ada@example.com"}));
    assert_eq!(find.output_value().unwrap()["id"], contact["id"]);
    assert_eq!(find.component_key.as_deref(), Some("intercom/find-contact"));
    let version = f.bundle.component("intercom/find-contact").unwrap().description.version.clone();
    assert_eq!(find.component_version.as_deref(), Some(version.as_str()));
    assert!(find.component_sha256.as_ref().is_some_and(|s| s.len() == 64));
    assert!(find.duration_ms.is_some() && find.finished_at.is_some());
    // The third step received the first step's output.
    assert_eq!(steps[2].input_value().unwrap(), json!({"id": contact["id"]}));
    assert_eq!(steps[2].output_value().unwrap()["email"], "ada@example.com");
}

#[tokio::test]
async fn the_same_event_handled_twice_starts_one_run() {
    let f = fixture().await;
    ada(&f.emulator).await;
    let wf = workflow(FIND_TWICE);
    let e = event("c1@1", json!({"email": "ada@example.com", "role": "user"}));
    let first = handle_event(&f.engine(), &wf, &e).await.unwrap();
    let second = handle_event(&f.engine(), &wf, &e).await.unwrap();
    assert_eq!(first, second);
    let runs = records::list_runs(&f.store, &Default::default()).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(f.steps(first).await.len(), 3, "the second delivery ran no step");
    // Another event is another run.
    let third = handle_event(&f.engine(), &wf, &event("c1@2", json!({"email": "ada@example.com", "role": "user"})))
        .await
        .unwrap();
    assert_ne!(third, first);
}

const STOP: &str = r#"
name: stops
trigger: { key: intercom/contact-updated }
steps:
  - id: missing
    action: intercom/find-contact
    input: { email: nobody@example.com }
  - id: after
    action: intercom/find-contact
    input: { email: ada@example.com }
"#;

#[tokio::test]
async fn a_failing_step_stops_or_continues_by_its_policy() {
    let f = fixture().await;
    ada(&f.emulator).await;
    // stop (the default): the run fails at the step, later steps do not run.
    let run = handle_event(&f.engine(), &workflow(STOP), &event("e1", json!({}))).await.unwrap();
    let record = records::get_run(&f.store, run).await.unwrap().unwrap();
    assert_eq!(record.status, RunStatus::Failed);
    assert_eq!(record.failed_step.as_deref(), Some("missing"));
    assert!(record.error.as_deref().unwrap().contains("not found"), "{:?}", record.error);
    let steps = f.steps(run).await;
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0].error_kind.as_deref(), Some("not_found"));

    // continue: the failure is recorded and the next step runs.
    let text = STOP.replace("name: stops", "name: continues").replace(
        "input: { email: nobody@example.com }",
        "input: { email: nobody@example.com }\n    on_error: continue",
    );
    let run = handle_event(&f.engine(), &workflow(&text), &event("e1", json!({}))).await.unwrap();
    assert_eq!(f.status(run).await, RunStatus::Succeeded);
    let steps = f.steps(run).await;
    let summary: Vec<(&str, StepStatus)> = steps.iter().map(|s| (s.step_id.as_str(), s.status)).collect();
    assert_eq!(summary, [("missing", StepStatus::Failed), ("after", StepStatus::Succeeded)]);
}

const RETRY: &str = r#"
name: retries
trigger: { key: intercom/contact-updated }
steps:
  - id: find
    action: intercom/find-contact
    input: { email: ada@example.com }
    on_error:
      retry: { max_attempts: 3, backoff: 1s }
"#;

/// A sleeper that records the waits instead of sleeping, and runs `on_wait` at each.
fn recording_sleeper(on_wait: impl Fn(usize) + Send + Sync + 'static) -> (Sleeper, Arc<Mutex<Vec<Duration>>>) {
    let waits = Arc::new(Mutex::new(Vec::new()));
    let seen = waits.clone();
    let sleeper: Sleeper = Arc::new(move |wait| {
        let count = {
            let mut waits = seen.lock().unwrap();
            waits.push(wait);
            waits.len()
        };
        on_wait(count);
        Box::pin(async {})
    });
    (sleeper, waits)
}

#[tokio::test]
async fn a_retried_step_backs_off_and_counts_its_attempts() {
    let f = fixture().await;
    ada(&f.emulator).await;
    // Every request answers 500: three attempts, waits of 1 s and 2 s, then the run fails.
    f.emulator.state().set_faults(Faults { error_500_rate: 1.0, ..Faults::default() });
    let (sleeper, waits) = recording_sleeper(|_| {});
    let engine = f.engine().with_options(Options { sleeper, ..Options::default() });
    let run = handle_event(&engine, &workflow(RETRY), &event("e1", json!({}))).await.unwrap();
    assert_eq!(f.status(run).await, RunStatus::Failed);
    let steps = f.steps(run).await;
    assert_eq!(steps.len(), 3, "{steps:#?}");
    assert!(steps.iter().all(|s| s.status == StepStatus::Failed && s.error_kind.as_deref() == Some("upstream")));
    assert_eq!(steps.iter().map(|s| s.attempt).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(*waits.lock().unwrap(), [Duration::from_secs(1), Duration::from_secs(2)]);

    // The upstream recovers during the first wait: the second attempt succeeds.
    let state = f.emulator.state();
    let (sleeper, waits) = recording_sleeper(move |_| state.set_faults(Faults::default()));
    let engine = f.engine().with_options(Options { sleeper, ..Options::default() });
    let run = handle_event(&engine, &workflow(RETRY), &event("e2", json!({}))).await.unwrap();
    assert_eq!(f.status(run).await, RunStatus::Succeeded);
    let statuses: Vec<StepStatus> = f.steps(run).await.iter().map(|s| s.status).collect();
    assert_eq!(statuses, [StepStatus::Failed, StepStatus::Succeeded]);
    assert_eq!(waits.lock().unwrap().len(), 1);

    // A 4xx (not found) will not change by asking again: no retry unless `on` lists it.
    let (sleeper, waits) = recording_sleeper(|_| {});
    let engine = f.engine().with_options(Options { sleeper, ..Options::default() });
    let text = RETRY.replace("ada@example.com", "nobody@example.com");
    let run = handle_event(&engine, &workflow(&text), &event("e3", json!({}))).await.unwrap();
    assert_eq!(f.status(run).await, RunStatus::Failed);
    assert_eq!(f.steps(run).await.len(), 1);
    assert!(waits.lock().unwrap().is_empty());
    let text = text.replace("backoff: 1s", "backoff: 1s, on: [not_found]");
    let (sleeper, waits) = recording_sleeper(|_| {});
    let engine = f.engine().with_options(Options { sleeper, ..Options::default() });
    let run = handle_event(&engine, &workflow(&text), &event("e4", json!({}))).await.unwrap();
    assert_eq!(f.steps(run).await.len(), 3);
    assert_eq!(waits.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_crashed_run_resumes_without_repeating_completed_steps() {
    let f = fixture().await;
    let contact = ada(&f.emulator).await;
    let wf = workflow(FIND_TWICE);
    let e = event("c1@1", json!({"email": "ada@example.com", "role": "user"}));
    // The state a crash leaves: step `find` done, step `never` skipped, step `again` in flight.
    let mut tx = f.store.pool().begin().await.unwrap();
    let (run, created) = records::create_run(&mut tx, &wf.workflow.name, &wf.text, &wf.sha256, &e).await.unwrap();
    tx.commit().await.unwrap();
    assert!(created);
    // A host that claimed the run and died: its lease runs out at once.
    let dead = switchyard::workflow::Lease::new(Duration::from_millis(1));
    let records::Claim::Claimed { session } = records::claim(&f.store, run, &dead).await.unwrap() else {
        panic!("a new run can be claimed")
    };
    // The recorded output is marked, so a repeated `find` would be visible in `again`'s input.
    let recorded = json!({"id": contact["id"], "recorded": "before the crash"});
    let mut start = records::AttemptStart {
        run_id: run,
        step_index: 0,
        step_id: "find",
        attempt: 1,
        session,
        component_key: Some("intercom/find-contact"),
        component_version: Some("1.0.0"),
        component_sha256: None,
        effect: Some("read"),
        input: Some(&json!({"email": "ada@example.com"})),
    };
    records::begin_attempt(&f.store, &dead, &start, StepStatus::Running).await.unwrap();
    let end = records::AttemptEnd { status: StepStatus::Succeeded, output: Some(&recorded), error: None };
    records::finish_attempt(&f.store, &dead, run, 0, 1, end).await.unwrap();
    start.step_index = 1;
    start.step_id = "never";
    records::begin_attempt(&f.store, &dead, &start, StepStatus::Skipped).await.unwrap();
    start.step_index = 2;
    start.step_id = "again";
    records::begin_attempt(&f.store, &dead, &start, StepStatus::Running).await.unwrap();
    assert_eq!(f.status(run).await, RunStatus::Running);
    tokio::time::sleep(Duration::from_millis(5)).await;

    // The host starts again.
    let runner = WorkflowRunner::new(f.engine(), NoOutbox);
    let resumed = runner.recover().await.unwrap();
    assert_eq!(resumed, [run]);
    assert_eq!(f.status(run).await, RunStatus::Succeeded);
    let steps = f.steps(run).await;
    let summary: Vec<(&str, i64, StepStatus)> =
        steps.iter().map(|s| (s.step_id.as_str(), s.attempt, s.status)).collect();
    assert_eq!(
        summary,
        [
            ("find", 1, StepStatus::Succeeded),
            ("never", 1, StepStatus::Skipped),
            ("again", 1, StepStatus::Interrupted),
            ("again", 2, StepStatus::Succeeded),
        ]
    );
    assert_eq!(steps[3].input_value().unwrap(), json!({"id": contact["id"]}));
    // Resuming again changes nothing.
    assert!(runner.recover().await.unwrap().is_empty());
    assert_eq!(f.steps(run).await.len(), 4);
}

#[tokio::test]
async fn a_failed_run_retried_by_the_user_resumes_at_the_failed_step() {
    let f = fixture().await;
    let text = r#"
name: late-contact
trigger: { key: intercom/contact-updated }
steps:
  - id: first
    action: intercom/find-contact
    input: { email: "{{ trigger.email }}" }
  - id: late
    action: intercom/find-contact
    input: { email: grace@example.com }
"#;
    ada(&f.emulator).await;
    let run =
        handle_event(&f.engine(), &workflow(text), &event("e1", json!({"email": "ada@example.com"}))).await.unwrap();
    assert_eq!(f.status(run).await, RunStatus::Failed);
    create_contact(&f.emulator, json!({"role": "user", "email": "grace@example.com"})).await;
    assert_eq!(retry_run(&f.engine(), run).await.unwrap(), RunStatus::Succeeded);
    let summary: Vec<(String, i64, StepStatus)> =
        f.steps(run).await.iter().map(|s| (s.step_id.clone(), s.attempt, s.status)).collect();
    assert_eq!(
        summary,
        [
            ("first".to_string(), 1, StepStatus::Succeeded),
            ("late".to_string(), 1, StepStatus::Failed),
            ("late".to_string(), 2, StepStatus::Succeeded),
        ]
    );
    assert!(retry_run(&f.engine(), run).await.is_err(), "a succeeded run cannot be retried");
}

#[tokio::test]
async fn a_dry_run_calls_only_find_actions() {
    let f = fixture().await;
    let contact = ada(&f.emulator).await;
    let text = r#"
name: dry
trigger: { key: intercom/contact-updated }
steps:
  - id: find
    action: intercom/find-contact
    input: { email: "{{ trigger.email }}" }
  - id: rename
    action: intercom/update-contact
    input: { id: "{{ steps.find.id }}", name: "Renamed" }
  - id: note
    action: intercom/add-note-to-contact
    input: { contact_id: "{{ steps.rename.id }}", body: "renamed" }
"#;
    let engine = f.engine().with_options(Options { dry_run: true, ..Options::default() });
    let run = handle_event(&engine, &workflow(text), &event("e1", json!({"email": "ada@example.com"}))).await.unwrap();
    assert_eq!(f.status(run).await, RunStatus::Succeeded);
    let steps = f.steps(run).await;
    let statuses: Vec<StepStatus> = steps.iter().map(|s| s.status).collect();
    assert_eq!(statuses, [StepStatus::Succeeded, StepStatus::NotSent, StepStatus::NotSent]);
    assert_eq!(steps[1].input_value().unwrap(), json!({"id": contact["id"], "name": "Renamed"}));
    let id = contact["id"].as_str().unwrap();
    let found = f
        .runtime
        .run_action(
            f.bundle.component("intercom/find-contact").unwrap(),
            Some(&f.connection.0),
            &json!({"id": id}).to_string(),
        )
        .await
        .unwrap();
    assert_eq!(found["name"], "Ada", "the dry run changed the contact");
}

// ---------- the outbox ----------

/// An outbox with nothing in it, for runners that only recover.
struct NoOutbox;

impl EventFeed for NoOutbox {
    fn undelivered<'a>(
        &'a self,
        _tx: &'a mut sqlx::Transaction<'static, sqlx::Sqlite>,
        _limit: u32,
    ) -> BoxFuture<'a, anyhow::Result<Vec<PendingEvent>>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    fn mark_delivered<'a>(
        &'a self,
        _tx: &'a mut sqlx::Transaction<'static, sqlx::Sqlite>,
        _id: i64,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async { Ok(()) })
    }
}

/// An outbox table in the same database, as the scheduler keeps it.
struct TableOutbox;

impl TableOutbox {
    async fn create(store: &Store) {
        sqlx::query(
            "CREATE TABLE test_outbox (id INTEGER PRIMARY KEY, trigger_key TEXT, connection TEXT, dedupe_key TEXT,
               payload TEXT, delivered INTEGER NOT NULL DEFAULT 0)",
        )
        .execute(store.pool())
        .await
        .unwrap();
    }

    async fn push(store: &Store, dedupe_key: &str, payload: Value) {
        sqlx::query("INSERT INTO test_outbox (trigger_key, connection, dedupe_key, payload) VALUES ('intercom/contact-updated', 'acme', ?, ?)")
            .bind(dedupe_key)
            .bind(payload.to_string())
            .execute(store.pool())
            .await
            .unwrap();
    }
}

impl EventFeed for TableOutbox {
    fn undelivered<'a>(
        &'a self,
        tx: &'a mut sqlx::Transaction<'static, sqlx::Sqlite>,
        limit: u32,
    ) -> BoxFuture<'a, anyhow::Result<Vec<PendingEvent>>> {
        Box::pin(async move {
            let rows: Vec<(i64, String, Option<String>, String, String)> = sqlx::query_as(
                "SELECT id, trigger_key, connection, dedupe_key, payload FROM test_outbox WHERE delivered = 0 ORDER BY id LIMIT ?",
            )
            .bind(limit)
            .fetch_all(&mut **tx)
            .await?;
            Ok(rows
                .into_iter()
                .map(|(id, trigger_key, connection, dedupe_key, payload)| PendingEvent {
                    id,
                    connection,
                    settings: json!({}),
                    event: TriggerEvent {
                        trigger_key,
                        dedupe_key,
                        occurred_at: 1,
                        payload: serde_json::from_str(&payload).unwrap(),
                    },
                })
                .collect())
        })
    }
    fn mark_delivered<'a>(
        &'a self,
        tx: &'a mut sqlx::Transaction<'static, sqlx::Sqlite>,
        id: i64,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            sqlx::query("UPDATE test_outbox SET delivered = 1 WHERE id = ?").bind(id).execute(&mut **tx).await?;
            Ok(())
        })
    }
}

#[tokio::test]
async fn the_runner_delivers_each_outbox_event_to_matching_workflows_once() {
    let f = fixture().await;
    ada(&f.emulator).await;
    TableOutbox::create(&f.store).await;
    let enable = |name: &str, connection: &str, enabled: bool| {
        let text = FIND_TWICE.replace("name: find-twice", &format!("name: {name}")).replace(
            "trigger: { key: intercom/contact-updated }",
            &format!("trigger: {{ key: intercom/contact-updated, connection: {connection} }}"),
        );
        records::StoredWorkflow {
            name: name.into(),
            enabled,
            source_path: format!("{name}.yaml"),
            sha256: switchyard::bundle::sha256_hex(text.as_bytes()),
            content: text,
            trigger_key: "intercom/contact-updated".into(),
            trigger_connection: Some(connection.into()),
            trigger_settings: "{}".into(),
            updated_at: 0,
        }
    };
    records::save_workflow(&f.store, &enable("on-acme", "acme", true)).await.unwrap();
    records::save_workflow(&f.store, &enable("on-other", "other", true)).await.unwrap();
    records::save_workflow(&f.store, &enable("disabled", "acme", false)).await.unwrap();
    let payload = json!({"email": "ada@example.com", "role": "user"});
    TableOutbox::push(&f.store, "c1@1", payload.clone()).await;
    // The scheduler delivered the same change twice (e.g. it crashed before saving its cursor).
    TableOutbox::push(&f.store, "c1@1", payload.clone()).await;
    let runner = WorkflowRunner::new(f.engine(), TableOutbox);
    let created = runner.tick().await.unwrap();
    assert_eq!(created.len(), 1, "one run, of the one enabled workflow on that connection");
    let runs = records::list_runs(&f.store, &Default::default()).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].workflow, "on-acme");
    assert_eq!(runs[0].status, RunStatus::Succeeded);
    let (left,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM test_outbox WHERE delivered = 0").fetch_one(f.store.pool()).await.unwrap();
    assert_eq!(left, 0);
    assert!(runner.tick().await.unwrap().is_empty());
}

// ---------- the four example automations, end to end ----------

/// Calls the emulator's API as a client would; panics on an error status.
async fn api(emulator: &intercom_emulator::RunningEmulator, method: &str, path: &str, body: Option<Value>) -> Value {
    let client = reqwest::Client::new();
    let url = format!("{}{path}", emulator.base_url());
    let mut request = client
        .request(method.parse().unwrap(), url)
        .bearer_auth(emulator.token())
        .header("Intercom-Version", "2.16")
        .header("Accept", "application/json");
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(status.is_success(), "{method} {path}: {status}: {text}");
    serde_json::from_str(&text).unwrap()
}

fn example(name: &str) -> LoadedWorkflow {
    let path = repo_root().join("examples").join(name);
    LoadedWorkflow::parse(&path.display().to_string(), &std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn trigger_event(workflow: &LoadedWorkflow, key: &str, payload: Value) -> TriggerEvent {
    TriggerEvent {
        trigger_key: workflow.workflow.trigger.key.clone(),
        dedupe_key: key.into(),
        occurred_at: 1_700_000_000,
        payload,
    }
}

fn tag_names(object: &Value) -> Vec<String> {
    object["tags"]["tags"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_string()).collect()
}

async fn notes(emulator: &intercom_emulator::RunningEmulator, contact: &str) -> Vec<String> {
    let list = api(emulator, "GET", &format!("/contacts/{contact}/notes"), None).await;
    list["data"].as_array().unwrap().iter().map(|n| n["body"].as_str().unwrap_or_default().to_string()).collect()
}

#[tokio::test]
async fn example_auto_triage_tags_the_ticket_and_notes_the_contact() {
    let f = fixture().await;
    let contact = ada(&f.emulator).await;
    let id = contact["id"].as_str().unwrap();
    let ticket = api(
        &f.emulator,
        "POST",
        "/tickets",
        Some(json!({"ticket_type_id": "1000031", "contacts": [{"id": id}],
                    "ticket_attributes": {"_default_title_": "Login fails"}})),
    )
    .await;
    let ticket = api(&f.emulator, "GET", &format!("/tickets/{}", ticket["id"].as_str().unwrap()), None).await;
    let wf = example("auto-triage-new-tickets.yaml");
    let run = handle_event(&f.engine(), &wf, &trigger_event(&wf, "t1", ticket.clone())).await.unwrap();
    let record = records::get_run(&f.store, run).await.unwrap().unwrap();
    assert_eq!(record.status, RunStatus::Succeeded, "{:?}", record.error);
    let after = api(&f.emulator, "GET", &format!("/tickets/{}", ticket["id"].as_str().unwrap()), None).await;
    assert!(tag_names(&after).contains(&"needs-triage".to_string()), "{after}");
    let notes = notes(&f.emulator, id).await;
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].contains("Login fails") && notes[0].contains("needs-triage"), "{notes:?}");
}

#[tokio::test]
async fn example_enrichment_runs_once_and_does_not_trigger_itself() {
    let f = fixture().await;
    let contact =
        create_contact(&f.emulator, json!({"role": "user", "email": "Grace@Example.COM", "name": "Grace"})).await;
    let id = contact["id"].as_str().unwrap().to_string();
    let wf = example("keep-contacts-enriched.yaml");
    let run = handle_event(&f.engine(), &wf, &trigger_event(&wf, "c@1", contact)).await.unwrap();
    let record = records::get_run(&f.store, run).await.unwrap().unwrap();
    assert_eq!(record.status, RunStatus::Succeeded, "{:?}", record.error);
    let enriched = api(&f.emulator, "GET", &format!("/contacts/{id}"), None).await;
    assert_eq!(enriched["custom_attributes"]["email_domain"], "example.com");
    assert_eq!(enriched["custom_attributes"]["enriched_email"], enriched["email"]);
    assert_eq!(notes(&f.emulator, &id).await.len(), 1);

    // The update fires Contact Updated again: that run skips both steps and changes nothing.
    let run = handle_event(&f.engine(), &wf, &trigger_event(&wf, "c@2", enriched.clone())).await.unwrap();
    assert_eq!(f.status(run).await, RunStatus::Succeeded);
    let statuses: Vec<StepStatus> = f.steps(run).await.iter().map(|s| s.status).collect();
    assert_eq!(statuses, [StepStatus::Skipped, StepStatus::Skipped]);
    assert_eq!(notes(&f.emulator, &id).await.len(), 1);
    let unchanged = api(&f.emulator, "GET", &format!("/contacts/{id}"), None).await;
    assert_eq!(unchanged["updated_at"], enriched["updated_at"]);
}

#[tokio::test]
async fn example_conversation_becomes_a_tagged_ticket() {
    let f = fixture().await;
    let contact = ada(&f.emulator).await;
    let created = api(
        &f.emulator,
        "POST",
        "/conversations",
        Some(json!({"from": {"type": "user", "id": contact["id"]}, "body": "The export button does nothing"})),
    )
    .await;
    let conversation_id = created["conversation_id"].as_str().or(created["id"].as_str()).unwrap().to_string();
    let conversation = api(&f.emulator, "GET", &format!("/conversations/{conversation_id}"), None).await;
    let wf = example("conversations-to-tickets.yaml");
    let run = handle_event(&f.engine(), &wf, &trigger_event(&wf, "v1", conversation)).await.unwrap();
    let record = records::get_run(&f.store, run).await.unwrap().unwrap();
    assert_eq!(record.status, RunStatus::Succeeded, "{:?}", record.error);
    let steps = f.steps(run).await;
    let ticket_id = steps[0].output_value().unwrap()["id"].as_str().unwrap().to_string();
    let ticket = api(&f.emulator, "GET", &format!("/tickets/{ticket_id}"), None).await;
    assert!(tag_names(&ticket).contains(&"from-conversation".to_string()), "{ticket}");
}

#[tokio::test]
async fn example_company_upsert_links_its_primary_contact_once() {
    let f = fixture().await;
    let contact = create_contact(&f.emulator, json!({"role": "user", "email": "grace@example.com"})).await;
    let contact_id = contact["id"].as_str().unwrap().to_string();
    let company = api(
        &f.emulator,
        "POST",
        "/companies",
        Some(json!({"company_id": "acme-1", "name": "Acme",
                    "custom_attributes": {"primary_contact_email": "grace@example.com"}})),
    )
    .await;
    let wf = example("upsert-companies-link-contacts.yaml");
    let run = handle_event(&f.engine(), &wf, &trigger_event(&wf, "co@1", company.clone())).await.unwrap();
    let record = records::get_run(&f.store, run).await.unwrap().unwrap();
    assert_eq!(record.status, RunStatus::Succeeded, "{:?}", record.error);
    let companies = api(&f.emulator, "GET", &format!("/contacts/{contact_id}/companies"), None).await;
    let linked: Vec<&str> =
        companies["companies"].as_array().unwrap().iter().map(|c| c["company_id"].as_str().unwrap()).collect();
    assert_eq!(linked, ["acme-1"]);
    let updated = api(&f.emulator, "GET", &format!("/companies/{}", company["id"].as_str().unwrap()), None).await;
    assert_eq!(updated["custom_attributes"]["linked_contact_email"], "grace@example.com");

    // The upsert fires New Or Updated Company again: that run does nothing.
    let run = handle_event(&f.engine(), &wf, &trigger_event(&wf, "co@2", updated)).await.unwrap();
    let statuses: Vec<StepStatus> = f.steps(run).await.iter().map(|s| s.status).collect();
    assert_eq!(statuses, [StepStatus::Skipped, StepStatus::Skipped, StepStatus::Skipped]);
}

// ---------- with the triggers' store, and from the command line ----------

#[tokio::test]
async fn enabled_workflows_consume_the_triggers_outbox() {
    use switchyard::runtime::PollResult;
    use switchyard::store::triggers::{ConnectionRef, Outbox as TriggersOutbox, Triggers};
    use switchyard::workflow::sources::{TriggerOutbox, subscribe};
    let f = fixture().await;
    ada(&f.emulator).await;
    let stored = |name: &str, connection: &str| {
        let text = FIND_TWICE.replace("name: find-twice", &format!("name: {name}")).replace(
            "trigger: { key: intercom/contact-updated }",
            &format!("trigger: {{ key: intercom/contact-updated, connection: {connection} }}"),
        );
        records::StoredWorkflow {
            name: name.into(),
            enabled: true,
            source_path: format!("{name}.yaml"),
            sha256: switchyard::bundle::sha256_hex(text.as_bytes()),
            content: text,
            trigger_key: "intercom/contact-updated".into(),
            trigger_connection: Some(connection.into()),
            trigger_settings: "{}".into(),
            updated_at: 0,
        }
    };
    // Enabling adds one subscription per (trigger, connection, settings), reused by a second workflow.
    let on_acme = stored("on-acme", "acme");
    records::save_workflow(&f.store, &on_acme).await.unwrap();
    subscribe(&f.store, &on_acme, 60).await.unwrap();
    subscribe(&f.store, &stored("also-acme", "acme"), 60).await.unwrap();
    let other = stored("on-other", "other");
    subscribe(&f.store, &other, 60).await.unwrap();
    let triggers = Triggers::new(&f.store);
    let subscriptions: Vec<_> = triggers.list().await.unwrap().into_iter().map(|(s, _)| s).collect();
    assert_eq!(subscriptions.len(), 2);
    assert_eq!(subscriptions[0].connection, ConnectionRef::Named("acme".into()));

    // A poll on each subscription finds the same change.
    let event = switchyard::runtime::PolledEvent {
        dedupe_key: "c1:1700000000".into(),
        occurred_at: 1_700_000_000,
        payload: json!({"email": "ada@example.com", "role": "user"}).to_string(),
    };
    for subscription in &subscriptions {
        let poll = PollResult { events: vec![event.clone()], cursor: json!({}), backlog: false };
        triggers.commit_poll(subscription, 0, &poll, 1_700_000_001).await.unwrap();
    }
    let runner = WorkflowRunner::new(f.engine(), TriggerOutbox::new(&f.store));
    let created = runner.tick().await.unwrap();
    assert_eq!(created.len(), 1, "only `on-acme` is enabled in the store");
    let runs = records::list_runs(&f.store, &Default::default()).await.unwrap();
    assert_eq!((runs[0].workflow.as_str(), runs[0].status), ("on-acme", RunStatus::Succeeded));
    assert_eq!(TriggersOutbox::new(&f.store).pending().await.unwrap(), 0, "both events are delivered");
    assert!(runner.tick().await.unwrap().is_empty());
}

// Multi-threaded: the emulator must answer while the test waits for the child process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_validates_tests_and_shows_runs() {
    let f = fixture().await;
    ada(&f.emulator).await;
    let home = test_home();
    let bundle = bundle_path("intercom").display().to_string();
    let bad = home.path().join("bad.yaml");
    std::fs::write(&bad, MALFORMED[0].1).unwrap();
    let out = switchyard(home.path(), &["workflow", "validate", bad.to_str().unwrap(), "--bundle", &bundle]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.yaml:6:5: steps[0].inptu: unknown key `inptu`"), "{stderr}");

    let file = home.path().join("find.yaml");
    std::fs::write(
        &file,
        FIND_TWICE.to_string() + "  - id: rename\n    action: intercom/update-contact\n    input: { id: \"{{ steps.again.id }}\", name: Renamed }\n",
    )
    .unwrap();
    let event = home.path().join("event.json");
    std::fs::write(&event, json!({"email": "ada@example.com", "role": "user"}).to_string()).unwrap();
    let (url, token) = (f.emulator.base_url(), f.emulator.token().to_string());
    let args = ["workflow", "test", file.to_str().unwrap(), "--bundle", &bundle, "--base-url", &url];
    let args = [&args[..], &["--event", event.to_str().unwrap(), "--dry-run", "--json"]].concat();
    // The token comes from the environment (there is no --token flag).
    let out = switchyard_command(home.path(), &args).env("SWITCHYARD_TOKEN", &token).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    let statuses: Vec<&str> =
        shown["steps"].as_array().unwrap().iter().map(|s| s["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["succeeded", "skipped", "succeeded", "not_sent"]);
    assert_eq!(shown["steps"][3]["input"]["name"], "Renamed");

    // Enabled workflows are listed; runs are listed and shown from the store.
    let out = switchyard(home.path(), &["workflow", "enable", file.to_str().unwrap(), "--bundle", &bundle]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = switchyard(home.path(), &["workflow", "list", "--json"]);
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed[0]["name"], "find-twice");
    assert_eq!(listed[0]["enabled"], true);
    let store = Store::open(home.path()).await.unwrap();
    let engine = Executor::new(&store, &f.runtime, &f.bundle, &f.connection)
        .with_options(Options { dry_run: true, ..Options::default() });
    let stored = records::get_workflow(&store, "find-twice").await.unwrap().unwrap();
    let run = handle_event(&engine, &LoadedWorkflow::from_stored(&stored).unwrap(), &event_of("c1@1")).await.unwrap();
    let record = records::get_run(&store, run).await.unwrap().unwrap();
    assert_eq!(record.status, RunStatus::Succeeded, "{:?}", record.error);
    let out = switchyard(home.path(), &["runs", "list"]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("find-twice") && table.contains("succeeded"), "{table}");
    let out = switchyard(home.path(), &["runs", "show", &run.to_string()]);
    let view = String::from_utf8_lossy(&out.stdout);
    assert!(view.contains("[4] rename") && view.contains("would send"), "{view}");
    let out = switchyard(home.path(), &["workflow", "disable", "find-twice"]);
    assert!(out.status.success());
    let out = switchyard(home.path(), &["workflow", "disable", "nope"]);
    assert_eq!(out.status.code(), Some(3));
}

fn event_of(key: &str) -> TriggerEvent {
    event(key, json!({"email": "ada@example.com", "role": "user"}))
}

#[tokio::test]
async fn a_shutdown_interrupts_a_run_that_resumes_on_the_next_start() {
    let f = fixture().await;
    ada(&f.emulator).await;
    TableOutbox::create(&f.store).await;
    let text = RETRY.replace(
        "trigger: { key: intercom/contact-updated }",
        "trigger: { key: intercom/contact-updated, connection: acme }",
    );
    let wf = workflow(&text);
    records::save_workflow(
        &f.store,
        &records::StoredWorkflow {
            name: wf.workflow.name.clone(),
            enabled: true,
            source_path: "retries.yaml".into(),
            content: wf.text.clone(),
            sha256: wf.sha256.clone(),
            trigger_key: "intercom/contact-updated".into(),
            trigger_connection: Some("acme".into()),
            trigger_settings: "{}".into(),
            updated_at: 0,
        },
    )
    .await
    .unwrap();
    TableOutbox::push(&f.store, "c1@1", json!({})).await;
    // The upstream fails, and the retry's backoff is still waiting when the host is stopped.
    f.emulator.state().set_faults(Faults { error_500_rate: 1.0, ..Faults::default() });
    let waiting: Sleeper = Arc::new(|_| Box::pin(std::future::pending()));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let engine = f.engine().with_options(Options { sleeper: waiting, stop: Some(stopped), ..Options::default() });
    let runner = WorkflowRunner::new(engine, TableOutbox);
    let store = f.store.clone();
    let first_attempt_failed = async move {
        loop {
            let failed: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM workflow_steps WHERE status = 'failed'")
                .fetch_one(store.pool())
                .await
                .unwrap();
            if failed.0 > 0 {
                let _ = stop.send(true);
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    runner.run_until(Duration::from_millis(10), Duration::from_secs(5), first_attempt_failed).await.unwrap();
    let runs = records::list_runs(&f.store, &Default::default()).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, RunStatus::Interrupted);

    // The next start resumes it: the step runs again, and now the upstream answers.
    f.emulator.state().set_faults(Faults::default());
    let runner = WorkflowRunner::new(f.engine(), TableOutbox);
    assert_eq!(runner.recover().await.unwrap(), [runs[0].id]);
    assert_eq!(f.status(runs[0].id).await, RunStatus::Succeeded);
    let attempts: Vec<(i64, StepStatus)> = f.steps(runs[0].id).await.iter().map(|s| (s.attempt, s.status)).collect();
    assert_eq!(attempts, [(1, StepStatus::Failed), (2, StepStatus::Succeeded)]);
}
