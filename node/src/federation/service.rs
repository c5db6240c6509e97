//! Thin tonic handlers for the `Federation` service.

use comity_proto::pb::{self, federation_server};
use tonic::{Request, Response, Status};
use tracing::instrument;

use std::pin::Pin;
use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::Stream;

use crate::config::PeerConfig;
use crate::federation::mirror::MAX_BODIES_PER_CALL;
use comity_proto::restricted::CheckedRestricted;
use comity_proto::statement::{Envelope, StatementId};

/// Body bytes one answer carries at most (well under a peer's 16 MiB message limit).
const MAX_BODY_ANSWER_BYTES: usize = 8 * 1024 * 1024;
use crate::error::Error;
use crate::federation::mirror::MirrorStatus;
use crate::federation::witness::Witness;
use crate::service::wire::evidence_to_wire;
use crate::store::{Evidence, Store};
use crate::writer::Registry;
use comity_proto::log::stored_checkpoint_fields;
use comity_proto::witness::{cosigners, note_size, WitnessVerifier};

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
    registry: Registry,
    witness: Arc<Witness>,
    /// Every witness whose cosignatures this node verifies (its peers' and its own).
    witnesses: Vec<WitnessVerifier>,
    shutting_down: watch::Receiver<bool>,
    /// Served over TLS: federation calls must come from a configured peer's certificate.
    tls: bool,
}

impl FederationService {
    /// Serves the evidence held in `registry`'s store, the status of the node's log `origin` and `peers`,
    /// and the checkpoints `registry` commits; subscriptions end when `shutting_down` turns true
    /// (graceful shutdown waits for open streams).
    pub fn new(
        origin: String,
        peers: Vec<PeerView>,
        registry: Registry,
        witness: Arc<Witness>,
        witnesses: Vec<WitnessVerifier>,
        shutting_down: watch::Receiver<bool>,
        tls: bool,
    ) -> Self {
        Self { store: registry.store().clone(), origin, peers, registry, witness, witnesses, shutting_down, tls }
    }

    /// With TLS, `Subscribe` and `Cosign` serve configured peers only, known by the name their
    /// client certificate is valid for; returns the peer's id. Without TLS (development) anyone
    /// may call them.
    fn calling_peer<T>(&self, request: &Request<T>) -> Result<Option<String>, Status> {
        if !self.tls {
            return Ok(None);
        }
        let refused = || Status::from(Error::PermissionDenied("federation calls are for configured peers: present the client certificate of one".into()));
        let certs = request.peer_certs().ok_or_else(refused)?;
        let leaf = certs.first().ok_or_else(refused)?;
        self.peers
            .iter()
            .find(|p| crate::net::tls::certificate_names(leaf, &p.config.tls_name()))
            .map(|p| Some(p.config.id.clone()))
            .ok_or_else(|| Error::PermissionDenied("the client certificate is not that of a configured peer".into()).into())
    }

    /// Who is asking for restricted bodies: with TLS, the node whose client certificate the
    /// handshake verified against the consortium CA; without TLS (development only: nothing is
    /// authenticated) the log origin it `stated`.
    fn body_caller<T>(&self, request: &Request<T>, stated: &str) -> Result<Caller, Status> {
        if self.tls {
            let leaf = request.peer_certs().and_then(|certs| certs.first().map(|c| c.to_vec()));
            return leaf
                .map(Caller::Certified)
                .ok_or_else(|| Error::PermissionDenied("restricted bodies are served to nodes presenting their client certificate".into()).into());
        }
        if stated.is_empty() {
            return Err(Error::InvalidArgument("caller_origin: required when the node serves without TLS".into()).into());
        }
        crate::input::bounded("caller_origin", stated, crate::input::MAX_ID_BYTES)?;
        Ok(Caller::Stated(stated.to_string()))
    }

    /// Whether `caller` is the node with log `origin`: by the name its certificate must be valid
    /// for (a configured peer's TLS name, else the host part of the origin), or as stated.
    fn caller_is(&self, caller: &Caller, origin: &str) -> bool {
        match caller {
            Caller::Stated(stated) => stated == origin,
            Caller::Certified(leaf) => {
                let name = match self.peers.iter().find(|p| !p.config.relay && p.origin == origin) {
                    Some(p) => p.config.tls_name(),
                    None => origin.split('/').next().unwrap_or(origin).to_string(),
                };
                crate::net::tls::certificate_names(leaf, &name)
            }
        }
    }

    /// The body of restricted decision `id` if `caller` may have it: the decision's audience
    /// names it, or its log carried the decision (it recovers its own store). Otherwise why not.
    fn body_for(&self, caller: &Caller, id: &StatementId) -> Result<Result<pb::RestrictedBody, &'static str>, Error> {
        let Some(bytes) = self.store.statement(id)? else { return Ok(Err("no such statement is held here")) };
        let restricted = match Envelope::parse(bytes).map(|e| e.statement().clone()) {
            Ok(pb::statement::Kind::RestrictedDecision(r)) => {
                CheckedRestricted::try_from(r).map_err(|e| Error::Store(crate::store::StoreError::Corrupt { table: "statement", detail: e.to_string() }))?
            }
            _ => return Ok(Err("not a restricted decision")),
        };
        let in_audience = restricted.restricted().audience.iter().any(|origin| self.caller_is(caller, origin));
        let carried_by_caller = || -> Result<bool, Error> { Ok(self.store.location_of(id)?.is_some_and(|(origin, _)| self.caller_is(caller, &origin))) };
        if !in_audience && !carried_by_caller()? {
            return Ok(Err("the caller is not in its audience"));
        }
        match self.store.restricted_body(id)? {
            // Never serve a body damaged in the data dir.
            Some(body) if restricted.open(&body).is_ok() => Ok(Ok(body)),
            Some(_) => Ok(Err("the body held here is damaged")),
            None => Ok(Err("its body is not held here")),
        }
    }

    /// What this node holds of log `origin`.
    fn log_view(&self, origin: &str, own: bool) -> Result<pb::LogView, Error> {
        let log = self.store.log(origin);
        let parse = |note: Option<String>| note.as_deref().and_then(stored_checkpoint_fields);
        let latest = parse(log.checkpoint()?);
        let cosigned_note = log.cosigned()?;
        let cosigned = parse(cosigned_note.clone());
        Ok(pb::LogView {
            origin: origin.into(),
            own,
            size: latest.as_ref().map_or(0, |c| c.0),
            root: latest.as_ref().map(|c| c.1.to_vec()).unwrap_or_default(),
            checkpoint_time: latest.as_ref().map_or(0, |c| c.2),
            cosigned_size: cosigned.as_ref().map_or(0, |c| c.0),
            cosigned_root: cosigned.as_ref().map(|c| c.1.to_vec()).unwrap_or_default(),
            cosigners: cosigned_note.map(|n| cosigners(&n, &self.witnesses).into_iter().map(|(name, _)| name).collect()).unwrap_or_default(),
            frozen: log.frozen()?.is_some(),
        })
    }
}

/// A node asking for restricted bodies.
enum Caller {
    /// The DER leaf certificate it presented (verified against the consortium CA).
    Certified(Vec<u8>),
    /// The log origin it stated (plaintext development mode).
    Stated(String),
}

impl std::fmt::Display for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Caller::Certified(_) => f.write_str("certified peer"),
            Caller::Stated(origin) => write!(f, "{origin} (unauthenticated)"),
        }
    }
}

/// Evidence that concerns log `origin`.
fn concerns(e: &Evidence, origin: &str) -> bool {
    match e {
        Evidence::SplitView { origin: o, .. } => o == origin,
        Evidence::LicenceFork { origin: o, .. } => o.as_deref() == Some(origin),
    }
}

type CheckpointStream = Pin<Box<dyn Stream<Item = Result<pb::CheckpointEvent, Status>> + Send>>;

#[tonic::async_trait]
impl federation_server::Federation for FederationService {
    #[instrument(skip_all)]
    async fn get_evidence(&self, _: Request<pb::GetEvidenceRequest>) -> Result<Response<pb::GetEvidenceResponse>, Status> {
        // Freeze and evidence are committed together; reading the freezes first means every
        // freeze seen here has its evidence visible in the second read.
        let frozen = self.store.frozen_logs().map_err(Error::from)?;
        let evidence = self.store.evidence().map_err(Error::from)?;
        Ok(Response::new(pb::GetEvidenceResponse {
            evidence: evidence.into_iter().map(evidence_to_wire).collect(),
            frozen: frozen.into_iter().map(|(origin, reason)| pb::FrozenLog { origin, reason }).collect(),
        }))
    }

    type SubscribeStream = CheckpointStream;

    #[instrument(skip_all, fields(origin = %crate::input::shown(&request.get_ref().origin)))]
    async fn subscribe(&self, request: Request<pb::SubscribeRequest>) -> Result<Response<CheckpointStream>, Status> {
        self.calling_peer(&request)?;
        let origin = request.into_inner().origin;
        crate::input::bounded("origin", &origin, crate::input::MAX_ID_BYTES)?;
        let wanted = match origin {
            o if o.is_empty() => self.origin.clone(),
            o if o == self.origin || self.peers.iter().any(|p| p.origin == o) => o,
            o => return Err(Error::NotFound(format!("this node neither runs nor mirrors log `{}`", crate::input::shown(&o))).into()),
        };
        let mut committed = self.registry.subscribe();
        let mut shutting_down = self.shutting_down.clone();
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(async move {
            loop {
                let event = tokio::select! {
                    _ = shutting_down.wait_for(|s| *s) => return,
                    _ = tx.closed() => return,
                    event = committed.recv() => event,
                };
                match event {
                    Ok(c) if c.origin == wanted => {
                        let message = pb::CheckpointEvent { origin: c.origin, checkpoint: c.note.to_string() };
                        // A full buffer means a slow subscriber: skip, its next fetch catches up.
                        if let Err(mpsc::error::TrySendError::Closed(_)) = tx.try_send(Ok(message)) {
                            return;
                        }
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    #[instrument(skip_all)]
    async fn status(&self, _: Request<pb::StatusRequest>) -> Result<Response<pb::StatusResponse>, Status> {
        let size = self.store.log(&self.origin).size().map_err(Error::from)?;
        let evidence = self.store.evidence().map_err(Error::from)?;
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
                lag_seconds: if s.checkpoint_time > 0 { self.registry.clock().now() - s.checkpoint_time } else { 0 },
                last_error: s.last_error.unwrap_or_default(),
                failures: s.failures,
                frozen,
                cosigned_up_to: self.store.log(&p.origin).witnessed().map_err(Error::from)?.as_deref().and_then(note_size).unwrap_or(0),
                evidence_count: evidence.iter().filter(|e| concerns(e, &p.origin)).count() as u32,
            });
        }
        let mut logs = vec![self.log_view(&self.origin, true)?];
        for p in &self.peers {
            if !logs.iter().any(|l| l.origin == p.origin) {
                logs.push(self.log_view(&p.origin, false)?);
            }
        }
        Ok(Response::new(pb::StatusResponse {
            origin: self.origin.clone(),
            size,
            peers,
            evidence_count: evidence.len() as u32,
            logs,
            witness_key: self.witness.verifier().to_string(),
        }))
    }

    #[instrument(skip_all)]
    async fn backup(&self, request: Request<pb::BackupRequest>) -> Result<Response<pb::BackupResponse>, Status> {
        // The snapshot is written on this machine: only its operator, from this machine, asks.
        if !request.remote_addr().is_some_and(|a| a.ip().is_loopback()) {
            return Err(Error::PermissionDenied("backups are taken from the node's own machine (a loopback client)".into()).into());
        }
        let directory = request.into_inner().directory;
        if directory.is_empty() {
            return Err(Error::InvalidArgument("directory: required".into()).into());
        }
        crate::input::bounded("directory", &directory, crate::input::MAX_PATH_BYTES)?;
        let dir = std::path::Path::new(&directory);
        if !dir.is_absolute() || dir.read_dir().is_ok_and(|mut d| d.next().is_some()) {
            return Err(Error::InvalidArgument(format!(
                "directory: `{}` must be an absolute path that does not exist or is empty (not empty, or relative)",
                crate::input::shown(&directory)
            ))
            .into());
        }
        let (records, note) = self.registry.backup(directory.into()).await?;
        let log_size = comity_proto::log::stored_checkpoint_fields(&note).map_or(0, |(size, _, _)| size);
        Ok(Response::new(pb::BackupResponse { records, log_size, checkpoint: note }))
    }

    #[instrument(skip_all)]
    async fn cosign(&self, request: Request<pb::CosignRequest>) -> Result<Response<pb::CosignResponse>, Status> {
        if let Some(peer) = self.calling_peer(&request)? {
            tracing::debug!(%peer, "cosign request");
        }
        let note = request.into_inner().checkpoint;
        crate::input::bounded("checkpoint", &note, crate::input::MAX_NOTE_BYTES)?;
        let cosignature = self.witness.cosign(&note).await?;
        Ok(Response::new(pb::CosignResponse { cosignature, witness: self.witness.verifier().name().into() }))
    }

    #[instrument(skip_all, fields(ids = request.get_ref().statement_ids.len()))]
    async fn get_restricted_bodies(&self, request: Request<pb::GetRestrictedBodiesRequest>) -> Result<Response<pb::GetRestrictedBodiesResponse>, Status> {
        let caller = self.body_caller(&request, &request.get_ref().caller_origin)?;
        let ids = request.into_inner().statement_ids;
        if ids.len() > MAX_BODIES_PER_CALL {
            return Err(Error::InvalidArgument(format!("statement_ids: at most {MAX_BODIES_PER_CALL} per call, got {}", ids.len())).into());
        }
        let mut answer = pb::GetRestrictedBodiesResponse::default();
        let mut bytes = 0;
        for raw in ids {
            let served = match StatementId::from_slice(&raw) {
                None => Err("not a 32-byte statement id"),
                Some(_) if bytes > MAX_BODY_ANSWER_BYTES => Err("answer full: ask again"),
                Some(id) => self.body_for(&caller, &id)?,
            };
            match served {
                Ok(body) => {
                    bytes += body.decision.len();
                    answer.bodies.push(pb::RestrictedOpening { statement_id: raw, body: Some(body) });
                }
                Err(reason) => answer.withheld.push(pb::WithheldBody { statement_id: raw, reason: reason.into() }),
            }
        }
        tracing::debug!(caller = %caller, served = answer.bodies.len(), withheld = answer.withheld.len(), "restricted bodies asked for");
        Ok(Response::new(answer))
    }
}
