//! The demo data set goes through the normal publish path and every suggested command finds data.

use comity_client::Client;
use comity_proto::pb::{self, LicenceStatus};
use tokio::net::TcpListener;

#[tokio::test]
async fn demo_publishes_a_realistic_data_set_and_its_suggestions_find_data() {
    let tmp = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let demo = comity_node::demo::start(&tmp.path().join("demo"), listener, Some("127.0.0.1:0".parse().unwrap())).await.expect("demo starts");
    assert!(demo.decisions >= 50, "only {} decisions", demo.decisions);
    assert!(demo.licences >= 30);

    let mut client = Client::connect(&demo.node.url()).await.unwrap();
    let all = client.search_all(pb::SearchRequest::default(), 1000).await.unwrap();
    assert_eq!(all.len(), demo.licences);
    for status in [LicenceStatus::Issued, LicenceStatus::Denied, LicenceStatus::Revoked, LicenceStatus::Suspended, LicenceStatus::Expired] {
        assert!(all.iter().any(|s| s.status == status as i32), "no {status:?} licence in the demo");
    }
    // Every licence's chain verifies on the client side.
    for s in &all {
        client.licence(&s.authority, &s.licence_id).await.unwrap_or_else(|e| panic!("{}/{}: {e}", s.authority, s.licence_id));
    }

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
    // Re-running the demo in the same directory replaces it; a foreign directory is refused.
    demo.node.shutdown().await.unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let again = comity_node::demo::start(&tmp.path().join("demo"), listener, None).await.expect("demo restarts in its own dir");
    again.node.shutdown().await.unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    std::fs::create_dir_all(tmp.path().join("precious")).unwrap();
    let refused = comity_node::demo::start(&tmp.path().join("precious"), listener, None).await;
    assert!(refused.err().unwrap().to_string().contains("was not created by"));
}
