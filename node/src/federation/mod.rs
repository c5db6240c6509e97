//! Federation: what nodes do with each other's logs. Mirroring a peer's log ([`mirror`]),
//! witnessing (cosigning) checkpoints ([`witness`]), the `Federation` gRPC service peers call
//! ([`service`]), and the consortium file that names every member ([`consortium`]).
//!
//! A mirrored part is verified here and handed to the writer ([`crate::writer`]), which stages
//! it like a publish and commits it all or nothing.

pub mod consortium;
pub mod mirror;
pub mod relay;
pub mod service;
pub mod witness;
