//! Dialogues: the per-dialogue actor that serializes every change into numbered revisions, the
//! registry that starts and stops those actors, and the pure pieces they use (changes, history,
//! descriptions).

pub mod actor;
pub mod change;
pub mod description;
pub mod history;
pub mod rebase;
pub mod registry;
pub mod revision;

pub use actor::{ActorDeps, ActorSettings, Head, WriteOutcome, WriteRequest};
pub use registry::Dialogues;
