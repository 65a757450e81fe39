//! Integration tests: the real server over HTTP against a real database, each test in its own
//! database. `scripts/test` starts the database and sets `DIALOGUE_TEST_MONGODB_URI`.

mod access;
mod api_description;
mod auth;
mod channels;
mod cluster;
mod contacts;
mod dialogues;
mod durability;
mod errors;
mod failover;
mod faults;
mod fuzz;
mod half_open;
mod health;
mod helpers;
mod invites;
mod limits;
mod live;
mod metrics;
mod passwords;
mod permissions;
mod process;
mod projects;
mod releases;
mod revisions;
mod sessions;
mod users;
mod web;
mod webhooks;
mod write_path;
