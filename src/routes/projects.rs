//! `/projects/`: creating, listing, reading, updating and deleting projects.

use super::table::RouteTable;
use actix_web::HttpResponse;
use serde::Deserialize;
use serde_json::{Value, json};

use super::context::{Ctx, InProject, created, until_unchanged};
use crate::auth::permissions::{PermissionKind, PermissionScope};
use crate::auth::{Action, Permission};
use crate::dialogue::description::{self, Access};
use crate::error::ApiError;
use crate::http::body::{JsonBody, JsonPatchBody};
use crate::http::pagination::Page;
use crate::store::{ProjectRecord, ProjectScope, new_id};

pub fn configure(routes: &mut RouteTable) {
    routes.at(["/projects/", "/projects"]).get(list).post(create);
    routes
        .at(["/projects/{project_id}", "/projects/{project_id}/"])
        .get(get)
        .put(replace)
        .patch(patch_project)
        .delete(delete);
    routes.at(["/projects/{project_id}/members/", "/projects/{project_id}/members"]).get(members);
}

/// `GET /projects/{p}/members/` (extension): who has access to the project and through which
/// grants, for those who may read the whole project (editors see each other's names in the live
/// session anyway); e-mail addresses and grant ids only for those who administer it.
async fn members(project: InProject, page: Page) -> Result<HttpResponse, ApiError> {
    if !project.caller.may(Action::ReadProject { project: project.id() }) {
        return Err(ApiError::Forbidden("Only people with access to the whole project see its members".into()));
    }
    let (users, total) = project.state.store.project_members(project.id(), page.skip(), page.limit()).await?;
    let administers = project.caller.may(Action::AdministerProject { project: project.id() });
    let described: Vec<Value> = users
        .iter()
        .map(|user| {
            let mut summary = json!({
                "id": user.id,
                "url": format!("/users/{}", user.id),
                "first_name": user.first_name,
                "last_name": user.last_name,
            });
            if administers {
                summary["email"] = json!(user.email);
            }
            let grants: Vec<Value> = user
                .permissions
                .iter()
                .filter(|p| p.properties.project_id.as_deref() == Some(project.id()) || p.kind == PermissionKind::Admin)
                .map(|grant| {
                    let mut grant = json!(grant);
                    if !administers && let Some(fields) = grant.as_object_mut() {
                        fields.remove("id");
                    }
                    grant
                })
                .collect();
            json!({ "user": summary, "permissions": grants })
        })
        .collect();
    Ok(page.respond(total, &described))
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
async fn describe(ctx: &Ctx, project: &ProjectRecord) -> Result<Value, ApiError> {
    let heads = ctx.state.store.list_dialogue_heads(&project.id).await?;
    let dialogues: Vec<Value> = heads
        .iter()
        .map(|head| (head, Access::of(&ctx.caller.principal, &project.id, &head.id)))
        .filter(|(_, access)| access.can_view)
        .map(|(head, access)| description::summarize(head, access))
        .collect();
    let mut description = summarize(project);
    description["dialogues"] = Value::Array(dialogues);
    Ok(description)
}

async fn list(ctx: Ctx, page: Page) -> Result<HttpResponse, ApiError> {
    let ids = ctx.caller.principal.project_ids();
    let scope = if ctx.caller.principal.is_admin() { ProjectScope::All } else { ProjectScope::Only(&ids) };
    let (projects, total) = ctx.state.store.list_projects(scope, page.skip(), page.limit()).await?;
    let summaries: Vec<Value> = projects.iter().map(summarize).collect();
    Ok(page.respond(total, &summaries))
}

#[derive(Deserialize)]
struct ProjectBody {
    title: String,
    #[serde(default)]
    is_archived: bool,
}

async fn create(ctx: Ctx, JsonBody(value): JsonBody) -> Result<HttpResponse, ApiError> {
    ctx.require(Action::CreateProject)?;
    let new: ProjectBody = ctx.state.schemas.parse_new("project", value)?;
    let project = ctx
        .state
        .store
        .create_project(&new.title, new.is_archived, &ctx.caller.user.id, |project_id| Permission {
            id: new_id(),
            kind: PermissionKind::ProjectAdmin,
            properties: PermissionScope { project_id: Some(project_id.to_owned()), dialogue_id: None },
        })
        .await?;
    ctx.state.callers.forget_user(&ctx.caller.user.id);
    tracing::info!(project_id = %project.id, by = %ctx.caller.user.id, "project created");
    let mut description = summarize(&project);
    description["dialogues"] = json!([]);
    Ok(created(description))
}

async fn get(project: InProject) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(describe(&project, &project.project).await?))
}

/// Stores new writable fields with optimistic concurrency: `edit` turns the current
/// description into the new one and is re-run on a fresh read after a concurrent update.
async fn update(
    project: &InProject,
    edit: impl Fn(&ProjectRecord) -> Result<Value, ApiError>,
) -> Result<HttpResponse, ApiError> {
    project.require(Action::AdministerProject { project: project.id() })?;
    let store = &project.state.store;
    let mut current = project.project.clone();
    let stored = until_unchanged("The project", async || {
        let updated: ProjectBody = serde_json::from_value(edit(&current)?).map_err(ApiError::internal)?;
        let stored = store.update_project(&current.id, current.version, &updated.title, updated.is_archived).await?;
        if stored.is_none() {
            current =
                store.project_by_id(project.id()).await?.ok_or_else(|| ApiError::not_found("Project", project.id()))?;
        }
        Ok(stored)
    })
    .await?;
    Ok(HttpResponse::Ok().json(describe(project, &stored).await?))
}

async fn replace(project: InProject, JsonBody(mut value): JsonBody) -> Result<HttpResponse, ApiError> {
    project.state.schemas.validate_replacement("project", &mut value)?;
    update(&project, |_| Ok(value.clone())).await
}

async fn patch_project(project: InProject, JsonPatchBody(operations): JsonPatchBody) -> Result<HttpResponse, ApiError> {
    let state = &project.state;
    update(&project, |current| state.schemas.patched("project", summarize(current), &operations, &state.limits)).await
}

async fn delete(project: InProject) -> Result<HttpResponse, ApiError> {
    project.require(Action::DeleteProject { project: project.id() })?;
    if !project.state.store.delete_project(project.id()).await? {
        return Err(ApiError::not_found("Project", project.id()));
    }
    project.state.callers.clear();
    tracing::info!(project_id = %project.id(), by = %project.caller.user.id, "project deleted");
    Ok(HttpResponse::NoContent().finish())
}
