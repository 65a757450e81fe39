//! A live session's outbox: the frames its dialogue's actor queued for it and the session has
//! not written yet. The actor hands frames over in bursts, everything one event gave a session
//! in one message (a stored batch of twenty revisions costs each session one hand-over and at
//! most one wake-up, not twenty), and the session takes them out in bursts of its own size.
//!
//! The outbox is bounded in frames, not in messages: a session that still has its capacity's
//! worth of frames waiting when the next burst comes is too slow, and the actor closes it
//! (4008). A burst is taken whole otherwise, however large, so what waits is at most the
//! capacity plus one event's frames (shared text: a reference each), and one large event
//! (a bulk write's revisions) closes no session by itself.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::mpsc;

use super::protocol::Frame;

/// Frames an emptied outbox keeps room for (a stored batch's worth, for the next one).
const KEPT_CAPACITY: usize = 256;

/// A new outbox holding up to `capacity` frames: the actor's end and the session's end.
pub fn outbox(capacity: usize) -> (Outbox, OutboxReader) {
    let (bursts, receiver) = mpsc::unbounded_channel();
    let queued = Arc::new(AtomicUsize::new(0));
    let capacity = capacity.max(1);
    (
        Outbox { bursts, queued: queued.clone(), capacity },
        OutboxReader { bursts: receiver, queued, staged: VecDeque::new() },
    )
}

/// Why a burst was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The session has more than its capacity waiting: it is too slow.
    Full,
    /// The session is gone.
    Closed,
}

/// The actor's end: queues bursts of frames.
#[derive(Debug, Clone)]
pub struct Outbox {
    bursts: mpsc::UnboundedSender<Vec<Frame>>,
    queued: Arc<AtomicUsize>,
    capacity: usize,
}

impl Outbox {
    /// How many frames may wait.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Queues `frames`, in order, whole or not at all: refused when the capacity's worth of
    /// frames is already waiting.
    pub fn send(&self, frames: Vec<Frame>) -> Result<(), Refused> {
        let count = frames.len();
        if count == 0 {
            return Ok(());
        }
        let before = self.queued.fetch_add(count, Ordering::AcqRel);
        if before >= self.capacity {
            self.queued.fetch_sub(count, Ordering::AcqRel);
            return Err(Refused::Full);
        }
        self.bursts.send(frames).map_err(|_| {
            self.queued.fetch_sub(count, Ordering::AcqRel);
            Refused::Closed
        })
    }
}

/// The session's end: takes frames out, oldest first.
#[derive(Debug)]
pub struct OutboxReader {
    bursts: mpsc::UnboundedReceiver<Vec<Frame>>,
    queued: Arc<AtomicUsize>,
    /// Frames received from the channel and not taken yet.
    staged: VecDeque<Frame>,
}

impl OutboxReader {
    /// Waits until a frame is waiting; `false` once every [`Outbox`] is gone and nothing is
    /// left. Cancel-safe: nothing is lost when it is dropped unfinished.
    pub async fn ready(&mut self) -> bool {
        if !self.staged.is_empty() {
            return true;
        }
        match self.bursts.recv().await {
            Some(frames) => {
                self.staged.extend(frames);
                true
            }
            None => false,
        }
    }

    /// Moves the oldest waiting frames to the end of `burst` (kept from one burst to the next,
    /// so that taking one allocates nothing): up to `max_frames`, and no more once they hold
    /// `max_bytes`. Takes nothing when nothing is waiting.
    pub fn take(&mut self, burst: &mut Vec<Frame>, max_frames: usize, max_bytes: usize) {
        while self.staged.len() < max_frames {
            let Ok(frames) = self.bursts.try_recv() else { break };
            self.staged.extend(frames);
        }
        let (mut taken, mut bytes) = (0, 0);
        while taken < max_frames && bytes < max_bytes {
            let Some(frame) = self.staged.pop_front() else { break };
            bytes += frame.len();
            burst.push(frame);
            taken += 1;
        }
        self.queued.fetch_sub(taken, Ordering::AcqRel);
        // A large event (a welcome's catch-up) leaves no large buffer behind in an idle session.
        if self.staged.is_empty() && self.staged.capacity() > KEPT_CAPACITY {
            self.staged.shrink_to(KEPT_CAPACITY);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(range: std::ops::Range<usize>) -> Vec<Frame> {
        range.map(|n| Frame::from(format!("{{\"n\":{n}}}"))).collect()
    }

    #[tokio::test]
    async fn bursts_come_out_in_order_within_the_bounds_of_each_take() {
        let (sender, mut reader) = outbox(1024);
        let all = frames(0..100);
        sender.send(all[..30].to_vec()).unwrap();
        sender.send(all[30..].to_vec()).unwrap();
        let mut burst = Vec::new();
        assert!(reader.ready().await);
        reader.take(&mut burst, 64, usize::MAX);
        assert_eq!(burst, all[..64], "a take joins the bursts queued, up to its frame bound");
        burst.clear();
        assert!(reader.ready().await);
        reader.take(&mut burst, 64, usize::MAX);
        assert_eq!(burst, all[64..]);

        let big = Frame::from(format!("\"{}\"", "x".repeat(10 * 1024)));
        sender.send(vec![big.clone(), big.clone(), big.clone()]).unwrap();
        burst.clear();
        reader.take(&mut burst, 64, 16 * 1024);
        assert_eq!(burst.len(), 2, "it stops once past the byte bound");
        burst.clear();
        reader.take(&mut burst, 64, 16 * 1024);
        assert_eq!(burst, [big], "and leaves the rest waiting");
    }

    #[test]
    fn a_session_with_its_capacity_waiting_is_refused_and_a_large_burst_is_not() {
        let (sender, mut reader) = outbox(4);
        sender.send(frames(0..3)).unwrap();
        sender.send(frames(3..5)).unwrap();
        assert_eq!(sender.send(frames(5..6)), Err(Refused::Full), "5 waiting: at least 4");
        let mut burst = Vec::new();
        reader.take(&mut burst, 2, usize::MAX);
        assert_eq!(burst, frames(0..2));
        sender.send(frames(5..6)).unwrap();
        reader.take(&mut burst, 64, usize::MAX);
        assert_eq!(burst, frames(0..6), "in order, and the refused burst left nothing behind");
        // One event larger than the capacity is taken whole; the next waits for it to drain.
        sender.send(frames(0..10)).unwrap();
        assert_eq!(sender.send(frames(0..1)), Err(Refused::Full));
        burst.clear();
        reader.take(&mut burst, 7, usize::MAX);
        assert_eq!(sender.send(frames(0..1)), Ok(()), "3 waiting: under 4");
        drop(reader);
        assert_eq!(sender.send(Vec::new()), Ok(()), "nothing to send is never refused");
    }

    #[test]
    fn an_emptied_outbox_keeps_no_large_buffer() {
        let (sender, mut reader) = outbox(4096);
        sender.send(frames(0..2000)).unwrap();
        let mut burst = Vec::new();
        reader.take(&mut burst, 64, usize::MAX);
        assert!(reader.staged.capacity() >= 1936, "still holding the rest");
        burst.clear();
        reader.take(&mut burst, usize::MAX, usize::MAX);
        assert_eq!(burst.len(), 1936);
        assert!(reader.staged.capacity() <= KEPT_CAPACITY, "{}", reader.staged.capacity());
    }

    #[tokio::test]
    async fn a_session_whose_reader_is_gone_is_closed_and_a_reader_sees_the_end() {
        let (sender, reader) = outbox(4);
        drop(reader);
        assert_eq!(sender.send(frames(0..1)), Err(Refused::Closed));
        let (sender, mut reader) = outbox(4);
        sender.send(frames(0..1)).unwrap();
        drop(sender);
        assert!(reader.ready().await, "what was queued is still taken");
        let mut burst = Vec::new();
        reader.take(&mut burst, 64, usize::MAX);
        assert!(!reader.ready().await);
    }
}
