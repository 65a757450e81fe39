//! The events a hook can receive, and the body of a delivery as `../shared/contracts/server.md`
//! fixes it: `{"id","event","project_id","dialogue_id","created","data"}`.

use serde_json::{Value, json};

use crate::dialogue::description::{self, Access};
use crate::store::{DialogueRecord, OutboxEvent, ReleaseRecord, new_id, now_millis};

/// A dialogue was created; `data` is its summary.
pub const DIALOGUE_CREATED: &str = "dialogue.created";
/// A dialogue has new revisions; `data` is `{"from_revision","to_revision","revision_id"}`.
pub const DIALOGUE_CHANGED: &str = "dialogue.changed";
/// A release was created; `data` is its description.
pub const RELEASE_CREATED: &str = "release.created";
/// Every event, as the API names them.
pub const ALL: [&str; 3] = [DIALOGUE_CREATED, DIALOGUE_CHANGED, RELEASE_CREATED];

/// The outbox event of a new dialogue (the summary a hook sees is not filtered per caller).
pub fn dialogue_created(record: &DialogueRecord) -> OutboxEvent {
    let summary = description::summarize(record, Access { can_view: true, can_edit: true });
    outbox(DIALOGUE_CREATED, &record.project_id, &record.id, &summary)
}

/// The outbox event of a new release.
pub fn release_created(release: &ReleaseRecord) -> OutboxEvent {
    outbox(RELEASE_CREATED, &release.project_id, &release.dialogue_id, &description::describe_release(release))
}

fn outbox(event: &str, project_id: &str, dialogue_id: &str, data: &Value) -> OutboxEvent {
    OutboxEvent {
        id: new_id(),
        event: event.to_owned(),
        project_id: project_id.to_owned(),
        dialogue_id: dialogue_id.to_owned(),
        data: data.to_string(),
        created: now_millis(),
    }
}

/// The `data` of a `dialogue.changed` delivery covering revisions `from..=to`.
pub fn changed_data(from: i64, to: i64, revision_id: &str) -> Value {
    json!({ "from_revision": from, "to_revision": to, "revision_id": revision_id })
}

/// A delivery's body: what every attempt of it sends, byte for byte.
pub fn body(id: &str, event: &str, project_id: &str, dialogue_id: &str, created: i64, data: Value) -> String {
    json!({
        "id": id,
        "event": event,
        "project_id": project_id,
        "dialogue_id": dialogue_id,
        "created": created,
        "data": data,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_has_exactly_the_contract_fields() {
        let body: Value =
            serde_json::from_str(&body("x", DIALOGUE_CHANGED, "p", "d", 5, changed_data(1, 3, "r3"))).unwrap();
        let mut keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["created", "data", "dialogue_id", "event", "id", "project_id"]);
        assert_eq!(body["data"], json!({ "from_revision": 1, "to_revision": 3, "revision_id": "r3" }));
    }
}
