//! Shared commits: the revisions that every dialogue actor stores go to the database together.
//! Each command is one ordered `insert_many` carrying every batch the actors submitted while
//! the previous command was in flight (group commit across dialogues), and while the load is
//! spread over dialogues, until the spacing ([`DEFAULT_SPACING`]) after the previous one started; [`IN_FLIGHT`]
//! commands run at once. An actor has at most one batch in flight, and its batch
//! is contiguous in a command, so the ordered insert's answer maps back to each batch: stored
//! whole; stored up to its failing revision (a duplicate number means another process wrote it
//! first); or not tried, because an earlier batch of the command failed, in which case it goes
//! out again with the next command. A command that fails as a whole (the database did not
//! answer) leaves every batch in it with an unknown outcome.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mongodb::Collection;
use mongodb::error::ErrorKind;
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::RevisionRecord;
use crate::store::{StoreCounters, StoreError};

/// Commands in flight at once. One: the next command carries everything that arrived while
/// the previous one ran, so batches grow with the load by themselves. Against four, in `many`
/// (1,000 dialogues × 2 editors at 5,000 patches/s, durable commits on SecantusDB, three runs
/// each, alternated): ack p50 29–37 ms against 34–91 ms, p99 323–380 ms against 175–503 ms,
/// commits 4,963–4,990/s against 4,775–4,986/s. No worse, and simpler to reason about.
pub const IN_FLIGHT: usize = 1;
/// Revisions in one command at most (the driver splits larger ones by size anyway).
const MAX_REVISIONS: usize = 10_000;
/// The least time between the starts of two commands while the load is spread: when the
/// previous command carried batches of [`SIBLINGS`] dialogues or more, the next waits until
/// this long after it started, gathering the batches that arrive meanwhile (PostgreSQL's
/// `commit_delay` and `commit_siblings` do the same for its WAL flushes). A durable insert
/// takes about this long under load anyway, so the wait is short or nothing; at 2,000
/// revisions/s over 9,000 dialogues it caps inserts at 333 a second instead of up to 430
/// (0.13–0.15 round trips per revision against 0.24–0.28; 4 ms gave 0.12 but ack p50 rose
/// by 3 ms, see docs/benchmarks.md).
/// One hot dialogue never waits: its next batch cannot leave before its previous is stored.
/// Operators set it with `DIALOGUE_COMMIT_SPACING_MS` (0 turns it off).
pub const DEFAULT_SPACING: Duration = Duration::from_millis(3);
/// Batches in the previous command from which the next one waits for the spacing.
const SIBLINGS: usize = 2;

/// How one batch fared in a command.
#[derive(Debug)]
pub enum Outcome {
    /// Every revision is stored.
    Stored,
    /// The first `stored` revisions are stored; the next one failed with `error`, and the
    /// rest were not tried.
    Failed {
        /// Revisions stored before the failure.
        stored: usize,
        /// Why the next one failed.
        error: StoreError,
    },
    /// Not tried: an earlier batch of the command failed.
    NotTried,
}

struct Request {
    revisions: Vec<RevisionRecord>,
    reply: oneshot::Sender<Outcome>,
}

/// The way to the committer task.
#[derive(Debug, Clone)]
pub struct Committer {
    requests: mpsc::UnboundedSender<Request>,
    counters: Arc<StoreCounters>,
}

impl Committer {
    /// Starts the committer task on the current runtime.
    pub(in crate::store) fn spawn(
        db: &mongodb::Database,
        deadline: Duration,
        spacing: Duration,
        counters: Arc<StoreCounters>,
    ) -> Self {
        let revisions: Collection<RevisionRecord> = db.collection(super::COLLECTION);
        let (requests, receiver) = mpsc::unbounded_channel();
        tokio::spawn(run(revisions, receiver, deadline, spacing, counters.clone()));
        Self { requests, counters }
    }

    /// Stores a batch of consecutive revisions of one dialogue, in the next shared command.
    pub async fn commit(&self, revisions: Vec<RevisionRecord>) -> Outcome {
        self.submit(revisions).outcome().await
    }

    /// Hands a batch of consecutive revisions of one dialogue to the committer now (it joins
    /// the next shared command whether or not the answer is awaited yet).
    pub fn submit(&self, revisions: Vec<RevisionRecord>) -> Submitted {
        let (reply, answer) = oneshot::channel();
        let queued = revisions.len() as i64;
        self.counters.queued_revisions.fetch_add(queued, std::sync::atomic::Ordering::Relaxed);
        if self.requests.send(Request { revisions, reply }).is_err() {
            self.counters.queued_revisions.fetch_sub(queued, std::sync::atomic::Ordering::Relaxed);
            return Submitted(None);
        }
        Submitted(Some(answer))
    }
}

/// A batch handed to the committer, and the way to its [`Outcome`].
#[derive(Debug)]
pub struct Submitted(Option<oneshot::Receiver<Outcome>>);

impl Submitted {
    /// How the batch fared.
    pub async fn outcome(self) -> Outcome {
        let Some(answer) = self.0 else {
            return Outcome::Failed { stored: 0, error: StoreError::Unavailable("the committer has stopped".into()) };
        };
        answer.await.unwrap_or(Outcome::Failed {
            stored: 0,
            error: StoreError::Unavailable("the committer dropped the batch".into()),
        })
    }
}

async fn run(
    revisions: Collection<RevisionRecord>,
    mut requests: mpsc::UnboundedReceiver<Request>,
    deadline: Duration,
    spacing: Duration,
    counters: Arc<StoreCounters>,
) {
    let in_flight = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut previous: Option<(Instant, usize)> = None;
    while let Some(first) = requests.recv().await {
        // Wait for a free slot before gathering: what arrives meanwhile joins this command.
        let Ok(slot) = in_flight.clone().acquire_owned().await else { return };
        let mut count = first.revisions.len();
        let mut command = vec![first];
        gather(&mut requests, &mut command, &mut count);
        if count < MAX_REVISIONS
            && let Some(until) = spaced_until(previous, Instant::now(), spacing)
        {
            tokio::time::sleep_until(until.into()).await;
            gather(&mut requests, &mut command, &mut count);
        }
        previous = Some((Instant::now(), command.len()));
        let revisions = revisions.clone();
        let counters = counters.clone();
        tokio::spawn(async move {
            execute(&revisions, command, deadline, &counters).await;
            drop(slot);
        });
    }
}

/// Adds the batches already waiting to `command`, up to [`MAX_REVISIONS`].
fn gather(requests: &mut mpsc::UnboundedReceiver<Request>, command: &mut Vec<Request>, count: &mut usize) {
    while *count < MAX_REVISIONS {
        let Ok(next) = requests.try_recv() else { break };
        *count += next.revisions.len();
        command.push(next);
    }
}

/// When the next command may start, if it has to wait: `spacing` after the previous one
/// started, when that one carried [`SIBLINGS`] batches or more.
fn spaced_until(previous: Option<(Instant, usize)>, now: Instant, spacing: Duration) -> Option<Instant> {
    let (started, batches) = previous?;
    let until = started + spacing;
    (batches >= SIBLINGS && until > now).then_some(until)
}

/// Runs one command and tells each batch how it fared.
async fn execute(
    revisions: &Collection<RevisionRecord>,
    command: Vec<Request>,
    deadline: Duration,
    counters: &StoreCounters,
) {
    StoreCounters::add(&counters.revision_batches, 1);
    let all = command.iter().flat_map(|request| request.revisions.iter());
    let started = std::time::Instant::now();
    let result = tokio::time::timeout(deadline, revisions.insert_many(all).ordered(true)).await;
    if crate::metrics::enabled() {
        let count: usize = command.iter().map(|request| request.revisions.len()).sum();
        metrics::histogram!(crate::metrics::COMMIT_DURATION).record(started.elapsed().as_secs_f64());
        metrics::histogram!(crate::metrics::COMMIT_BATCH).record(count as f64);
    }
    let failure = match result {
        Ok(Ok(_)) => None,
        Ok(Err(error)) => Some(first_failure(error)),
        Err(_) => Some((0, StoreError::Unavailable(format!("no answer within {} ms", deadline.as_millis())), true)),
    };
    let mut start = 0;
    for request in command {
        let end = start + request.revisions.len();
        let outcome = match &failure {
            None => Outcome::Stored,
            Some((at, _, _)) if end <= *at => Outcome::Stored,
            Some((at, error, whole)) if *whole || start <= *at => {
                let stored = at.saturating_sub(start).min(request.revisions.len());
                Outcome::Failed { stored: if *whole { 0 } else { stored }, error: error.duplicate() }
            }
            Some(_) => Outcome::NotTried,
        };
        let stored = match &outcome {
            Outcome::Stored => request.revisions.len(),
            Outcome::Failed { stored, .. } => *stored,
            Outcome::NotTried => 0,
        };
        StoreCounters::add(&counters.revisions, stored as u64);
        counters.queued_revisions.fetch_sub(request.revisions.len() as i64, std::sync::atomic::Ordering::Relaxed);
        let _ = request.reply.send(outcome);
        start = end;
    }
    if let Some((_, error, _)) = &failure {
        crate::metrics::store_error(error.kind());
    }
    if let Some((_, StoreError::Unavailable(_), _)) = &failure {
        StoreCounters::add(&counters.unavailable, 1);
    }
}

/// Where an ordered insert stopped: the index of the first revision not stored, its error, and
/// whether the command failed as a whole (then nothing is known of any revision).
fn first_failure(error: mongodb::error::Error) -> (usize, StoreError, bool) {
    let at = match error.kind.as_ref() {
        ErrorKind::InsertMany(failure) => {
            failure.write_errors.as_ref().and_then(|errors| errors.iter().map(|e| e.index).min())
        }
        _ => None,
    };
    match at {
        Some(at) => (at, StoreError::from(error), false),
        None => (0, StoreError::from(error), true),
    }
}

impl StoreError {
    /// A copy for one more batch (the driver's error is not `Clone`; the kind and words are
    /// what callers act on).
    fn duplicate(&self) -> Self {
        match self {
            Self::Duplicate { what } => Self::Duplicate { what: what.clone() },
            Self::Unavailable(why) => Self::Unavailable(why.clone()),
            Self::Other(error) => Self::Other(anyhow::anyhow!("{error:#}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPACING: Duration = DEFAULT_SPACING;

    #[test]
    fn a_command_after_one_of_several_dialogues_waits_out_the_spacing() {
        let started = Instant::now();
        let now = started + Duration::from_millis(1);
        assert_eq!(spaced_until(Some((started, SIBLINGS)), now, SPACING), Some(started + SPACING));
        assert_eq!(spaced_until(Some((started, 40)), now, SPACING), Some(started + SPACING));
    }

    #[test]
    fn a_command_leaves_at_once_after_a_lone_batch_or_a_long_command() {
        let started = Instant::now();
        assert_eq!(spaced_until(None, started, SPACING), None, "the first command");
        assert_eq!(spaced_until(Some((started, 1)), started, SPACING), None, "one hot dialogue never waits");
        assert_eq!(spaced_until(Some((started, 40)), started + SPACING, SPACING), None, "the spacing has passed");
        assert_eq!(spaced_until(Some((started, 40)), started + SPACING * 3, SPACING), None);
    }

    #[test]
    fn no_spacing_never_waits() {
        let started = Instant::now();
        assert_eq!(spaced_until(Some((started, 40)), started, Duration::ZERO), None);
    }
}
