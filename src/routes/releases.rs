//! `/projects/{p}/dialogues/{d}/releases/`: numbered releases of a dialogue's revisions, and
//! (extension) the dialogue as of a release, which is what end users' conversations run on.

use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::dialogues::{dialogue_not_found, viewable};
use crate::auth::{Action, Caller};
use crate::dialogue::description;
use crate::dialogue::history;
use crate::error::ApiError;
use crate::http::body::JsonBody;
use crate::http::ordering;
use crate::http::pagination::{self, PageRequest};
use crate::state::AppState;
use crate::store::ReleaseRecord;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource([
            "/projects/{project_id}/dialogues/{dialogue_id}/releases/",
            "/projects/{project_id}/dialogues/{dialogue_id}/releases",
        ])
        .route(web::get().to(list))
        .route(web::post().to(create)),
    );
    cfg.service(
        web::resource("/projects/{project_id}/dialogues/{dialogue_id}/releases/{release_id}").route(web::get().to(get)),
    );
    cfg.service(
        web::resource("/projects/{project_id}/dialogues/{dialogue_id}/releases/{release_id}/dialogue")
            .route(web::get().to(released_dialogue)),
    );
}

async fn list(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (project_id, dialogue_id) = path.into_inner();
    viewable(&caller, &project_id, &dialogue_id)?;
    let page = PageRequest::from_query(req.query_string())?;
    let order = ordering::from_query(req.query_string())?;
    state.dialogues.describe(&project_id, &dialogue_id).await?;
    let (releases, total) = state.store.list_releases(&dialogue_id, &order, page.skip(), page.limit()).await?;
    let descriptions: Vec<Value> = releases.iter().map(description::describe_release).collect();
    Ok(pagination::respond(&req, page, total, &descriptions))
}

/// The release a path names: an id, or `latest`.
async fn find(
    state: &AppState,
    project_id: &str,
    dialogue_id: &str,
    release_id: &str,
) -> Result<ReleaseRecord, ApiError> {
    let found = if release_id == "latest" {
        state.store.latest_release(dialogue_id).await?
    } else {
        state.store.release_by_id(dialogue_id, release_id).await?
    };
    found.filter(|release| release.project_id == project_id).ok_or_else(|| ApiError::NotFound {
        message: format!("Release {release_id} not found"),
        details: json!({ "id": release_id, "dialogue_id": dialogue_id }),
    })
}

async fn get(
    path: web::Path<(String, String, String)>,
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (project_id, dialogue_id, release_id) = path.into_inner();
    viewable(&caller, &project_id, &dialogue_id)?;
    let release = find(&state, &project_id, &dialogue_id, &release_id).await?;
    Ok(HttpResponse::Ok().json(description::describe_release(&release)))
}

#[derive(Deserialize)]
struct NewRelease {
    revision_id: String,
}

async fn create(
    path: web::Path<(String, String)>,
    caller: Caller,
    state: web::Data<AppState>,
    JsonBody(value): JsonBody,
) -> Result<HttpResponse, ApiError> {
    let (project_id, dialogue_id) = path.into_inner();
    viewable(&caller, &project_id, &dialogue_id)?;
    caller.require(Action::PublishDialogue { project: &project_id, dialogue: &dialogue_id })?;
    state.schemas.validate_new("release", &value)?;
    let new: NewRelease = serde_json::from_value(value).map_err(ApiError::internal)?;
    let release = state.dialogues.release(&project_id, &dialogue_id, &new.revision_id, &caller.user.id).await?;
    tracing::info!(%dialogue_id, number = release.number, by = %caller.user.id, "release created");
    let description = description::describe_release(&release);
    Ok(HttpResponse::Created()
        .insert_header((LOCATION, description["url"].as_str().unwrap_or_default().to_owned()))
        .json(description))
}

async fn released_dialogue(
    path: web::Path<(String, String, String)>,
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (project_id, dialogue_id, release_id) = path.into_inner();
    let access = viewable(&caller, &project_id, &dialogue_id)?;
    let head = state.dialogues.describe(&project_id, &dialogue_id).await.map_err(|error| match error {
        ApiError::NotFound { .. } => dialogue_not_found(&project_id, &dialogue_id),
        other => other,
    })?;
    let release = find(&state, &project_id, &dialogue_id, &release_id).await?;
    let content = history::state_at(&state.store, &dialogue_id, release.revision_number).await?;
    let mut record = head.to_record(false);
    record.revision_id = Some(release.revision_id.clone());
    record.title = content.get("title").and_then(Value::as_str).unwrap_or_default().to_owned();
    record.is_archived = content.get("is_archived").and_then(Value::as_bool).unwrap_or(false);
    Ok(HttpResponse::Ok().json(description::describe(&record, &content, access)))
}
