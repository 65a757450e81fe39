//! `/projects/{p}/dialogues/{d}/releases/`: numbered releases of a dialogue's revisions, and
//! (extension) the dialogue as of a release, which is what end users' conversations run on.

use super::table::RouteTable;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::context::{InDialogue, created};
use crate::auth::Action;
use crate::dialogue::description;
use crate::error::ApiError;
use crate::http::body::JsonBody;
use crate::http::ordering::Ordering;
use crate::http::pagination::Page;
use crate::store::ReleaseRecord;

pub fn configure(routes: &mut RouteTable) {
    routes
        .at([
            "/projects/{project_id}/dialogues/{dialogue_id}/releases/",
            "/projects/{project_id}/dialogues/{dialogue_id}/releases",
        ])
        .get(list)
        .post(create);
    routes.at(["/projects/{project_id}/dialogues/{dialogue_id}/releases/{release_id}"]).get(get);
    routes.at(["/projects/{project_id}/dialogues/{dialogue_id}/releases/{release_id}/dialogue"]).get(released_dialogue);
}

async fn list(dialogue: InDialogue, page: Page, Ordering(order): Ordering) -> Result<HttpResponse, ApiError> {
    dialogue.exists().await?;
    let store = &dialogue.state.store;
    let (releases, total) = store.list_releases(&dialogue.dialogue_id, &order, page.skip(), page.limit()).await?;
    let descriptions: Vec<Value> = releases.iter().map(description::describe_release).collect();
    Ok(page.respond(total, &descriptions))
}

/// The release a path names (`…/releases/{release_id}`): an id, or `latest`.
async fn find(dialogue: &InDialogue, path: web::Path<(String, String, String)>) -> Result<ReleaseRecord, ApiError> {
    let release_id = path.into_inner().2;
    let store = &dialogue.state.store;
    let found = if release_id == "latest" {
        store.latest_release(&dialogue.dialogue_id).await?
    } else {
        store.release_by_id(&dialogue.dialogue_id, &release_id).await?
    };
    found.filter(|release| release.project_id == dialogue.project_id).ok_or_else(|| ApiError::NotFound {
        message: format!("Release {release_id} not found"),
        details: json!({ "id": release_id, "dialogue_id": dialogue.dialogue_id }),
    })
}

async fn get(dialogue: InDialogue, path: web::Path<(String, String, String)>) -> Result<HttpResponse, ApiError> {
    let release = find(&dialogue, path).await?;
    Ok(HttpResponse::Ok().json(description::describe_release(&release)))
}

#[derive(Deserialize)]
struct NewRelease {
    revision_id: String,
}

async fn create(dialogue: InDialogue, JsonBody(value): JsonBody) -> Result<HttpResponse, ApiError> {
    dialogue.require(Action::PublishDialogue { project: &dialogue.project_id, dialogue: &dialogue.dialogue_id })?;
    let new: NewRelease = dialogue.state.schemas.parse_new("release", value)?;
    let user = &dialogue.caller.user.id;
    let release =
        dialogue.state.dialogues.release(&dialogue.project_id, &dialogue.dialogue_id, &new.revision_id, user).await?;
    tracing::info!(dialogue_id = %dialogue.dialogue_id, number = release.number, by = %user, "release created");
    Ok(created(description::describe_release(&release)))
}

async fn released_dialogue(
    dialogue: InDialogue,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let release = find(&dialogue, path).await?;
    super::revisions::described_as_of(&dialogue, &release.revision_id, release.revision_number).await
}
