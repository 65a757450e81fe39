//! The `Caller` extractor: turns the request's credential (bearer header, `access_token` on a
//! WebSocket upgrade) into the authenticated user and their grants.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header::{AUTHORIZATION, UPGRADE};
use actix_web::{FromRequest, HttpRequest, web};

use super::permissions::{Action, Principal};
use super::secrets;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{TokenKind, UserRecord};

/// An authenticated request's user.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user, as stored.
    pub user: UserRecord,
    /// The user's id and grants, for permission checks.
    pub principal: Principal,
    /// Hash of the credential used, so it can be revoked or spared.
    pub token_hash: String,
    /// How the credential was presented.
    pub token_kind: TokenKind,
    /// When the credential expires, ms since the epoch.
    pub token_expires_at: i64,
}

impl Caller {
    /// `Ok` when the caller may do `action`, otherwise `403 forbidden`.
    pub fn require(&self, action: Action<'_>) -> Result<(), ApiError> {
        if self.principal.may(action) {
            Ok(())
        } else {
            Err(ApiError::Forbidden("You do not have permission to do this".into()))
        }
    }

    /// Shorthand for the permission function.
    pub fn may(&self, action: Action<'_>) -> bool {
        self.principal.may(action)
    }
}

/// A caller that may be anonymous: absent credentials give `None`, bad ones still give `401`.
pub struct MaybeCaller(pub Option<Caller>);

/// The secret the request presents, if any.
fn presented_secret(req: &HttpRequest) -> Option<String> {
    if let Some(header) = req.headers().get(AUTHORIZATION) {
        let value = header.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        return scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned());
    }
    // Browsers cannot set headers on a WebSocket upgrade, so only upgrades may carry the token in
    // the query string (where it would otherwise end up in access logs).
    let is_upgrade = req.headers().get(UPGRADE).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    if is_upgrade {
        return form_urlencoded::parse(req.query_string().as_bytes())
            .find(|(key, _)| key == "access_token")
            .map(|(_, value)| value.into_owned());
    }
    None
}

fn has_credentials(req: &HttpRequest) -> bool {
    req.headers().contains_key(AUTHORIZATION) || presented_secret(req).is_some()
}

/// Resolves a presented secret into a caller.
pub async fn authenticate(state: &AppState, secret: &str) -> Result<Caller, ApiError> {
    let invalid = || ApiError::Unauthorized("The access token is invalid or has expired".into());
    let hash = secrets::digest(secret);
    let token = state.store.live_token(&hash).await?.ok_or_else(invalid)?;
    let user = state.store.user_by_id(&token.user_id).await?.ok_or_else(invalid)?;
    let principal = Principal { user_id: user.id.clone(), permissions: user.permissions.clone() };
    let token_expires_at = token.expires_at_millis();
    Ok(Caller { user, principal, token_hash: hash, token_kind: token.kind, token_expires_at })
}

fn state_of(req: &HttpRequest) -> Result<web::Data<AppState>, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("AppState missing from app data")))
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let secret = presented_secret(req);
        let state = state_of(req);
        Box::pin(async move {
            let state = state?;
            let secret = secret.ok_or_else(|| ApiError::Unauthorized("Authentication required".into()))?;
            authenticate(&state, &secret).await
        })
    }
}

impl FromRequest for MaybeCaller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        if !has_credentials(req) {
            return Box::pin(async { Ok(Self(None)) });
        }
        let caller = Caller::from_request(req, payload);
        Box::pin(async move { Ok(Self(Some(caller.await?))) })
    }
}
