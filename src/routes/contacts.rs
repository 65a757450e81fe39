//! `/projects/{id}/contacts/`: the end users a project's dialogues talk to (from the chatbot
//! admin API's users whose bot can be muted for a human to take over), with their state shared
//! across the project's dialogues.

use super::table::RouteTable;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use super::context::{InProject, created};
use crate::auth::Action;
use crate::error::ApiError;
use crate::http::body::{JsonBody, JsonPatchBody};
use crate::http::pagination::Page;
use crate::state::AppState;
use crate::store::{ContactFilter, ContactRecord, ContactUpdate, new_id, now_millis};

pub fn configure(routes: &mut RouteTable) {
    routes
        .at(["/projects/{project_id}/contacts/", "/projects/{project_id}/contacts"])
        .get(list)
        .post(create)
        .patch(bulk_update);
    routes.at(["/projects/{project_id}/contacts/{contact_id}"]).get(get).put(replace).patch(patch_contact);
}

fn describe(contact: &ContactRecord) -> Result<Value, ApiError> {
    let state: Value = serde_json::from_str(&contact.state).map_err(ApiError::internal)?;
    Ok(json!({
        "id": contact.id,
        "url": format!("/projects/{}/contacts/{}", contact.project_id, contact.id),
        "address": contact.address,
        "channel_id": contact.channel_id,
        "bot_status": contact.bot_status,
        "state": state,
        "created": contact.created,
        "updated": contact.updated,
    }))
}

/// Contacts need read access to the whole project to read, write access to write.
fn require(project: &InProject, write: bool) -> Result<(), ApiError> {
    let id = project.id();
    project.require(if write { Action::WriteProject { project: id } } else { Action::ReadProject { project: id } })
}

fn contact_not_found(project_id: &str, id: &str) -> ApiError {
    ApiError::NotFound {
        message: format!("Contact {id} not found"),
        details: json!({ "id": id, "project_id": project_id }),
    }
}

/// A channel a contact names must be one the project uses.
async fn check_channel(state: &AppState, project_id: &str, channel_id: Option<&str>) -> Result<(), ApiError> {
    let Some(channel_id) = channel_id else { return Ok(()) };
    let channel = state.store.channel_by_id(channel_id).await?;
    if channel.and_then(|c| c.project_id).as_deref() != Some(project_id) {
        return Err(ApiError::invalid(
            "reference",
            "/channel_id",
            format!("Channel {channel_id} is not used by this project"),
        ));
    }
    Ok(())
}

/// The writable fields of a contact from a validated description.
fn fields(value: &Value, base: ContactRecord) -> ContactRecord {
    ContactRecord {
        address: value.get("address").and_then(Value::as_str).unwrap_or_default().to_owned(),
        channel_id: value.get("channel_id").and_then(Value::as_str).map(str::to_owned),
        bot_status: value.get("bot_status").and_then(Value::as_str).unwrap_or("active").to_owned(),
        state: value.get("state").cloned().unwrap_or_else(|| json!({})).to_string(),
        updated: now_millis(),
        ..base
    }
}

async fn create(project: InProject, JsonBody(value): JsonBody) -> Result<HttpResponse, ApiError> {
    require(&project, true)?;
    project.state.schemas.validate_new("contact", &value)?;
    let now = now_millis();
    let base = ContactRecord {
        id: new_id(),
        project_id: project.id().to_owned(),
        address: String::new(),
        channel_id: None,
        bot_status: String::new(),
        state: String::new(),
        created: now,
        updated: now,
    };
    let contact = fields(&value, base);
    check_channel(&project.state, project.id(), contact.channel_id.as_deref()).await?;
    project.state.store.insert_contact(&contact).await?;
    Ok(created(describe(&contact)?))
}

async fn list(req: HttpRequest, project: InProject, page: Page) -> Result<HttpResponse, ApiError> {
    require(&project, false)?;
    let mut filter = ContactFilter::default();
    for (key, value) in form_urlencoded::parse(req.query_string().as_bytes()) {
        match key.as_ref() {
            "bot_status" if value == "active" || value == "muted" => filter.bot_status = Some(value.into_owned()),
            "bot_status" => {
                return Err(ApiError::invalid(
                    "enum",
                    "/bot_status",
                    format!("bot_status is active or muted, not {value:?}"),
                ));
            }
            "channel_id" => filter.channel_id = Some(value.into_owned()),
            "address" => filter.address = Some(value.into_owned()),
            _ => {}
        }
    }
    let (contacts, total) = project.state.store.list_contacts(project.id(), &filter, page.skip(), page.limit()).await?;
    let descriptions = contacts.iter().map(describe).collect::<Result<Vec<_>, _>>()?;
    Ok(page.respond(total, &descriptions))
}

/// The contact a path names (`…/contacts/{contact_id}`), in the caller's project.
async fn load(project: &InProject, path: web::Path<(String, String)>) -> Result<ContactRecord, ApiError> {
    let id = path.into_inner().1;
    project.state.store.contact_by_id(project.id(), &id).await?.ok_or_else(|| contact_not_found(project.id(), &id))
}

async fn get(project: InProject, path: web::Path<(String, String)>) -> Result<HttpResponse, ApiError> {
    require(&project, false)?;
    Ok(HttpResponse::Ok().json(describe(&load(&project, path).await?)?))
}

async fn store_replacement(state: &AppState, value: &Value, current: ContactRecord) -> Result<HttpResponse, ApiError> {
    let (project_id, id) = (current.project_id.clone(), current.id.clone());
    let contact = fields(value, current);
    check_channel(state, &project_id, contact.channel_id.as_deref()).await?;
    let stored = state.store.replace_contact(&contact).await?.ok_or_else(|| contact_not_found(&project_id, &id))?;
    Ok(HttpResponse::Ok().json(describe(&stored)?))
}

async fn replace(
    project: InProject,
    path: web::Path<(String, String)>,
    JsonBody(mut value): JsonBody,
) -> Result<HttpResponse, ApiError> {
    require(&project, true)?;
    let current = load(&project, path).await?;
    project.state.schemas.validate_replacement("contact", &mut value)?;
    store_replacement(&project.state, &value, current).await
}

async fn patch_contact(
    project: InProject,
    path: web::Path<(String, String)>,
    JsonPatchBody(operations): JsonPatchBody,
) -> Result<HttpResponse, ApiError> {
    require(&project, true)?;
    let current = load(&project, path).await?;
    let state = &project.state;
    let description = state.schemas.patched("contact", describe(&current)?, &operations, &state.limits)?;
    store_replacement(state, &description, current).await
}

/// `{"ids":[…],"update":{…}}`: the same update for every listed contact, all or nothing; an
/// unknown id fails the whole request.
async fn bulk_update(project: InProject, JsonBody(value): JsonBody) -> Result<HttpResponse, ApiError> {
    require(&project, true)?;
    project.state.schemas.validate("contact-bulk-update", &value)?;
    let ids: Vec<String> = serde_json::from_value(value["ids"].clone()).map_err(ApiError::internal)?;
    let update = ContactUpdate {
        bot_status: value["update"].get("bot_status").and_then(Value::as_str).map(str::to_owned),
        state: value["update"].get("state").map(Value::to_string),
        updated: now_millis(),
    };
    let updated =
        project.state.store.update_contacts(project.id(), &ids, &update).await?.ok_or_else(|| ApiError::NotFound {
            message: "Some of the contacts do not exist in this project; none was changed".into(),
            details: json!({ "ids": ids, "project_id": project.id() }),
        })?;
    let descriptions = updated.iter().map(describe).collect::<Result<Vec<_>, _>>()?;
    Ok(HttpResponse::Ok().json(descriptions))
}
