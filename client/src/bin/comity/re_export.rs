//! `comity re-export`: an authority's consent to the re-export of goods it licensed, and its
//! withdrawal (docs/re-export.md), and the re-export chain as `comity licence show` prints it.
//! A consent is a decision on the parent licence's own chain, signed with the parent issuer's
//! key; the re-export licence itself is an ordinary decision document with `parent_licence` and
//! `consent_id`, published with `comity publish`.

use std::fmt::Write;
use std::path::PathBuf;

use clap::Subcommand;
use comity_client::{CheckedLicence, Client};
use comity_proto::authoring::{format_time, parse_time, qualified_control_code, ActionName, ConsentDoc, DecisionDoc, ItemDoc, PartyDoc};
use comity_proto::pb;
use comity_proto::re_export::{consents, Consent};
use serde::Serialize;

use crate::InputError;

#[derive(Subcommand)]
pub enum ReExportCommand {
    /// Consent, as the parent licence's issuer, to a re-export licensed by another authority:
    /// signs a RE_EXPORT_CONSENT decision on the parent's chain and publishes it (or writes it as
    /// a draft with --draft).
    Consent {
        /// The parent licence, AUTHORITY/LICENCE, e.g. de.bafa/DE-2026-000412.
        parent: String,
        /// The consent's id, unique on the parent's chain, e.g. DE-RXC-2026-0007.
        #[arg(long = "id")]
        consent_id: String,
        /// The authority that will license the re-export, e.g. jp.meti.
        #[arg(long)]
        authority: String,
        /// An end user of the re-export, as COUNTRY:NAME, e.g. "TH:Siam Orbital Systems Co., Ltd." (repeatable).
        #[arg(long = "end-user", value_name = "COUNTRY:NAME", required = true)]
        end_users: Vec<String>,
        /// A destination of the re-export, ISO 3166-1 alpha-2 (repeatable).
        #[arg(long = "destination", required = true)]
        destinations: Vec<String>,
        /// An item of the parent and the quantity consented to, as CODE=QUANTITY with the qualified
        /// code, e.g. EU-DU:3A001.a.1=50 (repeatable); unit and description are the parent's.
        #[arg(long = "item", value_name = "CODE=QUANTITY", required = true)]
        items: Vec<String>,
        /// The holder abroad that re-exports, as COUNTRY:NAME [default: the parent's first end user].
        #[arg(long, value_name = "COUNTRY:NAME")]
        re_exporter: Option<String>,
        /// The consent covers re-export licences decided before this date (RFC 3339 or YYYY-MM-DD).
        #[arg(long)]
        valid_until: String,
        /// A condition of the consent (repeatable).
        #[arg(long = "condition")]
        conditions: Vec<String>,
        /// When the consent is decided [default: now].
        #[arg(long)]
        decided_at: Option<String>,
        /// A note for the holder.
        #[arg(long, default_value = "")]
        note: String,
        /// Signing key of the parent licence's issuer.
        #[arg(long)]
        key: PathBuf,
        /// Write the decision document here instead of publishing it (review it, then `comity publish FILE --key KEY`).
        #[arg(long, value_name = "FILE")]
        draft: Option<PathBuf>,
    },
    /// Withdraw a consent given on a licence: signs a CONSENT_WITHDRAWN decision on the parent's
    /// chain and publishes it. Re-export licences relying on it then verify OUT_OF_SCOPE.
    Withdraw {
        /// The parent licence, AUTHORITY/LICENCE.
        parent: String,
        /// The consent withdrawn.
        #[arg(long = "id")]
        consent_id: String,
        /// When the withdrawal is decided [default: now].
        #[arg(long)]
        decided_at: Option<String>,
        /// Why, for the holder and partners.
        #[arg(long, default_value = "")]
        note: String,
        /// Signing key of the parent licence's issuer.
        #[arg(long)]
        key: PathBuf,
        /// Write the decision document here instead of publishing it.
        #[arg(long, value_name = "FILE")]
        draft: Option<PathBuf>,
    },
}

/// Runs a `comity re-export` command.
pub async fn re_export(node: &str, json: bool, log_key: Option<&str>, command: ReExportCommand) -> anyhow::Result<()> {
    let (doc, key, draft) = match command {
        ReExportCommand::Consent {
            parent,
            consent_id,
            authority,
            end_users,
            destinations,
            items,
            re_exporter,
            valid_until,
            conditions,
            decided_at,
            note,
            key,
            draft,
        } => {
            let (parent_authority, parent_id) = split(&parent)?;
            let licence = Client::connect(node).await?.licence(parent_authority, parent_id).await?;
            let terms =
                licence.state.as_ref().map(|s| &s.terms).ok_or_else(|| InputError(format!("{parent} is confidential here: its items cannot be read")))?;
            let re_exporter = match re_exporter {
                Some(p) => party("--re-exporter", &p)?,
                None => terms
                    .end_users
                    .first()
                    .map(PartyDoc::from_wire)
                    .ok_or_else(|| InputError(format!("{parent} names no end user: give --re-exporter COUNTRY:NAME")))?,
            };
            let consent = ConsentDoc {
                consent_id,
                re_export_authority: authority,
                re_exporter: Some(re_exporter),
                end_users: end_users.iter().map(|p| party("--end-user", p)).collect::<Result<_, _>>()?,
                destinations,
                items: items.iter().map(|i| item_of(terms, i)).collect::<Result<_, _>>()?,
                valid_until: Some(valid_until),
                conditions,
            };
            let doc = decision(parent_authority, parent_id, ActionName::ReExportConsent, consent, decided_at, note)?;
            (doc, key, draft)
        }
        ReExportCommand::Withdraw { parent, consent_id, decided_at, note, key, draft } => {
            let (parent_authority, parent_id) = split(&parent)?;
            let consent = ConsentDoc {
                consent_id,
                re_export_authority: String::new(),
                re_exporter: None,
                end_users: Vec::new(),
                destinations: Vec::new(),
                items: Vec::new(),
                valid_until: None,
                conditions: Vec::new(),
            };
            (decision(parent_authority, parent_id, ActionName::ConsentWithdrawn, consent, decided_at, note)?, key, draft)
        }
    };
    if let Some(path) = draft {
        let yaml = serde_norway::to_string(&doc)?;
        std::fs::write(&path, yaml).map_err(|e| InputError(format!("write {}: {e}", path.display())))?;
        println!(
            "wrote {} ({} of {}/{}); publish it with `comity publish {} --key KEY`",
            path.display(),
            action(&doc),
            doc.authority,
            doc.licence_id,
            path.display()
        );
        return Ok(());
    }
    let label = format!("{} of {}/{}", action(&doc), doc.authority, doc.licence_id);
    let (decision, signer) = crate::prepare_doc(node, doc, &label, &key).await?;
    let envelope = comity_proto::statement::sign_decision(decision, &signer);
    crate::publish_envelope(node, json, log_key, envelope, None).await
}

fn action(doc: &DecisionDoc) -> &'static str {
    if doc.action == ActionName::ReExportConsent {
        "consent"
    } else {
        "consent withdrawal"
    }
}

/// A consent decision (no terms) on the parent's chain; version and previous come from the node.
fn decision(
    authority: &str,
    licence_id: &str,
    action: ActionName,
    consent: ConsentDoc,
    decided_at: Option<String>,
    note: String,
) -> anyhow::Result<DecisionDoc> {
    let decided_at = match decided_at {
        Some(t) => format_time(parse_time(&t).map_err(|e| InputError(format!("--decided-at: {e}")))?),
        None => format_time(chrono::Utc::now().timestamp()),
    };
    // The consent was asked for when it is decided: no processing time is counted for it.
    let mut doc: DecisionDoc = serde_json::from_value(serde_json::json!({
        "authority": authority, "licence_id": licence_id, "action": action,
        "application_received": decided_at, "decided_at": decided_at,
    }))?;
    doc.re_export_consent = Some(consent);
    doc.note = note;
    Ok(doc)
}

fn split(licence: &str) -> Result<(&str, &str), InputError> {
    licence.split_once('/').ok_or_else(|| InputError(format!("`{licence}` must be AUTHORITY/LICENCE, e.g. de.bafa/DE-2026-000412")))
}

/// `COUNTRY:NAME` as a party.
fn party(flag: &str, text: &str) -> Result<PartyDoc, InputError> {
    let (country, name) =
        text.split_once(':').ok_or_else(|| InputError(format!("{flag} `{text}` must be COUNTRY:NAME, e.g. TH:Siam Orbital Systems Co., Ltd.")))?;
    Ok(PartyDoc { name: name.trim().into(), country: country.trim().into(), identifiers: Vec::new(), address: String::new() })
}

/// `CODE=QUANTITY` as the parent's item of that code, with the quantity consented.
fn item_of(terms: &pb::Decision, text: &str) -> Result<ItemDoc, InputError> {
    let (code, quantity) = text.split_once('=').ok_or_else(|| InputError(format!("--item `{text}` must be CODE=QUANTITY, e.g. EU-DU:3A001.a.1=50")))?;
    let item = terms.items.iter().find(|i| qualified_control_code(i) == code.trim()).ok_or_else(|| {
        let codes: Vec<String> = terms.items.iter().map(qualified_control_code).collect();
        InputError(format!("--item {code}: not an item of the parent licence ({})", codes.join(", ")))
    })?;
    // The parent's value is that of its whole quantity: a consent counts pieces, not money.
    Ok(ItemDoc { quantity: quantity.trim().into(), value: String::new(), currency: String::new(), ..ItemDoc::from_wire(item) })
}

/// The re-export chain of a licence, for `licence show`: a child's parent (its status) and the
/// consent relied on, or a parent's consents and the children held at the node.
#[derive(Serialize, Default)]
pub struct ChainView {
    /// A re-export licence: its parent, `authority/licence_id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<ParentView>,
    /// A licence with consents on its chain.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub consents: Vec<ConsentView>,
    /// Re-export licences held at the node that stand on this licence.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<ChildView>,
}

#[derive(Serialize)]
pub struct ParentView {
    pub licence: String,
    /// Its status as the node answers it, or why it could not be read.
    pub status: String,
    pub consent_id: String,
    /// The consent relied on, if it is on the parent's chain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consent: Option<ConsentView>,
}

#[derive(Serialize)]
pub struct ConsentView {
    pub consent_id: String,
    /// `in force` or `withdrawn`.
    pub state: String,
    pub given_in_version: u64,
    pub given_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub withdrawn_at: Option<String>,
    pub terms: ConsentDoc,
}

#[derive(Serialize)]
pub struct ChildView {
    pub licence: String,
    pub status: String,
    pub destinations: Vec<String>,
    pub end_users: Vec<String>,
}

impl ConsentView {
    fn of(c: &Consent) -> Self {
        Self {
            consent_id: c.consent.consent_id.clone(),
            state: if c.withdrawn.is_some() { "withdrawn" } else { "in force" }.into(),
            given_in_version: c.version,
            given_at: format_time(c.given_at),
            withdrawn_at: c.withdrawn.map(|(_, at)| format_time(at)),
            terms: ConsentDoc::from_wire(&c.consent),
        }
    }
}

/// The chain view of `licence`; for a child, `parent` is the node's answer about its parent.
pub fn chain_view(licence: &CheckedLicence, parent: Option<Result<CheckedLicence, String>>) -> ChainView {
    let terms = licence.state.as_ref().map(|s| &s.terms);
    let parent = terms.filter(|t| !t.parent_licence.is_empty()).map(|t| {
        let (status, consent) = match &parent {
            Some(Ok(p)) => {
                let held = consents(p.chain.iter().map(|(_, d)| d));
                (crate::status_name(p.summary.status).to_string(), held.iter().find(|c| c.consent.consent_id == t.consent_id).map(ConsentView::of))
            }
            Some(Err(why)) => (format!("not readable here: {why}"), None),
            None => ("not asked".into(), None),
        };
        ParentView { licence: t.parent_licence.clone(), status, consent_id: t.consent_id.clone(), consent }
    });
    ChainView {
        parent,
        consents: consents(licence.chain.iter().map(|(_, d)| d)).iter().map(ConsentView::of).collect(),
        children: licence
            .re_export_children
            .iter()
            .map(|c| ChildView {
                licence: format!("{}/{}", c.authority, c.licence_id),
                status: crate::status_name(c.status).to_string(),
                destinations: c.destinations.clone(),
                end_users: c.end_users.clone(),
            })
            .collect(),
    }
}

/// The chain view as `licence show` prints it (empty when the licence is in no re-export chain).
pub fn render(view: &ChainView) -> String {
    let mut out = String::new();
    if view.parent.is_none() && view.consents.is_empty() && view.children.is_empty() {
        return out;
    }
    let _ = writeln!(out, "re-export chain:");
    if let Some(p) = &view.parent {
        let _ = writeln!(out, "  parent        {}  {}  (`comity licence show {}`)", p.licence, p.status, p.licence);
        match &p.consent {
            Some(c) => {
                let _ = writeln!(out, "  consent       {}", consent_line(c));
            }
            None => {
                let _ = writeln!(out, "  consent       {}  NOT on the parent's chain as held here", p.consent_id);
            }
        }
    }
    for c in &view.consents {
        let _ = writeln!(out, "  consent       {}", consent_line(c));
    }
    for c in &view.children {
        let _ = writeln!(out, "  re-exported   {}  {}  to {}  end users {}", c.licence, c.status, c.destinations.join(", "), c.end_users.join("; "));
    }
    out
}

fn consent_line(c: &ConsentView) -> String {
    let t = &c.terms;
    let items: Vec<String> = t.items.iter().map(|i| format!("{} {} {}", code_of(i), i.quantity, i.unit)).collect();
    let users: Vec<String> = t.end_users.iter().map(|p| format!("{} ({})", p.name, p.country)).collect();
    let state = match &c.withdrawn_at {
        Some(at) => format!("WITHDRAWN {}", &at[..10.min(at.len())]),
        None => "in force".into(),
    };
    format!(
        "{} ({state}, v{} of {})  re-export by {} to {} for {}: {}{}",
        c.consent_id,
        c.given_in_version,
        &c.given_at[..10.min(c.given_at.len())],
        t.re_export_authority,
        t.destinations.join(", "),
        users.join("; "),
        items.join(", "),
        t.valid_until.as_deref().map(|u| format!(", licences decided before {}", &u[..10.min(u.len())])).unwrap_or_default()
    )
}

fn code_of(item: &ItemDoc) -> String {
    let wire = pb::Item { regime: pb::Regime::from(item.regime) as i32, control_code: item.control_code.clone(), ..Default::default() };
    qualified_control_code(&wire)
}

/// Reads the parent of a re-export licence from the node, if `licence` is one.
pub async fn parent_of(node: &str, licence: &CheckedLicence) -> Option<Result<CheckedLicence, String>> {
    let t = &licence.state.as_ref()?.terms;
    let (authority, licence_id) = t.parent_licence.split_once('/')?;
    let mut client = match Client::connect(node).await {
        Ok(c) => c,
        Err(e) => return Some(Err(e.to_string())),
    };
    Some(client.licence(authority, licence_id).await.map_err(|e| e.to_string()))
}
