//! The live protocol on the server's side: frames of `dialogue_protocol` serialized once into
//! shared text (a [`Frame`] costs a reference count per recipient, never a copy), and client
//! frames parsed and checked against the server's limits into an [`Incoming`] request.

use bytestring::ByteString;
pub use dialogue_protocol::{ClientFrame, MAX_FRAME_BYTES, MAX_SELECTION_BYTES, ServerFrame, Welcome, close};
use json_patch::Patch;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::limits::Limits;

/// A serialized text frame, shared between every session that receives it.
pub type Frame = ByteString;

/// Serializes a frame once, for any number of recipients.
pub fn frame(frame: &ServerFrame) -> Frame {
    ByteString::from(frame.to_text())
}

/// `welcome`, with the dialogue's description already serialized (`describe_json`), so that a
/// session joining a large dialogue costs no serialization of it.
pub fn welcome(welcome: &Welcome, dialogue: Option<&str>) -> Frame {
    let fields = serde_json::to_string(welcome).unwrap_or_else(|_| "{}".into());
    let rest = fields.strip_prefix('{').unwrap_or("}");
    let comma = if rest.starts_with('}') { "" } else { "," };
    let text = match dialogue {
        Some(dialogue) => format!("{{\"type\":\"welcome\",\"dialogue\":{dialogue}{comma}{rest}"),
        None => format!("{{\"type\":\"welcome\"{comma}{rest}"),
    };
    ByteString::from(text)
}

/// `batch`: several queued frames in one, in order, for a session that asked for batches. The
/// frames are already serialized: they are copied in as they are, never parsed again. Each
/// starts on a line of its own (a serialized frame holds no raw newline), so that a client may
/// split a batch without parsing it:
///
/// ```text
/// {"type":"batch","frames":[
/// {"type":"revision",…},
/// {"type":"ack",…}
/// ]}
/// ```
pub fn batch(frames: &[Frame]) -> Frame {
    let length = frames.iter().map(|frame| frame.len() + 2).sum::<usize>();
    let mut text = String::with_capacity(length + 32);
    text.push_str("{\"type\":\"batch\",\"frames\":[");
    for (index, frame) in frames.iter().enumerate() {
        text.push_str(if index > 0 { ",\n" } else { "\n" });
        text.push_str(frame);
    }
    text.push_str("\n]}");
    ByteString::from(text)
}

/// `revision`: a revision made by someone else.
pub fn revision(description: &RawValue) -> Frame {
    ByteString::from(format!("{{\"type\":\"revision\",\"revision\":{}}}", description.get()))
}

/// `ack`: the sender's own patch is stored.
pub fn ack(reference: &str, description: &RawValue) -> Frame {
    let reference = serde_json::to_string(reference).unwrap_or_else(|_| "null".into());
    ByteString::from(format!("{{\"type\":\"ack\",\"ref\":{reference},\"revision\":{}}}", description.get()))
}

/// `error`: a client frame was refused; the connection stays open.
pub fn error(reference: Option<&str>, error: &ApiError) -> Frame {
    frame(&ServerFrame::Error { reference: reference.map(str::to_owned), error: error.body() })
}

/// `invalid_message`: a malformed frame.
pub fn invalid(reference: Option<&str>, message: impl Into<String>) -> Frame {
    error(reference, &ApiError::InvalidMessage(message.into()))
}

/// What a client asked, checked.
#[derive(Debug)]
pub enum Incoming {
    /// Submit a change.
    Patch {
        /// Echoed back in `ack` or `error`.
        reference: String,
        /// The revision the patch was made against.
        base_revision: i64,
        /// The RFC 6902 patch, within the operation limit.
        patch: Patch,
        /// Stored on the revision.
        edit_type: Option<String>,
        /// Stored on the revision (an object).
        details: Value,
    },
    /// What this editor is looking at (at most 4 KiB).
    Presence {
        /// Any JSON.
        selection: Value,
    },
    /// Application-level liveness check.
    Ping {
        /// Echoed back.
        reference: Value,
    },
}

/// A refused client frame: the `error` frame to send back.
pub type Refusal = Frame;

/// Parses a client text frame, within the server's limits (nesting depth, patch operations).
pub fn parse(text: &str, limits: &Limits) -> Result<Incoming, Refusal> {
    let value: Value = serde_json::from_str(text).map_err(|e| invalid(None, format!("Not JSON: {e}")))?;
    let reference = value.get("ref").and_then(Value::as_str).map(str::to_owned);
    let refuse = |message: String| invalid(reference.as_deref(), message);
    if let Err(error) = limits.check_depth(&value) {
        return Err(self::error(reference.as_deref(), &error));
    }
    if !value.get("type").is_some_and(Value::is_string) {
        return Err(refuse("A frame is a JSON object with a string `type`".into()));
    }
    let frame: ClientFrame = serde_json::from_value(value).map_err(|e| refuse(format!("Malformed frame: {e}")))?;
    match frame {
        ClientFrame::Ping { reference } => Ok(Incoming::Ping { reference }),
        ClientFrame::Presence { selection } => {
            if crate::limits::serialized_len(&selection) > MAX_SELECTION_BYTES {
                return Err(refuse("A selection is at most 4 KiB".into()));
            }
            Ok(Incoming::Presence { selection })
        }
        ClientFrame::Patch { reference, base_revision, patch, edit_type, details } => {
            if base_revision < 0 {
                return Err(refuse("`base_revision` is a revision number, 0 or more".into()));
            }
            let patch = crate::patch::parse_patch(patch, limits.max_patch_ops)
                .map_err(|error| self::error(Some(&reference), &error))?;
            let details = match details {
                None | Some(Value::Null) => json!({}),
                Some(details @ Value::Object(_)) => details,
                Some(_) => return Err(refuse("`details` is an object".into())),
            };
            Ok(Incoming::Patch { reference, base_revision, patch, edit_type, details })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(text: &str) -> Value {
        serde_json::from_str(&parse(text, &Limits::DEFAULT).unwrap_err()).unwrap()
    }

    #[test]
    fn revision_and_ack_frames_spliced_from_a_description_parse_as_the_frames() {
        let description =
            json!({ "number": 4, "details": { "note": "a \"quoted\" line\n" }, "properties": { "patch": [] } });
        let raw = serde_json::value::to_raw_value(&description).unwrap();
        let parsed: ServerFrame = serde_json::from_str(&revision(&raw)).unwrap();
        assert_eq!(parsed, ServerFrame::Revision { revision: description.clone() });
        let reference = "r\"1\u{2028}";
        let parsed: ServerFrame = serde_json::from_str(&ack(reference, &raw)).unwrap();
        assert_eq!(parsed, ServerFrame::Ack { reference: reference.into(), revision: description });
        assert!(!ack(reference, &raw).contains('\n'), "a frame holds no raw newline (batches split on lines)");
    }

    #[test]
    fn a_welcome_with_a_spliced_dialogue_parses_as_a_welcome() {
        let welcome = Welcome {
            session_id: "s".into(),
            user: dialogue_protocol::User { id: "u".into(), first_name: "F".into(), last_name: "L".into() },
            can_edit: true,
            revision: dialogue_protocol::RevisionRef { number: 3, id: Some("r3".into()) },
            head_revision: 3,
            dialogue: None,
            peers: Vec::new(),
        };
        let dialogue = json!({ "id": "d", "title": "T", "sequences": [] });
        let frame = super::welcome(&welcome, Some(&dialogue.to_string()));
        let ServerFrame::Welcome(parsed) = serde_json::from_str(&frame).unwrap() else { panic!("a welcome") };
        assert_eq!(parsed.dialogue, Some(dialogue));
        assert_eq!(Welcome { dialogue: None, ..*parsed }, welcome);
        let ServerFrame::Welcome(bare) = serde_json::from_str(&super::welcome(&welcome, None)).unwrap() else {
            panic!("a welcome")
        };
        assert_eq!(*bare, welcome);
    }

    #[test]
    fn malformed_frames_are_invalid_messages() {
        assert_eq!(refused("nope")["error"]["type"], "invalid_message");
        assert_eq!(refused("{}")["error"]["type"], "invalid_message");
        assert_eq!(refused(r#"{"type":"dance","ref":"r1"}"#)["ref"], "r1");
        assert_eq!(refused(r#"{"type":"patch","ref":"r","patch":[]}"#)["error"]["type"], "invalid_message");
        assert_eq!(refused(r#"{"type":"patch","base_revision":0,"patch":[]}"#)["error"]["type"], "invalid_message");
        assert_eq!(refused(r#"{"type":"patch","ref":"r","base_revision":-1,"patch":[]}"#)["ref"], "r");
        assert_eq!(refused(r#"{"type":"patch","ref":"r","base_revision":0,"patch":[],"details":3}"#)["ref"], "r");
        assert_eq!(refused(r#"{"type":"patch","ref":"r","base_revision":0,"patch":[],"edit_type":3}"#)["ref"], "r");
        let big = format!(r#"{{"type":"presence","selection":"{}"}}"#, "x".repeat(5000));
        assert_eq!(refused(&big)["error"]["type"], "invalid_message");
    }

    #[test]
    fn a_presence_frame_without_a_selection_selects_nothing() {
        let frame = parse(r#"{"type":"presence"}"#, &Limits::DEFAULT);
        assert!(matches!(frame, Ok(Incoming::Presence { selection: Value::Null })));
    }

    #[test]
    fn a_patch_frame_parses() {
        let frame = parse(
            r#"{"type":"patch","ref":"a","base_revision":3,"patch":[{"op":"remove","path":"/x"}],"edit_type":"t"}"#,
            &Limits::DEFAULT,
        );
        let Ok(Incoming::Patch { reference, base_revision, patch, edit_type, details }) = frame else {
            panic!("expected a patch");
        };
        assert_eq!((reference.as_str(), base_revision, patch.len(), edit_type.as_deref()), ("a", 3, 1, Some("t")));
        assert_eq!(details, json!({}));
        let too_many = serde_json::to_string(&json!({
            "type": "patch", "ref": "b", "base_revision": 0,
            "patch": vec![json!({ "op": "test", "path": "/a", "value": 1 }); 1001]
        }))
        .unwrap();
        assert_eq!(refused(&too_many)["ref"], "b");
        let deep = (0..70).fold(json!(1), |inner, _| json!([inner]));
        let too_deep = json!({ "type": "patch", "ref": "c", "base_revision": 0, "patch": [{ "op": "add", "path": "/x", "value": deep }] });
        let refusal = refused(&too_deep.to_string());
        assert_eq!((refusal["ref"].as_str(), refusal["error"]["type"].as_str()), (Some("c"), Some("validation_error")));
    }
}
