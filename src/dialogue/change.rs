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
                schemas.validate_dialogue_after(&content, patch)?;
                return Ok(Applied { content, patch: Some(patch.clone()) });
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

    /// Applies the change to `content` in place and validates the result; returns the patch as
    /// applied, or `None` when nothing changed. On an error `content` may be left half-changed:
    /// the caller must restore it (the actor rebuilds it from what it has accepted).
    pub fn apply_in_place(&self, content: &mut Value, schemas: &Schemas) -> Result<Option<Patch>, ApiError> {
        match &self.kind {
            ChangeKind::Edit { patch, .. } => {
                patch::apply(content, patch)?;
                schemas.validate_dialogue_after(content, patch)?;
                Ok(Some(patch.clone()))
            }
            ChangeKind::Replace { content: replacement } => {
                let patch = json_patch::diff(content, replacement);
                if patch.is_empty() {
                    return Ok(None);
                }
                schemas.validate_dialogue(replacement)?;
                *content = replacement.clone();
                Ok(Some(patch))
            }
            ChangeKind::Revert { target, .. } => {
                schemas.validate_dialogue(target)?;
                let patch = json_patch::diff(content, target);
                *content = target.clone();
                Ok(Some(patch))
            }
        }
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

#[cfg(test)]
mod revert_properties {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// An abstract edit; indices are taken modulo the current lengths, so every edit applies.
    #[derive(Debug, Clone)]
    enum Edit {
        Retitle(u8),
        AddSequence,
        RemoveSequence(usize),
        AddBlock(usize, u8),
        RemoveBlock(usize, usize),
        Retext(usize, usize, u8),
        MoveBlock(usize, usize, usize),
        Archive(bool),
    }

    fn edit() -> impl Strategy<Value = Edit> {
        prop_oneof![
            any::<u8>().prop_map(Edit::Retitle),
            Just(Edit::AddSequence),
            any::<usize>().prop_map(Edit::RemoveSequence),
            (any::<usize>(), any::<u8>()).prop_map(|(s, t)| Edit::AddBlock(s, t)),
            (any::<usize>(), any::<usize>()).prop_map(|(s, b)| Edit::RemoveBlock(s, b)),
            (any::<usize>(), any::<usize>(), any::<u8>()).prop_map(|(s, b, t)| Edit::Retext(s, b, t)),
            (any::<usize>(), any::<usize>(), any::<usize>()).prop_map(|(s, a, b)| Edit::MoveBlock(s, a, b)),
            any::<bool>().prop_map(Edit::Archive),
        ]
    }

    /// The JSON Patch for an abstract edit against `content`, if it applies there.
    fn to_patch(edit: &Edit, content: &Value, counter: &mut u32) -> Option<Value> {
        let sequences = content["sequences"].as_array()?;
        let blocks = |s: usize| sequences.get(s).and_then(|seq| seq["blocks"].as_array()).map_or(0, Vec::len);
        *counter += 1;
        let fresh = format!("x{counter}");
        Some(match *edit {
            Edit::Retitle(t) => json!([{ "op": "replace", "path": "/title", "value": format!("title {t}") }]),
            Edit::AddSequence => {
                json!([{ "op": "add", "path": "/sequences/-", "value": { "id": fresh, "title": "s", "blocks": [] } }])
            }
            Edit::RemoveSequence(s) if !sequences.is_empty() => {
                json!([{ "op": "remove", "path": format!("/sequences/{}", s % sequences.len()) }])
            }
            Edit::AddBlock(s, t) if !sequences.is_empty() => {
                let s = s % sequences.len();
                let block = json!({ "id": fresh, "type": "message", "properties": { "text": format!("t{t}") } });
                json!([{ "op": "add", "path": format!("/sequences/{s}/blocks/{}", blocks(s)), "value": block }])
            }
            Edit::RemoveBlock(s, b) if !sequences.is_empty() && blocks(s % sequences.len()) > 0 => {
                let s = s % sequences.len();
                json!([{ "op": "remove", "path": format!("/sequences/{s}/blocks/{}", b % blocks(s)) }])
            }
            Edit::Retext(s, b, t) if !sequences.is_empty() && blocks(s % sequences.len()) > 0 => {
                let s = s % sequences.len();
                let path = format!("/sequences/{s}/blocks/{}/properties/text", b % blocks(s));
                json!([{ "op": "replace", "path": path, "value": format!("edited {t}") }])
            }
            Edit::MoveBlock(s, a, b) if !sequences.is_empty() && blocks(s % sequences.len()) > 1 => {
                let s = s % sequences.len();
                let n = blocks(s);
                json!([{ "op": "move", "from": format!("/sequences/{s}/blocks/{}", a % n), "path": format!("/sequences/{s}/blocks/{}", b % n) }])
            }
            Edit::Archive(on) => json!([{ "op": "replace", "path": "/is_archived", "value": on }]),
            _ => return None,
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn reverting_to_k_restores_exactly_the_state_after_k(edits in prop::collection::vec(edit(), 1..40), pick in any::<usize>()) {
            let schemas = Schemas::load(None).unwrap();
            let mut content = json!({ "title": "t", "sequences": [{ "id": "start", "title": "s", "blocks": [] }], "is_archived": false });
            let mut states = vec![content.clone()];
            let mut counter = 0;
            for edit in &edits {
                let Some(patch) = to_patch(edit, &content, &mut counter) else { continue };
                let change = Change {
                    kind: ChangeKind::Edit { patch: serde_json::from_value(patch).unwrap(), edit_type: None },
                    details: json!({}),
                    created: None,
                };
                let applied = change.apply(content.clone(), &schemas).unwrap();
                content = applied.content;
                states.push(content.clone());
            }
            let k = pick % states.len();
            let revert = Change {
                kind: ChangeKind::Revert { revision_id: format!("r{k}"), number: k as i64, target: states[k].clone() },
                details: json!({}),
                created: None,
            };
            let applied = revert.apply(content.clone(), &schemas).unwrap();
            prop_assert_eq!(&applied.content, &states[k]);
            // The stored patch, replayed on the state before the revert, gives the same result.
            let mut replayed = content.clone();
            json_patch::patch(&mut replayed, &applied.patch.unwrap()).unwrap();
            prop_assert_eq!(&replayed, &states[k]);
        }
    }
}
