//! `Registry.Verify`: gathers what the store holds about a licence (every byte of it verified
//! when it was stored), asks `comity_proto::verdict::judge` for the verdict, and adds a proof
//! bundle a partner can check without trusting this node. No signature is verified here.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prost::bytes::Bytes;
use quick_cache::sync::Cache;

use comity_proto::catalogue::Crosswalk;
use comity_proto::decision::CheckedDecision;
use comity_proto::log::{prove_inclusion, stored_checkpoint_fields, TreeHash};
use comity_proto::pb;
use comity_proto::recognition::CheckedAgreement;
use comity_proto::rules::{fold, LicenceState};
use comity_proto::statement::StatementId;
use comity_proto::trust::KeySetView;
use comity_proto::verdict::{check_chain, judge, Facts, Link, Question};

use crate::chain::StoredLink;
use crate::error::Error;
use crate::store::{Evidence, Store};
use crate::trust::StoredAgreement;
use crate::writer::Registry;

/// Answers `q` at time `now`, from `registry`'s store or what `cache` kept of it.
pub fn verify(registry: &Registry, cache: &VerifyCache, q: &Question, default_max_staleness_secs: u64, now: i64) -> Result<pb::VerifyResponse, Error> {
    verify_counted(registry, cache, q, default_max_staleness_secs, now).map(|(answer, _)| answer)
}

/// Where an answer's reads of its licence came from, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Kept from an earlier answer.
    Kept,
    /// Read from the store: not kept, or the licence, trust, evidence or a freeze changed.
    Read,
    /// Read again because the receipts kept had grown old behind a newer checkpoint.
    Refreshed,
    /// The cache is off (`limits.verify_cache_licences = 0`).
    Off,
}

impl CacheOutcome {
    /// Every outcome (the metrics show each from the start).
    pub const ALL: [CacheOutcome; 4] = [CacheOutcome::Kept, CacheOutcome::Read, CacheOutcome::Refreshed, CacheOutcome::Off];

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheOutcome::Kept => "kept",
            CacheOutcome::Read => "read",
            CacheOutcome::Refreshed => "refreshed",
            CacheOutcome::Off => "off",
        }
    }
}

/// [`verify`], also saying where the licence's reads came from.
pub fn verify_counted(
    registry: &Registry,
    cache: &VerifyCache,
    q: &Question,
    default_max_staleness_secs: u64,
    now: i64,
) -> Result<(pb::VerifyResponse, CacheOutcome), Error> {
    let trust = registry.trust();
    let (licence, outcome) = cache.licence(registry, &q.authority, &q.licence_id)?;
    let in_force = trust.agreements();
    let agreements: Vec<&StoredAgreement> = in_force.iter().filter(|a| a.agreement.agreement().relying_authority == q.relying_authority).collect();
    let checked: Vec<&CheckedAgreement> = agreements.iter().map(|a| &a.agreement).collect();
    // The crosswalks these agreements name, as held here.
    let crosswalks: Vec<(StatementId, Arc<Crosswalk>)> = trust.catalogue().crosswalks_named_by(&checked);
    let crosswalk_refs: Vec<&Crosswalk> = crosswalks.iter().map(|(_, c)| c.as_ref()).collect();
    // A registration is judged with its general licence, and a re-export licence with its
    // parent, read the same way (and kept apart: a change to the parent is a change to it, not
    // to each licence standing on it).
    let general = match parent_of(&licence.links) {
        Some((authority, licence_id)) => Some(cache.licence(registry, authority, licence_id)?.0),
        None => None,
    };
    let general_reporters = general.as_ref().map(|g| g.reporters()).unwrap_or_default();
    let reporters = licence.reporters();
    let general_facts = match &general {
        Some(g) => Some(Facts {
            issuer_trusted: trust.knows(&g.authority),
            key_set: g.key_set.as_deref(),
            chain: &g.links,
            fork: g.fork.clone(),
            agreements: &[],
            crosswalks: &[],
            log_heard_at: match &g.issuer_log {
                Some(origin) => cache.heard_at(registry, origin)?,
                None => None,
            },
            default_max_staleness_secs,
            now,
            withheld: g.withheld.clone(),
            checked: g.checked.as_deref(),
            folded: g.folded.as_ref(),
            parent: None,
            reporters: &general_reporters,
        }),
        None => None,
    };
    let facts = Facts {
        issuer_trusted: trust.knows(&q.authority),
        key_set: licence.key_set.as_deref(),
        chain: &licence.links,
        fork: licence.fork.clone(),
        agreements: &checked,
        crosswalks: &crosswalk_refs,
        log_heard_at: match &licence.issuer_log {
            Some(origin) => cache.heard_at(registry, origin)?,
            None => None,
        },
        default_max_staleness_secs,
        now,
        withheld: licence.withheld.clone(),
        checked: licence.checked.as_deref(),
        folded: licence.folded.as_ref(),
        parent: general_facts.as_ref(),
        reporters: &reporters,
    };
    let judgement = judge(q, &facts);

    // The statements of the proof: the chain, the agreement applied, the issuer's key set and
    // the relying authority's key set (so the agreement's signature can be checked offline).
    let mut proven: Vec<Arc<Proven>> = licence.chain_proofs.clone();
    let agreement = judgement.agreement.map(|i| agreements[i]);
    if let Some(a) = agreement {
        proven.extend(cache.statement(registry, &a.id)?);
        // The crosswalk it counts codes through, and its publisher's key set, to check offline.
        if let Some((id, crosswalk)) = crosswalks.iter().find(|(_, c)| c.key() == a.agreement.agreement().crosswalk) {
            proven.extend(cache.statement(registry, id)?);
            let publisher = &crosswalk.crosswalk().authority;
            if let Some(set) = trust.key_set(publisher).filter(|_| *publisher != q.relying_authority && *publisher != q.authority) {
                proven.extend(cache.statement(registry, &set.id)?);
            }
        }
    }
    proven.extend(licence.key_set_proof.clone());
    proven.extend(licence.reporter_proofs.iter().cloned());
    if agreement.is_some() {
        if let Some(set) = trust.key_set(&q.relying_authority) {
            proven.extend(cache.statement(registry, &set.id)?);
        }
    }
    let mut proof = proof_bundle(&proven, &licence, now);
    if let Some(g) = general.as_deref() {
        proof.parent = Some(Box::new(parent_proof_with(registry, g, &proof, now)?));
    }
    let answer = pb::VerifyResponse {
        verdict: judgement.verdict as i32,
        reasons: judgement.reasons,
        warnings: judgement.warnings,
        licence: judgement.state.as_ref().map(|s| s.summary_at(q.context.at)),
        chain: licence
            .links
            .iter()
            .map(|link| pb::ChainLink { statement_id: link.id.0.to_vec(), envelope: Vec::new(), decision: Some(link.decision.clone()) })
            .collect(),
        agreement: agreement.map(|a| a.envelope.clone()).unwrap_or_default(),
        proof: Some(proof),
        checked_at: now,
        // Screening against the lists a relying party applies is added by the caller
        // (`service::catalogue::screen_parties`).
        screening: Vec::new(),
    };
    Ok((answer, outcome))
}

/// The licence a chain stands on (`authority`, `licence_id`): a registration's general licence
/// or a re-export licence's parent, if it is one.
fn parent_of(links: &[Link]) -> Option<(&str, &str)> {
    let (_, reference) = comity_proto::bundle::parent_reference(links.iter().map(|l| &l.decision))?;
    comity_proto::decision::split_licence_ref(reference)
}

/// The proof of a registration's general licence (`ProofBundle.parent`): its chain, its
/// issuer's key set and its head, as GetLicence proves a licence.
fn parent_proof(general: &LicenceFacts, now: i64) -> pb::ProofBundle {
    let proven: Vec<Arc<Proven>> = general.chain_proofs.iter().chain(&general.key_set_proof).chain(&general.reporter_proofs).cloned().collect();
    proof_bundle(&proven, general, now)
}

/// The parent proof of `general` for a registration proven by `child`: a relying party
/// refuses a general licence proven at an older checkpoint of the same log than its
/// registration (a later suspension could be hidden), so when the one kept is older, the
/// general licence's head is proven again against the registration's checkpoint.
fn parent_proof_with(registry: &Registry, general: &LicenceFacts, child: &pb::ProofBundle, now: i64) -> Result<pb::ProofBundle, Error> {
    let mut proof = parent_proof(general, now);
    let (Some(theirs), Some(ours)) = (&proof.head, &child.head) else { return Ok(proof) };
    let size = |note: &str| stored_checkpoint_fields(note).map(|(size, _, _)| size);
    if theirs.origin != ours.origin || size(&theirs.checkpoint) >= size(&ours.checkpoint) {
        return Ok(proof);
    }
    let (Some(at), Some(map_root)) = (size(&ours.checkpoint), comity_proto::log::stored_map_root(&ours.checkpoint)) else { return Ok(proof) };
    let key = comity_proto::licence_map::licence_key(&theirs.authority, &theirs.licence_id);
    if let Some(map) = registry.store().log(&ours.origin).prove_map(at, &map_root, &key)? {
        proof.head = Some(comity_proto::bundle::wire_head_proof(&ours.origin, &ours.checkpoint, &theirs.authority, &theirs.licence_id, &map));
    }
    Ok(proof)
}

/// What the store holds about one licence, as Verify needs it: everything of an answer that
/// depends neither on the question's context nor on the time.
struct LicenceFacts {
    authority: String,
    links: Vec<Link>,
    /// The decisions of `links`, checked once (`None` when one fails: `judge` says why).
    checked: Option<Vec<(StatementId, CheckedDecision)>>,
    /// The state all of `checked` folds to (`None` when it breaks the rules: `judge` says why).
    folded: Option<LicenceState>,
    key_set: Option<Arc<KeySetView>>,
    fork: Option<String>,
    withheld: Option<String>,
    /// The log carrying the latest decision: when it was last heard from is asked afresh.
    issuer_log: Option<String>,
    /// The chain's statements with their receipts, in version order.
    chain_proofs: Vec<Arc<Proven>>,
    /// The issuer's key set with its receipt.
    key_set_proof: Option<Arc<Proven>>,
    /// The key sets of the other authorities whose customs wrote shipments off against the
    /// licence (`Decision.reported_by`), with their receipts: they vouch for the write-offs.
    reporter_key_sets: Vec<Arc<KeySetView>>,
    reporter_proofs: Vec<Arc<Proven>>,
    openings: Vec<pb::RestrictedOpening>,
    /// The licence's head (or absence) in its issuer's log, proven against that log's
    /// licence-state map, with the time of the checkpoint it is proven against.
    head_proof: Option<(pb::LicenceHeadProof, i64)>,
}

impl LicenceFacts {
    /// Every key set that may have signed the chain's write-offs: the issuer's (its own
    /// customs) and the reporting authorities'.
    fn reporters(&self) -> Vec<&KeySetView> {
        self.key_set.iter().chain(&self.reporter_key_sets).map(|s| s.as_ref()).collect()
    }
}

/// A statement with its receipt.
struct Proven {
    envelope: Bytes,
    receipt: pb::Receipt,
    /// Time of the checkpoint the receipt proves inclusion in.
    checkpoint_time: i64,
}

/// Reads `authority`'s licence `licence_id` from the store, its checkpoints through `logs`.
fn read_licence(registry: &Registry, cache: &VerifyCache, logs: &mut LogViews, authority: &str, licence_id: &str) -> Result<LicenceFacts, Error> {
    let store = registry.store();
    let chain = registry.chain(authority, licence_id)?;
    let mut links = Vec::with_capacity(chain.len());
    let mut origins: Vec<String> = Vec::new();
    let mut chain_proofs = Vec::with_capacity(chain.len());
    let mut last_index = None;
    for link in &chain {
        let (origin, index) = store.location_of(&link.id)?.ok_or_else(|| corrupt(format!("statement {} is in no log", link.id)))?;
        last_index = Some(index);
        if !origins.contains(&origin) {
            origins.push(origin.clone());
        }
        let proven = Arc::new(prove(store, logs, origin, index, link.envelope.clone())?);
        // The log time its receipt proves: what every copy of the log reads.
        links.push(Link { id: link.id, decision: link.decision.clone(), key_ids: link.key_ids.clone(), logged_at: Some(proven.receipt.logged_at) });
        chain_proofs.push(proven);
    }
    let key_set = registry.trust().key_set(authority);
    let key_set_proof = match &key_set {
        // Kept once for every licence of the authority, not read again with each of them.
        Some(set) => cache.statement(registry, &set.id)?,
        None => None,
    };
    let mut reporter_key_sets: Vec<Arc<KeySetView>> = Vec::new();
    let mut reporter_proofs = Vec::new();
    for link in links.iter().filter(|l| l.decision.action == pb::Action::WriteOff as i32 && l.decision.reported_by != authority) {
        let reporter = &link.decision.reported_by;
        if reporter_key_sets.iter().any(|s| s.authority == *reporter) {
            continue;
        }
        if let Some(set) = registry.trust().key_set(reporter) {
            reporter_proofs.extend(cache.statement(registry, &set.id)?);
            reporter_key_sets.push(set);
        }
    }
    let withheld = withheld_reason(&chain, registry.origin());
    // The issuer's log: the one carrying the latest decision, or for a licence not held here
    // the log this node knows the authority publishes in.
    let issuer_log = origins.last().cloned().or_else(|| issuer_origin(registry, authority));
    let head_proof = match &issuer_log {
        Some(origin) => head_proof(store, logs, origin, authority, licence_id, last_index)?,
        None => None,
    };
    let checked = if withheld.is_none() { check_chain(&links).ok() } else { None };
    Ok(LicenceFacts {
        authority: authority.to_string(),
        head_proof,
        folded: checked.as_ref().and_then(|c| fold(c.iter().map(|(id, d)| (*id, d))).ok().flatten()),
        checked,
        fork: fork_of(store, authority, licence_id, &origins)?,
        withheld,
        openings: chain.iter().filter_map(StoredLink::opening).collect(),
        links,
        key_set,
        issuer_log: origins.last().cloned(),
        chain_proofs,
        key_set_proof,
        reporter_key_sets,
        reporter_proofs,
    })
}

/// The log `authority` publishes in, as this node knows it: its own for an authority hosted
/// here, else the log carrying the authority's key set in force.
pub(crate) fn issuer_origin(registry: &Registry, authority: &str) -> Option<String> {
    if registry.trust().hosts(authority) {
        return Some(registry.origin().to_string());
    }
    let set = registry.trust().key_set(authority)?;
    registry.store().location_of(&set.id).ok().flatten().map(|(origin, _)| origin)
}

/// The head of `authority/licence_id` in log `origin`, proven against the licence-state map
/// of the cosigned checkpoint when it covers the chain's last entry (`last_index`), else of
/// the latest; with that checkpoint's time. The store keeps the map only back to the cosigned
/// checkpoint it holds now (and at most `MAX_UNDO` commits back): when the notes read for this
/// answer are older than that, the proof is made against the notes held now.
fn head_proof(
    store: &Store,
    logs: &mut LogViews,
    origin: &str,
    authority: &str,
    licence_id: &str,
    last_index: Option<u64>,
) -> Result<Option<(pb::LicenceHeadProof, i64)>, Error> {
    let covers = |size: u64| last_index.is_none_or(|i| size > i);
    let key = comity_proto::licence_map::licence_key(authority, licence_id);
    let log = store.log(origin);
    let read = logs.notes(store, origin)?.to_vec();
    let held_now = || -> Result<Vec<Note>, Error> {
        Ok([log.cosigned()?, log.checkpoint()?].into_iter().flatten().filter_map(|n| stored_checkpoint_fields(&n).map(|f| (n, f))).collect())
    };
    for notes in [Some(read), None] {
        let notes = match notes {
            Some(n) => n,
            None => held_now()?,
        };
        if !notes.iter().any(|(_, (size, _, _))| covers(*size)) {
            return Ok(None);
        }
        // The cosigned checkpoint first; the latest when the map at the cosigned size is gone.
        for (note, (size, _, time)) in notes.iter().filter(|(_, (size, _, _))| covers(*size)) {
            let map_root =
                comity_proto::log::stored_map_root(note).ok_or_else(|| corrupt(format!("stored checkpoint of {origin} carries no licence-map root")))?;
            if let Some(proof) = log.prove_map(*size, &map_root, &key)? {
                return Ok(Some((comity_proto::bundle::wire_head_proof(origin, note, authority, licence_id, &proof), *time)));
            }
        }
    }
    Err(corrupt(format!("the licence-state map of {origin} does not match its checkpoint's map root")))
}

/// The proof bundle of a licence as GetLicence serves it: its chain and its issuer's key set
/// with their receipts, and its head proof.
pub fn licence_proof(registry: &Registry, cache: &VerifyCache, authority: &str, licence_id: &str, now: i64) -> Result<pb::ProofBundle, Error> {
    let (licence, _) = cache.licence(registry, authority, licence_id)?;
    let mut proof = parent_proof(&licence, now);
    if let Some((authority, licence_id)) = parent_of(&licence.links) {
        let (general, _) = cache.licence(registry, authority, licence_id)?;
        proof.parent = Some(Box::new(parent_proof_with(registry, &general, &proof, now)?));
    }
    Ok(proof)
}

/// `proven` statements with their receipts, the licence's openings and head proof, and the
/// age at `now` of the oldest checkpoint used.
fn proof_bundle(proven: &[Arc<Proven>], licence: &LicenceFacts, now: i64) -> pb::ProofBundle {
    let oldest = proven.iter().map(|p| p.checkpoint_time).chain(licence.head_proof.as_ref().map(|h| h.1)).fold(now, i64::min);
    pb::ProofBundle {
        statements: proven.iter().map(|p| p.envelope.clone()).collect(),
        receipts: proven.iter().map(|p| p.receipt.clone()).collect(),
        checkpoint_age_secs: now - oldest,
        openings: licence.openings.clone(),
        head: licence.head_proof.as_ref().map(|h| h.0.clone()),
        parent: None,
    }
}

/// A receipt for statement `id` (against the cosigned checkpoint of its log when it covers it),
/// if the store holds it.
pub fn receipt_of(registry: &Registry, id: &StatementId) -> Result<Option<pb::Receipt>, Error> {
    Ok(proven_statement(registry.store(), &mut LogViews::default(), id)?.map(|p| p.receipt))
}

/// Statement `id` with its receipt, if the store holds it.
fn proven_statement(store: &Store, logs: &mut LogViews, id: &StatementId) -> Result<Option<Proven>, Error> {
    let Some(envelope) = store.statement(id)? else { return Ok(None) };
    let (origin, index) = store.location_of(id)?.ok_or_else(|| corrupt(format!("statement {id} is in no log")))?;
    prove(store, logs, origin, index, envelope).map(Some)
}

/// A receipt for entry `index` of log `origin`, proven against the cosigned checkpoint of that
/// log when it covers the entry, else the latest.
fn prove(store: &Store, logs: &mut LogViews, origin: String, index: u64, envelope: Vec<u8>) -> Result<Proven, Error> {
    let (note, (size, _, time)) = logs
        .notes(store, &origin)?
        .iter()
        .find(|(_, (size, _, _))| *size > index)
        .cloned()
        .ok_or_else(|| corrupt(format!("no checkpoint of {origin} covers entry {index}")))?;
    let hashes = prove_inclusion(size, index, &store.log(&origin)).map_err(corrupt)?;
    let logged_at = store.log(&origin).entered_at(index)?.ok_or_else(|| corrupt(format!("log time of entry {index} of {origin} missing")))?;
    let receipt = pb::Receipt {
        leaf_hash: comity_proto::log::entry_leaf_hash(logged_at, &envelope).to_vec().into(),
        logged_at,
        origin,
        index,
        checkpoint: note,
        inclusion_proof: comity_proto::log::wire_proof(&hashes),
    };
    Ok(Proven { envelope: envelope.into(), receipt, checkpoint_time: time })
}

/// Verify's reads of the store, kept while what they depend on is unchanged: a partner
/// checking the same licence before every shipment costs one store read per change of that
/// licence, not one per call, and writes to other licences do not count. Bounded by
/// `limits.verify_cache_licences`; 0 turns it off. Owned by the Registry service
/// ([`crate::service::registry::RegistryService`]), which answers Verify and GetLicence (for
/// gRPC and the web alike); the writer knows nothing of it.
///
/// A kept copy is read again as soon as its licence, the trust in force (key sets,
/// agreements), evidence or freezes change. A new checkpoint of a log it was proven in only
/// matters for its receipts, which stay valid proofs against the older checkpoint: the copy
/// is then read again once it is up to [`RECEIPTS_REFRESH`] old, so a log growing many times
/// a second does not make every answer a store read. When the issuer's log was last heard from
/// (for STALE) is always current.
pub struct VerifyCache {
    licences: Option<KeptCache<(String, String), LicenceFacts>>,
    statements: Option<KeptCache<StatementId, Proven>>,
    heard: Option<Cache<String, (u64, Option<i64>)>>,
}

/// Longest that receipts kept in an answer lag behind a newer checkpoint of their log. Each
/// kept copy is refreshed at a random age between half this and this, so copies read
/// together are not all read again at once.
pub const RECEIPTS_REFRESH: Duration = Duration::from_secs(5);

type KeptCache<K, T> = Cache<K, Arc<Kept<T>>>;

/// A kept value with the change counters it was read at.
struct Kept<T> {
    stamp: Stamp,
    /// The logs whose checkpoints the value's receipts were proven against, with their counters.
    logs: Vec<(String, u64)>,
    /// When the receipts are refreshed if their logs moved on (on the node clock's
    /// [`crate::Clock::instant`], so a test passes it by advancing the clock).
    refresh_at: Instant,
    value: Arc<T>,
}

#[derive(PartialEq)]
struct Stamp {
    other: u64,
    trust: u64,
    licence: Option<u64>,
}

impl VerifyCache {
    /// A cache of up to `licences` licences (and as many agreements and key sets, up to 4096).
    pub fn new(licences: usize) -> Self {
        let on = licences > 0;
        Self { licences: on.then(|| Cache::new(licences)), statements: on.then(|| Cache::new(licences.min(4096))), heard: on.then(|| Cache::new(1024)) }
    }

    fn licence(&self, registry: &Registry, authority: &str, licence_id: &str) -> Result<(Arc<LicenceFacts>, CacheOutcome), Error> {
        let read = |logs: &mut LogViews| read_licence(registry, self, logs, authority, licence_id).map(Some);
        let (facts, outcome) = kept(self.licences.as_ref(), registry, (authority.to_string(), licence_id.to_string()), Some((authority, licence_id)), read)?;
        Ok((facts.expect("read_licence always answers"), outcome))
    }

    /// Statement `id` (an agreement or a key set) with its receipt, if it is stored.
    fn statement(&self, registry: &Registry, id: &StatementId) -> Result<Option<Arc<Proven>>, Error> {
        kept(self.statements.as_ref(), registry, *id, None, |logs| proven_statement(registry.store(), logs, id)).map(|(value, _)| value)
    }

    /// Time of the newest checkpoint held of log `origin`.
    fn heard_at(&self, registry: &Registry, origin: &str) -> Result<Option<i64>, Error> {
        let store = registry.store();
        let counter = store.changes().log(origin);
        if let Some((at, time)) = self.heard.as_ref().and_then(|c| c.get(origin)) {
            if at == counter {
                return Ok(time);
            }
        }
        let time = LogViews::default().latest(store, origin)?.map(|(_, _, time)| time);
        if let Some(cache) = &self.heard {
            cache.insert(origin.to_string(), (counter, time));
        }
        Ok(time)
    }
}

/// The value kept under `key` if nothing it depends on changed since it was read (see
/// [`VerifyCache`]), else `read(logs)` (kept when there is one), and which it was. `licence`
/// names the licence the value depends on, if any. Without a cache, always `read`.
fn kept<K: Eq + std::hash::Hash, T>(
    cache: Option<&KeptCache<K, T>>,
    registry: &Registry,
    key: K,
    licence: Option<(&str, &str)>,
    read: impl FnOnce(&mut LogViews) -> Result<Option<T>, Error>,
) -> Result<(Option<Arc<T>>, CacheOutcome), Error> {
    let Some(cache) = cache else { return Ok((read(&mut LogViews::default())?.map(Arc::new), CacheOutcome::Off)) };
    let changes = registry.store().changes();
    // Read the counters before the store: a write racing with the read leaves a copy stamped
    // older than its data, which the next call reads again.
    let stamp = Stamp { other: changes.other(), trust: registry.trust().version(), licence: licence.map(|(a, l)| changes.licence(a, l)) };
    let mut outcome = CacheOutcome::Read;
    if let Some(k) = cache.get(&key) {
        let receipts_current = || k.logs.iter().all(|(origin, at)| changes.log(origin) == *at);
        if k.stamp == stamp {
            if registry.clock().instant() < k.refresh_at || receipts_current() {
                return Ok((Some(k.value.clone()), CacheOutcome::Kept));
            }
            outcome = CacheOutcome::Refreshed;
        }
    }
    let refresh_at = registry.clock().instant() + RECEIPTS_REFRESH.mul_f64(rand::random::<f64>() / 2.0 + 0.5);
    let mut logs = LogViews::default();
    let value = read(&mut logs)?.map(Arc::new);
    if let Some(v) = &value {
        let logs = logs.notes.into_iter().map(|(origin, (at, _))| (origin, at)).collect();
        cache.insert(key, Arc::new(Kept { stamp, logs, refresh_at, value: v.clone() }));
    }
    Ok((value, outcome))
}

/// Why a confidential licence cannot be judged here, when it cannot: this node is not in the
/// audience of one of its decisions, or has not received that decision yet.
fn withheld_reason(chain: &[StoredLink], own_origin: &str) -> Option<String> {
    let hidden = chain.iter().find(|l| !l.readable())?;
    let audience = &hidden.restricted.as_ref()?.audience;
    Some(if audience.iter().any(|a| a == own_origin) {
        format!("this node ({own_origin}) is in its audience but has not received decision v{} yet; ask again shortly", hidden.decision.version)
    } else {
        format!("its decisions are shared only with {}; this node ({own_origin}) is not among them", audience.join(", "))
    })
}

/// A stored checkpoint note with its (size, root, time).
type Note = (String, (u64, TreeHash, i64));

/// The checkpoint notes of the logs one answer uses, read once each, with each log's change
/// counter taken before its notes were read.
#[derive(Default)]
struct LogViews {
    notes: HashMap<String, (u64, Vec<Note>)>,
}

impl LogViews {
    /// The cosigned and the latest checkpoint of `origin`, cosigned first.
    fn notes(&mut self, store: &Store, origin: &str) -> Result<&[Note], Error> {
        if !self.notes.contains_key(origin) {
            let counter = store.changes().log(origin);
            let log = store.log(origin);
            let notes = [log.cosigned()?, log.checkpoint()?].into_iter().flatten().filter_map(|n| stored_checkpoint_fields(&n).map(|f| (n, f))).collect();
            self.notes.insert(origin.to_string(), (counter, notes));
        }
        Ok(&self.notes[origin].1)
    }

    /// (size, root, time) of the newest checkpoint held of `origin`.
    fn latest(&mut self, store: &Store, origin: &str) -> Result<Option<(u64, TreeHash, i64)>, Error> {
        Ok(self.notes(store, origin)?.iter().map(|(_, f)| *f).max_by_key(|(size, _, time)| (*size, *time)))
    }
}

/// Why the licence cannot be relied on: fork evidence against it, or a frozen log carrying it.
fn fork_of(store: &Store, authority: &str, licence_id: &str, origins: &[String]) -> Result<Option<String>, Error> {
    for e in store.evidence()? {
        if let Evidence::LicenceFork { authority: a, licence_id: l, version, .. } = &e {
            if a == authority && l == licence_id {
                return Ok(Some(format!("two different signed decisions exist for version {version} (evidence held, see `comity evidence`)")));
            }
        }
    }
    let frozen: HashMap<String, String> = store.frozen_logs()?.into_iter().collect();
    for origin in origins {
        if let Some(reason) = frozen.get(origin) {
            return Ok(Some(format!("the log {origin} carrying it is frozen: {reason}")));
        }
    }
    Ok(None)
}

fn corrupt(e: impl std::fmt::Display) -> Error {
    Error::Store(crate::store::StoreError::Corrupt { table: "statement", detail: e.to_string() })
}
