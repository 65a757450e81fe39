//! Who is calling and what they may do: passwords, random secrets, tokens, the `Caller`
//! extractor and the permission rules.

pub mod caller;
pub mod login_limiter;
pub mod passwords;
pub mod permissions;
pub mod secrets;

pub use caller::{Caller, MaybeCaller};
pub use permissions::{Action, Permission, PermissionKind, Principal};

use mongodb::bson::DateTime;

use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{TokenKind, TokenRecord, now_millis};

/// E-mail addresses are compared case-insensitively and without surrounding blanks.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Creates and stores a new credential for `user_id`; returns the secret (shown once) and the
/// stored record.
pub async fn issue_token(state: &AppState, user_id: &str, kind: TokenKind) -> Result<(String, TokenRecord), ApiError> {
    let secret = secrets::generate();
    let now = now_millis();
    let ttl = i64::try_from(state.settings.token_ttl().as_millis()).unwrap_or(i64::MAX);
    let record = TokenRecord {
        hash: secrets::digest(&secret),
        user_id: user_id.to_owned(),
        kind,
        created: now,
        expires_at: DateTime::from_millis(now.saturating_add(ttl)),
        csrf_hash: None,
    };
    state.store.insert_token(&record).await?;
    Ok((secret, record))
}
