//! Companies: upsert, get, update, delete (archive), list, scroll, attach/detach contacts.

use serde_json::{Value, json};

use super::contacts::{contact_json, find, find_mut};
use super::notes::note_json;
use super::{id_str, ok, opt_str};
use crate::server::{ApiError, ApiResult, Cx};
use crate::state::{Company, Contact, Scroll, Workspace};

/// Idle time after which the workspace's scroll expires.
pub const SCROLL_TTL_SECS: i64 = 60;
const SCROLL_PAGE: usize = 15;

pub fn company_not_found() -> ApiError {
    ApiError::not_found("company_not_found", "Company Not Found")
}

pub fn company_json(ws: &Workspace, c: &Company) -> Value {
    let tags: Vec<Value> = c
        .tag_ids
        .iter()
        .filter_map(|id| ws.tag(id))
        .map(|t| json!({ "type": "tag", "id": t.id, "name": t.name }))
        .collect();
    let custom: serde_json::Map<String, Value> = c
        .custom_attributes
        .iter()
        .map(|(k, v)| {
            let s = match v {
                Value::String(s) => Value::String(s.clone()),
                other => Value::String(other.to_string()),
            };
            (k.clone(), s)
        })
        .collect();
    let notes: Vec<Value> = ws
        .notes
        .values()
        .filter(|n| n.company_id.as_deref() == Some(c.id.as_str()))
        .map(|n| note_json(ws, n))
        .collect();
    let mut v = json!({
        "type": "company",
        "id": c.id,
        "name": c.name,
        "app_id": ws.id_code,
        "company_id": c.company_id,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
        "monthly_spend": c.monthly_spend,
        "session_count": c.session_count,
        "user_count": ws.company_user_count(&c.id),
        "custom_attributes": custom,
        "tags": { "type": "tag.list", "tags": tags },
        "segments": { "type": "segment.list", "segments": [] },
        "notes": { "type": "note.list", "notes": notes },
    });
    if let Some(p) = &c.plan {
        v["plan"] = json!({ "type": "plan", "id": format!("plan-{}", p.to_lowercase()), "name": p });
    } else {
        v["plan"] = json!({});
    }
    if let Some(x) = c.remote_created_at {
        v["remote_created_at"] = json!(x);
    }
    if let Some(x) = c.last_request_at {
        v["last_request_at"] = json!(x);
    }
    if let Some(x) = c.size {
        v["size"] = json!(x);
    }
    if let Some(x) = &c.website {
        v["website"] = json!(x);
    }
    if let Some(x) = &c.industry {
        v["industry"] = json!(x);
    }
    v
}

pub(super) fn live<'a>(ws: &'a Workspace, id: &str) -> Result<&'a Company, ApiError> {
    ws.company(id).filter(|c| !c.archived).ok_or_else(company_not_found)
}

fn apply(c: &mut Company, b: &Value, now: i64) {
    let Some(obj) = b.as_object() else {
        return;
    };
    for (k, v) in obj {
        match k.as_str() {
            "name" => {
                if let Some(s) = v.as_str() {
                    c.name = s.to_string();
                }
            }
            "plan" => c.plan = opt_str(Some(v)),
            "size" => c.size = v.as_i64(),
            "website" => c.website = opt_str(Some(v)),
            "industry" => c.industry = opt_str(Some(v)),
            "monthly_spend" => {
                c.monthly_spend = v.as_f64().map(|f| f.trunc().clamp(0.0, i32::MAX as f64) as i64).unwrap_or(0)
            }
            "remote_created_at" => c.remote_created_at = v.as_i64(),
            "update_last_request_at" if v.as_bool() == Some(true) => {
                c.last_request_at = Some(now);
            }
            "custom_attributes" => {
                if let Some(m) = v.as_object() {
                    for (ck, cv) in m {
                        if cv.is_null() {
                            c.custom_attributes.remove(ck);
                        } else {
                            c.custom_attributes.insert(ck.clone(), cv.clone());
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

pub fn create_or_update(cx: &mut Cx) -> ApiResult {
    let mut w = cx.inner.world.write();
    let ws = &mut w.workspaces[cx.ws];
    let company_id = id_str(cx.body.get("company_id"));
    let existing = company_id
        .as_ref()
        .and_then(|cid| ws.companies.values().find(|c| !c.archived && &c.company_id == cid).map(|c| c.id.clone()));
    let out = match existing {
        Some(id) => {
            let now = cx.now;
            let c = ws.company_mut(&id).ok_or_else(company_not_found)?;
            apply(c, &cx.body, now);
            c.updated_at = now;
            let c = c.clone();
            company_json(ws, &c)
        }
        None => {
            if company_id.is_none() && cx.body.get("name").is_none() {
                return Err(ApiError::missing("company_id"));
            }
            let mut c = Company {
                id: cx.inner.hex_id(),
                seq: ws.next_seq(),
                company_id: company_id.unwrap_or_else(|| cx.inner.hex_id()),
                name: String::new(),
                created_at: cx.now,
                updated_at: cx.now,
                ..Default::default()
            };
            apply(&mut c, &cx.body, cx.now);
            let out = company_json(ws, &c);
            ws.insert_company(c);
            out
        }
    };
    cx.inner.mark_dirty();
    ok(out)
}

pub fn get(cx: &mut Cx) -> ApiResult {
    let w = cx.inner.world.read();
    let ws = &w.workspaces[cx.ws];
    let c = live(ws, cx.param("company_id"))?;
    ok(company_json(ws, c))
}

fn page_params(cx: &Cx, default: i64) -> Result<(usize, usize), ApiError> {
    let page = cx.q_int("page")?.unwrap_or(1).max(1) as usize;
    let per_page = cx.q_int("per_page")?.unwrap_or(default);
    if !(1..=150).contains(&per_page) {
        return Err(ApiError::invalid("per_page", "per_page must be between 1 and 150"));
    }
    Ok((page, per_page as usize))
}

fn company_list(ws: &Workspace, all: Vec<&Company>, page: usize, per_page: usize) -> Value {
    let total = all.len().min(10_000);
    let data: Vec<Value> =
        all.into_iter().take(10_000).skip((page - 1) * per_page).take(per_page).map(|c| company_json(ws, c)).collect();
    json!({
        "type": "list",
        "data": data,
        "total_count": total,
        "pages": { "type": "pages", "page": page, "per_page": per_page,
                   "total_pages": total.div_ceil(per_page) },
    })
}

/// `GET /companies?company_id=|name=|tag_id=|segment_id=`: a list wrapper.
pub fn retrieve(cx: &mut Cx) -> ApiResult {
    let (page, per_page) = page_params(cx, 15)?;
    let w = cx.inner.world.read();
    let ws = &w.workspaces[cx.ws];
    let by_cid = cx.q("company_id");
    let by_name = cx.q("name");
    let by_tag = cx.q("tag_id");
    let all: Vec<&Company> = ws
        .companies
        .values()
        .filter(|c| !c.archived)
        .filter(|c| by_cid.is_none_or(|x| c.company_id == x))
        .filter(|c| by_name.is_none_or(|x| c.name.eq_ignore_ascii_case(x)))
        .filter(|c| by_tag.is_none_or(|x| c.tag_ids.iter().any(|t| t == x)))
        .collect();
    if all.is_empty() && (by_cid.is_some() || by_name.is_some()) {
        return Err(company_not_found());
    }
    ok(company_list(ws, all, page, per_page))
}

pub fn update(cx: &mut Cx) -> ApiResult {
    let mut w = cx.inner.world.write();
    let ws = &mut w.workspaces[cx.ws];
    let id = cx.param("company_id").to_string();
    live(ws, &id)?;
    let now = cx.now;
    let c = ws.company_mut(&id).ok_or_else(company_not_found)?;
    apply(c, &cx.body, now);
    c.updated_at = now;
    let c = c.clone();
    cx.inner.mark_dirty();
    ok(company_json(ws, &c))
}

/// Archives the company and detaches its contacts.
pub fn delete(cx: &mut Cx) -> ApiResult {
    let mut w = cx.inner.world.write();
    let ws = &mut w.workspaces[cx.ws];
    let id = cx.param("company_id").to_string();
    live(ws, &id)?;
    let now = cx.now;
    if let Some(c) = ws.company_mut(&id) {
        c.archived = true;
        c.updated_at = now;
    }
    for c in ws.contacts.values_mut() {
        if c.company_ids.contains(&id) {
            c.company_ids.retain(|x| *x != id);
            c.updated_at = now;
            c.indexed_at = now;
        }
    }
    cx.inner.mark_dirty();
    ok(json!({ "id": id, "object": "company", "deleted": true }))
}

pub fn contacts_of(cx: &mut Cx) -> ApiResult {
    let w = cx.inner.world.read();
    let ws = &w.workspaces[cx.ws];
    let id = cx.param("company_id");
    live(ws, id)?;
    let data: Vec<Value> = ws
        .contacts
        .values()
        .filter(|c| c.merged_into.is_none() && c.company_ids.iter().any(|x| x == id))
        .map(|c| contact_json(ws, c, false))
        .collect();
    let n = data.len();
    ok(json!({
        "type": "list",
        "data": data,
        "total_count": n,
        "pages": { "type": "pages", "page": 1, "per_page": 50, "total_pages": n.div_ceil(50) },
    }))
}

/// `POST /companies/list`: page-based, companies without contacts hidden, by last_request_at.
pub fn list(cx: &mut Cx) -> ApiResult {
    let (page, per_page) = page_params(cx, 15)?;
    let desc = match cx.q("order") {
        None | Some("desc") => true,
        Some("asc") => false,
        Some(_) => return Err(ApiError::invalid("order", "order must be asc or desc")),
    };
    let w = cx.inner.world.read();
    let ws = &w.workspaces[cx.ws];
    let mut all: Vec<&Company> =
        ws.companies.values().filter(|c| !c.archived && ws.company_user_count(&c.id) > 0).collect();
    all.sort_by_key(|c| (c.last_request_at.unwrap_or(0), c.seq));
    if desc {
        all.reverse();
    }
    ok(company_list(ws, all, page, per_page))
}

/// `GET /companies/scroll`: one open scroll per workspace, expires after a minute idle.
pub fn scroll(cx: &mut Cx) -> ApiResult {
    let mut w = cx.inner.world.write();
    let ws = &mut w.workspaces[cx.ws];
    let now = cx.now;
    if let Some(s) = &ws.scroll
        && now - s.last_used > SCROLL_TTL_SECS
    {
        ws.scroll = None;
    }
    let after_seq = match cx.q("scroll_param").filter(|p| !p.is_empty()) {
        None => {
            if ws.scroll.is_some() {
                return Err(ApiError::bad("scroll_exists", "scroll already exists for this workspace"));
            }
            0
        }
        Some(p) => match &ws.scroll {
            Some(s) if s.param == p => s.offset as u64,
            _ => {
                return Err(ApiError::not_found("not_found", "scroll_param not found or expired"));
            }
        },
    };
    let page: Vec<Company> = ws
        .companies
        .range(after_seq + 1..)
        .map(|(_, c)| c)
        .filter(|c| !c.archived && ws.company_user_count(&c.id) > 0)
        .take(SCROLL_PAGE)
        .cloned()
        .collect();
    let param = match &ws.scroll {
        Some(s) => s.param.clone(),
        None => cx.inner.random_token(""),
    };
    if page.is_empty() {
        ws.scroll = None;
    } else {
        ws.scroll = Some(Scroll {
            param: param.clone(),
            offset: page.last().map(|c| c.seq).unwrap_or(after_seq) as usize,
            last_used: now,
        });
    }
    let data: Vec<Value> = page.iter().map(|c| company_json(ws, c)).collect();
    ok(json!({ "type": "list", "data": data, "scroll_param": param }))
}

pub fn attach(cx: &mut Cx) -> ApiResult {
    let company = id_str(cx.body.get("id")).ok_or_else(|| ApiError::missing("id"))?;
    let mut w = cx.inner.world.write();
    let ws = &mut w.workspaces[cx.ws];
    let cid = cx.param("contact_id").to_string();
    find(ws, &cid)?;
    live(ws, &company)?;
    let now = cx.now;
    let c: &mut Contact = find_mut(ws, &cid)?;
    if !c.company_ids.contains(&company) {
        if c.company_ids.len() >= 1000 {
            return Err(ApiError::bad(
                "contact_company_limit_exceeded",
                "A contact can be attached to at most 1000 companies",
            ));
        }
        c.company_ids.push(company.clone());
    }
    c.updated_at = now;
    c.indexed_at = now;
    if let Some(co) = ws.company_mut(&company) {
        co.updated_at = now;
    }
    let co = ws.company(&company).cloned().ok_or_else(company_not_found)?;
    cx.inner.mark_dirty();
    ok(company_json(ws, &co))
}

pub fn detach(cx: &mut Cx) -> ApiResult {
    let mut w = cx.inner.world.write();
    let ws = &mut w.workspaces[cx.ws];
    let cid = cx.param("contact_id").to_string();
    let company = cx.param("company_id").to_string();
    let now = cx.now;
    let c = find_mut(ws, &cid)?;
    if !c.company_ids.contains(&company) {
        return Err(company_not_found());
    }
    c.company_ids.retain(|x| *x != company);
    c.updated_at = now;
    c.indexed_at = now;
    let co = ws.company(&company).cloned().ok_or_else(company_not_found)?;
    cx.inner.mark_dirty();
    ok(company_json(ws, &co))
}

pub fn list_for_contact(cx: &mut Cx) -> ApiResult {
    let w = cx.inner.world.read();
    let ws = &w.workspaces[cx.ws];
    let c = find(ws, cx.param("contact_id"))?;
    let data: Vec<Value> =
        c.company_ids.iter().filter_map(|id| ws.company(id)).map(|co| company_json(ws, co)).collect();
    let n = data.len();
    ok(json!({
        "type": "list",
        "companies": data,
        "total_count": n,
        "pages": { "type": "pages", "page": 1, "per_page": 50, "total_pages": 1, "next": null },
    }))
}
