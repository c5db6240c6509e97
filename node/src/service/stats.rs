//! Transparency reports (`Registry.Stats`): decision statistics per authority, regime, licence
//! type and risk tier, computed by folding the decision chains held here.
//!
//! The sizes of the logs held here are read first, and only decisions below those sizes are
//! counted. The report is then a function of those log prefixes alone, whatever is published
//! meanwhile: any partner holding the same prefixes (its `as_of`) computes the same report.
//! Definitions are in `proto/comity/v1/stats.proto` and README "Transparency reports".

use std::collections::{BTreeMap, BTreeSet, HashMap};

use comity_proto::decision::{is_authority_id, is_determination, CheckedDecision};
use comity_proto::pb;
use comity_proto::rules::LicenceState;
use comity_proto::statement::{Envelope, StatementId};

use crate::chain::{check_stored_hash, stored_corrupt};
use crate::error::Error;
use crate::store::Store;

/// Most reason codes listed per group.
pub const TOP_REASONS: usize = 5;

/// A validated `StatsRequest`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct StatsQuery {
    /// `None`: every authority with decisions held here.
    pub authority: Option<String>,
    /// Decisions with decided_at in [from, until); `None` = open.
    pub decided_from: Option<i64>,
    pub decided_until: Option<i64>,
}

impl StatsQuery {
    fn in_window(&self, decided_at: i64) -> bool {
        self.decided_from.is_none_or(|from| decided_at >= from) && self.decided_until.is_none_or(|until| decided_at < until)
    }
}

impl TryFrom<pb::StatsRequest> for StatsQuery {
    type Error = Error;

    fn try_from(r: pb::StatsRequest) -> Result<Self, Error> {
        let invalid = |m: String| Error::InvalidArgument(m);
        crate::input::bounded("authority", &r.authority, crate::input::MAX_ID_BYTES)?;
        if !r.authority.is_empty() && !is_authority_id(&r.authority) {
            return Err(invalid(format!("authority: `{}` is not a lowercase dotted id like de.bafa", crate::input::shown(&r.authority))));
        }
        for (field, value) in [("decided_from", r.decided_from), ("decided_until", r.decided_until)] {
            if value < 0 {
                return Err(invalid(format!("{field}: {value} is not Unix seconds (0 = open)")));
            }
        }
        window(r.decided_from, r.decided_until)?;
        Ok(Self {
            authority: (!r.authority.is_empty()).then_some(r.authority),
            decided_from: (r.decided_from != 0).then_some(r.decided_from),
            decided_until: (r.decided_until != 0).then_some(r.decided_until),
        })
    }
}

/// Refuses an empty window [decided_from, decided_until) (0 = open), as Stats and Search do.
pub fn window(decided_from: i64, decided_until: i64) -> Result<(), Error> {
    if decided_from != 0 && decided_until != 0 && decided_until <= decided_from {
        return Err(Error::InvalidArgument(format!(
            "decided_until ({decided_until}) must be after decided_from ({decided_from}): the window [decided_from, decided_until) is empty"
        )));
    }
    Ok(())
}

/// (authority, regime, licence type, risk tier): ordered as the rows are.
type GroupKey = (String, i32, i32, u32);

/// What is counted of one group while scanning.
#[derive(Default)]
struct Tally {
    decisions: u64,
    actions: BTreeMap<String, u64>,
    /// Processing times of the group's determinations (grant, denial, appeal outcome), from the
    /// application's receipt, seconds. A decision's date is bounded by its log time: the node
    /// refuses one dated later than it enters the log (beyond the clock allowance).
    times: Vec<i64>,
    /// Decisions giving each reason code.
    reasons: BTreeMap<String, u64>,
}

impl Tally {
    fn add(&mut self, d: &pb::Decision, action: pb::Action) {
        self.decisions += 1;
        *self.actions.entry(action.as_str_name().to_string()).or_default() += 1;
        if is_determination(action) {
            self.times.push(d.decided_at - d.application_received);
        }
        let codes: BTreeSet<&str> = d.reasons.iter().map(|r| r.code.as_str()).collect();
        for code in codes {
            *self.reasons.entry(code.to_string()).or_default() += 1;
        }
    }

    fn into_row(mut self, (authority, regime, licence_type, risk_tier): GroupKey) -> pb::StatsGroup {
        let count = |name: &str| self.actions.get(name).copied().unwrap_or(0);
        let (grants, denials, revocations) = (count("GRANT"), count("DENY"), count("REVOKE"));
        self.times.sort_unstable();
        let mut reasons: Vec<(String, u64)> = std::mem::take(&mut self.reasons).into_iter().collect();
        // Most first; the map iterates codes in ascending order and the sort is stable.
        reasons.sort_by_key(|r| std::cmp::Reverse(r.1));
        reasons.truncate(TOP_REASONS);
        pb::StatsGroup {
            authority,
            regime,
            licence_type,
            risk_tier,
            decisions: self.decisions,
            processing: Some(processing_time(&self.times)),
            denials,
            determinations: grants + denials,
            revocations,
            grants,
            top_reasons: reasons.into_iter().map(|(code, decisions)| pb::ReasonCount { code, decisions }).collect(),
            actions: self.actions,
        }
    }
}

/// Count, median, p90 and max of `sorted` (ascending).
fn processing_time(sorted: &[i64]) -> pb::ProcessingTime {
    pb::ProcessingTime {
        count: sorted.len() as u64,
        median_secs: nearest_rank(sorted, 50),
        p90_secs: nearest_rank(sorted, 90),
        max_secs: sorted.last().copied().unwrap_or(0),
    }
}

/// The `percent`-th percentile of `sorted` by the nearest-rank method: the value at 1-based rank
/// ceil(percent/100 · n), in integers so that no rounding creeps in; 0 when empty.
pub fn nearest_rank(sorted: &[i64], percent: u64) -> i64 {
    let n = sorted.len() as u64;
    let rank = (percent * n).div_ceil(100).max(1);
    sorted.get(rank as usize - 1).copied().unwrap_or(0)
}

/// The report over the decisions held in `store`, as of now.
pub fn compute(store: &Store, query: &StatsQuery, now: i64) -> Result<pb::StatsResponse, Error> {
    // First the log sizes: decisions logged after this are left out (see the module comment).
    compute_at(store, query, store.log_sizes()?, now)
}

/// The report over the first `sizes` entries of each log.
fn compute_at(store: &Store, query: &StatsQuery, sizes: Vec<(String, u64)>, now: i64) -> Result<pb::StatsResponse, Error> {
    let mut report = Report { sizes: sizes.into_iter().collect(), ..Default::default() };
    let mut chain: Vec<StatementId> = Vec::new();
    let mut decisions = store.decisions(query.authority.as_deref()).peekable();
    while let Some(entry) = decisions.next() {
        let (authority, licence_id, _, id) = entry?;
        chain.push(id);
        // Keys come in (authority, licence, version) order: a chain ends where another starts.
        let same_licence = matches!(decisions.peek(), Some(Ok((a, l, _, _))) if *a == authority && *l == licence_id);
        if !same_licence {
            report.count_chain(store, query, &chain)?;
            chain.clear();
        }
    }
    report.count_consultations(store, query)?;
    let checks = crate::service::end_use::counts(store, query.authority.as_deref(), query.decided_from, query.decided_until, |id| report.counted(store, id))?;
    report.end_use_checks = checks;
    Ok(report.finish(now))
}

/// Reports already made, by request and the log sizes they were made at. A report is a
/// function of those alone (see the module comment), so a kept one is exact until a log grows:
/// a partner's web page or a monitor asking again between publishes costs a few reads, not a
/// scan of every decision.
pub struct StatsCache {
    reports: quick_cache::sync::Cache<ReportKey, std::sync::Arc<pb::StatsResponse>>,
}

/// A request and the log sizes (origin, size) its report counts up to.
type ReportKey = (StatsQuery, Vec<(String, u64)>);

impl Default for StatsCache {
    fn default() -> Self {
        Self { reports: quick_cache::sync::Cache::new(64) }
    }
}

impl StatsCache {
    /// [`compute`], from a kept report when the logs have not grown since it was made.
    pub fn compute(&self, store: &Store, query: &StatsQuery, now: i64) -> Result<pb::StatsResponse, Error> {
        let sizes = store.log_sizes()?;
        let key = (query.clone(), sizes);
        if let Some(kept) = self.reports.get(&key) {
            return Ok(pb::StatsResponse { generated_at: now, ..(*kept).clone() });
        }
        let report = compute_at(store, query, key.1.clone(), now)?;
        self.reports.insert(key, std::sync::Arc::new(report.clone()));
        Ok(report)
    }
}

/// A report being counted.
#[derive(Default)]
struct Report {
    /// Log sizes read before the scan.
    sizes: HashMap<String, u64>,
    /// Logs holding a decision of the authorities reported on.
    used_logs: BTreeSet<String>,
    groups: BTreeMap<GroupKey, Tally>,
    /// Confidential decisions in the window, per authority.
    confidential: BTreeMap<String, u64>,
    /// Consultations and undercut overrides in the window, per authority.
    consultations: BTreeMap<String, pb::ConsultationCount>,
    /// Post-shipment verification outcomes in the window.
    end_use_checks: Vec<pb::EndUseCheckCount>,
}

impl Report {
    /// Counts one licence's decisions (`chain`, in version order) that fall in the window, each
    /// in the group of the terms in force once it was taken.
    fn count_chain(&mut self, store: &Store, query: &StatsQuery, chain: &[StatementId]) -> Result<(), Error> {
        let mut state: Option<LicenceState> = None;
        for id in chain {
            let (origin, index) = store.location_of(id)?.ok_or_else(|| stored_corrupt(format!("decision {id} is in no log held here")))?;
            // Logged after the sizes were read: this decision and the later ones of its licence
            // wait for the next report.
            if self.sizes.get(&origin).is_none_or(|size| index >= *size) {
                return Ok(());
            }
            self.used_logs.insert(origin);
            let bytes = store.statement(id)?.ok_or_else(|| stored_corrupt(format!("statement {id} missing")))?;
            check_stored_hash(id, &bytes)?;
            let envelope = Envelope::parse(bytes).map_err(stored_corrupt)?;
            let decision = match envelope.statement() {
                pb::statement::Kind::Decision(d) => CheckedDecision::try_from(d.clone()).map_err(stored_corrupt)?,
                // A confidential licence's content is not public (a node in its audience could
                // read it, but then partners' reports would differ): counted, never classified.
                pb::statement::Kind::RestrictedDecision(r) => {
                    if query.in_window(r.decided_at) {
                        *self.confidential.entry(r.authority.clone()).or_default() += 1;
                    }
                    continue;
                }
                _ => return Err(stored_corrupt(format!("statement {id} is not a decision"))),
            };
            let next = match &state {
                None => LicenceState::start(*id, &decision),
                Some(s) => s.apply(*id, &decision),
            };
            let next = next.map_err(|e| stored_corrupt(format!("chain of {id}: {e}")))?;
            let d = decision.decision();
            if query.in_window(d.decided_at) {
                let t = &next.terms;
                // The first item is the licence's primary classification: one group per decision.
                let regime = t.items.first().map_or(0, |item| item.regime);
                let key = (t.authority.clone(), regime, t.licence_type, t.risk_tier);
                self.groups.entry(key).or_default().add(d, decision.action());
                if decision.action() == pb::Action::Grant && (!d.consultations.is_empty() || d.undercut_override.is_some()) {
                    let count = self.consultation_count(&d.authority);
                    count.consulted_grants += u64::from(!d.consultations.is_empty());
                    count.overrides += u64::from(d.undercut_override.is_some());
                }
            }
            state = Some(next);
        }
        Ok(())
    }

    fn consultation_count(&mut self, authority: &str) -> &mut pb::ConsultationCount {
        self.consultations.entry(authority.to_string()).or_insert_with(|| pb::ConsultationCount { authority: authority.to_string(), ..Default::default() })
    }

    /// Whether statement `id` (a consultation or an end-use check) was logged within the sizes
    /// read before the scan.
    fn counted(&self, store: &Store, id: &StatementId) -> Result<bool, Error> {
        let (origin, index) = store.location_of(id)?.ok_or_else(|| stored_corrupt(format!("statement {id} is in no log held here")))?;
        Ok(self.sizes.get(&origin).is_some_and(|size| index < *size))
    }

    /// Counts the consultation requests and answers issued in the window.
    fn count_consultations(&mut self, store: &Store, query: &StatsQuery) -> Result<(), Error> {
        let wanted = |a: &str| query.authority.as_deref().is_none_or(|q| q == a);
        for (request, answers) in store.consultations()? {
            let mut answered_by_denier = false;
            let denier = match request {
                Some(id) if self.counted(store, &id)? => match crate::consultation::load(store, &id)? {
                    comity_proto::consultation::Consultation::Request(r) => Some((r.denial.split('/').next().unwrap_or_default().to_string(), r)),
                    _ => None,
                },
                _ => None,
            };
            for id in answers {
                if !self.counted(store, &id)? {
                    continue;
                }
                if let comity_proto::consultation::Consultation::Answer(a) = crate::consultation::load(store, &id)? {
                    answered_by_denier |= denier.as_ref().is_some_and(|(d, _)| *d == a.authority);
                    if query.in_window(a.issued_at) && wanted(&a.authority) {
                        let count = self.consultation_count(&a.authority);
                        count.answers_given += 1;
                        count.objections += u64::from(a.position == pb::ConsultationPosition::Objection as i32);
                    }
                }
            }
            if let Some((_, r)) = denier.filter(|(_, r)| query.in_window(r.issued_at) && wanted(&r.authority)) {
                let count = self.consultation_count(&r.authority);
                count.requests += 1;
                count.answered += u64::from(answered_by_denier);
            }
        }
        Ok(())
    }

    fn finish(self, now: i64) -> pb::StatsResponse {
        let sizes = self.sizes;
        pb::StatsResponse {
            groups: self.groups.into_iter().map(|(key, tally)| tally.into_row(key)).collect(),
            as_of: self.used_logs.into_iter().filter_map(|origin| Some(pb::LogExtent { size: *sizes.get(&origin)?, origin })).collect(),
            generated_at: now,
            confidential: self.confidential.into_iter().map(|(authority, decisions)| pb::ConfidentialCount { authority, decisions }).collect(),
            consultations: self.consultations.into_values().collect(),
            end_use_checks: self.end_use_checks,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        assert_eq!(nearest_rank(&[], 50), 0);
        assert_eq!(nearest_rank(&[7], 50), 7);
        assert_eq!(nearest_rank(&[7], 90), 7);
        // n = 4: median at rank ceil(2) = 2, p90 at rank ceil(3.6) = 4.
        assert_eq!(nearest_rank(&[1, 2, 3, 4], 50), 2);
        assert_eq!(nearest_rank(&[1, 2, 3, 4], 90), 4);
        // n = 5: median at rank ceil(2.5) = 3.
        assert_eq!(nearest_rank(&[10, 20, 30, 40, 50], 50), 30);
        // n = 10: p90 at rank exactly 9 (no floating-point 9.000001 pushing it to 10).
        let ten: Vec<i64> = (1..=10).collect();
        assert_eq!(nearest_rank(&ten, 90), 9);
        assert_eq!(nearest_rank(&ten, 100), 10);
        // n = 11: p90 at rank ceil(9.9) = 10.
        let eleven: Vec<i64> = (1..=11).collect();
        assert_eq!(nearest_rank(&eleven, 90), 10);
    }

    #[test]
    fn top_reasons_are_most_given_first_ties_by_code_and_a_decision_counts_once() {
        let mut tally = Tally::default();
        let decision = |codes: &[&str]| pb::Decision {
            reasons: codes.iter().map(|c| pb::Reason { code: c.to_string(), ..Default::default() }).collect(),
            ..Default::default()
        };
        tally.add(&decision(&["ZETA", "ALPHA", "ZETA"]), pb::Action::Deny);
        tally.add(&decision(&["ZETA", "DELTA", "BETA", "GAMMA", "EPSILON"]), pb::Action::Deny);
        let row = tally.into_row(("de.bafa".into(), 1, 1, 2));
        let top: Vec<(&str, u64)> = row.top_reasons.iter().map(|r| (r.code.as_str(), r.decisions)).collect();
        assert_eq!(top, [("ZETA", 2), ("ALPHA", 1), ("BETA", 1), ("DELTA", 1), ("EPSILON", 1)]);
        assert_eq!((row.denials, row.determinations, row.decisions), (2, 2, 2));
    }

    #[test]
    fn milestones_are_counted_by_action_but_not_timed() {
        let mut tally = Tally::default();
        let d = pb::Decision { application_received: 100, decided_at: 400, ..Default::default() };
        tally.add(&d, pb::Action::ApplicationLodged);
        tally.add(&d, pb::Action::Grant);
        let row = tally.into_row(("de.bafa".into(), 1, 1, 2));
        assert_eq!(row.decisions, 2);
        assert_eq!(row.actions.get("APPLICATION_LODGED"), Some(&1));
        assert_eq!(row.processing, Some(pb::ProcessingTime { count: 1, median_secs: 300, p90_secs: 300, max_secs: 300 }));
    }

    #[test]
    fn bad_requests_are_refused_with_the_field_named() {
        let refused = |r: pb::StatsRequest| match StatsQuery::try_from(r) {
            Err(Error::InvalidArgument(m)) => m,
            other => panic!("expected INVALID_ARGUMENT, got {other:?}"),
        };
        assert_eq!(
            refused(pb::StatsRequest { authority: "DE BAFA".into(), ..Default::default() }),
            "authority: `DE BAFA` is not a lowercase dotted id like de.bafa"
        );
        assert_eq!(
            refused(pb::StatsRequest { decided_from: 200, decided_until: 200, ..Default::default() }),
            "decided_until (200) must be after decided_from (200): the window [decided_from, decided_until) is empty"
        );
        assert_eq!(refused(pb::StatsRequest { decided_from: -1, ..Default::default() }), "decided_from: -1 is not Unix seconds (0 = open)");
        let open = StatsQuery::try_from(pb::StatsRequest { decided_until: 200, ..Default::default() }).unwrap();
        assert_eq!(open, StatsQuery { authority: None, decided_from: None, decided_until: Some(200) });
        assert!(open.in_window(199) && !open.in_window(200));
    }
}
