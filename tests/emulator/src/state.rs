//! In-memory workspace data, the injectable clock, fault knobs, and the test handle.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use parking_lot::{Mutex, RwLock};
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A clock that tests can move: `now()` is system time plus an offset, or a frozen instant.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset: Arc<AtomicI64>,
    frozen: Arc<AtomicI64>,
    is_frozen: Arc<AtomicBool>,
}

impl Clock {
    fn system_now() -> i64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
    }
    /// Current emulated unix time in seconds.
    pub fn now(&self) -> i64 {
        if self.is_frozen.load(Ordering::Relaxed) {
            self.frozen.load(Ordering::Relaxed)
        } else {
            Self::system_now() + self.offset.load(Ordering::Relaxed)
        }
    }
    /// Move the clock forward (or backward with a negative value).
    pub fn advance(&self, secs: i64) {
        if self.is_frozen.load(Ordering::Relaxed) {
            self.frozen.fetch_add(secs, Ordering::Relaxed);
        } else {
            self.offset.fetch_add(secs, Ordering::Relaxed);
        }
    }
    /// Freeze the clock at `unix` seconds; it stays there until advanced or unfrozen.
    pub fn freeze_at(&self, unix: i64) {
        self.frozen.store(unix, Ordering::Relaxed);
        self.is_frozen.store(true, Ordering::Relaxed);
    }
    /// Resume real time from the current frozen instant.
    pub fn unfreeze(&self) {
        if self.is_frozen.swap(false, Ordering::Relaxed) {
            let f = self.frozen.load(Ordering::Relaxed);
            self.offset.store(f - Self::system_now(), Ordering::Relaxed);
        }
    }
}

/// Fault-injection knobs (all off by default). Settable by CLI flags, by
/// `POST /_emulator/faults`, or through [`EmulatorState::set_faults`].
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Faults {
    /// Probability (0..=1) that an authenticated request gets a 500 `server_error`.
    pub error_500_rate: f64,
    /// Probability (0..=1) that an authenticated request gets a 429 `rate_limit_exceeded`.
    pub error_429_rate: f64,
    /// Latency added before every API request is handled, in milliseconds.
    pub latency_ms: u64,
    /// Delay, in milliseconds, between a handler having run (its writes applied, the request
    /// counted) and its response being sent. Unlike `latency_ms` (which sleeps before
    /// handling), a client that times out or dies during this delay has had its write applied
    /// without seeing the answer. Applies only to requests that reached a handler.
    pub response_delay_ms: u64,
    /// Probability (0..=1) that the connection is dropped without a complete response.
    pub drop_rate: f64,
    /// Seconds a created/updated record stays invisible to search endpoints.
    pub search_lag_secs: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OAuthClient {
    pub client_id: String,
    pub client_secret: String,
    /// Allowed redirect URIs; empty = any.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OAuthCode {
    pub code: String,
    pub client_id: String,
    pub workspace: String,
    pub issued_at: i64,
    pub used: bool,
    /// The PKCE S256 `code_challenge` the authorize request carried, if any: the token request must
    /// then bring the matching `code_verifier`.
    #[serde(default)]
    pub code_challenge: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Admin {
    pub id: String,
    pub name: String,
    pub email: String,
    pub job_title: String,
    pub team_ids: Vec<i64>,
    pub away_mode_enabled: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Team {
    pub id: String,
    pub name: String,
    pub admin_ids: Vec<i64>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Location {
    pub country: Option<String>,
    pub region: Option<String>,
    pub city: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AppliedTag {
    pub tag_id: String,
    pub applied_at: i64,
    pub applied_by: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Contact {
    pub id: String,
    pub seq: u64,
    pub role: String,
    pub external_id: Option<String>,
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    pub phone: Option<String>,
    pub name: Option<String>,
    pub avatar: Option<String>,
    pub owner_id: Option<String>,
    pub has_hard_bounced: bool,
    pub marked_email_as_spam: bool,
    pub unsubscribed_from_emails: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub signed_up_at: Option<i64>,
    pub last_seen_at: Option<i64>,
    pub last_replied_at: Option<i64>,
    pub last_contacted_at: Option<i64>,
    pub last_email_opened_at: Option<i64>,
    pub last_email_clicked_at: Option<i64>,
    pub language_override: Option<String>,
    pub browser: Option<String>,
    pub browser_version: Option<String>,
    pub browser_language: Option<String>,
    pub os: Option<String>,
    pub location: Location,
    pub custom_attributes: Map<String, Value>,
    pub tags: Vec<AppliedTag>,
    pub company_ids: Vec<String>,
    pub archived: bool,
    /// Set when this contact was merged into another one (the canonical id).
    pub merged_into: Option<String>,
    /// Merge history on the surviving contact: (source id, source role, merged_at).
    pub merge_history: Vec<(String, String, i64)>,
    /// Unix time of the last write; search hides the record for `search_lag_secs` after it.
    pub indexed_at: i64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Company {
    pub id: String,
    pub seq: u64,
    pub company_id: String,
    pub name: String,
    pub plan: Option<String>,
    pub size: Option<i64>,
    pub website: Option<String>,
    pub industry: Option<String>,
    pub monthly_spend: i64,
    pub session_count: i64,
    pub custom_attributes: Map<String, Value>,
    pub remote_created_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_request_at: Option<i64>,
    pub tag_ids: Vec<String>,
    pub archived: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Tag {
    pub id: String,
    pub name: String,
    /// Tags "in use" by something other than tagging (rules, messages) cannot be deleted.
    #[serde(default)]
    pub has_dependents: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Note {
    pub id: String,
    pub contact_id: Option<String>,
    pub company_id: Option<String>,
    pub author_id: Option<String>,
    pub body: String,
    pub created_at: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Part {
    pub id: String,
    pub part_type: String,
    pub body: Option<String>,
    pub created_at: i64,
    pub author_type: String,
    pub author_id: String,
    pub assigned_to: Option<(String, String)>,
    pub state: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Conversation {
    pub id: String,
    pub seq: u64,
    pub created_at: i64,
    pub updated_at: i64,
    pub waiting_since: Option<i64>,
    pub snoozed_until: Option<i64>,
    pub state: String,
    pub read: bool,
    pub priority: String,
    pub title: Option<String>,
    pub admin_assignee_id: i64,
    pub team_assignee_id: i64,
    pub tags: Vec<AppliedTag>,
    pub source_type: String,
    pub source_delivered_as: String,
    pub source_subject: String,
    pub source_body: String,
    pub source_author_type: String,
    pub source_author_id: String,
    pub contact_ids: Vec<String>,
    pub teammate_ids: Vec<String>,
    pub custom_attributes: Map<String, Value>,
    pub company_id: Option<String>,
    pub parts: Vec<Part>,
    pub first_contact_reply_at: Option<i64>,
    pub first_admin_reply_at: Option<i64>,
    pub last_admin_reply_at: Option<i64>,
    pub last_contact_reply_at: Option<i64>,
    pub last_close_at: Option<i64>,
    pub count_reopens: i64,
    pub count_assignments: i64,
    pub linked_ticket_ids: Vec<String>,
    pub indexed_at: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TicketState {
    pub id: String,
    pub category: String,
    pub internal_label: String,
    pub external_label: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TicketTypeAttribute {
    pub id: String,
    pub name: String,
    pub data_type: String,
    pub default: bool,
    pub required_to_create: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TicketType {
    pub id: String,
    pub name: String,
    pub category: String,
    pub icon: String,
    pub state_ids: Vec<String>,
    pub attributes: Vec<TicketTypeAttribute>,
    pub archived: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Ticket {
    pub id: String,
    pub seq: u64,
    pub ticket_id: String,
    pub ticket_type_id: String,
    pub ticket_state_id: String,
    pub previous_ticket_state_id: Option<String>,
    pub attributes: Map<String, Value>,
    pub contact_ids: Vec<String>,
    pub company_id: Option<String>,
    pub admin_assignee_id: i64,
    pub team_assignee_id: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub open: bool,
    pub snoozed_until: Option<i64>,
    pub is_shared: bool,
    pub tags: Vec<AppliedTag>,
    pub linked_conversation_ids: Vec<String>,
    pub parts: Vec<Part>,
    pub indexed_at: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DataEvent {
    pub id: String,
    pub event_name: String,
    pub created_at: i64,
    pub contact_id: String,
    pub metadata: Map<String, Value>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Scroll {
    pub param: String,
    pub offset: usize,
    pub last_used: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MessageRecord {
    pub id: String,
    pub created_at: i64,
    pub message_type: String,
    pub subject: String,
    pub body: String,
    pub conversation_id: Option<String>,
}

/// One emulated Intercom workspace ("app").
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Workspace {
    pub id_code: String,
    pub name: String,
    pub region: String,
    pub timezone: String,
    pub created_at: i64,
    /// The admin that `/me` reports for this workspace's tokens.
    pub me_admin_id: String,
    pub admins: Vec<Admin>,
    pub teams: Vec<Team>,
    pub contacts: BTreeMap<u64, Contact>,
    pub companies: BTreeMap<u64, Company>,
    pub tags: Vec<Tag>,
    pub notes: BTreeMap<u64, Note>,
    pub conversations: BTreeMap<u64, Conversation>,
    pub tickets: BTreeMap<u64, Ticket>,
    pub ticket_types: Vec<TicketType>,
    pub ticket_states: Vec<TicketState>,
    pub events: Vec<DataEvent>,
    pub messages: Vec<MessageRecord>,
    /// Deleted conversations: (id, metrics retained, deleted_at).
    pub deleted_conversations: Vec<(String, bool, i64)>,
    pub scroll: Option<Scroll>,
    pub next_seq: u64,
    pub next_number: u64,
    pub next_ticket_number: u64,
    #[serde(skip)]
    pub contact_idx: HashMap<String, u64>,
    #[serde(skip)]
    pub company_idx: HashMap<String, u64>,
}

impl Workspace {
    pub fn rebuild_indexes(&mut self) {
        self.contact_idx = self.contacts.iter().map(|(k, c)| (c.id.clone(), *k)).collect();
        self.company_idx = self.companies.iter().map(|(k, c)| (c.id.clone(), *k)).collect();
    }
    pub fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }
    /// Numeric string ids (conversations, tickets, tags, notes, parts...).
    pub fn next_number(&mut self) -> u64 {
        self.next_number += 1;
        self.next_number
    }
    pub fn contact(&self, id: &str) -> Option<&Contact> {
        self.contact_idx.get(id).and_then(|k| self.contacts.get(k))
    }
    pub fn contact_mut(&mut self, id: &str) -> Option<&mut Contact> {
        let k = *self.contact_idx.get(id)?;
        self.contacts.get_mut(&k)
    }
    pub fn insert_contact(&mut self, c: Contact) {
        self.contact_idx.insert(c.id.clone(), c.seq);
        self.contacts.insert(c.seq, c);
    }
    pub fn remove_contact(&mut self, id: &str) -> Option<Contact> {
        let k = self.contact_idx.remove(id)?;
        self.contacts.remove(&k)
    }
    pub fn company(&self, id: &str) -> Option<&Company> {
        self.company_idx.get(id).and_then(|k| self.companies.get(k))
    }
    pub fn company_mut(&mut self, id: &str) -> Option<&mut Company> {
        let k = *self.company_idx.get(id)?;
        self.companies.get_mut(&k)
    }
    pub fn insert_company(&mut self, c: Company) {
        self.company_idx.insert(c.id.clone(), c.seq);
        self.companies.insert(c.seq, c);
    }
    pub fn admin(&self, id: &str) -> Option<&Admin> {
        self.admins.iter().find(|a| a.id == id)
    }
    pub fn team(&self, id: &str) -> Option<&Team> {
        self.teams.iter().find(|a| a.id == id)
    }
    pub fn tag(&self, id: &str) -> Option<&Tag> {
        self.tags.iter().find(|t| t.id == id)
    }
    pub fn conversation(&self, id: &str) -> Option<&Conversation> {
        id.parse::<u64>().ok().and_then(|k| self.conversations.get(&k))
    }
    pub fn conversation_mut(&mut self, id: &str) -> Option<&mut Conversation> {
        id.parse::<u64>().ok().and_then(|k| self.conversations.get_mut(&k))
    }
    pub fn ticket(&self, id: &str) -> Option<&Ticket> {
        id.parse::<u64>().ok().and_then(|k| self.tickets.get(&k))
    }
    pub fn ticket_mut(&mut self, id: &str) -> Option<&mut Ticket> {
        id.parse::<u64>().ok().and_then(|k| self.tickets.get_mut(&k))
    }
    pub fn ticket_type(&self, id: &str) -> Option<&TicketType> {
        self.ticket_types.iter().find(|t| t.id == id)
    }
    pub fn ticket_state(&self, id: &str) -> Option<&TicketState> {
        self.ticket_states.iter().find(|t| t.id == id)
    }
    /// Live (not merged) contact with this email, case-insensitively.
    pub fn contact_by_email(&self, email: &str) -> Option<&Contact> {
        self.contacts
            .values()
            .find(|c| c.merged_into.is_none() && c.email.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(email)))
    }
    pub fn contact_by_external_id(&self, ext: &str) -> Option<&Contact> {
        self.contacts.values().find(|c| c.merged_into.is_none() && c.external_id.as_deref() == Some(ext))
    }
    /// Number of live contacts attached to a company.
    pub fn company_user_count(&self, company_id: &str) -> usize {
        self.contacts
            .values()
            .filter(|c| c.merged_into.is_none() && c.company_ids.iter().any(|x| x == company_id))
            .count()
    }
}

/// Everything the emulator serves, persisted as JSON with `--state`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct World {
    pub workspaces: Vec<Workspace>,
    /// Bearer token -> index into `workspaces`.
    pub tokens: HashMap<String, usize>,
    pub oauth_clients: Vec<OAuthClient>,
    pub oauth_codes: HashMap<String, OAuthCode>,
    pub oauth_auto_approve: bool,
}

impl World {
    pub fn workspace_index(&self, id_code: &str) -> Option<usize> {
        self.workspaces.iter().position(|w| w.id_code == id_code)
    }
}

#[derive(Debug, Default)]
pub(crate) struct RateWindow {
    pub window_start: i64,
    pub count: u32,
}

/// Shared emulator internals.
pub struct Inner {
    pub clock: Clock,
    pub world: RwLock<World>,
    pub faults: RwLock<Faults>,
    pub rate_limit: AtomicI64,
    pub strict: AtomicBool,
    pub(crate) rate: Mutex<HashMap<usize, RateWindow>>,
    /// Dispatched API requests per (method, spec path template), all workspaces together.
    pub(crate) requests: Mutex<HashMap<(&'static str, &'static str), u64>>,
    pub(crate) rng: Mutex<StdRng>,
    pub(crate) dirty: AtomicBool,
    pub(crate) initial: Mutex<World>,
    pub(crate) state_file: Option<std::path::PathBuf>,
}

impl Inner {
    pub(crate) fn new(world: World, rate_limit: u32, strict: bool) -> Inner {
        Inner {
            clock: Clock::default(),
            initial: Mutex::new(world.clone()),
            world: RwLock::new(world),
            faults: RwLock::new(Faults::default()),
            rate_limit: AtomicI64::new(rate_limit as i64),
            strict: AtomicBool::new(strict),
            rate: Mutex::new(HashMap::new()),
            requests: Mutex::new(HashMap::new()),
            rng: Mutex::new(StdRng::from_os_rng()),
            dirty: AtomicBool::new(false),
            state_file: None,
        }
    }
    /// 24-char lowercase hex id, Intercom style (timestamp prefix + random).
    pub fn hex_id(&self) -> String {
        let now = self.clock.now() as u32;
        let r: u64 = self.rng.lock().random();
        format!("{now:08x}{r:016x}")
    }
    pub fn random_token(&self, prefix: &str) -> String {
        let mut rng = self.rng.lock();
        let a: u64 = rng.random();
        let b: u64 = rng.random();
        format!("{prefix}{a:016x}{b:016x}")
    }
    pub fn request_id(&self) -> String {
        let mut rng = self.rng.lock();
        let a: u128 = rng.random();
        let h = format!("{a:032x}");
        format!("{}-{}-4{}-a{}-{}", &h[0..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32])
    }
    pub fn mark_dirty(&self) {
        self.dirty.store(true, Ordering::Relaxed);
    }
    /// Count one request dispatched to the handler of `op` (method + path template).
    pub(crate) fn count_request(&self, op: &'static crate::spec::Operation) {
        *self.requests.lock().entry((op.method.as_str(), op.path.as_str())).or_insert(0) += 1;
    }
}

/// A cloneable handle for tests to read and modify the emulated workspaces directly.
#[derive(Clone)]
pub struct EmulatorState {
    pub(crate) inner: Arc<Inner>,
}

impl EmulatorState {
    /// The injectable clock used for timestamps, rate-limit windows, OAuth code expiry,
    /// scroll expiry and search lag.
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }
    /// Current emulated unix time.
    pub fn now(&self) -> i64 {
        self.inner.clock.now()
    }
    /// Read the whole world (all workspaces).
    pub fn read<R>(&self, f: impl FnOnce(&World) -> R) -> R {
        f(&self.inner.world.read())
    }
    /// Modify the whole world. Indexes are rebuilt afterwards.
    pub fn write<R>(&self, f: impl FnOnce(&mut World) -> R) -> R {
        let mut w = self.inner.world.write();
        let r = f(&mut w);
        for ws in &mut w.workspaces {
            ws.rebuild_indexes();
        }
        self.inner.mark_dirty();
        r
    }
    /// Read the default workspace (the first one, owner of `config.token`).
    pub fn with_workspace<R>(&self, f: impl FnOnce(&Workspace) -> R) -> R {
        f(&self.inner.world.read().workspaces[0])
    }
    /// Modify the default workspace.
    pub fn with_workspace_mut<R>(&self, f: impl FnOnce(&mut Workspace) -> R) -> R {
        let mut w = self.inner.world.write();
        let r = f(&mut w.workspaces[0]);
        w.workspaces[0].rebuild_indexes();
        self.inner.mark_dirty();
        r
    }
    /// Mark contact `from_id` as merged into `into_id` (default workspace).
    /// `GET /contacts/{from_id}` then answers 410 `contact_merged` with a canonical `Link`.
    pub fn merge_contact(&self, from_id: &str, into_id: &str) -> anyhow::Result<()> {
        let mut w = self.inner.world.write();
        crate::api::contacts::merge(&mut w.workspaces[0], from_id, into_id, self.now())?;
        self.inner.mark_dirty();
        Ok(())
    }
    /// Current fault knobs.
    pub fn faults(&self) -> Faults {
        self.inner.faults.read().clone()
    }
    /// Replace the fault knobs.
    pub fn set_faults(&self, f: Faults) {
        *self.inner.faults.write() = f;
    }
    /// Change the per-10-second rate limit of every workspace.
    pub fn set_rate_limit(&self, per_window: u32) {
        self.inner.rate_limit.store(per_window as i64, Ordering::Relaxed);
    }
    /// Switch strict request checking on or off.
    pub fn set_strict(&self, strict: bool) {
        self.inner.strict.store(strict, Ordering::Relaxed);
    }
    /// Add a workspace with its own bearer token; returns its `id_code`.
    pub fn add_workspace(&self, name: &str, region: &str, token: &str) -> String {
        let mut w = self.inner.world.write();
        let ws = crate::seed::base_workspace(&self.inner, name, region, w.workspaces.len());
        let id = ws.id_code.clone();
        w.workspaces.push(ws);
        let idx = w.workspaces.len() - 1;
        w.tokens.insert(token.to_string(), idx);
        self.inner.mark_dirty();
        id
    }
    /// Register an OAuth client (client id + secret; empty redirect list = any redirect).
    pub fn add_oauth_client(&self, client_id: &str, client_secret: &str, redirect_uris: Vec<String>) {
        let mut w = self.inner.world.write();
        w.oauth_clients.retain(|c| c.client_id != client_id);
        w.oauth_clients.push(OAuthClient {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            redirect_uris,
        });
    }
    /// Whether `GET /oauth` redirects at once (default true).
    pub fn set_oauth_auto_approve(&self, yes: bool) {
        self.inner.world.write().oauth_auto_approve = yes;
    }
    /// Restore the workspace data the emulator started with (tokens included); also zeroes
    /// the request counts ([`EmulatorState::request_counts`]).
    pub fn reset(&self) {
        let initial = self.inner.initial.lock().clone();
        *self.inner.world.write() = initial;
        self.inner.rate.lock().clear();
        self.reset_request_counts();
        self.inner.mark_dirty();
    }
    /// How many API requests with this key reached their handler, e.g. `"POST /tickets"`,
    /// `"GET /contacts/{contact_id}"` or `"POST /contacts/search"`: the method in upper case,
    /// a space, and the spec operation's path template. All workspaces count together.
    ///
    /// Only requests that were dispatched to a handler are counted (whatever the handler
    /// answered, 501 `not_implemented` included). Requests refused or faulted before that are
    /// not: 401 (auth), 429 (rate limit or an injected `error_429_rate`), injected 500s and
    /// dropped connections, a bad `Intercom-Version`, unknown paths (404), and requests that
    /// failed the strict checks (400). The `/_emulator/…` and OAuth endpoints are not counted.
    pub fn request_count(&self, key: &str) -> u64 {
        let Some((method, path)) = key.split_once(' ') else {
            return 0;
        };
        self.inner.requests.lock().get(&(method, path)).copied().unwrap_or(0)
    }
    /// All non-zero request counts, keyed as in [`EmulatorState::request_count`].
    pub fn request_counts(&self) -> BTreeMap<String, u64> {
        self.inner.requests.lock().iter().map(|((m, p), n)| (format!("{m} {p}"), *n)).collect()
    }
    /// Zero the request counts (also done by [`EmulatorState::reset`]).
    pub fn reset_request_counts(&self) {
        self.inner.requests.lock().clear();
    }
    /// Serialize the whole world to JSON (same format as the `--state` file).
    pub fn snapshot(&self) -> Value {
        serde_json::to_value(&*self.inner.world.read()).unwrap_or(Value::Null)
    }
}

pub(crate) fn seeded_rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}
