//! Thin tonic handlers for the `Federation` service.

use comity_proto::pb::{self, federation_server};
use tonic::{Request, Response, Status};
use tracing::instrument;

use std::sync::{Arc, Mutex};

use crate::config::PeerConfig;
use crate::error::Error;
use crate::mirror::MirrorStatus;
use crate::registry::now;
use crate::store::{Evidence, Store};

/// A peer as the status report sees it.
pub struct PeerView {
    pub config: PeerConfig,
    pub origin: String,
    pub status: Arc<Mutex<MirrorStatus>>,
}

/// The gRPC `comity.v1.Federation` service.
pub struct FederationService {
    store: Store,
    origin: String,
    peers: Vec<PeerView>,
}

impl FederationService {
    /// Serves the evidence held in `store` and the status of the node's log `origin` and `peers`.
    pub fn new(store: Store, origin: String, peers: Vec<PeerView>) -> Self {
        Self { store, origin, peers }
    }
}

fn to_wire(e: Evidence) -> pb::Evidence {
    match e {
        Evidence::LicenceFork { authority, licence_id, version, first_envelope, second_envelope, detected_at } => pb::Evidence {
            kind: "licence_fork".into(),
            detected_at,
            authority,
            licence_id,
            version,
            envelopes: [first_envelope, second_envelope].iter().map(|h| hex::decode(h).unwrap_or_default()).collect(),
            reason: format!("two signed decisions for version {version}"),
            ..Default::default()
        },
        Evidence::SplitView { origin, first_checkpoint, second_checkpoint, reason, detected_at } => pb::Evidence {
            kind: "split_view".into(),
            detected_at,
            origin,
            checkpoints: vec![first_checkpoint, second_checkpoint],
            reason,
            ..Default::default()
        },
    }
}

#[tonic::async_trait]
impl federation_server::Federation for FederationService {
    #[instrument(skip_all)]
    async fn get_evidence(&self, _: Request<pb::GetEvidenceRequest>) -> Result<Response<pb::GetEvidenceResponse>, Status> {
        // Freeze and evidence are committed together; reading the freezes first means every
        // freeze seen here has its evidence visible in the second read.
        let frozen = self.store.frozen_logs().map_err(Error::from)?;
        let evidence = self.store.evidence().map_err(Error::from)?;
        Ok(Response::new(pb::GetEvidenceResponse {
            evidence: evidence.into_iter().map(to_wire).collect(),
            frozen: frozen.into_iter().map(|(origin, reason)| pb::FrozenLog { origin, reason }).collect(),
        }))
    }

    #[instrument(skip_all)]
    async fn status(&self, _: Request<pb::StatusRequest>) -> Result<Response<pb::StatusResponse>, Status> {
        let size = self.store.log(&self.origin).size().map_err(Error::from)?;
        let evidence_count = self.store.evidence().map_err(Error::from)?.len() as u32;
        let mut peers = Vec::with_capacity(self.peers.len());
        for p in &self.peers {
            let s = p.status.lock().map(|s| s.clone()).unwrap_or_default();
            let frozen = self.store.log(&p.origin).frozen().map_err(Error::from)?.is_some();
            peers.push(pb::PeerStatus {
                id: p.config.id.clone(),
                url: p.config.url.clone(),
                origin: p.origin.clone(),
                connected: s.last_error.is_none() && s.checkpoint_time > 0,
                mirrored_size: s.size,
                peer_size: s.peer_size,
                lag_entries: s.peer_size.saturating_sub(s.size),
                checkpoint_time: s.checkpoint_time,
                lag_seconds: if s.checkpoint_time > 0 { now() - s.checkpoint_time } else { 0 },
                last_error: s.last_error.unwrap_or_default(),
                failures: s.failures,
                frozen,
            });
        }
        Ok(Response::new(pb::StatusResponse { origin: self.origin.clone(), size, peers, evidence_count }))
    }
}
