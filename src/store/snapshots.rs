//! The `snapshots` collection: a dialogue's description at revision 0 and every N revisions
//! after, so that any past state is rebuilt from a nearby snapshot and a bounded tail.

use mongodb::bson::doc;
use serde::{Deserialize, Serialize};

use super::{DialogueRecord, Store, StoreResult};

/// A stored snapshot of a dialogue's description.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    /// `<dialogue id>:<revision number>`.
    #[serde(rename = "_id")]
    pub id: String,
    /// The dialogue.
    pub dialogue_id: String,
    /// Its project (for cascading deletes).
    pub project_id: String,
    /// The revision the description is as of (0: as created).
    pub number: i64,
    /// The description as JSON text.
    pub content: String,
}

impl Snapshot {
    /// The snapshot of `dialogue` at revision `number`.
    pub fn new(dialogue: &DialogueRecord, number: i64, content: String) -> Self {
        Self {
            id: format!("{}:{number}", dialogue.id),
            dialogue_id: dialogue.id.clone(),
            project_id: dialogue.project_id.clone(),
            number,
            content,
        }
    }
}

impl Store {
    pub(super) fn snapshots(&self) -> mongodb::Collection<Snapshot> {
        self.db.collection("snapshots")
    }

    /// Stores a snapshot (an existing one for the same revision is left as it is).
    pub async fn insert_snapshot(&self, snapshot: &Snapshot) -> StoreResult<()> {
        self.bounded(async {
            match self.snapshots().insert_one(snapshot).await {
                Err(error) if super::is_duplicate_key(&error) => Ok(()),
                other => other.map(|_| ()).map_err(Into::into),
            }
        })
        .await
    }

    /// The newest snapshot of a dialogue at or before revision `number`.
    pub async fn snapshot_at_or_before(&self, dialogue_id: &str, number: i64) -> StoreResult<Option<Snapshot>> {
        self.bounded(async {
            Ok(self
                .snapshots()
                .find_one(doc! { "dialogue_id": dialogue_id, "number": { "$lte": number } })
                .sort(doc! { "number": -1 })
                .await?)
        })
        .await
    }

    /// Removes what belongs to a deleted project (part of the project cascade).
    pub(super) async fn forget_project_snapshots(&self, project_id: &str) -> StoreResult<()> {
        self.snapshots().delete_many(doc! { "project_id": project_id }).await?;
        Ok(())
    }
}
