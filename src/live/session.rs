//! One WebSocket session: an actix-ws loop that selects over the client's frames, the bounded
//! queue of frames from the dialogue's actor, a close signal, the heartbeat, the token's expiry,
//! access events and server shutdown.
//!
//! The actor queues frames in the session's [`outbox`](super::outbox); when this session cannot
//! keep up and its outbox fills, the actor drops it and signals close code 4008, so one slow
//! reader never slows the others. Writes to the socket happen only here.

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use crate::metrics::{HOT, Hot};
use actix::Addr;
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, ProtocolError};
use dialogue_protocol::User;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{broadcast, watch};

use super::events::AccessEvent;
use super::inbound::Unread;
use super::outbox::{OutboxReader, outbox};
use super::presence_rate::PresenceRate;
use super::protocol::{self, Incoming, MAX_FRAME_BYTES, ServerFrame, close};
use crate::auth::{Caller, Principal};
use crate::config::Settings;
use crate::dialogue::WriteRequest;
use crate::dialogue::actor::DialogueActor;
use crate::dialogue::change::{Change, ChangeKind};
use crate::dialogue::description::Access;
use crate::dialogue::messages::{Join, Leave, SessionLink, SessionPatch, SetPresence};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{new_id, now_millis};

/// The server pings this often.
const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(10);
/// A client silent for this long is closed.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);
/// At most this many queued frames go out in one go (in one `batch` frame, when asked for).
const BURST: usize = 64;
/// A burst takes no more frames once it holds this many bytes. A `batch` is a copy of its
/// frames, private to its session, and actix-ws holds up to 32 messages for a socket that does
/// not drain: this keeps what a stalled batching session holds there near 512 KiB.
const BURST_BYTES: usize = 16 * 1024;
/// How long closing waits for a stalled socket to take the close frame.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(30);

/// Everything a session needs, checked before the upgrade.
pub struct SessionParams {
    /// Shared state.
    pub state: actix_web::web::Data<AppState>,
    /// Who is connected.
    pub caller: Caller,
    /// The project in the path.
    pub project_id: String,
    /// The dialogue.
    pub dialogue_id: String,
    /// The revision the client already holds.
    pub since: Option<i64>,
    /// Whether frames queued together go out as one `batch` frame.
    pub batch: bool,
    /// Whether it may submit patches.
    pub can_edit: bool,
    /// The dialogue's actor.
    pub actor: Addr<DialogueActor>,
}

/// A session that has joined its dialogue's actor (its `welcome` is queued) and waits for the
/// WebSocket to open.
pub struct Joined {
    params: SessionParams,
    session_id: String,
    frames: OutboxReader,
    close_signal: watch::Receiver<Option<u16>>,
}

/// Joins the dialogue's actor, before the upgrade, so that every refusal (the dialogue is
/// gone, it has too many sessions) is an ordinary HTTP error.
pub async fn join(params: SessionParams) -> Result<Joined, ApiError> {
    let session_id = new_id();
    let capacity = params.state.settings.live_queue.max(4);
    let (frames_tx, frames) = outbox(capacity);
    let (close_tx, close_signal) = watch::channel(None);
    let user = &params.caller.user;
    let link = SessionLink {
        session_id: session_id.clone(),
        user: User { id: user.id.clone(), first_name: user.first_name.clone(), last_name: user.last_name.clone() },
        frames: frames_tx,
        close: close_tx,
    };
    let join = Join { project_id: params.project_id.clone(), link, can_edit: params.can_edit, since: params.since };
    params.actor.send(join).await.map_err(|_| ApiError::Interrupted)??;
    Ok(Joined { params, session_id, frames, close_signal })
}

impl Joined {
    /// The upgrade failed after all: leave the actor.
    pub fn abandon(self) {
        self.params.actor.do_send(Leave { session_id: self.session_id });
    }
}

/// Runs a session until it closes.
pub async fn run(mut session: actix_ws::Session, stream: actix_ws::MessageStream, unread: Unread, joined: Joined) {
    let Joined { mut params, session_id, mut frames, mut close_signal } = joined;
    let open = crate::metrics::OpenSession::count();
    let mut by_client = false;
    let code =
        serve(&mut session, (stream, unread), &mut params, &session_id, &mut frames, &mut close_signal, &mut by_client)
            .await;
    drop(open);
    crate::metrics::session_closed(if by_client { None } else { Some(code) });
    params.actor.do_send(Leave { session_id });
    let reason = code.map(|code| CloseReason { code: CloseCode::from(code), description: None });
    // A client that stopped reading may never take the close frame: do not wait for it forever.
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, session.close(reason)).await;
}

/// The loop; returns the close code to send (`None`: the client closed, or the socket broke).
async fn serve(
    session: &mut actix_ws::Session,
    (stream, unread): (actix_ws::MessageStream, Unread),
    params: &mut SessionParams,
    session_id: &str,
    frames: &mut OutboxReader,
    close_signal: &mut watch::Receiver<Option<u16>>,
    by_client: &mut bool,
) -> Option<u16> {
    let mut stream =
        stream.max_frame_size(MAX_FRAME_BYTES).aggregate_continuations().max_continuation_size(MAX_FRAME_BYTES);
    let mut burst = Vec::new();
    let mut heartbeat = tokio::time::interval(HEARTBEAT_INTERVAL);
    let mut last_heard = Instant::now();
    let mut access = params.state.access_events.subscribe();
    let patches = PatchRate::new(&params.state.settings);
    let mut presence = PresenceRate::new(params.state.settings.live_presence_per_second);
    // What a disabled timer branch waits for (it is never polled).
    let far_future = Instant::now() + Duration::from_secs(3600);
    let mut shutdown = params.state.shutdown.clone();
    let remaining = params.caller.token_expires_at.saturating_sub(now_millis()).max(0);
    let expiry = tokio::time::sleep(Duration::from_millis(u64::try_from(remaining).unwrap_or(u64::MAX)));
    tokio::pin!(expiry);
    loop {
        tokio::select! {
            biased;
            _ = shutdown.changed() => return Some(close::GOING_AWAY),
            changed = close_signal.changed() => {
                return if changed.is_ok() { *close_signal.borrow() } else { Some(close::GOING_AWAY) };
            }
            () = &mut expiry => return Some(close::TOKEN_REVOKED),
            event = access.recv() => {
                if let Some(code) = on_access_event(params, event).await {
                    return Some(code);
                }
            }
            waiting = frames.ready() => {
                if !waiting {
                    return Some(close::GOING_AWAY);
                }
                // Everything waiting goes out together, within the burst's bounds: one
                // WebSocket frame for a batching client.
                frames.take(&mut burst, BURST, BURST_BYTES);
                let taken = burst.len() as u64;
                if params.batch && burst.len() > 1 {
                    let batch = protocol::batch(&burst);
                    burst.clear();
                    if session.text(batch).await.is_err() {
                        return None;
                    }
                } else {
                    for frame in burst.drain(..) {
                        if session.text(frame).await.is_err() {
                            return None;
                        }
                    }
                }
                Hot::add(&HOT.frames_sent, taken);
            }
            message = stream.recv() => {
                last_heard = Instant::now();
                if matches!(message, Some(Ok(_))) {
                    unread.message_arrived();
                }
                match message {
                    Some(Ok(AggregatedMessage::Text(text))) => {
                        if let Some(reply) = on_client_frame(params, session_id, &text, &patches, &mut presence).await {
                            if session.text(reply).await.is_err() {
                                return None;
                            }
                            Hot::add(&HOT.frames_sent, 1);
                        }
                    }
                    Some(Ok(AggregatedMessage::Binary(_))) => return Some(close::UNSUPPORTED_DATA),
                    Some(Ok(AggregatedMessage::Ping(bytes))) => {
                        if session.pong(&bytes).await.is_err() {
                            return None;
                        }
                    }
                    Some(Ok(AggregatedMessage::Pong(_))) => {}
                    // Echo the client's close code, as RFC 6455 asks.
                    Some(Ok(AggregatedMessage::Close(reason))) => {
                        *by_client = true;
                        return reason.map(|r| u16::from(r.code));
                    }
                    None => return None,
                    Some(Err(ProtocolError::Overflow)) => return Some(close::TOO_BIG),
                    Some(Err(_)) if unread.went_over() => return Some(close::TOO_BIG),
                    Some(Err(ProtocolError::Io(error))) if error.to_string().contains("continuation size") => {
                        return Some(close::TOO_BIG);
                    }
                    Some(Err(ProtocolError::Io(error))) if error.kind() == std::io::ErrorKind::InvalidData => {
                        return Some(close::INVALID_DATA);
                    }
                    // The connection broke: nobody to tell.
                    Some(Err(ProtocolError::Io(_))) => return None,
                    Some(Err(_)) => return Some(close::PROTOCOL_ERROR),
                }
            }
            // A selection held back by the presence budget, told once it allows.
            _ = tokio::time::sleep_until(presence.due().unwrap_or(far_future).into()), if presence.due().is_some() => {
                if let Some(selection) = presence.take_due() {
                    tell_presence(params, session_id, selection);
                }
            }
            _ = heartbeat.tick() => {
                if last_heard.elapsed() > CLIENT_TIMEOUT {
                    return Some(close::UNRESPONSIVE);
                }
                if session.ping(b"").await.is_err() {
                    return None;
                }
            }
        }
    }
}

/// Handles one text frame; returns a frame to send straight back (`pong`, or an `error` found
/// before the actor was involved).
async fn on_client_frame(
    params: &SessionParams,
    session_id: &str,
    text: &str,
    patches: &PatchRate,
    presence: &mut PresenceRate,
) -> Option<protocol::Frame> {
    let frame = match protocol::parse(text, &params.state.limits) {
        Ok(frame) => frame,
        Err(refusal) => return Some(refusal),
    };
    match frame {
        Incoming::Ping { reference } => Some(protocol::frame(&ServerFrame::Pong { reference })),
        Incoming::Presence { selection } => {
            if let Some(selection) = presence.offer(selection) {
                tell_presence(params, session_id, selection);
            }
            None
        }
        Incoming::Patch { reference, base_revision, patch, edit_type, details } => {
            if !params.can_edit {
                let error = ApiError::Forbidden("This session may watch but not edit".into());
                return Some(protocol::error(Some(&reference), &error));
            }
            if let Err(error) = patches.check() {
                return Some(protocol::error(Some(&reference), &error));
            }
            if let Err(error) = params.state.schemas.check_patch_paths("dialogue", &patch) {
                return Some(protocol::error(Some(&reference), &error));
            }
            let change = Change { kind: ChangeKind::Edit { patch, edit_type }, details, created: None };
            let request = WriteRequest::by(&params.caller, &params.project_id, &params.dialogue_id, vec![change])
                .based_on(base_revision);
            let message = SessionPatch { session_id: session_id.to_owned(), reference: reference.clone(), request };
            match params.actor.send(message).await {
                Ok(()) => None,
                Err(_) => Some(protocol::error(Some(&reference), &ApiError::Interrupted)),
            }
        }
    }
}

/// Tells the actor this session's selection. Best effort: when the actor's mailbox is full (it
/// is loading, or flooded), the selection is dropped rather than queued without bound; the
/// next one replaces it.
fn tell_presence(params: &SessionParams, session_id: &str, selection: serde_json::Value) {
    let _ = params.actor.try_send(SetPresence { session_id: session_id.to_owned(), selection });
}

/// The session's patch budget: `DIALOGUE_LIVE_PATCHES_PER_SECOND` on average, in bursts of up
/// to `DIALOGUE_LIVE_PATCH_BURST`.
struct PatchRate(DefaultDirectRateLimiter);

impl PatchRate {
    fn new(settings: &Settings) -> Self {
        let rate = NonZeroU32::new(settings.live_patches_per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(settings.live_patch_burst).unwrap_or(rate);
        Self(RateLimiter::direct(Quota::per_second(rate).allow_burst(burst)))
    }

    /// Spends one patch; `rate_limited` when the budget is spent (nothing is applied).
    fn check(&self) -> Result<(), ApiError> {
        self.0.check().map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            ApiError::RateLimited { retry_after: wait.as_secs().max(1) }
        })
    }
}

/// Reacts to a token, user or resynchronization event; returns a close code when the session
/// must end.
async fn on_access_event(
    params: &mut SessionParams,
    event: Result<AccessEvent, broadcast::error::RecvError>,
) -> Option<u16> {
    match event {
        Ok(AccessEvent::TokenDeleted(hash)) if hash == params.caller.token_hash => Some(close::TOKEN_REVOKED),
        Ok(AccessEvent::UserChanged(user_id)) if user_id == params.caller.user.id => recheck(params).await,
        Ok(AccessEvent::Recheck) | Err(broadcast::error::RecvError::Lagged(_)) => recheck(params).await,
        Ok(_) => None,
        Err(broadcast::error::RecvError::Closed) => Some(close::GOING_AWAY),
    }
}

/// Re-validates the token and the user's access from the store; keeps the session when the
/// store cannot answer.
async fn recheck(params: &mut SessionParams) -> Option<u16> {
    let store = &params.state.store;
    match store.live_token(&params.caller.token_hash).await {
        Ok(None) => return Some(close::TOKEN_REVOKED),
        Ok(Some(_)) => {}
        Err(_) => return None,
    }
    let user = match store.user_by_id(&params.caller.user.id).await {
        Ok(Some(user)) => user,
        Ok(None) => return Some(close::TOKEN_REVOKED),
        Err(_) => return None,
    };
    let principal = Principal { user_id: user.id.clone(), permissions: user.permissions.clone() };
    let access = Access::of(&principal, &params.project_id, &params.dialogue_id);
    if !access.can_view {
        return Some(close::ACCESS_REVOKED);
    }
    params.can_edit = access.can_edit;
    params.caller.principal = principal;
    params.caller.user = user;
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::protocol::{Frame, ServerFrame};

    #[test]
    fn a_batch_holds_the_burst_frames_unchanged_and_in_order() {
        let frames = [
            protocol::frame(&ServerFrame::Left { session_id: "a".into() }),
            protocol::ack("r", &serde_json::value::to_raw_value(&serde_json::json!({ "number": 3 })).unwrap()),
        ];
        let ServerFrame::Batch { frames: parsed } = serde_json::from_str(&protocol::batch(&frames)).unwrap() else {
            panic!("not a batch")
        };
        let again: Vec<Frame> = parsed.iter().map(protocol::frame).collect();
        assert_eq!(again, frames);
        // Each frame on a line of its own: a client can split the batch without parsing it.
        let text = protocol::batch(&frames);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), frames.len() + 2);
        assert_eq!(lines[1].strip_suffix(','), Some(&*frames[0]));
        assert_eq!(lines[2], &*frames[1]);
    }
}
