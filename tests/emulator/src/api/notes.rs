//! Notes on contacts and (since 2.16) on companies: one store of notes with two kinds of owner.

use serde_json::{Value, json};

use super::{admin_json, companies, contacts, id_str, ok, opt_str};
use crate::server::{ApiError, ApiResult, Cx};
use crate::state::{Note, Workspace};

/// Whose notes a request is about.
#[derive(Clone, Copy)]
pub enum Owner {
    Contact,
    Company,
}

impl Owner {
    /// The path parameter naming the owner.
    fn param(self) -> &'static str {
        match self {
            Owner::Contact => "contact_id",
            Owner::Company => "company_id",
        }
    }

    /// Intercom's error for a missing (or merged, or archived) owner.
    fn check(self, ws: &Workspace, id: &str) -> Result<(), ApiError> {
        match self {
            Owner::Contact => contacts::find(ws, id).map(drop),
            Owner::Company => companies::live(ws, id).map(drop),
        }
    }

    fn owns(self, note: &Note, id: &str) -> bool {
        let owner = match self {
            Owner::Contact => &note.contact_id,
            Owner::Company => &note.company_id,
        };
        owner.as_deref() == Some(id)
    }

    /// A note as the owner's endpoints answer it: company notes also name their company.
    fn json(self, ws: &Workspace, note: &Note) -> Value {
        let mut out = note_json(ws, note);
        if let (Owner::Company, Some(id)) = (self, &note.company_id) {
            out["company"] = json!({ "type": "company", "id": id });
        }
        out
    }
}

pub fn note_json(ws: &Workspace, n: &Note) -> Value {
    json!({
        "type": "note",
        "id": n.id,
        "created_at": n.created_at,
        "contact": n.contact_id.as_ref().map(|id| json!({ "type": "contact", "id": id })),
        "author": n.author_id.as_ref().map(|a| admin_json(ws, a)),
        "body": n.body,
    })
}

/// `POST /contacts/{contact_id}/notes`, `POST /companies/{company_id}/notes`.
pub fn create(cx: &mut Cx, owner: Owner) -> ApiResult {
    let body = opt_str(cx.body.get("body")).ok_or_else(|| ApiError::missing("body"))?;
    let mut w = cx.inner.world.write();
    let ws = &mut w.workspaces[cx.ws];
    let id = cx.param(owner.param()).to_string();
    owner.check(ws, &id)?;
    let author = id_str(cx.body.get("admin_id")).unwrap_or_else(|| ws.me_admin_id.clone());
    if ws.admin(&author).is_none() {
        return Err(ApiError::not_found("admin_not_found", "Admin not found"));
    }
    let num = ws.next_number();
    let (contact_id, company_id) = match owner {
        Owner::Contact => (Some(id.clone()), None),
        Owner::Company => (None, Some(id.clone())),
    };
    let n = Note {
        id: num.to_string(),
        contact_id,
        company_id,
        author_id: Some(author),
        body: if body.trim_start().starts_with('<') { body } else { format!("<p>{body}</p>") },
        created_at: cx.now,
    };
    let out = owner.json(ws, &n);
    ws.notes.insert(num, n);
    let updated_at = match owner {
        Owner::Contact => ws.contact_mut(&id).map(|c| &mut c.updated_at),
        Owner::Company => ws.company_mut(&id).map(|c| &mut c.updated_at),
    };
    if let Some(updated_at) = updated_at {
        *updated_at = cx.now;
    }
    cx.inner.mark_dirty();
    ok(out)
}

/// `GET /contacts/{contact_id}/notes`, `GET /companies/{company_id}/notes`: newest first, one page.
pub fn list(cx: &mut Cx, owner: Owner) -> ApiResult {
    let w = cx.inner.world.read();
    let ws = &w.workspaces[cx.ws];
    let id = cx.param(owner.param());
    owner.check(ws, id)?;
    let mut data: Vec<Value> = ws.notes.values().filter(|n| owner.owns(n, id)).map(|n| owner.json(ws, n)).collect();
    data.reverse();
    let n = data.len();
    ok(json!({
        "type": "list",
        "data": data,
        "total_count": n,
        "pages": { "type": "pages", "page": 1, "per_page": n.max(1), "total_pages": 1 },
    }))
}

/// `GET /notes/{note_id}`.
pub fn get(cx: &mut Cx) -> ApiResult {
    let w = cx.inner.world.read();
    let ws = &w.workspaces[cx.ws];
    let n = cx
        .param("note_id")
        .parse::<u64>()
        .ok()
        .and_then(|k| ws.notes.get(&k))
        .ok_or_else(|| ApiError::not_found("not_found", "Resource Not Found"))?;
    ok(note_json(ws, n))
}
