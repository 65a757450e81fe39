//! A Rust client of dialogue-server's live collaboration protocol: one [`LiveClient`] per
//! session, with the frames of [`dialogue_protocol`], and a [`Replica`] that keeps a local copy of
//! the dialogue in step. The server's integration tests and the load-test harness use it.
//!
//! ```no_run
//! use dialogue_client::{LiveClient, ServerFrame, WelcomeExt};
//! # async fn demo() -> Result<(), dialogue_client::ClientError> {
//! let (mut client, welcome) =
//!     LiveClient::connect("http://127.0.0.1:8080", "PROJECT", "DIALOGUE", "TOKEN", None).await?;
//! let mut replica = welcome.replica().expect("a full welcome carries the dialogue");
//! client
//!     .send_patch("r1", replica.number, serde_json::json!([{ "op": "replace", "path": "/title", "value": "New" }]))
//!     .await?;
//! loop {
//!     match client.next().await? {
//!         ServerFrame::Ack { revision, .. } | ServerFrame::Revision { revision } => {
//!             replica.apply(&revision)?;
//!             break;
//!         }
//!         _ => {}
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! `Replica` keeps a local copy of the dialogue in step with the server: apply every `ack` and
//! `revision` frame in order and it equals what `GET` returns for the same revision.

#![warn(missing_docs)]

use std::collections::VecDeque;
use std::time::Duration;

pub use dialogue_protocol::{ClientFrame, ErrorBody, Peer, RevisionRef, ServerFrame, User, Welcome, close};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
pub use tokio_tungstenite::MaybeTlsStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};

/// The WebSocket library underneath, for requests with custom headers and for matching errors.
pub use tokio_tungstenite::tungstenite;

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The WebSocket failed, or the upgrade was refused (the HTTP status is in the error).
    #[error("websocket: {0}")]
    Socket(#[from] tungstenite::Error),
    /// A frame was not valid JSON, or not a known frame.
    #[error("unexpected frame: {0}")]
    Frame(String),
    /// The server closed the connection, with this close code.
    #[error("closed by the server with code {0:?}")]
    Closed(Option<u16>),
    /// Nothing arrived in time.
    #[error("timed out waiting for a frame")]
    Timeout,
    /// A revision did not apply to the replica (a gap, or a server bug).
    #[error("replica out of step: {0}")]
    Replica(String),
}

/// What a `welcome` gives a client besides its fields.
pub trait WelcomeExt {
    /// A replica of the dialogue as of this welcome (when it carries the dialogue).
    fn replica(&self) -> Option<Replica>;
    /// The newest stored revision: where the catch-up after a `since` welcome ends. A server
    /// that sends no `head_revision` named the newest in `revision` itself.
    fn newest(&self) -> i64;
}

impl WelcomeExt for Welcome {
    fn replica(&self) -> Option<Replica> {
        self.dialogue.as_ref().map(|dialogue| Replica { content: content_of(dialogue), number: self.revision.number })
    }

    fn newest(&self) -> i64 {
        self.head_revision.max(self.revision.number)
    }
}

/// The stored part of a dialogue description, which revision patches apply to.
pub fn content_of(description: &Value) -> Value {
    json!({
        "title": description["title"],
        "sequences": description["sequences"],
        "is_archived": description["is_archived"],
    })
}

/// A local copy of a dialogue, kept in step by applying revisions in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Replica {
    /// `title`, `sequences`, `is_archived`.
    pub content: Value,
    /// The newest revision applied.
    pub number: i64,
}

impl Replica {
    /// Applies the next revision; refuses gaps and duplicates.
    pub fn apply(&mut self, revision: &Value) -> Result<(), ClientError> {
        let number = revision["number"].as_i64().ok_or_else(|| ClientError::Replica("no number".into()))?;
        if number != self.number + 1 {
            return Err(ClientError::Replica(format!("got revision {number} after {}", self.number)));
        }
        let patch: json_patch::Patch = serde_json::from_value(revision["properties"]["patch"].clone())
            .map_err(|e| ClientError::Replica(format!("bad patch: {e}")))?;
        json_patch::patch(&mut self.content, &patch).map_err(|e| ClientError::Replica(e.to_string()))?;
        self.number = number;
        Ok(())
    }
}

/// The upgrade request for a session on `/projects/{project}/dialogues/{dialogue}/live` at
/// `base_url` (http or ws), with a bearer token, `?since=` when given, and `?batch=true` when
/// `batch` (frames the server queued together then arrive in one `batch` frame, which
/// [`LiveClient::next`] unpacks). Open it with [`LiveClient::open`].
pub fn live_request(
    base_url: &str,
    project: &str,
    dialogue: &str,
    token: &str,
    since: Option<i64>,
    batch: bool,
) -> Result<tungstenite::handshake::client::Request, ClientError> {
    let ws = base_url.replacen("http://", "ws://", 1).replacen("https://", "wss://", 1);
    let mut url = format!("{ws}/projects/{project}/dialogues/{dialogue}/live");
    let mut query = Vec::new();
    if let Some(since) = since {
        query.push(format!("since={since}"));
    }
    if batch {
        query.push("batch=true".to_owned());
    }
    if !query.is_empty() {
        url.push('?');
        url.push_str(&query.join("&"));
    }
    let mut request = url.into_client_request()?;
    let bearer = format!("Bearer {token}")
        .parse()
        .map_err(|_| ClientError::Frame("the token is not a valid header value".into()))?;
    request.headers_mut().insert("Authorization", bearer);
    Ok(request)
}

/// One live session.
pub struct LiveClient {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    timeout: Duration,
    /// Frames of a `batch` not handed out yet.
    unread: VecDeque<ServerFrame>,
    /// How many `batch` frames arrived.
    batches: u64,
}

impl LiveClient {
    /// Opens `/projects/{project}/dialogues/{dialogue}/live` on `base_url` (http or ws) with a
    /// bearer token, and reads the `welcome`.
    pub async fn connect(
        base_url: &str,
        project: &str,
        dialogue: &str,
        token: &str,
        since: Option<i64>,
    ) -> Result<(Self, Welcome), ClientError> {
        Self::open(live_request(base_url, project, dialogue, token, since, false)?).await
    }

    /// Opens a session from a prepared request (for other authentication, such as cookies).
    pub async fn open(request: tungstenite::handshake::client::Request) -> Result<(Self, Welcome), ClientError> {
        // Frames are small and latency matters: no Nagle. Buffers start small (tungstenite's
        // default is 128 KiB for each direction, and they grow as needed): the load harness opens
        // 18,000 of these in one process.
        let config = WebSocketConfig::default().read_buffer_size(8 * 1024).write_buffer_size(8 * 1024);
        let (socket, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), true).await?;
        let mut client = Self { socket, timeout: Duration::from_secs(30), unread: VecDeque::new(), batches: 0 };
        match client.next().await? {
            ServerFrame::Welcome(welcome) => Ok((client, *welcome)),
            other => Err(ClientError::Frame(format!("expected welcome, got {other:?}"))),
        }
    }

    /// How many `batch` frames the server sent (only to a session opened with `batch`, see
    /// [`live_request`]).
    pub fn batches(&self) -> u64 {
        self.batches
    }

    /// How long `next` waits for a frame.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// The next frame, a `batch`'s frames one by one; `Err(Closed(code))` once the server
    /// closed.
    pub async fn next(&mut self) -> Result<ServerFrame, ClientError> {
        loop {
            if let Some(frame) = self.unread.pop_front() {
                return Ok(frame);
            }
            match self.next_message().await? {
                ServerFrame::Batch { frames } => {
                    self.batches += 1;
                    self.unread.extend(frames);
                }
                frame => return Ok(frame),
            }
        }
    }

    /// The next frame as the server sent it.
    async fn next_message(&mut self) -> Result<ServerFrame, ClientError> {
        loop {
            let message =
                tokio::time::timeout(self.timeout, self.socket.next()).await.map_err(|_| ClientError::Timeout)?;
            match message {
                Some(Ok(Message::Text(text))) => {
                    return serde_json::from_str(text.as_str()).map_err(|e| ClientError::Frame(format!("{e}: {text}")));
                }
                Some(Ok(Message::Close(frame))) => {
                    return Err(ClientError::Closed(frame.map(|f: CloseFrame| u16::from(f.code))));
                }
                Some(Ok(_)) => continue,
                Some(Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed)) | None => {
                    return Err(ClientError::Closed(None));
                }
                Some(Err(error)) => return Err(error.into()),
            }
        }
    }

    /// Reads frames until the server closes; returns its close code.
    pub async fn closed(&mut self) -> Option<u16> {
        loop {
            match self.next().await {
                Err(ClientError::Closed(code)) => return code,
                Err(_) => return None,
                Ok(_) => continue,
            }
        }
    }

    /// Sends a raw text frame.
    pub async fn send_text(&mut self, text: String) -> Result<(), ClientError> {
        self.socket.send(Message::text(text)).await?;
        Ok(())
    }

    /// Sends a frame.
    pub async fn send(&mut self, frame: &ClientFrame) -> Result<(), ClientError> {
        let text = serde_json::to_string(frame).map_err(|e| ClientError::Frame(e.to_string()))?;
        self.send_text(text).await
    }

    /// Submits a patch made against revision `base_revision`.
    pub async fn send_patch(&mut self, reference: &str, base_revision: i64, patch: Value) -> Result<(), ClientError> {
        let frame = ClientFrame::Patch {
            reference: reference.to_owned(),
            base_revision,
            patch,
            edit_type: None,
            details: None,
        };
        self.send(&frame).await
    }

    /// Tells the others what this editor looks at.
    pub async fn send_presence(&mut self, selection: Value) -> Result<(), ClientError> {
        self.send(&ClientFrame::Presence { selection }).await
    }

    /// An application-level ping.
    pub async fn send_ping(&mut self, reference: &str) -> Result<(), ClientError> {
        self.send(&ClientFrame::Ping { reference: json!(reference) }).await
    }

    /// Sends a binary frame (which the server refuses; for tests).
    pub async fn send_binary(&mut self, bytes: Vec<u8>) -> Result<(), ClientError> {
        self.socket.send(Message::binary(bytes)).await?;
        Ok(())
    }

    /// The frames of a `batch` that [`next`](Self::next) has not handed out yet, taken.
    pub fn take_unread(&mut self) -> Vec<ServerFrame> {
        self.unread.drain(..).collect()
    }

    /// The underlying WebSocket, for callers that read and write at full speed (the load
    /// harness splits it into a reader and a writer). Take the frames still unread of a
    /// `batch` first ([`take_unread`](Self::take_unread)): they are not in the socket any more.
    pub fn into_inner(self) -> WebSocketStream<MaybeTlsStream<TcpStream>> {
        self.socket
    }

    /// Closes the session.
    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}
