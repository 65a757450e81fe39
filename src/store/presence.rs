//! The `presence` and `processes` collections: live sessions as every process sharing the
//! database sees them. Each process keeps one `presence` document per live session it serves
//! (its user and selection, written by the presence relay, carried to the other processes by the
//! change feed) and one `processes` document, its heartbeat. A process whose heartbeat stops is
//! dead: any other process removes its sessions, and the feed tells everyone they left.
//!
//! Heartbeats compare the clocks of the processes that wrote and read them; like the token
//! expiry, that assumes clocks kept in step (NTP), to well within the dead-process threshold.

use mongodb::bson::{self, doc};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, StoreResult, now_millis};

/// One live session, as other processes see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PresenceRecord {
    /// `<dialogue id>:<session id>` (a deletion in the feed names only this).
    #[serde(rename = "_id")]
    pub id: String,
    /// The dialogue.
    pub dialogue_id: String,
    /// The session.
    pub session_id: String,
    /// The process that serves it.
    pub process: String,
    /// Its user, as JSON text (the frame's `user` object).
    pub user: String,
    /// What it looks at, as JSON text (`null` until it says).
    pub selection: String,
    /// When this version was written (milliseconds): a session of a process with no heartbeat
    /// is only removed once it is older than the threshold, so a process that just started is
    /// never mistaken for a dead one.
    pub written: i64,
}

impl PresenceRecord {
    /// The document id of a session of a dialogue.
    pub fn key(dialogue_id: &str, session_id: &str) -> String {
        format!("{dialogue_id}:{session_id}")
    }

    /// The dialogue and session a document id names.
    pub fn parse_key(key: &str) -> Option<(&str, &str)> {
        key.split_once(':')
    }
}

/// A process's heartbeat.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProcessRecord {
    /// The process.
    #[serde(rename = "_id")]
    pub id: String,
    /// Its last heartbeat (milliseconds).
    pub seen: i64,
    /// Where its peer listener is, when it has one (`crate::peers`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_url: Option<String>,
}

/// Sessions written by one command at most.
const STATEMENTS_PER_COMMAND: usize = 1000;

/// How long the heartbeat of a dead process is kept before it is removed as garbage.
const PROCESS_KEPT_MILLIS: i64 = 3_600_000;

impl Store {
    fn presence(&self) -> mongodb::Collection<PresenceRecord> {
        self.db.collection("presence")
    }

    fn processes(&self) -> mongodb::Collection<ProcessRecord> {
        self.db.collection("processes")
    }

    /// Writes sessions (joined, or their selection changed), each as a whole document: one
    /// `update` command per [`STATEMENTS_PER_COMMAND`] sessions, however many there are.
    pub async fn put_presence(&self, records: &[PresenceRecord]) -> StoreResult<()> {
        if records.is_empty() {
            return Ok(());
        }
        let mut statements = Vec::with_capacity(records.len());
        for record in records {
            let replacement = bson::to_document(record).map_err(|error| StoreError::Other(error.into()))?;
            statements.push(doc! { "q": { "_id": &record.id }, "u": replacement, "upsert": true });
        }
        self.bounded(async {
            for chunk in statements.chunks(STATEMENTS_PER_COMMAND) {
                let command = doc! { "update": "presence", "updates": chunk, "ordered": false };
                let answer = self.db.run_command(command).await?;
                // With `ordered: false` a statement's failure is in the answer, not an error.
                if answer.get_array("writeErrors").is_ok_and(|errors| !errors.is_empty()) {
                    return Err(StoreError::Other(anyhow::anyhow!("presence writes failed: {answer}")));
                }
            }
            Ok(())
        })
        .await
    }

    /// Removes sessions that left, by document id.
    pub async fn remove_presence(&self, keys: &[String]) -> StoreResult<()> {
        if keys.is_empty() {
            return Ok(());
        }
        self.bounded(async {
            self.presence().delete_many(doc! { "_id": { "$in": keys } }).await?;
            Ok(())
        })
        .await
    }

    /// The sessions of a dialogue on every process.
    pub async fn presence_of(&self, dialogue_id: &str) -> StoreResult<Vec<PresenceRecord>> {
        use futures_util::TryStreamExt;
        self.bounded(async {
            let cursor = self.presence().find(doc! { "dialogue_id": dialogue_id }).await?;
            Ok(cursor.try_collect().await?)
        })
        .await
    }

    /// This process is alive now, and its peer listener is at `peer_url`.
    pub async fn heartbeat(&self, peer_url: Option<&str>) -> StoreResult<()> {
        let record = ProcessRecord {
            id: self.process_id().to_owned(),
            seen: now_millis(),
            peer_url: peer_url.map(str::to_owned),
        };
        self.bounded(async {
            self.processes().replace_one(doc! { "_id": &record.id }, &record).upsert(true).await?;
            Ok(())
        })
        .await
    }

    /// Removes the sessions of every process whose heartbeat is older than `silent_millis`
    /// (and that were written before then), and forgets long-dead processes. Answers how many
    /// sessions were removed.
    pub async fn remove_dead_presence(&self, silent_millis: i64) -> StoreResult<u64> {
        use futures_util::TryStreamExt;
        let threshold = now_millis() - silent_millis;
        self.bounded(async {
            let alive: Vec<ProcessRecord> =
                self.processes().find(doc! { "seen": { "$gte": threshold } }).await?.try_collect().await?;
            let alive: Vec<&str> = alive.iter().map(|process| process.id.as_str()).collect();
            let removed = self
                .presence()
                .delete_many(doc! { "process": { "$nin": alive }, "written": { "$lt": threshold } })
                .await?
                .deleted_count;
            self.processes().delete_many(doc! { "seen": { "$lt": now_millis() - PROCESS_KEPT_MILLIS } }).await?;
            Ok(removed)
        })
        .await
    }

    /// The processes alive within `silent_millis`, with their peer URLs.
    pub async fn live_processes(&self, silent_millis: i64) -> StoreResult<Vec<ProcessRecord>> {
        use futures_util::TryStreamExt;
        let threshold = now_millis() - silent_millis;
        self.bounded(async {
            Ok(self.processes().find(doc! { "seen": { "$gte": threshold } }).await?.try_collect().await?)
        })
        .await
    }

    /// This process stops: its sessions and its heartbeat go (at a graceful shutdown).
    pub async fn remove_own_presence(&self) -> StoreResult<()> {
        let process = self.process_id().to_owned();
        self.bounded(async {
            self.presence().delete_many(doc! { "process": &process }).await?;
            self.processes().delete_one(doc! { "_id": &process }).await?;
            Ok(())
        })
        .await
    }
}
