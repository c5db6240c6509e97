//! Relaying a customs write-off to the licence issuer's node (docs/usage-and-drawdown.md). A
//! partner's customs office may publish its write-off at its own authority's node: the node
//! forwards it to the peer carrying the issuer's log, which sequences it, and returns the
//! issuer's answer as it came (the new balance with the write-off's receipt, or the refusal,
//! ABORTED included, so `comity write-off` signs again at the new head).

use std::time::Duration;

use tonic::Status;

use comity_proto::pb;
use comity_proto::statement::Envelope;

use crate::config::{Config, PeerConfig};
use crate::federation::mirror::PeerChannels;
use crate::net::tls::TlsConfig;
use crate::writer::Registry;

/// The peers a write-off can be relayed to, with their channels.
pub struct WriteOffRelay {
    peers: Vec<PeerConfig>,
    tls: Option<TlsConfig>,
    channels: PeerChannels,
    timeout: Duration,
    max_message_bytes: usize,
}

impl WriteOffRelay {
    pub fn new(config: &Config) -> Self {
        Self {
            peers: config.peers.iter().filter(|p| !p.relay).cloned().collect(),
            tls: config.tls.clone(),
            channels: PeerChannels::default(),
            timeout: config.limits.request_timeout(),
            max_message_bytes: config.limits.max_message_bytes,
        }
    }

    /// Forwards `request` to the issuer's node when it is a write-off against a licence of an
    /// authority this node does not host and a peer carries that authority's log; `None`
    /// otherwise (the node answers it itself).
    pub async fn forward(&self, registry: &Registry, request: &pb::PublishRequest) -> Option<Result<pb::PublishResponse, Status>> {
        let envelope = Envelope::parse(request.envelope.clone()).ok()?;
        let pb::statement::Kind::Decision(d) = envelope.statement() else { return None };
        if d.action != pb::Action::WriteOff as i32 || registry.trust().hosts(&d.authority) {
            return None;
        }
        let origin = crate::service::verify::issuer_origin(registry, &d.authority)?;
        let peer = self.peers.iter().find(|p| p.origin() == origin)?;
        let channel = match self.channels.get(peer, self.tls.as_ref(), self.timeout) {
            Ok(channel) => channel,
            Err(e) => return Some(Err(Status::unavailable(format!("cannot relay the write-off to {} ({}): {e}", peer.id, peer.url)))),
        };
        tracing::info!(authority = %d.authority, licence = %d.licence_id, peer = %peer.id, "relaying a customs write-off to the issuer's node");
        let mut client = pb::registry_client::RegistryClient::new(channel)
            .max_decoding_message_size(self.max_message_bytes)
            .max_encoding_message_size(self.max_message_bytes);
        Some(client.publish(request.clone()).await.map(tonic::Response::into_inner))
    }
}
