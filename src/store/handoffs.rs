//! The `handoffs` collection: messages between server processes about one dialogue, carried by
//! the change feed. A process that keeps losing the race for a dialogue's next numbers hands its
//! writes to the process that is winning (a `write`), and that process answers the ones it
//! refuses (a `refusal`); the writes it stores come back as ordinary revisions that name the
//! handoff. A process whose push of stored revisions to another failed tells it so (`missed`).
//! Each message is addressed to one process; a TTL index removes them after an hour.

use mongodb::bson::doc;
use serde::{Deserialize, Serialize};

use super::{Store, StoreResult, now_millis};

/// How long a handoff is kept (they are read within seconds).
const KEPT_MILLIS: i64 = 3_600_000;

/// What a handoff carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandoffKind {
    /// A write to store (the body is the write request, as JSON text).
    Write,
    /// A handed-off write was refused (the body is the error, as JSON text).
    Refusal,
    /// A handed-off write changed nothing (no revision will come back).
    Unchanged,
    /// Revisions stored for the receiver's dialogue were to be pushed to it over its peer link,
    /// and the push failed (the body is the last one's number): the receiver reads them from
    /// the store, since its change feed leaves them out.
    Missed,
}

/// One message from one process to another.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HandoffRecord {
    /// Identifier; a refusal or an unchanged answer has the id of the write it answers.
    #[serde(rename = "_id")]
    pub id: String,
    /// The write it concerns (the same as `id` for a write).
    pub write_id: String,
    /// What it carries.
    pub kind: HandoffKind,
    /// The dialogue.
    pub dialogue_id: String,
    /// The process it is for.
    pub to: String,
    /// The process it is from.
    pub from: String,
    /// The content, as JSON text.
    pub body: String,
    /// When it expires, for the TTL index (milliseconds since the epoch).
    #[serde(with = "super::millis_as_date")]
    pub expires: i64,
}

impl HandoffRecord {
    /// When it was sent (milliseconds, by the sender's clock).
    pub fn sent_millis(&self) -> i64 {
        self.expires - KEPT_MILLIS
    }

    /// A message of `kind` about write `write_id` of `dialogue_id`, from `from` to `to`.
    pub fn new(kind: HandoffKind, write_id: &str, dialogue_id: &str, from: &str, to: &str, body: String) -> Self {
        let id = match kind {
            HandoffKind::Write | HandoffKind::Missed => write_id.to_owned(),
            HandoffKind::Refusal | HandoffKind::Unchanged => format!("{write_id}:answer"),
        };
        Self {
            id,
            write_id: write_id.to_owned(),
            kind,
            dialogue_id: dialogue_id.to_owned(),
            to: to.to_owned(),
            from: from.to_owned(),
            body,
            expires: now_millis() + KEPT_MILLIS,
        }
    }
}

impl Store {
    fn handoffs(&self) -> mongodb::Collection<HandoffRecord> {
        self.db.collection("handoffs")
    }

    /// Sends messages to other processes (they arrive through the change feed).
    pub async fn send_handoffs(&self, handoffs: &[HandoffRecord]) -> StoreResult<()> {
        if handoffs.is_empty() {
            return Ok(());
        }
        self.bounded(async {
            self.handoffs().insert_many(handoffs).ordered(false).await?;
            Ok(())
        })
        .await
    }
}
