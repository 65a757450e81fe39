//! Who is calling and what they may do: passwords, random secrets, tokens, the `Caller`
//! extractor and the permission rules.

pub mod cache;
pub mod caller;
pub mod credentials;
pub mod login_throttle;
pub mod passwords;
pub mod permissions;
pub mod secrets;

pub use caller::{Caller, MaybeCaller};
pub use permissions::{Action, Permission, PermissionKind, Principal};

use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{TokenKind, TokenRecord, now_millis};

/// E-mail addresses are compared case-insensitively and without surrounding blanks.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Name of the browser session cookie.
pub const SESSION_COOKIE: &str = "dialogue_session";
/// Header that must carry the session's CSRF token on cookie-authenticated unsafe requests.
pub const CSRF_HEADER: &str = "X-CSRF-Token";

/// A freshly issued credential: its secret (shown once), the CSRF token of a browser session,
/// and what was stored.
pub struct IssuedToken {
    /// The bearer token or session cookie value.
    pub secret: String,
    /// For browser sessions: the token to send back in `X-CSRF-Token`.
    pub csrf: Option<String>,
    /// As stored (hashes only).
    pub record: TokenRecord,
}

/// Creates and stores a new credential for `user_id`.
pub async fn issue_token(state: &AppState, user_id: &str, kind: TokenKind) -> Result<IssuedToken, ApiError> {
    let secret = secrets::generate();
    let csrf = (kind == TokenKind::Session).then(|| secrets::csrf_for(&secret));
    let now = now_millis();
    let ttl = i64::try_from(state.settings.token_ttl().as_millis()).unwrap_or(i64::MAX);
    let record = TokenRecord {
        hash: secrets::digest(&secret),
        user_id: user_id.to_owned(),
        kind,
        created: now,
        expires_at: now.saturating_add(ttl),
        csrf_hash: csrf.as_deref().map(secrets::digest),
    };
    state.store.insert_token(&record).await?;
    Ok(IssuedToken { secret, csrf, record })
}
