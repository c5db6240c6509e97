//! Operator commands that run beside (or instead of) a serving node: the local demo federation
//! ([`demo`]), recovering a damaged store and backups ([`recover`]), moving whole logs as files
//! ([`transfer`]), and the offline consistency check ([`check`]). With `main.rs`, the places
//! that report errors as `anyhow` chains for a terminal rather than as gRPC statuses.

pub mod check;
pub mod demo;
pub mod recover;
pub mod scrub;
pub mod transfer;
