//! `RevisionLog`: a dialogue's newest stored revisions in memory, oldest first, for catching a
//! session up (`since`), rebasing stale patches over what came after them, and finding the
//! revision a release names.

use std::collections::VecDeque;
use std::sync::Arc;

use super::rebase::Effects;
use super::revision::Revision;

/// The most patch and details text the log keeps. A thousand ordinary revisions (a few hundred
/// bytes each) fit in it; of a flood of maximal patches it keeps the newest few. Parsed, text
/// takes up to about 35 times its size (arrays of tiny values), so this bounds a hot log near
/// 70 MiB, where a thousand 4 MiB patches would take over 100 GiB.
pub const MAX_TEXT_BYTES: usize = 2 * 1024 * 1024;

/// The newest revisions, at most `capacity` and [`MAX_TEXT_BYTES`] of text (the newest is always
/// kept), numbered without gaps.
#[derive(Debug, Default)]
pub struct RevisionLog {
    revisions: VecDeque<Arc<Revision>>,
    capacity: usize,
    max_bytes: usize,
    /// The text the revisions hold.
    bytes: usize,
    /// The number and id of the newest revision trimmed off: a session that holds it can still
    /// be caught up (`since`), from the revisions after it.
    trimmed: Option<(i64, String)>,
}

impl RevisionLog {
    /// A log of `revisions` (oldest first), keeping at most `capacity`.
    pub fn new(revisions: impl IntoIterator<Item = Arc<Revision>>, capacity: usize) -> Self {
        Self::within(revisions, capacity, MAX_TEXT_BYTES)
    }

    /// A log of `revisions` (oldest first), keeping at most `capacity` and `max_bytes` of text.
    fn within(revisions: impl IntoIterator<Item = Arc<Revision>>, capacity: usize, max_bytes: usize) -> Self {
        let revisions: VecDeque<Arc<Revision>> = revisions.into_iter().collect();
        let bytes = revisions.iter().map(|r| r.text_bytes()).sum();
        let mut log = Self { revisions, capacity, max_bytes, bytes, trimmed: None };
        log.trim();
        log
    }

    fn trim(&mut self) {
        while self.revisions.len() > self.capacity || (self.bytes > self.max_bytes && self.revisions.len() > 1) {
            if let Some(oldest) = self.revisions.pop_front() {
                self.bytes -= oldest.text_bytes();
                self.trimmed = Some((oldest.number(), oldest.record.id.clone()));
            }
        }
    }

    /// Appends the next stored revision.
    pub fn push(&mut self, revision: Arc<Revision>) {
        self.bytes += revision.text_bytes();
        self.revisions.push_back(revision);
        self.trim();
    }

    /// The revisions numbered after `number`, oldest first.
    pub fn after(&self, number: i64) -> impl Iterator<Item = &Arc<Revision>> {
        let newest = self.revisions.back().map_or(0, |r| r.number());
        let wanted = usize::try_from(newest - number).unwrap_or(0).min(self.revisions.len());
        self.revisions.iter().skip(self.revisions.len() - wanted)
    }

    /// Every revision from `since + 1` to `newest`, when the log still holds them all.
    pub fn catch_up(&self, since: i64, newest: i64) -> Option<Vec<Arc<Revision>>> {
        let missing: Vec<Arc<Revision>> = self.after(since).filter(|r| r.number() <= newest).cloned().collect();
        let complete = i64::try_from(missing.len()).ok() == Some(newest - since)
            && missing.first().is_none_or(|first| first.number() == since + 1);
        complete.then_some(missing)
    }

    /// The id of revision `number`, while the log holds it or it is the one trimmed last.
    pub fn id_of(&self, number: i64) -> Option<&str> {
        let held = self.after(number - 1).next().filter(|r| r.number() == number).map(|r| r.record.id.as_str());
        held.or(self.trimmed.as_ref().filter(|(trimmed, _)| *trimmed == number).map(|(_, id)| id.as_str()))
    }

    /// A revision by id.
    pub fn find(&self, id: &str) -> Option<Arc<Revision>> {
        self.revisions.iter().rev().find(|r| r.record.id == id).cloned()
    }

    /// The effects of every revision after `base` up to `newest`: the stored ones from the log,
    /// then `queued` (accepted, not stored yet, in order). `None` when some are no longer in
    /// memory, or the numbers do not follow each other.
    pub fn effects_since<'a>(
        &'a self,
        base: i64,
        queued: impl Iterator<Item = &'a Arc<Revision>>,
        newest: i64,
    ) -> Option<Vec<&'a Effects>> {
        let mut expected = base + 1;
        let mut effects = Vec::new();
        for revision in self.after(base).chain(queued) {
            if revision.number() != expected {
                return None;
            }
            effects.push(&revision.effects);
            expected += 1;
        }
        (expected == newest + 1).then_some(effects)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn revision(number: i64) -> Arc<Revision> {
        let patch = json!([{ "op": "add", "path": "/a/0", "value": number }]).to_string();
        crate::dialogue::revision::fixture(number, &patch)
    }

    #[test]
    fn it_keeps_the_newest_revisions() {
        let mut log = RevisionLog::new((1..=3).map(revision), 3);
        log.push(revision(4));
        let numbers: Vec<i64> = log.after(0).map(|r| r.number()).collect();
        assert_eq!(numbers, [2, 3, 4]);
        assert_eq!(log.after(3).map(|r| r.number()).collect::<Vec<_>>(), [4]);
        assert!(log.find("r1").is_none() && log.find("r3").is_some());
    }

    #[test]
    fn large_revisions_are_kept_within_the_text_budget_and_the_newest_always() {
        let large = |number: i64| {
            let text = "x".repeat(1000);
            let patch = json!([{ "op": "replace", "path": "/title", "value": text }]).to_string();
            crate::dialogue::revision::fixture(number, &patch)
        };
        let weight = large(1).text_bytes();
        let mut log = RevisionLog::within((1..=10).map(large), 1000, 3 * weight);
        assert_eq!(log.after(0).map(|r| r.number()).collect::<Vec<_>>(), [8, 9, 10]);
        log.push(revision(11));
        assert_eq!(log.after(0).map(|r| r.number()).collect::<Vec<_>>(), [9, 10, 11], "small ones weigh less");
        assert!(log.catch_up(7, 11).is_none(), "8 is gone: the session gets a full welcome instead");
        let mut tiny = RevisionLog::within([], 1000, 10);
        tiny.push(large(1));
        tiny.push(large(2));
        assert_eq!(tiny.after(0).map(|r| r.number()).collect::<Vec<_>>(), [2], "the newest stays, however large");
    }

    #[test]
    fn catch_up_needs_every_revision() {
        let log = RevisionLog::new((5..=9).map(revision), 10);
        assert_eq!(log.catch_up(6, 9).unwrap().iter().map(|r| r.number()).collect::<Vec<_>>(), [7, 8, 9]);
        assert_eq!(log.catch_up(9, 9).unwrap().len(), 0);
        assert!(log.catch_up(2, 9).is_none(), "3 and 4 are gone");
        assert!(log.catch_up(6, 8).unwrap().iter().all(|r| r.number() <= 8), "never past the head");
        assert_eq!(log.id_of(6), log.find("r6").map(|r| r.record.id.clone()).as_deref());
        assert!(log.id_of(4).is_none() && log.id_of(10).is_none(), "only what the log holds");
        let mut full = RevisionLog::new((1..=3).map(revision), 3);
        full.push(revision(4));
        assert_eq!(full.id_of(1), Some("r1"), "the revision trimmed last is still named");
        full.push(revision(5));
        assert_eq!((full.id_of(1), full.id_of(2)), (None, Some("r2")));
    }

    #[test]
    fn effects_come_from_the_log_then_the_queue() {
        let log = RevisionLog::new((1..=4).map(revision), 10);
        let queued = [revision(5), revision(6)];
        assert_eq!(log.effects_since(2, queued.iter(), 6).map(|e| e.len()), Some(4));
        assert!(log.effects_since(2, queued.iter(), 7).is_none(), "one is missing");
        let gap = [revision(6)];
        assert!(log.effects_since(2, gap.iter(), 6).is_none(), "5 is missing");
        let short = RevisionLog::new((3..=4).map(revision), 10);
        assert!(short.effects_since(1, [].iter(), 4).is_none(), "2 is no longer in memory");
    }
}
