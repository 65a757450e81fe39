//! What a live session's client may send before it completes a message: bounded in bytes.
//!
//! actix's WebSocket codec checks a frame's size only once the whole frame has arrived, and
//! its message stream buffers everything the socket gives it until then. A client that
//! declares a frame of 2^62 bytes and keeps sending would grow that buffer without end. So
//! the request's byte stream is counted on its way to the codec: more than
//! [`MAX_UNREAD_BYTES`] since the session last received a message ends the stream, and the
//! session closes with 1009, as for any message over the frame limit.

use std::cell::Cell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::web::Bytes;
use futures_util::Stream;

use super::protocol::MAX_FRAME_BYTES;

/// Bytes a client may send between two messages the session receives: a message of the
/// largest size, its fragments' headers, and what the socket read ahead of the next one.
pub const MAX_UNREAD_BYTES: usize = 2 * MAX_FRAME_BYTES;

/// The session's view of its counted stream: resets the count when a message arrives, and
/// says whether the stream ended for going over.
#[derive(Clone, Default)]
pub struct Unread {
    bytes: Rc<Cell<usize>>,
    over: Rc<Cell<bool>>,
}

impl Unread {
    /// A message arrived: what came before it is read.
    pub fn message_arrived(&self) {
        self.bytes.set(0);
    }

    /// Whether the client sent more than [`MAX_UNREAD_BYTES`] without completing a message.
    pub fn went_over(&self) -> bool {
        self.over.get()
    }
}

/// `payload` counted: the stream to hand to the WebSocket codec, and the session's view of it.
pub fn counted(payload: Payload) -> (Payload, Unread) {
    let unread = Unread::default();
    let stream = Counted { inner: payload, unread: unread.clone(), limit: MAX_UNREAD_BYTES };
    (Payload::Stream { payload: Box::pin(stream) }, unread)
}

struct Counted {
    inner: Payload,
    unread: Unread,
    limit: usize,
}

impl Stream for Counted {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.unread.went_over() {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                let bytes = this.unread.bytes.get().saturating_add(chunk.len());
                this.unread.bytes.set(bytes);
                if bytes > this.limit {
                    this.unread.over.set(true);
                    return Poll::Ready(Some(Err(PayloadError::Overflow)));
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

    use super::*;

    fn chunks(sizes: &[usize]) -> Payload {
        let items: Vec<Result<Bytes, PayloadError>> =
            sizes.iter().map(|size| Ok(Bytes::from(vec![0u8; *size]))).collect();
        Payload::Stream { payload: Box::pin(futures_util::stream::iter(items)) }
    }

    #[actix_web::test]
    async fn bytes_past_the_bound_without_a_message_end_the_stream_and_a_message_resets_the_count() {
        let (mut stream, unread) = counted(chunks(&[MAX_UNREAD_BYTES - 1, 1, 1, 1]));
        assert!(stream.next().await.unwrap().is_ok());
        assert!(stream.next().await.unwrap().is_ok(), "exactly the bound passes");
        unread.message_arrived();
        assert!(stream.next().await.unwrap().is_ok(), "a message reset the count");
        assert!(!unread.went_over());

        let (mut stream, unread) = counted(chunks(&[MAX_UNREAD_BYTES, 1, 1]));
        assert!(stream.next().await.unwrap().is_ok());
        assert!(matches!(stream.next().await, Some(Err(PayloadError::Overflow))));
        assert!(unread.went_over());
        assert!(stream.next().await.is_none(), "nothing more is read");
    }
}
