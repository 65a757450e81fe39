//! `Head`: a dialogue's state at one revision (its content and serialized size, the revision's
//! number and id, the newest release), and how it maps to the stored head record.

use std::sync::Arc;

use serde_json::Value;

use crate::limits::serialized_len;
use crate::store::{DialogueRecord, ReleaseMark};

/// A dialogue's state at one revision.
#[derive(Debug, Clone)]
pub struct Head {
    /// The dialogue.
    pub dialogue_id: String,
    /// Its project.
    pub project_id: String,
    /// The description: `title`, `sequences`, `is_archived`.
    pub content: Arc<Value>,
    /// Its serialized size, kept up to date as changes apply.
    pub content_size: usize,
    /// Number of the newest revision in `content` (0 before the first).
    pub revision_number: i64,
    /// Id of that revision.
    pub revision_id: Option<String>,
    /// The newest release.
    pub release: Option<ReleaseMark>,
    /// Creation time of the dialogue.
    pub created: i64,
}

impl Head {
    /// The state a stored head record describes.
    pub fn from_record(record: DialogueRecord) -> anyhow::Result<Self> {
        let content: Value = serde_json::from_str(&record.content)?;
        Ok(Self {
            dialogue_id: record.id,
            project_id: record.project_id,
            content_size: serialized_len(&content),
            content: Arc::new(content),
            revision_number: record.revision_number,
            revision_id: record.revision_id,
            release: record.release,
            created: record.created,
        })
    }

    /// The head as a stored record; `content` is serialized only when `with_content`.
    pub fn to_record(&self, with_content: bool) -> DialogueRecord {
        DialogueRecord {
            id: self.dialogue_id.clone(),
            project_id: self.project_id.clone(),
            title: self.content.get("title").and_then(Value::as_str).unwrap_or_default().to_owned(),
            is_archived: self.content.get("is_archived").and_then(Value::as_bool).unwrap_or(false),
            content: if with_content { self.content.to_string() } else { String::new() },
            revision_number: self.revision_number,
            revision_id: self.revision_id.clone(),
            release: self.release.clone(),
            created: self.created,
        }
    }

    /// Whether an `If-Match` entity tag names this state (`*` matches any).
    pub fn matches(&self, if_match: &str) -> bool {
        let current = self.revision_id.as_deref().unwrap_or_default();
        if_match.split(',').map(str::trim).any(|tag| {
            let tag = tag.strip_prefix("W/").unwrap_or(tag);
            tag == "*" || tag.trim_matches('"') == current
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(revision_id: Option<&str>) -> Head {
        Head {
            dialogue_id: "d".into(),
            project_id: "p".into(),
            content: Arc::new(serde_json::json!({ "title": "T", "sequences": [], "is_archived": false })),
            content_size: 0,
            revision_number: 1,
            revision_id: revision_id.map(str::to_owned),
            release: None,
            created: 0,
        }
    }

    #[test]
    fn if_match_names_the_current_revision() {
        let current = head(Some("r1"));
        assert!(current.matches("\"r1\""));
        assert!(current.matches("W/\"r1\""));
        assert!(current.matches("\"r0\", \"r1\""));
        assert!(current.matches("*"));
        assert!(!current.matches("\"r0\""));
        assert!(head(None).matches("\"\""), "before the first revision the tag is empty");
    }

    #[test]
    fn a_record_round_trips() {
        let original = head(Some("r1"));
        let back = Head::from_record(original.to_record(true)).unwrap();
        assert_eq!(back.content, original.content);
        assert_eq!(back.content_size, serialized_len(&original.content));
        assert_eq!((back.revision_number, back.revision_id), (1, Some("r1".into())));
        assert_eq!(original.to_record(true).title, "T");
    }
}
