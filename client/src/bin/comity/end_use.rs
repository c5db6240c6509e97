//! Post-shipment verification (#23): `comity end-use-check record` logs the outcome of an
//! end-use check against a licence; a diverted outcome can, in the same command, suspend the
//! licence and put its end users on a screening list.

use std::path::PathBuf;

use clap::{Subcommand, ValueEnum};
use comity_client::Client;
use comity_proto::authoring::parse_time;
use comity_proto::consultation::split_licence_ref;
use comity_proto::end_use_check::CheckedEndUseCheck;
use comity_proto::pb;
use comity_proto::statement::{sign_decision, sign_statement};

use super::trust::read_key;
use super::InputError;

#[derive(Subcommand)]
pub enum EndUseCommand {
    /// Sign and publish the outcome of a post-shipment verification of a licence.
    Record {
        /// The licence checked, AUTHORITY/LICENCE.
        licence: String,
        /// Your reference for the check, e.g. JP-PSV-2026-0012.
        #[arg(long)]
        id: String,
        /// What the check found.
        #[arg(long, value_enum, ignore_case = true)]
        outcome: OutcomeArg,
        /// The shipment checked (customs declaration or shipment reference).
        #[arg(long)]
        shipment: Option<String>,
        /// The day of the check (date or RFC 3339 time) [default: today].
        #[arg(long)]
        checked_on: Option<String>,
        /// Where, e.g. "Jebel Ali Free Zone, Dubai, AE".
        #[arg(long)]
        place: Option<String>,
        /// Who checked, e.g. "Embassy of Japan in Abu Dhabi".
        #[arg(long)]
        checked_by: Option<String>,
        /// What was found.
        #[arg(long)]
        findings: Option<String>,
        /// Withhold place, checker and findings: partners see the outcome only.
        #[arg(long)]
        confidential: bool,
        /// With a diverted outcome: also suspend the licence (the key must be its issuer's).
        #[arg(long)]
        suspend: bool,
        /// With a diverted outcome: also add the licence's end users to this screening list,
        /// AUTHORITY/ID (of the key's authority).
        #[arg(long)]
        screening_list: Option<String>,
        /// Signing key of the checking authority.
        #[arg(long)]
        key: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum OutcomeArg {
    Confirmed,
    NotFound,
    Diverted,
}

impl From<OutcomeArg> for pb::EndUseOutcome {
    fn from(o: OutcomeArg) -> Self {
        match o {
            OutcomeArg::Confirmed => pb::EndUseOutcome::Confirmed,
            OutcomeArg::NotFound => pb::EndUseOutcome::NotFound,
            OutcomeArg::Diverted => pb::EndUseOutcome::Diverted,
        }
    }
}

pub async fn end_use(node: &str, command: EndUseCommand) -> anyhow::Result<()> {
    let EndUseCommand::Record { licence, id, outcome, shipment, checked_on, place, checked_by, findings, confidential, suspend, screening_list, key } = command;
    let (licence_authority, licence_id) =
        split_licence_ref(&licence).ok_or_else(|| InputError(format!("`{licence}` is not a licence like de.bafa/DE-2026-004211")))?;
    let diverted = matches!(outcome, OutcomeArg::Diverted);
    if (suspend || screening_list.is_some()) && !diverted {
        return Err(InputError("--suspend and --screening-list follow a diverted outcome only".into()).into());
    }
    let signer = read_key(&key)?;
    let authority = comity_proto::keyfile::KeyFile::read(&key)?.authority;
    let now = chrono::Utc::now().timestamp();
    let checked_on = checked_on.as_deref().map(parse_time).transpose().map_err(|e| InputError(format!("--checked-on: {e}")))?.unwrap_or(now);
    let check = pb::EndUseCheck {
        authority: authority.clone(),
        check_id: id.clone(),
        licence: licence.clone(),
        shipment: shipment.unwrap_or_default(),
        outcome: pb::EndUseOutcome::from(outcome) as i32,
        checked_on,
        place: place.unwrap_or_default(),
        checked_by: checked_by.unwrap_or_default(),
        findings: findings.clone().unwrap_or_default(),
        confidential,
        issued_at: now,
    };
    let checked = CheckedEndUseCheck::try_from(check.clone()).map_err(|e| InputError(format!("invalid end-use check: {e}")))?;
    let mut client = Client::connect(node).await?;
    let held = client.licence(licence_authority, licence_id).await?;
    let envelope = sign_statement(&pb::Statement { kind: Some(pb::statement::Kind::EndUseCheck(check)) }, &[&signer]);
    let published = client.publish(envelope).await?;
    println!("published {checked} as statement {}", hex::encode(&published.statement_id));
    let why = format!("Post-shipment verification {authority}/{id}: {}", findings.as_deref().unwrap_or("the goods were found diverted"));
    if suspend {
        if licence_authority != authority {
            return Err(InputError(format!("--suspend: {licence} is {licence_authority}'s licence; only its issuer suspends it")).into());
        }
        let terms = held.state.as_ref().map(|s| &s.terms).ok_or_else(|| InputError(format!("--suspend: the terms of {licence} are not readable here")))?;
        let (version, head) = client.head(licence_authority, licence_id).await?.ok_or_else(|| InputError(format!("{licence} has no decision")))?;
        let decision = pb::Decision {
            authority: licence_authority.into(),
            licence_id: licence_id.into(),
            version: version + 1,
            previous: head.0.to_vec(),
            action: pb::Action::Suspend as i32,
            reasons: vec![pb::Reason { code: "DIVERSION_FOUND".into(), legal_basis: format!("End-use check {authority}/{id}"), text: why.clone() }],
            application_received: terms.application_received,
            decided_at: now,
            ..Default::default()
        };
        let envelope = sign_decision(decision, &signer);
        let published = client.publish(envelope).await?;
        println!("suspended {licence} (version {}) as statement {}", version + 1, hex::encode(&published.statement_id));
    }
    if let Some(list) = screening_list {
        let terms =
            held.state.as_ref().map(|s| &s.terms).ok_or_else(|| InputError(format!("--screening-list: the terms of {licence} are not readable here")))?;
        let Some((envelope, latest)) = super::screening::heads(&mut client).await?.into_iter().find(|(_, l)| format!("{}/{}", l.authority, l.list_id) == list)
        else {
            return Err(InputError(format!("--screening-list: `{list}` is not held by this node")).into());
        };
        if latest.authority != authority {
            return Err(InputError(format!("--screening-list: {list} is {}'s list", latest.authority)).into());
        }
        let added = terms
            .end_users
            .iter()
            .enumerate()
            .map(|(n, p)| pb::ScreenedParty {
                entry_id: format!("{id}-{}", n + 1),
                name: p.name.clone(),
                addresses: (!p.address.is_empty()).then(|| p.address.clone()).into_iter().collect(),
                countries: vec![p.country.clone()],
                reason: why.clone(),
                legal_basis: format!("End-use check {authority}/{id} of licence {licence}"),
                ..Default::default()
            })
            .collect();
        let version = pb::ScreeningList {
            authority: latest.authority.clone(),
            list_id: latest.list_id.clone(),
            title: latest.title.clone(),
            valid_from: now,
            added,
            issued_at: now,
            ..Default::default()
        };
        let mut head = Some((envelope.id().0.to_vec(), latest.version));
        super::screening::publish(&mut client, version, &mut head, &signer).await?;
    }
    Ok(())
}
