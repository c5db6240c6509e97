//! Screening commands (docs/screening.md): `comity screen NAME` against the denied-party and
//! end-user alert lists a node holds, and `comity screening` to publish and list them.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use comity_client::Client;
use comity_proto::authoring::{format_time, parse_time};
use comity_proto::catalogue_csv::read_screened_parties;
use comity_proto::pb;
use comity_proto::screening::ScreeningList;
use comity_proto::statement::{sign_statement, Envelope, MAX_ENVELOPE_BYTES};
use prost::Message;

use super::lists::statements_of;
use super::trust::read_key;
use super::{print_json, table, InputError};

#[derive(Subcommand)]
pub enum ScreeningCommand {
    /// Sign and publish entries added to a screening list, from CSV (columns
    /// entry_id,name,aliases,countries,addresses,reason,legal_basis; several aliases, countries
    /// or addresses separated by `;`). As many versions as the statement size needs.
    Add {
        /// Publishing authority, e.g. de.bafa.
        #[arg(long)]
        authority: String,
        /// The list's short id, e.g. end-user-alert.
        #[arg(long)]
        id: String,
        /// The list's name and legal basis.
        #[arg(long)]
        title: String,
        /// In force from (date or RFC 3339 time) [default: now].
        #[arg(long)]
        valid_from: Option<String>,
        /// The entries.
        #[arg(long)]
        file: PathBuf,
        /// Signing key of the authority.
        #[arg(long)]
        key: PathBuf,
    },
    /// Sign and publish the removal of one entry, with the reason.
    Remove {
        /// The list, AUTHORITY/ID.
        list: String,
        /// The entry id.
        entry: String,
        /// Why it is removed, e.g. "delisted on review".
        #[arg(long)]
        reason: String,
        /// Signing key of the authority.
        #[arg(long)]
        key: PathBuf,
    },
    /// The screening lists the node holds, with their latest version.
    Ls,
}

/// The newest version of each screening list the node holds.
pub(super) async fn heads(client: &mut Client) -> anyhow::Result<Vec<(Envelope, pb::ScreeningList)>> {
    let (_, _, lists) = client.control_lists_and_screening(pb::ListControlListsRequest::default()).await?;
    Ok(statements_of(lists, |k| match k {
        pb::statement::Kind::ScreeningList(l) => Some(l),
        _ => None,
    }))
}

/// Publishes `list` (its version and previous filled from `head`), checked and signed.
pub(super) async fn publish(
    client: &mut Client,
    mut list: pb::ScreeningList,
    head: &mut Option<(Vec<u8>, u64)>,
    signer: &comity_proto::statement::Signer,
) -> anyhow::Result<()> {
    list.version = head.as_ref().map_or(1, |(_, v)| v + 1);
    list.previous = head.as_ref().map(|(id, _)| id.clone()).unwrap_or_default();
    let checked = ScreeningList::try_from(list.clone()).map_err(|e| InputError(e.to_string()))?;
    let envelope = sign_statement(&pb::Statement { kind: Some(pb::statement::Kind::ScreeningList(list.clone())) }, &[signer]);
    let response = client.publish(envelope).await?;
    println!("published {checked} ({} added, {} removed) as statement {}", list.added.len(), list.removed.len(), hex::encode(&response.statement_id));
    *head = Some((response.statement_id, list.version));
    Ok(())
}

pub async fn screening(node: &str, json: bool, command: ScreeningCommand) -> anyhow::Result<()> {
    let mut client = Client::connect(node).await?;
    let now = chrono::Utc::now().timestamp();
    match command {
        ScreeningCommand::Add { authority, id, title, valid_from, file, key } => {
            let signer = read_key(&key)?;
            let valid_from = valid_from.as_deref().map(parse_time).transpose().map_err(|e| InputError(format!("--valid-from: {e}")))?.unwrap_or(now);
            let text = std::fs::read_to_string(&file).with_context(|| format!("read {}", file.display()))?;
            let parties = read_screened_parties(&text).map_err(|e| InputError(format!("{}: {e}", file.display())))?;
            let mut head =
                heads(&mut client).await?.into_iter().find(|(_, l)| l.authority == authority && l.list_id == id).map(|(e, l)| (e.id().0.to_vec(), l.version));
            let base = pb::ScreeningList { authority, list_id: id, title, valid_from, issued_at: now, ..Default::default() };
            // As many entries per version as a statement holds (64 KB, with room for the signature).
            let mut batch: Vec<pb::ScreenedParty> = Vec::new();
            for party in parties {
                batch.push(party);
                let size =
                    pb::Statement { kind: Some(pb::statement::Kind::ScreeningList(pb::ScreeningList { added: batch.clone(), ..base.clone() })) }.encoded_len();
                if size + 1024 > MAX_ENVELOPE_BYTES {
                    let last = batch.pop().expect("just pushed");
                    publish(&mut client, pb::ScreeningList { added: std::mem::take(&mut batch), ..base.clone() }, &mut head, &signer).await?;
                    batch.push(last);
                }
            }
            if !batch.is_empty() {
                publish(&mut client, pb::ScreeningList { added: batch, ..base }, &mut head, &signer).await?;
            }
            Ok(())
        }
        ScreeningCommand::Remove { list, entry, reason, key } => {
            let signer = read_key(&key)?;
            let Some((envelope, latest)) = heads(&mut client).await?.into_iter().find(|(_, l)| format!("{}/{}", l.authority, l.list_id) == list) else {
                return Err(InputError(format!("screening list `{list}` is not held by this node")).into());
            };
            let mut head = Some((envelope.id().0.to_vec(), latest.version));
            let removal = pb::ScreeningList {
                authority: latest.authority.clone(),
                list_id: latest.list_id.clone(),
                title: latest.title.clone(),
                valid_from: now,
                removed: vec![pb::ScreeningRemoval { entry_id: entry, reason }],
                issued_at: now,
                ..Default::default()
            };
            publish(&mut client, removal, &mut head, &signer).await
        }
        ScreeningCommand::Ls => {
            let lists = heads(&mut client).await?;
            if json {
                let rows: Vec<serde_json::Value> = lists
                    .iter()
                    .map(|(e, l)| serde_json::json!({"list": format!("{}/{}", l.authority, l.list_id), "version": l.version, "title": l.title, "statement_id": e.id().to_string()}))
                    .collect();
                return print_json(&rows);
            }
            let rows: Vec<Vec<String>> = lists
                .iter()
                .map(|(_, l)| vec![format!("{}/{}", l.authority, l.list_id), l.version.to_string(), format_time(l.valid_from), l.title.clone()])
                .collect();
            print!("{}", table(&["LIST", "VERSION", "LATEST IN FORCE FROM", "TITLE"], &rows));
            Ok(())
        }
    }
}

/// `comity screen NAME`: the entries of the lists held that match, best first.
pub async fn screen(node: &str, json: bool, name: &str, country: Option<String>, lists: Vec<String>, min_score: u32) -> anyhow::Result<()> {
    let mut client = Client::connect(node).await?;
    let request = pb::ScreenRequest { name: name.into(), country: country.unwrap_or_default(), lists, min_score, limit: 0 };
    let answer = client.screen(request).await?;
    if json {
        let matches: Vec<serde_json::Value> = answer
            .matches
            .iter()
            .map(|m| {
                let e = m.entry.clone().unwrap_or_default();
                serde_json::json!({"list": m.list, "list_version": m.list_version, "entry_id": e.entry_id, "name": e.name, "matched_name": m.matched_name, "score": m.score, "strong": m.strong, "countries": e.countries, "reason": e.reason, "legal_basis": e.legal_basis})
            })
            .collect();
        return print_json(&serde_json::json!({"matches": matches, "lists_screened": answer.lists_screened, "entries_screened": answer.entries_screened}));
    }
    if answer.matches.is_empty() {
        println!("no match for {name:?} in {} list(s), {} entries screened", answer.lists_screened, answer.entries_screened);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = answer
        .matches
        .iter()
        .map(|m| {
            let e = m.entry.clone().unwrap_or_default();
            vec![
                if m.strong { "STRONG".into() } else { "weak".into() },
                m.score.to_string(),
                format!("{} {}", m.list, e.entry_id),
                m.matched_name.clone(),
                e.countries.join(" "),
                e.reason.clone(),
            ]
        })
        .collect();
    print!("{}", table(&["MATCH", "SCORE", "LIST ENTRY", "LISTED NAME", "COUNTRIES", "REASON"], &rows));
    println!("{} list(s), {} entries screened", answer.lists_screened, answer.entries_screened);
    Ok(())
}
