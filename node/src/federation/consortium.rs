//! A consortium file: every member's node (URL, log key, witness key) and the authorities it
//! hosts, in one TOML file the members share. A node that names it (`consortium_file`)
//! mirrors, witnesses and trusts every other member without a `[[peer]]` and a `[[trusted]]`
//! entry each, so joining a consortium is one entry in one file (`comity-node member` prints
//! this node's). Entries the node's own config already has win; its own entry is skipped.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config::{AuthorityConfig, Config, ConfigError, PeerConfig};

/// The shared file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsortiumFile {
    /// What the members call it, e.g. "EU-Japan export-control registry consortium".
    #[serde(default)]
    pub name: String,
    #[serde(default, rename = "member")]
    pub members: Vec<Member>,
}

/// One member node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    /// Short name, e.g. `bafa`.
    pub id: String,
    /// The URL other members reach its gRPC port at.
    pub url: String,
    /// Its log verifier key (`origin+id+key`).
    pub log_key: String,
    /// Its witness verifier key, if it witnesses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub witness_key: Option<String>,
    /// The name its TLS certificate is for, when not the URL's host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_name: Option<String>,
    /// The authorities it hosts, with the keys their decisions may be signed with until their
    /// first key set (the key set, signed by the roots in each member's trust file, decides then).
    #[serde(default, rename = "authority")]
    pub authorities: Vec<AuthorityConfig>,
}

impl Member {
    /// The log origin its key names.
    pub fn origin(&self) -> &str {
        self.log_key.split('+').next().unwrap_or_default()
    }
}

impl ConsortiumFile {
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: shown.clone(), source })?;
        let file: Self = toml::from_str(&text).map_err(|e| ConfigError::Parse { path: shown.clone(), message: e.to_string() })?;
        let mut seen = std::collections::HashSet::new();
        if let Some(m) = file.members.iter().find(|m| !seen.insert(m.origin().to_string())) {
            return Err(ConfigError::Parse { path: shown, message: format!("two members run log `{}`", m.origin()) });
        }
        Ok(file)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a consortium file serialises")
    }
}

/// `config` with every other member of its consortium file (if it names one) added as a peer
/// and the authorities those members host trusted. Checked like a hand-written config.
pub fn resolve(mut config: Config) -> Result<Config, ConfigError> {
    let Some(path) = config.consortium_file.clone() else { return Ok(config) };
    let file = ConsortiumFile::read(&path)?;
    for member in file.members.iter().filter(|m| m.origin() != config.origin) {
        if !config.peers.iter().any(|p| p.log_key == member.log_key || p.id == member.id) {
            config.peers.push(PeerConfig {
                id: member.id.clone(),
                url: member.url.clone(),
                log_key: member.log_key.clone(),
                witness_key: member.witness_key.clone(),
                tls_name: member.tls_name.clone(),
                relay: false,
            });
        }
        for authority in &member.authorities {
            let known = config.trusted.iter().chain(&config.authorities).any(|a| a.id == authority.id);
            if !known {
                config.trusted.push(authority.clone());
            }
        }
    }
    config.check()?;
    Ok(config)
}

/// This node's entry for the consortium file, reached at `url`.
pub fn member_entry(config: &Config, id: &str, url: &str) -> Result<Member, crate::log::LogOpenError> {
    let log_key = crate::log::load_or_create_key(&config.log_key_path(), &config.origin)?.verifier().to_string();
    let witness_key = crate::log::load_or_create_witness_key(&config.witness_key_path(), &config.witness_name())?.verifier().to_string();
    Ok(Member { id: id.into(), url: url.into(), log_key, witness_key: Some(witness_key), tls_name: None, authorities: config.authorities.clone() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(i: u8, authority: &str) -> Member {
        let key = comity_proto::log::LogKey::from_seed(&format!("registry.m{i}.example/log"), &[i; 32]).unwrap();
        Member {
            id: format!("m{i}"),
            url: format!("http://127.0.0.1:70{i:02}"),
            log_key: key.verifier().to_string(),
            witness_key: None,
            tls_name: None,
            authorities: vec![AuthorityConfig {
                id: authority.into(),
                name: String::new(),
                keys: vec![hex::encode(comity_proto::statement::Signer::from_seed(&[i; 32]).verifying_key().to_bytes())],
            }],
        }
    }

    #[test]
    fn a_node_takes_every_other_member_as_a_peer_and_trusts_their_authorities() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("consortium.toml");
        let file = ConsortiumFile { name: "test consortium".into(), members: vec![member(1, "de.bafa"), member(2, "jp.meti"), member(3, "uk.ecju")] };
        std::fs::write(&path, file.to_toml()).unwrap();
        assert_eq!(ConsortiumFile::read(&path).unwrap(), file, "the file reads back");
        let mine = Config {
            origin: "registry.m1.example/log".into(),
            consortium_file: Some(path.clone()),
            authorities: file.members[0].authorities.clone(),
            trusted: vec![AuthorityConfig { id: "uk.ecju".into(), name: "kept".into(), keys: vec![] }],
            ..Config::default()
        };
        let resolved = resolve(mine).unwrap();
        assert_eq!(resolved.peers.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), ["m2", "m3"]);
        let trusted: Vec<(&str, &str)> = resolved.trusted.iter().map(|a| (a.id.as_str(), a.name.as_str())).collect();
        assert_eq!(trusted, [("uk.ecju", "kept"), ("jp.meti", "")], "the config's own entries win; its own authority is not trusted as another's");
        assert_eq!(resolve(resolved.clone()).unwrap(), resolved, "resolving twice changes nothing");

        let twice = ConsortiumFile { members: vec![member(1, "de.bafa"), member(1, "jp.meti")], ..file };
        std::fs::write(&path, twice.to_toml()).unwrap();
        assert!(ConsortiumFile::read(&path).unwrap_err().to_string().contains("two members run log `registry.m1.example/log`"));
    }
}
