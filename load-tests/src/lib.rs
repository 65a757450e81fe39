//! The load-test harness of dialogue-server (`dialogue-load`). It drives the server through
//! its REST API and, for live sessions, through `dialogue_client` (re-exported as `client`).
#![warn(missing_docs)]

pub mod api;
pub mod metrics;
pub use dialogue_client as client;
pub mod report;
pub mod scan;
pub mod scenarios;
pub mod sharedb;
pub mod stats;
pub mod webhook_receiver;
