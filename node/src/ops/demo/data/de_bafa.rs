//! The demo licences of `de.bafa`, the Federal Office for Economic Affairs and Export Control,
//! in the order they are built.

use super::{item, party, reason, Built, Clock, Lic, Series, Terms, A, LT, R};

// Legal bases cited more than once.
const EU_ART4: &str = "Art. 4(1) Regulation (EU) 2021/821";
const EU_ART5: &str = "Art. 5(1) Regulation (EU) 2021/821";
const EU_ART15_D: &str = "Art. 15(1)(d) Regulation (EU) 2021/821";
const EU_ART16: &str = "Art. 16(1) Regulation (EU) 2021/821";

pub(super) fn licences(c: &Clock) -> Vec<Built> {
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
            end_use: "Mask-less electron-beam patterning of fine-pitch redistribution layers on the prototyping line of a 2.5D/3D advanced packaging plant for automotive and consumer ICs",
            items: vec![
                item(
                    R::EuDualUse,
                    "3B001.f.4",
                    "Electron-beam direct-write lithography system, 100 kV, minimum beam size 8 nm, for 200/300 mm wafers, with cassette-to-cassette load lock",
                    "2",
                    "pcs",
                    "6850000.00",
                    "EUR",
                ),
                item(
                    R::EuDualUse,
                    "3B001.f.4",
                    "Spare electron-optical column modules and high-voltage supply units for the above",
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
                    "GaN-on-SiC MMIC power amplifiers, 3.1-3.7 GHz (fractional bandwidth 18 %), saturated output power 45 W",
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
