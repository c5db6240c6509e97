//! Comity client library: a typed client for a node's `Registry` service, and the helpers the
//! `comity` CLI uses to author and sign decisions.

use std::path::Path;
use std::time::Duration;

use comity_proto::authoring::DecisionDoc;
use comity_proto::decision::CheckedDecision;
use comity_proto::pb::{self, federation_client::FederationClient, log_client::LogClient, registry_client::RegistryClient};
use comity_proto::restricted::CheckedRestricted;
use comity_proto::rules::{fold, LicenceState};
use comity_proto::statement::{Envelope, StatementId};
use tonic::transport::{Channel, Endpoint};

/// Default node address (the node's default listen address).
pub const DEFAULT_NODE: &str = "http://127.0.0.1:7700";

/// Largest response the client accepts, bytes.
const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// A client-side failure.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the node at {url}: {message}")]
    Connect { url: String, message: String },
    #[error("node refused ({}): {}", code_name(.0.code()), .0.message())]
    Status(tonic::Status),
    #[error("node answer failed verification: {0}")]
    Verification(String),
    #[error("the node's verdict {node} is not what its proof shows ({proven}: {reasons})")]
    Mismatch { node: String, proven: String, reasons: String },
    #[error("{0}")]
    Document(String),
}

impl ClientError {
    /// The gRPC status code, when the node answered with an error.
    pub fn code(&self) -> Option<tonic::Code> {
        match self {
            ClientError::Status(s) => Some(s.code()),
            _ => None,
        }
    }
}

impl From<tonic::Status> for ClientError {
    fn from(s: tonic::Status) -> Self {
        ClientError::Status(s)
    }
}

/// The canonical gRPC name of a status code (shared with the node's JSON API).
pub use comity_proto::code_name;

/// A licence fetched from a node and checked locally: every envelope parses, its id is the
/// hash of its bytes, the decoded decision is the one signed, and the chain follows the
/// licence rules. (Signature checks against pinned authority keys come with the trust store.)
#[derive(Debug, Clone)]
pub struct CheckedLicence {
    pub summary: pb::LicenceSummary,
    /// `None` for a confidential licence the node cannot read (it answered only the public
    /// chain fields of each decision).
    pub state: Option<LicenceState>,
    pub chain: Vec<(StatementId, pb::Decision)>,
    /// For a confidential licence: the log origins of the nodes that may read it.
    pub audience: Vec<String>,
    /// At the issuer's node: which partners' witnesses confirmed each decision, and when.
    pub deliveries: Vec<pb::Delivery>,
    /// Post-shipment verifications logged against the licence.
    pub end_use_checks: Vec<pb::EndUseCheck>,
    /// Re-export licences held at the node that stand on this licence.
    pub re_export_children: Vec<pb::LicenceSummary>,
}

/// A connection to one node.
#[derive(Clone)]
pub struct Client {
    registry: RegistryClient<Channel>,
    log: LogClient<Channel>,
    federation: FederationClient<Channel>,
}

impl Client {
    /// Connects to `url` (e.g. `http://127.0.0.1:7700`; see [`node_url`] for a bare address).
    pub async fn connect(url: &str) -> Result<Self, ClientError> {
        Self::connect_with(url, DEFAULT_TLS.get()).await
    }

    /// Connects to `url`; an `https://` node is checked against `tls` (its CA, and this client's
    /// certificate when the node asks for one).
    pub async fn connect_with(url: &str, tls: Option<&ClientTls>) -> Result<Self, ClientError> {
        let connect_err = |message: String| ClientError::Connect { url: url.to_string(), message };
        let mut endpoint = Endpoint::from_shared(url.to_string()).map_err(|e| connect_err(e.to_string()))?;
        if url.starts_with("https://") {
            let tls = tls.ok_or_else(|| connect_err("an https:// node needs the consortium CA certificate: give --ca (or COMITY_CA)".into()))?;
            endpoint = endpoint.tls_config(tls.config().map_err(connect_err)?).map_err(|e| connect_err(e.to_string()))?;
        }
        let endpoint = endpoint.connect_timeout(Duration::from_secs(5)).timeout(Duration::from_secs(30)).tcp_nodelay(true);
        let channel = endpoint.connect().await.map_err(|e| connect_err(connect_failure(&e)))?;
        let registry = RegistryClient::new(channel.clone()).max_decoding_message_size(MAX_MESSAGE_BYTES).max_encoding_message_size(MAX_MESSAGE_BYTES);
        let log = LogClient::new(channel.clone()).max_decoding_message_size(MAX_MESSAGE_BYTES).max_encoding_message_size(MAX_MESSAGE_BYTES);
        let federation = FederationClient::new(channel).max_decoding_message_size(MAX_MESSAGE_BYTES);
        Ok(Self { registry, log, federation })
    }

    /// Publishes a signed envelope.
    pub async fn publish(&mut self, envelope: Vec<u8>) -> Result<pb::PublishResponse, ClientError> {
        self.publish_with_body(envelope, None).await
    }

    /// Publishes a signed envelope; a restricted (confidential) decision goes with its body.
    pub async fn publish_with_body(&mut self, envelope: Vec<u8>, restricted_body: Option<pb::RestrictedBody>) -> Result<pb::PublishResponse, ClientError> {
        let expected = StatementId::of(&envelope);
        let response = self.registry.publish(pb::PublishRequest { envelope, restricted_body }).await?.into_inner();
        if response.statement_id != expected.0 {
            return Err(ClientError::Verification(format!(
                "node acknowledged statement {} but the envelope sent has id {expected}",
                hex::encode(&response.statement_id)
            )));
        }
        Ok(response)
    }

    /// Fetches a licence and checks that the answer holds together ([`check_licence`]).
    pub async fn licence(&mut self, authority: &str, licence_id: &str) -> Result<CheckedLicence, ClientError> {
        check_licence(self.licence_answer(authority, licence_id).await?)
    }

    /// The node's GetLicence answer as it came (check it with [`verified::check_licence_answer`]).
    pub async fn licence_answer(&mut self, authority: &str, licence_id: &str) -> Result<pb::GetLicenceResponse, ClientError> {
        Ok(self.registry.get_licence(pb::GetLicenceRequest { authority: authority.into(), licence_id: licence_id.into() }).await?.into_inner())
    }

    /// The current version and head id of a licence, or `None` if it has no decisions yet.
    pub async fn head(&mut self, authority: &str, licence_id: &str) -> Result<Option<(u64, StatementId)>, ClientError> {
        match self.licence(authority, licence_id).await {
            Ok(l) => Ok(l.chain.last().map(|(id, d)| (d.version, *id))),
            Err(ClientError::Status(s)) if s.code() == tonic::Code::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The current version and head id of a public licence from its summary (a search by its
    /// exact reference): cheaper than [`Client::head`], which reads the whole chain with its
    /// proof, for a caller that only needs to sign at the head again.
    pub async fn summary_head(&mut self, authority: &str, licence_id: &str) -> Result<Option<(u64, StatementId)>, ClientError> {
        let request = pb::SearchRequest { authority: authority.into(), licence_id_prefix: licence_id.into(), page_size: 500, ..Default::default() };
        let page = self.search(request).await?;
        let Some(summary) = page.licences.into_iter().find(|s| s.licence_id == licence_id) else { return Ok(None) };
        let head = StatementId::from_slice(&summary.head_id).ok_or_else(|| ClientError::Verification("a licence summary without a 32-byte head id".into()))?;
        Ok(Some((summary.version, head)))
    }

    /// One statement's envelope, checked against its id.
    pub async fn statement(&mut self, id: StatementId) -> Result<Envelope, ClientError> {
        let response = self.registry.get_statement(pb::GetStatementRequest { statement_id: id.0.to_vec() }).await?.into_inner();
        let envelope = Envelope::parse(response.envelope).map_err(|e| ClientError::Verification(e.to_string()))?;
        if envelope.id() != id {
            return Err(ClientError::Verification(format!("asked for statement {id}, got {}", envelope.id())));
        }
        Ok(envelope)
    }

    /// Asks whether a licence is valid for a context and recognised by a relying authority.
    pub async fn verify(&mut self, request: pb::VerifyRequest) -> Result<pb::VerifyResponse, ClientError> {
        Ok(self.registry.verify(request).await?.into_inner())
    }

    /// The key set in force for `authority` (envelope; check it against a trust file).
    pub async fn key_set(&mut self, authority: &str) -> Result<Envelope, ClientError> {
        let response = self.registry.get_key_set(pb::GetKeySetRequest { authority: authority.into() }).await?.into_inner();
        Envelope::parse(response.envelope).map_err(|e| ClientError::Verification(e.to_string()))
    }

    /// Agreements in force, of one relying authority or all.
    pub async fn agreements(&mut self, relying: Option<&str>) -> Result<Vec<Envelope>, ClientError> {
        let response = self.registry.list_agreements(pb::ListAgreementsRequest { relying_authority: relying.unwrap_or_default().into() }).await?.into_inner();
        response.envelopes.into_iter().map(|e| Envelope::parse(e).map_err(|e| ClientError::Verification(e.to_string()))).collect()
    }

    /// Control lists (envelopes, each parsed) and the latest crosswalks the node holds.
    pub async fn control_lists(&mut self, request: pb::ListControlListsRequest) -> Result<(Vec<Envelope>, Vec<Envelope>), ClientError> {
        let (lists, crosswalks, _) = self.control_lists_and_screening(request).await?;
        Ok((lists, crosswalks))
    }

    /// [`Client::control_lists`], and the latest version of each screening list.
    pub async fn control_lists_and_screening(
        &mut self,
        request: pb::ListControlListsRequest,
    ) -> Result<(Vec<Envelope>, Vec<Envelope>, Vec<Envelope>), ClientError> {
        let response = self.registry.list_control_lists(request).await?.into_inner();
        let parse = |all: Vec<Vec<u8>>| {
            all.into_iter().map(|e| Envelope::parse(e).map_err(|e| ClientError::Verification(e.to_string()))).collect::<Result<Vec<_>, _>>()
        };
        Ok((parse(response.lists)?, parse(response.crosswalks)?, parse(response.screening_lists)?))
    }

    /// A name screened against the screening lists the node holds.
    pub async fn screen(&mut self, request: pb::ScreenRequest) -> Result<pb::ScreenResponse, ClientError> {
        Ok(self.registry.screen(request).await?.into_inner())
    }

    /// The no-undercut consultations the node holds (docs/consultation.md).
    pub async fn consultations(&mut self, request: pb::ListConsultationsRequest) -> Result<pb::ListConsultationsResponse, ClientError> {
        Ok(self.registry.list_consultations(request).await?.into_inner())
    }

    /// The partners' denials a draft GRANT would undercut, with what covers each.
    pub async fn check_undercut(&mut self, decision: pb::Decision) -> Result<pb::CheckUndercutResponse, ClientError> {
        Ok(self.registry.check_undercut(pb::CheckUndercutRequest { decision: Some(decision) }).await?.into_inner())
    }

    /// The latest version of each classification ruling the node holds that matches `request`.
    pub async fn rulings(&mut self, request: pb::ListRulingsRequest) -> Result<(Vec<Envelope>, bool), ClientError> {
        let answer = self.registry.list_rulings(request).await?.into_inner();
        let envelopes =
            answer.rulings.into_iter().map(|b| Envelope::parse(b).map_err(|e| ClientError::Verification(e.to_string()))).collect::<Result<_, _>>()?;
        Ok((envelopes, answer.truncated))
    }

    /// Every version of one classification ruling, with a receipt for the latest.
    pub async fn ruling(&mut self, authority: &str, ruling_id: &str) -> Result<pb::GetRulingResponse, ClientError> {
        Ok(self.registry.get_ruling(pb::GetRulingRequest { authority: authority.into(), ruling_id: ruling_id.into() }).await?.into_inner())
    }

    /// A qualified control code in every list the node holds, and its equivalents.
    pub async fn lookup_control_code(&mut self, control_code: &str, at: i64) -> Result<pb::LookupControlCodeResponse, ClientError> {
        Ok(self.registry.lookup_control_code(pb::LookupControlCodeRequest { control_code: control_code.into(), at }).await?.into_inner())
    }

    /// One page of search results.
    pub async fn search(&mut self, request: pb::SearchRequest) -> Result<pb::SearchResponse, ClientError> {
        Ok(self.registry.search(request).await?.into_inner())
    }

    /// Events after `request.cursor` (or from the start, or live only), each checked by
    /// [`check_event`] as it arrives.
    pub async fn watch(&mut self, request: pb::WatchRequest) -> Result<Events, ClientError> {
        Ok(Events { inner: self.registry.watch(request).await?.into_inner() })
    }

    /// A transparency report, checked to hold together ([`stats::check_stats`]).
    pub async fn stats(&mut self, request: pb::StatsRequest) -> Result<pb::StatsResponse, ClientError> {
        let report = self.registry.stats(request).await?.into_inner();
        stats::check_stats(&report).map_err(|e| ClientError::Verification(format!("transparency report: {e}")))?;
        Ok(report)
    }

    /// The node's latest checkpoint (unverified: check it with a pinned log key).
    pub async fn checkpoint(&mut self) -> Result<pb::GetCheckpointResponse, ClientError> {
        Ok(self.log.get_checkpoint(pb::GetCheckpointRequest::default()).await?.into_inner())
    }

    /// Log entries [start, end), following the node's per-call limit.
    pub async fn entries(&mut self, start: u64, end: u64) -> Result<Vec<pb::LogEntry>, ClientError> {
        self.entries_of("", start, end).await
    }

    /// Entries [start, end) of log `origin` (the node's own or one it mirrors; "" = its own).
    pub async fn entries_of(&mut self, origin: &str, start: u64, end: u64) -> Result<Vec<pb::LogEntry>, ClientError> {
        const PER_CALL: u64 = 10_000;
        let mut out = Vec::with_capacity((end.saturating_sub(start)).min(PER_CALL) as usize);
        let mut next = start;
        while next < end {
            let upto = end.min(next + PER_CALL);
            let mut stream = self.log.get_entries(pb::GetEntriesRequest { start: next, end: upto, origin: origin.to_string() }).await?.into_inner();
            while let Some(message) = stream.message().await? {
                for entry in message.entries {
                    if entry.index != out.len() as u64 + start {
                        return Err(ClientError::Verification(format!("expected entry {}, got {}", out.len() as u64 + start, entry.index)));
                    }
                    out.push(entry);
                }
            }
            if out.len() as u64 != upto - start {
                return Err(ClientError::Verification(format!("asked for entries up to {upto}, stream ended at {}", start + out.len() as u64)));
            }
            next = upto;
        }
        Ok(out)
    }

    /// Inclusion proof of a statement in the tree of `tree_size` entries (0: latest).
    pub async fn inclusion_proof(&mut self, id: StatementId, tree_size: u64) -> Result<pb::GetInclusionProofResponse, ClientError> {
        let entry = Some(pb::get_inclusion_proof_request::Entry::StatementId(id.0.to_vec()));
        Ok(self.log.get_inclusion_proof(pb::GetInclusionProofRequest { entry, tree_size, ..Default::default() }).await?.into_inner())
    }

    /// Consistency proof between two tree sizes.
    pub async fn consistency_proof(&mut self, old_size: u64, new_size: u64) -> Result<Vec<comity_proto::log::TreeHash>, ClientError> {
        let response = self.log.get_consistency_proof(pb::GetConsistencyProofRequest { old_size, new_size, ..Default::default() }).await?.into_inner();
        comity_proto::log::proof_hashes(&response.hashes).map_err(|e| ClientError::Verification(e.to_string()))
    }

    /// The node's log and its mirrors of its peers.
    pub async fn status(&mut self) -> Result<pb::StatusResponse, ClientError> {
        Ok(self.federation.status(pb::StatusRequest {}).await?.into_inner())
    }

    /// Asks the node, as a witness, to cosign a checkpoint of a log it mirrors.
    pub async fn cosign(&mut self, checkpoint: &str) -> Result<pb::CosignResponse, ClientError> {
        Ok(self.federation.cosign(pb::CosignRequest { checkpoint: checkpoint.into() }).await?.into_inner())
    }

    /// Asks for the bodies of restricted decisions `ids`, as the node with log `caller_origin`
    /// (read only by a node serving without TLS; with TLS the client certificate says who asks).
    pub async fn restricted_bodies(&mut self, ids: &[StatementId], caller_origin: &str) -> Result<pb::GetRestrictedBodiesResponse, ClientError> {
        let request = pb::GetRestrictedBodiesRequest { statement_ids: ids.iter().map(|id| id.0.to_vec()).collect(), caller_origin: caller_origin.into() };
        Ok(self.federation.get_restricted_bodies(request).await?.into_inner())
    }

    /// The latest checkpoint of log `origin` held by the node (its own, or one it mirrors).
    pub async fn checkpoint_of(&mut self, origin: &str) -> Result<pb::GetCheckpointResponse, ClientError> {
        Ok(self.log.get_checkpoint(pb::GetCheckpointRequest { origin: origin.into() }).await?.into_inner())
    }

    /// The evidence the node holds and the logs it froze.
    pub async fn evidence(&mut self) -> Result<pb::GetEvidenceResponse, ClientError> {
        Ok(self.federation.get_evidence(pb::GetEvidenceRequest {}).await?.into_inner())
    }

    /// Follows search cursors until `limit` results or the end.
    pub async fn search_all(&mut self, mut request: pb::SearchRequest, limit: usize) -> Result<Vec<pb::LicenceSummary>, ClientError> {
        let mut out = Vec::new();
        loop {
            let page = self.search(request.clone()).await?;
            out.extend(page.licences);
            if page.next_cursor.is_empty() || out.len() >= limit {
                out.truncate(limit);
                return Ok(out);
            }
            request.cursor = page.next_cursor;
        }
    }
}

/// A `Registry.Watch` stream.
pub struct Events {
    inner: tonic::Streaming<pb::WatchEvent>,
}

impl Events {
    /// The next event, checked; `None` when the node ended the stream (it is shutting down).
    pub async fn next(&mut self) -> Result<Option<pb::WatchEvent>, ClientError> {
        match self.inner.message().await? {
            None => Ok(None),
            Some(event) => {
                check_event(&event)?;
                Ok(Some(event))
            }
        }
    }
}

/// Checks what a watcher can check of an event without the authorities' keys: it has a
/// cursor, its statement id is the hash of its envelope, and the fields it states are the
/// statement's. (Signatures are checked by fetching the licence, or by an audit.)
pub fn check_event(e: &pb::WatchEvent) -> Result<(), ClientError> {
    use pb::WatchEventKind as K;
    let bad = |m: String| ClientError::Verification(format!("watch event {}#{}: {m}", e.origin, e.index));
    if e.cursor.is_empty() {
        return Err(bad("no cursor".into()));
    }
    let kind = K::try_from(e.kind).map_err(|_| bad(format!("unknown kind {}", e.kind)))?;
    match kind {
        K::CaughtUp => return Ok(()),
        K::Evidence => return e.evidence.as_ref().map(|_| ()).ok_or_else(|| bad("evidence event without evidence".into())),
        // Not a log entry: the node's word on what a partner's witness confirmed.
        K::Delivery => return if e.witness.is_empty() { Err(bad("delivery event without a witness".into())) } else { Ok(()) },
        K::Unspecified => return Err(bad("kind unspecified".into())),
        _ => {}
    }
    if StatementId::of(&e.envelope).0.as_slice() != e.statement_id.as_slice() {
        return Err(bad("statement id is not the hash of the envelope".into()));
    }
    let envelope = Envelope::parse(e.envelope.clone()).map_err(|err| bad(err.to_string()))?;
    let states = |authority: &str, licence_id: &str, version: u64| (e.authority.as_str(), e.licence_id.as_str(), e.version) == (authority, licence_id, version);
    let agrees = match (kind, envelope.statement()) {
        (K::Decision | K::StateChange | K::Revocation | K::Denial | K::WriteOff | K::ReExportConsent, pb::statement::Kind::Decision(d)) => {
            let consent = d.action == pb::Action::ReExportConsent as i32 || d.action == pb::Action::ConsentWithdrawn as i32;
            states(&d.authority, &d.licence_id, d.version)
                && e.action == d.action
                && (kind == K::Revocation) == (d.action == pb::Action::Revoke as i32)
                && (kind == K::Denial) == (d.action == pb::Action::Deny as i32)
                && (kind == K::WriteOff) == (d.action == pb::Action::WriteOff as i32)
                && (kind == K::ReExportConsent) == consent
        }
        (K::ConfidentialDecision, pb::statement::Kind::RestrictedDecision(r)) => {
            states(&r.authority, &r.licence_id, r.version) && check_confidential_content(e, r).map_err(&bad)?
        }
        (K::Agreement, pb::statement::Kind::Agreement(a)) => e.authority == a.relying_authority,
        (K::KeySet, pb::statement::Kind::KeySet(k)) => e.authority == k.authority && e.version == k.version,
        (K::ControlList, pb::statement::Kind::ControlList(l)) => e.authority == l.authority && e.version == l.version,
        (K::ControlList, pb::statement::Kind::Crosswalk(c)) => e.authority == c.authority && e.version == c.version,
        (K::ScreeningList, pb::statement::Kind::ScreeningList(l)) => e.authority == l.authority && e.version == l.version,
        (K::Consultation, pb::statement::Kind::ConsultationRequest(r)) => e.authority == r.authority,
        (K::Consultation, pb::statement::Kind::ConsultationAnswer(a)) => e.authority == a.authority,
        (K::EndUseCheck, pb::statement::Kind::EndUseCheck(c)) => e.authority == c.authority && c.licence.ends_with(&format!("/{}", e.licence_id)),
        (K::Ruling, pb::statement::Kind::ClassificationRuling(r)) => e.authority == r.authority && e.version == r.version,
        _ => false,
    };
    if !agrees {
        return Err(bad(format!("the event ({}) does not state what its statement says", kind.as_str_name())));
    }
    Ok(())
}

/// Whether what a confidential decision's event states of its content is proven: with the
/// opening of its commitment the action must be the opened decision's; without one the event
/// may state no content at all.
fn check_confidential_content(e: &pb::WatchEvent, r: &pb::RestrictedDecision) -> Result<bool, String> {
    let Some(opening) = &e.opening else {
        return Ok(e.action == 0 && e.status_after == 0 && e.licence.is_none());
    };
    if opening.statement_id != e.statement_id {
        return Err("the opening names another statement".into());
    }
    let body = opening.body.as_ref().ok_or("the opening has no body")?;
    let opened = CheckedRestricted::try_from(r.clone()).and_then(|r| r.open(body)).map_err(|err| format!("opening: {err}"))?;
    Ok(opened.decision().action == e.action)
}

/// TLS settings of a client: the CA that issued the nodes' certificates, and optionally this
/// client's own certificate and key (for nodes that serve members only).
#[derive(Debug, Clone, Default)]
pub struct ClientTls {
    pub ca: std::path::PathBuf,
    pub cert: Option<std::path::PathBuf>,
    pub key: Option<std::path::PathBuf>,
    /// The name the node's certificate must be valid for [default: the URL's host].
    pub domain: Option<String>,
}

impl ClientTls {
    fn config(&self) -> Result<tonic::transport::ClientTlsConfig, String> {
        let read = |p: &std::path::Path| std::fs::read_to_string(p).map_err(|e| format!("read {}: {e}", p.display()));
        let mut config = tonic::transport::ClientTlsConfig::new().ca_certificate(tonic::transport::Certificate::from_pem(read(&self.ca)?));
        if let (Some(cert), Some(key)) = (&self.cert, &self.key) {
            config = config.identity(tonic::transport::Identity::from_pem(read(cert)?, read(key)?));
        }
        if let Some(domain) = &self.domain {
            config = config.domain_name(domain.clone());
        }
        Ok(config)
    }
}

static DEFAULT_TLS: std::sync::OnceLock<ClientTls> = std::sync::OnceLock::new();

/// Sets the TLS settings [`Client::connect`] uses for `https://` nodes (the CLI's `--ca`).
pub fn set_default_tls(tls: ClientTls) {
    let _ = DEFAULT_TLS.set(tls);
}

pub mod audit;
pub mod stats;
pub mod verified;
/// Offline licence tokens (in `comity-proto`, so a node's web page verifies them too).
pub use comity_proto::token;

/// Checks that a `GetLicence` answer holds together: ids, decoded decisions and the licence
/// rules are recomputed from the envelopes. Signatures, receipts and the chain's completeness
/// need a trust file: [`verified::check_licence_answer`].
pub fn check_licence(response: pb::GetLicenceResponse) -> Result<CheckedLicence, ClientError> {
    let bad = |m: String| ClientError::Verification(m);
    let summary = response.licence.ok_or_else(|| bad("answer has no licence summary".into()))?;
    let openings: std::collections::HashMap<Vec<u8>, pb::RestrictedBody> =
        response.openings.into_iter().filter_map(|o| Some((o.statement_id, o.body?))).collect();
    let mut chain = Vec::with_capacity(response.chain.len());
    for link in response.chain {
        let envelope = Envelope::parse(link.envelope).map_err(|e| bad(e.to_string()))?;
        let id = envelope.id();
        if id.0.as_slice() != link.statement_id.as_slice() {
            return Err(bad(format!("chain entry claims id {} but its envelope hashes to {id}", hex::encode(&link.statement_id))));
        }
        let decision = match envelope.statement() {
            pb::statement::Kind::Decision(d) => d.clone(),
            pb::statement::Kind::RestrictedDecision(r) => {
                let r = CheckedRestricted::try_from(r.clone()).map_err(|e| bad(format!("statement {id}: {e}")))?;
                match openings.get(id.0.as_slice()) {
                    Some(body) => r.open(body).map_err(|e| bad(format!("statement {id}: {e}")))?.into_inner(),
                    None if response.restricted => r.public_face(),
                    None => return Err(bad(format!("confidential decision {id} came without the opening of its commitment"))),
                }
            }
            _ => return Err(bad(format!("statement {id} is not a decision"))),
        };
        if link.decision.as_ref() != Some(&decision) {
            return Err(bad(format!("decoded decision of {id} differs from the signed one")));
        }
        chain.push((id, decision));
    }
    let (head, version) = chain.last().map(|(id, d)| (*id, d.version)).ok_or_else(|| bad("licence has no decisions".into()))?;
    if head.0.as_slice() != summary.head_id.as_slice() || version != summary.version {
        return Err(bad("summary does not match the decision chain".into()));
    }
    let state = if response.restricted {
        None
    } else {
        let checked: Vec<(StatementId, CheckedDecision)> = chain
            .iter()
            .map(|(id, d)| CheckedDecision::try_from(d.clone()).map(|c| (*id, c)).map_err(|e| bad(format!("statement {id}: {e}"))))
            .collect::<Result<_, _>>()?;
        fold(checked.iter().map(|(id, d)| (*id, d))).map_err(|e| bad(format!("chain breaks the licence rules: {e}")))?
    };
    Ok(CheckedLicence {
        summary,
        state,
        chain,
        audience: response.audience,
        deliveries: response.deliveries,
        end_use_checks: response.end_use_checks,
        re_export_children: response.re_export_children,
    })
}

/// Reads a decision document, as YAML or JSON by file extension (`.json`, else YAML).
pub fn read_decision_doc(path: &Path) -> Result<DecisionDoc, ClientError> {
    let text = std::fs::read_to_string(path).map_err(|e| ClientError::Document(format!("read {}: {e}", path.display())))?;
    let is_json = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let parsed = if is_json { serde_json::from_str(&text).map_err(|e| e.to_string()) } else { serde_norway::from_str(&text).map_err(|e| e.to_string()) };
    parsed.map_err(|e| ClientError::Document(format!("{}: {e}", path.display())))
}

/// The URL of a node given as `--node`: a bare `host:port` gets `https://` when the client has
/// TLS settings, else `http://`; a URL with a scheme is kept as it is.
pub fn node_url(node: &str, tls: bool) -> String {
    if node.contains("://") {
        node.to_string()
    } else {
        format!("{}://{node}", if tls { "https" } else { "http" })
    }
}

/// Why a connection failed, in one line: a refused connection says so plainly (the common case:
/// no node on that port), anything else is the error chain without its repetitions.
fn connect_failure(e: &(dyn std::error::Error + 'static)) -> String {
    let mut source = Some(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::ConnectionRefused {
                return "connection refused; is comity-node running there?".into();
            }
        }
        source = s.source();
    }
    source_chain(e)
}

/// An error and its sources, joined with `: `.
fn source_chain(e: &(dyn std::error::Error + 'static)) -> String {
    join_error_chain(std::iter::successors(Some(e), |e| e.source()).map(|e| e.to_string()))
}

/// Joins the messages of an error chain with `: `, leaving out a message the one before it
/// already says (hyper and tonic wrap an error and repeat its text: `tcp connect error: tcp
/// connect error`), and one that says all the one before it said, and more, in its place.
pub fn join_error_chain(messages: impl IntoIterator<Item = String>) -> String {
    let mut kept: Vec<String> = Vec::new();
    for m in messages {
        let m = m.trim().to_string();
        match kept.last_mut() {
            _ if m.is_empty() => {}
            Some(last) if last.contains(&m) => {}
            Some(last) if m.contains(last.as_str()) => *last = m,
            _ => kept.push(m),
        }
    }
    kept.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_address_gets_a_scheme_and_a_url_keeps_its_own() {
        assert_eq!(node_url("127.0.0.1:7702", false), "http://127.0.0.1:7702");
        assert_eq!(node_url("registry.bafa.example:7700", true), "https://registry.bafa.example:7700");
        assert_eq!(node_url("http://127.0.0.1:7700", true), "http://127.0.0.1:7700");
        assert_eq!(node_url("https://[::1]:7700", false), "https://[::1]:7700");
    }

    #[test]
    fn an_error_chain_says_each_thing_once() {
        let chain = |parts: &[&str]| join_error_chain(parts.iter().map(|p| p.to_string()));
        assert_eq!(
            chain(&["transport error", "tcp connect error", "tcp connect error", "Connection refused (os error 111)"]),
            "transport error: tcp connect error: Connection refused (os error 111)"
        );
        // A message that already holds its source's text, and a source that repeats its wrapper's.
        assert_eq!(chain(&["dns error: no such host", "no such host"]), "dns error: no such host");
        assert_eq!(chain(&["timed out", "connect: timed out"]), "connect: timed out");
        assert_eq!(chain(&["a", "", "b"]), "a: b");
    }

    #[tokio::test]
    async fn a_refused_connection_is_one_clear_sentence() {
        // A port just freed: nothing listens there.
        let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let url = node_url(&addr.to_string(), false);
        let err = Client::connect(&url).await.err().expect("nothing listens there");
        assert_eq!(err.to_string(), format!("cannot reach the node at {url}: connection refused; is comity-node running there?"));
    }
}
