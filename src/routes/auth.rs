//! `/auth/tokens` and `/auth/sessions`: signing in for a bearer token or a browser session, and
//! signing out.

use super::table::RouteTable;
use actix_web::cookie::time::Duration as CookieDuration;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header::CACHE_CONTROL;
use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};

use super::context::Anonymous;
use super::describe_user;
use crate::auth::login_throttle::AttemptKeys;
use crate::auth::{self, Caller, IssuedToken, passwords};
use crate::error::ApiError;
use crate::http::body::AnonymousJsonBody;
use crate::state::AppState;
use crate::store::{TokenKind, UserRecord};

pub fn configure(routes: &mut RouteTable) {
    routes.at(["/auth/tokens"]).post(create_token);
    routes.at(["/auth/tokens/current"]).delete(revoke_current_token);
    routes.at(["/auth/sessions"]).post(create_session);
    routes.at(["/auth/sessions/current"]).get(current_session).delete(end_session);
}

#[derive(Deserialize)]
struct Credentials {
    email: String,
    password: SecretString,
}

/// Checks e-mail and password (throttled); the same `401` whichever one is wrong.
pub(crate) async fn verify_credentials(anonymous: &Anonymous, value: Value) -> Result<UserRecord, ApiError> {
    let state = &anonymous.state;
    let credentials: Credentials = state.schemas.parse("credentials", value)?;
    let email = auth::normalize_email(&credentials.email);
    let keys = AttemptKeys::sign_in(&email, anonymous.client);
    let _turn = state.login_throttle.turn(&keys).await;
    state.login_throttle.check(&state.store, &keys).await?;
    let user = state.store.user_by_email(&email).await?;
    let stored_hash = user.as_ref().map(|user| user.password_hash.clone());
    match (passwords::verify(credentials.password, stored_hash).await?, user) {
        (true, Some(user)) => Ok(user),
        _ => {
            state.login_throttle.count(&state.store, &keys).await?;
            Err(ApiError::Unauthorized("Wrong email or password".into()))
        }
    }
}

/// Checks the credentials in `value` and issues a credential of `kind` for their user.
async fn sign_in(anonymous: &Anonymous, value: Value, kind: TokenKind) -> Result<(UserRecord, IssuedToken), ApiError> {
    let user = verify_credentials(anonymous, value).await?;
    let issued = auth::issue_token(&anonymous.state, &user.id, kind).await?;
    tracing::info!(user_id = %user.id, kind = ?kind, "signed in");
    Ok((user, issued))
}

async fn create_token(
    anonymous: Anonymous,
    AnonymousJsonBody(value): AnonymousJsonBody,
) -> Result<HttpResponse, ApiError> {
    let (user, issued) = sign_in(&anonymous, value, TokenKind::Bearer).await?;
    Ok(HttpResponse::Created().json(json!({
        "token": issued.secret,
        "token_type": "Bearer",
        "expires_at": issued.record.expires_at,
        "user": describe_user(&user, true),
    })))
}

/// The session cookie (an empty value with `Max-Age=0` removes it).
fn session_cookie(state: &AppState, value: String, max_age_secs: i64) -> Cookie<'static> {
    let mut cookie = Cookie::new(auth::SESSION_COOKIE, value);
    cookie.set_http_only(true);
    cookie.set_same_site(SameSite::Strict);
    cookie.set_path("/");
    cookie.set_secure(state.settings.public_url().starts_with("https://"));
    cookie.set_max_age(CookieDuration::seconds(max_age_secs));
    cookie
}

/// Signs a browser in: sets an `HttpOnly`, `SameSite=Strict` session cookie and returns the
/// CSRF token its unsafe requests must carry in `X-CSRF-Token`.
async fn create_session(
    anonymous: Anonymous,
    AnonymousJsonBody(value): AnonymousJsonBody,
) -> Result<HttpResponse, ApiError> {
    let (user, issued) = sign_in(&anonymous, value, TokenKind::Session).await?;
    let ttl = i64::try_from(anonymous.state.settings.token_ttl().as_secs()).unwrap_or(i64::MAX);
    Ok(HttpResponse::Ok().cookie(session_cookie(&anonymous.state, issued.secret, ttl)).json(json!({
        "user": describe_user(&user, true),
        "csrf_token": issued.csrf,
        "expires_at": issued.record.expires_at,
    })))
}

/// The signed-in browser's session: its user and CSRF token again, for a reloaded page (the
/// cookie is `HttpOnly`, and the token is never kept in `localStorage`). Cookie sessions only.
async fn current_session(
    caller: Caller,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let secret = req.cookie(auth::SESSION_COOKIE).map(|cookie| cookie.value().to_owned());
    let secret = secret.filter(|_| caller.token_kind == TokenKind::Session).ok_or_else(|| {
        ApiError::Unauthorized("This is not a browser session; sign in with POST /auth/sessions".into())
    })?;
    let csrf = auth::secrets::csrf_for(&secret);
    // A session issued before CSRF tokens were derived has another one, which cannot be shown
    // again: it has to sign in anew.
    let stored = state.store.live_token(&caller.token_hash).await?.and_then(|token| token.csrf_hash);
    if stored.as_deref() != Some(auth::secrets::digest(&csrf).as_str()) {
        return Err(ApiError::Unauthorized("This session is too old to resume; sign in again".into()));
    }
    Ok(HttpResponse::Ok().insert_header((CACHE_CONTROL, "no-store")).json(json!({
        "user": describe_user(&caller.user, true),
        "csrf_token": csrf,
        "expires_at": caller.token_expires_at,
    })))
}

async fn end_session(caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.store.delete_token(&caller.token_hash).await?;
    state.callers.forget_token(&caller.token_hash);
    Ok(HttpResponse::NoContent().cookie(session_cookie(&state, String::new(), 0)).finish())
}

async fn revoke_current_token(caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.store.delete_token(&caller.token_hash).await?;
    state.callers.forget_token(&caller.token_hash);
    Ok(HttpResponse::NoContent().finish())
}
