//! JSON Patch (RFC 6902): parsing client patches with limits, and applying them atomically, with
//! the contract's `patch_conflict` error when an operation cannot apply.
//!
//! Application is ours rather than `json_patch::patch`, for three reasons. It is bounded: the
//! document's serialized size and nesting depth are checked before every operation, so a patch
//! of `copy` operations that doubles the document each time is refused before memory grows. Its
//! work is bounded too: the document content a patch copies, replaces, removes or moves deeper
//! (each measured, cloned or kept for undoing) may add up to at most [`WORK_PER_SIZE_LIMIT`]
//! times the size limit (or the document's size, when a lowered limit left it larger), so a
//! patch copying a large value over itself a thousand times, which leaves the size unchanged,
//! is refused before it costs seconds and gigabytes. It is exactly
//! atomic: on any failure every earlier operation is undone (`json_patch` 5 loses the
//! source of a `move` whose target is invalid, and panics when undoing a `move` onto an ancestor
//! of its source). And it tracks the document's size as it goes, so that the size limit costs
//! nothing proportional to the document. Pointers are parsed and resolved exactly as
//! `json_patch` does (same `jsonptr` tokens, same `serde_json` lookups), so a patch stored as
//! applied here replays identically with `json_patch` in any client.

use json_patch::jsonptr::{Pointer, PointerBuf};
use json_patch::{Patch, PatchErrorKind, PatchOperation};
use serde_json::Value;

use crate::error::{ApiError, FieldError};
use crate::limits::{exceeds_depth, key_len, serialized_len, too_deep, too_large};

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

/// How large and how deep a document may grow while a patch applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Largest serialized size, in bytes.
    pub max_size: usize,
    /// Deepest nesting of arrays and objects.
    pub max_depth: usize,
}

impl Bounds {
    /// No limit: for replaying patches that were checked when they were first applied.
    pub const NONE: Self = Self { max_size: usize::MAX, max_depth: usize::MAX };

    /// The most bytes of the document's own content one patch may work over, for a document
    /// of `size` bytes: twice the size limit, or twice the document when it is larger (a
    /// document left over a lowered limit can still be emptied by one patch).
    pub fn max_work(self, size: usize) -> usize {
        self.max_size.max(size).saturating_mul(WORK_PER_SIZE_LIMIT)
    }
}

/// How many times the size limit a patch may work over: enough to rewrite the whole document
/// once and move every part of it again, far below what a thousand copies of a large value cost.
const WORK_PER_SIZE_LIMIT: usize = 2;

/// Applies `patch` to `document`, whose serialized size is `size`, as a whole; returns the new
/// serialized size and how to undo it. On failure `document` is unchanged and the error names the failing
/// operation: `409 patch_conflict` when it cannot apply, `413 payload_too_large` when the
/// document would outgrow `bounds.max_size` (checked before each operation), `422` when a value
/// would nest deeper than `bounds.max_depth`, and also `413` when the operations work over
/// more than [`Bounds::max_work`] bytes of the document's content.
pub fn apply(document: &mut Value, size: usize, patch: &[PatchOperation], bounds: Bounds) -> Result<Applied, ApiError> {
    let mut undo: Vec<Undo> = Vec::with_capacity(patch.len());
    let work_limit = bounds.max_work(size);
    let mut work_left = work_limit;
    let mut size = i64::try_from(size).unwrap_or(i64::MAX);
    let mut appended = Vec::new();
    for (index, operation) in patch.iter().enumerate() {
        let outcome = apply_one(document, size, operation, bounds, work_left).and_then(|step| {
            if step.work > work_left {
                if let Some(undone) = step.undo {
                    undone.revert(document);
                }
                return Err(Failure::TooMuchWork);
            }
            work_left -= step.work;
            Ok(step)
        });
        match outcome {
            Ok(step) => {
                size = size.saturating_add(step.delta);
                if appends(operation)
                    && let Some(at) = step.undo.as_ref().and_then(Undo::placed)
                {
                    appended.push((index, at.clone()));
                }
                undo.extend(step.undo);
            }
            Err(failure) => {
                for step in undo.into_iter().rev() {
                    step.revert(document);
                }
                return Err(failure.into_error(index, operation, work_limit));
            }
        }
    }
    Ok(Applied { size: usize::try_from(size.max(0)).unwrap_or(usize::MAX), undo, appended })
}

/// Whether `operation` puts a value at the end of an array (its path ends in `-`).
fn appends(operation: &PatchOperation) -> bool {
    matches!(operation, PatchOperation::Add(_) | PatchOperation::Copy(_) | PatchOperation::Move(_))
        && operation.path().as_str().ends_with("/-")
}

/// `patch` with the path of each operation that appended (`…/-`) replaced by where its value
/// landed, as [`Applied::appended`] says: the patch to store. An append shifts later indices
/// of its array like any insert, and a rebase over the stored patch can then tell; `…/-`
/// does not say where it landed.
pub fn with_appends_placed(patch: &Patch, appended: &[(usize, PointerBuf)]) -> Patch {
    let mut placed = patch.clone();
    for (index, at) in appended {
        match placed.0.get_mut(*index) {
            Some(PatchOperation::Add(op)) => op.path = at.clone(),
            Some(PatchOperation::Copy(op)) => op.path = at.clone(),
            Some(PatchOperation::Move(op)) => op.path = at.clone(),
            _ => {}
        }
    }
    placed
}

/// A patch that applied: the document's new serialized size, and how to take the patch back
/// (when a check made after it, such as schema validation, refuses the result).
#[derive(Debug)]
pub struct Applied {
    /// The document's serialized size after the patch.
    pub size: usize,
    undo: Vec<Undo>,
    /// For each operation that appended to an array (`…/-`), its position in the patch and
    /// where its value landed.
    pub appended: Vec<(usize, PointerBuf)>,
}

impl Applied {
    /// Takes the patch back: `document` is again as it was before.
    pub fn revert(self, document: &mut Value) {
        for step in self.undo.into_iter().rev() {
            step.revert(document);
        }
    }
}

/// Replays a stored patch (one that applied when it was first submitted), unbounded.
pub fn replay(document: &mut Value, patch: &[PatchOperation]) -> Result<(), ApiError> {
    apply(document, 0, patch, Bounds::NONE).map(drop)
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

/// Why one operation failed.
enum Failure {
    /// It cannot apply to the document.
    Conflict(PatchErrorKind),
    /// The document would grow to this size.
    TooLarge { limit: usize, size: usize },
    /// A value would nest too deep.
    TooDeep { max_depth: usize },
    /// The patch works over more of the document than its budget allows.
    TooMuchWork,
}

impl Failure {
    fn into_error(self, index: usize, operation: &PatchOperation, work_limit: usize) -> ApiError {
        match self {
            Self::Conflict(kind) => ApiError::PatchConflict {
                index,
                op: operation_name(operation).to_owned(),
                path: operation.path().as_str().to_owned(),
                reason: kind.to_string(),
            },
            Self::TooLarge { limit, size } => too_large(limit, size),
            Self::TooDeep { max_depth } => too_deep(&format!("/{index}/value"), max_depth),
            Self::TooMuchWork => ApiError::PatchTooCostly { index, limit: work_limit },
        }
    }
}

impl From<PatchErrorKind> for Failure {
    fn from(kind: PatchErrorKind) -> Self {
        Self::Conflict(kind)
    }
}

/// How to take back one change; paths are resolved (array indices are numbers, never `-`).
#[derive(Debug)]
enum Undo {
    /// Put `value` back at `path`, where it was removed from.
    Insert { path: PointerBuf, value: Value },
    /// Remove what was inserted at `path`.
    Remove { path: PointerBuf },
    /// Put `value` back at `path`, where it was replaced (`path` may be the root).
    Restore { path: PointerBuf, value: Value },
    /// Take the value a `move` put at `from`, put back what it replaced there, and return the
    /// value to `to`, where it came from.
    MoveBack { from: PointerBuf, to: PointerBuf, replaced: Option<Value> },
}

impl Undo {
    /// Where the operation it undoes put its value (for an insertion or a move).
    fn placed(&self) -> Option<&PointerBuf> {
        match self {
            Self::Remove { path } | Self::Restore { path, .. } => Some(path),
            Self::MoveBack { from, .. } => Some(from),
            Self::Insert { .. } => None,
        }
    }

    fn revert(self, document: &mut Value) {
        // Steps reverse changes just made, in reverse order, so each of them applies.
        let outcome = match self {
            Self::Insert { path, value } => insert(document, &path, value).map(drop).map_err(|(kind, _)| kind),
            Self::Remove { path } => take(document, &path).map(drop),
            Self::Restore { path, value } => match document.pointer_mut(path.as_str()) {
                Some(target) => {
                    *target = value;
                    Ok(())
                }
                None => Err(PatchErrorKind::InvalidPointer),
            },
            Self::MoveBack { from, to, replaced } => {
                let moved = if from.is_root() {
                    Ok(std::mem::replace(document, replaced.unwrap_or(Value::Null)))
                } else {
                    take(document, &from).map(|(value, _, _)| value).and_then(|value| match replaced {
                        Some(replaced) => insert(document, &from, replaced).map(|_| value).map_err(|(kind, _)| kind),
                        None => Ok(value),
                    })
                };
                moved.and_then(|value| insert(document, &to, value).map(drop).map_err(|(kind, _)| kind))
            }
        };
        if let Err(error) = outcome {
            tracing::error!(error = %error, "undoing a JSON Patch operation failed");
        }
    }
}

fn as_i64(size: usize) -> i64 {
    i64::try_from(size).unwrap_or(i64::MAX)
}

/// The serialized size of an object entry's key and colon.
fn key_overhead(key: &str) -> i64 {
    as_i64(key_len(key) + 1)
}

/// Where an insertion landed, and its size change not counting the inserted value itself.
struct Inserted {
    /// The resolved path of the inserted value.
    path: PointerBuf,
    /// The value it replaced (an object key that existed, or the whole document).
    replaced: Option<Value>,
    /// The serialized size of `replaced` (0 when none).
    replaced_size: usize,
    /// Key, separator, minus what was replaced.
    overhead: i64,
}

/// Inserts `value` at `path` (RFC 6902 `add`): into an array at an index or `-`, into an object
/// (replacing an existing key), or as the whole document. On failure nothing changed and the
/// value comes back.
fn insert(document: &mut Value, path: &Pointer, value: Value) -> Result<Inserted, (PatchErrorKind, Value)> {
    let Some((parent_path, last)) = path.split_back() else {
        let replaced = std::mem::replace(document, value);
        let replaced_size = serialized_len(&replaced);
        let overhead = -as_i64(replaced_size);
        return Ok(Inserted { path: PointerBuf::new(), replaced: Some(replaced), replaced_size, overhead });
    };
    let Some(parent) = document.pointer_mut(parent_path.as_str()) else {
        return Err((PatchErrorKind::InvalidPointer, value));
    };
    match parent {
        Value::Object(fields) => {
            let key = last.decoded().into_owned();
            let overhead = key_overhead(&key) + i64::from(!fields.is_empty());
            match fields.insert(key, value) {
                Some(replaced) => {
                    let replaced_size = serialized_len(&replaced);
                    let overhead = -as_i64(replaced_size);
                    Ok(Inserted { path: path.to_buf(), replaced: Some(replaced), replaced_size, overhead })
                }
                None => Ok(Inserted { path: path.to_buf(), replaced: None, replaced_size: 0, overhead }),
            }
        }
        Value::Array(items) => {
            let index = match last
                .to_index()
                .map_err(PatchErrorKind::from)
                .and_then(|index| index.for_len_incl(items.len()).map_err(PatchErrorKind::from))
            {
                Ok(index) => index,
                Err(kind) => return Err((kind, value)),
            };
            let overhead = i64::from(!items.is_empty());
            items.insert(index, value);
            let mut resolved = parent_path.to_buf();
            resolved.push_back(index);
            Ok(Inserted { path: resolved, replaced: None, replaced_size: 0, overhead })
        }
        _ => Err((PatchErrorKind::InvalidPointer, value)),
    }
}

/// Removes the value at `path` (RFC 6902 `remove`; `-` names no element); returns it, its
/// resolved path, and the size change not counting the value itself.
fn take(document: &mut Value, path: &Pointer) -> Result<(Value, PointerBuf, i64), PatchErrorKind> {
    let (parent_path, last) = path.split_back().ok_or(PatchErrorKind::InvalidPointer)?;
    let parent = document.pointer_mut(parent_path.as_str()).ok_or(PatchErrorKind::InvalidPointer)?;
    match parent {
        Value::Object(fields) => {
            let key = last.decoded();
            let overhead = key_overhead(&key) + i64::from(fields.len() > 1);
            let value = fields.remove(key.as_ref()).ok_or(PatchErrorKind::InvalidPointer)?;
            Ok((value, path.to_buf(), -overhead))
        }
        Value::Array(items) => {
            let index = last.to_index().map_err(PatchErrorKind::from)?.for_len(items.len())?;
            let overhead = i64::from(items.len() > 1);
            let value = items.remove(index);
            let mut resolved = parent_path.to_buf();
            resolved.push_back(index);
            Ok((value, resolved, -overhead))
        }
        _ => Err(PatchErrorKind::InvalidPointer),
    }
}

/// What one operation did.
struct Step {
    /// The document's size change.
    delta: i64,
    /// How to take it back.
    undo: Option<Undo>,
    /// How many bytes of the document's content it measured, cloned or kept for undoing.
    work: usize,
}

/// Applies one operation; returns what it did. On failure the document is unchanged. A `copy`
/// that would work over more than `work_left` bytes is refused before it clones anything.
fn apply_one(
    document: &mut Value,
    size: i64,
    operation: &PatchOperation,
    bounds: Bounds,
    work_left: usize,
) -> Result<Step, Failure> {
    let fits = |delta: i64| {
        // Growth past the limit is refused; shrinking is always allowed (a document over a
        // lowered limit can still be made smaller).
        let after = usize::try_from(size.saturating_add(delta).max(0)).unwrap_or(usize::MAX);
        if delta > 0 && after > bounds.max_size {
            Err(Failure::TooLarge { limit: bounds.max_size, size: after })
        } else {
            Ok(())
        }
    };
    let shallow_enough = |path: &Pointer, value: &Value| {
        let room = bounds.max_depth.checked_sub(path.count());
        if room.is_none_or(|room| exceeds_depth(value, room)) {
            Err(Failure::TooDeep { max_depth: bounds.max_depth })
        } else {
            Ok(())
        }
    };
    // Applies a change, then checks the size it led to; a change past the limit is undone.
    let checked = |document: &mut Value, delta: i64, undo: Undo, work: usize| match fits(delta) {
        Ok(()) => Ok(Step { delta, undo: Some(undo), work }),
        Err(failure) => {
            undo.revert(document);
            Err(failure)
        }
    };
    match operation {
        PatchOperation::Add(op) => {
            shallow_enough(&op.path, &op.value)?;
            let value_size = as_i64(serialized_len(&op.value));
            let inserted = insert(document, &op.path, op.value.clone()).map_err(|(kind, _)| kind)?;
            let delta = value_size + inserted.overhead;
            let work = inserted.replaced_size;
            checked(document, delta, undo_insert(inserted), work)
        }
        PatchOperation::Copy(op) => {
            let source = document.pointer(op.from.as_str()).ok_or(PatchErrorKind::InvalidFromPointer)?;
            shallow_enough(&op.path, source)?;
            let source_size = serialized_len(source);
            let value_size = as_i64(source_size);
            // Checked before cloning, so that a copy never allocates past the limits.
            let replaced = replaced_size(document, &op.path);
            fits(value_size - as_i64(replaced))?;
            if source_size.saturating_add(replaced) > work_left {
                return Err(Failure::TooMuchWork);
            }
            let source = source.clone();
            let inserted = insert(document, &op.path, source).map_err(|(kind, _)| kind)?;
            let delta = value_size + inserted.overhead;
            let work = source_size.saturating_add(inserted.replaced_size);
            checked(document, delta, undo_insert(inserted), work)
        }
        PatchOperation::Replace(op) => {
            shallow_enough(&op.path, &op.value)?;
            let target = document.pointer_mut(op.path.as_str()).ok_or(PatchErrorKind::InvalidPointer)?;
            let target_size = serialized_len(target);
            let delta = as_i64(serialized_len(&op.value)) - as_i64(target_size);
            fits(delta)?;
            let replaced = std::mem::replace(target, op.value.clone());
            Ok(Step { delta, undo: Some(Undo::Restore { path: op.path.clone(), value: replaced }), work: target_size })
        }
        PatchOperation::Remove(op) => {
            let (value, from, overhead) = take(document, &op.path)?;
            let value_size = serialized_len(&value);
            let delta = overhead - as_i64(value_size);
            Ok(Step { delta, undo: Some(Undo::Insert { path: from, value }), work: value_size })
        }
        PatchOperation::Move(op) => {
            if op.path.starts_with(&op.from) && op.path.len() != op.from.len() {
                return Err(PatchErrorKind::CannotMoveInsideItself.into());
            }
            let source = document.pointer(op.from.as_str()).ok_or(PatchErrorKind::InvalidFromPointer)?;
            // A move costs nothing proportional to the value, unless it goes deeper than where it
            // sits now: then the value is walked to check that it still fits, and that counts.
            let mut work = 0;
            if op.path.count() > op.from.count() {
                shallow_enough(&op.path, source)?;
                work = serialized_len(source);
            }
            let (value, from, removed) = take(document, &op.from).map_err(|kind| match kind {
                PatchErrorKind::InvalidPointer => PatchErrorKind::InvalidFromPointer,
                other => other,
            })?;
            let inserted = match insert(document, &op.path, value) {
                Ok(inserted) => inserted,
                Err((kind, value)) => {
                    // Put the value back where it was: a failed move changes nothing.
                    let _ = insert(document, &from, value);
                    return Err(kind.into());
                }
            };
            // The moved value's own size cancels out: only keys and separators change.
            let delta = removed + inserted.overhead;
            let work = work.saturating_add(inserted.replaced_size);
            let undo = Undo::MoveBack { from: inserted.path, to: from, replaced: inserted.replaced };
            checked(document, delta, undo, work)
        }
        PatchOperation::Test(op) => {
            // Comparing costs at most the size of the patch's own value.
            let target = document.pointer(op.path.as_str()).ok_or(PatchErrorKind::InvalidPointer)?;
            if *target == op.value {
                Ok(Step { delta: 0, undo: None, work: 0 })
            } else {
                Err(PatchErrorKind::TestFailed.into())
            }
        }
    }
}

/// The serialized size of what an insertion at `path` would replace: an existing object key,
/// or the whole document (an array insertion replaces nothing).
fn replaced_size(document: &Value, path: &Pointer) -> usize {
    match path.split_back() {
        None => serialized_len(document),
        Some((parent, last)) => match document.pointer(parent.as_str()) {
            Some(Value::Object(fields)) => fields.get(last.decoded().as_ref()).map_or(0, serialized_len),
            _ => 0,
        },
    }
}

/// How to take back an insertion.
fn undo_insert(inserted: Inserted) -> Undo {
    match inserted.replaced {
        Some(value) => Undo::Restore { path: inserted.path, value },
        None => Undo::Remove { path: inserted.path },
    }
}

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;
