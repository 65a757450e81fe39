//! The `revisions` collection: the numbered, immutable history of every dialogue. A unique
//! index on (dialogue, number) makes the database refuse a second writer of the same number,
//! even from another server process.
//!
//! A batch that holds a bulk write (several revisions that must land together) is inserted in
//! one transaction, so it lands whole or not at all. Any other batch goes to the shared
//! [`Committer`], which stores the batches of every dialogue together (see `commits`): if
//! another writer took a number in the middle of a batch, the revisions before that point are
//! stored and the error says how many, so the actor acknowledges those and reloads to retry the
//! rest; no transaction round trips on the hot path.

use futures_util::TryStreamExt;
use mongodb::bson::{Document, doc};
use serde::{Deserialize, Serialize};

use super::{Store, StoreCounters, StoreError, StoreResult};

/// Revisions read one by one from a cursor (see [`Store::list_revisions`]); it ends after the
/// first error.
pub type RevisionStream = std::pin::Pin<Box<dyn futures_util::Stream<Item = StoreResult<RevisionRecord>> + Send>>;

mod commits;

use commits::Outcome;
pub use commits::{Committer, DEFAULT_SPACING};

/// A stored revision. Client-supplied JSON (`patch`, `details`) is kept as JSON text.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RevisionRecord {
    /// Identifier.
    #[serde(rename = "_id")]
    pub id: String,
    /// The dialogue it changes.
    pub dialogue_id: String,
    /// The dialogue's project (for cascading deletes).
    pub project_id: String,
    /// 1, 2, 3… per dialogue, without gaps.
    pub number: i64,
    /// Who made it.
    pub user_id: String,
    /// Creation time, ms since the epoch (from the client when given).
    pub created: i64,
    /// When this server accepted it, ms since the epoch by the server's clock (absent on
    /// revisions stored before it was recorded): unlike `created`, never the client's word, so
    /// webhooks can tell the revisions made before a hook existed from those after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted: Option<i64>,
    /// `edit` or `revert`.
    pub kind: String,
    /// For edits: the client's `edit_type`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edit_type: Option<String>,
    /// For reverts: the revision whose state was brought back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverted_to: Option<String>,
    /// The JSON Patch as applied, as JSON text.
    pub patch: String,
    /// The client's `details` object, as JSON text.
    pub details: String,
    /// The server process that stored it (absent on revisions stored before processes were
    /// named).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<String>,
    /// For a write another process handed off: which, and whether this is its last revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handoff: Option<HandoffMark>,
    /// The processes the storing process pushes this revision to over their peer links as
    /// soon as it is stored (`peers/`): their change feeds leave it out. A push that fails
    /// reaches them as a `missed` handoff through the database instead, which makes them read
    /// it from the store.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pushed_to: Vec<String>,
}

impl RevisionRecord {
    /// Its patch and details as text, in bytes: what it weighs in memory, roughly (parsed, a
    /// few times that).
    pub fn text_bytes(&self) -> usize {
        self.patch.len() + self.details.len()
    }
}

/// The handed-off write a revision came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandoffMark {
    /// The handoff's id.
    pub id: String,
    /// Whether this is the write's last revision.
    pub last: bool,
}

/// The collection's name.
const COLLECTION: &str = "revisions";

/// Revisions per cursor batch when reading a range of them.
const REVISIONS_PER_BATCH: u32 = 1000;

/// How a revision list is sorted: fields with a direction, in priority order.
pub type RevisionOrder = Vec<(&'static str, i32)>;

impl Store {
    pub(super) fn revisions(&self) -> mongodb::Collection<RevisionRecord> {
        self.db.collection(COLLECTION)
    }

    /// Stores a batch of consecutive revisions; with `atomic`, whole or not at all. On failure,
    /// the error comes with how many revisions (from the start of the batch) were stored anyway
    /// (always 0 with `atomic`). A duplicate number (another writer got there first) is a
    /// [`super::StoreError::Duplicate`].
    pub async fn insert_revisions(&self, batch: &[RevisionRecord], atomic: bool) -> Result<(), (usize, StoreError)> {
        if batch.is_empty() {
            return Ok(());
        }
        if atomic && batch.len() > 1 {
            return self.bounded(self.insert_atomically(batch)).await.map_err(|error| (0, error));
        }
        // A batch that an earlier batch's failure kept out of a shared command goes again.
        loop {
            match self.committer.commit(batch.to_vec()).await {
                Outcome::Stored => return Ok(()),
                Outcome::Failed { stored, error } => return Err((stored, error)),
                Outcome::NotTried => continue,
            }
        }
    }

    /// [`Self::insert_revisions`], with a batch for the shared committer handed over at once
    /// rather than when the returned future is first polled. A dialogue actor spawns this
    /// future, and the actor polls what it spawned only after its handler returns and its
    /// mailbox is drained, that is after it has answered the batch before and accepted every
    /// patch waiting: the batch would miss shared commands meanwhile.
    pub fn insert_revisions_now(
        &self,
        batch: Vec<RevisionRecord>,
        atomic: bool,
    ) -> impl Future<Output = Result<(), (usize, StoreError)>> + 'static {
        // An empty batch needs nothing, and a bulk write goes in a transaction of its own.
        let bulk = atomic && batch.len() > 1;
        let shared = !batch.is_empty() && !bulk;
        let submitted = shared.then(|| self.committer.submit(batch.clone()));
        let store = self.clone();
        async move {
            let Some(submitted) = submitted else { return store.insert_revisions(&batch, atomic).await };
            match submitted.outcome().await {
                Outcome::Stored => Ok(()),
                Outcome::Failed { stored, error } => Err((stored, error)),
                // An earlier batch's failure kept it out of the command: it goes again.
                Outcome::NotTried => store.insert_revisions(&batch, atomic).await,
            }
        }
    }

    /// A bulk write's revisions, whole or not at all.
    async fn insert_atomically(&self, many: &[RevisionRecord]) -> StoreResult<()> {
        StoreCounters::add(&self.counters.revision_batches, 1);
        let stored = many.len() as u64;
        let revisions = self.revisions();
        let started = std::time::Instant::now();
        let mut session = self.client.start_session().await?;
        session
            .start_transaction()
            .and_run2(async |session| {
                revisions.insert_many(many).session(&mut *session).await?;
                Ok(())
            })
            .await?;
        if crate::metrics::enabled() {
            metrics::histogram!(crate::metrics::COMMIT_DURATION).record(started.elapsed().as_secs_f64());
            metrics::histogram!(crate::metrics::COMMIT_BATCH).record(many.len() as f64);
        }
        StoreCounters::add(&self.counters.revisions, stored);
        Ok(())
    }

    /// Revisions of a dialogue with numbers in `(after, up_to]`, oldest first.
    pub async fn revisions_between(
        &self,
        dialogue_id: &str,
        after: i64,
        up_to: i64,
    ) -> StoreResult<Vec<RevisionRecord>> {
        self.bounded(async {
            Ok(self
                .revisions()
                .find(doc! { "dialogue_id": dialogue_id, "number": { "$gt": after, "$lte": up_to } })
                .sort(doc! { "number": 1 })
                // One round trip for a loader's window (the first batch is 101 documents
                // otherwise, and a busy database makes each further round trip count).
                .batch_size(REVISIONS_PER_BATCH)
                .await?
                .try_collect()
                .await?)
        })
        .await
    }

    /// Hands the revisions of a dialogue numbered in `(after, up_to]` to `each`, oldest first,
    /// one at a time as they are read, so memory holds one cursor batch and never the whole
    /// range. Returns how many were handed over, or the first error of `each` (then it stops).
    /// Each wait for the database has the store's deadline; the work of `each` does not count.
    pub async fn each_revision_between<E>(
        &self,
        dialogue_id: &str,
        after: i64,
        up_to: i64,
        mut each: impl FnMut(RevisionRecord) -> Result<(), E>,
    ) -> StoreResult<Result<usize, E>> {
        let mut cursor = self
            .bounded(async {
                Ok(self
                    .revisions()
                    .find(doc! { "dialogue_id": dialogue_id, "number": { "$gt": after, "$lte": up_to } })
                    .sort(doc! { "number": 1 })
                    .batch_size(REVISIONS_PER_BATCH)
                    .await?)
            })
            .await?;
        let mut count = 0;
        while let Some(record) = self.bounded(async { Ok(cursor.try_next().await?) }).await? {
            if let Err(error) = each(record) {
                return Ok(Err(error));
            }
            count += 1;
        }
        Ok(Ok(count))
    }

    /// What a loader needs, oldest first: every revision numbered after `start` (the content
    /// catches up with them), and of those numbered in `(after, start]` the newest, until
    /// `max_text_bytes` of their patch and details text are read (the one numbered `start` is
    /// always read). Read newest first in one query, so a window of large patches costs what
    /// the loader keeps of it, not everything it holds.
    pub async fn revisions_for_load(
        &self,
        dialogue_id: &str,
        after: i64,
        start: i64,
        max_text_bytes: usize,
    ) -> StoreResult<Vec<RevisionRecord>> {
        self.bounded(async {
            let mut cursor = self
                .revisions()
                .find(doc! { "dialogue_id": dialogue_id, "number": { "$gt": after } })
                .sort(doc! { "number": -1 })
                .batch_size(REVISIONS_PER_BATCH)
                .await?;
            let mut newest_first = Vec::new();
            let mut window_bytes = 0usize;
            while let Some(record) = cursor.try_next().await? {
                let in_window = record.number <= start;
                if in_window {
                    window_bytes = window_bytes.saturating_add(record.text_bytes());
                }
                newest_first.push(record);
                if in_window && window_bytes >= max_text_bytes {
                    break;
                }
            }
            newest_first.reverse();
            Ok(newest_first)
        })
        .await
    }

    /// The newest `count` revisions of a dialogue, oldest first.
    pub async fn latest_revisions(&self, dialogue_id: &str, count: i64) -> StoreResult<Vec<RevisionRecord>> {
        self.bounded(async {
            let mut newest: Vec<RevisionRecord> = self
                .revisions()
                .find(doc! { "dialogue_id": dialogue_id })
                .sort(doc! { "number": -1 })
                .limit(count)
                .await?
                .try_collect()
                .await?;
            newest.reverse();
            Ok(newest)
        })
        .await
    }

    /// One revision of a dialogue by id.
    pub async fn revision_by_id(&self, dialogue_id: &str, id: &str) -> StoreResult<Option<RevisionRecord>> {
        self.bounded(async { Ok(self.revisions().find_one(doc! { "_id": id, "dialogue_id": dialogue_id }).await?) })
            .await
    }

    /// One page of a dialogue's revisions in the given order, and their total. The page is a
    /// stream read from the cursor as the caller consumes it: a page of large revisions (up to
    /// [`MAX_PER_PAGE`](crate::http::pagination::MAX_PER_PAGE) of up to 15 MiB each) is never
    /// held whole, only the driver's current batch. Each read has the store's deadline.
    pub async fn list_revisions(
        &self,
        dialogue_id: &str,
        order: &RevisionOrder,
        skip: u64,
        limit: i64,
    ) -> StoreResult<(u64, RevisionStream)> {
        let (total, cursor) = self
            .bounded(async {
                let filter = doc! { "dialogue_id": dialogue_id };
                let total = self.revisions().count_documents(filter.clone()).await?;
                let cursor = self.revisions().find(filter).sort(sort_document(order)).skip(skip).limit(limit).await?;
                Ok((total, cursor))
            })
            .await?;
        let (deadline, counters) = (self.deadline, self.counters.clone());
        let records = futures_util::stream::unfold(Some(cursor), move |cursor| {
            let counters = counters.clone();
            async move {
                let mut cursor = cursor?;
                let read = match tokio::time::timeout(deadline, cursor.try_next()).await {
                    Ok(read) => read.map_err(StoreError::from),
                    Err(_) => Err(StoreError::Unavailable(format!("no answer within {} ms", deadline.as_millis()))),
                };
                match read {
                    Ok(Some(record)) => Some((Ok(record), Some(cursor))),
                    Ok(None) => None,
                    Err(error) => {
                        counters.failed(&error);
                        Some((Err(error), None))
                    }
                }
            }
        });
        Ok((total, Box::pin(records)))
    }

    /// Removes what belongs to a deleted project (part of the project cascade).
    pub(super) async fn forget_project_revisions(&self, project_id: &str) -> StoreResult<()> {
        self.revisions().delete_many(doc! { "project_id": project_id }).await?;
        Ok(())
    }
}

/// A sort document for an ordering; the revision number breaks ties so pages are stable.
pub(super) fn sort_document(order: &RevisionOrder) -> Document {
    let mut sort = Document::new();
    for (field, direction) in order {
        sort.insert(*field, *direction);
    }
    if !sort.contains_key("number") {
        sort.insert("number", -1);
    }
    sort
}

/// A revision's number and id, for the reads that need no more.
#[derive(Deserialize)]
struct NumberAndId {
    #[serde(rename = "_id")]
    id: String,
    number: i64,
}

impl Store {
    /// The number and id of a dialogue's newest stored revision (`None`: it has none).
    pub async fn newest_revision(&self, dialogue_id: &str) -> StoreResult<Option<(i64, String)>> {
        self.bounded(async {
            let newest = self
                .revisions()
                .clone_with_type::<NumberAndId>()
                .find_one(doc! { "dialogue_id": dialogue_id })
                .sort(doc! { "number": -1 })
                .projection(doc! { "number": 1 })
                .await?;
            Ok(newest.map(|r| (r.number, r.id)))
        })
        .await
    }

    /// The number of a dialogue's newest revision accepted before `before` (ms, server clock),
    /// 0 when none was. Revisions stored before acceptance times were recorded count as before.
    pub async fn last_revision_before(&self, dialogue_id: &str, before: i64) -> StoreResult<i64> {
        self.bounded(async {
            let last = self
                .revisions()
                .clone_with_type::<NumberAndId>()
                .find_one(doc! { "dialogue_id": dialogue_id, "accepted": { "$not": { "$gte": before } } })
                .sort(doc! { "number": -1 })
                .projection(doc! { "number": 1 })
                .await?;
            Ok(last.map_or(0, |r| r.number))
        })
        .await
    }
}
