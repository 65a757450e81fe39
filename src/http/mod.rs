//! HTTP plumbing shared by every route: request bodies, list pagination, boolean query flags, `HEAD`, the client's
//! address behind proxies, and the guarantee that every error response is the contract's JSON
//! body.

pub mod access_log;
pub mod body;
pub mod body_budget;
pub mod client_address;
pub mod flag;
pub mod head;
pub mod json_errors;
pub mod metrics_listener;
pub mod ordering;
pub mod pagination;
pub mod request_metrics;
