//! The demo's usage and drawdown (docs/usage-and-drawdown.md): customs offices write shipments
//! off against two BAFA licences, one of which is used up (EXHAUSTED). Published after
//! everything else, so the log indices of the rest of the demo stay as the README quotes them.
//! Companies are fictional; the customs offices are real offices' names.

use comity_proto::pb;

const DAY: i64 = 86_400;

/// Partly drawn down: 25 of 40 MMICs shipped (the README writes off more).
pub const DRAWN: &str = "DE-2026-007315";
/// Used up by two shipments.
pub const EXHAUSTED: &str = "DE-2026-007402";

/// The customs offices the demo authorities delegate (holders of CUSTOMS keys in key set v1).
pub const CUSTOMS: [(&str, &str); 2] =
    [("de.bafa", "Generalzolldirektion, Zollamt Frankfurt am Main Flughafen (DE004852)"), ("jp.meti", "Japan Customs, Tokyo Customs Narita Airport Branch")];

fn party(name: &str, country: &str, address: &str) -> pb::Party {
    pb::Party { name: name.into(), country: country.into(), address: address.into(), ..Default::default() }
}

/// The two BAFA grants.
pub fn licences(now: i64) -> Vec<pb::Decision> {
    let granted = now - 90 * DAY;
    let base = pb::Decision {
        authority: "de.bafa".into(),
        version: 1,
        action: pb::Action::Grant as i32,
        licence_type: pb::LicenceType::Individual as i32,
        valid_from: granted,
        valid_until: granted + 2 * 365 * DAY,
        application_received: granted - 34 * DAY,
        decided_at: granted,
        ..Default::default()
    };
    vec![
        pb::Decision {
            licence_id: DRAWN.into(),
            applicant: Some(party("Rheinwerk Hochfrequenztechnik GmbH", "DE", "Industriestraße 14, 89081 Ulm")),
            end_users: vec![party("Hokuriku Radar Systems K.K.", "JP", "2-4-1 Technopark, Kanazawa, Ishikawa 920-0231")],
            end_use: "Integration into X-band weather radar transmitters for the Japan Meteorological Agency".into(),
            items: vec![pb::Item {
                regime: pb::Regime::EuDualUse as i32,
                control_code: "3A001.b.2".into(),
                description: "GaN MMIC power amplifiers, 8.5-10.5 GHz, 40 W saturated output".into(),
                quantity: "40".into(),
                unit: "pcs".into(),
                value_minor: 64_000_000,
                currency: "EUR".into(),
            }],
            destinations: vec!["JP".into()],
            transit_countries: vec!["KR".into()],
            risk_tier: 2,
            conditions: vec!["Shipments are written off by customs against this licence".into()],
            ..base.clone()
        },
        pb::Decision {
            licence_id: EXHAUSTED.into(),
            applicant: Some(party("Sauerland Präzisionsoptik GmbH", "DE", "Am Hüttenwerk 3, 57250 Netphen")),
            end_users: vec![party("Kyushu Laser Ranging Observatory", "JP", "1-1 Hoshigaoka, Kumamoto 861-4401")],
            end_use: "Satellite laser ranging station upgrade".into(),
            items: vec![pb::Item {
                regime: pb::Regime::EuDualUse as i32,
                control_code: "6A005.d.1".into(),
                description: "Pulsed Nd:YAG lasers, 532 nm, 1 J per pulse, with power supplies".into(),
                quantity: "6".into(),
                unit: "pcs".into(),
                value_minor: 114_000_000,
                currency: "EUR".into(),
            }],
            destinations: vec!["JP".into()],
            risk_tier: 2,
            ..base
        },
    ]
}

/// The shipments written off, in order: (licence, reporting authority, shipment).
pub fn shipments(now: i64) -> Vec<(&'static str, &'static str, pb::Shipment)> {
    let shipment = |declaration: &str, days_ago: i64, office: &str, transit: &[&str], quantity: &str, value_minor: u64| pb::Shipment {
        declaration: declaration.into(),
        shipped_on: now - days_ago * DAY,
        customs_office: office.into(),
        destination: "JP".into(),
        transit_countries: transit.iter().map(|c| (*c).into()).collect(),
        items: vec![pb::ShippedItem { item: 1, quantity: quantity.into(), value_minor }],
    };
    let frankfurt = "DE004852 Zollamt Frankfurt am Main Flughafen";
    vec![
        (DRAWN, "de.bafa", shipment("26DE004852000731E4", 41, frankfurt, &["KR"], "25", 40_000_000)),
        (EXHAUSTED, "de.bafa", shipment("26DE004852000744E7", 33, frankfurt, &[], "4", 76_000_000)),
        (EXHAUSTED, "de.bafa", shipment("26DE004852000802E1", 12, frankfurt, &[], "2", 38_000_000)),
    ]
}
