//! `/user` and `/users/`: accounts.

use super::table::RouteTable;
use actix_web::{HttpResponse, web};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};

use super::context::{Ctx, created, until_unchanged};
use crate::auth::{self, Action, Caller, MaybeCaller, passwords};
use crate::error::ApiError;
use crate::http::body::{AnonymousJsonBody, JsonBody, JsonPatchBody};
use crate::http::pagination::Page;
use crate::state::AppState;
use crate::store::{NewUser, UserRecord};

pub fn configure(routes: &mut RouteTable) {
    routes.at(["/user"]).get(current_user);
    routes.at(["/users/", "/users"]).get(list_users).post(create_user);
    routes.at(["/users/{user_id}"]).get(get_user).put(replace_user).patch(patch_user);
}

/// A user's API description; with its permissions on `GET /user` and sign-in.
pub fn describe_user(user: &UserRecord, with_permissions: bool) -> Value {
    let mut description = json!({
        "id": user.id,
        "url": format!("/users/{}", user.id),
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
    });
    if with_permissions {
        description["permissions"] = json!(user.permissions);
    }
    description
}

async fn current_user(caller: Caller) -> HttpResponse {
    HttpResponse::Ok().json(describe_user(&caller.user, true))
}

async fn list_users(ctx: Ctx, page: Page) -> Result<HttpResponse, ApiError> {
    ctx.require(Action::AdministerUsers)?;
    let (users, total) = ctx.state.store.list_users(page.skip(), page.limit()).await?;
    let descriptions: Vec<Value> = users.iter().map(|user| describe_user(user, false)).collect();
    Ok(page.respond(total, &descriptions))
}

#[derive(Deserialize)]
struct NewUserBody {
    email: String,
    password: SecretString,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
}

async fn create_user(
    caller: MaybeCaller,
    state: web::Data<AppState>,
    AnonymousJsonBody(mut value): AnonymousJsonBody,
) -> Result<HttpResponse, ApiError> {
    // Spaces around the address are trimmed before its format is checked, as at sign-in.
    if let Some(email) = value.get_mut("email")
        && let Some(text) = email.as_str()
    {
        *email = Value::from(text.trim());
    }
    if !state.settings.open_signup {
        let caller = caller.0.ok_or_else(|| ApiError::Unauthorized("Authentication required".into()))?;
        caller.require(Action::AdministerUsers)?;
    }
    let new: NewUserBody = state.schemas.parse_new("new-user", value)?;
    passwords::check_strength(
        secrecy::ExposeSecret::expose_secret(&new.password),
        state.settings.password_min_length,
        "/password",
    )?;
    let user = state
        .store
        .insert_user(NewUser {
            email: auth::normalize_email(&new.email),
            first_name: new.first_name,
            last_name: new.last_name,
            password_hash: passwords::hash(new.password).await?,
            permissions: Vec::new(),
        })
        .await?;
    tracing::info!(user_id = %user.id, "user created");
    Ok(created(describe_user(&user, false)))
}

/// Loads the user a self-or-admin endpoint is about.
async fn target_user(ctx: &Ctx, user_id: &str) -> Result<UserRecord, ApiError> {
    ctx.require(Action::ManageAccount { user: user_id })?;
    ctx.state.store.user_by_id(user_id).await?.ok_or_else(|| ApiError::not_found("User", user_id))
}

async fn get_user(path: web::Path<String>, ctx: Ctx) -> Result<HttpResponse, ApiError> {
    let user = target_user(&ctx, &path).await?;
    Ok(HttpResponse::Ok().json(describe_user(&user, false)))
}

/// Writes new names with optimistic concurrency: `edit` turns the current description into the
/// new one, and is re-run on a fresh read if someone else updated the user meanwhile.
async fn update_names(
    path: web::Path<String>,
    ctx: Ctx,
    edit: impl Fn(&UserRecord) -> Result<Value, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let mut user = target_user(&ctx, &path).await?;
    let store = &ctx.state.store;
    let stored = until_unchanged("The user", async || {
        let updated = edit(&user)?;
        let text = |field: &str| updated.get(field).and_then(Value::as_str).unwrap_or_default().to_owned();
        let stored = store.update_user_names(&user.id, user.version, &text("first_name"), &text("last_name")).await?;
        if stored.is_none() {
            user = store.user_by_id(&user.id).await?.ok_or_else(|| ApiError::not_found("User", &user.id))?;
        }
        Ok(stored)
    })
    .await?;
    ctx.state.callers.forget_user(&stored.id);
    Ok(HttpResponse::Ok().json(describe_user(&stored, false)))
}

async fn replace_user(
    path: web::Path<String>,
    ctx: Ctx,
    JsonBody(mut value): JsonBody,
) -> Result<HttpResponse, ApiError> {
    ctx.state.schemas.validate_replacement("user", &mut value)?;
    update_names(path, ctx, |_| Ok(value.clone())).await
}

async fn patch_user(
    path: web::Path<String>,
    ctx: Ctx,
    JsonPatchBody(operations): JsonPatchBody,
) -> Result<HttpResponse, ApiError> {
    let state = ctx.state.clone();
    update_names(path, ctx, |current| {
        state.schemas.patched("user", describe_user(current, false), &operations, &state.limits)
    })
    .await
}
