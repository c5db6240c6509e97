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

use std::cell::Cell;
use std::collections::HashMap;

use chrono::{DateTime, Datelike, Utc};

use crate::authoring::{format_time, ActionName as A, DecisionDoc, IdentifierDoc, ItemDoc, LicenceTypeName as LT, PartyDoc, ReasonDoc, RegimeName as R};

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
    built.extend(bafa(clock));
    built.extend(ecju(clock));
    built.extend(meti(clock));
    built.extend(ethz(clock));
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

// ---------------------------------------------------------------------------------------------
// Legal bases used repeatedly.

const EU_ART4: &str = "Art. 4(1) Regulation (EU) 2021/821";
const EU_ART5: &str = "Art. 5(1) Regulation (EU) 2021/821";
const EU_ART15_D: &str = "Art. 15(1)(d) Regulation (EU) 2021/821";
const EU_ART16: &str = "Art. 16(1) Regulation (EU) 2021/821";
const UK_C7: &str = "Criterion 7, Strategic Export Licensing Criteria (2021)";
const UK_ECO32: &str = "Article 32, Export Control Order 2008";
const JP_48: &str = "Article 48(1), Foreign Exchange and Foreign Trade Act";
const CH_GCO: &str = "Art. 6 Goods Control Ordinance (SR 946.202.1); ETH Zurich Export Control Directive, s. 4";

// ---------------------------------------------------------------------------------------------
// de.bafa: Federal Office for Economic Affairs and Export Control.

fn bafa(c: &Clock) -> Vec<Built> {
    let au = "de.bafa";
    let s = Series::De;
    let no_reexport = "No re-export or onward transfer without the prior written consent of BAFA";
    let eus = "Original end-use certificate (form EUC) of the end user to be kept on file for 5 years";
    let pcv = "End user to permit post-shipment verification by German diplomatic staff on request";

    let kessler = party("Kessler Optronik GmbH", "DE", "Am Felsenkeller 14, 07745 Jena", &[("EORI", "DE4471920"), ("LEI", "529900KQ7R3HT5XW2C18")]);
    let ets = party("Elbkai Spedition GmbH & Co. KG", "DE", "Hachmannkai 3, 20457 Hamburg", &[("EORI", "DE2208473")]);

    let mut out = Vec::new();

    // Thermal imaging cameras to Korea; amended to add the importer's bonded warehouse.
    out.push(
        Lic::new(
            c,
            au,
            s,
            Terms {
                applicant: kessler.clone(),
                end_users: vec![party(
                    "Hangang Thermal Systems Co., Ltd.",
                    "KR",
                    "88 Samsung-ro 168beon-gil, Yeongtong-gu, Suwon-si, Gyeonggi-do 16677",
                    &[("KR-BRN", "124-81-55210")],
                )],
                consignees: vec![ets.clone()],
                end_use: "Integration into fixed industrial process-monitoring and fire-detection thermal imagers for steel and petrochemical plants",
                items: vec![item(
                    R::EuDualUse,
                    "6A003.b.4",
                    "Uncooled thermal imaging camera cores, 640 x 512 vanadium-oxide microbolometer focal plane array, 12 um pitch, 8-14 um, frame rate 30 Hz",
                    "400",
                    "pcs",
                    "1184000.00",
                    "EUR",
                )],
                destinations: vec!["KR"],
                risk_tier: 2,
                conditions: vec![no_reexport, eus],
                ..Terms::default()
            },
        )
        .grant(352, 310, 730, "Individual licence granted; end use consistent with end user's published product range.")
        .amend(
            224,
            203,
            |t| {
                t.consignees.push(party(
                    "Incheon Bonded Logistics Co., Ltd.",
                    "KR",
                    "27 Gonghang-ro 424beon-gil, Jung-gu, Incheon 22382",
                    &[("KR-BRN", "121-86-30917")],
                ));
            },
            "Amendment: importer's bonded warehouse at Incheon added as consignee. Other terms unchanged.",
        )
        .done(),
    );

    // Dry-etch equipment to Taiwan: suspended over missing shipment reports, reinstated, extended.
    out.push(
        Lic::new(c, au, s, Terms {
            applicant: party(
                "Brandt Vakuumtechnik GmbH",
                "DE",
                "Am Lockwitzgrund 22, 01257 Dresden",
                &[("EORI", "DE8830215")],
            ),
            end_users: vec![party(
                "Zhubei Advanced Packaging Corp.",
                "TW",
                "No. 17, Shengyi 5th Rd., Zhubei City, Hsinchu County 302",
                &[("TW-UBN", "83921547")],
            )],
            consignees: vec![ets.clone()],
            end_use: "Anisotropic deep reactive-ion etching of through-silicon vias in a 2.5D/3D advanced packaging line for automotive and consumer ICs",
            items: vec![
                item(
                    R::EuDualUse,
                    "3B001.c",
                    "Inductively coupled plasma dry-etching system for 300 mm wafers, anisotropic, with cassette-to-cassette load lock",
                    "2",
                    "pcs",
                    "6850000.00",
                    "EUR",
                ),
                item(
                    R::EuDualUse,
                    "3B001.c",
                    "Spare process chambers and RF matching units for the above",
                    "1",
                    "set",
                    "412500.00",
                    "EUR",
                ),
            ],
            destinations: vec!["TW"],
            risk_tier: 3,
            conditions: vec![
                no_reexport,
                "Exporter to notify BAFA of each shipment within 30 days (shipment report)",
                pcv,
            ],
            ..Terms::default()
        })
        .grant(790, 742, 730, "Granted after technical review of etch-rate and aspect-ratio specifications.")
        .suspend(175, 161, vec![reason(
            "BREACH_OF_CONDITIONS",
            EU_ART16,
            "Shipment reports required by condition 2 were not submitted for two shipments made under this licence. Licence suspended pending the exporter's compliance report.",
        )], "Suspended. Further shipments are not permitted until reinstatement.")
        .reinstate(118, 96, "Outstanding shipment reports received and internal compliance programme updated; suspension lifted.")
        .extend(58, 37, 365, "Extended by 12 months at the exporter's request: installation delayed by the end user's clean-room construction.")
        .done(),
    );

    // Monitoring centre to the UAE: denied on human-rights grounds; appeal dismissed.
    out.push(
        Lic::new(c, au, s, Terms {
            applicant: party(
                "Auerbach Funksysteme GmbH",
                "DE",
                "Kreuzäckerweg 5, 82024 Taufkirchen",
                &[("EORI", "DE5517302")],
            ),
            end_users: vec![party(
                "Kelvara Telecom Integration FZ-LLC",
                "AE",
                "Office 1204, Building 9, Dubai Internet City, Dubai",
                &[],
            )],
            end_use: "Lawful-interception monitoring centre for a national telecommunications regulator",
            items: vec![
                item(
                    R::EuDualUse,
                    "5A001.j",
                    "IP network communications surveillance system: deep packet inspection probes, metadata extraction and target indexing, carrier-class 100 Gbit/s",
                    "1",
                    "system",
                    "3920000.00",
                    "EUR",
                ),
                item(
                    R::National,
                    "5A902",
                    "Monitoring centre software for lawful interception and data retention (German national list, Ausfuhrliste Part I Section B)",
                    "1",
                    "licence",
                    "1150000.00",
                    "EUR",
                ),
            ],
            destinations: vec!["AE"],
            risk_tier: 4,
            ..Terms::default()
        })
        .deny(318, 262, vec![
            reason(
                "CYBER_SURVEILLANCE_HUMAN_RIGHTS",
                EU_ART5,
                "The items are cyber-surveillance items that are or may be intended for use in connection with internal repression or serious violations of human rights; the ultimate operator could not be identified.",
            ),
            reason(
                "END_USER_CONCERN",
                EU_ART15_D,
                "The declared end user is a systems integrator; no end-use statement from the operating authority was provided.",
            ),
        ], "Application refused. An objection (Widerspruch) may be lodged within one month.")
        .appeal_lodged(236, 233, "Objection lodged by the applicant's counsel; registered for review.")
        .appeal_upheld(236, 149, vec![reason(
            "CYBER_SURVEILLANCE_HUMAN_RIGHTS",
            EU_ART5,
            "The objection provides no end-use statement from the operating authority and no safeguards against misuse. The refusal is confirmed.",
        )], "Objection dismissed; the refusal stands.")
        .done(),
    );

    // Heat exchangers to India (Australia Group); expired.
    out.push(
        Lic::new(
            c,
            au,
            s,
            Terms {
                applicant: party("Rheinfels Chemieanlagen GmbH", "DE", "Industriepark Süd 41, 56154 Boppard", &[("EORI", "DE3092741")]),
                end_users: vec![party(
                    "Godavari Agro Intermediates Pvt. Ltd.",
                    "IN",
                    "Plot 14, APIIC Industrial Park, Parawada, Anakapalli District, Andhra Pradesh 531021",
                    &[("IN-CIN", "U24100AP2011PTC074219")],
                )],
                end_use: "Chlorination unit of a plant producing pyrethroid insecticide intermediates",
                items: vec![item(
                    R::AustraliaGroup,
                    "2B350.c",
                    "Shell-and-tube heat exchangers, wetted surfaces of Hastelloy C-276 (nickel alloy > 40 % Ni), heat transfer area 4.2 m2",
                    "4",
                    "pcs",
                    "386000.00",
                    "EUR",
                )],
                destinations: vec!["IN"],
                risk_tier: 3,
                conditions: vec![no_reexport, eus, pcv],
                ..Terms::default()
            },
        )
        .grant(583, 521, 365, "Granted; chemical process and production volumes verified against the end user's environmental permit.")
        .done(),
    );

    // Carbon fibre to Pakistan: denied (missile concern).
    out.push(
        Lic::new(c, au, s, Terms {
            applicant: party(
                "Weidenthal Faserverbund GmbH",
                "DE",
                "Hafenstrasse 18, 21680 Stade",
                &[("EORI", "DE6620183")],
            ),
            end_users: vec![party(
                "Zarqan Composite Works (Pvt.) Ltd.",
                "PK",
                "21-C Industrial Estate, Kot Lakhpat, Lahore",
                &[],
            )],
            end_use: "Stated: manufacture of bicycle frames and field-hockey sticks",
            items: vec![item(
                R::EuDualUse,
                "1C010.b",
                "Carbon fibre tow, 12K, specific modulus > 14.65 x 10^6 m, specific tensile strength > 26.82 x 10^4 m",
                "2000",
                "kg",
                "178000.00",
                "EUR",
            )],
            destinations: vec!["PK"],
            risk_tier: 4,
            ..Terms::default()
        })
        .deny(668, 604, vec![
            reason(
                "WMD_END_USE_CONCERN",
                EU_ART4,
                "Information available to the authority indicates that the fibre is or may be intended for use in missile delivery systems (rocket motor cases).",
            ),
            reason(
                "END_USER_CONCERN",
                EU_ART15_D,
                "Modulus grade and quantity are not plausible for the declared sporting-goods production.",
            ),
        ], "Application refused; refusal notified to the other Member States and the Commission.")
        .done(),
    );

    // Machining centres to Turkey: amended, then revoked for diversion.
    out.push(
        Lic::new(
            c,
            au,
            s,
            Terms {
                applicant: party("Lindqvist & Hauer Präzisionsmaschinen GmbH", "DE", "Im Gewerbepark 12, 72766 Reutlingen", &[("EORI", "DE1947366")]),
                end_users: vec![party(
                    "Meriç Aeroyapı Sanayi A.Ş.",
                    "TR",
                    "Organize Sanayi Bölgesi 7. Cadde No. 22, 26110 Odunpazarı, Eskişehir",
                    &[("TR-VKN", "6130482291")],
                )],
                consignees: vec![ets.clone()],
                end_use: "Machining of titanium structural parts for civil aircraft (tier-2 supplier)",
                items: vec![item(
                R::EuDualUse,
                "2B001.b",
                "Five-axis simultaneous CNC machining centre for milling, two contouring rotary axes, positioning accuracy better than 6 um (ISO 230-2:2014)",
                "2",
                "pcs",
                "1460000.00",
                "EUR",
            )],
                destinations: vec!["TR"],
                risk_tier: 3,
                conditions: vec![no_reexport, "Machines to be installed only at the end user's Eskişehir plant", pcv],
                ..Terms::default()
            },
        )
        .grant(431, 377, 730, "Granted with site-specific installation condition.")
        .amend(
            268,
            247,
            |t| {
                t.items[0].quantity = "3".to_string();
                t.items[0].value = "2190000.00".to_string();
            },
            "Amendment: quantity increased from 2 to 3 machines after the end user's capacity expansion.",
        )
        .revoke(
            88,
            61,
            vec![reason(
                "DIVERSION_RISK",
                EU_ART16,
                "Post-shipment verification found one machine absent from the declared plant; information indicates onward transfer to a third country.",
            )],
            "Licence revoked; unshipped quantity may not be exported. Revocation notified under Art. 16(2).",
        )
        .done(),
    );

    // Global licence for pulsed lasers; extended.
    out.push(
        Lic::new(
            c,
            au,
            s,
            Terms {
                licence_type: LT::Global,
                applicant: party(
                    "Morgenstern Lasertechnik GmbH",
                    "DE",
                    "Lindenallee 7, 37085 Göttingen",
                    &[("EORI", "DE7731058"), ("LEI", "5299006QG2ZL4MNB7E41")],
                ),
                end_users: vec![
                    party("Straits Photonics Distribution Pte. Ltd.", "SG", "9 Tai Seng Drive, #05-02, Singapore 535227", &[("SG-UEN", "201734218K")]),
                    party("Lumisul Óptica Industrial Ltda.", "BR", "Rua Alexandre Dumas 1711, São Paulo - SP, 04717-004", &[]),
                    party("Aravalli Laser Systems Pvt. Ltd.", "IN", "Sector 58, Gurugram, Haryana 122011", &[]),
                ],
                end_use:
                    "Resale to industrial users for micromachining (display glass cutting, medical stent manufacture) and to university research laboratories",
                items: vec![item(
                    R::EuDualUse,
                    "6A005.b",
                    "Non-tunable pulsed ytterbium fibre lasers, femtosecond pulse duration, average output power 60 W at 1030 nm",
                    "120",
                    "pcs",
                    "9600000.00",
                    "EUR",
                )],
                destinations: vec!["SG", "BR", "IN", "KR", "TW", "MX"],
                risk_tier: 2,
                conditions: vec![
                    no_reexport,
                    "Six-monthly report of shipments per destination and end user",
                    "Internal compliance programme to be maintained as audited by BAFA",
                ],
                ..Terms::default()
            },
        )
        .grant(862, 801, 730, "Global export authorisation granted; ICP audited.")
        .extend(131, 118, 365, "Extended by 12 months pending the renewal application.")
        .done(),
    );

    // Rad-hard ICs for an Indian satellite constellation: not yet valid.
    out.push(
        Lic::new(
            c,
            au,
            s,
            Terms {
                applicant: party("Elbtal Halbleiter GmbH", "DE", "Moritzburger Weg 67, 01109 Dresden", &[("EORI", "DE9103374")]),
                end_users: vec![party(
                    "Bengaluru Orbital Systems Pvt. Ltd.",
                    "IN",
                    "No. 41, KIADB Aerospace Park, Devanahalli, Bengaluru 562149",
                    &[("IN-CIN", "U35300KA2019PTC128877")],
                )],
                consignees: vec![ets],
                end_use: "On-board computers of a civil Earth-observation smallsat constellation",
                items: vec![item(
                    R::EuDualUse,
                    "3A001.a.1",
                    "Radiation-hardened integrated circuits (microcontrollers and SRAM), total dose >= 5 x 10^3 Gy(Si), latch-up immune",
                    "1800",
                    "pcs",
                    "2340000.00",
                    "EUR",
                )],
                destinations: vec!["IN"],
                risk_tier: 3,
                conditions: vec![no_reexport, eus, "Items may be used only in the satellites named in the end-use certificate"],
                ..Terms::default()
            },
        )
        .grant_deferred(74, 19, 30, 730, "Granted; validity starts with the contractual delivery window after the customer's critical design review.")
        .done(),
    );

    // Encrypted SCADA gateways to Saudi Arabia: currently suspended pending enquiries.
    out.push(
        Lic::new(c, au, s, Terms {
            applicant: party(
                "Falkenried Kommunikationssysteme GmbH",
                "DE",
                "Falkenried 88, 20251 Hamburg",
                &[("EORI", "DE3386120")],
            ),
            end_users: vec![party(
                "Najd Utility Networks Co.",
                "SA",
                "King Fahd Road, Al Olaya District, Riyadh 12214",
                &[("SA-CR", "1010583927")],
            )],
            end_use: "Encrypted telemetry links for electricity distribution substations (SCADA)",
            items: vec![item(
                R::EuDualUse,
                "5A002.a",
                "Industrial cellular gateways with AES-256 VPN encryption, not mass-market (Cryptography Note not applicable)",
                "850",
                "pcs",
                "722500.00",
                "EUR",
            )],
            destinations: vec!["SA"],
            risk_tier: 2,
            conditions: vec![no_reexport, eus],
            ..Terms::default()
        })
        .grant(303, 262, 730, "Individual licence granted.")
        .suspend(19, 12, vec![reason(
            "END_USER_CONCERN",
            EU_ART16,
            "Information received that gateways supplied under this licence were offered for resale by a third party; licence suspended pending the end user's explanation.",
        )], "Suspended pending enquiries. No shipments until further notice.")
        .done(),
    );

    // Technology transfer for camera production to Singapore; extended.
    out.push(
        Lic::new(
            c,
            au,
            s,
            Terms {
                licence_type: LT::TechnologyTransfer,
                applicant: kessler,
                end_users: vec![party("Straits Infrared Pte. Ltd.", "SG", "2 Woodlands Sector 1, #03-14, Singapore 738068", &[("SG-UEN", "201905533R")])],
                end_use: "Licensed production of microbolometer camera cores for industrial thermography",
                items: vec![item(
                    R::EuDualUse,
                    "6E002",
                    "Production technology for 6A003.b.4 camera cores: assembly drawings, calibration procedures and test specifications",
                    "1",
                    "technology package",
                    "850000.00",
                    "EUR",
                )],
                destinations: vec!["SG"],
                risk_tier: 2,
                conditions: vec![no_reexport, "Technology to be transmitted only over the applicant's encrypted file-exchange service"],
                ..Terms::default()
            },
        )
        .grant(402, 352, 365, "Technology transfer authorised.")
        .extend(47, 26, 183, "Extended by 6 months: second training phase postponed.")
        .done(),
    );

    // HPC cluster to a Brazilian university; surrendered after delivery.
    out.push(
        Lic::new(
            c,
            au,
            s,
            Terms {
                applicant: party("Nordlicht Rechensysteme GmbH", "DE", "Kieler Straße 210, 22525 Hamburg", &[("EORI", "DE4409281")]),
                end_users: vec![party(
                    "Universidade de São Paulo, Instituto de Astronomia, Geofísica e Ciências Atmosféricas",
                    "BR",
                    "Rua do Matão 1226, Cidade Universitária, São Paulo - SP, 05508-090",
                    &[],
                )],
                end_use: "Regional climate and numerical weather prediction modelling",
                items: vec![item(
                    R::EuDualUse,
                    "4A003.b",
                    "High-performance computing cluster, 96 GPU nodes, adjusted peak performance exceeding 70 weighted teraFLOPS",
                    "1",
                    "system",
                    "4720000.00",
                    "EUR",
                )],
                destinations: vec!["BR"],
                risk_tier: 2,
                conditions: vec![no_reexport, "Remote access by users outside Brazil only with the exporter's prior notification to BAFA"],
                ..Terms::default()
            },
        )
        .grant(371, 329, 365, "Granted.")
        .surrender(57, 52, "All shipments completed; holder surrenders the licence.")
        .done(),
    );

    // MMICs to India: denied for diversion risk, overturned on objection with the end user named.
    out.push(
        Lic::new(
            c,
            au,
            s,
            Terms {
                applicant: party("Okertal Mikrowellentechnik GmbH", "DE", "Am Hüttenteich 4, 38640 Goslar", &[("EORI", "DE2875510")]),
                end_users: vec![party("Konkan Telecom Infrastructure Pvt. Ltd.", "IN", "Unit 5, TTC Industrial Area, Mahape, Navi Mumbai 400710", &[])],
                end_use: "Stated: resale to manufacturers of 5G base stations",
                items: vec![item(
                    R::EuDualUse,
                    "3A001.b.2",
                    "GaN-on-SiC MMIC power amplifiers, 3.3-3.8 GHz, saturated output power 45 W",
                    "5000",
                    "pcs",
                    "615000.00",
                    "EUR",
                )],
                destinations: vec!["IN"],
                risk_tier: 3,
                ..Terms::default()
            },
        )
        .deny(
            455,
            398,
            vec![reason(
            "DIVERSION_RISK",
            EU_ART15_D,
            "The consignee is a trading intermediary whose customers are not identified; the risk of diversion to an unauthorised end use cannot be excluded.",
        )],
            "Application refused.",
        )
        .appeal_lodged(377, 374, "Objection lodged with an end-use certificate from the radio manufacturer.")
        .appeal_overturned(
            377,
            287,
            |t| {
                t.end_users =
                    vec![party("Sahyadri Radio Networks Ltd.", "IN", "Plot D-3, MIDC Chakan Phase II, Pune 410501", &[("IN-CIN", "L32201MH2008PLC181634")])];
                t.consignees = vec![party("Konkan Telecom Infrastructure Pvt. Ltd.", "IN", "Unit 5, TTC Industrial Area, Mahape, Navi Mumbai 400710", &[])];
                t.end_use = "Power amplifier stages of 5G NR macro base-station radios manufactured by the end user";
                t.conditions = vec![
                    "No re-export or onward transfer without the prior written consent of BAFA",
                    "Consignee may deliver only to the named end user",
                    "End user to permit post-shipment verification by German diplomatic staff on request",
                ];
            },
            730,
            "Objection successful: end user identified and end-use certificate provided. Licence issued on revised terms.",
        )
        .done(),
    );

    // Five-axis machining centres to India: a tracked review (lodged, referred to the Federal
    // Foreign Office, end-use statement requested), then granted.
    let vogt = party("Vogt Werkzeugmaschinen AG", "DE", "Fabrikstraße 41, 73728 Esslingen am Neckar", &[("EORI", "DE5519034")]);
    let machining = Terms {
        applicant: vogt.clone(),
        end_users: vec![party(
            "Deccan Aerostructures Pvt. Ltd.",
            "IN",
            "Plot 12, Aerospace SEZ, Adibatla, Rangareddy, Telangana 501510",
            &[("IN-CIN", "U35300TG2011PTC074812")],
        )],
        consignees: vec![party("Neckar Cargo Logistik GmbH", "DE", "Hafenbahnstraße 8, 70329 Stuttgart", &[("EORI", "DE6607281")])],
        end_use: "Machining of aluminium-lithium wing ribs and titanium landing-gear brackets for civil regional aircraft",
        items: vec![item(
            R::EuDualUse,
            "2B001.b.2",
            "Five-axis horizontal machining centres, positioning accuracy 4.5 um along the linear axes, with contouring control",
            "3",
            "pcs",
            "2940000.00",
            "EUR",
        )],
        destinations: vec!["IN"],
        risk_tier: 3,
        conditions: vec![no_reexport, eus, pcv],
        ..Terms::default()
    };
    out.push(
        Lic::new(c, au, s, machining.clone())
            .lodge(96, 95, "Application registered; tier-3 review (machine tools to a non-EU aerospace end user).")
            .milestone(
                A::Referred,
                88,
                vec![reason(
                    "INTERAGENCY_CONSULTATION",
                    "§ 8 Außenwirtschaftsverordnung (AWV)",
                    "Referred to the Federal Foreign Office for an assessment of the end user's links to military aircraft programmes.",
                )],
                "Referral sent; the Federal Foreign Office answers within 30 days as a rule.",
            )
            .milestone(
                A::InformationRequested,
                61,
                vec![reason(
                    "END_USE_STATEMENT_REQUIRED",
                    EU_ART16,
                    "A signed end-use statement of the end user, naming the aircraft programmes the machines will serve, is required.",
                )],
                "Applicant asked for the end user's signed end-use statement.",
            )
            .grant(96, 34, 730, "Granted after consultation: no objection by the Federal Foreign Office; end-use statement received.")
            .done(),
    );

    // Flow-forming machines to Türkiye: still under review (further information requested).
    out.push(
        Lic::new(
            c,
            au,
            s,
            Terms {
                end_users: vec![party(
                    "Anadolu Basınçlı Kaplar A.Ş.",
                    "TR",
                    "Organize Sanayi Bölgesi 4. Cadde No: 9, 26110 Eskişehir",
                    &[("TR-VKN", "0690412877")],
                )],
                end_use: "Production of seamless high-pressure gas cylinders for industrial and medical gases",
                items: vec![item(
                    R::EuDualUse,
                    "2B009",
                    "Flow-forming machines with numerical control, three rollers, for cylindrical parts up to 600 mm diameter",
                    "1",
                    "pcs",
                    "1675000.00",
                    "EUR",
                )],
                destinations: vec!["TR"],
                risk_tier: 4,
                ..machining
            },
        )
        .lodge(40, 38, "Application registered; tier-4 review (flow-forming, MTCR-relevant technology).")
        .milestone(
            A::InformationRequested,
            24,
            vec![reason(
                "TECHNICAL_SPECIFICATION_REQUIRED",
                EU_ART16,
                "Roller count, maximum workpiece diameter and wall-thickness tolerances of the machine to be confirmed by the manufacturer's data sheet.",
            )],
            "Awaiting the manufacturer's data sheet; the review clock is paused until it arrives.",
        )
        .done(),
    );

    out
}

// ---------------------------------------------------------------------------------------------
// uk.ecju: Export Control Joint Unit.

fn ecju(c: &Clock) -> Vec<Built> {
    let au = "uk.ecju";
    let eus = "Signed end-user undertaking held on file";
    let no_reexport = "Not to be re-exported or transferred without the prior written approval of the Export Control Joint Unit";
    let records = "Records of each export to be kept for 4 years (Article 29, Export Control Order 2008)";

    let mut out = Vec::new();

    // Cooled IR detectors to Australia: suspended, appeal dismissed, later reinstated.
    out.push(
        Lic::new(
            c,
            au,
            Series::UkSiel,
            Terms {
                applicant: party(
                    "Fenwick Cryogenics Ltd",
                    "GB",
                    "Unit 7, Riverside Business Park, Abingdon OX14 5RT",
                    &[("GB-COH", "08817342"), ("EORI", "GB088173420000")],
                ),
                end_users: vec![party("Kestrel Bay Optronics Pty Ltd", "AU", "14 Wingfield Road, Mawson Lakes SA 5095", &[("AU-ABN", "51 824 753 556")])],
                end_use: "Integration into bushfire-detection and maritime search-and-rescue thermal imagers",
                items: vec![item(
                    R::EuDualUse,
                    "6A002.a.3",
                    "Cooled MWIR focal plane array detector-dewar-cooler assemblies, 640 x 512 InSb, Stirling cryocooler",
                    "60",
                    "pcs",
                    "1530000.00",
                    "GBP",
                )],
                destinations: vec!["AU"],
                risk_tier: 2,
                conditions: vec![no_reexport, eus, records],
                ..Terms::default()
            },
        )
        .grant(349, 291, 730, "SIEL issued.")
        .suspend(
            131,
            119,
            vec![reason(
                "BREACH_OF_CONDITIONS",
                UK_ECO32,
                "A compliance audit found that exports under this licence were not recorded as required by the record-keeping condition.",
            )],
            "Licence suspended pending a corrective action plan.",
        )
        .appeal_lodged(104, 102, "Appeal against the suspension received.")
        .appeal_upheld(
            104,
            58,
            vec![reason(
                "BREACH_OF_CONDITIONS",
                UK_ECO32,
                "The appeal does not dispute the missing records. The suspension stands until a follow-up compliance visit has taken place.",
            )],
            "Appeal refused; the licence remains suspended.",
        )
        .reinstate(31, 19, "Follow-up compliance visit satisfactory; licence reinstated.")
        .done(),
    );

    // Femtosecond lasers to KAIST; expired.
    out.push(
        Lic::new(
            c,
            au,
            Series::UkSiel,
            Terms {
                applicant: party(
                    "Harrowgate Photonics Ltd",
                    "GB",
                    "3 Pennyroyal Court, Harrogate HG1 4PF",
                    &[("GB-COH", "10344871"), ("EORI", "GB103448710000")],
                ),
                end_users: vec![party("Korea Advanced Institute of Science and Technology (KAIST)", "KR", "291 Daehak-ro, Yuseong-gu, Daejeon 34141", &[])],
                end_use: "Ultrafast spectroscopy research in a university physics laboratory",
                items: vec![item(
                    R::EuDualUse,
                    "6A005.b",
                    "Non-tunable pulsed laser, 200 fs pulse duration, average output power 40 W",
                    "2",
                    "pcs",
                    "486000.00",
                    "GBP",
                )],
                destinations: vec!["KR"],
                risk_tier: 1,
                conditions: vec![eus],
                ..Terms::default()
            },
        )
        .grant(596, 543, 365, "SIEL issued.")
        .done(),
    );

    // Open individual licence for cryptographic products; amended to add Latin American destinations.
    out.push(
        Lic::new(c, au, Series::UkOiel, Terms {
            licence_type: LT::Global,
            applicant: party(
                "Ashcombe Secure Communications Ltd",
                "GB",
                "Ashcombe House, 12 Station Approach, Reading RG1 1LX",
                &[("GB-COH", "07265519"), ("EORI", "GB072655190000")],
            ),
            end_users: vec![
                party("Bayshore Network Distribution Pte. Ltd.", "SG", "1 Fusionopolis Walk, #07-11, Singapore 138628", &[("SG-UEN", "201622871W")]),
                party("Maple Ridge Secure Systems Inc.", "CA", "340 Albert Street, Suite 900, Ottawa ON K1R 7Y6", &[]),
                party("Gulf Harbour Infotech LLC", "AE", "Office 602, Al Moosa Tower 2, Sheikh Zayed Road, Dubai", &[]),
            ],
            end_use: "Resale of encrypted network appliances to commercial enterprises and financial institutions (excluding government, military and law-enforcement end users)",
            items: vec![
                item(
                    R::EuDualUse,
                    "5A002.a",
                    "Encrypted IP network appliances (layer-2 and layer-3 encryptors), AES-256, 10–100 Gbit/s",
                    "2500",
                    "pcs",
                    "18750000.00",
                    "GBP",
                ),
                item(
                    R::UsEar,
                    "5A992.c",
                    "US-origin mass-market encryption management modules incorporated in the appliances (ECCN 5A992.c)",
                    "2500",
                    "pcs",
                    "412500.00",
                    "GBP",
                ),
            ],
            destinations: vec!["US", "CA", "AU", "NZ", "JP", "KR", "SG", "IN", "BR", "AE", "SA"],
            risk_tier: 2,
            conditions: vec![
                "Not to be supplied to government, military or law-enforcement end users without a SIEL",
                "Quarterly returns of exports per destination",
                records,
            ],
            ..Terms::default()
        })
        .grant(701, 638, 1095, "OIEL (cryptographic) issued for three years.")
        .amend(322, 296, |t| {
            t.destinations.extend(["MX", "CL"]);
            t.end_users.push(party(
                "Andes Ciberseguridad SpA",
                "CL",
                "Av. Apoquindo 4501, Of. 1402, Las Condes, Santiago",
                &[],
            ));
        }, "Amendment: Mexico and Chile added as destinations; Chilean distributor added.")
        .done(),
    );

    // Carbon fibre to a UAE trading company: refused.
    out.push(
        Lic::new(
            c,
            au,
            Series::UkSiel,
            Terms {
                applicant: party(
                    "Pennine Composite Structures Ltd",
                    "GB",
                    "Unit 3, Calder Park, Wakefield WF2 7AW",
                    &[("GB-COH", "05129870"), ("EORI", "GB051298700000")],
                ),
                end_users: vec![party("Qorvalis Trading FZE", "AE", "Warehouse LB07, Jebel Ali Free Zone, Dubai", &[])],
                end_use: "Stated: stock for resale to composite workshops in the Gulf region",
                items: vec![item(
                    R::EuDualUse,
                    "1C010.b",
                    "Intermediate-modulus carbon fibre, 24K tow, tensile modulus 290 GPa",
                    "6000",
                    "kg",
                    "312000.00",
                    "GBP",
                )],
                destinations: vec!["AE"],
                risk_tier: 4,
                ..Terms::default()
            },
        )
        .deny(
            529,
            478,
            vec![
                reason(
                    "DIVERSION_RISK",
                    UK_C7,
                    "There is a clear risk that the goods would be diverted to an undesirable end user or re-exported under undesirable conditions.",
                ),
                reason(
                    "END_USER_CONCERN",
                    UK_C7,
                    "The consignee is a free-zone trading company with no identifiable manufacturing activity; ultimate end users not declared.",
                ),
            ],
            "Licence refused.",
        )
        .done(),
    );

    // Solid rocket motor stage to Brazil: refused (MTCR Category I).
    out.push(
        Lic::new(
            c,
            au,
            Series::UkSiel,
            Terms {
                applicant: party(
                    "Thornbury Aerospace Propulsion Ltd",
                    "GB",
                    "Hangar 4, Cotswold Airport, Kemble GL7 6BA",
                    &[("GB-COH", "11902764"), ("EORI", "GB119027640000")],
                ),
                end_users: vec![party("Maranhão Orbital Sistemas Ltda.", "BR", "Av. dos Holandeses 9, São Luís - MA, 65071-380", &[])],
                end_use: "Stated: upper stage of a commercial small-satellite launch vehicle",
                items: vec![item(
                    R::Mtcr,
                    "2.A.1",
                    "Complete solid-propellant rocket motor upper stage, total impulse capacity above MTCR Category I threshold",
                    "1",
                    "pcs",
                    "7400000.00",
                    "GBP",
                )],
                destinations: vec!["BR"],
                risk_tier: 4,
                ..Terms::default()
            },
        )
        .deny(
            283,
            214,
            vec![reason(
            "MTCR_CATEGORY_I",
            "Criterion 1, Strategic Export Licensing Criteria (2021); MTCR Guidelines, paragraph 2",
            "Complete rocket stages are MTCR Category I items subject to a strong presumption of denial; no government-to-government assurances were offered.",
        )],
            "Licence refused after interdepartmental consultation.",
        )
        .done(),
    );

    // Navigation-grade accelerometers to Australia: amended and extended.
    out.push(
        Lic::new(
            c,
            au,
            Series::UkSiel,
            Terms {
                applicant: party(
                    "Calder Valley Instruments Ltd",
                    "GB",
                    "Mytholm Works, Hebden Bridge HX7 6DL",
                    &[("GB-COH", "03885126"), ("EORI", "GB038851260000")],
                ),
                end_users: vec![party("Tasman Autonomy Pty Ltd", "AU", "Level 2, 60 Union Street, Pyrmont NSW 2009", &[("AU-ABN", "73 615 208 934")])],
                end_use: "Inertial measurement units for coastal hydrographic survey unmanned aircraft (range below 300 km)",
                items: vec![item(
                    R::Mtcr,
                    "9.A.3",
                    "Linear accelerometers for inertial navigation, bias stability better than 130 micro-g",
                    "40",
                    "pcs",
                    "264000.00",
                    "GBP",
                )],
                destinations: vec!["AU"],
                risk_tier: 3,
                conditions: vec![no_reexport, eus, "Not to be integrated into unmanned aircraft capable of a range of 300 km or more"],
                ..Terms::default()
            },
        )
        .grant(781, 724, 730, "SIEL issued; MTCR Category II item, end-use assurances obtained.")
        .amend(
            412,
            389,
            |t| {
                t.items[0].quantity = "60".to_string();
                t.items[0].value = "396000.00".to_string();
            },
            "Amendment: quantity increased from 40 to 60 for a second survey fleet.",
        )
        .extend(39, 21, 365, "Validity extended by 12 months.")
        .done(),
    );

    // Fermenters to India: suspended, then revoked for a false end-user undertaking.
    out.push(
        Lic::new(
            c,
            au,
            Series::UkSiel,
            Terms {
                applicant: party(
                    "Mersey Bioprocess Engineering Ltd",
                    "GB",
                    "22 Estuary Commerce Park, Speke, Liverpool L24 8RB",
                    &[("GB-COH", "06472019"), ("EORI", "GB064720190000")],
                ),
                end_users: vec![party("Velliangiri Biologics Pvt. Ltd.", "IN", "SIDCO Industrial Estate, Kurichi, Coimbatore 641021", &[])],
                end_use: "Stated: production of veterinary vaccines",
                items: vec![item(
                    R::AustraliaGroup,
                    "2B352.b",
                    "Steam-sterilisable stainless-steel fermenters, 300 litre working volume, closed single-use sampling",
                    "3",
                    "pcs",
                    "921000.00",
                    "GBP",
                )],
                destinations: vec!["IN"],
                risk_tier: 3,
                conditions: vec![no_reexport, eus, "Installation report with photographs to be provided within 90 days of delivery"],
                ..Terms::default()
            },
        )
        .grant(566, 509, 730, "SIEL issued.")
        .suspend(
            219,
            206,
            vec![reason(
                "END_USER_CONCERN",
                UK_C7,
                "Installation report not provided; information received that the declared production site is not operational.",
            )],
            "Licence suspended pending enquiries.",
        )
        .revoke(
            171,
            148,
            vec![reason(
                "FALSE_DECLARATION",
                "Article 34, Export Control Order 2008",
                "The end-user undertaking misstated the installation site; the fermenters were installed at an undeclared facility.",
            )],
            "Licence revoked.",
        )
        .done(),
    );

    // Hot-section technology to India.
    out.push(
        Lic::new(
            c,
            au,
            Series::UkSiel,
            Terms {
                licence_type: LT::TechnologyTransfer,
                applicant: party(
                    "Kelsall Turbine Technologies Ltd",
                    "GB",
                    "Kelsall Lane, Tarporley CW6 0QD",
                    &[("GB-COH", "09157734"), ("EORI", "GB091577340000")],
                ),
                end_users: vec![party("Hosur Aero Engine Components Pvt. Ltd.", "IN", "SIPCOT Industrial Complex Phase II, Hosur, Tamil Nadu 635126", &[])],
                end_use: "Production of turbine blades for civil turbofan engine overhaul",
                items: vec![item(
                    R::EuDualUse,
                    "9E003.a.1",
                    "Technology for production of single-crystal gas turbine blades: casting process parameters and inspection procedures",
                    "1",
                    "technology package",
                    "1250000.00",
                    "GBP",
                )],
                destinations: vec!["IN"],
                risk_tier: 3,
                conditions: vec![no_reexport, "Transfers to be logged with date, recipient and document identifiers"],
                ..Terms::default()
            },
        )
        .grant(143, 88, 730, "SIEL (technology) issued.")
        .done(),
    );

    // OGEL registration for exhibitions; cancelled when the holder was dissolved.
    out.push(
        Lic::new(
            c,
            au,
            Series::UkOgel,
            Terms {
                licence_type: LT::GeneralAuthorisation,
                applicant: party("Ridgeway Thermal Imaging Ltd", "GB", "4 Kingsmead Business Park, High Wycombe HP11 1JU", &[("GB-COH", "08230451")]),
                end_users: vec![party(
                    "Ridgeway Thermal Imaging Ltd (exhibits remain the holder's property)",
                    "GB",
                    "4 Kingsmead Business Park, High Wycombe HP11 1JU",
                    &[],
                )],
                end_use: "Temporary export of demonstration units to trade exhibitions, returned to the UK afterwards",
                items: vec![item(
                    R::EuDualUse,
                    "6A003.b.4",
                    "Handheld thermal imaging cameras, uncooled 640 x 480 focal plane array (demonstration units)",
                    "12",
                    "pcs",
                    "54000.00",
                    "GBP",
                )],
                destinations: vec!["SG", "AE", "IN", "BR"],
                risk_tier: 1,
                conditions: vec!["Open General Export Licence (Export for Exhibition: Dual-Use Items) conditions apply", records],
                ..Terms::default()
            },
        )
        .grant(409, 402, 1095, "OGEL registration accepted.")
        .cancel(33, 25, "Holder dissolved after members' voluntary liquidation; registration cancelled administratively.")
        .done(),
    );

    // Oscilloscope technology transfer to a Chinese university lab: referred to the MOD for
    // advice, then withdrawn by the applicant before a decision.
    out.push(
        Lic::new(
            c,
            au,
            Series::UkSiel,
            Terms {
                licence_type: LT::TechnologyTransfer,
                applicant: party(
                    "Halewood Instruments Ltd",
                    "GB",
                    "3 Harrier Court, Woodside Park, Rugby CV21 2BS",
                    &[("GB-COH", "05532918"), ("EORI", "GB055329180000")],
                ),
                end_users: vec![party(
                    "Joint Laboratory for High-Speed Signal Integrity, Xidian Technology Park",
                    "CN",
                    "2 Taibai South Road, Yanta District, Xi'an, Shaanxi 710071",
                    &[],
                )],
                end_use: "Joint research on signal-integrity measurement for 5G base-station power amplifiers",
                items: vec![item(
                    R::EuDualUse,
                    "3E001",
                    "Development technology for real-time digital oscilloscopes controlled by 3A002.a.5 (design files and calibration procedures)",
                    "1",
                    "licence",
                    "0.00",
                    "GBP",
                )],
                destinations: vec!["CN"],
                risk_tier: 4,
                conditions: vec![eus, no_reexport, records],
                ..Terms::default()
            },
        )
        .lodge(93, 91, "Application registered for a technology transfer; tier-4 review.")
        .milestone(
            A::Referred,
            84,
            vec![reason("REFERRED_TO_MOD", UK_C7, "Referred to the Ministry of Defence for advice on the end user's links to military electronics research.")],
            "Advice requested from MOD; standard turnaround 20 working days.",
        )
        .bare(A::ApplicationWithdrawn, 57, 57, "Application withdrawn by the applicant after the collaboration was postponed.")
        .done(),
    );
    out
}

// ---------------------------------------------------------------------------------------------
// jp.meti: Ministry of Economy, Trade and Industry.

fn meti(c: &Clock) -> Vec<Built> {
    let au = "jp.meti";
    let s = Series::Jp;
    let pledge = "Written pledge of the end user on file";
    let no_reexport = "No re-export or transfer to third parties without the consent of the Minister of Economy, Trade and Industry";

    let kurosaki =
        party("Kurosaki Carbon Materials Co., Ltd.", "JP", "1-4-2 Kaigan-dori, Naka-ku, Yokohama-shi, Kanagawa 231-0002", &[("JP-CORP", "3020001046215")]);

    let mut out = Vec::new();

    // Thermal cameras to Thailand: amended and extended.
    out.push(
        Lic::new(
            c,
            au,
            s,
            Terms {
                applicant: party(
                    "Hoshino Photonics K.K.",
                    "JP",
                    "3-8-21 Shin-Yokohama, Kohoku-ku, Yokohama-shi, Kanagawa 222-0033",
                    &[("JP-CORP", "6020001078912")],
                ),
                end_users: vec![party(
                    "Chao Phraya Industrial Inspection Co., Ltd.",
                    "TH",
                    "99/12 Moo 4, Eastern Seaboard Industrial Estate, Pluak Daeng, Rayong 21140",
                    &[("TH-TIN", "0215561004387")],
                )],
                end_use: "Predictive-maintenance thermography services for petrochemical plants",
                items: vec![item(
                    R::Wassenaar,
                    "6.A.3.b.4",
                    "Uncooled thermal imaging cameras, 640 x 480 focal plane array, radiometric, 7.5-14 um",
                    "150",
                    "pcs",
                    "98000000",
                    "JPY",
                )],
                destinations: vec!["TH"],
                risk_tier: 2,
                conditions: vec![pledge, no_reexport],
                ..Terms::default()
            },
        )
        .grant(301, 262, 365, "Individual export licence granted.")
        .amend(
            168,
            151,
            |t| {
                t.transit.push("SG");
                t.consignees.push(party("Straits Freight Forwarding Pte. Ltd.", "SG", "25 Pioneer Road, Singapore 628458", &[]));
            },
            "Amendment: routing via Singapore with a freight forwarder as consignee.",
        )
        .extend(44, 29, 183, "Validity extended by 6 months.")
        .done(),
    );

    // Machining centres to China; expired.
    out.push(
        Lic::new(
            c,
            au,
            s,
            Terms {
                applicant: party(
                    "Tsukimura Precision Machinery Co., Ltd.",
                    "JP",
                    "2-17 Hoshizaki-cho, Minami-ku, Nagoya-shi, Aichi 457-0058",
                    &[("JP-CORP", "5180001029937")],
                ),
                end_users: vec![party("Wuxi Lanteng Precision Moulds Co., Ltd.", "CN", "No. 58 Xinmei Road, Xinwu District, Wuxi, Jiangsu 214028", &[])],
                end_use: "Machining of aluminium die-casting moulds for automotive transmission housings",
                items: vec![item(
                    R::Wassenaar,
                    "2.B.1.b",
                    "Five-axis vertical machining centre for milling, positioning accuracy better than 6 um",
                    "2",
                    "pcs",
                    "186000000",
                    "JPY",
                )],
                destinations: vec!["CN"],
                risk_tier: 2,
                conditions: vec![pledge, no_reexport, "Machines fitted with relocation-detection function"],
                ..Terms::default()
            },
        )
        .grant(738, 701, 365, "Individual export licence granted.")
        .done(),
    );

    // Crucibles to Pakistan: refused; review request pending.
    out.push(
        Lic::new(
            c,
            au,
            s,
            Terms {
                applicant: party("Aokawa Fine Ceramics K.K.", "JP", "1-9 Nishiki-machi, Seto-shi, Aichi 489-0805", &[("JP-CORP", "1180001094473")]),
                end_users: vec![party("Rawal Metallurgical Research Services (Pvt.) Ltd.", "PK", "Plot 31, Street 7, I-9/2 Industrial Area, Islamabad", &[])],
                end_use: "Stated: vacuum melting of specialty alloys for a university materials laboratory",
                items: vec![item(
                    R::Nsg,
                    "2.A.1",
                    "Crucibles of yttria-stabilised ceramic, volume 0.6 litre, resistant to liquid actinide metals",
                    "24",
                    "pcs",
                    "14400000",
                    "JPY",
                )],
                destinations: vec!["PK"],
                risk_tier: 4,
                ..Terms::default()
            },
        )
        .deny(
            212,
            160,
            vec![reason(
                "WMD_END_USE_CONCERN",
                "Article 48(1), Foreign Exchange and Foreign Trade Act; Export Trade Control Order, Appended Table 1, item 16 (catch-all)",
                "The items may be used for the development of nuclear weapons; the end user could not be verified as a university laboratory.",
            )],
            "Application refused.",
        )
        .appeal_lodged(98, 95, "Request for review filed under the Administrative Complaint Review Act.")
        .done(),
    );

    // Bulk licence for dry-etch equipment: amended, suspended, reinstated.
    out.push(
        Lic::new(
            c,
            au,
            s,
            Terms {
                licence_type: LT::Global,
                applicant: party(
                    "Shirakaba Semiconductor Equipment K.K.",
                    "JP",
                    "5-2-8 Kamiyoga, Setagaya-ku, Tokyo 158-0098",
                    &[("JP-CORP", "9010901033186")],
                ),
                end_users: vec![
                    party("Formosa Wafer Test Co., Ltd.", "TW", "No. 8, Li-Hsin 6th Rd., Hsinchu Science Park, Hsinchu 300", &[]),
                    party("Straits Wafer Services Pte. Ltd.", "SG", "60 Woodlands Industrial Park D Street 2, Singapore 737836", &[]),
                    party("Penang Microfab Sdn. Bhd.", "MY", "Plot 102, Bayan Lepas Industrial Zone Phase 4, 11900 Penang", &[]),
                ],
                end_use: "Front-end wafer processing at semiconductor foundries and packaging houses",
                items: vec![item(
                    R::Wassenaar,
                    "3.B.1.c",
                    "Plasma dry-etching equipment for 300 mm wafers, anisotropic, and spare modules",
                    "30",
                    "pcs",
                    "7800000000",
                    "JPY",
                )],
                destinations: vec!["TW", "SG", "MY", "IN"],
                risk_tier: 3,
                conditions: vec![
                    "Internal compliance programme (CP) to be maintained and reported annually",
                    "Shipment records per destination to be kept for 7 years",
                    no_reexport,
                ],
                ..Terms::default()
            },
        )
        .grant(648, 606, 1095, "Specific bulk export licence granted.")
        .amend(
            271,
            252,
            |t| {
                t.destinations.push("VN");
                t.end_users.push(party("Saigon Semiconductor Assembly JSC", "VN", "Lot I-3, Saigon Hi-Tech Park, Thu Duc City, Ho Chi Minh City", &[]));
            },
            "Amendment: Viet Nam added as destination.",
        )
        .suspend(
            117,
            103,
            vec![reason(
                "BREACH_OF_CONDITIONS",
                "Article 67(1), Foreign Exchange and Foreign Trade Act (licence conditions)",
                "On-site inspection found that the annual CP report was not filed and classification records were incomplete.",
            )],
            "Bulk licence suspended until the CP deficiencies are remedied.",
        )
        .reinstate(68, 54, "CP report filed and records completed; suspension lifted.")
        .done(),
    );

    // Carbon fibre to Taiwan: extended, then revoked for diversion.
    out.push(
        Lic::new(
            c,
            au,
            s,
            Terms {
                applicant: kurosaki.clone(),
                end_users: vec![party("Kaohsiung Pressure Vessel Industries Co., Ltd.", "TW", "No. 12, Benzhou Rd., Gangshan Dist., Kaohsiung 820", &[])],
                end_use: "Filament winding of type IV hydrogen storage cylinders for fuel-cell buses",
                items: vec![item(R::Wassenaar, "1.C.10.b", "Carbon fibre, 24K tow, tensile strength 5.5 GPa", "12000", "kg", "69600000", "JPY")],
                destinations: vec!["TW"],
                risk_tier: 3,
                conditions: vec![pledge, no_reexport],
                ..Terms::default()
            },
        )
        .grant(468, 432, 365, "Individual export licence granted.")
        .extend(104, 90, 365, "Validity extended by 12 months.")
        .revoke(
            52,
            38,
            vec![reason("DIVERSION_RISK", JP_48, "Information obtained that part of the fibre was re-exported to a third country without consent.")],
            "Licence revoked.",
        )
        .done(),
    );

    // GaN MMIC technology to NUS.
    out.push(
        Lic::new(
            c,
            au,
            s,
            Terms {
                licence_type: LT::TechnologyTransfer,
                applicant: party(
                    "Minase Microwave Devices K.K.",
                    "JP",
                    "4-1-11 Ichiban-cho, Aoba-ku, Sendai-shi, Miyagi 980-0811",
                    &[("JP-CORP", "8370001021450")],
                ),
                end_users: vec![party("National University of Singapore", "SG", "21 Lower Kent Ridge Road, Singapore 119077", &[])],
                end_use: "Joint research on GaN MMIC thermal management for satellite ground terminals",
                items: vec![item(
                    R::Wassenaar,
                    "3.E.1",
                    "Technology for the development of 3.A.1.b.2 MMIC power amplifiers: layout rules and thermal models",
                    "1",
                    "technology package",
                    "12000000",
                    "JPY",
                )],
                destinations: vec!["SG"],
                risk_tier: 2,
                conditions: vec![pledge, "Technology to be used only within the joint research agreement"],
                ..Terms::default()
            },
        )
        .grant(223, 181, 365, "Service transaction licence (technology) granted under Article 25(1).")
        .done(),
    );

    // AI servers to the UAE: refused for diversion risk.
    out.push(
        Lic::new(
            c,
            au,
            s,
            Terms {
                applicant: party("Takanawa Systems Integration K.K.", "JP", "2-6-3 Takanawa, Minato-ku, Tokyo 108-0074", &[("JP-CORP", "2010401117642")]),
                end_users: vec![party("Sarvenaz Data Solutions FZCO", "AE", "Building A4, Dubai Silicon Oasis, Dubai", &[])],
                end_use: "Stated: cloud hosting for regional e-commerce customers",
                items: vec![
                    item(
                        R::Wassenaar,
                        "4.A.3.b",
                        "GPU server systems, adjusted peak performance exceeding 70 weighted teraFLOPS per rack",
                        "16",
                        "pcs",
                        "912000000",
                        "JPY",
                    ),
                    item(R::UsEar, "3A090.a", "US-origin data-centre AI accelerator boards integrated in the servers", "128", "pcs", "640000000", "JPY"),
                ],
                destinations: vec!["AE"],
                risk_tier: 4,
                ..Terms::default()
            },
        )
        .deny(
            129,
            76,
            vec![reason(
            "DIVERSION_RISK",
            JP_48,
            "The end user was established recently, has no verifiable hosting operations and shares an address with parties supplying sanctioned destinations.",
        )],
            "Application refused.",
        )
        .done(),
    );

    // Carbon fibre to the US.
    out.push(
        Lic::new(
            c,
            au,
            s,
            Terms {
                applicant: kurosaki,
                end_users: vec![party("Cascade Composite Airframes Inc.", "US", "4100 S 212th Street, Kent, WA 98032", &[("LEI", "5493004JTZ8QW1KX7M62")])],
                end_use: "Prepreg production for civil business-jet fuselage panels",
                items: vec![item(R::Wassenaar, "1.C.10.b", "Intermediate-modulus carbon fibre, 12K tow", "20000", "kg", "132000000", "JPY")],
                destinations: vec!["US"],
                risk_tier: 1,
                conditions: vec![pledge],
                ..Terms::default()
            },
        )
        .grant(66, 34, 365, "Individual export licence granted.")
        .done(),
    );

    out
}

// ---------------------------------------------------------------------------------------------
// uni.ethz: ETH Zurich Export Control Office (technology-transfer and research clearances).

fn ethz(c: &Clock) -> Vec<Built> {
    let au = "uni.ethz";
    let s = Series::Ethz;
    let eth = |dept: &str| party(&format!("ETH Zurich, {dept}"), "CH", "Rämistrasse 101, 8092 Zürich", &[]);
    let tcp = "Technology control plan in place; access limited to named project members";
    let no_onward = "No onward transfer of controlled technology to third parties without a new clearance";

    let mut out = Vec::new();

    // Cryogenic amplifier collaboration with IISc; amended to add a partner institute.
    out.push(
        Lic::new(
            c,
            au,
            s,
            Terms {
                licence_type: LT::ResearchCollaboration,
                applicant: eth("Department of Physics"),
                end_users: vec![party("Indian Institute of Science", "IN", "CV Raman Road, Bengaluru 560012", &[])],
                end_use: "Joint research on cryogenic low-noise amplifiers for superconducting qubit readout",
                items: vec![item(
                    R::EuDualUse,
                    "3E001",
                    "Development technology for 3A001.b.4 cryogenic low-noise amplifiers: designs, layouts and measurement data",
                    "1",
                    "technology package",
                    "240000.00",
                    "CHF",
                )],
                destinations: vec!["IN"],
                risk_tier: 2,
                conditions: vec![tcp, no_onward],
                ..Terms::default()
            },
        )
        .grant(279, 241, 1095, "Research collaboration cleared for three years.")
        .amend(
            117,
            99,
            |t| {
                t.end_users.push(party("Raman Research Institute", "IN", "C. V. Raman Avenue, Sadashivanagar, Bengaluru 560080", &[]));
            },
            "Amendment: partner institute added to the consortium.",
        )
        .done(),
    );

    // Composite technology to KAIST.
    out.push(
        Lic::new(
            c,
            au,
            s,
            Terms {
                licence_type: LT::TechnologyTransfer,
                applicant: eth("Department of Mechanical and Process Engineering"),
                end_users: vec![party("Korea Advanced Institute of Science and Technology (KAIST)", "KR", "291 Daehak-ro, Yuseong-gu, Daejeon 34141", &[])],
                end_use: "Research on automated fibre placement of thermoplastic composites",
                items: vec![item(
                    R::EuDualUse,
                    "1E001",
                    "Development technology for 1C010.b fibrous materials: process windows and tooling designs",
                    "1",
                    "technology package",
                    "60000.00",
                    "CHF",
                )],
                destinations: vec!["KR"],
                risk_tier: 1,
                conditions: vec![no_onward],
                ..Terms::default()
            },
        )
        .grant(163, 131, 548, "Technology transfer cleared.")
        .done(),
    );

    // Radar MMIC collaboration with a military-linked institute: refused, review board confirms.
    out.push(
        Lic::new(
            c,
            au,
            s,
            Terms {
                licence_type: LT::ResearchCollaboration,
                applicant: eth("Department of Information Technology and Electrical Engineering"),
                end_users: vec![party("Lunhe Institute of Applied Radiophysics", "CN", "No. 16 Keji Road, Lunhe District", &[])],
                end_use: "Stated: joint research on GaN MMIC efficiency for X-band phased arrays",
                items: vec![item(
                    R::EuDualUse,
                    "3E001",
                    "Development technology for 3A001.b.2 MMIC power amplifiers (X-band)",
                    "1",
                    "technology package",
                    "380000.00",
                    "CHF",
                )],
                destinations: vec!["CN"],
                risk_tier: 4,
                ..Terms::default()
            },
        )
        .deny(
            361,
            318,
            vec![reason(
                "MILITARY_END_USE",
                CH_GCO,
                "The partner institute is affiliated with a defence research group; X-band phased-array work is likely to serve a military end use.",
            )],
            "Clearance refused.",
        )
        .appeal_lodged(297, 292, "Principal investigator requested review by the Export Control Review Board.")
        .appeal_upheld(
            297,
            226,
            vec![reason(
                "MILITARY_END_USE",
                CH_GCO,
                "The Review Board confirms the refusal: no assurances were obtained that the results would not be used for military radar.",
            )],
            "Review Board confirms the refusal.",
        )
        .done(),
    );

    // Laser technology to the Technion; expired.
    out.push(
        Lic::new(
            c,
            au,
            s,
            Terms {
                licence_type: LT::TechnologyTransfer,
                applicant: eth("Department of Physics"),
                end_users: vec![party("Technion - Israel Institute of Technology", "IL", "Technion City, Haifa 3200003", &[])],
                end_use: "Joint development of high-power ultrafast laser amplifiers for attosecond science",
                items: vec![item(
                    R::EuDualUse,
                    "6E001",
                    "Development technology for 6A005.b pulsed lasers: amplifier designs and simulation code",
                    "1",
                    "technology package",
                    "95000.00",
                    "CHF",
                )],
                destinations: vec!["IL"],
                risk_tier: 2,
                conditions: vec![tcp],
                ..Terms::default()
            },
        )
        .grant(641, 603, 365, "Technology transfer cleared.")
        .done(),
    );

    // Etch process collaboration with NTU: suspended for an affiliation check, reinstated.
    out.push(
        Lic::new(
            c,
            au,
            s,
            Terms {
                licence_type: LT::ResearchCollaboration,
                applicant: eth("Department of Information Technology and Electrical Engineering"),
                end_users: vec![party("National Taiwan University", "TW", "No. 1, Sec. 4, Roosevelt Road, Taipei 10617", &[])],
                end_use: "Joint research on atomic-layer etching for 2D-material transistors",
                items: vec![item(
                    R::EuDualUse,
                    "3E001",
                    "Development technology for 3B001.c etching equipment: process recipes and chamber designs",
                    "1",
                    "technology package",
                    "150000.00",
                    "CHF",
                )],
                destinations: vec!["TW"],
                risk_tier: 2,
                conditions: vec![tcp, no_onward],
                ..Terms::default()
            },
        )
        .grant(337, 302, 730, "Research collaboration cleared.")
        .suspend(
            149,
            141,
            vec![reason(
                "END_USER_CONCERN",
                CH_GCO,
                "A visiting researcher's declared affiliation does not match records; clearance suspended pending clarification.",
            )],
            "Suspended; no further transfers until clarified.",
        )
        .reinstate(124, 110, "Affiliation verified with the partner university; clearance reinstated.")
        .done(),
    );

    // Hyperspectral sensor technology to USP; surrendered when the project ended.
    out.push(
        Lic::new(
            c,
            au,
            s,
            Terms {
                licence_type: LT::TechnologyTransfer,
                applicant: eth("Department of Environmental Systems Science"),
                end_users: vec![party(
                    "Universidade de São Paulo, Escola Superior de Agricultura Luiz de Queiroz",
                    "BR",
                    "Av. Pádua Dias 11, Piracicaba - SP, 13418-900",
                    &[],
                )],
                end_use: "Hyperspectral remote sensing of crop stress",
                items: vec![item(
                    R::EuDualUse,
                    "6E001",
                    "Development technology for 6A002.a.3 focal plane arrays: readout calibration methods",
                    "1",
                    "technology package",
                    "45000.00",
                    "CHF",
                )],
                destinations: vec!["BR"],
                risk_tier: 1,
                conditions: vec![no_onward],
                ..Terms::default()
            },
        )
        .grant(234, 199, 365, "Technology transfer cleared.")
        .surrender(14, 10, "Project concluded early; principal investigator returns the clearance.")
        .done(),
    );

    // Laser collaboration with ANU.
    out.push(
        Lic::new(
            c,
            au,
            s,
            Terms {
                licence_type: LT::ResearchCollaboration,
                applicant: eth("Department of Physics"),
                end_users: vec![party("Australian National University", "AU", "Canberra ACT 2600", &[])],
                end_use: "Joint research on fibre-laser frequency combs for precision spectroscopy",
                items: vec![item(
                    R::EuDualUse,
                    "6E001",
                    "Development technology for 6A005.b pulsed fibre lasers",
                    "1",
                    "technology package",
                    "120000.00",
                    "CHF",
                )],
                destinations: vec!["AU"],
                risk_tier: 1,
                conditions: vec![no_onward],
                ..Terms::default()
            },
        )
        .grant(91, 62, 730, "Research collaboration cleared.")
        .done(),
    );

    // Clearance to IIT Bombay issued in error and cancelled.
    out.push(
        Lic::new(
            c,
            au,
            s,
            Terms {
                licence_type: LT::TechnologyTransfer,
                applicant: eth("Department of Civil, Environmental and Geomatic Engineering"),
                end_users: vec![party("Indian Institute of Technology Bombay", "IN", "Powai, Mumbai 400076", &[])],
                end_use: "Joint research on GNSS-based structural monitoring",
                items: vec![item(R::EuDualUse, "7E001", "Development technology for 7A005 GNSS receivers", "1", "technology package", "30000.00", "CHF")],
                destinations: vec!["IN"],
                risk_tier: 1,
                ..Terms::default()
            },
        )
        .grant(188, 161, 365, "Technology transfer cleared.")
        .cancel(147, 139, "Issued in error: the work is basic scientific research, so no clearance is required. Cancelled.")
        .done(),
    );

    out
}

/// Recognition agreements between the demo authorities, as their agencies might sign them:
/// each relying authority recognises a partner's licences for the partner's usual regimes,
/// never for embargoed destinations, and up to a review tier. Times relative to `now`.
pub fn agreements(now: i64) -> Vec<crate::pb::RecognitionAgreement> {
    use crate::pb::{LicenceType, RecognitionAgreement, Regime};
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
        RecognitionAgreement {
            regimes: vec![Regime::EuDualUse as i32],
            control_code_patterns: vec!["EU-DU:3A001.*".into(), "EU-DU:3A002.*".into(), "EU-DU:3B001.*".into(), "EU-DU:5A002.*".into()],
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
    use crate::authoring::{parse_time, RegimeName};
    use crate::codes::{is_country, is_currency};

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
        use crate::decision::CheckedDecision;
        use crate::pb::LicenceStatus;
        use crate::rules::LicenceState;
        use crate::statement::{sign_decision, Signer, StatementId};

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
        use crate::decision::CheckedDecision;

        let doc: DecisionDoc = serde_json::from_str(include_str!("../../examples/deny.json")).unwrap();
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
            include_str!("../../examples/grant.yaml"),
            include_str!("../../examples/amend.yaml"),
            include_str!("../../examples/suspend.yaml"),
            include_str!("../../examples/lodged.yaml"),
            include_str!("../../examples/deny.json"),
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
