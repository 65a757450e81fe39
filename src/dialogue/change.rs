//! Changes to a dialogue and how each applies to a description: a pure module (no I/O), so the
//! actor's write path and the tests share one definition of what every change does.

use json_patch::Patch;
use serde_json::Value;

use crate::error::ApiError;
use crate::patch;
use crate::schema::Schemas;

/// What a client asked to change.
#[derive(Debug, Clone)]
pub enum ChangeKind {
    /// Apply this JSON Patch (PATCH, an `edit` revision, a live `patch` frame).
    Edit {
        /// The patch, against the stored description.
        patch: Patch,
        /// The client's `edit_type`, if any.
        edit_type: Option<String>,
    },
    /// Replace the description (PUT); stored as the patch from the old description to this.
    Replace {
        /// The new stored description.
        content: Value,
    },
    /// Bring back the state right after revision `revision_id` (number `number`), which is
    /// `target`.
    Revert {
        /// The revision whose state is restored.
        revision_id: String,
        /// Its number.
        number: i64,
        /// The description right after it.
        target: Value,
    },
}

/// A change with the metadata its revision will carry.
#[derive(Debug, Clone)]
pub struct Change {
    /// What to do.
    pub kind: ChangeKind,
    /// The client's `details` object.
    pub details: Value,
    /// The client's `created` timestamp, if given.
    pub created: Option<i64>,
}

/// The outcome of applying a change.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The description after the change.
    pub content: Value,
    /// The patch as applied (what the revision stores); `None` when nothing changed.
    pub patch: Option<Patch>,
}

impl Change {
    /// Applies the change to `content` and validates the result. A change that changes nothing
    /// (a PUT of the same description) gives `patch: None` and stores no revision.
    pub fn apply(&self, mut content: Value, schemas: &Schemas) -> Result<Applied, ApiError> {
        let patch = match &self.kind {
            ChangeKind::Edit { patch, .. } => {
                patch::apply(&mut content, patch)?;
                patch.clone()
            }
            ChangeKind::Replace { content: replacement } => {
                let patch = json_patch::diff(&content, replacement);
                if patch.is_empty() {
                    return Ok(Applied { content, patch: None });
                }
                content = replacement.clone();
                patch
            }
            ChangeKind::Revert { target, .. } => {
                let patch = json_patch::diff(&content, target);
                content = target.clone();
                patch
            }
        };
        schemas.validate_dialogue(&content)?;
        Ok(Applied { content, patch: Some(patch) })
    }

    /// `revert` or `edit`.
    pub fn revision_kind(&self) -> &'static str {
        match self.kind {
            ChangeKind::Revert { .. } => "revert",
            _ => "edit",
        }
    }
}

/// Whether a change flips `is_archived` (which needs the archive right).
pub fn archives(before: &Value, after: &Value) -> bool {
    before.get("is_archived") != after.get("is_archived")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schemas() -> Schemas {
        Schemas::load(None).unwrap()
    }

    fn content() -> Value {
        json!({ "title": "T", "sequences": [], "is_archived": false })
    }

    fn edit(patch: Value) -> Change {
        Change {
            kind: ChangeKind::Edit { patch: serde_json::from_value(patch).unwrap(), edit_type: None },
            details: json!({}),
            created: None,
        }
    }

    #[test]
    fn an_edit_applies_and_validates() {
        let applied =
            edit(json!([{ "op": "replace", "path": "/title", "value": "U" }])).apply(content(), &schemas()).unwrap();
        assert_eq!(applied.content["title"], "U");
        assert!(applied.patch.is_some());
        let invalid = edit(json!([{ "op": "replace", "path": "/title", "value": 3 }])).apply(content(), &schemas());
        assert_eq!(invalid.unwrap_err().kind(), "validation_error");
        let conflict = edit(json!([{ "op": "remove", "path": "/nothing" }])).apply(content(), &schemas());
        assert_eq!(conflict.unwrap_err().kind(), "patch_conflict");
    }

    #[test]
    fn a_replace_stores_the_difference_or_nothing() {
        let same = Change { kind: ChangeKind::Replace { content: content() }, details: json!({}), created: None };
        assert!(same.apply(content(), &schemas()).unwrap().patch.is_none());
        let mut renamed = content();
        renamed["title"] = json!("New");
        let change =
            Change { kind: ChangeKind::Replace { content: renamed.clone() }, details: json!({}), created: None };
        let applied = change.apply(content(), &schemas()).unwrap();
        let mut replayed = content();
        json_patch::patch(&mut replayed, &applied.patch.unwrap()).unwrap();
        assert_eq!(replayed, renamed);
    }

    #[test]
    fn archiving_is_detected() {
        let mut archived = content();
        archived["is_archived"] = json!(true);
        assert!(archives(&content(), &archived));
        assert!(!archives(&content(), &content()));
    }
}
