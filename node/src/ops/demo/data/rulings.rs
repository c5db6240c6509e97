//! The demo's classification rulings (BAFA) and general licence with a registered exporter
//! (ECJU): docs/rulings-and-general-licences.md. Published after everything else, so the log
//! indices of the rest of the demo stay as the README quotes them. Companies are fictional.

use comity_proto::pb;

const DAY: i64 = 86_400;

/// The general licence's reference (fixed: the README quotes it).
pub const GENERAL_LICENCE: &str = "OGEL-DU-WARRANTY";
/// The registration's reference, in the UK's OGEL registration style.
pub const REGISTRATION: &str = "GBOGE2026/04127";

fn party(name: &str, country: &str, address: &str, ids: &[(&str, &str)]) -> pb::Party {
    pb::Party {
        name: name.into(),
        country: country.into(),
        address: address.into(),
        identifiers: ids.iter().map(|(scheme, value)| pb::Identifier { scheme: (*scheme).into(), value: (*value).into() }).collect(),
    }
}

/// ECJU's open general export licence for dual-use items sent back after repair or
/// replacement under warranty (modelled on the UK OGEL of that name: a subset of its items and
/// eligible destinations), then one exporter's registration under it.
pub fn general_licence_and_registration(now: i64) -> Vec<pb::Decision> {
    let issued = now - 400 * DAY;
    let item = |code: &str, description: &str| pb::Item {
        regime: pb::Regime::UkStrategic as i32,
        control_code: code.into(),
        description: description.into(),
        ..Default::default()
    };
    let general = pb::Decision {
        authority: "uk.ecju".into(),
        licence_id: GENERAL_LICENCE.into(),
        version: 1,
        action: pb::Action::Grant as i32,
        licence_type: pb::LicenceType::GeneralAuthorisation as i32,
        items: vec![
            item("3A001", "Electronic components specified in 3A001 (integrated circuits, microwave and millimetre-wave items, ...)"),
            item("3A002", "General purpose electronic equipment specified in 3A002 (recorders, oscilloscopes, signal generators, ...)"),
            item("5A002", "'Information security' systems, equipment and components specified in 5A002"),
            item("6A003", "Cameras specified in 6A003"),
        ],
        destinations: ["AU", "CA", "CH", "JP", "KR", "NO", "NZ", "SG", "US"].map(String::from).to_vec(),
        permitted_end_uses: vec!["return after repair under warranty".into(), "replacement under warranty".into()],
        conditions: vec![
            "The items were originally exported from the UK under an individual or open individual export licence, or are replacements for such items".into(),
            "The export takes place within 5 years of the original export".into(),
            "The exporter is registered with the Export Control Joint Unit under this licence before its first export".into(),
            "Records of each export are kept for 4 years (Article 29, Export Control Order 2008)".into(),
            "Not for items the exporter knows are intended for a WMD purpose or a military end use in an embargoed destination".into(),
        ],
        re_export_terms: "As the original licence stated".into(),
        valid_from: issued,
        valid_until: issued + 5 * 365 * DAY,
        risk_tier: 1,
        application_received: issued - 30 * DAY,
        decided_at: issued,
        note: "Open General Export Licence (Export after Repair/Replacement under Warranty: Dual-Use Items). Exporters register to use it.".into(),
        ..Default::default()
    };
    let registered = now - 60 * DAY;
    let registration = pb::Decision {
        authority: "uk.ecju".into(),
        licence_id: REGISTRATION.into(),
        version: 1,
        action: pb::Action::Grant as i32,
        licence_type: pb::LicenceType::Registration as i32,
        applicant: Some(party(
            "Thornbury Microwave Ltd",
            "GB",
            "Unit 3, Aztec Centre, Almondsbury, Bristol BS32 4TD",
            &[("GB-COH", "09381226"), ("EORI", "GB093812260000")],
        )),
        general_licence: format!("uk.ecju/{GENERAL_LICENCE}"),
        valid_from: registered,
        valid_until: general.valid_until,
        risk_tier: 1,
        conditions: vec!["Compliance audit within 12 months of the first export under the registration".into()],
        application_received: registered - 2 * DAY,
        decided_at: registered,
        note: "Registration under OGEL (Export after Repair/Replacement under Warranty: Dual-Use Items) accepted.".into(),
        ..Default::default()
    };
    vec![general, registration]
}

/// BAFA's rulings, with whether each is confidential: a controlled MMIC, a power amplifier
/// found not listed, and a confidential ruling on a hardware security module.
pub fn rulings(now: i64) -> Vec<(pb::ClassificationRuling, bool)> {
    let issued = now - 10 * DAY;
    let param = |name: &str, value: &str| pb::TechnicalParameter { name: name.into(), value: value.into() };
    let base = |ruling_id: &str, applicant: pb::Party, item: &str| pb::ClassificationRuling {
        authority: "de.bafa".into(),
        ruling_id: ruling_id.into(),
        version: 1,
        applicant: Some(applicant),
        item_description: item.into(),
        valid_from: issued,
        valid_until: issued + 3 * 365 * DAY,
        issued_at: issued,
        ..Default::default()
    };
    let mmic = pb::ClassificationRuling {
        parameters: vec![
            param("Frequency range", "8.5-10.5 GHz"),
            param("Peak saturated power output", "10 W (40 dBm)"),
            param("Fractional bandwidth", "21 %"),
            param("Technology", "GaN-on-SiC, 0.25 µm HEMT"),
        ],
        control_codes: vec!["EU-DU:3A001.b.2".into()],
        rationale: "A monolithic microwave integrated circuit amplifier whose peak saturated power output and fractional bandwidth exceed the thresholds 3A001.b.2 sets for its frequency range; no decontrol note applies.".into(),
        ..base(
            "DE-CR-2026-0115",
            party("Hochfrequenz Systeme Ulm GmbH", "DE", "Lise-Meitner-Straße 9, 89081 Ulm", &[("EORI", "DE4418823000000")]),
            "X-band GaN MMIC power amplifier, packaged, for weather and marine radar",
        )
    };
    let pallet = pb::ClassificationRuling {
        parameters: vec![
            param("Frequency range", "2.40-2.50 GHz"),
            param("Output power", "250 W CW"),
            param("Technology", "Si LDMOS discrete transistors on a pallet (not an MMIC)"),
        ],
        not_listed: true,
        not_listed_in: vec![pb::Regime::EuDualUse as i32],
        rationale: "Operates below 2.7 GHz, the lowest frequency of the microwave amplifier entries 3A001.b.2 and 3A001.b.4; no other Annex I entry describes it. Not listed: national and catch-all (Art. 4) controls remain.".into(),
        ..base(
            "DE-CR-2026-0121",
            party("Rheinland Prozesswärme GmbH", "DE", "Industriestraße 40, 47829 Krefeld", &[]),
            "Solid-state RF power amplifier pallet for industrial microwave drying (2.45 GHz ISM band)",
        )
    };
    let hsm = pb::ClassificationRuling {
        parameters: vec![
            param("Primary function", "Cryptographic key generation, storage and use (information security)"),
            param("Algorithms", "AES-256, RSA-4096, ECDSA P-384"),
            param("Certification", "FIPS 140-3 Level 3 (pending)"),
        ],
        control_codes: vec!["EU-DU:5A002.a.1".into()],
        rationale: "Its primary function is information security and it uses cryptography for data confidentiality with a described security algorithm; the Note 3 (mass market) decontrol does not apply to a network HSM sold to operators.".into(),
        ..base(
            "DE-CR-2026-0127",
            party("Kryptonetz Systeme GmbH", "DE", "Am Zirkus 2, 10117 Berlin", &[]),
            "Network-attached hardware security module",
        )
    };
    vec![(mmic, false), (pallet, false), (hsm, true)]
}
