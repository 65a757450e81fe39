//! `/projects/`: creating, listing, reading, updating and deleting projects.

use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::permissions::{PermissionKind, PermissionScope};
use crate::auth::{Action, Caller, Permission};
use crate::dialogue::description::{self, Access};
use crate::error::ApiError;
use crate::http::body::{JsonBody, JsonPatchBody};
use crate::http::pagination::{self, PageRequest};
use crate::state::AppState;
use crate::store::{ProjectRecord, ProjectScope, new_id};

/// Optimistic updates retry this many times before answering `409`.
const UPDATE_ATTEMPTS: usize = 5;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource(["/projects/", "/projects"]).route(web::get().to(list)).route(web::post().to(create)));
    cfg.service(
        web::resource(["/projects/{project_id}", "/projects/{project_id}/"])
            .route(web::get().to(get))
            .route(web::put().to(replace))
            .route(web::patch().to(patch_project))
            .route(web::delete().to(delete)),
    );
}

/// The project a caller asks about, or `404` when it does not exist or they cannot see it.
pub(crate) async fn viewable_project(state: &AppState, caller: &Caller, id: &str) -> Result<ProjectRecord, ApiError> {
    if !caller.may(Action::ViewProject { project: id }) {
        return Err(ApiError::not_found("Project", id));
    }
    state.store.project_by_id(id).await?.ok_or_else(|| ApiError::not_found("Project", id))
}

fn summarize(project: &ProjectRecord) -> Value {
    json!({
        "id": project.id,
        "url": format!("/projects/{}", project.id),
        "title": project.title,
        "is_archived": project.is_archived,
    })
}

/// The full description: the summary plus the dialogues this caller can view.
async fn describe(state: &AppState, caller: &Caller, project: &ProjectRecord) -> Result<Value, ApiError> {
    let heads = state.store.list_dialogue_heads(&project.id).await?;
    let dialogues: Vec<Value> = heads
        .iter()
        .map(|head| (head, Access::of(&caller.principal, &project.id, &head.id)))
        .filter(|(_, access)| access.can_view)
        .map(|(head, access)| description::summarize(head, access))
        .collect();
    let mut description = summarize(project);
    description["dialogues"] = Value::Array(dialogues);
    Ok(description)
}

async fn list(req: HttpRequest, caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let page = PageRequest::from_query(req.query_string())?;
    let ids = caller.principal.project_ids();
    let scope = if caller.principal.is_admin() { ProjectScope::All } else { ProjectScope::Only(&ids) };
    let (projects, total) = state.store.list_projects(scope, page.skip(), page.limit()).await?;
    let summaries: Vec<Value> = projects.iter().map(summarize).collect();
    Ok(pagination::respond(&req, page, total, &summaries))
}

#[derive(Deserialize)]
struct ProjectBody {
    title: String,
    #[serde(default)]
    is_archived: bool,
}

async fn create(
    caller: Caller,
    state: web::Data<AppState>,
    JsonBody(value): JsonBody,
) -> Result<HttpResponse, ApiError> {
    caller.require(Action::CreateProject)?;
    state.schemas.validate_new("project", &value)?;
    let new: ProjectBody = serde_json::from_value(value).map_err(ApiError::internal)?;
    let project = state
        .store
        .create_project(&new.title, new.is_archived, &caller.user.id, |project_id| Permission {
            id: new_id(),
            kind: PermissionKind::ProjectAdmin,
            properties: PermissionScope { project_id: Some(project_id.to_owned()), dialogue_id: None },
        })
        .await?;
    state.callers.forget_user(&caller.user.id);
    tracing::info!(project_id = %project.id, by = %caller.user.id, "project created");
    let mut description = summarize(&project);
    description["dialogues"] = json!([]);
    Ok(HttpResponse::Created().insert_header((LOCATION, format!("/projects/{}", project.id))).json(description))
}

async fn get(path: web::Path<String>, caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let project = viewable_project(&state, &caller, &path).await?;
    Ok(HttpResponse::Ok().json(describe(&state, &caller, &project).await?))
}

/// Stores new writable fields with optimistic concurrency: `edit` turns the current
/// description into the new one and is re-run on a fresh read after a concurrent update.
async fn update(
    state: &AppState,
    mut project: ProjectRecord,
    edit: impl Fn(&ProjectRecord) -> Result<Value, ApiError>,
) -> Result<ProjectRecord, ApiError> {
    for _ in 0..UPDATE_ATTEMPTS {
        let updated: ProjectBody = serde_json::from_value(edit(&project)?).map_err(ApiError::internal)?;
        if let Some(stored) =
            state.store.update_project(&project.id, project.version, &updated.title, updated.is_archived).await?
        {
            return Ok(stored);
        }
        let id = project.id.clone();
        project = state.store.project_by_id(&id).await?.ok_or_else(|| ApiError::not_found("Project", &id))?;
    }
    Err(ApiError::conflict("The project was changed concurrently; retry"))
}

async fn writable_project(state: &AppState, caller: &Caller, id: &str) -> Result<ProjectRecord, ApiError> {
    let project = viewable_project(state, caller, id).await?;
    caller.require(Action::AdministerProject { project: id })?;
    Ok(project)
}

async fn replace(
    path: web::Path<String>,
    caller: Caller,
    state: web::Data<AppState>,
    JsonBody(mut value): JsonBody,
) -> Result<HttpResponse, ApiError> {
    let project = writable_project(&state, &caller, &path).await?;
    state.schemas.validate_replacement("project", &mut value)?;
    let stored = update(&state, project, |_| Ok(value.clone())).await?;
    Ok(HttpResponse::Ok().json(describe(&state, &caller, &stored).await?))
}

async fn patch_project(
    path: web::Path<String>,
    caller: Caller,
    state: web::Data<AppState>,
    JsonPatchBody(operations): JsonPatchBody,
) -> Result<HttpResponse, ApiError> {
    let project = writable_project(&state, &caller, &path).await?;
    let stored = update(&state, project, |current| {
        state.schemas.patched("project", summarize(current), &operations, &state.limits)
    })
    .await?;
    Ok(HttpResponse::Ok().json(describe(&state, &caller, &stored).await?))
}

async fn delete(path: web::Path<String>, caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let project = viewable_project(&state, &caller, &path).await?;
    caller.require(Action::DeleteProject { project: &project.id })?;
    if !state.store.delete_project(&project.id).await? {
        return Err(ApiError::not_found("Project", &project.id));
    }
    state.callers.clear();
    tracing::info!(project_id = %project.id, by = %caller.user.id, "project deleted");
    Ok(HttpResponse::NoContent().finish())
}
