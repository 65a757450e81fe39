//! Rebuilding a dialogue's description as of any revision: the nearest snapshot at or before
//! it, then the revisions after the snapshot. Snapshots every N revisions bound the work.

use serde_json::Value;

use super::revision::Revision;
use crate::error::ApiError;
use crate::store::Store;

/// The description right after revision `number` (0: as created).
pub async fn state_at(store: &Store, dialogue_id: &str, number: i64) -> Result<Value, ApiError> {
    let snapshot = store.snapshot_at_or_before(dialogue_id, number).await?.ok_or_else(|| {
        ApiError::internal(anyhow::anyhow!("dialogue {dialogue_id} has no snapshot at or before {number}"))
    })?;
    let mut content: Value = serde_json::from_str(&snapshot.content).map_err(ApiError::internal)?;
    let records = store.revisions_between(dialogue_id, snapshot.number, number).await?;
    let expected = number - snapshot.number;
    if i64::try_from(records.len()).ok() != Some(expected) {
        return Err(ApiError::internal(anyhow::anyhow!(
            "dialogue {dialogue_id}: expected {expected} revisions after snapshot {}, found {}",
            snapshot.number,
            records.len()
        )));
    }
    for record in records {
        let revision = Revision::from_record(record).map_err(ApiError::internal)?;
        crate::patch::replay(&mut content, &revision.patch).map_err(|e| {
            ApiError::internal(anyhow::anyhow!("stored revision {} does not apply: {e}", revision.number()))
        })?;
    }
    Ok(content)
}
