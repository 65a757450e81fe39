//! A committed revision as the server holds it in memory: the stored record plus its parsed
//! patch, and its API description.

use json_patch::Patch;
use serde_json::{Value, json};

use super::rebase::Effects;
use crate::store::RevisionRecord;

/// A revision that is durably stored.
#[derive(Debug, Clone)]
pub struct Revision {
    /// As stored.
    pub record: RevisionRecord,
    /// The patch as applied, parsed (for rebasing and replay).
    pub patch: Patch,
    /// The client's details object.
    pub details: Value,
    /// What the patch did, parsed once for rebasing later patches over it.
    pub effects: Effects,
}

impl Revision {
    /// Parses a stored record.
    pub fn from_record(record: RevisionRecord) -> anyhow::Result<Self> {
        let patch = serde_json::from_str(&record.patch)?;
        let details = serde_json::from_str(&record.details)?;
        let effects = Effects::of(&patch);
        Ok(Self { record, patch, details, effects })
    }

    /// The revision's number.
    pub fn number(&self) -> i64 {
        self.record.number
    }

    /// What it weighs in memory, roughly: its patch and details as text (parsed, they take a
    /// few times that).
    pub fn text_bytes(&self) -> usize {
        self.record.text_bytes()
    }

    /// The API description: `id`, `url`, `number`, `user_id`, `created`, `type`, `details` and
    /// `properties` (`edit_type` and `patch`, or `revision_id` and `patch`).
    pub fn describe(&self) -> Value {
        let r = &self.record;
        let mut properties = json!({ "patch": self.patch });
        if let Some(edit_type) = &r.edit_type {
            properties["edit_type"] = json!(edit_type);
        }
        if let Some(reverted_to) = &r.reverted_to {
            properties["revision_id"] = json!(reverted_to);
        }
        json!({
            "id": r.id,
            "url": format!("/projects/{}/dialogues/{}/revisions/{}", r.project_id, r.dialogue_id, r.id),
            "number": r.number,
            "user_id": r.user_id,
            "created": r.created,
            "type": r.kind,
            "details": self.details,
            "properties": properties,
        })
    }
}

/// A stored revision for unit tests: number `number`, with `patch` (JSON text).
#[cfg(test)]
pub(crate) fn fixture(number: i64, patch: &str) -> std::sync::Arc<Revision> {
    std::sync::Arc::new(Revision::from_record(fixture_record(number, patch)).expect("a fixture parses"))
}

/// The record of [`fixture`].
#[cfg(test)]
pub(crate) fn fixture_record(number: i64, patch: &str) -> RevisionRecord {
    RevisionRecord {
        id: format!("r{number}"),
        dialogue_id: "d".into(),
        project_id: "p".into(),
        number,
        user_id: "u".into(),
        created: 0,
        accepted: None,
        kind: "edit".into(),
        edit_type: None,
        reverted_to: None,
        patch: patch.to_owned(),
        details: "{}".into(),
        process: None,
        handoff: None,
        pushed_to: Vec::new(),
    }
}
