//! The demo licences of `uk.ecju`, the Export Control Joint Unit, in the order they are built.

use super::{item, party, reason, Built, Clock, Lic, Series, Terms, A, LT, R};

// Legal bases cited more than once.
const UK_C7: &str = "Criterion 7, Strategic Export Licensing Criteria (2021)";
const UK_ECO32: &str = "Article 32, Export Control Order 2008";

pub(super) fn licences(c: &Clock) -> Vec<Built> {
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
                    "Development technology for real-time digital oscilloscopes controlled by 3A002.a.7 (design files and calibration procedures)",
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
