//! The load-test harness of dialogue-server (`dialogue-load`), and `client`: a small library
//! that speaks the live-collaboration protocol (`../shared/contracts/live-protocol.md`), used by
//! the harness and by the server's own integration tests.
#![warn(missing_docs)]

pub mod api;
pub mod client;
pub mod report;
pub mod scenarios;
pub mod sharedb;
pub mod stats;
