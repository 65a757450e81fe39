//! The live collaboration protocol of dialogue-server (`../shared/contracts/live-protocol.md`,
//! and `docs/protocol.md`), as types: the frames each side may send, tagged by their `type`
//! field, the close codes, and the size limits. The server serializes these frames and its
//! clients parse them, so both sides agree by construction.
#![warn(missing_docs)]

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Largest frame a server accepts from a client (close 1009 beyond it).
pub const MAX_FRAME_BYTES: usize = 1024 * 1024;
/// Largest presence selection, serialized (`invalid_message` beyond it).
pub const MAX_SELECTION_BYTES: usize = 4 * 1024;

/// The WebSocket close codes of the protocol.
pub mod close {
    /// The server is shutting down, or the dialogue's actor stopped: reconnect with `since`.
    pub const GOING_AWAY: u16 = 1001;
    /// The client broke the WebSocket protocol (an unmasked frame, a reserved opcode or bit, a
    /// continuation with nothing to continue, an oversized control frame).
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// The client sent a binary frame.
    pub const UNSUPPORTED_DATA: u16 = 1003;
    /// The client sent a text frame that is not UTF-8.
    pub const INVALID_DATA: u16 = 1007;
    /// The client sent a frame over [`super::MAX_FRAME_BYTES`].
    pub const TOO_BIG: u16 = 1009;
    /// The client stopped answering pings.
    pub const UNRESPONSIVE: u16 = 1011;
    /// The session fell too far behind (its queue filled): reconnect with `since`.
    pub const TOO_SLOW: u16 = 4008;
    /// Revisions this session was sent are not stored (the database lost acknowledged writes):
    /// reconnect without `since`, from a new `welcome`.
    pub const RESYNC: u16 = 4009;
    /// The session's token was revoked or expired.
    pub const TOKEN_REVOKED: u16 = 4401;
    /// The user lost access to the dialogue.
    pub const ACCESS_REVOKED: u16 = 4403;
    /// The dialogue or its project was deleted.
    pub const DELETED: u16 = 4404;
}

/// A user as other sessions see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// The user's id.
    pub id: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
}

/// Another session on the dialogue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Peer {
    /// Its id.
    pub session_id: String,
    /// Its user.
    pub user: User,
    /// What it looks at (`null` until it says).
    pub selection: Value,
}

/// A revision number and id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevisionRef {
    /// The number (0 before the first revision).
    pub number: i64,
    /// The id (`None` before the first revision).
    pub id: Option<String>,
}

/// The first frame of every session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Welcome {
    /// This session's id.
    pub session_id: String,
    /// The signed-in user.
    pub user: User,
    /// Whether this session may submit patches.
    pub can_edit: bool,
    /// The revision the session starts from: the newest stored one, or, when the client asked
    /// with `since` and the revisions after it follow as `revision` frames, revision `since`.
    pub revision: RevisionRef,
    /// The number of the newest stored revision (an extension of the contract): where the
    /// catch-up after a `since` welcome ends, and `revision.number` otherwise.
    #[serde(default)]
    pub head_revision: i64,
    /// The whole dialogue, as REST describes it; absent when the client asked with `since` and
    /// the revisions after it follow as `revision` frames.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dialogue: Option<Value>,
    /// The other sessions.
    pub peers: Vec<Peer>,
}

/// The body of every error, over HTTP and in `error` frames.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable, programmatically usable error type (`conflict`, `validation_error`, …).
    #[serde(rename = "type")]
    pub kind: String,
    /// Human readable message.
    pub message: String,
    /// Type-specific data.
    pub details: Value,
}

/// Every frame the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// The first frame of a session.
    Welcome(Box<Welcome>),
    /// A revision made by someone else.
    Revision {
        /// The revision, as REST describes it (`properties.patch` as applied).
        revision: Value,
    },
    /// The sender's own patch is stored.
    Ack {
        /// The client's `ref`.
        #[serde(rename = "ref")]
        reference: String,
        /// The revision it made.
        revision: Value,
    },
    /// A client frame was refused; the connection stays open.
    Error {
        /// The refused frame's `ref`, when it had one.
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        /// What went wrong, in the REST vocabulary.
        error: ErrorBody,
    },
    /// Another session opened.
    Joined {
        /// Its id.
        session_id: String,
        /// Its user.
        user: User,
    },
    /// Another session closed.
    Left {
        /// Its id.
        session_id: String,
    },
    /// Another session changed its selection.
    Presence {
        /// Its id.
        session_id: String,
        /// What it looks at now.
        selection: Value,
    },
    /// A release of the dialogue was created.
    Release {
        /// The release, as REST describes it.
        release: Value,
    },
    /// The answer to a `ping`.
    Pong {
        /// The ping's `ref`.
        #[serde(rename = "ref", default)]
        reference: Value,
    },
    /// Several frames that were queued together, in order; only to a session that connected
    /// with `?batch=true`. A client handles each as if it had arrived on its own.
    Batch {
        /// The frames, oldest first (never a `batch` itself).
        frames: Vec<ServerFrame>,
    },
}

/// Every frame a client may send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// Submit a change.
    Patch {
        /// Echoed back in the `ack` or `error`.
        #[serde(rename = "ref")]
        reference: String,
        /// The number of the revision the patch was made against.
        base_revision: i64,
        /// The RFC 6902 patch (an array of operations).
        patch: Value,
        /// Stored on the revision.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        edit_type: Option<String>,
        /// Stored on the revision (an object).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        details: Option<Value>,
    },
    /// What this editor is looking at (any JSON, at most 4 KiB).
    Presence {
        /// The selection (absent: `null`).
        #[serde(default)]
        selection: Value,
    },
    /// Application-level liveness check.
    Ping {
        /// Echoed back in the `pong`.
        #[serde(rename = "ref", default)]
        reference: Value,
    },
}

impl ServerFrame {
    /// The frame as JSON text.
    pub fn to_text(&self) -> String {
        // A frame is made of strings, numbers and JSON values: it always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn frames_carry_their_type_and_the_contract_field_names() {
        let ack = ServerFrame::Ack { reference: "r1".into(), revision: json!({ "number": 1 }) };
        assert_eq!(
            serde_json::to_value(&ack).unwrap(),
            json!({ "type": "ack", "ref": "r1", "revision": { "number": 1 } })
        );
        let error = ServerFrame::Error {
            reference: None,
            error: ErrorBody { kind: "conflict".into(), message: "m".into(), details: json!({}) },
        };
        assert_eq!(
            serde_json::to_value(&error).unwrap(),
            json!({ "type": "error", "error": { "type": "conflict", "message": "m", "details": {} } })
        );
        let welcome: ServerFrame = serde_json::from_value(json!({
            "type": "welcome", "session_id": "s", "user": { "id": "u", "first_name": "A", "last_name": "B" },
            "can_edit": true, "revision": { "number": 0, "id": null }, "peers": []
        }))
        .unwrap();
        assert!(matches!(welcome, ServerFrame::Welcome(w) if w.dialogue.is_none() && w.revision.number == 0));
    }

    #[test]
    fn a_batch_carries_whole_frames_in_order() {
        let batch: ServerFrame = serde_json::from_value(json!({ "type": "batch", "frames": [
            { "type": "revision", "revision": { "number": 4 } },
            { "type": "ack", "ref": "r", "revision": { "number": 5 } },
        ] }))
        .unwrap();
        let ServerFrame::Batch { frames } = batch else { panic!("not a batch") };
        assert!(matches!(&frames[0], ServerFrame::Revision { revision } if revision["number"] == 4));
        assert!(matches!(&frames[1], ServerFrame::Ack { reference, .. } if reference == "r"));
    }

    #[test]
    fn client_frames_parse() {
        let patch: ClientFrame = serde_json::from_value(json!({
            "type": "patch", "ref": "a", "base_revision": 3, "patch": [{ "op": "remove", "path": "/x" }]
        }))
        .unwrap();
        assert!(matches!(patch, ClientFrame::Patch { base_revision: 3, edit_type: None, details: None, .. }));
        let ping: ClientFrame = serde_json::from_value(json!({ "type": "ping" })).unwrap();
        assert_eq!(ping, ClientFrame::Ping { reference: Value::Null });
        assert!(serde_json::from_value::<ClientFrame>(json!({ "type": "dance" })).is_err());
    }
}
