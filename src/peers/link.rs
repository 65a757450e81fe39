//! One peer link: a task that sends everything queued for one peer, in order, one request in
//! flight; what queued meanwhile leaves together in the next request.

use tokio::sync::mpsc;

use super::{Delivery, Outgoing, PROCESS_HEADER, PeerBatch, SIGNATURE_HEADER, TIME_HEADER, sign};
use crate::store::now_millis;

/// Requests gathered into one at most (each a handful of messages under load).
const GATHERED: usize = 256;

/// Where a link sends, and as whom.
pub(crate) struct Target {
    /// The peer's messages URL (its peer URL and [`super::MESSAGES_PATH`]).
    pub url: String,
    /// This process's id.
    pub me: String,
    /// The peer key.
    pub key: Vec<u8>,
}

/// Sends until every sender is gone (the process ends, or the peer's address changed).
pub(crate) async fn run(client: reqwest::Client, target: Target, mut queue: mpsc::Receiver<Outgoing>) {
    let mut gathered = Vec::with_capacity(GATHERED);
    while queue.recv_many(&mut gathered, GATHERED).await > 0 {
        let mut batch = PeerBatch::default();
        // Who waits for which of the handoffs: their count, in order.
        let mut waiting = Vec::new();
        for outgoing in gathered.drain(..) {
            batch.revisions.extend(outgoing.batch.revisions);
            let count = outgoing.batch.handoffs.len();
            batch.handoffs.extend(outgoing.batch.handoffs);
            if let Some(delivered) = outgoing.delivered {
                waiting.push((count, delivered));
            }
        }
        let delivered = send(&client, &target, &batch).await;
        if let Err(error) = &delivered {
            tracing::debug!(peer = %target.url, error = %error, "a peer link request failed; the database carries it");
        }
        let mut handoffs = batch.handoffs.into_iter();
        for (count, sender) in waiting {
            let answer: Delivery = match delivered {
                Ok(()) => Ok(()),
                Err(_) => Err(handoffs.by_ref().take(count).collect()),
            };
            let _ = sender.send(answer);
        }
    }
}

/// One signed request; an error unless the peer answered 2xx.
async fn send(client: &reqwest::Client, target: &Target, batch: &PeerBatch) -> anyhow::Result<()> {
    let body = mongodb::bson::to_vec(batch)?;
    anyhow::ensure!(body.len() <= super::listener::MAX_REQUEST_BYTES, "a request of {} bytes is too large", body.len());
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
