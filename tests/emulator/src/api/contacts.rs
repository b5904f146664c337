//! Contacts, contact notes, merge.

use axum::http::{StatusCode, header};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::{id_str, ok, opt_str};
use crate::search::{self, DateMode, FType, FVal, SortKey};
use crate::server::{ApiError, ApiResult, Cx, Reply};
use crate::state::{Contact, Workspace};

pub fn user_not_found() -> ApiError {
    ApiError::not_found("not_found", "User Not Found")
}

fn merged_error(canonical: &str) -> ApiError {
    let mut e =
        ApiError::new(StatusCode::GONE, "contact_merged", format!("Contact has been merged into contact {canonical}"));
    e.headers.push((header::LINK, format!("</contacts/{canonical}>; rel=\"canonical\"")));
    e
}

/// Follow the merge chain to the surviving contact id.
fn canonical_id(ws: &Workspace, id: &str) -> String {
    let mut cur = id.to_string();
    for _ in 0..16 {
        match ws.contact(&cur).and_then(|c| c.merged_into.clone()) {
            Some(next) => cur = next,
            None => break,
        }
    }
    cur
}

/// Look a contact up by id: 404 if unknown, 410 with a canonical link if merged.
pub fn find<'a>(ws: &'a Workspace, id: &str) -> Result<&'a Contact, ApiError> {
    let c = ws.contact(id).ok_or_else(user_not_found)?;
    if c.merged_into.is_some() {
        return Err(merged_error(&canonical_id(ws, id)));
    }
    Ok(c)
}

pub fn find_mut<'a>(ws: &'a mut Workspace, id: &str) -> Result<&'a mut Contact, ApiError> {
    find(ws, id)?;
    ws.contact_mut(id).ok_or_else(user_not_found)
}

pub fn merge(ws: &mut Workspace, from: &str, into: &str, now: i64) -> anyhow::Result<()> {
    anyhow::ensure!(from != into, "cannot merge a contact into itself");
    let role = ws.contact(from).map(|c| c.role.clone()).ok_or_else(|| anyhow::anyhow!("unknown contact {from}"))?;
    anyhow::ensure!(ws.contact(into).is_some(), "unknown contact {into}");
    if let Some(c) = ws.contact_mut(from) {
        c.merged_into = Some(into.to_string());
        c.updated_at = now;
    }
    if let Some(c) = ws.contact_mut(into) {
        c.merge_history.push((from.to_string(), role, now));
        c.updated_at = now;
        c.indexed_at = now;
    }
    Ok(())
}

fn domain(email: &Option<String>) -> String {
    email.as_deref().and_then(|e| e.split_once('@')).map(|(_, d)| d.to_string()).unwrap_or_default()
}

#[derive(Serialize)]
struct Addressable {
    #[serde(rename = "type")]
    kind: &'static str,
    id: String,
    url: String,
}

#[derive(Serialize)]
struct AddrList {
    #[serde(rename = "type")]
    kind: &'static str,
    data: Vec<Addressable>,
    url: String,
    total_count: usize,
    has_more: bool,
}

#[derive(Serialize)]
struct AvatarOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    image_url: &'a str,
}

#[derive(Serialize)]
struct LocationOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    country: Option<&'a str>,
    region: Option<&'a str>,
    city: Option<&'a str>,
}

#[derive(Serialize)]
struct MergeItem<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    source_contact_id: &'a str,
    source_contact_role: &'a str,
    merged_at: i64,
}

#[derive(Serialize)]
struct EmptyList {
    #[serde(rename = "type")]
    kind: &'static str,
    data: [(); 0],
}

/// A contact in the `contact` schema shape, serialized without building a `Value`.
#[derive(Serialize)]
pub struct ContactOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a str,
    workspace_id: &'a str,
    external_id: Option<&'a str>,
    role: &'a str,
    email: &'a str,
    email_domain: String,
    phone: Option<&'a str>,
    name: Option<&'a str>,
    owner_id: Option<&'a str>,
    has_hard_bounced: bool,
    marked_email_as_spam: bool,
    unsubscribed_from_emails: bool,
    created_at: i64,
    updated_at: i64,
    signed_up_at: Option<i64>,
    last_seen_at: Option<i64>,
    last_replied_at: Option<i64>,
    last_contacted_at: Option<i64>,
    last_email_opened_at: Option<i64>,
    last_email_clicked_at: Option<i64>,
    language_override: Option<&'a str>,
    browser: Option<&'a str>,
    browser_version: Option<&'a str>,
    browser_language: Option<&'a str>,
    os: Option<&'a str>,
    android_app_name: Option<&'a str>,
    android_app_version: Option<&'a str>,
    android_device: Option<&'a str>,
    android_os_version: Option<&'a str>,
    android_sdk_version: Option<&'a str>,
    android_last_seen_at: Option<i64>,
    ios_app_name: Option<&'a str>,
    ios_app_version: Option<&'a str>,
    ios_device: Option<&'a str>,
    ios_os_version: Option<&'a str>,
    ios_sdk_version: Option<&'a str>,
    ios_last_seen_at: Option<i64>,
    custom_attributes: &'a Map<String, Value>,
    avatar: Option<AvatarOut<'a>>,
    tags: AddrList,
    notes: AddrList,
    companies: AddrList,
    location: LocationOut<'a>,
    social_profiles: EmptyList,
    enabled_push_messaging: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    merge_history: Option<Vec<MergeItem<'a>>>,
}

pub fn contact_out<'a>(ws: &'a Workspace, c: &'a Contact, merge_history: bool) -> ContactOut<'a> {
    let list = |data: Vec<Addressable>, what: &str| AddrList {
        kind: "list",
        total_count: data.len(),
        data,
        url: format!("/contacts/{}/{what}", c.id),
        has_more: false,
    };
    let tags = c
        .tags
        .iter()
        .map(|t| Addressable { kind: "tag", id: t.tag_id.clone(), url: format!("/tags/{}", t.tag_id) })
        .collect();
    let notes = ws
        .notes
        .values()
        .filter(|n| n.contact_id.as_deref() == Some(c.id.as_str()))
        .map(|n| Addressable { kind: "note", id: n.id.clone(), url: format!("/notes/{}", n.id) })
        .collect();
    let companies = c
        .company_ids
        .iter()
        .map(|id| Addressable { kind: "company", id: id.clone(), url: format!("/companies/{id}") })
        .collect();
    ContactOut {
        kind: "contact",
        id: &c.id,
        workspace_id: &ws.id_code,
        external_id: c.external_id.as_deref(),
        role: &c.role,
        email: c.email.as_deref().unwrap_or(""),
        email_domain: domain(&c.email),
        phone: c.phone.as_deref(),
        name: c.name.as_deref(),
        owner_id: c.owner_id.as_deref(),
        has_hard_bounced: c.has_hard_bounced,
        marked_email_as_spam: c.marked_email_as_spam,
        unsubscribed_from_emails: c.unsubscribed_from_emails,
        created_at: c.created_at,
        updated_at: c.updated_at,
        signed_up_at: c.signed_up_at,
        last_seen_at: c.last_seen_at,
        last_replied_at: c.last_replied_at,
        last_contacted_at: c.last_contacted_at,
        last_email_opened_at: c.last_email_opened_at,
        last_email_clicked_at: c.last_email_clicked_at,
        language_override: c.language_override.as_deref(),
        browser: c.browser.as_deref(),
        browser_version: c.browser_version.as_deref(),
        browser_language: c.browser_language.as_deref(),
        os: c.os.as_deref(),
        android_app_name: None,
        android_app_version: None,
        android_device: None,
        android_os_version: None,
        android_sdk_version: None,
        android_last_seen_at: None,
        ios_app_name: None,
        ios_app_version: None,
        ios_device: None,
        ios_os_version: None,
        ios_sdk_version: None,
        ios_last_seen_at: None,
        custom_attributes: &c.custom_attributes,
        avatar: c.avatar.as_deref().map(|u| AvatarOut { kind: "avatar", image_url: u }),
        tags: list(tags, "tags"),
        notes: list(notes, "notes"),
        companies: list(companies, "companies"),
        location: LocationOut {
            kind: "location",
            country: c.location.country.as_deref(),
            region: c.location.region.as_deref(),
            city: c.location.city.as_deref(),
        },
        social_profiles: EmptyList { kind: "list", data: [] },
        enabled_push_messaging: None,
        merge_history: (merge_history && c.role == "user").then(|| {
            c.merge_history
                .iter()
                .map(|(id, role, at)| MergeItem {
                    kind: "merge_history",
                    source_contact_id: id,
                    source_contact_role: role,
                    merged_at: *at,
                })
                .collect()
        }),
    }
}

/// A contact in the `contact` schema shape.
pub fn contact_json(ws: &Workspace, c: &Contact, merge_history: bool) -> Value {
    serde_json::to_value(contact_out(ws, c, merge_history)).unwrap_or(Value::Null)
}

/// Serialize straight to bytes (the hot GET path).
fn raw<T: Serialize>(v: &T) -> ApiResult {
    Ok(Reply::Raw(StatusCode::OK, serde_json::to_vec(v).unwrap_or_default()))
}

#[derive(Serialize)]
struct ContactListOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    data: Vec<ContactOut<'a>>,
    total_count: usize,
    pages: Value,
}

fn want_merge_history(cx: &Cx) -> bool {
    cx.q("include_merge_history") == Some("true")
}

fn conflict(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "conflict",
        format!("A contact matching those details already exists with id={id}"),
    )
}

fn check_unique(ws: &Workspace, me: Option<&str>, c: &Contact) -> Result<(), ApiError> {
    for other in ws.contacts.values() {
        if Some(other.id.as_str()) == me || other.merged_into.is_some() {
            continue;
        }
        if let (Some(a), Some(b)) = (&c.email, &other.email)
            && a.eq_ignore_ascii_case(b)
        {
            return Err(conflict(&other.id));
        }
        if let (Some(a), Some(b)) = (&c.external_id, &other.external_id)
            && a == b
        {
            return Err(conflict(&other.id));
        }
    }
    Ok(())
}

/// Apply the writable fields of a create/update body.
fn apply(ws: &Workspace, c: &mut Contact, b: &Value) -> Result<(), ApiError> {
    let Some(obj) = b.as_object() else {
        return Ok(());
    };
    if obj.contains_key("email_verified") && !obj.contains_key("email") {
        return Err(ApiError::invalid("email_verified", "email_verified must be supplied together with email"));
    }
    for (k, v) in obj {
        match k.as_str() {
            "role" => {
                let r = v.as_str().unwrap_or("");
                if r != "user" && r != "lead" {
                    return Err(ApiError::invalid("role", "role must be either user or lead"));
                }
                c.role = r.to_string();
            }
            "external_id" => c.external_id = id_str(Some(v)),
            "email" => c.email = opt_str(Some(v)).map(|e| e.trim().to_string()),
            "email_verified" => c.email_verified = v.as_bool(),
            "phone" => c.phone = opt_str(Some(v)),
            "name" => c.name = opt_str(Some(v)),
            "avatar" => c.avatar = opt_str(Some(v)),
            "signed_up_at" => c.signed_up_at = v.as_i64(),
            "last_seen_at" => c.last_seen_at = v.as_i64(),
            "owner_id" => {
                c.owner_id = id_str(Some(v));
                if let Some(o) = &c.owner_id
                    && ws.admin(o).is_none()
                {
                    return Err(ApiError::invalid("owner_id", "owner_id must be a valid admin id"));
                }
            }
            "unsubscribed_from_emails" => c.unsubscribed_from_emails = v.as_bool().unwrap_or(false),
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
    Ok(())
}

pub fn create(cx: &mut Cx) -> ApiResult {
    let b = &cx.body;
    if b.get("email").is_none() && b.get("external_id").is_none() && b.get("role").is_none() {
        return Err(ApiError::missing("email"));
    }
    let mut w = cx.inner.world.write();
    let ws = &mut w.workspaces[cx.ws];
    let mut c = Contact {
        id: cx.inner.hex_id(),
        role: "user".into(),
        created_at: cx.now,
        updated_at: cx.now,
        indexed_at: cx.now,
        ..Default::default()
    };
    apply(ws, &mut c, b)?;
    check_unique(ws, None, &c)?;
    c.seq = ws.next_seq();
    let out = contact_json(ws, &c, false);
    ws.insert_contact(c);
    cx.inner.mark_dirty();
    ok(out)
}

pub fn show(cx: &mut Cx) -> ApiResult {
    let w = cx.inner.world.read();
    let ws = &w.workspaces[cx.ws];
    let c = find(ws, cx.param("contact_id"))?;
    raw(&contact_out(ws, c, want_merge_history(cx)))
}

pub fn by_external_id(cx: &mut Cx) -> ApiResult {
    let w = cx.inner.world.read();
    let ws = &w.workspaces[cx.ws];
    let ext = cx.param("external_id");
    let c = ws
        .contacts
        .values()
        .find(|c| c.role == "user" && c.external_id.as_deref() == Some(ext))
        .ok_or_else(user_not_found)?;
    let c = find(ws, &c.id.clone())?;
    raw(&contact_out(ws, c, want_merge_history(cx)))
}

pub fn update(cx: &mut Cx) -> ApiResult {
    let mut w = cx.inner.world.write();
    let ws = &mut w.workspaces[cx.ws];
    let id = cx.param("contact_id").to_string();
    let mut c = find(ws, &id)?.clone();
    apply(ws, &mut c, &cx.body)?;
    check_unique(ws, Some(&id), &c)?;
    c.updated_at = cx.now;
    c.indexed_at = cx.now;
    let out = contact_json(ws, &c, want_merge_history(cx));
    *ws.contact_mut(&id).ok_or_else(user_not_found)? = c;
    cx.inner.mark_dirty();
    ok(out)
}

pub fn delete(cx: &mut Cx) -> ApiResult {
    let mut w = cx.inner.world.write();
    let ws = &mut w.workspaces[cx.ws];
    let id = cx.param("contact_id").to_string();
    find(ws, &id)?;
    let c = ws.remove_contact(&id).ok_or_else(user_not_found)?;
    ws.notes.retain(|_, n| n.contact_id.as_deref() != Some(id.as_str()));
    cx.inner.mark_dirty();
    ok(json!({ "type": "contact", "id": c.id, "external_id": c.external_id, "deleted": true }))
}

pub fn archive(cx: &mut Cx, archived: bool) -> ApiResult {
    let mut w = cx.inner.world.write();
    let ws = &mut w.workspaces[cx.ws];
    let id = cx.param("contact_id").to_string();
    let now = cx.now;
    let c = find_mut(ws, &id)?;
    c.archived = archived;
    c.updated_at = now;
    c.indexed_at = now;
    let out = json!({ "type": "contact", "id": c.id, "external_id": c.external_id,
                      "archived": archived });
    cx.inner.mark_dirty();
    ok(out)
}

/// `GET /contacts?per_page&starting_after`: creation order, cursor-paginated.
pub fn list(cx: &mut Cx) -> ApiResult {
    let per_page = cx.q_int("per_page")?.unwrap_or(50);
    if !(1..=150).contains(&per_page) {
        return Err(ApiError::invalid("per_page", "per_page must be between 1 and 150"));
    }
    let after = cx.q("starting_after").map(str::to_string);
    let w = cx.inner.world.read();
    let ws = &w.workspaces[cx.ws];
    let items: Vec<(SortKey, u64, &Contact)> = ws
        .contacts
        .values()
        .filter(|c| c.merged_into.is_none() && !c.archived)
        .map(|c| (SortKey::Null, c.seq, c))
        .collect();
    let page = search::paginate(items, false, per_page as usize, after.as_deref())?;
    let mh = want_merge_history(cx);
    raw(&ContactListOut {
        kind: "list",
        data: page.items.iter().map(|c| contact_out(ws, c, mh)).collect(),
        total_count: page.total_count,
        pages: search::pages_json(&page),
    })
}

/// Searchable contact fields and their types.
pub fn field_type(f: &str) -> Option<FType> {
    use FType::*;
    Some(match f {
        "id"
        | "role"
        | "name"
        | "avatar"
        | "owner_id"
        | "email"
        | "email_domain"
        | "phone"
        | "formatted_phone"
        | "external_id"
        | "language_override"
        | "browser"
        | "browser_language"
        | "os"
        | "location.country"
        | "location.region"
        | "location.city"
        | "ios_app_version"
        | "ios_device"
        | "ios_app_device"
        | "ios_os_version"
        | "ios_app_name"
        | "ios_sdk_version"
        | "android_app_version"
        | "android_device"
        | "android_app_name"
        | "andoid_sdk_version"
        | "android_sdk_version"
        | "segment_id"
        | "company_id"
        | "company_ids" => Str,
        "created_at"
        | "signed_up_at"
        | "updated_at"
        | "last_seen_at"
        | "last_contacted_at"
        | "last_replied_at"
        | "last_email_opened_at"
        | "last_email_clicked_at"
        | "ios_last_seen_at"
        | "android_last_seen_at" => Date,
        "unsubscribed_from_emails" | "marked_email_as_spam" | "has_hard_bounced" => Bool,
        "tag_id" => TagId,
        f if f.starts_with("custom_attributes.") => Any,
        _ => return None,
    })
}

pub fn field_value(c: &Contact, f: &str) -> FVal {
    match f {
        "id" => FVal::Str(c.id.clone()),
        "role" => FVal::Str(c.role.clone()),
        "name" => FVal::opt_str(&c.name),
        "avatar" => FVal::opt_str(&c.avatar),
        "owner_id" => FVal::opt_str(&c.owner_id),
        "email" => FVal::opt_str(&c.email),
        "email_domain" => {
            let d = domain(&c.email);
            if d.is_empty() { FVal::Null } else { FVal::Str(d) }
        }
        "phone" | "formatted_phone" => FVal::opt_str(&c.phone),
        "external_id" => FVal::opt_str(&c.external_id),
        "language_override" => FVal::opt_str(&c.language_override),
        "browser" => FVal::opt_str(&c.browser),
        "browser_language" => FVal::opt_str(&c.browser_language),
        "os" => FVal::opt_str(&c.os),
        "location.country" => FVal::opt_str(&c.location.country),
        "location.region" => FVal::opt_str(&c.location.region),
        "location.city" => FVal::opt_str(&c.location.city),
        "created_at" => FVal::Int(c.created_at),
        "updated_at" => FVal::Int(c.updated_at),
        "signed_up_at" => FVal::opt_int(c.signed_up_at),
        "last_seen_at" => FVal::opt_int(c.last_seen_at),
        "last_contacted_at" => FVal::opt_int(c.last_contacted_at),
        "last_replied_at" => FVal::opt_int(c.last_replied_at),
        "last_email_opened_at" => FVal::opt_int(c.last_email_opened_at),
        "last_email_clicked_at" => FVal::opt_int(c.last_email_clicked_at),
        "unsubscribed_from_emails" => FVal::Bool(c.unsubscribed_from_emails),
        "marked_email_as_spam" => FVal::Bool(c.marked_email_as_spam),
        "has_hard_bounced" => FVal::Bool(c.has_hard_bounced),
        "tag_id" => FVal::List(c.tags.iter().map(|t| t.tag_id.clone()).collect()),
        "company_id" | "company_ids" => FVal::List(c.company_ids.clone()),
        f => match f.strip_prefix("custom_attributes.") {
            Some(k) => FVal::from_json(c.custom_attributes.get(k)),
            None => FVal::Null,
        },
    }
}

pub fn search(cx: &mut Cx) -> ApiResult {
    let q = cx.body.get("query").ok_or_else(|| ApiError::missing("query"))?;
    let node = search::parse(q, &field_type, DateMode::Day)?;
    let (per_page, after) = search::pagination(&cx.body, 50)?;
    let (sort_field, desc) = match cx.body.get("sort") {
        Some(s) => {
            let field = s.get("field").and_then(Value::as_str).unwrap_or("created_at");
            if field_type(field).is_none() {
                return Err(ApiError::invalid("sort.field", format!("'{field}' is not a sortable field")));
            }
            let order = s.get("order").and_then(Value::as_str).unwrap_or("descending");
            if order != "ascending" && order != "descending" {
                return Err(ApiError::bad(
                    "invalid_sort_order",
                    format!("Invalid sort order '{order}'. Must be one of: ascending, descending"),
                ));
            }
            (Some(field.to_string()), order == "descending")
        }
        None => (None, false),
    };
    let lag = cx.inner.faults.read().search_lag_secs;
    let now = cx.now;
    let w = cx.inner.world.read();
    let ws = &w.workspaces[cx.ws];
    let items: Vec<(SortKey, u64, &Contact)> = ws
        .contacts
        .values()
        .filter(|c| c.merged_into.is_none() && !c.archived)
        .filter(|c| lag <= 0 || now >= c.indexed_at + lag)
        .filter(|c| search::eval(&node, &|f| field_value(c, f), DateMode::Day))
        .map(|c| {
            let key = match &sort_field {
                Some(f) => SortKey::from(field_value(c, f)),
                None => SortKey::Null,
            };
            (key, c.seq, c)
        })
        .collect();
    let page = search::paginate(items, desc, per_page, after.as_deref())?;
    let mh = want_merge_history(cx);
    raw(&ContactListOut {
        kind: "list",
        data: page.items.iter().map(|c| contact_out(ws, c, mh)).collect(),
        total_count: page.total_count,
        pages: search::pages_json(&page),
    })
}

/// Build a minimal contact (used when tickets/events create contacts on the fly).
pub fn new_contact(cx: &Cx, ws: &mut Workspace, email: Option<String>, role: &str) -> Contact {
    Contact {
        id: cx.inner.hex_id(),
        seq: ws.next_seq(),
        role: role.to_string(),
        email,
        created_at: cx.now,
        updated_at: cx.now,
        indexed_at: cx.now,
        custom_attributes: Map::new(),
        ..Default::default()
    }
}

/// `POST /contacts/merge`: merge a lead (`from`) into a user (`into`).
pub fn merge_endpoint(cx: &mut Cx) -> ApiResult {
    let from = id_str(cx.body.get("from")).ok_or_else(|| ApiError::missing("from"))?;
    let into = id_str(cx.body.get("into")).ok_or_else(|| ApiError::missing("into"))?;
    let mut w = cx.inner.world.write();
    let ws = &mut w.workspaces[cx.ws];
    let f = find(ws, &from)?;
    if f.role != "lead" {
        return Err(ApiError::invalid("from", "from must be a contact with the lead role"));
    }
    let i = find(ws, &into)?;
    if i.role != "user" {
        return Err(ApiError::invalid("into", "into must be a contact with the user role"));
    }
    merge(ws, &from, &into, cx.now).map_err(|e| ApiError::invalid("from", e.to_string()))?;
    let c = ws.contact(&into).cloned().ok_or_else(user_not_found)?;
    cx.inner.mark_dirty();
    ok(contact_json(ws, &c, want_merge_history(cx)))
}
