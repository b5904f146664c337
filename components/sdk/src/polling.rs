//! Polling, once for every trigger: a watermark, the keys already emitted at the boundary, a lag window
//! for Intercom's search lag, and bounded paging that carries a backlog into the next poll.
//!
//! A trigger describes its [`Feed`] (where the objects come from and which timestamp marks the change)
//! by implementing [`FeedTrigger`]; this module does the rest through [`poll`] and [`sample`]. The cursor it returns is this module's own
//! state, stored by the host as opaque JSON except for one field the host reads: `floor` (see [`Cursor`]).
//!
//! The rules, each learned from a peer's bug:
//! - Every query is inclusive of the boundary second (a strict `>` loses items sharing it); what was
//!   already emitted is dropped by its key, never by a strict comparison.
//! - Each scan looks back `lag` seconds before the previous scan's start, because search results appear
//!   minutes after the change; the keys seen in that window are kept so nothing fires twice.
//! - A poll reads at most `page_budget` pages; an unfinished scan is saved in the cursor and continued
//!   by the next poll (`backlog: true`), never skipped.
//! - A transient failure after some pages keeps the progress made (events and cursor) instead of
//!   throwing it away; a failure on the first page is the poll's error, and the host keeps the cursor.
//! - The first poll starts at `now` (or `backfill_days` before it): no flood of history.

use crate::error::{internal, invalid_input};
use crate::intercom::{self, filter};
use crate::trigger::{PollOutcome, Trigger, TriggerEvent};
use crate::{Error, log};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Where a trigger's objects come from.
pub enum Source {
    /// `POST path` sorted descending by the feed's field, read until the floor is passed. Used for
    /// contacts: their date filters compare whole days in the workspace's time zone, but the sort uses the
    /// full timestamp, so sorting and re-filtering on the exact value is exact.
    SortedSearch { path: &'static str, list_key: &'static str },
    /// `POST path` filtered on the feed's field; the result order is undocumented, so every page is
    /// read before the scan counts as done (conversations, tickets).
    FilteredSearch { path: &'static str, list_key: &'static str },
    /// `GET path` scroll over the whole collection, compared on the client (companies: no search).
    /// `sample_path` lists a few objects without opening a scroll, for `sample`.
    Scroll { path: &'static str, sample_path: &'static str },
}

/// What one trigger watches.
pub struct Feed {
    pub source: Source,
    /// The timestamp that marks the change this trigger reports, e.g. `created_at` or `updated_at`.
    pub field: &'static str,
    /// `true` for "new X" triggers: the dedupe key is the id alone (an object is new once); otherwise
    /// it is `id:timestamp`, so each change fires once.
    pub new_only: bool,
    /// The default lag window, in seconds.
    pub lag_seconds: u64,
}

/// Settings shared by every polling trigger.
#[derive(Deserialize, JsonSchema, Default, Debug)]
#[serde(deny_unknown_fields)]
pub struct PollSettings {
    /// On the first poll, also report changes from this many days back. Default 0: only changes from
    /// the moment the subscription starts.
    #[schemars(title = "Backfill days", range(max = 365))]
    pub backfill_days: Option<u32>,
    /// How far back each poll looks again for changes Intercom's search had not indexed yet, in
    /// seconds. Larger is safer and costs a little more reading; the trigger's default suits Intercom.
    #[schemars(title = "Search lag window (seconds)", range(max = 86400))]
    pub lag_seconds: Option<u64>,
    /// Objects per page, 1 to 150 (default 150).
    #[schemars(title = "Page size", range(min = 1, max = 150))]
    pub per_page: Option<u32>,
}

/// The polling state between two polls, stored by the host as the trigger's cursor.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Cursor {
    /// Format version of this cursor.
    pub v: u32,
    /// Changes before this instant are history and never reported (activation or backfill start).
    pub since: u64,
    /// The start of the last completed scan: everything changed before `watermark - lag` was seen.
    pub watermark: u64,
    /// No event with `occurred_at < floor` will ever be emitted again. Only grows. The host reads this
    /// field to prune the keys it remembers for the subscription.
    pub floor: u64,
    /// Keys already emitted whose timestamp is at or after `floor`, with that timestamp.
    pub seen: BTreeMap<String, u64>,
    /// An unfinished scan, continued by the next poll.
    pub scan: Option<Scan>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Scan {
    /// When the scan started (the next watermark).
    pub started: u64,
    /// Where to continue: the search's `starting_after` or the scroll's `scroll_param`.
    pub after: Option<String>,
}

const CURSOR_VERSION: u32 = 1;
/// The host remembers every emitted key as well; this only keeps the cursor small.
const MAX_SEEN: usize = 20_000;
/// Immediate retries of one page on a 5xx or a transport failure, before the poll gives up on it.
const PAGE_RETRIES: u32 = 2;
const SAMPLE_SIZE: u32 = 3;
const SAMPLE_DAYS: u64 = 30;

struct Page {
    items: Vec<Value>,
    next: Option<String>,
}

/// One poll of `feed`.
pub fn poll(
    feed: &Feed,
    cursor: Option<Value>,
    now: u64,
    page_budget: u32,
    settings: &PollSettings,
) -> Result<PollOutcome, Error> {
    poll_with(feed, cursor, now, page_budget, settings, fetch)
}

/// [`poll`] with its page source as a parameter: `fetch(feed, after, floor, per_page)` makes one attempt
/// at one page of `feed`'s objects changed at or after `floor`, continuing at `after` (`None`: the first
/// page). `poll` passes the Intercom reads; the unit tests pass an in-memory workspace. All of the rules
/// above, retries included, are here.
fn poll_with(
    feed: &Feed,
    cursor: Option<Value>,
    now: u64,
    page_budget: u32,
    settings: &PollSettings,
    mut fetch: impl FnMut(&Feed, Option<&str>, u64, u32) -> Result<Page, Error>,
) -> Result<PollOutcome, Error> {
    let lag = settings.lag_seconds.unwrap_or(feed.lag_seconds);
    let per_page = per_page(settings)?;
    let mut cursor = match cursor {
        None => {
            let since = now.saturating_sub(u64::from(settings.backfill_days.unwrap_or(0)) * 86_400);
            Cursor { v: CURSOR_VERSION, since, watermark: since, floor: since, seen: BTreeMap::new(), scan: None }
        }
        Some(value) => serde_json::from_value::<Cursor>(value).map_err(|e| {
            internal(format!("the stored cursor is not this trigger's ({e}); remove and re-add the subscription"))
        })?,
    };
    if cursor.v != CURSOR_VERSION {
        return Err(internal(format!("cursor version {} is not supported (expected {CURSOR_VERSION})", cursor.v)));
    }

    let mut scan = cursor.scan.take().unwrap_or(Scan { started: now, after: None });
    let mut events = Vec::new();
    let mut pages = 0u32;
    let mut backlog = false;
    loop {
        if pages >= page_budget.max(1) {
            backlog = true;
            break;
        }
        let page = match fetch_retrying(&mut fetch, feed, scan.after.as_deref(), cursor.floor, per_page) {
            Ok(page) => page,
            // A continuation the service no longer knows (expired scroll, stale search cursor):
            // start the scan over; what was already emitted is dropped by key.
            Err(Error::NotFound(_) | Error::InvalidInput(_)) if scan.after.is_some() => {
                log::warn("the paging cursor was refused; restarting the scan from the first page");
                scan.after = None;
                pages += 1;
                continue;
            }
            Err(error) if pages > 0 => {
                log::warn(&format!("keeping the progress of this poll after a failed page: {error:?}"));
                backlog = true;
                break;
            }
            Err(error) => return Err(error),
        };
        pages += 1;
        let mut passed_floor = false;
        for item in page.items {
            let Some(ts) = timestamp(&item, feed.field) else {
                log::warn(&format!("an object without `{}` was skipped", feed.field));
                continue;
            };
            if ts < cursor.floor {
                passed_floor = true;
                continue;
            }
            let Some(id) = id_of(&item) else {
                log::warn("an object without an id was skipped");
                continue;
            };
            let key = if feed.new_only { id } else { format!("{id}:{ts}") };
            if cursor.seen.contains_key(&key) {
                continue;
            }
            cursor.seen.insert(key.clone(), ts);
            events.push(TriggerEvent { dedupe_key: key, occurred_at: ts, payload: crate::output::json_text(&item) });
        }
        let sorted = matches!(feed.source, Source::SortedSearch { .. });
        match page.next {
            Some(next) if !(sorted && passed_floor) => scan.after = Some(next),
            _ => {
                // The scan is complete: everything changed before its start (less the lag) was seen.
                cursor.watermark = scan.started;
                cursor.floor = cursor.floor.max(scan.started.saturating_sub(lag));
                scan = Scan { started: now, after: None };
                cursor.seen.retain(|_, ts| *ts >= cursor.floor);
                break;
            }
        }
    }
    if backlog {
        cursor.scan = Some(scan);
    }
    trim_seen(&mut cursor.seen);
    let cursor = serde_json::to_string(&cursor).map_err(|e| internal(format!("serializing the cursor: {e}")))?;
    Ok(PollOutcome { events, cursor, backlog })
}

/// A few recent objects in the shape `poll` emits. Opens no scroll and changes nothing.
pub fn sample(feed: &Feed, now: u64) -> Result<Vec<TriggerEvent>, Error> {
    let since = now.saturating_sub(SAMPLE_DAYS * 86_400);
    let items = match &feed.source {
        Source::SortedSearch { path, list_key } | Source::FilteredSearch { path, list_key } => {
            let body = search_body(feed, since);
            intercom::search_page(path, list_key, body, SAMPLE_SIZE, None)?.items
        }
        Source::Scroll { sample_path, .. } => {
            let answer = intercom::Call::new(crate::http::Method::Post, *sample_path).query("per_page", "3").send()?;
            answer.get("data").and_then(Value::as_array).cloned().unwrap_or_default()
        }
    };
    Ok(items
        .into_iter()
        .take(SAMPLE_SIZE as usize)
        .filter_map(|item| {
            let ts = timestamp(&item, feed.field)?;
            let id = id_of(&item)?;
            let key = if feed.new_only { id } else { format!("{id}:{ts}") };
            Some(TriggerEvent { dedupe_key: key, occurred_at: ts, payload: crate::output::json_text(&item) })
        })
        .collect())
}

fn per_page(settings: &PollSettings) -> Result<u32, Error> {
    match settings.per_page {
        None => Ok(150),
        Some(n) if (1..=150).contains(&n) => Ok(n),
        Some(n) => Err(invalid_input("per_page", format!("must be between 1 and 150, got {n}"))),
    }
}

/// The search body for objects whose `field` is at or after `floor`. Contacts compare dates by whole
/// days in the workspace's time zone (`>` v matches from the start of the day after v's day), so
/// `> floor - 1 day` matches all of `floor`'s day in any time zone; conversations and tickets compare
/// exactly and document `>` as "greater or equal", so `> floor - 1` is inclusive either way. The exact
/// comparison is redone on the client.
fn search_body(feed: &Feed, floor: u64) -> Value {
    match feed.source {
        Source::SortedSearch { .. } => json!({
            "query": filter(feed.field, ">", floor.saturating_sub(86_400)),
            "sort": { "field": feed.field, "order": "descending" },
        }),
        _ => json!({ "query": filter(feed.field, ">", floor.saturating_sub(1)) }),
    }
}

/// One page through `fetch`, tried again up to [`PAGE_RETRIES`] times on a transient failure.
fn fetch_retrying(
    fetch: &mut impl FnMut(&Feed, Option<&str>, u64, u32) -> Result<Page, Error>,
    feed: &Feed,
    after: Option<&str>,
    floor: u64,
    per_page: u32,
) -> Result<Page, Error> {
    let mut attempt = 0;
    loop {
        match fetch(feed, after, floor, per_page) {
            Err(error) if transient(&error) && attempt < PAGE_RETRIES => attempt += 1,
            other => return other,
        }
    }
}

/// One attempt at one page from Intercom, through the host.
fn fetch(feed: &Feed, after: Option<&str>, floor: u64, per_page: u32) -> Result<Page, Error> {
    match &feed.source {
        Source::SortedSearch { path, list_key } | Source::FilteredSearch { path, list_key } => {
            intercom::search_page(path, list_key, search_body(feed, floor), per_page, after)
                .map(|p| Page { items: p.items, next: p.next })
        }
        Source::Scroll { path, .. } => scroll_page(path, after),
    }
}

fn scroll_page(path: &str, scroll_param: Option<&str>) -> Result<Page, Error> {
    let mut call = intercom::get(path);
    if let Some(param) = scroll_param {
        call = call.query("scroll_param", param);
    }
    let answer = call.send().map_err(|error| match error {
        Error::Upstream(u) if u.code == "scroll_exists" => Error::RateLimited(crate::RateLimit {
            message: format!(
                "another scroll is open in this workspace ({}); Intercom allows one at a time, retrying later",
                u.message
            ),
            retry_after_seconds: Some(60),
        }),
        other => other,
    })?;
    let items = answer.get("data").and_then(Value::as_array).cloned().unwrap_or_default();
    // An empty page ends the scroll.
    let next =
        if items.is_empty() { None } else { answer.get("scroll_param").and_then(Value::as_str).map(str::to_string) };
    Ok(Page { items, next })
}

fn transient(error: &Error) -> bool {
    match error {
        Error::Upstream(u) => u.status == 0 || u.status >= 500,
        _ => false,
    }
}

fn timestamp(item: &Value, field: &str) -> Option<u64> {
    match item.get(field)? {
        Value::Number(n) => n.as_u64().or_else(|| n.as_f64().map(|f| f as u64)),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn id_of(item: &Value) -> Option<String> {
    match item.get("id")? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Keeps the newest keys when a burst overflows the cursor; the host's own record still dedupes.
fn trim_seen(seen: &mut BTreeMap<String, u64>) {
    if seen.len() <= MAX_SEEN {
        return;
    }
    let mut stamps: Vec<u64> = seen.values().copied().collect();
    stamps.sort_unstable();
    let cut = stamps[seen.len() - MAX_SEEN];
    seen.retain(|_, ts| *ts >= cut);
}

/// A trigger that is one [`Feed`]: a component implements this (what to watch, its name and a sample
/// output) and `export_trigger!`s the type; polling and sampling are this module's.
pub trait FeedTrigger {
    const FEED: Feed;
    const NAME: &'static str;
    const SUMMARY: &'static str;
    fn sample_output() -> Value;
}

impl<T: FeedTrigger> Trigger for T {
    type Settings = PollSettings;
    const NAME: &'static str = <T as FeedTrigger>::NAME;
    const SUMMARY: &'static str = <T as FeedTrigger>::SUMMARY;

    fn sample_output() -> Value {
        <T as FeedTrigger>::sample_output()
    }

    fn poll(cursor: Option<Value>, now: u64, page_budget: u32, settings: PollSettings) -> Result<PollOutcome, Error> {
        poll(&T::FEED, cursor, now, page_budget, &settings)
    }

    fn sample(_settings: PollSettings) -> Result<Vec<TriggerEvent>, Error> {
        sample(&T::FEED, crate::now())
    }
}

#[cfg(test)]
mod tests {
    //! The rules above against an in-memory workspace standing in for Intercom: `Workspace::fetch` takes
    //! the place of `fetch`, and `Subscription` keeps the cursor between polls as the host does (a
    //! poll's error leaves it as it was).

    use super::*;
    use crate::{RateLimit, UpstreamError};

    const UPDATED: Feed = Feed {
        source: Source::FilteredSearch { path: "/tickets/search", list_key: "tickets" },
        field: "updated_at",
        new_only: false,
        lag_seconds: 300,
    };
    const NEW_CONTACT: Feed = Feed {
        source: Source::SortedSearch { path: "/contacts/search", list_key: "data" },
        field: "created_at",
        new_only: true,
        lag_seconds: 600,
    };
    const COMPANY: Feed = Feed {
        source: Source::Scroll { path: "/companies/scroll", sample_path: "/companies/list" },
        field: "updated_at",
        new_only: false,
        lag_seconds: 60,
    };

    const T0: u64 = 1_700_000_000;
    const DAY: u64 = 86_400;

    /// One fetch as `poll_with` made it.
    #[derive(Debug, Clone, PartialEq)]
    struct Fetched {
        after: Option<String>,
        floor: u64,
        per_page: u32,
    }

    /// The objects of one workspace, as Intercom would list them.
    #[derive(Default)]
    struct Workspace {
        /// Each object with the instant from which search finds it (search lags the change).
        objects: Vec<(Value, u64)>,
        /// The time of the poll in progress: objects indexed later are not found yet.
        clock: u64,
        calls: Vec<Fetched>,
        /// Errors returned instead of a page, by the index of the call in `calls`.
        failures: BTreeMap<usize, Error>,
        /// Refuse the next continuation (`after: Some`) as an expired scroll or stale search cursor.
        refuse_next_continuation: bool,
    }

    impl Workspace {
        /// Creates or changes object `id` at `ts` (its `updated_at`; `created_at` too when new), found by
        /// search at once.
        fn put(&mut self, id: &str, ts: u64) {
            self.put_indexed(id, ts, ts);
        }

        /// Like `put`, but search finds the change only from `indexed_at` on.
        fn put_indexed(&mut self, id: &str, ts: u64, indexed_at: u64) {
            let created =
                self.objects.iter().find(|(o, _)| o["id"] == id).map_or(json!(ts), |(o, _)| o["created_at"].clone());
            self.objects.retain(|(o, _)| o["id"] != id);
            self.objects.push((json!({"type": "test", "id": id, "created_at": created, "updated_at": ts}), indexed_at));
        }

        fn fetch(&mut self, feed: &Feed, after: Option<&str>, floor: u64, per_page: u32) -> Result<Page, Error> {
            self.calls.push(Fetched { after: after.map(str::to_string), floor, per_page });
            if let Some(error) = self.failures.remove(&(self.calls.len() - 1)) {
                return Err(error);
            }
            if after.is_some() && std::mem::take(&mut self.refuse_next_continuation) {
                return Err(crate::error::not_found("scroll_param not found"));
            }
            let ts = |o: &Value| o[feed.field].as_u64().unwrap();
            let mut items: Vec<Value> =
                self.objects.iter().filter(|(_, indexed)| *indexed <= self.clock).map(|(o, _)| o.clone()).collect();
            // Search order is undocumented; listing by id keeps it unrelated to the timestamps.
            items.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
            match feed.source {
                // Contacts: `> floor - 1 day` compares whole days, so it returns up to a day before the floor.
                Source::SortedSearch { .. } => {
                    items.retain(|o| ts(o) > floor - DAY);
                    items.sort_by_key(|o| std::cmp::Reverse(ts(o)));
                }
                Source::FilteredSearch { .. } => items.retain(|o| ts(o) >= floor),
                Source::Scroll { .. } => {}
            }
            let start = after.map_or(0, |a| a.strip_prefix("after-").unwrap().parse().unwrap());
            let page: Vec<Value> = items.iter().skip(start).take(per_page as usize).cloned().collect();
            let end = start + page.len();
            let next = match feed.source {
                // A scroll ends with an empty page.
                Source::Scroll { .. } => (!page.is_empty()).then(|| format!("after-{end}")),
                _ => (end < items.len()).then(|| format!("after-{end}")),
            };
            Ok(Page { items: page, next })
        }

        fn fail(&mut self, call: usize, error: Error) {
            self.failures.insert(call, error);
        }
    }

    /// One trigger subscription, with its cursor kept between polls as the host keeps it.
    struct Subscription {
        feed: &'static Feed,
        settings: PollSettings,
        page_budget: u32,
        cursor: Option<String>,
    }

    impl Subscription {
        fn new(feed: &'static Feed) -> Self {
            Subscription { feed, settings: PollSettings::default(), page_budget: 10, cursor: None }
        }

        fn poll(&mut self, workspace: &mut Workspace, now: u64) -> Result<PollOutcome, Error> {
            workspace.clock = now;
            let cursor = self.cursor.as_deref().map(|text| serde_json::from_str(text).unwrap());
            let outcome =
                poll_with(self.feed, cursor, now, self.page_budget, &self.settings, |feed, after, floor, n| {
                    workspace.fetch(feed, after, floor, n)
                })?;
            self.cursor = Some(outcome.cursor.clone());
            Ok(outcome)
        }

        fn state(&self) -> Cursor {
            serde_json::from_str(self.cursor.as_deref().unwrap()).unwrap()
        }
    }

    fn keys(outcome: &PollOutcome) -> Vec<&str> {
        outcome.events.iter().map(|e| e.dedupe_key.as_str()).collect()
    }

    fn sorted(mut keys: Vec<String>) -> Vec<String> {
        keys.sort();
        keys
    }

    #[test]
    fn first_poll_starts_at_now_and_reports_no_history() {
        let mut ws = Workspace::default();
        ws.put("a", T0 - 5 * DAY);
        ws.put("b", T0 - 1);
        let mut sub = Subscription::new(&UPDATED);

        let outcome = sub.poll(&mut ws, T0).unwrap();
        assert!(outcome.events.is_empty(), "history was reported: {:?}", keys(&outcome));
        assert!(!outcome.backlog);
        let state = sub.state();
        assert_eq!((state.v, state.since, state.watermark, state.floor), (CURSOR_VERSION, T0, T0, T0));
        assert_eq!(state.scan, None);
        assert!(state.seen.is_empty());
        // The one scan asked for changes from `now` on.
        assert_eq!(ws.calls, vec![Fetched { after: None, floor: T0, per_page: 150 }]);
    }

    #[test]
    fn first_poll_with_backfill_reports_the_window_only() {
        let mut ws = Workspace::default();
        ws.put("old", T0 - 2 * DAY - 1);
        ws.put("edge", T0 - 2 * DAY);
        ws.put("recent", T0 - DAY);
        ws.put("fresh", T0 - 10);
        let mut sub = Subscription::new(&UPDATED);
        sub.settings.backfill_days = Some(2);

        let outcome = sub.poll(&mut ws, T0).unwrap();
        let since = T0 - 2 * DAY;
        assert_eq!(
            sorted(keys(&outcome).into_iter().map(String::from).collect()),
            vec![format!("edge:{since}"), format!("fresh:{}", T0 - 10), format!("recent:{}", T0 - DAY)],
        );
        let state = sub.state();
        assert_eq!((state.since, state.watermark), (since, T0));
        // The scan is complete, so the floor moves up to the lag window before its start, and only the keys
        // inside it are kept.
        assert_eq!(state.floor, T0 - UPDATED.lag_seconds);
        assert_eq!(state.seen.keys().collect::<Vec<_>>(), vec![&format!("fresh:{}", T0 - 10)]);
        assert_eq!(ws.calls[0].floor, since);

        // The backfill is not reported again.
        assert!(sub.poll(&mut ws, T0 + 60).unwrap().events.is_empty());
    }

    #[test]
    fn later_poll_reports_each_change_once_keyed_by_id_and_timestamp() {
        let mut ws = Workspace::default();
        let mut sub = Subscription::new(&UPDATED);
        sub.poll(&mut ws, T0).unwrap();
        ws.put("a", T0 + 10);
        ws.put("b", T0 + 20);

        let outcome = sub.poll(&mut ws, T0 + 60).unwrap();
        assert_eq!(keys(&outcome), vec![format!("a:{}", T0 + 10), format!("b:{}", T0 + 20)]);
        let a = &outcome.events[0];
        assert_eq!(a.occurred_at, T0 + 10);
        let payload: Value = serde_json::from_str(&a.payload).unwrap();
        assert_eq!(payload, ws.objects[0].0);
        assert_eq!(sub.state().watermark, T0 + 60);

        // Both changes are still inside the lag window and are read again, but not reported again.
        let outcome = sub.poll(&mut ws, T0 + 120).unwrap();
        assert!(outcome.events.is_empty(), "reported twice: {:?}", keys(&outcome));
        assert_eq!(ws.calls.last().unwrap().floor, T0, "the floor went up to the previous scan's start less the lag");
        assert_eq!(sub.state().seen.len(), 2);
    }

    #[test]
    fn new_only_feeds_key_by_id_and_report_an_object_once() {
        let mut ws = Workspace::default();
        let mut sub = Subscription::new(&NEW_CONTACT);
        sub.poll(&mut ws, T0).unwrap();
        ws.put("c1", T0 + 5);

        let outcome = sub.poll(&mut ws, T0 + 60).unwrap();
        assert_eq!(keys(&outcome), vec!["c1"]);
        assert_eq!(outcome.events[0].occurred_at, T0 + 5);

        // A change to the contact leaves `created_at` alone: nothing new to report.
        ws.put("c1", T0 + 90);
        assert!(sub.poll(&mut ws, T0 + 120).unwrap().events.is_empty());
    }

    #[test]
    fn an_object_changed_again_is_reported_again_under_a_new_key() {
        let mut ws = Workspace::default();
        let mut sub = Subscription::new(&UPDATED);
        sub.poll(&mut ws, T0).unwrap();
        ws.put("a", T0 + 10);
        assert_eq!(keys(&sub.poll(&mut ws, T0 + 60).unwrap()), vec![format!("a:{}", T0 + 10)]);

        ws.put("a", T0 + 70);
        let outcome = sub.poll(&mut ws, T0 + 120).unwrap();
        assert_eq!(keys(&outcome), vec![format!("a:{}", T0 + 70)]);
        assert_eq!(outcome.events[0].occurred_at, T0 + 70);

        // Much later, long after both changes left the lag window, a third change is a third event.
        sub.poll(&mut ws, T0 + 5_000).unwrap();
        ws.put("a", T0 + 5_010);
        assert_eq!(keys(&sub.poll(&mut ws, T0 + 5_060).unwrap()), vec![format!("a:{}", T0 + 5_010)]);
    }

    #[test]
    fn the_boundary_second_is_inclusive() {
        let mut ws = Workspace::default();
        ws.put("at-start", T0);
        let mut sub = Subscription::new(&UPDATED);

        // A change in the very second the subscription starts is not history.
        assert_eq!(keys(&sub.poll(&mut ws, T0).unwrap()), vec![format!("at-start:{T0}")]);
        // A second change in that same second, found later, is reported too; the first is not repeated.
        ws.put_indexed("same-second", T0, T0 + 30);
        assert_eq!(keys(&sub.poll(&mut ws, T0 + 60).unwrap()), vec![format!("same-second:{T0}")]);
    }

    #[test]
    fn the_lag_window_catches_late_search_results_and_the_floor_is_final() {
        let mut ws = Workspace::default();
        let mut sub = Subscription::new(&UPDATED);
        let lag = UPDATED.lag_seconds;
        sub.poll(&mut ws, T0).unwrap();
        sub.poll(&mut ws, T0 + 1_000).unwrap();
        assert_eq!(sub.state().floor, T0 + 1_000 - lag);

        let floor = T0 + 1_000 - lag;
        // Changed before the last scan started, but only found by search now.
        ws.put_indexed("late", T0 + 900, T0 + 1_100);
        ws.put_indexed("at-floor", floor, T0 + 1_100);
        // Changed before the floor: the lag window did not reach back that far.
        ws.put_indexed("too-late", floor - 1, T0 + 1_100);
        let outcome = sub.poll(&mut ws, T0 + 1_200).unwrap();
        assert_eq!(keys(&outcome), vec![format!("at-floor:{floor}"), format!("late:{}", T0 + 900)]);
        assert!(outcome.events.iter().all(|e| e.occurred_at >= floor));
        assert_eq!(ws.calls.last().unwrap().floor, floor);
        // Keys below the new floor are dropped from the cursor, the rest kept.
        let state = sub.state();
        assert_eq!(state.floor, T0 + 1_200 - lag);
        assert_eq!(state.seen.keys().collect::<Vec<_>>(), vec![&format!("late:{}", T0 + 900)]);
    }

    #[test]
    fn the_floor_only_grows() {
        let mut ws = Workspace::default();
        let mut sub = Subscription::new(&UPDATED);
        sub.poll(&mut ws, T0).unwrap();
        sub.poll(&mut ws, T0 + 1_000).unwrap();
        let floor = sub.state().floor;
        assert_eq!(floor, T0 + 1_000 - UPDATED.lag_seconds);

        // A wider lag window from now on does not reopen what was already final.
        sub.settings.lag_seconds = Some(10 * DAY);
        ws.put("old", floor - 1);
        let outcome = sub.poll(&mut ws, T0 + 1_100).unwrap();
        assert!(outcome.events.is_empty(), "{:?}", keys(&outcome));
        assert_eq!(sub.state().floor, floor);
        assert_eq!(ws.calls.last().unwrap().floor, floor);
    }

    #[test]
    fn the_page_budget_leaves_a_backlog_that_the_next_poll_finishes() {
        let mut ws = Workspace::default();
        let mut sub = Subscription::new(&UPDATED);
        sub.settings.per_page = Some(2);
        sub.page_budget = 2;
        sub.poll(&mut ws, T0).unwrap();
        let ids = ["a", "b", "c", "d", "e", "f", "g"];
        for (i, id) in ids.iter().enumerate() {
            ws.put(id, T0 + 10 + i as u64);
        }
        let expected: Vec<String> =
            ids.iter().enumerate().map(|(i, id)| format!("{id}:{}", T0 + 10 + i as u64)).collect();

        let start = T0 + 1_000;
        let calls_before = ws.calls.len();
        let first = sub.poll(&mut ws, start).unwrap();
        assert!(first.backlog);
        assert_eq!(ws.calls.len() - calls_before, 2, "read more pages than the budget");
        assert_eq!(keys(&first), expected[..4]);
        let state = sub.state();
        let scan = state.scan.clone().expect("the unfinished scan is saved");
        assert_eq!(scan, Scan { started: start, after: Some("after-4".to_string()) });
        // Unfinished: the watermark and floor stay where the last completed scan left them.
        assert_eq!((state.watermark, state.floor), (T0, T0));

        let calls_before = ws.calls.len();
        let second = sub.poll(&mut ws, start + 60).unwrap();
        assert!(!second.backlog);
        assert_eq!(ws.calls[calls_before], Fetched { after: Some("after-4".to_string()), floor: T0, per_page: 2 });
        assert_eq!(keys(&second), expected[4..]);
        let state = sub.state();
        assert_eq!(state.scan, None);
        // The completed scan counts from when it started, not from when it finished.
        assert_eq!(state.watermark, start);
        assert_eq!(state.floor, start - UPDATED.lag_seconds);

        // A change made while the backlog was read is in the next scan's window, not skipped.
        ws.put("during", start + 30);
        assert_eq!(keys(&sub.poll(&mut ws, start + 180).unwrap()), vec![format!("during:{}", start + 30)]);
    }

    #[test]
    fn a_page_budget_of_zero_still_reads_one_page() {
        let mut ws = Workspace::default();
        let mut sub = Subscription::new(&UPDATED);
        sub.page_budget = 0;
        sub.poll(&mut ws, T0).unwrap();
        assert_eq!(ws.calls.len(), 1);
        assert_eq!(sub.state().scan, None);
    }

    #[test]
    fn a_sorted_search_stops_at_the_page_that_passes_the_floor() {
        let mut ws = Workspace::default();
        // Within a day before the floor, so the day-granular search still returns them.
        for i in 0..10 {
            ws.put(&format!("old{i}"), T0 - 100 - i);
        }
        let mut sub = Subscription::new(&NEW_CONTACT);
        sub.settings.per_page = Some(3);
        sub.poll(&mut ws, T0).unwrap();
        assert_eq!(ws.calls.len(), 1, "read past the floor: {:?}", ws.calls);
        ws.put("new", T0 + 5);

        // Newest first: the first page holds `new` and two contacts older than the floor, so the scan is
        // complete although the search has more pages.
        let outcome = sub.poll(&mut ws, T0 + 60).unwrap();
        assert_eq!(ws.calls.len(), 2, "read past the floor: {:?}", ws.calls);
        assert!(!outcome.backlog);
        assert_eq!(keys(&outcome), vec!["new"]);
        let state = sub.state();
        assert_eq!((state.watermark, state.scan), (T0 + 60, None));
    }

    #[test]
    fn a_filtered_search_or_scroll_reads_every_page() {
        let mut ws = Workspace::default();
        // The scroll lists every company, oldest first by id; the one change is on the last page.
        for i in 0..6 {
            ws.put(&format!("c{i}"), T0 - 1_000 - i);
        }
        let mut sub = Subscription::new(&COMPANY);
        sub.settings.per_page = Some(2);
        sub.poll(&mut ws, T0).unwrap();
        // Three full pages and the empty one that ends the scroll.
        assert_eq!(ws.calls.len(), 4);
        ws.put("c9", T0 + 30);

        let outcome = sub.poll(&mut ws, T0 + 60).unwrap();
        assert_eq!(keys(&outcome), vec![format!("c9:{}", T0 + 30)]);
        assert_eq!(ws.calls.len(), 9);
        assert_eq!(sub.state().watermark, T0 + 60);
    }

    #[test]
    fn a_failure_on_the_first_page_is_the_error_and_the_cursor_stays() {
        let mut ws = Workspace::default();
        let mut sub = Subscription::new(&UPDATED);
        sub.poll(&mut ws, T0).unwrap();
        let before = sub.cursor.clone();
        ws.put("a", T0 + 10);
        ws.fail(1, Error::Unauthorized("token revoked".to_string()));

        let error = sub.poll(&mut ws, T0 + 60).err().expect("the poll fails");
        assert!(matches!(&error, Error::Unauthorized(m) if m == "token revoked"), "{error:?}");
        assert_eq!(ws.calls.len(), 2, "a 401 is not retried");
        assert_eq!(sub.cursor, before);

        // The host polls again with the cursor it kept: nothing was lost.
        assert_eq!(keys(&sub.poll(&mut ws, T0 + 120).unwrap()), vec![format!("a:{}", T0 + 10)]);
        assert_eq!(sub.state().watermark, T0 + 120);
    }

    #[test]
    fn transient_failures_are_retried_a_bounded_number_of_times() {
        let server_error = || crate::error::upstream(502, "bad_gateway", "Bad Gateway");
        let mut ws = Workspace::default();
        let mut sub = Subscription::new(&UPDATED);
        sub.poll(&mut ws, T0).unwrap();
        ws.put("a", T0 + 10);

        // Fails twice, then answers: the poll goes through.
        ws.fail(1, server_error());
        ws.fail(2, server_error());
        assert_eq!(keys(&sub.poll(&mut ws, T0 + 60).unwrap()), vec![format!("a:{}", T0 + 10)]);
        assert_eq!(ws.calls.len(), 4);
        assert!(ws.calls[1..].iter().all(|c| c == &ws.calls[1]), "a retry is the same request");

        // Fails 1 + PAGE_RETRIES times: that is the poll's error.
        let before = sub.cursor.clone();
        ws.put("b", T0 + 70);
        let from = ws.calls.len();
        for call in from..from + 1 + PAGE_RETRIES as usize {
            ws.fail(call, server_error());
        }
        let error = sub.poll(&mut ws, T0 + 120).err().expect("the poll fails");
        assert!(matches!(&error, Error::Upstream(UpstreamError { status: 502, .. })), "{error:?}");
        assert_eq!(ws.calls.len() - from, 1 + PAGE_RETRIES as usize);
        assert_eq!(sub.cursor, before);
    }

    #[test]
    fn a_failure_after_some_pages_keeps_the_progress() {
        let mut ws = Workspace::default();
        let mut sub = Subscription::new(&UPDATED);
        sub.settings.per_page = Some(2);
        sub.poll(&mut ws, T0).unwrap();
        for (i, id) in ["a", "b", "c", "d", "e"].iter().enumerate() {
            ws.put(id, T0 + 10 + i as u64);
        }
        // The second page of the next poll is rate limited.
        ws.fail(2, Error::RateLimited(RateLimit { message: "slow down".to_string(), retry_after_seconds: Some(10) }));

        let first = sub.poll(&mut ws, T0 + 60).unwrap();
        assert!(first.backlog);
        assert_eq!(keys(&first), vec![format!("a:{}", T0 + 10), format!("b:{}", T0 + 11)]);
        let state = sub.state();
        assert_eq!(state.scan, Some(Scan { started: T0 + 60, after: Some("after-2".to_string()) }));
        assert_eq!(state.watermark, T0);

        let from = ws.calls.len();
        let second = sub.poll(&mut ws, T0 + 120).unwrap();
        assert!(!second.backlog);
        assert_eq!(ws.calls[from].after.as_deref(), Some("after-2"), "the failed page is read again");
        assert_eq!(keys(&second), vec![format!("c:{}", T0 + 12), format!("d:{}", T0 + 13), format!("e:{}", T0 + 14)]);
        assert_eq!(sub.state().watermark, T0 + 60);
    }

    #[test]
    fn a_refused_continuation_restarts_the_scan_without_repeats() {
        let mut ws = Workspace::default();
        let mut sub = Subscription::new(&COMPANY);
        sub.settings.per_page = Some(2);
        sub.page_budget = 1;
        sub.poll(&mut ws, T0).unwrap();
        assert_eq!(sub.state().scan, None);
        for (i, id) in ["a", "b", "c"].iter().enumerate() {
            ws.put(id, T0 + 10 + i as u64);
        }

        let first = sub.poll(&mut ws, T0 + 60).unwrap();
        assert!(first.backlog);
        assert_eq!(keys(&first), vec![format!("a:{}", T0 + 10), format!("b:{}", T0 + 11)]);

        // The scroll expired between polls: the scan starts over and only `c` is new.
        ws.refuse_next_continuation = true;
        sub.page_budget = 10;
        let from = ws.calls.len();
        let second = sub.poll(&mut ws, T0 + 120).unwrap();
        assert_eq!(ws.calls[from].after.as_deref(), Some("after-2"));
        assert_eq!(ws.calls[from + 1].after, None, "the scan restarts from the first page");
        assert_eq!(keys(&second), vec![format!("c:{}", T0 + 12)]);
        assert!(!second.backlog);
        assert_eq!(sub.state().watermark, T0 + 60, "the restarted scan keeps its start");
    }

    #[test]
    fn objects_without_a_timestamp_or_an_id_are_skipped_and_numeric_ids_are_text() {
        let items = vec![
            json!({"id": 42, "updated_at": T0 + 1}),
            json!({"id": "x", "updated_at": (T0 + 2).to_string()}),
            json!({"id": "", "updated_at": T0 + 3}),
            json!({"updated_at": T0 + 4}),
            json!({"id": "no-ts"}),
            json!({"id": "null-ts", "updated_at": null}),
        ];
        // One scroll page with all of them, then the empty page that ends the scroll.
        let mut pages = vec![Page { items: Vec::new(), next: None }, Page { items, next: Some("p2".to_string()) }];
        let outcome =
            poll_with(&COMPANY, None, T0, 5, &PollSettings::default(), |_, _, _, _| Ok(pages.pop().unwrap())).unwrap();
        assert_eq!(keys(&outcome), vec![format!("42:{}", T0 + 1), format!("x:{}", T0 + 2)]);
        assert!(pages.is_empty());
    }

    #[test]
    fn a_cursor_that_is_not_this_modules_is_refused() {
        let no_fetch = |_: &Feed, _: Option<&str>, _: u64, _: u32| -> Result<Page, Error> { panic!("fetched") };
        let settings = PollSettings::default();
        let foreign = json!({"page": 3});
        assert!(matches!(poll_with(&UPDATED, Some(foreign), T0, 1, &settings, no_fetch), Err(Error::Internal(_))));
        let future = json!({"v": 2, "since": T0, "watermark": T0, "floor": T0, "seen": {}, "scan": null});
        assert!(matches!(poll_with(&UPDATED, Some(future), T0, 1, &settings, no_fetch), Err(Error::Internal(_))));
        let settings = PollSettings { per_page: Some(151), ..PollSettings::default() };
        let error = poll_with(&UPDATED, None, T0, 1, &settings, no_fetch).err().unwrap();
        assert!(matches!(&error, Error::InvalidInput(f) if f.field == "per_page"), "{error:?}");
    }

    #[test]
    fn the_seen_keys_are_trimmed_to_the_newest() {
        let mut seen: BTreeMap<String, u64> = (0..MAX_SEEN as u64 + 5).map(|i| (format!("k{i}"), T0 + i)).collect();
        trim_seen(&mut seen);
        assert_eq!(seen.len(), MAX_SEEN);
        assert_eq!(seen.values().min(), Some(&(T0 + 5)));
    }
}
