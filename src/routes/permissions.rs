//! `/users/{user_id}/permissions/`: granting, listing and revoking permissions.

use super::table::RouteTable;
use actix_web::http::header::LOCATION;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::context::{Ctx, until_unchanged};
use crate::auth::permissions::{PermissionKind, PermissionScope};
use crate::auth::{Caller, Permission};
use crate::error::ApiError;
use crate::http::body::JsonBody;
use crate::http::pagination::Page;
use crate::store::{UserRecord, new_id};

pub fn configure(routes: &mut RouteTable) {
    routes.at(["/users/{user_id}/permissions/", "/users/{user_id}/permissions"]).get(list).post(grant);
    routes.at(["/users/{user_id}/permissions/{permission_id}"]).get(get).delete(revoke);
}

/// Whether the caller may see `permission` of user `owner`: admins and the owner see every
/// grant; a project admin sees the grants of their project.
fn visible(caller: &Caller, owner: &str, permission: &Permission) -> bool {
    caller.principal.is_admin() || caller.user.id == owner || caller.principal.may_grant(permission)
}

/// Loads the user whose permissions are asked about. Callers who could never see any of them
/// (not admin, not the user, not a project admin anywhere) are refused outright.
async fn owner(ctx: &Ctx, user_id: &str) -> Result<UserRecord, ApiError> {
    let Ctx { caller, state } = ctx;
    let manages_a_project = caller.principal.permissions.iter().any(|p| p.kind == PermissionKind::ProjectAdmin);
    if !(caller.principal.is_admin() || caller.user.id == user_id || manages_a_project) {
        return Err(ApiError::Forbidden("You cannot see this user's permissions".into()));
    }
    state.store.user_by_id(user_id).await?.ok_or_else(|| ApiError::not_found("User", user_id))
}

fn permission_not_found(user_id: &str, permission_id: &str) -> ApiError {
    ApiError::NotFound {
        message: format!("Permission {permission_id} not found"),
        details: json!({ "id": permission_id, "user_id": user_id }),
    }
}

async fn list(path: web::Path<String>, ctx: Ctx, page: Page) -> Result<HttpResponse, ApiError> {
    let user = owner(&ctx, &path).await?;
    let shown: Vec<Permission> = user.permissions.into_iter().filter(|p| visible(&ctx.caller, &user.id, p)).collect();
    Ok(page.of(shown))
}

/// The permission a path names (`/users/{user_id}/permissions/{permission_id}`), if the caller
/// may see it.
async fn find(ctx: &Ctx, path: web::Path<(String, String)>) -> Result<(String, Permission), ApiError> {
    let (user_id, permission_id) = path.into_inner();
    let user = owner(ctx, &user_id).await?;
    let permission = user
        .permissions
        .into_iter()
        .find(|p| p.id == permission_id && visible(&ctx.caller, &user_id, p))
        .ok_or_else(|| permission_not_found(&user_id, &permission_id))?;
    Ok((user_id, permission))
}

async fn get(path: web::Path<(String, String)>, ctx: Ctx) -> Result<HttpResponse, ApiError> {
    let (_, permission) = find(&ctx, path).await?;
    Ok(HttpResponse::Ok().json(permission))
}

#[derive(Deserialize)]
struct NewPermission {
    #[serde(rename = "type")]
    kind: PermissionKind,
    #[serde(default)]
    properties: PermissionScope,
}

async fn grant(path: web::Path<String>, ctx: Ctx, JsonBody(value): JsonBody) -> Result<HttpResponse, ApiError> {
    let user_id = path.into_inner();
    let state = &ctx.state;
    let new: NewPermission = state.schemas.parse_new("permission", value)?;
    let permission = Permission { id: new_id(), kind: new.kind, properties: new.properties };
    if !ctx.caller.principal.may_grant(&permission) {
        return Err(ApiError::Forbidden("You cannot grant this permission".into()));
    }
    crate::routes::check_permission_target(state, &permission).await?;
    until_unchanged("The user", async || {
        let user = state.store.user_by_id(&user_id).await?.ok_or_else(|| ApiError::not_found("User", &user_id))?;
        if user.permissions.iter().any(|held| held.same_grant(&permission)) {
            return Err(ApiError::conflict("The user already holds this permission"));
        }
        Ok(state.store.push_permission(&user.id, user.version, &permission).await?.then_some(()))
    })
    .await?;
    state.callers.forget_user(&user_id);
    tracing::info!(user_id = %user_id, kind = permission.kind.as_str(), by = %ctx.caller.user.id, "permission granted");
    let mut response = HttpResponse::Created();
    response.insert_header((LOCATION, format!("/users/{user_id}/permissions/{}", permission.id)));
    Ok(response.json(&permission))
}

async fn revoke(path: web::Path<(String, String)>, ctx: Ctx) -> Result<HttpResponse, ApiError> {
    let (user_id, permission) = find(&ctx, path).await?;
    let permission_id = permission.id.clone();
    if !ctx.caller.principal.may_grant(&permission) {
        return Err(ApiError::Forbidden("You cannot revoke this permission".into()));
    }
    let revoked = ctx
        .state
        .store
        .pull_permission(&user_id, &permission_id)
        .await?
        .ok_or_else(|| permission_not_found(&user_id, &permission_id))?;
    ctx.state.callers.forget_user(&user_id);
    tracing::info!(user_id = %user_id, kind = revoked.kind.as_str(), by = %ctx.caller.user.id, "permission revoked");
    Ok(HttpResponse::Ok().json(revoked))
}
