//! Dialogues: the per-dialogue actor that serializes every change into numbered revisions, the
//! registry that starts and stops those actors, and the parts the actor is a shell over. Each
//! part is plain data and logic with its own tests:
//!
//! - `prepare` turns a write into revisions on the speculative head (with `change` for what
//!   each change does and `rebase` for stale live patches);
//! - `write_queue` holds accepted writes and is the write path's state machine;
//! - `subscribers` gets revisions and presence to the live sessions, and `presence` relays
//!   presence to and from the other processes;
//! - `log` keeps the newest revisions; `checkpoints` says when to write the head and snapshots;
//! - `loader` loads a dialogue; `head`, `revision` and `description` are its views;
//! - `history` rebuilds past states for reverts and releases.

pub mod actor;
pub mod change;
pub mod checkpoints;
pub mod description;
pub mod head;
pub mod history;
pub mod loader;
pub mod log;
pub mod messages;
pub mod prepare;
pub mod presence;
pub mod rebase;
pub mod registry;
pub mod releases;
pub mod revision;
pub mod serialized;
pub mod subscribers;
pub mod write_queue;

pub use actor::{ActorDeps, ActorSettings};
pub use head::Head;
pub use messages::{WriteOutcome, WriteRequest};
pub use registry::Dialogues;
