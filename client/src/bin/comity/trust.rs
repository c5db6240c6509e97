//! Trust commands: key sets (`comity keys`), recognition agreements (`comity agreement`),
//! verification (`comity verify`) and offline licence tokens (`comity token`).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use comity_client::token::{token_from_answer, verify_token};
use comity_client::Client;
use comity_proto::authoring::{format_time, parse_time, regime_prefix};
use comity_proto::keyfile::KeyFile;
use comity_proto::pb::{self, Verdict};
use comity_proto::recognition::{CheckedAgreement, Context as Scope};
use comity_proto::statement::{key_id, sign_statement, Envelope, Signer};
use comity_proto::token_qr::{check_pointer_against_token, check_pointer_checkpoint, parse_pointer, pointer_for, pointer_text_from_upload, short_id};
use comity_proto::trust::{check_key_set, sign_key_set, TrustFile, TrustedAuthority};
use comity_proto::verdict::Question;
use serde::{Deserialize, Serialize};

use super::{print_json, table, InputError};

/// Exit code of a verdict: 0 only for VALID, 20 + the verdict's number otherwise (22 NOT_FOUND …
/// 33 STALE), so scripts can tell every class apart.
pub fn verdict_exit_code(v: Verdict) -> u8 {
    if v == Verdict::Valid {
        0
    } else {
        20 + v as u8
    }
}

/// A verdict that is not VALID: printed, then the process exits with its code.
#[derive(Debug, thiserror::Error)]
#[error("verdict {}", .0.as_str_name())]
pub struct NotValid(pub Verdict);

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Create an authority's root keys (threshold m of n), its first signing key and key set v1,
    /// and the trust-file entry partners pin.
    Init {
        /// Authority id, e.g. de.bafa.
        #[arg(long)]
        authority: String,
        /// Number of root keys.
        #[arg(long, default_value_t = 3)]
        roots: usize,
        /// Root keys that must sign each key set.
        #[arg(long, default_value_t = 2)]
        threshold: usize,
        /// Directory for the key files, the signed key set and trust.toml.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Publish the key set to the node as well.
        #[arg(long)]
        publish: bool,
    },
    /// Add a new signing key and retire the current ones (their window closes now); signed by
    /// the given root keys and published.
    Rotate {
        /// Authority id, e.g. de.bafa.
        #[arg(long)]
        authority: String,
        /// Root key files (at least the threshold).
        #[arg(long = "root", required = true)]
        roots: Vec<PathBuf>,
        /// Where to write the new signing key [default: AUTHORITY.signing-VERSION.key].
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Delegate a customs office: a new key with the CUSTOMS role, which signs write-offs of
    /// shipments against licences (`comity write-off`) and nothing else; signed by the given
    /// root keys and published.
    Delegate {
        /// Authority id delegating, e.g. jp.meti.
        #[arg(long)]
        authority: String,
        /// The customs office holding the key, e.g. "Japan Customs, Tokyo Customs Narita Airport Branch".
        #[arg(long)]
        holder: String,
        /// Root key files (at least the threshold).
        #[arg(long = "root", required = true)]
        roots: Vec<PathBuf>,
        /// Where to write the customs key [default: AUTHORITY.customs-VERSION.key].
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Declare a signing key compromised since a time: statements it signed that entered a log
    /// from then on are refused; earlier ones stay valid, flagged.
    Compromise {
        /// Authority id, e.g. de.bafa.
        #[arg(long)]
        authority: String,
        /// Key id (16 hex digits) of the compromised key.
        #[arg(long)]
        key: String,
        /// Since when (date or RFC 3339 time).
        #[arg(long)]
        since: String,
        /// Root key files (at least the threshold).
        #[arg(long = "root", required = true)]
        roots: Vec<PathBuf>,
    },
    /// The key set in force for an authority, checked against a trust file when given.
    Show {
        /// Authority id, e.g. de.bafa.
        authority: String,
        /// Trust file with the authority's root keys, to check the key set against.
        #[arg(long)]
        trust: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub enum AgreementCommand {
    /// Sign and publish a recognition agreement from a YAML or JSON document.
    New {
        /// Agreement document (.yaml, .yml or .json).
        document: PathBuf,
        /// Signing key of the relying authority.
        #[arg(long)]
        key: PathBuf,
    },
    /// One agreement in force: RELYING/RECOGNISED/ID, e.g. jp.meti/de.bafa/eu-du-2026.
    Show {
        /// RELYING/RECOGNISED/ID.
        agreement: String,
    },
    /// Agreements in force.
    List {
        /// Only those of this relying authority.
        #[arg(long = "for")]
        relying: Option<String>,
    },
    /// Withdraw an agreement (publishes its next version, marked withdrawn).
    Withdraw {
        /// RELYING/RECOGNISED/ID.
        agreement: String,
        /// Signing key of the relying authority.
        #[arg(long)]
        key: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Export a self-contained token for offline verification.
    Export {
        /// AUTHORITY/LICENCE
        licence: String,
        /// Include the agreement this relying authority applies.
        #[arg(long = "for")]
        relying: Option<String>,
        /// Token file to write.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Render a token's QR code (`comity:2:` text: the token's hash, its head decision and the
    /// issuer log's signed checkpoint): PNG file with --output, terminal otherwise.
    Qr {
        /// The token file.
        token: PathBuf,
        /// PNG file to write [default: draw the code in the terminal].
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// An http(s) URL where the licence can be checked online, carried in the code, e.g.
        /// https://NODE/licences/AUTHORITY/LICENCE.
        #[arg(long)]
        link: Option<String>,
    },
    /// Verify a token offline against the trust file (--trust or COMITY_TRUST); with --qr,
    /// check its QR code too. With --qr and no token file, check the code's checkpoint and ask
    /// the node (--node) whether the code's head decision is still the licence's head.
    Verify {
        /// The token file (optional with --qr).
        #[arg(required_unless_present = "qr")]
        token: Option<PathBuf>,
        /// The token's QR code: the scanned `comity:2:` text, or a PNG image or text file of it.
        #[arg(long)]
        qr: Option<String>,
        #[command(flatten)]
        context: ContextArgs,
        /// The issuer's evidence counts as stale after this many days, unless the agreement sets
        /// its own limit.
        #[arg(long, default_value_t = 30)]
        max_age_days: u64,
    },
}

/// What a verification asks about.
#[derive(Args)]
pub struct ContextArgs {
    /// Relying authority, e.g. jp.meti [default: the issuer itself].
    #[arg(long = "for")]
    relying: Option<String>,
    /// ISO 3166-1 alpha-2 destination.
    #[arg(long)]
    destination: Option<String>,
    /// Control code with its regime, e.g. EU-DU:3A001.a.1.
    #[arg(long)]
    item: Option<String>,
    /// End user's name as the licence names it (case and spacing aside).
    #[arg(long)]
    end_user: Option<String>,
    /// End use declared, e.g. "repair under warranty": a general licence that lists permitted
    /// end uses must list it.
    #[arg(long)]
    end_use: Option<String>,
    /// Date or RFC 3339 time the question is about [default: now].
    #[arg(long)]
    at: Option<String>,
    /// Quantity about to ship, in the item's unit, e.g. 20: checked against what customs have
    /// not yet written off (the item is --item-no, or the one --item names, or the only one).
    #[arg(long)]
    quantity: Option<String>,
    /// The licence item the quantity is of, numbered from 1 as `comity licence show` lists them.
    #[arg(long, value_name = "N")]
    item_no: Option<u32>,
}

impl ContextArgs {
    /// The shipment asked about, as a Verify request carries it: (item number, quantity).
    fn shipment_fields(&self) -> (u32, String) {
        (self.item_no.unwrap_or(0), self.quantity.clone().unwrap_or_default())
    }

    /// The shipment asked about, checked as the node checks it.
    fn asked_shipment(&self) -> Result<Option<comity_proto::usage::AskedShipment>, InputError> {
        let (item, quantity) = self.shipment_fields();
        comity_proto::usage::asked_shipment(&pb::VerifyRequest { item, quantity, ..Default::default() }).map_err(|e| InputError(format!("--{e}")))
    }
}

fn licence_ref(text: &str) -> Result<(String, String), InputError> {
    text.split_once('/')
        .map(|(a, l)| (a.to_string(), l.to_string()))
        .ok_or_else(|| InputError(format!("`{text}` must be AUTHORITY/LICENCE, e.g. de.bafa/DE-2026-004211")))
}

pub(super) fn read_key(path: &Path) -> anyhow::Result<Signer> {
    let file = KeyFile::read(path).with_context(|| format!("read key {}", path.display()))?;
    Ok(file.signer().map_err(|e| InputError(format!("{}: {e}", path.display())))?)
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Printed when no trust file is given: the answer is the node's word.
pub const UNVERIFIED: &str = "NOT VERIFIED: no trust file (--trust or COMITY_TRUST), so this is the node's word, not a verified result";

/// `comity verify`: asks the node, then checks its answer against the trust file (the proof
/// bundle through the one verification path, and the verdict recomputed and compared).
pub async fn verify(node: &str, json: bool, trust: Option<&Path>, licence: &str, context: ContextArgs) -> anyhow::Result<()> {
    let (authority, licence_id) = licence_ref(licence)?;
    let at = context.at.as_deref().map(parse_time).transpose().map_err(|e| InputError(e.to_string()))?.unwrap_or(0);
    let trust = trust.map(TrustFile::read).transpose()?;
    let (item, quantity) = context.shipment_fields();
    let request = pb::VerifyRequest {
        item,
        quantity,
        relying_authority: context.relying.unwrap_or_else(|| authority.clone()),
        authority,
        licence_id,
        destination: context.destination.unwrap_or_default(),
        control_code: context.item.unwrap_or_default(),
        end_user: context.end_user.unwrap_or_default(),
        end_use: context.end_use.unwrap_or_default(),
        at,
        // The lists the relying party applies: the trust file's.
        screening_lists: trust.as_ref().map(|t| t.screening_lists.clone()).unwrap_or_default(),
        value_minor: 0,
    };
    let answer = Client::connect(node).await?.verify(request.clone()).await?;
    let now = now();
    let checked = match &trust {
        Some(trust) => Some(comity_client::verified::check_verify_answer(trust, &request, &answer, now)?),
        None => None,
    };
    let (verdict, reasons) = match &checked {
        Some(c) => (c.judgement.verdict, c.judgement.reasons.clone()),
        None => (Verdict::try_from(answer.verdict).unwrap_or(Verdict::Unspecified), answer.reasons.clone()),
    };
    let verified = checked.as_ref().map(|c| comity_client::verified::summary(&c.verified, now));
    if json {
        let mut value = verify_json(&request, &answer);
        value["verdict"] = serde_json::json!(verdict.as_str_name().trim_start_matches("VERDICT_"));
        value["reasons"] = serde_json::json!(reasons);
        value["verified"] = serde_json::json!(verified);
        print_json(&value)?;
    } else {
        println!("{}  {}/{} for {}", verdict.as_str_name().trim_start_matches("VERDICT_"), request.authority, request.licence_id, request.relying_authority);
        for r in &reasons {
            println!("  - {r}");
        }
        for w in &answer.warnings {
            println!("  ! {w}");
        }
        println!("{}", verified.unwrap_or_else(|| UNVERIFIED.into()));
    }
    if verdict == Verdict::Valid {
        Ok(())
    } else {
        Err(NotValid(verdict).into())
    }
}

fn verify_json(request: &pb::VerifyRequest, answer: &pb::VerifyResponse) -> serde_json::Value {
    let proof = answer.proof.clone().unwrap_or_default();
    serde_json::json!({
        "licence": format!("{}/{}", request.authority, request.licence_id),
        "relying_authority": request.relying_authority,
        "verdict": Verdict::try_from(answer.verdict).map_or("?", |v| v.as_str_name()).trim_start_matches("VERDICT_"),
        "reasons": answer.reasons,
        "warnings": answer.warnings,
        "status": answer.licence.as_ref().map(|l| pb::LicenceStatus::try_from(l.status).map_or("?", |s| s.as_str_name())),
        "chain": answer.chain.iter().map(|c| serde_json::json!({
            "statement_id": hex::encode(&c.statement_id),
            "version": c.decision.as_ref().map(|d| d.version),
            "action": c.decision.as_ref().map(|d| pb::Action::try_from(d.action).map_or("?", |a| a.as_str_name())),
            "decided_at": c.decision.as_ref().map(|d| format_time(d.decided_at)),
        })).collect::<Vec<_>>(),
        "agreement": (!answer.agreement.is_empty()).then(|| Envelope::parse(answer.agreement.clone()).ok().map(|e| e.id().to_hex())).flatten(),
        "proof": {
            "statements": proof.statements.iter().map(hex::encode).collect::<Vec<_>>(),
            "receipts": proof.receipts.iter().map(|r| serde_json::json!({
                "origin": r.origin, "index": r.index, "leaf_hash": hex::encode(&r.leaf_hash),
                "checkpoint": r.checkpoint, "inclusion_proof": r.inclusion_proof.iter().map(hex::encode).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "checkpoint_age_secs": proof.checkpoint_age_secs,
        },
        "checked_at": format_time(answer.checked_at),
    })
}

/// `comity keys …`
pub async fn keys(node: &str, json: bool, command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::Init { authority, roots, threshold, dir, publish } => {
            if roots == 0 || threshold == 0 || threshold > roots {
                return Err(InputError(format!("--threshold {threshold} must be between 1 and --roots {roots}")).into());
            }
            std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
            let mut root_files = Vec::new();
            for i in 1..=roots {
                let path = dir.join(format!("{authority}.root-{i}.key"));
                let key = KeyFile::generate(&authority);
                write_new(&path, |p| key.write(p).map_err(anyhow::Error::from))?;
                root_files.push((path, key));
            }
            let signing = KeyFile::generate(&authority);
            let signing_path = dir.join(format!("{authority}.signing-1.key"));
            write_new(&signing_path, |p| signing.write(p).map_err(anyhow::Error::from))?;
            let signer = signing.signer().map_err(|e| InputError(e.to_string()))?;
            // The first key's window is open at the start, so decisions taken before today can be logged.
            let set = pb::KeySet { authority: authority.clone(), version: 1, keys: vec![signing_key(&signer, 0, 0, 0)], issued_at: now() };
            let root_signers: Vec<Signer> =
                root_files.iter().take(threshold).map(|(_, k)| k.signer().map_err(|e| InputError(e.to_string()))).collect::<Result<_, _>>()?;
            let envelope = sign_key_set(set, &root_signers.iter().collect::<Vec<_>>());
            let set_path = dir.join(format!("{authority}.keyset-1.signed"));
            std::fs::write(&set_path, &envelope).with_context(|| format!("write {}", set_path.display()))?;
            let entry = TrustedAuthority {
                id: authority.clone(),
                threshold,
                root_keys: root_files.iter().map(|(_, k)| k.public_key.clone()).collect(),
                ..Default::default()
            };
            let trust_path = dir.join("trust.toml");
            let mut trust = if trust_path.exists() { TrustFile::read(&trust_path)? } else { TrustFile::default() };
            trust.authorities.retain(|a| a.id != authority);
            trust.authorities.push(entry);
            std::fs::write(&trust_path, trust.to_toml()).with_context(|| format!("write {}", trust_path.display()))?;
            println!(
                "root keys ({threshold} of {roots} sign each key set): {}",
                root_files.iter().map(|(p, _)| p.display().to_string()).collect::<Vec<_>>().join(", ")
            );
            println!("signing key {} -> {}", signer.key_id(), signing_path.display());
            println!("key set v1 -> {}", set_path.display());
            println!("trust entry for {authority} -> {} (give it to every partner; keep root keys offline)", trust_path.display());
            if publish {
                Client::connect(node).await?.publish(envelope).await?;
                println!("key set v1 published to {node}");
            } else {
                println!("publish it with: comity publish {}", set_path.display());
            }
            Ok(())
        }
        KeysCommand::Rotate { authority, roots, output } => {
            let mut client = Client::connect(node).await?;
            let current = current_key_set(&mut client, &authority).await?;
            let now = now();
            let signing = KeyFile::generate(&authority);
            let signer = signing.signer().map_err(|e| InputError(e.to_string()))?;
            let mut keys = current.keys.clone();
            // Delegated customs keys stay: a rotation replaces the authority's own signing key.
            for k in keys.iter_mut().filter(|k| k.role == pb::KeyRole::Licensing as i32 && (k.valid_until == 0 || k.valid_until > now)) {
                k.valid_until = now;
            }
            keys.push(signing_key(&signer, now, 0, 0));
            let version = current.version + 1;
            let path = output.unwrap_or_else(|| PathBuf::from(format!("{authority}.signing-{version}.key")));
            write_new(&path, |p| signing.write(p).map_err(anyhow::Error::from))?;
            let envelope = sign_with_roots(pb::KeySet { authority: authority.clone(), version, keys, issued_at: now }, &roots)?;
            client.publish(envelope).await?;
            println!(
                "key set v{version} of {authority} published: new signing key {} -> {}; earlier keys retired from {}",
                signer.key_id(),
                path.display(),
                format_time(now)
            );
            Ok(())
        }
        KeysCommand::Delegate { authority, holder, roots, output } => {
            let mut client = Client::connect(node).await?;
            let current = current_key_set(&mut client, &authority).await?;
            let now = now();
            let customs = KeyFile::generate(&authority);
            let signer = customs.signer().map_err(|e| InputError(e.to_string()))?;
            let mut keys = current.keys.clone();
            keys.push(pb::SigningKey { role: pb::KeyRole::Customs as i32, holder: holder.clone(), ..signing_key(&signer, now, 0, 0) });
            let version = current.version + 1;
            let path = output.unwrap_or_else(|| PathBuf::from(format!("{authority}.customs-{version}.key")));
            write_new(&path, |p| customs.write(p).map_err(anyhow::Error::from))?;
            let envelope = sign_with_roots(pb::KeySet { authority: authority.clone(), version, keys, issued_at: now }, &roots)?;
            client.publish(envelope).await?;
            println!("key set v{version} of {authority} published: customs key {} for {holder} -> {}", signer.key_id(), path.display());
            Ok(())
        }
        KeysCommand::Compromise { authority, key, since, roots } => {
            let since = parse_time(&since).map_err(|e| InputError(e.to_string()))?;
            let mut client = Client::connect(node).await?;
            let current = current_key_set(&mut client, &authority).await?;
            let mut keys = current.keys.clone();
            let entry = keys
                .iter_mut()
                .find(|k| ed25519_dalek::VerifyingKey::try_from(k.public_key.as_slice()).is_ok_and(|v| key_id(&v) == key))
                .ok_or_else(|| InputError(format!("key {key} is not in key set v{} of {authority}", current.version)))?;
            entry.compromised_since = if entry.compromised_since == 0 { since } else { entry.compromised_since.min(since) };
            let version = current.version + 1;
            let envelope = sign_with_roots(pb::KeySet { authority: authority.clone(), version, keys, issued_at: now() }, &roots)?;
            client.publish(envelope).await?;
            println!("key set v{version} of {authority} published: key {key} compromised since {}", format_time(since));
            Ok(())
        }
        KeysCommand::Show { authority, trust } => {
            let envelope = Client::connect(node).await?.key_set(&authority).await?;
            let pb::statement::Kind::KeySet(set) = envelope.statement() else {
                return Err(InputError("the node answered with a statement that is not a key set".into()).into());
            };
            let checked = match &trust {
                Some(path) => {
                    let roots = TrustFile::read(path)?.roots()?;
                    check_key_set(&envelope, &roots, None).map_err(|e| comity_client::ClientError::Verification(e.to_string()))?;
                    format!("verified against {}", path.display())
                }
                None => "NOT verified (give --trust to check its root signatures)".into(),
            };
            let now = now();
            let rows: Vec<Vec<String>> = set
                .keys
                .iter()
                .map(|k| {
                    let id = ed25519_dalek::VerifyingKey::try_from(k.public_key.as_slice()).map_or("?".into(), |v| key_id(&v));
                    let state = if k.compromised_since != 0 {
                        "COMPROMISED"
                    } else if k.valid_until != 0 && now >= k.valid_until {
                        "retired"
                    } else if now < k.valid_from {
                        "not yet valid"
                    } else {
                        "current"
                    };
                    let role = pb::KeyRole::try_from(k.role).map_or("?", |r| r.as_str_name());
                    vec![
                        id,
                        state.into(),
                        role.into(),
                        format_time(k.valid_from),
                        format_time(k.valid_until),
                        format_time(k.compromised_since),
                        k.holder.clone(),
                    ]
                })
                .collect();
            if json {
                return print_json(&serde_json::json!({
                    "authority": set.authority, "version": set.version, "statement_id": envelope.id().to_hex(), "checked": trust.is_some(),
                    "keys": rows.iter().map(|r| serde_json::json!({"key_id": r[0], "state": r[1], "role": r[2], "valid_from": r[3], "valid_until": r[4], "compromised_since": r[5], "holder": r[6]})).collect::<Vec<_>>(),
                }));
            }
            println!("key set v{} of {} (statement {}), {checked}", set.version, set.authority, envelope.id());
            print!("{}", table(&["KEY ID", "STATE", "ROLE", "VALID FROM", "VALID UNTIL", "COMPROMISED SINCE", "HOLDER"], &rows));
            Ok(())
        }
    }
}

fn signing_key(signer: &Signer, from: i64, until: i64, compromised: i64) -> pb::SigningKey {
    pb::SigningKey {
        public_key: signer.verifying_key().to_bytes().to_vec(),
        valid_from: from,
        valid_until: until,
        compromised_since: compromised,
        ..Default::default()
    }
}

fn sign_with_roots(set: pb::KeySet, roots: &[PathBuf]) -> anyhow::Result<Vec<u8>> {
    let signers: Vec<Signer> = roots.iter().map(|p| read_key(p)).collect::<anyhow::Result<_>>()?;
    Ok(sign_key_set(set, &signers.iter().collect::<Vec<_>>()))
}

async fn current_key_set(client: &mut Client, authority: &str) -> anyhow::Result<pb::KeySet> {
    let envelope = client.key_set(authority).await?;
    match envelope.statement() {
        pb::statement::Kind::KeySet(set) => Ok(set.clone()),
        _ => Err(comity_client::ClientError::Verification("the node answered with a statement that is not a key set".into()).into()),
    }
}

/// Writes a new file, refusing to overwrite a key.
fn write_new(path: &Path, write: impl FnOnce(&Path) -> anyhow::Result<()>) -> anyhow::Result<()> {
    if path.exists() {
        return Err(InputError(format!("{} already exists; not overwriting a key", path.display())).into());
    }
    write(path)
}

/// An agreement as people write it: regimes by prefix (EU-DU, EAR, …), licence types by name,
/// dates as text.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AgreementDoc {
    relying_authority: String,
    recognised_authority: String,
    agreement_id: String,
    version: u64,
    #[serde(default)]
    regimes: Vec<String>,
    #[serde(default)]
    control_code_patterns: Vec<String>,
    #[serde(default)]
    destinations_allowed: Vec<String>,
    #[serde(default)]
    destinations_denied: Vec<String>,
    #[serde(default)]
    licence_types: Vec<String>,
    #[serde(default)]
    max_risk_tier: u32,
    #[serde(default)]
    valid_from: Option<String>,
    #[serde(default)]
    valid_until: Option<String>,
    #[serde(default)]
    conditions: Vec<String>,
    #[serde(default)]
    max_staleness_secs: u64,
    /// `authority/crosswalk_id`: codes of other regimes count through it.
    #[serde(default)]
    crosswalk: String,
}

impl AgreementDoc {
    fn to_wire(&self) -> Result<pb::RecognitionAgreement, InputError> {
        let time = |t: &Option<String>| t.as_deref().map(parse_time).transpose().map(|t| t.unwrap_or(0)).map_err(|e| InputError(e.to_string()));
        let regimes = self
            .regimes
            .iter()
            .map(|r| {
                comity_proto::recognition::regime_of_prefix(r)
                    .map(|x| x as i32)
                    .ok_or_else(|| InputError(format!("regimes: unknown regime `{r}` (use a prefix such as EU-DU or EAR)")))
            })
            .collect::<Result<_, _>>()?;
        let licence_types = self
            .licence_types
            .iter()
            .map(|t| {
                pb::LicenceType::from_str_name(t)
                    .map(|t| t as i32)
                    .ok_or_else(|| InputError(format!("licence_types: unknown type `{t}` (e.g. INDIVIDUAL, GLOBAL)")))
            })
            .collect::<Result<_, _>>()?;
        Ok(pb::RecognitionAgreement {
            relying_authority: self.relying_authority.clone(),
            recognised_authority: self.recognised_authority.clone(),
            version: self.version,
            regimes,
            control_code_patterns: self.control_code_patterns.clone(),
            destinations_allowed: self.destinations_allowed.clone(),
            destinations_denied: self.destinations_denied.clone(),
            licence_types,
            max_risk_tier: self.max_risk_tier,
            valid_from: time(&self.valid_from)?,
            valid_until: time(&self.valid_until)?,
            conditions: self.conditions.clone(),
            agreement_id: self.agreement_id.clone(),
            withdrawn: false,
            max_staleness_secs: self.max_staleness_secs,
            issued_at: now(),
            crosswalk: self.crosswalk.clone(),
        })
    }
}

fn agreement_ref(text: &str) -> Result<(String, String, String), InputError> {
    let parts: Vec<&str> = text.split('/').collect();
    match parts[..] {
        [relying, recognised, id] => Ok((relying.into(), recognised.into(), id.into())),
        _ => Err(InputError(format!("`{text}` must be RELYING/RECOGNISED/ID, e.g. jp.meti/de.bafa/eu-du-2026"))),
    }
}

async fn find_agreement(client: &mut Client, text: &str) -> anyhow::Result<(Envelope, pb::RecognitionAgreement)> {
    let (relying, recognised, id) = agreement_ref(text)?;
    for envelope in client.agreements(Some(&relying)).await? {
        if let pb::statement::Kind::Agreement(a) = envelope.statement() {
            if a.recognised_authority == recognised && a.agreement_id == id {
                let a = a.clone();
                return Ok((envelope, a));
            }
        }
    }
    Err(comity_client::ClientError::Status(tonic::Status::not_found(format!("no agreement {text} in force"))).into())
}

/// `comity agreement …`
pub async fn agreement(node: &str, json: bool, command: AgreementCommand) -> anyhow::Result<()> {
    let mut client = Client::connect(node).await?;
    match command {
        AgreementCommand::New { document, key } => {
            let text = std::fs::read_to_string(&document).with_context(|| format!("read {}", document.display()))?;
            let doc: AgreementDoc = serde_norway::from_str(&text).map_err(|e| InputError(format!("{}: {e}", document.display())))?;
            let wire = doc.to_wire()?;
            let checked = CheckedAgreement::try_from(wire.clone()).map_err(|e| InputError(format!("{}: {e}", document.display())))?;
            let envelope = sign_statement(&pb::Statement { kind: Some(pb::statement::Kind::Agreement(wire)) }, &[&read_key(&key)?]);
            let response = client.publish(envelope).await?;
            println!("published {checked} as statement {}", hex::encode(&response.statement_id));
            Ok(())
        }
        AgreementCommand::Show { agreement } => {
            let (envelope, a) = find_agreement(&mut client, &agreement).await?;
            if json {
                return print_json(&agreement_json(&envelope, &a));
            }
            println!("statement {}", envelope.id());
            print!("{}", serde_norway::to_string(&agreement_json(&envelope, &a))?);
            Ok(())
        }
        AgreementCommand::List { relying } => {
            let envelopes = client.agreements(relying.as_deref()).await?;
            let agreements: Vec<(Envelope, pb::RecognitionAgreement)> = envelopes
                .into_iter()
                .filter_map(|e| match e.statement() {
                    pb::statement::Kind::Agreement(a) => {
                        let a = a.clone();
                        Some((e, a))
                    }
                    _ => None,
                })
                .collect();
            if json {
                return print_json(&agreements.iter().map(|(e, a)| agreement_json(e, a)).collect::<Vec<_>>());
            }
            let rows: Vec<Vec<String>> = agreements
                .iter()
                .map(|(_, a)| {
                    vec![
                        format!("{}/{}/{}", a.relying_authority, a.recognised_authority, a.agreement_id),
                        a.version.to_string(),
                        if a.control_code_patterns.is_empty() { "any".into() } else { a.control_code_patterns.join(" ") },
                        if a.destinations_allowed.is_empty() { "any".into() } else { a.destinations_allowed.join(" ") },
                        a.destinations_denied.join(" "),
                        if a.max_risk_tier == 0 { "any".into() } else { a.max_risk_tier.to_string() },
                        format!("{} – {}", format_time(a.valid_from), format_time(a.valid_until)),
                    ]
                })
                .collect();
            print!("{}", table(&["AGREEMENT", "V", "PATTERNS", "DESTINATIONS", "DENIED", "MAX TIER", "VALID"], &rows));
            println!("{} agreement(s) in force", rows.len());
            Ok(())
        }
        AgreementCommand::Withdraw { agreement, key } => {
            let (_, mut a) = find_agreement(&mut client, &agreement).await?;
            a.version += 1;
            a.withdrawn = true;
            a.issued_at = now();
            let envelope = sign_statement(&pb::Statement { kind: Some(pb::statement::Kind::Agreement(a.clone())) }, &[&read_key(&key)?]);
            client.publish(envelope).await?;
            println!("agreement {agreement} withdrawn (version {})", a.version);
            Ok(())
        }
    }
}

fn agreement_json(envelope: &Envelope, a: &pb::RecognitionAgreement) -> serde_json::Value {
    serde_json::json!({
        "statement_id": envelope.id().to_hex(),
        "relying_authority": a.relying_authority,
        "recognised_authority": a.recognised_authority,
        "agreement_id": a.agreement_id,
        "version": a.version,
        "regimes": a.regimes.iter().map(|r| pb::Regime::try_from(*r).map_or("?", regime_prefix)).collect::<Vec<_>>(),
        "control_code_patterns": a.control_code_patterns,
        "destinations_allowed": a.destinations_allowed,
        "destinations_denied": a.destinations_denied,
        "licence_types": a.licence_types.iter().map(|t| pb::LicenceType::try_from(*t).map_or("?", |t| t.as_str_name())).collect::<Vec<_>>(),
        "max_risk_tier": a.max_risk_tier,
        "valid_from": format_time(a.valid_from),
        "valid_until": format_time(a.valid_until),
        "conditions": a.conditions,
        "max_staleness_secs": a.max_staleness_secs,
    })
}

/// `comity token …`
pub async fn token(node: &str, json: bool, trust: Option<&Path>, command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Export { licence, relying, output } => {
            let (authority, licence_id) = licence_ref(&licence)?;
            let request = pb::VerifyRequest {
                relying_authority: relying.unwrap_or_else(|| authority.clone()),
                authority: authority.clone(),
                licence_id: licence_id.clone(),
                ..Default::default()
            };
            let answer = Client::connect(node).await?.verify(request).await?;
            let confidential = answer.verdict == Verdict::Restricted as i32 || answer.proof.as_ref().is_some_and(|p| !p.openings.is_empty());
            if confidential {
                return Err(InputError(format!("{licence} is confidential: a token is meant to be shown to anyone, so confidential licences have none (verify them with `comity verify` at a node in their audience)")).into());
            }
            let bytes = token_from_answer(&authority, &licence_id, &answer)?;
            std::fs::write(&output, &bytes).with_context(|| format!("write {}", output.display()))?;
            let verdict = Verdict::try_from(answer.verdict).map_or("?", |v| v.as_str_name());
            println!(
                "token for {licence} ({} bytes, node's verdict at export: {}) -> {}",
                bytes.len(),
                verdict.trim_start_matches("VERDICT_"),
                output.display()
            );
            Ok(())
        }
        TokenCommand::Qr { token, output, link } => {
            let bytes = std::fs::read(&token).with_context(|| format!("read {}", token.display()))?;
            let text = pointer_for(&bytes, link.as_deref()).map_err(|e| InputError(e.to_string()))?;
            // Level M (15% of the code can be damaged): a printed code on a shipment gets scuffed.
            let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M).map_err(|e| InputError(format!("QR code: {e}")))?;
            let version = match code.version() {
                qrcode::Version::Normal(v) | qrcode::Version::Micro(v) => v,
            };
            match &output {
                Some(output) => {
                    // 4 pixels a module: a clean image that phones and rqrr read at once.
                    let image = code.render::<image::Luma<u8>>().module_dimensions(4, 4).build();
                    image.save(output).with_context(|| format!("write {}", output.display()))?;
                }
                None => println!("{}", code.render::<qrcode::render::unicode::Dense1x2>().quiet_zone(true).build()),
            }
            println!("{text}");
            println!("QR code version {version}, error correction M, {} characters", text.len());
            if let Some(output) = &output {
                println!("QR code -> {}", output.display());
            }
            Ok(())
        }
        TokenCommand::Verify { token, qr, context, max_age_days } => {
            let trust = trust.ok_or_else(|| InputError("a token is verified against a trust file: give --trust FILE (or COMITY_TRUST)".into()))?;
            let trust_file = TrustFile::read(trust)?;
            let pointer = qr.as_deref().map(read_pointer).transpose()?;
            let Some(token) = token else {
                // Checked above: without a token file there is a QR code.
                let pointer = pointer.ok_or_else(|| InputError("give a token file, --qr, or both".into()))?;
                return verify_pointer_online(node, json, &pointer, &trust_file, context, max_age_days * 86_400).await;
            };
            let bytes = std::fs::read(&token).with_context(|| format!("read {}", token.display()))?;
            let code = match &pointer {
                Some(pointer) => {
                    let verifiers = trust_file.log_verifiers()?;
                    let checkpoint =
                        check_pointer_against_token(pointer, &bytes, &verifiers).map_err(|e| comity_client::ClientError::Verification(e.to_string()))?;
                    Some(code_summary(pointer, &checkpoint, now()))
                }
                None => None,
            };
            let token_msg = <pb::LicenceToken as prost::Message>::decode(bytes.as_slice())
                .map_err(|e| comity_client::ClientError::Verification(format!("not a licence token (truncated or corrupted): {e}")))?;
            let now = now();
            let shipment = context.asked_shipment()?;
            let question = Question {
                relying_authority: context.relying.unwrap_or_else(|| token_msg.authority.clone()),
                authority: token_msg.authority.clone(),
                licence_id: token_msg.licence_id.clone(),
                context: Scope {
                    destination: context.destination,
                    control_code: context.item,
                    end_user: context.end_user,
                    end_use: context.end_use,
                    at: context.at.as_deref().map(parse_time).transpose().map_err(|e| InputError(e.to_string()))?.unwrap_or(now),
                    shipment,
                },
            };
            let report = verify_token(&bytes, &trust_file, &question, now, max_age_days * 86_400)
                .map_err(|e| comity_client::ClientError::Verification(e.to_string()))?;
            let verdict = report.judgement.verdict;
            let age = now - report.evidence_time;
            let caveat = format!(
                "evidence as of {} ({} days old); revocations or suspensions logged after that cannot be known offline — verify online for a current answer",
                format_time(report.issuer_checkpoint_time),
                age / 86_400
            );
            if json {
                print_json(&serde_json::json!({
                    "licence": format!("{}/{}", question.authority, question.licence_id),
                    "relying_authority": question.relying_authority,
                    "verdict": verdict.as_str_name().trim_start_matches("VERDICT_"),
                    "reasons": report.judgement.reasons,
                    "warnings": report.judgement.warnings,
                    "evidence_time": format_time(report.evidence_time),
                    "evidence_age_secs": age,
                    "offline_caveat": caveat,
                    "qr": code.as_ref().map(|c| &c.json),
                }))?;
            } else {
                if let Some(c) = &code {
                    println!("{}", c.text);
                }
                println!(
                    "{}  {}/{} for {} (offline)",
                    verdict.as_str_name().trim_start_matches("VERDICT_"),
                    question.authority,
                    question.licence_id,
                    question.relying_authority
                );
                for r in &report.judgement.reasons {
                    println!("  - {r}");
                }
                for w in &report.judgement.warnings {
                    println!("  ! {w}");
                }
                println!("{caveat}");
            }
            if verdict == Verdict::Valid {
                Ok(())
            } else {
                Err(NotValid(verdict).into())
            }
        }
    }
}

/// The QR code given with `--qr`: scanned text, or a file holding a PNG image or the text.
fn read_pointer(arg: &str) -> anyhow::Result<pb::TokenPointer> {
    let text = if arg.trim_start().starts_with("comity:") {
        arg.to_string()
    } else {
        let path = Path::new(arg);
        let size = std::fs::metadata(path).with_context(|| format!("--qr {arg}: neither `comity:2:` text nor a readable file"))?.len();
        if size > comity_proto::token_qr::MAX_QR_IMAGE_BYTES as u64 {
            return Err(InputError(format!("--qr {arg}: {size} bytes, more than a QR image needs")).into());
        }
        let bytes = std::fs::read(path).with_context(|| format!("read {arg}"))?;
        pointer_text_from_upload(&bytes).map_err(|e| InputError(format!("--qr {arg}: {e}")))?
    };
    Ok(parse_pointer(&text).map_err(|e| InputError(format!("--qr: {e}")))?)
}

/// What a checked QR code says, for printing.
struct CodeSummary {
    text: String,
    json: serde_json::Value,
}

fn code_summary(pointer: &pb::TokenPointer, checkpoint: &comity_proto::log::SignedCheckpoint, now: i64) -> CodeSummary {
    let age = now - checkpoint.time;
    let mut text = format!(
        "QR code: {}/{} head v{} {}, checkpoint {} size {} signed by its pinned log key {} ago ({})",
        pointer.authority,
        pointer.licence_id,
        pointer.version,
        short_id(&pointer.head_id),
        checkpoint.origin,
        checkpoint.size,
        comity_proto::verdict::human_secs(age.max(0)),
        format_time(checkpoint.time)
    );
    if !pointer.fetch.is_empty() {
        text.push_str(&format!("; online: {}", pointer.fetch));
    }
    let json = serde_json::json!({
        "licence": format!("{}/{}", pointer.authority, pointer.licence_id),
        "head_version": pointer.version,
        "head_id": hex::encode(&pointer.head_id),
        "token_sha256": hex::encode(&pointer.token_sha256),
        "checkpoint": {"origin": checkpoint.origin, "size": checkpoint.size, "time": format_time(checkpoint.time), "age_secs": age},
        "fetch": (!pointer.fetch.is_empty()).then_some(&pointer.fetch),
    });
    CodeSummary { text, json }
}

/// `comity token verify --qr CODE` without a token file: the code's checkpoint is checked
/// against the trust file, the node's Verify answer is checked against it too (its proof bundle
/// verified as a token), and the code's head is compared with the node's chain. Exit 0 only
/// when both verdicts are VALID.
async fn verify_pointer_online(
    node: &str,
    json: bool,
    pointer: &pb::TokenPointer,
    trust: &TrustFile,
    context: ContextArgs,
    max_age_secs: u64,
) -> anyhow::Result<()> {
    let failed = |m: String| comity_client::ClientError::Verification(m);
    let verifiers = trust.log_verifiers()?;
    let checkpoint = check_pointer_checkpoint(pointer, &verifiers).map_err(|e| failed(e.to_string()))?;
    let now = now();
    let code = code_summary(pointer, &checkpoint, now);
    let at = context.at.as_deref().map(parse_time).transpose().map_err(|e| InputError(e.to_string()))?;
    let shipment = context.asked_shipment()?;
    let (item, quantity) = context.shipment_fields();
    let request = pb::VerifyRequest {
        item,
        quantity,
        value_minor: 0,
        relying_authority: context.relying.clone().unwrap_or_else(|| pointer.authority.clone()),
        authority: pointer.authority.clone(),
        licence_id: pointer.licence_id.clone(),
        destination: context.destination.clone().unwrap_or_default(),
        control_code: context.item.clone().unwrap_or_default(),
        end_user: context.end_user.clone().unwrap_or_default(),
        end_use: context.end_use.clone().unwrap_or_default(),
        at: at.unwrap_or(0),
        screening_lists: trust.screening_lists.clone(),
    };
    let answer = Client::connect(node).await?.verify(request.clone()).await?;
    let verdict = Verdict::try_from(answer.verdict).unwrap_or(Verdict::Unspecified);
    let licence = format!("{}/{}", pointer.authority, pointer.licence_id);
    if answer.proof.as_ref().is_none_or(|p| p.statements.is_empty()) {
        // Nothing to compare: the node holds no decision although a pinned log signed the code's checkpoint.
        println!("{}", code.text);
        println!("{}  {licence}: the node holds no decision on this licence", verdict.as_str_name().trim_start_matches("VERDICT_"));
        return Err(NotValid(if verdict == Verdict::Valid { Verdict::NotFound } else { verdict }).into());
    }

    // The node's answer is checked like a token, so what follows is not the node's word alone.
    let bytes = token_from_answer(&pointer.authority, &pointer.licence_id, &answer)?;
    let question = Question {
        relying_authority: request.relying_authority.clone(),
        authority: pointer.authority.clone(),
        licence_id: pointer.licence_id.clone(),
        context: Scope {
            destination: context.destination,
            control_code: context.item,
            end_user: context.end_user,
            end_use: context.end_use,
            at: at.unwrap_or(now),
            shipment,
        },
    };
    let report = verify_token(&bytes, trust, &question, now, max_age_secs)
        .map_err(|e| failed(format!("the node's answer does not verify against the trust file: {e}")))?;
    let checked = report.judgement.verdict;
    let mut chain: Vec<(u64, [u8; 32], i32, i64)> = answer
        .proof
        .iter()
        .flat_map(|p| p.statements.iter())
        .filter_map(|s| Envelope::parse(s.to_vec()).ok())
        .filter_map(|e| {
            e.decision()
                .filter(|d| d.authority == pointer.authority && d.licence_id == pointer.licence_id)
                .map(|d| (d.version, e.id().0, d.action, d.decided_at))
        })
        .collect();
    chain.sort_by_key(|c| c.0);
    let node_head = chain.last().map_or(0, |c| c.0);
    let at_version = chain.iter().find(|c| c.0 == pointer.version);
    match at_version {
        None => {
            return Err(failed(format!(
                "the node's chain of {licence} ends at v{node_head}, before the code's head v{}: the node is behind the code's log",
                pointer.version
            ))
            .into())
        }
        Some(c) if c.1.as_slice() != pointer.head_id.as_slice() => {
            return Err(failed(format!(
                "CONFLICT: the node's v{} of {licence} is {}, the code names {}: two decisions for one version; do not rely on this licence",
                pointer.version,
                short_id(&c.1),
                short_id(&pointer.head_id)
            ))
            .into())
        }
        Some(_) => {}
    }
    let later: Vec<&(u64, [u8; 32], i32, i64)> = chain.iter().filter(|c| c.0 > pointer.version).collect();
    let action = |a: i32| pb::Action::try_from(a).map_or("?", |a| a.as_str_name()).trim_start_matches("ACTION_");
    let verdict_name = |v: Verdict| v.as_str_name().trim_start_matches("VERDICT_").to_string();
    if json {
        print_json(&serde_json::json!({
            "licence": licence,
            "relying_authority": request.relying_authority,
            "verdict": verdict_name(verdict),
            "verdict_checked": verdict_name(checked),
            "reasons": answer.reasons,
            "warnings": answer.warnings,
            "qr": code.json,
            "code_head_is_head": later.is_empty(),
            "later_decisions": later.iter().map(|c| serde_json::json!({"version": c.0, "statement_id": hex::encode(c.1), "action": action(c.2), "decided_at": format_time(c.3)})).collect::<Vec<_>>(),
        }))?;
    } else {
        println!("{}", code.text);
        if later.is_empty() {
            println!("the code's head v{} is still the head of {licence} at the node", pointer.version);
        } else {
            println!("!! {} LATER DECISION(S) after the code's head v{} — the code is out of date:", later.len(), pointer.version);
            for c in &later {
                println!("!!   v{} {} decided {} ({})", c.0, action(c.2), format_time(c.3), short_id(&c.1));
            }
        }
        println!("{}  {licence} for {} (the node's answer, its proof checked against the trust file)", verdict_name(verdict), request.relying_authority);
        for r in &answer.reasons {
            println!("  - {r}");
        }
        for w in &answer.warnings {
            println!("  ! {w}");
        }
        if checked != verdict {
            println!("  ! checked against the trust file the proof gives {}", verdict_name(checked));
        }
    }
    match (verdict, checked) {
        (Verdict::Valid, Verdict::Valid) => Ok(()),
        (Verdict::Valid, other) => Err(NotValid(other).into()),
        (v, _) => Err(NotValid(v).into()),
    }
}
