//! Intercom's search query language and cursor pagination.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::server::{ApiError, ApiResult, Cx};
use crate::state::Workspace;

/// Field types of the search language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FType {
    Str,
    Int,
    Bool,
    Date,
    /// `tag_id` on contacts: only `=` and `!=`.
    TagId,
    /// Multi-valued string field (`contact_ids`, `tag_ids`...): `=` means "contains".
    Multi,
    /// Custom attributes: type taken from the stored value.
    Any,
}

/// A record's value for one field.
#[derive(Clone, Debug, PartialEq)]
pub enum FVal {
    Null,
    Str(String),
    Int(i64),
    Bool(bool),
    List(Vec<String>),
}

impl FVal {
    pub fn opt_str(v: &Option<String>) -> FVal {
        v.as_ref().map(|s| FVal::Str(s.clone())).unwrap_or(FVal::Null)
    }
    pub fn opt_int(v: Option<i64>) -> FVal {
        v.map(FVal::Int).unwrap_or(FVal::Null)
    }
    pub fn from_json(v: Option<&Value>) -> FVal {
        match v {
            None | Some(Value::Null) => FVal::Null,
            Some(Value::String(s)) => FVal::Str(s.clone()),
            Some(Value::Bool(b)) => FVal::Bool(*b),
            Some(Value::Number(n)) => n.as_i64().map(FVal::Int).unwrap_or_else(|| FVal::Str(n.to_string())),
            Some(other) => FVal::Str(other.to_string()),
        }
    }
}

/// How dates compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DateMode {
    /// Contacts: by calendar day in the workspace timezone (UTC here).
    Day,
    /// Conversations and tickets: full precision; `>`/`<` are inclusive.
    Inclusive,
}

#[derive(Clone, Debug)]
pub enum Node {
    Filter { field: String, op: String, value: Value, ftype: FType },
    Group { and: bool, children: Vec<Node> },
}

fn qerr(msg: impl Into<String>) -> ApiError {
    ApiError::invalid("query", msg)
}

const OPS: &[&str] = &["=", "!=", "IN", "NIN", "<", "<=", ">", ">=", "~", "!~", "^", "$"];

/// Parse and type-check a query. `depth` counts groups (root group = 1).
pub fn parse(q: &Value, field_type: &dyn Fn(&str) -> Option<FType>, date_mode: DateMode) -> Result<Node, ApiError> {
    parse_at(q, field_type, date_mode, 0)
}

fn parse_at(
    q: &Value,
    field_type: &dyn Fn(&str) -> Option<FType>,
    date_mode: DateMode,
    depth: usize,
) -> Result<Node, ApiError> {
    let obj = q.as_object().ok_or_else(|| qerr("query must be an object"))?;
    let op = obj.get("operator").and_then(Value::as_str).ok_or_else(|| ApiError::missing("query.operator"))?;
    if op == "AND" || op == "OR" {
        if depth >= 3 {
            return Err(qerr("Queries can be nested at most 2 levels deep (max 2 nested filters)"));
        }
        let arr = obj
            .get("value")
            .and_then(Value::as_array)
            .ok_or_else(|| qerr(format!("The value of an {op} group must be an array")))?;
        if arr.is_empty() {
            return Err(qerr(format!("An {op} group needs at least one filter")));
        }
        if arr.len() > 15 {
            return Err(qerr(format!("An {op} group can contain at most 15 filters, got {}", arr.len())));
        }
        let children =
            arr.iter().map(|c| parse_at(c, field_type, date_mode, depth + 1)).collect::<Result<Vec<_>, _>>()?;
        return Ok(Node::Group { and: op == "AND", children });
    }
    if !OPS.contains(&op) {
        return Err(qerr(format!("Operator '{op}' is not supported")));
    }
    let field = obj.get("field").and_then(Value::as_str).ok_or_else(|| ApiError::missing("query.field"))?;
    let ftype = field_type(field).ok_or_else(|| qerr(format!("'{field}' is not a searchable field")))?;
    let value = obj.get("value").cloned().unwrap_or(Value::Null);
    let allowed: &[&str] = match (ftype, date_mode) {
        (FType::Str, _) => &["=", "!=", "IN", "NIN", "~", "!~", "^", "$"],
        (FType::Multi, _) => &["=", "!=", "IN", "NIN", "~", "!~", "^", "$"],
        (FType::Int, _) => &["=", "!=", "IN", "NIN", "<", ">", "<=", ">="],
        (FType::Bool, _) => &["=", "!=", "IN", "NIN"],
        (FType::TagId, _) => &["=", "!="],
        (FType::Date, DateMode::Day) => &["=", "<", ">"],
        (FType::Date, DateMode::Inclusive) => &["=", "!=", "IN", "NIN", "<", ">", "<=", ">="],
        (FType::Any, _) => OPS,
    };
    if !allowed.contains(&op) {
        return Err(qerr(format!("Operator '{op}' is not supported for field '{field}'")));
    }
    let is_list = matches!(op, "IN" | "NIN");
    if is_list != value.is_array() {
        return Err(qerr(if is_list {
            format!("The value for '{op}' on '{field}' must be an array")
        } else {
            format!("The value for '{op}' on '{field}' must not be an array")
        }));
    }
    let scalars: Vec<&Value> = match &value {
        Value::Array(a) => a.iter().collect(),
        v => vec![v],
    };
    for v in scalars {
        let ok = match ftype {
            FType::Int | FType::Date => as_int(v).is_some(),
            FType::Bool => as_bool(v).is_some(),
            FType::Str | FType::Multi | FType::TagId => v.is_string() || v.is_number() || v.is_null(),
            FType::Any => true,
        };
        if !ok {
            return Err(qerr(format!("'{v}' is not a valid value for field '{field}'")));
        }
    }
    Ok(Node::Filter { field: field.to_string(), op: op.to_string(), value, ftype })
}

fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s == "true" => Some(true),
        Value::String(s) if s == "false" => Some(false),
        _ => None,
    }
}

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_lowercase(),
        Value::Null => String::new(),
        other => other.to_string().to_lowercase(),
    }
}

/// Evaluate a parsed query against one record.
pub fn eval(node: &Node, get: &dyn Fn(&str) -> FVal, date_mode: DateMode) -> bool {
    match node {
        Node::Group { and, children } => {
            if *and {
                children.iter().all(|c| eval(c, get, date_mode))
            } else {
                children.iter().any(|c| eval(c, get, date_mode))
            }
        }
        Node::Filter { field, op, value, ftype } => {
            let actual = get(field);
            eval_filter(&actual, op, value, *ftype, date_mode, field)
        }
    }
}

fn eval_filter(actual: &FVal, op: &str, value: &Value, ftype: FType, date_mode: DateMode, field: &str) -> bool {
    match op {
        "IN" => value.as_array().is_some_and(|a| a.iter().any(|v| eq(actual, v, ftype))),
        "NIN" => value.as_array().is_some_and(|a| !a.iter().any(|v| eq(actual, v, ftype))),
        "=" => {
            if ftype == FType::Date && date_mode == DateMode::Day {
                let (Some(x), Some(v)) = (int_of(actual), as_int(value)) else {
                    return false;
                };
                // Saturating: a date at the edge of i64 is a nonsense query, not a reason to panic.
                let day = v.saturating_sub(v.rem_euclid(86_400));
                x >= day && x < day.saturating_add(86_400)
            } else {
                eq(actual, value, ftype)
            }
        }
        "!=" => !eq(actual, value, ftype),
        "<" | ">" | "<=" | ">=" => {
            let (Some(x), Some(v)) = (int_of(actual), as_int(value)) else {
                return false;
            };
            if ftype == FType::Date && date_mode == DateMode::Day {
                let day = v.saturating_sub(v.rem_euclid(86_400));
                return match op {
                    ">" => x >= day.saturating_add(86_400),
                    "<" => x < day,
                    _ => false,
                };
            }
            if ftype == FType::Date && date_mode == DateMode::Inclusive {
                // Documented as "greater (or equal) than" / "lower (or equal) than".
                return match op {
                    ">" | ">=" => x >= v,
                    _ => x <= v,
                };
            }
            match op {
                "<" => x < v,
                ">" => x > v,
                "<=" => x <= v,
                _ => x >= v,
            }
        }
        "~" | "!~" | "^" | "$" => {
            let needle = as_text(value);
            let hay: Vec<String> = match actual {
                FVal::Null => vec![],
                FVal::Str(s) => vec![s.to_lowercase()],
                FVal::Int(i) => vec![i.to_string()],
                FVal::Bool(b) => vec![b.to_string()],
                FVal::List(l) => l.iter().map(|s| s.to_lowercase()).collect(),
            };
            let word_match = field == "source.body";
            let hit = hay.iter().any(|h| match op {
                "~" | "!~" => {
                    if word_match {
                        let text = strip_tags(h);
                        text.split(|c: char| !c.is_alphanumeric()).any(|w| !w.is_empty() && w == needle)
                            || (needle.contains(' ') && text.contains(&needle))
                    } else {
                        h.contains(&needle)
                    }
                }
                "^" => h.starts_with(&needle),
                _ => h.ends_with(&needle),
            });
            if op == "!~" { !hit } else { hit }
        }
        _ => false,
    }
}

fn strip_tags(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

fn int_of(v: &FVal) -> Option<i64> {
    match v {
        FVal::Int(i) => Some(*i),
        FVal::Str(s) => s.parse().ok(),
        _ => None,
    }
}

fn eq(actual: &FVal, v: &Value, ftype: FType) -> bool {
    match actual {
        FVal::Null => v.is_null() || (v.as_str() == Some("") && ftype != FType::Int),
        FVal::Int(i) => as_int(v) == Some(*i),
        FVal::Bool(b) => as_bool(v) == Some(*b),
        FVal::Str(s) => match v {
            Value::String(x) => x.eq_ignore_ascii_case(s),
            Value::Number(n) => n.to_string() == *s,
            _ => false,
        },
        FVal::List(l) => {
            let t = as_text(v);
            l.iter().any(|x| x.to_lowercase() == t)
        }
    }
}

/// Sort key for keyset pagination.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SortKey {
    Null,
    Int(i64),
    Str(String),
}

impl From<FVal> for SortKey {
    fn from(v: FVal) -> SortKey {
        match v {
            FVal::Null => SortKey::Null,
            FVal::Int(i) => SortKey::Int(i),
            FVal::Bool(b) => SortKey::Int(b as i64),
            FVal::Str(s) => SortKey::Str(s.to_lowercase()),
            FVal::List(l) => SortKey::Str(l.join(",")),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Cursor {
    p: u64,
    k: SortKey,
    s: u64,
}

/// One page of results.
pub struct Page<T> {
    pub items: Vec<T>,
    pub page: u64,
    pub per_page: usize,
    pub total_count: usize,
    pub total_pages: u64,
    pub next: Option<String>,
}

/// Keyset pagination over `(key, seq, item)` triples. Stable under concurrent inserts:
/// a record that existed when paging started is returned exactly once unless its key changes.
pub fn paginate<T>(
    mut items: Vec<(SortKey, u64, T)>,
    descending: bool,
    per_page: usize,
    starting_after: Option<&str>,
) -> Result<Page<T>, ApiError> {
    items.sort_by(|a, b| {
        let o = (&a.0, a.1).cmp(&(&b.0, b.1));
        if descending { o.reverse() } else { o }
    });
    let total_count = items.len();
    let (page, start) = match starting_after.filter(|s| !s.is_empty()) {
        None => (1, 0),
        Some(c) => {
            let cur = decode_cursor(c)
                .ok_or_else(|| ApiError::invalid("starting_after", "starting_after is not a valid cursor"))?;
            let pos = items.partition_point(|(k, s, _)| {
                let o = (k, *s).cmp(&(&cur.k, cur.s));
                if descending { o != std::cmp::Ordering::Less } else { o != std::cmp::Ordering::Greater }
            });
            (cur.p + 1, pos)
        }
    };
    let per_page = per_page.max(1);
    let total_pages = total_count.div_ceil(per_page) as u64;
    let mut rest: Vec<(SortKey, u64, T)> = items.into_iter().skip(start).collect();
    let has_more = rest.len() > per_page;
    rest.truncate(per_page);
    let next = if has_more {
        rest.last().map(|(k, s, _)| encode_cursor(&Cursor { p: page, k: k.clone(), s: *s }))
    } else {
        None
    };
    Ok(Page { items: rest.into_iter().map(|(_, _, t)| t).collect(), page, per_page, total_count, total_pages, next })
}

fn encode_cursor(c: &Cursor) -> String {
    hex::encode(serde_json::to_vec(c).unwrap_or_default())
}

fn decode_cursor(s: &str) -> Option<Cursor> {
    let bytes = hex::decode(s).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The `pages` object of cursor-paginated lists.
pub fn pages_json<T>(p: &Page<T>) -> Value {
    let mut v = serde_json::json!({
        "type": "pages",
        "page": p.page,
        "per_page": p.per_page,
        "total_pages": p.total_pages,
    });
    if let Some(n) = &p.next {
        v["next"] = serde_json::json!({ "per_page": p.per_page, "starting_after": n });
    }
    v
}

/// Read `pagination: {per_page, starting_after}` from a search body.
pub fn pagination(body: &Value, default: usize) -> Result<(usize, Option<String>), ApiError> {
    let p = body.get("pagination");
    let per_page = match p.and_then(|p| p.get("per_page")) {
        None | Some(Value::Null) => default,
        Some(v) => {
            let n = as_int(v).ok_or_else(|| ApiError::invalid("pagination.per_page", "per_page must be an integer"))?;
            if !(1..=150).contains(&n) {
                return Err(ApiError::invalid("pagination.per_page", "per_page must be between 1 and 150"));
            }
            n as usize
        }
    };
    let after = p.and_then(|p| p.get("starting_after")).and_then(Value::as_str).map(str::to_string);
    Ok((per_page, after))
}

/// A kind of record that `POST /{collection}/search` finds with the inclusive date mode and an
/// optional sort (conversations and tickets): the handler is shared, only these differ.
pub trait Searchable: Sized + 'static {
    /// The answer's list `type` and the key its records sit under.
    const LIST_TYPE: &'static str;
    const LIST_KEY: &'static str;
    fn records(ws: &Workspace) -> impl Iterator<Item = &Self>;
    fn field_type(field: &str) -> Option<FType>;
    fn field_value(&self, ws: &Workspace, field: &str) -> FVal;
    /// When the record became visible to search (see the search-lag fault).
    fn indexed_at(&self) -> i64;
    /// Creation order, the tie-breaker of every sort.
    fn seq(&self) -> u64;
    fn to_json(&self, ws: &Workspace) -> Value;
}

/// Implements [`Searchable`] for a record with `indexed_at` and `seq` fields, from the calling
/// module's `field_type(field)` and `field_value(ws, record, field)` and the given JSON function.
macro_rules! searchable {
    ($record:ty, $list_type:literal, $list_key:literal, $collection:ident, $to_json:expr) => {
        impl $crate::search::Searchable for $record {
            const LIST_TYPE: &'static str = $list_type;
            const LIST_KEY: &'static str = $list_key;
            fn records(ws: &Workspace) -> impl Iterator<Item = &Self> {
                ws.$collection.values()
            }
            fn field_type(field: &str) -> Option<FType> {
                field_type(field)
            }
            fn field_value(&self, ws: &Workspace, field: &str) -> FVal {
                field_value(ws, self, field)
            }
            fn indexed_at(&self) -> i64 {
                self.indexed_at
            }
            fn seq(&self) -> u64 {
                self.seq
            }
            fn to_json(&self, ws: &Workspace) -> Value {
                let to_json: fn(&Workspace, &$record) -> Value = $to_json;
                to_json(ws, self)
            }
        }
    };
}
pub(crate) use searchable;

/// Optional `sort` (undocumented for conversations/tickets in 2.16 but accepted by Intercom).
fn optional_sort(body: &Value, field_type: &dyn Fn(&str) -> Option<FType>) -> Result<(Option<String>, bool), ApiError> {
    match body.get("sort") {
        None | Some(Value::Null) => Ok((None, false)),
        Some(s) => {
            let field = s.get("field").and_then(Value::as_str).unwrap_or("created_at");
            if field_type(field).is_none() {
                return Err(ApiError::invalid("sort.field", format!("'{field}' is not sortable")));
            }
            let order = s.get("order").and_then(Value::as_str).unwrap_or("descending");
            match order {
                "ascending" | "descending" => Ok((Some(field.to_string()), order == "descending")),
                o => Err(ApiError::bad(
                    "invalid_sort_order",
                    format!("Invalid sort order '{o}'. Must be one of: ascending, descending"),
                )),
            }
        }
    }
}

/// `POST /{collection}/search` for a [`Searchable`] record: query, lag, sort, cursor pages.
pub fn respond<T: Searchable>(cx: &Cx) -> ApiResult {
    let q = cx.body.get("query").ok_or_else(|| ApiError::missing("query"))?;
    let node = parse(q, &T::field_type, DateMode::Inclusive)?;
    let (per_page, after) = pagination(&cx.body, 20)?;
    let (sort_field, desc) = optional_sort(&cx.body, &T::field_type)?;
    let lag = cx.inner.faults.read().search_lag_secs;
    let now = cx.now;
    let w = cx.inner.world.read();
    let ws = &w.workspaces[cx.ws];
    let items: Vec<(SortKey, u64, &T)> = T::records(ws)
        .filter(|r| lag <= 0 || now >= r.indexed_at() + lag)
        .filter(|r| eval(&node, &|f| r.field_value(ws, f), DateMode::Inclusive))
        .map(|r| {
            let key = sort_field.as_ref().map(|f| SortKey::from(r.field_value(ws, f))).unwrap_or(SortKey::Null);
            (key, r.seq(), r)
        })
        .collect();
    let page = paginate(items, desc, per_page, after.as_deref())?;
    let data: Vec<Value> = page.items.iter().map(|r| r.to_json(ws)).collect();
    crate::api::ok(serde_json::json!({
        "type": T::LIST_TYPE,
        T::LIST_KEY: data,
        "total_count": page.total_count,
        "pages": pages_json(&page),
    }))
}
