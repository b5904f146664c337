//! Turning what a user knows (a company's own `company_id` or name, a tag's name) into the Intercom
//! object or id an endpoint needs, with "not found" errors that say what was looked for.

use crate::error::{invalid_input, not_found};
use crate::intercom::{self, segment};
use crate::{Error, input, log};
use serde_json::{Value, json};

/// `GET /companies/{id}` by the company's Intercom id.
pub fn company_by_id(id: &str) -> Result<Value, Error> {
    intercom::get(format!("/companies/{}", segment(id)))
        .send()
        .map_err(|e| rename_not_found(e, format!("no company has the Intercom id {id}")))
}

/// `GET /companies?company_id=…`: the company your own system calls `company_id`.
pub fn company_by_company_id(company_id: &str) -> Result<Value, Error> {
    company_query("company_id", company_id)
}

/// `GET /companies?name=…`. Names are not unique: when several match, the most recently updated wins.
pub fn company_by_name(name: &str) -> Result<Value, Error> {
    company_query("name", name)
}

/// The query form answers a list wrapper (`{"type":"list","data":[…]}`), or 404 when nothing matches.
fn company_query(key: &str, value: &str) -> Result<Value, Error> {
    let answer = intercom::get("/companies")
        .query(key, value)
        .send()
        .map_err(|e| rename_not_found(e, format!("no company has the {key} {value:?}")))?;
    let items = answer.get("data").and_then(Value::as_array).cloned().unwrap_or_default();
    if items.len() > 1 {
        log::info(&format!("{} companies have the {key} {value:?}; using the most recently updated", items.len()));
    }
    let updated = |c: &Value| c.get("updated_at").and_then(Value::as_i64).unwrap_or(0);
    items.into_iter().max_by_key(updated).ok_or_else(|| not_found(format!("no company has the {key} {value:?}")))
}

/// The Intercom id of a company given either by that id (used as is, no request) or by its
/// `company_id` (looked up). `fields` names the two inputs, for errors.
pub fn company_intercom_id(id: Option<&str>, company_id: Option<&str>, fields: (&str, &str)) -> Result<String, Error> {
    let by = input::exactly_one(&[(fields.0, id.is_some()), (fields.1, company_id.is_some())])?;
    if by == fields.0 {
        return Ok(input::non_empty(fields.0, id.unwrap_or_default())?.to_string());
    }
    let company = company_by_company_id(input::non_empty(fields.1, company_id.unwrap_or_default())?)?;
    match company.get("id") {
        Some(Value::String(id)) => Ok(id.clone()),
        Some(Value::Number(id)) => Ok(id.to_string()),
        _ => Err(crate::error::internal("Intercom answered a company without an id")),
    }
}

/// A tag as the tagging endpoints need it: its id, and its name (company tagging goes by name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagRef {
    pub id: String,
    pub name: Option<String>,
}

/// All the workspace's tags (`GET /tags`, unpaginated).
pub fn all_tags() -> Result<Vec<Value>, Error> {
    let answer = intercom::get("/tags").send()?;
    Ok(answer.get("data").and_then(Value::as_array).cloned().unwrap_or_default())
}

fn text(value: &Value, key: &str) -> Option<String> {
    match value.get(key) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

/// Resolves tags given by id and by name (names match case-insensitively, as in Intercom).
/// A name with no tag is created when `create_missing` is `Some(true)`, else it is a not-found
/// error (which suggests `create_missing` when it is `Some(false)`, an option the user has); an id
/// that is not a tag is a not-found error. `need_names` looks ids up too (company tagging needs the
/// name); without it, ids and no names means no request at all. Duplicates are dropped.
pub fn tags(
    ids: &[String],
    names: &[String],
    create_missing: Option<bool>,
    need_names: bool,
) -> Result<Vec<TagRef>, Error> {
    check_tags(ids, names)?;
    let existing = if need_names || !names.is_empty() { all_tags()? } else { Vec::new() };
    let mut resolved: Vec<TagRef> = Vec::new();
    for id in ids {
        let id = id.trim();
        let tag = if need_names {
            let found = existing.iter().find(|t| text(t, "id").as_deref() == Some(id));
            let found = found.ok_or_else(|| not_found(format!("there is no tag with the id {id}")))?;
            TagRef { id: id.to_string(), name: text(found, "name") }
        } else {
            TagRef { id: id.to_string(), name: None }
        };
        resolved.push(tag);
    }
    for name in names {
        let name = name.trim();
        let found = existing.iter().find(|t| text(t, "name").is_some_and(|n| n.eq_ignore_ascii_case(name)));
        let tag = match found {
            Some(tag) => tag.clone(),
            None if create_missing == Some(true) => create_tag(name, None)?,
            None if create_missing == Some(false) => {
                return Err(not_found(format!(
                    "there is no tag named {name:?}; create it first, or set `create_missing` to create missing tags"
                )));
            }
            None => return Err(not_found(format!("there is no tag named {name:?}"))),
        };
        let id = text(&tag, "id").ok_or_else(|| crate::error::internal("Intercom answered a tag without an id"))?;
        resolved.push(TagRef { id, name: text(&tag, "name") });
    }
    let mut seen = std::collections::HashSet::new();
    resolved.retain(|t| seen.insert(t.id.clone()));
    Ok(resolved)
}

/// Checks tag inputs before any request: at least one tag, none blank.
pub fn check_tags(ids: &[String], names: &[String]) -> Result<(), Error> {
    for (i, id) in ids.iter().enumerate() {
        input::non_empty(&format!("tag_ids.{i}"), id)?;
    }
    for (i, name) in names.iter().enumerate() {
        input::non_empty(&format!("tag_names.{i}"), name)?;
    }
    if ids.is_empty() && names.is_empty() {
        return Err(invalid_input("tag_ids", "give at least one tag, by id (`tag_ids`) or by name (`tag_names`)"));
    }
    Ok(())
}

/// `POST /tags {name}`: creates the tag, or answers the existing one with that name (case-insensitive).
/// With `id`, renames that tag to `name`.
pub fn create_tag(name: &str, id: Option<&str>) -> Result<Value, Error> {
    let mut body = json!({ "name": name });
    if let Some(id) = id {
        body["id"] = json!(id);
    }
    intercom::post("/tags", &body).send()
}

/// Replaces Intercom's terse "Resource Not Found" with what was looked for, keeping its code.
fn rename_not_found(error: Error, message: String) -> Error {
    match error {
        Error::NotFound(intercom_says) => not_found(format!("{message} (Intercom: {intercom_says})")),
        other => other,
    }
}
