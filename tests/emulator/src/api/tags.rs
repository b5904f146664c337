//! Tags: CRUD and tagging of contacts, companies, conversations and tickets.

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::contacts::find as find_contact;
use super::{id_str, ok};
use crate::server::{ApiError, ApiResult, Cx, Reply};
use crate::state::{AppliedTag, Tag, Workspace};

pub fn tag_not_found() -> ApiError {
    ApiError::not_found("tag_not_found", "Resource Not Found")
}

pub fn tag_json(t: &Tag, applied: Option<&AppliedTag>) -> Value {
    json!({
        "type": "tag",
        "id": t.id,
        "name": t.name,
        "applied_at": applied.map(|a| a.applied_at),
        "applied_by": applied.and_then(|a| a.applied_by.as_ref())
            .map(|id| json!({ "type": "admin", "id": id })),
    })
}

pub fn tags_of(ws: &Workspace, applied: &[AppliedTag]) -> Vec<Value> {
    applied.iter().filter_map(|a| ws.tag(&a.tag_id).map(|t| tag_json(t, Some(a)))).collect()
}

pub fn list(cx: &mut Cx) -> ApiResult {
    let w = cx.inner.world.read();
    let ws = &w.workspaces[cx.ws];
    let data: Vec<Value> = ws.tags.iter().map(|t| tag_json(t, None)).collect();
    ok(json!({ "type": "list", "data": data }))
}

pub fn find(cx: &mut Cx) -> ApiResult {
    let w = cx.inner.world.read();
    let ws = &w.workspaces[cx.ws];
    let t = ws.tag(cx.param("tag_id")).ok_or_else(tag_not_found)?;
    ok(json!({ "type": "tag", "id": t.id, "name": t.name }))
}

/// `POST /tags`: create/rename (upsert by name, case-insensitive), tag/untag companies, tag users.
pub fn create(cx: &mut Cx) -> ApiResult {
    let name = cx.body.get("name").and_then(Value::as_str).ok_or_else(|| ApiError::missing("name"))?.trim().to_string();
    if name.is_empty() {
        return Err(ApiError::invalid("name", "name must not be blank"));
    }
    let mut w = cx.inner.world.write();
    let ws = &mut w.workspaces[cx.ws];
    let tag_id = if let Some(id) = id_str(cx.body.get("id")) {
        let t = ws.tags.iter_mut().find(|t| t.id == id).ok_or_else(tag_not_found)?;
        t.name = name.clone();
        id
    } else if let Some(t) = ws.tags.iter().find(|t| t.name.eq_ignore_ascii_case(&name)) {
        t.id.clone()
    } else {
        let id = ws.next_number().to_string();
        ws.tags.push(Tag { id: id.clone(), name: name.clone(), has_dependents: false });
        id
    };
    let now = cx.now;
    let me = ws.me_admin_id.clone();
    let mut out = {
        let t = ws.tag(&tag_id).ok_or_else(tag_not_found)?;
        json!({ "type": "tag", "id": t.id, "name": t.name })
    };
    if let Some(companies) = cx.body.get("companies").and_then(Value::as_array) {
        let mut results = Vec::new();
        for item in companies {
            let untag = item.get("untag").and_then(Value::as_bool) == Some(true);
            let by_id = id_str(item.get("id"));
            let by_cid = id_str(item.get("company_id"));
            let found = ws.companies.values_mut().find(|c| {
                !c.archived
                    && (by_id.as_deref() == Some(c.id.as_str()) || by_cid.as_deref() == Some(c.company_id.as_str()))
            });
            match found {
                Some(c) => {
                    if untag {
                        c.tag_ids.retain(|t| *t != tag_id);
                    } else if !c.tag_ids.contains(&tag_id) {
                        c.tag_ids.push(tag_id.clone());
                    }
                    c.updated_at = now;
                    results.push(json!({ "id": c.id, "tagged": !untag }));
                }
                None => results.push(json!({
                    "id": by_id.or(by_cid).unwrap_or_default(), "tagged": false })),
            }
        }
        out["companies"] = Value::Array(results);
    }
    if let Some(users) = cx.body.get("users").and_then(Value::as_array) {
        let mut results = Vec::new();
        for item in users {
            let id = id_str(item.get("id")).unwrap_or_default();
            let untag = item.get("untag").and_then(Value::as_bool) == Some(true);
            match ws.contact_mut(&id).filter(|c| c.merged_into.is_none()) {
                Some(c) => {
                    c.tags.retain(|t| t.tag_id != tag_id);
                    if !untag {
                        c.tags.push(AppliedTag {
                            tag_id: tag_id.clone(),
                            applied_at: now,
                            applied_by: Some(me.clone()),
                        });
                    }
                    c.updated_at = now;
                    c.indexed_at = now;
                    results.push(json!({ "id": id, "tagged": !untag }));
                }
                None => results.push(json!({ "id": id, "tagged": false })),
            }
        }
        out["users"] = Value::Array(results);
    }
    cx.inner.mark_dirty();
    ok(out)
}

/// `DELETE /tags/{id}`: 400 `tag_has_dependent_objects` when in use, else 200 with no body.
pub fn delete(cx: &mut Cx) -> ApiResult {
    let mut w = cx.inner.world.write();
    let ws = &mut w.workspaces[cx.ws];
    let id = cx.param("tag_id").to_string();
    let t = ws.tag(&id).ok_or_else(tag_not_found)?;
    if t.has_dependents {
        return Err(ApiError::bad("tag_has_dependent_objects", "Unable to delete Tag with dependent objects"));
    }
    ws.tags.retain(|t| t.id != id);
    for c in ws.contacts.values_mut() {
        c.tags.retain(|a| a.tag_id != id);
    }
    for c in ws.companies.values_mut() {
        c.tag_ids.retain(|a| *a != id);
    }
    for c in ws.conversations.values_mut() {
        c.tags.retain(|a| a.tag_id != id);
    }
    for c in ws.tickets.values_mut() {
        c.tags.retain(|a| a.tag_id != id);
    }
    cx.inner.mark_dirty();
    Ok(Reply::Empty(StatusCode::OK))
}

pub fn list_for_contact(cx: &mut Cx) -> ApiResult {
    let w = cx.inner.world.read();
    let ws = &w.workspaces[cx.ws];
    let c = find_contact(ws, cx.param("contact_id"))?;
    ok(json!({ "type": "list", "data": tags_of(ws, &c.tags) }))
}

fn apply_tag(list: &mut Vec<AppliedTag>, tag_id: &str, by: Option<String>, now: i64) -> AppliedTag {
    if let Some(a) = list.iter().find(|a| a.tag_id == tag_id) {
        return a.clone();
    }
    let a = AppliedTag { tag_id: tag_id.to_string(), applied_at: now, applied_by: by };
    list.push(a.clone());
    a
}

fn require_admin(ws: &Workspace, body: &Value) -> Result<String, ApiError> {
    let admin = id_str(body.get("admin_id")).ok_or_else(|| ApiError::missing("admin_id"))?;
    if ws.admin(&admin).is_none() {
        return Err(ApiError::not_found("admin_not_found", "Admin not found"));
    }
    Ok(admin)
}

pub fn tag_contact(cx: &mut Cx) -> ApiResult {
    let tag_id = id_str(cx.body.get("id")).ok_or_else(|| ApiError::missing("id"))?;
    let mut w = cx.inner.world.write();
    let ws = &mut w.workspaces[cx.ws];
    let cid = cx.param("contact_id").to_string();
    find_contact(ws, &cid)?;
    let tag = ws.tag(&tag_id).cloned().ok_or_else(tag_not_found)?;
    let now = cx.now;
    let c = ws.contact_mut(&cid).ok_or_else(super::contacts::user_not_found)?;
    let a = apply_tag(&mut c.tags, &tag_id, None, now);
    c.updated_at = now;
    c.indexed_at = now;
    cx.inner.mark_dirty();
    ok(tag_json(&tag, Some(&a)))
}

pub fn untag_contact(cx: &mut Cx) -> ApiResult {
    let mut w = cx.inner.world.write();
    let ws = &mut w.workspaces[cx.ws];
    let cid = cx.param("contact_id").to_string();
    let tag_id = cx.param("tag_id").to_string();
    find_contact(ws, &cid)?;
    let tag = ws.tag(&tag_id).cloned().ok_or_else(tag_not_found)?;
    let now = cx.now;
    let c = ws.contact_mut(&cid).ok_or_else(super::contacts::user_not_found)?;
    if !c.tags.iter().any(|a| a.tag_id == tag_id) {
        return Err(tag_not_found());
    }
    c.tags.retain(|a| a.tag_id != tag_id);
    c.updated_at = now;
    c.indexed_at = now;
    cx.inner.mark_dirty();
    ok(tag_json(&tag, None))
}

/// Conversations and tickets are tagged alike: by a teammate (`admin_id` is required), with a 404 of
/// their own when the object does not exist.
#[derive(Clone, Copy)]
enum AdminTagged {
    Conversation,
    Ticket,
}

impl AdminTagged {
    /// The object's tags and the two timestamps a tag change moves.
    fn find<'a>(
        self,
        ws: &'a mut Workspace,
        cx: &Cx,
    ) -> Result<(&'a mut Vec<AppliedTag>, &'a mut i64, &'a mut i64), ApiError> {
        match self {
            AdminTagged::Conversation => {
                let c = ws
                    .conversation_mut(cx.param("conversation_id"))
                    .ok_or_else(|| ApiError::not_found("not_found", "Resource Not Found"))?;
                Ok((&mut c.tags, &mut c.updated_at, &mut c.indexed_at))
            }
            AdminTagged::Ticket => {
                let t = ws
                    .ticket_mut(cx.param("ticket_id"))
                    .ok_or_else(|| ApiError::not_found("ticket_not_found", "Ticket not found"))?;
                Ok((&mut t.tags, &mut t.updated_at, &mut t.indexed_at))
            }
        }
    }

    fn tag(self, cx: &mut Cx) -> ApiResult {
        let tag_id = id_str(cx.body.get("id")).ok_or_else(|| ApiError::missing("id"))?;
        let mut w = cx.inner.world.write();
        let ws = &mut w.workspaces[cx.ws];
        let admin = require_admin(ws, &cx.body)?;
        let tag = ws.tag(&tag_id).cloned().ok_or_else(tag_not_found)?;
        let now = cx.now;
        let (tags, updated_at, indexed_at) = self.find(ws, cx)?;
        let applied = apply_tag(tags, &tag_id, Some(admin), now);
        (*updated_at, *indexed_at) = (now, now);
        cx.inner.mark_dirty();
        ok(tag_json(&tag, Some(&applied)))
    }

    fn untag(self, cx: &mut Cx) -> ApiResult {
        let mut w = cx.inner.world.write();
        let ws = &mut w.workspaces[cx.ws];
        require_admin(ws, &cx.body)?;
        let tag_id = cx.param("tag_id").to_string();
        let tag = ws.tag(&tag_id).cloned().ok_or_else(tag_not_found)?;
        let now = cx.now;
        let (tags, updated_at, indexed_at) = self.find(ws, cx)?;
        if !tags.iter().any(|a| a.tag_id == tag_id) {
            return Err(tag_not_found());
        }
        tags.retain(|a| a.tag_id != tag_id);
        (*updated_at, *indexed_at) = (now, now);
        cx.inner.mark_dirty();
        ok(tag_json(&tag, None))
    }
}

pub fn tag_conversation(cx: &mut Cx) -> ApiResult {
    AdminTagged::Conversation.tag(cx)
}

pub fn untag_conversation(cx: &mut Cx) -> ApiResult {
    AdminTagged::Conversation.untag(cx)
}

pub fn tag_ticket(cx: &mut Cx) -> ApiResult {
    AdminTagged::Ticket.tag(cx)
}

pub fn untag_ticket(cx: &mut Cx) -> ApiResult {
    AdminTagged::Ticket.untag(cx)
}
