//! A committed revision as the server holds it in memory: the stored record plus its parsed
//! patch, and its API description.

use std::borrow::Cow;

use json_patch::Patch;
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::rebase::Effects;
use crate::store::RevisionRecord;

/// A revision that is durably stored.
#[derive(Debug, Clone)]
pub struct Revision {
    /// As stored.
    pub record: RevisionRecord,
    /// The patch as applied, parsed (for rebasing and replay).
    pub patch: Patch,
    /// The client's details object.
    pub details: Value,
    /// What the patch did, parsed once for rebasing later patches over it.
    pub effects: Effects,
}

impl Revision {
    /// Parses a stored record.
    pub fn from_record(record: RevisionRecord) -> anyhow::Result<Self> {
        let patch = serde_json::from_str(&record.patch)?;
        let details = serde_json::from_str(&record.details)?;
        let effects = Effects::of(&patch);
        Ok(Self { record, patch, details, effects })
    }

    /// The revision's number.
    pub fn number(&self) -> i64 {
        self.record.number
    }

    /// What it weighs in memory, roughly: its patch and details as text (parsed, they take a
    /// few times that).
    pub fn text_bytes(&self) -> usize {
        self.record.text_bytes()
    }

    /// The API description (see [`describe_record`]).
    pub fn describe(&self) -> Box<RawValue> {
        // The record's text was parsed when this revision was made or loaded, so it is JSON.
        describe_record(&self.record).unwrap_or_else(|error| {
            tracing::error!(id = %self.record.id, %error, "a revision's stored text is not JSON");
            RawValue::NULL.to_owned()
        })
    }
}

/// A stored revision's API description: `id`, `url`, `number`, `user_id`, `created`, `type`,
/// `details` and `properties` (`edit_type` and `patch`, or `revision_id` and `patch`). The patch
/// and details are copied from the stored text as they are (checked to be JSON, never parsed
/// into a tree), so a description costs about its size, where a parsed patch takes up to 35
/// times that; an error only when the stored text is not JSON.
pub fn describe_record(r: &RevisionRecord) -> serde_json::Result<Box<RawValue>> {
    #[derive(Serialize)]
    struct Properties<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        edit_type: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        revision_id: Option<&'a str>,
        patch: &'a RawValue,
    }
    #[derive(Serialize)]
    struct Description<'a> {
        id: &'a str,
        url: String,
        number: i64,
        user_id: &'a str,
        created: i64,
        #[serde(rename = "type")]
        kind: &'a str,
        details: &'a RawValue,
        properties: Properties<'a>,
    }
    let (details, patch) = (one_line(&r.details), one_line(&r.patch));
    serde_json::value::to_raw_value(&Description {
        id: &r.id,
        url: url(r),
        number: r.number,
        user_id: &r.user_id,
        created: r.created,
        kind: &r.kind,
        details: serde_json::from_str(&details)?,
        properties: Properties {
            edit_type: r.edit_type.as_deref(),
            revision_id: r.reverted_to.as_deref(),
            patch: serde_json::from_str(&patch)?,
        },
    })
}

/// JSON text on one line. The server stores its own text compact, but text written by anything
/// else (a restore, a migration) may hold line breaks, and a live frame must not (a `batch` is
/// split on them). In JSON text a raw line break can only be whitespace between tokens, so
/// turning it into a space changes nothing else.
fn one_line(text: &str) -> Cow<'_, str> {
    if text.contains(['\n', '\r']) { Cow::Owned(text.replace(['\n', '\r'], " ")) } else { Cow::Borrowed(text) }
}

/// A revision's `url`.
pub fn url(r: &RevisionRecord) -> String {
    format!("/projects/{}/dialogues/{}/revisions/{}", r.project_id, r.dialogue_id, r.id)
}

/// A stored revision for unit tests: number `number`, with `patch` (JSON text).
#[cfg(test)]
pub(crate) fn fixture(number: i64, patch: &str) -> std::sync::Arc<Revision> {
    std::sync::Arc::new(Revision::from_record(fixture_record(number, patch)).expect("a fixture parses"))
}

/// The record of [`fixture`].
#[cfg(test)]
pub(crate) fn fixture_record(number: i64, patch: &str) -> RevisionRecord {
    RevisionRecord {
        id: format!("r{number}"),
        dialogue_id: "d".into(),
        project_id: "p".into(),
        number,
        user_id: "u".into(),
        created: 0,
        accepted: None,
        kind: "edit".into(),
        edit_type: None,
        reverted_to: None,
        patch: patch.to_owned(),
        details: "{}".into(),
        process: None,
        handoff: None,
        pushed_to: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    #[test]
    fn a_record_is_described_from_its_text_with_the_fields_of_its_type() {
        let mut edit = fixture_record(3, r#"[{"op":"replace","path":"/title","value":"T\n"}]"#);
        edit.edit_type = Some("rename".into());
        edit.details = r#"{"why":"a \"quote\""}"#.into();
        let described: Value = serde_json::from_str(describe_record(&edit).unwrap().get()).unwrap();
        assert_eq!(
            described,
            json!({
                "id": "r3", "url": "/projects/p/dialogues/d/revisions/r3", "number": 3, "user_id": "u",
                "created": 0, "type": "edit", "details": { "why": "a \"quote\"" },
                "properties": { "edit_type": "rename", "patch": [{ "op": "replace", "path": "/title", "value": "T\n" }] },
            })
        );
        let mut revert = fixture_record(4, "[]");
        revert.kind = "revert".into();
        revert.reverted_to = Some("r1".into());
        let described: Value = serde_json::from_str(describe_record(&revert).unwrap().get()).unwrap();
        assert_eq!(described["properties"], json!({ "revision_id": "r1", "patch": [] }));
        assert_eq!(described["type"], "revert");
        revert.patch = "[\r\n  {\"op\": \"remove\", \"path\": \"/title\"}\n]".into();
        revert.details = " {\n} ".into();
        let text = describe_record(&revert).unwrap();
        assert!(!text.get().contains(['\n', '\r']), "stored line breaks never reach a frame: {}", text.get());
        let described: Value = serde_json::from_str(text.get()).unwrap();
        assert_eq!(described["properties"]["patch"], json!([{ "op": "remove", "path": "/title" }]));
        revert.patch = "[{".into();
        assert!(describe_record(&revert).is_err(), "stored text that is not JSON is an error, not a broken body");
    }
}
