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
mod table;
mod users;
mod webhooks;

use actix_web::web;

use self::table::RouteTable;

use crate::error::ApiError;

pub use users::describe_user;

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    table().register(cfg);
}

/// Every route served, as (method, path pattern): what the API description must describe.
pub fn routes() -> Vec<(actix_web::http::Method, &'static str)> {
    table().routes()
}

fn table() -> RouteTable {
    let mut routes = RouteTable::default();
    for add in [
        health::configure,
        auth::configure,
        users::configure,
        passwords::configure,
        permissions::configure,
        projects::configure,
        dialogues::configure,
        revisions::configure,
        releases::configure,
        live::configure,
        providers::configure,
        channels::configure,
        invites::configure,
        contacts::configure,
        block_types::configure,
        webhooks::configure,
    ] {
        add(&mut routes);
    }
    routes.at(["/openapi.json"]).get(crate::openapi::openapi_json);
    routes
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
