//! `/projects/{id}/invites/` and `/invites/{code}/accept`: project invite codes (from the
//! chatbot admin API's bot admin invite codes). A code is random (256 bits), shown once, stored
//! as a hash, and expires and runs out of uses.

use std::time::Duration;

use super::table::RouteTable;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::context::{Ctx, InProject, created, until_unchanged};
use crate::auth::permissions::{PermissionKind, PermissionScope};
use crate::auth::{Action, Permission, secrets};
use crate::error::ApiError;
use crate::http::body::JsonBody;
use crate::http::pagination::Page;
use crate::store::{InviteRecord, new_id, now_millis};

/// How long an invite is valid when the request does not say.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

pub fn configure(routes: &mut RouteTable) {
    routes.at(["/projects/{project_id}/invites/", "/projects/{project_id}/invites"]).get(list).post(create);
    routes.at(["/projects/{project_id}/invites/{invite_id}"]).delete(revoke);
    routes.at(["/invites/{code}/accept"]).post(accept);
}

fn describe(invite: &InviteRecord) -> Value {
    json!({
        "id": invite.id,
        "url": format!("/projects/{}/invites/{}", invite.project_id, invite.id),
        "permission": invite.permission,
        "expires_at": invite.expires_at,
        "max_uses": invite.max_uses,
        "uses": invite.uses,
    })
}

#[derive(Deserialize)]
struct NewInvite {
    permission: PermissionKind,
    expires_at: Option<i64>,
    max_uses: Option<i64>,
}

async fn create(project: InProject, JsonBody(value): JsonBody) -> Result<HttpResponse, ApiError> {
    project.require(Action::AdministerProject { project: project.id() })?;
    let new: NewInvite = project.state.schemas.parse_new("invite", value)?;
    let now = now_millis();
    let lifetime = i64::try_from(DEFAULT_LIFETIME.as_millis()).unwrap_or(i64::MAX);
    let expires_at = new.expires_at.unwrap_or(now + lifetime);
    if expires_at <= now {
        return Err(ApiError::invalid("minimum", "/expires_at", "expires_at must be in the future"));
    }
    let code = secrets::generate();
    let invite = InviteRecord {
        id: new_id(),
        project_id: project.id().to_owned(),
        code_hash: secrets::digest(&code),
        permission: new.permission,
        expires_at,
        max_uses: new.max_uses.unwrap_or(1),
        uses: 0,
        accepted_by: Vec::new(),
        created_by: project.caller.user.id.clone(),
        created: now,
    };
    project.state.store.insert_invite(&invite).await?;
    let mut description = describe(&invite);
    description["code"] = json!(code);
    Ok(created(description))
}

async fn list(project: InProject, page: Page) -> Result<HttpResponse, ApiError> {
    project.require(Action::AdministerProject { project: project.id() })?;
    let (invites, total) = project.state.store.list_invites(project.id(), page.skip(), page.limit()).await?;
    let descriptions: Vec<Value> = invites.iter().map(describe).collect();
    Ok(page.respond(total, &descriptions))
}

async fn revoke(project: InProject, path: web::Path<(String, String)>) -> Result<HttpResponse, ApiError> {
    project.require(Action::AdministerProject { project: project.id() })?;
    let invite_id = path.into_inner().1;
    if !project.state.store.delete_invite(project.id(), &invite_id).await? {
        return Err(ApiError::NotFound {
            message: format!("Invite {invite_id} not found"),
            details: json!({ "id": invite_id, "project_id": project.id() }),
        });
    }
    Ok(HttpResponse::NoContent().finish())
}

/// Grants the code's permission to the caller, spending one use the first time they accept
/// it. A holder of the grant, or a user who already accepted the code, gets the grant again and
/// spends nothing, however many times and however concurrently they accept. Unknown, expired,
/// used-up and revoked codes all get the same answer.
async fn accept(path: web::Path<String>, ctx: Ctx) -> Result<HttpResponse, ApiError> {
    let Ctx { caller, state } = ctx;
    let refused = || ApiError::NotFound {
        message: "This invite code is not valid: it may be mistyped, expired, used up or revoked".into(),
        details: json!({}),
    };
    let code_hash = secrets::digest(&path);
    let invite = state.store.unexpired_invite(&code_hash).await?.ok_or_else(refused)?;
    let permission = Permission {
        id: new_id(),
        kind: invite.permission,
        properties: PermissionScope { project_id: Some(invite.project_id.clone()), dialogue_id: None },
    };
    if let Some(held) = caller.principal.permissions.iter().find(|held| held.same_grant(&permission)) {
        return Ok(HttpResponse::Ok().json(held));
    }
    if state.store.spend_invite(&code_hash, &caller.user.id).await?.is_none() {
        // Not spent: either this user accepted it before (maybe at this very moment), or it is
        // used up (or was revoked or expired meanwhile).
        let accepted =
            state.store.unexpired_invite(&code_hash).await?.is_some_and(|i| i.accepted_by.contains(&caller.user.id));
        if !accepted {
            return Err(refused());
        }
    }
    let granted = until_unchanged("The account", async || {
        let user = state
            .store
            .user_by_id(&caller.user.id)
            .await?
            .ok_or_else(|| ApiError::Unauthorized("The account no longer exists".into()))?;
        if let Some(held) = user.permissions.iter().find(|held| held.same_grant(&permission)) {
            return Ok(Some(held.clone()));
        }
        let pushed = state.store.push_permission(&user.id, user.version, &permission).await?;
        Ok(pushed.then(|| permission.clone()))
    })
    .await?;
    if granted.id == permission.id {
        state.callers.forget_user(&caller.user.id);
        tracing::info!(user_id = %caller.user.id, project_id = %invite.project_id, invite = %invite.id, "invite accepted");
    }
    Ok(HttpResponse::Ok().json(granted))
}
