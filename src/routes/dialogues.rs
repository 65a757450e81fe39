//! `/projects/{project_id}/dialogues/`: creating, listing and reading dialogues.

use actix_web::http::header::{ETAG, IF_MATCH, LOCATION};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use super::projects::viewable_project;
use crate::auth::{Action, Caller};
use crate::dialogue::change::{Change, ChangeKind};
use crate::dialogue::description::{self, Access, Flags};
use crate::dialogue::{Head, WriteRequest};
use crate::error::ApiError;
use crate::http::body::{JsonBody, JsonPatchBody};
use crate::http::pagination::{self, PageRequest};
use crate::state::AppState;
use crate::store::{DialogueRecord, new_id, now_millis};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(["/projects/{project_id}/dialogues/", "/projects/{project_id}/dialogues"])
            .route(web::get().to(list))
            .route(web::post().to(create)),
    );
    cfg.service(
        web::resource("/projects/{project_id}/dialogues/{dialogue_id}")
            .route(web::get().to(get))
            .route(web::put().to(replace))
            .route(web::patch().to(patch_dialogue)),
    );
}

/// The `ETag` of a dialogue state: its revision id, or `""` before the first revision.
pub(crate) fn etag(revision_id: Option<&str>) -> String {
    format!("\"{}\"", revision_id.unwrap_or_default())
}

/// `404` for a dialogue, with the ids from the request.
pub(crate) fn dialogue_not_found(project_id: &str, dialogue_id: &str) -> ApiError {
    ApiError::NotFound {
        message: format!("Dialogue {dialogue_id} not found"),
        details: serde_json::json!({ "id": dialogue_id, "project_id": project_id }),
    }
}

/// The dialogue filters of the seed, each `true`, `false` or absent.
#[derive(Debug, Default)]
struct DialogueFilters {
    is_archived: Option<bool>,
    is_published: Option<bool>,
    has_changes: Option<bool>,
    can_view: Option<bool>,
    can_edit: Option<bool>,
}

impl DialogueFilters {
    fn from_query(query: &str) -> Result<Self, ApiError> {
        let mut filters = Self::default();
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            let slot = match key.as_ref() {
                "is_archived" => &mut filters.is_archived,
                "is_published" => &mut filters.is_published,
                "has_changes" => &mut filters.has_changes,
                "can_view" => &mut filters.can_view,
                "can_edit" => &mut filters.can_edit,
                _ => continue,
            };
            *slot = Some(match value.as_ref() {
                "true" => true,
                "false" => false,
                other => {
                    return Err(ApiError::invalid(
                        "type",
                        &format!("/{key}"),
                        format!("{key} must be true or false, not {other:?}"),
                    ));
                }
            });
        }
        Ok(filters)
    }

    fn keeps(&self, head: &DialogueRecord, access: Access) -> bool {
        let flags = Flags::of(head);
        let test = |wanted: Option<bool>, actual: bool| wanted.is_none_or(|wanted| wanted == actual);
        test(self.is_archived, head.is_archived)
            && test(self.is_published, flags.is_published)
            && test(self.has_changes, flags.has_changes)
            && test(self.can_view, access.can_view)
            && test(self.can_edit, access.can_edit)
    }
}

async fn list(
    req: HttpRequest,
    path: web::Path<String>,
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let page = PageRequest::from_query(req.query_string())?;
    let filters = DialogueFilters::from_query(req.query_string())?;
    let project = viewable_project(&state, &caller, &path).await?;
    let heads = state.store.list_dialogue_heads(&project.id).await?;
    let summaries: Vec<Value> = heads
        .iter()
        .map(|head| (head, Access::of(&caller.principal, &project.id, &head.id)))
        .filter(|(_, access)| access.can_view)
        .filter(|(head, access)| filters.keeps(head, *access))
        .map(|(head, access)| description::summarize(head, access))
        .collect();
    let total = summaries.len() as u64;
    Ok(pagination::respond(&req, page, total, &page.slice(summaries)))
}

async fn create(
    path: web::Path<String>,
    caller: Caller,
    state: web::Data<AppState>,
    JsonBody(value): JsonBody,
) -> Result<HttpResponse, ApiError> {
    let project = viewable_project(&state, &caller, &path).await?;
    caller.require(Action::CreateDialogue { project: &project.id })?;
    state.schemas.validate_new("dialogue", &value)?;
    let content = description::content_from(&value);
    state.schemas.validate_dialogue(&content)?;
    let record = DialogueRecord {
        id: new_id(),
        project_id: project.id.clone(),
        title: content["title"].as_str().unwrap_or_default().to_owned(),
        is_archived: content["is_archived"].as_bool().unwrap_or(false),
        content: content.to_string(),
        revision_number: 0,
        revision_id: None,
        release: None,
        created: now_millis(),
    };
    state.store.insert_dialogue(&record).await?;
    tracing::info!(project_id = %project.id, dialogue_id = %record.id, by = %caller.user.id, "dialogue created");
    let access = Access::of(&caller.principal, &project.id, &record.id);
    Ok(HttpResponse::Created()
        .insert_header((LOCATION, format!("/projects/{}/dialogues/{}", project.id, record.id)))
        .insert_header((ETAG, etag(None)))
        .json(description::describe(&record, &content, access)))
}

/// The caller's access to a dialogue: `404` when they cannot see it.
pub(crate) fn viewable(caller: &Caller, project_id: &str, dialogue_id: &str) -> Result<Access, ApiError> {
    let access = Access::of(&caller.principal, project_id, dialogue_id);
    if access.can_view { Ok(access) } else { Err(dialogue_not_found(project_id, dialogue_id)) }
}

/// The caller's access to a dialogue they want to change: `404` when they cannot see it, `403`
/// when they cannot edit it.
pub(crate) fn editable(caller: &Caller, project_id: &str, dialogue_id: &str) -> Result<Access, ApiError> {
    let access = viewable(caller, project_id, dialogue_id)?;
    if access.can_edit { Ok(access) } else { Err(ApiError::Forbidden("You cannot edit this dialogue".into())) }
}

/// The request's `If-Match` header, if any.
pub(crate) fn if_match(req: &HttpRequest) -> Option<String> {
    req.headers().get(IF_MATCH).and_then(|value| value.to_str().ok()).map(str::to_owned)
}

/// A `200` with a dialogue's description and its `ETag`.
pub(crate) fn respond_with(head: &Head, access: Access) -> HttpResponse {
    HttpResponse::Ok().insert_header((ETAG, etag(head.revision_id.as_deref()))).json(description::describe(
        &head.to_record(false),
        &head.content,
        access,
    ))
}

/// A write request for one change made by `caller`.
fn single_change(
    req: &HttpRequest,
    caller: &Caller,
    project_id: &str,
    dialogue_id: &str,
    kind: ChangeKind,
) -> WriteRequest {
    WriteRequest {
        project_id: project_id.to_owned(),
        changes: vec![Change { kind, details: json!({}), created: None }],
        user_id: caller.user.id.clone(),
        if_match: if_match(req),
        may_archive: caller.may(Action::ArchiveDialogue { project: project_id, dialogue: dialogue_id }),
        base_revision: None,
    }
}

async fn get(
    path: web::Path<(String, String)>,
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (project_id, dialogue_id) = path.into_inner();
    let access = viewable(&caller, &project_id, &dialogue_id)?;
    let head = state.dialogues.describe(&project_id, &dialogue_id).await?;
    Ok(respond_with(&head, access))
}

async fn replace(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    caller: Caller,
    state: web::Data<AppState>,
    JsonBody(mut value): JsonBody,
) -> Result<HttpResponse, ApiError> {
    let (project_id, dialogue_id) = path.into_inner();
    let access = editable(&caller, &project_id, &dialogue_id)?;
    state.schemas.validate_replacement("dialogue", &mut value)?;
    let content = description::content_from(&value);
    let request = single_change(&req, &caller, &project_id, &dialogue_id, ChangeKind::Replace { content });
    let outcome = state.dialogues.write(&dialogue_id, request).await?;
    Ok(respond_with(&outcome.head, access))
}

async fn patch_dialogue(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    caller: Caller,
    state: web::Data<AppState>,
    JsonPatchBody(operations): JsonPatchBody,
) -> Result<HttpResponse, ApiError> {
    let (project_id, dialogue_id) = path.into_inner();
    let access = editable(&caller, &project_id, &dialogue_id)?;
    state.schemas.check_patch_paths("dialogue", &operations)?;
    let kind = ChangeKind::Edit { patch: operations, edit_type: None };
    let request = single_change(&req, &caller, &project_id, &dialogue_id, kind);
    let outcome = state.dialogues.write(&dialogue_id, request).await?;
    Ok(respond_with(&outcome.head, access))
}
