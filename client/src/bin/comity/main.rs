//! `comity`: author, sign, publish, show and search signed export-licence decisions.
//!
//! Exit codes: see [`exit_codes_help`] (printed by `comity --help`) and [`exit_code`].

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use comity_client::audit::{audit_with_progress, AuditError, AuditState, AuthorityKeys};
use comity_client::{join_error_chain, node_url, read_decision_doc, CheckedLicence, Client, ClientError, DEFAULT_NODE};
use comity_proto::authoring::{format_money, format_time, parse_time, qualified_control_code, DecisionDoc};
use comity_proto::decision::CheckedDecision;
use comity_proto::keyfile::KeyFile;
use comity_proto::log::{entry_leaf_hash, proof_hashes, verify_inclusion, verify_receipt, LogVerifier, SignedCheckpoint};
use comity_proto::pb::{self, LicenceStatus};
use comity_proto::statement::{sign_decision, sign_statement, Envelope, StatementId};
use serde::Serialize;

mod consult;
mod end_use;
mod lists;
mod re_export;
mod rulings;
mod screening;
mod stats;
mod trust;
mod watch;
mod write_off;

/// Author, sign, publish and look up signed export-licence decisions on a Comity node.
#[derive(Parser)]
#[command(name = "comity", bin_name = "comity", version, about, after_help = exit_codes_help())]
struct Cli {
    /// Node to talk to: a URL, or HOST:PORT, taken as http://HOST:PORT (https:// when --ca or
    /// --tls-cert is given).
    #[arg(long, global = true, env = "COMITY_NODE", default_value = DEFAULT_NODE)]
    node: String,
    /// Print machine-readable JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    /// The node's log verifier key (name+id+key), pinned out of band. Without it, the key the
    /// node itself reports is used and the output says so (trust on first use).
    #[arg(long, global = true, env = "COMITY_LOG_KEY")]
    log_key: Option<String>,
    /// Trust file (root keys, log keys, witnesses and their quorum) to verify answers against.
    /// Without one, `verify` and `licence show` print the node's word, unverified.
    #[arg(long, global = true, env = "COMITY_TRUST")]
    trust: Option<PathBuf>,
    /// CA certificate (PEM) that issued the nodes' TLS certificates; needed for https:// nodes.
    #[arg(long, global = true, env = "COMITY_CA")]
    ca: Option<PathBuf>,
    /// This client's TLS certificate and key (PEM), for nodes that serve members only.
    #[arg(long, global = true, env = "COMITY_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// This client's TLS private key (PEM), the one of --tls-cert.
    #[arg(long, global = true, env = "COMITY_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// The name the node's certificate must be valid for [default: the host in --node].
    #[arg(long, global = true, env = "COMITY_TLS_NAME")]
    tls_name: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate a signing key for an authority (its public key goes into the node's config).
    Keygen {
        /// Authority id, e.g. de.bafa.
        #[arg(long)]
        authority: String,
        /// Key file to write [default: AUTHORITY.key].
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Sign a decision document (YAML or JSON) into an envelope file.
    Sign {
        /// Decision document (.yaml, .yml or .json).
        document: PathBuf,
        /// Signing key file.
        #[arg(long)]
        key: PathBuf,
        /// Envelope file to write [default: DOCUMENT with extension .signed].
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Publish a signed envelope, or sign and publish a decision document with --key.
    Publish {
        /// A `.signed` envelope, or a decision document (.yaml, .yml, .json).
        file: PathBuf,
        /// Signing key, required when FILE is a document.
        #[arg(long)]
        key: Option<PathBuf>,
        /// Publish the decision as confidential, readable only by the node with this log origin
        /// (repeatable), e.g. `jp.meti.registry/log`. Everyone else can prove it exists and was
        /// logged, nothing more. A confidential licence stays confidential: give it for every
        /// decision of the licence.
        #[arg(long = "audience", value_name = "ORIGIN")]
        audience: Vec<String>,
    },
    /// Licences.
    Licence {
        #[command(subcommand)]
        command: LicenceCommand,
    },
    /// Re-export chains: consent, as a licence's issuer, to a re-export licensed by another
    /// authority, or withdraw it (docs/re-export.md).
    #[command(name = "re-export")]
    ReExport {
        #[command(subcommand)]
        command: re_export::ReExportCommand,
    },
    /// Statements by id.
    Statement {
        #[command(subcommand)]
        command: StatementCommand,
    },
    /// Search licences; all given filters must match.
    Search(SearchArgs),
    /// Follow new decisions, state changes, revocations, agreements and evidence as they enter
    /// the logs the node holds; resumable with --from CURSOR or --cursor-file.
    Watch(watch::WatchArgs),
    /// Transparency report: per authority, regime, licence type and risk tier, the decisions by
    /// action, processing times (median, p90, max), denial and revocation rates and the most
    /// frequent reason codes, computed from the logs the node holds.
    Stats(stats::StatsArgs),
    /// Decode a signed envelope file locally: id, signing key ids and the decision.
    Inspect {
        /// Envelope file.
        file: PathBuf,
    },
    /// The node's peers (how far each mirror is behind, what this node cosigned, evidence) and
    /// every log it holds with its latest witness-cosigned checkpoint.
    Peers {
        /// Show progress bars until every mirror has caught up with its peer's latest checkpoint.
        #[arg(long)]
        wait: bool,
    },
    /// Evidence the node holds against authorities (licence forks) and logs (split views),
    /// and the mirrored logs it froze because of it.
    Evidence,
    /// The node's verifiable log.
    Log {
        #[command(subcommand)]
        command: LogCommand,
    },
    /// Is licence AUTHORITY/LICENCE valid for this destination, item and end user, and does the
    /// relying authority recognise it? Exit code 0 only for VALID (see `trust::verdict_exit_code`).
    Verify {
        /// e.g. de.bafa/DE-2026-004211
        licence: String,
        #[command(flatten)]
        context: trust::ContextArgs,
    },
    /// An authority's key sets: root keys, rotation, compromise.
    Keys {
        #[command(subcommand)]
        command: trust::KeysCommand,
    },
    /// Recognition agreements between authorities.
    Agreement {
        #[command(subcommand)]
        command: trust::AgreementCommand,
    },
    /// Control lists: load a version from CSV (a whole list or a review), list and show them.
    List {
        #[command(subcommand)]
        command: lists::ListCommand,
    },
    /// Crosswalks between the codes of different regimes.
    Crosswalk {
        #[command(subcommand)]
        command: lists::CrosswalkCommand,
    },
    /// A control code (e.g. EU-DU:3A001.a.1) in every list the node holds, the same item under
    /// other regimes through its crosswalks, and the licences that name any of them.
    Code {
        /// Qualified code, e.g. EU-DU:3A001.a.1 or WA:3.A.1.a.1.
        code: String,
        /// The lists in force at this date [default: now].
        #[arg(long)]
        at: Option<String>,
    },
    /// Screen a name (any script; e.g. ООО «Уральские электронные системы») against the
    /// denied-party and end-user alert lists the node holds.
    Screen {
        /// The name as written.
        name: String,
        /// ISO 3166-1 alpha-2: entries that name countries must name this one.
        #[arg(long)]
        country: Option<String>,
        /// Only this list, AUTHORITY/ID (repeatable) [default: every list held].
        #[arg(long = "list")]
        lists: Vec<String>,
        /// Lowest score shown, 50-100 [default: 85, the weak-match threshold].
        #[arg(long, default_value_t = 0, hide_default_value = true)]
        min_score: u32,
    },
    /// Classification rulings: publish, list, show, and open a confidential one.
    Ruling {
        #[command(subcommand)]
        command: rulings::RulingCommand,
    },
    /// Screening lists: publish entries and removals, list those held.
    Screening {
        #[command(subcommand)]
        command: screening::ScreeningCommand,
    },
    /// Post-shipment verification: record the outcome of an end-use check against a licence (a
    /// diverted outcome can also suspend it and list its end users for screening).
    EndUseCheck {
        #[command(subcommand)]
        command: end_use::EndUseCommand,
    },
    /// Customs: write a shipment off against a licence's balance (at the issuer's node), signed
    /// with a delegated customs key.
    WriteOff(write_off::WriteOffArgs),
    /// No-undercut consultations on partners' denials: check a draft grant, open, answer,
    /// list and show consultations (docs/consultation.md).
    Consult {
        #[command(subcommand)]
        command: consult::ConsultCommand,
    },
    /// Offline licence tokens: export, QR code, offline verification.
    Token {
        #[command(subcommand)]
        command: trust::TokenCommand,
    },
    /// Print a shell completion script, e.g.
    /// `comity completion bash > ~/.local/share/bash-completion/completions/comity`.
    Completion {
        /// The shell to complete in.
        #[arg(ignore_case = true)]
        shell: clap_complete::Shell,
    },
}

#[derive(Subcommand)]
enum LogCommand {
    /// Fetch and verify the latest signed checkpoint.
    Checkpoint,
    /// Prove that a statement is in the log, against the latest checkpoint.
    Prove {
        /// Hex statement id.
        id: String,
    },
    /// Monitor the log: verify the checkpoint, its consistency with the one seen last time,
    /// every new entry's signature, and that the entries hash to the signed root.
    Audit {
        /// State file kept between runs (created on the first run).
        #[arg(long)]
        state: PathBuf,
        /// TOML file with `[[authority]]` tables: root keys and threshold (a trust file, to
        /// check the key sets in the log) and signing keys (`keys`, as in a node's comity.toml,
        /// for authorities without a key set). Repeat to read several. The trust file given with
        /// --trust (or COMITY_TRUST) is read too, with its witnesses and quorum.
        #[arg(long)]
        keys: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
enum LicenceCommand {
    /// Current state and the whole decision chain of AUTHORITY/LICENCE.
    Show {
        /// e.g. de.bafa/DE-2026-004211
        licence: String,
    },
}

#[derive(Subcommand)]
enum StatementCommand {
    /// Show one statement by its hex id.
    Show {
        /// Hex statement id (64 digits).
        id: String,
    },
}

/// Filters on a licence's content, shared by `search` and `watch`.
#[derive(Args)]
struct ContentFilter {
    /// Words of a party name (applicant, end user, consignee), each matching a word start.
    #[arg(long)]
    party: Option<String>,
    /// Destination country (ISO 3166-1 alpha-2).
    #[arg(long)]
    destination: Option<String>,
    /// Control-code prefix, bare (3A001) or with regime (EU-DU:3A001.a).
    #[arg(long)]
    control_code: Option<String>,
}

#[derive(Args)]
struct SearchArgs {
    /// Authority id.
    #[arg(long)]
    authority: Option<String>,
    /// Licence reference prefix.
    #[arg(long)]
    licence_prefix: Option<String>,
    #[command(flatten)]
    content: ContentFilter,
    /// Current status, as printed (REVOKED, UNDER_APPEAL) or in lower case (under-appeal).
    #[arg(long, ignore_case = true)]
    status: Option<StatusArg>,
    /// Latest decision at or after this date / RFC 3339 time.
    #[arg(long)]
    decided_from: Option<String>,
    /// Latest decision before this date / RFC 3339 time.
    #[arg(long)]
    decided_until: Option<String>,
    /// Most results to print.
    #[arg(long, default_value_t = 200)]
    limit: usize,
}

/// A licence status; the aliases are the names tables print (matched ignoring case).
#[derive(Clone, Copy, ValueEnum)]
enum StatusArg {
    Issued,
    Denied,
    Suspended,
    Revoked,
    Surrendered,
    Cancelled,
    #[value(alias = "under_appeal")]
    UnderAppeal,
    Expired,
    #[value(alias = "not_yet_valid")]
    NotYetValid,
    #[value(alias = "under_review")]
    UnderReview,
    Withdrawn,
    Exhausted,
}

impl From<StatusArg> for LicenceStatus {
    fn from(s: StatusArg) -> Self {
        match s {
            StatusArg::Issued => LicenceStatus::Issued,
            StatusArg::Denied => LicenceStatus::Denied,
            StatusArg::Suspended => LicenceStatus::Suspended,
            StatusArg::Revoked => LicenceStatus::Revoked,
            StatusArg::Surrendered => LicenceStatus::Surrendered,
            StatusArg::Cancelled => LicenceStatus::Cancelled,
            StatusArg::UnderAppeal => LicenceStatus::UnderAppeal,
            StatusArg::Expired => LicenceStatus::Expired,
            StatusArg::NotYetValid => LicenceStatus::NotYetValid,
            StatusArg::UnderReview => LicenceStatus::UnderReview,
            StatusArg::Withdrawn => LicenceStatus::Withdrawn,
            StatusArg::Exhausted => LicenceStatus::Exhausted,
        }
    }
}

/// A local input problem (exit code 3).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct InputError(String);

#[tokio::main]
async fn main() -> ExitCode {
    // Ended quietly by SIGPIPE when the reader goes away (`comity search ... | head`), as other
    // Unix tools are, instead of panicking on a failed print.
    sigpipe::reset();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        // A verdict other than VALID was printed already; only the exit code says more.
        Err(e) if e.downcast_ref::<trust::NotValid>().is_some() => ExitCode::from(exit_code(&e)),
        Err(e) => {
            eprintln!("comity: {}", join_error_chain(e.chain().map(|e| e.to_string())));
            ExitCode::from(exit_code(&e))
        }
    }
}

/// The exit codes, for `--help`; the verdict codes come from [`trust::verdict_exit_code`].
fn exit_codes_help() -> String {
    let verdicts: Vec<String> = (pb::Verdict::NotFound as i32..)
        .map_while(|v| pb::Verdict::try_from(v).ok())
        .map(|v| format!("{} {}", trust::verdict_exit_code(v), v.as_str_name().trim_start_matches("VERDICT_")))
        .collect();
    format!(
        "\
Exit codes:
  0    success
  1    other failure
  2    usage error
  3    input refused: invalid document, envelope or signature
  4    permission denied
  5    licence rules violated (FAILED_PRECONDITION), including forks
  6    not found
  7    node unreachable or unavailable
  8    the node's answer failed local verification
  9    log audit failed: the log rewrote or forked its history, or serves entries it did not log
  10   verify: the node's verdict is not the one its own proof supports
  20+n verify, token verify: a verdict other than VALID, n its number:
{}",
        verdicts.chunks(5).map(|c| format!("       {}", c.join(", "))).collect::<Vec<_>>().join("\n")
    )
}

fn exit_code(e: &anyhow::Error) -> u8 {
    if e.downcast_ref::<InputError>().is_some() {
        return 3;
    }
    if let Some(trust::NotValid(verdict)) = e.downcast_ref::<trust::NotValid>() {
        return trust::verdict_exit_code(*verdict);
    }
    if let Some(a) = e.downcast_ref::<AuditError>() {
        return match a {
            AuditError::Failed(_) => 9,
            AuditError::Client(c) => client_exit_code(c),
        };
    }
    e.downcast_ref::<ClientError>().map_or(1, client_exit_code)
}

fn client_exit_code(e: &ClientError) -> u8 {
    match e {
        ClientError::Status(s) => match s.code() {
            tonic::Code::InvalidArgument => 3,
            tonic::Code::PermissionDenied | tonic::Code::Unauthenticated => 4,
            tonic::Code::FailedPrecondition => 5,
            tonic::Code::NotFound => 6,
            tonic::Code::Unavailable | tonic::Code::DeadlineExceeded => 7,
            _ => 1,
        },
        ClientError::Connect { .. } => 7,
        ClientError::Verification(_) => 8,
        ClientError::Mismatch { .. } => 10,
        ClientError::Document(_) => 3,
    }
}

async fn run(mut cli: Cli) -> anyhow::Result<()> {
    if let Some(ca) = &cli.ca {
        comity_client::set_default_tls(comity_client::ClientTls {
            ca: ca.clone(),
            cert: cli.tls_cert.clone(),
            key: cli.tls_key.clone(),
            domain: cli.tls_name.clone(),
        });
    }
    cli.node = node_url(&cli.node, cli.ca.is_some() || cli.tls_cert.is_some());
    match cli.command {
        Command::Completion { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "comity", &mut std::io::stdout());
            Ok(())
        }
        Command::Keygen { authority, output } => keygen(&authority, output),
        Command::Sign { document, key, output } => {
            let output = output.unwrap_or_else(|| document.with_extension("signed"));
            let (envelope, decision) = sign_document(&cli.node, &document, &key).await?;
            std::fs::write(&output, &envelope).with_context(|| format!("write {}", output.display()))?;
            println!(
                "signed {}/{} v{} {} as statement {} -> {}",
                decision.authority,
                decision.licence_id,
                decision.version,
                action_name(decision.action),
                StatementId::of(&envelope),
                output.display()
            );
            Ok(())
        }
        Command::ReExport { command } => re_export::re_export(&cli.node, cli.json, cli.log_key.as_deref(), command).await,
        Command::Publish { file, key, audience } => publish(&cli.node, cli.json, cli.log_key.as_deref(), &file, key.as_deref(), audience).await,
        Command::Log { command } => log_command(&cli.node, cli.json, cli.log_key.as_deref(), cli.trust.as_deref(), command).await,
        Command::Peers { wait } => {
            let mut client = Client::connect(&cli.node).await?;
            if wait {
                wait_for_mirrors(&mut client).await?;
            }
            let status = client.status().await?;
            if cli.json {
                return print_json(&serde_json::json!({
                    "origin": status.origin, "size": status.size, "evidence_count": status.evidence_count, "witness_key": status.witness_key,
                    "peers": status.peers.iter().map(|p| serde_json::json!({
                        "id": p.id, "url": p.url, "origin": p.origin, "connected": p.connected, "mirrored_size": p.mirrored_size,
                        "peer_size": p.peer_size, "lag_entries": p.lag_entries, "lag_seconds": p.lag_seconds,
                        "last_error": p.last_error, "failures": p.failures, "frozen": p.frozen,
                        "cosigned_up_to": p.cosigned_up_to, "evidence_count": p.evidence_count,
                    })).collect::<Vec<_>>(),
                    "logs": status.logs.iter().map(|l| serde_json::json!({
                        "origin": l.origin, "own": l.own, "size": l.size, "root": hex::encode(&l.root), "checkpoint_time": format_time(l.checkpoint_time),
                        "cosigned_size": l.cosigned_size, "cosigned_root": hex::encode(&l.cosigned_root), "cosigners": l.cosigners, "frozen": l.frozen,
                    })).collect::<Vec<_>>(),
                }));
            }
            println!("this node: log {} with {} entries; {} piece(s) of evidence", status.origin, status.size, status.evidence_count);
            println!("witness key: {}", status.witness_key);
            let rows: Vec<Vec<String>> = status
                .peers
                .iter()
                .map(|p| {
                    let state = if p.frozen {
                        "FROZEN"
                    } else if p.connected {
                        "ok"
                    } else {
                        "failing"
                    };
                    vec![
                        p.id.clone(),
                        state.into(),
                        format!("{}/{}", p.mirrored_size, p.peer_size),
                        p.lag_entries.to_string(),
                        if p.checkpoint_time > 0 { format!("{} s", p.lag_seconds) } else { "-".into() },
                        p.cosigned_up_to.to_string(),
                        p.evidence_count.to_string(),
                        p.last_error.clone(),
                    ]
                })
                .collect();
            print!("{}", table(&["PEER", "STATE", "MIRRORED", "LAG", "CHECKPOINT AGE", "COSIGNED", "EVIDENCE", "LAST ERROR"], &rows));
            println!();
            let rows: Vec<Vec<String>> = status
                .logs
                .iter()
                .map(|l| {
                    let short = |root: &[u8]| if root.is_empty() { "-".to_string() } else { hex::encode(&root[..8]) };
                    vec![
                        format!("{}{}", l.origin, if l.own { " (own)" } else { "" }),
                        l.size.to_string(),
                        short(&l.root),
                        if l.cosigned_size > 0 { format!("{} {}", l.cosigned_size, short(&l.cosigned_root)) } else { "-".into() },
                        if l.frozen { "FROZEN".into() } else { l.cosigners.join(", ") },
                    ]
                })
                .collect();
            print!("{}", table(&["LOG", "SIZE", "ROOT", "COSIGNED CHECKPOINT", "COSIGNED BY"], &rows));
            Ok(())
        }
        Command::Evidence => {
            let answer = Client::connect(&cli.node).await?.evidence().await?;
            if cli.json {
                return print_json(&serde_json::json!({
                    "evidence": answer.evidence.iter().map(|e| serde_json::json!({
                        "kind": e.kind, "detected_at": format_time(e.detected_at), "origin": e.origin, "authority": e.authority,
                        "licence_id": e.licence_id, "version": e.version, "reason": e.reason, "checkpoints": e.checkpoints,
                        "envelopes": e.envelopes.iter().map(hex::encode).collect::<Vec<_>>(),
                    })).collect::<Vec<_>>(),
                    "frozen": answer.frozen.iter().map(|f| serde_json::json!({"origin": f.origin, "reason": f.reason})).collect::<Vec<_>>(),
                }));
            }
            for e in &answer.evidence {
                let subject = if e.kind == "split_view" { e.origin.clone() } else { format!("{}/{} v{}", e.authority, e.licence_id, e.version) };
                println!("{}  {:<12} {subject}: {}", format_time(e.detected_at), e.kind, e.reason);
            }
            for f in &answer.frozen {
                println!("FROZEN {}: {} (clear with `comity-node unfreeze` on the stopped node)", f.origin, f.reason);
            }
            println!("{} piece(s) of evidence, {} frozen log(s)", answer.evidence.len(), answer.frozen.len());
            Ok(())
        }
        Command::Licence { command: LicenceCommand::Show { licence } } => {
            let (authority, licence_id) =
                licence.split_once('/').ok_or_else(|| InputError(format!("`{licence}` must be AUTHORITY/LICENCE, e.g. de.bafa/DE-2026-004211")))?;
            let answer = Client::connect(&cli.node).await?.licence_answer(authority, licence_id).await?;
            // The one verification path, before anything is printed.
            let verified = match &cli.trust {
                Some(path) => {
                    let trust = comity_proto::trust::TrustFile::read(path)?;
                    let now = chrono::Utc::now().timestamp();
                    Some(
                        comity_client::verified::check_licence_answer(&trust, authority, licence_id, &answer, now)
                            .map(|v| comity_client::verified::summary(&v, now))?,
                    )
                }
                None => None,
            };
            let licence = comity_client::check_licence(answer)?;
            // The chain across authorities: a re-export licence's parent is read too.
            let parent = re_export::parent_of(&cli.node, &licence).await;
            let chain = re_export::chain_view(&licence, parent);
            if cli.json {
                let mut value = serde_json::to_value(LicenceJson::from(&licence))?;
                value["verified"] = serde_json::json!(verified);
                if chain.parent.is_some() || !chain.consents.is_empty() || !chain.children.is_empty() {
                    value["re_export"] = serde_json::to_value(&chain)?;
                }
                print_json(&value)
            } else {
                print!("{}", render_licence(&licence));
                print!("{}", re_export::render(&chain));
                println!("{}", verified.unwrap_or_else(|| trust::UNVERIFIED.into()));
                Ok(())
            }
        }
        Command::Statement { command: StatementCommand::Show { id } } => {
            let id = StatementId::from_hex(&id).ok_or_else(|| InputError(format!("`{id}` is not a 64-digit hex statement id")))?;
            let envelope = Client::connect(&cli.node).await?.statement(id).await?;
            show_envelope(&envelope, cli.json)
        }
        Command::Search(args) => search(&cli.node, cli.json, args).await,
        Command::Watch(args) => watch::watch(&cli.node, cli.json, args).await,
        Command::Stats(args) => stats::stats(&cli.node, cli.json, args).await,
        Command::Verify { licence, context } => trust::verify(&cli.node, cli.json, cli.trust.as_deref(), &licence, context).await,
        Command::Keys { command } => trust::keys(&cli.node, cli.json, command).await,
        Command::Agreement { command } => trust::agreement(&cli.node, cli.json, command).await,
        Command::List { command } => lists::list(&cli.node, cli.json, command).await,
        Command::Crosswalk { command } => lists::crosswalk(&cli.node, command).await,
        Command::Code { code, at } => lists::code(&cli.node, cli.json, &code, at.as_deref()).await,
        Command::Screen { name, country, lists, min_score } => screening::screen(&cli.node, cli.json, &name, country, lists, min_score).await,
        Command::Screening { command } => screening::screening(&cli.node, cli.json, command).await,
        Command::Consult { command } => consult::consult(&cli.node, cli.json, command).await,
        Command::EndUseCheck { command } => end_use::end_use(&cli.node, command).await,
        Command::WriteOff(args) => write_off::write_off(&cli.node, cli.json, args).await,
        Command::Ruling { command } => rulings::ruling(&cli.node, cli.json, cli.trust.as_deref(), command).await,
        Command::Token { command } => trust::token(&cli.node, cli.json, cli.trust.as_deref(), command).await,
        Command::Inspect { file } => {
            let bytes = std::fs::read(&file).with_context(|| format!("read {}", file.display()))?;
            let envelope = Envelope::parse(bytes).map_err(|e| InputError(format!("{}: {e}", file.display())))?;
            show_envelope(&envelope, cli.json)
        }
    }
}

fn keygen(authority: &str, output: Option<PathBuf>) -> anyhow::Result<()> {
    if !comity_proto::decision::is_authority_id(authority) {
        return Err(InputError(format!("--authority `{authority}` is not a lowercase dotted id like de.bafa")).into());
    }
    let path = output.unwrap_or_else(|| PathBuf::from(format!("{authority}.key")));
    let key = KeyFile::generate(authority);
    key.write(&path)?;
    println!("wrote {} (authority {authority}, key id {})", path.display(), key.key_id);
    println!("public key: {}", key.public_key);
    println!("add it to the node's config under [[authority]] id = \"{authority}\", keys = [\"{}\"]", key.public_key);
    Ok(())
}

/// Reads, completes (version / previous from the node when omitted), checks and signs a document.
async fn sign_document(node: &str, document: &Path, key: &Path) -> anyhow::Result<(Vec<u8>, pb::Decision)> {
    let (decision, signer) = prepare_document(node, document, key).await?;
    Ok((sign_decision(decision.clone(), &signer), decision))
}

/// Reads a decision document and the signing key of its authority, and completes (version /
/// previous from the node when omitted) and checks the decision.
async fn prepare_document(node: &str, document: &Path, key: &Path) -> anyhow::Result<(pb::Decision, comity_proto::statement::Signer)> {
    prepare_doc(node, read_decision_doc(document)?, &document.display().to_string(), key).await
}

/// Completes (version / previous from the node when omitted) and checks decision document `doc`
/// (named `label` in errors), with the signing key of its authority.
async fn prepare_doc(node: &str, doc: DecisionDoc, label: &str, key: &Path) -> anyhow::Result<(pb::Decision, comity_proto::statement::Signer)> {
    let key = KeyFile::read(key)?;
    if key.authority != doc.authority {
        return Err(InputError(format!("key {} is for authority {}, but the decision is by {}", key.key_id, key.authority, doc.authority)).into());
    }
    let mut decision = doc.to_wire().map_err(|e| InputError(format!("{label}: {e}")))?;
    if doc.version.is_none() || (doc.previous.is_none() && doc.version != Some(1)) {
        let head = Client::connect(node)
            .await
            .context("the document omits version/previous, so they are taken from the node")?
            .head(&doc.authority, &doc.licence_id)
            .await?;
        match (doc.version, head) {
            (None, None) => decision.version = 1,
            (None, Some((version, id))) => {
                decision.version = version + 1;
                decision.previous = id.0.to_vec();
            }
            (Some(v), Some((version, id))) if v == version + 1 => decision.previous = id.0.to_vec(),
            (Some(v), head) => {
                let current = head.map_or(0, |(version, _)| version);
                return Err(InputError(format!(
                    "version {v} does not follow the node's current version {current}; set `previous` explicitly or omit `version`"
                ))
                .into());
            }
        }
    }
    let checked = CheckedDecision::try_from(decision).map_err(|e| InputError(format!("{label}: invalid decision: {e}")))?;
    let signer = key.signer().map_err(anyhow::Error::msg)?;
    Ok((checked.into_inner(), signer))
}

fn is_document(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "yaml" | "yml" | "json"))
}

async fn publish(node: &str, json: bool, log_key: Option<&str>, file: &Path, key: Option<&Path>, audience: Vec<String>) -> anyhow::Result<()> {
    let (envelope, body) = if is_document(file) {
        let key =
            key.ok_or_else(|| InputError(format!("{} is a decision document: give --key to sign it, or sign it first with `comity sign`", file.display())))?;
        if audience.is_empty() {
            (sign_document(node, file, key).await?.0, None)
        } else {
            let (decision, signer) = prepare_document(node, file, key).await?;
            let (restricted, body) = comity_proto::restricted::seal(&decision, audience, rand::random());
            comity_proto::restricted::CheckedRestricted::try_from(restricted.clone()).map_err(|e| InputError(format!("--audience: {e}")))?;
            (sign_statement(&pb::Statement { kind: Some(pb::statement::Kind::RestrictedDecision(restricted)) }, &[&signer]), Some(body))
        }
    } else if !audience.is_empty() {
        return Err(InputError("--audience needs a decision document: a confidential decision is sealed and signed here, with its body".into()).into());
    } else {
        (std::fs::read(file).with_context(|| format!("read {}", file.display()))?, None)
    };
    publish_envelope(node, json, log_key, envelope, body).await
}

/// Publishes a signed envelope (with a confidential decision's body), checks its receipt and
/// prints what was published.
async fn publish_envelope(node: &str, json: bool, log_key: Option<&str>, envelope: Vec<u8>, body: Option<pb::RestrictedBody>) -> anyhow::Result<()> {
    let mut client = Client::connect(node).await?;
    let response = client.publish_with_body(envelope.clone(), body).await?;
    let (verifier, from_node) = log_verifier(&mut client, log_key).await?;
    let receipt = response.receipt.clone().ok_or_else(|| ClientError::Verification("node acknowledged without a log receipt".into()))?;
    let checkpoint = verify_receipt(&receipt, &envelope, &verifier).map_err(|e| ClientError::Verification(format!("receipt: {e}")))?;
    let summary = response.licence.unwrap_or_default();
    if json {
        return print_json(&serde_json::json!({
            "statement_id": hex::encode(&response.statement_id),
            "already_present": response.already_present,
            "licence": SummaryJson::from(&summary),
            "receipt": {
                "origin": receipt.origin,
                "index": receipt.index,
                "leaf_hash": hex::encode(&receipt.leaf_hash),
                "checkpoint": receipt.checkpoint,
                "inclusion_proof": receipt.inclusion_proof.iter().map(hex::encode).collect::<Vec<_>>(),
                "verified_with": verifier.to_string(),
            },
        }));
    }
    let what = match Envelope::parse(envelope.clone()).as_ref().map(Envelope::statement) {
        Ok(pb::statement::Kind::KeySet(set)) => format!("key set v{} of {}", set.version, set.authority),
        Ok(pb::statement::Kind::Agreement(a)) => format!("agreement {}/{}/{} v{}", a.relying_authority, a.recognised_authority, a.agreement_id, a.version),
        Ok(pb::statement::Kind::ControlList(l)) => format!(
            "control list {} {} v{} ({} entries)",
            l.authority,
            pb::Regime::try_from(l.regime).map_or("?", comity_proto::authoring::regime_prefix),
            l.version,
            l.entries.len()
        ),
        Ok(pb::statement::Kind::Crosswalk(c)) => format!("crosswalk {}/{} v{} ({} equivalences)", c.authority, c.crosswalk_id, c.version, c.equivalences.len()),
        Ok(pb::statement::Kind::ScreeningList(l)) => {
            format!("screening list {}/{} v{} (+{} -{} entries)", l.authority, l.list_id, l.version, l.added.len(), l.removed.len())
        }
        Ok(pb::statement::Kind::ClassificationRuling(r)) => format!("classification ruling {}/{} v{}", r.authority, r.ruling_id, r.version),
        Ok(pb::statement::Kind::RestrictedDecision(r)) => format!(
            "confidential decision {}/{} v{} {} (readable only by {})",
            r.authority,
            r.licence_id,
            r.version,
            action_name(summary.last_action),
            r.audience.join(", ")
        ),
        _ => format!("{}/{} v{} {}", summary.authority, summary.licence_id, summary.version, action_name(summary.last_action)),
    };
    if response.already_present {
        println!("already published: {what} (statement {}); nothing changed", hex::encode(&response.statement_id));
    } else {
        println!("published {what} as statement {}", hex::encode(&response.statement_id));
    }
    if !summary.licence_id.is_empty() {
        println!("licence is now {}", status_name(summary.status));
    }
    println!("logged as entry {} of {} (checkpoint size {}); receipt verified{}", receipt.index, checkpoint.origin, checkpoint.size, key_note(from_node));
    Ok(())
}

/// The log key to verify with: `--log-key`, else the one the node reports (trust on first use).
async fn log_verifier(client: &mut Client, pinned: Option<&str>) -> anyhow::Result<(LogVerifier, bool)> {
    match pinned {
        Some(k) => Ok((k.parse().map_err(|e| InputError(format!("--log-key: {e}")))?, false)),
        None => {
            let served = client.checkpoint().await?.verifier_key;
            Ok((served.parse().map_err(|e| ClientError::Verification(format!("node's log key: {e}")))?, true))
        }
    }
}

fn key_note(from_node: bool) -> &'static str {
    if from_node {
        " with the log key the node reports (pin it with --log-key / COMITY_LOG_KEY)"
    } else {
        " with the pinned log key"
    }
}

fn age(checkpoint: &SignedCheckpoint) -> String {
    let secs = chrono::Utc::now().timestamp() - checkpoint.time;
    match secs {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s => format!("{} h", s / 3600),
    }
}

async fn log_command(node: &str, json: bool, log_key: Option<&str>, trust: Option<&Path>, command: LogCommand) -> anyhow::Result<()> {
    let mut client = Client::connect(node).await?;
    match command {
        LogCommand::Checkpoint => {
            let (verifier, from_node) = log_verifier(&mut client, log_key).await?;
            let served = client.checkpoint().await?;
            let cp = verifier.verify_checkpoint(&served.checkpoint).map_err(|e| ClientError::Verification(e.to_string()))?;
            if json {
                return print_json(&serde_json::json!({
                    "origin": cp.origin, "size": cp.size, "root": hex::encode(cp.root), "time": format_time(cp.time),
                    "verifier_key": verifier.to_string(), "key_from_node": from_node, "checkpoint": cp.note,
                }));
            }
            println!("origin        {}", cp.origin);
            println!("size          {}", cp.size);
            println!("root          {}", hex::encode(cp.root));
            println!("signed at     {} ({} ago)", format_time(cp.time), age(&cp));
            println!("log key       {}", verifier);
            println!("signature verified{}", key_note(from_node));
            Ok(())
        }
        LogCommand::Prove { id } => {
            let id = StatementId::from_hex(&id).ok_or_else(|| InputError(format!("`{id}` is not a 64-digit hex statement id")))?;
            let (verifier, from_node) = log_verifier(&mut client, log_key).await?;
            let cp = verifier.verify_checkpoint(&client.checkpoint().await?.checkpoint).map_err(|e| ClientError::Verification(e.to_string()))?;
            let proof = client.inclusion_proof(id, cp.size).await?;
            let envelope = client.statement(id).await?;
            let leaf = entry_leaf_hash(proof.logged_at, envelope.bytes());
            let hashes = proof_hashes(&proof.hashes).map_err(|e| ClientError::Verification(e.to_string()))?;
            verify_inclusion(&hashes, cp.size, &cp.root, proof.index, &leaf).map_err(|e| ClientError::Verification(e.to_string()))?;
            if json {
                return print_json(&serde_json::json!({
                    "statement_id": id.to_hex(), "origin": cp.origin, "index": proof.index, "tree_size": cp.size,
                    "root": hex::encode(cp.root), "leaf_hash": hex::encode(leaf), "proof": hashes.iter().map(hex::encode).collect::<Vec<_>>(),
                    "logged_at": format_time(proof.logged_at),
                }));
            }
            println!("statement {id} is entry {} of {} (size {}), logged at {}", proof.index, cp.origin, cp.size, format_time(proof.logged_at));
            println!("inclusion proof of {} hashes verified against root {}{}", hashes.len(), hex::encode(cp.root), key_note(from_node));
            Ok(())
        }
        LogCommand::Audit { state, keys } => {
            let previous = AuditState::load(&state)?;
            if keys.is_empty() && trust.is_none() {
                return Err(InputError("log audit checks every entry's signature: give --trust FILE (or COMITY_TRUST) or --keys FILE".into()).into());
            }
            let keys = AuthorityKeys::load(&keys.iter().map(PathBuf::as_path).chain(trust).collect::<Vec<_>>())?;
            let keys_quorum = keys.witness_quorum();
            let pinned = log_key.map(|k| k.parse::<LogVerifier>()).transpose().map_err(|e| InputError(format!("--log-key: {e}")))?;
            let bar = progress_bar("auditing");
            let (report, new_state) = audit_with_progress(&mut client, previous.as_ref(), pinned.as_ref(), &keys, &bar).await?;
            bar.finish_and_clear();
            new_state.save(&state)?;
            let cp = &report.checkpoint;
            if json {
                return print_json(&serde_json::json!({
                    "origin": report.origin, "old_size": report.old_size, "size": cp.size, "root": hex::encode(cp.root),
                    "new_entries": cp.size - report.old_size, "checkpoint_time": format_time(cp.time), "key_from_node": report.key_from_node,
                    "licence_map_root": hex::encode(cp.map_root), "licences": report.licences,
                    "witnessed": report.witnessed.as_ref().map(|(size, names)| serde_json::json!({"size": size, "cosigners": names})),
                }));
            }
            println!(
                "log {} verified: size {} -> {}, {} new entries, all signed by their authority's keys; root {}; checkpoint signed {} ago",
                report.origin,
                report.old_size,
                cp.size,
                cp.size - report.old_size,
                hex::encode(cp.root),
                age(cp)
            );
            println!("licence-state map recomputed from the entries: {} licence(s), root {} as signed", report.licences, hex::encode(cp.map_root));
            if let Some((size, names)) = &report.witnessed {
                println!(
                    "witnessed: the checkpoint of size {size} is cosigned by {} ({} required) and consistent with this one",
                    names.join(", "),
                    keys_quorum
                );
            }
            if report.key_from_node {
                println!("first run: log key {} taken from the node and pinned in {}", new_state.verifier_key, state.display());
            }
            Ok(())
        }
    }
}

async fn search(node: &str, json: bool, a: SearchArgs) -> anyhow::Result<()> {
    let time =
        |flag: &str, t: Option<String>| -> anyhow::Result<i64> { t.map_or(Ok(0), |t| parse_time(&t).map_err(|m| InputError(format!("--{flag}: {m}")).into())) };
    let request = pb::SearchRequest {
        authority: a.authority.unwrap_or_default(),
        licence_id_prefix: a.licence_prefix.unwrap_or_default(),
        party: a.content.party.unwrap_or_default(),
        destination: a.content.destination.unwrap_or_default(),
        control_code: a.content.control_code.unwrap_or_default(),
        status: a.status.map_or(0, |s| LicenceStatus::from(s) as i32),
        decided_from: time("decided-from", a.decided_from)?,
        decided_until: time("decided-until", a.decided_until)?,
        page_size: a.limit.min(500) as u32,
        cursor: String::new(),
    };
    let results = Client::connect(node).await?.search_all(request, a.limit).await?;
    if json {
        return print_json(&results.iter().map(SummaryJson::from).collect::<Vec<_>>());
    }
    let rows: Vec<Vec<String>> = results
        .iter()
        .map(|s| {
            vec![
                format!("{}/{}", s.authority, s.licence_id),
                status_name(s.status).into(),
                type_name(s.licence_type).into(),
                s.applicant.clone(),
                s.destinations.join(","),
                s.control_codes.join(","),
                date(s.last_decided_at),
            ]
        })
        .collect();
    print!("{}", table(&["LICENCE", "STATUS", "TYPE", "APPLICANT", "DEST", "CONTROL CODES", "DECIDED"], &rows));
    println!("{} licence(s)", results.len());
    Ok(())
}

fn show_envelope(envelope: &Envelope, json: bool) -> anyhow::Result<()> {
    if let pb::statement::Kind::RestrictedDecision(r) = envelope.statement() {
        let fields = serde_json::json!({
            "statement_id": envelope.id().to_hex(),
            "key_ids": envelope.key_ids().collect::<Vec<_>>(),
            "confidential_decision": {
                "authority": r.authority,
                "licence_id": r.licence_id,
                "version": r.version,
                "previous": hex::encode(&r.previous),
                "decided_at": format_time(r.decided_at),
                "commitment": hex::encode(&r.commitment),
                "audience": r.audience,
            },
        });
        if json {
            return print_json(&fields);
        }
        println!("statement {}", envelope.id());
        println!("signed by key(s) {}", envelope.key_ids().collect::<Vec<_>>().join(", "));
        println!("confidential decision {}/{} v{} decided {}", r.authority, r.licence_id, r.version, format_time(r.decided_at));
        println!("readable only by {}", r.audience.join(", "));
        println!("commitment {}", hex::encode(&r.commitment));
        return Ok(());
    }
    let decision = envelope.decision().ok_or_else(|| InputError("statement is not a decision".into()))?;
    if json {
        return print_json(&serde_json::json!({
            "statement_id": envelope.id().to_hex(),
            "key_ids": envelope.key_ids().collect::<Vec<_>>(),
            "decision": DecisionDoc::from_wire(decision),
        }));
    }
    println!("statement {}", envelope.id());
    println!("signed by key(s) {}", envelope.key_ids().collect::<Vec<_>>().join(", "));
    print!("{}", serde_norway::to_string(&DecisionDoc::from_wire(decision))?);
    Ok(())
}

fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn action_name(a: i32) -> &'static str {
    pb::Action::try_from(a).map_or("?", |a| a.as_str_name())
}

fn status_name(s: i32) -> &'static str {
    LicenceStatus::try_from(s).map_or("?", |s| s.as_str_name())
}

fn type_name(t: i32) -> &'static str {
    pb::LicenceType::try_from(t).map_or("?", |t| t.as_str_name())
}

fn date(unix: i64) -> String {
    format_time(unix).chars().take(10).collect()
}

/// A licence summary for JSON output.
#[derive(Serialize)]
struct SummaryJson {
    licence: String,
    status: &'static str,
    version: u64,
    head_id: String,
    licence_type: &'static str,
    applicant: String,
    end_users: Vec<String>,
    consignees: Vec<String>,
    destinations: Vec<String>,
    control_codes: Vec<String>,
    valid_from: String,
    valid_until: String,
    risk_tier: u32,
    last_action: &'static str,
    last_decided_at: String,
}

impl From<&pb::LicenceSummary> for SummaryJson {
    fn from(s: &pb::LicenceSummary) -> Self {
        Self {
            licence: format!("{}/{}", s.authority, s.licence_id),
            status: status_name(s.status),
            version: s.version,
            head_id: hex::encode(&s.head_id),
            licence_type: type_name(s.licence_type),
            applicant: s.applicant.clone(),
            end_users: s.end_users.clone(),
            consignees: s.consignees.clone(),
            destinations: s.destinations.clone(),
            control_codes: s.control_codes.clone(),
            valid_from: format_time(s.valid_from),
            valid_until: format_time(s.valid_until),
            risk_tier: s.risk_tier,
            last_action: action_name(s.last_action),
            last_decided_at: format_time(s.last_decided_at),
        }
    }
}

/// A licence with its chain for JSON output.
#[derive(Serialize)]
struct LicenceJson {
    summary: SummaryJson,
    /// Absent for a confidential licence this node cannot read.
    #[serde(skip_serializing_if = "Option::is_none")]
    terms: Option<DecisionDoc>,
    /// For a confidential licence: the log origins of the nodes that may read it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    audience: Vec<String>,
    chain: Vec<ChainJson>,
    /// At the issuer's node: each decision's delivery receipts (which partners' witnesses
    /// confirmed it, and when).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    deliveries: Vec<DeliveryJson>,
}

#[derive(Serialize)]
struct DeliveryJson {
    version: u64,
    witness: String,
    delivered: bool,
    /// RFC 3339, when delivered.
    #[serde(skip_serializing_if = "Option::is_none")]
    delivered_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    delay_ms: Option<i64>,
    /// Not delivered: the size of the witness's last cosigned checkpoint of the log.
    #[serde(skip_serializing_if = "Option::is_none")]
    confirmed_size: Option<u64>,
}

#[derive(Serialize)]
struct ChainJson {
    statement_id: String,
    decision: DecisionDoc,
}

impl From<&CheckedLicence> for LicenceJson {
    fn from(l: &CheckedLicence) -> Self {
        Self {
            summary: SummaryJson::from(&l.summary),
            terms: l.state.as_ref().map(|s| DecisionDoc::from_wire(&s.terms)),
            audience: l.audience.clone(),
            chain: l.chain.iter().map(|(id, d)| ChainJson { statement_id: id.to_hex(), decision: DecisionDoc::from_wire(d) }).collect(),
            deliveries: l
                .deliveries
                .iter()
                .map(|d| DeliveryJson {
                    version: d.version,
                    witness: d.witness.clone(),
                    delivered: d.delivered,
                    delivered_at: d.delivered.then(|| format_time(d.delivered_at_ms / 1000)),
                    delay_ms: d.delivered.then_some(d.delay_ms),
                    confirmed_size: (!d.delivered).then_some(d.confirmed_size),
                })
                .collect(),
        }
    }
}

fn render_licence(l: &CheckedLicence) -> String {
    use std::fmt::Write;
    let s = &l.summary;
    let Some(state) = &l.state else { return render_withheld(l) };
    let t = &state.terms;
    let mut out = String::new();
    let party = |p: &pb::Party| format!("{} ({})", p.name, p.country);
    let _ = writeln!(
        out,
        "{}/{}  {}  (version {}, last {} on {})",
        s.authority,
        s.licence_id,
        status_name(s.status),
        s.version,
        action_name(s.last_action),
        date(s.last_decided_at)
    );
    if !l.audience.is_empty() {
        let _ = writeln!(out, "  confidential  readable only by {}", l.audience.join(", "));
    }
    let _ = writeln!(out, "  type          {}, risk tier {}", type_name(t.licence_type), t.risk_tier);
    if t.valid_until != 0 {
        let _ = writeln!(out, "  valid         {} to {}", date(t.valid_from), date(t.valid_until));
    }
    if let Some(a) = &t.applicant {
        let _ = writeln!(out, "  applicant     {}", party(a));
    }
    for (label, parties) in [("end user", &t.end_users), ("consignee", &t.consignees)] {
        for p in parties.iter() {
            let _ = writeln!(out, "  {label:<13} {}", party(p));
        }
    }
    if !t.general_licence.is_empty() {
        let _ = writeln!(
            out,
            "  registered under general licence {} (its items, destinations and end uses apply: `comity licence show {}`)",
            t.general_licence, t.general_licence
        );
    }
    if !t.end_use.is_empty() {
        let _ = writeln!(out, "  end use       {}", t.end_use);
    }
    for u in &t.permitted_end_uses {
        let _ = writeln!(out, "  permitted use {u}");
    }
    for item in &t.items {
        if item.currency.is_empty() && item.quantity.is_empty() {
            let _ = writeln!(out, "  item          {}  {}", qualified_control_code(item), item.description);
            continue;
        }
        let _ = writeln!(
            out,
            "  item          {}  {} {}  {} {}  {}",
            qualified_control_code(item),
            item.quantity,
            item.unit,
            format_money(item.value_minor, &item.currency),
            item.currency,
            item.description
        );
    }
    if !t.destinations.is_empty() {
        let _ = writeln!(out, "  destinations  {}", t.destinations.join(", "));
    }
    if !t.transit_countries.is_empty() {
        let _ = writeln!(out, "  transit       {}", t.transit_countries.join(", "));
    }
    if !t.re_export_terms.is_empty() {
        let _ = writeln!(out, "  re-export     {}", t.re_export_terms);
    }
    for c in &t.conditions {
        let _ = writeln!(out, "  condition     {c}");
    }
    for b in &s.balances {
        let _ = writeln!(out, "  balance       {}", comity_proto::usage::describe_balance(b));
    }
    let _ = writeln!(out, "decision chain:");
    for (id, d) in &l.chain {
        let _ = writeln!(
            out,
            "  v{:<3} {:<21} decided {}  received {}  ({} days)  statement {}",
            d.version,
            action_name(d.action),
            date(d.decided_at),
            date(d.application_received),
            (d.decided_at - d.application_received) / 86_400,
            &id.to_hex()[..16]
        );
        for r in &d.reasons {
            let _ = writeln!(out, "        reason {} ({}): {}", r.code, r.legal_basis, r.text);
        }
        if let Some(sh) = &d.shipment {
            let items: Vec<String> = sh.items.iter().map(|i| format!("item {} x {}", i.item, i.quantity)).collect();
            let transit = if sh.transit_countries.is_empty() { String::new() } else { format!(" via {}", sh.transit_countries.join(", ")) };
            let _ = writeln!(
                out,
                "        shipment {} released {} by {} (customs of {}) to {}{transit}: {}",
                sh.declaration,
                date(sh.shipped_on),
                sh.customs_office,
                d.reported_by,
                sh.destination,
                items.join(", ")
            );
        }
        // The no-undercut record (docs/consultation.md): what every partner sees of a grant
        // over another authority's denial.
        for c in &d.consultations {
            let _ = writeln!(out, "        consulted {}/{c} on a partner's denial (`comity consult show {}/{c}`)", d.authority, d.authority);
        }
        if let Some(o) = &d.undercut_override {
            let _ = writeln!(out, "        OVERRIDES the denial of {} without consultation", o.denials.join(", "));
            for r in &o.reasons {
                let _ = writeln!(out, "        override reason {} ({}): {}", r.code, r.legal_basis, r.text);
            }
        }
        if !d.note.is_empty() {
            let _ = writeln!(out, "        note   {}", d.note);
        }
        if let Some(line) = delivery_line(&l.deliveries, d.version) {
            let _ = writeln!(out, "        {line}");
        }
    }
    if !l.end_use_checks.is_empty() {
        let _ = writeln!(out, "end-use checks:");
    }
    for c in &l.end_use_checks {
        let what = if c.confidential {
            "(confidential: place, checker and findings withheld)".to_string()
        } else {
            format!("{}, by {}: {}", c.place, c.checked_by, c.findings)
        };
        let shipment = if c.shipment.is_empty() { String::new() } else { format!(" shipment {}", c.shipment) };
        let _ = writeln!(
            out,
            "  {} {}/{}{shipment} on {}  {what}",
            comity_proto::end_use_check::outcome_name(c.outcome),
            c.authority,
            c.check_id,
            date(c.checked_on)
        );
    }
    out
}

/// Delivery receipts of one decision, at its issuer's node: `delivered to W 0.8 s, ...; not yet
/// confirmed by V (its last cosigned checkpoint has size N, at T)`.
fn delivery_line(deliveries: &[pb::Delivery], version: u64) -> Option<String> {
    let of: Vec<&pb::Delivery> = deliveries.iter().filter(|d| d.version == version).collect();
    if of.is_empty() {
        return None;
    }
    let delivered: Vec<String> = of.iter().filter(|d| d.delivered).map(|d| format!("{} {:.1} s", d.witness, d.delay_ms as f64 / 1000.0)).collect();
    let behind: Vec<String> = of
        .iter()
        .filter(|d| !d.delivered)
        .map(|d| format!("{} (its last cosigned checkpoint has size {}, at {})", d.witness, d.confirmed_size, format_time(d.confirmed_at_ms / 1000)))
        .collect();
    let mut parts = Vec::new();
    if !delivered.is_empty() {
        parts.push(format!("delivered to {}", delivered.join(", ")));
    }
    if !behind.is_empty() {
        parts.push(format!("not yet confirmed by {}", behind.join(", ")));
    }
    Some(parts.join("; "))
}

/// A confidential licence as a node outside its audience shows it: that it exists, and where
/// each decision sits in the chain.
fn render_withheld(l: &CheckedLicence) -> String {
    use std::fmt::Write;
    let s = &l.summary;
    let mut out = String::new();
    let _ = writeln!(out, "{}/{}  CONFIDENTIAL  (version {}, last decided {})", s.authority, s.licence_id, s.version, date(s.last_decided_at));
    let _ = writeln!(out, "  readable only by {}; this node cannot read its terms", l.audience.join(", "));
    let _ = writeln!(out, "decision chain (signed commitments):");
    for (id, d) in &l.chain {
        let _ = writeln!(out, "  v{:<3} {:<18} decided {}  statement {}", d.version, "(confidential)", date(d.decided_at), &id.to_hex()[..16]);
    }
    out
}

/// A plain left-aligned text table, cells cut at 48 columns.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    table_capped(headers, rows, 48)
}

/// A plain left-aligned text table, cells cut at `cap` terminal columns; a cut cell ends in `…`,
/// so a cut list (of control-code patterns, say) is never read as complete. Widths are display
/// widths, not chars: 株式会社 takes eight columns, and pads as much less.
fn table_capped(headers: &[&str], rows: &[Vec<String>], cap: usize) -> String {
    use unicode_width::UnicodeWidthStr;
    let mut widths: Vec<usize> = headers.iter().map(|h| h.width()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.width()).min(cap);
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| {
                let cut = if c.width() > *w { cut_to_width(c, w.saturating_sub(1)) + "…" } else { c.clone() };
                // format!'s padding counts chars; pad by columns.
                let pad = w.saturating_sub(cut.width());
                format!("{cut}{}", " ".repeat(pad))
            })
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = line(headers.iter().map(|h| h.to_string()).collect());
    for row in rows {
        out.push_str(&line(row.clone()));
    }
    out
}

/// The longest prefix of `s` that fits in `columns` terminal columns.
fn cut_to_width(s: &str, columns: usize) -> String {
    use unicode_width::UnicodeWidthChar;
    let mut used = 0;
    s.chars()
        .take_while(|c| {
            used += c.width().unwrap_or(0);
            used <= columns
        })
        .collect()
}

/// A progress bar counting entries, on stderr when it is a terminal; hidden otherwise, so
/// scripts and logs get only the result.
fn progress_bar(what: &str) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr()).with_prefix(what.to_string());
    if let Ok(style) = indicatif::ProgressStyle::with_template("{prefix:>10} [{bar:40}] {pos}/{len} entries ({per_sec}, eta {eta})") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Shows a progress bar per peer until every mirror holds its peer's latest checkpoint.
async fn wait_for_mirrors(client: &mut Client) -> anyhow::Result<()> {
    use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
    let bars = MultiProgress::new();
    let style = ProgressStyle::with_template("{prefix:>12} [{bar:40}] {pos}/{len} entries ({per_sec}, eta {eta}) {msg}")?.progress_chars("=> ");
    let mut shown: Vec<(String, ProgressBar)> = Vec::new();
    loop {
        let status = client.status().await?;
        let mut behind = 0;
        for p in &status.peers {
            let bar = match shown.iter().find(|(id, _)| *id == p.id) {
                Some((_, bar)) => bar.clone(),
                None => {
                    let bar = bars.add(ProgressBar::new(p.peer_size).with_style(style.clone()).with_prefix(p.id.clone()));
                    shown.push((p.id.clone(), bar.clone()));
                    bar
                }
            };
            bar.set_length(p.peer_size.max(p.mirrored_size));
            bar.set_position(p.mirrored_size);
            bar.set_message(if p.frozen { "FROZEN".to_string() } else { p.last_error.clone() });
            if p.lag_entries > 0 && !p.frozen {
                behind += 1;
            }
        }
        if behind == 0 {
            for (_, bar) in &shown {
                bar.finish();
            }
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_cell_ends_in_an_ellipsis_and_a_whole_one_does_not() {
        let rows = vec![vec!["EU-DU:3A001.* EU-DU:3A002.* EU-DU:3B001.*".to_string(), "any".to_string()]];
        let text = table_capped(&["PATTERNS", "DEST"], &rows, 20);
        let line = text.lines().nth(1).unwrap();
        assert!(line.starts_with("EU-DU:3A001.* EU-DU…  any"), "{text}");
        assert_eq!(line.split("  ").next().unwrap().chars().count(), 20);
        assert_eq!(table_capped(&["A"], &[vec!["short".into()]], 20), "A\nshort\n");
    }

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
    fn every_argument_has_help_and_every_choice_ignores_case() {
        let mut command = Cli::command();
        command.build();
        let mut args = Vec::new();
        all_args(&command, "comity", &mut args);
        assert!(args.len() > 50, "only {} arguments found", args.len());
        let without_help: Vec<&str> = args.iter().filter(|(_, a)| a.get_help().is_none() && a.get_long_help().is_none()).map(|(p, _)| p.as_str()).collect();
        assert!(without_help.is_empty(), "arguments without help: {without_help:?}");
        let case_sensitive: Vec<&str> = args
            .iter()
            .filter(|(_, a)| a.get_action().takes_values() && !a.get_possible_values().is_empty() && !a.is_ignore_case_set())
            .map(|(p, _)| p.as_str())
            .collect();
        assert!(case_sensitive.is_empty(), "choices that do not ignore case: {case_sensitive:?}");
    }

    #[test]
    fn statuses_are_taken_as_printed() {
        for (given, expected) in [
            ("REVOKED", LicenceStatus::Revoked),
            ("revoked", LicenceStatus::Revoked),
            ("UNDER_APPEAL", LicenceStatus::UnderAppeal),
            ("under-review", LicenceStatus::UnderReview),
        ] {
            let cli = Cli::try_parse_from(["comity", "search", "--status", given]).unwrap_or_else(|e| panic!("{given}: {e}"));
            let Command::Search(args) = cli.command else { panic!("not search") };
            assert_eq!(LicenceStatus::from(args.status.unwrap()), expected, "{given}");
        }
        assert!(Cli::try_parse_from(["comity", "search", "--status", "REVOKE"]).is_err());
    }

    #[test]
    fn the_help_lists_every_exit_code_the_cli_returns() {
        let help = Cli::command().render_long_help().to_string();
        let status = |code| anyhow::Error::from(ClientError::Status(tonic::Status::new(code, "x")));
        let errors = [
            anyhow::anyhow!("other"),
            InputError("x".into()).into(),
            status(tonic::Code::PermissionDenied),
            status(tonic::Code::FailedPrecondition),
            status(tonic::Code::NotFound),
            ClientError::Connect { url: "u".into(), message: "m".into() }.into(),
            ClientError::Verification("x".into()).into(),
            AuditError::Failed(comity_client::audit::AuditFailure::Shrank { old: 2, new: 1 }).into(),
            ClientError::Mismatch { node: "VALID".into(), proven: "REVOKED".into(), reasons: String::new() }.into(),
        ];
        for e in &errors {
            let code = exit_code(e);
            assert!(help.lines().any(|l| l.starts_with(&format!("  {code} "))), "exit code {code} ({e}) is not in --help:\n{help}");
        }
        for v in (pb::Verdict::NotFound as i32..).map_while(|v| pb::Verdict::try_from(v).ok()) {
            let code = exit_code(&trust::NotValid(v).into());
            let name = v.as_str_name().trim_start_matches("VERDICT_");
            assert!(help.contains(&format!("{code} {name}")), "verdict {name} (exit code {code}) is not in --help:\n{help}");
        }
        assert!(help.contains("Exit codes:"));
    }

    #[test]
    fn the_version_names_the_command() {
        assert_eq!(Cli::command().render_version().trim(), format!("comity {}", env!("CARGO_PKG_VERSION")));
    }

    #[test]
    fn wide_characters_are_sized_and_cut_by_their_columns() {
        use unicode_width::UnicodeWidthStr;
        let rows = vec![vec!["株式会社東京精密".to_string(), "JP".to_string()], vec!["Kessler GmbH".to_string(), "DE".to_string()]];
        let text = table(&["APPLICANT", "DEST"], &rows);
        // Every line's second column starts at the same terminal column.
        let starts: Vec<usize> = text.lines().map(|l| l.rfind("  ").map(|i| l[..i + 2].width()).unwrap()).collect();
        assert_eq!(starts, vec![18, 18, 18], "{text}");
        // Cut at 9 columns: four 2-column characters and the ellipsis, never half a character.
        let text = table_capped(&["A", "B"], &[vec!["株式会社東京精密".to_string(), "x".to_string()]], 9);
        assert_eq!(text.lines().nth(1).unwrap(), "株式会社…  x", "{text}");
        let text = table_capped(&["A", "B"], &[vec!["株式会社東京精密".to_string(), "x".to_string()]], 10);
        assert_eq!(text.lines().nth(1).unwrap(), "株式会社…   x", "{text}");
        assert_eq!(text.lines().next().unwrap(), "A           B", "{text}");
    }
}
