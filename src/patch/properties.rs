//! Our application against `json_patch`'s on random documents and patches: the same result
//! whenever ours succeeds, a failure whenever theirs fails, the document untouched on every
//! failure, and the tracked size always exact.

use proptest::prelude::*;
use serde_json::json;

use super::*;

const KEYS: &[&str] = &["a", "b", "c", "~", "/"];
const TOKENS: &[&str] = &["a", "b", "c", "~0", "~1", "0", "1", "2", "-", "01"];

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![Just(json!(null)), (0..3i64).prop_map(Value::from), "[xy]{0,3}".prop_map(Value::from)];
    leaf.prop_recursive(3, 24, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map(prop::sample::select(KEYS), inner, 0..3)
                .prop_map(|fields| Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

fn path() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..4)
        .prop_map(|tokens| tokens.iter().map(|t| format!("/{t}")).collect())
}

fn operation() -> impl Strategy<Value = Value> {
    prop_oneof![
        (path(), value()).prop_map(|(path, value)| json!({ "op": "add", "path": path, "value": value })),
        path().prop_map(|path| json!({ "op": "remove", "path": path })),
        (path(), value()).prop_map(|(path, value)| json!({ "op": "replace", "path": path, "value": value })),
        (path(), path()).prop_map(|(from, path)| json!({ "op": "move", "from": from, "path": path })),
        (path(), path()).prop_map(|(from, path)| json!({ "op": "copy", "from": from, "path": path })),
        (path(), value()).prop_map(|(path, value)| json!({ "op": "test", "path": path, "value": value })),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn matches_json_patch_and_is_atomic(document in value(), operations in prop::collection::vec(operation(), 1..5)) {
        let operations: Patch = serde_json::from_value(Value::Array(operations)).unwrap();
        let mut ours = document.clone();
        let size = serialized_len(&ours);
        let result = apply(&mut ours, size, &operations, Bounds::NONE);
        let mut theirs = document.clone();
        let reference = std::panic::catch_unwind(move || json_patch::patch(&mut theirs, &operations).map(|()| theirs));
        match result {
            Ok(after) => {
                prop_assert_eq!(after.size, serialized_len(&ours), "tracked size");
                let mut reverted = ours.clone();
                after.revert(&mut reverted);
                prop_assert_eq!(&reverted, &document, "reverting restores the document");
                let theirs = reference.expect("json_patch does not panic on a patch that applies");
                prop_assert_eq!(Some(&ours), theirs.as_ref().ok());
            }
            Err(error) => {
                prop_assert_eq!(error.kind(), "patch_conflict");
                prop_assert_eq!(&ours, &document, "a failed patch changes nothing");
                prop_assert!(!matches!(reference, Ok(Ok(_))), "json_patch applied what we refused");
            }
        }
    }

    #[test]
    fn limits_hold_at_every_step(document in value(), operations in prop::collection::vec(operation(), 1..5), max_size in 1usize..200, max_depth in 1usize..5) {
        let operations: Patch = serde_json::from_value(Value::Array(operations)).unwrap();
        let mut ours = document.clone();
        let size = serialized_len(&ours);
        match apply(&mut ours, size, &operations, Bounds { max_size, max_depth }) {
            Ok(after) => {
                prop_assert_eq!(after.size, serialized_len(&ours));
                prop_assert!(after.size <= max_size.max(size));
            }
            Err(_) => prop_assert_eq!(&ours, &document),
        }
    }
}
