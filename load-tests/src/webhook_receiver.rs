//! A webhook receiver for benchmarks (`--webhook`): every project the harness creates gets a
//! hook on all events pointing here, so a run measures the write path with webhooks on. It
//! answers every request with `204` and counts the deliveries and the revisions they cover.
//! Only what a benchmark needs of HTTP/1.1: keep-alive, `Content-Length` bodies.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the receiver got so far.
#[derive(Debug, Default)]
pub struct Received {
    /// Deliveries (requests).
    pub deliveries: AtomicU64,
    /// Revisions covered by `dialogue.changed` deliveries.
    pub revisions: AtomicU64,
}

/// A running receiver.
pub struct WebhookReceiver {
    /// Where hooks point.
    pub url: String,
    /// What it got.
    pub received: Arc<Received>,
}

impl WebhookReceiver {
    /// Starts a receiver on a free loopback port.
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/hook", listener.local_addr()?);
        let received = Arc::new(Received::default());
        let counts = received.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, counts.clone()));
            }
        });
        Ok(Self { url, received })
    }
}

async fn serve(mut stream: TcpStream, received: Arc<Received>) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n").map(|at| at + 4) else {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
            continue;
        };
        let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length:"))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(0);
        while buffer.len() < end + length {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
        count(&buffer[end..end + length], &received);
        buffer.drain(..end + length);
        if stream.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").await.is_err() {
            return;
        }
    }
}

fn count(body: &[u8], received: &Received) {
    received.deliveries.fetch_add(1, Ordering::Relaxed);
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(body) else { return };
    let data = &body["data"];
    if let (Some(from), Some(to)) = (data["from_revision"].as_u64(), data["to_revision"].as_u64()) {
        received.revisions.fetch_add(to.saturating_sub(from) + 1, Ordering::Relaxed);
    }
}
