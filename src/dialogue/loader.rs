//! Loading a dialogue in two round trips: first its stored head, newest snapshot and newest
//! release, read at once; then, in one query, the recent log together with every revision
//! stored after the newer of head and snapshot (they exist when the head write lagged behind:
//! the head is derived data). The log and the content come from that one read of the tail, so
//! the log never runs ahead of the content it is loaded with: a revision stored by another
//! process meanwhile arrives through the change feed, once.

use std::sync::Arc;

use super::head::{Identity, Version};
use super::log::{MAX_TEXT_BYTES, RevisionLog};
use super::revision::Revision;
use crate::error::ApiError;
use crate::store::{DialogueRecord, ReleaseMark, RevisionRecord, Snapshot, Store, StoreError};

/// A loaded dialogue.
pub struct LoadedState {
    /// What identifies it.
    pub identity: Identity,
    /// Its newest content.
    pub version: Version,
    /// Its newest release.
    pub release: Option<ReleaseMark>,
    /// Its newest revisions.
    pub log: RevisionLog,
    /// The revision its newest snapshot is at.
    pub last_snapshot: i64,
    /// The revision its stored head is at (before any repair).
    pub head_stored: i64,
    /// Its newest release's number (0: none).
    pub last_release_number: i64,
}

/// Why a dialogue could not be loaded: the database is unreachable (`503`, retried by the next
/// request), or the stored dialogue does not read back (`500`; the cause is in the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadFailure {
    /// The database did not answer.
    Unavailable,
    /// The stored dialogue is unreadable.
    Unreadable,
}

impl LoadFailure {
    /// The failure a store error means.
    pub fn of(error: &StoreError) -> Self {
        match error {
            StoreError::Unavailable(_) => Self::Unavailable,
            _ => Self::Unreadable,
        }
    }

    /// The error to answer requests with.
    pub fn error(self) -> ApiError {
        match self {
            Self::Unavailable => ApiError::Unavailable,
            Self::Unreadable => ApiError::internal(anyhow::anyhow!("the dialogue's stored state cannot be loaded")),
        }
    }
}

/// Where loading starts: the stored head, or the newest snapshot when the head lagged further
/// behind than it (a snapshot carries no revision id; the log supplies it).
fn starting_point(record: &DialogueRecord, snapshot: Option<Snapshot>) -> Result<Version, String> {
    match snapshot {
        Some(snapshot) if snapshot.number > record.revision_number => {
            let content: serde_json::Value =
                serde_json::from_str(&snapshot.content).map_err(|e| format!("its snapshot does not parse: {e}"))?;
            Ok(Version { size: crate::limits::serialized_len(&content), content, number: snapshot.number, id: None })
        }
        _ => Version::from_record(record).map_err(|e| format!("its head does not parse: {e}")),
    }
}

/// `version` brought up to the newest revision of `records` (the recent log and anything after
/// it, oldest first), and the log of at most `capacity` revisions.
fn assemble(
    mut version: Version,
    records: Vec<RevisionRecord>,
    capacity: usize,
) -> Result<(Version, RevisionLog), String> {
    let mut revisions = Vec::with_capacity(records.len());
    for record in records {
        let revision = Revision::from_record(record).map_err(|e| format!("a revision does not parse: {e}"))?;
        let number = revision.number();
        if number == version.number && version.id.is_none() {
            version.id = Some(revision.record.id.clone());
        }
        if number > version.number {
            if number != version.number + 1 {
                return Err(format!("revision {number} follows {}", version.number));
            }
            version.advance(&revision).map_err(|e| format!("revision {number} does not apply: {e}"))?;
        }
        revisions.push(Arc::new(revision));
    }
    if version.number > 0 && version.id.is_none() {
        return Err(format!("revision {} is missing", version.number));
    }
    Ok((version, RevisionLog::new(revisions, capacity)))
}

/// Loads a dialogue (`None`: it does not exist): its head, newest snapshot and newest release
/// at once, then the revisions from a little before the newer of head and snapshot (the recent
/// log, as much of it as the log keeps, and whatever the head lags behind), so a cold load
/// reads a bounded tail however long the history and however large its patches.
pub async fn load(store: &Store, dialogue_id: &str, capacity: usize) -> Result<Option<LoadedState>, StoreError> {
    let started = std::time::Instant::now();
    let (record, snapshot, latest_release) = futures_util::try_join!(
        store.dialogue_by_id_any_project(dialogue_id),
        store.snapshot_at_or_before(dialogue_id, i64::MAX),
        store.latest_release(dialogue_id),
    )?;
    let Some(record) = record else {
        return Ok(None);
    };
    let head_stored = record.revision_number;
    let last_snapshot = snapshot.as_ref().map_or(0, |s| s.number);
    let unreadable = |why: String| StoreError::Other(anyhow::anyhow!("dialogue {dialogue_id} cannot be loaded: {why}"));
    let start = starting_point(&record, snapshot).map_err(unreadable)?;
    let window = i64::try_from(capacity.clamp(1, 200)).unwrap_or(200);
    let read_head = started.elapsed();
    // The log keeps at most `MAX_TEXT_BYTES` of text: of the window before the start, only that
    // much is read and parsed (200 patches of 2 MiB would otherwise take gigabytes parsed).
    let after = (start.number - window).max(0);
    let records = store.revisions_for_load(dialogue_id, after, start.number, MAX_TEXT_BYTES).await?;
    let read_tail = started.elapsed();
    let tail = records.len();
    let (version, log) = assemble(start, records, capacity).map_err(unreadable)?;
    tracing::debug!(
        %dialogue_id,
        head_ms = read_head.as_secs_f64() * 1e3,
        tail_ms = (read_tail - read_head).as_secs_f64() * 1e3,
        assemble_ms = (started.elapsed() - read_tail).as_secs_f64() * 1e3,
        tail,
        number = version.number,
        "dialogue loaded"
    );
    if version.number > head_stored {
        tracing::info!(%dialogue_id, repaired = version.number - head_stored, "head behind its revisions; caught up");
    }
    let mut release = record.release.clone();
    if let Some(latest) = &latest_release
        && release.as_ref().is_none_or(|known| known.number < latest.number)
    {
        release =
            Some(ReleaseMark { number: latest.number, id: latest.id.clone(), revision_number: latest.revision_number });
    }
    let last_release_number = latest_release.map_or(0, |r| r.number);
    let identity = Identity::of(&record);
    Ok(Some(LoadedState { identity, version, release, log, last_snapshot, head_stored, last_release_number }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn record(number: i64) -> DialogueRecord {
        DialogueRecord {
            id: "d".into(),
            project_id: "p".into(),
            title: "T".into(),
            is_archived: false,
            content: json!({ "title": "T", "sequences": [], "is_archived": false }).to_string(),
            revision_number: number,
            revision_id: Some(format!("r{number}")),
            release: None,
            created: 0,
        }
    }

    fn start(number: i64) -> Version {
        starting_point(&record(number), None).unwrap()
    }

    fn revision(number: i64) -> RevisionRecord {
        let patch = json!([{ "op": "replace", "path": "/title", "value": format!("T{number}") }]).to_string();
        crate::dialogue::revision::fixture_record(number, &patch)
    }

    #[test]
    fn the_head_catches_up_with_revisions_stored_after_it() {
        let (head, log) = assemble(start(3), (1..=6).map(revision).collect(), 100).unwrap();
        assert_eq!(head.number, 6);
        assert_eq!(head.content["title"], "T6");
        assert_eq!(head.size, crate::limits::serialized_len(&head.content));
        let numbers: Vec<i64> = log.after(0).map(|r| r.number()).collect();
        assert_eq!(numbers, [1, 2, 3, 4, 5, 6], "the log ends at the head, never past it");
    }

    #[test]
    fn a_snapshot_ahead_of_a_lagging_head_is_where_loading_starts() {
        let snapshot = |number: i64| Snapshot {
            id: format!("d:{number}"),
            dialogue_id: "d".into(),
            project_id: "p".into(),
            number,
            content: json!({ "title": format!("T{number}"), "sequences": [], "is_archived": false }).to_string(),
        };
        let from = starting_point(&record(3), Some(snapshot(50))).unwrap();
        assert_eq!((from.number, from.id.as_deref()), (50, None));
        let (head, _) = assemble(from, (40..=52).map(revision).collect(), 100).unwrap();
        assert_eq!((head.number, head.id.as_deref(), head.content["title"].as_str()), (52, Some("r52"), Some("T52")));
        assert_eq!(head.size, crate::limits::serialized_len(&head.content));
        assert_eq!(starting_point(&record(60), Some(snapshot(50))).unwrap().number, 60, "a newer head wins");
        let missing = assemble(starting_point(&record(3), Some(snapshot(50))).unwrap(), Vec::new(), 100);
        assert!(missing.unwrap_err().contains("revision 50 is missing"));
    }

    #[test]
    fn a_gap_or_an_unreadable_revision_is_an_unreadable_dialogue() {
        let gap = assemble(start(3), vec![revision(2), revision(3), revision(5)], 100);
        assert!(gap.unwrap_err().contains("revision 5 follows 3"));
        let mut broken = revision(4);
        broken.patch = "not json".into();
        assert!(assemble(start(3), vec![broken], 100).is_err());
        let mut head = record(0);
        head.content = "{".into();
        assert!(starting_point(&head, None).is_err());
    }
}
