//! The transport under the gRPC services: TLS between nodes and the consortium CA ([`tls`]),
//! guards on accepted connections ([`connections`]), per-client limits across connections
//! ([`client_limit`]), and the in-process network used to simulate large consortia
//! ([`memnet`]). Nothing here knows about licences or logs.

pub mod client_limit;
pub mod connections;
pub mod memnet;
pub mod tls;
