//! The demo's control lists and crosswalk (docs/control-lists-data.md says where the data comes
//! from): BAFA's Annex I (categories 3 and 5) with one review, METI's Wassenaar list and METI's
//! correlation of Wassenaar numbers with the EU, UK and US lists.

use comity_proto::authoring::parse_time;
use comity_proto::catalogue_csv::{apply_review, categories_of, read_entries, read_equivalences, read_screened_parties};
use comity_proto::pb::{self, Regime};

use super::DAY;

const EU_DU: &str = include_str!("lists/eu-du.csv");
const EU_DU_REVIEW: &str = include_str!("lists/eu-du-review.csv");
const WA: &str = include_str!("lists/wa.csv");
const CROSSWALK: &str = include_str!("lists/crosswalk.csv");
/// BAFA's end-user alert list for the demo: fictitious names and addresses (docs/screening.md).
pub const END_USER_ALERTS: &str = include_str!("lists/end-user-alert.csv");

/// The CSV files, as the demo writes them into its directory for `comity list load`.
pub const FILES: [(&str, &str); 6] = [
    ("eu-du.csv", EU_DU),
    ("eu-du-review.csv", EU_DU_REVIEW),
    ("wa.csv", WA),
    ("ear.csv", include_str!("lists/ear.csv")),
    ("crosswalk.csv", CROSSWALK),
    ("end-user-alert.csv", END_USER_ALERTS),
];

/// The id agreements name METI's crosswalk by.
pub const CROSSWALK_KEY: &str = "jp.meti/wa-eu-uk-us";

/// The list and crosswalk statements in publishing order, each with its publisher. A list
/// version after the first has `previous` empty: the publisher fills it with the statement id
/// of the version before.
pub fn statements(now: i64) -> Vec<(&'static str, pb::statement::Kind)> {
    let date = |d: &str| parse_time(d).expect("demo date");
    let eu_v1 = read_entries(EU_DU).expect("demo eu-du.csv");
    let (eu_v2, changes) = apply_review(&eu_v1, EU_DU_REVIEW).expect("demo eu-du-review.csv");
    let wa = read_entries(WA).expect("demo wa.csv");
    let list =
        |authority: &str, regime: Regime, version: u64, title: &str, valid_from: i64, entries: Vec<pb::ControlEntry>, changes: Vec<pb::ControlChange>| {
            pb::statement::Kind::ControlList(pb::ControlList {
                authority: authority.into(),
                regime: regime as i32,
                version,
                previous: Vec::new(),
                title: title.into(),
                categories: categories_of(&entries),
                valid_from,
                entries,
                changes,
                issued_at: valid_from.min(now) - 14 * DAY,
            })
        };
    vec![
        (
            "de.bafa",
            list(
                "de.bafa",
                Regime::EuDualUse,
                1,
                "Annex I to Regulation (EU) 2021/821, categories 3 and 5, as applied from 9 September 2021",
                date("2021-09-09"),
                eu_v1,
                Vec::new(),
            ),
        ),
        (
            "de.bafa",
            list(
                "de.bafa",
                Regime::EuDualUse,
                2,
                "Annex I to Regulation (EU) 2021/821, categories 3 and 5, after the demo's review (Delegated Regulation (EU) 2023/66 entries, one illustrative removal)",
                now - 120 * DAY,
                eu_v2,
                changes,
            ),
        ),
        (
            "jp.meti",
            list(
                "jp.meti",
                Regime::Wassenaar,
                1,
                "Wassenaar Arrangement List of Dual-Use Goods and Technologies, categories 3 and 5, December 2023 edition",
                date("2024-01-01"),
                wa,
                Vec::new(),
            ),
        ),
        (
            "de.bafa",
            pb::statement::Kind::ScreeningList(pb::ScreeningList {
                authority: "de.bafa".into(),
                list_id: "end-user-alert".into(),
                version: 1,
                previous: Vec::new(),
                title: "BAFA end-user alert list (Art. 4 Regulation (EU) 2021/821; demo entries, fictitious)".into(),
                valid_from: now - 300 * DAY,
                added: read_screened_parties(END_USER_ALERTS).expect("demo end-user-alert.csv"),
                removed: Vec::new(),
                issued_at: now - 300 * DAY,
            }),
        ),
        (
            "jp.meti",
            pb::statement::Kind::Crosswalk(pb::Crosswalk {
                authority: "jp.meti".into(),
                crosswalk_id: "wa-eu-uk-us".into(),
                version: 1,
                title: "Wassenaar numbers against EU Annex I, the UK Strategic Export Control List and the US CCL, categories 3 and 5".into(),
                equivalences: read_equivalences(CROSSWALK).expect("demo crosswalk.csv"),
                issued_at: now - 200 * DAY,
            }),
        ),
    ]
}
