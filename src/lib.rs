//! ferrodis: a drop-in replacement for `redis-server` 7.0.
//!
//! The crate is laid out like Redis itself: `ae` (event loop), `networking` (clients on the
//! wire), `resp` (protocol), `commands` (table and command bodies), `db` (keyspace), `types`
//! (values and encodings), `config`, `pubsub`, `blocking` (clients blocked on keys), `replication` (propagation), `module` (the C
//! modules ABI), and `server` (the state that ties them together).

pub mod acl;
pub mod ae;
pub mod aof;
pub mod blocking;
pub mod client;
pub mod cluster;
pub mod commands;
pub mod config;
pub mod db;
pub mod lazyfree;
pub mod lzf;
pub mod module;
pub mod networking;
pub mod pubsub;
pub mod rdb;
pub mod replication;
pub mod resp;
pub mod scripting;
pub mod server;
pub mod sha1;
pub mod startup;
pub mod tracking;
pub mod types;
pub mod util;
