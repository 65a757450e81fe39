//! JSON Patch (RFC 6902): parsing client patches with limits, and applying them atomically with
//! the contract's `patch_conflict` error when an operation cannot apply.

use json_patch::{Patch, PatchOperation};
use serde_json::Value;

use crate::error::{ApiError, FieldError};

/// Most operations one patch may carry (the live protocol's limit, applied to REST too).
pub const MAX_OPERATIONS: usize = 1000;

/// Parses a JSON Patch document; a body that is not a list of RFC 6902 operations is a `422`.
pub fn parse_patch(value: Value, max_operations: usize) -> Result<Patch, ApiError> {
    let Value::Array(operations) = value else {
        return Err(ApiError::invalid("type", "", "A JSON Patch must be an array of operations"));
    };
    if operations.len() > max_operations {
        return Err(ApiError::invalid(
            "maxItems",
            "",
            format!("A patch may have at most {max_operations} operations, this one has {}", operations.len()),
        ));
    }
    let mut parsed = Vec::with_capacity(operations.len());
    let mut errors = Vec::new();
    for (index, operation) in operations.into_iter().enumerate() {
        match serde_json::from_value::<PatchOperation>(operation) {
            Ok(operation) => parsed.push(operation),
            Err(error) => errors.push(FieldError::new(
                "patch",
                format!("/{index}"),
                format!("Not a valid JSON Patch operation: {error}"),
            )),
        }
    }
    if errors.is_empty() { Ok(Patch(parsed)) } else { Err(ApiError::Validation(errors)) }
}

/// Applies `patch` to `document` as a whole: on failure `document` is unchanged and the error
/// names the failing operation.
pub fn apply(document: &mut Value, patch: &Patch) -> Result<(), ApiError> {
    json_patch::patch(document, patch).map_err(|error| {
        let op = patch.get(error.operation).map(operation_name).unwrap_or("unknown");
        ApiError::PatchConflict {
            index: error.operation,
            op: op.to_owned(),
            path: error.path.as_str().to_owned(),
            reason: error.kind.to_string(),
        }
    })
}

/// The `op` name of an operation.
pub fn operation_name(operation: &PatchOperation) -> &'static str {
    match operation {
        PatchOperation::Add(_) => "add",
        PatchOperation::Remove(_) => "remove",
        PatchOperation::Replace(_) => "replace",
        PatchOperation::Move(_) => "move",
        PatchOperation::Copy(_) => "copy",
        PatchOperation::Test(_) => "test",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn malformed_patches_are_validation_errors() {
        assert_eq!(parse_patch(json!({ "op": "add" }), 10).unwrap_err().kind(), "validation_error");
        let Err(ApiError::Validation(errors)) = parse_patch(json!([{ "op": "frobnicate", "path": "/a" }]), 10) else {
            panic!("expected a validation error");
        };
        assert_eq!(errors[0].path, "/0");
        let three = serde_json::Value::Array(vec![json!({ "op": "test", "path": "/a", "value": 1 }); 3]);
        assert!(parse_patch(three, 2).is_err());
    }

    #[test]
    fn failed_test_leaves_the_document_untouched() {
        let mut document = json!({ "a": 1, "b": [1, 2] });
        let patch = parse_patch(
            json!([{ "op": "replace", "path": "/a", "value": 2 }, { "op": "test", "path": "/b/0", "value": 9 }]),
            10,
        )
        .unwrap();
        let Err(ApiError::PatchConflict { index, op, path, .. }) = apply(&mut document, &patch) else {
            panic!("expected a patch conflict");
        };
        assert_eq!((index, op.as_str(), path.as_str()), (1, "test", "/b/0"));
        assert_eq!(document, json!({ "a": 1, "b": [1, 2] }));
    }
}
