//! `comity-node demo`: a node hosting sample authorities, filled with a realistic data set
//! published through the normal verification path.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use comity_proto::demo_data;
use comity_proto::keyfile::KeyFile;
use comity_proto::statement::{sign_decision, StatementId};
use tokio::net::TcpListener;

use crate::config::{AuthorityConfig, Config};
use crate::registry::now;
use crate::server::RunningNode;

/// Marks a directory as created by the demo, so re-running may wipe it and nothing else.
const DEMO_MARKER: &str = "COMITY-DEMO";

/// What the demo set up.
pub struct Demo {
    pub node: RunningNode,
    pub dir: PathBuf,
    pub decisions: usize,
    pub licences: usize,
    /// Search and show commands that find something in this data set.
    pub tries: Vec<String>,
}

/// Creates `dir` afresh (refusing to touch a directory the demo did not create), writes keys
/// and config for the sample authorities, starts a node on `listener` and publishes the data set.
pub async fn start(dir: &Path, listener: TcpListener, http_listen: Option<std::net::SocketAddr>) -> anyhow::Result<Demo> {
    prepare_dir(dir)?;
    let keys_dir = dir.join("keys");
    std::fs::create_dir_all(&keys_dir).with_context(|| format!("create {}", keys_dir.display()))?;

    let mut config = Config {
        data_dir: dir.join("data"),
        listen: listener.local_addr()?,
        origin: "demo.comity.example/log".into(),
        http_listen,
        ..Config::default()
    };
    let mut signers = HashMap::new();
    for authority in demo_data::authorities() {
        let key = KeyFile::generate(authority.id);
        key.write(&keys_dir.join(format!("{}.key", authority.id)))?;
        config.authorities.push(AuthorityConfig { id: authority.id.into(), name: authority.name.into(), keys: vec![key.public_key.clone()] });
        signers.insert(authority.id.to_string(), key.signer().map_err(anyhow::Error::msg)?);
    }
    std::fs::write(dir.join("comity.toml"), config.to_toml()).context("write demo config")?;

    let node = RunningNode::start(config, listener).await?;
    let mut heads: HashMap<(String, String), StatementId> = HashMap::new();
    let docs = demo_data::decisions(now());
    for doc in &docs {
        let mut decision = doc.to_wire().with_context(|| format!("demo decision for {}", doc.licence_id))?;
        let licence = (decision.authority.clone(), decision.licence_id.clone());
        if let Some(head) = heads.get(&licence) {
            decision.previous = head.0.to_vec();
        }
        let signer = signers.get(&decision.authority).context("demo authority without key")?;
        let published = node
            .registry()
            .publish(sign_decision(decision, signer))
            .await
            .with_context(|| format!("publish demo decision {}/{} v{:?}", licence.0, licence.1, doc.version))?;
        heads.insert(licence, published.id);
    }
    let tries = suggested_commands(&docs);
    Ok(Demo { node, dir: dir.to_path_buf(), decisions: docs.len(), licences: heads.len(), tries })
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
    let url = demo.node.url();
    let dir = demo.dir.display();
    format!(
        "\
Comity demo node serving at {url}
  authorities: de.bafa (DE), uk.ecju (GB), jp.meti (JP), uni.ethz (CH)
  published {decisions} signed decisions on {licences} licences; data in {dir}/data
  signing keys (for trying publish): {dir}/keys/<authority>.key

Try, in another terminal (from this directory):
  alias comity='cargo run -q --bin comity --'
{tries}
  comity publish examples/grant.yaml --key {dir}/keys/de.bafa.key
  comity licence show de.bafa/DE-2026-009001 --json
  comity log checkpoint                   (the log key: {verifier})
  comity log audit --state audit.json --keys {dir}/comity.toml
  grpcurl -plaintext {addr} list          (server reflection and grpc.health.v1 are on){tiles}

Press Ctrl-C to stop.",
        decisions = demo.decisions,
        licences = demo.licences,
        tries = demo.tries.iter().map(|t| format!("  {t}")).collect::<Vec<_>>().join("\n"),
        addr = demo.node.addr(),
        verifier = demo.node.log_verifier(),
        tiles = demo.node.http_addr().map(|a| format!("\n  curl http://{a}/checkpoint          (the log as C2SP tlog-tiles)")).unwrap_or_default(),
    )
}
