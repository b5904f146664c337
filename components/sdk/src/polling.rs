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
        let page = match fetch(feed, scan.after.as_deref(), cursor.floor, per_page) {
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

fn fetch(feed: &Feed, after: Option<&str>, floor: u64, per_page: u32) -> Result<Page, Error> {
    let mut attempt = 0;
    loop {
        let result = match &feed.source {
            Source::SortedSearch { path, list_key } | Source::FilteredSearch { path, list_key } => {
                intercom::search_page(path, list_key, search_body(feed, floor), per_page, after)
                    .map(|p| Page { items: p.items, next: p.next })
            }
            Source::Scroll { path, .. } => scroll_page(path, after),
        };
        match result {
            Err(error) if transient(&error) && attempt < PAGE_RETRIES => attempt += 1,
            other => return other,
        }
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
