//! The 7 polling triggers, the durable store and the scheduler, against the Intercom emulator:
//! every change fires exactly once, across pages, boundary seconds, search lag, injected 500s and
//! 429s, and crashes of the host; and a burst of polls and actions is paced to the rate limit.

mod common;

use common::*;
use intercom_emulator::{EmulatorConfig, Faults, RunningEmulator};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;
use switchyard::http::Connection;
use switchyard::runtime::{Limits, LoadedComponent, PollInput, PolledEvent, Runtime};
use switchyard::store::Store;
use switchyard::store::triggers::{ConnectionRef, NewSubscription, Outbox, Triggers};

// ------------------------------------------------------------------------------------------------
// The emulator, driven through its HTTP API as a real Intercom client would.
// ------------------------------------------------------------------------------------------------

struct Emu {
    emu: RunningEmulator,
    http: reqwest::Client,
}

impl Emu {
    /// An emulator with a generous rate limit and, if `frozen`, a clock the test moves by hand.
    async fn start(frozen: bool) -> Emu {
        let emu = intercom_emulator::spawn(EmulatorConfig { rate_limit_per_window: 1_000_000, ..Default::default() })
            .await
            .expect("emulator starts");
        if frozen {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
            emu.state().clock().freeze_at(now as i64);
        }
        Emu { emu, http: reqwest::Client::new() }
    }

    fn now(&self) -> u64 {
        self.emu.state().now() as u64
    }

    fn advance(&self, seconds: i64) {
        self.emu.state().clock().advance(seconds);
    }

    fn set_faults(&self, faults: Faults) {
        self.emu.state().set_faults(faults);
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        for _ in 0..50 {
            let mut request = self
                .http
                .request(method.clone(), format!("{}{path}", self.emu.base_url()))
                .bearer_auth(self.emu.token())
                .header("Intercom-Version", "2.16");
            if let Some(body) = &body {
                request = request.json(body);
            }
            let response = request.send().await.unwrap();
            let status = response.status();
            // The set-up itself rides out injected faults.
            if status.as_u16() == 429 || status.is_server_error() {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
            let text = response.text().await.unwrap();
            assert!(status.is_success(), "{method} {path}: {status}: {text}");
            return serde_json::from_str(&text).unwrap_or(Value::Null);
        }
        panic!("{method} {path}: still failing after 50 attempts");
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    async fn put(&self, path: &str, body: Value) -> Value {
        self.call(reqwest::Method::PUT, path, Some(body)).await
    }

    async fn contact(&self, tag: &str) -> String {
        let c = self.post("/contacts", json!({"role": "user", "email": format!("{tag}@example.com")})).await;
        c["id"].as_str().unwrap().to_string()
    }

    fn ticket_type(&self) -> String {
        self.emu.state().with_workspace(|ws| ws.ticket_types[0].id.clone())
    }
}

/// What a trigger watches, and how the test creates and changes one such object.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Company,
    NewContact,
    ContactUpdated,
    NewTicket,
    TicketUpdated,
    NewConversation,
    ConversationUpdated,
}

impl Kind {
    fn key(self) -> &'static str {
        match self {
            Kind::Company => "intercom/new-or-updated-company",
            Kind::NewContact => "intercom/new-added-contact",
            Kind::ContactUpdated => "intercom/contact-updated",
            Kind::NewTicket => "intercom/new-ticket",
            Kind::TicketUpdated => "intercom/ticket-updated",
            Kind::NewConversation => "intercom/new-conversation",
            Kind::ConversationUpdated => "intercom/conversation-updated",
        }
    }

    /// Whether a change to an existing object fires.
    fn fires_on_update(self) -> bool {
        matches!(self, Kind::Company | Kind::ContactUpdated | Kind::TicketUpdated | Kind::ConversationUpdated)
    }

    /// Creates one object and returns its id (the one the trigger's payload carries).
    async fn create(self, emu: &Emu, n: usize) -> String {
        let tag = format!("{}-{n}-{}", self.key().replace('/', "-"), rand_suffix());
        match self {
            Kind::Company => {
                let company = emu.post("/companies", json!({"company_id": tag, "name": format!("Company {n}")})).await;
                let id = company["id"].as_str().unwrap().to_string();
                // Intercom lists only companies with contacts.
                let contact = emu.contact(&tag).await;
                emu.post(&format!("/contacts/{contact}/companies"), json!({"id": id})).await;
                id
            }
            Kind::NewContact | Kind::ContactUpdated => emu.contact(&tag).await,
            Kind::NewTicket | Kind::TicketUpdated => {
                let contact = emu.contact(&tag).await;
                let ticket = emu
                    .post("/tickets", json!({"ticket_type_id": emu.ticket_type(), "contacts": [{"id": contact}]}))
                    .await;
                ticket["id"].as_str().map(str::to_string).unwrap_or_else(|| ticket["id"].to_string())
            }
            Kind::NewConversation | Kind::ConversationUpdated => {
                let contact = emu.contact(&tag).await;
                let message = emu
                    .post(
                        "/conversations",
                        json!({"from": {"type": "user", "id": contact}, "body": format!("hello {n}")}),
                    )
                    .await;
                message["conversation_id"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| message["conversation_id"].to_string())
            }
        }
    }

    async fn update(self, emu: &Emu, id: &str, n: usize) {
        match self {
            Kind::Company => emu.put(&format!("/companies/{id}"), json!({"name": format!("Renamed {n}")})).await,
            Kind::NewContact | Kind::ContactUpdated => {
                emu.put(&format!("/contacts/{id}"), json!({"name": format!("Renamed {n}")})).await
            }
            Kind::NewTicket | Kind::TicketUpdated => {
                emu.put(&format!("/tickets/{id}"), json!({"is_shared": n.is_multiple_of(2)})).await
            }
            Kind::NewConversation | Kind::ConversationUpdated => {
                emu.put(&format!("/conversations/{id}"), json!({"title": format!("Title {n}")})).await
            }
        };
    }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn id_of(event: &PolledEvent) -> String {
    let payload: Value = serde_json::from_str(&event.payload).unwrap();
    match &payload["id"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Plays the host: keeps the cursor between polls, polls until the trigger reports no backlog,
/// and fails the test if any key is ever emitted twice.
struct Poller {
    component: Arc<LoadedComponent>,
    connection: Connection,
    settings: String,
    cursor: Option<String>,
    seen: BTreeSet<String>,
    page_budget: u32,
    /// Failed polls tolerated (fault injection); the cursor is kept, as the scheduler does.
    failures: usize,
}

impl Poller {
    fn new(component: Arc<LoadedComponent>, connection: Connection, settings: Value) -> Poller {
        Poller {
            component,
            connection,
            settings: settings.to_string(),
            cursor: None,
            seen: BTreeSet::new(),
            page_budget: 2,
            failures: 0,
        }
    }

    async fn poll(&mut self, runtime: &Runtime, now: u64, tolerate_failures: bool) -> Vec<PolledEvent> {
        let mut found = Vec::new();
        for _ in 0..500 {
            let input = PollInput {
                cursor: self.cursor.as_deref(),
                now,
                page_budget: self.page_budget,
                settings: &self.settings,
            };
            match runtime.poll_trigger(&self.component, Some(&self.connection), input).await {
                Ok(result) => {
                    for event in result.events {
                        assert!(self.seen.insert(event.dedupe_key.clone()), "{} emitted twice", event.dedupe_key);
                        found.push(event);
                    }
                    self.cursor = Some(result.cursor.to_string());
                    if !result.backlog {
                        return found;
                    }
                }
                Err(error) if tolerate_failures => {
                    self.failures += 1;
                    eprintln!("poll failed (kept the cursor): {error}");
                }
                Err(error) => panic!("{}: poll failed: {error}", self.component.key()),
            }
        }
        panic!("{}: the poll never caught up", self.component.key());
    }
}

fn ids(events: &[PolledEvent]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for e in events {
        *counts.entry(id_of(e)).or_default() += 1;
    }
    counts
}

fn once_each(ids: &[String]) -> BTreeMap<String, usize> {
    ids.iter().map(|id| (id.clone(), 1)).collect()
}

// ------------------------------------------------------------------------------------------------
// Per trigger: several pages, a re-poll, updates, the boundary second.
// ------------------------------------------------------------------------------------------------

async fn exactly_once(kind: Kind) {
    let emu = Emu::start(true).await;
    let runtime = runtime();
    let bundle = load(&runtime, "intercom").await;
    let component = bundle.component(kind.key()).unwrap().clone();
    // Two objects a page and two pages a poll: every scan spans several pages and polls.
    let mut poller = Poller::new(component, connection(&emu.emu), json!({"per_page": 2, "lag_seconds": 30}));

    // Activation: the watermark starts now, so nothing that exists already fires.
    let history = kind.create(&emu, 100).await;
    emu.advance(1);
    let first = poller.poll(&runtime, emu.now(), false).await;
    assert!(first.is_empty(), "{kind:?}: the first poll fired history: {:?}", ids(&first));

    // Several pages of new objects, some sharing a second with the poll that comes next.
    emu.advance(1);
    let mut created = Vec::new();
    for n in 0..5 {
        created.push(kind.create(&emu, n).await);
    }
    let mut events = poller.poll(&runtime, emu.now(), false).await;
    // The boundary second: created in the same second as the poll that just ran.
    created.push(kind.create(&emu, 5).await);
    emu.advance(1);
    for n in 6..9 {
        created.push(kind.create(&emu, n).await);
    }
    events.extend(poller.poll(&runtime, emu.now(), false).await);
    assert_eq!(ids(&events), once_each(&created), "{kind:?}: each new object fires once");
    assert!(!ids(&events).contains_key(&history), "{kind:?}: history does not fire");

    // Nothing new: nothing fires.
    emu.advance(1);
    let again = poller.poll(&runtime, emu.now(), false).await;
    assert!(again.is_empty(), "{kind:?}: a re-poll fired {:?}", ids(&again));

    // Updates fire once per change (for the "updated" triggers) and never for the "new" ones.
    emu.advance(2);
    kind.update(&emu, &created[0], 1).await;
    kind.update(&emu, &created[3], 1).await;
    let updated = poller.poll(&runtime, emu.now(), false).await;
    emu.advance(1);
    let repoll = poller.poll(&runtime, emu.now(), false).await;
    assert!(repoll.is_empty(), "{kind:?}: a re-poll after updates fired {:?}", ids(&repoll));
    kind.update(&emu, &created[0], 2).await;
    emu.advance(1);
    let updated_again = poller.poll(&runtime, emu.now(), false).await;
    if kind.fires_on_update() {
        assert_eq!(ids(&updated), once_each(&[created[0].clone(), created[3].clone()]), "{kind:?}");
        assert_eq!(ids(&updated_again), once_each(&[created[0].clone()]), "{kind:?}: a second change fires again");
        for e in updated.iter().chain(&updated_again) {
            let payload: Value = serde_json::from_str(&e.payload).unwrap();
            assert_eq!(payload["updated_at"].as_u64(), Some(e.occurred_at), "{kind:?}: occurred_at is the change");
        }
    } else {
        assert!(updated.is_empty() && updated_again.is_empty(), "{kind:?}: an update fired a new-object trigger");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn new_or_updated_company_fires_once_per_change() {
    exactly_once(Kind::Company).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn new_added_contact_fires_once_per_contact() {
    exactly_once(Kind::NewContact).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn contact_updated_fires_once_per_change() {
    exactly_once(Kind::ContactUpdated).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn new_ticket_fires_once_per_ticket() {
    exactly_once(Kind::NewTicket).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ticket_updated_fires_once_per_change() {
    exactly_once(Kind::TicketUpdated).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn new_conversation_fires_once_per_conversation() {
    exactly_once(Kind::NewConversation).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn conversation_updated_fires_once_per_change() {
    exactly_once(Kind::ConversationUpdated).await;
}

// ------------------------------------------------------------------------------------------------
// Search lag, 500s and 429s.
// ------------------------------------------------------------------------------------------------

/// With search results lagging 20 s behind each change and 20% of requests failing with 500 or 429,
/// every object still fires exactly once for a sorted search (contacts), an unordered one
/// (conversations) and the company scroll.
#[tokio::test(flavor = "multi_thread")]
async fn search_lag_and_faults_lose_and_repeat_nothing() {
    let emu = Emu::start(true).await;
    // A 429 waits for the window to reset inside the invocation: give polls room for that.
    let runtime = runtime_with(Limits { deadline: Duration::from_secs(60), ..test_limits() });
    let bundle = load(&runtime, "intercom").await;
    let kinds = [Kind::ContactUpdated, Kind::NewConversation, Kind::Company, Kind::TicketUpdated];
    let mut pollers: Vec<(Kind, Poller)> = kinds
        .iter()
        .map(|kind| {
            let component = bundle.component(kind.key()).unwrap().clone();
            (*kind, Poller::new(component, connection(&emu.emu), json!({"per_page": 3, "lag_seconds": 60})))
        })
        .collect();
    for (_, poller) in &mut pollers {
        poller.poll(&runtime, emu.now(), false).await;
    }
    emu.set_faults(Faults { search_lag_secs: 20, error_500_rate: 0.2, error_429_rate: 0.2, ..Default::default() });

    let mut created: HashMap<&'static str, Vec<String>> = HashMap::new();
    let mut events: HashMap<&'static str, Vec<PolledEvent>> = HashMap::new();
    for round in 0..4 {
        emu.advance(1);
        for (kind, _) in &pollers {
            for n in 0..3 {
                created.entry(kind.key()).or_default().push(kind.create(&emu, round * 10 + n).await);
            }
        }
        // Polls run while the new objects are still invisible to search.
        emu.advance(7);
        for (kind, poller) in &mut pollers {
            events.entry(kind.key()).or_default().extend(poller.poll(&runtime, emu.now(), true).await);
        }
    }
    // Past the search lag: everything has become visible.
    emu.advance(30);
    for (kind, poller) in &mut pollers {
        events.entry(kind.key()).or_default().extend(poller.poll(&runtime, emu.now(), true).await);
    }
    emu.set_faults(Faults::default());
    emu.advance(1);
    for (kind, poller) in &mut pollers {
        events.entry(kind.key()).or_default().extend(poller.poll(&runtime, emu.now(), false).await);
    }
    for (kind, _) in &pollers {
        let mut delivered = ids(&events[kind.key()]);
        if let Kind::ContactUpdated = kind {
            // The contacts made for the other kinds' objects fire too (once each, as the poller checks).
            delivered.retain(|id, _| created[kind.key()].contains(id));
        }
        assert_eq!(
            delivered,
            once_each(&created[kind.key()]),
            "{kind:?}: every object exactly once despite lag and faults"
        );
    }
    let failures: usize = pollers.iter().map(|(_, p)| p.failures).sum();
    eprintln!("polls that failed and were retried with the same cursor: {failures}");
}

// ------------------------------------------------------------------------------------------------
// The store: one transaction per poll, keys remembered, the outbox.
// ------------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn commits_are_atomic_and_keys_emit_once() {
    let store = Store::in_memory().await.unwrap();
    let triggers = Triggers::new(&store);
    let outbox = Outbox::new(&store);
    let new = NewSubscription {
        trigger_key: "intercom/new-ticket".into(),
        connection: ConnectionRef::Inline { base_url: "http://127.0.0.1:9".into(), token_env: "TOKEN".into() },
        interval_secs: 60,
        settings: json!({}),
    };
    let id = triggers.add(&new, 1000).await.unwrap();
    let (subscription, state) = triggers.get(id).await.unwrap().unwrap();
    let event = |key: &str, at: u64| PolledEvent {
        dedupe_key: key.into(),
        occurred_at: at,
        payload: json!({"id": key}).to_string(),
    };
    let result = switchyard::runtime::PollResult {
        events: vec![event("a", 100), event("b", 200)],
        cursor: json!({"floor": 50}),
        backlog: false,
    };
    let done = triggers.commit_poll(&subscription, state.version, &result, 1001).await.unwrap();
    assert_eq!((done.emitted, done.duplicates), (2, 0));

    // A commit built on the old version is refused whole: no events, no cursor.
    let stale =
        switchyard::runtime::PollResult { events: vec![event("c", 300)], cursor: json!({"floor": 60}), backlog: false };
    assert!(triggers.commit_poll(&subscription, state.version, &stale, 1002).await.is_err());
    let (_, now_state) = triggers.get(id).await.unwrap().unwrap();
    assert_eq!(now_state.cursor.as_deref(), Some(r#"{"floor":50}"#));

    // A key emitted before is dropped; keys under the new floor are pruned.
    let next = switchyard::runtime::PollResult {
        events: vec![event("b", 200), event("c", 300)],
        cursor: json!({"floor": 150}),
        backlog: true,
    };
    let done = triggers.commit_poll(&subscription, now_state.version, &next, 1003).await.unwrap();
    assert_eq!((done.emitted, done.duplicates), (1, 1));
    assert_eq!(triggers.remembered_keys(id).await.unwrap(), 2, "key a (at 100) is under the floor 150");

    let batch = outbox.next_batch(10).await.unwrap();
    let keys: Vec<&str> = batch.iter().map(|e| e.dedupe_key.as_str()).collect();
    assert_eq!(keys, ["a", "b", "c"]);
    assert_eq!(outbox.mark_delivered(&[batch[0].id, batch[1].id], 2000).await.unwrap(), 2);
    let rest = outbox.next_batch(10).await.unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].dedupe_key, "c");
    assert_eq!(outbox.list(0, 10).await.unwrap().len(), 3, "delivered events stay in the history");
}

// ------------------------------------------------------------------------------------------------
// Crash safety: `switchyard run` killed with SIGKILL mid-polling, restarted on the same database.
// ------------------------------------------------------------------------------------------------

/// The common CLI command, with `token` as $SWITCHYARD_TOKEN and quiet logs; callers add the args.
fn switchyard_cmd(home: &std::path::Path, token: &str) -> std::process::Command {
    let mut cmd = switchyard_command(home, &[]);
    cmd.env("SWITCHYARD_TOKEN", token).env("SWITCHYARD_LOG", "warn");
    cmd
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_host_loses_and_repeats_nothing() {
    let emu = Arc::new(Emu::start(false).await);
    let home = tempfile::tempdir().unwrap();
    let bundle = bundle_path("intercom");
    let token = emu.emu.token().to_string();
    let kinds = [Kind::NewConversation, Kind::ContactUpdated];
    for kind in kinds {
        let out = switchyard_cmd(home.path(), &token)
            .args(["subscriptions", "add", kind.key(), "--bundle", bundle.to_str().unwrap()])
            .args(["--base-url", &emu.emu.base_url(), "--interval", "1", "--settings", r#"{"per_page": 2}"#])
            .output()
            .unwrap();
        assert!(out.status.success(), "subscriptions add: {}", String::from_utf8_lossy(&out.stderr));
    }
    // Slow answers make each poll span many requests' worth of time, so kills land mid-poll.
    emu.set_faults(Faults { latency_ms: 15, ..Default::default() });

    let writer = {
        let emu = emu.clone();
        tokio::spawn(async move {
            let mut created: HashMap<&'static str, Vec<String>> = HashMap::new();
            for n in 0..12 {
                for kind in kinds {
                    created.entry(kind.key()).or_default().push(kind.create(&emu, n).await);
                }
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
            created
        })
    };
    let spawn_run = || {
        switchyard_cmd(home.path(), &token)
            .args(["run", "--bundle", bundle.to_str().unwrap(), "--page-budget", "1"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    for pause_ms in [700u64, 1100, 450, 1600, 900] {
        let mut child = spawn_run();
        tokio::time::sleep(Duration::from_millis(pause_ms)).await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }
    let created = writer.await.unwrap();

    // A last run catches up; it is stopped gracefully once everything arrived (or the time is up).
    let mut child = spawn_run();
    let store = Store::open(home.path()).await.unwrap();
    let outbox = Outbox::new(&store);
    let wanted: BTreeSet<String> = created.values().flatten().cloned().collect();
    for _ in 0..240 {
        let have: BTreeSet<String> = outbox
            .list(0, 100_000)
            .await
            .unwrap()
            .iter()
            .map(|e| {
                let payload: Value = serde_json::from_str(&e.payload).unwrap();
                payload["id"].as_str().map(str::to_string).unwrap_or_else(|| payload["id"].to_string())
            })
            .collect();
        if wanted.is_subset(&have) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Give a would-be duplicate the chance to appear before stopping.
    tokio::time::sleep(Duration::from_secs(2)).await;
    unsafe_sigterm(&child);
    child.wait().unwrap();

    let events = outbox.list(0, 100_000).await.unwrap();
    for kind in kinds {
        let mut delivered: BTreeMap<String, usize> = BTreeMap::new();
        for e in events.iter().filter(|e| e.trigger_key == kind.key()) {
            let payload: Value = serde_json::from_str(&e.payload).unwrap();
            let id = payload["id"].as_str().map(str::to_string).unwrap_or_else(|| payload["id"].to_string());
            *delivered.entry(id).or_default() += 1;
        }
        let created_ids = &created[kind.key()];
        let expected = once_each(created_ids);
        // Contacts made for the conversations fire Contact Updated too: compare on the created set.
        let delivered: BTreeMap<String, usize> = match kind {
            Kind::ContactUpdated => delivered.into_iter().filter(|(id, _)| expected.contains_key(id)).collect(),
            _ => delivered,
        };
        assert_eq!(delivered, expected, "{kind:?}: the outbox holds every created object exactly once");
    }
}

/// Asks the child to stop gracefully (SIGTERM), as a service manager would.
fn unsafe_sigterm(child: &std::process::Child) {
    let status = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
}

// ------------------------------------------------------------------------------------------------
// The rate budget.
// ------------------------------------------------------------------------------------------------

/// With a limit of 20 requests per 10-second window, a burst of polls and actions from one workspace
/// finishes without any caller seeing a 429, and every window but the last is used to at least 80%.
#[tokio::test(flavor = "multi_thread")]
async fn a_burst_is_paced_to_the_rate_limit() {
    const LIMIT: u32 = 20;
    let emu =
        intercom_emulator::spawn(EmulatorConfig { rate_limit_per_window: LIMIT, ..Default::default() }).await.unwrap();
    let contact = create_contact(&emu, json!({"role": "user", "email": "burst@example.com"})).await;
    // Waiting for the next window happens inside an invocation: give it room.
    let runtime = Arc::new(runtime_with(Limits { deadline: Duration::from_secs(60), ..Limits::default() }));
    let bundle = load(&runtime, "intercom").await;
    let poll = bundle.component("intercom/new-conversation").unwrap().clone();
    let find = bundle.component("intercom/find-contact").unwrap().clone();
    let conn = connection(&emu);
    let cursor = runtime
        .poll_trigger(&poll, Some(&conn), PollInput { cursor: None, now: 0, page_budget: 1, settings: "{}" })
        .await
        .unwrap()
        .cursor
        .to_string();

    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..64u32 {
        let (runtime, poll, find, conn, cursor) =
            (runtime.clone(), poll.clone(), find.clone(), conn.clone(), cursor.clone());
        let id = contact["id"].as_str().unwrap().to_string();
        tasks.spawn(async move {
            if n.is_multiple_of(2) {
                let input = PollInput { cursor: Some(&cursor), now: 0, page_budget: 1, settings: "{}" };
                runtime.poll_trigger(&poll, Some(&conn), input).await.map(|_| ()).map_err(|e| e.to_string())
            } else {
                let input = json!({"id": id}).to_string();
                runtime.run_action(&find, Some(&conn), &input).await.map(|_| ()).map_err(|e| e.to_string())
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap().expect("no caller sees a rate-limit error");
    }
    let stats = runtime.http().budget_stats(&conn);
    assert_eq!(stats.throttled, 0, "the budget paced the burst without a single 429: {stats:?}");
    assert!(stats.windows.len() >= 3, "the burst spans several windows: {stats:?}");
    let full = &stats.windows[..stats.windows.len() - 1];
    for (reset, count) in full {
        assert!(
            *count as f64 >= 0.8 * LIMIT as f64,
            "window ending {reset} used {count} of {LIMIT} requests: {stats:?}"
        );
    }
}

// ------------------------------------------------------------------------------------------------
// The command line.
// ------------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn trigger_cli_lists_polls_and_samples() {
    let emu = Emu::start(false).await;
    let home = tempfile::tempdir().unwrap();
    let bundle = bundle_path("intercom");
    let bundle = bundle.to_str().unwrap().to_string();
    let token = emu.emu.token().to_string();
    let base = emu.emu.base_url();
    let run = |args: Vec<String>| {
        let (home, token) = (home.path().to_path_buf(), token.clone());
        async move {
            tokio::task::spawn_blocking(move || switchyard_cmd(&home, &token).args(args).output().unwrap())
                .await
                .unwrap()
        }
    };
    let args = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();

    let out = run(args(&["trigger", "list", "--bundle", &bundle, "--json"])).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let keys: BTreeSet<&str> = rows.iter().filter_map(|r| r["key"].as_str()).collect();
    for kind in [Kind::Company, Kind::NewContact, Kind::ContactUpdated, Kind::NewTicket, Kind::TicketUpdated] {
        assert!(keys.contains(kind.key()), "{} listed: {keys:?}", kind.key());
    }
    assert!(keys.contains("intercom/new-conversation") && keys.contains("intercom/conversation-updated"));
    assert!(!keys.contains("intercom/find-contact"), "actions are not triggers");

    // A first poll starts now; the printed cursor carries the next poll on from there.
    let poll = |cursor: Option<String>| {
        let mut a = args(&["trigger", "poll", "intercom/new-ticket", "--bundle", &bundle, "--base-url", &base]);
        if let Some(cursor) = cursor {
            a.extend(["--cursor".to_string(), cursor]);
        }
        run(a)
    };
    let out = poll(None).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let first: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(first["events"], json!([]));
    let ticket = Kind::NewTicket.create(&emu, 1).await;
    let out = poll(Some(first["cursor"].to_string())).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let second: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(second["events"][0]["payload"]["id"].as_str(), Some(ticket.as_str()), "{second}");
    assert_eq!(second["events"].as_array().unwrap().len(), 1);

    // Samples change nothing and show the shape events have.
    let out = run(args(&["trigger", "sample", "intercom/new-ticket", "--bundle", &bundle, "--base-url", &base])).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let samples: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(samples[0]["payload"]["id"].as_str(), Some(ticket.as_str()));

    // Bad settings name the field; an action is refused as a trigger.
    let out = run(args(&[
        "trigger",
        "poll",
        "intercom/new-ticket",
        "--bundle",
        &bundle,
        "--base-url",
        &base,
        "--settings",
        r#"{"per_page": 500}"#,
    ]))
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("per_page"), "{}", String::from_utf8_lossy(&out.stderr));
    let out =
        run(args(&["trigger", "sample", "intercom/find-contact", "--bundle", &bundle, "--base-url", &base])).await;
    assert_eq!(out.status.code(), Some(2));

    // Subscriptions: add runs the first poll; list shows it; remove deletes it.
    let out = run(args(&[
        "subscriptions",
        "add",
        "intercom/new-conversation",
        "--bundle",
        &bundle,
        "--base-url",
        &base,
        "--interval",
        "30",
    ]))
    .await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let added: Value = serde_json::from_slice(&out.stdout).unwrap();
    let out = run(args(&["subscriptions", "list", "--json"])).await;
    let listed: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["trigger"], "intercom/new-conversation");
    assert_eq!(listed[0]["polls"], 1, "the first poll ran at add: {listed:?}");
    let id = added["id"].to_string();
    let out = run(args(&["subscriptions", "remove", &id])).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(args(&["subscriptions", "remove", &id])).await;
    assert_eq!(out.status.code(), Some(3), "removing twice is not found");
}
