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
    /// The users who accepted it (each spends one use, once).
    #[serde(default)]
    pub accepted_by: Vec<String>,
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
        self.bounded(async {
            self.invites().insert_one(invite).await?;
            Ok(())
        })
        .await
    }

    /// One page of a project's invites, newest first, with the total.
    pub async fn list_invites(&self, project_id: &str, skip: u64, limit: i64) -> StoreResult<(Vec<InviteRecord>, u64)> {
        self.bounded(async {
            let filter = doc! { "project_id": project_id };
            super::page(&self.invites(), filter, doc! { "created": -1, "_id": 1 }, skip, limit).await
        })
        .await
    }

    /// Revokes (deletes) an invite of a project; `false` when there was none.
    pub async fn delete_invite(&self, project_id: &str, id: &str) -> StoreResult<bool> {
        self.bounded(async {
            Ok(self.invites().delete_one(doc! { "_id": id, "project_id": project_id }).await?.deleted_count == 1)
        })
        .await
    }

    /// The invite with this code hash, if it is unexpired.
    pub async fn unexpired_invite(&self, code_hash: &str) -> StoreResult<Option<InviteRecord>> {
        self.bounded(async {
            Ok(self.invites().find_one(doc! { "code_hash": code_hash, "expires_at": { "$gt": now_millis() } }).await?)
        })
        .await
    }

    /// Spends one use of the invite with this code hash for `user_id`, if it is unexpired, not
    /// used up, and not yet accepted by that user: one atomic update, so concurrent accepts by
    /// one user spend one use at most.
    pub async fn spend_invite(&self, code_hash: &str, user_id: &str) -> StoreResult<Option<InviteRecord>> {
        self.bounded(async {
            Ok(self
                .invites()
                .find_one_and_update(
                    doc! {
                        "code_hash": code_hash,
                        "expires_at": { "$gt": now_millis() },
                        "$expr": { "$lt": ["$uses", "$max_uses"] },
                        "accepted_by": { "$ne": user_id },
                    },
                    doc! { "$inc": { "uses": 1 }, "$push": { "accepted_by": user_id } },
                )
                .return_document(ReturnDocument::After)
                .await?)
        })
        .await
    }

    /// Removes what belongs to a deleted project (part of the project cascade).
    pub(super) async fn forget_project_invites(&self, project_id: &str) -> StoreResult<()> {
        self.invites().delete_many(doc! { "project_id": project_id }).await?;
        Ok(())
    }
}
