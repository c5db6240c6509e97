//! `Registry.Watch`: a resumable stream of events derived from the logs held here.
//!
//! Events are read from the store, never queued per watcher. A watcher's position is its
//! cursor (for every log the next index to consider, and the next evidence number), so a slow
//! watcher costs one small bounded channel and nothing grows while it lags: when it reads
//! again, the stream goes on reading the store from where it was. Logs are append-only and the
//! same at every honest node, so a cursor resumes exactly after a disconnect, after a restart,
//! and at another node that holds the same logs.

use std::collections::BTreeMap;
use std::fmt;

use comity_proto::decision::{is_authority_id, is_licence_id, CheckedDecision};
use comity_proto::pb::{self, statement::Kind, Action, WatchEventKind};
use comity_proto::rules::LicenceState;
use comity_proto::statement::{Envelope, StatementId};
use tokio::sync::{mpsc, watch};
use tonic::Status;

use crate::error::Error;
use crate::service::wire::invalid;
use crate::store::{search, Evidence, SearchQuery};
use crate::writer::Registry;

/// The cursor's name for the evidence sequence (log origins never start with `#`).
const EVIDENCE: &str = "#evidence";
/// Cursor parts `#delivery:WITNESS=SIZE`: the size of this node's log each partner's witness
/// had confirmed when its last delivery event was considered.
const DELIVERY: &str = "#delivery:";
/// Bounds on a cursor sent by a client.
const MAX_CURSOR_LOGS: usize = 256;
const MAX_CURSOR_BYTES: usize = 32 * 1024;
/// How far past the entries a node holds a cursor may point: a mirror lags its log by far less.
pub const MAX_CURSOR_LEAD: u64 = 1_000_000;
/// Entries read from one log per round, so one busy log cannot hold back the others.
const ENTRIES_PER_ROUND: u64 = 256;
/// Evidence records read per round.
const EVIDENCE_PER_ROUND: usize = 64;
/// Events buffered per watcher: a watcher that reads slower than events arrive waits here, and
/// the stream pauses reading the store until it has read them.
const EVENTS_BUFFERED: usize = 32;

/// Where a watcher stands: for every log the next index to consider, and the next evidence
/// number. Logs not named are at 0.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor {
    logs: BTreeMap<String, u64>,
    evidence: u64,
    deliveries: BTreeMap<String, u64>,
}

impl Cursor {
    /// Parses a cursor as [`fmt::Display`] writes it: `origin=index,...,#evidence=n`.
    pub fn parse(text: &str) -> Result<Self, Error> {
        use crate::input::shown;
        if text.len() > MAX_CURSOR_BYTES {
            return Err(Error::InvalidArgument(format!("cursor: longer than {MAX_CURSOR_BYTES} bytes")));
        }
        let mut cursor = Cursor::default();
        let mut evidence_seen = false;
        for part in text.split(',').filter(|p| !p.is_empty()) {
            let (name, number) = part
                .rsplit_once('=')
                .ok_or_else(|| Error::InvalidArgument(format!("cursor: `{}` is not NAME=NUMBER; pass the `cursor` of an event unchanged", shown(part))))?;
            let number: u64 =
                number.parse().map_err(|_| Error::InvalidArgument(format!("cursor: `{}` in `{}` is not a number", shown(number), shown(part))))?;
            if let Some(witness) = name.strip_prefix(DELIVERY) {
                if witness.is_empty() || witness.contains(|c: char| c.is_whitespace() || c == '=') {
                    return Err(Error::InvalidArgument(format!("cursor: `{}` is not a witness name", shown(witness))));
                }
                if cursor.deliveries.insert(witness.to_string(), number).is_some() || cursor.deliveries.len() > MAX_CURSOR_LOGS {
                    return Err(Error::InvalidArgument(format!("cursor: witness `{}` appears twice, or too many witnesses", shown(witness))));
                }
                continue;
            }
            if name == EVIDENCE {
                if evidence_seen {
                    return Err(Error::InvalidArgument(format!("cursor: {EVIDENCE} appears twice")));
                }
                evidence_seen = true;
                cursor.evidence = number;
                continue;
            }
            if name.is_empty() || name.starts_with('#') || name.contains(|c: char| c.is_whitespace() || c == '=') {
                return Err(Error::InvalidArgument(format!("cursor: `{}` is not a log origin", shown(name))));
            }
            if cursor.logs.insert(name.to_string(), number).is_some() {
                return Err(Error::InvalidArgument(format!("cursor: log `{}` appears twice", shown(name))));
            }
            if cursor.logs.len() > MAX_CURSOR_LOGS {
                return Err(Error::InvalidArgument(format!("cursor: more than {MAX_CURSOR_LOGS} logs")));
            }
        }
        Ok(cursor)
    }

    /// Refuses a cursor further ahead of this node's logs than [`MAX_CURSOR_LEAD`]: such a
    /// position (2^64 - 1, say) would be waited for forever. A cursor a little ahead is kept,
    /// so a watcher can move to a mirror that lags the node it was reading.
    pub fn check_reachable(&self, store: &crate::store::Store) -> Result<(), Status> {
        let held: BTreeMap<String, u64> = store.log_sizes().map_err(crate::error::Error::from)?.into_iter().collect();
        let positions =
            self.logs.iter().map(|(origin, index)| (format!("log `{}`", crate::input::shown(origin)), *index, held.get(origin).copied().unwrap_or(0)));
        let evidence = ("evidence".to_string(), self.evidence, store.evidence_end().map_err(crate::error::Error::from)?);
        for (what, position, held) in positions.chain([evidence]) {
            if position > held.saturating_add(MAX_CURSOR_LEAD) {
                return Err(crate::error::Error::OutOfRange(format!(
                    "cursor: position {position} of {what} is beyond the {held} this node holds (at most {MAX_CURSOR_LEAD} ahead is waited for); pass the cursor of an event unchanged"
                ))
                .into());
            }
        }
        Ok(())
    }

    fn position(&self, origin: &str) -> u64 {
        self.logs.get(origin).copied().unwrap_or(0)
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (origin, index) in &self.logs {
            write!(f, "{origin}={index},")?;
        }
        // Always present, so a cursor is never empty (an empty one means "no cursor").
        write!(f, "{EVIDENCE}={}", self.evidence)?;
        for (witness, size) in &self.deliveries {
            write!(f, ",{DELIVERY}{witness}={size}")?;
        }
        Ok(())
    }
}

/// Where a new stream starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// Right after a cursor the watcher received earlier.
    After(Cursor),
    /// At the first entry of every log.
    Beginning,
    /// At the current end of every log: live events only.
    Now,
}

/// A validated watch filter.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Authority, party, destination and control code, with Search's meaning.
    query: SearchQuery,
    licence_id: Option<String>,
    kinds: Vec<WatchEventKind>,
}

impl Filter {
    /// Validates a wire filter; `search_query` validates the fields it shares with Search.
    pub fn from_wire(f: pb::WatchFilter, search_query: impl FnOnce(pb::SearchRequest) -> Result<SearchQuery, Status>) -> Result<Self, Status> {
        use crate::input::{all_bounded, shown, MAX_ID_BYTES};
        all_bounded([("filter.authority", f.authority.as_str(), MAX_ID_BYTES), ("filter.licence_id", &f.licence_id, MAX_ID_BYTES)])?;
        let licence_id = match f.licence_id.as_str() {
            "" => None,
            id if f.authority.is_empty() => return Err(invalid(format!("filter.licence_id: `{}` needs filter.authority", shown(id)))),
            id if !is_licence_id(id) => return Err(invalid(format!("filter.licence_id: `{}` is not a licence reference", shown(id)))),
            id => Some(id.to_string()),
        };
        if !f.authority.is_empty() && !is_authority_id(&f.authority) {
            return Err(invalid(format!("filter.authority: `{}` is not a lowercase dotted id like de.bafa", shown(&f.authority))));
        }
        let mut kinds = Vec::with_capacity(f.kinds.len());
        for k in &f.kinds {
            match WatchEventKind::try_from(*k) {
                Ok(WatchEventKind::Unspecified | WatchEventKind::CaughtUp) | Err(_) => return Err(invalid(format!("filter.kinds: {k} is not an event kind"))),
                Ok(kind) => kinds.push(kind),
            }
        }
        let query = search_query(pb::SearchRequest {
            authority: f.authority,
            party: f.party,
            destination: f.destination,
            control_code: f.control_code,
            ..Default::default()
        })
        .map_err(|s| invalid(format!("filter.{}", s.message())))?;
        Ok(Self { query, licence_id, kinds })
    }

    /// Whether a filter on the licence's content (not just its reference) is set.
    fn on_content(&self) -> bool {
        !self.query.party_words.is_empty() || self.query.destination.is_some() || self.query.control_code.is_some()
    }

    fn on_licence(&self) -> bool {
        self.licence_id.is_some() || self.on_content()
    }

    fn names(&self, authority: &str) -> bool {
        self.query.authority.as_deref().is_none_or(|a| a == authority)
    }

    fn names_licence(&self, authority: &str, licence_id: &str) -> bool {
        self.names(authority) && self.licence_id.as_deref().is_none_or(|l| l == licence_id)
    }

    /// Whether `event` passes at time `now`. Filters that do not apply to an event's kind exclude it.
    fn accepts(&self, event: &pb::WatchEvent, subject: &Subject, now: i64) -> bool {
        if !self.kinds.is_empty() && !self.kinds.iter().any(|k| *k as i32 == event.kind) {
            return false;
        }
        match subject {
            Subject::Decision(summary) => self.licence_id.as_deref().is_none_or(|l| l == event.licence_id) && search::matches(summary, &self.query, now),
            Subject::Confidential => !self.on_content() && self.names_licence(&event.authority, &event.licence_id),
            Subject::Between(first, second) => !self.on_licence() && (self.names(first) || self.names(second)),
            Subject::Authority => !self.on_licence() && self.names(&event.authority),
            Subject::Fork => !self.on_content() && self.names_licence(&event.authority, &event.licence_id),
            Subject::SplitView | Subject::Delivery => !self.on_licence() && self.query.authority.is_none(),
        }
    }
}

/// What an event concerns, for filtering.
enum Subject {
    Decision(Box<pb::LicenceSummary>),
    Confidential,
    /// A statement between two authorities: an agreement (relying, recognised), a
    /// consultation request or answer (its signer, the other authority).
    Between(String, String),
    /// A statement of an authority as a whole: a key set, a control list, a crosswalk.
    Authority,
    Fork,
    SplitView,
    /// A partner's witness confirmed more of this node's log.
    Delivery,
}

/// Streams events after `start` that pass `filter`, until the watcher goes away or the node
/// shuts down.
pub fn stream(
    registry: Registry,
    filter: Filter,
    start: Start,
    shutting_down: watch::Receiver<bool>,
    permit: tokio::sync::OwnedSemaphorePermit,
) -> mpsc::Receiver<Result<pb::WatchEvent, Status>> {
    let (tx, rx) = mpsc::channel(EVENTS_BUFFERED);
    tokio::spawn(async move {
        let _permit = permit;
        if let Err(Stop::Failed(status)) = run(&registry, &filter, start, &tx, shutting_down).await {
            let _ = tx.send(Err(status)).await;
        }
    });
    rx
}

/// Why a stream ended.
enum Stop {
    /// The watcher went away, or the node is shutting down.
    Done,
    Failed(Status),
}

impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        Stop::Failed(e.into())
    }
}

impl From<crate::store::StoreError> for Stop {
    fn from(e: crate::store::StoreError) -> Self {
        Stop::from(Error::from(e))
    }
}

async fn run(
    registry: &Registry,
    filter: &Filter,
    start: Start,
    tx: &mpsc::Sender<Result<pb::WatchEvent, Status>>,
    mut shutting_down: watch::Receiver<bool>,
) -> Result<(), Stop> {
    let mut changes = registry.changes();
    let mut cursor = match start {
        Start::After(c) => c,
        Start::Beginning => Cursor::default(),
        Start::Now => current_end(registry)?,
    };
    // The cursor last sent; a live-only watch announces its starting point at once.
    let mut announced: Option<String> = None;
    loop {
        // A long replay stops at shutdown too, not only an idle stream.
        if *shutting_down.borrow() {
            return Err(Stop::Done);
        }
        // Marked seen before reading, so a commit during the round wakes the next wait.
        changes.borrow_and_update();
        if round(registry, filter, &mut cursor, tx).await? {
            continue;
        }
        let position = cursor.to_string();
        if announced.as_deref() != Some(position.as_str()) {
            let marker = pb::WatchEvent { kind: WatchEventKind::CaughtUp as i32, cursor: position.clone(), ..Default::default() };
            tx.send(Ok(marker)).await.map_err(|_| Stop::Done)?;
            announced = Some(position);
        }
        tokio::select! {
            changed = changes.changed() => changed.map_err(|_| Stop::Done)?,
            _ = shutting_down.wait_for(|s| *s) => return Err(Stop::Done),
            _ = tx.closed() => return Err(Stop::Done),
        }
    }
}

/// The end of every log held now, and of the evidence.
fn current_end(registry: &Registry) -> Result<Cursor, Stop> {
    let store = registry.store();
    let mut cursor = Cursor::default();
    cursor.logs.extend(store.log_sizes()?);
    cursor.evidence = store.evidence_end()?;
    cursor.deliveries.extend(store.deliveries_latest()?.into_iter().map(|(witness, size, _)| (witness, size)));
    Ok(cursor)
}

/// Considers up to a round's worth of new entries of every log and new evidence, sending the
/// events that pass; false when there was nothing new.
async fn round(registry: &Registry, filter: &Filter, cursor: &mut Cursor, tx: &mpsc::Sender<Result<pb::WatchEvent, Status>>) -> Result<bool, Stop> {
    let store = registry.store();
    let mut progressed = false;
    for (origin, size) in store.log_sizes()? {
        let from = cursor.position(&origin);
        let to = size.min(from.saturating_add(ENTRIES_PER_ROUND));
        for index in from..to {
            let (mut event, subject) = entry_event(registry, &origin, index)?;
            cursor.logs.insert(origin.clone(), index + 1);
            if filter.accepts(&event, &subject, registry.clock().now()) {
                event.cursor = cursor.to_string();
                tx.send(Ok(event)).await.map_err(|_| Stop::Done)?;
            }
            progressed = true;
        }
    }
    // Delivery receipts (#23): a partner's witness confirmed more of this node's log.
    for (witness, size, at_ms) in store.deliveries_latest()? {
        if cursor.deliveries.get(&witness).is_some_and(|seen| *seen >= size) {
            continue;
        }
        cursor.deliveries.insert(witness.clone(), size);
        let event = pb::WatchEvent {
            kind: WatchEventKind::Delivery as i32,
            origin: store.own_log_origin()?.unwrap_or_default(),
            index: size,
            logged_at: at_ms / 1000,
            witness,
            ..Default::default()
        };
        if filter.accepts(&event, &Subject::Delivery, registry.clock().now()) {
            let event = pb::WatchEvent { cursor: cursor.to_string(), ..event };
            tx.send(Ok(event)).await.map_err(|_| Stop::Done)?;
        }
        progressed = true;
    }
    for (seq, evidence) in store.evidence_from(cursor.evidence, EVIDENCE_PER_ROUND)? {
        cursor.evidence = seq + 1;
        let (mut event, subject) = evidence_event(seq, evidence);
        if filter.accepts(&event, &subject, registry.clock().now()) {
            event.cursor = cursor.to_string();
            tx.send(Ok(event)).await.map_err(|_| Stop::Done)?;
        }
        progressed = true;
    }
    Ok(progressed)
}

/// The event for entry `index` of log `origin`.
fn entry_event(registry: &Registry, origin: &str, index: u64) -> Result<(pb::WatchEvent, Subject), Stop> {
    let store = registry.store();
    let log = store.log(origin);
    let missing = || Stop::Failed(Error::damaged("stored log is incomplete", format_args!("entry {index} of {origin} or its statement is missing")).into());
    let id = log.entry(index)?.ok_or_else(missing)?;
    let bytes = store.statement(&id)?.ok_or_else(missing)?;
    let envelope =
        Envelope::parse(bytes).map_err(|e| Stop::Failed(Error::damaged("a stored statement does not parse", format_args!("statement {id}: {e}")).into()))?;
    let mut event =
        pb::WatchEvent { origin: origin.to_string(), index, statement_id: id.0.to_vec(), logged_at: log.entered_at(index)?.unwrap_or(0), ..Default::default() };
    let subject = match envelope.statement() {
        Kind::Decision(d) => {
            let (kind, before, after) = transition(registry, id, d)?;
            event.kind = kind as i32;
            event.authority.clone_from(&d.authority);
            event.licence_id.clone_from(&d.licence_id);
            event.version = d.version;
            event.action = d.action;
            event.status_before = before.map_or(0, |s| s.status.to_wire() as i32);
            let summary = after.as_ref().map(LicenceState::decided_summary).unwrap_or_default();
            event.status_after = summary.status;
            event.licence = Some(summary.clone());
            Subject::Decision(Box::new(summary))
        }
        Kind::RestrictedDecision(r) => {
            event.kind = WatchEventKind::ConfidentialDecision as i32;
            event.authority.clone_from(&r.authority);
            event.licence_id.clone_from(&r.licence_id);
            event.version = r.version;
            readable_content(registry, id, r, &mut event)?;
            // Content filters never match it, here or anywhere: it is in no search index either.
            Subject::Confidential
        }
        Kind::Agreement(a) => {
            event.kind = WatchEventKind::Agreement as i32;
            event.authority.clone_from(&a.relying_authority);
            Subject::Between(a.relying_authority.clone(), a.recognised_authority.clone())
        }
        // Statements of an authority as a whole: who published which version.
        Kind::ControlList(pb::ControlList { authority, version, .. }) | Kind::Crosswalk(pb::Crosswalk { authority, version, .. }) => {
            event.kind = WatchEventKind::ControlList as i32;
            (event.authority, event.version) = (authority.clone(), *version);
            Subject::Authority
        }
        Kind::ScreeningList(pb::ScreeningList { authority, version, .. }) => {
            event.kind = WatchEventKind::ScreeningList as i32;
            (event.authority, event.version) = (authority.clone(), *version);
            Subject::Authority
        }
        Kind::ConsultationRequest(r) => {
            event.kind = WatchEventKind::Consultation as i32;
            event.authority.clone_from(&r.authority);
            let consulted = r.denial.split('/').next().unwrap_or_default().to_string();
            Subject::Between(r.authority.clone(), consulted)
        }
        Kind::ConsultationAnswer(a) => {
            event.kind = WatchEventKind::Consultation as i32;
            event.authority.clone_from(&a.authority);
            Subject::Between(a.authority.clone(), a.consulting_authority.clone())
        }
        Kind::ClassificationRuling(pb::ClassificationRuling { authority, version, .. }) => {
            event.kind = WatchEventKind::Ruling as i32;
            (event.authority, event.version) = (authority.clone(), *version);
            Subject::Authority
        }
        Kind::EndUseCheck(c) => {
            event.kind = WatchEventKind::EndUseCheck as i32;
            event.authority.clone_from(&c.authority);
            let (licence_authority, licence_id) = c.licence.split_once('/').unwrap_or_default();
            event.licence_id = licence_id.to_string();
            Subject::Between(c.authority.clone(), licence_authority.to_string())
        }
        Kind::KeySet(k) => {
            event.kind = WatchEventKind::KeySet as i32;
            event.authority.clone_from(&k.authority);
            event.version = k.version;
            Subject::Authority
        }
    };
    event.envelope = envelope.into_bytes();
    Ok((event, subject))
}

/// What a node in the audience of confidential decision `id` (of licence `r`) can say of it:
/// its action, the statuses before and after and the licence, with the opening that proves
/// them; only when it holds the bodies of the licence's decisions up to this one.
fn readable_content(registry: &Registry, id: StatementId, r: &pb::RestrictedDecision, event: &mut pb::WatchEvent) -> Result<(), Stop> {
    let chain = registry.chain(&r.authority, &r.licence_id)?;
    let Some(at) = chain.iter().position(|link| link.id == id) else { return Ok(()) };
    if !chain[..=at].iter().all(|link| link.readable()) {
        return Ok(());
    }
    let before = crate::chain::fold_chain(&chain[..at])?;
    let after = crate::chain::fold_chain(&chain[..=at])?;
    event.action = chain[at].decision.action;
    event.status_before = before.map_or(0, |s| s.status.to_wire() as i32);
    if let Some(after) = after {
        let summary = after.decided_summary();
        event.status_after = summary.status;
        event.licence = Some(summary);
    }
    event.opening = chain[at].opening();
    Ok(())
}

/// The event kind of decision `d` (statement `id`) and the licence's state before and after
/// it, from the decisions of the chain before its version. A decision that does not follow
/// (one side of a fork) keeps `after` empty.
fn transition(registry: &Registry, id: StatementId, d: &pb::Decision) -> Result<(WatchEventKind, Option<LicenceState>, Option<LicenceState>), Stop> {
    let chain = registry.chain(&d.authority, &d.licence_id)?;
    let earlier = chain.iter().take_while(|link| link.decision.version < d.version).count();
    let before = crate::chain::fold_chain(&chain[..earlier])?;
    let after = CheckedDecision::try_from(d.clone()).ok().and_then(|this| match &before {
        None => LicenceState::start(id, &this).ok(),
        Some(state) => state.apply(id, &this).ok(),
    });
    let status = |s: &Option<LicenceState>| s.as_ref().map(|s| s.status.to_wire());
    let kind = if d.action == Action::Revoke as i32 {
        WatchEventKind::Revocation
    } else if d.action == Action::Deny as i32 {
        WatchEventKind::Denial
    } else if d.action == Action::WriteOff as i32 {
        WatchEventKind::WriteOff
    } else if d.action == Action::ReExportConsent as i32 || d.action == Action::ConsentWithdrawn as i32 {
        WatchEventKind::ReExportConsent
    } else if status(&before) != status(&after) {
        WatchEventKind::StateChange
    } else {
        WatchEventKind::Decision
    };
    Ok((kind, before, after))
}

fn evidence_event(seq: u64, evidence: Evidence) -> (pb::WatchEvent, Subject) {
    let subject = match &evidence {
        Evidence::LicenceFork { .. } => Subject::Fork,
        Evidence::SplitView { .. } => Subject::SplitView,
    };
    let wire = crate::service::wire::evidence_to_wire(evidence);
    let event = pb::WatchEvent {
        kind: WatchEventKind::Evidence as i32,
        index: seq,
        authority: wire.authority.clone(),
        licence_id: wire.licence_id.clone(),
        version: wire.version,
        logged_at: wire.detected_at,
        evidence: Some(wire),
        ..Default::default()
    };
    (event, subject)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_survives_its_text_form() {
        let mut c = Cursor::default();
        c.logs.insert("registry.bafa.example/log".into(), 12);
        c.logs.insert("registry.meti.example/log".into(), 0);
        c.evidence = 3;
        let text = c.to_string();
        assert_eq!(text, "registry.bafa.example/log=12,registry.meti.example/log=0,#evidence=3");
        assert_eq!(Cursor::parse(&text).unwrap(), c);
        assert_eq!(Cursor::default().to_string(), "#evidence=0", "never empty");
    }

    #[test]
    fn a_bad_cursor_is_refused_with_the_reason() {
        for (text, why) in [
            ("registry.bafa.example/log", "is not NAME=NUMBER"),
            ("registry.bafa.example/log=x", "is not a number"),
            ("a/log=1,a/log=2", "appears twice"),
            ("#evidence=1,#evidence=2", "appears twice"),
            ("#other=1", "is not a log origin"),
        ] {
            let err = Cursor::parse(text).unwrap_err().to_string();
            assert!(err.contains(why), "{text}: {err}");
        }
        assert!(Cursor::parse(&"a".repeat(MAX_CURSOR_BYTES + 1)).unwrap_err().to_string().contains("longer than"));
        let many: Vec<String> = (0..=MAX_CURSOR_LOGS).map(|i| format!("l{i}/log=1")).collect();
        assert!(Cursor::parse(&many.join(",")).unwrap_err().to_string().contains("more than"));
    }
}
