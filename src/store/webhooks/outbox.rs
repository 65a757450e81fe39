//! The webhook outbox: what happened that hooks may have to hear about, kept until the scheduler
//! has turned it into deliveries.
//!
//! - `outbox`: one event per dialogue created and per release created, inserted in the same
//!   transaction as the dialogue or the release, so that no committed one lacks its event.
//! - `webhook_watches`: the dialogues of hooked projects being edited. A dialogue actor renews
//!   its dialogue's watch before storing revisions when the watch is about to lapse, so that a
//!   revision is only ever stored under a watch; the scheduler reads the revision log of each
//!   watched dialogue, and forgets a watch once it has lapsed and every hook has caught up.
//! - `webhook_cursors`: per hook and dialogue, the last revision a `dialogue.changed` delivery
//!   covered, and when that delivery was made (for the debounce).

use futures_util::TryStreamExt;
use mongodb::ClientSession;
use mongodb::bson::doc;
use serde::{Deserialize, Serialize};

use crate::store::dialogues::DialogueId;
use crate::store::{Store, StoreResult};

/// Watches inserted per command when a whole project is watched.
const WATCHES_PER_INSERT: usize = 1000;

/// Whether every write that failed in `error` failed only because its document existed.
fn only_duplicates(error: &mongodb::error::Error) -> bool {
    const DUPLICATE_KEY: i32 = 11000;
    match error.kind.as_ref() {
        mongodb::error::ErrorKind::InsertMany(insert) => {
            insert.write_concern_error.is_none()
                && insert.write_errors.as_ref().is_some_and(|errors| errors.iter().all(|e| e.code == DUPLICATE_KEY))
        }
        _ => false,
    }
}

/// An event waiting to be fanned out to the hooks that receive it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutboxEvent {
    /// Identifier.
    #[serde(rename = "_id")]
    pub id: String,
    /// `dialogue.created` or `release.created`.
    pub event: String,
    /// The project.
    pub project_id: String,
    /// The dialogue.
    pub dialogue_id: String,
    /// The delivery's `data`, as JSON text.
    pub data: String,
    /// When it happened, ms since the epoch (server clock).
    pub created: i64,
}

/// A dialogue whose revisions hooks must hear about.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WatchRecord {
    /// The dialogue.
    #[serde(rename = "_id")]
    pub dialogue_id: String,
    /// Its project.
    pub project_id: String,
    /// Until when (ms since the epoch, by the writer's clock) revisions may be stored without
    /// renewing the watch.
    pub until: i64,
}

/// How far `dialogue.changed` deliveries of one hook have covered one dialogue.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CursorRecord {
    /// `<hook id>/<dialogue id>`.
    #[serde(rename = "_id")]
    pub id: String,
    /// The hook.
    pub hook_id: String,
    /// The dialogue.
    pub dialogue_id: String,
    /// The last revision number covered.
    pub through: i64,
    /// When the last delivery was made, ms since the epoch (0: never).
    pub last_delivery: i64,
}

impl CursorRecord {
    /// The cursor's key.
    pub fn key(hook_id: &str, dialogue_id: &str) -> String {
        format!("{hook_id}/{dialogue_id}")
    }
}

impl Store {
    fn outbox(&self) -> mongodb::Collection<OutboxEvent> {
        self.db.collection("outbox")
    }

    fn watches(&self) -> mongodb::Collection<WatchRecord> {
        self.db.collection("webhook_watches")
    }

    fn webhook_cursors(&self) -> mongodb::Collection<CursorRecord> {
        self.db.collection("webhook_cursors")
    }

    /// Inserts `record` into `collection` and `event` into the outbox, in one transaction: no
    /// record without the event that announces it.
    pub(in crate::store) async fn insert_with_event<T: Serialize + Send + Sync>(
        &self,
        collection: &mongodb::Collection<T>,
        record: &T,
        event: &OutboxEvent,
    ) -> StoreResult<()> {
        let outbox = self.outbox();
        let mut session = self.client.start_session().await?;
        session
            .start_transaction()
            .and_run2(async |session: &mut ClientSession| {
                collection.insert_one(record).session(&mut *session).await?;
                outbox.insert_one(event).session(&mut *session).await?;
                Ok(())
            })
            .await?;
        Ok(())
    }

    /// The oldest events waiting, at most `limit`.
    pub async fn outbox_events(&self, limit: i64) -> StoreResult<Vec<OutboxEvent>> {
        self.bounded(async {
            Ok(self
                .outbox()
                .find(doc! {})
                .sort(doc! { "created": 1, "_id": 1 })
                .limit(limit)
                .await?
                .try_collect()
                .await?)
        })
        .await
    }

    /// Removes fanned-out events, in one command.
    pub async fn remove_outbox_events(&self, ids: &[String]) -> StoreResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        self.bounded(async {
            self.outbox().delete_many(doc! { "_id": { "$in": ids } }).await?;
            Ok(())
        })
        .await
    }

    /// Watches a dialogue until `until` at least (a later `until` already stored stays).
    pub async fn watch_dialogue(&self, dialogue_id: &str, project_id: &str, until: i64) -> StoreResult<()> {
        self.bounded(async {
            self.watches()
                .update_one(
                    doc! { "_id": dialogue_id },
                    doc! { "$max": { "until": until }, "$set": { "project_id": project_id } },
                )
                .upsert(true)
                .await?;
            Ok(())
        })
        .await
    }

    /// Watches every dialogue of a project until `until` at least (a watch lasting longer stays
    /// as it is): when a hook on changes is registered, so that revisions other processes store
    /// before they learn of the hook are read too.
    pub async fn watch_project_dialogues(&self, project_id: &str, until: i64) -> StoreResult<()> {
        self.bounded(async {
            // The watches that exist are extended, never shortened…
            self.watches().update_many(doc! { "project_id": project_id }, doc! { "$max": { "until": until } }).await?;
            // …and the dialogues without one get one.
            let mut ids = self.project_dialogue_ids(project_id, WATCHES_PER_INSERT as u32).await?;
            let mut page = Vec::with_capacity(WATCHES_PER_INSERT);
            loop {
                let next = ids.try_next().await?;
                let done = next.is_none();
                if let Some(DialogueId { id }) = next {
                    page.push(WatchRecord { dialogue_id: id, project_id: project_id.to_owned(), until });
                }
                if page.len() == WATCHES_PER_INSERT || (done && !page.is_empty()) {
                    match self.watches().insert_many(&page).ordered(false).await {
                        Ok(_) => {}
                        Err(error) if only_duplicates(&error) => {}
                        Err(error) => return Err(error.into()),
                    }
                    page.clear();
                }
                if done {
                    return Ok(());
                }
            }
        })
        .await
    }

    /// Watched dialogues in id order after `after` (from the first when `None`), at most
    /// `limit`: one page of a walk through all of them.
    pub async fn watched_dialogues(&self, after: Option<&str>, limit: i64) -> StoreResult<Vec<WatchRecord>> {
        let filter = match after {
            Some(after) => doc! { "_id": { "$gt": after } },
            None => doc! {},
        };
        self.bounded(async {
            Ok(self.watches().find(filter).sort(doc! { "_id": 1 }).limit(limit).await?.try_collect().await?)
        })
        .await
    }

    /// Forgets a watch, unless it was renewed since it was read (its `until` changed).
    pub async fn unwatch_dialogue(&self, watch: &WatchRecord) -> StoreResult<()> {
        self.bounded(async {
            self.watches().delete_one(doc! { "_id": &watch.dialogue_id, "until": watch.until }).await?;
            Ok(())
        })
        .await
    }

    /// The cursor of a hook on a dialogue.
    pub async fn webhook_cursor(&self, hook_id: &str, dialogue_id: &str) -> StoreResult<Option<CursorRecord>> {
        self.bounded(async {
            Ok(self.webhook_cursors().find_one(doc! { "_id": CursorRecord::key(hook_id, dialogue_id) }).await?)
        })
        .await
    }

    /// Stores a cursor; its `through` never goes back.
    pub async fn save_webhook_cursor(&self, cursor: &CursorRecord) -> StoreResult<()> {
        self.bounded(async {
            self.webhook_cursors()
                .update_one(
                    doc! { "_id": &cursor.id },
                    doc! {
                        "$max": { "through": cursor.through, "last_delivery": cursor.last_delivery },
                        "$set": { "hook_id": &cursor.hook_id, "dialogue_id": &cursor.dialogue_id },
                    },
                )
                .upsert(true)
                .await?;
            Ok(())
        })
        .await
    }

    /// Removes a deleted hook's cursors.
    pub(in crate::store) async fn forget_hook_cursors(&self, hook_id: &str) -> StoreResult<()> {
        self.webhook_cursors().delete_many(doc! { "hook_id": hook_id }).await?;
        Ok(())
    }

    /// Removes the outbox and watches of a deleted project.
    pub(in crate::store) async fn forget_project_outbox(&self, project_id: &str) -> StoreResult<()> {
        self.outbox().delete_many(doc! { "project_id": project_id }).await?;
        self.watches().delete_many(doc! { "project_id": project_id }).await?;
        Ok(())
    }
}
