//! Shared head writes: the dialogues' stored heads (derived data: a load repairs a head from
//! the revisions after it) are written together, in one `update` command with a statement per
//! dialogue, one command at a time and at most one every [`COMMAND_INTERVAL`]; meanwhile the
//! next heads gather, and of several heads of one dialogue only the newest is written. (With
//! thousands of dialogues each writing its head now and then, commands of a few heads would
//! otherwise take a large share of the database's durable commits from the revisions.) A head only moves forward: a statement matches
//! only when the stored head is at an older revision.

use std::collections::HashMap;
use std::time::Duration;

use mongodb::Database;
use mongodb::bson::{Document, doc};
use tokio::sync::{mpsc, oneshot};

use super::DialogueRecord;
use crate::store::{StoreCounters, StoreError, StoreResult};
use std::sync::Arc;

/// Heads in one command at most.
const MAX_HEADS: usize = 1000;
/// Commands start at least this far apart.
const COMMAND_INTERVAL: Duration = Duration::from_millis(20);

struct Request {
    head: DialogueRecord,
    reply: oneshot::Sender<StoreResult<()>>,
}

/// The newest head of one dialogue in the next command, and everyone waiting on one of its heads.
struct Gathered {
    head: DialogueRecord,
    waiting: Vec<oneshot::Sender<StoreResult<()>>>,
}

/// The way to the head writer task.
#[derive(Debug, Clone)]
pub struct HeadWriter {
    requests: mpsc::UnboundedSender<Request>,
}

impl HeadWriter {
    /// Starts the head writer task on the current runtime.
    pub fn spawn(db: Database, deadline: Duration, counters: Arc<StoreCounters>) -> Self {
        let (requests, receiver) = mpsc::unbounded_channel();
        tokio::spawn(run(db, receiver, deadline, counters));
        Self { requests }
    }

    /// Writes a dialogue's head in the next shared command; answered once it (or a newer head
    /// of the same dialogue) is written.
    pub async fn write(&self, head: DialogueRecord) -> StoreResult<()> {
        let (reply, answer) = oneshot::channel();
        if self.requests.send(Request { head, reply }).is_err() {
            return Err(StoreError::Unavailable("the head writer has stopped".into()));
        }
        answer.await.unwrap_or_else(|_| Err(StoreError::Unavailable("the head writer dropped the head".into())))
    }
}

async fn run(
    db: Database,
    mut requests: mpsc::UnboundedReceiver<Request>,
    deadline: Duration,
    counters: Arc<StoreCounters>,
) {
    let mut last_command: Option<tokio::time::Instant> = None;
    while let Some(first) = requests.recv().await {
        if let Some(last) = last_command {
            tokio::time::sleep_until(last + COMMAND_INTERVAL).await;
        }
        last_command = Some(tokio::time::Instant::now());
        let mut heads: HashMap<String, Gathered> = HashMap::new();
        let mut add = |request: Request| {
            let entry = heads
                .entry(request.head.id.clone())
                .or_insert_with(|| Gathered { head: request.head.clone(), waiting: Vec::new() });
            if request.head.revision_number > entry.head.revision_number {
                entry.head = request.head;
            }
            entry.waiting.push(request.reply);
        };
        add(first);
        let mut gathered = 1;
        while gathered < MAX_HEADS {
            let Ok(next) = requests.try_recv() else { break };
            add(next);
            gathered += 1;
        }
        let updates: Vec<Document> = heads.values().map(|gathered| statement(&gathered.head)).collect();
        StoreCounters::add(&counters.head_writes, 1);
        let command = doc! { "update": "dialogues", "updates": updates, "ordered": false };
        let result = match tokio::time::timeout(deadline, db.run_command(command)).await {
            // With `ordered: false` a statement's failure is reported in the answer, not as an error.
            Ok(Ok(answer)) => match answer.get_array("writeErrors") {
                Ok(errors) if !errors.is_empty() => {
                    Err(StoreError::Unavailable(format!("{} head writes failed", errors.len())))
                }
                _ => Ok(()),
            },
            Ok(Err(error)) => Err(StoreError::from(error)),
            Err(_) => Err(StoreError::Unavailable(format!("no answer within {} ms", deadline.as_millis()))),
        };
        for gathered in heads.into_values() {
            for reply in gathered.waiting {
                let _ = reply.send(match &result {
                    Ok(()) => Ok(()),
                    Err(error) => Err(StoreError::Unavailable(error.to_string())),
                });
            }
        }
    }
}

/// The update statement that moves one head forward.
fn statement(head: &DialogueRecord) -> Document {
    doc! {
        "q": { "_id": &head.id, "revision_number": { "$lt": head.revision_number } },
        "u": { "$set": {
            "title": &head.title,
            "is_archived": head.is_archived,
            "content": &head.content,
            "revision_number": head.revision_number,
            "revision_id": &head.revision_id,
        } },
    }
}
