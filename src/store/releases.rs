//! The `releases` collection: numbered marks in a dialogue's history, unique per (dialogue,
//! number).

use mongodb::bson::doc;
use serde::{Deserialize, Serialize};

use super::revisions::{RevisionOrder, sort_document};
use super::{OutboxEvent, Store, StoreResult};

/// A stored release.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReleaseRecord {
    /// Identifier.
    #[serde(rename = "_id")]
    pub id: String,
    /// The released dialogue.
    pub dialogue_id: String,
    /// Its project.
    pub project_id: String,
    /// 1, 2, 3… per dialogue.
    pub number: i64,
    /// The released revision.
    pub revision_id: String,
    /// That revision's number.
    pub revision_number: i64,
    /// Creation time, ms since the epoch.
    pub created: i64,
    /// Who released it.
    pub user_id: String,
}

impl Store {
    fn releases(&self) -> mongodb::Collection<ReleaseRecord> {
        self.db.collection("releases")
    }

    /// Stores a release and the webhook `event` that announces it, in one transaction; a taken
    /// number is a duplicate.
    pub async fn insert_release(&self, release: &ReleaseRecord, event: &OutboxEvent) -> StoreResult<()> {
        self.bounded(async { self.insert_with_event(&self.releases(), release, event).await }).await
    }

    /// The newest release of a dialogue.
    pub async fn latest_release(&self, dialogue_id: &str) -> StoreResult<Option<ReleaseRecord>> {
        self.bounded(async {
            Ok(self.releases().find_one(doc! { "dialogue_id": dialogue_id }).sort(doc! { "number": -1 }).await?)
        })
        .await
    }

    /// One release of a dialogue by id.
    pub async fn release_by_id(&self, dialogue_id: &str, id: &str) -> StoreResult<Option<ReleaseRecord>> {
        self.bounded(async { Ok(self.releases().find_one(doc! { "_id": id, "dialogue_id": dialogue_id }).await?) })
            .await
    }

    /// One page of a dialogue's releases in the given order, and their total.
    pub async fn list_releases(
        &self,
        dialogue_id: &str,
        order: &RevisionOrder,
        skip: u64,
        limit: i64,
    ) -> StoreResult<(Vec<ReleaseRecord>, u64)> {
        self.bounded(async {
            let filter = doc! { "dialogue_id": dialogue_id };
            super::page(&self.releases(), filter, sort_document(order), skip, limit).await
        })
        .await
    }

    /// Removes what belongs to a deleted project (part of the project cascade).
    pub(super) async fn forget_project_releases(&self, project_id: &str) -> StoreResult<()> {
        self.releases().delete_many(doc! { "project_id": project_id }).await?;
        Ok(())
    }
}
