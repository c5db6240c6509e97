//! The demo's no-undercut consultations (docs/consultation.md). METI is asked for the GaN
//! amplifiers BAFA denied to a Dubai free-zone integrator, consults BAFA, gets an answer and
//! grants citing it; ECJU consults BAFA on its carbon-fibre denial and waits for an answer.
//! Every party is fictional.

use comity_proto::authoring::RegimeName as R;
use comity_proto::pb;

use super::{item, party as party_doc, reason, Built, Clock, Lic, Series, Terms, DAY};

const EU_ART15_D: &str = "Art. 15(1)(d) Regulation (EU) 2021/821";

/// BAFA's denial consulted on. Built after every other licence of the data set, so that adding
/// it left their seeds, and so their licence numbers, as they were.
pub(super) fn licences(c: &Clock) -> Vec<Built> {
    let (au, s) = ("de.bafa", Series::De);
    // MMIC power amplifiers to a Dubai free-zone integrator: denied for diversion risk. METI is
    // later asked for the same amplifiers for the same end user and consults BAFA first
    // (docs/consultation.md).
    vec![Lic::new(c, au, s, Terms {
            applicant: party_doc("Rheinfeld Mikrowellentechnik GmbH", "DE", "Industriestrasse 9, 53359 Rheinbach", &[("EORI", "DE3318045")]),
            end_users: vec![party_doc("Gulf Avionics Integration FZE", "AE", "Plot S20318, Jebel Ali Free Zone South, Dubai", &[])],
            end_use: "Stated: transmitter modules for weather radars at regional airports",
            items: vec![item(
                R::EuDualUse,
                "3A001.b.2",
                "GaN MMIC power amplifiers, 8.5-10.5 GHz, 40 W peak saturated output power",
                "600",
                "pcs",
                "312000.00",
                "EUR",
            )],
            destinations: vec!["AE"],
            risk_tier: 4,
            ..Terms::default()
        })
        .deny(246, 198, vec![
            reason(
                "DIVERSION_RISK",
                EU_ART15_D,
                "The end user's parent company re-exported radar components to a destination under arms embargo in 2024; the stated end use is not plausible for the quantity.",
            ),
        ], "Application refused; refusal notified to the other Member States, the Commission and the Wassenaar Arrangement.")
        .done()]
}

/// METI's reference for its consultation of BAFA.
pub const METI_CONSULTATION: &str = "JP-CONS-2026-0031";
/// ECJU's reference for its consultation of BAFA, left open.
pub const ECJU_CONSULTATION: &str = "GB-CONS-2026-0112";
/// The grant METI publishes once BAFA has answered.
pub const METI_GRANT: &str = "JP-METI-2026-02406";
/// The end users of BAFA's denials consulted on, as BAFA's demo data names them.
pub const MMIC_END_USER: &str = "Gulf Avionics Integration FZE";
pub const CARBON_FIBRE_END_USER: &str = "Zarqan Composite Works (Pvt.) Ltd.";

/// `days` before the day of `now`, at `hour` UTC (officers sign in office hours).
fn day_at(now: i64, days: i64, hour: i64) -> i64 {
    now - now.rem_euclid(DAY) - days * DAY + hour * 3600
}

fn party(name: &str, country: &str, address: &str) -> pb::Party {
    pb::Party { name: name.into(), country: country.into(), address: address.into(), identifiers: Vec::new() }
}

fn amplifiers(quantity: &str, value_minor: u64) -> pb::Item {
    pb::Item {
        regime: pb::Regime::Wassenaar as i32,
        control_code: "3.A.1.b.2".into(),
        description: "GaN MMIC power amplifiers, 9.0-10.0 GHz, 35 W peak saturated output power".into(),
        quantity: quantity.into(),
        unit: "pcs".into(),
        value_minor,
        currency: "JPY".into(),
    }
}

fn end_user() -> pb::Party {
    // The same company as BAFA's denial names, as the Japanese application spells it.
    party("Gulf Avionics Integration FZCO", "AE", "Plot S20318, Jebel Ali Free Zone South, Dubai")
}

const END_USE: &str = "Transmitter modules for the weather radars of the Dubai Air Navigation Services upgrade";

/// METI's request, on BAFA's denial `denial` (at statement `denial_statement`).
pub fn meti_request(now: i64, denial: &str, denial_statement: Vec<u8>) -> pb::ConsultationRequest {
    let issued_at = day_at(now, 21, 9);
    pb::ConsultationRequest {
        authority: "jp.meti".into(),
        consultation_id: METI_CONSULTATION.into(),
        denial: denial.into(),
        denial_statement,
        end_users: vec![end_user()],
        items: vec![amplifiers("250", 1_850_000_000)],
        destinations: vec!["AE".into()],
        end_use: END_USE.into(),
        question: "Kobe Denpa Kogyo K.K. applies to export 250 GaN MMIC amplifiers (Wassenaar 3.A.1.b.2) to the end user of your denial. \
                   The end user states that its former parent company was sold in 2026 and that the re-export channel behind your denial is closed. \
                   Do you maintain your denial for this transaction?"
            .into(),
        respond_by: issued_at + 30 * DAY,
        issued_at,
    }
}

/// BAFA's answer to METI's request (statement `request`).
pub fn bafa_answer(now: i64, request: Vec<u8>) -> pb::ConsultationAnswer {
    pb::ConsultationAnswer {
        authority: "de.bafa".into(),
        consulting_authority: "jp.meti".into(),
        consultation_id: METI_CONSULTATION.into(),
        request,
        position: pb::ConsultationPosition::NoObjection as i32,
        text: "Our denial rested on the former parent company's re-exports. The change of ownership is confirmed by the Dubai commercial register (2026). \
               We do not object to a grant and suggest a post-shipment check."
            .into(),
        issued_at: day_at(now, 12, 14),
    }
}

/// METI's grant, citing its answered consultation.
pub fn meti_grant(now: i64) -> pb::Decision {
    let decided_at = day_at(now, 6, 5);
    let valid_from = decided_at - decided_at.rem_euclid(DAY) + DAY;
    pb::Decision {
        authority: "jp.meti".into(),
        licence_id: METI_GRANT.into(),
        version: 1,
        action: pb::Action::Grant as i32,
        licence_type: pb::LicenceType::Individual as i32,
        applicant: Some(party("Kobe Denpa Kogyo K.K.", "JP", "3-1-7 Minatojima-minamimachi, Chuo-ku, Kobe 650-0047")),
        end_users: vec![end_user()],
        end_use: END_USE.into(),
        items: vec![amplifiers("250", 1_850_000_000)],
        destinations: vec!["AE".into()],
        valid_from,
        valid_until: valid_from + 365 * DAY,
        risk_tier: 3,
        conditions: vec![
            "Post-shipment verification by the Embassy of Japan in Abu Dhabi within six months of delivery.".into(),
            "No re-export or transfer without the prior written consent of METI.".into(),
        ],
        application_received: day_at(now, 44, 2),
        decided_at,
        note: "Granted after consultation of BAFA on its denial of an essentially identical transaction (no objection).".into(),
        consultations: vec![METI_CONSULTATION.into()],
        ..Default::default()
    }
}

/// The Embassy of Japan's post-shipment check of METI's grant (#23): the amplifiers found where
/// the licence says.
pub fn meti_end_use_check(now: i64) -> pb::EndUseCheck {
    pb::EndUseCheck {
        authority: "jp.meti".into(),
        check_id: "JP-PSV-2026-0012".into(),
        licence: format!("jp.meti/{METI_GRANT}"),
        shipment: "Export declaration 2026-KIX-0488213".into(),
        outcome: pb::EndUseOutcome::Confirmed as i32,
        checked_on: day_at(now, 1, 0),
        place: "Jebel Ali Free Zone South, Dubai, AE".into(),
        checked_by: "Embassy of Japan in Abu Dhabi (export-control attaché)".into(),
        findings: "The 250 amplifiers were found in transmitter modules under assembly for the Dubai Air Navigation Services radars; serial numbers match the export declaration.".into(),
        confidential: false,
        issued_at: day_at(now, 1, 8),
    }
}

/// ECJU's request on BAFA's carbon-fibre denial `denial`, still waiting for an answer.
pub fn ecju_request(now: i64, denial: &str, denial_statement: Vec<u8>) -> pb::ConsultationRequest {
    let issued_at = day_at(now, 3, 10);
    pb::ConsultationRequest {
        authority: "uk.ecju".into(),
        consultation_id: ECJU_CONSULTATION.into(),
        denial: denial.into(),
        denial_statement,
        end_users: vec![party("Zarqan Composite Works (Private) Limited", "PK", "21-C Industrial Estate, Kot Lakhpat, Lahore")],
        items: vec![pb::Item {
            regime: pb::Regime::UkStrategic as i32,
            control_code: "1C010.b".into(),
            description: "Carbon fibre tow, 24K, specific modulus > 14.65 x 10^6 m".into(),
            quantity: "1500".into(),
            unit: "kg".into(),
            value_minor: 11_250_000,
            currency: "GBP".into(),
        }],
        destinations: vec!["PK".into()],
        end_use: "Stated: sporting goods (racing bicycle frames)".into(),
        question: "A UK composites supplier applies to export 1,500 kg of carbon fibre (UK 1C010.b) to the end user of your denial, for sporting goods. \
                   Is your denial still current, and can you share the information behind your missile end-use concern?"
            .into(),
        respond_by: issued_at + 30 * DAY,
        issued_at,
    }
}
