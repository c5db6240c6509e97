//! Classification-ruling commands (docs/rulings-and-general-licences.md): `comity ruling
//! publish` signs a ruling written in YAML or JSON (sealing a confidential one and writing its
//! opening for the applicant), `ls` and `show` read them, `check` opens a confidential ruling.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use comity_client::Client;
use comity_proto::authoring::{format_time, regime_prefix, RulingDoc};
use comity_proto::checked::CheckedStatement;
use comity_proto::pb;
use comity_proto::ruling::{self, Ruling};
use comity_proto::statement::{sign_statement, Envelope};
use comity_proto::trust::TrustFile;
use serde::{Deserialize, Serialize};

use super::trust::{read_key, UNVERIFIED};
use super::{print_json, table, InputError};

#[derive(Subcommand)]
pub enum RulingCommand {
    /// Sign and publish a ruling written in YAML or JSON (schema in examples/README.md). The
    /// next version of a ruling the node holds is numbered and linked by itself. A
    /// `confidential: true` ruling publishes the result only; the applicant and parameters are
    /// committed to and written to --opening for the applicant.
    Publish {
        /// The ruling document.
        file: PathBuf,
        /// Signing key of the authority.
        #[arg(long)]
        key: PathBuf,
        /// Where to write a confidential ruling's opening [default: FILE.opening.json].
        #[arg(long)]
        opening: Option<PathBuf>,
    },
    /// The rulings the node holds in force (their latest version).
    Ls {
        /// Only this authority's.
        #[arg(long)]
        authority: Option<String>,
        /// Only rulings to this code or a code under it, e.g. EU-DU:3A001.b.
        #[arg(long)]
        code: Option<String>,
        /// Only rulings whose applicant or item has a word starting with this.
        #[arg(long)]
        word: Option<String>,
        /// Withdrawn and expired rulings too.
        #[arg(long)]
        all: bool,
    },
    /// One ruling, AUTHORITY/RULING_ID: its result, item, parameters and versions (verified
    /// against the trust file when one is given).
    Show {
        /// The ruling, AUTHORITY/RULING_ID (e.g. de.bafa/DE-CR-2026-0115).
        ruling: String,
    },
    /// Open a confidential ruling with the opening its applicant holds: the applicant and
    /// parameters in it are shown only if they are what the authority signed for.
    Check {
        /// The ruling, AUTHORITY/RULING_ID.
        ruling: String,
        /// The opening file written by `comity ruling publish`.
        #[arg(long)]
        opening: PathBuf,
    },
}

/// What the applicant of a confidential ruling keeps: the ruling it opens and the details.
#[derive(Serialize, Deserialize)]
struct OpeningFile {
    ruling: String,
    version: u64,
    details: pb::RulingDetails,
}

pub async fn ruling(node: &str, json: bool, trust: Option<&Path>, command: RulingCommand) -> anyhow::Result<()> {
    let mut client = Client::connect(node).await?;
    match command {
        RulingCommand::Publish { file, key, opening } => {
            let signer = read_key(&key)?;
            let text = std::fs::read_to_string(&file).with_context(|| format!("read {}", file.display()))?;
            // YAML is a superset of JSON: one parser reads both.
            let doc: RulingDoc = serde_norway::from_str(&text).map_err(|e| InputError(format!("{}: {e}", file.display())))?;
            let mut wire = doc.to_wire().map_err(|e| InputError(format!("{}: {e}", file.display())))?;
            // The next version of a ruling the node holds, unless the document numbers it.
            if wire.version == 0 {
                match client.ruling(&wire.authority, &wire.ruling_id).await {
                    Ok(held) => {
                        let last = held.versions.last().map(|b| Envelope::parse(b.clone())).transpose()?;
                        if let Some(last) = last {
                            if let pb::statement::Kind::ClassificationRuling(r) = last.statement() {
                                wire.version = r.version + 1;
                                wire.previous = last.id().0.to_vec();
                            }
                        }
                    }
                    Err(e) if e.code() == Some(tonic::Code::NotFound) => wire.version = 1,
                    Err(e) => return Err(e.into()),
                }
            }
            let details = if doc.confidential {
                let (sealed, details) = ruling::seal(wire, rand::random());
                wire = sealed;
                Some(details)
            } else {
                None
            };
            let checked = Ruling::try_from(wire.clone()).map_err(|e| InputError(format!("{}: {e}", file.display())))?;
            let envelope = sign_statement(&pb::Statement { kind: Some(pb::statement::Kind::ClassificationRuling(wire.clone())) }, &[&signer]);
            let response = client.publish(envelope).await?;
            println!("published {checked}: {} (statement {})", checked.result(), hex::encode(&response.statement_id));
            if let Some(details) = details {
                let path = opening.unwrap_or_else(|| file.with_extension("opening.json"));
                let kept = OpeningFile { ruling: checked.key(), version: wire.version, details };
                std::fs::write(&path, serde_json::to_string_pretty(&kept)?).with_context(|| format!("write {}", path.display()))?;
                println!("confidential: the applicant and parameters are withheld; give {} to the applicant", path.display());
            }
            Ok(())
        }
        RulingCommand::Ls { authority, code, word, all } => {
            let request = pb::ListRulingsRequest {
                authority: authority.unwrap_or_default(),
                control_code: code.unwrap_or_default(),
                word: word.unwrap_or_default(),
                all,
                limit: 0,
            };
            let (envelopes, truncated) = client.rulings(request).await?;
            let now = chrono::Utc::now().timestamp();
            let rulings: Vec<Ruling> = envelopes
                .iter()
                .filter_map(|e| match CheckedStatement::try_from(e) {
                    Ok(CheckedStatement::Ruling(r)) => Some(r),
                    _ => None,
                })
                .collect();
            if json {
                let rows: Vec<serde_json::Value> = rulings.iter().map(|r| ruling_json(r, now)).collect();
                return print_json(&rows);
            }
            let rows: Vec<Vec<String>> = rulings
                .iter()
                .map(|r| {
                    let w = r.ruling();
                    vec![
                        r.key(),
                        w.version.to_string(),
                        r.status_at(now).as_str().into(),
                        r.result(),
                        applicant(r),
                        format_time(w.valid_until),
                        w.item_description.clone(),
                    ]
                })
                .collect();
            print!("{}", table(&["RULING", "VERSION", "STATUS", "RESULT", "APPLICANT", "VALID UNTIL", "ITEM"], &rows));
            if truncated {
                println!("(more rulings match: narrow with --authority, --code or --word)");
            }
            Ok(())
        }
        RulingCommand::Show { ruling } => {
            let (authority, ruling_id) = reference(&ruling)?;
            let answer = client.ruling(&authority, &ruling_id).await?;
            let now = chrono::Utc::now().timestamp();
            let (checked, verified) = match trust {
                Some(path) => {
                    let trust = TrustFile::read(path)?;
                    let key_set = client.key_set(&authority).await.ok();
                    let (checked, checkpoint) = comity_client::verified::check_ruling_answer(&trust, &authority, &ruling_id, &answer, key_set.as_ref(), now)?;
                    let line = format!(
                        "verified: signed by a key of {authority} the trust file vouches for; logged in {} at size {} (signed {})",
                        checkpoint.origin,
                        checkpoint.size,
                        format_time(checkpoint.time)
                    );
                    (checked, line)
                }
                None => {
                    let last = answer.versions.last().ok_or_else(|| InputError(format!("the node sent no version of {ruling}")))?;
                    match CheckedStatement::try_from(&Envelope::parse(last.clone())?) {
                        Ok(CheckedStatement::Ruling(r)) => (r, UNVERIFIED.to_string()),
                        _ => return Err(InputError(format!("the node's answer about {ruling} is not a ruling")).into()),
                    }
                }
            };
            if json {
                let mut value = ruling_json(&checked, now);
                value["versions"] = answer.versions.len().into();
                value["verified"] = verified.into();
                return print_json(&value);
            }
            print_ruling(&checked, answer.versions.len(), now);
            println!("{verified}");
            Ok(())
        }
        RulingCommand::Check { ruling, opening } => {
            let (authority, ruling_id) = reference(&ruling)?;
            let text = std::fs::read_to_string(&opening).with_context(|| format!("read {}", opening.display()))?;
            let kept: OpeningFile = serde_json::from_str(&text).map_err(|e| InputError(format!("{}: not a ruling opening: {e}", opening.display())))?;
            if kept.ruling != ruling {
                return Err(InputError(format!("{} opens {}, not {ruling}", opening.display(), kept.ruling)).into());
            }
            let answer = client.ruling(&authority, &ruling_id).await?;
            // The version the opening was made for (later versions of a confidential ruling
            // carry their own commitment).
            let version = answer
                .versions
                .iter()
                .filter_map(|b| Envelope::parse(b.clone()).ok())
                .filter_map(|e| match CheckedStatement::try_from(&e) {
                    Ok(CheckedStatement::Ruling(r)) => Some(r),
                    _ => None,
                })
                .find(|r| r.ruling().version == kept.version)
                .ok_or_else(|| InputError(format!("the node holds no version {} of {ruling}", kept.version)))?;
            version.open(&kept.details).map_err(|e| comity_client::ClientError::Verification(e.to_string()))?;
            let mut opened = version.ruling().clone();
            opened.applicant = kept.details.applicant.clone();
            opened.parameters = kept.details.parameters.clone();
            opened.commitment.clear();
            let opened = Ruling::try_from(opened).map_err(|e| comity_client::ClientError::Verification(e.to_string()))?;
            if json {
                let mut value = ruling_json(&opened, chrono::Utc::now().timestamp());
                value["opened"] = true.into();
                return print_json(&value);
            }
            println!("OPENED: the applicant and parameters below are those {authority} signed for in {version}");
            print_ruling(&opened, answer.versions.len(), chrono::Utc::now().timestamp());
            Ok(())
        }
    }
}

fn reference(text: &str) -> Result<(String, String), InputError> {
    text.split_once('/')
        .map(|(a, r)| (a.to_string(), r.to_string()))
        .ok_or_else(|| InputError(format!("`{text}` must be AUTHORITY/RULING_ID, e.g. de.bafa/DE-CR-2026-0115")))
}

fn applicant(r: &Ruling) -> String {
    match (&r.ruling().applicant, r.is_confidential()) {
        (Some(p), _) => format!("{} ({})", p.name, p.country),
        (None, true) => "(confidential)".into(),
        (None, false) => String::new(),
    }
}

fn print_ruling(r: &Ruling, versions: usize, now: i64) {
    let w = r.ruling();
    println!("{} v{} ({} version(s)): {}", r.key(), w.version, versions, r.status_at(now).as_str());
    println!("  result:      {}", r.result());
    println!("  item:        {}", w.item_description);
    println!("  applicant:   {}", applicant(r));
    if r.is_confidential() && w.parameters.is_empty() {
        println!("  parameters:  (confidential: committed to, opened with `comity ruling check --opening`)");
    }
    for p in &w.parameters {
        println!("  parameter:   {}: {}", p.name, p.value);
    }
    println!("  rationale:   {}", w.rationale);
    println!("  valid:       {} to {}", format_time(w.valid_from), format_time(w.valid_until));
    println!("  issued:      {}", format_time(w.issued_at));
}

fn ruling_json(r: &Ruling, now: i64) -> serde_json::Value {
    let w = r.ruling();
    serde_json::json!({
        "ruling": r.key(),
        "version": w.version,
        "status": r.status_at(now).as_str(),
        "result": r.result(),
        "control_codes": w.control_codes,
        "not_listed": w.not_listed,
        "not_listed_in": w.not_listed_in.iter().map(|g| regime_prefix(pb::Regime::try_from(*g).unwrap_or(pb::Regime::Unspecified))).collect::<Vec<_>>(),
        "item_description": w.item_description,
        "applicant": w.applicant.as_ref().map(|p| serde_json::json!({"name": p.name, "country": p.country})),
        "parameters": w.parameters.iter().map(|p| serde_json::json!({"name": p.name, "value": p.value})).collect::<Vec<_>>(),
        "confidential": r.is_confidential(),
        "rationale": w.rationale,
        "valid_from": format_time(w.valid_from),
        "valid_until": format_time(w.valid_until),
        "issued_at": format_time(w.issued_at),
    })
}
