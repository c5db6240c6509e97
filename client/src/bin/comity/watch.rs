//! `comity watch`: follow decisions, state changes, revocations, agreements and evidence as
//! they enter the logs a node holds, resuming exactly where the last run stopped.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};
use comity_client::{Client, ClientError};
use comity_proto::authoring::format_time;
use comity_proto::pb::{self, WatchEventKind as K};
use comity_proto::statement::Envelope;

use crate::InputError;

#[derive(Args)]
pub struct WatchArgs {
    /// Issuing authority (for agreements: the relying or the recognised authority).
    #[arg(long)]
    authority: Option<String>,
    /// One licence, AUTHORITY/LICENCE.
    #[arg(long, conflicts_with = "authority")]
    licence: Option<String>,
    #[command(flatten)]
    content: crate::ContentFilter,
    /// Event kinds wanted (repeat the flag for several), as printed (STATE_CHANGE) or in lower
    /// case (state-change); default: all.
    #[arg(long = "kind", value_enum, ignore_case = true)]
    kinds: Vec<KindArg>,
    /// Continue right after this cursor (the `cursor` of the last event received).
    #[arg(long, conflicts_with = "from_start")]
    from: Option<String>,
    /// Replay every log the node holds from its first entry (default: new events only).
    #[arg(long)]
    from_start: bool,
    /// Keep the cursor in this file: resume from it when it exists, rewrite it after every
    /// event, so the next run continues exactly where this one stopped.
    #[arg(long, conflicts_with_all = ["from", "from_start"])]
    cursor_file: Option<PathBuf>,
    /// Stop after this many events.
    #[arg(long)]
    count: Option<u64>,
    /// Stop once everything the node holds so far has been delivered.
    #[arg(long)]
    until_caught_up: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum KindArg {
    Decision,
    #[value(alias = "state_change")]
    StateChange,
    Revocation,
    Agreement,
    #[value(alias = "key_set")]
    KeySet,
    Evidence,
    Confidential,
    /// A control list version or a crosswalk.
    #[value(alias = "control_list")]
    ControlList,
    /// A screening-list version.
    Screening,
    /// A DENY: a denial notification.
    Denial,
    /// A no-undercut consultation request or answer.
    Consultation,
    /// A classification-ruling version.
    Ruling,
    /// A partner's witness confirmed more of this node's log (delivery receipts).
    Delivery,
    /// A post-shipment verification's outcome.
    EndUseCheck,
    /// Customs wrote a shipment off against a licence.
    #[value(alias = "write_off")]
    WriteOff,
    /// A re-export consent given or withdrawn on a licence.
    ReExportConsent,
}

impl From<KindArg> for K {
    fn from(k: KindArg) -> Self {
        match k {
            KindArg::Decision => K::Decision,
            KindArg::StateChange => K::StateChange,
            KindArg::Revocation => K::Revocation,
            KindArg::Agreement => K::Agreement,
            KindArg::KeySet => K::KeySet,
            KindArg::Evidence => K::Evidence,
            KindArg::Confidential => K::ConfidentialDecision,
            KindArg::ControlList => K::ControlList,
            KindArg::Screening => K::ScreeningList,
            KindArg::Denial => K::Denial,
            KindArg::Consultation => K::Consultation,
            KindArg::Ruling => K::Ruling,
            KindArg::Delivery => K::Delivery,
            KindArg::EndUseCheck => K::EndUseCheck,
            KindArg::WriteOff => K::WriteOff,
            KindArg::ReExportConsent => K::ReExportConsent,
        }
    }
}

/// Longest wait between reconnection attempts after the stream broke.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

pub async fn watch(node: &str, json: bool, a: WatchArgs) -> anyhow::Result<()> {
    let (authority, licence_id) = match &a.licence {
        Some(l) => {
            let (au, id) = l.split_once('/').ok_or_else(|| InputError(format!("--licence `{l}` must be AUTHORITY/LICENCE, e.g. de.bafa/DE-2026-004211")))?;
            (au.to_string(), id.to_string())
        }
        None => (a.authority.clone().unwrap_or_default(), String::new()),
    };
    let filter = pb::WatchFilter {
        authority,
        licence_id,
        party: a.content.party.clone().unwrap_or_default(),
        destination: a.content.destination.clone().unwrap_or_default(),
        control_code: a.content.control_code.clone().unwrap_or_default(),
        kinds: a.kinds.iter().map(|k| K::from(*k) as i32).collect(),
    };
    let mut cursor = match (&a.cursor_file, &a.from) {
        (Some(file), _) if file.exists() => std::fs::read_to_string(file).with_context(|| format!("read {}", file.display()))?.trim().to_string(),
        (_, Some(c)) => c.clone(),
        _ => String::new(),
    };
    let from_start = a.from_start || a.cursor_file.is_some();
    let mut delivered = 0u64;
    let mut backoff = Duration::from_millis(250);
    let mut opened_once = false;
    loop {
        let request = pb::WatchRequest { filter: Some(filter.clone()), cursor: cursor.clone(), from_start };
        let opened = async { Client::connect(node).await?.watch(request).await }.await;
        let mut events = match opened {
            Ok(events) => events,
            // A broken stream is resumed; a first failure (bad filter, node down) is the answer.
            Err(e) if opened_once && transient(&e) => {
                eprintln!("watch: {e}; retrying in {:.1} s from the last cursor", backoff.as_secs_f64());
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        opened_once = true;
        loop {
            let event = match events.next().await {
                Ok(Some(e)) => e,
                Ok(None) => {
                    eprintln!("watch: the node ended the stream (shutting down); resuming from the last cursor");
                    break;
                }
                Err(e) if transient(&e) => {
                    eprintln!("watch: {e}; resuming from the last cursor");
                    break;
                }
                Err(e) => return Err(e.into()),
            };
            backoff = Duration::from_millis(250);
            cursor.clone_from(&event.cursor);
            if let Some(file) = &a.cursor_file {
                save_cursor(file, &cursor)?;
            }
            if event.kind == K::CaughtUp as i32 {
                if json {
                    println!("{}", serde_json::json!({ "kind": "CAUGHT_UP", "cursor": event.cursor }));
                } else {
                    eprintln!("-- caught up; resume with --from '{}'", event.cursor);
                }
                if a.until_caught_up {
                    return Ok(());
                }
                continue;
            }
            if json {
                println!("{}", event_json(&event));
            } else {
                print!("{}", render_event(&event));
            }
            delivered += 1;
            if a.count.is_some_and(|n| delivered >= n) {
                return Ok(());
            }
        }
        tokio::time::sleep(backoff).await;
    }
}

/// Whether a failure is worth retrying from the last cursor (the node went away or is busy).
fn transient(e: &ClientError) -> bool {
    match e {
        ClientError::Connect { .. } => true,
        ClientError::Status(s) => matches!(s.code(), tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled | tonic::Code::ResourceExhausted),
        _ => false,
    }
}

/// Replaces the cursor file atomically, so a crash leaves the old cursor or the new one.
fn save_cursor(file: &Path, cursor: &str) -> anyhow::Result<()> {
    let tmp = file.with_extension("tmp");
    std::fs::write(&tmp, cursor).with_context(|| format!("write {}", tmp.display()))?;
    std::fs::rename(&tmp, file).with_context(|| format!("replace {}", file.display()))
}

fn kind_name(kind: i32) -> &'static str {
    match K::try_from(kind) {
        Ok(K::Decision) => "DECISION",
        Ok(K::StateChange) => "STATE_CHANGE",
        Ok(K::Revocation) => "REVOCATION",
        Ok(K::Agreement) => "AGREEMENT",
        Ok(K::KeySet) => "KEY_SET",
        Ok(K::Evidence) => "EVIDENCE",
        Ok(K::ConfidentialDecision) => "CONFIDENTIAL",
        Ok(K::CaughtUp) => "CAUGHT_UP",
        Ok(K::ControlList) => "CONTROL_LIST",
        Ok(K::ScreeningList) => "SCREENING",
        Ok(K::Denial) => "DENIAL",
        Ok(K::Consultation) => "CONSULTATION",
        Ok(K::Ruling) => "RULING",
        Ok(K::Delivery) => "DELIVERY",
        Ok(K::EndUseCheck) => "END_USE_CHECK",
        Ok(K::WriteOff) => "WRITE_OFF",
        Ok(K::ReExportConsent) => "RE_EXPORT_CONSENT",
        _ => "?",
    }
}

fn status(s: i32) -> &'static str {
    match pb::LicenceStatus::try_from(s) {
        Ok(pb::LicenceStatus::Unspecified) => "-",
        Ok(s) => s.as_str_name(),
        Err(_) => "?",
    }
}

fn action(a: i32) -> &'static str {
    pb::Action::try_from(a).map_or("?", |a| a.as_str_name())
}

/// One event as a line (and its reasons on the lines below).
fn render_event(e: &pb::WatchEvent) -> String {
    let when = if e.logged_at > 0 { format_time(e.logged_at) } else { "-".into() };
    let statement = Envelope::parse(e.envelope.clone()).ok();
    let what = match (K::try_from(e.kind), statement.as_ref().map(Envelope::statement)) {
        (Ok(K::WriteOff), Some(pb::statement::Kind::Decision(d))) => {
            let shipment = d.shipment.clone().unwrap_or_default();
            let left: Vec<String> = e
                .licence
                .iter()
                .flat_map(|l| &l.balances)
                .filter(|b| !b.licensed.is_empty())
                .map(|b| format!("item {} {} {} left", b.item, b.remaining, b.unit))
                .collect();
            format!(
                "{}/{} v{} WRITE_OFF {} by {} customs to {}  {} -> {}  ({})",
                d.authority,
                d.licence_id,
                d.version,
                shipment.declaration,
                d.reported_by,
                shipment.destination,
                status(e.status_before),
                status(e.status_after),
                left.join(", ")
            )
        }
        (Ok(K::Decision | K::StateChange | K::Revocation | K::Denial), Some(pb::statement::Kind::Decision(d))) => {
            format!("{}/{} v{} {}  {} -> {}", d.authority, d.licence_id, d.version, action(d.action), status(e.status_before), status(e.status_after))
        }
        // Readable here: the node is in its audience (check_event has opened the commitment).
        (Ok(K::ConfidentialDecision), _) if e.opening.is_some() => format!(
            "{}/{} v{} {}  {} -> {}  (confidential, readable here)",
            e.authority,
            e.licence_id,
            e.version,
            action(e.action),
            status(e.status_before),
            status(e.status_after)
        ),
        (Ok(K::ConfidentialDecision), _) => format!("{}/{} v{}  (confidential: content withheld)", e.authority, e.licence_id, e.version),
        (Ok(K::Agreement), Some(pb::statement::Kind::Agreement(a))) => format!(
            "{} recognises {} ({} v{}){}",
            a.relying_authority,
            a.recognised_authority,
            a.agreement_id,
            a.version,
            if a.withdrawn { " WITHDRAWN" } else { "" }
        ),
        (Ok(K::KeySet), Some(pb::statement::Kind::KeySet(k))) => {
            let compromised = k.keys.iter().filter(|key| key.compromised_since != 0).count();
            format!("{} key set v{} ({} keys, {compromised} declared compromised)", k.authority, k.version, k.keys.len())
        }
        (Ok(K::ControlList), Some(pb::statement::Kind::ControlList(l))) => format!(
            "{} {} list v{}: {} entries, {} changes",
            l.authority,
            pb::Regime::try_from(l.regime).map_or("?", comity_proto::authoring::regime_prefix),
            l.version,
            l.entries.len(),
            l.changes.len()
        ),
        (Ok(K::ScreeningList), Some(pb::statement::Kind::ScreeningList(l))) => {
            format!("{} screening list {} v{}: {} added, {} removed", l.authority, l.list_id, l.version, l.added.len(), l.removed.len())
        }
        (Ok(K::Consultation), Some(pb::statement::Kind::ConsultationRequest(r))) => {
            format!(
                "{} consults {} on its denial {}: consultation {}",
                r.authority,
                r.denial.split('/').next().unwrap_or_default(),
                r.denial,
                r.consultation_id
            )
        }
        (Ok(K::Consultation), Some(pb::statement::Kind::ConsultationAnswer(a))) => format!(
            "{} answers consultation {}/{}: {}",
            a.authority,
            a.consulting_authority,
            a.consultation_id,
            comity_proto::consultation::position_name(a.position)
        ),
        (Ok(K::Ruling), Some(pb::statement::Kind::ClassificationRuling(r))) => match comity_proto::ruling::Ruling::try_from(r.clone()) {
            Ok(checked) => {
                format!("{} ruling {} v{}: {}{}", r.authority, r.ruling_id, r.version, checked.result(), if r.withdrawn { " (withdrawn)" } else { "" })
            }
            Err(_) => format!("{} ruling {} v{}", r.authority, r.ruling_id, r.version),
        },
        (Ok(K::ControlList), Some(pb::statement::Kind::Crosswalk(c))) => {
            format!("{} crosswalk {} v{}: {} equivalences", c.authority, c.crosswalk_id, c.version, c.equivalences.len())
        }
        (Ok(K::EndUseCheck), Some(pb::statement::Kind::EndUseCheck(c))) => format!(
            "{} checked {}: {} on {}",
            c.authority,
            c.licence,
            comity_proto::end_use_check::outcome_name(c.outcome),
            comity_proto::authoring::format_time(c.checked_on)
        ),
        (Ok(K::ReExportConsent), Some(pb::statement::Kind::Decision(d))) => {
            let consent = d.re_export_consent.as_ref().map_or("", |c| c.consent_id.as_str());
            match d.re_export_consent.as_ref().filter(|_| d.action == pb::Action::ReExportConsent as i32) {
                Some(c) => format!(
                    "{}/{} v{}: consent {consent} to a re-export by {} to {}",
                    d.authority,
                    d.licence_id,
                    d.version,
                    c.re_export_authority,
                    c.destinations.join(", ")
                ),
                None => format!("{}/{} v{}: consent {consent} withdrawn", d.authority, d.licence_id, d.version),
            }
        }
        (Ok(K::Delivery), _) => format!("{} confirmed {} up to size {}: every decision below it delivered", e.witness, e.origin, e.index),
        (Ok(K::Evidence), _) => match &e.evidence {
            Some(ev) if ev.kind == "licence_fork" => format!("licence fork: {}/{} v{} signed twice", ev.authority, ev.licence_id, ev.version),
            Some(ev) => format!("split view of {}: {}", ev.origin, ev.reason),
            None => "evidence".into(),
        },
        _ => String::new(),
    };
    let place = if e.origin.is_empty() { format!("evidence #{}", e.index) } else { format!("{}#{}", e.origin, e.index) };
    let mut text = format!("{when}  {:<12}  {what}  [{place}]\n", kind_name(e.kind));
    // A confidential decision's reasons are in its opened body (checked by check_event).
    let opened = e.opening.as_ref().and_then(|o| o.body.as_ref()).and_then(|b| <pb::Decision as prost::Message>::decode(b.decision.as_slice()).ok());
    let reasons = statement.as_ref().and_then(Envelope::decision).or(opened.as_ref()).map(|d| d.reasons.as_slice()).unwrap_or_default();
    for r in reasons {
        text.push_str(&format!("    reason {}: {} ({})\n", r.code, r.text, r.legal_basis));
    }
    // A grant over partners' denials says so to every partner.
    if let Some(d) = statement.as_ref().and_then(Envelope::decision) {
        for c in &d.consultations {
            text.push_str(&format!("    consulted: {}/{c}\n", d.authority));
        }
        if let Some(o) = &d.undercut_override {
            text.push_str(&format!("    OVERRIDES the denial of {}\n", o.denials.join(", ")));
            for r in &o.reasons {
                text.push_str(&format!("    override reason {}: {} ({})\n", r.code, r.text, r.legal_basis));
            }
        }
    }
    text
}

fn event_json(e: &pb::WatchEvent) -> serde_json::Value {
    let statement = Envelope::parse(e.envelope.clone()).ok();
    let reasons: Vec<serde_json::Value> = match statement.as_ref().and_then(Envelope::decision) {
        Some(d) => d.reasons.iter().map(|r| serde_json::json!({ "code": r.code, "legal_basis": r.legal_basis, "text": r.text })).collect(),
        None => Vec::new(),
    };
    serde_json::json!({
        "kind": kind_name(e.kind),
        "cursor": e.cursor,
        "origin": e.origin,
        "index": e.index,
        "statement_id": hex::encode(&e.statement_id),
        "logged_at": (e.logged_at > 0).then(|| format_time(e.logged_at)),
        "authority": e.authority,
        "licence": (!e.licence_id.is_empty()).then(|| format!("{}/{}", e.authority, e.licence_id)),
        "version": e.version,
        "action": (e.action != 0).then(|| action(e.action)),
        "status_before": (e.status_before != 0).then(|| status(e.status_before)),
        "status_after": (e.status_after != 0).then(|| status(e.status_after)),
        "reasons": reasons,
        "evidence": e.evidence.as_ref().map(|ev| serde_json::json!({ "kind": ev.kind, "origin": ev.origin, "reason": ev.reason })),
    })
}
