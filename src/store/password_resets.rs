//! The `password_resets` collection: single-use reset tokens, stored only as hashes.

use mongodb::bson::{DateTime, doc};
use serde::{Deserialize, Serialize};

use super::{Store, StoreResult, now_millis};

/// A pending password reset.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PasswordReset {
    /// Hex SHA-256 of the token mailed to the user.
    #[serde(rename = "_id")]
    pub hash: String,
    /// Whose password it resets.
    pub user_id: String,
    /// After this (ms since the epoch) the token is refused, and the TTL index removes it.
    #[serde(with = "super::millis_as_date")]
    pub expires_at: i64,
}

impl Store {
    fn password_resets(&self) -> mongodb::Collection<PasswordReset> {
        self.db.collection("password_resets")
    }

    /// Stores a pending reset.
    pub async fn insert_password_reset(&self, reset: &PasswordReset) -> StoreResult<()> {
        self.bounded(async {
            self.password_resets().insert_one(reset).await?;
            Ok(())
        })
        .await
    }

    /// Consumes a reset token: returns it if it was valid, and deletes it in the same step so
    /// that it can never be used twice.
    pub async fn take_password_reset(&self, hash: &str) -> StoreResult<Option<PasswordReset>> {
        self.bounded(async {
            let now = DateTime::from_millis(now_millis());
            Ok(self.password_resets().find_one_and_delete(doc! { "_id": hash, "expires_at": { "$gt": now } }).await?)
        })
        .await
    }
}
