//! Handing writes to the process that is winning a dialogue's numbers.
//!
//! When two processes write one dialogue at once, their batches race for the next numbers and
//! the database lets one win. Racing again after every loss is not fair: the process that
//! reacts more slowly can lose every time. So a process whose batch lost hands its writes to
//! the winner instead (a `write` handoff, through the database and the change feed), for as
//! long as the winner keeps writing ([`HANDOFF_WINDOW`] after its latest revision), then goes
//! back to storing its own. The winner accepts a handed-off write like one of its own (rebased,
//! checked, numbered, batched with the rest) and its revisions name the handoff, so the process
//! that handed it over answers its client (an `ack`, or the REST answer) when those revisions
//! come back through the feed. A refusal, or a write that changed nothing, comes back as a
//! handoff. A handed-off write is never handed on, one with no answer within
//! [`HANDOFF_TIMEOUT`] gets `503`, and the winner refuses one it would take up more than half
//! that after it was sent. That makes a write stored after its client got `503` rare, not
//! impossible: one taken up just in time can still wait behind a slow database. The client then
//! sees it arrive as a `revision`, as `docs/protocol.md` says of every `unavailable` write. Two
//! processes that lost to each other at once settle on the one with the smaller id.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use super::{DialogueActor, RestReply};
use crate::dialogue::messages::WriteRequest;
use crate::dialogue::revision::Revision;
use crate::dialogue::write_queue::Reply;
use crate::error::{ApiError, ErrorBody};
use crate::store::{HandoffKind, HandoffRecord, RevisionRecord, new_id, now_millis};

/// How long after the winner's latest revision writes are still handed to it.
pub const HANDOFF_WINDOW: Duration = Duration::from_secs(1);
/// How long a handed-off write waits for its answer.
pub const HANDOFF_TIMEOUT: Duration = Duration::from_secs(5);
/// A handed-off write is only taken up this soon after it was sent (well within the sender's
/// timeout): an older one, replayed by a feed that resumed late or held back behind other
/// revisions, may already have been answered `503`.
const TAKEN_WITHIN_MILLIS: i64 = 2_500;

/// The actor's handoffs: where writes go while another process is winning, what was handed
/// over and waits for an answer, and handed-off writes received before the revisions they were
/// made against.
#[derive(Debug, Default)]
pub struct Handoffs {
    /// The winning process, until when.
    target: Option<(String, Instant)>,
    /// Handoffs to send with the next insert.
    outbox: Vec<HandoffRecord>,
    /// Whether an insert of handoffs is in flight (the outbox then waits for it).
    sending: bool,
    /// Writes handed over, by handoff id.
    sent: HashMap<String, Sent>,
    /// Writes handed to this process while revisions of another were still to be applied.
    deferred: Vec<(WriteRequest, Reply, i64)>,
    /// Processes that handed writes to this one, until when: they get its revisions pushed
    /// over their peer link as soon as they are stored.
    followers: HashMap<String, Instant>,
    /// Whether a timer will answer the oldest write handed over when its time is up.
    expiry_scheduled: bool,
    /// Whether the store is being read before writes whose time is up are answered.
    expiring: bool,
    /// Whether the store is to be read once this process stops following the target.
    closing_read_due: bool,
    /// Whether a timer will refuse deferred writes that waited too long.
    deferral_scheduled: bool,
    /// Handed-off writes taken up recently (their ids, and when they were sent), so that one
    /// arriving twice (over a link whose answer timed out, then through the database) is taken
    /// once. Kept while a copy could still be taken up: [`TAKEN_WITHIN_MILLIS`].
    taken: TakenWrites,
}

/// Ids of recently taken handed-off writes, oldest first.
#[derive(Debug, Default)]
struct TakenWrites {
    order: std::collections::VecDeque<(String, i64)>,
    ids: std::collections::HashSet<String>,
}

impl TakenWrites {
    /// Takes write `id` sent at `sent` (milliseconds): `false` when it was taken already.
    fn take(&mut self, id: &str, sent: i64, now: i64) -> bool {
        while let Some((old, at)) = self.order.front() {
            if now - *at <= TAKEN_WITHIN_MILLIS {
                break;
            }
            self.ids.remove(old);
            self.order.pop_front();
        }
        if !self.ids.insert(id.to_owned()) {
            return false;
        }
        self.order.push_back((id.to_owned(), sent));
        true
    }
}

#[derive(Debug)]
struct Sent {
    reply: Reply,
    at: Instant,
    revisions: Vec<Arc<Revision>>,
}

/// What a revision that came back means for a write handed over.
pub enum Claim {
    /// Nothing of ours.
    None,
    /// A session's write: `ack` it with this revision.
    Ack {
        /// The session.
        session_id: String,
        /// Its `ref`.
        reference: String,
    },
    /// A REST write's last revision: answer it with these.
    Answer(RestReply, Vec<Arc<Revision>>),
}

impl Handoffs {
    /// The process writes go to now, if any.
    pub fn target(&self, now: Instant) -> Option<&str> {
        self.target.as_ref().filter(|(_, until)| now < *until).map(|(process, _)| process.as_str())
    }

    /// Whether `process` is the one this process hands its writes to, or did until less than
    /// `settle` ago (so it may have stored revisions pushed to this one).
    pub fn follows(&self, process: &str, now: Instant, settle: Duration) -> bool {
        self.target.as_ref().is_some_and(|(target, until)| target == process && now < *until + settle)
    }

    /// Whether this process stopped following another at least `settle` ago and has not read
    /// the store since: answers `true` once per time it followed.
    pub fn stopped_following(&mut self, now: Instant, settle: Duration) -> bool {
        let done = self.closing_read_due && self.target.as_ref().is_some_and(|(_, until)| now >= *until + settle);
        if done {
            self.closing_read_due = false;
        }
        done
    }

    /// `process` won a race for the dialogue's numbers, or stored another revision: writes go
    /// to it for the next [`HANDOFF_WINDOW`].
    pub fn winning(&mut self, process: &str, now: Instant) {
        self.target = Some((process.to_owned(), now + HANDOFF_WINDOW));
    }

    /// A write handed over by `from`, to this process `me`. Two processes that lost to each
    /// other at once hand their writes to each other: the one with the smaller id then stops,
    /// and stores both's (the other keeps handing its writes over).
    pub fn handed_from(&mut self, from: &str, me: &str) {
        if self.target.as_ref().is_some_and(|(target, _)| target == from) && me < from {
            self.target = None;
        }
    }

    /// `process` handed a write to this one: it follows this process's revisions for the next
    /// [`HANDOFF_WINDOW`].
    fn followed_by(&mut self, process: &str, now: Instant) {
        self.followers.insert(process.to_owned(), now + HANDOFF_WINDOW);
    }

    /// The processes that follow this one's revisions now (those whose window ended are
    /// forgotten).
    pub fn followers(&mut self, now: Instant) -> impl Iterator<Item = &str> {
        self.followers.retain(|_, until| now < *until);
        self.followers.keys().map(String::as_str)
    }

    /// `process` stored a revision: if writes go to it, they keep going.
    pub fn heard_from(&mut self, process: &str, now: Instant) {
        if self.target.as_ref().is_some_and(|(target, _)| target == process) {
            self.winning(process, now);
        }
    }

    /// The handoffs to insert now, all of them in one command: none while an insert is in
    /// flight, so that the handoffs gathered meanwhile leave together once it is done
    /// ([`inserted`](Self::inserted)) rather than one command per write.
    fn take_outbox(&mut self) -> Option<Vec<HandoffRecord>> {
        if self.sending || self.outbox.is_empty() {
            return None;
        }
        self.sending = true;
        Some(std::mem::take(&mut self.outbox))
    }

    /// The insert in flight is done (stored or not).
    fn inserted(&mut self) {
        self.sending = false;
    }

    /// Whether writes handed to this process wait for revisions of another to be applied.
    pub fn any_deferred(&self) -> bool {
        !self.deferred.is_empty()
    }

    /// Whether handed-off writes wait for an answer.
    pub fn waiting(&self) -> bool {
        self.sending || !self.sent.is_empty() || !self.outbox.is_empty() || !self.deferred.is_empty()
    }
}

impl DialogueActor {
    /// Hands `request` to process `to` with the next [`send_handoffs`](Self::send_handoffs).
    /// A base ahead of every revision this process knows is refused here, as `prepare` would:
    /// the process that takes the write up waits for its base to arrive.
    pub(super) fn hand_off(&mut self, request: WriteRequest, reply: Reply, to: &str) {
        let newest = self.state.as_ref().map_or(0, |state| state.speculative.number);
        if let Some(base) = request.base_revision.filter(|base| *base > newest) {
            return self.answer_error(reply, crate::dialogue::prepare::ahead(base, newest));
        }
        let id = new_id();
        let body = match serde_json::to_string(&request) {
            Ok(body) => body,
            Err(error) => return self.answer_error(reply, ApiError::internal(error)),
        };
        let from = self.deps.store.process_id();
        self.handoffs.outbox.push(HandoffRecord::new(HandoffKind::Write, &id, &self.dialogue_id, from, to, body));
        // Only a process that handed writes over has revisions pushed to it.
        self.handoffs.closing_read_due = true;
        self.handoffs.sent.insert(id, Sent { reply, at: Instant::now(), revisions: Vec::new() });
    }

    /// Sends the gathered handoffs, in one insert, unless one is in flight (they then leave
    /// when it is done); the writes among them fail with `503` if the database does not take
    /// them.
    pub(super) fn send_handoffs(&mut self, ctx: &mut Context<Self>) {
        let Some(outbox) = self.handoffs.take_outbox() else { return };
        // Answer the writes among them on time if their process never does (it died): the
        // periodic check alone answers them up to a check period late.
        if outbox.iter().any(|h| h.kind == HandoffKind::Write) {
            self.schedule_handoff_expiry(ctx);
        }
        let (store, peers) = (self.deps.store.clone(), self.deps.peers.clone());
        // Over the link to each process when it has one, else (or when the link fails) through
        // the database; what neither took comes back.
        let send = async move {
            let mut failed = Vec::new();
            for (to, handoffs) in by_recipient(outbox) {
                let Err(handoffs) = peers.send_handoffs(&to, handoffs).await else { continue };
                if handoffs.is_empty() {
                    continue;
                }
                if let Err(error) = store.send_handoffs(&handoffs).await {
                    tracing::warn!(error = %error, "handing writes over failed");
                    failed.extend(handoffs);
                }
            }
            failed
        };
        ctx.spawn(send.into_actor(self).map(|failed, actor, ctx| {
            actor.handoffs.inserted();
            actor.send_handoffs(ctx);
            for handoff in failed.iter().filter(|h| h.kind == HandoffKind::Write) {
                if let Some(sent) = actor.handoffs.sent.remove(&handoff.id) {
                    actor.answer_error(sent.reply, ApiError::Unavailable);
                }
            }
        }));
    }

    /// A handoff addressed to this process.
    pub(super) fn on_handoff(&mut self, handoff: HandoffRecord, ctx: &mut Context<Self>) {
        if self.missing.reading && matches!(handoff.kind, HandoffKind::Refusal | HandoffKind::Unchanged) {
            self.missing.held_answers.push(handoff);
            return;
        }
        match handoff.kind {
            HandoffKind::Write => {
                let sent = handoff.sent_millis();
                if now_millis() - sent > TAKEN_WITHIN_MILLIS {
                    tracing::warn!(dialogue_id = %self.dialogue_id, handoff = %handoff.write_id, "a handed-off write arrived too late; dropped");
                    return;
                }
                if !self.handoffs.taken.take(&handoff.write_id, sent, now_millis()) {
                    return; // the same write again (over a link, then through the database)
                }
                let reply = Reply::Handoff { id: handoff.write_id.clone(), from: handoff.from.clone() };
                let mut request: WriteRequest = match serde_json::from_str(&handoff.body) {
                    Ok(request) => request,
                    Err(error) => {
                        let error = ApiError::InvalidMessage(format!("an unreadable handed-off write: {error}"));
                        return self.answer_error(reply, error);
                    }
                };
                request.handoff = Some(handoff.write_id);
                self.handoffs.handed_from(&handoff.from, self.deps.store.process_id());
                if self.deps.peers.reachable(&handoff.from) {
                    self.handoffs.followed_by(&handoff.from, Instant::now());
                }
                self.forget_applied_foreign();
                if self.handoffs.deferred.is_empty() && self.can_take(&request) {
                    self.accept(request, 0, reply);
                    self.flush(ctx);
                } else {
                    self.handoffs.deferred.push((request, reply, sent));
                    self.schedule_deferral_check(ctx);
                }
            }
            HandoffKind::Refusal => {
                let Some(sent) = self.handoffs.sent.remove(&handoff.write_id) else { return };
                let error = serde_json::from_str::<ErrorBody>(&handoff.body).map_or_else(
                    |error| ApiError::internal(anyhow::anyhow!("an unreadable refusal: {error}")),
                    ApiError::from_body,
                );
                self.answer_error(sent.reply, error);
            }
            // Revisions pushed to this process did not arrive; its feed left them out.
            HandoffKind::Missed => self.read_missing(ctx),
            HandoffKind::Unchanged => {
                let Some(sent) = self.handoffs.sent.remove(&handoff.write_id) else { return };
                if let Reply::Rest(sender) = sent.reply
                    && let Some(head) = self.head()
                {
                    let _ = sender.send(Ok(crate::dialogue::messages::WriteOutcome { revisions: Vec::new(), head }));
                }
            }
        }
    }

    /// Whether a handed-off write can be taken up now. It was made against a revision its
    /// sender had stored, which may not have reached this process yet: it waits while other
    /// processes' revisions wait in `foreign`, and while its base is newer than the durable
    /// version (numbers above it are this process's own, still racing, or another's not applied
    /// yet, and rebasing over the wrong revisions would be wrong).
    fn can_take(&self, request: &WriteRequest) -> bool {
        let durable = self.state.as_ref().map_or(0, |state| state.durable.number);
        takes_up(request.base_revision, durable, !self.foreign.is_empty())
    }

    /// Accepts the handed-off writes that waited for other revisions, in order, as far as
    /// they can be taken up.
    pub(super) fn accept_deferred(&mut self) {
        self.forget_applied_foreign();
        let mut deferred = std::mem::take(&mut self.handoffs.deferred).into_iter();
        for (request, reply, sent) in deferred.by_ref() {
            if now_millis() - sent > TAKEN_WITHIN_MILLIS {
                tracing::warn!(dialogue_id = %self.dialogue_id, "a handed-off write waited too long; refused");
                self.answer_error(reply, ApiError::Interrupted);
                continue;
            }
            if !self.can_take(&request) {
                self.handoffs.deferred.push((request, reply, sent));
                break;
            }
            self.accept(request, 0, reply);
        }
        self.handoffs.deferred.extend(deferred);
    }

    /// What `revision`, stored by another process, means for the writes this one handed over.
    pub(super) fn claim(&mut self, revision: &Arc<Revision>) -> Claim {
        if let Some(process) = &revision.record.process {
            self.handoffs.heard_from(process, Instant::now());
        }
        let Some(mark) = &revision.record.handoff else { return Claim::None };
        let Some(sent) = self.handoffs.sent.get_mut(&mark.id) else { return Claim::None };
        match &sent.reply {
            Reply::Session { session_id, reference } => {
                let claim = Claim::Ack { session_id: session_id.clone(), reference: reference.clone() };
                if mark.last {
                    self.handoffs.sent.remove(&mark.id);
                }
                claim
            }
            Reply::Rest(_) => {
                sent.revisions.push(revision.clone());
                if !mark.last {
                    return Claim::None;
                }
                match self.handoffs.sent.remove(&mark.id) {
                    Some(Sent { reply: Reply::Rest(sender), revisions, .. }) => Claim::Answer(sender, revisions),
                    _ => Claim::None,
                }
            }
            Reply::Handoff { .. } => Claim::None,
        }
    }

    /// How long after it stops following another process (the end of its handoff window) a
    /// batch that names this one can still land, in practice: the winner takes a handed-off
    /// write up to [`TAKEN_WITHIN_MILLIS`] after it was sent, names its followers for
    /// [`HANDOFF_WINDOW`] after their last handoff, and a batch may wait one store deadline
    /// behind the command in flight, then take one. (An insert that timed out on this side can
    /// still land later on the database's; nothing short of a read at every check covers that.)
    pub(super) fn push_settle(&self) -> Duration {
        HANDOFF_WINDOW + Duration::from_millis(TAKEN_WITHIN_MILLIS as u64) + self.deps.store.deadline() * 2
    }

    /// The processes the next stored batch is pushed to: the followers whose links are up.
    /// They are named in its records, so that their change feeds leave them out.
    pub(super) fn push_targets(&mut self) -> Vec<String> {
        if self.handoffs.followers.is_empty() {
            return Vec::new();
        }
        let peers = &self.deps.peers;
        self.handoffs.followers(Instant::now()).filter(|follower| peers.linked(follower)).map(str::to_owned).collect()
    }

    /// Pushes revisions this process stored to the processes that follow it (their writes are
    /// among them, or come next), over their links: to `marked`, which the stored records name
    /// (their feeds leave them out, so a push that fails is followed by a `missed` handoff
    /// through the database), and to any process that started following since (best effort:
    /// its feed brings them too).
    pub(super) fn push_stored<'a>(&mut self, marked: &[String], revisions: impl Iterator<Item = &'a Arc<Revision>>) {
        if marked.is_empty() && self.handoffs.followers.is_empty() {
            return;
        }
        let records: Vec<RevisionRecord> = revisions.map(|revision| revision.record.clone()).collect();
        let Some(last) = records.last().map(|record| record.number) else { return };
        let mut followers: Vec<String> = marked.to_vec();
        for follower in self.handoffs.followers(Instant::now()) {
            if !followers.iter().any(|known| known == follower) {
                followers.push(follower.to_owned());
            }
        }
        for follower in followers {
            let answer = self.deps.peers.push_revisions(&follower, records.clone());
            if !marked.contains(&follower) {
                continue;
            }
            let (store, peers, dialogue_id) =
                (self.deps.store.clone(), self.deps.peers.clone(), self.dialogue_id.clone());
            actix::spawn(async move {
                let arrived = match answer {
                    Some(answer) => matches!(answer.await, Ok(Ok(()))),
                    None => false,
                };
                if !arrived {
                    peers.counters().pushes_lost.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tell_missed(&store, &dialogue_id, &follower, last).await;
                }
            });
        }
    }

    /// A batch whose records name `marked` failed without knowing whether it was stored (a
    /// timeout can come after the commit): if it was, nothing will push it, so the followers
    /// are told to read, now and once more after the store's deadline (best effort: the
    /// database may still commit later; their closing read comes later still).
    pub(super) fn tell_followers_of_unknown_batch(&self, marked: &[String], last: i64) {
        for follower in marked {
            let (store, dialogue_id, follower) = (self.deps.store.clone(), self.dialogue_id.clone(), follower.clone());
            actix::spawn(async move {
                tell_missed(&store, &dialogue_id, &follower, last).await;
                tokio::time::sleep(store.deadline()).await;
                tell_missed(&store, &dialogue_id, &follower, last).await;
            });
        }
    }

    /// Makes sure a timer answers the oldest write handed over when its time is up. One timer
    /// at a time, not one per handoff: actix polls every timer of an actor each time it wakes,
    /// and thousands of handoffs a second would each leave one for 5 s.
    fn schedule_handoff_expiry(&mut self, ctx: &mut Context<Self>) {
        if self.handoffs.expiry_scheduled || self.handoffs.expiring {
            return;
        }
        let Some(oldest) = self.handoffs.sent.values().map(|sent| sent.at).min() else { return };
        self.handoffs.expiry_scheduled = true;
        let due = (oldest + HANDOFF_TIMEOUT).saturating_duration_since(Instant::now());
        ctx.run_later(due, |actor, ctx| {
            actor.handoffs.expiry_scheduled = false;
            actor.expire_handoffs(ctx);
            actor.schedule_handoff_expiry(ctx);
        });
    }

    /// Makes sure deferred handed-off writes are refused once they waited too long, even when
    /// nothing else happens: one timer at a time.
    fn schedule_deferral_check(&mut self, ctx: &mut Context<Self>) {
        if self.handoffs.deferral_scheduled || self.handoffs.deferred.is_empty() {
            return;
        }
        self.handoffs.deferral_scheduled = true;
        let oldest = self.handoffs.deferred.iter().map(|(_, _, sent)| *sent).min().unwrap_or_else(now_millis);
        let due = u64::try_from(oldest + TAKEN_WITHIN_MILLIS + 1 - now_millis()).unwrap_or(0);
        ctx.run_later(Duration::from_millis(due), |actor, ctx| {
            actor.handoffs.deferral_scheduled = false;
            actor.accept_deferred();
            actor.flush(ctx);
            actor.schedule_deferral_check(ctx);
        });
    }

    /// Answers the writes handed over that got no answer in time with `503`, after one read
    /// of the store: their revisions may be stored and yet not have come (pushed to this
    /// process, which its feed leaves out, by a process that died before the push), and those
    /// writes are acked instead.
    pub(super) fn expire_handoffs(&mut self, ctx: &mut Context<Self>) {
        let now = Instant::now();
        let due = self.handoffs.sent.values().any(|sent| now.duration_since(sent.at) >= HANDOFF_TIMEOUT);
        if !due || self.handoffs.expiring {
            return;
        }
        let Some(read) = self.read_after_durable() else { return self.answer_expired() };
        self.handoffs.expiring = true;
        ctx.spawn(read.into_actor(self).map(|result, actor, ctx| {
            actor.handoffs.expiring = false;
            if let Ok(records) = result {
                actor.absorb_records(records, ctx);
            }
            actor.answer_expired();
            actor.schedule_handoff_expiry(ctx);
        }));
    }

    /// Answers the writes handed over whose time is up with `503`.
    fn answer_expired(&mut self) {
        let now = Instant::now();
        let expired: Vec<String> = self
            .handoffs
            .sent
            .iter()
            .filter(|(_, sent)| now.duration_since(sent.at) >= HANDOFF_TIMEOUT)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            if let Some(sent) = self.handoffs.sent.remove(&id) {
                tracing::warn!(dialogue_id = %self.dialogue_id, handoff = %id, "a handed-off write got no answer");
                self.answer_error(sent.reply, ApiError::Interrupted);
            }
        }
    }

    /// Answers a handed-off write's process: refused with `error`, or (`None`) unchanged.
    pub(super) fn answer_handoff(&mut self, id: &str, from: &str, error: Option<&ApiError>) {
        let (kind, body) = match error {
            Some(error) => (HandoffKind::Refusal, serde_json::to_string(&error.body()).unwrap_or_default()),
            None => (HandoffKind::Unchanged, String::new()),
        };
        let me = self.deps.store.process_id();
        self.handoffs.outbox.push(HandoffRecord::new(kind, id, &self.dialogue_id, me, from, body));
    }

    /// Every handed-over write, answered `503` (the actor stops).
    pub(super) fn abandon_handoffs(&mut self) {
        for (_, sent) in std::mem::take(&mut self.handoffs.sent) {
            self.answer_error(sent.reply, ApiError::Interrupted);
        }
        for (_, reply, _) in std::mem::take(&mut self.handoffs.deferred) {
            self.answer_error(reply, ApiError::Interrupted);
        }
    }
}

/// Handoffs grouped by the process they are for, each group in its order.
fn by_recipient(handoffs: Vec<HandoffRecord>) -> Vec<(String, Vec<HandoffRecord>)> {
    let mut groups: Vec<(String, Vec<HandoffRecord>)> = Vec::new();
    for handoff in handoffs {
        match groups.iter_mut().find(|(to, _)| *to == handoff.to) {
            Some((_, group)) => group.push(handoff),
            None => groups.push((handoff.to.clone(), vec![handoff])),
        }
    }
    groups
}

/// Tells `follower`, through the database, that revisions of `dialogue_id` up to `last` that
/// name it may not have reached it (a `missed` handoff: it reads them from the store).
async fn tell_missed(store: &crate::store::Store, dialogue_id: &str, follower: &str, last: i64) {
    let notice =
        HandoffRecord::new(HandoffKind::Missed, &new_id(), dialogue_id, store.process_id(), follower, last.to_string());
    if let Err(error) = store.send_handoffs(&[notice]).await {
        tracing::warn!(%dialogue_id, follower, error = %error, "telling a follower of a missed push failed; it reads the store when it stops following");
    }
}

/// Whether a handed-off write made against `base` can be taken up by a process whose durable
/// version is `durable`, with or without revisions of others waiting to be applied. A base
/// beyond the durable version waits: it is a revision the sender knew (the sender refuses a base
/// ahead of everything it knows before handing a write over), and it is either one of this
/// process's own, stored but not settled, or one of another process that has not arrived here
/// yet (a peer link can be faster than the change feed). A write waits at most until
/// `TAKEN_WITHIN_MILLIS` after it was sent.
fn takes_up(base: Option<i64>, durable: i64, others_waiting: bool) -> bool {
    !others_waiting && base.is_none_or(|base| base <= durable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handed_off_write_waits_for_the_revision_it_was_made_against() {
        assert!(takes_up(Some(7), 7, false));
        assert!(takes_up(None, 7, false), "a write with no base needs no rebase");
        assert!(!takes_up(Some(8), 7, false), "8 may be our own, stored but not yet settled");
        assert!(!takes_up(Some(12), 7, false), "12 may be the sender's, still on its way here");
        assert!(!takes_up(Some(7), 7, true), "another process's revision waits to be applied");
    }

    #[test]
    fn a_handed_off_write_is_taken_once_while_a_copy_could_still_arrive() {
        let mut taken = TakenWrites::default();
        assert!(taken.take("w1", 1_000, 1_000));
        assert!(!taken.take("w1", 1_000, 1_100), "the same write through the other path");
        assert!(taken.take("w2", 1_050, 1_100));
        let later = 1_000 + TAKEN_WITHIN_MILLIS + 1;
        assert!(taken.take("w3", later, later), "a new write");
        assert_eq!(taken.ids.len(), 2, "w1, too old to be taken up again, is forgotten");
        assert!(!taken.take("w2", 1_050, later));
    }

    #[test]
    fn writes_go_to_the_winner_while_it_keeps_writing() {
        let mut handoffs = Handoffs::default();
        let start = Instant::now();
        assert_eq!(handoffs.target(start), None);
        handoffs.winning("b", start);
        assert_eq!(handoffs.target(start), Some("b"));
        handoffs.heard_from("c", start + HANDOFF_WINDOW / 2);
        assert_eq!(handoffs.target(start + HANDOFF_WINDOW), None, "another process's revision keeps nothing");
        handoffs.heard_from("b", start + HANDOFF_WINDOW / 2);
        assert_eq!(handoffs.target(start + HANDOFF_WINDOW), Some("b"), "the winner's revisions keep it");
        assert_eq!(handoffs.target(start + HANDOFF_WINDOW * 2), None, "a quiet winner gets nothing more");
    }

    #[test]
    fn a_follower_reads_once_after_it_stops_following_when_every_push_has_landed() {
        let mut handoffs = Handoffs::default();
        let start = Instant::now();
        let settle = Duration::from_secs(10);
        assert!(!handoffs.stopped_following(start + settle * 2, settle), "a process that never followed reads nothing");
        handoffs.winning("b", start);
        assert!(!handoffs.stopped_following(start + settle * 2, settle), "nor one that handed nothing over");
        handoffs.closing_read_due = true; // as `hand_off` sets it
        let end = start + HANDOFF_WINDOW;
        assert!(handoffs.follows("b", end + settle / 2, settle) && !handoffs.follows("c", start, settle));
        assert!(!handoffs.follows("b", end + settle, settle), "a process followed long ago is not followed");
        assert!(!handoffs.stopped_following(end + settle / 2, settle), "not while a push could still land");
        assert!(handoffs.stopped_following(end + settle, settle), "once every push has landed");
        assert!(!handoffs.stopped_following(end + settle * 2, settle), "and only once");
        handoffs.winning("b", end + settle * 2);
        handoffs.closing_read_due = true;
        assert!(handoffs.stopped_following(end + settle * 3 + HANDOFF_WINDOW, settle), "again after following again");
    }

    #[test]
    fn handoffs_gathered_while_an_insert_is_in_flight_leave_together_after_it() {
        let record = |id: &str| HandoffRecord::new(HandoffKind::Write, id, "d", "a", "b", "{}".into());
        let mut handoffs = Handoffs::default();
        assert!(handoffs.take_outbox().is_none(), "nothing to send");
        handoffs.outbox.push(record("1"));
        assert_eq!(handoffs.take_outbox().map(|sent| sent.len()), Some(1));
        handoffs.outbox.push(record("2"));
        handoffs.outbox.push(record("3"));
        assert!(handoffs.take_outbox().is_none(), "one insert in flight at a time");
        assert!(handoffs.waiting());
        handoffs.inserted();
        let next = handoffs.take_outbox().unwrap();
        assert_eq!(next.iter().map(|h| h.write_id.as_str()).collect::<Vec<_>>(), ["2", "3"]);
    }

    #[test]
    fn two_processes_handing_to_each_other_settle_on_the_smaller_id() {
        let now = Instant::now();
        let (mut a, mut b) = (Handoffs::default(), Handoffs::default());
        a.winning("b", now);
        b.winning("a", now);
        a.handed_from("b", "a");
        b.handed_from("a", "b");
        assert_eq!(a.target(now), None, "a stores both's writes");
        assert_eq!(b.target(now), Some("a"), "b keeps handing over");
    }
}
