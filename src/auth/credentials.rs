//! The `Caller` extractor: turns the request's credential (bearer header, `access_token` on a
//! WebSocket upgrade, or the browser session cookie) into the authenticated user and their
//! grants, and enforces the CSRF defence of cookie-authenticated requests.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::Method;
use actix_web::http::header::{AUTHORIZATION, ORIGIN, UPGRADE};
use actix_web::{FromRequest, HttpRequest, web};

use super::caller::{Caller, MaybeCaller};
use super::permissions::Principal;
use super::secrets;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::TokenKind;

/// A credential as presented.
struct Presented {
    secret: String,
    via_cookie: bool,
}

fn is_upgrade(req: &HttpRequest) -> bool {
    req.headers().get(UPGRADE).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"))
}

/// The credential the request presents, if any: the `Authorization` header, else (on a
/// WebSocket upgrade) `access_token` in the query string, else the browser session cookie.
fn presented(req: &HttpRequest) -> Option<Presented> {
    if let Some(header) = req.headers().get(AUTHORIZATION) {
        let value = header.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| Presented { secret: token.trim().to_owned(), via_cookie: false });
    }
    // Browsers cannot set headers on a WebSocket upgrade, so only upgrades may carry the token in
    // the query string (where it would otherwise end up in access logs).
    if is_upgrade(req)
        && let Some((_, token)) =
            form_urlencoded::parse(req.query_string().as_bytes()).find(|(key, _)| key == "access_token")
    {
        return Some(Presented { secret: token.into_owned(), via_cookie: false });
    }
    req.cookie(super::SESSION_COOKIE)
        .filter(|cookie| !cookie.value().is_empty())
        .map(|cookie| Presented { secret: cookie.value().to_owned(), via_cookie: true })
}

/// Whether a browser `Origin` is this server's: the origin of the public URL, or the host the
/// request was sent to.
fn same_origin(origin: &str, public_url: &str, req: &HttpRequest) -> bool {
    let origin_of = |url: &str| url.splitn(4, '/').take(3).collect::<Vec<_>>().join("/");
    if origin == origin_of(public_url) {
        return true;
    }
    let host = req.headers().get(actix_web::http::header::HOST).and_then(|v| v.to_str().ok());
    let origin_host = origin.split_once("://").map(|(_, host)| host);
    host.is_some() && origin_host == host
}

fn has_credentials(req: &HttpRequest) -> bool {
    req.headers().contains_key(AUTHORIZATION) || presented(req).is_some()
}

/// What a cookie-authenticated request must also show: for unsafe methods the session's CSRF
/// token in `X-CSRF-Token`; for a WebSocket upgrade an `Origin` (when sent) equal to the
/// server's public origin, against cross-site socket hijacking.
struct CookieChecks {
    unsafe_method: bool,
    csrf: Option<String>,
    foreign_origin: bool,
}

impl CookieChecks {
    fn of(req: &HttpRequest, state: &AppState) -> Self {
        let method = req.method();
        let unsafe_method = !(method == Method::GET || method == Method::HEAD || method == Method::OPTIONS);
        let csrf = req.headers().get(super::CSRF_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let foreign_origin = is_upgrade(req)
            && req
                .headers()
                .get(ORIGIN)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|origin| !same_origin(origin, &state.settings.public_url(), req));
        Self { unsafe_method, csrf, foreign_origin }
    }
}

/// Resolves a presented secret into a caller.
pub async fn authenticate(state: &AppState, secret: &str) -> Result<Caller, ApiError> {
    authenticate_with_csrf(state, secret).await.map(|(caller, _)| caller)
}

/// Resolves a presented secret into a caller, with the hash of its session's CSRF token.
async fn authenticate_with_csrf(state: &AppState, secret: &str) -> Result<(Caller, Option<String>), ApiError> {
    let invalid = || ApiError::Unauthorized("The access token is invalid or has expired".into());
    let hash = secrets::digest(secret);
    if let Some(cached) = state.callers.get(&hash) {
        return Ok(cached);
    }
    let token = state.store.live_token(&hash).await?.ok_or_else(invalid)?;
    let user = state.store.user_by_id(&token.user_id).await?.ok_or_else(invalid)?;
    let principal = Principal { user_id: user.id.clone(), permissions: user.permissions.clone() };
    let token_expires_at = token.expires_at;
    let caller = Caller { user, principal, token_hash: hash, token_kind: token.kind, token_expires_at };
    state.callers.put(&caller, token.csrf_hash.clone());
    Ok((caller, token.csrf_hash))
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
        let credential = presented(req);
        let state = state_of(req);
        let checks = state.as_ref().ok().map(|state| CookieChecks::of(req, state));
        Box::pin(async move {
            let state = state?;
            let credential = credential.ok_or_else(|| ApiError::Unauthorized("Authentication required".into()))?;
            let (caller, csrf_hash) = authenticate_with_csrf(&state, &credential.secret).await?;
            let expected = if credential.via_cookie { TokenKind::Session } else { TokenKind::Bearer };
            if caller.token_kind != expected {
                return Err(ApiError::Unauthorized("The access token is invalid or has expired".into()));
            }
            if credential.via_cookie
                && let Some(checks) = checks
            {
                if checks.foreign_origin {
                    return Err(ApiError::Forbidden("Cross-site WebSocket upgrades are refused".into()));
                }
                let csrf_ok = checks.csrf.as_deref().map(secrets::digest).is_some_and(|given| Some(given) == csrf_hash);
                if checks.unsafe_method && !csrf_ok {
                    return Err(ApiError::Forbidden(format!(
                        "A cookie-authenticated request needs the session's CSRF token in {}",
                        super::CSRF_HEADER
                    )));
                }
            }
            Ok(caller)
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
