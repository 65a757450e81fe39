//! `/auth/tokens`: signing in for a bearer token, and signing out.

use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use super::describe_user;
use crate::auth::{self, Caller, passwords};
use crate::error::ApiError;
use crate::http::body;
use crate::state::AppState;
use crate::store::{TokenKind, UserRecord};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/auth/tokens").route(web::post().to(create_token)));
    cfg.service(web::resource("/auth/tokens/current").route(web::delete().to(revoke_current_token)));
}

#[derive(Deserialize)]
struct Credentials {
    email: String,
    password: SecretString,
}

/// Checks e-mail and password (throttled); the same `401` whichever one is wrong.
pub(crate) async fn verify_credentials(
    state: &AppState,
    req: &HttpRequest,
    raw: &[u8],
) -> Result<UserRecord, ApiError> {
    let value = body::json(req, raw)?;
    state.schemas.validate("credentials", &value)?;
    let credentials: Credentials = serde_json::from_value(value).map_err(ApiError::internal)?;
    let email = auth::normalize_email(&credentials.email);
    state.login_limiter.check(&email, req.peer_addr().map(|addr| addr.ip()))?;
    let user = state.store.user_by_email(&email).await?;
    let stored_hash = user.as_ref().map(|user| user.password_hash.clone());
    match (passwords::verify(credentials.password, stored_hash).await?, user) {
        (true, Some(user)) => Ok(user),
        _ => Err(ApiError::Unauthorized("Wrong email or password".into())),
    }
}

async fn create_token(req: HttpRequest, state: web::Data<AppState>, raw: web::Bytes) -> Result<HttpResponse, ApiError> {
    let user = verify_credentials(&state, &req, &raw).await?;
    let (token, record) = auth::issue_token(&state, &user.id, TokenKind::Bearer).await?;
    tracing::info!(user_id = %user.id, "bearer token issued");
    Ok(HttpResponse::Created().json(json!({
        "token": token,
        "token_type": "Bearer",
        "expires_at": record.expires_at_millis(),
        "user": describe_user(&user, true),
    })))
}

async fn revoke_current_token(caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.store.delete_token(&caller.token_hash).await?;
    Ok(HttpResponse::NoContent().finish())
}
