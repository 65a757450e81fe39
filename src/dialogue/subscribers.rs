//! `Subscribers`: the live sessions of one dialogue, as its actor sees them, and the one way
//! frames reach them. Frames for a session gather in its pending list while the actor handles
//! an event, and [`Subscribers::deliver`] hands each session its list as one burst, into the
//! session's bounded [`Outbox`](crate::live::outbox::Outbox): a stored batch of twenty revisions
//! costs each session one hand-over, not twenty. A session whose outbox is full is dropped at
//! once with close code 4008, so a slow reader never slows the others. Revisions go out through
//! [`Subscribers::announce`], which sends each number once and in order: the protocol's first
//! guarantee, kept in one place. Every other method delivers before it returns; after
//! announcing, the actor calls `deliver`. Sessions of other processes (remote peers, from the
//! change feed) are listed and announced beside the local ones, and the local ones are
//! published to them through the [`PresenceRelay`].

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use dialogue_protocol::{Peer, ServerFrame};
use serde_json::Value;

use super::messages::SessionLink;
use super::presence::PresenceRelay;
use super::revision::Revision;
use crate::live::outbox::Refused;
use crate::live::protocol::{self, Frame, close};

/// A live session as the actor knows it.
struct Subscriber {
    link: SessionLink,
    selection: Value,
    /// Frames for it, not delivered yet.
    pending: Vec<Frame>,
}

/// What became of a revision given to [`Subscribers::announce`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Announced {
    /// Sent to every session: `ack` to its author, `revision` to the others.
    Sent,
    /// Its number was sent before: nothing was sent again.
    AlreadySent,
    /// Numbers before it were never sent: every session was closed with 4009 to start over.
    Gap,
}

/// The sessions of one dialogue.
pub struct Subscribers {
    sessions: Vec<Subscriber>,
    /// The newest revision number the sessions have (in their welcome, or sent since).
    announced: i64,
    dialogue_id: String,
    /// Publishes the local sessions to other processes (none in unit tests).
    relay: Option<PresenceRelay>,
    /// The sessions of other processes, by session id.
    remote: HashMap<String, Peer>,
}

impl Subscribers {
    /// No sessions yet; the sessions will start from revision `announced`.
    pub fn new(dialogue_id: &str, announced: i64) -> Self {
        Self {
            sessions: Vec::new(),
            announced,
            dialogue_id: dialogue_id.to_owned(),
            relay: None,
            remote: HashMap::new(),
        }
    }

    /// Publishes the local sessions to other processes through `relay`.
    pub fn with_relay(mut self, relay: PresenceRelay) -> Self {
        self.relay = Some(relay);
        self
    }

    /// How many sessions there are.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// The newest revision number the sessions have.
    pub fn announced(&self) -> i64 {
        self.announced
    }

    /// The sessions start again from revision `number` (after they were all closed, or when
    /// the state they would get in a welcome moved on without them).
    pub fn restart_at(&mut self, number: i64) {
        self.announced = number;
    }

    /// The sessions on every process, for a newcomer's `welcome`.
    pub fn peers(&self) -> Vec<Peer> {
        let local = self.sessions.iter().map(|s| Peer {
            session_id: s.link.session_id.clone(),
            user: s.link.user.clone(),
            selection: s.selection.clone(),
        });
        local.chain(self.remote.values().cloned()).collect()
    }

    /// Adds a session whose `welcome` is already in its outbox; the others hear it joined.
    pub fn add(&mut self, link: SessionLink) {
        let joined =
            protocol::frame(&ServerFrame::Joined { session_id: link.session_id.clone(), user: link.user.clone() });
        self.queue_all(&joined, None);
        if let Some(relay) = &self.relay {
            relay.joined(&self.dialogue_id, &link.session_id, &link.user);
        }
        self.sessions.push(Subscriber { link, selection: Value::Null, pending: Vec::new() });
        self.deliver();
    }

    /// Removes a session that closed; the others hear it left. `false` when it was not here.
    pub fn remove(&mut self, session_id: &str) -> bool {
        let before = self.sessions.len();
        self.sessions.retain(|s| s.link.session_id != session_id);
        let removed = self.sessions.len() != before;
        if removed {
            self.gone(session_id);
            self.deliver();
        }
        removed
    }

    /// A session's new selection, told to the others.
    pub fn select(&mut self, session_id: &str, selection: Value) {
        let Some(subscriber) = self.sessions.iter_mut().find(|s| s.link.session_id == session_id) else { return };
        subscriber.selection = selection.clone();
        if let Some(relay) = &self.relay {
            relay.selected(&self.dialogue_id, session_id, &selection);
        }
        let frame = protocol::frame(&ServerFrame::Presence { session_id: session_id.to_owned(), selection });
        self.broadcast(&frame, Some(session_id));
    }

    /// A session of another process joined or changed its selection.
    pub fn remote_present(&mut self, peer: Peer) {
        self.queue_remote_present(peer);
        self.deliver();
    }

    /// A session of another process left.
    pub fn remote_gone(&mut self, session_id: &str) {
        self.queue_remote_gone(session_id);
        self.deliver();
    }

    /// The sessions of other processes, as just read from the store: the local sessions hear
    /// who joined, moved or left since they last heard.
    pub fn set_remote(&mut self, peers: Vec<Peer>) {
        let listed: HashSet<String> = peers.iter().map(|peer| peer.session_id.clone()).collect();
        let departed: Vec<String> = self.remote.keys().filter(|id| !listed.contains(*id)).cloned().collect();
        for session_id in departed {
            self.queue_remote_gone(&session_id);
        }
        for peer in peers {
            self.queue_remote_present(peer);
        }
        self.deliver();
    }

    fn queue_remote_present(&mut self, peer: Peer) {
        let session_id = peer.session_id.clone();
        let selection = peer.selection.clone();
        match self.remote.insert(session_id.clone(), peer.clone()) {
            Some(known) if known.selection == selection => return,
            Some(_) => {}
            None => {
                let joined = ServerFrame::Joined { session_id: session_id.clone(), user: peer.user };
                self.queue_all(&protocol::frame(&joined), None);
                if selection.is_null() {
                    return;
                }
            }
        }
        self.queue_all(&protocol::frame(&ServerFrame::Presence { session_id, selection }), None);
    }

    fn queue_remote_gone(&mut self, session_id: &str) {
        if self.remote.remove(session_id).is_some() {
            self.queue_all(&left(session_id), None);
        }
    }

    /// A local session is gone: the others, here and on other processes, hear it left.
    fn gone(&mut self, session_id: &str) {
        if let Some(relay) = &self.relay {
            relay.left(&self.dialogue_id, session_id);
        }
        self.queue_all(&left(session_id), None);
    }

    /// Sends a frame to one session.
    pub fn send_to(&mut self, session_id: &str, frame: Frame) {
        self.queue_to(session_id, frame);
        self.deliver();
    }

    /// Sends a frame to every session but `except`.
    pub fn broadcast(&mut self, frame: &Frame, except: Option<&str>) {
        self.queue_all(frame, except);
        self.deliver();
    }

    fn queue_to(&mut self, session_id: &str, frame: Frame) {
        if let Some(subscriber) = self.sessions.iter_mut().find(|s| s.link.session_id == session_id) {
            subscriber.pending.push(frame);
        }
    }

    fn queue_all(&mut self, frame: &Frame, except: Option<&str>) {
        for subscriber in &mut self.sessions {
            if except != Some(subscriber.link.session_id.as_str()) {
                subscriber.pending.push(frame.clone());
            }
        }
    }

    /// Hands each session the frames gathered for it, in one burst. A session whose outbox is
    /// full (too slow: close 4008) or gone is dropped, and the others hear it left (in a
    /// burst of their own, after the one they just got).
    pub fn deliver(&mut self) {
        loop {
            let mut dropped = Vec::new();
            let mut index = 0;
            while index < self.sessions.len() {
                let subscriber = &mut self.sessions[index];
                if subscriber.pending.is_empty() {
                    index += 1;
                    continue;
                }
                match subscriber.link.frames.send(std::mem::take(&mut subscriber.pending)) {
                    Ok(()) => index += 1,
                    Err(refused) => dropped.push((self.sessions.swap_remove(index), refused)),
                }
            }
            if dropped.is_empty() {
                return;
            }
            for (subscriber, refused) in dropped {
                self.dropped(subscriber, refused);
            }
        }
    }

    /// A session whose outbox is full (too slow: close 4008) or gone; the others hear it left.
    fn dropped(&mut self, subscriber: Subscriber, refused: Refused) {
        if refused == Refused::Full {
            tracing::info!(dialogue_id = %self.dialogue_id, session_id = %subscriber.link.session_id, "session too far behind; closing");
            let _ = subscriber.link.close.send(Some(close::TOO_SLOW));
        }
        self.gone(&subscriber.link.session_id);
    }

    /// Queues a stored revision, once and in order: `ack` for `origin` (its session and
    /// `ref`), `revision` for every other session; [`deliver`](Self::deliver) sends them. A
    /// number already sent is not sent again; a gap closes every session with 4009, since a
    /// skipped number can never be sent in order.
    pub fn announce(&mut self, revision: &Arc<Revision>, origin: Option<(&str, &str)>) -> Announced {
        let number = revision.number();
        if number <= self.announced {
            tracing::debug!(dialogue_id = %self.dialogue_id, number, "revision already announced");
            return Announced::AlreadySent;
        }
        if number != self.announced + 1 {
            tracing::error!(dialogue_id = %self.dialogue_id, number, announced = self.announced, "gap in announced revisions");
            self.close_all(close::RESYNC);
            self.announced = number;
            return Announced::Gap;
        }
        self.announced = number;
        let description = revision.describe();
        self.queue_all(&protocol::revision(&description), origin.map(|(session_id, _)| session_id));
        if let Some((session_id, reference)) = origin {
            self.queue_to(session_id, protocol::ack(reference, &description));
        }
        Announced::Sent
    }

    /// After a reload found the newest stored revision at `stored`: when the sessions were sent
    /// revisions past it (the database lost acknowledged writes), those numbers will be issued
    /// again for other revisions, so every session is closed with 4009 and numbering restarts
    /// at `stored`. True when that happened.
    pub fn forget_unstored(&mut self, stored: i64) -> bool {
        if stored >= self.announced {
            return false;
        }
        self.close_all(close::RESYNC);
        self.announced = stored;
        true
    }

    /// Closes every session with `code` (what was not delivered to them is dropped).
    pub fn close_all(&mut self, code: u16) {
        for subscriber in self.sessions.drain(..) {
            let _ = subscriber.link.close.send(Some(code));
            if let Some(relay) = &self.relay {
                relay.left(&self.dialogue_id, &subscriber.link.session_id);
            }
        }
    }
}

fn left(session_id: &str) -> Frame {
    protocol::frame(&ServerFrame::Left { session_id: session_id.to_owned() })
}

#[cfg(test)]
mod tests {
    use dialogue_protocol::User;
    use serde_json::json;
    use tokio::sync::watch;

    use super::*;
    use crate::live::outbox::{OutboxReader, outbox};

    struct Session {
        frames: OutboxReader,
        close: watch::Receiver<Option<u16>>,
    }

    impl Session {
        fn types(&mut self) -> Vec<String> {
            let mut types = Vec::new();
            let mut burst = Vec::new();
            self.frames.take(&mut burst, usize::MAX, usize::MAX);
            for frame in burst {
                let value: Value = serde_json::from_str(&frame).unwrap();
                let kind = value["type"].as_str().unwrap().to_owned();
                types.push(match value["revision"]["number"].as_i64() {
                    Some(number) => format!("{kind} {number}"),
                    None => kind,
                });
            }
            types
        }
    }

    fn session(subscribers: &mut Subscribers, id: &str, capacity: usize) -> Session {
        let (frames_tx, frames) = outbox(capacity);
        let (close_tx, close) = watch::channel(None);
        let user = User { id: "u".into(), first_name: "F".into(), last_name: "L".into() };
        subscribers.add(SessionLink { session_id: id.into(), user, frames: frames_tx, close: close_tx });
        Session { frames, close }
    }

    fn revision(number: i64) -> Arc<Revision> {
        crate::dialogue::revision::fixture(number, "[]")
    }

    #[test]
    fn revisions_the_database_lost_close_every_session_with_4009_and_their_numbers_go_out_again_once() {
        let mut subscribers = Subscribers::new("d", 0);
        let mut a = session(&mut subscribers, "a", 64);
        for number in 1..=5 {
            assert_eq!(subscribers.announce(&revision(number), None), Announced::Sent);
        }
        subscribers.deliver();
        assert_eq!(a.types().last().map(String::as_str), Some("revision 5"));
        // A reload that finds everything announced stored changes nothing.
        assert!(!subscribers.forget_unstored(5));
        assert_eq!(*a.close.borrow(), None);
        // A reload that finds only 3 stored: 4 and 5 will be issued again for other revisions.
        assert!(subscribers.forget_unstored(3));
        assert_eq!(*a.close.borrow(), Some(close::RESYNC), "the session that saw 4 and 5 starts over");
        assert!(subscribers.is_empty());
        let mut b = session(&mut subscribers, "b", 64);
        b.types();
        assert_eq!(subscribers.announce(&revision(4), None), Announced::Sent, "4 is sent again, as a new revision");
        assert_eq!(subscribers.announce(&revision(4), None), Announced::AlreadySent);
        subscribers.deliver();
        assert_eq!(b.types(), ["revision 4"]);
        assert!(a.types().is_empty(), "the closed session gets nothing more");
    }

    #[test]
    fn each_number_goes_out_once_and_in_order() {
        let mut subscribers = Subscribers::new("d", 2);
        let mut a = session(&mut subscribers, "a", 16);
        let mut b = session(&mut subscribers, "b", 16);
        assert_eq!(a.types(), ["joined"]);
        assert_eq!(subscribers.announce(&revision(3), Some(("a", "ref"))), Announced::Sent);
        assert!(a.types().is_empty() && b.types().is_empty(), "announced, not delivered yet");
        subscribers.deliver();
        assert_eq!(a.types(), ["ack 3"]);
        assert_eq!(b.types(), ["revision 3"]);
        // A reload announced 4, then the change feed brings 4 again: it is not resent.
        assert_eq!(subscribers.announce(&revision(4), None), Announced::Sent);
        assert_eq!(subscribers.announce(&revision(4), None), Announced::AlreadySent);
        assert_eq!(subscribers.announce(&revision(3), None), Announced::AlreadySent);
        subscribers.deliver();
        assert_eq!(a.types(), ["revision 4"]);
        assert_eq!(b.types(), ["revision 4"]);
        // A gap: the sessions start over rather than miss a number.
        assert_eq!(subscribers.announce(&revision(7), None), Announced::Gap);
        assert_eq!(*a.close.borrow(), Some(close::RESYNC));
        assert!(subscribers.is_empty());
        assert_eq!(subscribers.announced(), 7);
    }

    #[test]
    fn a_session_that_stops_reading_is_closed_and_the_others_keep_receiving() {
        let mut subscribers = Subscribers::new("d", 0);
        let mut slow = session(&mut subscribers, "slow", 2);
        let mut fast = session(&mut subscribers, "fast", 64);
        assert_eq!(slow.types(), ["joined"], "it heard the fast one join, then stops reading");
        for number in 1..=5 {
            subscribers.announce(&revision(number), None);
            subscribers.deliver();
        }
        assert_eq!(*slow.close.borrow(), Some(close::TOO_SLOW));
        assert_eq!(subscribers.len(), 1);
        let heard = fast.types();
        assert!(heard.contains(&"left".to_owned()), "{heard:?}");
        let revisions: Vec<&String> = heard.iter().filter(|t| t.starts_with("revision")).collect();
        assert_eq!(revisions.len(), 5, "the fast one got every revision: {heard:?}");
    }

    #[test]
    fn an_event_reaches_each_session_whole_and_in_order_even_past_the_queue_bound() {
        let mut subscribers = Subscribers::new("d", 0);
        let mut a = session(&mut subscribers, "a", 4);
        let mut b = session(&mut subscribers, "b", 4);
        a.types();
        // A stored batch of six revisions, the second and fifth from `a`: more than the bound.
        for number in 1..=6 {
            let origin = [2, 5].contains(&number).then_some(("a", "r"));
            subscribers.announce(&revision(number), origin);
        }
        subscribers.deliver();
        let expected = ["revision 1", "ack 2", "revision 3", "revision 4", "ack 5", "revision 6"];
        assert_eq!(a.types(), expected);
        assert_eq!(b.types(), ["revision 1", "revision 2", "revision 3", "revision 4", "revision 5", "revision 6"]);
        assert_eq!(subscribers.len(), 2, "one large event closes no one");
        // Now `b` stops reading: it is closed once four frames wait for it, and `a` is not.
        for number in 7..=9 {
            subscribers.announce(&revision(number), None);
            subscribers.deliver();
            assert_eq!(a.types(), [format!("revision {number}")]);
        }
        subscribers.select("a", json!({ "block_id": "x" }));
        assert_eq!(*b.close.borrow(), None, "four waiting: the fourth was taken");
        subscribers.announce(&revision(10), None);
        subscribers.deliver();
        assert_eq!(*b.close.borrow(), Some(close::TOO_SLOW));
        assert_eq!(a.types(), ["revision 10", "left"]);
        assert_eq!(subscribers.len(), 1);
    }

    #[test]
    fn presence_goes_to_the_others_and_into_the_peer_list() {
        let mut subscribers = Subscribers::new("d", 0);
        let mut a = session(&mut subscribers, "a", 16);
        let mut b = session(&mut subscribers, "b", 16);
        a.types();
        subscribers.select("b", json!({ "block_id": "x" }));
        assert_eq!(a.types(), ["presence"]);
        assert!(b.types().is_empty(), "not echoed to its author");
        let peers = subscribers.peers();
        assert_eq!(peers.iter().find(|p| p.session_id == "b").unwrap().selection, json!({ "block_id": "x" }));
        assert!(subscribers.remove("b"));
        assert_eq!(a.types(), ["left"]);
        assert!(!subscribers.remove("b"));
    }
}
