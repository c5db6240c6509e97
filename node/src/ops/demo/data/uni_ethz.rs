//! The demo licences of `uni.ethz`, the ETH Zurich Export Control Office (technology-transfer and
//! research clearances), in the order they are built.

use super::{item, party, reason, Built, Clock, Lic, Series, Terms, LT, R};

// Legal bases cited more than once.
const CH_GCO: &str = "Art. 6 Goods Control Ordinance (SR 946.202.1); ETH Zurich Export Control Directive, s. 4";

pub(super) fn licences(c: &Clock) -> Vec<Built> {
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
                end_use: "Joint research on electron-beam patterning of 2D-material transistors",
                items: vec![item(
                    R::EuDualUse,
                    "3E001",
                    "Development technology for 3B001.f.4 electron-beam lithography equipment: exposure recipes and column designs",
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
