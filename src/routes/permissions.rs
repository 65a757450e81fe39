//! `/users/{user_id}/permissions/`: granting, listing and revoking permissions.

use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use crate::auth::permissions::{PermissionKind, PermissionScope};
use crate::auth::{Caller, Permission};
use crate::error::ApiError;
use crate::http::body::JsonBody;
use crate::http::pagination::{self, PageRequest};
use crate::state::AppState;
use crate::store::{UserRecord, new_id};

/// Optimistic grants retry this many times before answering `409`.
const GRANT_ATTEMPTS: usize = 5;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(["/users/{user_id}/permissions/", "/users/{user_id}/permissions"])
            .route(web::get().to(list))
            .route(web::post().to(grant)),
    );
    cfg.service(
        web::resource("/users/{user_id}/permissions/{permission_id}")
            .route(web::get().to(get))
            .route(web::delete().to(revoke)),
    );
}

/// Whether the caller may see `permission` of user `owner`: admins and the owner see every
/// grant; a project admin sees the grants of their project.
fn visible(caller: &Caller, owner: &str, permission: &Permission) -> bool {
    caller.principal.is_admin() || caller.user.id == owner || caller.principal.may_grant(permission)
}

/// Loads the user whose permissions are asked about. Callers who could never see any of them
/// (not admin, not the user, not a project admin anywhere) are refused outright.
async fn owner(state: &AppState, caller: &Caller, user_id: &str) -> Result<UserRecord, ApiError> {
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

async fn list(
    req: HttpRequest,
    path: web::Path<String>,
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let page = PageRequest::from_query(req.query_string())?;
    let user = owner(&state, &caller, &path).await?;
    let shown: Vec<Permission> = user.permissions.into_iter().filter(|p| visible(&caller, &user.id, p)).collect();
    let total = shown.len() as u64;
    Ok(pagination::respond(&req, page, total, &page.slice(shown)))
}

async fn get(
    path: web::Path<(String, String)>,
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (user_id, permission_id) = path.into_inner();
    let user = owner(&state, &caller, &user_id).await?;
    let permission = user
        .permissions
        .into_iter()
        .find(|p| p.id == permission_id && visible(&caller, &user_id, p))
        .ok_or_else(|| permission_not_found(&user_id, &permission_id))?;
    Ok(HttpResponse::Ok().json(permission))
}

#[derive(Deserialize)]
struct NewPermission {
    #[serde(rename = "type")]
    kind: PermissionKind,
    #[serde(default)]
    properties: PermissionScope,
}

async fn grant(
    path: web::Path<String>,
    caller: Caller,
    state: web::Data<AppState>,
    JsonBody(value): JsonBody,
) -> Result<HttpResponse, ApiError> {
    let user_id = path.into_inner();
    state.schemas.validate_new("permission", &value)?;
    let new: NewPermission = serde_json::from_value(value).map_err(ApiError::internal)?;
    let permission = Permission { id: new_id(), kind: new.kind, properties: new.properties };
    if !caller.principal.may_grant(&permission) {
        return Err(ApiError::Forbidden("You cannot grant this permission".into()));
    }
    crate::routes::check_permission_target(&state, &permission).await?;
    for _ in 0..GRANT_ATTEMPTS {
        let user = state.store.user_by_id(&user_id).await?.ok_or_else(|| ApiError::not_found("User", &user_id))?;
        if user.permissions.iter().any(|held| held.same_grant(&permission)) {
            return Err(ApiError::conflict("The user already holds this permission"));
        }
        if state.store.push_permission(&user.id, user.version, &permission).await? {
            state.callers.forget_user(&user.id);
            tracing::info!(user_id = %user.id, kind = permission.kind.as_str(), by = %caller.user.id, "permission granted");
            return Ok(HttpResponse::Created()
                .insert_header((LOCATION, format!("/users/{user_id}/permissions/{}", permission.id)))
                .json(&permission));
        }
    }
    Err(ApiError::conflict("The user was changed concurrently; retry"))
}

async fn revoke(
    path: web::Path<(String, String)>,
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (user_id, permission_id) = path.into_inner();
    let user = owner(&state, &caller, &user_id).await?;
    let permission = user
        .permissions
        .iter()
        .find(|p| p.id == permission_id && visible(&caller, &user_id, p))
        .ok_or_else(|| permission_not_found(&user_id, &permission_id))?;
    if !caller.principal.may_grant(permission) {
        return Err(ApiError::Forbidden("You cannot revoke this permission".into()));
    }
    let revoked = state
        .store
        .pull_permission(&user_id, &permission_id)
        .await?
        .ok_or_else(|| permission_not_found(&user_id, &permission_id))?;
    state.callers.forget_user(&user_id);
    tracing::info!(user_id = %user_id, kind = revoked.kind.as_str(), by = %caller.user.id, "permission revoked");
    Ok(HttpResponse::Ok().json(revoked))
}
