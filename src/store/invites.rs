//! The `invites` collection: project invite codes, stored only as hashes, with an expiry and a
//! use budget spent atomically.

use mongodb::bson::doc;
use mongodb::options::ReturnDocument;
use serde::{Deserialize, Serialize};

use super::{Store, StoreResult, now_millis};
use crate::auth::permissions::PermissionKind;

/// A stored invite.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InviteRecord {
    /// Identifier.
    #[serde(rename = "_id")]
    pub id: String,
    /// The project it grants access to.
    pub project_id: String,
    /// Hex SHA-256 of the code; the code itself is shown once and never stored.
    pub code_hash: String,
    /// What accepting grants.
    pub permission: PermissionKind,
    /// After this (ms since the epoch) the code is refused.
    pub expires_at: i64,
    /// How many times the code may be accepted.
    pub max_uses: i64,
    /// How many times it was.
    pub uses: i64,
    /// Who made it.
    pub created_by: String,
    /// Creation time, ms since the epoch.
    pub created: i64,
}

impl Store {
    fn invites(&self) -> mongodb::Collection<InviteRecord> {
        self.db.collection("invites")
    }

    /// Stores an invite.
    pub async fn insert_invite(&self, invite: &InviteRecord) -> StoreResult<()> {
        self.invites().insert_one(invite).await?;
        Ok(())
    }

    /// One page of a project's invites, newest first, with the total.
    pub async fn list_invites(&self, project_id: &str, skip: u64, limit: i64) -> StoreResult<(Vec<InviteRecord>, u64)> {
        let filter = doc! { "project_id": project_id };
        super::page(&self.invites(), filter, doc! { "created": -1, "_id": 1 }, skip, limit).await
    }

    /// Revokes (deletes) an invite of a project; `false` when there was none.
    pub async fn delete_invite(&self, project_id: &str, id: &str) -> StoreResult<bool> {
        Ok(self.invites().delete_one(doc! { "_id": id, "project_id": project_id }).await?.deleted_count == 1)
    }

    /// The invite with this code hash, if it is unexpired and not used up.
    pub async fn valid_invite(&self, code_hash: &str) -> StoreResult<Option<InviteRecord>> {
        Ok(self
            .invites()
            .find_one(doc! {
                "code_hash": code_hash,
                "expires_at": { "$gt": now_millis() },
                "$expr": { "$lt": ["$uses", "$max_uses"] },
            })
            .await?)
    }

    /// Spends one use of the invite with this code hash, if it is unexpired and not used up.
    pub async fn spend_invite(&self, code_hash: &str) -> StoreResult<Option<InviteRecord>> {
        Ok(self
            .invites()
            .find_one_and_update(
                doc! {
                    "code_hash": code_hash,
                    "expires_at": { "$gt": now_millis() },
                    "$expr": { "$lt": ["$uses", "$max_uses"] },
                },
                doc! { "$inc": { "uses": 1 } },
            )
            .return_document(ReturnDocument::After)
            .await?)
    }
}
