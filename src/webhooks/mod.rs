//! Webhooks (issue #15, in progress): the parts of delivery that need no database, each tested
//! on its own. `address` decides which receiver URLs may be called (no loopback, private or
//! link-local address unless allowed, checked again at delivery time against DNS rebinding),
//! `signature` signs a delivery's body, and `schedule` spaces out retries. The webhook
//! resources, the outbox and the delivery workers that use them are not built yet.

pub mod address;
pub mod schedule;
pub mod signature;
