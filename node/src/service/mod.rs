//! The `Registry` gRPC service and what it answers with: the thin handlers ([`registry`]), the
//! Watch stream ([`watch`]), Verify ([`verify`]), transparency reports ([`stats`]), and the
//! conversions between wire messages and the node's own types ([`wire`]).

pub mod catalogue;
pub mod consultation;
pub mod delivery;
pub mod end_use;
pub mod registry;
pub mod rulings;
pub mod stats;
pub mod verify;
pub mod watch;
pub mod wire;
