//! One peer link: a task that sends everything queued for one peer, in order, one request in
//! flight; what queued meanwhile leaves together in the next request (up to
//! [`REQUEST_BYTES`] a request). After a failed request the peer counts as down for a moment:
//! what is queued, and what comes meanwhile, takes the database path at once.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::{Delivery, LinkState, Outgoing, PROCESS_HEADER, PeerBatch, SIGNATURE_HEADER, TIME_HEADER, sign};
use crate::store::now_millis;

/// Parts taken from the queue at once at most.
const GATHERED: usize = 256;
/// A request gathers parts up to about this many bytes (a larger part goes alone, up to the
/// listener's limit).
const REQUEST_BYTES: usize = 4 * 1024 * 1024;

/// Where a link sends, and as whom.
pub(crate) struct Target {
    /// The peer's messages URL (its peer URL and [`super::MESSAGES_PATH`]).
    pub url: String,
    /// This process's id.
    pub me: String,
    /// The peer key.
    pub key: Vec<u8>,
    /// What the link holds, and whether the peer is down.
    pub state: Arc<LinkState>,
}

/// Sends until every sender is gone (the process ends, or the peer's address changed).
pub(crate) async fn run(client: reqwest::Client, target: Target, mut queue: mpsc::Receiver<Outgoing>) {
    let mut gathered = Vec::with_capacity(GATHERED);
    while queue.recv_many(&mut gathered, GATHERED).await > 0 {
        let mut parts = gathered.drain(..).peekable();
        while parts.peek().is_some() {
            let mut request = Vec::new();
            let mut bytes = 0;
            while let Some(outgoing) = parts.next_if(|next| request.is_empty() || bytes + next.bytes <= REQUEST_BYTES) {
                bytes += outgoing.bytes;
                request.push(outgoing);
            }
            send_request(&client, &target, request).await;
            target.state.sent(bytes);
        }
    }
}

/// Sends one request's parts, unless the peer is down, and tells their senders.
async fn send_request(client: &reqwest::Client, target: &Target, request: Vec<Outgoing>) {
    let mut batch = PeerBatch::default();
    let mut waiting = Vec::new();
    for outgoing in request {
        if let Some(delivered) = outgoing.delivered {
            waiting.push((batch.parts.len(), delivered));
        }
        batch.parts.push(outgoing.part);
    }
    let delivered = if target.state.is_down() {
        Err(anyhow::anyhow!("the peer is down"))
    } else {
        send(client, target, &batch).await
    };
    if let Err(error) = &delivered {
        target.state.failed();
        tracing::debug!(peer = %target.url, error = %error, "a peer link request failed; the database carries it");
    }
    let mut parts: Vec<Option<super::PeerPart>> = batch.parts.into_iter().map(Some).collect();
    for (index, sender) in waiting {
        let answer: Delivery = match &delivered {
            Ok(()) => Ok(()),
            Err(_) => Err(parts[index].take().map(|part| part.handoffs).unwrap_or_default()),
        };
        let _ = sender.send(answer);
    }
}

/// One signed request; an error unless the peer answered 2xx.
async fn send(client: &reqwest::Client, target: &Target, batch: &PeerBatch) -> anyhow::Result<()> {
    let body = mongodb::bson::to_vec(batch)?;
    let limit = super::listener::MAX_REQUEST_BYTES;
    anyhow::ensure!(body.len() <= limit, "a request of {} bytes is over the peer's {limit}", body.len());
    let time = now_millis().to_string();
    let signature = sign(&target.key, &time, &body);
    let response = client
        .post(&target.url)
        .header(PROCESS_HEADER, &target.me)
        .header(TIME_HEADER, &time)
        .header(SIGNATURE_HEADER, signature)
        .header("Content-Type", "application/bson")
        .body(body)
        .send()
        .await?;
    let status = response.status();
    anyhow::ensure!(status.is_success(), "the peer answered {status}");
    Ok(())
}
