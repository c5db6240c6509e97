//! Thin tonic handlers for the `Federation` service.

use comity_proto::pb::{self, federation_server};
use tonic::{Request, Response, Status};
use tracing::instrument;

use crate::error::Error;
use crate::store::{Evidence, Store};

/// The gRPC `comity.v1.Federation` service.
pub struct FederationService {
    store: Store,
}

impl FederationService {
    /// Serves the evidence held in `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
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
}
