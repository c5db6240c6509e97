//! The Comity registry node: a gRPC service holding signed export-licence decisions in sled.

pub mod check;
pub mod client_limit;
pub mod config;
pub mod connections;
pub mod consortium;
pub mod demo;
pub mod error;
pub mod federation_service;
pub mod input;
pub mod log;
pub mod log_service;
pub mod logfile;
pub mod memnet;
pub mod metrics;
pub mod mirror;
pub mod recover;
pub mod registry;
pub mod scrub;
pub mod server;
pub mod service;
pub mod stats;
pub mod store;
pub mod tiles;
pub mod tls;
pub mod transfer;
pub mod trust;
pub mod verify;
pub mod watch;
pub mod web;
pub mod witness;

pub use config::Config;
pub use server::RunningNode;

/// The allocator `comity-node` runs with (the benchmarks use it too, to measure the node as
/// shipped): mimalloc, which serves the many small allocations of a gRPC answer faster than
/// the system allocator (BENCHMARKS.md, Verify).
pub use mimalloc::MiMalloc as Allocator;
