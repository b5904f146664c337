//! Data events: `POST /events` (202) and `GET /events?type=user&...`.

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::contacts::user_not_found;
use super::{id_str, ok, opt_str};
use crate::server::{ApiError, ApiResult, Cx, Reply};
use crate::state::{Contact, DataEvent, Workspace};

/// Metadata keys beyond this many are dropped.
pub const MAX_METADATA_KEYS: usize = 10;

fn resolve(
    ws: &Workspace,
    id: Option<String>,
    user_id: Option<String>,
    email: Option<String>,
) -> Result<&Contact, ApiError> {
    let c = if let Some(id) = id {
        ws.contact(&id).filter(|c| c.merged_into.is_none())
    } else if let Some(u) = user_id {
        ws.contact_by_external_id(&u)
    } else if let Some(e) = email {
        ws.contact_by_email(&e)
    } else {
        return Err(ApiError::missing("user_id"));
    };
    c.ok_or_else(user_not_found)
}

pub fn create(cx: &mut Cx) -> ApiResult {
    let b = &cx.body;
    let name = opt_str(b.get("event_name")).ok_or_else(|| ApiError::missing("event_name"))?;
    let created_at = b.get("created_at").and_then(Value::as_i64).ok_or_else(|| ApiError::missing("created_at"))?;
    let mut w = cx.inner.world.write();
    let ws = &mut w.workspaces[cx.ws];
    let contact_id = resolve(ws, id_str(b.get("id")), id_str(b.get("user_id")), opt_str(b.get("email")))?.id.clone();
    let duplicate =
        ws.events.iter().any(|e| e.contact_id == contact_id && e.event_name == name && e.created_at == created_at);
    if !duplicate {
        let metadata: Map<String, Value> = b
            .get("metadata")
            .and_then(Value::as_object)
            .map(|m| m.iter().take(MAX_METADATA_KEYS).map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        let id = ws.next_number().to_string();
        ws.events.push(DataEvent { id, event_name: name, created_at, contact_id: contact_id.clone(), metadata });
        cx.inner.mark_dirty();
    }
    Ok(Reply::Empty(StatusCode::ACCEPTED))
}

/// RFC 3339 (UTC) from unix seconds.
pub fn rfc3339(ts: i64) -> String {
    let days = ts.div_euclid(86_400);
    let secs = ts.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs % 3600 / 60, secs % 60)
}

pub fn list(cx: &mut Cx) -> ApiResult {
    match cx.q("type") {
        Some("user") => {}
        Some(_) => return Err(ApiError::invalid("type", "type must be user")),
        None => return Err(ApiError::missing("type")),
    }
    let w = cx.inner.world.read();
    let ws = &w.workspaces[cx.ws];
    let c = resolve(
        ws,
        cx.q("intercom_user_id").map(str::to_string),
        cx.q("user_id").map(str::to_string),
        cx.q("email").map(str::to_string),
    )?;
    let mut events: Vec<&DataEvent> = ws.events.iter().filter(|e| e.contact_id == c.id).collect();
    events.sort_by_key(|e| std::cmp::Reverse((e.created_at, e.id.parse::<u64>().unwrap_or(0))));
    if cx.q("summary") == Some("true") {
        let mut names: Vec<&str> = events.iter().map(|e| e.event_name.as_str()).collect();
        names.sort();
        names.dedup();
        let items: Vec<Value> = names
            .iter()
            .map(|n| {
                let of: Vec<&&DataEvent> = events.iter().filter(|e| e.event_name == *n).collect();
                let first = of.iter().map(|e| e.created_at).min().unwrap_or(0);
                let last = of.iter().map(|e| e.created_at).max().unwrap_or(0);
                json!({ "name": n, "first": rfc3339(first), "last": rfc3339(last),
                        "count": of.len() })
            })
            .collect();
        return ok(json!({
            "type": "event.summary",
            "email": c.email.clone().unwrap_or_default(),
            "intercom_user_id": c.id,
            "user_id": c.external_id.clone().unwrap_or_default(),
            "events": items,
        }));
    }
    let per_page = cx.q_int("per_page")?.unwrap_or(50).clamp(1, 250) as usize;
    let data: Vec<Value> = events
        .iter()
        .take(per_page)
        .map(|e| {
            let mut v = json!({
                "type": "event",
                "id": e.id,
                "event_name": e.event_name,
                "created_at": e.created_at,
                "intercom_user_id": c.id,
                "metadata": e.metadata,
            });
            if let Some(x) = &c.external_id {
                v["user_id"] = json!(x);
            }
            if let Some(x) = &c.email {
                v["email"] = json!(x);
            }
            v
        })
        .collect();
    ok(json!({ "type": "event.list", "events": data, "pages": {} }))
}
