//! The live protocol's frames (`../shared/contracts/live-protocol.md`): building server frames
//! (serialized once, shared by every recipient) and parsing client frames.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::error::{ApiError, ErrorBody};
use crate::limits::Limits;

/// A serialized text frame, shared between every session that receives it.
pub type Frame = Arc<str>;

/// Largest frame accepted from a client.
pub const MAX_FRAME_BYTES: usize = 1024 * 1024;
/// Largest presence selection, serialized.
pub const MAX_SELECTION_BYTES: usize = 4 * 1024;

/// Close codes of the protocol.
pub mod close {
    /// The server is shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// Binary frames are not accepted.
    pub const UNSUPPORTED_DATA: u16 = 1003;
    /// A frame over the size limit.
    pub const TOO_BIG: u16 = 1009;
    /// The session's token was revoked or expired.
    pub const TOKEN_REVOKED: u16 = 4401;
    /// The user lost access to the dialogue.
    pub const ACCESS_REVOKED: u16 = 4403;
    /// The dialogue or its project was deleted.
    pub const DELETED: u16 = 4404;
    /// The session fell too far behind: reconnect with `since`.
    pub const TOO_SLOW: u16 = 4008;
    /// Revisions this session was sent are not stored (the database lost them after
    /// acknowledging them): reconnect without `since`, from a new `welcome`.
    pub const RESYNC: u16 = 4009;
    /// The client stopped answering pings.
    pub const UNRESPONSIVE: u16 = 1011;
}

fn frame(value: Value) -> Frame {
    Arc::from(value.to_string())
}

/// `revision`: a revision made by someone else.
pub fn revision(description: &Value) -> Frame {
    frame(json!({ "type": "revision", "revision": description }))
}

/// `ack`: the sender's own patch is stored.
pub fn ack(reference: &str, description: &Value) -> Frame {
    frame(json!({ "type": "ack", "ref": reference, "revision": description }))
}

/// `error`: a client frame was refused; the connection stays open.
pub fn error(reference: Option<&str>, error: &ApiError) -> Frame {
    error_body(reference, &error.body())
}

/// `error` from an already built body.
pub fn error_body(reference: Option<&str>, body: &ErrorBody) -> Frame {
    let mut value = json!({ "type": "error", "error": body });
    if let Some(reference) = reference {
        value["ref"] = json!(reference);
    }
    frame(value)
}

/// `invalid_message` error: a malformed frame.
pub fn invalid(reference: Option<&str>, message: impl Into<String>) -> Frame {
    error_body(reference, &ErrorBody { kind: "invalid_message", message: message.into(), details: json!({}) })
}

/// `joined`.
pub fn joined(session_id: &str, user: &Value) -> Frame {
    frame(json!({ "type": "joined", "session_id": session_id, "user": user }))
}

/// `left`.
pub fn left(session_id: &str) -> Frame {
    frame(json!({ "type": "left", "session_id": session_id }))
}

/// `presence`.
pub fn presence(session_id: &str, selection: &Value) -> Frame {
    frame(json!({ "type": "presence", "session_id": session_id, "selection": selection }))
}

/// `release`.
pub fn release(description: &Value) -> Frame {
    frame(json!({ "type": "release", "release": description }))
}

/// `pong`.
pub fn pong(reference: Option<&Value>) -> Frame {
    frame(json!({ "type": "pong", "ref": reference.cloned().unwrap_or(Value::Null) }))
}

/// `welcome`.
pub fn welcome(fields: Value) -> Frame {
    let mut value = json!({ "type": "welcome" });
    if let (Value::Object(target), Value::Object(source)) = (&mut value, fields) {
        target.extend(source);
    }
    frame(value)
}

/// A client frame, checked for shape.
#[derive(Debug)]
pub enum ClientFrame {
    /// Submit a change.
    Patch {
        /// Echoed back in `ack` or `error`.
        reference: String,
        /// The revision the patch was made against.
        base_revision: i64,
        /// The RFC 6902 patch.
        patch: json_patch::Patch,
        /// Stored on the revision.
        edit_type: Option<String>,
        /// Stored on the revision.
        details: Value,
    },
    /// What this editor is looking at.
    Presence {
        /// Any JSON, at most 4 KiB.
        selection: Value,
    },
    /// Application-level liveness check.
    Ping {
        /// Echoed back.
        reference: Option<Value>,
    },
}

/// A refused client frame: its `ref` (when it had one) and the error frame to send.
pub type Refusal = Frame;

/// Parses a client text frame, within the server's limits (nesting depth, patch operations).
pub fn parse(text: &str, limits: &Limits) -> Result<ClientFrame, Refusal> {
    let value: Value = serde_json::from_str(text).map_err(|e| invalid(None, format!("Not JSON: {e}")))?;
    let reference = value.get("ref").and_then(Value::as_str).map(str::to_owned);
    let refuse = |message: &str| invalid(reference.as_deref(), message);
    if let Err(error) = limits.check_depth(&value) {
        return Err(self::error(reference.as_deref(), &error));
    }
    let max_operations = limits.max_patch_ops;
    let Some(kind) = value.get("type").and_then(Value::as_str) else {
        return Err(refuse("A frame is a JSON object with a string `type`"));
    };
    match kind {
        "ping" => Ok(ClientFrame::Ping { reference: value.get("ref").cloned() }),
        "presence" => {
            let selection = value.get("selection").cloned().unwrap_or(Value::Null);
            if selection.to_string().len() > MAX_SELECTION_BYTES {
                return Err(refuse("A selection is at most 4 KiB"));
            }
            Ok(ClientFrame::Presence { selection })
        }
        "patch" => {
            let reference = reference.clone().ok_or_else(|| refuse("A patch needs a string `ref`"))?;
            let base_revision = value
                .get("base_revision")
                .and_then(Value::as_i64)
                .filter(|n| *n >= 0)
                .ok_or_else(|| refuse("A patch needs `base_revision`, a revision number"))?;
            let raw = value.get("patch").cloned().ok_or_else(|| refuse("A patch needs `patch`, an RFC 6902 array"))?;
            let patch = crate::patch::parse_patch(raw, max_operations)
                .map_err(|error| crate::live::protocol::error(Some(&reference), &error))?;
            let edit_type = match value.get("edit_type") {
                None | Some(Value::Null) => None,
                Some(Value::String(edit_type)) => Some(edit_type.clone()),
                Some(_) => return Err(refuse("`edit_type` is a string")),
            };
            let details = match value.get("details") {
                None | Some(Value::Null) => json!({}),
                Some(details @ Value::Object(_)) => details.clone(),
                Some(_) => return Err(refuse("`details` is an object")),
            };
            Ok(ClientFrame::Patch { reference, base_revision, patch, edit_type, details })
        }
        other => Err(refuse(&format!("Unknown frame type {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(text: &str) -> Value {
        serde_json::from_str(&parse(text, &Limits::DEFAULT).unwrap_err()).unwrap()
    }

    #[test]
    fn malformed_frames_are_invalid_messages() {
        assert_eq!(refused("nope")["error"]["type"], "invalid_message");
        assert_eq!(refused("{}")["error"]["type"], "invalid_message");
        assert_eq!(refused(r#"{"type":"dance","ref":"r1"}"#)["ref"], "r1");
        assert_eq!(refused(r#"{"type":"patch","ref":"r","patch":[]}"#)["error"]["type"], "invalid_message");
        assert_eq!(refused(r#"{"type":"patch","base_revision":0,"patch":[]}"#)["error"]["type"], "invalid_message");
        let big = format!(r#"{{"type":"presence","selection":"{}"}}"#, "x".repeat(5000));
        assert_eq!(refused(&big)["error"]["type"], "invalid_message");
    }

    #[test]
    fn a_patch_frame_parses() {
        let frame = parse(
            r#"{"type":"patch","ref":"a","base_revision":3,"patch":[{"op":"remove","path":"/x"}],"edit_type":"t"}"#,
            &Limits::DEFAULT,
        );
        let Ok(ClientFrame::Patch { reference, base_revision, patch, edit_type, details }) = frame else {
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
