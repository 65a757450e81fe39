//! Unit tests of the bounded JSON Patch application.

use serde_json::json;

use super::*;

fn patch(value: Value) -> Patch {
    parse_patch(value, 1000).unwrap()
}

fn bounded(max_size: usize, max_depth: usize) -> Bounds {
    Bounds { max_size, max_depth }
}

#[test]
fn malformed_patches_are_validation_errors() {
    assert_eq!(parse_patch(json!({ "op": "add" }), 10).unwrap_err().kind(), "validation_error");
    let Err(ApiError::Validation(errors)) = parse_patch(json!([{ "op": "frobnicate", "path": "/a" }]), 10) else {
        panic!("expected a validation error");
    };
    assert_eq!(errors[0].path, "/0");
    let three = Value::Array(vec![json!({ "op": "test", "path": "/a", "value": 1 }); 3]);
    assert!(parse_patch(three, 2).is_err());
}

#[test]
fn a_failed_test_leaves_the_document_untouched() {
    let mut document = json!({ "a": 1, "b": [1, 2] });
    let size = serialized_len(&document);
    let operations =
        patch(json!([{ "op": "replace", "path": "/a", "value": 2 }, { "op": "test", "path": "/b/0", "value": 9 }]));
    let Err(ApiError::PatchConflict { index, op, path, .. }) = apply(&mut document, size, &operations, Bounds::NONE)
    else {
        panic!("expected a patch conflict");
    };
    assert_eq!((index, op.as_str(), path.as_str()), (1, "test", "/b/0"));
    assert_eq!(document, json!({ "a": 1, "b": [1, 2] }));
}

#[test]
fn a_move_to_a_missing_parent_keeps_its_source() {
    // json_patch 5 drops `/a/b` here.
    let mut document = json!({ "a": { "b": 1 }, "c": 2 });
    let operations = patch(json!([{ "op": "move", "from": "/a/b", "path": "/x/y" }]));
    assert_eq!(apply(&mut document, 0, &operations, Bounds::NONE).unwrap_err().kind(), "patch_conflict");
    assert_eq!(document, json!({ "a": { "b": 1 }, "c": 2 }));
}

#[test]
fn a_move_onto_an_ancestor_is_undone_without_panicking() {
    // json_patch 5 panics undoing this (`unreachable!`), which would take a thread down.
    let mut document = json!({ "a": { "b": 1, "c": 2 } });
    let operations = patch(json!([
        { "op": "move", "from": "/a/b", "path": "/a" },
        { "op": "test", "path": "/x", "value": 1 }
    ]));
    assert_eq!(apply(&mut document, 0, &operations, Bounds::NONE).unwrap_err().kind(), "patch_conflict");
    assert_eq!(document, json!({ "a": { "b": 1, "c": 2 } }));
}

#[test]
fn a_copy_bomb_is_refused_before_it_grows() {
    let mut document = json!({ "value": { "a": "0123456789" } });
    let size = serialized_len(&document);
    let copies: Vec<Value> =
        (0..40).map(|k| json!({ "op": "copy", "from": "/value", "path": format!("/value/k{k}") })).collect();
    let error = apply(&mut document, size, &patch(Value::Array(copies)), bounded(1024 * 1024, 64)).unwrap_err();
    let ApiError::PayloadTooLarge { limit, size: Some(reached) } = error else { panic!("expected 413: {error:?}") };
    assert_eq!(limit, 1024 * 1024);
    assert!(reached > limit && reached <= 2 * limit + 64, "refused at the first copy past the limit: {reached}");
    assert_eq!(document, json!({ "value": { "a": "0123456789" } }), "nothing of it stays");
}

/// Operations that measure, clone or keep the document's own content are refused once a patch of
/// a thousand of them has worked over twice the size limit, and the document is as it was.
#[test]
fn a_patch_that_works_over_more_than_twice_the_size_limit_is_refused() {
    let big = || Value::Array(vec![json!(0); 20_000]); // 40 KB serialized
    let document = json!({ "a": big(), "b": big(), "deep": { "x": {} } });
    let limit = 100 * 1024;
    let size = serialized_len(&document);
    let costly = [
        // A copy measures and clones its source, and keeps what it replaces.
        patch(Value::Array(vec![json!({ "op": "copy", "from": "/a", "path": "/b" }); 1000])),
        // Deeper and back: the value is walked for its depth on the way down.
        patch(Value::Array(
            (0..500)
                .flat_map(|_| {
                    [
                        json!({ "op": "move", "from": "/a", "path": "/deep/x/a" }),
                        json!({ "op": "move", "from": "/deep/x/a", "path": "/a" }),
                    ]
                })
                .collect(),
        )),
    ];
    for operations in costly {
        let mut patched = document.clone();
        let error = apply(&mut patched, size, &operations, bounded(limit, 64)).unwrap_err();
        let ApiError::PatchTooCostly { index, limit: work } = error else { panic!("expected 413: {error:?}") };
        assert_eq!(work, 2 * limit);
        assert!(index < 12, "refused as soon as it passed the budget, not at operation {index}");
        assert_eq!(patched, document, "nothing of it stays");
    }
    // Removing and adding back comes from the patch's own values: the removals count, once.
    let mut patched = document.clone();
    let back_and_forth = patch(json!([
        { "op": "remove", "path": "/a" }, { "op": "add", "path": "/a", "value": [0] },
        { "op": "move", "from": "/b", "path": "/c" }, { "op": "move", "from": "/c", "path": "/b" },
        { "op": "test", "path": "/a", "value": [0] }
    ]));
    apply(&mut patched, size, &back_and_forth, bounded(limit, 64)).expect("well within the budget");
}

/// A document left larger than a lowered size limit can still be emptied by one patch: the
/// budget is twice the document then, not twice the limit.
#[test]
fn a_document_over_a_lowered_limit_can_be_emptied_by_one_patch() {
    let big = || Value::Array(vec![json!(0); 20_000]); // 40 KB serialized
    let mut document = json!({ "a": big(), "b": big(), "c": big() });
    let size = serialized_len(&document);
    let limit = 10 * 1024;
    let empty = patch(json!([
        { "op": "remove", "path": "/a" }, { "op": "remove", "path": "/b" }, { "op": "remove", "path": "/c" }
    ]));
    let after =
        apply(&mut document, size, &empty, bounded(limit, 64)).expect("removing all of it is within the budget");
    assert_eq!((document, after.size), (json!({}), 2));
}

#[test]
fn values_nested_too_deep_are_refused_wherever_they_land() {
    let deep = (0..10).fold(json!(1), |inner, _| json!([inner]));
    let mut document = json!({ "a": { "b": {} }, "deep": deep });
    let before = document.clone();
    for operation in [
        json!({ "op": "add", "path": "/a/b/c", "value": deep }),
        json!({ "op": "replace", "path": "/a/b", "value": [deep] }),
        json!({ "op": "copy", "from": "/deep", "path": "/a/b/c" }),
        json!({ "op": "move", "from": "/deep", "path": "/a/b/c" }),
    ] {
        let error = apply(&mut document, 0, &patch(json!([operation])), bounded(usize::MAX, 12)).unwrap_err();
        assert_eq!(error.kind(), "validation_error", "{operation}");
        assert_eq!(document, before);
    }
    // At the limit itself it fits.
    let fits = patch(json!([{ "op": "add", "path": "/a/x", "value": deep }]));
    assert!(apply(&mut document, 0, &fits, bounded(usize::MAX, 12)).is_ok());
}

#[test]
fn a_shrinking_patch_may_pass_through_a_document_at_the_limit() {
    let mut document = json!({ "a": "x".repeat(50) });
    let size = serialized_len(&document);
    let operations = patch(json!([
        { "op": "replace", "path": "/a", "value": "y" },
        { "op": "add", "path": "/b", "value": "z".repeat(40) }
    ]));
    let after = apply(&mut document, size, &operations, bounded(size, 64)).unwrap();
    assert_eq!(after.size, serialized_len(&document));
    after.revert(&mut document);
    assert_eq!(document, json!({ "a": "x".repeat(50) }), "reverted");
}
