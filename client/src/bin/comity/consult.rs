//! No-undercut consultation commands (docs/consultation.md): `comity consult check` a draft
//! grant against partners' denials, `open` a consultation on one, `answer` one as the denying
//! authority, and `ls` / `show` those the node holds.

use std::path::{Path, PathBuf};

use clap::{Subcommand, ValueEnum};
use comity_client::{read_decision_doc, Client};
use comity_proto::authoring::{format_time, parse_time};
use comity_proto::consultation::{describe, position_name, split_licence_ref, Consultation};
use comity_proto::pb;
use comity_proto::statement::sign_statement;

use super::trust::read_key;
use super::{print_json, table, InputError};

#[derive(Subcommand)]
pub enum ConsultCommand {
    /// The partners' denials a draft GRANT (a decision document) would undercut, and whether a
    /// consultation it cites or its override covers each.
    Check {
        /// The draft decision (YAML or JSON, as for `comity sign`).
        draft: PathBuf,
    },
    /// Open a consultation with the partner that denied an essentially identical transaction:
    /// sign and publish a request stating the transaction of the draft grant.
    Open {
        /// The partner's denied licence, AUTHORITY/LICENCE (e.g. de.bafa/DE-2026-000481).
        #[arg(long)]
        denial: String,
        /// The draft grant whose end users, items, destinations and end use the request states.
        #[arg(long)]
        draft: PathBuf,
        /// Your reference for the consultation, e.g. JP-CONS-2026-0007.
        #[arg(long)]
        id: String,
        /// What you ask or explain, e.g. why you see the case differently.
        #[arg(long)]
        question: String,
        /// An answer is asked for by this date (date or RFC 3339 time).
        #[arg(long)]
        respond_by: Option<String>,
        /// Signing key of the consulting authority.
        #[arg(long)]
        key: PathBuf,
    },
    /// Answer a consultation on one of your denials: sign and publish your position.
    Answer {
        /// The consultation, CONSULTING-AUTHORITY/ID (e.g. jp.meti/JP-CONS-2026-0007).
        consultation: String,
        /// Your position: no-objection, objection (you maintain your denial) or information-only.
        #[arg(long, value_enum, ignore_case = true)]
        position: PositionArg,
        /// Your view, e.g. what you know of the end user (no confidential case detail).
        #[arg(long)]
        text: String,
        /// Signing key of the denying authority.
        #[arg(long)]
        key: PathBuf,
    },
    /// The consultations the node holds, newest first.
    Ls {
        /// Only those where this authority consults or is consulted.
        #[arg(long)]
        authority: Option<String>,
        /// Only those with no answer yet.
        #[arg(long)]
        open: bool,
    },
    /// One consultation: the request, the transaction and every answer.
    Show {
        /// CONSULTING-AUTHORITY/ID.
        consultation: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum PositionArg {
    NoObjection,
    Objection,
    InformationOnly,
}

impl From<PositionArg> for pb::ConsultationPosition {
    fn from(p: PositionArg) -> Self {
        match p {
            PositionArg::NoObjection => pb::ConsultationPosition::NoObjection,
            PositionArg::Objection => pb::ConsultationPosition::Objection,
            PositionArg::InformationOnly => pb::ConsultationPosition::InformationOnly,
        }
    }
}

/// A draft's wire decision, numbered as a first version when the draft leaves it open (the
/// comparison reads only its terms).
fn draft_decision(path: &Path) -> anyhow::Result<pb::Decision> {
    let doc = read_decision_doc(path)?;
    let mut d = doc.to_wire().map_err(|e| InputError(format!("{}: {e}", path.display())))?;
    if d.version == 0 {
        (d.version, d.previous) = (1, Vec::new());
    }
    Ok(d)
}

/// `AUTHORITY/ID` split.
fn consultation_ref(text: &str) -> anyhow::Result<(String, String)> {
    let (a, id) = text.split_once('/').ok_or_else(|| InputError(format!("`{text}` is not a consultation like jp.meti/JP-CONS-2026-0007")))?;
    Ok((a.to_string(), id.to_string()))
}

/// The consultation `consulting/id` as the node holds it.
async fn find(client: &mut Client, consulting: &str, id: &str) -> anyhow::Result<pb::ConsultationRecord> {
    let all = client.consultations(pb::ListConsultationsRequest { authority: consulting.to_string(), open_only: false }).await?;
    all.consultations
        .into_iter()
        .find(|c| c.request.as_ref().is_some_and(|r| r.authority == consulting && r.consultation_id == id))
        .ok_or_else(|| InputError(format!("consultation {consulting}/{id} is not held by this node")).into())
}

fn status_of(c: &pb::ConsultationRecord) -> String {
    let denier = c.request.as_ref().and_then(|r| split_licence_ref(&r.denial)).map(|(a, _)| a.to_string()).unwrap_or_default();
    match c.answers.iter().rev().find(|a| a.authority == denier) {
        Some(a) => format!("answered: {}", position_name(a.position)),
        None => "open".to_string(),
    }
}

/// Signs and publishes `consultation`: the statement id (hex) the node answers with.
async fn publish(client: &mut Client, consultation: Consultation, key: &Path) -> anyhow::Result<String> {
    let signer = read_key(key)?;
    let envelope = sign_statement(&consultation.statement(), &[&signer]);
    Ok(hex::encode(client.publish(envelope).await?.statement_id))
}

pub async fn consult(node: &str, json: bool, command: ConsultCommand) -> anyhow::Result<()> {
    let mut client = Client::connect(node).await?;
    let now = chrono::Utc::now().timestamp();
    match command {
        ConsultCommand::Check { draft } => {
            let decision = draft_decision(&draft)?;
            let found = client.check_undercut(decision).await?.undercuts;
            if json {
                return print_json(&found);
            }
            if found.is_empty() {
                println!("no partner denial of an essentially identical transaction in the last three years");
            }
            for u in &found {
                let state = if u.covered_by.is_empty() { "NOT COVERED" } else { "covered" };
                println!("{state}: {}", describe(u));
            }
            if found.iter().any(|u| u.covered_by.is_empty()) {
                println!("consult each partner (comity consult open --denial AUTHORITY/LICENCE --draft FILE ...) or give an undercut_override with reasons");
            }
            Ok(())
        }
        ConsultCommand::Open { denial, draft, id, question, respond_by, key } => {
            let (denier, licence_id) = split_licence_ref(&denial).ok_or_else(|| InputError(format!("--denial: `{denial}` is not AUTHORITY/LICENCE")))?;
            let d = draft_decision(&draft)?;
            let (_, head) = client.head(denier, licence_id).await?.ok_or_else(|| InputError(format!("--denial: {denial} is not held by this node")))?;
            let respond_by = respond_by.as_deref().map(parse_time).transpose().map_err(|e| InputError(format!("--respond-by: {e}")))?.unwrap_or(0);
            let request = pb::ConsultationRequest {
                authority: d.authority.clone(),
                consultation_id: id,
                denial: denial.clone(),
                denial_statement: head.0.to_vec(),
                end_users: d.end_users,
                items: d.items,
                destinations: d.destinations,
                end_use: d.end_use,
                question,
                respond_by,
                issued_at: now,
            };
            let checked = Consultation::try_from(request).map_err(|e| InputError(format!("invalid consultation: {e}")))?;
            let statement = publish(&mut client, checked.clone(), &key).await?;
            println!("opened {checked} as statement {statement}");
            println!("{denier} answers it with: comity consult answer {}/{} --position ... --text ...", d.authority, checked.key().1);
            Ok(())
        }
        ConsultCommand::Answer { consultation, position, text, key } => {
            let (consulting, id) = consultation_ref(&consultation)?;
            let held = find(&mut client, &consulting, &id).await?;
            let request = held.request.as_ref().expect("found by its request");
            let denier = split_licence_ref(&request.denial).map(|(a, _)| a.to_string()).unwrap_or_default();
            let answer = pb::ConsultationAnswer {
                authority: denier,
                consulting_authority: consulting,
                consultation_id: id,
                request: held.request_id.clone(),
                position: pb::ConsultationPosition::from(position) as i32,
                text,
                issued_at: now,
            };
            let checked = Consultation::try_from(answer).map_err(|e| InputError(format!("invalid answer: {e}")))?;
            let statement = publish(&mut client, checked.clone(), &key).await?;
            println!("published {checked} ({}) as statement {statement}", position_name(pb::ConsultationPosition::from(position) as i32));
            Ok(())
        }
        ConsultCommand::Ls { authority, open } => {
            let all = client.consultations(pb::ListConsultationsRequest { authority: authority.unwrap_or_default(), open_only: open }).await?;
            if json {
                return print_json(&all.consultations);
            }
            let rows: Vec<Vec<String>> = all
                .consultations
                .iter()
                .filter_map(|c| {
                    let r = c.request.as_ref()?;
                    Some(vec![
                        format!("{}/{}", r.authority, r.consultation_id),
                        r.denial.clone(),
                        format_time(r.issued_at),
                        r.end_users.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join("; "),
                        r.destinations.join(","),
                        status_of(c),
                    ])
                })
                .collect();
            print!("{}", table(&["CONSULTATION", "DENIAL", "ISSUED", "END USER", "DEST", "STATUS"], &rows));
            Ok(())
        }
        ConsultCommand::Show { consultation } => {
            let (consulting, id) = consultation_ref(&consultation)?;
            let held = find(&mut client, &consulting, &id).await?;
            if json {
                return print_json(&held);
            }
            let r = held.request.as_ref().expect("found by its request");
            println!("consultation {}/{} on {} ({})", r.authority, r.consultation_id, r.denial, status_of(&held));
            println!("  issued     {}", format_time(r.issued_at));
            if r.respond_by != 0 {
                println!("  respond by {}", format_time(r.respond_by));
            }
            for p in &r.end_users {
                println!("  end user   {} ({})", p.name, p.country);
            }
            for i in &r.items {
                println!("  item       {} {}", comity_proto::authoring::qualified_control_code(i), i.description);
            }
            println!("  destinations {}", r.destinations.join(", "));
            if !r.end_use.is_empty() {
                println!("  end use    {}", r.end_use);
            }
            println!("  question   {}", r.question);
            for a in &held.answers {
                println!("answer of {} ({}), {}: {}", a.authority, position_name(a.position), format_time(a.issued_at), a.text);
            }
            Ok(())
        }
    }
}
