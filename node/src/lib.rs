//! The Comity registry node: a gRPC service holding signed export-licence decisions in sled.

pub mod catalogue;
pub mod chain;
pub mod clock;
pub mod config;
pub mod consultation;
pub mod error;
pub mod federation;
pub mod input;
pub mod log;
pub mod metrics;
pub mod net;
pub mod ops;
pub mod rulings;
pub mod server;
pub mod service;
pub mod store;
pub mod trust;
pub mod web;
pub mod writer;

pub use clock::Clock;
pub use config::Config;
pub use server::RunningNode;

/// Current Unix time in seconds from the system clock, for commands run outside a node (a
/// running node reads its [`Clock`], which tests can move).
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The allocator `comity-node` runs with (the benchmarks use it too, to measure the node as
/// shipped): mimalloc, which serves the many small allocations of a gRPC answer faster than
/// the system allocator (BENCHMARKS.md, Verify). Built without transparent huge pages
/// (`no_thp`): with them, the sparse 2 MiB pages of its arenas counted ~40 MB more in the
/// node's memory at 10k-100k decisions, for no speed (BENCHMARKS.md, Storage at scale).
pub use mimalloc::MiMalloc as Allocator;
