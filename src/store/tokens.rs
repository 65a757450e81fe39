//! The `tokens` collection: bearer tokens and browser sessions, stored only as SHA-256 hashes.

use mongodb::bson::{DateTime, doc};
use serde::{Deserialize, Serialize};

use super::{Store, StoreResult, now_millis};

/// How a credential is presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// `Authorization: Bearer` (or `access_token` on a WebSocket upgrade).
    Bearer,
    /// A browser session cookie.
    Session,
}

/// A stored credential.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Hex SHA-256 of the secret; the secret itself is never stored.
    #[serde(rename = "_id")]
    pub hash: String,
    /// Owner.
    pub user_id: String,
    /// Bearer token or browser session.
    pub kind: TokenKind,
    /// Creation time, ms since the epoch.
    pub created: i64,
    /// Expiry, ms since the epoch; also drives the TTL index that deletes stale tokens.
    #[serde(with = "super::millis_as_date")]
    pub expires_at: i64,
    /// CSRF secret of a browser session (hash of it), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csrf_hash: Option<String>,
}

impl Store {
    fn tokens(&self) -> mongodb::Collection<TokenRecord> {
        self.db.collection("tokens")
    }

    /// Stores a new credential.
    pub async fn insert_token(&self, token: &TokenRecord) -> StoreResult<()> {
        self.bounded(async {
            self.tokens().insert_one(token).await?;
            Ok(())
        })
        .await
    }

    /// The unexpired credential with this hash, if any.
    pub async fn live_token(&self, hash: &str) -> StoreResult<Option<TokenRecord>> {
        self.bounded(async {
            let now = DateTime::from_millis(now_millis());
            Ok(self.tokens().find_one(doc! { "_id": hash, "expires_at": { "$gt": now } }).await?)
        })
        .await
    }

    /// Revokes one credential.
    pub async fn delete_token(&self, hash: &str) -> StoreResult<()> {
        self.bounded(async {
            self.tokens().delete_one(doc! { "_id": hash }).await?;
            Ok(())
        })
        .await
    }

    /// Revokes every credential of a user except `keep` (the one making the request), if given.
    pub async fn delete_user_tokens(&self, user_id: &str, keep: Option<&str>) -> StoreResult<u64> {
        self.bounded(async {
            let filter = match keep {
                Some(hash) => doc! { "user_id": user_id, "_id": { "$ne": hash } },
                None => doc! { "user_id": user_id },
            };
            Ok(self.tokens().delete_many(filter).await?.deleted_count)
        })
        .await
    }
}
