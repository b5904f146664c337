//! `/me`, admins and teams.

use serde_json::{Value, json};

use super::{admin_json, ok};
use crate::server::{ApiError, ApiResult, Cx};

pub fn me(cx: &mut Cx) -> ApiResult {
    let w = cx.inner.world.read();
    let ws = &w.workspaces[cx.ws];
    let a = ws.admin(&ws.me_admin_id).ok_or_else(|| ApiError::not_found("admin_not_found", "Admin not found"))?;
    ok(json!({
        "type": "admin",
        "id": a.id,
        "email": a.email,
        "name": a.name,
        "email_verified": true,
        "app": {
            "type": "app",
            "id_code": ws.id_code,
            "name": ws.name,
            "created_at": ws.created_at,
            "secure": false,
            "identity_verification": false,
            "timezone": ws.timezone,
            "region": ws.region,
        },
        "avatar": {
            "type": "avatar",
            "image_url": "https://static.intercomassets.com/assets/default-avatars/admins/128.png",
        },
        "has_inbox_seat": true,
    }))
}

pub fn list_admins(cx: &mut Cx) -> ApiResult {
    let w = cx.inner.world.read();
    let ws = &w.workspaces[cx.ws];
    let admins: Vec<Value> = ws.admins.iter().map(|a| admin_json(ws, &a.id)).collect();
    ok(json!({ "type": "admin.list", "admins": admins }))
}

pub fn get_admin(cx: &mut Cx) -> ApiResult {
    let w = cx.inner.world.read();
    let ws = &w.workspaces[cx.ws];
    let id = cx.param("admin_id");
    if ws.admin(id).is_none() {
        return Err(ApiError::not_found("admin_not_found", "Admin not found"));
    }
    ok(admin_json(ws, id))
}

fn team_json(t: &crate::state::Team) -> Value {
    json!({
        "type": "team",
        "id": t.id,
        "name": t.name,
        "admin_ids": t.admin_ids,
        "admin_priority_level": { "primary_admin_ids": t.admin_ids, "secondary_admin_ids": [] },
        "assignment_limit": null,
        "distribution_method": "round_robin",
    })
}

pub fn list_teams(cx: &mut Cx) -> ApiResult {
    let w = cx.inner.world.read();
    let ws = &w.workspaces[cx.ws];
    let teams: Vec<Value> = ws.teams.iter().map(team_json).collect();
    ok(json!({ "type": "team.list", "teams": teams }))
}

pub fn get_team(cx: &mut Cx) -> ApiResult {
    let w = cx.inner.world.read();
    let ws = &w.workspaces[cx.ws];
    let t = ws.team(cx.param("team_id")).ok_or_else(|| ApiError::not_found("team_not_found", "Team not found"))?;
    ok(team_json(t))
}
