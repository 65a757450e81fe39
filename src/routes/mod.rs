//! The HTTP API. The module tree mirrors the URL tree; each module registers its own routes.

mod auth;
mod health;
mod passwords;
mod permissions;
mod users;

use actix_web::web;

use crate::error::ApiError;

pub use users::describe_user;

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    health::configure(cfg);
    auth::configure(cfg);
    users::configure(cfg);
    passwords::configure(cfg);
    permissions::configure(cfg);
}

/// The JSON `404` for paths that match no route.
pub async fn unknown_path(req: actix_web::HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::NotFound {
        message: format!("No resource at {}", req.path()),
        details: serde_json::json!({ "path": req.path() }),
    })
}

/// Checks that the project (and dialogue) a grant names exist. Projects arrive with the project
/// resource; until then every target is accepted.
pub(crate) async fn check_permission_target(
    _state: &crate::state::AppState,
    _permission: &crate::auth::Permission,
) -> Result<(), ApiError> {
    Ok(())
}
