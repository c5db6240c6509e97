//! Assembles the gRPC server: the Comity services, `grpc.health.v1`, server reflection, and
//! the limits every service needs (message sizes, timeouts, per-connection concurrency).

use std::net::SocketAddr;
use std::time::Duration;

use comity_proto::pb::{self, registry_server::RegistryServer};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::server::TcpIncoming;
use tonic::transport::Server;

use crate::clock::Clock;
use crate::config::Config;
use crate::federation::witness::{gather_cosignatures, CosignedRecord, Witness};
use crate::log::service::LogService;
use crate::log::{load_or_create_key, load_or_create_witness_key, NodeLog, SignedRecord};
use crate::service::registry::RegistryService;
use crate::store::Store;
use crate::writer::Registry;
use comity_proto::pb::log_server::LogServer;
use comity_proto::witness::WitnessVerifier;

/// How often the node asks again for a cosignature a witness did not give.
const COSIGN_RETRY: Duration = Duration::from_secs(5);

/// The descriptors of every service the gRPC server serves: reflection shows them, health
/// reports each, and the per-RPC metrics know their methods.
const DESCRIPTOR_SETS: [&[u8]; 4] = [
    pb::FILE_DESCRIPTOR_SET,
    tonic_health::pb::FILE_DESCRIPTOR_SET,
    tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
    tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
];

/// Server reflection from [`DESCRIPTOR_SETS`]; called once per protocol version.
fn reflection() -> tonic_reflection::server::Builder<'static> {
    DESCRIPTOR_SETS
        .iter()
        .fold(tonic_reflection::server::Builder::configure(), |b, set| b.register_encoded_file_descriptor_set(set))
        // Both reflection versions are in DESCRIPTOR_SETS already, so each lists both.
        .include_reflection_service(false)
}

/// Why a node did not start: each names the setting, file or store at fault (the errors
/// passed through name theirs). Causes are in the messages, not error sources, so an error
/// chain prints each once.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(
        "no [tls] configured: give the node a certificate (comity-node ca issue, or init --tls-ca), or set insecure_plaintext = true (run --insecure-plaintext) for development"
    )]
    NoTls,
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Log(#[from] crate::log::LogOpenError),
    /// The store names another log than the config: a new origin, or a damaged store (a flipped
    /// byte in the stored origin reads as another name).
    #[error(
        "log origin is `{stored}` in the store at {store_dir} but `{configured}` in the config; an origin names one log forever, so use a new data dir for a new origin. \
         If the config is right, the store is damaged: rebuild it with `comity-node recover --data-dir {data_dir} --from PEER_URL`"
    )]
    OriginChanged { stored: String, configured: String, store_dir: String, data_dir: String },
    #[error(transparent)]
    Trust(#[from] crate::trust::TrustLoadError),
    #[error(transparent)]
    TrustFile(#[from] comity_proto::trust::TrustError),
    #[error(transparent)]
    StartupCheck(#[from] crate::ops::check::QuickCheckError),
    #[error(transparent)]
    Mirror(#[from] crate::federation::mirror::MirrorSetupError),
    #[error(transparent)]
    Tls(#[from] crate::net::tls::TlsError),
    /// A listener that could not be bound; `setting` is the config setting that names it.
    #[error("listen on {at} ({setting}): {cause}")]
    Listen { at: SocketAddr, setting: &'static str, cause: std::io::Error },
    #[error("listener address: {0}")]
    Address(std::io::Error),
    #[error("server reflection: {0}")]
    Reflection(tonic_reflection::server::Error),
}

impl crate::store::NameDamage for StartError {
    fn name_damage(self, dir: &std::path::Path) -> Self {
        match self {
            StartError::Store(e) => StartError::Store(e.name_damage(dir)),
            StartError::Trust(crate::trust::TrustLoadError::Store(e)) => StartError::Trust(crate::trust::TrustLoadError::Store(e.name_damage(dir))),
            other => other,
        }
    }
}

/// Why a node's shutdown was not clean.
#[derive(Debug, thiserror::Error)]
pub enum ShutdownError {
    /// The gRPC server ended with an error.
    #[error(transparent)]
    Serve(#[from] tonic::transport::Error),
    /// A task of the server (or the writer's close) panicked or was cancelled.
    #[error(transparent)]
    Task(#[from] tokio::task::JoinError),
}

/// A node serving on a bound listener, stopped by [`RunningNode::shutdown`] or on drop.
pub struct RunningNode {
    addr: SocketAddr,
    http_addr: Option<SocketAddr>,
    verifier: comity_proto::log::LogVerifier,
    witness_verifier: WitnessVerifier,
    registry: Option<Registry>,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), tonic::transport::Error>>>,
    heartbeat: Option<JoinHandle<()>>,
    /// Gathers peers' cosignatures of the node's checkpoints.
    gatherer: Option<JoinHandle<()>>,
    /// The background check (`scrub_interval_secs`).
    scrub: Option<JoinHandle<()>>,
    /// The HTTP tiles server; it holds a store handle, so shutdown waits for it.
    http_task: Option<JoinHandle<()>>,
    /// The metrics HTTP server (also holds a store handle).
    metrics_task: Option<JoinHandle<()>>,
    metrics_addr: Option<SocketAddr>,
    mirrors: Vec<(String, std::sync::Arc<std::sync::Mutex<crate::federation::mirror::MirrorStatus>>, JoinHandle<()>)>,
}

impl RunningNode {
    /// Opens the store in `config.data_dir` and serves on `listener` (bound by the caller, so
    /// tests can bind port 0 without a race), on the system clock.
    pub async fn start(config: Config, listener: TcpListener) -> Result<Self, StartError> {
        Self::start_with_clock(config, listener, Clock::system()).await
    }

    /// [`RunningNode::start`] with the node reading the time from `clock` (log times,
    /// staleness, validity windows, evidence): tests pass a test clock and move it.
    pub async fn start_with_clock(config: Config, listener: TcpListener, clock: Clock) -> Result<Self, StartError> {
        let config = crate::federation::consortium::resolve(config)?;
        if config.tls.is_none() && !config.insecure_plaintext {
            return Err(StartError::NoTls);
        }
        let store_dir = config.store_dir();
        let store = Store::open_with(&store_dir, config.store_engine, config.limits.store_cache_bytes)?;
        store.set_min_free_bytes(config.limits.min_free_disk_bytes);
        let key = load_or_create_key(&config.log_key_path(), &config.origin)?;
        let signed = SignedRecord::next_to_key(&config.log_key_path())?;
        // The start-up checks read the whole log: damage sled panics on shows here.
        let log = crate::store::guard_damage(&store_dir, || NodeLog::open(&store, key, signed, clock.now())).map_err(|e| match e {
            crate::log::LogOpenError::OriginChanged { stored, configured } => StartError::OriginChanged {
                stored,
                configured,
                store_dir: store_dir.display().to_string(),
                data_dir: store_dir.parent().unwrap_or(&store_dir).display().to_string(),
            },
            other => other.into(),
        })?;
        let verifier = log.verifier().clone();
        let witness_key = load_or_create_witness_key(&config.witness_key_path(), &config.witness_name())?;
        let cosigned = CosignedRecord::next_to_key(&config.witness_key_path())?;
        let peer_witnesses = config.peer_witnesses();
        // Cosignatures from every peer's witness count; requests go to peers this node connects to.
        let mut witnesses: Vec<WitnessVerifier> = peer_witnesses.iter().map(|(_, w)| w.clone()).collect();
        let dialed: std::sync::Arc<[crate::config::PeerConfig]> = config.dialed_peers().into();
        let peer_witnesses: Vec<_> = peer_witnesses.into_iter().filter(|(p, _)| dialed.iter().any(|d| d.id == p.id)).collect();
        witnesses.push(witness_key.verifier());
        let trust = std::sync::Arc::new(crate::store::guard_damage(&store_dir, || -> Result<_, StartError> {
            Ok(crate::trust::Trust::load(&config, config.trust_roots()?, &store)?)
        })?);
        let registry = Registry::start(store.clone(), &config, log, witnesses.clone(), trust, clock.clone());
        let witness_verifier = witness_key.verifier();
        let witness = std::sync::Arc::new(Witness::new(witness_key, cosigned, registry.clone(), &config.peers));
        let addr = listener.local_addr().map_err(StartError::Address)?;
        let limits = &config.limits;

        let rpcs = crate::metrics::grpc::rpcs(&DESCRIPTOR_SETS);
        // Every served service is SERVING in grpc.health.v1 (as is the whole server, ""), until
        // the store fails (heartbeat_loop).
        let (health, health_service) = tonic_health::server::health_reporter();
        let services: std::collections::BTreeSet<&str> = rpcs.iter().map(|r| r.grpc_service.as_str()).collect();
        for service in services {
            health.set_service_status(service, tonic_health::ServingStatus::Serving).await;
        }
        // grpc.reflection v1 and v1alpha: grpcurl before 1.8.8 and Python's grpcio-reflection
        // speak only v1alpha.
        let reflection_v1 = reflection().build_v1().map_err(StartError::Reflection)?;
        let reflection_v1alpha = reflection().build_v1alpha().map_err(StartError::Reflection)?;
        let metrics = std::sync::Arc::new(crate::metrics::Metrics::new());
        // Every log's newest entry and root, cheaply (the own log's root was checked above);
        // derived data is left to the background check. Damage to the own log stops the node,
        // as the checks above do; a mirrored log's is named, counted and served on (its origin
        // still holds the truth).
        let differences = crate::store::guard_damage(&store_dir, || crate::ops::check::quick_check(&store))?;
        if let Some((_, difference)) = differences.iter().find(|(origin, _)| *origin == config.origin) {
            return Err(crate::store::StoreError::damaged(&store_dir, difference.clone()).into());
        }
        for (_, difference) in &differences {
            tracing::error!(%difference, "start-up check: a mirrored log differs from its own entries; run `comity-node check` to see every difference");
        }
        metrics.checked_at_start(differences.len());
        // Turns true when graceful shutdown starts: the HTTP tiles view and open subscription
        // streams end then, so the server is not kept waiting for them.
        let (http_stop, http_stopped) = tokio::sync::watch::channel(false);
        let registry_impl = std::sync::Arc::new(RegistryService::new(
            registry.clone(),
            config.max_staleness_secs,
            crate::service::verify::VerifyCache::new(limits.verify_cache_licences),
            metrics.clone(),
            limits.max_watch_streams,
            http_stopped.clone(),
            crate::federation::relay::WriteOffRelay::new(&config),
        ));
        let registry_service = RegistryServer::from_arc(registry_impl.clone())
            .max_decoding_message_size(limits.max_message_bytes)
            .max_encoding_message_size(limits.max_message_bytes);
        let log_verifier = verifier.clone();
        let mirrored_keys = config.peers.iter().filter_map(|p| p.log_key.parse().ok()).collect();
        let log_service = LogServer::new(LogService::new(store.clone(), verifier, mirrored_keys))
            .max_decoding_message_size(limits.max_message_bytes)
            .max_encoding_message_size(limits.max_message_bytes);
        let mut pending_mirrors = Vec::new();
        let mut peer_views = Vec::new();
        let channels = crate::federation::mirror::PeerChannels::default();
        let interval = Duration::from_millis(config.mirror_interval_ms);
        // A direct path per peer this node connects to, and one relay path per log: with
        // `relay_paths` for every log, and in a half mesh for every log it does not fetch from
        // its origin (through the members that do, first).
        let ring = config.ring();
        let half_mesh = config.effective_mesh() == crate::config::Mesh::Half;
        let mut paths: Vec<(crate::config::PeerConfig, Option<crate::federation::mirror::RelayRoute>)> = dialed.iter().map(|p| (p.clone(), None)).collect();
        let mut logs: Vec<&crate::config::PeerConfig> = Vec::new();
        for peer in config.peers.iter().filter(|p| !p.relay) {
            if !logs.iter().any(|l| l.log_key == peer.log_key) {
                logs.push(peer);
            }
        }
        for log in logs {
            let fetched_from_origin = dialed.iter().any(|p| p.log_key == log.log_key);
            if fetched_from_origin && !config.relay_paths {
                continue;
            }
            let preferred = |via: &crate::config::PeerConfig| half_mesh && crate::config::dials(&ring, via.origin(), log.origin());
            if let Some(route) = crate::federation::mirror::RelayRoute::new(log, dialed.clone(), preferred) {
                let mut path = route.path();
                path.id = route.id();
                paths.push((path, Some(route)));
            }
        }
        for (peer, route) in paths {
            let (mut mirror, status) = crate::federation::mirror::PeerMirror::new(
                peer.clone(),
                registry.clone(),
                interval,
                limits.mirror_entries_per_part,
                limits.request_timeout(),
                config.tls.clone(),
                limits.peer_entries_per_sec,
                channels.clone(),
            )?;
            if let Some(route) = route {
                mirror.relay_over(route);
            }
            peer_views.push(crate::federation::service::PeerView { config: peer.clone(), origin: mirror.origin().to_string(), status: status.clone() });
            pending_mirrors.push((peer.id.clone(), status, mirror));
        }
        // Relay paths rest behind the direct path to their log. Their spot checks are spread so
        // this node makes at most about two a second however many paths it has.
        let relays = pending_mirrors.iter().filter(|(_, _, m)| m.is_relay()).count() as u32;
        let spot_check_every = (interval * 30).max(Duration::from_millis(500) * relays);
        let direct: std::collections::HashMap<String, std::sync::Arc<std::sync::Mutex<crate::federation::mirror::MirrorStatus>>> =
            pending_mirrors.iter().filter(|(_, _, m)| !m.is_relay()).map(|(_, status, m)| (m.origin().to_string(), status.clone())).collect();
        for (_, _, mirror) in pending_mirrors.iter_mut().filter(|(_, _, m)| m.is_relay()) {
            match direct.get(mirror.origin()) {
                Some(status) => mirror.behind_direct_path(status.clone(), spot_check_every),
                None => mirror.move_relay_every(spot_check_every),
            }
        }
        let federation_impl = std::sync::Arc::new(crate::federation::service::FederationService::new(
            config.origin.clone(),
            peer_views,
            registry.clone(),
            witness,
            witnesses,
            http_stopped.clone(),
            config.tls.is_some(),
        ));
        let federation_service =
            comity_proto::pb::federation_server::FederationServer::from_arc(federation_impl.clone()).max_encoding_message_size(limits.max_message_bytes);
        let web_trust = config.trust_file_path().map(|p| comity_proto::trust::TrustFile::read(&p)).transpose()?;
        let mut log_keys: std::collections::HashMap<String, comity_proto::log::LogVerifier> =
            config.peers.iter().filter_map(|p| p.log_key.parse::<comity_proto::log::LogVerifier>().ok()).map(|v| (v.name().to_string(), v)).collect();
        if let Some(trust) = &web_trust {
            log_keys.extend(trust.log_verifiers()?);
        }
        log_keys.insert(log_verifier.name().to_string(), log_verifier.clone());
        // Display names: the trust file's, then trusted and hosted authorities' from the config.
        let mut authority_names: std::collections::HashMap<String, String> = std::collections::HashMap::new();
        let configured = config.trusted.iter().chain(&config.authorities).map(|a| (&a.id, &a.name));
        for (id, name) in web_trust.iter().flat_map(|t| t.authorities.iter().map(|a| (&a.id, &a.name))).chain(configured) {
            if !name.trim().is_empty() {
                authority_names.insert(id.clone(), name.trim().to_string());
            }
        }
        let web = crate::web::Web {
            authority_names: std::sync::Arc::new(authority_names),
            registry: registry_impl,
            federation: federation_impl,
            trust: web_trust.map(std::sync::Arc::new),
            log_keys: std::sync::Arc::new(log_keys),
            max_staleness_secs: config.max_staleness_secs,
            origin: config.origin.as_str().into(),
            health: std::sync::Arc::new(tonic_health::server::HealthService::from_health_reporter(health.clone())),
        };
        let per_client = crate::net::client_limit::PerClientLimitLayer::new(limits.concurrency_per_client, limits.requests_per_client_per_sec);
        let web_limits = crate::web::WebLimits { per_client: per_client.clone(), timeout: limits.request_timeout(), max_body_bytes: limits.max_message_bytes };

        // TCP_NODELAY: without it loopback p99 latency is ~45 ms instead of ~3 ms.
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        let (stop, stopped) = oneshot::channel::<()>();
        let (tiles_store, tiles_origin) = (store.clone(), config.origin.clone());
        let (http_addr, http_task) = spawn_http(config.http_listen, "http_listen", http_stopped.clone(), "web and tiles", move |listener, shutdown| {
            crate::log::tiles::serve(listener, tiles_store, tiles_origin, crate::web::router(web, web_limits), shutdown)
        })
        .await?;
        let sources = std::sync::Arc::new(crate::metrics::Sources {
            store: store.clone(),
            clock: clock.clone(),
            mirrors: pending_mirrors.iter().map(|(id, status, mirror)| (id.clone(), mirror.origin().to_string(), status.clone())).collect(),
        });
        let scraped = metrics.clone();
        let (metrics_addr, metrics_task) = spawn_http(config.metrics_listen, "metrics_listen", http_stopped.clone(), "metrics", move |listener, shutdown| {
            crate::metrics::serve(listener, scraped, sources, shutdown)
        })
        .await?;
        // TLS is done here, not by tonic, whose acceptor cannot take a revocation list.
        let acceptor = config.tls.as_ref().map(crate::net::tls::Acceptor::new).transpose()?;
        // Preface deadline, idle timeout and per-address cap on every accepted connection.
        let connections = crate::net::connections::Connections::new(limits, metrics.clone());
        if acceptor.is_none() {
            tracing::warn!("serving plaintext gRPC (insecure_plaintext): for development only; peers and clients cannot authenticate this node");
        }
        let router = Server::builder()
            // One span per request, naming the call and the client, so every log line of a
            // request says who asked.
            .trace_fn(|request| {
                let client = crate::net::client_limit::client_ip(request).map(|ip| ip.to_string()).unwrap_or_default();
                tracing::info_span!("request", rpc = %request.uri().path(), %client)
            })
            .timeout(limits.request_timeout())
            .concurrency_limit_per_connection(limits.concurrency_per_connection)
            .load_shed(true)
            // Marks a connection busy while it has a request open: only idle ones time out.
            .layer(crate::net::connections::ActivityLayer(connections.clone()))
            // Outside the per-client limit, so its refusals are counted too.
            .layer(metrics.grpc().layer(&rpcs))
            .layer(per_client)
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .http2_keepalive_timeout(Some(Duration::from_secs(10)))
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(registry_service)
            .add_service(log_service)
            .add_service(federation_service);
        let shutdown = async move {
            let _ = stopped.await;
            let _ = http_stop.send(true);
        };
        // Simulations: the same services inside the process as well (see `memnet`).
        if let Some(pipes) = crate::net::memnet::serve(addr) {
            let mut stopped = http_stopped.clone();
            tokio::spawn(router.clone().serve_with_incoming_shutdown(pipes, async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            }));
        }
        let task = match acceptor {
            Some(acceptor) => tokio::spawn(router.serve_with_incoming_shutdown(crate::net::tls::handshakes(incoming, acceptor, connections), shutdown)),
            None => tokio::spawn(
                router.serve_with_incoming_shutdown(crate::net::connections::accept(incoming, connections, |stream| async move { Some(stream) }), shutdown),
            ),
        };
        let heartbeat = tokio::spawn(heartbeat_loop(registry.clone(), config.heartbeat_interval_secs(), health.clone()));
        let gatherer = tokio::spawn(gather_cosignatures(
            registry.clone(),
            config.origin.clone(),
            peer_witnesses,
            config.witnesses_per_checkpoint,
            COSIGN_RETRY,
            config.tls.clone(),
            channels,
            limits.request_timeout(),
        ));
        let scrub = (config.scrub_interval_secs > 0).then(|| {
            tokio::spawn(crate::ops::scrub::run(
                store.clone(),
                Duration::from_secs(config.scrub_interval_secs),
                metrics.clone(),
                config.data_dir.clone(),
                clock.clone(),
            ))
        });
        // The node's address on every mirror log line: tests run many nodes in one process.
        let mirror_span = tracing::info_span!("mirror", node = %addr);
        let mirrors = pending_mirrors
            .into_iter()
            .map(|(id, status, mirror)| (id, status, tokio::spawn(tracing::Instrument::instrument(mirror.run(), mirror_span.clone()))))
            .collect();
        tracing::info!(%addr, data_dir = %config.data_dir.display(), origin = %config.origin, authorities = config.authorities.len(), "comity node serving");
        Ok(Self {
            addr,
            http_addr,
            verifier: log_verifier,
            witness_verifier,
            registry: Some(registry),
            metrics,
            stop: Some(stop),
            task: Some(task),
            heartbeat: Some(heartbeat),
            gatherer: Some(gatherer),
            scrub,
            http_task,
            metrics_task,
            metrics_addr,
            mirrors,
        })
    }

    /// The address the node listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://addr`, for clients.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address of the Prometheus metrics endpoint, if enabled.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The address of the HTTP tiles view, if enabled.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// What the mirror of peer `id` last saw.
    pub fn mirror_status(&self, id: &str) -> Option<crate::federation::mirror::MirrorStatus> {
        self.mirrors.iter().find(|(p, _, _)| p == id).and_then(|(_, s, _)| s.lock().ok().map(|s| s.clone()))
    }

    /// The log's public note key.
    pub fn log_verifier(&self) -> &comity_proto::log::LogVerifier {
        &self.verifier
    }

    /// The node's witness key (public).
    pub fn witness_verifier(&self) -> &WitnessVerifier {
        &self.witness_verifier
    }

    /// The node's registry (tests inspect evidence through it).
    pub fn registry(&self) -> &Registry {
        self.registry.as_ref().expect("registry lives until shutdown")
    }

    /// Publishes as a Publish call would, counted in the metrics (the demo loads its data so).
    pub async fn publish(&self, envelope: Vec<u8>, body: Option<pb::RestrictedBody>) -> Result<crate::writer::Published, tonic::Status> {
        crate::service::registry::publish_counted(self.registry(), &self.metrics, envelope, body).await
    }

    /// Stops accepting, lets in-flight requests finish, waits for the server to end, then for
    /// the writer to commit what it was given, and closes the store.
    pub async fn shutdown(mut self) -> Result<(), ShutdownError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await??;
        }
        for http in [self.http_task.take(), self.metrics_task.take()].into_iter().flatten() {
            // Stopped with the gRPC server; waiting releases its store handle.
            let _ = http.await;
        }
        for task in [self.heartbeat.take(), self.gatherer.take(), self.scrub.take()].into_iter().flatten() {
            task.abort();
            let _ = task.await;
        }
        // Mirror tasks hold registry handles: stop them before closing the writer.
        for (_, _, task) in self.mirrors.drain(..) {
            task.abort();
            let _ = task.await;
        }
        if let Some(registry) = self.registry.take() {
            tokio::task::spawn_blocking(move || registry.close()).await?;
        }
        Ok(())
    }
}

/// Re-signs the checkpoint of an idle log so that it is never older than about `interval`
/// seconds (checked four times per interval).
/// Re-signs an idle log's checkpoint, and reports the Registry NOT_SERVING through
/// `grpc.health.v1` once a write has failed (the store then refuses writes until a restart).
/// Binds `at` (config setting `setting`; `None`: disabled) and serves `what` over HTTP with
/// `serve` until `stopped` turns true, which happens with the gRPC server's shutdown.
async fn spawn_http<Fut>(
    at: Option<SocketAddr>,
    setting: &'static str,
    mut stopped: tokio::sync::watch::Receiver<bool>,
    what: &'static str,
    serve: impl FnOnce(TcpListener, std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>) -> Fut,
) -> Result<(Option<SocketAddr>, Option<JoinHandle<()>>), StartError>
where
    Fut: std::future::Future<Output = std::io::Result<()>> + Send + 'static,
{
    let Some(at) = at else { return Ok((None, None)) };
    let listener = TcpListener::bind(at).await.map_err(|cause| StartError::Listen { at, setting, cause })?;
    let bound = listener.local_addr().map_err(StartError::Address)?;
    let shutdown = Box::pin(async move {
        let _ = stopped.wait_for(|stopped| *stopped).await;
    });
    let serving = serve(listener, shutdown);
    let task = tokio::spawn(async move {
        if let Err(e) = serving.await {
            tracing::error!(error = %e, "{what} HTTP server failed");
        }
    });
    Ok((Some(bound), Some(task)))
}

async fn heartbeat_loop(registry: Registry, interval: u64, health: tonic_health::server::HealthReporter) {
    let mut tick = tokio::time::interval(Duration::from_millis((interval * 1000 / 4).clamp(250, 1000)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut reported_failure = false;
    let mut reported_low = false;
    loop {
        tick.tick().await;
        if !reported_failure && registry.store().failed().is_some() {
            health.set_not_serving::<RegistryServer<RegistryService>>().await;
            // The whole server is not fit to take writes either.
            health.set_service_status("", tonic_health::ServingStatus::NotServing).await;
            reported_failure = true;
            continue;
        }
        if reported_failure {
            continue;
        }
        // Below the disk reserve the Registry takes no writes (readiness), but a restart would
        // not help, so the server as a whole (liveness) stays SERVING.
        let low = registry.store().disk_low();
        if low.is_some() != reported_low {
            reported_low = low.is_some();
            match low {
                Some((free, reserve)) => {
                    tracing::warn!(free, reserve, "disk space below limits.min_free_disk_bytes: writes refused until space is freed");
                    health.set_not_serving::<RegistryServer<RegistryService>>().await;
                }
                None => {
                    tracing::info!("disk space above limits.min_free_disk_bytes again: writes resume");
                    health.set_serving::<RegistryServer<RegistryService>>().await;
                }
            }
        }
        if reported_low {
            continue;
        }
        if registry.heartbeat(interval as i64).await.is_err() {
            return;
        }
    }
}

impl Drop for RunningNode {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        for task in [self.heartbeat.take(), self.gatherer.take(), self.scrub.take()].into_iter().flatten() {
            task.abort();
        }
        for (_, _, task) in &self.mirrors {
            task.abort();
        }
    }
}
