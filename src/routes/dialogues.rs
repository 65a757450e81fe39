//! `/projects/{project_id}/dialogues/`: creating, listing, reading, replacing (`PUT`) and
//! patching (`PATCH`) dialogues.

use super::table::RouteTable;
use actix_web::http::header::ETAG;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{Value, json};

use super::context::{EditableDialogue, InDialogue, InProject, created, etag};
use crate::auth::Action;
use crate::dialogue::change::{Change, ChangeKind};
use crate::dialogue::description::{self, Access, Flags};
use crate::error::ApiError;
use crate::http::body::{JsonBody, JsonPatchBody};
use crate::http::pagination::Page;
use crate::store::{DialogueRecord, new_id, now_millis};

pub fn configure(routes: &mut RouteTable) {
    routes.at(["/projects/{project_id}/dialogues/", "/projects/{project_id}/dialogues"]).get(list).post(create);
    routes.at(["/projects/{project_id}/dialogues/{dialogue_id}"]).get(get).put(replace).patch(patch_dialogue);
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
            *slot = Some(crate::http::flag::parse(&key, &value)?);
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

async fn list(req: HttpRequest, project: InProject, page: Page) -> Result<HttpResponse, ApiError> {
    let filters = DialogueFilters::from_query(req.query_string())?;
    let heads = project.state.store.list_dialogue_heads(project.id()).await?;
    let summaries: Vec<Value> = heads
        .iter()
        .map(|head| (head, Access::of(&project.caller.principal, project.id(), &head.id)))
        .filter(|(_, access)| access.can_view)
        .filter(|(head, access)| filters.keeps(head, *access))
        .map(|(head, access)| description::summarize(head, access))
        .collect();
    Ok(page.of(summaries))
}

async fn create(project: InProject, JsonBody(value): JsonBody) -> Result<HttpResponse, ApiError> {
    project.require(Action::CreateDialogue { project: project.id() })?;
    let state = &project.state;
    state.schemas.validate_new("dialogue", &value)?;
    let content = description::content_from(&value);
    state.schemas.validate_dialogue(&content)?;
    let record = DialogueRecord {
        id: new_id(),
        project_id: project.id().to_owned(),
        title: content["title"].as_str().unwrap_or_default().to_owned(),
        is_archived: content["is_archived"].as_bool().unwrap_or(false),
        content: content.to_string(),
        revision_number: 0,
        revision_id: None,
        release: None,
        created: now_millis(),
    };
    state.store.insert_dialogue(&record, &crate::webhooks::events::dialogue_created(&record)).await?;
    tracing::info!(project_id = %project.id(), dialogue_id = %record.id, by = %project.caller.user.id, "dialogue created");
    let access = Access::of(&project.caller.principal, project.id(), &record.id);
    let mut response = created(description::describe(&record, &content, access));
    response.headers_mut().insert(ETAG, etag(None).parse().map_err(ApiError::internal)?);
    Ok(response)
}

async fn get(dialogue: InDialogue) -> Result<HttpResponse, ApiError> {
    let head = dialogue.head().await?;
    Ok(dialogue.respond(&head))
}

async fn replace(dialogue: EditableDialogue, JsonBody(mut value): JsonBody) -> Result<HttpResponse, ApiError> {
    dialogue.state.schemas.validate_replacement("dialogue", &mut value)?;
    let content = description::content_from(&value);
    write(&dialogue, ChangeKind::Replace { content }).await
}

async fn patch_dialogue(
    dialogue: EditableDialogue,
    JsonPatchBody(operations): JsonPatchBody,
) -> Result<HttpResponse, ApiError> {
    dialogue.state.schemas.check_patch_paths("dialogue", &operations)?;
    write(&dialogue, ChangeKind::Edit { patch: operations, edit_type: None }).await
}

/// Stores one change and answers with the dialogue after it.
async fn write(dialogue: &InDialogue, kind: ChangeKind) -> Result<HttpResponse, ApiError> {
    let request = dialogue.write(vec![Change { kind, details: json!({}), created: None }]);
    let outcome = dialogue.state.dialogues.write(&dialogue.dialogue_id, request).await?;
    Ok(dialogue.respond(&outcome.head))
}
