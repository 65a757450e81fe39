//! A dialogue's description as the API shows it: the stored content (`title`, `sequences`,
//! `is_archived`) plus the server's fields (`id`, `url`, `revision_id`) and the computed flags.

use serde_json::{Map, Value, json};

use super::head::Head;
use crate::auth::{Action, Principal};
use crate::store::DialogueRecord;

/// The per-caller access flags of a dialogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// The caller may read it.
    pub can_view: bool,
    /// The caller may change it.
    pub can_edit: bool,
}

impl Access {
    /// What `principal` may do with dialogue `dialogue` of project `project`.
    pub fn of(principal: &Principal, project: &str, dialogue: &str) -> Self {
        Self {
            can_view: principal.may(Action::ViewDialogue { project, dialogue }),
            can_edit: principal.may(Action::EditDialogue { project, dialogue }),
        }
    }
}

/// The release and revision facts the flags are computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flags {
    /// The dialogue has a release.
    pub is_published: bool,
    /// Its newest revision is newer than its newest release's revision.
    pub has_changes: bool,
}

impl Flags {
    /// The flags of a stored head.
    pub fn of(record: &DialogueRecord) -> Self {
        let released = record.release.as_ref().map(|release| release.revision_number);
        Self {
            is_published: released.is_some(),
            has_changes: record.revision_number > 0 && released.is_none_or(|number| record.revision_number > number),
        }
    }
}

/// A release's API description.
pub fn describe_release(release: &crate::store::ReleaseRecord) -> Value {
    json!({
        "id": release.id,
        "url": format!("/projects/{}/dialogues/{}/releases/{}", release.project_id, release.dialogue_id, release.id),
        "number": release.number,
        "revision_id": release.revision_id,
        "revision_number": release.revision_number,
        "user_id": release.user_id,
        "created": release.created,
    })
}

/// The stored part of a description, from a client's (already validated) body: `title`,
/// `sequences` and `is_archived` (default `false`); every other field is dropped.
pub fn content_from(body: &Value) -> Value {
    json!({
        "title": body.get("title").cloned().unwrap_or(Value::String(String::new())),
        "sequences": body.get("sequences").cloned().unwrap_or(Value::Array(Vec::new())),
        "is_archived": body.get("is_archived").and_then(Value::as_bool).unwrap_or(false),
    })
}

/// The full description: content plus server fields and flags.
pub fn describe(record: &DialogueRecord, content: &Value, access: Access) -> Value {
    let mut description = summary_fields(record, access);
    if let Value::Object(fields) = content {
        for (key, value) in fields {
            description.insert(key.clone(), value.clone());
        }
    }
    Value::Object(description)
}

/// The full description of a head as JSON text: its content (serialized once per revision) with
/// the server's fields and the caller's flags spliced in front, so that answering a `GET` costs
/// no serialization of the content, however large.
pub fn describe_json(head: &Head, access: Access) -> String {
    let mut fields = summary_fields(&head.record, access);
    // The content carries these itself.
    fields.remove("title");
    fields.remove("is_archived");
    let mut out = Value::Object(fields).to_string();
    // The content's own fields follow the server's: its `{` becomes their `,`.
    let front = out.len();
    out.pop();
    head.content_json.write_to(&mut out);
    let content = &out[front - 1..];
    if !content.starts_with('{') || content[1..].trim_start().starts_with('}') {
        out.truncate(front - 1);
        out.push('}');
        return out;
    }
    out.replace_range(front - 1..front, ",");
    out
}

/// The summary: no sequences.
pub fn summarize(record: &DialogueRecord, access: Access) -> Value {
    Value::Object(summary_fields(record, access))
}

fn summary_fields(record: &DialogueRecord, access: Access) -> Map<String, Value> {
    let flags = Flags::of(record);
    let mut fields = Map::new();
    fields.insert("id".into(), json!(record.id));
    fields.insert("url".into(), json!(format!("/projects/{}/dialogues/{}", record.project_id, record.id)));
    fields.insert("title".into(), json!(record.title));
    fields.insert("revision_id".into(), json!(record.revision_id));
    fields.insert("is_archived".into(), json!(record.is_archived));
    fields.insert("is_published".into(), json!(flags.is_published));
    fields.insert("has_changes".into(), json!(flags.has_changes));
    fields.insert("can_view".into(), json!(access.can_view));
    fields.insert("can_edit".into(), json!(access.can_edit));
    fields
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ReleaseMark;

    fn head(revision_number: i64, released: Option<i64>) -> DialogueRecord {
        DialogueRecord {
            id: "d".into(),
            project_id: "p".into(),
            title: "t".into(),
            is_archived: false,
            content: String::new(),
            revision_number,
            revision_id: None,
            release: released.map(|revision_number| ReleaseMark { number: 1, id: "r".into(), revision_number }),
            created: 0,
        }
    }

    #[test]
    fn flags_follow_the_lifecycle() {
        let flags = |n, r| {
            let f = Flags::of(&head(n, r));
            (f.is_published, f.has_changes)
        };
        assert_eq!(flags(0, None), (false, false), "new: no revision, no release");
        assert_eq!(flags(3, None), (false, true), "edited, never released");
        assert_eq!(flags(3, Some(3)), (true, false), "released at head");
        assert_eq!(flags(5, Some(3)), (true, true), "edited since the release");
        assert_eq!(flags(0, Some(0)), (true, false), "released as created");
    }

    #[test]
    fn the_spliced_description_equals_the_built_one() {
        let content =
            json!({ "title": "T", "sequences": [{ "id": "s", "title": "S", "blocks": [] }], "is_archived": true });
        let mut record = head(3, Some(1));
        record.title = "T".into();
        record.is_archived = true;
        let access = Access { can_view: true, can_edit: false };
        let spliced = describe_json(&Head { record: record.clone(), content_json: content.to_string().into() }, access);
        let parsed: Value = serde_json::from_str(&spliced).unwrap();
        assert_eq!(parsed, describe(&record, &content, access));
    }

    #[test]
    fn content_keeps_only_stored_fields() {
        let body = json!({ "id": "x", "title": "T", "sequences": [], "can_edit": true });
        assert_eq!(content_from(&body), json!({ "title": "T", "sequences": [], "is_archived": false }));
    }
}
