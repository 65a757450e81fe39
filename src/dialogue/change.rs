//! Changes to a dialogue and how each applies to its content: a pure module (no I/O). The
//! actor's write path and the tests run the same `Change::apply`, so the tests cover the code
//! that runs.

use json_patch::Patch;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ApiError;
use crate::limits::{Limits, serialized_len, too_large};
use crate::patch::{self, Bounds};
use crate::schema::Schemas;

/// What a client asked to change.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Change {
    /// What to do.
    pub kind: ChangeKind,
    /// The client's `details` object.
    pub details: Value,
    /// The client's `created` timestamp, if given.
    pub created: Option<i64>,
}

/// What a change needs to know besides the content: the schemas, the limits, and whether the
/// caller may archive.
#[derive(Clone, Copy)]
pub struct Rules<'a> {
    /// Validation of the result.
    pub schemas: &'a Schemas,
    /// Size and depth limits.
    pub limits: &'a Limits,
    /// Whether `is_archived` may change.
    pub may_archive: bool,
}

/// A change that applied: the patch as applied (what its revision stores), the content's new
/// serialized size, and how to take it back.
pub struct Applied {
    /// The patch as applied.
    pub patch: Patch,
    /// The content's serialized size after it.
    pub size: usize,
    undo: Undo,
}

enum Undo {
    /// An edit: its own undo log.
    Patch(patch::Applied),
    /// A replacement or revert: the content before it.
    Content(Value),
}

impl Applied {
    /// Takes the change back: `content` is again as it was before.
    pub fn revert(self, content: &mut Value) {
        match self.undo {
            Undo::Patch(applied) => applied.revert(content),
            Undo::Content(before) => *content = before,
        }
    }
}

impl Change {
    /// Applies the change to `content` (whose serialized size is `size`) in place, and checks
    /// the result: the dialogue schema, the size limit (`413`, also half-way through a patch),
    /// and the archive right (`403`). Returns `None` when nothing changed (a PUT of the same
    /// description, which stores no revision). On any error `content` is unchanged. This is
    /// the one way a change is ever applied, in production and in the tests alike.
    pub fn apply(&self, content: &mut Value, size: usize, rules: Rules<'_>) -> Result<Option<Applied>, ApiError> {
        let archived = content.get("is_archived").cloned();
        let applied = match &self.kind {
            ChangeKind::Edit { patch, .. } => {
                let bounds = Bounds { max_size: rules.limits.max_dialogue_bytes, max_depth: rules.limits.max_depth };
                let applied = patch::apply(content, size, patch, bounds)?;
                if let Err(error) = rules.schemas.validate_dialogue_after(content, patch) {
                    applied.revert(content);
                    return Err(error);
                }
                let stored = patch::with_appends_placed(patch, &applied.appended);
                Applied { patch: stored, size: applied.size, undo: Undo::Patch(applied) }
            }
            ChangeKind::Replace { content: replacement } | ChangeKind::Revert { target: replacement, .. } => {
                let patch = difference(content, replacement, rules.limits.max_patch_ops);
                if patch.is_empty() && matches!(self.kind, ChangeKind::Replace { .. }) {
                    return Ok(None);
                }
                let new_size = serialized_len(replacement);
                if new_size > rules.limits.max_dialogue_bytes && new_size > size {
                    return Err(too_large(rules.limits.max_dialogue_bytes, new_size));
                }
                rules.schemas.validate_dialogue(replacement)?;
                let before = std::mem::replace(content, replacement.clone());
                Applied { patch, size: new_size, undo: Undo::Content(before) }
            }
        };
        if !rules.may_archive && content.get("is_archived") != archived.as_ref() {
            applied.revert(content);
            return Err(ApiError::Forbidden("Archiving a dialogue needs project:admin".into()));
        }
        Ok(Some(applied))
    }

    /// `revert` or `edit`.
    pub fn revision_kind(&self) -> &'static str {
        match self.kind {
            ChangeKind::Revert { .. } => "revert",
            _ => "edit",
        }
    }
}

/// The patch a replacement (a PUT, a revert) is stored as: the difference operation by
/// operation, unless that takes more operations than a client's patch may have or more text
/// than the new description itself. Then each top-level member that changed is replaced
/// whole: otherwise a PUT of a few hundred kilobytes that flips every element of a long array
/// stores a revision of many megabytes, which every revision list then carries.
fn difference(before: &Value, after: &Value, max_ops: usize) -> Patch {
    let fine = json_patch::diff(before, after);
    if fine.len() <= max_ops && serialized_len(&fine) <= serialized_len(after) {
        return fine;
    }
    // A description is an object; anything else keeps the fine difference.
    let (Some(old), Some(new)) = (before.as_object(), after.as_object()) else { return fine };
    let at = |key: &str| json_patch::jsonptr::PointerBuf::from_tokens([key]);
    let mut operations = Vec::new();
    for key in old.keys().filter(|key| !new.contains_key(*key)) {
        operations.push(json_patch::PatchOperation::Remove(json_patch::RemoveOperation { path: at(key) }));
    }
    for (key, value) in new {
        match old.get(key) {
            Some(was) if was == value => {}
            Some(_) => operations.push(json_patch::PatchOperation::Replace(json_patch::ReplaceOperation {
                path: at(key),
                value: value.clone(),
            })),
            None => operations.push(json_patch::PatchOperation::Add(json_patch::AddOperation {
                path: at(key),
                value: value.clone(),
            })),
        }
    }
    Patch(operations)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schemas() -> Schemas {
        Schemas::load(None).unwrap()
    }

    fn rules(schemas: &Schemas) -> Rules<'_> {
        Rules { schemas, limits: &Limits::DEFAULT, may_archive: true }
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

    /// Applies a change to a fresh content; the content after it, or the error.
    fn applied(change: &Change, rules: Rules<'_>) -> Result<(Value, Option<Patch>), ApiError> {
        let mut content = content();
        let size = serialized_len(&content);
        let applied = change.apply(&mut content, size, rules)?;
        if let Some(applied) = &applied {
            assert_eq!(applied.size, serialized_len(&content), "the size is tracked");
        }
        Ok((content, applied.map(|a| a.patch)))
    }

    #[test]
    fn an_edit_applies_and_validates() {
        let schemas = schemas();
        let (after, patch) =
            applied(&edit(json!([{ "op": "replace", "path": "/title", "value": "U" }])), rules(&schemas)).unwrap();
        assert_eq!(after["title"], "U");
        assert!(patch.is_some());
        let invalid = applied(&edit(json!([{ "op": "replace", "path": "/title", "value": 3 }])), rules(&schemas));
        assert_eq!(invalid.unwrap_err().kind(), "validation_error");
        let conflict = applied(&edit(json!([{ "op": "remove", "path": "/nothing" }])), rules(&schemas));
        assert_eq!(conflict.unwrap_err().kind(), "patch_conflict");
    }

    #[test]
    fn a_refused_change_leaves_the_content_as_it_was() {
        let schemas = schemas();
        let refused = [
            edit(
                json!([{ "op": "replace", "path": "/title", "value": "U" }, { "op": "replace", "path": "/title", "value": 3 }]),
            ),
            edit(json!([{ "op": "replace", "path": "/is_archived", "value": true }])),
            Change { kind: ChangeKind::Replace { content: json!({ "title": 1 }) }, details: json!({}), created: None },
        ];
        for change in refused {
            let mut content = content();
            let size = serialized_len(&content);
            let rules = Rules { may_archive: false, ..rules(&schemas) };
            assert!(change.apply(&mut content, size, rules).is_err());
            assert_eq!(content, self::content());
        }
    }

    #[test]
    fn a_dialogue_may_not_outgrow_its_limit() {
        let schemas = schemas();
        let limits = Limits { max_dialogue_bytes: 200, ..Limits::DEFAULT };
        let rules = Rules { limits: &limits, ..rules(&schemas) };
        let long = edit(json!([{ "op": "replace", "path": "/title", "value": "x".repeat(300) }]));
        assert_eq!(applied(&long, rules).unwrap_err().kind(), "payload_too_large");
        let mut big = content();
        big["title"] = json!("y".repeat(300));
        let replace = Change { kind: ChangeKind::Replace { content: big }, details: json!({}), created: None };
        assert_eq!(applied(&replace, rules).unwrap_err().kind(), "payload_too_large");
    }

    #[test]
    fn a_replacement_is_stored_operation_by_operation_unless_that_is_larger_than_replacing_members() {
        let values = |flip: u64| Value::Array((0..3000u64).map(|i| json!((i + flip) % 2)).collect());
        let description =
            |flip| json!({ "title": "T", "sequences": [{ "id": "s", "values": values(flip) }], "is_archived": false });
        let (before, flipped) = (description(0), description(1));
        let coarse = difference(&before, &flipped, Limits::DEFAULT.max_patch_ops);
        assert_eq!(
            serde_json::to_value(&coarse).unwrap(),
            json!([{ "op": "replace", "path": "/sequences", "value": flipped["sequences"] }])
        );
        let mut replayed = before.clone();
        json_patch::patch(&mut replayed, &coarse).unwrap();
        assert_eq!(replayed, flipped);

        let mut retitled = flipped.clone();
        retitled["title"] = json!("U");
        retitled["extra"] = json!(1);
        let fine = difference(&flipped, &retitled, Limits::DEFAULT.max_patch_ops);
        assert_eq!(
            serde_json::to_value(&fine).unwrap(),
            json!([{ "op": "replace", "path": "/title", "value": "U" }, { "op": "add", "path": "/extra", "value": 1 }])
        );
        let mut removed = before.clone();
        removed.as_object_mut().unwrap().remove("is_archived");
        removed["sequences"] = flipped["sequences"].clone();
        let patch = serde_json::to_value(difference(&before, &removed, Limits::DEFAULT.max_patch_ops)).unwrap();
        assert_eq!(patch[0], json!({ "op": "remove", "path": "/is_archived" }), "{patch}");
        assert_eq!(patch.as_array().unwrap().len(), 2);
    }

    #[test]
    fn a_replace_stores_the_difference_or_nothing() {
        let schemas = schemas();
        let same = Change { kind: ChangeKind::Replace { content: content() }, details: json!({}), created: None };
        assert!(applied(&same, rules(&schemas)).unwrap().1.is_none());
        let mut renamed = content();
        renamed["title"] = json!("New");
        let change =
            Change { kind: ChangeKind::Replace { content: renamed.clone() }, details: json!({}), created: None };
        let (after, patch) = applied(&change, rules(&schemas)).unwrap();
        assert_eq!(after, renamed);
        let mut replayed = content();
        patch::replay(&mut replayed, &patch.unwrap()).unwrap();
        assert_eq!(replayed, renamed);
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
            let rules = Rules { schemas: &schemas, limits: &Limits::DEFAULT, may_archive: true };
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
                let size = serialized_len(&content);
                change.apply(&mut content, size, rules).unwrap();
                states.push(content.clone());
            }
            let k = pick % states.len();
            let revert = Change {
                kind: ChangeKind::Revert { revision_id: format!("r{k}"), number: k as i64, target: states[k].clone() },
                details: json!({}),
                created: None,
            };
            let before = content.clone();
            let size = serialized_len(&content);
            let applied = revert.apply(&mut content, size, rules).unwrap().unwrap();
            prop_assert_eq!(&content, &states[k]);
            // The stored patch, replayed on the state before the revert, gives the same result.
            let mut replayed = before;
            patch::replay(&mut replayed, &applied.patch).unwrap();
            prop_assert_eq!(&replayed, &states[k]);
        }
    }
}
