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
                let kind = block.get("type").and_then(Value::as_str).unwrap_or_default();
                let Some(block_type) = self.block_types.get(kind) else {
                    errors.push(FieldError::new(
                        "blockType",
                        format!("{at}/type"),
                        format!("'{kind}' is not a registered block type (see GET /block-types/)"),
                    ));
                    continue;
                };
                let empty = Value::Object(serde_json::Map::new());
                let properties = block.get("properties").unwrap_or(&empty);
                let prefix = format!("{at}/properties");
                let property_errors = field_errors(&block_type.validator, properties, &prefix);
                let sound = property_errors.is_empty();
                errors.extend(property_errors);
                if !sound {
                    continue;
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
            }
        }
        errors
    }
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
    fn structure_problems_come_first() {
        let errors = errors_of(json!({ "title": "x", "sequences": [{ "id": "Bad Id", "title": "t", "blocks": [] }] }));
        assert_eq!(errors, vec![("pattern".into(), "/sequences/0/id".into())]);
        let errors = errors_of(json!({ "sequences": [] }));
        assert_eq!(errors, vec![("required".into(), "/title".into())]);
    }
}
