//! Node configuration: a TOML file, overridden by flags and `COMITY_*` environment variables
//! (clap reads those), on top of embedded defaults.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use comity_proto::decision::is_authority_id;
use comity_proto::keyfile::parse_public_key;
use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

/// Default gRPC listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7700";
/// Default HTTP (tiles) listen address.
pub const DEFAULT_HTTP_LISTEN: &str = "127.0.0.1:7800";
/// Default metrics (Prometheus) listen address.
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:7900";
/// Default data directory.
pub const DEFAULT_DATA_DIR: &str = "./comity-data";
/// Config file name inside the data directory, read when no `--config` is given.
pub const CONFIG_FILE_NAME: &str = "comity.toml";

/// Everything a node needs to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// gRPC listen address.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// HTTP listen address for the read-only C2SP tlog-tiles view of the log; `""` turns it off.
    #[serde(default = "default_http_listen", with = "optional_addr")]
    pub http_listen: Option<SocketAddr>,
    /// HTTP listen address of the Prometheus metrics (`/metrics`); `""` turns it off.
    #[serde(default = "default_metrics_listen", with = "optional_addr")]
    pub metrics_listen: Option<SocketAddr>,
    /// Where the store, and by default the log key, live.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// The log's origin: names this node's log forever (e.g. `registry.bafa.example/log`).
    #[serde(default = "default_origin")]
    pub origin: String,
    /// Log signing key file [default: DATA_DIR/log.key, created on first start].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_key_file: Option<PathBuf>,
    /// This node's name as a witness of its peers' logs [default: the origin's host part +
    /// `/witness`, e.g. `registry.bafa.example/witness`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub witness_name: Option<String>,
    /// Witness (cosigning) key file [default: DATA_DIR/witness.key, created on first start].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub witness_key_file: Option<PathBuf>,
    /// An idle log re-signs its checkpoint this often, so readers can tell how fresh it is.
    #[serde(default = "default_checkpoint_interval")]
    pub checkpoint_interval_secs: u64,
    /// The background check (what `comity-node check` does, without repairing) re-derives
    /// every licence summary, search index entry and stored tree hash from the logged
    /// statements this often, slowly, while the node serves; the first runs a minute after
    /// start (or after the interval, when shorter). 0: never.
    #[serde(default = "default_scrub_interval")]
    pub scrub_interval_secs: u64,
    /// The key-value engine a new store is created with: `fjall` (the default, an LSM tree;
    /// BENCHMARKS.md, Storage engines) or `sled`. An existing store keeps its engine.
    #[serde(default)]
    pub store_engine: crate::store::EngineKind,
    /// Authorities hosted by this node: only their current keys may publish here.
    #[serde(default, rename = "authority")]
    pub authorities: Vec<AuthorityConfig>,
    /// Peer nodes whose logs this node mirrors.
    #[serde(default, rename = "peer", skip_serializing_if = "Vec::is_empty")]
    pub peers: Vec<PeerConfig>,
    /// Authorities not hosted here whose signed decisions this node accepts from peers' logs
    /// (until key sets arrive with the trust store).
    #[serde(default, rename = "trusted", skip_serializing_if = "Vec::is_empty")]
    pub trusted: Vec<AuthorityConfig>,
    /// Trust file pinning the root keys of trusted authorities (whose key sets they sign)
    /// [default: DATA_DIR/trust.toml when that file exists].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_file: Option<PathBuf>,
    /// A consortium file the members share (`crate::federation::consortium`): every other member in it is
    /// mirrored, witnessed and trusted without its own `[[peer]]` and `[[trusted]]` entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consortium_file: Option<PathBuf>,
    /// Verify answers STALE when the issuer's log was last heard from longer ago than this,
    /// seconds, unless the agreement applied sets its own maximum.
    #[serde(default = "default_max_staleness")]
    pub max_staleness_secs: u64,
    /// Also ask every peer for every other peer's log: a second path to each log when a direct
    /// link is cut, and a cross-check that catches a log showing different views to different
    /// nodes (a split view), without configuring relay paths by hand.
    #[serde(default = "default_true")]
    pub relay_paths: bool,
    /// Which peers this node connects to. `full`: every peer, each log fetched from its origin
    /// (2(n − 1) connections per node: one to each peer, one from each). `half`: the members
    /// in a ring ordered by a hash of their log origins, each node connecting to the next half
    /// of the ring, and every other log fetched through one of them, one relay hop away (n − 1
    /// connections per node). `auto` (the default): full up to [`FULL_MESH_UP_TO`] members,
    /// half beyond. Every member of a consortium must use the same setting.
    #[serde(default)]
    pub mesh: Mesh,
    /// How often each peer's checkpoint is polled, milliseconds.
    #[serde(default = "default_mirror_interval")]
    pub mirror_interval_ms: u64,
    /// How many of the peers' witnesses are asked to cosign each checkpoint of this node's log
    /// (the same ones for a log, ranked by rendezvous hashing, the next ones when one fails):
    /// the work per checkpoint stays bounded however large the consortium. 0: every witness.
    #[serde(default = "default_witnesses_per_checkpoint")]
    pub witnesses_per_checkpoint: usize,
    /// TLS for the gRPC listener and calls to peers (`https://` URLs). Required unless
    /// `insecure_plaintext` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<crate::net::tls::TlsConfig>,
    /// Serve plaintext gRPC without TLS: for development on one machine only (the demo, tests);
    /// the node logs a warning. Without it, a node with no `[tls]` refuses to start.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure_plaintext: bool,
    /// Resource limits.
    #[serde(default)]
    pub limits: Limits,
}

/// A peer node to mirror.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerConfig {
    /// Short name for logs and status, e.g. `meti`.
    pub id: String,
    /// gRPC URL, e.g. `http://registry.meti.example:7700`.
    pub url: String,
    /// The peer's log verifier key (`origin+id+key`), exchanged out of band.
    pub log_key: String,
    /// The peer's witness key (`name+id+key`, C2SP cosignature/v1): this node asks the peer to
    /// cosign its checkpoints and accepts the peer's cosignatures. Omit to not use the peer as
    /// a witness.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub witness_key: Option<String>,
    /// The name the peer's TLS certificate must be valid for [default: the host part of its
    /// log origin, e.g. `registry.meti.example`]. Calls from a client presenting a certificate
    /// for this name are this peer's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_name: Option<String>,
    /// A relay path added by `relay_paths` (not configured): a peer that does not carry the log
    /// is not a failure.
    #[serde(skip)]
    pub relay: bool,
}

impl PeerConfig {
    /// The origin of the log this path carries (from its log key).
    pub fn origin(&self) -> &str {
        self.log_key.split('+').next().unwrap_or_default()
    }

    /// The name the peer's certificate must be valid for.
    pub fn tls_name(&self) -> String {
        self.tls_name.clone().unwrap_or_else(|| {
            let origin = self.log_key.split('+').next().unwrap_or_default();
            origin.split('/').next().unwrap_or(origin).to_string()
        })
    }
}

/// An authority hosted by this node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorityConfig {
    /// Lowercase dotted id, e.g. `de.bafa`.
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// Hex ed25519 public keys allowed to sign this authority's decisions until its first key
    /// set (signed by its root keys in the trust file) is logged; then the key set decides.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
}

/// Bounds on what one request or client may cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest gRPC message accepted or sent, bytes.
    pub max_message_bytes: usize,
    /// Per-request deadline, seconds.
    pub request_timeout_secs: u64,
    /// Concurrent requests per client connection.
    pub concurrency_per_connection: usize,
    /// Concurrent requests per client address, across all its connections; beyond it a
    /// request is refused at once with RESOURCE_EXHAUSTED.
    pub concurrency_per_client: usize,
    /// Requests per second per client address (a token bucket with a one-second burst); beyond
    /// it a request is refused at once with RESOURCE_EXHAUSTED. 0: no rate limit.
    pub requests_per_client_per_sec: u32,
    /// Most publishes committed in one flush (group commit).
    pub max_publish_batch: usize,
    /// Most entries of a peer's log held in memory and committed at once while mirroring; a
    /// longer catch-up goes in parts, each proven a prefix of the peer's signed checkpoint.
    pub mirror_entries_per_part: u64,
    /// Per-peer ingest quota: most entries per second a catch-up takes from one path
    /// (0: no quota; the writer is still shared fairly, one part per path at a time).
    pub peer_entries_per_sec: u64,
    /// Most Registry.Watch streams open at once, across all clients; beyond it a Watch is
    /// refused with RESOURCE_EXHAUSTED. Each costs a small bounded buffer, never a backlog.
    pub max_watch_streams: usize,
    /// Licences whose Verify reads (decision chain, receipts) are kept in memory between
    /// writes, a few KB each; 0 turns the cache off.
    pub verify_cache_licences: usize,
    /// Seconds a new connection has to finish its TLS handshake and send the HTTP/2 preface;
    /// then it is closed.
    pub handshake_timeout_secs: u64,
    /// Seconds a connection with no request open (streams count as open) stays open; 0: no limit.
    pub idle_connection_secs: u64,
    /// Most connections open at once from one IP address; beyond it new ones are closed at
    /// once. 0: no cap.
    pub connections_per_address: usize,
    /// Bytes the node keeps free on the disk holding its store: a write that finds less is
    /// refused (UNAVAILABLE, safe to repeat) before it starts, and writes resume once space is
    /// freed. 0: no reserve (a write that then runs out of space mid-way leaves the store
    /// refusing writes until the node restarts).
    pub min_free_disk_bytes: u64,
    /// Bytes of the store's pages the node keeps in its own memory (sled's cache); the
    /// operating system caches the file besides.
    pub store_cache_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_bytes: 4 * 1024 * 1024,
            request_timeout_secs: 30,
            concurrency_per_connection: 64,
            concurrency_per_client: 128,
            requests_per_client_per_sec: 2000,
            max_publish_batch: 256,
            mirror_entries_per_part: 20_000,
            peer_entries_per_sec: 0,
            max_watch_streams: 1024,
            verify_cache_licences: 4096,
            handshake_timeout_secs: 10,
            idle_connection_secs: 300,
            connections_per_address: 256,
            min_free_disk_bytes: 128 * 1024 * 1024,
            store_cache_bytes: crate::store::DEFAULT_CACHE_BYTES,
        }
    }
}

impl Limits {
    /// The request timeout as a duration.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }
}

/// An optional listen address in TOML, which has no null: an address, or `""` for none. (An
/// omitted key means the default address, so "none" needs a value of its own.)
mod optional_addr {
    use std::net::SocketAddr;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(addr: &Option<SocketAddr>, s: S) -> Result<S::Ok, S::Error> {
        match addr {
            Some(addr) => s.collect_str(addr),
            None => s.serialize_str(""),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
        let text = String::deserialize(d)?;
        if text.is_empty() {
            return Ok(None);
        }
        text.parse().map(Some).map_err(|e| serde::de::Error::custom(format!("`{text}`: {e} (an address like 127.0.0.1:7800, or \"\" for none)")))
    }
}

fn default_listen() -> SocketAddr {
    DEFAULT_LISTEN.parse().expect("default listen address parses")
}

/// Default log origin, for a node started without a config.
pub const DEFAULT_ORIGIN: &str = "localhost/comity-log";

fn default_origin() -> String {
    DEFAULT_ORIGIN.into()
}

fn default_mirror_interval() -> u64 {
    1000
}

fn default_witnesses_per_checkpoint() -> usize {
    5
}

fn default_checkpoint_interval() -> u64 {
    60
}

fn default_metrics_listen() -> Option<SocketAddr> {
    Some(DEFAULT_METRICS_LISTEN.parse().expect("default metrics listen address parses"))
}

fn default_http_listen() -> Option<SocketAddr> {
    Some(DEFAULT_HTTP_LISTEN.parse().expect("default HTTP listen address parses"))
}

fn default_data_dir() -> PathBuf {
    PathBuf::from(DEFAULT_DATA_DIR)
}

fn default_true() -> bool {
    true
}

fn default_max_staleness() -> u64 {
    comity_proto::verdict::DEFAULT_MAX_STALENESS_SECS
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            http_listen: default_http_listen(),
            metrics_listen: default_metrics_listen(),
            data_dir: default_data_dir(),
            origin: default_origin(),
            log_key_file: None,
            witness_name: None,
            witness_key_file: None,
            checkpoint_interval_secs: default_checkpoint_interval(),
            scrub_interval_secs: default_scrub_interval(),
            store_engine: Default::default(),
            authorities: Vec::new(),
            peers: Vec::new(),
            trusted: Vec::new(),
            trust_file: None,
            consortium_file: None,
            max_staleness_secs: default_max_staleness(),
            relay_paths: true,
            mesh: Mesh::Auto,
            tls: None,
            insecure_plaintext: false,
            mirror_interval_ms: default_mirror_interval(),
            witnesses_per_checkpoint: default_witnesses_per_checkpoint(),
            limits: Limits::default(),
        }
    }
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("read config {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("config {path}: {message}")]
    Parse { path: String, message: String },
    #[error("config: {0}")]
    Invalid(String),
}

impl Config {
    /// Parses TOML text (`path` is only for messages) and checks it.
    pub fn from_toml(text: &str, path: &str) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(text).map_err(|e| ConfigError::Parse { path: path.into(), message: e.to_string() })?;
        config.check()?;
        Ok(config)
    }

    /// Reads a TOML file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: shown.clone(), source })?;
        Self::from_toml(&text, &shown)
    }

    /// Where the store lives inside the data directory.
    pub fn store_dir(&self) -> PathBuf {
        self.data_dir.join("store")
    }

    /// The log key file.
    pub fn log_key_path(&self) -> PathBuf {
        self.log_key_file.clone().unwrap_or_else(|| self.data_dir.join("log.key"))
    }

    /// The witness key file.
    pub fn witness_key_path(&self) -> PathBuf {
        self.witness_key_file.clone().unwrap_or_else(|| self.data_dir.join("witness.key"))
    }

    /// This node's witness name.
    pub fn witness_name(&self) -> String {
        self.witness_name.clone().unwrap_or_else(|| format!("{}/witness", self.origin.split('/').next().unwrap_or(&self.origin)))
    }

    /// The witness keys of the peers that have one (checked by [`Config::check`]).
    pub fn peer_witnesses(&self) -> Vec<(PeerConfig, comity_proto::witness::WitnessVerifier)> {
        self.peers.iter().filter_map(|p| Some((p.clone(), p.witness_key.as_deref()?.parse().ok()?))).collect()
    }

    /// The peers this node connects to (see [`Mesh`]): all of them, or with `mesh = "half"`
    /// those whose logs follow this node's in the ring of all members' logs, ordered by
    /// SHA-256 of the origin, for half the ring. Every log that does not is one hop away: some
    /// member this node connects to connects to its origin.
    pub fn dialed_peers(&self) -> Vec<PeerConfig> {
        if self.effective_mesh() == Mesh::Full {
            return self.peers.clone();
        }
        let ring = self.ring();
        self.peers.iter().filter(|p| dials(&ring, &self.origin, p.origin())).cloned().collect()
    }

    /// How often this node's idle log re-signs its checkpoint: `checkpoint_interval_secs`,
    /// stretched in a consortium of more than [`HEARTBEATS_PER_INTERVAL`] + 1 members so that a
    /// node receives at most that many heartbeats per interval however many members there are.
    pub fn heartbeat_interval_secs(&self) -> u64 {
        let others = self.ring().len().saturating_sub(1).max(1) as u64;
        self.checkpoint_interval_secs * others.div_ceil(HEARTBEATS_PER_INTERVAL)
    }

    /// `mesh` with `auto` resolved by the number of members (this node and its peers' logs).
    pub fn effective_mesh(&self) -> Mesh {
        self.mesh_for(self.ring().len())
    }

    /// `mesh` with `auto` resolved for a consortium of `members`.
    pub fn mesh_for(&self, members: usize) -> Mesh {
        match self.mesh {
            Mesh::Auto if members <= FULL_MESH_UP_TO => Mesh::Full,
            Mesh::Auto => Mesh::Half,
            chosen => chosen,
        }
    }

    /// Every member's log origin (this node's and its peers'), in ring order.
    pub fn ring(&self) -> Vec<String> {
        ring(self.peers.iter().map(|p| p.origin().to_string()).chain([self.origin.clone()]))
    }

    /// Checks ids and keys, so a bad config fails at start rather than at the first publish.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.origin.is_empty() || self.origin.len() > 256 || self.origin.contains(|c: char| c.is_whitespace() || c == '+') {
            return Err(ConfigError::Invalid(format!("origin `{}` must be non-empty, without spaces or '+', e.g. registry.bafa.example/log", self.origin)));
        }
        if self.checkpoint_interval_secs == 0 {
            return Err(ConfigError::Invalid("checkpoint_interval_secs must be positive".into()));
        }
        for (i, a) in self.authorities.iter().enumerate() {
            if !is_authority_id(&a.id) {
                return Err(ConfigError::Invalid(format!("authority[{i}].id `{}` is not a lowercase dotted id like de.bafa", a.id)));
            }
            if self.authorities[..i].iter().any(|b| b.id == a.id) {
                return Err(ConfigError::Invalid(format!("authority `{}` is configured twice", a.id)));
            }
            for k in &a.keys {
                parse_public_key(k).map_err(|m| ConfigError::Invalid(format!("authority `{}`: {m}", a.id)))?;
            }
        }
        for (i, p) in self.peers.iter().enumerate() {
            let key: comity_proto::log::LogVerifier = p.log_key.parse().map_err(|e| ConfigError::Invalid(format!("peer `{}`: log_key: {e}", p.id)))?;
            if key.name() == self.origin {
                return Err(ConfigError::Invalid(format!("peer `{}` has this node's own origin `{}`", p.id, self.origin)));
            }
            if let Some(w) = &p.witness_key {
                w.parse::<comity_proto::witness::WitnessVerifier>().map_err(|e| ConfigError::Invalid(format!("peer `{}`: witness_key: {e}", p.id)))?;
            }
            if self.peers[..i].iter().any(|q| q.id == p.id) {
                return Err(ConfigError::Invalid(format!("peer `{}` is configured twice", p.id)));
            }
        }
        for a in &self.trusted {
            for k in &a.keys {
                parse_public_key(k).map_err(|m| ConfigError::Invalid(format!("trusted authority `{}`: {m}", a.id)))?;
            }
        }
        if self.mirror_interval_ms == 0 {
            return Err(ConfigError::Invalid("mirror_interval_ms must be positive".into()));
        }
        if self.limits.max_publish_batch == 0
            || self.limits.concurrency_per_connection == 0
            || self.limits.concurrency_per_client == 0
            || self.limits.mirror_entries_per_part == 0
            || self.limits.handshake_timeout_secs == 0
        {
            return Err(ConfigError::Invalid("limits must be positive".into()));
        }
        Ok(())
    }

    /// Keys that may sign decisions this node accepts, hosted or trusted, by authority.
    pub fn known_keys(&self) -> std::collections::HashMap<String, Vec<VerifyingKey>> {
        let mut keys: std::collections::HashMap<String, Vec<VerifyingKey>> = std::collections::HashMap::new();
        for a in self.authorities.iter().chain(&self.trusted) {
            keys.entry(a.id.clone()).or_default().extend(a.keys.iter().filter_map(|k| parse_public_key(k).ok()));
        }
        keys
    }

    /// The trust file in use, if any.
    pub fn trust_file_path(&self) -> Option<PathBuf> {
        match &self.trust_file {
            Some(path) => Some(path.clone()),
            None => Some(self.data_dir.join("trust.toml")).filter(|p| p.exists()),
        }
    }

    /// The root keys pinned by the trust file (none without one), and a check that every
    /// hosted authority has some way to sign: configured keys or root keys.
    pub fn trust_roots(&self) -> Result<std::collections::HashMap<String, comity_proto::trust::Roots>, ConfigError> {
        let roots = match self.trust_file_path() {
            None => Default::default(),
            Some(path) => comity_proto::trust::TrustFile::read(&path).and_then(|f| f.roots()).map_err(|e| ConfigError::Invalid(e.to_string()))?,
        };
        if let Some(a) = self.authorities.iter().find(|a| a.keys.is_empty() && !roots.contains_key(&a.id)) {
            return Err(ConfigError::Invalid(format!("authority `{}` has no keys and no root keys in a trust file (trust_file)", a.id)));
        }
        Ok(roots)
    }

    /// TOML text of this config.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("config serialises")
    }
}

/// How the members of a consortium connect (config `mesh`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mesh {
    /// Full up to [`FULL_MESH_UP_TO`] members, half beyond.
    #[default]
    Auto,
    /// Every node connects to every peer.
    Full,
    /// Every node connects to the next half of the ring of members.
    Half,
}

/// The most heartbeats (idle logs' re-signed checkpoints) a node receives per
fn default_scrub_interval() -> u64 {
    24 * 3600
}

/// `checkpoint_interval_secs`: larger consortia re-sign less often (see
/// [`Config::heartbeat_interval_secs`]), which bounds a node's idle work by this, not by the
/// number of members.
pub const HEARTBEATS_PER_INTERVAL: u64 = 16;

/// The largest consortium `mesh = "auto"` connects in a full mesh: there 2(n − 1) connections
/// per node stay within members + 8, and every log is fetched from its origin.
pub const FULL_MESH_UP_TO: usize = 10;

/// The members' log origins in ring order (see [`Mesh::Half`]).
pub fn ring(origins: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut ring: Vec<String> = origins.into_iter().collect();
    ring.sort_by_key(|o| ring_position(o));
    ring.dedup();
    ring
}

/// A log's place in the ring of members: SHA-256 of its origin, so no member picks its place.
fn ring_position(origin: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(origin.as_bytes()).into()
}

/// Whether the node running log `from` connects to the one running log `to` in a half mesh
/// over `ring` (sorted by [`ring_position`]): `to` is among the next ⌈(n − 1)/2⌉ members
/// after `from`. Each pair is then connected once (twice only for the opposite member of an
/// even ring), and for any member `to` that `from` does not connect to, some member `from`
/// connects to does.
pub fn dials(ring: &[String], from: &str, to: &str) -> bool {
    let n = ring.len();
    let (Some(a), Some(b)) = (ring.iter().position(|o| o == from), ring.iter().position(|o| o == to)) else { return true };
    let distance = (b + n - a) % n;
    distance >= 1 && distance <= n / 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeats_stretch_with_the_consortium_so_a_node_receives_a_bounded_number() {
        let with_members = |n: usize| {
            let peers = (1..n)
                .map(|i| PeerConfig {
                    id: format!("m{i}"),
                    url: format!("http://m{i}.example:7700"),
                    log_key: format!("registry.m{i}.example/log+01234567+AAAA"),
                    witness_key: None,
                    tls_name: None,
                    relay: false,
                })
                .collect();
            Config { origin: "registry.m0.example/log".into(), checkpoint_interval_secs: 60, peers, ..Config::default() }
        };
        for (members, interval) in [(1, 60), (2, 60), (17, 60), (18, 120), (42, 180), (100, 420)] {
            assert_eq!(with_members(members).heartbeat_interval_secs(), interval, "{members} members");
        }
        for members in [17, 18, 42, 100, 1000] {
            let per_interval = (members - 1) as f64 * 60.0 / with_members(members).heartbeat_interval_secs() as f64;
            assert!(per_interval <= HEARTBEATS_PER_INTERVAL as f64, "{members} members: {per_interval} heartbeats per interval");
        }
    }

    #[test]
    fn a_half_mesh_connects_each_pair_about_once_and_leaves_every_log_one_hop_away() {
        for n in 2..=60 {
            let ring = ring((0..n).map(|i| format!("registry.m{i}.example/log")));
            for from in &ring {
                let dialled = ring.iter().filter(|to| *to != from && dials(&ring, from, to)).count();
                assert_eq!(dialled, n / 2, "{n} members");
                for to in ring.iter().filter(|to| *to != from) {
                    // Each pair is connected at least once ...
                    assert!(dials(&ring, from, to) || dials(&ring, to, from), "{n} members: {from} and {to} never meet");
                    // ... and a log not fetched from its origin comes through a member that does.
                    let through = ring.iter().any(|via| via != from && via != to && dials(&ring, from, via) && dials(&ring, via, to));
                    assert!(dials(&ring, from, to) || through, "{n} members: {to} is more than one hop from {from}");
                }
            }
        }
    }

    #[test]
    fn empty_file_gives_embedded_defaults() {
        let c = Config::from_toml("", "t.toml").unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
    }

    #[test]
    fn round_trips_and_rejects_unknown_fields_and_bad_keys() {
        let key = comity_proto::keyfile::KeyFile::generate("de.bafa").public_key;
        let mut c = Config::default();
        c.authorities.push(AuthorityConfig { id: "de.bafa".into(), name: "BAFA".into(), keys: vec![key] });
        assert_eq!(Config::from_toml(&c.to_toml(), "t").unwrap(), c);

        let err = Config::from_toml("lissen = \"1.2.3.4:5\"", "t.toml").unwrap_err().to_string();
        assert!(err.contains("lissen"), "{err}");
        let weak = format!("[[authority]]\nid = \"de.bafa\"\nkeys = [\"01{}\"]\n", "00".repeat(31));
        assert!(Config::from_toml(&weak, "t").unwrap_err().to_string().contains("weak"));
        let bad_id = "[[authority]]\nid = \"BAFA\"\nkeys = []\n";
        assert!(Config::from_toml(bad_id, "t").unwrap_err().to_string().contains("BAFA"));
    }

    #[test]
    fn http_views_are_turned_off_with_an_empty_address_and_stay_off_through_a_round_trip() {
        let c = Config::from_toml("http_listen = \"\"\nmetrics_listen = \"127.0.0.1:9\"\n", "t").unwrap();
        assert_eq!((c.http_listen, c.metrics_listen), (None, Some("127.0.0.1:9".parse().unwrap())));
        assert_eq!(Config::from_toml(&c.to_toml(), "t").unwrap(), c);
        let err = Config::from_toml("metrics_listen = \"localhost\"", "t").unwrap_err().to_string();
        assert!(err.contains("`localhost`"), "{err}");
    }
}
