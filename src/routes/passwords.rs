//! Password flows: a signed-in change, and the e-mailed reset with its confirmation.

use std::time::Duration;

use super::table::RouteTable;
use actix_web::HttpResponse;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::context::{Anonymous, Ctx};
use crate::auth::login_throttle::AttemptKeys;
use crate::auth::{self, passwords, secrets};
use crate::error::ApiError;
use crate::http::body::{AnonymousJsonBody, JsonBody};
use crate::mail::Mail;
use crate::state::AppState;
use crate::store::{PasswordReset, now_millis};

/// How long an e-mailed reset link stays valid.
const RESET_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

pub fn configure(routes: &mut RouteTable) {
    routes.at(["/user/password-changes/", "/user/password-changes"]).post(change);
    routes.at(["/password-resets/", "/password-resets"]).post(request_reset);
    // GET: the reset mail's link opens the editor, which asks for the new password.
    routes.at(["/password-confirmations/", "/password-confirmations"]).get(crate::web::page).post(confirm);
}

#[derive(Deserialize)]
struct PasswordChange {
    old_password: SecretString,
    new_password: SecretString,
}

async fn change(ctx: Ctx, JsonBody(value): JsonBody) -> Result<HttpResponse, ApiError> {
    let Ctx { caller, state } = ctx;
    let request: PasswordChange = state.schemas.parse("password-change", value)?;
    if !passwords::verify(request.old_password, Some(caller.user.password_hash.clone())).await? {
        return Err(ApiError::Forbidden("The old password is wrong".into()));
    }
    passwords::check_strength(
        request.new_password.expose_secret(),
        state.settings.password_min_length,
        "/new_password",
    )?;
    let hash = passwords::hash(request.new_password).await?;
    state.store.set_password_hash(&caller.user.id, &hash).await?;
    let revoked = state.store.delete_user_tokens(&caller.user.id, Some(&caller.token_hash)).await?;
    state.callers.forget_user(&caller.user.id);
    tracing::info!(user_id = %caller.user.id, revoked, "password changed; other tokens revoked");
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
struct ResetRequest {
    email: String,
}

/// Always `204`, whether or not the address belongs to a user; the lookup and the mail happen
/// after the response, so that timing does not tell either.
async fn request_reset(
    anonymous: Anonymous,
    AnonymousJsonBody(value): AnonymousJsonBody,
) -> Result<HttpResponse, ApiError> {
    let state = anonymous.state;
    let request: ResetRequest = state.schemas.parse("password-reset", value)?;
    let email = auth::normalize_email(&request.email);
    let keys = AttemptKeys::reset(&email, anonymous.client);
    let turn = state.login_throttle.turn(&keys).await;
    state.login_throttle.check(&state.store, &keys).await?;
    state.login_throttle.count(&state.store, &keys).await?;
    drop(turn);
    let state = state.into_inner();
    actix_web::rt::spawn(async move {
        if let Err(error) = send_reset_mail(&state, &email).await {
            tracing::error!(error = %error, "password reset mail failed");
        }
    });
    Ok(HttpResponse::NoContent().finish())
}

async fn send_reset_mail(state: &AppState, email: &str) -> anyhow::Result<()> {
    let Some(user) = state.store.user_by_email(email).await? else {
        tracing::info!("password reset requested for an unknown address");
        return Ok(());
    };
    let token = secrets::generate();
    let lifetime = i64::try_from(RESET_TOKEN_LIFETIME.as_millis()).unwrap_or(i64::MAX);
    state
        .store
        .insert_password_reset(&PasswordReset {
            hash: secrets::digest(&token),
            user_id: user.id.clone(),
            expires_at: now_millis() + lifetime,
        })
        .await?;
    let link = format!("{}/password-confirmations?token={token}", state.settings.public_url());
    let text = format!(
        "Hello {},\n\nSomeone asked to reset the password of your dialogue-server account.\n\
         To choose a new password, open this link within the next hour:\n\n{link}\n\n\
         If it was not you, ignore this mail; your password stays as it is.\n",
        if user.first_name.is_empty() { &user.email } else { &user.first_name },
    );
    state.mailer.send(Mail { to: user.email, subject: "Reset your password".into(), text }).await
}

#[derive(Deserialize)]
struct Confirmation {
    token: String,
    password: SecretString,
}

async fn confirm(anonymous: Anonymous, AnonymousJsonBody(value): AnonymousJsonBody) -> Result<HttpResponse, ApiError> {
    let state = &anonymous.state;
    let request: Confirmation = state.schemas.parse("password-confirmation", value)?;
    // Check the new password before consuming the single-use token, so a weak choice can be retried.
    passwords::check_strength(request.password.expose_secret(), state.settings.password_min_length, "/password")?;
    let reset = state
        .store
        .take_password_reset(&secrets::digest(&request.token))
        .await?
        .ok_or_else(|| ApiError::invalid("invalid", "/token", "The reset token is unknown, used or expired"))?;
    let hash = passwords::hash(request.password).await?;
    if !state.store.set_password_hash(&reset.user_id, &hash).await? {
        return Err(ApiError::invalid("invalid", "/token", "The reset token is unknown, used or expired"));
    }
    let revoked = state.store.delete_user_tokens(&reset.user_id, None).await?;
    state.callers.forget_user(&reset.user_id);
    tracing::info!(user_id = %reset.user_id, revoked, "password reset confirmed; every token revoked");
    Ok(HttpResponse::NoContent().finish())
}
