//! The change feed task: follows the database's change stream and hands what other processes
//! stored to the running dialogue actors and to the live sessions. It resumes after errors from
//! the last event it read; when it cannot resume, it starts afresh and has every actor and
//! session resynchronize from the store.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::dialogue::messages::External;
use crate::live::events::AccessEvent;
use crate::state::AppState;
use crate::store::{FeedEvent, FeedPosition, FeedStart, HandoffKind, StoreResult};

/// Events read from the stream and not yet routed, at most (routed together).
const GATHERED: usize = 256;
/// Pause before reopening a failed feed.
const REOPEN_PAUSE: Duration = Duration::from_millis(500);

/// Starts following the feed, in the background, until the process ends.
pub fn spawn(state: Arc<AppState>) {
    actix::spawn(async move { follow(state).await });
}

async fn follow(state: Arc<AppState>) {
    let mut resume = None;
    let mut first = true;
    loop {
        let start = match resume.clone() {
            Some(token) => FeedStart::After(token),
            None => FeedStart::Now,
        };
        let resuming = matches!(start, FeedStart::After(_));
        let mut feed = match state.store.watch(start).await {
            Ok(feed) => feed,
            Err(error) => {
                tracing::warn!(error = %error, resuming, "opening the change feed failed");
                if resuming {
                    // The resume point may be gone: start afresh (and resynchronize) next time.
                    resume = None;
                }
                tokio::time::sleep(REOPEN_PAUSE).await;
                continue;
            }
        };
        if !first && crate::metrics::enabled() {
            let outcome = if resuming { "resumed" } else { "restarted" };
            metrics::counter!(crate::metrics::FEED_REOPENS, "outcome" => outcome).increment(1);
        }
        if !resuming && !first {
            resynchronize(&state);
        }
        first = false;
        // One side reads the stream, the other routes what was read: the events read while the
        // last ones were being routed go together, and a dialogue's run of revisions reaches
        // its actor as one message, applied and announced together. (The stream's `next` is
        // not cancel-safe: it is always awaited to the end, never raced.)
        let (sender, mut receiver) = mpsc::channel::<(StoreResult<Option<FeedEvent>>, Option<FeedPosition>)>(GATHERED);
        let read = async {
            loop {
                let next = feed.next().await;
                let done = !matches!(next, Ok(Some(_)));
                if sender.send((next, feed.position())).await.is_err() || done {
                    break;
                }
            }
        };
        let route = async {
            let mut read = Vec::with_capacity(GATHERED);
            while receiver.recv_many(&mut read, GATHERED).await > 0 {
                let mut events = Vec::with_capacity(read.len());
                let mut done = false;
                for (next, position) in read.drain(..) {
                    match next {
                        Ok(Some(event)) => {
                            events.push(event);
                            resume = position.or(resume.take());
                        }
                        Ok(None) => done = true,
                        Err(error) => {
                            tracing::warn!(error = %error, "the change feed failed; resuming");
                            done = true;
                        }
                    }
                }
                route_all(&state, events);
                if done {
                    break;
                }
            }
        };
        tokio::join!(read, route);
        tokio::time::sleep(REOPEN_PAUSE).await;
    }
}

/// Routes events in order; consecutive revisions of one dialogue go to its actor together.
fn route_all(state: &AppState, events: Vec<FeedEvent>) {
    let mut revisions = Vec::new();
    for event in events {
        match event {
            FeedEvent::Revision(record) => revisions.push(record),
            other => {
                state.dialogues.forward_revisions(std::mem::take(&mut revisions));
                route(state, other);
            }
        }
    }
    state.dialogues.forward_revisions(revisions);
}

fn route(state: &AppState, event: FeedEvent) {
    match event {
        FeedEvent::Revision(record) => state.dialogues.forward_revisions(vec![record]),
        FeedEvent::Handoff(handoff) => {
            if handoff.to != state.store.process_id() {
                return;
            }
            let dialogue_id = handoff.dialogue_id.clone();
            if handoff.kind == HandoffKind::Missed {
                // Only an actor running here can have missed anything.
                state.dialogues.forward(Some(dialogue_id), External::Handoff(handoff));
            } else {
                state.dialogues.deliver(dialogue_id, External::Handoff(handoff));
            }
        }
        FeedEvent::Presence(record) => {
            if record.process != state.store.process_id() {
                state.dialogues.forward(Some(record.dialogue_id.clone()), External::PeerPresent(record));
            }
        }
        FeedEvent::PresenceGone { dialogue_id, session_id } => {
            state.dialogues.forward(Some(dialogue_id), External::PeerGone(session_id));
        }
        FeedEvent::Release(release) => {
            state.dialogues.forward(Some(release.dialogue_id.clone()), External::Release(release));
        }
        FeedEvent::TokenDeleted { hash } => {
            state.callers.forget_token(&hash);
            state.access_events.publish(AccessEvent::TokenDeleted(hash));
        }
        FeedEvent::UserChanged { user_id } => {
            state.callers.forget_user(&user_id);
            state.access_events.publish(AccessEvent::UserChanged(user_id));
        }
        FeedEvent::Process(process) => state.peers.learn(&process.id, process.peer_url.as_deref()),
        FeedEvent::ProcessGone { process_id } => {
            state.peers.learn(&process_id, None);
            state.dialogues.forward(None, External::ProcessGone(process_id));
        }
        FeedEvent::ProjectDeleted { project_id } => {
            state.dialogues.forward(None, External::ProjectDeleted(project_id));
        }
    }
}

fn resynchronize(state: &AppState) {
    tracing::info!("change feed restarted without a resume point; resynchronizing");
    state.callers.clear();
    state.dialogues.forward(None, External::Resync);
    state.access_events.publish(AccessEvent::Recheck);
}
