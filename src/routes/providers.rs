//! `/providers/`: who offers the channels (an operator, a social network).

use super::table::RouteTable;
use actix_web::{HttpResponse, web};
use serde_json::Value;

use super::channels::{summarize_channel, summarize_provider};
use super::context::{Ctx, created};
use crate::auth::Action;
use crate::error::ApiError;
use crate::http::body::JsonBody;
use crate::http::pagination::Page;
use crate::store::{ProviderRecord, new_id, now_millis};

/// Most channels listed in one provider's description.
const MAX_CHANNELS_SHOWN: i64 = 1000;

pub fn configure(routes: &mut RouteTable) {
    routes.at(["/providers/", "/providers"]).get(list).post(create);
    routes.at(["/providers/{provider_id}"]).get(get);
}

async fn list(ctx: Ctx, page: Page) -> Result<HttpResponse, ApiError> {
    ctx.require(Action::ManageChannels)?;
    let (providers, total) = ctx.state.store.list_providers(page.skip(), page.limit()).await?;
    let summaries: Vec<Value> = providers.iter().map(summarize_provider).collect();
    Ok(page.respond(total, &summaries))
}

/// Admins see every channel of the provider; others see the ones their projects use, and are
/// refused when there is none.
async fn get(path: web::Path<String>, ctx: Ctx) -> Result<HttpResponse, ApiError> {
    let store = &ctx.state.store;
    let provider = store.provider_by_id(&path).await?.ok_or_else(|| ApiError::not_found("Provider", &path))?;
    let (channels, _) = store.list_channels(Some(("provider_id", &provider.id)), 0, MAX_CHANNELS_SHOWN).await?;
    let caller = &ctx.caller;
    let admin = caller.may(Action::ManageChannels);
    let visible: Vec<Value> = channels
        .iter()
        .filter(|c| admin || c.project_id.as_deref().is_some_and(|project| caller.may(Action::ViewProject { project })))
        .map(summarize_channel)
        .collect();
    if !admin && visible.is_empty() {
        return Err(ApiError::Forbidden("Only admins and projects using this provider's channels may see it".into()));
    }
    let mut description = summarize_provider(&provider);
    description["channels"] = Value::Array(visible);
    Ok(HttpResponse::Ok().json(description))
}

async fn create(ctx: Ctx, JsonBody(value): JsonBody) -> Result<HttpResponse, ApiError> {
    ctx.require(Action::ManageChannels)?;
    ctx.state.schemas.validate_new("provider", &value)?;
    let title = value.get("title").and_then(Value::as_str).unwrap_or_default().to_owned();
    let provider = ProviderRecord { id: new_id(), title, created: now_millis() };
    ctx.state.store.insert_provider(&provider).await?;
    let mut description = summarize_provider(&provider);
    description["channels"] = Value::Array(Vec::new());
    Ok(created(description))
}
