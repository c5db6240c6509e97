//! Conversions between the wire (`comity_proto::pb`) and the node's own types, in one place:
//! requests checked into queries ([`search_query`], [`question`]) and stored data shown as
//! messages ([`evidence_to_wire`], [`withheld`]). The gRPC handlers and the Watch stream use
//! them, so every path answers the same way.

use comity_proto::decision::is_authority_id;
use comity_proto::pb::{self, LicenceStatus};
use comity_proto::recognition::Context;
use comity_proto::statement::StatementId;
use comity_proto::verdict::Question;
use tonic::Status;

use crate::error::Error;
use crate::input::{all_bounded, bounded, shown, MAX_ID_BYTES, MAX_TERM_BYTES};
use crate::store::{search::words, Evidence, SearchQuery, Store, MAX_PAGE_SIZE};

/// Default search page size.
const DEFAULT_PAGE_SIZE: usize = 50;
/// Longest Search cursor: the hex of a stored key, which holds the query's terms.
const MAX_CURSOR_BYTES: usize = 4096;

pub(crate) fn invalid(message: impl Into<String>) -> Status {
    Error::InvalidArgument(message.into()).into()
}

/// Refuses `value` of `field` unless it is an authority id (bounded first, quoted short).
pub(crate) fn authority_id(field: &str, value: &str) -> Result<(), Status> {
    bounded(field, value, MAX_ID_BYTES)?;
    if !is_authority_id(value) {
        return Err(invalid(format!("{field}: `{}` is not a lowercase dotted id like de.bafa", shown(value))));
    }
    Ok(())
}

/// Validates a wire search request.
pub(crate) fn search_query(r: pb::SearchRequest) -> Result<SearchQuery, Status> {
    let nonempty = |s: String| (!s.trim().is_empty()).then_some(s);
    all_bounded([
        ("party", r.party.as_str(), MAX_TERM_BYTES),
        ("control_code", &r.control_code, MAX_TERM_BYTES),
        ("licence_id_prefix", &r.licence_id_prefix, MAX_TERM_BYTES),
        ("destination", &r.destination, MAX_TERM_BYTES),
        ("cursor", &r.cursor, MAX_CURSOR_BYTES),
    ])?;
    if !r.authority.is_empty() {
        authority_id("authority", &r.authority)?;
    }
    if !r.destination.is_empty() && !comity_proto::codes::is_country(&r.destination) {
        return Err(invalid(format!("destination: `{}` is not an ISO 3166-1 alpha-2 code", shown(&r.destination))));
    }
    for (field, value) in [("decided_from", r.decided_from), ("decided_until", r.decided_until)] {
        if value < 0 {
            return Err(invalid(format!("{field}: {value} is not Unix seconds (0 = open)")));
        }
    }
    crate::service::stats::window(r.decided_from, r.decided_until)?;
    let status = match LicenceStatus::try_from(r.status) {
        Ok(LicenceStatus::Unspecified) => None,
        Ok(s) => Some(s),
        Err(_) => return Err(invalid(format!("status: unknown value {}", r.status))),
    };
    let page_size = match r.page_size as usize {
        0 => DEFAULT_PAGE_SIZE,
        n if n > MAX_PAGE_SIZE => return Err(invalid(format!("page_size: at most {MAX_PAGE_SIZE}, got {n}"))),
        n => n,
    };
    let party_words = words(&r.party);
    if !r.party.trim().is_empty() && party_words.is_empty() {
        return Err(invalid("party: must contain letters or digits"));
    }
    let mut query = SearchQuery {
        authority: nonempty(r.authority),
        licence_id_prefix: nonempty(r.licence_id_prefix),
        party_words,
        destination: nonempty(r.destination),
        control_code: nonempty(r.control_code),
        status,
        decided_from: (r.decided_from != 0).then_some(r.decided_from),
        decided_until: (r.decided_until != 0).then_some(r.decided_until),
        page_size,
        after: None,
    };
    if !r.cursor.is_empty() {
        let cursor = hex::decode(&r.cursor).map_err(|_| invalid("cursor: not a cursor returned by Search"))?;
        if !Store::cursor_fits(&query, &cursor) {
            return Err(invalid("cursor: belongs to a different query"));
        }
        query.after = Some(cursor);
    }
    Ok(query)
}

/// What may be said of a confidential licence this node cannot read: its place in the log
/// (summary with authority, reference, version, head and last decision time; status
/// unspecified) and the public face of its latest decision as the terms.
pub(crate) fn withheld(chain: &[crate::chain::StoredLink]) -> (pb::LicenceSummary, pb::Decision) {
    let head = chain.last().map(|l| (l.id, l.decision.clone())).unwrap_or_else(|| (StatementId([0; 32]), pb::Decision::default()));
    let summary = pb::LicenceSummary {
        authority: head.1.authority.clone(),
        licence_id: head.1.licence_id.clone(),
        version: head.1.version,
        head_id: head.0 .0.to_vec(),
        last_decided_at: head.1.decided_at,
        ..Default::default()
    };
    (summary, head.1)
}

/// Evidence as `GetEvidence` and `Watch` serve it.
pub(crate) fn evidence_to_wire(e: Evidence) -> pb::Evidence {
    match e {
        Evidence::LicenceFork { authority, licence_id, version, first_envelope, second_envelope, detected_at, origin } => pb::Evidence {
            kind: "licence_fork".into(),
            detected_at,
            origin: origin.unwrap_or_default(),
            authority,
            licence_id,
            version,
            envelopes: [first_envelope, second_envelope].iter().map(|h| hex::decode(h).unwrap_or_default()).collect(),
            reason: format!("two signed decisions for version {version}"),
            ..Default::default()
        },
        Evidence::SplitView { origin, first_checkpoint, second_checkpoint, reason, detected_at } => pb::Evidence {
            kind: "split_view".into(),
            detected_at,
            origin,
            checkpoints: vec![first_checkpoint, second_checkpoint],
            reason,
            ..Default::default()
        },
    }
}

/// The question a request asks, with its context fields checked (the licence reference is
/// checked by the service, as for GetLicence).
pub fn question(r: pb::VerifyRequest, now: i64) -> Result<Question, Error> {
    let bad = |m: String| Error::InvalidArgument(m);
    bounded("relying_authority", &r.relying_authority, MAX_ID_BYTES)?;
    bounded("destination", &r.destination, MAX_TERM_BYTES)?;
    bounded("control_code", &r.control_code, MAX_TERM_BYTES)?;
    if r.relying_authority.trim().is_empty() {
        return Err(bad("relying_authority: required: the authority relying on the licence, whose recognition agreements apply (e.g. jp.meti)".into()));
    }
    if !comity_proto::decision::is_authority_id(&r.relying_authority) {
        return Err(bad(format!("relying_authority: `{}` is not a lowercase dotted id like jp.meti", shown(&r.relying_authority))));
    }
    if !r.destination.is_empty() && !comity_proto::codes::is_country(&r.destination) {
        return Err(bad(format!("destination: `{}` is not an ISO 3166-1 alpha-2 code like JP", shown(&r.destination))));
    }
    if !r.control_code.is_empty() && !r.control_code.contains(':') {
        return Err(bad(format!("control_code: `{}` needs its regime, like EU-DU:3A001.a.1", shown(&r.control_code))));
    }
    if r.end_user.chars().count() > 300 {
        return Err(bad("end_user: longer than 300 characters".into()));
    }
    if r.end_use.chars().count() > 300 {
        return Err(bad("end_use: longer than 300 characters".into()));
    }
    let shipment = comity_proto::usage::asked_shipment(&r).map_err(bad)?;
    let nonempty = |s: String| (!s.is_empty()).then_some(s);
    Ok(Question {
        authority: r.authority,
        licence_id: r.licence_id,
        relying_authority: r.relying_authority,
        context: Context {
            destination: nonempty(r.destination),
            control_code: nonempty(r.control_code),
            end_user: nonempty(r.end_user),
            end_use: nonempty(r.end_use),
            at: if r.at == 0 { now } else { r.at },
            shipment,
        },
    })
}
