//! Conversations and admin-initiated messages.

use serde_json::{Map, Value, json};

use super::companies::company_json;
use super::contacts::{find as find_contact, user_not_found};
use super::tags::tags_of;
use super::tickets::{create_ticket_record, ticket_json};
use super::{id_str, ok, opt_str};
use crate::search::{self, FType, FVal, SortKey};
use crate::server::{ApiError, ApiResult, Cx};
use crate::state::{Conversation, MessageRecord, Part, Workspace};

pub fn conv_not_found() -> ApiError {
    ApiError::not_found("not_found", "Resource Not Found")
}

fn admin_not_found() -> ApiError {
    ApiError::not_found("admin_not_found", "Admin not found")
}

fn strip_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.trim().to_string()
}

fn html(body: &str) -> String {
    if body.trim_start().starts_with('<') { body.to_string() } else { format!("<p>{body}</p>") }
}

fn author_json(ws: &Workspace, kind: &str, id: &str) -> Value {
    match kind {
        "admin" | "bot" => {
            let a = ws.admin(id);
            json!({ "type": kind, "id": id,
                    "name": a.map(|a| a.name.clone()),
                    "email": a.map(|a| a.email.clone()).unwrap_or_default(),
                    "from_ai_agent": false, "is_ai_answer": false })
        }
        _ => {
            let c = ws.contact(id);
            json!({ "type": kind, "id": id,
                    "name": c.and_then(|c| c.name.clone()),
                    "email": c.and_then(|c| c.email.clone()).unwrap_or_default(),
                    "from_ai_agent": false, "is_ai_answer": false })
        }
    }
}

fn part_json(ws: &Workspace, p: &Part, plaintext: bool) -> Value {
    json!({
        "type": "conversation_part",
        "id": p.id,
        "part_type": p.part_type,
        "body": p.body.as_ref().map(|b| if plaintext { strip_html(b) } else { b.clone() }),
        "created_at": p.created_at,
        "updated_at": p.created_at,
        "notified_at": p.created_at,
        "assigned_to": p.assigned_to.as_ref().map(|(t, id)| json!({ "type": t, "id": id })),
        "author": author_json(ws, &p.author_type, &p.author_id),
        "attachments": [],
        "external_id": null,
        "redacted": false,
        "state": p.state,
    })
}

fn custom_attrs_json(m: &Map<String, Value>) -> Value {
    // The schema allows strings, integers and datetimes; other JSON types are stringified.
    Value::Object(
        m.iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::String(_) => v.clone(),
                    Value::Number(n) if n.is_i64() => v.clone(),
                    other => Value::String(other.to_string()),
                };
                (k.clone(), v)
            })
            .collect(),
    )
}

/// A conversation (schema `conversation`, or `conversation_list_item` without parts).
pub fn conversation_json(ws: &Workspace, c: &Conversation, parts: bool, plaintext: bool) -> Value {
    let contacts: Vec<Value> = c
        .contact_ids
        .iter()
        .map(|id| {
            json!({ "type": "contact", "id": id,
                    "external_id": ws.contact(id).and_then(|x| x.external_id.clone()) })
        })
        .collect();
    let teammates: Vec<Value> = c.teammate_ids.iter().map(|id| json!({ "type": "admin", "id": id })).collect();
    let linked: Vec<Value> = c
        .linked_ticket_ids
        .iter()
        .map(|id| {
            let cat = ws.ticket(id).and_then(|t| ws.ticket_type(&t.ticket_type_id)).map(|tt| tt.category.clone());
            json!({ "type": "ticket", "id": id, "category": cat })
        })
        .collect();
    let mut stats = json!({
        "type": "conversation_statistics",
        "count_reopens": c.count_reopens,
        "count_assignments": c.count_assignments,
        "count_conversation_parts": c.parts.len() + 1,
    });
    for (k, v) in [
        ("first_contact_reply_at", c.first_contact_reply_at),
        ("first_admin_reply_at", c.first_admin_reply_at),
        ("last_admin_reply_at", c.last_admin_reply_at),
        ("last_contact_reply_at", c.last_contact_reply_at),
        ("last_close_at", c.last_close_at),
    ] {
        if let Some(v) = v {
            stats[k] = json!(v);
        }
    }
    let body = if plaintext { strip_html(&c.source_body) } else { c.source_body.clone() };
    let n_linked = linked.len();
    let mut v = json!({
        "type": "conversation",
        "id": c.id,
        "title": c.title,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
        "waiting_since": c.waiting_since,
        "snoozed_until": c.snoozed_until,
        "open": c.state != "closed",
        "state": c.state,
        "read": c.read,
        "priority": c.priority,
        "admin_assignee_id": c.admin_assignee_id,
        "team_assignee_id": c.team_assignee_id,
        "company": c.company_id.as_ref().and_then(|id| ws.company(id)).map(|co| company_json(ws, co)),
        "tags": { "type": "tag.list", "tags": tags_of(ws, &c.tags) },
        "conversation_rating": null,
        "source": {
            "type": c.source_type,
            "id": c.id,
            "delivered_as": c.source_delivered_as,
            "subject": c.source_subject,
            "body": body,
            "author": author_json(ws, &c.source_author_type, &c.source_author_id),
            "attachments": [],
            "url": null,
            "redacted": false,
        },
        "contacts": { "type": "contact.list", "contacts": contacts },
        "teammates": { "type": "admin.list", "teammates": teammates },
        "custom_attributes": custom_attrs_json(&c.custom_attributes),
        "first_contact_reply": c.first_contact_reply_at.map(|t| json!({
            "created_at": t, "type": "conversation", "url": null })),
        "sla_applied": null,
        "statistics": stats,
        "linked_objects": { "type": "list", "total_count": n_linked, "has_more": false,
                            "data": linked },
        "ai_agent_participated": false,
    });
    if parts {
        let list: Vec<Value> = c.parts.iter().rev().take(500).rev().map(|p| part_json(ws, p, plaintext)).collect();
        let n = c.parts.len();
        v["conversation_parts"] = json!({
            "type": "conversation_part.list", "conversation_parts": list, "total_count": n });
    }
    v
}

fn plaintext(cx: &Cx) -> bool {
    cx.q("display_as") == Some("plaintext")
}

fn touch(c: &mut Conversation, now: i64) {
    c.updated_at = now;
    c.indexed_at = now;
}

fn new_conversation(ws: &mut Workspace, now: i64) -> Conversation {
    let id = ws.next_number();
    Conversation {
        id: id.to_string(),
        seq: ws.next_seq(),
        created_at: now,
        updated_at: now,
        indexed_at: now,
        state: "open".into(),
        priority: "none".into(),
        source_type: "conversation".into(),
        ..Default::default()
    }
}

fn insert(ws: &mut Workspace, c: Conversation) {
    let k: u64 = c.id.parse().unwrap_or(0);
    ws.conversations.insert(k, c);
}

/// `POST /conversations`: contact-initiated; returns a `message`.
pub fn create(cx: &mut Cx) -> ApiResult {
    let from = cx.body.get("from").ok_or_else(|| ApiError::missing("from"))?;
    let from_id = id_str(from.get("id")).ok_or_else(|| ApiError::missing("from.id"))?;
    let body = opt_str(cx.body.get("body")).ok_or_else(|| ApiError::missing("body"))?;
    let now = cx.now;
    let created_at = cx.body.get("created_at").and_then(Value::as_i64).unwrap_or(now);
    let mut w = cx.inner.world.write();
    let ws = &mut w.workspaces[cx.ws];
    let contact = find_contact(ws, &from_id)?;
    let role = contact.role.clone();
    let mut c = new_conversation(ws, now);
    c.created_at = created_at;
    c.source_delivered_as = "customer_initiated".into();
    c.source_subject = opt_str(cx.body.get("subject")).unwrap_or_default();
    c.source_body = html(&body);
    c.source_author_type = role;
    c.source_author_id = from_id.clone();
    c.contact_ids = vec![from_id.clone()];
    c.waiting_since = Some(created_at);
    c.first_contact_reply_at = Some(created_at);
    c.last_contact_reply_at = Some(created_at);
    let msg_id = ws.next_number().to_string();
    let out = json!({
        "type": "user_message",
        "id": msg_id,
        "created_at": created_at,
        "body": c.source_body,
        "message_type": "inapp",
        "conversation_id": c.id,
    });
    if let Some(ct) = ws.contact_mut(&from_id) {
        ct.last_replied_at = Some(created_at);
    }
    insert(ws, c);
    cx.inner.mark_dirty();
    ok(out)
}

/// `POST /messages`: admin-initiated.
pub fn create_message(cx: &mut Cx) -> ApiResult {
    let b = &cx.body;
    let message_type = opt_str(b.get("message_type")).ok_or_else(|| ApiError::missing("message_type"))?;
    let body = opt_str(b.get("body")).ok_or_else(|| ApiError::missing("body"))?;
    let subject = opt_str(b.get("subject"));
    if message_type == "email" && subject.is_none() {
        return Err(ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "parameter_not_found",
            "subject is required for email messages",
        )
        .with_field("subject"));
    }
    let from = b.get("from").ok_or_else(|| ApiError::missing("from"))?;
    let admin_id = id_str(from.get("id")).ok_or_else(|| ApiError::missing("from.id"))?;
    let to = match b.get("to") {
        Some(Value::Array(a)) => a.first().cloned(),
        Some(v) => Some(v.clone()),
        None => None,
    }
    .ok_or_else(|| ApiError::missing("to"))?;
    let to_id = id_str(to.get("id")).ok_or_else(|| ApiError::missing("to.id"))?;
    let now = cx.now;
    let created_at = b.get("created_at").and_then(Value::as_i64).unwrap_or(now);
    let mut w = cx.inner.world.write();
    let ws = &mut w.workspaces[cx.ws];
    if ws.admin(&admin_id).is_none() {
        return Err(admin_not_found());
    }
    find_contact(ws, &to_id)?;
    let msg_id = ws.next_number().to_string();
    let create_conv = b.get("create_conversation_without_contact_reply").and_then(Value::as_bool) == Some(true);
    let mut conversation_id = None;
    if create_conv {
        let mut c = new_conversation(ws, now);
        c.created_at = created_at;
        c.source_type = if message_type == "email" { "email" } else { "conversation" }.into();
        c.source_delivered_as = "admin_initiated".into();
        c.source_subject = subject.clone().unwrap_or_default();
        c.source_body = html(&body);
        c.source_author_type = "admin".into();
        c.source_author_id = admin_id.clone();
        c.contact_ids = vec![to_id.clone()];
        c.teammate_ids = vec![admin_id.clone()];
        c.admin_assignee_id = 0;
        conversation_id = Some(c.id.clone());
        insert(ws, c);
    }
    if let Some(ct) = ws.contact_mut(&to_id) {
        ct.last_contacted_at = Some(created_at);
    }
    let mt = match message_type.as_str() {
        "in_app" | "conversation" => "inapp".to_string(),
        _ => message_type,
    };
    ws.messages.push(MessageRecord {
        id: msg_id.clone(),
        created_at,
        message_type: mt.clone(),
        subject: subject.clone().unwrap_or_default(),
        body: html(&body),
        conversation_id: conversation_id.clone(),
    });
    let mut out = json!({
        "type": "admin_message",
        "id": msg_id,
        "created_at": created_at,
        "subject": subject.unwrap_or_default(),
        "body": html(&body),
        "message_type": mt,
    });
    if let Some(c) = conversation_id {
        out["conversation_id"] = json!(c);
    }
    cx.inner.mark_dirty();
    ok(out)
}

pub fn get(cx: &mut Cx) -> ApiResult {
    let w = cx.inner.world.read();
    let ws = &w.workspaces[cx.ws];
    let c = ws.conversation(cx.param("conversation_id")).ok_or_else(conv_not_found)?;
    ok(conversation_json(ws, c, true, plaintext(cx)))
}

pub fn update(cx: &mut Cx) -> ApiResult {
    let mut w = cx.inner.world.write();
    let ws = &mut w.workspaces[cx.ws];
    let id = cx.param("conversation_id").to_string();
    ws.conversation(&id).ok_or_else(conv_not_found)?;
    if let Some(co) = id_str(cx.body.get("company_id"))
        && ws.company(&co).filter(|c| !c.archived).is_none()
    {
        return Err(super::companies::company_not_found());
    }
    let now = cx.now;
    let c = ws.conversation_mut(&id).ok_or_else(conv_not_found)?;
    if let Some(r) = cx.body.get("read").and_then(Value::as_bool) {
        c.read = r;
    }
    if let Some(t) = cx.body.get("title") {
        c.title = opt_str(Some(t));
    }
    if let Some(co) = id_str(cx.body.get("company_id")) {
        c.company_id = Some(co);
    }
    if let Some(m) = cx.body.get("custom_attributes").and_then(Value::as_object) {
        for (k, v) in m {
            if v.is_null() {
                c.custom_attributes.remove(k);
            } else {
                c.custom_attributes.insert(k.clone(), v.clone());
            }
        }
    }
    touch(c, now);
    let c = c.clone();
    cx.inner.mark_dirty();
    ok(conversation_json(ws, &c, true, plaintext(cx)))
}

pub fn delete(cx: &mut Cx) -> ApiResult {
    let mut w = cx.inner.world.write();
    let ws = &mut w.workspaces[cx.ws];
    let id = cx.param("conversation_id").to_string();
    let k: u64 = id.parse().map_err(|_| conv_not_found())?;
    ws.conversations.remove(&k).ok_or_else(conv_not_found)?;
    let retained = cx.q("retain_metrics") != Some("false");
    ws.deleted_conversations.push((id.clone(), retained, cx.now));
    cx.inner.mark_dirty();
    ok(json!({ "id": id, "object": "conversation", "deleted": true }))
}

fn new_part(
    ws: &mut Workspace,
    part_type: &str,
    body: Option<String>,
    author: (&str, &str),
    now: i64,
    state: &str,
) -> Part {
    Part {
        id: ws.next_number().to_string(),
        part_type: part_type.to_string(),
        body: body.map(|b| html(&b)),
        created_at: now,
        author_type: author.0.to_string(),
        author_id: author.1.to_string(),
        assigned_to: None,
        state: state.to_string(),
    }
}

pub fn reply(cx: &mut Cx) -> ApiResult {
    let b = cx.body.clone();
    let kind = opt_str(b.get("type")).ok_or_else(|| ApiError::missing("type"))?;
    let message_type = opt_str(b.get("message_type")).ok_or_else(|| ApiError::missing("message_type"))?;
    let now = cx.now;
    let created_at = b.get("created_at").and_then(Value::as_i64).unwrap_or(now);
    let mut w = cx.inner.world.write();
    let ws = &mut w.workspaces[cx.ws];
    let mut id = cx.param("conversation_id").to_string();
    if kind == "admin" {
        let admin = id_str(b.get("admin_id")).ok_or_else(|| ApiError::missing("admin_id"))?;
        if ws.admin(&admin).is_none() {
            return Err(admin_not_found());
        }
        let body = opt_str(b.get("body"));
        if body.is_none() && message_type != "quick_reply" {
            return Err(ApiError::missing("body"));
        }
        let state = ws.conversation(&id).ok_or_else(conv_not_found)?.state.clone();
        let part = new_part(ws, &message_type, body, ("admin", &admin), created_at, &state);
        let c = ws.conversation_mut(&id).ok_or_else(conv_not_found)?;
        c.parts.push(part);
        if message_type != "note" {
            c.first_admin_reply_at.get_or_insert(created_at);
            c.last_admin_reply_at = Some(created_at);
            c.waiting_since = None;
        }
        if !c.teammate_ids.contains(&admin) {
            c.teammate_ids.push(admin.clone());
        }
        touch(c, now);
    } else {
        let contact_id = if let Some(i) = id_str(b.get("intercom_user_id")) {
            find_contact(ws, &i)?.id.clone()
        } else if let Some(e) = opt_str(b.get("email")) {
            ws.contact_by_email(&e).ok_or_else(user_not_found)?.id.clone()
        } else if let Some(u) = id_str(b.get("user_id")) {
            ws.contact_by_external_id(&u).ok_or_else(user_not_found)?.id.clone()
        } else {
            return Err(ApiError::missing("intercom_user_id"));
        };
        if id == "last" {
            id = ws
                .conversations
                .values()
                .rev()
                .find(|c| c.contact_ids.contains(&contact_id))
                .map(|c| c.id.clone())
                .ok_or_else(conv_not_found)?;
        }
        let body = opt_str(b.get("body"));
        if body.is_none() && b.get("reply_options").is_none() {
            return Err(ApiError::missing("body"));
        }
        let role = ws.contact(&contact_id).map(|c| c.role.clone()).unwrap_or_default();
        ws.conversation(&id).ok_or_else(conv_not_found)?;
        let kind = if message_type == "quick_reply" { "quick_reply" } else { "comment" };
        let part = new_part(ws, kind, body, (&role, &contact_id), created_at, "open");
        let c = ws.conversation_mut(&id).ok_or_else(conv_not_found)?;
        if c.state == "closed" {
            c.count_reopens += 1;
        }
        c.state = "open".into();
        c.snoozed_until = None;
        c.parts.push(part);
        c.last_contact_reply_at = Some(created_at);
        c.waiting_since.get_or_insert(created_at);
        c.read = false;
        if !c.contact_ids.contains(&contact_id) {
            c.contact_ids.push(contact_id.clone());
        }
        touch(c, now);
        if let Some(ct) = ws.contact_mut(&contact_id) {
            ct.last_replied_at = Some(created_at);
        }
    }
    let c = ws.conversation(&id).cloned().ok_or_else(conv_not_found)?;
    cx.inner.mark_dirty();
    ok(conversation_json(ws, &c, true, false))
}

/// `POST /conversations/{id}/parts`: open, close, snoozed, assignment.
pub fn manage(cx: &mut Cx) -> ApiResult {
    let b = cx.body.clone();
    let message_type = opt_str(b.get("message_type")).ok_or_else(|| ApiError::missing("message_type"))?;
    let admin = id_str(b.get("admin_id")).ok_or_else(|| ApiError::missing("admin_id"))?;
    let now = cx.now;
    let mut w = cx.inner.world.write();
    let ws = &mut w.workspaces[cx.ws];
    let id = cx.param("conversation_id").to_string();
    ws.conversation(&id).ok_or_else(conv_not_found)?;
    if ws.admin(&admin).is_none() {
        return Err(admin_not_found());
    }
    let body = opt_str(b.get("body"));
    match message_type.as_str() {
        "close" => {
            let part = new_part(ws, "close", body, ("admin", &admin), now, "closed");
            let c = ws.conversation_mut(&id).ok_or_else(conv_not_found)?;
            c.state = "closed".into();
            c.snoozed_until = None;
            c.waiting_since = None;
            c.last_close_at = Some(now);
            c.parts.push(part);
            touch(c, now);
        }
        "snoozed" => {
            let until =
                b.get("snoozed_until").and_then(Value::as_i64).ok_or_else(|| ApiError::missing("snoozed_until"))?;
            if until <= now {
                return Err(ApiError::invalid("snoozed_until", "snoozed_until must be in the future"));
            }
            let part = new_part(ws, "snoozed", None, ("admin", &admin), now, "snoozed");
            let c = ws.conversation_mut(&id).ok_or_else(conv_not_found)?;
            c.state = "snoozed".into();
            c.snoozed_until = Some(until);
            c.parts.push(part);
            touch(c, now);
        }
        "open" => {
            let part = new_part(ws, "open", None, ("admin", &admin), now, "open");
            let c = ws.conversation_mut(&id).ok_or_else(conv_not_found)?;
            if c.state == "closed" {
                c.count_reopens += 1;
            }
            c.state = "open".into();
            c.snoozed_until = None;
            c.parts.push(part);
            touch(c, now);
        }
        "assignment" => {
            let kind = opt_str(b.get("type")).unwrap_or_else(|| "admin".into());
            let assignee = id_str(b.get("assignee_id")).ok_or_else(|| ApiError::missing("assignee_id"))?;
            if assignee != "0" {
                let exists = match kind.as_str() {
                    "team" => ws.team(&assignee).is_some(),
                    _ => ws.admin(&assignee).is_some(),
                };
                if !exists {
                    return Err(ApiError::not_found("assignee_not_found", "Assignee not found"));
                }
            }
            let state = ws.conversation(&id).map(|c| c.state.clone()).unwrap_or_default();
            let mut part = new_part(ws, "assignment", body, ("admin", &admin), now, &state);
            part.assigned_to = (assignee != "0").then(|| (kind.clone(), assignee.clone()));
            let n: i64 = assignee.parse().unwrap_or(0);
            let c = ws.conversation_mut(&id).ok_or_else(conv_not_found)?;
            if kind == "team" {
                c.team_assignee_id = n;
            } else {
                c.admin_assignee_id = n;
            }
            if n != 0 {
                c.count_assignments += 1;
            }
            c.parts.push(part);
            touch(c, now);
        }
        other => {
            return Err(ApiError::invalid(
                "message_type",
                format!("message_type '{other}' must be one of close, snoozed, open, assignment"),
            ));
        }
    }
    let c = ws.conversation(&id).cloned().ok_or_else(conv_not_found)?;
    cx.inner.mark_dirty();
    ok(conversation_json(ws, &c, true, false))
}

/// `POST /conversations/{id}/convert`: creates a Customer ticket linked to the conversation.
pub fn convert(cx: &mut Cx) -> ApiResult {
    let tt = id_str(cx.body.get("ticket_type_id")).ok_or_else(|| ApiError::missing("ticket_type_id"))?;
    let mut w = cx.inner.world.write();
    let ws = &mut w.workspaces[cx.ws];
    let id = cx.param("conversation_id").to_string();
    let conv = ws.conversation(&id).cloned().ok_or_else(conv_not_found)?;
    let ttype =
        ws.ticket_type(&tt).cloned().ok_or_else(|| ApiError::invalid("ticket_type_id", "ticket_type_id is invalid"))?;
    if ttype.category != "Customer" {
        return Err(ApiError::invalid("ticket_type_id", "Conversations can only be converted to Customer tickets"));
    }
    let attrs = cx.body.get("attributes").and_then(Value::as_object).cloned().unwrap_or_default();
    let state = id_str(cx.body.get("ticket_state_id"));
    let mut t = create_ticket_record(ws, &ttype, conv.contact_ids.clone(), attrs, state, cx.now, cx.now)?;
    t.linked_conversation_ids.push(id.clone());
    t.admin_assignee_id = conv.admin_assignee_id;
    t.team_assignee_id = conv.team_assignee_id;
    let tid = t.id.clone();
    let out = ticket_json(ws, &t);
    ws.tickets.insert(t.id.parse().unwrap_or(0), t);
    if let Some(c) = ws.conversation_mut(&id) {
        c.linked_ticket_ids.push(tid);
        touch(c, cx.now);
    }
    cx.inner.mark_dirty();
    ok(out)
}

pub fn list(cx: &mut Cx) -> ApiResult {
    let per_page = cx.q_int("per_page")?.unwrap_or(20);
    if !(1..=150).contains(&per_page) {
        return Err(ApiError::invalid("per_page", "per_page must be between 1 and 150"));
    }
    let after = cx.q("starting_after").map(str::to_string);
    let w = cx.inner.world.read();
    let ws = &w.workspaces[cx.ws];
    let items: Vec<(SortKey, u64, &Conversation)> =
        ws.conversations.values().map(|c| (SortKey::Null, c.seq, c)).collect();
    let page = search::paginate(items, false, per_page as usize, after.as_deref())?;
    let data: Vec<Value> = page.items.iter().map(|c| conversation_json(ws, c, false, false)).collect();
    ok(json!({
        "type": "conversation.list",
        "conversations": data,
        "total_count": page.total_count,
        "pages": search::pages_json(&page),
    }))
}

pub fn field_type(f: &str) -> Option<FType> {
    use FType::*;
    Some(match f {
        "id"
        | "source.type"
        | "source.id"
        | "source.delivered_as"
        | "source.subject"
        | "source.body"
        | "source.author.id"
        | "source.author.type"
        | "source.author.name"
        | "source.author.email"
        | "source.url"
        | "channel_initiated"
        | "state"
        | "priority"
        | "title"
        | "statistics.last_closed_by_id" => Str,
        "contact_ids" | "teammate_ids" | "tag_ids" => Multi,
        "admin_assignee_id"
        | "team_assignee_id"
        | "statistics.count_reopens"
        | "statistics.count_assignments"
        | "statistics.count_conversation_parts" => Int,
        "open" | "read" | "ai_agent_participated" => Bool,
        "created_at"
        | "updated_at"
        | "waiting_since"
        | "snoozed_until"
        | "statistics.first_contact_reply_at"
        | "statistics.first_admin_reply_at"
        | "statistics.last_admin_reply_at"
        | "statistics.last_contact_reply_at"
        | "statistics.last_close_at" => Date,
        f if f.starts_with("custom_attributes.") => Any,
        _ => return None,
    })
}

fn field_value(ws: &Workspace, c: &Conversation, f: &str) -> FVal {
    match f {
        "id" => FVal::Str(c.id.clone()),
        "source.type" => FVal::Str(c.source_type.clone()),
        "source.id" => FVal::Str(c.id.clone()),
        "source.delivered_as" => FVal::Str(c.source_delivered_as.clone()),
        "source.subject" => FVal::Str(c.source_subject.clone()),
        "source.body" => FVal::Str(c.source_body.clone()),
        "source.author.id" => FVal::Str(c.source_author_id.clone()),
        "source.author.type" => FVal::Str(c.source_author_type.clone()),
        "source.author.name" => match c.source_author_type.as_str() {
            "admin" => FVal::opt_str(&ws.admin(&c.source_author_id).map(|a| a.name.clone())),
            _ => FVal::opt_str(&ws.contact(&c.source_author_id).and_then(|x| x.name.clone())),
        },
        "source.author.email" => match c.source_author_type.as_str() {
            "admin" => FVal::opt_str(&ws.admin(&c.source_author_id).map(|a| a.email.clone())),
            _ => FVal::opt_str(&ws.contact(&c.source_author_id).and_then(|x| x.email.clone())),
        },
        "channel_initiated" => FVal::Str(c.source_type.clone()),
        "state" => FVal::Str(c.state.clone()),
        "priority" => FVal::Str(c.priority.clone()),
        "title" => FVal::opt_str(&c.title),
        "contact_ids" => FVal::List(c.contact_ids.clone()),
        "teammate_ids" => FVal::List(c.teammate_ids.clone()),
        "tag_ids" => FVal::List(c.tags.iter().map(|t| t.tag_id.clone()).collect()),
        "admin_assignee_id" => FVal::Int(c.admin_assignee_id),
        "team_assignee_id" => FVal::Int(c.team_assignee_id),
        "statistics.count_reopens" => FVal::Int(c.count_reopens),
        "statistics.count_assignments" => FVal::Int(c.count_assignments),
        "statistics.count_conversation_parts" => FVal::Int(c.parts.len() as i64 + 1),
        "open" => FVal::Bool(c.state != "closed"),
        "read" => FVal::Bool(c.read),
        "ai_agent_participated" => FVal::Bool(false),
        "created_at" => FVal::Int(c.created_at),
        "updated_at" => FVal::Int(c.updated_at),
        "waiting_since" => FVal::opt_int(c.waiting_since),
        "snoozed_until" => FVal::opt_int(c.snoozed_until),
        "statistics.first_contact_reply_at" => FVal::opt_int(c.first_contact_reply_at),
        "statistics.first_admin_reply_at" => FVal::opt_int(c.first_admin_reply_at),
        "statistics.last_admin_reply_at" => FVal::opt_int(c.last_admin_reply_at),
        "statistics.last_contact_reply_at" => FVal::opt_int(c.last_contact_reply_at),
        "statistics.last_close_at" => FVal::opt_int(c.last_close_at),
        f => match f.strip_prefix("custom_attributes.") {
            Some(k) => FVal::from_json(c.custom_attributes.get(k)),
            None => FVal::Null,
        },
    }
}

search::searchable!(Conversation, "conversation.list", "conversations", conversations, |ws, c| conversation_json(
    ws, c, false, false
));

pub fn search(cx: &mut Cx) -> ApiResult {
    search::respond::<Conversation>(cx)
}

/// `GET /conversations/deleted` (2.16): page-based list of deleted conversation ids.
pub fn list_deleted(cx: &mut Cx) -> ApiResult {
    let page = cx.q_int("page")?.unwrap_or(1).max(1) as usize;
    let per_page = cx.q_int("per_page")?.unwrap_or(20);
    if !(1..=60).contains(&per_page) {
        return Err(ApiError::invalid("per_page", "per_page must be between 1 and 60"));
    }
    let per_page = per_page as usize;
    let asc = match cx.q("order") {
        None | Some("desc") => false,
        Some("asc") => true,
        Some(_) => return Err(ApiError::invalid("order", "order must be asc or desc")),
    };
    let w = cx.inner.world.read();
    let ws = &w.workspaces[cx.ws];
    let mut all: Vec<&(String, bool, i64)> = ws.deleted_conversations.iter().collect();
    all.sort_by_key(|(id, _, at)| (*at, id.parse::<u64>().unwrap_or(0)));
    if !asc {
        all.reverse();
    }
    let total = all.len();
    let total_pages = total.div_ceil(per_page);
    let data: Vec<Value> = all
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|(id, retained, at)| {
            json!({ "type": "conversation", "id": id, "metrics_retained": retained, "deleted_at": at })
        })
        .collect();
    let next = (page < total_pages).then(|| {
        format!(
            "/conversations/deleted?per_page={per_page}&order={}&page={}",
            if asc { "asc" } else { "desc" },
            page + 1
        )
    });
    ok(json!({
        "type": "conversations.list",
        "total_count": total,
        "pages": { "type": "pages", "next": next, "page": page, "per_page": per_page,
                   "total_pages": total_pages },
        "conversations": data,
    }))
}
