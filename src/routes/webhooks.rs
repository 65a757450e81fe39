//! `/projects/{p}/webhooks/`: a project's webhooks (project admins only) and their delivery
//! log. A hook's secret is random (256 bits), shown once when the hook is created, and stored
//! sealed by the vault; its URL must reach public addresses only (docs/webhooks.md).

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::context::InProject;
use super::table::RouteTable;
use crate::auth::{Action, secrets};
use crate::error::ApiError;
use crate::http::body::JsonBody;
use crate::http::pagination::Page;
use crate::store::{DeliveryRecord, WebhookRecord, new_id, now_millis};
use crate::vault::VaultError;
use crate::webhooks::address::{self, Refusal};
use crate::webhooks::events::DIALOGUE_CHANGED;
use crate::webhooks::watch;

pub fn configure(routes: &mut RouteTable) {
    routes.at(["/projects/{project_id}/webhooks/", "/projects/{project_id}/webhooks"]).get(list).post(create);
    routes.at(["/projects/{project_id}/webhooks/{webhook_id}"]).get(get).delete(delete);
    routes
        .at([
            "/projects/{project_id}/webhooks/{webhook_id}/deliveries/",
            "/projects/{project_id}/webhooks/{webhook_id}/deliveries",
        ])
        .get(deliveries);
}

fn describe(hook: &WebhookRecord) -> Value {
    json!({
        "id": hook.id,
        "url": hook.url,
        "events": hook.events,
        "created": hook.created,
    })
}

fn describe_delivery(delivery: &DeliveryRecord) -> Value {
    json!({
        "id": delivery.id,
        "event": delivery.event,
        "status": delivery.status,
        "response_status": delivery.response_status,
        "attempts": delivery.attempts,
        "created": delivery.created,
        "delivered": delivery.delivered,
    })
}

#[derive(Deserialize)]
struct NewWebhook {
    url: String,
    events: Vec<String>,
}

async fn create(project: InProject, JsonBody(value): JsonBody) -> Result<HttpResponse, ApiError> {
    project.require(Action::ManageWebhooks { project: project.id() })?;
    let state = &project.state;
    let new: NewWebhook = state.schemas.parse_new("webhook", value)?;
    if !state.vault.can_seal() {
        return Err(ApiError::invalid(
            "secretKey",
            "",
            "Webhooks cannot be registered: the server has no DIALOGUE_SECRET_KEY to encrypt their secrets with",
        ));
    }
    let checked =
        address::check(&new.url, state.settings.webhook_allow_private).await.map_err(|refusal| refused(&refusal))?;
    if !checked.url.username().is_empty() || checked.url.password().is_some() {
        // It would be shown by every GET and written to logs: credentials go in the path or a
        // query token the receiver checks, and the signature proves the sender.
        return Err(ApiError::invalid("credentials", "/url", "A webhook URL must not carry a user name or password"));
    }
    let id = new_id();
    let secret = secrets::generate();
    let sealed = state.vault.seal(&json!(secret), &id).map_err(|error| match error {
        VaultError::NoKey => ApiError::invalid("secretKey", "", "The server has no DIALOGUE_SECRET_KEY"),
        VaultError::Undecryptable => ApiError::internal(anyhow::anyhow!("sealing a webhook secret failed")),
    })?;
    let hook = WebhookRecord {
        id,
        project_id: project.id().to_owned(),
        url: new.url,
        events: new.events,
        secret: sealed,
        created: now_millis(),
        created_by: project.caller.user.id.clone(),
    };
    if hook.receives(DIALOGUE_CHANGED) {
        // Other processes learn of the hook within a second; until then their writes to this
        // project's dialogues take no watch. Watch them all for a while, so none is missed:
        // first, so that a failure leaves no hook behind (extra watches are harmless).
        let until = now_millis() + i64::try_from(watch::SPAN.as_millis()).unwrap_or(i64::MAX);
        state.store.watch_project_dialogues(&hook.project_id, until).await?;
    }
    state.store.insert_webhook(&hook).await?;
    if hook.receives(DIALOGUE_CHANGED) {
        state.hooks.add(&hook.project_id);
    }
    tracing::info!(project_id = %hook.project_id, webhook_id = %hook.id, url = %hook.url, by = %hook.created_by, "webhook registered");
    let mut description = describe(&hook);
    description["secret"] = json!(secret);
    // Not `created()`: a hook's `url` is its receiver's, not where the hook is.
    let location = format!("/projects/{}/webhooks/{}", hook.project_id, hook.id);
    Ok(HttpResponse::Created().insert_header((actix_web::http::header::LOCATION, location)).json(description))
}

/// A URL the address rule refuses, as a `422` on `/url`.
fn refused(refusal: &Refusal) -> ApiError {
    let kind = match refusal {
        Refusal::Malformed(_) => "format",
        Refusal::Scheme(_) => "scheme",
        Refusal::Unresolved(_) => "unresolved",
        Refusal::NotPublic { .. } => "privateAddress",
    };
    ApiError::invalid(kind, "/url", refusal.to_string())
}

async fn list(project: InProject, page: Page) -> Result<HttpResponse, ApiError> {
    project.require(Action::ManageWebhooks { project: project.id() })?;
    let (hooks, total) = project.state.store.list_webhooks(project.id(), page.skip(), page.limit()).await?;
    let descriptions: Vec<Value> = hooks.iter().map(describe).collect();
    Ok(page.respond(total, &descriptions))
}

/// The hook a path names, in the caller's project.
async fn find(project: &InProject, path: web::Path<(String, String)>) -> Result<WebhookRecord, ApiError> {
    project.require(Action::ManageWebhooks { project: project.id() })?;
    let webhook_id = path.into_inner().1;
    project
        .state
        .store
        .webhook_in(project.id(), &webhook_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Webhook", &webhook_id))
}

async fn get(project: InProject, path: web::Path<(String, String)>) -> Result<HttpResponse, ApiError> {
    let hook = find(&project, path).await?;
    Ok(HttpResponse::Ok().json(describe(&hook)))
}

async fn delete(project: InProject, path: web::Path<(String, String)>) -> Result<HttpResponse, ApiError> {
    let hook = find(&project, path).await?;
    if !project.state.store.delete_webhook(project.id(), &hook.id).await? {
        return Err(ApiError::not_found("Webhook", &hook.id));
    }
    tracing::info!(project_id = %hook.project_id, webhook_id = %hook.id, by = %project.caller.user.id, "webhook deleted");
    Ok(HttpResponse::NoContent().finish())
}

async fn deliveries(
    project: InProject,
    path: web::Path<(String, String)>,
    page: Page,
) -> Result<HttpResponse, ApiError> {
    let hook = find(&project, path).await?;
    let (deliveries, total) = project.state.store.list_deliveries(&hook.id, page.skip(), page.limit()).await?;
    let descriptions: Vec<Value> = deliveries.iter().map(describe_delivery).collect();
    Ok(page.respond(total, &descriptions))
}
