//! Rebuilding a dialogue's description as of any revision: the nearest snapshot at or before
//! it, then the revisions after the snapshot, applied one at a time as they are read (a
//! thousand large patches are never in memory at once). Snapshots every N revisions bound the
//! work.

use json_patch::Patch;
use serde_json::Value;

use crate::error::ApiError;
use crate::store::Store;

/// The description right after revision `number` (0: as created).
pub async fn state_at(store: &Store, dialogue_id: &str, number: i64) -> Result<Value, ApiError> {
    let snapshot = store.snapshot_at_or_before(dialogue_id, number).await?.ok_or_else(|| {
        ApiError::internal(anyhow::anyhow!("dialogue {dialogue_id} has no snapshot at or before {number}"))
    })?;
    let mut content: Value = serde_json::from_str(&snapshot.content).map_err(ApiError::internal)?;
    let mut next = snapshot.number + 1;
    let replayed = store
        .each_revision_between(dialogue_id, snapshot.number, number, |record| {
            if record.number != next {
                return Err(anyhow::anyhow!("revision {} follows {}", record.number, next - 1));
            }
            let patch: Patch = serde_json::from_str(&record.patch)?;
            crate::patch::replay(&mut content, &patch)
                .map_err(|e| anyhow::anyhow!("stored revision {} does not apply: {e}", record.number))?;
            next += 1;
            Ok(())
        })
        .await?
        .map_err(|e| ApiError::internal(e.context(format!("dialogue {dialogue_id} cannot be rebuilt"))))?;
    let expected = number - snapshot.number;
    if i64::try_from(replayed).ok() != Some(expected) {
        return Err(ApiError::internal(anyhow::anyhow!(
            "dialogue {dialogue_id}: expected {expected} revisions after snapshot {}, found {replayed}",
            snapshot.number,
        )));
    }
    Ok(content)
}
