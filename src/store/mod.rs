//! The MongoDB boundary: owns the client, every collection, every index and every query.
//!
//! Handlers and actors call typed methods on [`Store`] with typed records (timestamps are `i64`
//! milliseconds, positions in the change feed are opaque) and never see a BSON document or a
//! driver type: none appears in a public signature or field (the one public trace is the
//! conversion of driver errors into [`StoreError`] that `?` uses inside the store). Each
//! collection is read and written by its own module; a write that spans collections (creating a project with its
//! creator's grant, a project's cascade) calls each module for its part. Every call has the
//! database deadline. Driver errors are classified once, here, into [`StoreError`]: a duplicate
//! key, an unavailable database (unreachable, or past the deadline), or anything else.

mod attempts;
mod channels;
mod contacts;
mod dialogues;
mod feed;
mod handoffs;
mod indexes;
mod invites;
mod password_resets;
mod presence;
mod projects;
mod releases;
mod revisions;
mod snapshots;
mod tokens;
mod users;
mod webhooks;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mongodb::bson::doc;
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::event::EventHandler;
use mongodb::event::cmap::CmapEvent;
use mongodb::options::{Acknowledgment, ClientOptions, WriteConcern};
use mongodb::{Client, Database};
use secrecy::{ExposeSecret, SecretString};

pub use channels::{Assignment, ChannelRecord, CredentialsChange, ProviderRecord};
pub use contacts::{ContactFilter, ContactRecord, ContactUpdate};
pub use dialogues::{DialogueRecord, ReleaseMark};
pub use feed::{Feed, FeedEvent, FeedPosition, FeedStart};
pub use handoffs::{HandoffKind, HandoffRecord};
pub use invites::InviteRecord;
pub use password_resets::PasswordReset;
pub use presence::{PresenceRecord, ProcessRecord};
pub use projects::{ProjectRecord, ProjectScope};
pub use releases::ReleaseRecord;
pub use revisions::{
    DEFAULT_SPACING as DEFAULT_COMMIT_SPACING, HandoffMark, RevisionOrder, RevisionRecord, RevisionStream,
};
pub use snapshots::Snapshot;
pub use tokens::{TokenKind, TokenRecord};
pub use users::{NewUser, UserRecord};
pub use webhooks::{
    CursorRecord, DeliveryRecord, DeliveryStatus, Finish, OutboxEvent, QueueDepth, WatchRecord, WebhookRecord,
};

/// MongoDB's error code for a unique index violation.
const DUPLICATE_KEY: i32 = 11000;

/// Server error codes that mean "no usable primary right now": retry later, not a bug.
const UNAVAILABLE_CODES: &[i32] = &[
    6,     // HostUnreachable
    7,     // HostNotFound
    89,    // NetworkTimeout
    91,    // ShutdownInProgress
    189,   // PrimarySteppedDown
    10107, // NotWritablePrimary
    11600, // InterruptedAtShutdown
    11602, // InterruptedDueToReplStateChange
    13435, // NotPrimaryNoSecondaryOk
    13436, // NotPrimaryOrSecondary
];

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique index refused the write; `what` names the value for the client.
    #[error("duplicate {what}")]
    Duplicate {
        /// What was duplicated, in words a client understands ("a user with this email").
        what: String,
    },
    /// The database cannot be reached (or has no primary, or did not answer within the
    /// deadline) right now: the outcome of a write is unknown.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else: a bug, a corrupt document, a driver surprise.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl StoreError {
    /// The error's kind, as the metrics label it: `unavailable`, `duplicate` or `other`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Unavailable(_) => "unavailable",
            Self::Duplicate { .. } => "duplicate",
            Self::Other(_) => "other",
        }
    }
}

/// Result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;

impl From<mongodb::error::Error> for StoreError {
    fn from(error: mongodb::error::Error) -> Self {
        if is_duplicate_key(&error) {
            return Self::Duplicate { what: "a resource with this unique value".into() };
        }
        if is_unavailable(&error) {
            return Self::Unavailable(error.to_string());
        }
        Self::Other(error.into())
    }
}

/// True when the error is a unique index violation, however the driver wrapped it.
fn is_duplicate_key(error: &mongodb::error::Error) -> bool {
    match error.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(write)) => write.code == DUPLICATE_KEY,
        ErrorKind::InsertMany(insert) => {
            insert.write_errors.as_ref().is_some_and(|errors| errors.iter().any(|e| e.code == DUPLICATE_KEY))
        }
        ErrorKind::Command(command) => command.code == DUPLICATE_KEY,
        _ => false,
    }
}

/// True when the error means the database is unreachable or has no primary for now.
fn is_unavailable(error: &mongodb::error::Error) -> bool {
    match error.kind.as_ref() {
        ErrorKind::Io(_)
        | ErrorKind::ServerSelection { .. }
        | ErrorKind::ConnectionPoolCleared { .. }
        | ErrorKind::DnsResolve { .. } => true,
        ErrorKind::Command(command) => UNAVAILABLE_CODES.contains(&command.code),
        _ => error.contains_label("RetryableWriteError") || error.contains_label("TransientTransactionError"),
    }
}

/// Marks a duplicate-key error with the words the client should see.
trait DuplicateAs<T> {
    /// Renames a [`StoreError::Duplicate`] to describe `what` was duplicated.
    fn duplicate_as(self, what: &str) -> StoreResult<T>;
}

impl<T> DuplicateAs<T> for Result<T, mongodb::error::Error> {
    fn duplicate_as(self, what: &str) -> StoreResult<T> {
        self.map_err(|error| match StoreError::from(error) {
            StoreError::Duplicate { .. } => StoreError::Duplicate { what: what.to_owned() },
            other => other,
        })
    }
}

/// The application's handle on its database. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    client: Client,
    db: Database,
    /// How long one store call may take before it is abandoned as unavailable.
    deadline: Duration,
    counters: Arc<StoreCounters>,
    /// Revisions of every dialogue, stored together.
    committer: revisions::Committer,
    /// Heads of every dialogue, written together.
    heads: dialogues::HeadWriter,
    /// This process, as other processes address it (random at each start).
    process_id: Arc<str>,
}

/// What the store did, counted since start-up: the server's own measure of its database work.
#[derive(Debug, Default)]
pub struct StoreCounters {
    /// Commands sent to the database, each one round trip, counted as the connections the
    /// driver checks out for them: every read and write, transaction commits, and the change
    /// feed's `getMore`s.
    pub round_trips: AtomicU64,
    /// Commands that inserted revisions (each one round trip, or a transaction for a bulk
    /// write), for however many dialogues.
    pub revision_batches: AtomicU64,
    /// Commands that wrote dialogue heads, for however many dialogues.
    pub head_writes: AtomicU64,
    /// Revisions inserted.
    pub revisions: AtomicU64,
    /// Calls that failed because the database was unavailable or too slow.
    pub unavailable: AtomicU64,
    /// Revisions handed to the shared committer and not yet answered.
    pub queued_revisions: std::sync::atomic::AtomicI64,
}

impl StoreCounters {
    /// A counter's value now.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts a failed store call: in the metrics by kind, and here when the database did not
    /// answer.
    fn failed(&self, error: &StoreError) {
        crate::metrics::store_error(error.kind());
        if let StoreError::Unavailable(_) = error {
            Self::add(&self.unavailable, 1);
        }
    }
}

impl Store {
    /// Connects lazily: the driver dials on first use and reconnects by itself after outages.
    /// Starts the shared committer and head writer on the current runtime.
    /// `timeout` bounds server selection, connecting, and every store call; `commit_spacing` is
    /// the committer's least time between two inserts under spread load (see
    /// [`DEFAULT_COMMIT_SPACING`]).
    pub async fn connect(
        uri: &SecretString,
        database: &str,
        timeout: Duration,
        commit_spacing: Duration,
    ) -> anyhow::Result<Self> {
        let mut options = ClientOptions::parse(uri.expose_secret()).await?;
        if options.server_selection_timeout.is_none() {
            options.server_selection_timeout = Some(timeout);
        }
        if options.connect_timeout.is_none() {
            options.connect_timeout = Some(timeout);
        }
        options.app_name.get_or_insert_with(|| "dialogue-server".to_owned());
        if options.write_concern.is_none() {
            // Acknowledged means durable: journaled on a majority of the replica set.
            options.write_concern = Some(WriteConcern::builder().w(Acknowledgment::Majority).journal(true).build());
        }
        let counters: Arc<StoreCounters> = Arc::default();
        let counted = counters.clone();
        // A command is sent on a connection checked out for it alone (every batch of an insert,
        // every `getMore`, every retry), so checkouts count round trips. Command monitoring would
        // count them too, but for its events the driver copies every command and every reply and
        // parses each into a `Document` tree: the inserted revisions, the feed's batches, whole
        // snapshots. That was 6% of the server's CPU in `hot` (docs/benchmarks.md).
        options.cmap_event_handler = Some(EventHandler::callback(move |event: CmapEvent| {
            if let CmapEvent::ConnectionCheckedOut(_) = event {
                StoreCounters::add(&counted.round_trips, 1);
            }
        }));
        let client = Client::with_options(options)?;
        let db = client.database(database);
        let committer = revisions::Committer::spawn(&db, timeout, commit_spacing, counters.clone());
        let heads = dialogues::HeadWriter::spawn(db.clone(), timeout, counters.clone());
        let process_id = Arc::from(new_id());
        Ok(Self { client, db, deadline: timeout, counters, committer, heads, process_id })
    }

    /// This process, as other processes sharing the database address it.
    pub fn process_id(&self) -> &str {
        &self.process_id
    }

    /// How long one store call may take before it is abandoned as unavailable.
    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    /// What the store did since start-up.
    pub fn counters(&self) -> &StoreCounters {
        &self.counters
    }

    /// Runs one store call within the deadline: past it, the call is abandoned and reported as
    /// [`StoreError::Unavailable`] (for a write, its outcome is then unknown).
    async fn bounded<T>(&self, call: impl Future<Output = StoreResult<T>>) -> StoreResult<T> {
        let result = match tokio::time::timeout(self.deadline, call).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Unavailable(format!("no answer within {} ms", self.deadline.as_millis()))),
        };
        if let Err(error) = &result {
            self.counters.failed(error);
        }
        result
    }

    /// Answers whether the database responds to a `ping` right now.
    pub async fn ping(&self) -> StoreResult<()> {
        self.bounded(async {
            self.db.run_command(doc! { "ping": 1 }).await?;
            Ok(())
        })
        .await
    }

    /// Creates every collection's indexes. Idempotent: safe at every start-up.
    pub async fn ensure_indexes(&self) -> StoreResult<()> {
        indexes::ensure(&self.db).await
    }

    /// Drops the whole database. Only the test harness calls this.
    pub async fn drop_database(&self) -> StoreResult<()> {
        self.db.drop().await?;
        Ok(())
    }
}

/// One page of the documents of `collection` matching `filter`, in `sort` order, and how many
/// match in all: every paginated list of the API is one of these.
async fn page<T>(
    collection: &mongodb::Collection<T>,
    filter: mongodb::bson::Document,
    sort: mongodb::bson::Document,
    skip: u64,
    limit: i64,
) -> StoreResult<(Vec<T>, u64)>
where
    T: serde::de::DeserializeOwned + Send + Sync,
{
    use futures_util::TryStreamExt;
    let total = collection.count_documents(filter.clone()).await?;
    let items = collection.find(filter).sort(sort).skip(skip).limit(limit).await?.try_collect().await?;
    Ok((items, total))
}

/// Stores an `i64` of milliseconds since the epoch as a BSON date (which TTL indexes need), so
/// that records outside the store speak milliseconds only.
mod millis_as_date {
    use mongodb::bson::DateTime;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(millis: &i64, serializer: S) -> Result<S::Ok, S::Error> {
        serde::Serialize::serialize(&DateTime::from_millis(*millis), serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
        Ok(DateTime::deserialize(deserializer)?.timestamp_millis())
    }
}

/// Milliseconds since the Unix epoch: the API's timestamp unit.
pub fn now_millis() -> i64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

/// A fresh random identifier for a new resource.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
