//! The demo: three nodes, a realistic data set through the normal publish path, every node
//! holding every licence, and every suggested command finding data.

use comity_client::Client;
use comity_proto::pb::{self, LicenceStatus};
use comity_tests::demo_listeners;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_federation_converges_and_its_suggestions_find_data() {
    let tmp = tempfile::tempdir().unwrap();
    let demo = comity_node::ops::demo::start(&tmp.path().join("demo"), demo_listeners().await, vec![None; 3]).await.expect("demo starts");
    assert!(demo.decisions >= 50, "only {} decisions", demo.decisions);
    assert!(demo.licences >= 30);
    assert_eq!(demo.nodes.len(), 3);

    // Every node holds every licence: its own authorities' and, mirrored and verified, the others'.
    for n in &demo.nodes {
        let mut client = Client::connect(&n.node.url()).await.unwrap();
        let all = client.search_all(pb::SearchRequest::default(), 1000).await.unwrap();
        assert_eq!(all.len(), demo.licences, "node {}", n.name);
        for status in [
            LicenceStatus::Issued,
            LicenceStatus::Denied,
            LicenceStatus::Revoked,
            LicenceStatus::Suspended,
            LicenceStatus::Expired,
            LicenceStatus::UnderReview,
            LicenceStatus::Withdrawn,
        ] {
            assert!(all.iter().any(|s| s.status == status as i32), "no {status:?} licence at {}", n.name);
        }
        for s in &all {
            client.licence(&s.authority, &s.licence_id).await.unwrap_or_else(|e| panic!("{}/{} at {}: {e}", s.authority, s.licence_id, n.name));
        }
        assert!(client.evidence().await.unwrap().evidence.is_empty());
    }

    let mut client = Client::connect(&demo.nodes[0].node.url()).await.unwrap();
    for command in &demo.tries {
        let words: Vec<&str> = command.split_whitespace().collect();
        match words[..] {
            ["comity", "licence", "show", licence] => {
                let (a, l) = licence.split_once('/').unwrap();
                let shown = client.licence(a, l).await.unwrap();
                assert!(shown.chain.len() >= 3, "{command} shows a short chain");
            }
            ["comity", "search", flag, value] => {
                let mut request = pb::SearchRequest::default();
                match flag {
                    "--destination" => request.destination = value.into(),
                    "--party" => request.party = value.into(),
                    "--control-code" => request.control_code = value.into(),
                    "--status" => request.status = LicenceStatus::from_str_name(&value.to_uppercase().replace('-', "_")).unwrap() as i32,
                    other => panic!("unexpected flag {other}"),
                }
                let found = client.search(request).await.unwrap();
                assert!(!found.licences.is_empty(), "`{command}` finds nothing");
            }
            _ => panic!("unexpected suggestion `{command}`"),
        }
    }
    let guide = comity_node::ops::demo::guide(&demo);
    assert!(guide.contains("three registry nodes"));

    // Every node holds every authority's key set, and the suggested verifications give the
    // printed verdict at every node, a VALID one among them.
    for n in &demo.nodes {
        for a in ["de.bafa", "uk.ecju", "jp.meti", "uni.ethz"] {
            assert_eq!(n.node.registry().trust().key_set(a).map(|s| s.version), Some(1), "{a} at {}", n.name);
        }
    }
    assert!(demo.verify_tries.iter().any(|t| t.ends_with("(VALID)")), "{:?}", demo.verify_tries);
    assert!(demo.verify_tries.len() >= 3, "{:?}", demo.verify_tries);
    for t in &demo.verify_tries {
        let words: Vec<&str> = t.split_whitespace().collect();
        let (a, l) = words[4].split_once('/').unwrap();
        let flag = |name: &str| words.iter().position(|w| *w == name).map(|i| words[i + 1].to_string()).unwrap_or_default();
        let expected = words.last().unwrap().trim_matches(|c| c == '(' || c == ')');
        for n in &demo.nodes {
            let request = pb::VerifyRequest {
                authority: a.into(),
                licence_id: l.into(),
                relying_authority: flag("--for"),
                destination: flag("--destination"),
                control_code: flag("--item"),
                ..Default::default()
            };
            let answer = Client::connect(&n.node.url()).await.unwrap().verify(request).await.unwrap();
            assert_eq!(
                pb::Verdict::try_from(answer.verdict).unwrap().as_str_name().trim_start_matches("VERDICT_"),
                expected,
                "`{t}` at {}: {:?}",
                n.name,
                answer.reasons
            );
        }
    }

    // The guide's watch: every revocation in the federation, read at METI's node.
    assert!(guide.contains("watch --from-start --until-caught-up --kind revocation"));
    let meti = demo.nodes.iter().find(|n| n.name == "meti").unwrap();
    let filter = pb::WatchFilter { kinds: vec![pb::WatchEventKind::Revocation as i32], ..Default::default() };
    let mut events = Client::connect(&meti.node.url())
        .await
        .unwrap()
        .watch(pb::WatchRequest { filter: Some(filter), from_start: true, ..Default::default() })
        .await
        .unwrap();
    let mut revocations = Vec::new();
    while let Some(e) = events.next().await.unwrap() {
        if e.kind == pb::WatchEventKind::CaughtUp as i32 {
            break;
        }
        revocations.push(e);
    }
    let revoked_origins: std::collections::BTreeSet<&str> = revocations.iter().map(|e| e.origin.as_str()).collect();
    assert!(revoked_origins.len() >= 2, "revocations from {revoked_origins:?}");
    assert!(revocations.iter().all(|e| e.action == pb::Action::Revoke as i32 && e.status_after == LicenceStatus::Revoked as i32));

    // The guide's re-export: METI's licence under BAFA's consent verifies VALID at every node,
    // and BAFA's licence lists it.
    use comity_node::ops::demo::data::re_export as rx;
    assert!(guide.contains(&format!("verify jp.meti/{} --destination TH", rx::CHILD)), "{guide}");
    for n in &demo.nodes {
        let mut client = Client::connect(&n.node.url()).await.unwrap();
        let request = pb::VerifyRequest {
            authority: "jp.meti".into(),
            licence_id: rx::CHILD.into(),
            relying_authority: "jp.meti".into(),
            destination: "TH".into(),
            control_code: "EU-DU:3A001.a.1.a".into(),
            ..Default::default()
        };
        let answer = client.verify(request).await.unwrap();
        assert_eq!(answer.verdict, pb::Verdict::Valid as i32, "{} at {}: {:?}", rx::CHILD, n.name, answer.reasons);
        assert!(answer.reasons.iter().any(|r| r.contains(&format!("consent {} of de.bafa", rx::CONSENT))), "{:?}", answer.reasons);
        let parent = client.licence("de.bafa", rx::PARENT).await.unwrap();
        assert_eq!(parent.re_export_children.iter().map(|c| c.licence_id.as_str()).collect::<Vec<_>>(), [rx::CHILD], "at {}", n.name);
    }

    // The confidential licence: readable at BAFA's and METI's nodes, only proven to exist at ECJU's.
    let (a, l) = &demo.confidential;
    assert!(guide.contains(&format!("licence show {a}/{l}")));
    for n in &demo.nodes {
        let mut client = Client::connect(&n.node.url()).await.unwrap();
        let shown = client.licence(a, l).await.unwrap();
        assert_eq!(shown.state.is_some(), n.name != "ecju", "{a}/{l} at {}", n.name);
        let request = pb::VerifyRequest { authority: a.clone(), licence_id: l.clone(), relying_authority: "uk.ecju".into(), ..Default::default() };
        let verdict = client.verify(request).await.unwrap().verdict;
        assert_eq!(verdict == pb::Verdict::Restricted as i32, n.name == "ecju", "verdict {verdict} at {}", n.name);
    }

    // The guide's log audit: every node's log (key sets, agreements, decisions and confidential
    // commitments) checks out against the demo's trust file, twice over.
    let trust = tmp.path().join("demo").join("trust.toml");
    assert!(guide.contains(&format!("export COMITY_TRUST={}", trust.display())) && guide.contains("log audit --state audit.json"), "{guide}");
    let keys = comity_client::audit::AuthorityKeys::load(&[&trust]).unwrap();
    for n in &demo.nodes {
        let mut client = Client::connect(&n.node.url()).await.unwrap();
        let (report, state) = comity_client::audit::audit(&mut client, None, None, &keys).await.unwrap_or_else(|e| panic!("audit of {}: {e}", n.name));
        assert!(report.checkpoint.size > 10 && !state.key_sets.is_empty(), "{}: {report:?}", n.name);
        comity_client::audit::audit(&mut client, Some(&state), None, &keys).await.unwrap();
    }

    // The guide's publish, run as printed with the real CLI from inside the demo directory (the
    // bafa node is the CLI's default node in a real demo; here it is on a free port).
    let publish = guide.lines().map(str::trim).find(|l| l.starts_with("comity publish ")).expect("the guide publishes an example");
    let words: Vec<String> = publish.split("   (").next().unwrap().split_whitespace().skip(1).map(String::from).collect();
    let (bafa_url, demo_dir) = (demo.nodes[0].node.url(), tmp.path().join("demo"));
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(comity_tests::bin_path("comity")).args(&words).env("COMITY_NODE", bafa_url).current_dir(demo_dir).output().unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "`{publish}` failed: {}{stdout}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("published de.bafa/DE-2026-009001 v1 GRANT"), "{stdout}");

    // Re-running the demo in the same directory replaces it; a foreign directory is refused.
    for n in demo.nodes {
        n.node.shutdown().await.unwrap();
    }
    let again = comity_node::ops::demo::start(&tmp.path().join("demo"), demo_listeners().await, vec![None; 3]).await.expect("demo restarts in its own dir");
    for n in again.nodes {
        n.node.shutdown().await.unwrap();
    }
    std::fs::create_dir_all(tmp.path().join("precious")).unwrap();
    let refused = comity_node::ops::demo::start(&tmp.path().join("precious"), demo_listeners().await, vec![None; 3]).await;
    assert!(refused.err().unwrap().to_string().contains("was not created by"));
}
