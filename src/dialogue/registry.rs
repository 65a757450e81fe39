//! `DialogueRegistry`: starts a `DialogueActor` on first use of a dialogue, spreads actors over a
//! pool of arbiter threads, and forgets each actor when it stops (after being idle). The
//! `Dialogues` handle is what route handlers use: it finds the actor, sends, and retries (up to three
//! attempts) when it raced with an actor that was just stopping.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use actix::prelude::*;

use super::actor::{ActorDeps, DialogueActor};
use super::head::Head;
use super::messages::{
    ActorStopped, CreateRelease, Describe, Evict, External, FlushHead, Submit, WriteOutcome, WriteRequest,
};
use super::presence::PresenceRelay;
use crate::error::ApiError;
use crate::store::ReleaseRecord;

/// Attempts to reach a dialogue's actor before giving up with `503`.
const SEND_ATTEMPTS: usize = 3;

/// Ask for the actor of a dialogue, starting it if needed.
#[derive(Message)]
#[rtype(result = "Addr<DialogueActor>")]
pub struct Lookup {
    /// The dialogue.
    pub dialogue_id: String,
}

/// Hand an event from the change feed to a dialogue's actor, if one is running here.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Forward {
    /// The dialogue; `None` for every running actor.
    pub dialogue_id: Option<String>,
    /// The event.
    pub event: External,
    /// Start the dialogue's actor when none runs here (for events it must act on).
    pub start: bool,
}

/// The actor of a dialogue, if one runs here (nothing is started).
#[derive(Message)]
#[rtype(result = "Option<Addr<DialogueActor>>")]
pub struct Running {
    /// The dialogue.
    pub dialogue_id: String,
}

/// How many dialogue actors are running (for tests and metrics).
#[derive(Message)]
#[rtype(result = "usize")]
pub struct CountActors;

/// Every running actor (to flush their heads at shutdown).
#[derive(Message)]
#[rtype(result = "Vec<Addr<DialogueActor>>")]
pub struct AllRunning;

/// The registry actor.
pub struct DialogueRegistry {
    actors: HashMap<String, (u64, Addr<DialogueActor>)>,
    arbiters: Vec<ArbiterHandle>,
    next_generation: u64,
    deps: ActorDeps,
}

impl DialogueRegistry {
    /// A registry whose actors run on `threads` arbiter threads (0: on the caller's arbiter).
    pub fn new(deps: ActorDeps, threads: usize) -> Self {
        let arbiters = (0..threads).map(|_| Arbiter::new().handle()).collect();
        Self { actors: HashMap::new(), arbiters, next_generation: 0, deps }
    }

    fn arbiter_for(&self, dialogue_id: &str) -> Option<&ArbiterHandle> {
        if self.arbiters.is_empty() {
            return None;
        }
        let mut hasher = DefaultHasher::new();
        dialogue_id.hash(&mut hasher);
        let index = usize::try_from(hasher.finish() % self.arbiters.len() as u64).unwrap_or(0);
        self.arbiters.get(index)
    }
}

impl Actor for DialogueRegistry {
    type Context = Context<Self>;
}

impl DialogueRegistry {
    /// The actor of a dialogue, started if none runs here.
    fn actor_for(&mut self, dialogue_id: &str, ctx: &mut Context<Self>) -> Addr<DialogueActor> {
        if let Some((_, addr)) = self.actors.get(dialogue_id)
            && addr.connected()
        {
            return addr.clone();
        }
        self.next_generation += 1;
        let generation = self.next_generation;
        let deps = self.deps.clone();
        let registry = ctx.address().recipient();
        let id = dialogue_id.to_owned();
        let make = move |_: &mut Context<DialogueActor>| DialogueActor::new(id, generation, deps, registry);
        let addr = match self.arbiter_for(dialogue_id) {
            Some(arbiter) => DialogueActor::start_in_arbiter(arbiter, make),
            None => DialogueActor::create(make),
        };
        self.actors.insert(dialogue_id.to_owned(), (generation, addr.clone()));
        addr
    }
}

impl Handler<Lookup> for DialogueRegistry {
    type Result = MessageResult<Lookup>;

    fn handle(&mut self, message: Lookup, ctx: &mut Self::Context) -> Self::Result {
        MessageResult(self.actor_for(&message.dialogue_id, ctx))
    }
}

impl Handler<ActorStopped> for DialogueRegistry {
    type Result = ();

    fn handle(&mut self, message: ActorStopped, _: &mut Self::Context) {
        if self.actors.get(&message.dialogue_id).is_some_and(|(generation, _)| *generation == message.generation) {
            self.actors.remove(&message.dialogue_id);
        }
    }
}

impl Handler<Forward> for DialogueRegistry {
    type Result = ();

    fn handle(&mut self, forward: Forward, ctx: &mut Self::Context) {
        match &forward.dialogue_id {
            Some(dialogue_id) if forward.start => self.actor_for(dialogue_id, ctx).do_send(forward.event),
            Some(dialogue_id) => {
                if let Some((_, addr)) = self.actors.get(dialogue_id) {
                    addr.do_send(forward.event);
                }
            }
            None => {
                for (_, addr) in self.actors.values() {
                    addr.do_send(forward.event.clone());
                }
            }
        }
    }
}

impl Handler<Running> for DialogueRegistry {
    type Result = Option<Addr<DialogueActor>>;

    fn handle(&mut self, message: Running, _: &mut Self::Context) -> Self::Result {
        self.actors.get(&message.dialogue_id).map(|(_, addr)| addr.clone()).filter(Addr::connected)
    }
}

impl Handler<AllRunning> for DialogueRegistry {
    type Result = Vec<Addr<DialogueActor>>;

    fn handle(&mut self, _: AllRunning, _: &mut Self::Context) -> Self::Result {
        self.actors.values().map(|(_, addr)| addr.clone()).filter(Addr::connected).collect()
    }
}

impl Handler<CountActors> for DialogueRegistry {
    type Result = usize;

    fn handle(&mut self, _: CountActors, _: &mut Self::Context) -> usize {
        self.actors.values().filter(|(_, addr)| addr.connected()).count()
    }
}

/// The route handlers' way to their dialogues' actors.
#[derive(Clone)]
pub struct Dialogues {
    registry: Addr<DialogueRegistry>,
    arbiters: Vec<ArbiterHandle>,
    store: crate::store::Store,
    presence: PresenceRelay,
}

/// The longest a request waits for a dialogue's actor to answer: two database deadlines (a
/// cold dialogue is loaded, then the write committed, each within one), and never less than a
/// handed-over write may take to be answered by the process that owns the dialogue.
fn answer_bound(deadline: std::time::Duration) -> std::time::Duration {
    (deadline * 2).max(super::actor::HANDOFF_TIMEOUT + std::time::Duration::from_secs(1))
}

impl Dialogues {
    /// Starts the registry on the current arbiter.
    pub fn start(deps: ActorDeps, threads: usize) -> Self {
        let store = deps.store.clone();
        let presence = deps.presence.clone();
        let registry = DialogueRegistry::new(deps, threads);
        let arbiters = registry.arbiters.clone();
        Self { registry: registry.start(), arbiters, store, presence }
    }

    /// The relay of this process's live sessions to the other processes.
    pub fn presence(&self) -> &PresenceRelay {
        &self.presence
    }

    /// Brings every running dialogue's stored head up to date (the last step of a graceful
    /// shutdown, so the next start loads without replaying revisions); gives up after
    /// `deadline`. Answers how many heads could not be written.
    pub async fn flush_heads(&self, deadline: std::time::Duration) -> usize {
        let actors = self.registry.send(AllRunning).await.unwrap_or_default();
        let flushes = actors.iter().map(|addr| addr.send(FlushHead));
        match tokio::time::timeout(deadline, futures_util::future::join_all(flushes)).await {
            Ok(answers) => answers.into_iter().filter(|answer| !matches!(answer, Ok(true))).count(),
            Err(_) => actors.len(),
        }
    }

    /// Stops the actors' threads (at the end of shutdown, once requests are done): nothing of
    /// theirs outlives the runtime that owns the database driver's background work.
    pub fn shutdown(&self) {
        for arbiter in &self.arbiters {
            arbiter.stop();
        }
    }

    /// Sends `make()` to the dialogue's actor, retrying when the actor stopped meanwhile, and
    /// waits for the answer at most [`answer_bound`]: a request never waits out a frozen
    /// database, nor anything else that stalls, however its work queued (`503`; a write's
    /// outcome is then unknown, as after any database timeout).
    async fn ask<M>(&self, dialogue_id: &str, make: impl Fn() -> M) -> Result<M::Result, ApiError>
    where
        M: Message + Send + 'static,
        M::Result: Send,
        DialogueActor: Handler<M>,
    {
        tokio::time::timeout(answer_bound(self.store.deadline()), self.ask_unbounded(dialogue_id, make))
            .await
            .unwrap_or(Err(ApiError::Unavailable))
    }

    async fn ask_unbounded<M>(&self, dialogue_id: &str, make: impl Fn() -> M) -> Result<M::Result, ApiError>
    where
        M: Message + Send + 'static,
        M::Result: Send,
        DialogueActor: Handler<M>,
    {
        for _ in 0..SEND_ATTEMPTS {
            let addr = self
                .registry
                .send(Lookup { dialogue_id: dialogue_id.to_owned() })
                .await
                .map_err(|_| ApiError::Interrupted)?;
            match addr.send(make()).await {
                Ok(result) => return Ok(result),
                Err(MailboxError::Closed) => continue,
                Err(MailboxError::Timeout) => return Err(ApiError::Busy),
            }
        }
        Err(ApiError::Interrupted)
    }

    /// The stored state of a dialogue, from its actor's memory.
    pub async fn describe(&self, project_id: &str, dialogue_id: &str) -> Result<Head, ApiError> {
        self.ask(dialogue_id, || Describe { project_id: project_id.to_owned() }).await?
    }

    /// Whether the dialogue exists in the project: its actor answers when one runs here (it
    /// knows best), the store otherwise; no actor is started for it.
    pub async fn exists(&self, project_id: &str, dialogue_id: &str) -> Result<bool, ApiError> {
        let running = self.registry.send(Running { dialogue_id: dialogue_id.to_owned() }).await.ok().flatten();
        if let Some(addr) = running
            && let Ok(answer) = addr.send(Describe { project_id: project_id.to_owned() }).await
        {
            return match answer {
                Ok(_) => Ok(true),
                Err(ApiError::NotFound { .. }) => Ok(false),
                Err(other) => Err(other),
            };
        }
        Ok(self.store.dialogue_exists(project_id, dialogue_id).await?)
    }

    /// Applies and stores a write.
    pub async fn write(&self, dialogue_id: &str, request: WriteRequest) -> Result<WriteOutcome, ApiError> {
        self.ask(dialogue_id, || Submit(request.clone())).await?
    }

    /// Releases a stored revision.
    pub async fn release(
        &self,
        project_id: &str,
        dialogue_id: &str,
        revision_id: &str,
        user_id: &str,
    ) -> Result<ReleaseRecord, ApiError> {
        self.ask(dialogue_id, || CreateRelease {
            project_id: project_id.to_owned(),
            revision_id: revision_id.to_owned(),
            user_id: user_id.to_owned(),
        })
        .await?
    }

    /// Stops a dialogue's actor if it runs here and has nothing waiting to be stored, as an
    /// idle timeout would (its live sessions are closed with 1001). Answers whether an actor
    /// stopped. Used by operators' tools and by the tests that prove a dialogue loads again.
    pub async fn evict(&self, dialogue_id: &str) -> bool {
        let Ok(Some(addr)) = self.registry.send(Running { dialogue_id: dialogue_id.to_owned() }).await else {
            return false;
        };
        addr.send(Evict).await.unwrap_or(false)
    }

    /// Hands a change-feed event to a running actor (or, with `None`, to every running actor).
    pub fn forward(&self, dialogue_id: Option<String>, event: External) {
        self.registry.do_send(Forward { dialogue_id, event, start: false });
    }

    /// Hands revisions other processes stored to their dialogues' running actors, in order:
    /// each dialogue's consecutive ones as one message, applied and announced together.
    pub fn forward_revisions(&self, revisions: Vec<crate::store::RevisionRecord>) {
        let mut revisions = revisions.into_iter().peekable();
        while let Some(first) = revisions.next() {
            let dialogue_id = first.dialogue_id.clone();
            let mut run = vec![first];
            while let Some(next) = revisions.next_if(|next| next.dialogue_id == dialogue_id) {
                run.push(next);
            }
            self.forward(Some(dialogue_id), External::Revisions(run));
        }
    }

    /// Hands a change-feed event to a dialogue's actor, starting it if none runs here (a write
    /// another process handed to this one). Events keep their order.
    pub fn deliver(&self, dialogue_id: String, event: External) {
        self.registry.do_send(Forward { dialogue_id: Some(dialogue_id), event, start: true });
    }

    /// The actor of a dialogue, started if needed (live sessions talk to it directly).
    pub async fn actor(&self, dialogue_id: &str) -> Result<Addr<DialogueActor>, ApiError> {
        self.registry.send(Lookup { dialogue_id: dialogue_id.to_owned() }).await.map_err(|_| ApiError::Interrupted)
    }

    /// How many dialogue actors are running.
    pub async fn running(&self) -> usize {
        self.registry.send(CountActors).await.unwrap_or(0)
    }
}
