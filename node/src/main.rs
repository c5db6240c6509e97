//! `comity-node`: initialise, run, or demo a Comity registry node.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use comity_node::config::{
    AuthorityConfig, Config, CONFIG_FILE_NAME, DEFAULT_DATA_DIR, DEFAULT_HTTP_LISTEN, DEFAULT_LISTEN, DEFAULT_METRICS_LISTEN, DEFAULT_ORIGIN,
};
use comity_node::log::{load_or_create_key, load_or_create_witness_key};
use comity_node::ops::demo;
use comity_node::RunningNode;
use comity_proto::keyfile::KeyFile;
use tokio::net::TcpListener;

// `--features system-allocator` leaves the C allocator in place, so heap profilers that
// intercept malloc (heaptrack) see the node's memory (BENCHMARKS.md, Storage at scale).
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static ALLOCATOR: comity_node::Allocator = comity_node::Allocator;

/// Comity registry node: holds signed export-licence decisions and serves them over gRPC.
#[derive(Parser)]
#[command(name = "comity-node", bin_name = "comity-node", version, about, after_help = EXIT_CODES)]
struct Cli {
    /// Log output format.
    #[arg(long, global = true, env = "COMITY_LOG_FORMAT", default_value = "text", ignore_case = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

/// What `main` returns, for `--help`.
const EXIT_CODES: &str = "\
Exit codes:
  0  success (`run` and `demo`: stopped by Ctrl-C or SIGTERM; `check`: the store is consistent)
  1  failure; the message on stderr says why
  2  usage error
  3  `check` found differences (with --repair: even when it repaired them all)";

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Create a data directory with a config file and signing keys for the given authorities.
    Init {
        /// Data directory to create (the config names it, and the files in it, by absolute path).
        #[arg(long, env = "COMITY_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        /// Authority to host, as ID or ID=Display name (repeatable), e.g. `de.bafa=BAFA`.
        #[arg(long = "authority")]
        authorities: Vec<String>,
        /// gRPC listen address written into the config. The web (tiles) and metrics addresses
        /// get the same IP and this port + 100 and + 200 (the defaults 7700, 7800, 7900), so
        /// nodes initialised with different ports on one host do not collide.
        #[arg(long, default_value = DEFAULT_LISTEN)]
        listen: SocketAddr,
        /// The log's origin, naming this node's log forever [default: FIRST-AUTHORITY.registry/log].
        #[arg(long)]
        origin: Option<String>,
        /// Consortium CA directory (from `comity-node ca init`): issue this node's TLS key and
        /// certificate from it, for the origin's host name, and configure TLS.
        #[arg(long)]
        tls_ca: Option<PathBuf>,
    },
    /// Rebuild this node's own log from a peer that mirrors it, when the store is damaged (the
    /// node must be stopped; the damaged store is kept aside as DATA_DIR/store.damaged-TIME).
    Recover {
        /// Config file [default: DATA_DIR/comity.toml].
        #[arg(long, env = "COMITY_CONFIG")]
        config: Option<PathBuf>,
        /// Data directory of the stopped node (overrides the config file).
        #[arg(long, env = "COMITY_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// URL of a peer that mirrors this node's log.
        #[arg(long)]
        from: String,
        /// The name the peer's certificate must be valid for (https:// peers).
        #[arg(long, default_value = "")]
        tls_name: String,
    },
    /// Take a consistent snapshot of the running node's store into a new directory on this
    /// machine (asks the node, which writes it between batches).
    Backup {
        /// Config file of the running node [default: DATA_DIR/comity.toml].
        #[arg(long, env = "COMITY_CONFIG")]
        config: Option<PathBuf>,
        /// Data directory of the running node (overrides the config file).
        #[arg(long, env = "COMITY_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// New directory for the snapshot.
        #[arg(long)]
        to: PathBuf,
    },
    /// Check a backup (own log root against its signed checkpoint, mirrored roots, every
    /// statement's hash and signatures) and restore it into this node's empty data dir.
    Restore {
        /// Config file [default: DATA_DIR/comity.toml].
        #[arg(long, env = "COMITY_CONFIG")]
        config: Option<PathBuf>,
        /// Data directory of the stopped node, without a store yet (overrides the config file).
        #[arg(long, env = "COMITY_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// The backup directory.
        #[arg(long)]
        from: PathBuf,
    },
    /// Export a log (the node's own, or one it mirrors) from a running node, up to its latest
    /// signed checkpoint, into one portable file for `comity-node import`.
    ///
    /// The file holds the signed checkpoint (with its cosignatures) and every entry's envelope
    /// exactly as logged; the entries are checked to hash to the checkpoint's root before the
    /// file is complete.
    Export {
        /// URL of the running node (http:// for plaintext; https:// uses the config's [tls]).
        #[arg(long)]
        from: String,
        /// Origin of the log to export [default: the node's own log].
        #[arg(long)]
        origin: Option<String>,
        /// The file to write (it must not exist).
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: PathBuf,
        /// Config file whose [tls] reaches https:// nodes [default: DATA_DIR/comity.toml when it exists].
        #[arg(long, env = "COMITY_CONFIG")]
        config: Option<PathBuf>,
        /// Data directory whose comity.toml is that config.
        #[arg(long, env = "COMITY_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// The name the node's certificate must be valid for [default: the URL's host].
        #[arg(long)]
        tls_name: Option<String>,
    },
    /// Import a log export file into this node, stopped, as its mirror of that peer's log.
    ///
    /// The log's origin must be a [[peer]] in the config; its own log is refused. Nothing is
    /// written unless the whole file checks out: the checkpoint signed by the peer's pinned log
    /// key, the root recomputed from every entry, agreement with the entries of that log held
    /// here. The entries are then verified and stored as a mirror stores them (signatures, key
    /// standing, licence rules). Started again, the node catches up the rest from the peer.
    Import {
        /// The export file.
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
        /// Config file [default: DATA_DIR/comity.toml].
        #[arg(long, env = "COMITY_CONFIG")]
        config: Option<PathBuf>,
        /// Data directory of the stopped node (overrides the config file).
        #[arg(long, env = "COMITY_DATA_DIR")]
        data_dir: Option<PathBuf>,
    },
    /// A consortium's certificate authority for node TLS certificates.
    Ca {
        #[command(subcommand)]
        command: CaCommand,
    },
    /// Serve the registry.
    Run {
        /// Config file [default: DATA_DIR/comity.toml when it exists, else embedded defaults].
        #[arg(long, env = "COMITY_CONFIG")]
        config: Option<PathBuf>,
        /// Data directory (overrides the config file).
        #[arg(long, env = "COMITY_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// Listen address (overrides the config file).
        #[arg(long, env = "COMITY_LISTEN")]
        listen: Option<SocketAddr>,
        /// HTTP listen address of the tlog-tiles view (overrides the config file).
        #[arg(long, env = "COMITY_HTTP_LISTEN")]
        http_listen: Option<SocketAddr>,
        /// Serve plaintext gRPC without TLS, for development only (logs a warning).
        #[arg(long, env = "COMITY_INSECURE_PLAINTEXT")]
        insecure_plaintext: bool,
        /// HTTP listen address of the Prometheus metrics (overrides the config file).
        #[arg(long, env = "COMITY_METRICS_LISTEN")]
        metrics_listen: Option<SocketAddr>,
    },
    /// Lift the freeze on a mirrored log (the node must be stopped). The evidence stays; if the
    /// peer still contradicts itself, the next round freezes the log again.
    Unfreeze {
        /// Data directory of the stopped node.
        #[arg(long, env = "COMITY_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        /// Origin of the frozen log.
        origin: String,
    },
    /// Re-derive licence summaries, search index entries and stored Merkle hashes from the
    /// logged statements of a stopped node, and report every difference (exit 3 when any).
    ///
    /// With --repair, licence summaries and their index entries are rewritten from the log.
    /// Stored tree hashes are never repaired here: a wrong one means the store is damaged, and
    /// `comity-node recover` rebuilds it from a peer that mirrors this node's log.
    Check {
        /// Data directory of the stopped node.
        #[arg(long, env = "COMITY_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        /// Rewrite the licence summaries and search index entries that differ from the log.
        #[arg(long)]
        repair: bool,
    },
    /// Print this node's `[[member]]` entry for a consortium file (its URL, log and witness
    /// keys, and the authorities it hosts): append it to the file the members share, and every
    /// node naming that file (`consortium_file`) mirrors, witnesses and trusts this one.
    Member {
        /// Config file [default: DATA_DIR/comity.toml].
        #[arg(long, env = "COMITY_CONFIG")]
        config: Option<PathBuf>,
        /// Data directory whose comity.toml is that config.
        #[arg(long, env = "COMITY_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// The URL the other members reach this node's gRPC port at, e.g.
        /// https://registry.bafa.example:7700.
        #[arg(long)]
        url: String,
        /// Short name for this member [default: the first label of the origin's host].
        #[arg(long)]
        id: Option<String>,
    },
    /// Start a node with sample authorities and a realistic data set, and print what to try.
    Demo {
        /// Directory for the demo's keys, configs and data (re-created on every run).
        #[arg(long, default_value = "./comity-demo")]
        dir: PathBuf,
        /// gRPC address of the first node; the others use the next ports (7700, 7701, 7702),
        /// and the tiles views those ports + 100 (7800–7802); port 0 picks free ports for all.
        #[arg(long, env = "COMITY_LISTEN", default_value = DEFAULT_LISTEN)]
        listen: SocketAddr,
    },
    /// Print a shell completion script, e.g.
    /// `comity-node completion bash > ~/.local/share/bash-completion/completions/comity-node`.
    Completion {
        /// The shell to complete in.
        #[arg(ignore_case = true)]
        shell: clap_complete::Shell,
    },
}

#[derive(Subcommand)]
enum CaCommand {
    /// Create the CA: DIR/ca.crt (give it to every member) and DIR/ca.key (keep it offline).
    Init {
        /// Directory to create the CA in.
        #[arg(long)]
        dir: PathBuf,
        /// The CA's name, e.g. "EU-Japan export-control registry consortium".
        #[arg(long, default_value = "Comity consortium CA")]
        name: String,
    },
    /// Issue a member node's key and certificate for its DNS name (server and client use).
    Issue {
        /// CA directory.
        #[arg(long)]
        dir: PathBuf,
        /// The node's DNS name, e.g. registry.bafa.example (peers configure it as `tls_name`).
        #[arg(long)]
        name: String,
        /// Where to write node.crt and node.key.
        #[arg(long)]
        out: PathBuf,
    },
    /// Revoke a member node's certificate (a leaked key, a member leaving): writes DIR/crl.pem,
    /// which every member sets as `[tls] crl_file`.
    Revoke {
        /// CA directory.
        #[arg(long)]
        dir: PathBuf,
        /// The certificate to revoke (PEM, as `ca issue` wrote it).
        #[arg(long)]
        cert: PathBuf,
    },
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    // Export and import print progress and a summary; the writer's per-part log lines would
    // only interleave with them.
    let default_level = if matches!(cli.command, Command::Export { .. } | Command::Import { .. }) { "warn" } else { "info" };
    init_tracing(cli.log_format, default_level);
    if let Err(e) = run(cli.command).await {
        eprintln!("comity-node: {e:#}");
        std::process::exit(1);
    }
}

fn init_tracing(format: LogFormat, default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("COMITY_LOG").unwrap_or_else(|_| default_level.into());
    // Colour only for a person at a terminal: journald, `docker logs` and files get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Completion { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "comity-node", &mut std::io::stdout());
            Ok(())
        }
        Command::Init { data_dir, authorities, listen, origin, tls_ca } => init(&data_dir, &authorities, listen, origin, tls_ca.as_deref()),
        Command::Recover { config, data_dir, from, tls_name } => {
            let config = node_config(config.as_deref(), data_dir)?;
            let recovered = comity_node::ops::recover::recover_own_log(&config, &from, &tls_name).await?;
            println!(
                "recovered {} entries of {} from {from}; the damaged store is in {}; start the node again",
                recovered.entries,
                config.origin,
                recovered.damaged_store.display()
            );
            Ok(())
        }
        Command::Backup { config, data_dir, to } => {
            let config = node_config(config.as_deref(), data_dir)?;
            let to = std::path::absolute(&to)?;
            let answer = comity_node::ops::recover::request_backup(&config, &to).await?;
            println!("backup of {} written to {}: {} records, own log at {} entries", config.origin, to.display(), answer.records, answer.log_size);
            Ok(())
        }
        Command::Restore { config, data_dir, from } => {
            let config = node_config(config.as_deref(), data_dir)?;
            let restored = comity_node::ops::recover::restore_backup(&config, &from)?;
            println!("backup checked and restored: {} statements, own log at {} entries; start the node", restored.statements, restored.log_size);
            Ok(())
        }
        Command::Export { from, origin, output, config, data_dir, tls_name } => {
            let config = find_config(config.as_deref(), data_dir.as_deref())?.unwrap_or_default();
            let exported =
                comity_node::ops::transfer::export_log(&config, &from, tls_name.as_deref().unwrap_or_default(), origin.as_deref().unwrap_or_default(), &output)
                    .await?;
            println!(
                "exported {} entries of {} ({}, root {}) from {from} to {} in {:.1} s",
                exported.entries,
                exported.origin,
                indicatif::HumanBytes(exported.bytes),
                hex::encode(exported.root),
                output.display(),
                exported.elapsed.as_secs_f64()
            );
            Ok(())
        }
        Command::Import { file, config, data_dir } => {
            let config = node_config(config.as_deref(), data_dir)?;
            let imported = comity_node::ops::transfer::import_log(&config, &file).await?;
            if imported.entries == 0 {
                println!(
                    "nothing to import: this node holds {} entries of {}, and the file's {} agree with them",
                    imported.held_before, imported.origin, imported.log_size
                );
            } else {
                println!(
                    "imported {} entries of {} ({}, now {} entries, root {}) in {:.1} s; start the node to catch up the rest from its peers",
                    imported.entries,
                    imported.origin,
                    indicatif::HumanBytes(imported.bytes),
                    imported.log_size,
                    hex::encode(imported.root),
                    imported.elapsed.as_secs_f64()
                );
            }
            Ok(())
        }
        Command::Ca { command: CaCommand::Init { dir, name } } => {
            comity_node::ops::ca::ca_init(&dir, &name)?;
            println!(
                "CA \"{name}\": certificate {} (give it to every member and client), key {} (keep it offline)",
                dir.join(comity_node::net::tls::CA_CERT).display(),
                dir.join(comity_node::net::tls::CA_KEY).display()
            );
            Ok(())
        }
        Command::Ca { command: CaCommand::Issue { dir, name, out } } => {
            comity_node::ops::ca::ca_issue(&dir, &name, &out)?;
            println!(
                "certificate for {name}: {} and key {}",
                out.join(comity_node::net::tls::NODE_CERT).display(),
                out.join(comity_node::net::tls::NODE_KEY).display()
            );
            Ok(())
        }
        Command::Ca { command: CaCommand::Revoke { dir, cert } } => {
            let revoked = comity_node::ops::ca::ca_revoke(&dir, &cert)?;
            println!("revoked certificate {} ({}); {} certificate(s) on the list", revoked.serial, revoked.names.join(", "), revoked.listed);
            println!(
                "give {} to every member, in place of the file its [tls] crl_file names: its next connections refuse that certificate",
                dir.join(comity_node::net::tls::CA_CRL).display()
            );
            Ok(())
        }
        Command::Run { config, data_dir, listen, http_listen, insecure_plaintext, metrics_listen } => {
            let mut config = load_config(config.as_deref(), data_dir.as_deref())?;
            config.insecure_plaintext |= insecure_plaintext;
            if metrics_listen.is_some() {
                config.metrics_listen = metrics_listen;
            }
            if let Some(data_dir) = data_dir {
                config.data_dir = data_dir;
            }
            if let Some(listen) = listen {
                config.listen = listen;
            }
            if http_listen.is_some() {
                config.http_listen = http_listen;
            }
            comity_node::net::connections::raise_open_file_limit();
            let listener = TcpListener::bind(config.listen).await.with_context(|| format!("listen on {}", config.listen))?;
            let node = RunningNode::start(config, listener).await?;
            // Scripts and tests started with port 0 read the real addresses from these lines.
            println!("listening on {}", node.addr());
            if let Some(http) = node.http_addr() {
                println!("tiles on http://{http}");
            }
            if let Some(metrics) = node.metrics_addr() {
                println!("metrics on http://{metrics}/metrics");
            }
            serve_until_signal(node).await
        }
        Command::Member { config, data_dir, url, id } => {
            let config = node_config(config.as_deref(), data_dir)?;
            // `bafa` for a node hosting de.bafa; else the origin's host.
            let host = config.origin.split('/').next().unwrap_or_default();
            let id = id.or_else(|| config.authorities.first().and_then(|a| a.id.rsplit('.').next()).map(str::to_string)).unwrap_or_else(|| host.to_string());
            let member = comity_node::federation::consortium::member_entry(&config, &id, &url)?;
            let file = comity_node::federation::consortium::ConsortiumFile { name: String::new(), members: vec![member] };
            print!("{}", file.to_toml().replace("name = \"\"\n", "").trim_start());
            Ok(())
        }
        Command::Unfreeze { data_dir, origin } => {
            let config = Config { data_dir, ..Config::default() };
            let store = comity_node::store::Store::open(&config.store_dir())?;
            if store.unfreeze(&origin)? {
                println!("{origin}: unfrozen; the evidence is kept (comity evidence shows it)");
            } else {
                println!("{origin}: was not frozen");
            }
            Ok(())
        }
        Command::Check { data_dir, repair } => {
            let config = Config { data_dir: data_dir.clone(), ..Config::default() };
            let store = comity_node::store::Store::open(&config.store_dir())?;
            let report = comity_node::ops::check::check_store(&store, repair)?;
            for line in &report.differences {
                println!("{line}");
            }
            for line in &report.repaired {
                println!("repaired {line}");
            }
            if report.damaged_logs {
                println!(
                    "stored tree hashes are not repaired by check: the store is damaged; rebuild it with `comity-node recover --data-dir {} --from PEER_URL`",
                    data_dir.display()
                );
            }
            println!("checked {} licences in {} logs: {} differences", report.licences, report.logs, report.differences.len());
            if !report.differences.is_empty() {
                drop(store);
                std::process::exit(3);
            }
            Ok(())
        }
        Command::Demo { dir, listen } => {
            let mut listeners = Vec::new();
            let mut http = Vec::new();
            let mut metrics = Vec::new();
            for i in 0..3u16 {
                let port = |base: u16| if listen.port() == 0 { 0 } else { base + i };
                let grpc = SocketAddr::new(listen.ip(), port(listen.port()));
                listeners.push(TcpListener::bind(grpc).await.with_context(|| format!("listen on {grpc}"))?);
                http.push(Some(SocketAddr::new(listen.ip(), port(listen.port() + 100))));
                metrics.push(Some(SocketAddr::new(listen.ip(), port(listen.port() + 200))));
            }
            let demo = demo::start_with_metrics(&dir, listeners, http, metrics).await?;
            println!("{}", demo::guide(&demo));
            wait_for_signal().await;
            for n in demo.nodes {
                n.node.shutdown().await?;
            }
            Ok(())
        }
    }
}

/// The explicit config file, else `DATA_DIR/comity.toml` if present, else embedded defaults.
fn load_config(explicit: Option<&Path>, data_dir: Option<&Path>) -> anyhow::Result<Config> {
    Ok(find_config(explicit, data_dir)?.unwrap_or_else(|| {
        tracing::warn!("no config file found; using embedded defaults (no authorities hosted, so publishing is refused)");
        Config::default()
    }))
}

/// The explicit config file, else `DATA_DIR/comity.toml` if present.
fn find_config(explicit: Option<&Path>, data_dir: Option<&Path>) -> anyhow::Result<Option<Config>> {
    if let Some(path) = explicit {
        return Ok(Some(Config::from_file(path)?));
    }
    let implicit = data_dir.unwrap_or(Path::new(DEFAULT_DATA_DIR)).join(CONFIG_FILE_NAME);
    if implicit.exists() {
        return Ok(Some(Config::from_file(&implicit)?));
    }
    Ok(None)
}

/// The config of a node on this machine, with `--data-dir` overriding the file's.
fn node_config(explicit: Option<&Path>, data_dir: Option<PathBuf>) -> anyhow::Result<Config> {
    let mut config = load_config(explicit, data_dir.as_deref())?;
    if let Some(data_dir) = data_dir {
        config.data_dir = data_dir;
    }
    Ok(comity_node::federation::consortium::resolve(config)?)
}

/// The web (tiles) and metrics addresses for gRPC address `listen`: the same IP, the port + 100
/// and + 200, as the defaults are (port 0 stays 0: any free port).
fn http_and_metrics_for(listen: SocketAddr) -> anyhow::Result<(SocketAddr, SocketAddr)> {
    let port = |default: &str| default.parse::<SocketAddr>().expect("default address parses").port();
    let (web_offset, metrics_offset) = (port(DEFAULT_HTTP_LISTEN) - port(DEFAULT_LISTEN), port(DEFAULT_METRICS_LISTEN) - port(DEFAULT_LISTEN));
    let at = |offset: u16| match listen.port() {
        0 => Ok(SocketAddr::new(listen.ip(), 0)),
        port => port.checked_add(offset).map(|p| SocketAddr::new(listen.ip(), p)).with_context(|| {
            format!(
                "--listen {listen}: the web and metrics ports are the gRPC port + {web_offset} and + {metrics_offset}, past 65535; choose a port up to {}",
                u16::MAX - metrics_offset
            )
        }),
    };
    Ok((at(web_offset)?, at(metrics_offset)?))
}

fn init(data_dir: &Path, authorities: &[String], listen: SocketAddr, origin: Option<String>, tls_ca: Option<&Path>) -> anyhow::Result<()> {
    // Absolute, so the node finds its files whatever directory it is started from.
    let data_dir = &std::path::absolute(data_dir).with_context(|| format!("resolve {}", data_dir.display()))?;
    let config_path = data_dir.join(CONFIG_FILE_NAME);
    if config_path.exists() {
        anyhow::bail!("{} already exists; refusing to overwrite an initialised node", config_path.display());
    }
    let (http_listen, metrics_listen) = http_and_metrics_for(listen)?;
    let keys_dir = data_dir.join("keys");
    std::fs::create_dir_all(&keys_dir).with_context(|| format!("create {}", keys_dir.display()))?;
    let mut config =
        Config { listen, http_listen: Some(http_listen), metrics_listen: Some(metrics_listen), data_dir: data_dir.to_path_buf(), ..Config::default() };
    for spec in authorities {
        let (id, name) = spec.split_once('=').unwrap_or((spec, ""));
        if !comity_proto::decision::is_authority_id(id) {
            anyhow::bail!("--authority `{id}` is not a lowercase dotted id like de.bafa");
        }
        let key = KeyFile::generate(id);
        let key_path = keys_dir.join(format!("{id}.key"));
        key.write(&key_path)?;
        println!("authority {id}: signing key {} (key id {}) written to {}", key.public_key, key.key_id, key_path.display());
        config.authorities.push(AuthorityConfig { id: id.into(), name: name.into(), keys: vec![key.public_key] });
    }
    let first = config.authorities.first().map(|a| a.id.clone());
    config.origin = origin.unwrap_or_else(|| first.map_or(DEFAULT_ORIGIN.into(), |a| format!("{a}.registry/log")));
    config.check()?;
    let log_key = load_or_create_key(&config.log_key_path(), &config.origin)?;
    println!("log {}: verifier key {} (give it to peers and auditors)", config.origin, log_key.verifier());
    let witness_key = load_or_create_witness_key(&config.witness_key_path(), &config.witness_name())?;
    println!("witness {}: key {} (peers use it to check this node's cosignatures)", config.witness_name(), witness_key.verifier());
    let host = config.origin.split('/').next().unwrap_or("node").to_string();
    let scheme = if let Some(ca) = tls_ca {
        let tls_dir = data_dir.join("tls");
        comity_node::ops::ca::ca_issue(ca, &host, &tls_dir)?;
        std::fs::copy(ca.join(comity_node::net::tls::CA_CERT), tls_dir.join(comity_node::net::tls::CA_CERT)).context("copy the CA certificate")?;
        // The CA's revocation list, once it has revoked anything.
        let crl_file = ca.join(comity_node::net::tls::CA_CRL).exists().then(|| tls_dir.join(comity_node::net::tls::CA_CRL));
        if let Some(crl) = &crl_file {
            std::fs::copy(ca.join(comity_node::net::tls::CA_CRL), crl).context("copy the CA's revocation list")?;
        }
        config.tls = Some(comity_node::net::tls::TlsConfig {
            cert_file: tls_dir.join(comity_node::net::tls::NODE_CERT),
            key_file: tls_dir.join(comity_node::net::tls::NODE_KEY),
            ca_file: tls_dir.join(comity_node::net::tls::CA_CERT),
            require_client_certs: false,
            crl_file,
        });
        println!("TLS: certificate for {host} issued by {} in {}", ca.display(), tls_dir.display());
        "https"
    } else {
        config.insecure_plaintext = true;
        println!("no --tls-ca: the config says insecure_plaintext = true (development only; give the node a certificate for production)");
        "http"
    };
    println!("this node's entry for its peers' configs (set the URL they reach it at):");
    println!(
        "  [[peer]]\n  id = \"{}\"\n  url = \"{scheme}://{}\"\n  log_key = \"{}\"\n  witness_key = \"{}\"",
        config.origin.split('/').next().unwrap_or("node"),
        config.listen,
        log_key.verifier(),
        witness_key.verifier()
    );
    std::fs::write(&config_path, config.to_toml()).with_context(|| format!("write {}", config_path.display()))?;
    println!("config written to {}", config_path.display());
    println!("start the node with: comity-node run --data-dir {}", data_dir.display());
    Ok(())
}

/// Serves until Ctrl-C or SIGTERM, then shuts down gracefully.
async fn serve_until_signal(node: RunningNode) -> anyhow::Result<()> {
    wait_for_signal().await;
    tracing::info!("shutting down");
    Ok(node.shutdown().await?)
}

/// Returns on Ctrl-C or SIGTERM.
async fn wait_for_signal() {
    let stop = async {
        #[cfg(unix)]
        {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("install SIGTERM handler");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    };
    stop.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every argument of every subcommand, with the path of subcommands to it.
    fn all_args(command: &clap::Command, path: &str, out: &mut Vec<(String, clap::Arg)>) {
        for arg in command.get_arguments() {
            out.push((format!("{path} {}", arg.get_id()), arg.clone()));
        }
        for sub in command.get_subcommands() {
            all_args(sub, &format!("{path} {}", sub.get_name()), out);
        }
    }

    #[test]
    fn every_argument_has_help() {
        let mut command = Cli::command();
        command.build();
        let mut args = Vec::new();
        all_args(&command, "comity-node", &mut args);
        assert!(args.len() > 30, "only {} arguments found", args.len());
        let without_help: Vec<&str> = args.iter().filter(|(_, a)| a.get_help().is_none() && a.get_long_help().is_none()).map(|(p, _)| p.as_str()).collect();
        assert!(without_help.is_empty(), "arguments without help: {without_help:?}");
    }

    #[test]
    fn the_help_lists_the_exit_codes_and_the_version_names_the_command() {
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("Exit codes:\n  0  success") && help.contains("  1  failure") && help.contains("  2  usage error"), "{help}");
        assert_eq!(Cli::command().render_version().trim(), format!("comity-node {}", env!("CARGO_PKG_VERSION")));
    }
}
