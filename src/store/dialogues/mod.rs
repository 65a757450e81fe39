//! The `dialogues` collection: one head document per dialogue with its current description (a
//! copy that may lag behind the revisions; loading repairs it), its title and archive flag for
//! listings, and its newest release.
//!
//! Descriptions are stored as JSON text, not as BSON trees: they are opaque to queries, keep
//! every JSON number and key exactly (BSON refuses some keys, such as ones starting with `$`),
//! and are cheaper to read and write whole.

use futures_util::TryStreamExt;
use mongodb::bson::doc;
use serde::{Deserialize, Serialize};

use super::{OutboxEvent, Snapshot, Store, StoreResult};

mod heads;

pub use heads::HeadWriter;

/// The newest release of a dialogue, kept on its head for the `is_published`/`has_changes` flags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseMark {
    /// Release number.
    pub number: i64,
    /// Release id.
    pub id: String,
    /// Number of the revision it releases (0: the initial state).
    pub revision_number: i64,
}

/// A dialogue's stored head.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DialogueRecord {
    /// Identifier.
    #[serde(rename = "_id")]
    pub id: String,
    /// Owning project.
    pub project_id: String,
    /// Copy of the description's title, for listings.
    pub title: String,
    /// Copy of the description's `is_archived`, for listings.
    pub is_archived: bool,
    /// The current description (`title`, `sequences`, `is_archived`) as JSON text.
    #[serde(default)]
    pub content: String,
    /// Number of the newest revision applied to `content` (0 before the first).
    pub revision_number: i64,
    /// Id of that revision.
    pub revision_id: Option<String>,
    /// The newest release, if any.
    pub release: Option<ReleaseMark>,
    /// Creation time, ms since the epoch.
    pub created: i64,
}

/// A dialogue's id alone.
#[derive(Deserialize)]
pub(in crate::store) struct DialogueId {
    /// The id.
    #[serde(rename = "_id")]
    pub id: String,
}

impl Store {
    pub(super) fn dialogues(&self) -> mongodb::Collection<DialogueRecord> {
        self.db.collection("dialogues")
    }

    /// The ids of a project's dialogues, read in batches of `batch` (for the webhook watches).
    pub(in crate::store) async fn project_dialogue_ids(
        &self,
        project_id: &str,
        batch: u32,
    ) -> mongodb::error::Result<mongodb::Cursor<DialogueId>> {
        self.dialogues()
            .clone_with_type::<DialogueId>()
            .find(doc! { "project_id": project_id })
            .projection(doc! { "_id": 1 })
            .batch_size(batch)
            .await
    }

    /// Stores a new dialogue: its revision-0 snapshot first, then its head, so that a head never
    /// exists without the state it started from. The head and the webhook `event` that announces
    /// it are inserted in one transaction: no dialogue without its event.
    pub async fn insert_dialogue(&self, dialogue: &DialogueRecord, event: &OutboxEvent) -> StoreResult<()> {
        self.bounded(async {
            self.insert_snapshot(&Snapshot::new(dialogue, 0, dialogue.content.clone())).await?;
            self.insert_with_event(&self.dialogues(), dialogue, event).await
        })
        .await
    }

    /// The dialogue `id` of project `project_id`, with its content.
    pub async fn dialogue_by_id(&self, project_id: &str, id: &str) -> StoreResult<Option<DialogueRecord>> {
        self.bounded(async { Ok(self.dialogues().find_one(doc! { "_id": id, "project_id": project_id }).await?) }).await
    }

    /// The dialogue `id`, whatever its project (the actor checks the project itself).
    pub async fn dialogue_by_id_any_project(&self, id: &str) -> StoreResult<Option<DialogueRecord>> {
        self.bounded(async { Ok(self.dialogues().find_one(doc! { "_id": id }).await?) }).await
    }

    /// Every dialogue of a project without its content (for summaries), oldest first.
    pub async fn list_dialogue_heads(&self, project_id: &str) -> StoreResult<Vec<DialogueRecord>> {
        self.bounded(async {
            Ok(self
                .dialogues()
                .find(doc! { "project_id": project_id })
                .projection(doc! { "content": 0 })
                .sort(doc! { "created": 1, "_id": 1 })
                .await?
                .try_collect()
                .await?)
        })
        .await
    }

    /// Whether a dialogue exists in a project.
    pub async fn dialogue_exists(&self, project_id: &str, id: &str) -> StoreResult<bool> {
        self.bounded(async {
            Ok(self.dialogues().count_documents(doc! { "_id": id, "project_id": project_id }).limit(1).await? > 0)
        })
        .await
    }

    /// Moves a dialogue's stored head forward to `head` (never backwards: a head that another
    /// writer already moved further is left alone, since it contains this one), in the next
    /// shared head write.
    pub async fn write_head(&self, head: DialogueRecord) -> StoreResult<()> {
        self.heads.write(head).await
    }

    /// Records a newer release on a dialogue's head.
    pub async fn mark_release(&self, dialogue_id: &str, release: &ReleaseMark) -> StoreResult<()> {
        self.bounded(async {
        let mark = mongodb::bson::to_bson(release).map_err(anyhow::Error::from)?;
        self.dialogues()
            .update_one(
                doc! { "_id": dialogue_id, "$or": [ { "release": null }, { "release.number": { "$lt": release.number } } ] },
                doc! { "$set": { "release": mark } },
            )
            .await?;
        Ok(())
        })
        .await
    }

    /// Removes what belongs to a deleted project (part of the project cascade).
    pub(super) async fn forget_project_dialogues(&self, project_id: &str) -> StoreResult<()> {
        self.dialogues().delete_many(doc! { "project_id": project_id }).await?;
        Ok(())
    }
}
