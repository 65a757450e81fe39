//! dialogue-server: a live, collaborative editing server for SMS, USSD and chat conversation
//! flows. See `docs/architecture.md` for how the pieces fit.
#![warn(missing_docs)]

pub mod auth;
pub mod config;
pub mod dialogue;
pub mod error;
pub mod http;
pub mod limits;
pub mod live;
pub mod mail;
pub mod metrics;
pub mod openapi;
pub mod patch;
pub mod peers;
pub mod routes;
pub mod schema;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod vault;
pub mod web;
pub mod webhooks;
