//! The messages a `DialogueActor` answers, and what they carry: writes and their outcomes,
//! reads, releases, live sessions joining and leaving, and events from the change feed.

use std::sync::Arc;

use actix::prelude::*;
use dialogue_protocol::User;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::watch;

use super::change::Change;
use super::head::Head;
use super::revision::Revision;
use crate::auth::{Action, Caller};
use crate::error::ApiError;
use crate::live::outbox::Outbox;
use crate::store::{HandoffRecord, PresenceRecord, ReleaseRecord, RevisionRecord as StoredRevision};

/// A request to change the dialogue. It serializes, so that a process can hand it to another
/// (see `actor/handoff.rs`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WriteRequest {
    /// The project in the request's path; must own the dialogue.
    pub project_id: String,
    /// The changes, applied in order, all or nothing.
    pub changes: Vec<Change>,
    /// Who asks.
    pub user_id: String,
    /// The client's `If-Match`, if any.
    pub if_match: Option<String>,
    /// Whether the caller may archive or unarchive the dialogue.
    pub may_archive: bool,
    /// For live patches: the revision the patch was made against; the patch is rebased over
    /// everything accepted since.
    pub base_revision: Option<i64>,
    /// For a write another process handed off: the handoff's id, carried by its revisions.
    #[serde(skip)]
    pub handoff: Option<String>,
}

impl WriteRequest {
    /// A write by `caller` of `changes` to dialogue `dialogue` of project `project`: the one
    /// place a write's author and rights are taken from the caller.
    pub fn by(caller: &Caller, project: &str, dialogue: &str, changes: Vec<Change>) -> Self {
        Self {
            project_id: project.to_owned(),
            changes,
            user_id: caller.user.id.clone(),
            if_match: None,
            may_archive: caller.may(Action::ArchiveDialogue { project, dialogue }),
            base_revision: None,
            handoff: None,
        }
    }

    /// With the client's `If-Match`.
    pub fn if_match(self, if_match: Option<String>) -> Self {
        Self { if_match, ..self }
    }

    /// Made against revision `base` (a live patch): rebased over everything accepted since.
    pub fn based_on(self, base: i64) -> Self {
        Self { base_revision: Some(base), ..self }
    }
}

/// A stored write: its revisions (none for a change that changed nothing) and the head after it.
#[derive(Debug, Clone)]
pub struct WriteOutcome {
    /// The revisions made, in order.
    pub revisions: Vec<Arc<Revision>>,
    /// The dialogue right after them.
    pub head: Head,
}

/// Submit a write; answered once it is stored.
#[derive(Message)]
#[rtype(result = "Result<WriteOutcome, ApiError>")]
pub struct Submit(pub WriteRequest);

/// Read the current (stored) state.
#[derive(Message)]
#[rtype(result = "Result<Head, ApiError>")]
pub struct Describe {
    /// The project in the request's path.
    pub project_id: String,
}

/// Create a release of a stored revision.
#[derive(Message)]
#[rtype(result = "Result<ReleaseRecord, ApiError>")]
pub struct CreateRelease {
    /// The project in the request's path.
    pub project_id: String,
    /// The revision to release.
    pub revision_id: String,
    /// Who asks.
    pub user_id: String,
}

/// A live session's way to receive frames and to be closed.
#[derive(Clone)]
pub struct SessionLink {
    /// The session's id.
    pub session_id: String,
    /// Its user, as other sessions see them.
    pub user: User,
    /// Its outbox: frames to send, bounded.
    pub frames: Outbox,
    /// Set to a close code to make the session close.
    pub close: watch::Sender<Option<u16>>,
}

/// A live session opens: it gets its `welcome` (and catch-up revisions) first in its queue.
#[derive(Message)]
#[rtype(result = "Result<(), ApiError>")]
pub struct Join {
    /// The project in the request's path.
    pub project_id: String,
    /// The session.
    pub link: SessionLink,
    /// Whether the session may submit patches.
    pub can_edit: bool,
    /// The revision the client already holds, if any.
    pub since: Option<i64>,
}

/// A live session closed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Leave {
    /// The session.
    pub session_id: String,
}

/// A live session changed its selection.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetPresence {
    /// The session.
    pub session_id: String,
    /// Any JSON (at most 4 KiB).
    pub selection: Value,
}

/// A live session submits a patch; the answer (`ack` or `error`) arrives in its queue.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SessionPatch {
    /// The session.
    pub session_id: String,
    /// The client's `ref`.
    pub reference: String,
    /// The write.
    pub request: WriteRequest,
}

/// Something another process stored (from the change feed).
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub enum External {
    /// Revisions of the dialogue, in order (one from the change feed; a stored batch pushed
    /// over a peer link).
    Revisions(Vec<StoredRevision>),
    /// A release.
    Release(ReleaseRecord),
    /// The feed may have missed events: reload and send sessions what they missed.
    Resync,
    /// A project was deleted: its dialogues' sessions close with 4404.
    ProjectDeleted(String),
    /// A message from another process about this dialogue.
    Handoff(HandoffRecord),
    /// A session of another process joined, or changed its selection.
    PeerPresent(PresenceRecord),
    /// A session of another process left.
    PeerGone(String),
    /// A server process stopped or died: revisions it stored and had yet to push to this one
    /// are read from the store.
    ProcessGone(String),
}

/// Stop now if nothing is waiting to be stored (as an idle actor would): the next request loads
/// the dialogue afresh from the database. Answers whether the actor stopped.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct Evict;

/// Write the stored head now if it is behind (at shutdown). Answers whether the stored head is
/// up to date.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct FlushHead;

/// Told to the registry when an actor stops, so it forgets it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ActorStopped {
    /// The dialogue.
    pub dialogue_id: String,
    /// Which incarnation of its actor stopped.
    pub generation: u64,
}
