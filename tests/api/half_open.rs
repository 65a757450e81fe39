//! Half-open sockets: clients that complete the WebSocket upgrade on a server process and then
//! never read again, with a small receive buffer, while another session writes fast. The
//! server must drop them (close 4008 once they read again) without slowing the sessions that do
//! read, and without holding more memory than a bounded queue per dropped session.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use dialogue_client::{LiveClient, Replica, ServerFrame, WelcomeExt, close};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::helpers::{append_block, content_of};
use crate::process::{QUIET_LOG, Served};

/// How long the test may run before it is declared stuck.
const TEST_BOUND: Duration = Duration::from_secs(120);
/// The sockets that stop reading.
const HALF_OPEN: usize = 8;
/// Presence frames the writer sends before the readers catch up.
const BATCH: usize = 32;
/// More than this many presence frames without the half-open sessions dropped fails the test.
const MAX_FRAMES: usize = 40_000;
/// How much the server's resident memory may grow.
const MEMORY_BOUND: u64 = 200 * 1024 * 1024;

/// A WebSocket client written by hand on a raw TCP socket with a tiny receive buffer, so that
/// it reads exactly when the test says so and the kernel buffers almost nothing for it.
struct HalfOpen {
    stream: TcpStream,
    /// Bytes read and not yet parsed.
    buffer: Vec<u8>,
    /// The `welcome`'s session id.
    session_id: String,
}

/// A frame from the server: its opcode and payload.
struct RawFrame {
    opcode: u8,
    payload: Vec<u8>,
}

impl HalfOpen {
    /// Upgrades, reads the `welcome`, and from then on reads nothing until told.
    async fn open(port: u16, project: &str, dialogue: &str, token: &str) -> Self {
        let socket = TcpSocket::new_v4().expect("a socket");
        socket.set_recv_buffer_size(4096).expect("a small receive buffer");
        let mut stream = socket.connect(([127, 0, 0, 1], port).into()).await.expect("the server accepts");
        let request = format!(
            "GET /projects/{project}/dialogues/{dialogue}/live HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
             Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {token}\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.expect("the upgrade is sent");
        let mut socket = Self { stream, buffer: Vec::new(), session_id: String::new() };
        let head_end = loop {
            if let Some(end) = socket.buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break end;
            }
            assert!(socket.fill().await, "the server closed during the upgrade");
        };
        let head = String::from_utf8_lossy(&socket.buffer[..head_end]).into_owned();
        assert!(head.starts_with("HTTP/1.1 101"), "the upgrade is accepted: {head}");
        socket.buffer.drain(..head_end + 4);
        while socket.session_id.is_empty() {
            let frame = socket.next_frame().await.expect("a welcome");
            if frame.opcode == 1
                && let Ok(ServerFrame::Welcome(welcome)) = serde_json::from_slice(&frame.payload)
            {
                socket.session_id = welcome.session_id;
            }
        }
        socket
    }

    /// Reads more bytes; `false` at the end of the stream or on an error.
    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 64 * 1024];
        match self.stream.read(&mut chunk).await {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buffer.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    /// The next frame (server frames are unmasked and unfragmented); `None` once the stream ends.
    async fn next_frame(&mut self) -> Option<RawFrame> {
        loop {
            if let Some((frame, used)) = parse_frame(&self.buffer) {
                self.buffer.drain(..used);
                return Some(frame);
            }
            if !self.fill().await {
                return None;
            }
        }
    }

    /// Starts reading again: drains what the server queued and returns its close code (`None`
    /// when the connection ended without a close frame), and how many text frames came first.
    async fn closed(mut self) -> (Option<u16>, usize) {
        let mut texts = 0;
        while let Some(frame) = self.next_frame().await {
            match frame.opcode {
                1 => texts += 1,
                8 => return (frame.payload.get(..2).map(|code| u16::from_be_bytes([code[0], code[1]])), texts),
                _ => {}
            }
        }
        (None, texts)
    }
}

/// Parses one frame at the start of `bytes`; the frame and the bytes it used.
fn parse_frame(bytes: &[u8]) -> Option<(RawFrame, usize)> {
    let (&first, &second) = (bytes.first()?, bytes.get(1)?);
    let (length, mut at) = match second & 0x7f {
        126 => (u16::from_be_bytes(bytes.get(2..4)?.try_into().ok()?) as usize, 4),
        127 => (u64::from_be_bytes(bytes.get(2..10)?.try_into().ok()?) as usize, 10),
        short => (short as usize, 2),
    };
    if second & 0x80 != 0 {
        at += 4; // A server never masks; skip a mask anyway rather than misparse.
    }
    let payload = bytes.get(at..at + length)?.to_vec();
    Some((RawFrame { opcode: first & 0x0f, payload }, at + length))
}

/// A session that reads everything: counts the writer's presence frames, notes who left, and
/// keeps a replica of the dialogue.
struct Reader {
    client: LiveClient,
    replica: Replica,
    presence: usize,
    left: BTreeSet<String>,
}

impl Reader {
    /// Reads until it has seen `presence` presence frames and revision `number`.
    async fn catch_up(&mut self, presence: usize, number: i64) {
        while self.presence < presence || self.replica.number < number {
            match self.client.next().await.expect("a reader keeps receiving") {
                ServerFrame::Presence { .. } => self.presence += 1,
                ServerFrame::Left { session_id } => {
                    self.left.insert(session_id);
                }
                ServerFrame::Revision { revision } => self.replica.apply(&revision).expect("revisions in order"),
                _ => {}
            }
        }
    }
}

#[actix_web::test]
async fn half_open_sockets_are_dropped_with_4008_while_the_others_keep_receiving() {
    tokio::time::timeout(TEST_BOUND, async {
        // Presence frames are the flood here: every one of them must reach the readers.
        let mut served = Served::start(&[QUIET_LOG, ("DIALOGUE_LIVE_PRESENCE_PER_SECOND", "1000000")]).await;
        let (address, token) = (served.server.address(), served.api.admin_token.clone());
        let connect = async || {
            LiveClient::connect(&address, &served.project, &served.dialogue_id, &token, None).await.expect("a session")
        };
        let (mut writer, _) = connect().await;
        let mut readers = Vec::new();
        for _ in 0..2 {
            let (client, welcome) = connect().await;
            let replica = welcome.replica().expect("a full welcome");
            readers.push(Reader { client, replica, presence: 0, left: BTreeSet::new() });
        }
        let big = json!({ "note": "h".repeat(4000) });
        let mut sent = 0;
        let mut patches = 0;
        // Warm up, so that the memory measured before is the server's working set.
        for _ in 0..4 * BATCH {
            writer.send_presence(big.clone()).await.expect("presence is sent");
            sent += 1;
        }
        for reader in &mut readers {
            reader.catch_up(sent, 0).await;
        }
        let before = served.server.resident_bytes();

        let mut half_open = Vec::new();
        for _ in 0..HALF_OPEN {
            half_open.push(HalfOpen::open(served.server.port, &served.project, &served.dialogue_id, &token).await);
        }
        let stalled: BTreeSet<String> = half_open.iter().map(|socket| socket.session_id.clone()).collect();

        // The writer sends presence as fast as the readers read it, and a patch now and then,
        // until both readers heard every half-open session leave.
        let flood = Instant::now();
        while readers.iter().any(|reader| reader.left != stalled) {
            assert!(sent < MAX_FRAMES, "{sent} presence frames did not overflow the half-open sessions");
            for _ in 0..BATCH {
                writer.send_presence(big.clone()).await.expect("presence is sent");
                sent += 1;
            }
            let mut number = readers[0].replica.number;
            if sent % (8 * BATCH) == 0 {
                patches += 1;
                let reference = format!("w{patches}");
                writer.send_patch(&reference, number, append_block(&reference)).await.expect("a patch is sent");
                number = loop {
                    match writer.next().await.expect("the writer keeps receiving") {
                        ServerFrame::Ack { revision, .. } => break revision["number"].as_i64().expect("a number"),
                        ServerFrame::Error { error, .. } => panic!("the writer's patch was refused: {error:?}"),
                        _ => {}
                    }
                };
            }
            for reader in &mut readers {
                reader.catch_up(sent, number).await;
            }
        }
        let dropped_after = flood.elapsed();
        let peak = served.server.resident_bytes();

        // The readers keep receiving after the others were dropped, and hold what GET returns.
        writer.send_patch("after", readers[0].replica.number, append_block("after")).await.expect("a patch is sent");
        let number = loop {
            match writer.next().await.expect("the writer keeps receiving") {
                ServerFrame::Ack { revision, .. } => break revision["number"].as_i64().expect("a number"),
                ServerFrame::Error { error, .. } => panic!("the writer's last patch was refused: {error:?}"),
                _ => {}
            }
        };
        let head = served.api.get(&served.path, &token).await;
        assert_eq!(head.status, 200, "{}", head.body);
        for reader in &mut readers {
            reader.catch_up(sent, number).await;
            assert_eq!(reader.replica.content, content_of(&head.body), "a reader's replica equals GET");
        }

        // Each half-open socket, once it reads again, finds the frames queued before it was
        // dropped, then close 4008.
        let mut queued = Vec::new();
        for socket in half_open {
            let (code, texts) = tokio::time::timeout(Duration::from_secs(60), socket.closed())
                .await
                .expect("a half-open socket is closed once it reads");
            assert_eq!(code, Some(close::TOO_SLOW), "a half-open session is closed with 4008");
            queued.push(texts);
        }
        let after = served.server.resident_bytes();
        assert!(served.healthy().await, "the server is still up");
        let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
        eprintln!(
            "half-open: {HALF_OPEN} sockets dropped after {sent} presence frames ({patches} patches) in {dropped_after:?}; \
             text frames each read before its close: {queued:?}; RSS before {:.1} MiB, with the dropped sockets \
             unread {:.1} MiB, after they read {:.1} MiB",
            mib(before),
            mib(peak),
            mib(after)
        );
        assert!(peak < before + MEMORY_BOUND, "memory grew from {} to {} MiB", mib(before), mib(peak));
        assert!(after < before + MEMORY_BOUND, "memory grew from {} to {} MiB", mib(before), mib(after));
    })
    .await
    .expect("bounded");
}
