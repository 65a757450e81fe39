//! Turning a write request into numbered revisions on a dialogue's speculative head: the
//! `If-Match` check, rebasing a live patch made against an older revision, applying and
//! checking each change, and numbering what it made. Pure: the actor calls it with its state,
//! and unit tests call it without one.

use std::sync::Arc;

use json_patch::{Patch, PatchOperation};
use serde_json::{Value, json};

use super::change::{Change, ChangeKind, Rules};
use super::head::{Identity, Version};
use super::messages::WriteRequest;
use super::rebase::{Effects, rebase_over};
use super::revision::Revision;
use crate::error::ApiError;
use crate::limits::{Limits, MAX_RECORD_BYTES, too_large};
use crate::schema::Schemas;
use crate::store::{HandoffMark, RevisionRecord, new_id, now_millis};

/// What a request is checked and applied against.
pub struct Context<'a> {
    /// Validation.
    pub schemas: &'a Schemas,
    /// Size and depth limits.
    pub limits: &'a Limits,
    /// The effects of the revisions after `base` (a live patch's `base_revision`), oldest
    /// first; `None` when they are no longer in memory.
    pub effects_since: &'a dyn Fn(i64) -> Option<Vec<&'a Effects>>,
    /// This server process, named on each revision it stores.
    pub process_id: &'a str,
}

/// Applies every change of `request` to `head` (the speculative version of the dialogue
/// `identity`, in place) and numbers the revisions they make. All or nothing: on an error, the
/// changes already applied are taken back and `head` is as it was.
pub fn prepare(
    identity: &Identity,
    head: &mut Version,
    request: &WriteRequest,
    context: &Context<'_>,
) -> Result<Vec<Arc<Revision>>, ApiError> {
    if let Some(if_match) = &request.if_match
        && !head.matches(if_match)
    {
        return Err(ApiError::PreconditionFailed {
            message: "The dialogue has changed since the given revision".into(),
            details: json!({ "revision_id": head.id, "revision_number": head.number }),
        });
    }
    let rebased;
    let changes: &[Change] = match request.base_revision {
        Some(base) if base > head.number => return Err(ahead(base, head.number)),
        Some(base) if base < head.number => {
            rebased = rebase(&request.changes, base, head.number, context)?;
            &rebased
        }
        _ => &request.changes,
    };
    let rules = Rules { schemas: context.schemas, limits: context.limits, may_archive: request.may_archive };
    let content = &mut head.content;
    let mut size = head.size;
    let mut number = head.number;
    let accepted = now_millis();
    let mut applied = Vec::new();
    let mut revisions = Vec::new();
    for (index, change) in changes.iter().enumerate() {
        let outcome = match change.apply(content, size, rules) {
            Ok(Some(done)) => match revision_text(&done.patch, &change.details) {
                Ok(text) => Ok(Some((done, text))),
                // Applied, but its revision cannot be stored: taken back with the others.
                Err(error) => {
                    applied.push(done);
                    Err(error)
                }
            },
            Ok(None) => Ok(None),
            Err(error) => Err(error),
        };
        let (done, (patch_text, details_text)) = match outcome {
            Ok(Some(done)) => done,
            Ok(None) => continue,
            Err(error) => {
                for earlier in applied.into_iter().rev() {
                    super::change::Applied::revert(earlier, content);
                }
                return Err(at_index(error, index, changes));
            }
        };
        size = done.size;
        number += 1;
        let (edit_type, reverted_to) = match &change.kind {
            ChangeKind::Edit { edit_type, .. } => (edit_type.clone(), None),
            ChangeKind::Replace { .. } => (None, None),
            ChangeKind::Revert { revision_id, .. } => (None, Some(revision_id.clone())),
        };
        let record = RevisionRecord {
            id: new_id(),
            dialogue_id: identity.dialogue_id.clone(),
            project_id: identity.project_id.clone(),
            number,
            user_id: request.user_id.clone(),
            created: change.created.unwrap_or(accepted),
            accepted: Some(accepted),
            kind: change.revision_kind().to_owned(),
            edit_type,
            reverted_to,
            patch: patch_text,
            details: details_text,
            process: Some(context.process_id.to_owned()),
            handoff: request.handoff.as_ref().map(|id| HandoffMark { id: id.clone(), last: false }),
            pushed_to: Vec::new(),
        };
        let effects = Effects::of(&done.patch);
        revisions.push(Revision { record, patch: done.patch.clone(), details: change.details.clone(), effects });
        applied.push(done);
    }
    if let Some(mark) = revisions.last_mut().and_then(|last| last.record.handoff.as_mut()) {
        mark.last = true;
    }
    let revisions: Vec<Arc<Revision>> = revisions.into_iter().map(Arc::new).collect();
    head.size = size;
    if let Some(last) = revisions.last() {
        head.number = last.number();
        head.id = Some(last.record.id.clone());
    }
    Ok(revisions)
}

/// The most steps a rebase may take (a pointer of the patch, one per operation and two for a
/// `move` or `copy`, moved past one effect of a revision since its base): tens of milliseconds.
/// Without a bound, a patch of 1,000 operations based 1,000 revisions back, each of 1,000
/// operations, would hold the dialogue's thread (and the dialogues sharing it) for seconds.
const MAX_REBASE_STEPS: usize = 1_000_000;

/// A live patch's changes moved past every revision accepted after `base`; `409 conflict`
/// when one of those touched what the patch touches, or when the patch is so far behind that
/// rebasing it would take more than [`MAX_REBASE_STEPS`] (the client catches up, as it does
/// when the revisions since its base are no longer in memory).
fn rebase(changes: &[Change], base: i64, newest: i64, context: &Context<'_>) -> Result<Vec<Change>, ApiError> {
    let conflict = || ApiError::Conflict {
        message: "The patch collides with changes made since its base revision; catch up and retry".into(),
        details: json!({ "head_revision": newest }),
    };
    let since = (context.effects_since)(base).ok_or_else(conflict)?;
    // A `move` or `copy` shifts two pointers (`path` and `from`): two steps per effect.
    let operations: usize = changes
        .iter()
        .map(|change| match &change.kind {
            ChangeKind::Edit { patch, .. } => patch
                .iter()
                .map(|operation| match operation {
                    PatchOperation::Move(_) | PatchOperation::Copy(_) => 2,
                    _ => 1,
                })
                .sum(),
            _ => 0,
        })
        .sum();
    let effects: usize = since.iter().map(|effects| effects.len()).sum();
    if operations.saturating_mul(effects) > MAX_REBASE_STEPS {
        return Err(ApiError::Conflict {
            message: "The patch is too far behind its base revision to rebase; catch up and retry".into(),
            details: json!({ "head_revision": newest }),
        });
    }
    changes
        .iter()
        .map(|change| {
            let kind = match &change.kind {
                ChangeKind::Edit { patch, edit_type } => ChangeKind::Edit {
                    patch: rebase_over(patch, &since).map_err(|_| conflict())?,
                    edit_type: edit_type.clone(),
                },
                other => other.clone(),
            };
            Ok(Change { kind, ..change.clone() })
        })
        .collect()
}

/// A revision's patch and details as stored text; a revision too large for the database is
/// refused before it is acknowledged.
fn revision_text(patch: &Patch, details: &Value) -> Result<(String, String), ApiError> {
    let patch = serde_json::to_string(patch).map_err(ApiError::internal)?;
    let details = details.to_string();
    let size = patch.len() + details.len();
    if size > MAX_RECORD_BYTES {
        return Err(too_large(MAX_RECORD_BYTES, size));
    }
    Ok((patch, details))
}

/// `invalid_message`: a live patch claims a base revision the dialogue has not reached.
pub(crate) fn ahead(base: i64, newest: i64) -> ApiError {
    ApiError::InvalidMessage(format!("base_revision {base} is ahead of the newest revision {newest}"))
}

/// Marks an error of the `index`-th change of a bulk request with its position.
fn at_index(error: ApiError, index: usize, changes: &[Change]) -> ApiError {
    if changes.len() == 1 {
        return error;
    }
    match error {
        ApiError::Validation(errors) => ApiError::Validation(
            errors
                .into_iter()
                .map(|mut e| {
                    e.message = format!("revision {index}: {}", e.message);
                    e
                })
                .collect(),
        ),
        ApiError::PatchConflict { index: op, op: name, path, reason } => {
            ApiError::PatchConflict { index: op, op: name, path, reason: format!("revision {index}: {reason}") }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::serialized_len;

    fn head() -> Version {
        let content =
            json!({ "title": "T", "sequences": [{ "id": "s", "title": "S", "blocks": [] }], "is_archived": false });
        Version { size: serialized_len(&content), content, number: 4, id: Some("r4".into()) }
    }

    fn edit(patch: Value) -> Change {
        Change {
            kind: ChangeKind::Edit { patch: serde_json::from_value(patch).unwrap(), edit_type: None },
            details: json!({}),
            created: None,
        }
    }

    fn request(changes: Vec<Change>) -> WriteRequest {
        WriteRequest {
            project_id: "p".into(),
            changes,
            user_id: "u".into(),
            if_match: None,
            may_archive: true,
            base_revision: None,
            handoff: None,
        }
    }

    fn run(
        head: &mut Version,
        request: &WriteRequest,
        since: Option<Vec<Effects>>,
    ) -> Result<Vec<Arc<Revision>>, ApiError> {
        let schemas = Schemas::load(None).unwrap();
        let since =
            since.map(|effects| effects.into_iter().map(|e| Box::leak(Box::new(e)) as &Effects).collect::<Vec<_>>());
        let effects_since = move |_| since.clone();
        let identity = Identity { dialogue_id: "d".into(), project_id: "p".into(), created: 0 };
        let context =
            Context { schemas: &schemas, limits: &Limits::DEFAULT, effects_since: &effects_since, process_id: "test" };
        prepare(&identity, head, request, &context)
    }

    fn add_block(at: &str, id: &str) -> Value {
        json!([{ "op": "add", "path": at, "value": { "id": id, "type": "message", "properties": { "text": id } } }])
    }

    #[test]
    fn revisions_are_numbered_after_the_head() {
        let mut head = head();
        let write =
            request(vec![edit(add_block("/sequences/0/blocks/-", "a")), edit(add_block("/sequences/0/blocks/-", "b"))]);
        let revisions = run(&mut head, &write, None).unwrap();
        assert_eq!(revisions.iter().map(|r| r.number()).collect::<Vec<_>>(), [5, 6]);
        assert_eq!(head.number, 6);
        assert_eq!(head.id.as_deref(), Some(revisions[1].record.id.as_str()));
        assert_eq!(head.size, serialized_len(&head.content));
    }

    #[test]
    fn a_bulk_write_is_all_or_nothing() {
        let mut head = head();
        let before = head.content.clone();
        let write = request(vec![
            edit(add_block("/sequences/0/blocks/-", "a")),
            edit(json!([{ "op": "remove", "path": "/nope" }])),
        ]);
        let error = run(&mut head, &write, None).unwrap_err();
        assert_eq!(error.kind(), "patch_conflict");
        assert_eq!(head.content, before);
        assert_eq!(head.number, 4);
    }

    #[test]
    fn a_change_whose_revision_is_too_large_to_store_is_taken_back() {
        let mut head = head();
        let before = head.content.clone();
        let mut change = edit(add_block("/sequences/0/blocks/-", "a"));
        change.details = json!({ "note": "x".repeat(MAX_RECORD_BYTES) });
        let error = run(&mut head, &request(vec![change]), None).unwrap_err();
        assert_eq!(error.kind(), "payload_too_large");
        assert_eq!(head.content, before, "nothing of it stayed");
        assert_eq!((head.number, head.size), (4, serialized_len(&before)));
    }

    #[test]
    fn if_match_and_base_revisions_are_checked() {
        let mut head = head();
        let stale = request(vec![edit(add_block("/sequences/0/blocks/-", "a"))]).if_match(Some("\"r3\"".into()));
        assert_eq!(run(&mut head, &stale, None).unwrap_err().kind(), "precondition_failed");
        let ahead = request(vec![edit(add_block("/sequences/0/blocks/-", "a"))]).based_on(5);
        assert_eq!(run(&mut head, &ahead, None).unwrap_err().kind(), "invalid_message");
        let forgotten = request(vec![edit(add_block("/sequences/0/blocks/-", "a"))]).based_on(1);
        let refused = run(&mut head, &forgotten, None).unwrap_err();
        assert_eq!(refused.kind(), "conflict", "what came since is no longer in memory");
    }

    #[test]
    fn a_stale_patch_is_rebased_past_what_came_since() {
        let mut head = head();
        // Since revision 3, revision 4 retitled the dialogue.
        let since: Patch =
            serde_json::from_value(json!([{ "op": "replace", "path": "/title", "value": "Theirs" }])).unwrap();
        let elsewhere =
            request(vec![edit(json!([{ "op": "replace", "path": "/sequences/0/title", "value": "Mine" }]))])
                .based_on(3);
        let revisions = run(&mut head, &elsewhere, Some(vec![Effects::of(&since)])).unwrap();
        assert_eq!(revisions[0].number(), 5);
        assert_eq!(head.content["sequences"][0]["title"], "Mine");
        let same_place =
            request(vec![edit(json!([{ "op": "replace", "path": "/title", "value": "Mine" }]))]).based_on(3);
        let conflict = run(&mut head, &same_place, Some(vec![Effects::of(&since)])).unwrap_err();
        assert_eq!(conflict.kind(), "conflict");
        assert_eq!(head.number, 5, "nothing of the refused patch stayed");
    }

    #[test]
    fn an_append_is_stored_where_it_landed_so_that_a_rebase_shifts_past_it() {
        let mut head = head();
        let theirs = run(&mut head, &request(vec![edit(add_block("/sequences/0/blocks/-", "theirs"))]), None).unwrap();
        assert_eq!(theirs[0].patch[0].path().as_str(), "/sequences/0/blocks/0", "stored where it landed");
        assert!(theirs[0].record.patch.contains("/sequences/0/blocks/0"));
        // Made against the state before theirs: an append, then a change to what it appended
        // (index 0 then). Theirs now sits there: the change goes to ours, not to theirs.
        let mut mine = add_block("/sequences/0/blocks/-", "mine");
        mine.as_array_mut()
            .unwrap()
            .push(json!({ "op": "replace", "path": "/sequences/0/blocks/0/properties/text", "value": "renamed" }));
        let since = Some(vec![theirs[0].effects.clone()]);
        let revisions = run(&mut head, &request(vec![edit(mine)]).based_on(4), since).unwrap();
        let blocks = &head.content["sequences"][0]["blocks"];
        assert_eq!(
            (blocks[0]["id"].as_str(), blocks[0]["properties"]["text"].as_str()),
            (Some("theirs"), Some("theirs"))
        );
        assert_eq!(
            (blocks[1]["id"].as_str(), blocks[1]["properties"]["text"].as_str()),
            (Some("mine"), Some("renamed"))
        );
        assert_eq!(revisions[0].patch[1].path().as_str(), "/sequences/0/blocks/1/properties/text");
    }

    #[test]
    fn a_patch_too_far_behind_to_rebase_cheaply_is_a_conflict() {
        // 1,001 revisions since the base, each of 1,000 operations elsewhere.
        let theirs: Patch = serde_json::from_value(Value::Array(vec![
            json!({ "op": "replace", "path": "/sequences/0/title", "value": "Theirs" });
            1000
        ]))
        .unwrap();
        let since = || Some(vec![Effects::of(&theirs); 1001]);
        let retitle = json!({ "op": "replace", "path": "/title", "value": "Mine" });
        // One operation over 1,001,000 effects: over the limit of 1,000,000 steps.
        let mut head = head();
        let one = request(vec![edit(json!([retitle]))]).based_on(3);
        let refused = run(&mut head, &one, since()).unwrap_err();
        assert_eq!(refused.kind(), "conflict");
        assert!(refused.to_string().contains("too far behind"), "{refused}");
        assert_eq!(head.number, 4);
        // Over 1,000 of those revisions: exactly the limit, rebased.
        let revisions = run(&mut head, &one, Some(vec![Effects::of(&theirs); 1000])).unwrap();
        assert_eq!(revisions[0].number(), 5);
        assert_eq!(head.content["title"], "Mine");
        // A copy shifts two pointers: two steps per effect, so half as many revisions.
        let archived: Patch = serde_json::from_value(Value::Array(vec![
            json!({ "op": "replace", "path": "/is_archived", "value": false });
            1000
        ]))
        .unwrap();
        let copy = json!({ "op": "copy", "from": "/title", "path": "/sequences/0/title" });
        let copy = request(vec![edit(json!([copy]))]).based_on(3);
        let refused = run(&mut head, &copy, Some(vec![Effects::of(&archived); 501])).unwrap_err();
        assert!(refused.to_string().contains("too far behind"), "{refused}");
        let revisions = run(&mut head, &copy, Some(vec![Effects::of(&archived); 500])).unwrap();
        assert_eq!(revisions[0].number(), 6);
        assert_eq!(head.content["sequences"][0]["title"], "Mine");
    }
}
