//! Operator commands that run beside (or instead of) a serving node: the local demo federation
//! ([`demo`]), recovering a damaged store and backups ([`recover`]), moving whole logs as files
//! ([`transfer`]), the offline consistency check ([`check`]) and the consortium CA ([`ca`]).
//! With `main.rs`, the places that report errors as `anyhow` chains for a terminal rather than
//! as gRPC statuses or typed errors: the rest of the crate does not use `anyhow`.

pub mod ca;
pub mod check;
pub mod demo;
pub mod recover;
pub mod scrub;
pub mod transfer;
