//! Rebasing a JSON Patch made against an older revision over the patches applied since.
//!
//! Array indices in the client's patch are shifted past the inserts and removals made since in
//! the same array. When a change since then touched the same location as the client's
//! operation, a parent of it, or a child of it, the rebase refuses with a conflict: nothing is
//! ever silently overwritten. Pure: no I/O, no state; unit- and property-tested below.
//!
//! A path token that is a number (or `-`) is taken as an array index: the dialogue schema has no
//! object whose keys are numbers where editors address them.

use json_patch::jsonptr::PointerBuf;
use json_patch::{
    AddOperation, CopyOperation, MoveOperation, Patch, PatchOperation, RemoveOperation, ReplaceOperation, TestOperation,
};

/// Why a patch cannot be rebased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebaseConflict {
    /// The client's operation that collided.
    pub operation: usize,
    /// The path it addressed (before rebasing).
    pub path: String,
}

/// What a stored patch did, parsed once: revisions keep theirs, so rebasing over them never
/// re-reads a JSON Pointer.
#[derive(Debug, Clone, Default)]
pub struct Effects(Vec<Effect>);

impl Effects {
    /// The effects of `patch`, in order.
    pub fn of(patch: &Patch) -> Self {
        Self(patch.iter().flat_map(effects).collect())
    }

    /// How many there are: rebasing one operation over them takes a step for each.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the patch changed nothing (only `test` operations).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Rebases `patch` over `since` (the patches applied after the client's base, oldest first).
pub fn rebase_patch(patch: &Patch, since: &[&Patch]) -> Result<Patch, RebaseConflict> {
    let effects: Vec<Effects> = since.iter().map(|applied| Effects::of(applied)).collect();
    let effects: Vec<&Effects> = effects.iter().collect();
    rebase_over(patch, &effects)
}

/// Rebases `patch` over the effects of the patches applied since its base, oldest first.
pub fn rebase_over(patch: &Patch, since: &[&Effects]) -> Result<Patch, RebaseConflict> {
    let mut rebased = Vec::with_capacity(patch.len());
    for (index, operation) in patch.iter().enumerate() {
        let conflict = || RebaseConflict { operation: index, path: operation.path().as_str().to_owned() };
        let inserting = matches!(operation, PatchOperation::Add(_) | PatchOperation::Move(_) | PatchOperation::Copy(_));
        let mut path = tokens(operation.path().as_str());
        let mut from = match operation {
            PatchOperation::Move(op) => Some(tokens(op.from.as_str())),
            PatchOperation::Copy(op) => Some(tokens(op.from.as_str())),
            _ => None,
        };
        for effect in since.iter().flat_map(|effects| effects.0.iter()) {
            shift(&mut path, effect, inserting).map_err(|()| conflict())?;
            if let Some(from) = from.as_mut() {
                shift(from, effect, false).map_err(|()| conflict())?;
            }
        }
        rebased.push(rebuild(operation, &path, from.as_deref()));
    }
    Ok(Patch(rebased))
}

/// A path as tokens.
type Tokens = Vec<String>;

fn tokens(path: &str) -> Tokens {
    if path.is_empty() {
        return Vec::new();
    }
    path.split('/')
        .skip(1)
        .map(|t| if t.contains('~') { t.replace("~1", "/").replace("~0", "~") } else { t.to_owned() })
        .collect()
}

fn pointer(tokens: &[String]) -> PointerBuf {
    PointerBuf::from_tokens(tokens.iter().map(String::as_str))
}

fn index_of(token: &str) -> Option<usize> {
    if token.is_empty() || (token.len() > 1 && token.starts_with('0')) {
        return None;
    }
    token.parse().ok()
}

/// What one of "their" operations did to the document, as seen by a later operation.
#[derive(Debug, Clone)]
enum Effect {
    /// An element was inserted into the array at `parent` at `index`.
    Inserted { parent: Tokens, index: usize },
    /// The element at `index` of the array at `parent` was removed.
    Removed { parent: Tokens, index: usize },
    /// The value at the path was written or removed (no index shifting).
    Touched(Tokens),
}

/// The effects of their operation, in order (a move is a removal then an insertion).
fn effects(theirs: &PatchOperation) -> Vec<Effect> {
    let at = |path: &str, inserted: bool| {
        let mut t = tokens(path);
        match t.last().map(String::as_str) {
            // An append stored as `…/-` (before appends were stored where they landed)
            // shifts nothing; it touches only the new element.
            Some("-") if inserted => Effect::Touched(t),
            Some(last) if index_of(last).is_some() => {
                let index = index_of(last).unwrap_or_default();
                t.pop();
                if inserted { Effect::Inserted { parent: t, index } } else { Effect::Removed { parent: t, index } }
            }
            _ => Effect::Touched(t),
        }
    };
    match theirs {
        PatchOperation::Test(_) => Vec::new(),
        PatchOperation::Add(op) => vec![at(op.path.as_str(), true)],
        PatchOperation::Remove(op) => vec![at(op.path.as_str(), false)],
        PatchOperation::Replace(op) => vec![Effect::Touched(tokens(op.path.as_str()))],
        PatchOperation::Move(op) => {
            vec![at(op.from.as_str(), false), at(op.path.as_str(), true)]
        }
        PatchOperation::Copy(op) => vec![at(op.path.as_str(), true)],
    }
}

fn is_prefix(prefix: &[String], path: &[String]) -> bool {
    prefix.len() <= path.len() && prefix.iter().zip(path).all(|(a, b)| a == b)
}

/// Moves one path of ours past one effect of theirs, in place. `inserting` is true for the
/// target of an add/copy/move of ours, which may sit at the very index where they inserted or
/// removed.
fn shift(path: &mut Tokens, effect: &Effect, inserting: bool) -> Result<(), ()> {
    match effect {
        Effect::Touched(theirs) => {
            if theirs.last().map(String::as_str) == Some("-") {
                // They appended to an array: only our writes to the whole array collide.
                let array = &theirs[..theirs.len() - 1];
                return if path.as_slice() == array { Err(()) } else { Ok(()) };
            }
            if is_prefix(theirs, path) || is_prefix(path, theirs) { Err(()) } else { Ok(()) }
        }
        Effect::Inserted { parent, index } | Effect::Removed { parent, index } => {
            let inserted = matches!(effect, Effect::Inserted { .. });
            if path.len() <= parent.len() {
                // We address the array itself or one of its ancestors: they changed inside it.
                return if is_prefix(path, parent) { Err(()) } else { Ok(()) };
            }
            if !is_prefix(parent, path) {
                return Ok(());
            }
            let Some(ours) = index_of(&path[parent.len()]) else {
                // `-` (append) or a key: unaffected by index shifts.
                return Ok(());
            };
            let is_target = path.len() == parent.len() + 1;
            let moved = if inserted {
                if ours >= *index { ours + 1 } else { ours }
            } else if ours > *index {
                ours - 1
            } else if ours == *index {
                if inserting && is_target {
                    ours
                } else {
                    // The element we address was removed.
                    return Err(());
                }
            } else {
                ours
            };
            if moved != ours {
                path[parent.len()] = moved.to_string();
            }
            Ok(())
        }
    }
}

/// Our operation with its rebased path (and `from`).
fn rebuild(operation: &PatchOperation, path: &[String], from: Option<&[String]>) -> PatchOperation {
    let path = pointer(path);
    let from = from.map(pointer).unwrap_or_default();
    match operation {
        PatchOperation::Add(op) => PatchOperation::Add(AddOperation { path, value: op.value.clone() }),
        PatchOperation::Remove(_) => PatchOperation::Remove(RemoveOperation { path }),
        PatchOperation::Replace(op) => PatchOperation::Replace(ReplaceOperation { path, value: op.value.clone() }),
        PatchOperation::Test(op) => PatchOperation::Test(TestOperation { path, value: op.value.clone() }),
        PatchOperation::Move(_) => PatchOperation::Move(MoveOperation { from, path }),
        PatchOperation::Copy(_) => PatchOperation::Copy(CopyOperation { from, path }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn patch(value: Value) -> Patch {
        serde_json::from_value(value).unwrap()
    }

    fn rebased(ours: Value, theirs: &[Value]) -> Result<Value, RebaseConflict> {
        let since: Vec<Patch> = theirs.iter().cloned().map(patch).collect();
        let since: Vec<&Patch> = since.iter().collect();
        rebase_patch(&patch(ours), &since).map(|p| serde_json::to_value(p).unwrap())
    }

    #[test]
    fn inserts_before_ours_shift_our_indices() {
        let result = rebased(
            json!([{ "op": "replace", "path": "/blocks/2/text", "value": "x" }]),
            &[json!([{ "op": "add", "path": "/blocks/0", "value": {} }])],
        );
        assert_eq!(result.unwrap(), json!([{ "op": "replace", "path": "/blocks/3/text", "value": "x" }]));
    }

    #[test]
    fn an_insert_next_to_a_concurrent_insert_lands_after_it() {
        let result = rebased(
            json!([{ "op": "add", "path": "/blocks/1", "value": "ours" }]),
            &[json!([{ "op": "add", "path": "/blocks/1", "value": "theirs" }])],
        );
        assert_eq!(result.unwrap(), json!([{ "op": "add", "path": "/blocks/2", "value": "ours" }]));
        let before = rebased(
            json!([{ "op": "add", "path": "/blocks/0", "value": "ours" }]),
            &[json!([{ "op": "add", "path": "/blocks/1", "value": "theirs" }])],
        );
        assert_eq!(before.unwrap(), json!([{ "op": "add", "path": "/blocks/0", "value": "ours" }]));
    }

    #[test]
    fn removals_shift_down_and_removed_targets_conflict() {
        let result = rebased(
            json!([{ "op": "remove", "path": "/blocks/3" }]),
            &[json!([{ "op": "remove", "path": "/blocks/1" }])],
        );
        assert_eq!(result.unwrap(), json!([{ "op": "remove", "path": "/blocks/2" }]));
        let conflict = rebased(
            json!([{ "op": "replace", "path": "/blocks/1/text", "value": "x" }]),
            &[json!([{ "op": "remove", "path": "/blocks/1" }])],
        );
        assert_eq!(conflict.unwrap_err(), RebaseConflict { operation: 0, path: "/blocks/1/text".into() });
        let insert_there = rebased(
            json!([{ "op": "add", "path": "/blocks/1", "value": 1 }]),
            &[json!([{ "op": "remove", "path": "/blocks/1" }])],
        );
        assert_eq!(insert_there.unwrap(), json!([{ "op": "add", "path": "/blocks/1", "value": 1 }]));
    }

    #[test]
    fn same_location_parent_and_child_conflict() {
        let same = json!([{ "op": "replace", "path": "/title", "value": "a" }]);
        assert!(rebased(same.clone(), &[json!([{ "op": "replace", "path": "/title", "value": "b" }])]).is_err());
        let child = json!([{ "op": "replace", "path": "/sequences/0/title", "value": "a" }]);
        assert!(
            rebased(child, &[json!([{ "op": "replace", "path": "/sequences/0", "value": {} }])]).is_err(),
            "theirs is a parent"
        );
        let parent = json!([{ "op": "replace", "path": "/sequences/0", "value": {} }]);
        assert!(
            rebased(parent, &[json!([{ "op": "replace", "path": "/sequences/0/title", "value": "b" }])]).is_err(),
            "theirs is a child"
        );
        let sibling = json!([{ "op": "replace", "path": "/sequences/0/title", "value": "a" }]);
        assert!(rebased(sibling, &[json!([{ "op": "replace", "path": "/sequences/0/id", "value": "b" }])]).is_ok());
        let whole_array = json!([{ "op": "replace", "path": "/blocks", "value": [] }]);
        assert!(rebased(whole_array, &[json!([{ "op": "add", "path": "/blocks/0", "value": 1 }])]).is_err());
    }

    #[test]
    fn appends_commute_with_everything_but_the_whole_array() {
        let append = json!([{ "op": "add", "path": "/blocks/-", "value": "ours" }]);
        assert!(rebased(append.clone(), &[json!([{ "op": "add", "path": "/blocks/-", "value": "theirs" }])]).is_ok());
        assert!(rebased(append.clone(), &[json!([{ "op": "remove", "path": "/blocks/0" }])]).is_ok());
        let edit = json!([{ "op": "replace", "path": "/blocks/0/text", "value": "x" }]);
        assert!(rebased(edit, &[json!([{ "op": "add", "path": "/blocks/-", "value": "theirs" }])]).is_ok());
        assert!(rebased(append, &[json!([{ "op": "replace", "path": "/blocks", "value": [] }])]).is_err());
    }

    #[test]
    fn moves_are_a_removal_then_an_insertion() {
        // They moved block 0 to the end (index 2 of 3): our block 1 is now block 0.
        let result = rebased(
            json!([{ "op": "replace", "path": "/blocks/1/text", "value": "x" }]),
            &[json!([{ "op": "move", "from": "/blocks/0", "path": "/blocks/2" }])],
        );
        assert_eq!(result.unwrap(), json!([{ "op": "replace", "path": "/blocks/0/text", "value": "x" }]));
    }

    /// The cases every client's local rebase must agree with (`tests/fixtures/rebase-vectors.json`).
    #[test]
    fn the_shared_vectors_hold() {
        let vectors: Value = serde_json::from_str(include_str!("../../tests/fixtures/rebase-vectors.json")).unwrap();
        let cases = vectors["cases"].as_array().unwrap();
        assert!(cases.len() >= 25);
        for case in cases {
            let name = case["name"].as_str().unwrap();
            let since: Vec<Value> = case["since"].as_array().unwrap().clone();
            match rebased(case["patch"].clone(), &since) {
                Ok(result) => assert_eq!(result, case["rebased"], "{name}"),
                Err(conflict) => {
                    let expected = &case["conflict"];
                    assert!(expected.is_object(), "{name}: unexpected conflict {conflict:?}");
                    assert_eq!(json!(conflict.operation), expected["operation"], "{name}");
                    assert_eq!(json!(conflict.path), expected["path"], "{name}");
                }
            }
        }
    }

    #[test]
    fn several_revisions_compose() {
        let result = rebased(
            json!([{ "op": "replace", "path": "/blocks/1/text", "value": "x" }]),
            &[
                json!([{ "op": "add", "path": "/blocks/0", "value": 1 }]),
                json!([{ "op": "add", "path": "/blocks/0", "value": 2 }]),
            ],
        );
        assert_eq!(result.unwrap(), json!([{ "op": "replace", "path": "/blocks/3/text", "value": "x" }]));
    }
}

#[cfg(test)]
mod convergence {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    /// What an editor means to do, against its local copy. Indices are taken modulo the length.
    #[derive(Debug, Clone)]
    enum Intent {
        Insert(usize),
        Append,
        Remove(usize),
        Edit(usize),
        Move(usize, usize),
    }

    #[derive(Debug, Clone)]
    enum Step {
        /// Editor `e` acts on its local copy and submits.
        Act(usize, Intent),
        /// Editor `e` receives up to `k` revisions it has not seen.
        Receive(usize, usize),
    }

    fn step(editors: usize) -> impl Strategy<Value = Step> {
        let intent = prop_oneof![
            any::<usize>().prop_map(Intent::Insert),
            Just(Intent::Append),
            any::<usize>().prop_map(Intent::Remove),
            any::<usize>().prop_map(Intent::Edit),
            (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Intent::Move(a, b)),
        ];
        prop_oneof![
            (0..editors, intent).prop_map(|(e, i)| Step::Act(e, i)),
            (0..editors, 1..4usize).prop_map(|(e, k)| Step::Receive(e, k)),
        ]
    }

    struct Editor {
        local: Value,
        base: usize,
    }

    fn ids(document: &Value) -> Vec<String> {
        document["blocks"].as_array().unwrap().iter().map(|b| b["id"].as_str().unwrap().to_owned()).collect()
    }

    /// The patch for an intent, and what must hold on the server once it is acknowledged.
    /// What must hold on the server once an intent is acknowledged.
    type Check = Box<dyn Fn(&Value) -> bool>;

    fn plan(intent: &Intent, local: &Value, fresh: &str) -> Option<(Value, Check)> {
        let blocks = ids(local);
        let n = blocks.len();
        let present_once = |id: String| -> Check {
            Box::new(move |server: &Value| ids(server).iter().filter(|b| **b == id).count() == 1)
        };
        Some(match *intent {
            Intent::Insert(i) => {
                let at = i % (n + 1);
                let patch =
                    json!([{ "op": "add", "path": format!("/blocks/{at}"), "value": { "id": fresh, "text": "new" } }]);
                (patch, present_once(fresh.to_owned()))
            }
            Intent::Append => {
                let patch = json!([{ "op": "add", "path": "/blocks/-", "value": { "id": fresh, "text": "new" } }]);
                (patch, present_once(fresh.to_owned()))
            }
            Intent::Remove(i) if n > 0 => {
                let target = blocks[i % n].clone();
                let patch = json!([{ "op": "remove", "path": format!("/blocks/{}", i % n) }]);
                (patch, Box::new(move |server: &Value| !ids(server).contains(&target)))
            }
            Intent::Edit(i) if n > 0 => {
                let target = blocks[i % n].clone();
                let marker = format!("edited by {fresh}");
                let patch = json!([{ "op": "replace", "path": format!("/blocks/{}/text", i % n), "value": marker }]);
                (
                    patch,
                    Box::new(move |server: &Value| {
                        server["blocks"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .any(|b| b["id"] == target.as_str() && b["text"] == marker)
                    }),
                )
            }
            Intent::Move(a, b) if n > 1 => {
                let (from, to) = (a % n, b % n);
                let moved = blocks[from].clone();
                let patch =
                    json!([{ "op": "move", "from": format!("/blocks/{from}"), "path": format!("/blocks/{to}") }]);
                (patch, present_once(moved))
            }
            _ => return None,
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn editors_that_retry_after_conflicts_converge(steps in prop::collection::vec(step(3), 1..80)) {
            let initial = json!({ "blocks": [{ "id": "a", "text": "" }, { "id": "b", "text": "" }, { "id": "c", "text": "" }] });
            let mut server = initial.clone();
            let mut log: Vec<Patch> = Vec::new();
            let mut editors: Vec<Editor> = (0..3).map(|_| Editor { local: initial.clone(), base: 0 }).collect();
            let mut inserted: Vec<String> = Vec::new();
            let mut removed: Vec<String> = Vec::new();
            for (counter, step) in steps.iter().enumerate() {
                match step {
                    Step::Receive(e, k) => {
                        let editor = &mut editors[*e];
                        let until = (editor.base + k).min(log.len());
                        for patch in &log[editor.base..until] {
                            json_patch::patch(&mut editor.local, patch).unwrap();
                        }
                        editor.base = until;
                    }
                    Step::Act(e, intent) => {
                        let fresh = format!("n{counter}");
                        let editor = &mut editors[*e];
                        let Some((patch, holds)) = plan(intent, &editor.local, &fresh) else { continue };
                        let since: Vec<&Patch> = log[editor.base..].iter().collect();
                        let submitted: Patch = serde_json::from_value(patch).unwrap();
                        let mut next = server.clone();
                        let outcome = rebase_patch(&submitted, &since)
                            .ok()
                            .and_then(|rebased| json_patch::patch(&mut next, &rebased).ok().map(|()| rebased));
                        if let Some(rebased) = outcome {
                            {
                                // Acknowledged: the editor's intent holds on the server, exactly.
                                prop_assert!(holds(&next), "intent {:?} broken: {} -> {}", intent, server, next);
                                if matches!(intent, Intent::Insert(_) | Intent::Append) {
                                    inserted.push(fresh.clone());
                                }
                                if let Intent::Remove(i) = intent {
                                    let local_ids = ids(&editor.local);
                                    removed.push(local_ids[i % local_ids.len()].clone());
                                }
                                server = next;
                                log.push(rebased);
                            }
                        }
                        // Either way the editor now catches up (after a conflict, before retrying).
                        for patch in &log[editor.base..] {
                            json_patch::patch(&mut editor.local, patch).unwrap();
                        }
                        editor.base = log.len();
                        prop_assert_eq!(&editor.local, &server);
                    }
                }
            }
            for editor in &mut editors {
                for patch in &log[editor.base..] {
                    json_patch::patch(&mut editor.local, patch).unwrap();
                }
                prop_assert_eq!(&editor.local, &server, "every editor converges to the server");
            }
            let final_ids = ids(&server);
            for id in &inserted {
                let expected = usize::from(!removed.contains(id));
                prop_assert_eq!(final_ids.iter().filter(|b| *b == id).count(), expected, "{} lost or applied twice", id);
            }
        }
    }
}
