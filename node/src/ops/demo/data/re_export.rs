//! A re-export chain across authorities (docs/re-export.md): BAFA licenses radiation-hardened
//! microcircuits to a Japanese satellite-bus maker, consents to METI licensing the re-export of
//! part of them, built into a Thai Earth-observation satellite, and METI grants the re-export
//! licence citing the consent. Companies are fictional.

use comity_proto::pb;

const DAY: i64 = 86_400;

/// BAFA's licence re-exported under (a number far from the demo series, so it never collides).
pub const PARENT: &str = "DE-2026-030412";
/// BAFA's consent on it.
pub const CONSENT: &str = "DE-RXC-2026-0007";
/// METI's re-export licence.
pub const CHILD: &str = "JP-RX-2026-0031";

fn day_at(now: i64, days: i64, hour: i64) -> i64 {
    now - now.rem_euclid(DAY) - days * DAY + hour * 3600
}

fn party(name: &str, country: &str, address: &str) -> pb::Party {
    pb::Party { name: name.into(), country: country.into(), address: address.into(), identifiers: Vec::new() }
}

fn microcircuits(quantity: &str, value_minor: u64, currency: &str) -> pb::Item {
    pb::Item {
        regime: pb::Regime::EuDualUse as i32,
        control_code: "3A001.a.1.a".into(),
        description: "Radiation-hardened 32-bit microcontrollers, total dose 3 x 10^5 Gy(Si), ceramic QFP-256".into(),
        quantity: quantity.into(),
        unit: "pcs".into(),
        value_minor,
        currency: currency.into(),
    }
}

fn bus_maker() -> pb::Party {
    party("Sagami Space Bus K.K.", "JP", "2-4-1 Shin-Yokohama, Kohoku-ku, Yokohama 222-0033")
}

fn thai_end_user() -> pb::Party {
    party("Siam Orbital Systems Co., Ltd.", "TH", "99/9 Moo 4, Thai Science Park, Khlong Luang, Pathum Thani 12120")
}

/// BAFA's grant (version 1): 400 microcircuits to the Japanese satellite-bus maker.
pub fn parent(now: i64) -> pb::Decision {
    let decided_at = day_at(now, 120, 10);
    pb::Decision {
        authority: "de.bafa".into(),
        licence_id: PARENT.into(),
        version: 1,
        action: pb::Action::Grant as i32,
        licence_type: pb::LicenceType::Individual as i32,
        applicant: Some(party("Havelland Halbleiter GmbH", "DE", "Großbeerenstraße 2, 14482 Potsdam")),
        end_users: vec![bus_maker()],
        end_use: "On-board computers of small Earth-observation satellite buses built by the end user".into(),
        items: vec![microcircuits("400", 112_000_000, "EUR")],
        destinations: vec!["JP".into()],
        valid_from: decided_at,
        valid_until: decided_at + 730 * DAY,
        risk_tier: 2,
        conditions: vec!["No re-export or onward transfer without the prior written consent of BAFA".into()],
        application_received: day_at(now, 150, 9),
        decided_at,
        ..Default::default()
    }
}

/// BAFA's consent (version 2): METI may license the re-export of 60 of them, in satellite buses,
/// to the Thai operator.
pub fn consent(now: i64, previous: Vec<u8>) -> pb::Decision {
    let decided_at = day_at(now, 12, 11);
    pb::Decision {
        authority: "de.bafa".into(),
        licence_id: PARENT.into(),
        version: 2,
        previous,
        action: pb::Action::ReExportConsent as i32,
        re_export_consent: Some(pb::ReExportConsent {
            consent_id: CONSENT.into(),
            re_export_authority: "jp.meti".into(),
            re_exporter: Some(bus_maker()),
            end_users: vec![thai_end_user()],
            destinations: vec!["TH".into()],
            items: vec![microcircuits("60", 0, "")],
            valid_until: decided_at + 365 * DAY,
            conditions: vec!["Only as integrated in the end user's satellite buses; no further re-export without BAFA's consent".into()],
        }),
        application_received: day_at(now, 30, 9),
        decided_at,
        note: "Consent to the re-export requested by Sagami Space Bus K.K. on 2026-11; end-use statement of the Thai operator on file.".into(),
        ..Default::default()
    }
}

/// METI's re-export licence (version 1), citing BAFA's consent: 24 microcircuits in two buses.
pub fn child(now: i64) -> pb::Decision {
    let decided_at = day_at(now, 4, 14);
    let valid_from = decided_at - decided_at.rem_euclid(DAY) + DAY;
    pb::Decision {
        authority: "jp.meti".into(),
        licence_id: CHILD.into(),
        version: 1,
        action: pb::Action::Grant as i32,
        licence_type: pb::LicenceType::Individual as i32,
        applicant: Some(bus_maker()),
        end_users: vec![thai_end_user()],
        end_use: "Two Earth-observation satellite buses for the end user's THEOS-class constellation".into(),
        items: vec![microcircuits("24", 10_800_000, "JPY")],
        destinations: vec!["TH".into()],
        valid_from,
        valid_until: valid_from + 365 * DAY,
        risk_tier: 2,
        conditions: vec!["Re-export consented by BAFA (DE-RXC-2026-0007); its conditions apply".into()],
        application_received: day_at(now, 25, 9),
        decided_at,
        parent_licence: format!("de.bafa/{PARENT}"),
        consent_id: CONSENT.into(),
        ..Default::default()
    }
}
