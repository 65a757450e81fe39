//! Peer links: messages between the server processes that share a database, sent directly over
//! HTTP instead of through the database and its change feed.
//!
//! Two processes writing one dialogue settle on one of them storing every write
//! (`dialogue/actor/handoff.rs`): the other hands its writes over and waits for the revisions to
//! come back before it answers. Through the database each way costs a durable insert or a trip
//! through the change feed (several milliseconds each on SecantusDB). With peer links, a
//! process that has a peer listener (`DIALOGUE_PEER_BIND`) advertises its URL in its heartbeat
//! (`processes`); the others learn it from the feed. Handoffs to it then go over a link, and the
//! owner pushes its stored revisions to the processes that handed it writes, in order, right
//! after storing them. Those revisions name the processes they are pushed to (`pushed_to`),
//! whose change feeds leave them out. The database path stays the fallback: a handoff whose
//! link fails is inserted as before, and a push that fails is followed by a `missed` handoff
//! through the database, on which the follower reads the revisions from the store (as it does
//! when revisions arrive with a gap before them, when a write it handed over gets no answer in
//! time, and when the process it followed is gone).
//!
//! One [`link`] per peer sends whatever was queued for it in one request, with one request in
//! flight, so messages to a peer keep their order and gather under load. Every request is
//! signed with a key derived from `DIALOGUE_SECRET_KEY` ([`listener`] checks it).

pub mod link;
pub mod listener;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokio::sync::{mpsc, oneshot};

use crate::store::{HandoffRecord, RevisionRecord, now_millis};

/// The path of the peer listener's one route.
pub const MESSAGES_PATH: &str = "/peer/messages";
/// Header: the sending process's id.
pub const PROCESS_HEADER: &str = "X-Peer-Process";
/// Header: when the request was signed (milliseconds since the epoch).
pub const TIME_HEADER: &str = "X-Peer-Time";
/// Header: `sha256=<hex HMAC-SHA256 of "<time>." followed by the body>`, with the peer key.
pub const SIGNATURE_HEADER: &str = "X-Peer-Signature";
/// How far a request's time may be from the receiver's clock.
pub const MAX_CLOCK_SKEW_MILLIS: i64 = 30_000;
/// How long a request to a peer may take before its messages take the database path.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);
/// How long connecting to a peer may take (a peer that does not answer at all is down).
const CONNECT_TIMEOUT: Duration = Duration::from_millis(250);
/// After a failed request, how long messages for that peer take the database path at once
/// instead of waiting on the link.
const DOWN_FOR_MILLIS: i64 = 2_000;
/// Messages queued for one peer at most, and their bytes at most; beyond either, messages take
/// the database path (bounded memory when a peer is slow).
const QUEUE: usize = 4096;
const QUEUED_BYTES: usize = 64 * 1024 * 1024;

/// What one sender queued: revisions (a stored batch pushed) or handoffs.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct PeerPart {
    /// Revisions the sender stored, of a dialogue the receiver handed writes to it, in order.
    #[serde(default)]
    pub revisions: Vec<RevisionRecord>,
    /// Handoffs addressed to the receiver.
    #[serde(default)]
    pub handoffs: Vec<HandoffRecord>,
}

impl PeerPart {
    /// About how many bytes it takes on the wire.
    fn bytes(&self) -> usize {
        const PER_RECORD: usize = 256;
        let revisions: usize = self.revisions.iter().map(|r| r.patch.len() + r.details.len() + PER_RECORD).sum();
        let handoffs: usize = self.handoffs.iter().map(|h| h.body.len() + PER_RECORD).sum();
        revisions + handoffs
    }
}

/// What one request carries: parts in the order they were queued, applied in that order (so
/// a refusal queued before a pushed batch reaches its session before that batch's `ack`s).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct PeerBatch {
    /// The parts.
    pub parts: Vec<PeerPart>,
}

/// A part for one peer, its size, and who waits to know whether it arrived (and gets the
/// handoffs back when it did not).
pub(crate) struct Outgoing {
    part: PeerPart,
    bytes: usize,
    delivered: Option<oneshot::Sender<Delivery>>,
}

/// Whether a peer took the handoffs sent to it; they come back when it did not.
pub(crate) type Delivery = Result<(), Vec<HandoffRecord>>;

/// One link's shared state: what it holds, and whether it is down.
#[derive(Default)]
pub(crate) struct LinkState {
    queued_bytes: AtomicUsize,
    /// Until when (milliseconds) the peer counts as down.
    down_until: AtomicI64,
}

impl LinkState {
    fn is_down(&self) -> bool {
        now_millis() < self.down_until.load(Ordering::Relaxed)
    }

    fn failed(&self) {
        self.down_until.store(now_millis() + DOWN_FOR_MILLIS, Ordering::Relaxed);
    }

    fn sent(&self, bytes: usize) {
        self.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
    }
}

struct Link {
    sender: mpsc::Sender<Outgoing>,
    state: Arc<LinkState>,
}

/// Counts, for metrics and tests.
#[derive(Debug, Default)]
pub struct PeerCounters {
    /// Handoffs a peer took over a link.
    pub handoffs_sent: AtomicU64,
    /// Handoffs that went through the database: no link to their process (links off, no URL
    /// known), or their link failed or was full.
    pub handoffs_through_database: AtomicU64,
    /// Revisions pushed to peers.
    pub revisions_pushed: AtomicU64,
    /// Pushes that did not arrive (or were not sent) to a process their revisions name: it
    /// was told through the database (a `missed` handoff) and reads them from the store.
    pub pushes_lost: AtomicU64,
    /// Requests this process's listener took.
    pub requests_received: AtomicU64,
    /// Requests this process's listener refused (bad signature, stale, unreadable).
    pub requests_refused: AtomicU64,
}

impl PeerCounters {
    /// A counter's value.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// This process's peer links: the key, the peers' addresses, one sender per peer.
#[derive(Clone)]
pub struct Peers {
    inner: Arc<Inner>,
}

struct Inner {
    me: String,
    /// This process's own peer URL, when it has a listener.
    url: Option<String>,
    /// The key requests are signed with; `None` when links are off (no secret key).
    key: Option<Vec<u8>>,
    /// Peer URLs by process id, as their heartbeats said.
    directory: RwLock<HashMap<String, String>>,
    links: Mutex<HashMap<String, Link>>,
    client: reqwest::Client,
    counters: PeerCounters,
}

impl Peers {
    /// Links for process `me`, whose own listener is at `url` (if any), signed with a key derived
    /// from `secret_key` (links are off without one).
    pub fn new(me: &str, url: Option<String>, secret_key: Option<&SecretString>) -> anyhow::Result<Self> {
        let key = secret_key.map(|secret| derive_key(secret.expose_secret().as_bytes()));
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .tcp_nodelay(true)
            .build()?;
        Ok(Self {
            inner: Arc::new(Inner {
                me: me.to_owned(),
                url,
                key,
                directory: RwLock::default(),
                links: Mutex::default(),
                client,
                counters: PeerCounters::default(),
            }),
        })
    }

    /// Links off: everything goes through the database (processes without a secret key, tests).
    pub fn off(me: &str) -> Self {
        Self::new(me, None, None).expect("a client with no TLS settings builds")
    }

    /// This process's own peer URL, which its heartbeat advertises.
    pub fn own_url(&self) -> Option<&str> {
        self.inner.url.as_deref()
    }

    /// The counters.
    pub fn counters(&self) -> &PeerCounters {
        &self.inner.counters
    }

    /// Process `process` advertises `url` (or none): links to it follow.
    pub fn learn(&self, process: &str, url: Option<&str>) {
        if process == self.inner.me || self.inner.key.is_none() {
            return;
        }
        let mut directory = self.inner.directory.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        let changed = match url {
            Some(url) => directory.insert(process.to_owned(), url.to_owned()).is_none_or(|old| old != url),
            None => directory.remove(process).is_some(),
        };
        drop(directory);
        if changed {
            // The next message starts a link to the new address.
            self.inner.links.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(process);
        }
    }

    /// Whether `process` can be reached over a link.
    pub fn reachable(&self, process: &str) -> bool {
        self.inner.key.is_some()
            && self.inner.directory.read().unwrap_or_else(|poisoned| poisoned.into_inner()).contains_key(process)
    }

    /// Sends `handoffs` (all to process `to`) over a link. When the peer did not take them
    /// (no link, a full queue, a failed request), they come back for the database path.
    pub async fn send_handoffs(&self, to: &str, handoffs: Vec<HandoffRecord>) -> Result<(), Vec<HandoffRecord>> {
        let count = handoffs.len() as u64;
        let (delivered, answer) = oneshot::channel();
        let part = PeerPart { handoffs, revisions: Vec::new() };
        let result = match self.queue(to, part, Some(delivered)) {
            // A link that ended without answering lost them: none come back, and their
            // writes get `503` when their time is up, like a handoff its process never saw.
            Ok(()) => answer.await.unwrap_or(Ok(())),
            Err(part) => Err(part.handoffs),
        };
        let counter = match result {
            Ok(()) => &self.inner.counters.handoffs_sent,
            Err(_) => &self.inner.counters.handoffs_through_database,
        };
        counter.fetch_add(count, Ordering::Relaxed);
        result
    }

    /// Whether messages to `process` go over a link now: its address is known and its link
    /// is not down.
    pub fn linked(&self, process: &str) -> bool {
        if !self.reachable(process) {
            return false;
        }
        let links = self.inner.links.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        links.get(process).is_none_or(|link| !link.state.is_down())
    }

    /// Pushes stored revisions to process `to`. Answers whether they arrived (once the
    /// request is answered), or `None` when they were not even queued (no link, the peer is
    /// down, the link is full).
    pub fn push_revisions(&self, to: &str, revisions: Vec<RevisionRecord>) -> Option<oneshot::Receiver<Delivery>> {
        let count = revisions.len() as u64;
        let (delivered, answer) = oneshot::channel();
        let queued = self.queue(to, PeerPart { revisions, handoffs: Vec::new() }, Some(delivered)).is_ok();
        queued.then(|| {
            self.inner.counters.revisions_pushed.fetch_add(count, Ordering::Relaxed);
            answer
        })
    }

    /// Queues `part` on the link to `to`, starting it if needed; gives it back when there is
    /// no link (no address, links off), the peer is down, or the link holds too much.
    fn queue(&self, to: &str, part: PeerPart, delivered: Option<oneshot::Sender<Delivery>>) -> Result<(), PeerPart> {
        let Some(key) = self.inner.key.clone() else { return Err(part) };
        let url = {
            let directory = self.inner.directory.read().unwrap_or_else(|poisoned| poisoned.into_inner());
            match directory.get(to) {
                Some(url) => url.clone(),
                None => return Err(part),
            }
        };
        let mut links = self.inner.links.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let link = links.entry(to.to_owned()).or_insert_with(|| {
            let (sender, receiver) = mpsc::channel(QUEUE);
            let state = Arc::new(LinkState::default());
            let target = link::Target {
                url: format!("{}{MESSAGES_PATH}", url.trim_end_matches('/')),
                me: self.inner.me.clone(),
                key,
                state: state.clone(),
            };
            tokio::spawn(link::run(self.inner.client.clone(), target, receiver));
            Link { sender, state }
        });
        let bytes = part.bytes();
        if link.state.is_down() || link.state.queued_bytes.load(Ordering::Relaxed) + bytes > QUEUED_BYTES {
            return Err(part);
        }
        link.state.queued_bytes.fetch_add(bytes, Ordering::Relaxed);
        link.sender.try_send(Outgoing { part, bytes, delivered }).map_err(|error| {
            let outgoing = match error {
                mpsc::error::TrySendError::Full(outgoing) | mpsc::error::TrySendError::Closed(outgoing) => outgoing,
            };
            link.state.sent(outgoing.bytes);
            outgoing.part
        })
    }

    /// A check of a request signed at `time` with `signature`, fed its body as it arrives;
    /// `None` at once (before any of the body is read) when links are off, the time is too far
    /// from this process's clock, or the signature is not one.
    pub fn verifier(&self, time: &str, signature: &str) -> Option<Verifier> {
        let key = self.inner.key.as_ref()?;
        let millis = time.parse::<i64>().ok()?;
        if now_millis().abs_diff(millis) > MAX_CLOCK_SKEW_MILLIS.unsigned_abs() {
            return None;
        }
        let digest = signature.strip_prefix("sha256=").and_then(|hex_digest| hex::decode(hex_digest).ok())?;
        (digest.len() == 32).then(|| Verifier { mac: signed(key, time, b""), digest })
    }

    /// Whether `body`, signed at `time` with `signature`, comes from a peer, recently.
    pub fn verify(&self, time: &str, body: &[u8], signature: &str) -> bool {
        self.verifier(time, signature).is_some_and(|mut verifier| {
            verifier.update(body);
            verifier.verifies()
        })
    }

    /// This process's id.
    pub fn me(&self) -> &str {
        &self.inner.me
    }
}

/// The check of one request's signature, fed its body as it arrives.
pub struct Verifier {
    mac: Hmac<Sha256>,
    digest: Vec<u8>,
}

impl Verifier {
    /// More of the body.
    pub fn update(&mut self, chunk: &[u8]) {
        self.mac.update(chunk);
    }

    /// Whether the whole body matches the signature (compared in constant time).
    pub fn verifies(self) -> bool {
        self.mac.verify_slice(&self.digest).is_ok()
    }
}

/// The peer key: an HMAC of a fixed label under the secret key, so that the secret key itself
/// never signs anything sent over the network.
pub fn derive_key(secret: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(b"dialogue-server peer links v1");
    mac.finalize().into_bytes().to_vec()
}

/// The MAC of a request: its time, a dot, its body.
fn signed(key: &[u8], time: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(time.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The signature header of a request signed at `time` with the peer `key`.
pub fn sign(key: &[u8], time: &str, body: &[u8]) -> String {
    format!("sha256={}", hex::encode(signed(key, time, body).finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peers(secret: &str) -> Peers {
        Peers::new("me", None, Some(&SecretString::from(secret.to_owned()))).unwrap()
    }

    #[test]
    fn a_request_signed_with_the_same_secret_verifies_and_nothing_else_does() {
        let (ours, theirs) = (peers("shared"), peers("other"));
        let key = derive_key(b"shared");
        let time = now_millis().to_string();
        let signature = sign(&key, &time, b"body");
        assert!(ours.verify(&time, b"body", &signature));
        assert!(!theirs.verify(&time, b"body", &signature), "another secret");
        assert!(!ours.verify(&time, b"bodx", &signature), "another body");
        let later = (now_millis() + 1).to_string();
        assert!(!ours.verify(&later, b"body", &signature), "another time");
        assert!(!ours.verify(&time, b"body", "sha256=zz"), "not hex");
        assert!(!ours.verify(&time, b"body", &signature.replace("sha256=", "")), "no prefix");
        assert!(!Peers::off("me").verify(&time, b"body", &signature), "links off take nothing");
    }

    #[test]
    fn a_request_signed_long_ago_or_far_ahead_is_refused() {
        let ours = peers("shared");
        let key = derive_key(b"shared");
        for time in [now_millis() - MAX_CLOCK_SKEW_MILLIS - 1_000, now_millis() + MAX_CLOCK_SKEW_MILLIS + 1_000] {
            let time = time.to_string();
            assert!(!ours.verify(&time, b"body", &sign(&key, &time, b"body")));
        }
    }

    #[test]
    fn the_directory_follows_heartbeats_and_ignores_this_process() {
        let ours = peers("shared");
        assert!(!ours.reachable("b"));
        ours.learn("b", Some("http://10.0.0.2:9470"));
        assert!(ours.reachable("b"));
        ours.learn("me", Some("http://10.0.0.1:9470"));
        assert!(!ours.reachable("me"), "never a link to itself");
        ours.learn("b", None);
        assert!(!ours.reachable("b"), "a heartbeat without a URL ends the link");
        let off = Peers::off("me");
        off.learn("b", Some("http://10.0.0.2:9470"));
        assert!(!off.reachable("b"), "links off: nobody is reachable");
    }
}
