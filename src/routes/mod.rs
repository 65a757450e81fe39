//! The HTTP API. The module tree mirrors the URL tree; each module registers its own routes.

mod auth;
mod block_types;
mod channels;
mod contacts;
mod context;
mod dialogues;
mod health;
mod invites;
mod live;
mod passwords;
mod permissions;
mod projects;
mod providers;
mod releases;
mod revisions;
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
    projects::configure(cfg);
    dialogues::configure(cfg);
    revisions::configure(cfg);
    releases::configure(cfg);
    live::configure(cfg);
    providers::configure(cfg);
    channels::configure(cfg);
    invites::configure(cfg);
    contacts::configure(cfg);
    block_types::configure(cfg);
}

/// The JSON `404` for paths that match no route.
pub async fn unknown_path(req: actix_web::HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::NotFound {
        message: format!("No resource at {}", req.path()),
        details: serde_json::json!({ "path": req.path() }),
    })
}

/// Checks that the project (and dialogue) a grant names exist: a `422` at the offending id.
pub(crate) async fn check_permission_target(
    state: &crate::state::AppState,
    permission: &crate::auth::Permission,
) -> Result<(), ApiError> {
    let scope = &permission.properties;
    let Some(project_id) = scope.project_id.as_deref() else { return Ok(()) };
    if state.store.project_by_id(project_id).await?.is_none() {
        return Err(ApiError::invalid(
            "reference",
            "/properties/project_id",
            format!("No project {project_id} exists"),
        ));
    }
    if let Some(dialogue_id) = scope.dialogue_id.as_deref()
        && !state.store.dialogue_exists(project_id, dialogue_id).await?
    {
        return Err(ApiError::invalid(
            "reference",
            "/properties/dialogue_id",
            format!("No dialogue {dialogue_id} exists in project {project_id}"),
        ));
    }
    Ok(())
}
