//! The demo licences of `jp.meti`, the Ministry of Economy, Trade and Industry, in the order they
//! are built.

use super::{item, party, reason, Built, Clock, Lic, Series, Terms, LT, R};

// Legal bases cited more than once.
const JP_48: &str = "Article 48(1), Foreign Exchange and Foreign Trade Act";

pub(super) fn licences(c: &Clock) -> Vec<Built> {
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

    // Bulk licence for MOCVD epitaxy equipment: amended, suspended, reinstated.
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
                end_use: "Compound-semiconductor epitaxy (GaN power and RF devices) at foundries and device makers",
                items: vec![item(
                    R::Wassenaar,
                    "3.B.1.a.2",
                    "MOCVD reactors for GaN-on-SiC epitaxy, 6-inch multi-wafer planetary, and spare modules",
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
                    item(
                        R::UsEar,
                        "4A090.a",
                        "Servers containing US-origin 3A090.a data-centre AI accelerator integrated circuits",
                        "128",
                        "pcs",
                        "640000000",
                        "JPY",
                    ),
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
