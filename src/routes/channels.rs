//! `/channels/` and `/projects/{id}/channels/`: the addresses dialogues reach end users on. A
//! channel belongs to at most one project at a time; its `credentials` are write-only and
//! encrypted at rest.

use std::collections::HashMap;

use super::table::RouteTable;
use actix_web::{HttpResponse, web};
use serde_json::{Value, json};

use super::context::{Ctx, InProject, created};
use crate::auth::Action;
use crate::error::ApiError;
use crate::http::body::{JsonBody, JsonPatchBody};
use crate::http::pagination::Page;
use crate::state::AppState;
use crate::store::{Assignment, ChannelRecord, CredentialsChange, ProviderRecord, new_id, now_millis};
use crate::vault::{Sealed, VaultError};

pub fn configure(routes: &mut RouteTable) {
    routes.at(["/channels/", "/channels"]).get(list).post(create);
    routes.at(["/channels/{channel_id}"]).get(get).put(replace).patch(patch_channel).delete(delete);
    routes.at(["/projects/{project_id}/channels/", "/projects/{project_id}/channels"]).get(list_for_project);
}

/// A provider's summary.
pub fn summarize_provider(provider: &ProviderRecord) -> Value {
    json!({ "id": provider.id, "url": format!("/providers/{}", provider.id), "title": provider.title })
}

/// A channel's summary (as in a provider's description).
pub fn summarize_channel(channel: &ChannelRecord) -> Value {
    json!({
        "id": channel.id,
        "url": format!("/channels/{}", channel.id),
        "project_id": channel.project_id,
        "title": channel.title,
        "address": channel.address,
        "type": channel.kind,
        "is_available": channel.project_id.is_none(),
        "has_credentials": channel.credentials.is_some(),
    })
}

/// A channel's description: its summary and its provider's.
fn describe(channel: &ChannelRecord, provider: Option<&ProviderRecord>) -> Value {
    let mut description = summarize_channel(channel);
    description["provider"] = provider.map(summarize_provider).unwrap_or(Value::Null);
    description
}

/// Descriptions of several channels, with their providers read in one query.
async fn describe_all(state: &AppState, channels: &[ChannelRecord]) -> Result<Vec<Value>, ApiError> {
    let mut ids: Vec<String> = channels.iter().map(|c| c.provider_id.clone()).collect();
    ids.sort();
    ids.dedup();
    let providers: HashMap<String, ProviderRecord> =
        state.store.providers_by_ids(&ids).await?.into_iter().map(|p| (p.id.clone(), p)).collect();
    Ok(channels.iter().map(|c| describe(c, providers.get(&c.provider_id))).collect())
}

async fn describe_one(state: &AppState, channel: &ChannelRecord) -> Result<Value, ApiError> {
    let provider = state.store.provider_by_id(&channel.provider_id).await?;
    Ok(describe(channel, provider.as_ref()))
}

fn channel_not_found(id: &str) -> ApiError {
    ApiError::not_found("Channel", id)
}

/// Seals credentials for a channel; without a key, a clear `422`.
fn seal(state: &AppState, credentials: &Value, channel_id: &str) -> Result<Sealed, ApiError> {
    state.vault.seal(credentials, channel_id).map_err(|error| match error {
        VaultError::NoKey => ApiError::invalid(
            "secretKey",
            "/credentials",
            "Credentials cannot be stored: the server has no DIALOGUE_SECRET_KEY to encrypt them with",
        ),
        VaultError::Undecryptable => ApiError::internal(anyhow::anyhow!("sealing credentials failed")),
    })
}

/// Checks that a project a channel is given to exists.
async fn check_project(state: &AppState, project_id: Option<&str>) -> Result<(), ApiError> {
    if let Some(project_id) = project_id
        && state.store.project_by_id(project_id).await?.is_none()
    {
        return Err(ApiError::invalid("reference", "/project_id", format!("No project {project_id} exists")));
    }
    Ok(())
}

async fn list(ctx: Ctx, page: Page) -> Result<HttpResponse, ApiError> {
    ctx.require(Action::ManageChannels)?;
    let (channels, total) = ctx.state.store.list_channels(None, page.skip(), page.limit()).await?;
    Ok(page.respond(total, &describe_all(&ctx.state, &channels).await?))
}

async fn list_for_project(project: InProject, page: Page) -> Result<HttpResponse, ApiError> {
    let store = &project.state.store;
    let (channels, total) = store.list_channels(Some(("project_id", project.id())), page.skip(), page.limit()).await?;
    Ok(page.respond(total, &describe_all(&project.state, &channels).await?))
}

async fn get(path: web::Path<String>, ctx: Ctx) -> Result<HttpResponse, ApiError> {
    let channel = ctx.state.store.channel_by_id(&path).await?.ok_or_else(|| channel_not_found(&path))?;
    let caller = &ctx.caller;
    let allowed = caller.may(Action::ManageChannels)
        || channel.project_id.as_deref().is_some_and(|project| caller.may(Action::ViewProject { project }));
    if !allowed {
        return Err(ApiError::Forbidden("Only admins and the project using a channel may see it".into()));
    }
    Ok(HttpResponse::Ok().json(describe_one(&ctx.state, &channel).await?))
}

async fn create(ctx: Ctx, JsonBody(value): JsonBody) -> Result<HttpResponse, ApiError> {
    ctx.require(Action::ManageChannels)?;
    let state = &ctx.state;
    state.schemas.validate_new("new-channel", &value)?;
    let text = |field: &str| value.get(field).and_then(Value::as_str).unwrap_or_default().to_owned();
    let provider_id = text("provider_id");
    if state.store.provider_by_id(&provider_id).await?.is_none() {
        return Err(ApiError::invalid("reference", "/provider_id", format!("No provider {provider_id} exists")));
    }
    let project_id = value.get("project_id").and_then(Value::as_str).map(str::to_owned);
    check_project(state, project_id.as_deref()).await?;
    let id = new_id();
    let credentials = match value.get("credentials") {
        Some(credentials @ Value::Object(_)) => Some(seal(state, credentials, &id)?),
        _ => None,
    };
    let channel = ChannelRecord {
        id,
        title: text("title"),
        address: text("address"),
        kind: text("type"),
        provider_id,
        project_id,
        credentials,
        created: now_millis(),
    };
    state.store.insert_channel(&channel).await?;
    tracing::info!(channel_id = %channel.id, by = %ctx.caller.user.id, "channel registered");
    Ok(created(describe_one(state, &channel).await?))
}

/// What a PUT or PATCH asks of a channel: its project, and its credentials (`None`: leave
/// them; `Some(Null)`: remove them; `Some(object)`: replace them).
struct ChannelUpdate {
    project_id: Option<String>,
    credentials: Option<Value>,
}

/// Applies an update in one conditional write: the project claim (refused with `409`, and
/// nothing changed, when another project holds the channel) and the credentials, sealed with the
/// current key. Credentials sealed with the previous key are re-sealed on any write.
async fn apply_update(
    state: &AppState,
    channel: ChannelRecord,
    update: ChannelUpdate,
) -> Result<HttpResponse, ApiError> {
    check_project(state, update.project_id.as_deref()).await?;
    let credentials = match &update.credentials {
        Some(Value::Null) => CredentialsChange::Remove,
        Some(credentials) => CredentialsChange::Set(seal(state, credentials, &channel.id)?),
        None => match &channel.credentials {
            Some(sealed) if state.vault.is_stale(sealed) => {
                CredentialsChange::Set(state.vault.reseal(sealed, &channel.id).map_err(|_| {
                    ApiError::internal(anyhow::anyhow!("channel {} credentials undecryptable", channel.id))
                })?)
            }
            _ => CredentialsChange::Keep,
        },
    };
    let stored = match state.store.assign_channel(&channel.id, update.project_id.as_deref(), credentials).await? {
        Assignment::Assigned(stored) => stored,
        Assignment::Taken => {
            return Err(ApiError::Conflict {
                message: "The channel is already used by another project".into(),
                details: json!({ "id": channel.id }),
            });
        }
        Assignment::Missing => return Err(channel_not_found(&channel.id)),
    };
    Ok(HttpResponse::Ok().json(describe_one(state, &stored).await?))
}

/// The channel a path names, for an admin.
async fn admin_channel(ctx: &Ctx, id: &str) -> Result<ChannelRecord, ApiError> {
    ctx.require(Action::ManageChannels)?;
    ctx.state.store.channel_by_id(id).await?.ok_or_else(|| channel_not_found(id))
}

async fn replace(path: web::Path<String>, ctx: Ctx, JsonBody(mut value): JsonBody) -> Result<HttpResponse, ApiError> {
    let channel = admin_channel(&ctx, &path).await?;
    ctx.state.schemas.validate_replacement("channel", &mut value)?;
    let update = ChannelUpdate {
        project_id: value.get("project_id").and_then(Value::as_str).map(str::to_owned),
        credentials: value.get("credentials").cloned(),
    };
    apply_update(&ctx.state, channel, update).await
}

async fn patch_channel(
    path: web::Path<String>,
    ctx: Ctx,
    JsonPatchBody(operations): JsonPatchBody,
) -> Result<HttpResponse, ApiError> {
    let channel = admin_channel(&ctx, &path).await?;
    let state = &ctx.state;
    let current = describe_one(state, &channel).await?;
    let description = state.schemas.patched("channel", current, &operations, &state.limits)?;
    let update = ChannelUpdate {
        project_id: description.get("project_id").and_then(Value::as_str).map(str::to_owned),
        credentials: description.get("credentials").cloned(),
    };
    apply_update(state, channel, update).await
}

async fn delete(path: web::Path<String>, ctx: Ctx) -> Result<HttpResponse, ApiError> {
    ctx.require(Action::ManageChannels)?;
    if !ctx.state.store.delete_channel(&path).await? {
        return Err(channel_not_found(&path));
    }
    Ok(HttpResponse::NoContent().finish())
}
