//! The change feed: one MongoDB change stream over the collections whose changes other server
//! processes must hear about, turned into typed events. Revisions and releases arrive whole; for
//! tokens, users and projects only the key matters. Handoffs between processes arrive whole.

use futures_util::StreamExt;
use mongodb::bson::{self, RawDocumentBuf, doc};
use mongodb::change_stream::ChangeStream;
use mongodb::change_stream::event::{ChangeStreamEvent, OperationType, ResumeToken};

use super::{
    HandoffRecord, PresenceRecord, ProcessRecord, ReleaseRecord, RevisionRecord, Store, StoreError, StoreResult,
};

/// Something another process (or this one) changed.
#[derive(Debug, Clone)]
pub enum FeedEvent {
    /// A revision was stored.
    Revision(RevisionRecord),
    /// A message from another process (or this one: the caller checks `to`).
    Handoff(HandoffRecord),
    /// A release was stored.
    Release(ReleaseRecord),
    /// A token (bearer or session) was deleted: revoked, or expired by the TTL index.
    TokenDeleted {
        /// Its hash.
        hash: String,
    },
    /// A user document changed (grants, password) or was removed.
    UserChanged {
        /// The user.
        user_id: String,
    },
    /// A live session joined, or changed its selection (on any process).
    Presence(PresenceRecord),
    /// A live session left (or its process died).
    PresenceGone {
        /// Its dialogue.
        dialogue_id: String,
        /// The session.
        session_id: String,
    },
    /// A process's heartbeat (any process's, this one's too).
    Process(ProcessRecord),
    /// A process stopped, or was forgotten long after it died.
    ProcessGone {
        /// The process.
        process_id: String,
    },
    /// A project was deleted.
    ProjectDeleted {
        /// The project.
        project_id: String,
    },
}

/// A live change stream. Its documents stay raw BSON until [`parse`] deserializes each one
/// straight into its record (no `Document` tree built and cloned per event).
pub struct Feed {
    stream: ChangeStream<ChangeStreamEvent<RawDocumentBuf>>,
}

/// Where a feed stopped, to resume right after it (opaque: the driver's resume token).
#[derive(Debug, Clone)]
pub struct FeedPosition(ResumeToken);

/// Where a feed starts.
pub enum FeedStart {
    /// From now on.
    Now,
    /// Right after this position.
    After(FeedPosition),
}

impl Store {
    /// Opens the feed.
    pub async fn watch(&self, start: FeedStart) -> StoreResult<Feed> {
        // This process's own revisions stay out: its actors announced them already, and under
        // load their echo cost a `getMore` per insert and a parse per revision. So do the
        // revisions another process pushed to this one over a peer link (`pushed_to`), for the
        // same reason. Every process's heartbeat (`processes`, every few seconds, this one's
        // too) comes through instead, so a working feed always brings events.
        let pipeline = [doc! { "$match": {
            "ns.coll": { "$in": ["revisions", "releases", "tokens", "users", "projects", "handoffs", "presence", "processes"] },
            "operationType": { "$in": ["insert", "update", "replace", "delete"] },
            "$or": [
                { "ns.coll": { "$ne": "revisions" } },
                { "fullDocument.process": { "$ne": self.process_id() }, "fullDocument.pushed_to": { "$ne": self.process_id() } },
            ],
        } }];
        let watch = self.db.watch().pipeline(pipeline);
        let stream = match start {
            FeedStart::Now => watch.await?,
            FeedStart::After(FeedPosition(token)) => watch.resume_after(token).await?,
        };
        Ok(Feed { stream: stream.with_type() })
    }
}

impl Feed {
    /// The next event; `None` when the stream ended.
    pub async fn next(&mut self) -> StoreResult<Option<FeedEvent>> {
        loop {
            let Some(event) = self.stream.next().await else { return Ok(None) };
            let event = event?;
            record_lag(&event);
            match parse(event) {
                Ok(Some(parsed)) => return Ok(Some(parsed)),
                Ok(None) => {}
                // One unreadable document must not stop the feed (resuming would read it again
                // and again): it is skipped, and whoever needed it finds the gap and reloads.
                Err(error) => tracing::error!(error = %error, "skipping an unreadable change-feed event"),
            }
        }
    }

    /// Where to resume after the last event read.
    pub fn position(&self) -> Option<FeedPosition> {
        self.stream.resume_token().map(FeedPosition)
    }
}

/// How long the change took to reach this process: from the event's wall time (MongoDB 6+) or,
/// failing that, its cluster time (whole seconds).
fn record_lag(event: &ChangeStreamEvent<RawDocumentBuf>) {
    if !crate::metrics::enabled() {
        return;
    }
    let at_millis = match (event.wall_time, event.cluster_time) {
        (Some(wall), _) => wall.timestamp_millis(),
        (None, Some(cluster)) => i64::from(cluster.time) * 1000,
        (None, None) => return,
    };
    let now = super::now_millis();
    crate::metrics::HOT.feed_last_event.store(now, std::sync::atomic::Ordering::Relaxed);
    let lag = (now - at_millis).max(0) as f64 / 1000.0;
    metrics::gauge!(crate::metrics::FEED_LAG).set(lag);
}

fn key(event: &ChangeStreamEvent<RawDocumentBuf>) -> Option<String> {
    event.document_key.as_ref()?.get_str("_id").ok().map(str::to_owned)
}

fn parse(mut event: ChangeStreamEvent<RawDocumentBuf>) -> StoreResult<Option<FeedEvent>> {
    let collection = event.ns.as_ref().and_then(|ns| ns.coll.clone()).unwrap_or_default();
    let whole = |event: &mut ChangeStreamEvent<RawDocumentBuf>| event.full_document.take();
    let parsed = match (collection.as_str(), &event.operation_type) {
        ("revisions", OperationType::Insert) => match whole(&mut event) {
            Some(document) => Some(FeedEvent::Revision(bson::from_slice(document.as_bytes()).map_err(anyhow_error)?)),
            None => None,
        },
        ("releases", OperationType::Insert) => match whole(&mut event) {
            Some(document) => Some(FeedEvent::Release(bson::from_slice(document.as_bytes()).map_err(anyhow_error)?)),
            None => None,
        },
        ("handoffs", OperationType::Insert) => match whole(&mut event) {
            Some(document) => Some(FeedEvent::Handoff(bson::from_slice(document.as_bytes()).map_err(anyhow_error)?)),
            None => None,
        },
        ("presence", OperationType::Insert | OperationType::Replace) => match whole(&mut event) {
            Some(document) => Some(FeedEvent::Presence(bson::from_slice(document.as_bytes()).map_err(anyhow_error)?)),
            None => None,
        },
        ("presence", OperationType::Delete) => key(&event).and_then(|key| {
            let (dialogue_id, session_id) = PresenceRecord::parse_key(&key)?;
            Some(FeedEvent::PresenceGone { dialogue_id: dialogue_id.to_owned(), session_id: session_id.to_owned() })
        }),
        ("processes", OperationType::Insert | OperationType::Replace) => match whole(&mut event) {
            Some(document) => Some(FeedEvent::Process(bson::from_slice(document.as_bytes()).map_err(anyhow_error)?)),
            None => None,
        },
        ("processes", OperationType::Delete) => key(&event).map(|process_id| FeedEvent::ProcessGone { process_id }),
        ("tokens", OperationType::Delete) => key(&event).map(|hash| FeedEvent::TokenDeleted { hash }),
        ("users", OperationType::Update | OperationType::Replace | OperationType::Delete) => {
            key(&event).map(|user_id| FeedEvent::UserChanged { user_id })
        }
        ("projects", OperationType::Delete) => key(&event).map(|project_id| FeedEvent::ProjectDeleted { project_id }),
        _ => None,
    };
    Ok(parsed)
}

fn anyhow_error(error: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Other(anyhow::Error::new(error))
}
