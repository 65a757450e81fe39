//! Dialogues: how a stored head becomes the API's description and summary, and (with the
//! dialogue actor) how changes become numbered revisions.

pub mod description;
