//! Creating a release of a stored revision: the next release number of the dialogue, taken
//! again when another process took it first, then recorded on the dialogue's head.

use super::head::Identity;
use super::messages::CreateRelease;
use crate::error::ApiError;
use crate::store::{ReleaseMark, ReleaseRecord, Store, StoreError, new_id, now_millis};

/// How many times a release number taken by another process is replaced by the next one.
const MAX_ATTEMPTS: u32 = 20;

/// Stores release `number` of the revision a `CreateRelease` names (`known`: its number, when
/// the log has it), taking the next number when another process took this one.
pub async fn create_release(
    store: &Store,
    identity: &Identity,
    message: CreateRelease,
    known: Option<i64>,
    number: i64,
) -> Result<(ReleaseRecord, ReleaseMark), ApiError> {
    let revision_number = match known {
        Some(number) => number,
        None => store.revision_by_id(&identity.dialogue_id, &message.revision_id).await?.map(|r| r.number).ok_or_else(
            || {
                ApiError::invalid(
                    "reference",
                    "/revision_id",
                    format!("No revision {} exists in this dialogue", message.revision_id),
                )
            },
        )?,
    };
    let mut release = ReleaseRecord {
        id: new_id(),
        dialogue_id: identity.dialogue_id.clone(),
        project_id: identity.project_id.clone(),
        number,
        revision_id: message.revision_id,
        revision_number,
        created: now_millis(),
        user_id: message.user_id,
    };
    let mut attempts = 0;
    loop {
        match store.insert_release(&release, &crate::webhooks::events::release_created(&release)).await {
            Ok(()) => break,
            Err(StoreError::Duplicate { .. }) if attempts < MAX_ATTEMPTS => {
                attempts += 1;
                release.number = store.latest_release(&identity.dialogue_id).await?.map_or(0, |r| r.number) + 1;
            }
            Err(error) => return Err(error.into()),
        }
    }
    let mark = ReleaseMark { number: release.number, id: release.id.clone(), revision_number };
    store.mark_release(&identity.dialogue_id, &mark).await?;
    Ok((release, mark))
}
