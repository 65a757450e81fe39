//! `PresenceRelay`: presence across processes. The sessions this process serves are published
//! to the store's `presence` collection, and the change feed brings every other process's
//! sessions to the actors of the same dialogues, which tell their own sessions (`joined`,
//! `presence`, `left`) and list them in `welcome.peers`.
//!
//! Writes are throttled: actors only record the newest state of each session, and one task
//! writes what changed at once, then at most every [`WRITE_INTERVAL`], so a change reaches other
//! processes within milliseconds while a session that moves its selection a hundred times a
//! second costs twenty small writes, in a task of their own, never in the write path of
//! revisions. The same task keeps this process's heartbeat; a process whose heartbeat stops
//! for [`DEAD_AFTER`] is dead, and the next process to notice removes its sessions (whose
//! removal the feed turns into `left` everywhere): within 20 s of the death.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use dialogue_protocol::{Peer, User};
use serde_json::Value;
use tokio::sync::Notify;

use crate::store::{PresenceRecord, Store, now_millis};

/// After a write, changes within this window are written once, together (the newest of each).
const WRITE_INTERVAL: Duration = Duration::from_millis(50);
/// Pause before writing again after the database refused.
const RETRY_PAUSE: Duration = Duration::from_secs(1);
/// How often this process says it is alive, and looks for dead ones.
const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);
/// A process silent this long is dead.
pub const DEAD_AFTER: Duration = Duration::from_secs(15);

/// The relay; cheap to clone.
#[derive(Clone)]
pub struct PresenceRelay {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    /// This process's peer URL, which its heartbeat advertises.
    peer_url: Option<String>,
    sessions: Mutex<Sessions>,
    wake: Notify,
}

#[derive(Default)]
struct Sessions {
    /// Every session this process serves, by document id.
    live: HashMap<String, PresenceRecord>,
    /// What is not written yet, by document id: the session as it is now, or `None` when it left.
    pending: HashMap<String, Option<PresenceRecord>>,
}

impl PresenceRelay {
    /// A relay for this process's sessions; nothing is written until [`Self::spawn`].
    /// Its heartbeat advertises `peer_url`, this process's peer listener.
    pub fn new(store: Store, peer_url: Option<String>) -> Self {
        Self { inner: Arc::new(Inner { store, peer_url, sessions: Mutex::default(), wake: Notify::new() }) }
    }

    /// Starts writing, and the heartbeat, on the current runtime.
    pub fn spawn(&self) {
        tokio::spawn(write_loop(self.inner.clone()));
        tokio::spawn(heartbeat_loop(self.inner.clone()));
    }

    /// A session of this process joined a dialogue.
    pub fn joined(&self, dialogue_id: &str, session_id: &str, user: &User) {
        let record = PresenceRecord {
            id: PresenceRecord::key(dialogue_id, session_id),
            dialogue_id: dialogue_id.to_owned(),
            session_id: session_id.to_owned(),
            process: self.inner.store.process_id().to_owned(),
            user: serde_json::to_string(user).unwrap_or_else(|_| "null".into()),
            selection: "null".into(),
            written: now_millis(),
        };
        self.update(|sessions| {
            sessions.live.insert(record.id.clone(), record.clone());
            sessions.pending.insert(record.id.clone(), Some(record));
        });
    }

    /// A session of this process changed its selection.
    pub fn selected(&self, dialogue_id: &str, session_id: &str, selection: &Value) {
        let key = PresenceRecord::key(dialogue_id, session_id);
        let selection = selection.to_string();
        self.update(|sessions| {
            let Some(record) = sessions.live.get_mut(&key) else { return };
            record.selection = selection;
            record.written = now_millis();
            let record = record.clone();
            sessions.pending.insert(key, Some(record));
        });
    }

    /// A session of this process left.
    pub fn left(&self, dialogue_id: &str, session_id: &str) {
        let key = PresenceRecord::key(dialogue_id, session_id);
        self.update(|sessions| {
            if sessions.live.remove(&key).is_some() {
                sessions.pending.insert(key, None);
            }
        });
    }

    /// Removes this process's sessions and heartbeat from the store (at a graceful shutdown, so
    /// that the other processes report them `left` at once).
    pub async fn stop(&self) {
        self.update(|sessions| {
            sessions.live.clear();
            sessions.pending.clear();
        });
        if let Err(error) = self.inner.store.remove_own_presence().await {
            tracing::warn!(error = %error, "removing this process's presence failed; other processes will time it out");
        }
    }

    fn update(&self, change: impl FnOnce(&mut Sessions)) {
        change(&mut self.inner.sessions.lock().unwrap_or_else(PoisonError::into_inner));
        self.inner.wake.notify_one();
    }
}

impl Inner {
    fn take_pending(&self) -> HashMap<String, Option<PresenceRecord>> {
        std::mem::take(&mut self.sessions.lock().unwrap_or_else(PoisonError::into_inner).pending)
    }

    /// Puts back what could not be written, unless a newer state replaced it meanwhile.
    fn requeue(&self, batch: HashMap<String, Option<PresenceRecord>>) {
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        for (key, state) in batch {
            sessions.pending.entry(key).or_insert(state);
        }
    }

    /// Writes every session of this process again (after its heartbeat lapsed, other processes
    /// may have removed them).
    fn republish(&self) {
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        let live: Vec<PresenceRecord> = sessions.live.values().cloned().collect();
        let now = now_millis();
        for mut record in live {
            // Fresh: a sweep of silent processes' older documents must not take it again.
            record.written = now;
            sessions.pending.insert(record.id.clone(), Some(record));
        }
        drop(sessions);
        self.wake.notify_one();
    }
}

async fn write_loop(inner: Arc<Inner>) {
    loop {
        inner.wake.notified().await;
        let batch = inner.take_pending();
        let mut puts = Vec::new();
        let mut gone = Vec::new();
        for (key, state) in &batch {
            match state {
                Some(record) => puts.push(record.clone()),
                None => gone.push(key.clone()),
            }
        }
        let written = tokio::try_join!(inner.store.put_presence(&puts), inner.store.remove_presence(&gone));
        if let Err(error) = written {
            tracing::warn!(error = %error, sessions = batch.len(), "writing presence failed; retrying");
            inner.requeue(batch);
            tokio::time::sleep(RETRY_PAUSE).await;
            inner.wake.notify_one();
        }
        tokio::time::sleep(WRITE_INTERVAL).await;
    }
}

async fn heartbeat_loop(inner: Arc<Inner>) {
    let mut ticks = tokio::time::interval(HEARTBEAT_INTERVAL);
    let mut last_beat: Option<Instant> = None;
    loop {
        ticks.tick().await;
        match inner.store.heartbeat(inner.peer_url.as_deref()).await {
            Ok(()) => {
                // Others remove a process's sessions once it is silent for DEAD_AFTER: after a
                // silence near that, ours may be gone.
                if last_beat.is_some_and(|beat| beat.elapsed() >= DEAD_AFTER - HEARTBEAT_INTERVAL) {
                    tracing::info!("heartbeat restored; writing this process's sessions again");
                    inner.republish();
                }
                last_beat = Some(Instant::now());
            }
            Err(error) => tracing::warn!(error = %error, "heartbeat failed"),
        }
        let silent = i64::try_from(DEAD_AFTER.as_millis()).unwrap_or(i64::MAX);
        match inner.store.remove_dead_presence(silent).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "removed the sessions of processes that stopped"),
            Err(error) => tracing::debug!(error = %error, "looking for stopped processes failed"),
        }
    }
}

/// The peer a presence document describes; `None` when it is not one (a corrupt document).
pub fn peer_of(record: &PresenceRecord) -> Option<Peer> {
    Some(Peer {
        session_id: record.session_id.clone(),
        user: serde_json::from_str(&record.user).ok()?,
        selection: serde_json::from_str(&record.selection).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn record(selection: &str) -> PresenceRecord {
        PresenceRecord {
            id: PresenceRecord::key("d", "s"),
            dialogue_id: "d".into(),
            session_id: "s".into(),
            process: "p".into(),
            user: json!({ "id": "u", "first_name": "Ada", "last_name": "L" }).to_string(),
            selection: selection.into(),
            written: 0,
        }
    }

    #[test]
    fn a_document_becomes_the_peer_it_describes() {
        let peer = peer_of(&record(r#"{"block_id":"b"}"#)).unwrap();
        assert_eq!(peer.session_id, "s");
        assert_eq!(peer.user.first_name, "Ada");
        assert_eq!(peer.selection, json!({ "block_id": "b" }));
        assert!(peer_of(&record("{not json")).is_none());
    }

    #[test]
    fn keys_name_the_dialogue_and_the_session() {
        let key = PresenceRecord::key("dialogue-1", "session-2");
        assert_eq!(PresenceRecord::parse_key(&key), Some(("dialogue-1", "session-2")));
    }
}
