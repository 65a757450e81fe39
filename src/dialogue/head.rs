//! A dialogue's state in memory and as readers see it.
//!
//! - [`Version`]: the content at one revision, owned, with its serialized size. The actor keeps
//!   two: the durable version (as stored) and the speculative one (with every write accepted
//!   since). Each patch is applied to both, once when it is accepted and once when it is stored,
//!   so neither is ever copied whole on the write path.
//! - [`Head`]: the durable state for readers (`GET`, a `welcome`, a REST write's answer), cheap
//!   to clone: its content is serialized once per revision, when first asked for, and shared.

use serde_json::Value;

use super::revision::Revision;
use super::serialized::ContentJson;
use crate::error::ApiError;
use crate::limits::serialized_len;
use crate::patch::{self, Bounds};
use crate::store::{DialogueRecord, ReleaseMark};

/// The content (`title`, `sequences`, `is_archived`) at one revision.
#[derive(Debug, Clone, PartialEq)]
pub struct Version {
    /// The content.
    pub content: Value,
    /// Its serialized size, kept up to date as patches apply.
    pub size: usize,
    /// Its revision's number (0 before the first).
    pub number: i64,
    /// Its revision's id (`None` before the first).
    pub id: Option<String>,
}

impl Version {
    /// Moves this version on to a stored revision: its patch applied (without bounds: they were
    /// checked when it was accepted), its number and id taken. On failure nothing changes.
    pub fn advance(&mut self, revision: &Revision) -> Result<(), ApiError> {
        let applied = patch::apply(&mut self.content, self.size, &revision.patch, Bounds::NONE)?;
        self.size = applied.size;
        self.number = revision.number();
        self.id = Some(revision.record.id.clone());
        Ok(())
    }

    /// The content of a stored head record.
    pub fn from_record(record: &DialogueRecord) -> anyhow::Result<Self> {
        let content: Value = serde_json::from_str(&record.content)?;
        Ok(Self {
            size: serialized_len(&content),
            content,
            number: record.revision_number,
            id: record.revision_id.clone(),
        })
    }

    /// Whether an `If-Match` entity tag names this revision (`*` matches any).
    pub fn matches(&self, if_match: &str) -> bool {
        let current = self.id.as_deref().unwrap_or_default();
        if_match.split(',').map(str::trim).any(|tag| {
            let tag = tag.strip_prefix("W/").unwrap_or(tag);
            tag == "*" || tag.trim_matches('"') == current
        })
    }

    /// The title, for listings.
    pub fn title(&self) -> &str {
        self.content.get("title").and_then(Value::as_str).unwrap_or_default()
    }

    /// Whether it is archived, for listings.
    pub fn is_archived(&self) -> bool {
        self.content.get("is_archived").and_then(Value::as_bool).unwrap_or(false)
    }
}

/// What identifies a dialogue and does not change with its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The dialogue.
    pub dialogue_id: String,
    /// Its project.
    pub project_id: String,
    /// Its creation time, ms since the epoch.
    pub created: i64,
}

impl Identity {
    /// The identity in a stored head record.
    pub fn of(record: &DialogueRecord) -> Self {
        Self { dialogue_id: record.id.clone(), project_id: record.project_id.clone(), created: record.created }
    }

    /// The head record of `version` with `release`; its content serialized only when
    /// `with_content`.
    pub fn record(&self, version: &Version, release: Option<&ReleaseMark>, with_content: bool) -> DialogueRecord {
        DialogueRecord {
            id: self.dialogue_id.clone(),
            project_id: self.project_id.clone(),
            title: version.title().to_owned(),
            is_archived: version.is_archived(),
            content: if with_content { version.content.to_string() } else { String::new() },
            revision_number: version.number,
            revision_id: version.id.clone(),
            release: release.cloned(),
            created: self.created,
        }
    }
}

/// The durable state of a dialogue as readers see it.
#[derive(Debug, Clone)]
pub struct Head {
    /// The head record, without its content.
    pub record: DialogueRecord,
    /// The content, serialized (a JSON object), in shared pieces.
    pub content_json: ContentJson,
}

impl Head {
    /// The revision's number.
    pub fn revision_number(&self) -> i64 {
        self.record.revision_number
    }

    /// The revision's id.
    pub fn revision_id(&self) -> Option<&str> {
        self.record.revision_id.as_deref()
    }

    /// The project.
    pub fn project_id(&self) -> &str {
        &self.record.project_id
    }

    /// The content, parsed (for the few readers that need it as a value).
    pub fn content(&self) -> Value {
        serde_json::from_str(&self.content_json.text()).unwrap_or(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn version(id: Option<&str>) -> Version {
        let content = json!({ "title": "T", "sequences": [], "is_archived": false });
        Version { size: serialized_len(&content), content, number: 1, id: id.map(str::to_owned) }
    }

    #[test]
    fn if_match_names_the_current_revision() {
        let current = version(Some("r1"));
        assert!(current.matches("\"r1\""));
        assert!(current.matches("W/\"r1\""));
        assert!(current.matches("\"r0\", \"r1\""));
        assert!(current.matches("*"));
        assert!(current.matches("r1"), "an unquoted tag is read as the same tag");
        assert!(!current.matches("\"r0\""));
        assert!(!current.matches("r0"));
        assert!(version(None).matches("\"\""), "before the first revision the tag is empty");
    }

    #[test]
    fn a_record_round_trips() {
        let identity = Identity { dialogue_id: "d".into(), project_id: "p".into(), created: 5 };
        let record = identity.record(&version(Some("r1")), None, true);
        assert_eq!((record.title.as_str(), record.is_archived, record.revision_number), ("T", false, 1));
        assert_eq!(Version::from_record(&record).unwrap(), version(Some("r1")));
        assert_eq!(Identity::of(&record), identity);
        assert!(identity.record(&version(None), None, false).content.is_empty());
    }
}
