//! `comity-node demo`: a local federation of three registry nodes hosting sample authorities,
//! each mirroring and verifying the other two, filled with a realistic data set published
//! through the normal verification path at each authority's own node.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use comity_proto::keyfile::KeyFile;
use comity_proto::pb;
use comity_proto::statement::{sign_decision, sign_statement, StatementId};
use comity_proto::trust::{sign_key_set, TrustFile, TrustedAuthority};
use tokio::net::TcpListener;

use crate::config::{AuthorityConfig, Config, PeerConfig};
use crate::log::{load_or_create_key, load_or_create_witness_key};
use crate::now;
use crate::server::RunningNode;

pub mod data;

/// Marks a directory as created by the demo, so re-running may wipe it and nothing else.
const DEMO_MARKER: &str = "COMITY-DEMO";

/// The repository's example decision documents, written into the demo directory so the
/// guide's `comity publish DIR/examples/grant.yaml` works wherever the demo was started from.
const EXAMPLES: [(&str, &str); 5] = [
    ("grant.yaml", include_str!("../../../../examples/grant.yaml")),
    ("amend.yaml", include_str!("../../../../examples/amend.yaml")),
    ("suspend.yaml", include_str!("../../../../examples/suspend.yaml")),
    ("lodged.yaml", include_str!("../../../../examples/lodged.yaml")),
    ("deny.json", include_str!("../../../../examples/deny.json")),
];

/// How long the demo waits for the nodes to mirror each other before giving up.
const CONVERGENCE_TIMEOUT: Duration = Duration::from_secs(60);

/// One node of the demo federation: who runs it and which authorities publish there.
struct Site {
    name: &'static str,
    origin: &'static str,
    authorities: &'static [&'static str],
}

/// The three nodes. ETH Zurich's export-control office has no node of its own here and
/// publishes through the BAFA node, as a small office would through a partner's.
const SITES: [Site; 3] = [
    Site { name: "bafa", origin: "registry.bafa.example/log", authorities: &["de.bafa", "uni.ethz"] },
    Site { name: "ecju", origin: "registry.ecju.example/log", authorities: &["uk.ecju"] },
    Site { name: "meti", origin: "registry.meti.example/log", authorities: &["jp.meti"] },
];

/// A running node of the demo.
pub struct DemoNode {
    pub name: &'static str,
    pub authorities: &'static [&'static str],
    pub node: RunningNode,
}

/// What the demo set up.
pub struct Demo {
    pub nodes: Vec<DemoNode>,
    pub dir: PathBuf,
    pub decisions: usize,
    pub licences: usize,
    /// Search and show commands that find something in this data set.
    pub tries: Vec<String>,
    /// Verify commands with their verdicts at the METI node.
    pub verify_tries: Vec<String>,
    /// A confidential BAFA licence, readable only by the METI node: (authority, licence id).
    pub confidential: (String, String),
}

/// Creates `dir` afresh (refusing to touch a directory the demo did not create), writes keys
/// and configs, starts the three nodes on `listeners` (HTTP tiles on `http`, if given),
/// publishes the data set and waits until every node has mirrored the others.
pub async fn start(dir: &Path, listeners: Vec<TcpListener>, http: Vec<Option<SocketAddr>>) -> anyhow::Result<Demo> {
    let no_metrics = vec![None; http.len()];
    start_with_metrics(dir, listeners, http, no_metrics).await
}

/// Like [`start`], with each node's Prometheus metrics on `metrics` (if given).
pub async fn start_with_metrics(
    dir: &Path,
    listeners: Vec<TcpListener>,
    http: Vec<Option<SocketAddr>>,
    metrics: Vec<Option<SocketAddr>>,
) -> anyhow::Result<Demo> {
    anyhow::ensure!(listeners.len() == SITES.len() && http.len() == SITES.len() && metrics.len() == SITES.len(), "the demo needs {} listeners", SITES.len());
    prepare_dir(dir)?;
    // Absolute, so the paths the guide prints work from any directory.
    let dir = &std::path::absolute(dir).with_context(|| format!("resolve {}", dir.display()))?;
    let examples_dir = dir.join("examples");
    std::fs::create_dir_all(&examples_dir).with_context(|| format!("create {}", examples_dir.display()))?;
    for (name, text) in EXAMPLES {
        std::fs::write(examples_dir.join(name), text).with_context(|| format!("write {}", examples_dir.join(name).display()))?;
    }
    let lists_dir = dir.join("lists");
    std::fs::create_dir_all(&lists_dir).with_context(|| format!("create {}", lists_dir.display()))?;
    for (name, text) in data::lists::FILES {
        std::fs::write(lists_dir.join(name), text).with_context(|| format!("write {}", lists_dir.join(name).display()))?;
    }
    let keys_dir = dir.join("keys");
    std::fs::create_dir_all(&keys_dir).with_context(|| format!("create {}", keys_dir.display()))?;

    let mut authorities = HashMap::new();
    let mut signers = HashMap::new();
    let mut customs_signers = HashMap::new();
    let mut key_sets = Vec::new();
    let mut trust = TrustFile::default();
    for authority in data::authorities() {
        let key = KeyFile::generate(authority.id);
        key.write(&keys_dir.join(format!("{}.key", authority.id)))?;
        authorities.insert(authority.id, AuthorityConfig { id: authority.id.into(), name: authority.name.into(), keys: vec![key.public_key.clone()] });
        let signer = key.signer().map_err(anyhow::Error::msg)?;
        // Three root keys, two of which sign the key set (an agency keeps them offline).
        let roots: Vec<KeyFile> = (1..=3).map(|_| KeyFile::generate(authority.id)).collect();
        for (i, root) in roots.iter().enumerate() {
            root.write(&keys_dir.join(format!("{}.root-{}.key", authority.id, i + 1)))?;
        }
        let root_signers = roots.iter().take(2).map(|r| r.signer().map_err(anyhow::Error::msg)).collect::<anyhow::Result<Vec<_>>>()?;
        let mut keys = vec![pb::SigningKey { public_key: signer.verifying_key().to_bytes().to_vec(), ..Default::default() }];
        // A customs office the authority delegates: its key signs write-offs only.
        if let Some((_, holder)) = data::usage::CUSTOMS.iter().find(|(a, _)| *a == authority.id) {
            let customs = KeyFile::generate(authority.id);
            customs.write(&keys_dir.join(format!("{}.customs.key", authority.id)))?;
            let customs = customs.signer().map_err(anyhow::Error::msg)?;
            keys.push(pb::SigningKey {
                public_key: customs.verifying_key().to_bytes().to_vec(),
                role: pb::KeyRole::Customs as i32,
                holder: (*holder).into(),
                ..Default::default()
            });
            customs_signers.insert(authority.id.to_string(), customs);
        }
        let set = pb::KeySet { authority: authority.id.into(), version: 1, keys, issued_at: now() };
        key_sets.push((authority.id, sign_key_set(set, &root_signers.iter().collect::<Vec<_>>())));
        let home = SITES.iter().find(|s| s.authorities.contains(&authority.id)).context("demo authority without a node")?;
        std::fs::create_dir_all(dir.join(home.name))?;
        trust.authorities.push(TrustedAuthority {
            id: authority.id.into(),
            name: authority.name.into(),
            threshold: 2,
            root_keys: roots.iter().map(|r| r.public_key.clone()).collect(),
            logs: vec![load_or_create_key(&dir.join(home.name).join("log.key"), home.origin)?.verifier().to_string()],
            ..Default::default()
        });
        signers.insert(authority.id.to_string(), signer);
    }
    // Log keys first: each node's peers must know them.
    let mut peers = Vec::new();
    for (site, listener) in SITES.iter().zip(&listeners) {
        let data_dir = dir.join(site.name);
        std::fs::create_dir_all(&data_dir)?;
        let key = load_or_create_key(&data_dir.join("log.key"), site.origin)?;
        let witness_name = Config { origin: site.origin.into(), ..Config::default() }.witness_name();
        let witness = load_or_create_witness_key(&data_dir.join("witness.key"), &witness_name)?;
        peers.push(PeerConfig {
            id: site.name.into(),
            url: format!("http://{}", listener.local_addr()?),
            log_key: key.verifier().to_string(),
            witness_key: Some(witness.verifier().to_string()),
            tls_name: None,
            relay: false,
        });
    }
    // The trust file every node (and a relying party) uses: roots, log keys, and the nodes'
    // witnesses, one of whose cosignatures a checkpoint needs to count.
    trust.witnesses = peers.iter().filter_map(|p| p.witness_key.clone()).collect();
    trust.witness_quorum = 1;
    let trust_path = dir.join("trust.toml");
    std::fs::write(&trust_path, trust.to_toml()).context("write demo trust file")?;
    let mut nodes = Vec::new();
    for (i, (site, listener)) in SITES.iter().zip(listeners).enumerate() {
        let config = Config {
            data_dir: dir.join(site.name),
            listen: listener.local_addr()?,
            http_listen: http[i],
            metrics_listen: metrics[i],
            origin: site.origin.into(),
            authorities: site.authorities.iter().map(|a| authorities[a].clone()).collect(),
            trusted: SITES.iter().filter(|o| o.name != site.name).flat_map(|o| o.authorities).map(|a| authorities[a].clone()).collect(),
            peers: peers.iter().filter(|p| p.id != site.name).cloned().collect(),
            mirror_interval_ms: 200,
            trust_file: Some(trust_path.clone()),
            // A federation on one machine for trying things out: plaintext on loopback, with the warning.
            insecure_plaintext: true,
            ..Config::default()
        };
        config.check()?;
        std::fs::write(dir.join(site.name).join("comity.toml"), config.to_toml()).context("write demo config")?;
        nodes.push(DemoNode { name: site.name, authorities: site.authorities, node: RunningNode::start(config, listener).await? });
    }

    let home_of = |authority: &str| nodes.iter().find(|n| n.authorities.contains(&authority)).context("demo authority without a node");
    for (authority, envelope) in key_sets {
        home_of(authority)?.node.publish(envelope, None).await.with_context(|| format!("publish demo key set of {authority}"))?;
    }
    // Control lists and crosswalks before the decisions checked against them.
    let mut previous: HashMap<(String, i32), StatementId> = HashMap::new();
    for (publisher, mut kind) in data::lists::statements(now()) {
        let signer = signers.get(publisher).context("demo list without a publisher key")?;
        let list_key = match &mut kind {
            pb::statement::Kind::ControlList(l) => {
                let key = (l.authority.clone(), l.regime);
                if let Some(id) = previous.get(&key) {
                    l.previous = id.0.to_vec();
                }
                Some(key)
            }
            _ => None,
        };
        let envelope = sign_statement(&pb::Statement { kind: Some(kind) }, &[signer]);
        let published = home_of(publisher)?.node.publish(envelope, None).await.with_context(|| format!("publish demo control list of {publisher}"))?;
        if let Some(key) = list_key {
            previous.insert(key, published.id);
        }
    }
    for agreement in data::agreements(now()) {
        let relying = agreement.relying_authority.clone();
        let signer = signers.get(&relying).context("demo agreement without a relying authority key")?;
        let envelope = sign_statement(&pb::Statement { kind: Some(pb::statement::Kind::Agreement(agreement)) }, &[signer]);
        home_of(&relying)?.node.publish(envelope, None).await.with_context(|| format!("publish demo agreement of {relying}"))?;
    }
    let mut heads: HashMap<(String, String), StatementId> = HashMap::new();
    let docs = data::decisions(now());
    for doc in &docs {
        let mut decision = doc.to_wire().with_context(|| format!("demo decision for {}", doc.licence_id))?;
        let licence = (decision.authority.clone(), decision.licence_id.clone());
        if let Some(head) = heads.get(&licence) {
            decision.previous = head.0.to_vec();
        }
        let signer = signers.get(&decision.authority).context("demo authority without key")?;
        let home = nodes.iter().find(|n| n.authorities.contains(&decision.authority.as_str())).context("demo authority without a node")?;
        let published = home
            .node
            .publish(sign_decision(decision, signer), None)
            .await
            .with_context(|| format!("publish demo decision {}/{} v{:?}", licence.0, licence.1, doc.version))?;
        heads.insert(licence, published.id);
    }
    let confidential = confidential_decision(now());
    let meti_origin = SITES.iter().find(|s| s.name == "meti").context("demo has no meti site")?.origin;
    let (restricted, body) = comity_proto::restricted::seal(&confidential, vec![meti_origin.to_string()], rand::random());
    let signer = signers.get(&confidential.authority).context("demo authority without key")?;
    let envelope = sign_statement(&pb::Statement { kind: Some(pb::statement::Kind::RestrictedDecision(restricted)) }, &[signer]);
    home_of(&confidential.authority)?.node.publish(envelope, Some(body)).await.context("publish the demo's confidential decision")?;
    // Rulings and the general licence last: the log indices of everything before stay as the
    // README quotes them.
    // Each of them the first decision of its licence.
    let mut general = 0;
    for decision in data::rulings::general_licence_and_registration(now()) {
        general += 1;
        let signer = signers.get(&decision.authority).context("demo authority without key")?;
        let what = format!("{}/{}", decision.authority, decision.licence_id);
        home_of(&decision.authority)?.node.publish(sign_decision(decision, signer), None).await.with_context(|| format!("publish demo licence {what}"))?;
    }
    for (ruling, confidential) in data::rulings::rulings(now()) {
        let signer = signers.get(&ruling.authority).context("demo ruling without a publisher key")?;
        let authority = ruling.authority.clone();
        // The applicant of a confidential ruling keeps its opening; the demo has no use for it.
        let ruling = if confidential { comity_proto::ruling::seal(ruling, rand::random()).0 } else { ruling };
        let envelope = sign_statement(&pb::Statement { kind: Some(pb::statement::Kind::ClassificationRuling(ruling)) }, &[signer]);
        home_of(&authority)?.node.publish(envelope, None).await.context("publish a demo classification ruling")?;
    }
    wait_for_convergence(&nodes).await?;
    consult(&nodes, &signers, &docs, &mut heads).await?;
    let written_off = write_offs(&nodes, &signers, &customs_signers, &mut heads).await?;
    wait_for_convergence(&nodes).await?;
    let confidential = (confidential.authority, confidential.licence_id);
    wait_for_body(&nodes, &confidential).await?;
    // The re-export chain last of all: the log indices of everything before stay as the README
    // quotes them.
    re_export(&nodes, &signers).await?;
    wait_for_convergence(&nodes).await?;
    let tries = suggested_commands(&docs);
    let verify_tries = suggested_verifications(&nodes, &heads)?;
    // The data set's decisions, the general licence and registration, METI's grant after
    // consultation and the write-offs' licences (in `heads` already), and the re-export chain's
    // three decisions on two licences.
    Ok(Demo {
        nodes,
        dir: dir.to_path_buf(),
        decisions: docs.len() + general + 1 + written_off + 3,
        licences: heads.len() + general + 2,
        tries,
        verify_tries,
        confidential,
    })
}

/// The no-undercut consultations (docs/consultation.md), once every node holds BAFA's denials:
/// METI consults BAFA, BAFA answers, METI grants citing the consultation; ECJU's consultation
/// stays open for BAFA to answer in the guide.
async fn consult(
    nodes: &[DemoNode],
    signers: &HashMap<String, comity_proto::statement::Signer>,
    docs: &[comity_proto::authoring::DecisionDoc],
    heads: &mut HashMap<(String, String), StatementId>,
) -> anyhow::Result<()> {
    use data::consultations as c;
    let home_of = |authority: &str| nodes.iter().find(|n| n.authorities.contains(&authority)).context("demo authority without a node");
    let denial_of = |end_user: &str| -> anyhow::Result<(String, Vec<u8>)> {
        let doc = docs
            .iter()
            .find(|d| d.authority == "de.bafa" && d.action == comity_proto::authoring::ActionName::Deny && d.end_users.iter().any(|p| p.name == end_user))
            .with_context(|| format!("the demo has no BAFA denial to {end_user}"))?;
        let head = heads.get(&(doc.authority.clone(), doc.licence_id.clone())).context("demo denial without a head")?;
        Ok((format!("de.bafa/{}", doc.licence_id), head.0.to_vec()))
    };
    let publish = |authority: &'static str, kind: pb::statement::Kind| -> anyhow::Result<Vec<u8>> {
        let signer = signers.get(authority).context("demo authority without key")?;
        Ok(sign_statement(&pb::Statement { kind: Some(kind) }, &[signer]))
    };
    let (mmic, mmic_head) = denial_of(c::MMIC_END_USER)?;
    let request = publish("jp.meti", pb::statement::Kind::ConsultationRequest(c::meti_request(now(), &mmic, mmic_head)))?;
    let request = home_of("jp.meti")?.node.publish(request, None).await.context("publish METI's demo consultation")?;
    let (fibre, fibre_head) = denial_of(c::CARBON_FIBRE_END_USER)?;
    let open = publish("uk.ecju", pb::statement::Kind::ConsultationRequest(c::ecju_request(now(), &fibre, fibre_head)))?;
    home_of("uk.ecju")?.node.publish(open, None).await.context("publish ECJU's demo consultation")?;
    let bafa = home_of("de.bafa")?;
    wait_for(
        || crate::consultation::held(bafa.node.registry().store(), "jp.meti", c::METI_CONSULTATION).ok().flatten().map(|_| ()),
        "BAFA's node to hold METI's consultation",
    )
    .await?;
    let answer = publish("de.bafa", pb::statement::Kind::ConsultationAnswer(c::bafa_answer(now(), request.id.0.to_vec())))?;
    bafa.node.publish(answer, None).await.context("publish BAFA's demo answer")?;
    let meti = home_of("jp.meti")?;
    wait_for(
        || {
            let held = crate::consultation::held(meti.node.registry().store(), "jp.meti", c::METI_CONSULTATION).ok().flatten()?;
            let answered = held.answers_from_denier().next().is_some();
            answered.then_some(())
        },
        "METI's node to hold BAFA's answer",
    )
    .await?;
    let signer = signers.get("jp.meti").context("demo authority without key")?;
    let grant = meti.node.publish(sign_decision(c::meti_grant(now()), signer), None).await.context("publish METI's demo grant after consultation")?;
    heads.insert(("jp.meti".into(), c::METI_GRANT.into()), grant.id);
    let check = sign_statement(&pb::Statement { kind: Some(pb::statement::Kind::EndUseCheck(c::meti_end_use_check(now()))) }, &[signer]);
    meti.node.publish(check, None).await.context("publish METI's demo end-use check")?;
    Ok(())
}

/// Usage and drawdown (docs/usage-and-drawdown.md): BAFA grants two licences and German
/// customs writes shipments off against them, using one up. Returns the decisions published.
async fn write_offs(
    nodes: &[DemoNode],
    signers: &HashMap<String, comity_proto::statement::Signer>,
    customs: &HashMap<String, comity_proto::statement::Signer>,
    heads: &mut HashMap<(String, String), StatementId>,
) -> anyhow::Result<usize> {
    use data::usage as u;
    let home_of = |authority: &str| nodes.iter().find(|n| n.authorities.contains(&authority)).context("demo authority without a node");
    let mut published = 0;
    let mut versions: HashMap<String, u64> = HashMap::new();
    let mut terms: HashMap<String, pb::Decision> = HashMap::new();
    for grant in u::licences(now()) {
        let signer = signers.get(&grant.authority).context("demo authority without key")?;
        let licence = grant.licence_id.clone();
        let done = home_of(&grant.authority)?
            .node
            .publish(sign_decision(grant.clone(), signer), None)
            .await
            .with_context(|| format!("publish demo licence {licence}"))?;
        heads.insert((grant.authority.clone(), licence.clone()), done.id);
        versions.insert(licence.clone(), 1);
        terms.insert(licence, grant);
        published += 1;
    }
    for (licence, reporter, shipment) in u::shipments(now()) {
        let grant = terms.get(licence).context("demo write-off against an unknown licence")?;
        let key = (grant.authority.clone(), licence.to_string());
        let version = versions.get(licence).copied().unwrap_or_default() + 1;
        let decision = pb::Decision {
            authority: grant.authority.clone(),
            licence_id: licence.into(),
            version,
            previous: heads.get(&key).context("demo write-off without a head")?.0.to_vec(),
            action: pb::Action::WriteOff as i32,
            application_received: grant.application_received,
            decided_at: shipment.shipped_on + 3600,
            reported_by: reporter.into(),
            shipment: Some(shipment),
            ..Default::default()
        };
        let signer = customs.get(reporter).context("demo write-off without a customs key")?;
        let done = home_of(&grant.authority)?
            .node
            .publish(sign_decision(decision, signer), None)
            .await
            .with_context(|| format!("write off against demo licence {licence}"))?;
        heads.insert(key, done.id);
        versions.insert(licence.to_string(), version);
        published += 1;
    }
    Ok(published)
}

/// The re-export chain (docs/re-export.md): BAFA's licence and its consent at BAFA's node, then,
/// once METI's node holds the consent, METI's re-export licence citing it.
async fn re_export(nodes: &[DemoNode], signers: &HashMap<String, comity_proto::statement::Signer>) -> anyhow::Result<()> {
    use data::re_export as rx;
    let home_of = |authority: &str| nodes.iter().find(|n| n.authorities.contains(&authority)).context("demo authority without a node");
    let bafa_key = signers.get("de.bafa").context("demo authority without key")?;
    let bafa = home_of("de.bafa")?;
    let granted = bafa.node.publish(sign_decision(rx::parent(now()), bafa_key), None).await.context("publish the demo's re-exported licence")?;
    bafa.node.publish(sign_decision(rx::consent(now(), granted.id.0.to_vec()), bafa_key), None).await.context("publish BAFA's demo consent")?;
    let meti = home_of("jp.meti")?;
    wait_for(
        || {
            let held = meti.node.registry().store().licence("de.bafa", rx::PARENT).ok().flatten()?;
            (held.version == 2).then_some(())
        },
        "METI's node to hold BAFA's consent",
    )
    .await?;
    let meti_key = signers.get("jp.meti").context("demo authority without key")?;
    meti.node.publish(sign_decision(rx::child(now()), meti_key), None).await.context("publish METI's demo re-export licence")?;
    Ok(())
}

/// Polls `ready` until it holds (mirroring runs every few hundred milliseconds), for at most 30 s.
async fn wait_for(ready: impl Fn() -> Option<()>, what: &str) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while ready().is_none() {
        anyhow::ensure!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// A sensitive case BAFA shares only with METI: infrared cameras for a Japanese space
/// programme, granted as a confidential decision (its terms never leave the two nodes).
fn confidential_decision(now: i64) -> pb::Decision {
    const DAY: i64 = 86_400;
    let decided = now - 20 * DAY;
    let party = |name: &str, country: &str| pb::Party { name: name.into(), country: country.into(), ..Default::default() };
    pb::Decision {
        authority: "de.bafa".into(),
        // A fixed number, like every demo licence's (the README quotes it).
        licence_id: "DE-2026-VS-0117".into(),
        version: 1,
        action: pb::Action::Grant as i32,
        licence_type: pb::LicenceType::Individual as i32,
        applicant: Some(party("Aurelian Optik GmbH", "DE")),
        end_users: vec![party("Hokuriku Institute of Applied Photonics", "JP")],
        end_use: "Infrared payload of a national Earth-observation satellite; end-use certificate held by BAFA (VS-NfD)".into(),
        items: vec![pb::Item {
            regime: pb::Regime::EuDualUse as i32,
            control_code: "6A003.b.4".into(),
            description: "Thermal imaging cameras with focal plane arrays, space-qualified".into(),
            quantity: "12".into(),
            unit: "pcs".into(),
            value_minor: 186_000_000,
            currency: "EUR".into(),
        }],
        destinations: vec!["JP".into()],
        valid_from: decided,
        valid_until: decided + 365 * DAY,
        risk_tier: 3,
        conditions: vec!["No re-export or transfer without BAFA's prior written consent".into()],
        application_received: decided - 61 * DAY,
        decided_at: decided,
        ..Default::default()
    }
}

/// Waits until the METI node holds the confidential decision's body (fetched after mirroring).
async fn wait_for_body(nodes: &[DemoNode], (authority, licence_id): &(String, String)) -> anyhow::Result<()> {
    let meti = nodes.iter().find(|n| n.name == "meti").context("demo has no meti node")?;
    let deadline = Instant::now() + CONVERGENCE_TIMEOUT;
    while meti.node.registry().licence(authority, licence_id)?.and_then(|v| v.state).is_none() {
        anyhow::ensure!(Instant::now() < deadline, "the METI node did not receive the confidential decision {authority}/{licence_id}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// Waits until every node's mirror of every peer holds that peer's whole log, and every node
/// holds a cosigned checkpoint of every log at its full size.
async fn wait_for_convergence(nodes: &[DemoNode]) -> anyhow::Result<()> {
    let deadline = Instant::now() + CONVERGENCE_TIMEOUT;
    loop {
        let mut behind = Vec::new();
        for n in nodes {
            for peer in nodes.iter().filter(|p| p.name != n.name) {
                let origin = peer.node.log_verifier().name();
                let theirs = peer.node.registry().store().log(origin).size()?;
                let ours = n.node.mirror_status(peer.name).map_or(0, |s| s.size);
                if ours < theirs {
                    behind.push(format!("{} has {ours} of {}'s {theirs} entries", n.name, peer.name));
                }
                // Every node shows the same cosigned checkpoint for every log.
                for log in [origin, n.node.log_verifier().name()] {
                    let cosigned = n.node.registry().store().log(log).cosigned()?;
                    let size = cosigned.as_deref().and_then(comity_proto::witness::note_size).unwrap_or(0);
                    let latest =
                        nodes.iter().find(|o| o.node.log_verifier().name() == log).map(|o| o.node.registry().store().log(log).size()).transpose()?.unwrap_or(0);
                    if size < latest {
                        behind.push(format!("{} holds no cosigned checkpoint of {log} at size {latest} yet", n.name));
                    }
                }
            }
        }
        if behind.is_empty() {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "demo nodes did not converge: {}", behind.join("; "));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Picks examples from the data: the longest decision chain, the commonest destination,
/// control code and applicant word, so every suggested command finds something.
fn suggested_commands(docs: &[comity_proto::authoring::DecisionDoc]) -> Vec<String> {
    fn commonest(items: impl Iterator<Item = String>) -> Option<String> {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for i in items {
            *counts.entry(i).or_default() += 1;
        }
        counts.into_iter().max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0))).map(|(k, _)| k)
    }
    let mut tries = Vec::new();
    if let Some(d) = commonest(docs.iter().flat_map(|d| d.destinations.clone())) {
        tries.push(format!("comity search --destination {d}"));
    }
    tries.push("comity search --status revoked".into());
    tries.push("comity search --status under-appeal".into());
    if let Some(code) = commonest(docs.iter().flat_map(|d| d.items.iter().map(|i| i.control_code.chars().take(5).collect()))) {
        tries.push(format!("comity search --control-code {code}"));
    }
    let denied_applicant = docs
        .iter()
        .filter(|d| d.action == comity_proto::authoring::ActionName::Deny)
        .find_map(|d| d.applicant.as_ref().and_then(|a| a.name.split_whitespace().next().map(str::to_lowercase)));
    if let Some(word) = denied_applicant {
        tries.push(format!("comity search --party {word}"));
    }
    if let Some(longest) = docs.iter().max_by_key(|d| (d.version.unwrap_or(1), std::cmp::Reverse(d.licence_id.clone()))) {
        tries.push(format!("comity licence show {}/{}", longest.authority, longest.licence_id));
    }
    tries
}

/// `comity verify` commands for BAFA licences checked by METI, one per verdict the data
/// reaches, each with the verdict the METI node gives.
fn suggested_verifications(nodes: &[DemoNode], heads: &HashMap<(String, String), StatementId>) -> anyhow::Result<Vec<String>> {
    let meti = nodes.iter().find(|n| n.name == "meti").context("demo has no meti node")?;
    let mut licences: Vec<&(String, String)> = heads.keys().filter(|(a, _)| a == "de.bafa").collect();
    licences.sort();
    let mut seen = Vec::new();
    let mut out = Vec::new();
    // Each licence is asked about once: nothing to keep between answers.
    let no_cache = crate::service::verify::VerifyCache::new(0);
    for (authority, licence_id) in licences {
        let Some(state) = meti.node.registry().licence(authority, licence_id)?.and_then(|v| v.state) else { continue };
        let terms = &state.terms;
        let mut args = format!("{authority}/{licence_id} --for jp.meti");
        let mut context = comity_proto::recognition::Context { at: now(), ..Default::default() };
        if let Some(d) = terms.destinations.first() {
            args.push_str(&format!(" --destination {d}"));
            context.destination = Some(d.clone());
        }
        if let Some(item) = terms.items.first() {
            let code = comity_proto::authoring::qualified_control_code(item);
            args.push_str(&format!(" --item {code}"));
            context.control_code = Some(code);
        }
        let question =
            comity_proto::verdict::Question { authority: authority.clone(), licence_id: licence_id.clone(), relying_authority: "jp.meti".into(), context };
        let answer = crate::service::verify::verify(meti.node.registry(), &no_cache, &question, comity_proto::verdict::DEFAULT_MAX_STALENESS_SECS, now())?;
        let verdict = pb::Verdict::try_from(answer.verdict).map_or("?", |v| v.as_str_name()).trim_start_matches("VERDICT_").to_string();
        if !seen.contains(&verdict) {
            out.push(format!("comity --node {} verify {args}   ({verdict})", meti.node.url()));
            seen.push(verdict);
        }
    }
    Ok(out)
}

fn prepare_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        if !dir.join(DEMO_MARKER).exists() {
            anyhow::bail!("{} exists and was not created by `comity-node demo`; choose another --dir", dir.display());
        }
        std::fs::remove_dir_all(dir).with_context(|| format!("remove old demo dir {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    std::fs::write(dir.join(DEMO_MARKER), "created by comity-node demo; safe to delete\n")?;
    Ok(())
}

/// The "what to try next" text printed after the demo starts.
pub fn guide(demo: &Demo) -> String {
    let dir = demo.dir.display();
    let first = &demo.nodes[0].node;
    let nodes: Vec<String> = demo
        .nodes
        .iter()
        .map(|n| {
            let tiles = n.node.http_addr().map(|a| format!("  web http://{a}/")).unwrap_or_default();
            let tiles = tiles + &n.node.metrics_addr().map(|a| format!("  metrics http://{a}/metrics")).unwrap_or_default();
            format!("  {:<5} {}{tiles}  hosts {}  log {}", n.name, n.node.url(), n.authorities.join(", "), n.node.log_verifier().name())
        })
        .collect();
    let meti_url = demo.nodes.iter().find(|n| n.name == "meti").map_or_else(|| first.url(), |n| n.node.url());
    format!(
        "\
Comity demo federation: three registry nodes, each mirroring and verifying the other two
{nodes}
  published {decisions} signed decisions on {licences} licences, each at its authority's own node;
  every node now holds and has verified all of them. Keys and configs: {dir}/

Try, in another terminal (the paths work from any directory; `comity` talks to the bafa node unless --node says otherwise):
  alias comity='cargo run -q --bin comity --'
  export COMITY_TRUST={dir}/trust.toml    (verify, licence show, token verify and log audit check every answer against it)
{tries}
  comity --node {meti_url} search --authority de.bafa      (BAFA's licences, read at the METI node)
  comity publish {dir}/examples/grant.yaml --key {dir}/keys/de.bafa.key   (the repository's examples/, copied here)
  comity --node {meti_url} licence show de.bafa/DE-2026-009001   (mirrored within a second)
  comity log checkpoint                   (the bafa node's log key: {verifier})
  comity log audit --state audit.json     (every entry, the licence-state map and the witness quorum)
  comity peers                            (every log with the checkpoint the other nodes cosigned)
  comity evidence                         (licence forks and split views this node has seen)
  grpcurl -plaintext {addr} list          (server reflection and grpc.health.v1 are on)
Verify in a browser (the verification page, licence search, authorities with their statistics, the federation):
  {web}
Follow decisions as they happen, and applications under review:
  comity --node {meti_url} watch --from-start --until-caught-up --kind revocation   (every revocation in the federation)
  comity watch --cursor-file demo.cursor  (new events; stop it, run it again: it continues exactly)
  comity search --status under-review     (applications tracked by milestones; `licence show` prints the timeline)
Control lists and the crosswalk between regimes (BAFA's Annex I after a review, METI's Wassenaar list; CSV files in {dir}/lists/):
  comity list ls                          (every list and crosswalk the node holds)
  comity list show de.bafa EU-DU          (the entries, and what the review added, amended and removed)
  comity code EU-DU:3A001.b.2             (the entry in every list, its Wassenaar, UK and US equivalents, the licences under any of them)
  comity screen \"ООО «Уральские электронные системы»\"   (BAFA's end-user alert list, fictitious entries: a Cyrillic spelling of a listed name)
No-undercut consultations (a grant of what a partner denied needs an answered consultation or an override with reasons):
  comity consult ls                       (METI consulted BAFA before granting; ECJU's consultation waits for BAFA's answer)
  comity consult answer uk.ecju/GB-CONS-2026-0112 --position objection --text \"Our denial stands.\" --key {dir}/keys/de.bafa.key
  comity --node {meti_url} licence show jp.meti/JP-METI-2026-02406   (the grant names the consultation it followed, and its post-shipment check)
Usage and drawdown (customs write shipments off against a licence's balance; a licence used up is EXHAUSTED):
  comity licence show de.bafa/DE-2026-007315   (25 of 40 GaN amplifiers written off by German customs; each decision's delivery to the partners)
  comity --node {meti_url} write-off de.bafa/DE-2026-007315 --declaration 2611-NRT-004417 --item 1=6 --destination JP --customs-office \"Tokyo Customs, Narita Airport Branch\" --key {dir}/keys/jp.meti.customs.key   (Japan Customs at METI's node, relayed to BAFA's)
  comity verify de.bafa/DE-2026-007315 --for jp.meti --destination JP --item EU-DU:3A001.b.2 --quantity 20   (OVER_BALANCE once fewer than 20 remain)
Verify BAFA licences as Japan's METI would (its recognition agreement with BAFA, in Wassenaar numbers, counts Annex I codes through METI's crosswalk):
{verify_tries}
  comity --node {meti_url} token export {valid} --for jp.meti -o licence.token
Classification rulings (BAFA) and a general licence with an exporter registered under it (ECJU):
  comity ruling ls                        (rulings in force: a controlled MMIC, a \"not listed\" one, a confidential one)
  comity ruling show de.bafa/DE-CR-2026-0115
  comity --node {ecju_url} licence show uk.ecju/{registration}   (the registration, and the general licence it is under)
  comity --node {ecju_url} verify uk.ecju/{registration} --destination NZ --item UK:3A001.b.2 --end-use \"return after repair under warranty\"
A re-export across authorities (BAFA consents on its licence's chain; METI licenses the re-export to Thailand):
  comity --node {meti_url} licence show jp.meti/{rx_child}   (its parent licence, its status, and BAFA's consent)
  comity --node {meti_url} verify jp.meti/{rx_child} --destination TH --item EU-DU:3A001.a.1.a   (VALID: parent in force, consent covers it)
  comity licence show de.bafa/{rx_parent}   (BAFA's licence: the consent, and the re-export licence held here)
A confidential licence, shared by BAFA with METI only (everyone can prove it exists, no more):
  comity --node {meti_url} licence show {confidential}    (METI's node: full terms)
  comity --node {ecju_url} licence show {confidential}    (ECJU's node: CONFIDENTIAL)
  comity --node {ecju_url} verify {confidential} --for uk.ecju   (RESTRICTED, with the proof it was logged)
  comity token verify licence.token --for jp.meti   (offline, no node: the chain must end at the proven head)
  comity token qr licence.token -o code.png   (its QR code: the head decision under a signed checkpoint)
  comity --node {meti_url} token verify --qr code.png --for jp.meti   (the code's head still the head?)

Press Ctrl-C to stop.",
        nodes = nodes.join("\n"),
        decisions = demo.decisions,
        licences = demo.licences,
        tries = demo.tries.iter().map(|t| format!("  {t}")).collect::<Vec<_>>().join("\n"),
        valid = demo.verify_tries.iter().find(|t| t.ends_with("(VALID)")).and_then(|t| t.split_whitespace().nth(4)).unwrap_or("de.bafa/LICENCE"),
        verify_tries = demo.verify_tries.iter().map(|t| format!("  {t}")).collect::<Vec<_>>().join("\n"),
        addr = first.addr(),
        confidential = format!("{}/{}", demo.confidential.0, demo.confidential.1),
        registration = data::rulings::REGISTRATION,
        rx_child = data::re_export::CHILD,
        rx_parent = data::re_export::PARENT,
        ecju_url = demo.nodes.iter().find(|n| n.name == "ecju").map_or_else(|| first.url(), |n| n.node.url()),
        verifier = first.log_verifier(),
        web = demo
            .nodes
            .iter()
            .find(|n| n.name == "meti")
            .and_then(|n| n.node.http_addr())
            .map_or_else(|| "(the HTTP port is off)".to_string(), |a| format!("http://{a}/   (METI's node; every node serves the same pages)")),
    )
}
