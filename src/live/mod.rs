//! Live collaboration over WebSockets: the protocol's frames, the outbox and session loop of
//! each socket, and the change feed that brings other processes' changes to this one.

pub mod events;
pub mod feed;
pub mod inbound;
pub mod outbox;
pub mod presence_rate;
pub mod protocol;
pub mod session;
