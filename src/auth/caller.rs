//! `Caller`: an authenticated request's user and their grants, and the permission checks made
//! against them. (The extractor that builds one from a request is in `credentials`.)

use super::permissions::{Action, Principal};
use crate::error::ApiError;
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
