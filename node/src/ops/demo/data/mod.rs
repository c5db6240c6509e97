//! A realistic sample data set for demos and tests: four authorities and their licence decisions.
//!
//! Every company, trading house and research institute named as an applicant, consignee or end
//! user is fictional, except that real universities and public research institutes appear as end
//! users of *granted* licences and ETH Zurich appears as the issuing office. Identifiers (EORI,
//! Companies House, Japanese corporate numbers, ...) are made up.
//!
//! Times are relative to a caller-supplied `now`, so the data never goes stale. Applications may
//! arrive at any hour (the licensing portals accept them around the clock); decisions are taken
//! between 08:30 and 16:30 UTC, and a decision day falling on a weekend moves to the next Monday.
//! Licence numbers are derived from the year and day of the first application as they fall on a
//! fixed day, so they rise with the application date within each authority's series and stay the
//! same whenever the data is generated.
//!
//! This module holds the authorities, the recognition agreements and the licence-building
//! machinery; each authority's licences are built in a file of their own ([`de_bafa`],
//! [`uk_ecju`], [`jp_meti`], [`uni_ethz`]).

use std::cell::Cell;
use std::collections::HashMap;

use chrono::{DateTime, Datelike, Utc};

use comity_proto::authoring::{format_time, ActionName as A, DecisionDoc, IdentifierDoc, ItemDoc, LicenceTypeName as LT, PartyDoc, ReasonDoc, RegimeName as R};

pub mod consultations;
mod de_bafa;
mod jp_meti;
pub mod lists;
pub mod re_export;
pub mod rulings;
mod uk_ecju;
mod uni_ethz;
pub mod usage;

const DAY: i64 = 86_400;

/// A sample authority for the demo.
pub struct DemoAuthority {
    pub id: &'static str,
    pub name: &'static str,
    pub country: &'static str,
}

/// The demo authorities.
pub fn authorities() -> Vec<DemoAuthority> {
    vec![
        DemoAuthority { id: "de.bafa", name: "Federal Office for Economic Affairs and Export Control", country: "DE" },
        DemoAuthority { id: "uk.ecju", name: "Export Control Joint Unit", country: "GB" },
        DemoAuthority { id: "jp.meti", name: "Ministry of Economy, Trade and Industry, Security Export Control Policy Division", country: "JP" },
        DemoAuthority { id: "uni.ethz", name: "ETH Zurich Export Control Office", country: "CH" },
    ]
}

/// Decisions in publish order, times relative to `now` (Unix seconds) so the data stays current.
/// `version` is set; `previous` is left None (filled in when the chain is signed).
pub fn decisions(now: i64) -> Vec<DecisionDoc> {
    let mut built = build(&Clock::new(now));
    // Numbered as the data stands on a fixed day, so that a licence keeps its number whenever
    // the demo runs (the README quotes them); only its dates follow today.
    let mut numbered = build(&Clock::new(NUMBERED_ON));
    assign_licence_ids(&mut numbered);
    assert_eq!(built.len(), numbered.len(), "the demo data does not depend on the day");
    for (licence, as_numbered) in built.iter_mut().zip(numbered) {
        licence.id = as_numbered.id;
    }

    let mut all: Vec<(i64, DecisionDoc)> = Vec::new();
    for licence in built {
        for (decided, mut doc) in licence.docs {
            doc.authority = licence.authority.to_string();
            doc.licence_id.clone_from(&licence.id);
            all.push((decided, doc));
        }
    }
    // Stable: decisions of one licence keep their chain order when decided at the same second.
    all.sort_by_key(|(decided, _)| *decided);
    all.into_iter().map(|(_, doc)| doc).collect()
}

/// The day (2026-11-18, Unix seconds) the licence numbers are derived from.
const NUMBERED_ON: i64 = 1_794_960_000;

fn build(clock: &Clock) -> Vec<Built> {
    let mut built = Vec::new();
    built.extend(de_bafa::licences(clock));
    built.extend(uk_ecju::licences(clock));
    built.extend(jp_meti::licences(clock));
    built.extend(uni_ethz::licences(clock));
    built.extend(consultations::licences(clock));
    built
}

// ---------------------------------------------------------------------------------------------
// Time and licence-building machinery.

/// Midnight UTC of the day containing `t`.
fn midnight(t: i64) -> i64 {
    t - t.rem_euclid(DAY)
}

/// 0 = Monday ... 6 = Sunday (1970-01-01 was a Thursday).
fn weekday(t: i64) -> i64 {
    (t.div_euclid(DAY) + 3).rem_euclid(7)
}

struct Clock {
    today: i64,
    next_seed: Cell<i64>,
}

impl Clock {
    fn new(now: i64) -> Self {
        Clock { today: midnight(now), next_seed: Cell::new(1) }
    }

    fn seed(&self) -> i64 {
        let s = self.next_seed.get();
        self.next_seed.set(s + 1);
        s
    }

    /// Midnight UTC `days` before today.
    fn day(&self, days: i64) -> i64 {
        self.today - days * DAY
    }

    /// An application received `days` before today, between 06:00 and 22:00 UTC.
    fn received(&self, days: i64, salt: i64) -> i64 {
        self.day(days) + (360 + (salt * 409 + 131).rem_euclid(960)) * 60
    }

    /// A decision taken `days` before today (at least 3, so that moving a weekend decision to
    /// Monday stays in the past). Saturday's decisions move to Monday 08:00-08:14 and Sunday's to
    /// 08:15-08:29, before any decision taken on the Monday itself, so the move keeps order.
    fn decided(&self, days: i64, salt: i64) -> i64 {
        assert!(days >= 3, "demo decisions are at least 3 days old");
        let t = self.day(days) + (510 + (salt * 37).rem_euclid(480)) * 60;
        let early = (salt * 7).rem_euclid(15) * 60;
        match weekday(t) {
            5 => midnight(t) + 2 * DAY + 8 * 3600 + early,
            6 => midnight(t) + DAY + 8 * 3600 + 15 * 60 + early,
            _ => t,
        }
    }
}

/// A licence numbering series.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Series {
    /// BAFA: `DE-2026-004211`.
    De,
    /// UK standard individual export licence: `GBSIEL/2026/0001234`.
    UkSiel,
    /// UK open individual export licence: `GBOIEL/2026/0000412`.
    UkOiel,
    /// UK open general export licence registration: `GBOGEL/2026/0003391`.
    UkOgel,
    /// METI: `JP-METI-2026-01187`.
    Jp,
    /// ETH Zurich export control office: `ETHZ-ECO-2026-0042`.
    Ethz,
}

impl Series {
    /// Licences issued per day, as numerator / denominator.
    fn rate(self) -> (i64, i64) {
        match self {
            Series::De => (47, 1),
            Series::UkSiel => (53, 1),
            Series::UkOiel => (3, 2),
            Series::UkOgel => (11, 1),
            Series::Jp => (31, 1),
            Series::Ethz => (3, 10),
        }
    }

    fn format(self, year: i32, n: i64) -> String {
        match self {
            Series::De => format!("DE-{year}-{n:06}"),
            Series::UkSiel => format!("GBSIEL/{year}/{n:07}"),
            Series::UkOiel => format!("GBOIEL/{year}/{n:07}"),
            Series::UkOgel => format!("GBOGEL/{year}/{n:07}"),
            Series::Jp => format!("JP-METI-{year}-{n:05}"),
            Series::Ethz => format!("ETHZ-ECO-{year}-{n:04}"),
        }
    }
}

/// Numbers each licence from the year and day of its first application, rising within a series.
fn assign_licence_ids(built: &mut [Built]) {
    let mut order: Vec<usize> = (0..built.len()).collect();
    order.sort_by_key(|&i| (built[i].first_received, i));
    let mut last: HashMap<(Series, i32), i64> = HashMap::new();
    for i in order {
        let b = &mut built[i];
        let when = DateTime::<Utc>::from_timestamp(b.first_received, 0).unwrap_or_default();
        let (num, den) = b.series.rate();
        let jitter = (b.seed * 7919).rem_euclid(num.max(2));
        let candidate = 1 + i64::from(when.ordinal0()) * num / den + jitter;
        let prev = last.entry((b.series, when.year())).or_insert(0);
        let n = candidate.max(*prev + 1);
        *prev = n;
        b.id = b.series.format(when.year(), n);
    }
}

/// The terms of a licence as they stand (what grant, amend and appeal_overturned carry).
#[derive(Clone)]
struct Terms {
    licence_type: LT,
    applicant: PartyDoc,
    end_users: Vec<PartyDoc>,
    consignees: Vec<PartyDoc>,
    end_use: &'static str,
    items: Vec<ItemDoc>,
    destinations: Vec<&'static str>,
    transit: Vec<&'static str>,
    re_export_terms: &'static str,
    risk_tier: u32,
    conditions: Vec<&'static str>,
}

impl Default for Terms {
    fn default() -> Self {
        Terms {
            licence_type: LT::Individual,
            applicant: party("", "", "", &[]),
            end_users: Vec::new(),
            consignees: Vec::new(),
            end_use: "",
            items: Vec::new(),
            destinations: Vec::new(),
            transit: Vec::new(),
            re_export_terms: "",
            risk_tier: 1,
            conditions: Vec::new(),
        }
    }
}

/// A finished licence chain, before its id is assigned.
struct Built {
    authority: &'static str,
    series: Series,
    seed: i64,
    id: String,
    first_received: i64,
    docs: Vec<(i64, DecisionDoc)>,
}

/// Builds one licence's chain of decisions. `rcv` and `dec` are days before today.
struct Lic<'c> {
    clock: &'c Clock,
    authority: &'static str,
    series: Series,
    seed: i64,
    terms: Terms,
    valid: Option<(i64, i64)>,
    first_received: Option<i64>,
    /// While an application is under review: when it was received, which its milestones and
    /// the decision ending the review repeat (processing time is measured from it).
    review_received: Option<i64>,
    docs: Vec<(i64, DecisionDoc)>,
}

fn blank(action: A) -> DecisionDoc {
    DecisionDoc {
        authority: String::new(),
        licence_id: String::new(),
        version: None,
        previous: None,
        action,
        licence_type: None,
        applicant: None,
        end_users: Vec::new(),
        consignees: Vec::new(),
        end_use: String::new(),
        items: Vec::new(),
        destinations: Vec::new(),
        transit_countries: Vec::new(),
        re_export_terms: String::new(),
        valid_from: None,
        valid_until: None,
        risk_tier: None,
        conditions: Vec::new(),
        reasons: Vec::new(),
        application_received: String::new(),
        decided_at: String::new(),
        note: String::new(),
        consultations: Vec::new(),
        undercut_override: None,
        general_licence: String::new(),
        permitted_end_uses: Vec::new(),
        reported_by: String::new(),
        shipment: None,
        re_export_consent: None,
        parent_licence: String::new(),
        consent_id: String::new(),
    }
}

fn strings(v: &[&'static str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_string()).collect()
}

impl<'c> Lic<'c> {
    fn new(clock: &'c Clock, authority: &'static str, series: Series, terms: Terms) -> Self {
        Lic { clock, authority, series, seed: clock.seed(), terms, valid: None, first_received: None, review_received: None, docs: Vec::new() }
    }

    /// (received, decided) in Unix seconds for a step `rcv` / `dec` days before today.
    fn times(&self, rcv: i64, dec: i64) -> (i64, i64) {
        let salt = self.seed * 31 + self.docs.len() as i64 * 7;
        let decided = self.clock.decided(dec, salt);
        match self.review_received {
            Some(received) => (received, decided),
            None => (self.clock.received(rcv, salt).min(decided), decided),
        }
    }

    fn terms_doc(&self, action: A) -> DecisionDoc {
        let t = &self.terms;
        let mut doc = blank(action);
        doc.licence_type = Some(t.licence_type);
        doc.applicant = Some(t.applicant.clone());
        doc.end_users.clone_from(&t.end_users);
        doc.consignees.clone_from(&t.consignees);
        doc.end_use = t.end_use.to_string();
        doc.items.clone_from(&t.items);
        doc.destinations = strings(&t.destinations);
        doc.transit_countries = strings(&t.transit);
        doc.re_export_terms = t.re_export_terms.to_string();
        doc.risk_tier = Some(t.risk_tier);
        doc.conditions = strings(&t.conditions);
        if let Some((from, until)) = self.valid {
            doc.valid_from = Some(format_time(from));
            doc.valid_until = Some(format_time(until));
        }
        doc
    }

    fn push(mut self, mut doc: DecisionDoc, (received, decided): (i64, i64), note: &str) -> Self {
        if let Some((last, _)) = self.docs.last() {
            assert!(decided >= *last, "demo decisions out of order");
        }
        doc.version = Some(self.docs.len() as u64 + 1);
        doc.application_received = format_time(received);
        doc.decided_at = format_time(decided);
        doc.note = note.to_string();
        if matches!(doc.action, A::Grant | A::Deny | A::ApplicationWithdrawn) {
            self.review_received = None;
        }
        self.first_received.get_or_insert(received);
        self.docs.push((decided, doc));
        self
    }

    /// Registers an application (received `rcv` days ago) for review: the terms applied for, no
    /// validity window. Until a grant, denial or withdrawal, every step repeats its receipt time.
    fn lodge(mut self, rcv: i64, dec: i64, note: &str) -> Self {
        let times = self.times(rcv, dec);
        self.review_received = Some(times.0);
        let doc = self.terms_doc(A::ApplicationLodged);
        self.push(doc, times, note)
    }

    /// A milestone of the review under way (`dec` days ago), with reasons saying what and why.
    fn milestone(self, action: A, dec: i64, reasons: Vec<ReasonDoc>, note: &str) -> Self {
        assert!(self.review_received.is_some(), "milestones follow a lodged application");
        self.with_reasons(action, dec, dec, reasons, note)
    }

    /// Issues the licence valid for `valid_days` from the day of the decision.
    fn grant(self, rcv: i64, dec: i64, valid_days: i64, note: &str) -> Self {
        let times = self.times(rcv, dec);
        let from = midnight(times.1);
        self.issue(A::Grant, times, from, from + valid_days * DAY, note)
    }

    /// Issues the licence valid from `starts_in` days after today (not yet valid).
    fn grant_deferred(self, rcv: i64, dec: i64, starts_in: i64, valid_days: i64, note: &str) -> Self {
        let times = self.times(rcv, dec);
        let from = self.clock.today + starts_in * DAY;
        self.issue(A::Grant, times, from, from + valid_days * DAY, note)
    }

    fn issue(mut self, action: A, times: (i64, i64), from: i64, until: i64, note: &str) -> Self {
        self.valid = Some((from, until));
        let doc = self.terms_doc(action);
        self.push(doc, times, note)
    }

    fn deny(self, rcv: i64, dec: i64, reasons: Vec<ReasonDoc>, note: &str) -> Self {
        let times = self.times(rcv, dec);
        let mut doc = self.terms_doc(A::Deny);
        doc.reasons = reasons;
        self.push(doc, times, note)
    }

    fn amend(mut self, rcv: i64, dec: i64, change: impl FnOnce(&mut Terms), note: &str) -> Self {
        let times = self.times(rcv, dec);
        change(&mut self.terms);
        let doc = self.terms_doc(A::Amend);
        self.push(doc, times, note)
    }

    fn extend(mut self, rcv: i64, dec: i64, extra_days: i64, note: &str) -> Self {
        let times = self.times(rcv, dec);
        let (from, until) = self.valid.expect("extend needs an issued licence");
        let until = until + extra_days * DAY;
        self.valid = Some((from, until));
        let mut doc = blank(A::Extend);
        doc.valid_until = Some(format_time(until));
        self.push(doc, times, note)
    }

    fn with_reasons(self, action: A, rcv: i64, dec: i64, reasons: Vec<ReasonDoc>, note: &str) -> Self {
        let times = self.times(rcv, dec);
        let mut doc = blank(action);
        doc.reasons = reasons;
        self.push(doc, times, note)
    }

    fn bare(self, action: A, rcv: i64, dec: i64, note: &str) -> Self {
        let times = self.times(rcv, dec);
        self.push(blank(action), times, note)
    }

    fn suspend(self, rcv: i64, dec: i64, reasons: Vec<ReasonDoc>, note: &str) -> Self {
        self.with_reasons(A::Suspend, rcv, dec, reasons, note)
    }

    fn revoke(self, rcv: i64, dec: i64, reasons: Vec<ReasonDoc>, note: &str) -> Self {
        self.with_reasons(A::Revoke, rcv, dec, reasons, note)
    }

    fn appeal_upheld(self, rcv: i64, dec: i64, reasons: Vec<ReasonDoc>, note: &str) -> Self {
        self.with_reasons(A::AppealUpheld, rcv, dec, reasons, note)
    }

    fn reinstate(self, rcv: i64, dec: i64, note: &str) -> Self {
        self.bare(A::Reinstate, rcv, dec, note)
    }

    fn appeal_lodged(self, rcv: i64, dec: i64, note: &str) -> Self {
        self.bare(A::AppealLodged, rcv, dec, note)
    }

    fn surrender(self, rcv: i64, dec: i64, note: &str) -> Self {
        self.bare(A::Surrender, rcv, dec, note)
    }

    fn cancel(self, rcv: i64, dec: i64, note: &str) -> Self {
        self.bare(A::Cancel, rcv, dec, note)
    }

    /// The denial is overturned on appeal: the licence is issued on the (possibly revised) terms.
    fn appeal_overturned(mut self, rcv: i64, dec: i64, change: impl FnOnce(&mut Terms), valid_days: i64, note: &str) -> Self {
        let times = self.times(rcv, dec);
        change(&mut self.terms);
        let from = midnight(times.1);
        self.issue(A::AppealOverturned, times, from, from + valid_days * DAY, note)
    }

    fn done(self) -> Built {
        Built {
            authority: self.authority,
            series: self.series,
            seed: self.seed,
            id: String::new(),
            first_received: self.first_received.unwrap_or(self.clock.today),
            docs: self.docs,
        }
    }
}

fn party(name: &str, country: &str, address: &str, ids: &[(&str, &str)]) -> PartyDoc {
    PartyDoc {
        name: name.to_string(),
        country: country.to_string(),
        identifiers: ids.iter().map(|(scheme, value)| IdentifierDoc { scheme: (*scheme).to_string(), value: (*value).to_string() }).collect(),
        address: address.to_string(),
    }
}

fn item(regime: R, code: &str, description: &str, quantity: &str, unit: &str, value: &str, currency: &str) -> ItemDoc {
    ItemDoc {
        regime,
        control_code: code.to_string(),
        description: description.to_string(),
        quantity: quantity.to_string(),
        unit: unit.to_string(),
        value: value.to_string(),
        currency: currency.to_string(),
    }
}

fn reason(code: &str, legal_basis: &str, text: &str) -> ReasonDoc {
    ReasonDoc { code: code.to_string(), legal_basis: legal_basis.to_string(), text: text.to_string() }
}

/// Recognition agreements between the demo authorities, as their agencies might sign them:
/// each relying authority recognises a partner's licences for the partner's usual regimes,
/// never for embargoed destinations, and up to a review tier. Times relative to `now`.
pub fn agreements(now: i64) -> Vec<comity_proto::pb::RecognitionAgreement> {
    use comity_proto::pb::{LicenceType, RecognitionAgreement, Regime};
    let embargoed = || ["RU", "BY", "KP", "IR", "SY"].map(String::from).to_vec();
    let base = |relying: &str, recognised: &str, id: &str| RecognitionAgreement {
        relying_authority: relying.into(),
        recognised_authority: recognised.into(),
        version: 1,
        agreement_id: id.into(),
        destinations_denied: embargoed(),
        valid_from: now - 400 * DAY,
        valid_until: now + 3 * 365 * DAY,
        max_staleness_secs: DAY as u64,
        issued_at: now - 400 * DAY,
        ..Default::default()
    };
    vec![
        // METI writes its agreement in Wassenaar numbers and counts BAFA's Annex I codes through
        // its own correlation table.
        RecognitionAgreement {
            regimes: vec![Regime::Wassenaar as i32],
            control_code_patterns: vec!["WA:3.A.1.*".into(), "WA:3.A.2.*".into(), "WA:3.B.1.*".into(), "WA:5.A.2.*".into()],
            crosswalk: lists::CROSSWALK_KEY.into(),
            licence_types: vec![LicenceType::Individual as i32, LicenceType::Global as i32],
            max_risk_tier: 3,
            conditions: vec!["Importer presents the German end-use certificate with the customs declaration.".into()],
            ..base("jp.meti", "de.bafa", "eu-du-electronics")
        },
        RecognitionAgreement {
            regimes: vec![Regime::EuDualUse as i32],
            max_risk_tier: 2,
            conditions: vec!["Re-export from the UK needs a UK licence.".into()],
            ..base("uk.ecju", "de.bafa", "eu-du-2026")
        },
        RecognitionAgreement { max_risk_tier: 3, ..base("de.bafa", "uk.ecju", "uk-strategic-2026") },
        RecognitionAgreement { max_risk_tier: 2, ..base("de.bafa", "jp.meti", "jp-fefta-2026") },
    ]
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use regex::Regex;

    use super::*;
    use comity_proto::authoring::{parse_time, RegimeName};
    use comity_proto::codes::{is_country, is_currency};

    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    enum St {
        Issued,
        Denied,
        Suspended,
        Revoked,
        Surrendered,
        Cancelled,
        UnderAppeal,
        UnderReview,
        Withdrawn,
    }

    struct Licence {
        state: St,
        appealed: Option<St>,
        licence_type: LT,
        applicant: String,
        valid_from: i64,
        valid_until: i64,
        last_decided: i64,
        version: u64,
        received: i64,
    }

    const ALL_ACTIONS: [A; 16] = [
        A::Grant,
        A::Deny,
        A::Amend,
        A::Extend,
        A::Suspend,
        A::Reinstate,
        A::Revoke,
        A::AppealLodged,
        A::AppealUpheld,
        A::AppealOverturned,
        A::Surrender,
        A::Cancel,
        A::ApplicationLodged,
        A::InformationRequested,
        A::Referred,
        A::ApplicationWithdrawn,
    ];

    fn next_state(state: Option<St>, appealed: Option<St>, action: A) -> Option<St> {
        use St::*;
        match (action, state) {
            (A::Grant, None | Some(UnderReview)) => Some(Issued),
            (A::Deny, None | Some(UnderReview)) => Some(Denied),
            (A::ApplicationLodged, None) => Some(UnderReview),
            (A::InformationRequested | A::Referred, Some(UnderReview)) => Some(UnderReview),
            (A::ApplicationWithdrawn, Some(UnderReview)) => Some(Withdrawn),
            (A::Amend | A::Extend, Some(Issued)) => Some(Issued),
            (A::Suspend, Some(Issued)) => Some(Suspended),
            (A::Reinstate, Some(Suspended)) => Some(Issued),
            (A::Revoke, Some(Issued | Suspended)) => Some(Revoked),
            (A::Surrender, Some(Issued | Suspended)) => Some(Surrendered),
            (A::Cancel, Some(Issued | Suspended)) => Some(Cancelled),
            (A::AppealLodged, Some(Denied | Revoked | Suspended)) => Some(UnderAppeal),
            (A::AppealUpheld, Some(UnderAppeal)) => appealed,
            (A::AppealOverturned, Some(UnderAppeal)) => Some(Issued),
            _ => None,
        }
    }

    struct Patterns {
        eu: Regex,
        wa: Regex,
        decimal: Regex,
        reason: Regex,
    }

    impl Patterns {
        fn new() -> Self {
            Patterns {
                eu: Regex::new(r"^[0-9][A-E][0-9]{3}(\.[a-z0-9]+)*$").unwrap(),
                wa: Regex::new(r"^[0-9]{1,2}\.[A-E]\.[0-9]+(\.[a-z0-9]+)*$").unwrap(),
                decimal: Regex::new(r"^[0-9]+(\.[0-9]+)?$").unwrap(),
                reason: Regex::new("^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$").unwrap(),
            }
        }
    }

    fn check_codes(doc: &DecisionDoc, p: &Patterns) {
        let Patterns { eu, wa, decimal, reason } = p;
        let what = format!("{} v{:?}", doc.licence_id, doc.version);
        let parties = doc.applicant.iter().chain(&doc.end_users).chain(&doc.consignees);
        for p in parties {
            assert!(!p.name.is_empty(), "{what}: party without name");
            assert!(is_country(&p.country), "{what}: party country {}", p.country);
        }
        for c in doc.destinations.iter().chain(&doc.transit_countries) {
            assert!(is_country(c), "{what}: country {c}");
        }
        for i in &doc.items {
            assert!(is_currency(&i.currency), "{what}: currency {}", i.currency);
            assert!(decimal.is_match(&i.quantity), "{what}: quantity {}", i.quantity);
            assert!(!i.description.is_empty() && !i.unit.is_empty(), "{what}: item text");
            let ok = match i.regime {
                RegimeName::EuDualUse | RegimeName::AustraliaGroup => eu.is_match(&i.control_code),
                RegimeName::UsEar => eu.is_match(&i.control_code) || i.control_code == "EAR99",
                RegimeName::Wassenaar | RegimeName::Mtcr | RegimeName::Nsg => wa.is_match(&i.control_code),
                RegimeName::National => !i.control_code.is_empty(),
                RegimeName::UkStrategic => eu.is_match(&i.control_code) || i.control_code.starts_with("PL") || i.control_code.starts_with("ML"),
            };
            assert!(ok, "{what}: control code {} for {:?}", i.control_code, i.regime);
        }
        for r in &doc.reasons {
            assert!(reason.is_match(&r.code), "{what}: {}", r.code);
            assert!(!r.legal_basis.is_empty() && !r.text.is_empty(), "{what}: reason text");
        }
    }

    /// Checks the data against the licence rules; returns the final state per licence.
    fn check(now: i64) -> BTreeMap<(String, String), Licence> {
        let docs = decisions(now);
        let patterns = Patterns::new();
        let mut licences: BTreeMap<(String, String), Licence> = BTreeMap::new();
        for doc in &docs {
            let what = format!("{} v{:?} {:?}", doc.licence_id, doc.version, doc.action);
            let wire = doc.to_wire().unwrap_or_else(|e| panic!("{what}: {e}"));
            assert!(doc.previous.is_none());
            assert!(wire.decided_at >= wire.application_received, "{what}: decided before received");
            assert!(wire.decided_at <= now, "{what}: decided in the future");
            check_codes(doc, &patterns);

            let key = (doc.authority.clone(), doc.licence_id.clone());
            let existing = licences.get(&key);
            let version = doc.version.expect("version set");
            assert_eq!(version, existing.map_or(1, |l| l.version + 1), "{what}: version");
            if let Some(l) = existing {
                assert!(wire.decided_at >= l.last_decided, "{what}: decided before previous decision");
            }
            let state = existing.map(|l| l.state);
            let appealed = existing.and_then(|l| l.appealed);
            let next = next_state(state, appealed, doc.action).unwrap_or_else(|| panic!("{what}: illegal from {state:?}"));

            if let Some(l) = existing.filter(|l| l.state == St::UnderReview) {
                assert_eq!(wire.application_received, l.received, "{what}: a review keeps its application's receipt time");
            }
            let terms = matches!(doc.action, A::Grant | A::Amend | A::AppealOverturned | A::Deny | A::ApplicationLodged);
            if terms {
                assert!(doc.licence_type.is_some() && doc.applicant.is_some(), "{what}: type/applicant");
                assert!(!doc.end_users.is_empty() && !doc.items.is_empty(), "{what}: end users/items");
                assert!(!doc.destinations.is_empty() && !doc.end_use.is_empty(), "{what}: destinations/end use");
                assert!(matches!(doc.risk_tier, Some(1..=4)), "{what}: risk tier");
            } else {
                assert!(doc.licence_type.is_none() && doc.applicant.is_none() && doc.items.is_empty(), "{what}: terms");
                assert!(doc.valid_from.is_none(), "{what}: valid_from");
            }
            if matches!(doc.action, A::Deny | A::Suspend | A::Revoke | A::AppealUpheld | A::InformationRequested | A::Referred) {
                assert!(!doc.reasons.is_empty(), "{what}: reasons required");
            } else {
                assert!(doc.reasons.is_empty(), "{what}: unexpected reasons");
            }
            if let Some(l) = existing.filter(|l| l.valid_until > 0) {
                assert!(wire.decided_at < l.valid_until, "{what}: decided after expiry");
            }
            if matches!(doc.action, A::Amend | A::AppealOverturned) || (existing.is_some() && matches!(doc.action, A::Grant | A::Deny)) {
                let l = existing.unwrap();
                assert_eq!(Some(l.licence_type), doc.licence_type, "{what}: licence type changed");
                assert_eq!(Some(&l.applicant), doc.applicant.as_ref().map(|a| &a.name), "{what}: applicant changed");
            }

            let (mut from, mut until) = existing.map_or((0, 0), |l| (l.valid_from, l.valid_until));
            match doc.action {
                A::Grant | A::Amend | A::AppealOverturned => {
                    assert!(wire.valid_from < wire.valid_until, "{what}: validity window");
                    from = wire.valid_from;
                    until = wire.valid_until;
                }
                A::Extend => {
                    assert!(wire.valid_until > until, "{what}: extension not later");
                    until = wire.valid_until;
                }
                _ => assert!(doc.valid_until.is_none(), "{what}: valid_until"),
            }
            let (licence_type, applicant) = match existing {
                Some(l) => (l.licence_type, l.applicant.clone()),
                None => (doc.licence_type.unwrap(), doc.applicant.as_ref().unwrap().name.clone()),
            };
            licences.insert(
                key,
                Licence {
                    state: next,
                    appealed: if doc.action == A::AppealLodged { state } else { None },
                    licence_type,
                    applicant,
                    valid_from: from,
                    valid_until: until,
                    last_decided: wire.decided_at,
                    version,
                    received: wire.application_received,
                },
            );
        }
        licences
    }

    #[test]
    fn demo_data_is_complete_and_follows_the_licence_rules() {
        let now = parse_time("2026-11-18T10:15:00Z").unwrap();
        let docs = decisions(now);
        assert!(docs.len() >= 60, "{} decisions", docs.len());

        let authorities: BTreeSet<&str> = docs.iter().map(|d| d.authority.as_str()).collect();
        for a in super::authorities() {
            assert!(authorities.contains(a.id), "{} has no decisions", a.id);
            assert!(is_country(a.country));
        }
        for action in ALL_ACTIONS {
            assert!(docs.iter().any(|d| d.action == action), "{action:?} missing");
        }

        let licences = check(now);
        assert!(licences.len() >= 35, "{} licences", licences.len());
        let issued = |f: &dyn Fn(&Licence) -> bool| licences.values().filter(|l| l.state == St::Issued && f(l)).count();
        assert!(issued(&|l| l.valid_until < now) >= 1, "no expired licence");
        assert!(issued(&|l| l.valid_from > now) >= 1, "no not-yet-valid licence");
        assert!(issued(&|l| l.valid_from <= now && now < l.valid_until) >= 10, "too few current licences");

        // Licence numbers look real.
        let id = Regex::new(r"^(DE-20\d\d-\d{6}|GB(SIEL|OIEL|OGEL)/20\d\d/\d{7}|JP-METI-20\d\d-\d{5}|ETHZ-ECO-20\d\d-\d{4})$").unwrap();
        for (_, licence_id) in licences.keys() {
            assert!(id.is_match(licence_id), "{licence_id}");
        }

        // Appeals: one denial upheld on appeal and one overturned.
        let chain = |action: A| docs.iter().filter(|d| d.action == action).map(|d| d.licence_id.clone()).collect::<BTreeSet<_>>();
        let denied = chain(A::Deny);
        assert!(chain(A::AppealUpheld).intersection(&denied).next().is_some());
        assert!(chain(A::AppealOverturned).intersection(&denied).next().is_some());
    }

    /// Signs the chains as `comity-node demo` does and folds them with the real licence rules.
    #[test]
    fn demo_data_passes_the_licence_rules_when_signed() {
        use comity_proto::decision::CheckedDecision;
        use comity_proto::pb::LicenceStatus;
        use comity_proto::rules::LicenceState;
        use comity_proto::statement::{sign_decision, Signer, StatementId};

        let now = parse_time("2026-11-18T10:15:00Z").unwrap();
        let signer = Signer::from_seed(&[7; 32]);
        let mut states: BTreeMap<(String, String), LicenceState> = BTreeMap::new();
        for doc in decisions(now) {
            let key = (doc.authority.clone(), doc.licence_id.clone());
            let mut wire = doc.to_wire().unwrap();
            if let Some(state) = states.get(&key) {
                wire.previous = state.head.0.to_vec();
            }
            let id = StatementId::of(&sign_decision(wire.clone(), &signer));
            let checked = CheckedDecision::try_from(wire).unwrap_or_else(|e| panic!("{key:?} v{:?}: {e}", doc.version));
            let next = match states.get(&key) {
                None => LicenceState::start(id, &checked),
                Some(state) => state.apply(id, &checked),
            };
            states.insert(key.clone(), next.unwrap_or_else(|e| panic!("{key:?} v{:?}: {e}", doc.version)));
        }
        let count = |status: LicenceStatus| states.values().filter(|s| s.status_at(now) == status).count();
        for status in [
            LicenceStatus::Issued,
            LicenceStatus::Expired,
            LicenceStatus::NotYetValid,
            LicenceStatus::Denied,
            LicenceStatus::Suspended,
            LicenceStatus::Revoked,
            LicenceStatus::Surrendered,
            LicenceStatus::Cancelled,
            LicenceStatus::UnderAppeal,
        ] {
            assert!(count(status) >= 1, "no licence is {status:?}");
        }
    }

    /// `examples/deny.json` (the JSON authoring example) is a well-formed first decision.
    #[test]
    fn example_deny_json_is_a_valid_decision() {
        use comity_proto::decision::CheckedDecision;

        let doc: DecisionDoc = serde_json::from_str(include_str!("../../../../../examples/deny.json")).unwrap();
        assert_eq!(doc.action, A::Deny);
        let checked = CheckedDecision::try_from(doc.to_wire().unwrap()).unwrap();
        assert_eq!(checked.decision().version, 1);
        let back: DecisionDoc = serde_json::from_str(&serde_json::to_string(&doc).unwrap()).unwrap();
        assert_eq!(back, doc);
    }

    /// The README quotes demo licence numbers, so they must not move with the day it runs; the
    /// repository's examples publish into the demo, so they must not collide with them.
    #[test]
    fn licence_numbers_are_the_same_on_any_day_and_clear_of_the_examples() {
        assert_eq!(NUMBERED_ON, parse_time("2026-11-18T00:00:00Z").unwrap());
        let ids = |now: i64| decisions(now).into_iter().map(|d| (d.authority, d.licence_id)).collect::<BTreeSet<_>>();
        let reference = ids(parse_time("2026-11-18T10:15:00Z").unwrap());
        for now in ["2025-01-01T00:00:00Z", "2026-03-07T23:59:00Z", "2027-06-15T12:00:00Z", "2031-12-31T08:00:00Z"] {
            assert_eq!(ids(parse_time(now).unwrap()), reference, "licence numbers differ on {now}");
        }
        let examples = [
            include_str!("../../../../../examples/grant.yaml"),
            include_str!("../../../../../examples/amend.yaml"),
            include_str!("../../../../../examples/suspend.yaml"),
            include_str!("../../../../../examples/lodged.yaml"),
            include_str!("../../../../../examples/deny.json"),
        ];
        let licence_id = Regex::new(r#"licence_id"?:\s*"?([^"\s,]+)"#).unwrap();
        for text in examples {
            let example = &licence_id.captures(text).expect("an example names its licence")[1];
            assert!(reference.iter().all(|(_, id)| id != example), "{example} is a demo licence");
        }
    }

    #[test]
    fn demo_data_is_valid_on_any_day_and_hour() {
        let start = parse_time("2026-03-02T00:00:00Z").unwrap();
        for hours in (0..24 * 14).step_by(5) {
            let now = start + hours * 3600;
            let docs = decisions(now);
            check(now);
            assert_eq!(docs.len(), decisions(now).len());
        }
        // Every decision lands on a weekday.
        for doc in decisions(start) {
            let t = parse_time(&doc.decided_at).unwrap();
            assert!(weekday(t) < 5, "{} decided on a weekend", doc.licence_id);
        }
    }
}
