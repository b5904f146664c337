//! Ticket types, ticket states and tickets.

use serde_json::{Map, Value, json};

use super::contacts::{find as find_contact, new_contact, user_not_found};
use super::{id_str, ok, opt_str};
use crate::search::{self, FType, FVal};
use crate::server::{ApiError, ApiResult, Cx};
use crate::state::{Part, Ticket, TicketState, TicketType, Workspace};

pub fn ticket_not_found() -> ApiError {
    ApiError::not_found("ticket_not_found", "Ticket not found")
}

fn state_json(s: &TicketState) -> Value {
    json!({ "type": "ticket_state", "id": s.id, "category": s.category,
            "internal_label": s.internal_label, "external_label": s.external_label })
}

pub fn ticket_type_json(ws: &Workspace, t: &TicketType) -> Value {
    let attrs: Vec<Value> = t
        .attributes
        .iter()
        .enumerate()
        .map(|(i, a)| {
            json!({
                "type": "ticket_type_attribute", "id": a.id, "workspace_id": ws.id_code,
                "name": a.name, "description": "", "data_type": a.data_type, "input_options": {},
                "order": i, "required_to_create": a.required_to_create,
                "required_to_create_for_contacts": false, "visible_on_create": true,
                "visible_to_contacts": true, "default": a.default,
                "ticket_type_id": t.id.parse::<i64>().unwrap_or(0), "archived": false,
                "created_at": t.created_at, "updated_at": t.updated_at,
            })
        })
        .collect();
    let states: Vec<Value> = t.state_ids.iter().filter_map(|id| ws.ticket_state(id)).map(state_json).collect();
    json!({
        "type": "ticket_type",
        "id": t.id,
        "category": t.category,
        "name": t.name,
        "description": "",
        "icon": t.icon,
        "workspace_id": ws.id_code,
        "ticket_type_attributes": { "type": "list", "ticket_type_attributes": attrs },
        "ticket_states": { "type": "list", "data": states },
        "archived": t.archived,
        "created_at": t.created_at,
        "updated_at": t.updated_at,
    })
}

fn ticket_part_json(p: &Part) -> Value {
    json!({
        "type": "ticket_part",
        "id": p.id,
        "part_type": p.part_type,
        "body": p.body,
        "created_at": p.created_at,
        "updated_at": p.created_at,
        "assigned_to": p.assigned_to.as_ref().map(|(t, id)| json!({ "type": t, "id": id })),
        "author": { "type": p.author_type, "id": p.author_id },
        "attachments": [],
        "redacted": false,
    })
}

pub fn ticket_json(ws: &Workspace, t: &Ticket) -> Value {
    let tt = ws.ticket_type(&t.ticket_type_id);
    let state = ws.ticket_state(&t.ticket_state_id);
    let contacts: Vec<Value> = t
        .contact_ids
        .iter()
        .map(|id| {
            json!({ "type": "contact", "id": id,
                    "external_id": ws.contact(id).and_then(|c| c.external_id.clone()) })
        })
        .collect();
    let linked: Vec<Value> = t
        .linked_conversation_ids
        .iter()
        .map(|id| json!({ "type": "conversation", "id": id, "category": null }))
        .collect();
    let parts: Vec<Value> = t.parts.iter().map(ticket_part_json).collect();
    let n_linked = linked.len();
    let n_parts = parts.len();
    let mut v = json!({
        "type": "ticket",
        "id": t.id,
        "ticket_id": t.ticket_id,
        "category": tt.map(|x| x.category.clone()).unwrap_or_else(|| "Customer".into()),
        "ticket_attributes": t.attributes,
        "ticket_state": state.map(state_json),
        "ticket_type": tt.map(|x| ticket_type_json(ws, x)),
        "contacts": { "type": "contact.list", "contacts": contacts },
        "admin_assignee_id": t.admin_assignee_id,
        "team_assignee_id": t.team_assignee_id,
        "created_at": t.created_at,
        "updated_at": t.updated_at,
        "open": t.open,
        "linked_objects": { "type": "list", "total_count": n_linked, "has_more": false,
                            "data": linked },
        "ticket_parts": { "type": "ticket_part.list", "ticket_parts": parts,
                          "total_count": n_parts },
        "is_shared": t.is_shared,
        "previous_ticket_state_id": t.previous_ticket_state_id,
        "tags": { "type": "tag.list", "tags": super::tags::tags_of(ws, &t.tags) },
    });
    if let Some(s) = t.snoozed_until {
        v["snoozed_until"] = json!(s);
    }
    v
}

pub fn list_types(cx: &mut Cx) -> ApiResult {
    let w = cx.inner.world.read();
    let ws = &w.workspaces[cx.ws];
    let data: Vec<Value> = ws.ticket_types.iter().map(|t| ticket_type_json(ws, t)).collect();
    ok(json!({ "type": "list", "data": data }))
}

pub fn get_type(cx: &mut Cx) -> ApiResult {
    let w = cx.inner.world.read();
    let ws = &w.workspaces[cx.ws];
    let t = ws
        .ticket_type(cx.param("ticket_type_id"))
        .ok_or_else(|| ApiError::not_found("not_found", "Resource Not Found"))?;
    ok(ticket_type_json(ws, t))
}

pub fn list_states(cx: &mut Cx) -> ApiResult {
    let w = cx.inner.world.read();
    let ws = &w.workspaces[cx.ws];
    let data: Vec<Value> = ws
        .ticket_states
        .iter()
        .map(|s| {
            let types: Vec<Value> = ws
                .ticket_types
                .iter()
                .filter(|t| t.state_ids.contains(&s.id))
                .map(|t| {
                    json!({ "type": "ticket_type", "id": t.id, "name": t.name,
                                 "category": t.category, "icon": t.icon })
                })
                .collect();
            let mut v = state_json(s);
            v["archived"] = json!(false);
            v["ticket_types"] = json!({ "type": "list", "data": types });
            v
        })
        .collect();
    ok(json!({ "type": "list", "data": data }))
}

fn check_attributes(tt: &TicketType, attrs: &Map<String, Value>, creating: bool) -> Result<(), ApiError> {
    let extra: Vec<&String> = attrs.keys().filter(|k| !tt.attributes.iter().any(|a| &a.name == *k)).collect();
    if !extra.is_empty() {
        return Err(ApiError::invalid(
            "ticket_attributes",
            format!(
                "Extra attributes provided that are not found on ticket type: {}",
                extra.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    if creating && tt.attributes.iter().any(|a| a.required_to_create && !attrs.contains_key(&a.name)) {
        return Err(ApiError::invalid("ticket_attributes", "Missing required ticket attributes"));
    }
    Ok(())
}

/// Build a ticket (not inserted). `state` must belong to the type.
pub fn create_ticket_record(
    ws: &mut Workspace,
    tt: &TicketType,
    contact_ids: Vec<String>,
    attrs: Map<String, Value>,
    state: Option<String>,
    created_at: i64,
    now: i64,
) -> Result<Ticket, ApiError> {
    check_attributes(tt, &attrs, true)?;
    let state = match state {
        Some(s) => {
            if !tt.state_ids.contains(&s) {
                return Err(ApiError::bad(
                    "ticket_state_id_invalid",
                    "Ticket state does not belong to the ticket type",
                )
                .with_field("ticket_state_id"));
            }
            s
        }
        None => tt.state_ids.first().cloned().unwrap_or_default(),
    };
    let id = ws.next_number();
    let number = ws.next_ticket_number;
    ws.next_ticket_number += 1;
    Ok(Ticket {
        id: id.to_string(),
        seq: ws.next_seq(),
        ticket_id: number.to_string(),
        ticket_type_id: tt.id.clone(),
        ticket_state_id: state,
        attributes: attrs,
        contact_ids,
        created_at,
        updated_at: now,
        open: true,
        indexed_at: now,
        ..Default::default()
    })
}

pub fn create(cx: &mut Cx) -> ApiResult {
    let b = cx.body.clone();
    let tt_id = id_str(b.get("ticket_type_id")).ok_or_else(|| ApiError::missing("ticket_type_id"))?;
    let contacts = b.get("contacts").and_then(Value::as_array).ok_or_else(|| ApiError::missing("contacts"))?;
    if contacts.len() != 1 {
        return Err(ApiError::invalid("contacts", "contacts must contain exactly one contact"));
    }
    let now = cx.now;
    let mut w = cx.inner.world.write();
    let ws = &mut w.workspaces[cx.ws];
    let tt = ws
        .ticket_type(&tt_id)
        .cloned()
        .ok_or_else(|| ApiError::invalid("ticket_type_id", "ticket_type_id is invalid"))?;
    let item = &contacts[0];
    let contact_id = if let Some(id) = id_str(item.get("id")) {
        find_contact(ws, &id)?.id.clone()
    } else if let Some(ext) = id_str(item.get("external_id")) {
        ws.contact_by_external_id(&ext).ok_or_else(user_not_found)?.id.clone()
    } else if let Some(email) = opt_str(item.get("email")) {
        match ws.contact_by_email(&email) {
            Some(c) => c.id.clone(),
            None => {
                let c = new_contact(cx, ws, Some(email), "user");
                let id = c.id.clone();
                ws.insert_contact(c);
                id
            }
        }
    } else {
        return Err(ApiError::missing("contacts.id"));
    };
    let attrs = b.get("ticket_attributes").and_then(Value::as_object).cloned().unwrap_or_default();
    let created_at = b.get("created_at").and_then(Value::as_i64).unwrap_or(now);
    let mut t = create_ticket_record(ws, &tt, vec![contact_id], attrs, None, created_at, now)?;
    if let Some(co) = id_str(b.get("company_id")) {
        if ws.company(&co).filter(|c| !c.archived).is_none() {
            return Err(super::companies::company_not_found());
        }
        t.company_id = Some(co);
    }
    if let Some(a) = b.get("assignment") {
        if let Some(admin) = id_str(a.get("admin_assignee_id")) {
            if ws.admin(&admin).is_none() {
                return Err(ApiError::not_found("assignee_not_found", "Assignee not found"));
            }
            t.admin_assignee_id = admin.parse().unwrap_or(0);
        }
        if let Some(team) = id_str(a.get("team_assignee_id")) {
            if ws.team(&team).is_none() {
                return Err(ApiError::not_found("assignee_not_found", "Assignee not found"));
            }
            t.team_assignee_id = team.parse().unwrap_or(0);
        }
    }
    if let Some(conv) = id_str(b.get("conversation_to_link_id")) {
        let c = ws.conversation_mut(&conv).ok_or_else(|| ApiError::not_found("not_found", "Conversation not found"))?;
        c.linked_ticket_ids.push(t.id.clone());
        t.linked_conversation_ids.push(conv);
    }
    let out = ticket_json(ws, &t);
    ws.tickets.insert(t.id.parse().unwrap_or(0), t);
    cx.inner.mark_dirty();
    ok(out)
}

pub fn get(cx: &mut Cx) -> ApiResult {
    let w = cx.inner.world.read();
    let ws = &w.workspaces[cx.ws];
    let t = ws.ticket(cx.param("ticket_id")).ok_or_else(ticket_not_found)?;
    ok(ticket_json(ws, t))
}

pub fn update(cx: &mut Cx) -> ApiResult {
    let b = cx.body.clone();
    let now = cx.now;
    let mut w = cx.inner.world.write();
    let ws = &mut w.workspaces[cx.ws];
    let id = cx.param("ticket_id").to_string();
    let mut t = ws.ticket(&id).cloned().ok_or_else(ticket_not_found)?;
    let tt = ws.ticket_type(&t.ticket_type_id).cloned().ok_or_else(ticket_not_found)?;
    let actor = match id_str(b.get("admin_id")) {
        Some(a) => {
            if ws.admin(&a).is_none() {
                return Err(ApiError::not_found("admin_not_found", "Admin not found"));
            }
            a
        }
        None => ws.me_admin_id.clone(),
    };
    if let Some(m) = b.get("ticket_attributes").and_then(Value::as_object) {
        check_attributes(&tt, m, false)?;
        for (k, v) in m {
            t.attributes.insert(k.clone(), v.clone());
        }
    }
    let resolved = tt.state_ids.iter().find(|s| ws.ticket_state(s).is_some_and(|x| x.category == "resolved")).cloned();
    let mut new_state = None;
    if let Some(s) = id_str(b.get("ticket_state_id")) {
        if !tt.state_ids.contains(&s) {
            return Err(ApiError::bad("ticket_state_id_invalid", "Ticket state does not belong to the ticket type")
                .with_field("ticket_state_id"));
        }
        new_state = Some(s);
    }
    if let Some(open) = b.get("open").and_then(Value::as_bool) {
        t.open = open;
        if !open {
            t.snoozed_until = None;
            if new_state.is_none() {
                new_state = resolved.clone();
            }
        }
    }
    if let Some(s) = new_state
        && s != t.ticket_state_id
    {
        let prev_cat = ws.ticket_state(&t.ticket_state_id).map(|x| x.category.clone());
        let cat = ws.ticket_state(&s).map(|x| x.category.clone());
        t.previous_ticket_state_id = Some(t.ticket_state_id.clone());
        t.ticket_state_id = s.clone();
        t.open = cat.as_deref() != Some("resolved") && b.get("open") != Some(&json!(false));
        let pid = ws.next_number().to_string();
        t.parts.push(Part {
            id: pid,
            part_type: "ticket_state_updated_by_admin".into(),
            body: None,
            created_at: now,
            author_type: "admin".into(),
            author_id: actor.clone(),
            assigned_to: None,
            state: format!("{}->{}", prev_cat.unwrap_or_default(), cat.unwrap_or_default()),
        });
    }
    if let Some(v) = b.get("is_shared").and_then(Value::as_bool) {
        t.is_shared = v;
    }
    if let Some(v) = b.get("snoozed_until") {
        t.snoozed_until = v.as_i64();
    }
    if let Some(co) = id_str(b.get("company_id")) {
        if ws.company(&co).filter(|c| !c.archived).is_none() {
            return Err(super::companies::company_not_found());
        }
        t.company_id = Some(co);
    }
    if let Some(a) = id_str(b.get("assignee_id")) {
        if a == "0" {
            t.admin_assignee_id = 0;
            t.team_assignee_id = 0;
        } else if ws.admin(&a).is_some() {
            t.admin_assignee_id = a.parse().unwrap_or(0);
        } else if ws.team(&a).is_some() {
            t.team_assignee_id = a.parse().unwrap_or(0);
        } else {
            return Err(ApiError::not_found("assignee_not_found", "Assignee not found"));
        }
    }
    t.updated_at = now;
    t.indexed_at = now;
    let out = ticket_json(ws, &t);
    *ws.ticket_mut(&id).ok_or_else(ticket_not_found)? = t;
    cx.inner.mark_dirty();
    ok(out)
}

pub fn delete(cx: &mut Cx) -> ApiResult {
    let mut w = cx.inner.world.write();
    let ws = &mut w.workspaces[cx.ws];
    let id = cx.param("ticket_id").to_string();
    let k: u64 = id.parse().map_err(|_| ticket_not_found())?;
    ws.tickets.remove(&k).ok_or_else(ticket_not_found)?;
    for c in ws.conversations.values_mut() {
        c.linked_ticket_ids.retain(|x| *x != id);
    }
    cx.inner.mark_dirty();
    ok(json!({ "id": id, "object": "ticket", "deleted": true }))
}

pub fn field_type(f: &str) -> Option<FType> {
    use FType::*;
    Some(match f {
        "id" | "title" | "description" | "category" | "ticket_type_id" | "state" | "ticket_state_id" | "ticket_id" => {
            Str
        }
        "contact_ids" | "teammate_ids" | "tag_ids" => Multi,
        "admin_assignee_id" | "team_assignee_id" => Int,
        "open" | "is_shared" => Bool,
        "created_at" | "updated_at" | "snoozed_until" => Date,
        f if f.starts_with("ticket_attribute.") || f.starts_with("ticket_attributes.") => Any,
        _ => return None,
    })
}

fn field_value(ws: &Workspace, t: &Ticket, f: &str) -> FVal {
    let attr = |k: &str| FVal::from_json(t.attributes.get(k));
    match f {
        "id" => FVal::Str(t.id.clone()),
        "ticket_id" => FVal::Str(t.ticket_id.clone()),
        "title" => attr("_default_title_"),
        "description" => attr("_default_description_"),
        "category" => FVal::opt_str(
            &ws.ticket_type(&t.ticket_type_id)
                .map(|x| x.category.to_lowercase().replace("back-office", "task").replace("customer", "request")),
        ),
        "ticket_type_id" => FVal::Str(t.ticket_type_id.clone()),
        "ticket_state_id" => FVal::Str(t.ticket_state_id.clone()),
        "state" => FVal::opt_str(&ws.ticket_state(&t.ticket_state_id).map(|s| s.category.clone())),
        "contact_ids" => FVal::List(t.contact_ids.clone()),
        "teammate_ids" => {
            FVal::List([t.admin_assignee_id].iter().filter(|x| **x != 0).map(|x| x.to_string()).collect())
        }
        "tag_ids" => FVal::List(t.tags.iter().map(|x| x.tag_id.clone()).collect()),
        "admin_assignee_id" => FVal::Int(t.admin_assignee_id),
        "team_assignee_id" => FVal::Int(t.team_assignee_id),
        "open" => FVal::Bool(t.open),
        "is_shared" => FVal::Bool(t.is_shared),
        "created_at" => FVal::Int(t.created_at),
        "updated_at" => FVal::Int(t.updated_at),
        "snoozed_until" => FVal::opt_int(t.snoozed_until),
        f => {
            let k = f.strip_prefix("ticket_attribute.").or_else(|| f.strip_prefix("ticket_attributes.")).unwrap_or("");
            // `ticket_attribute.{id}`: resolve the attribute id to its name.
            let name = ws
                .ticket_type(&t.ticket_type_id)
                .and_then(|tt| tt.attributes.iter().find(|a| a.id == k))
                .map(|a| a.name.clone())
                .unwrap_or_else(|| k.to_string());
            attr(&name)
        }
    }
}

search::searchable!(Ticket, "ticket.list", "tickets", tickets, ticket_json);

pub fn search(cx: &mut Cx) -> ApiResult {
    search::respond::<Ticket>(cx)
}
