//! Mirroring a peer's log (pull): take its checkpoint (pushed on a Subscribe stream, polled
//! only when no stream is open), fetch the new entries, verify every byte, and hand the result
//! to the registry's writer, which checks the recomputed root against the signed checkpoint and
//! commits it all at once.
//!
//! A log reaches this node by its direct path (from its origin) and, with `relay_paths`, by one
//! relay path that can go through any other peer ([`RelayRoute`]). The relay path stays dormant
//! while the direct path to the same log is healthy: it only spot-checks a random peer's view of
//! the log now and then (gossip, bounded in rate per node), and runs full rounds — through one
//! peer, moving to the next when that one fails — when the direct path fails or the views
//! differ. So each entry is fetched about once, mirror tasks grow with the logs held (not with
//! logs × peers), idle nodes do not poll each other every second, and a split view or an
//! unreachable origin is still found and routed around.
//!
//! Every answer from a peer is untrusted: the checkpoint must carry the pinned log key's
//! signature, each entry must be a valid decision signed by a key this node knows for its
//! authority, and the entries must hash to the checkpoint's root. Requests are bounded in
//! size and time; failures back off exponentially (capped, with jitter).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use comity_proto::checked::CheckedStatement;
use comity_proto::log::{proof_hashes, verify_consistency, LogVerifier, SignedCheckpoint};
use comity_proto::pb::{self, federation_client::FederationClient, log_client::LogClient};
use comity_proto::statement::{verify_batch, Envelope, KeyRing, StatementError};
use ed25519_dalek::VerifyingKey;
use tonic::transport::Channel;

use crate::config::PeerConfig;
use crate::trust::Trust;
use crate::writer::{Checked, Mirrored, Registry};

/// Most entries one `GetEntries` call asks for (the peer's own limit).
const ENTRIES_PER_CALL: u64 = 10_000;
/// How often a long catch-up logs its progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);
/// Largest message accepted from a peer.
const MAX_PEER_MESSAGE: usize = 16 * 1024 * 1024;
/// Most restricted bodies asked for in one call (the serving node's own limit).
pub const MAX_BODIES_PER_CALL: usize = 256;
/// Longest wait between retries after failures.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Longest wait on an open Subscribe stream before one poll (in case a push was lost).
const STREAM_SAFETY_POLL: Duration = Duration::from_secs(60);
/// HTTP/2 pings on peer connections, so a dead peer ends its streams instead of hanging them.
const KEEP_ALIVE: Duration = Duration::from_secs(10);

/// Why a channel to a peer could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("peer channels poisoned")]
    Poisoned,
    #[error(transparent)]
    Endpoint(#[from] crate::net::tls::TlsError),
}

/// Why a peer mirror could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum MirrorSetupError {
    // Not a `source`: the message holds it, and error chains would print it twice.
    #[error("peer {peer}: {cause}")]
    LogKey { peer: String, cause: comity_proto::log::LogError },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// Why a peer's checkpoint or log entries were refused (by the mirror and by `comity-node import`).
#[derive(Debug, thiserror::Error)]
pub enum PeerRefusal {
    #[error(transparent)]
    Checkpoint(comity_proto::log::LogError),
    #[error("{origin}: {source}")]
    Future { origin: String, source: comity_proto::log::LogError },
    #[error("verification task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("entry {index} of {origin}: {source}")]
    Signatures { index: u64, origin: String, source: StatementError },
    /// An entry refused by the parallel checks; the text names the entry and why.
    #[error("{0}")]
    Entry(String),
}

/// One HTTP/2 connection per peer address (and TLS name), shared by every path through that
/// peer and every call on it: connections per node grow with the peers, not with the paths.
#[derive(Clone, Default)]
pub struct PeerChannels(Arc<Mutex<HashMap<(String, String), Channel>>>);

impl PeerChannels {
    /// The channel to `peer`, connected lazily (and again after a failure) on first use.
    pub fn get(&self, peer: &PeerConfig, tls: Option<&crate::net::tls::TlsConfig>, call_timeout: Duration) -> Result<Channel, ChannelError> {
        let key = (peer.url.clone(), peer.tls_name());
        let mut channels = self.0.lock().map_err(|_| ChannelError::Poisoned)?;
        if let Some(channel) = channels.get(&key) {
            return Ok(channel.clone());
        }
        let endpoint = crate::net::tls::peer_endpoint(&peer.url, tls, &peer.tls_name())?
            .connect_timeout(Duration::from_secs(5))
            .timeout(call_timeout)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(KEEP_ALIVE)
            .keep_alive_timeout(KEEP_ALIVE)
            .keep_alive_while_idle(true);
        let channel = if crate::net::memnet::is_memnet(&peer.url) {
            endpoint.connect_with_connector_lazy(crate::net::memnet::connector())
        } else {
            endpoint.connect_lazy()
        };
        channels.insert(key, channel.clone());
        Ok(channel)
    }
}

/// What the mirror of one peer last saw, for status and tests.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MirrorStatus {
    /// Entries of the peer's log held here.
    pub size: u64,
    /// Size of the peer's latest checkpoint that verified.
    pub peer_size: u64,
    /// Time of the last verified checkpoint.
    pub checkpoint_time: i64,
    /// The last failure, cleared by the next success.
    pub last_error: Option<String>,
    /// Failed rounds since the last success.
    pub failures: u32,
}

/// Why a round failed.
#[derive(Debug, thiserror::Error)]
enum RoundError {
    #[error("peer unreachable: {0}")]
    Connect(String),
    #[error("peer answered {0}")]
    Status(tonic::Status),
    #[error("{0}")]
    Refused(String),
}

impl From<tonic::Status> for RoundError {
    /// The shared channel connects lazily: a peer that cannot be reached shows as a status
    /// carrying the transport's error, which is a failure to connect, not an answer.
    fn from(status: tonic::Status) -> Self {
        use std::error::Error as _;
        if status.source().is_some_and(|e| e.is::<tonic::transport::Error>()) {
            let mut why = status.message().to_string();
            let mut source = status.source().and_then(|e| e.source());
            while let Some(e) = source {
                // Transport errors often repeat their source in their own message.
                let text = e.to_string();
                if !why.contains(&text) {
                    why = format!("{why}: {text}");
                }
                source = e.source();
            }
            return RoundError::Connect(why);
        }
        RoundError::Status(status)
    }
}

/// How a catch-up ended.
#[derive(Debug, PartialEq)]
enum CatchUp {
    /// Every entry up to the checkpoint is stored.
    Done,
    /// Another path to the log (a relay, or the direct link) stored entries first.
    Overtaken,
}

/// The peers a log can be relayed through: every peer other than its origin that has no path
/// of its own configured for the log. One relay path walks them instead of a path per peer.
pub struct RelayRoute {
    log: PeerConfig,
    peers: Arc<[PeerConfig]>,
    /// Indexes into `peers` of the usable relays.
    vias: Vec<usize>,
    at: usize,
}

impl RelayRoute {
    /// The route for `log`'s log through `peers` (the peers this node connects to), or `None`
    /// when no peer can relay it. It starts at a random peer, one of the `preferred` if any (in
    /// a half mesh: those that fetch the log from its origin).
    pub fn new(log: &PeerConfig, peers: Arc<[PeerConfig]>, preferred: impl Fn(&PeerConfig) -> bool) -> Option<Self> {
        let has_own_path = |via: &PeerConfig| peers.iter().any(|p| p.url == via.url && p.log_key == log.log_key);
        let mut vias: Vec<usize> = (0..peers.len()).filter(|i| peers[*i].log_key != log.log_key && !has_own_path(&peers[*i])).collect();
        if vias.is_empty() {
            return None;
        }
        vias.sort_by_key(|i| !preferred(&peers[*i]));
        let first_choices = match vias.iter().filter(|i| preferred(&peers[**i])).count() {
            0 => vias.len(),
            some => some,
        };
        let at = rand::random::<u64>() as usize % first_choices;
        Some(Self { log: log.clone(), peers, vias, at })
    }

    /// The relay path's name in status and metrics.
    pub fn id(&self) -> String {
        format!("{}-relayed", self.log.id)
    }

    /// The path through the current relay.
    pub fn path(&self) -> PeerConfig {
        let via = &self.peers[self.vias[self.at]];
        PeerConfig {
            id: format!("{}-via-{}", self.log.id, via.id),
            url: via.url.clone(),
            log_key: self.log.log_key.clone(),
            witness_key: None,
            tls_name: Some(via.tls_name()),
            relay: true,
        }
    }

    fn next(&mut self) {
        self.at = (self.at + 1) % self.vias.len();
    }

    fn random(&mut self) {
        self.at = rand::random::<u64>() as usize % self.vias.len();
    }
}

/// Mirrors one peer.
pub struct PeerMirror {
    peer: PeerConfig,
    verifier: LogVerifier,
    trust: Arc<Trust>,
    registry: Registry,
    status: Arc<Mutex<MirrorStatus>>,
    interval: Duration,
    /// Most entries committed at once.
    entries_per_part: u64,
    /// Deadline of every call to the peer, streams included.
    call_timeout: Duration,
    /// The connection to the peer, shared with every other path through it.
    channels: PeerChannels,
    /// For a relay path: the status of the direct path to the same log. While that path is
    /// healthy this one is dormant and only spot-checks the peer's view every `spot_check_every`.
    direct: Option<Arc<Mutex<MirrorStatus>>>,
    spot_check_every: Duration,
    /// The checkpoint note of the last successful round: a pushed note equal to it is news to
    /// nobody and costs nothing.
    last_note: Option<String>,
    /// Pushed checkpoints of the peer's log, when the peer offers them.
    subscription: Option<tonic::Streaming<pb::CheckpointEvent>>,
    /// This node's TLS settings, for `https://` peers.
    tls: Option<crate::net::tls::TlsConfig>,
    /// Most entries per second taken from this path in a catch-up (0: no quota).
    entries_per_sec: u64,
    /// For a relay path: the peers it may go through; `peer` is the current one.
    route: Option<RelayRoute>,
}

impl PeerMirror {
    /// A mirror of `peer` into `registry`, verifying entries against the registry's trust.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        peer: PeerConfig,
        registry: Registry,
        interval: Duration,
        entries_per_part: u64,
        call_timeout: Duration,
        tls: Option<crate::net::tls::TlsConfig>,
        entries_per_sec: u64,
        channels: PeerChannels,
    ) -> Result<(Self, Arc<Mutex<MirrorStatus>>), MirrorSetupError> {
        let verifier: LogVerifier = peer.log_key.parse().map_err(|cause| MirrorSetupError::LogKey { peer: peer.id.clone(), cause })?;
        let size = registry.store().log(verifier.name()).size()?;
        let status = Arc::new(Mutex::new(MirrorStatus { size, peer_size: size, ..MirrorStatus::default() }));
        let trust = registry.trust().clone();
        let mirror = Self {
            peer,
            verifier,
            trust,
            registry,
            status: status.clone(),
            interval,
            entries_per_part,
            call_timeout,
            channels,
            direct: None,
            spot_check_every: interval * 30,
            last_note: None,
            subscription: None,
            tls,
            entries_per_sec,
            route: None,
        };
        Ok((mirror, status))
    }

    /// Makes this path a relay path over `route` (it starts at the route's current peer).
    pub fn relay_over(&mut self, route: RelayRoute) {
        self.peer = route.path();
        self.route = Some(route);
    }

    /// Makes this (relay) path dormant while `direct`, the direct path to the same log, is
    /// healthy, spot-checking a peer's view every `every`.
    pub fn behind_direct_path(&mut self, direct: Arc<Mutex<MirrorStatus>>, every: Duration) {
        self.direct = Some(direct);
        self.spot_check_every = every;
    }

    /// For a relay path with no direct path beside it: how often it moves to a random peer.
    pub fn move_relay_every(&mut self, every: Duration) {
        self.spot_check_every = every;
    }

    /// Moves a relay path to another peer of its route: the next one, or one at random.
    fn switch_relay(&mut self, at_random: bool) {
        let Some(route) = &mut self.route else { return };
        if at_random {
            route.random()
        } else {
            route.next()
        }
        self.peer = route.path();
        self.subscription = None;
    }

    /// True while this is a relay path and the direct path to its log works.
    fn dormant(&self) -> bool {
        self.direct.as_ref().is_some_and(|d| d.lock().is_ok_and(|s| s.failures == 0))
    }

    /// The peer's view of the log against this node's: nothing more when they are the same
    /// tree (size and root; the note's cosignatures may differ), else a full round, which
    /// proves consistency (or stores split-view evidence) and catches up.
    async fn spot_check(&mut self) -> Result<(), RoundError> {
        let mut client = self.client().await?;
        let Some(served) = self.served_checkpoint(&mut client).await? else { return Ok(()) };
        let tree = |note: &str| comity_proto::log::stored_checkpoint_fields(note).map(|(size, root, _)| (size, root));
        let held = self.registry.store().log(self.verifier.name()).checkpoint().map_err(|e| RoundError::Refused(e.to_string()))?;
        if tree(&served.checkpoint).is_some() && held.as_deref().and_then(tree) == tree(&served.checkpoint) {
            return Ok(());
        }
        self.round(Some(served.checkpoint)).await
    }

    /// The peer's log origin.
    pub fn origin(&self) -> &str {
        self.verifier.name()
    }

    /// True for a relay path (the log's origin is another peer).
    pub fn is_relay(&self) -> bool {
        self.peer.relay
    }

    /// Mirrors until the task is aborted.
    pub async fn run(mut self) {
        let mut backoff = self.interval;
        // Spot checks at random times, on average one per `spot_check_every` (the first one
        // anywhere in the first period, so a node's paths do not all wait the same long time).
        let mut spot_check_at = tokio::time::Instant::now() + self.spot_check_every.mul_f64(rand::random::<f64>());
        loop {
            if self.dormant() {
                self.subscription = None;
                tokio::time::sleep_until(spot_check_at).await;
                spot_check_at = tokio::time::Instant::now() + self.spot_check_every.mul_f64(0.5 + rand::random::<f64>());
                if self.dormant() {
                    // Gossip: each check asks another peer, so every peer's view is compared in time.
                    self.switch_relay(true);
                    if let Err(e) = self.spot_check().await {
                        tracing::debug!(path = %self.peer.id, error = %e, "spot check of a relay path");
                    }
                    continue;
                }
            }
            if self.route.is_some() && tokio::time::Instant::now() >= spot_check_at {
                // A relay path at work (no healthy direct path, e.g. in a half mesh) also moves
                // to a random peer now and then, so the views of several peers are compared.
                spot_check_at = tokio::time::Instant::now() + self.spot_check_every.mul_f64(0.5 + rand::random::<f64>());
                self.switch_relay(true);
            }
            match self.round(None).await {
                Ok(()) => {
                    backoff = self.interval;
                    // A relay path at work moves on at its next spot-check time, news or not.
                    let move_at = self.route.is_some().then_some(spot_check_at);
                    self.wait_for_news(move_at).await;
                }
                // A relay path through a peer that does not carry this log (or does not hold it
                // yet): look again later.
                // Not a failure of anyone's: no warning, no failure count, the usual backoff.
                Err(RoundError::Status(s)) if self.peer.relay && matches!(s.code(), tonic::Code::NotFound | tonic::Code::Unavailable) => {
                    tracing::debug!(path = %self.peer.id, answer = %s.message(), "peer does not relay this log (yet)");
                    self.switch_relay(false);
                    tokio::time::sleep(backoff).await;
                    // While a consortium forms, its members get each other's logs within
                    // seconds: look again at the pace of spot checks, not of a failing peer.
                    backoff = (backoff * 2).min(MAX_BACKOFF).min(self.spot_check_every.max(self.interval));
                }
                Err(e) => {
                    tracing::warn!(peer = %self.peer.id, error = %e, retry_in_ms = backoff.as_millis() as u64, "mirror round failed");
                    self.note_failure(&e.to_string());
                    if matches!(e, RoundError::Connect(_) | RoundError::Status(_)) {
                        // The shared channel reconnects by itself; the stream is opened again.
                        self.subscription = None;
                        // A relay path tries the next peer.
                        self.switch_relay(false);
                    }
                    let jitter = Duration::from_millis(rand::random::<u64>() % (backoff.as_millis() as u64 / 4 + 1));
                    tokio::time::sleep(backoff + jitter).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    fn note_failure(&self, error: &str) {
        if let Ok(mut s) = self.status.lock() {
            s.last_error = Some(error.to_string());
            s.failures += 1;
        }
    }

    /// Returns when the peer pushes a checkpoint note other than the last one handled (the next
    /// round then asks for the latest: pushes queue up during a burst, and the newest may have
    /// been dropped), when the stream ended or stayed quiet for long, or after the poll interval
    /// for a peer that does not offer Subscribe. No polling while a stream is open.
    async fn wait_for_news(&mut self, until: Option<tokio::time::Instant>) {
        if self.subscription.is_none() {
            if let Ok(channel) = self.channel() {
                let mut federation = FederationClient::new(channel).max_decoding_message_size(MAX_PEER_MESSAGE);
                let request = pb::SubscribeRequest { origin: self.verifier.name().into() };
                // A peer without Subscribe (or refusing it) is simply polled.
                self.subscription = federation.subscribe(request).await.ok().map(|r| r.into_inner());
                if self.subscription.is_some() {
                    // One more poll now: a checkpoint committed before the stream opened is
                    // never pushed on it.
                    return;
                }
            }
        }
        let Some(stream) = &mut self.subscription else {
            tokio::time::sleep(self.interval).await;
            return;
        };
        let safety_poll = tokio::time::Instant::now() + STREAM_SAFETY_POLL.max(self.interval);
        let quiet_until = until.map_or(safety_poll, |until| until.min(safety_poll));
        loop {
            match tokio::time::timeout_at(quiet_until, stream.message()).await {
                Ok(Ok(Some(event))) if self.last_note.as_deref() == Some(event.checkpoint.as_str()) => continue,
                // News, or quiet for long: a round, keeping the stream.
                Ok(Ok(Some(_))) | Err(_) => return,
                // Ended or failed (request deadlines end long streams): a round, then subscribe again.
                Ok(_) => {
                    self.subscription = None;
                    return;
                }
            }
        }
    }

    /// The shared channel to the peer.
    fn channel(&self) -> Result<Channel, RoundError> {
        self.channels.get(&self.peer, self.tls.as_ref(), self.call_timeout).map_err(|e| RoundError::Connect(e.to_string()))
    }

    async fn client(&mut self) -> Result<LogClient<Channel>, RoundError> {
        Ok(LogClient::new(self.channel()?).max_decoding_message_size(MAX_PEER_MESSAGE))
    }

    /// A unary call to the peer, answer body included, within the call deadline.
    async fn bounded<T>(&self, call: impl std::future::Future<Output = Result<T, tonic::Status>>) -> Result<T, RoundError> {
        tokio::time::timeout(self.call_timeout, call)
            .await
            .map_err(|_| RoundError::Connect(format!("peer did not answer within {:?}", self.call_timeout)))?
            .map_err(RoundError::from)
    }

    /// The peer's checkpoint of the log (asked by origin: the peer may be its origin or a relay),
    /// or `None` when the peer says it froze the log and its evidence was adopted here.
    async fn served_checkpoint(&mut self, client: &mut LogClient<Channel>) -> Result<Option<pb::GetCheckpointResponse>, RoundError> {
        let served = self.bounded(client.get_checkpoint(pb::GetCheckpointRequest { origin: self.verifier.name().into() })).await?.into_inner();
        if served.frozen.is_empty() {
            return Ok(Some(served));
        }
        self.adopt_evidence().await?;
        Ok(None)
    }

    /// The peer says it froze this log on evidence of a split view: fetch that evidence and,
    /// when it proves the split (two checkpoints signed by the log's key for the same size with
    /// different roots), store it and freeze the log here too. Evidence this node cannot check
    /// changes nothing: the peer's word alone freezes nothing.
    async fn adopt_evidence(&mut self) -> Result<(), RoundError> {
        let origin = self.verifier.name().to_string();
        if self.registry.store().log(&origin).frozen().map_err(|e| RoundError::Refused(e.to_string()))?.is_some() {
            return Ok(());
        }
        let mut federation = FederationClient::new(self.channel()?).max_decoding_message_size(MAX_PEER_MESSAGE);
        let answer = self.bounded(federation.get_evidence(pb::GetEvidenceRequest::default())).await?.into_inner();
        for evidence in answer.evidence.into_iter().filter(|e| e.kind == "split_view" && e.origin == origin) {
            let [first, second] = &evidence.checkpoints[..] else { continue };
            let (Ok(a), Ok(b)) = (self.verifier.verify_checkpoint(first), self.verifier.verify_checkpoint(second)) else { continue };
            if a.size != b.size || a.root == b.root {
                continue;
            }
            let reason = format!("two different roots for size {} (evidence from {})", a.size, self.peer.id);
            tracing::warn!(log = %origin, peer = %self.peer.id, "split view proven by a peer's evidence; log frozen");
            let refusal = self.registry.split_view(&origin, a.note, b.note, reason).await.map_err(|e| RoundError::Refused(e.to_string()))?;
            return Err(RoundError::Refused(refusal));
        }
        Err(RoundError::Refused(format!("the peer says {origin} is frozen but serves no evidence that proves a split view")))
    }

    /// One round: verify the peer's checkpoint (`pushed`, or asked for) and ingest every entry
    /// up to it.
    async fn round(&mut self, pushed: Option<String>) -> Result<(), RoundError> {
        let mut client = self.client().await?;
        let note = match pushed {
            Some(note) => note,
            // Ask for the pinned log by origin: the peer may be its origin or a relay that mirrors it.
            None => match self.served_checkpoint(&mut client).await? {
                Some(served) => served.checkpoint,
                None => return Ok(()),
            },
        };
        if self.last_note.as_deref() == Some(note.as_str()) {
            // Nothing new, and the peer answered.
            if let Ok(mut s) = self.status.lock() {
                (s.last_error, s.failures) = (None, 0);
            }
            self.fetch_bodies().await;
            return Ok(());
        }
        let checkpoint = verify_peer_checkpoint(&self.verifier, &note, self.registry.clock().now()).map_err(|e| RoundError::Refused(e.to_string()))?;
        if let Ok(mut s) = self.status.lock() {
            s.peer_size = checkpoint.size;
        }
        let origin = checkpoint.origin.clone();
        let stored_err = |e: crate::store::StoreError| RoundError::Refused(e.to_string());
        // Checked against what is held, then caught up to; again when another path to the log
        // stored entries meanwhile, which may be another view of it (a split view).
        loop {
            let log = self.registry.store().log(&origin);
            if let Some(reason) = log.frozen().map_err(stored_err)? {
                return Err(RoundError::Refused(format!("{origin} is frozen: {reason}")));
            }
            let have = log.size().map_err(stored_err)?;
            let held_note = log.checkpoint().map_err(stored_err)?;
            if let Some(held) = &held_note {
                let held = self.verifier.verify_checkpoint(held).map_err(|e| RoundError::Refused(format!("held checkpoint: {e}")))?;
                if let Some(reason) = self.contradiction(&mut client, &held, &checkpoint).await? {
                    let refusal =
                        self.registry.split_view(&origin, held.note, checkpoint.note, reason).await.map_err(|e| RoundError::Refused(e.to_string()))?;
                    return Err(RoundError::Refused(refusal));
                }
            }
            if held_note.is_none() && checkpoint.size == 0 {
                // Hold even an empty log's checkpoint, so this node can relay it.
                let empty = Mirrored { checkpoint: checkpoint.clone(), first: 0, entries: Vec::new(), logged_at: Vec::new(), prefix_proof: None };
                if let Err(e) = self.registry.ingest_mirrored(empty).await {
                    if self.registry.store().log(&origin).checkpoint().map_err(stored_err)?.is_some() {
                        continue; // another path stored a checkpoint first
                    }
                    return Err(RoundError::Refused(e.to_string()));
                }
            }
            if checkpoint.size <= have {
                // Up to date, or an older (consistent) view from a relay that is behind. The same
                // checkpoint may come with new witness cosignatures: keep those that verify.
                if checkpoint.size == have && held_note.as_deref() != Some(checkpoint.note.as_str()) {
                    self.registry.add_cosignatures(&origin, checkpoint.note.clone(), false).await.map_err(|e| RoundError::Refused(e.to_string()))?;
                }
                self.mark_synced(&checkpoint, have);
                self.last_note = Some(note);
                self.fetch_bodies().await;
                return Ok(());
            }
            if self.catch_up(&mut client, &checkpoint, have).await? == CatchUp::Overtaken {
                tracing::debug!(path = %self.peer.id, %origin, "another path stored entries first; checking the checkpoint against them");
                continue;
            }
            self.mark_synced(&checkpoint, checkpoint.size);
            self.last_note = Some(note);
            self.fetch_bodies().await;
            return Ok(());
        }
    }

    /// Asks the peer for the bodies of confidential decisions this node is in the audience of
    /// and does not hold yet. The peer serves only those it holds and may share with this node;
    /// what it does not serve is asked of the other peers in their rounds.
    async fn fetch_bodies(&mut self) {
        let wanted = match self.registry.store().wanted_bodies(MAX_BODIES_PER_CALL) {
            Ok(w) if !w.is_empty() => w,
            _ => return,
        };
        let Ok(channel) = self.channel() else { return };
        let mut federation = FederationClient::new(channel).max_decoding_message_size(MAX_PEER_MESSAGE);
        let request = pb::GetRestrictedBodiesRequest {
            statement_ids: wanted.iter().map(|id| id.0.to_vec()).collect(),
            caller_origin: self.registry.origin().to_string(),
        };
        let answer = match self.bounded(federation.get_restricted_bodies(request)).await {
            Ok(a) => a.into_inner(),
            Err(e) => {
                tracing::debug!(peer = %self.peer.id, error = %e, "peer serves no restricted bodies");
                return;
            }
        };
        if answer.bodies.is_empty() {
            return;
        }
        match self.registry.store_bodies(answer.bodies).await {
            Ok(done) => {
                if done.stored > 0 {
                    tracing::info!(peer = %self.peer.id, bodies = done.stored, "restricted decisions received");
                }
                for reason in done.refused {
                    tracing::warn!(peer = %self.peer.id, %reason, "restricted body refused");
                }
            }
            Err(e) => tracing::warn!(peer = %self.peer.id, error = %e, "storing restricted bodies failed"),
        }
    }

    /// Fetches, verifies and stores entries `have..checkpoint.size`, in parts of at most
    /// `entries_per_part`; every part but the last comes with the peer's consistency proof
    /// that it is a prefix of the signed checkpoint, so each part is stored as soon as it is
    /// proven and memory stays bounded however far behind this mirror is. The next part is
    /// fetched and verified while the writer stores the one before (two parts in memory at most).
    async fn catch_up(&mut self, client: &mut LogClient<Channel>, checkpoint: &SignedCheckpoint, have: u64) -> Result<CatchUp, RoundError> {
        let origin = &checkpoint.origin;
        let long = checkpoint.size - have > self.entries_per_part;
        let started = Instant::now();
        let registry = self.registry.clone();
        let mut last_report = Instant::now();
        // The part being stored (its first index and end), and where the next one starts.
        let mut storing: Option<(u64, u64, Mirrored)> = None;
        let mut next = have;
        loop {
            let end = checkpoint.size.min(next + self.entries_per_part);
            let fetch_next = async {
                if next >= checkpoint.size {
                    return Ok(None);
                }
                if self.entries_per_sec > 0 {
                    // The per-peer quota: no faster than entries_per_sec on average since this
                    // catch-up started, so one peer's long log cannot monopolise the writer.
                    let due = started + Duration::from_secs_f64((next - have) as f64 / self.entries_per_sec as f64);
                    tokio::time::sleep_until(due.into()).await;
                }
                self.fetch_part(client, checkpoint, next, end).await.map(Some)
            };
            let store_previous = async {
                match storing.take() {
                    Some((first, stored_end, part)) => Some((first, stored_end, registry.ingest_mirrored(part).await)),
                    None => None,
                }
            };
            let (mut fetched, stored) = tokio::join!(fetch_next, store_previous);
            let stored_a_part = matches!(&stored, Some((_, _, Ok(()))));
            if let Some((first, stored_end, result)) = stored {
                if let Err(e) = result {
                    // Another path to the same log (a relay, or the direct link) stored these first.
                    // Not necessarily the same entries: the caller checks the checkpoint against them.
                    if registry.store().log(origin).size().is_ok_and(|size| size > first) {
                        return Ok(CatchUp::Overtaken);
                    }
                    return Err(RoundError::Refused(e.to_string()));
                }
                if let Ok(mut s) = self.status.lock() {
                    s.size = stored_end;
                }
                if long && (last_report.elapsed() >= PROGRESS_EVERY || stored_end == checkpoint.size) {
                    last_report = Instant::now();
                    let rate = (stored_end - have) as f64 / started.elapsed().as_secs_f64().max(1e-3);
                    tracing::info!(peer = %self.peer.id, %origin, have = stored_end, target = checkpoint.size, per_second = rate as u64, "catching up");
                }
            }
            if stored_a_part && matches!(fetched, Err(RoundError::Refused(_))) {
                // The part stored meanwhile may put in force a key set that signs entries of
                // this one, which were checked before it was: check them again now.
                fetched = self.fetch_part(client, checkpoint, next, end).await.map(Some);
            }
            match fetched? {
                Some(part) => {
                    storing = Some((next, end, part));
                    next = end;
                }
                None => return Ok(CatchUp::Done),
            }
        }
    }

    /// Fetches and verifies entries `next..end` of the log `checkpoint` signs, with the peer's
    /// proof that they are a prefix of it when they stop short of it.
    async fn fetch_part(&self, client: &mut LogClient<Channel>, checkpoint: &SignedCheckpoint, next: u64, end: u64) -> Result<Mirrored, RoundError> {
        let origin = &checkpoint.origin;
        let mut entries = Vec::with_capacity((end - next) as usize);
        let mut logged_at = Vec::with_capacity((end - next) as usize);
        let mut at = next;
        while at < end {
            let upto = end.min(at + ENTRIES_PER_CALL);
            let (checked, times) = self.fetch(client, at, upto).await?;
            entries.extend(checked);
            logged_at.extend(times);
            at = upto;
        }
        let prefix_proof = if end < checkpoint.size {
            let request = pb::GetConsistencyProofRequest { old_size: end, new_size: checkpoint.size, origin: origin.clone() };
            let proof = self.bounded(client.get_consistency_proof(request)).await?.into_inner();
            Some(proof_hashes(&proof.hashes).map_err(|e| RoundError::Refused(format!("consistency proof of {origin}: {e}")))?)
        } else {
            None
        };
        Ok(Mirrored { checkpoint: checkpoint.clone(), first: next, entries, logged_at, prefix_proof })
    }

    /// Why `new` cannot be true if `held` is (both verified with the log's key), or `None`.
    /// Only what is provable counts: a relay may be behind, or may serve a bad proof, and
    /// neither is the origin's fault.
    async fn contradiction(&mut self, client: &mut LogClient<Channel>, held: &SignedCheckpoint, new: &SignedCheckpoint) -> Result<Option<String>, RoundError> {
        if new.size == held.size {
            return Ok((new.root != held.root).then(|| format!("two different roots for size {}", new.size)));
        }
        if new.size < held.size {
            // An older view (e.g. from a relay that is behind) is fine if it is a prefix of the
            // verified tree held here, whose root at that size this node computes itself.
            let prefix = comity_proto::log::tree_root(new.size, &self.registry.store().log(&new.origin)).map_err(|e| RoundError::Refused(e.to_string()))?;
            return Ok((prefix != new.root)
                .then(|| format!("the root signed for size {} differs from that prefix of the tree signed at size {}", new.size, held.size)));
        }
        if held.size == 0 {
            return Ok(None);
        }
        let request = pb::GetConsistencyProofRequest { old_size: held.size, new_size: new.size, origin: new.origin.clone() };
        let proof = self.bounded(client.get_consistency_proof(request)).await?.into_inner();
        let valid = proof_hashes(&proof.hashes).ok().is_some_and(|hashes| verify_consistency(&hashes, held.size, &held.root, new.size, &new.root).is_ok());
        if valid {
            return Ok(None);
        }
        // Only the log's own node is answerable for failing to prove its own checkpoints.
        if !self.peer_is_origin(client, &new.origin).await? {
            return Err(RoundError::Refused(format!("relay served no valid consistency proof of {} from {} to {}", new.origin, held.size, new.size)));
        }
        Ok(Some(format!("no valid consistency proof from size {} to {}", held.size, new.size)))
    }

    /// True when the peer serves `origin` as its own log (rather than relaying it).
    async fn peer_is_origin(&mut self, client: &mut LogClient<Channel>, origin: &str) -> Result<bool, RoundError> {
        let own = self.bounded(client.get_checkpoint(pb::GetCheckpointRequest::default())).await?.into_inner();
        Ok(own.origin == origin)
    }

    /// Entries `[start, end)`, each parsed and verified, with their log times.
    async fn fetch(&self, client: &mut LogClient<Channel>, start: u64, end: u64) -> Result<(Vec<(Envelope, Checked)>, Vec<i64>), RoundError> {
        let request = pb::GetEntriesRequest { start, end, origin: self.verifier.name().into() };
        let deadline = tokio::time::Instant::now() + self.call_timeout;
        let late = || RoundError::Connect(format!("peer did not send entries {start}..{end} within {:?}", self.call_timeout));
        let mut stream = tokio::time::timeout_at(deadline, client.get_entries(request)).await.map_err(|_| late())??.into_inner();
        let mut raw = Vec::with_capacity((end - start) as usize);
        let mut times = Vec::with_capacity((end - start) as usize);
        // A peer that streams too much, or too slowly, is cut off: the count and the deadline bound it.
        while let Some(message) = tokio::time::timeout_at(deadline, stream.message()).await.map_err(|_| late())?? {
            for entry in message.entries {
                let index = start + raw.len() as u64;
                if entry.index != index || index >= end {
                    return Err(RoundError::Refused(format!("peer sent entry {} where {index} was due", entry.index)));
                }
                raw.push(entry.envelope);
                times.push(entry.logged_at);
            }
        }
        if raw.len() as u64 != end - start {
            return Err(RoundError::Refused(format!("peer sent {} of the {} entries asked for", raw.len(), end - start)));
        }
        let checked = verify_entries(&self.trust, self.verifier.name(), start, raw).await.map_err(|e| RoundError::Refused(e.to_string()))?;
        Ok((checked, times))
    }

    fn mark_synced(&self, checkpoint: &SignedCheckpoint, size: u64) {
        if let Ok(mut s) = self.status.lock() {
            *s = MirrorStatus {
                size,
                peer_size: checkpoint.size.max(size),
                checkpoint_time: checkpoint.time.max(s.checkpoint_time),
                last_error: None,
                failures: 0,
            };
        }
    }
}

/// Parses and checks entries `start..` of log `origin` (first index `start`) on the blocking
/// pool, split across the cores: the checks every entry of a peer's log passes before it is
/// handed to the writer, by the mirror and by `comity-node import`. A decision signed by a key
/// that only a key set earlier in the same batch introduces is checked afterwards, in order.
pub async fn verify_entries(trust: &Arc<Trust>, origin: &str, start: u64, raw: Vec<Vec<u8>>) -> Result<Vec<(Envelope, Checked)>, PeerRefusal> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    let per_worker = raw.len().div_ceil(workers).max(1);
    let mut parts = Vec::new();
    let mut raw = raw.into_iter();
    let mut first = start;
    loop {
        let part: Vec<Vec<u8>> = raw.by_ref().take(per_worker).collect();
        if part.is_empty() {
            break;
        }
        let (trust, origin, offset) = (trust.clone(), origin.to_string(), first);
        first += part.len() as u64;
        parts.push(tokio::task::spawn_blocking(move || verify_part(&trust, &origin, offset, part)));
    }
    let mut checked = Vec::new();
    for part in parts {
        checked.extend(part.await?.map_err(|e| PeerRefusal::Entry(e.to_string()))?);
    }
    let mut introduced: HashMap<String, Vec<VerifyingKey>> = HashMap::new();
    let mut out = Vec::with_capacity(checked.len());
    for (i, entry) in checked.into_iter().enumerate() {
        let entry = match entry {
            Verified::Done(envelope, Checked::KeySet(set)) => {
                introduced.entry(set.authority.clone()).or_default().extend(set.keys.iter().map(|k| k.key));
                (envelope, Checked::KeySet(set))
            }
            Verified::Done(envelope, checked) => (envelope, checked),
            Verified::NewKey(envelope, authority, checked) => {
                let keys = introduced.get(&authority).map(Vec::as_slice).unwrap_or_default();
                let signers =
                    envelope.verify_with(keys).map_err(|source| PeerRefusal::Signatures { index: start + i as u64, origin: origin.to_string(), source })?;
                (envelope, checked.signed_by(signers))
            }
        };
        out.push(entry);
    }
    Ok(out)
}

/// Verifies a served checkpoint of a peer's log: signed by the log key pinned for it, and not
/// from the future. Shared by the mirror and `comity-node import`.
pub fn verify_peer_checkpoint(verifier: &LogVerifier, note: &str, now: i64) -> Result<SignedCheckpoint, PeerRefusal> {
    let checkpoint = verifier.verify_checkpoint(note).map_err(PeerRefusal::Checkpoint)?;
    comity_proto::log::check_not_future(&checkpoint, now).map_err(|source| PeerRefusal::Future { origin: checkpoint.origin.clone(), source })?;
    Ok(checkpoint)
}

/// An entry after the parallel checks.
enum Verified {
    Done(Envelope, Checked),
    /// A decision of `authority` signed by a key not known before this batch: checked in order
    /// afterwards.
    NewKey(Envelope, String, Checked),
}

impl Verified {
    fn envelope(&self) -> &Envelope {
        match self {
            Verified::Done(e, _) | Verified::NewKey(e, _, _) => e,
        }
    }
}

/// Parses entries `offset..` of log `origin` and checks each: a decision of an authority
/// trusted here with every signature verified, or a key set signed by a threshold of its
/// authority's roots. Signatures by keys known here are checked together with ed25519 batch
/// verification, which accepts exactly what `verify_strict` accepts (`verify_batch`).
fn verify_part(trust: &Trust, origin: &str, offset: u64, raw: Vec<Vec<u8>>) -> Result<Vec<Verified>, RoundError> {
    let refuse = |index: u64, m: String| RoundError::Refused(format!("entry {index} of {origin}: {m}"));
    let mut out = Vec::with_capacity(raw.len());
    // Each authority's candidate keys with their key ids, worked out once per part.
    let mut keys_of: HashMap<String, Arc<KeyRing>> = HashMap::new();
    // Entries whose signatures are checked in the batch: (position in `out`, the keys they may use).
    let mut batch: Vec<(usize, Arc<KeyRing>)> = Vec::new();
    for (i, bytes) in raw.into_iter().enumerate() {
        let index = offset + i as u64;
        let envelope = Envelope::parse(bytes).map_err(|e| refuse(index, e.to_string()))?;
        // The authority whose keys must have signed, and what the statement is.
        let statement = CheckedStatement::try_from(&envelope).map_err(|e| refuse(index, e.to_string()))?;
        let authority = statement.authority().to_string();
        let checked = match statement {
            CheckedStatement::Decision(decision) => Checked::Decision { decision, signers: Vec::new() },
            CheckedStatement::Restricted(restricted) => Checked::Restricted { restricted, body: None, signers: Vec::new() },
            CheckedStatement::Agreement(agreement) => Checked::Agreement { agreement, signers: Vec::new() },
            CheckedStatement::ControlList(list) => Checked::ControlList { list, signers: Vec::new() },
            CheckedStatement::Crosswalk(crosswalk) => Checked::Crosswalk { crosswalk, signers: Vec::new() },
            CheckedStatement::ScreeningList(list) => Checked::ScreeningList { list, signers: Vec::new() },
            CheckedStatement::Consultation(consultation) => Checked::Consultation { consultation, signers: Vec::new() },
            CheckedStatement::EndUseCheck(check) => Checked::EndUseCheck { check, signers: Vec::new() },
            CheckedStatement::Ruling(ruling) => Checked::Ruling { ruling, signers: Vec::new() },
            CheckedStatement::KeySet(set) => {
                let set = trust.verify_key_set(&envelope, set, None).map_err(|e| refuse(index, e.to_string()))?;
                out.push(Verified::Done(envelope, Checked::KeySet(set)));
                continue;
            }
        };
        if !trust.knows(&authority) {
            // A write-off signed by the customs of an authority not trusted here: the issuer's
            // log vouches for it, and it can only draw a balance down (docs/usage-and-drawdown.md).
            if checked.role() == comity_proto::pb::KeyRole::Customs {
                out.push(Verified::Done(envelope, checked));
                continue;
            }
            return Err(refuse(index, format!("authority `{authority}` is not trusted here")));
        }
        let keys = keys_of.entry(authority.clone()).or_insert_with(|| Arc::new(KeyRing::new(trust.candidate_keys(&authority)))).clone();
        let unknown = envelope.key_ids().find(|id| keys.get(id).is_none()).map(str::to_string);
        if unknown.is_none() {
            batch.push((out.len(), keys));
            out.push(Verified::Done(envelope, checked));
        } else if matches!(checked, Checked::Agreement { .. }) {
            return Err(refuse(index, StatementError::UnknownKey(unknown.unwrap_or_default()).to_string()));
        } else {
            // A decision may be signed by a key that a key set earlier in this batch introduces.
            out.push(Verified::NewKey(envelope, authority, checked));
        }
    }
    let envelopes: Vec<&Envelope> = batch.iter().map(|(at, _)| out[*at].envelope()).collect();
    let lookup = |n: usize, id: &str| batch[n].1.get(id);
    let signers = verify_batch(&envelopes, lookup).map_err(|(n, e)| refuse(offset + batch[n].0 as u64, e.to_string()))?;
    let mut signed_by: Vec<Option<Vec<VerifyingKey>>> = vec![None; out.len()];
    for ((at, _), keys) in batch.iter().zip(signers) {
        signed_by[*at] = Some(keys);
    }
    Ok(out
        .into_iter()
        .zip(signed_by)
        .map(|(verified, keys)| match (verified, keys) {
            (Verified::Done(envelope, checked), Some(keys)) => Verified::Done(envelope, checked.signed_by(keys)),
            (verified, _) => verified,
        })
        .collect())
}
