//! Whole-dialogue validation: the dialogue schema, then each block's `properties` against its
//! block type, unique ids, and sequence references that must name a sequence of the dialogue.

use std::collections::HashSet;

use serde_json::Value;

use super::{Schemas, block_types::matching_values, field_errors};
use crate::error::{ApiError, FieldError};

impl Schemas {
    /// Validates a full dialogue description (as stored: `title`, `sequences`, `is_archived`).
    pub fn validate_dialogue(&self, dialogue: &Value) -> Result<(), ApiError> {
        let errors = self.dialogue_errors(dialogue);
        if errors.is_empty() { Ok(()) } else { Err(ApiError::Validation(errors)) }
    }

    /// Every problem of a dialogue description.
    pub fn dialogue_errors(&self, dialogue: &Value) -> Vec<FieldError> {
        let Some(compiled) = self.compiled.get("dialogue") else {
            return vec![FieldError::new("schema", "", "the dialogue schema is not loaded")];
        };
        let errors = field_errors(&compiled.validator, dialogue, "");
        if !errors.is_empty() {
            // Block-level checks assume the structure is sound.
            return errors;
        }
        self.content_errors(dialogue)
    }

    fn content_errors(&self, dialogue: &Value) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let sequences = dialogue.get("sequences").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        let mut sequence_ids = HashSet::new();
        for (s, sequence) in sequences.iter().enumerate() {
            let id = sequence.get("id").and_then(Value::as_str).unwrap_or_default();
            if !sequence_ids.insert(id) {
                errors.push(FieldError::new(
                    "unique",
                    format!("/sequences/{s}/id"),
                    format!("Sequence id '{id}' is used twice"),
                ));
            }
        }
        for (s, sequence) in sequences.iter().enumerate() {
            let blocks = sequence.get("blocks").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
            let mut block_ids = HashSet::new();
            for (b, block) in blocks.iter().enumerate() {
                let at = format!("/sequences/{s}/blocks/{b}");
                let id = block.get("id").and_then(Value::as_str).unwrap_or_default();
                if !block_ids.insert(id) {
                    errors.push(FieldError::new(
                        "unique",
                        format!("{at}/id"),
                        format!("Block id '{id}' is used twice in this sequence"),
                    ));
                }
                errors.extend(self.block_errors(block, &at, &sequence_ids));
            }
        }
        errors
    }

    /// A block's type, its properties against the type's schema, and its sequence references.
    fn block_errors(&self, block: &Value, at: &str, sequence_ids: &HashSet<&str>) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let kind = block.get("type").and_then(Value::as_str).unwrap_or_default();
        let Some(block_type) = self.block_types.get(kind) else {
            errors.push(FieldError::new(
                "blockType",
                format!("{at}/type"),
                format!("'{kind}' is not a registered block type (see GET /block-types/)"),
            ));
            return errors;
        };
        let empty = Value::Object(serde_json::Map::new());
        let properties = block.get("properties").unwrap_or(&empty);
        let prefix = format!("{at}/properties");
        errors.extend(field_errors(&block_type.validator, properties, &prefix));
        if !errors.is_empty() {
            return errors;
        }
        for pattern in &block_type.sequence_references {
            for (path, value) in matching_values(properties, pattern) {
                let Some(target) = value.as_str() else { continue };
                if !sequence_ids.contains(target) {
                    errors.push(FieldError::new(
                        "reference",
                        format!("{prefix}{path}"),
                        format!("No sequence with id '{target}' exists in this dialogue"),
                    ));
                }
            }
        }
        errors
    }

    /// Validates a dialogue that `patch` just changed. When every operation stays inside blocks'
    /// `properties` or `title` (so no id, type, sequence or structure changed), only those
    /// blocks are checked; otherwise the whole dialogue is. Same verdict, far less work for the
    /// small edits editors make all the time.
    ///
    /// A patch whose one change (besides `test`s) adds, replaces, moves or copies a whole block,
    /// removes one, or sets the dialogue's `title` or `is_archived`, is checked where it landed
    /// when that proves the dialogue sound; anything else (and any problem found, so that the
    /// errors are exactly those of a full check) falls back to checking the whole dialogue.
    pub fn validate_dialogue_after(&self, dialogue: &Value, patch: &json_patch::Patch) -> Result<(), ApiError> {
        let Some(blocks) = touched_blocks(patch) else {
            if self.sound_after_structural_change(dialogue, patch) {
                return Ok(());
            }
            return self.validate_dialogue(dialogue);
        };
        let Some(block_schema) = self.compiled.get("block") else {
            return self.validate_dialogue(dialogue);
        };
        let sequences = dialogue.get("sequences").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        let sequence_ids: HashSet<&str> =
            sequences.iter().filter_map(|s| s.get("id").and_then(Value::as_str)).collect();
        let mut errors = Vec::new();
        for (s, b) in blocks {
            let Some(block) = sequences.get(s).and_then(|seq| seq.get("blocks")).and_then(|bs| bs.get(b)) else {
                return self.validate_dialogue(dialogue);
            };
            let at = format!("/sequences/{s}/blocks/{b}");
            let structural = field_errors(&block_schema.validator, block, &at);
            if structural.is_empty() {
                errors.extend(self.block_errors(block, &at, &sequence_ids));
            } else {
                errors.extend(structural);
            }
        }
        if errors.is_empty() { Ok(()) } else { Err(ApiError::Validation(errors)) }
    }
}

impl Schemas {
    /// Whether `dialogue`, sound before `patch`, is provably sound after it, checking only what
    /// the patch's one structural change touched. `false` means "check it all", not "invalid".
    fn sound_after_structural_change(&self, dialogue: &Value, patch: &json_patch::Patch) -> bool {
        use json_patch::PatchOperation as Op;
        let mut changes = patch.iter().filter(|op| !matches!(op, Op::Test(_)));
        let (Some(change), None) = (changes.next(), changes.next()) else { return false };
        match change {
            Op::Remove(op) => block_position(op.path.as_str()).is_some() || op.path.as_str() == "/is_archived",
            Op::Add(_) | Op::Replace(_) if top_level_field(change.path().as_str()) => self.sound_top_level(dialogue),
            Op::Add(_) | Op::Replace(_) => self.sound_block_at(dialogue, change.path().as_str()),
            Op::Move(op) => match (block_position(op.from.as_str()), block_position(op.path.as_str())) {
                (Some((from, _)), Some((to, _))) if from == to => true,
                (Some(_), Some(_)) => self.sound_block_at(dialogue, op.path.as_str()),
                _ => false,
            },
            Op::Copy(op) => {
                block_position(op.from.as_str()).is_some() && self.sound_block_at(dialogue, op.path.as_str())
            }
            Op::Test(_) => true,
        }
    }

    /// The dialogue's `title` and `is_archived` are as the dialogue schema wants them.
    fn sound_top_level(&self, dialogue: &Value) -> bool {
        let title_ok = dialogue.get("title").and_then(Value::as_str).is_some_and(|t| t.chars().count() <= MAX_TITLE);
        let archived_ok = dialogue.get("is_archived").is_none_or(Value::is_boolean);
        title_ok && archived_ok
    }

    /// The whole block at `path` (`/sequences/s/blocks/b`, `b` possibly `-`) is sound, its id
    /// is unique in its sequence, and the sequence is not over its size.
    fn sound_block_at(&self, dialogue: &Value, path: &str) -> bool {
        let Some((s, b)) = block_position(path) else { return false };
        let Some(block_schema) = self.compiled.get("block") else { return false };
        let sequences = dialogue.get("sequences").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        let Some(blocks) = sequences.get(s).and_then(|seq| seq.get("blocks")).and_then(Value::as_array) else {
            return false;
        };
        let index = match b {
            Some(b) => b,
            None => blocks.len().saturating_sub(1),
        };
        let Some(block) = blocks.get(index) else { return false };
        if blocks.len() > MAX_BLOCKS {
            return false;
        }
        let id = block.get("id").and_then(Value::as_str);
        if blocks.iter().filter(|other| other.get("id").and_then(Value::as_str) == id).count() != 1 {
            return false;
        }
        let at = format!("/sequences/{s}/blocks/{index}");
        if !field_errors(&block_schema.validator, block, &at).is_empty() {
            return false;
        }
        let sequence_ids: HashSet<&str> =
            sequences.iter().filter_map(|s| s.get("id").and_then(Value::as_str)).collect();
        self.block_errors(block, &at, &sequence_ids).is_empty()
    }
}

/// `maxLength` of the dialogue's `title` in `schemas/dialogue.json`.
const MAX_TITLE: usize = 500;
/// `maxItems` of a sequence's `blocks` in `schemas/sequence.json`.
const MAX_BLOCKS: usize = 1000;

/// Whether `path` is the dialogue's `title` or `is_archived`.
fn top_level_field(path: &str) -> bool {
    matches!(path, "/title" | "/is_archived")
}

/// The sequence and block of a path naming a whole block: `/sequences/s/blocks/b` (`None` for
/// `b` = `-`, the end).
fn block_position(path: &str) -> Option<(usize, Option<usize>)> {
    let tokens: Vec<&str> = path.split('/').skip(1).collect();
    let ["sequences", s, "blocks", b] = tokens.as_slice() else { return None };
    let b = if *b == "-" { None } else { Some(b.parse().ok()?) };
    Some((s.parse().ok()?, b))
}

/// The blocks a patch changes, when it changes nothing but their `properties` or `title`.
fn touched_blocks(patch: &json_patch::Patch) -> Option<Vec<(usize, usize)>> {
    let mut blocks = Vec::new();
    for operation in patch.iter() {
        let mut paths = vec![operation.path().as_str()];
        match operation {
            json_patch::PatchOperation::Move(op) => paths.push(op.from.as_str()),
            json_patch::PatchOperation::Copy(op) => paths.push(op.from.as_str()),
            _ => {}
        }
        for path in paths {
            let tokens: Vec<&str> = path.split('/').skip(1).collect();
            let [first, s, third, b, field, ..] = tokens.as_slice() else { return None };
            if *first != "sequences" || *third != "blocks" || !matches!(*field, "properties" | "title") {
                return None;
            }
            let position = (s.parse().ok()?, b.parse().ok()?);
            if !blocks.contains(&position) {
                blocks.push(position);
            }
        }
    }
    Some(blocks)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn errors_of(dialogue: Value) -> Vec<(String, String)> {
        let schemas = Schemas::load(None).unwrap();
        schemas.dialogue_errors(&dialogue).into_iter().map(|e| (e.kind, e.path)).collect()
    }

    fn with_blocks(blocks: Value) -> Value {
        json!({
            "title": "Survey",
            "sequences": [
                { "id": "start", "title": "Start", "blocks": blocks },
                { "id": "yes", "title": "Yes", "blocks": [] }
            ]
        })
    }

    #[test]
    fn a_sound_dialogue_passes() {
        let dialogue = with_blocks(json!([
            { "id": "hello", "type": "message", "properties": { "text": "Hi" } },
            { "id": "ask", "type": "choice", "properties": { "question": "Ok?", "choices": [{ "label": "Yes", "next": "yes" }] } },
            { "id": "bye", "type": "end" }
        ]));
        assert_eq!(errors_of(dialogue), vec![]);
    }

    #[test]
    fn block_problems_point_into_the_dialogue() {
        let dialogue = with_blocks(json!([
            { "id": "a", "type": "teleport" },
            { "id": "b", "type": "message", "properties": { "text": 5 } },
            { "id": "c", "type": "choice", "properties": { "question": "?", "choices": [
                { "label": "1", "next": "yes" }, { "label": "2", "next": "nowhere" }
            ] } },
            { "id": "c", "type": "end" }
        ]));
        let errors = errors_of(dialogue);
        assert!(errors.contains(&("blockType".into(), "/sequences/0/blocks/0/type".into())), "{errors:?}");
        assert!(errors.contains(&("type".into(), "/sequences/0/blocks/1/properties/text".into())), "{errors:?}");
        assert!(
            errors.contains(&("reference".into(), "/sequences/0/blocks/2/properties/choices/1/next".into())),
            "{errors:?}"
        );
        assert!(errors.contains(&("unique".into(), "/sequences/0/blocks/3/id".into())), "{errors:?}");
    }

    #[test]
    fn block_local_edits_are_checked_locally_with_the_same_verdict() {
        let schemas = Schemas::load(None).unwrap();
        let dialogue = with_blocks(json!([
            { "id": "ask", "type": "choice", "properties": { "question": "Ok?", "choices": [{ "label": "Yes", "next": "yes" }] } }
        ]));
        let cases = [
            (json!([{ "op": "replace", "path": "/sequences/0/blocks/0/properties/question", "value": "Sure?" }]), true),
            (json!([{ "op": "replace", "path": "/sequences/0/blocks/0/properties/question", "value": 5 }]), false),
            (
                json!([{ "op": "replace", "path": "/sequences/0/blocks/0/properties/choices/0/next", "value": "nowhere" }]),
                false,
            ),
            (json!([{ "op": "add", "path": "/sequences/0/blocks/0/title", "value": "A title" }]), true),
            (json!([{ "op": "replace", "path": "/sequences/0/blocks/0/type", "value": "teleport" }]), false),
            (json!([{ "op": "replace", "path": "/sequences/0/id", "value": "Bad" }]), false),
        ];
        for (patch_value, valid) in cases {
            let patch: json_patch::Patch = serde_json::from_value(patch_value.clone()).unwrap();
            let mut changed = dialogue.clone();
            json_patch::patch(&mut changed, &patch).unwrap();
            let local = schemas.validate_dialogue_after(&changed, &patch);
            let full = schemas.validate_dialogue(&changed);
            assert_eq!(local.is_ok(), valid, "{patch_value}");
            assert_eq!(full.is_ok(), valid, "{patch_value}");
            if let (Err(ApiError::Validation(a)), Err(ApiError::Validation(b))) = (local, full) {
                assert_eq!(a, b, "same errors either way for {patch_value}");
            }
        }
        assert!(
            touched_blocks(
                &serde_json::from_value(json!([{ "op": "remove", "path": "/sequences/0/blocks/0" }])).unwrap()
            )
            .is_none()
        );
    }

    #[test]
    fn whole_block_changes_are_checked_where_they_land_with_the_same_verdict() {
        let schemas = Schemas::load(None).unwrap();
        let dialogue = json!({
            "title": "Survey",
            "sequences": [
                { "id": "start", "title": "Start", "blocks": [
                    { "id": "hello", "type": "message", "properties": { "text": "Hi" } },
                    { "id": "ask", "type": "choice", "properties": { "question": "Ok?", "choices": [{ "label": "Yes", "next": "yes" }] } }
                ] },
                { "id": "yes", "title": "Yes", "blocks": [{ "id": "hello", "type": "end" }] }
            ]
        });
        let good = json!({ "id": "more", "type": "message", "properties": { "text": "More" } });
        let long_title = "t".repeat(501);
        let patches = [
            json!([{ "op": "remove", "path": "/sequences/0/blocks/0" }]),
            json!([{ "op": "add", "path": "/sequences/0/blocks/1", "value": good }]),
            json!([{ "op": "add", "path": "/sequences/0/blocks/-", "value": good }]),
            json!([{ "op": "add", "path": "/sequences/0/blocks/0", "value": { "id": "ask", "type": "end" } }]),
            json!([{ "op": "add", "path": "/sequences/0/blocks/0", "value": { "id": "x", "type": "teleport" } }]),
            json!([{ "op": "add", "path": "/sequences/0/blocks/0", "value": { "id": "Bad Id", "type": "end" } }]),
            json!([{ "op": "add", "path": "/sequences/0/blocks/0", "value": { "id": "x", "type": "choice", "properties": { "question": "?", "choices": [{ "label": "a", "next": "nowhere" }] } } }]),
            json!([{ "op": "replace", "path": "/sequences/0/blocks/1", "value": good }]),
            json!([{ "op": "replace", "path": "/sequences/0/blocks/1", "value": { "id": "hello", "type": "end" } }]),
            json!([{ "op": "move", "from": "/sequences/0/blocks/0", "path": "/sequences/0/blocks/1" }]),
            json!([{ "op": "move", "from": "/sequences/0/blocks/1", "path": "/sequences/1/blocks/0" }]),
            json!([{ "op": "move", "from": "/sequences/0/blocks/0", "path": "/sequences/1/blocks/-" }]),
            json!([{ "op": "copy", "from": "/sequences/0/blocks/1", "path": "/sequences/1/blocks/0" }]),
            json!([{ "op": "copy", "from": "/sequences/0/blocks/1", "path": "/sequences/0/blocks/0" }]),
            json!([{ "op": "test", "path": "/title", "value": "Survey" }, { "op": "remove", "path": "/sequences/1/blocks/0" }]),
            json!([{ "op": "replace", "path": "/title", "value": "Renamed" }]),
            json!([{ "op": "replace", "path": "/title", "value": long_title }]),
            json!([{ "op": "replace", "path": "/title", "value": 5 }]),
            json!([{ "op": "add", "path": "/is_archived", "value": true }]),
            json!([{ "op": "add", "path": "/is_archived", "value": "yes" }]),
            json!([{ "op": "remove", "path": "/title" }]),
            json!([{ "op": "remove", "path": "/sequences/1" }]),
        ];
        let mut fast = 0;
        for patch_value in patches {
            let patch: json_patch::Patch = serde_json::from_value(patch_value.clone()).unwrap();
            let mut changed = dialogue.clone();
            json_patch::patch(&mut changed, &patch).unwrap();
            let full = schemas.validate_dialogue(&changed);
            let after = schemas.validate_dialogue_after(&changed, &patch);
            if schemas.sound_after_structural_change(&changed, &patch) {
                fast += 1;
                assert!(full.is_ok(), "proved sound but is not: {patch_value}");
            }
            match (after, full) {
                (Ok(()), Ok(())) => {}
                (Err(ApiError::Validation(a)), Err(ApiError::Validation(b))) => assert_eq!(a, b, "{patch_value}"),
                (after, full) => panic!("{patch_value}: {after:?} but in full {full:?}"),
            }
        }
        assert_eq!(fast, 10, "the sound structural changes are proved without a full check");
    }

    #[test]
    fn the_limits_checked_locally_are_the_schemas() {
        let dialogue: Value = serde_json::from_str(include_str!("../../schemas/dialogue.json")).unwrap();
        assert_eq!(dialogue["properties"]["title"]["maxLength"], json!(MAX_TITLE));
        let sequence: Value = serde_json::from_str(include_str!("../../schemas/sequence.json")).unwrap();
        assert_eq!(sequence["properties"]["blocks"]["maxItems"], json!(MAX_BLOCKS));
    }

    #[test]
    fn structure_problems_come_first() {
        let errors = errors_of(json!({ "title": "x", "sequences": [{ "id": "Bad Id", "title": "t", "blocks": [] }] }));
        assert_eq!(errors, vec![("pattern".into(), "/sequences/0/id".into())]);
        let errors = errors_of(json!({ "sequences": [] }));
        assert_eq!(errors, vec![("required".into(), "/title".into())]);
    }
}
