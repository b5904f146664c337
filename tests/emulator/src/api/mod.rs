//! Operation handlers, dispatched by `operationId`.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::server::{ApiError, ApiResult, Cx, Reply};
use crate::spec::Operation;
use crate::state::Workspace;

pub mod admins;
pub mod companies;
pub mod contacts;
pub mod conversations;
pub mod events;
pub mod notes;
pub mod oauth;
pub mod tags;
pub mod tickets;

/// Operation ids this emulator implements (others answer 501 `not_implemented`).
pub const IMPLEMENTED: &[&str] = &[
    "identifyAdmin",
    "listAdmins",
    "retrieveAdmin",
    "listTeams",
    "retrieveTeam",
    "ListContacts",
    "CreateContact",
    "ShowContact",
    "UpdateContact",
    "DeleteContact",
    "SearchContacts",
    "ShowContactByExternalId",
    "ArchiveContact",
    "UnarchiveContact",
    "attachContactToACompany",
    "listCompaniesForAContact",
    "detachContactFromACompany",
    "listNotes",
    "createNote",
    "retrieveNote",
    "listTagsForAContact",
    "attachTagToContact",
    "detachTagFromContact",
    "createOrUpdateCompany",
    "retrieveCompany",
    "RetrieveACompanyById",
    "UpdateCompany",
    "deleteCompany",
    "ListAttachedContacts",
    "listAllCompanies",
    "scrollOverAllCompanies",
    "listTags",
    "createTag",
    "findTag",
    "deleteTag",
    "listConversations",
    "createConversation",
    "retrieveConversation",
    "updateConversation",
    "deleteConversation",
    "searchConversations",
    "replyConversation",
    "manageConversation",
    "convertConversationToTicket",
    "attachTagToConversation",
    "detachTagFromConversation",
    "createMessage",
    "listTicketTypes",
    "getTicketType",
    "listTicketStates",
    "createTicket",
    "getTicket",
    "updateTicket",
    "deleteTicket",
    "searchTickets",
    "attachTagToTicket",
    "detachTagFromTicket",
    "createDataEvent",
    "lisDataEvents",
    "MergeContact",
    "createCompanyNote",
    "listCompanyNotes",
    "listSegments",
    "listSegmentsForAContact",
    "ListAttachedSegmentsForCompanies",
    "listSubscriptionTypes",
    "listSubscriptionsForAContact",
    "listDeletedConversationIds",
];

/// The first API version that has an operation (older versions answer
/// 400 `intercom_version_invalid`), per ENDPOINTS.md.
pub fn min_version(operation_id: &str) -> Option<&'static str> {
    match operation_id {
        "deleteTicket" | "deleteConversation" | "ShowContactByExternalId" => Some("2.13"),
        "listDeletedConversationIds" => Some("2.16"),
        _ => None,
    }
}

/// Checks done before schema validation (error codes the schema would otherwise mask).
pub fn precheck(op: &Operation, body: &Value) -> Result<(), ApiError> {
    if op.operation_id == "SearchContacts"
        && let Some(order) = body.pointer("/sort/order")
    {
        let o = order.as_str().unwrap_or("");
        if o != "ascending" && o != "descending" {
            return Err(ApiError::bad(
                "invalid_sort_order",
                format!("Invalid sort order '{o}'. Must be one of: ascending, descending"),
            ));
        }
    }
    Ok(())
}

pub fn dispatch(op: &Operation, cx: &mut Cx) -> ApiResult {
    match op.operation_id.as_str() {
        "identifyAdmin" => admins::me(cx),
        "listAdmins" => admins::list_admins(cx),
        "retrieveAdmin" => admins::get_admin(cx),
        "listTeams" => admins::list_teams(cx),
        "retrieveTeam" => admins::get_team(cx),
        "ListContacts" => contacts::list(cx),
        "CreateContact" => contacts::create(cx),
        "ShowContact" => contacts::show(cx),
        "UpdateContact" => contacts::update(cx),
        "DeleteContact" => contacts::delete(cx),
        "SearchContacts" => contacts::search(cx),
        "ShowContactByExternalId" => contacts::by_external_id(cx),
        "ArchiveContact" => contacts::archive(cx, true),
        "UnarchiveContact" => contacts::archive(cx, false),
        "attachContactToACompany" => companies::attach(cx),
        "listCompaniesForAContact" => companies::list_for_contact(cx),
        "detachContactFromACompany" => companies::detach(cx),
        "listNotes" => notes::list(cx, notes::Owner::Contact),
        "createNote" => notes::create(cx, notes::Owner::Contact),
        "retrieveNote" => notes::get(cx),
        "listTagsForAContact" => tags::list_for_contact(cx),
        "attachTagToContact" => tags::tag_contact(cx),
        "detachTagFromContact" => tags::untag_contact(cx),
        "createOrUpdateCompany" => companies::create_or_update(cx),
        "retrieveCompany" => companies::retrieve(cx),
        "RetrieveACompanyById" => companies::get(cx),
        "UpdateCompany" => companies::update(cx),
        "deleteCompany" => companies::delete(cx),
        "ListAttachedContacts" => companies::contacts_of(cx),
        "listAllCompanies" => companies::list(cx),
        "scrollOverAllCompanies" => companies::scroll(cx),
        "listTags" => tags::list(cx),
        "createTag" => tags::create(cx),
        "findTag" => tags::find(cx),
        "deleteTag" => tags::delete(cx),
        "listConversations" => conversations::list(cx),
        "createConversation" => conversations::create(cx),
        "retrieveConversation" => conversations::get(cx),
        "updateConversation" => conversations::update(cx),
        "deleteConversation" => conversations::delete(cx),
        "searchConversations" => conversations::search(cx),
        "replyConversation" => conversations::reply(cx),
        "manageConversation" => conversations::manage(cx),
        "convertConversationToTicket" => conversations::convert(cx),
        "attachTagToConversation" => tags::tag_conversation(cx),
        "detachTagFromConversation" => tags::untag_conversation(cx),
        "createMessage" => conversations::create_message(cx),
        "listTicketTypes" => tickets::list_types(cx),
        "getTicketType" => tickets::get_type(cx),
        "listTicketStates" => tickets::list_states(cx),
        "createTicket" => tickets::create(cx),
        "getTicket" => tickets::get(cx),
        "updateTicket" => tickets::update(cx),
        "deleteTicket" => tickets::delete(cx),
        "searchTickets" => tickets::search(cx),
        "attachTagToTicket" => tags::tag_ticket(cx),
        "detachTagFromTicket" => tags::untag_ticket(cx),
        "createDataEvent" => events::create(cx),
        "lisDataEvents" => events::list(cx),
        "MergeContact" => contacts::merge_endpoint(cx),
        "listDeletedConversationIds" => conversations::list_deleted(cx),
        "createCompanyNote" => notes::create(cx, notes::Owner::Company),
        "listCompanyNotes" => notes::list(cx, notes::Owner::Company),
        "listSegments" => ok(json!({ "type": "segment.list", "segments": [], "pages": {} })),
        "listSegmentsForAContact" => {
            let w = cx.inner.world.read();
            contacts::find(&w.workspaces[cx.ws], cx.param("contact_id"))?;
            ok(json!({ "type": "list", "data": [] }))
        }
        "ListAttachedSegmentsForCompanies" => {
            let w = cx.inner.world.read();
            w.workspaces[cx.ws]
                .company(cx.param("company_id"))
                .filter(|c| !c.archived)
                .ok_or_else(companies::company_not_found)?;
            ok(json!({ "type": "list", "data": [] }))
        }
        "listSubscriptionTypes" => ok(json!({ "type": "list", "data": [] })),
        "listSubscriptionsForAContact" => {
            let w = cx.inner.world.read();
            contacts::find(&w.workspaces[cx.ws], cx.param("contact_id"))?;
            ok(json!({ "type": "list", "data": [] }))
        }
        other => Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "not_implemented",
            format!("The emulator does not implement {other} ({} {})", op.method, op.path),
        )),
    }
}

pub fn ok(v: Value) -> ApiResult {
    Ok(Reply::Json(StatusCode::OK, v))
}

/// A string from a JSON value that may be a string or a number (ids are opaque).
pub fn id_str(v: Option<&Value>) -> Option<String> {
    match v {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

pub fn opt_str(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::to_string)
}

/// The admin object (schema `admin`).
pub fn admin_json(ws: &Workspace, id: &str) -> Value {
    match ws.admin(id) {
        Some(a) => json!({
            "type": "admin",
            "id": a.id,
            "name": a.name,
            "email": a.email,
            "job_title": a.job_title,
            "away_mode_enabled": a.away_mode_enabled,
            "away_mode_reassign": false,
            "away_status_reason_id": null,
            "has_inbox_seat": true,
            "team_ids": a.team_ids,
            "avatar": null,
            "team_priority_level": {},
        }),
        None => json!({ "type": "admin", "id": id }),
    }
}
