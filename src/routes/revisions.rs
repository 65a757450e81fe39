//! `/projects/{p}/dialogues/{d}/revisions/`: a dialogue's history, and new revisions (single or
//! bulk, edits and reverts), which go through the dialogue's actor like every other write.

use super::table::RouteTable;
use actix_web::http::header::{ETAG, LOCATION};
use actix_web::{HttpResponse, web};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::context::{EditableDialogue, InDialogue, etag};
use crate::dialogue::change::{Change, ChangeKind};
use crate::dialogue::history;
use crate::dialogue::revision::{describe_record, url as revision_url};
use crate::error::{ApiError, FieldError};
use crate::http::body::JsonBody;
use crate::http::ordering::Ordering;
use crate::http::pagination::Page;
use crate::patch;
use crate::state::AppState;

/// Most revisions one bulk request may carry.
pub const MAX_BULK: usize = 1000;

pub fn configure(routes: &mut RouteTable) {
    routes
        .at([
            "/projects/{project_id}/dialogues/{dialogue_id}/revisions/",
            "/projects/{project_id}/dialogues/{dialogue_id}/revisions",
        ])
        .get(list)
        .post(create);
    routes.at(["/projects/{project_id}/dialogues/{dialogue_id}/revisions/{revision_id}"]).get(get);
    routes.at(["/projects/{project_id}/dialogues/{dialogue_id}/revisions/{revision_id}/dialogue"]).get(dialogue_as_of);
}

/// The revision a path names, of this dialogue.
async fn find(dialogue: &InDialogue, revision_id: &str) -> Result<crate::store::RevisionRecord, ApiError> {
    dialogue
        .state
        .store
        .revision_by_id(&dialogue.dialogue_id, revision_id)
        .await?
        .filter(|record| record.project_id == dialogue.project_id)
        .ok_or_else(|| ApiError::NotFound {
            message: format!("Revision {revision_id} not found"),
            details: json!({ "id": revision_id, "dialogue_id": dialogue.dialogue_id }),
        })
}

/// The dialogue's description as of revision `number` (`revision_id`): for a release, and for
/// looking back in the history.
pub(super) async fn described_as_of(
    dialogue: &InDialogue,
    revision_id: &str,
    number: i64,
) -> Result<HttpResponse, ApiError> {
    let head = dialogue.head().await?;
    let content = history::state_at(&dialogue.state.store, &dialogue.dialogue_id, number).await?;
    let mut record = head.record;
    record.revision_id = Some(revision_id.to_owned());
    record.title = content.get("title").and_then(Value::as_str).unwrap_or_default().to_owned();
    record.is_archived = content.get("is_archived").and_then(Value::as_bool).unwrap_or(false);
    Ok(HttpResponse::Ok().json(crate::dialogue::description::describe(&record, &content, dialogue.access)))
}

/// `GET …/revisions/{revision_id}/dialogue`: the dialogue as that revision left it.
async fn dialogue_as_of(
    dialogue: InDialogue,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let record = find(&dialogue, &path.into_inner().2).await?;
    let (id, number) = (record.id.clone(), record.number);
    described_as_of(&dialogue, &id, number).await
}

/// `GET …/revisions/`: streamed from the cursor, each revision described from its stored text,
/// so that a page of large revisions costs about one revision's size in memory at a time.
async fn list(dialogue: InDialogue, page: Page, Ordering(order): Ordering) -> Result<HttpResponse, ApiError> {
    dialogue.exists().await?;
    let store = &dialogue.state.store;
    let (total, records) = store.list_revisions(&dialogue.dialogue_id, &order, page.skip(), page.limit()).await?;
    let descriptions = records.map(|record| describe_record(&record?).map_err(ApiError::internal));
    page.stream(total, descriptions).await
}

async fn get(dialogue: InDialogue, path: web::Path<(String, String, String)>) -> Result<HttpResponse, ApiError> {
    let record = find(&dialogue, &path.into_inner().2).await?;
    Ok(HttpResponse::Ok().json(describe_record(&record).map_err(ApiError::internal)?))
}

#[derive(Deserialize)]
struct NewRevision {
    #[serde(rename = "type")]
    kind: String,
    properties: Value,
    #[serde(default = "empty_object")]
    details: Value,
    created: Option<serde_json::Number>,
}

fn empty_object() -> Value {
    json!({})
}

/// Prefixes every field error's path with `prefix` (the position of a revision in a bulk body).
fn prefixed(error: ApiError, prefix: &str) -> ApiError {
    match error {
        ApiError::Validation(errors) => ApiError::Validation(
            errors.into_iter().map(|e| FieldError { path: format!("{prefix}{}", e.path), ..e }).collect(),
        ),
        other => other,
    }
}

/// The latest `created` a revision may give: past 2^53 a number no longer keeps every
/// millisecond, and past 2^63 it no longer fits.
const LATEST_CREATED: u64 = 1 << 53;

/// A client's `created` (a number of at least 0, the schema has checked) as milliseconds;
/// `None` past [`LATEST_CREATED`], which is refused rather than rounded or clamped.
fn created_millis(ms: &serde_json::Number) -> Option<i64> {
    match ms.as_u64() {
        Some(whole) => (whole <= LATEST_CREATED).then_some(whole as i64),
        None => ms.as_f64().filter(|ms| *ms <= LATEST_CREATED as f64).map(|ms| ms as i64),
    }
}

/// Turns one revision body into a change. A revert looks up the revision it names and rebuilds
/// the state right after it.
async fn to_change(state: &AppState, dialogue_id: &str, value: Value, prefix: &str) -> Result<Change, ApiError> {
    state.schemas.validate_new("revision", &value).map_err(|e| prefixed(e, prefix))?;
    let new: NewRevision = serde_json::from_value(value).map_err(ApiError::internal)?;
    let created = match &new.created {
        None => None,
        Some(ms) => Some(created_millis(ms).ok_or_else(|| {
            let message = format!("must be at most {LATEST_CREATED} (milliseconds since the Unix epoch)");
            prefixed(ApiError::invalid("maximum", "/created", message), prefix)
        })?),
    };
    let kind = match new.kind.as_str() {
        "revert" => {
            let revision_id = new.properties.get("revision_id").and_then(Value::as_str).unwrap_or_default().to_owned();
            let target = state.store.revision_by_id(dialogue_id, &revision_id).await?.ok_or_else(|| {
                ApiError::invalid(
                    "reference",
                    &format!("{prefix}/properties/revision_id"),
                    format!("No revision {revision_id} exists in this dialogue"),
                )
            })?;
            let content = history::state_at(&state.store, dialogue_id, target.number).await?;
            ChangeKind::Revert { revision_id, number: target.number, target: content }
        }
        _ => {
            let raw_patch = new.properties.get("patch").cloned().unwrap_or(Value::Null);
            let operations = patch::parse_patch(raw_patch, state.limits.max_patch_ops)
                .map_err(|e| prefixed(e, &format!("{prefix}/properties/patch")))?;
            state.schemas.check_patch_paths("dialogue", &operations)?;
            let edit_type = new.properties.get("edit_type").and_then(Value::as_str).map(str::to_owned);
            ChangeKind::Edit { patch: operations, edit_type }
        }
    };
    Ok(Change { kind, details: new.details, created })
}

async fn create(dialogue: EditableDialogue, JsonBody(value): JsonBody) -> Result<HttpResponse, ApiError> {
    let (bulk, items) = match value {
        Value::Array(items) => (true, items),
        single => (false, vec![single]),
    };
    if bulk && (items.is_empty() || items.len() > MAX_BULK) {
        return Err(ApiError::invalid(
            if items.is_empty() { "minItems" } else { "maxItems" },
            "",
            format!("A bulk request carries 1 to {MAX_BULK} revisions, not {}", items.len()),
        ));
    }
    // Refuse early (and cheaply) when the dialogue does not exist here.
    dialogue.exists().await?;
    let mut changes = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let prefix = if bulk { format!("/{index}") } else { String::new() };
        changes.push(to_change(&dialogue.state, &dialogue.dialogue_id, item, &prefix).await?);
    }
    let outcome = dialogue.state.dialogues.write(&dialogue.dialogue_id, dialogue.write(changes)).await?;
    let descriptions: Vec<Box<RawValue>> = outcome.revisions.iter().map(|revision| revision.describe()).collect();
    let tag = etag(outcome.head.revision_id());
    let mut response = if bulk {
        HttpResponse::Created().json(&descriptions)
    } else {
        let (Some(revision), Some(single)) = (outcome.revisions.last(), descriptions.last()) else {
            return Err(ApiError::internal(anyhow::anyhow!("no revision made")));
        };
        HttpResponse::Created().insert_header((LOCATION, revision_url(&revision.record))).json(single)
    };
    response.headers_mut().insert(ETAG, tag.parse().map_err(ApiError::internal)?);
    Ok(response)
}
