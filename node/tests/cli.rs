//! `comity-node` as a process: init, config loading and refusals at start.
//!
//! Besides what it tests, this file makes `cargo test --workspace` build the `comity-node`
//! binary, which the process-level tests in `tests/` run.

use std::process::Command;

use comity_node::config::Config;

fn comity_node() -> Command {
    Command::new(env!("CARGO_BIN_EXE_comity-node"))
}

#[test]
fn init_writes_a_loadable_config_and_private_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let out = comity_node().args(["init", "--data-dir"]).arg(&dir).args(["--authority", "de.bafa=BAFA", "--authority", "uni.ethz"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let config = Config::from_file(&dir.join("comity.toml")).unwrap();
    let ids: Vec<&str> = config.authorities.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["de.bafa", "uni.ethz"]);
    assert_eq!(config.authorities[0].name, "BAFA");
    assert_eq!(config.origin, "de.bafa.registry/log");
    assert!(String::from_utf8_lossy(&out.stdout).contains("log de.bafa.registry/log: verifier key de.bafa.registry/log+"));
    assert!(dir.join("log.key").exists());
    // The printed peer entry parses as a peer in another node's config.
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let entry: String = stdout.lines().skip_while(|l| !l.contains("[[peer]]")).take(4).map(|l| format!("{}\n", l.trim())).collect();
    let other = Config::from_toml(&format!("origin = \"other.example/log\"\n{entry}"), "peer entry").unwrap();
    let key_file: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("log.key")).unwrap()).unwrap();
    assert_eq!(other.peers[0].log_key, key_file["verifier_key"].as_str().unwrap());
    assert!(other.peers[0].log_key.starts_with("de.bafa.registry/log+"));
    let key = comity_proto::keyfile::KeyFile::read(&dir.join("keys/de.bafa.key")).unwrap();
    assert_eq!(config.authorities[0].keys, vec![key.public_key]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("keys/uni.ethz.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn init_refuses_a_malformed_authority_id() {
    let tmp = tempfile::tempdir().unwrap();
    let out = comity_node().args(["init", "--data-dir"]).arg(tmp.path().join("d")).args(["--authority", "BAFA"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("`BAFA` is not a lowercase dotted id"));
}

#[test]
fn run_refuses_a_data_dir_from_a_newer_schema_with_a_clear_message() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    {
        // A store as a future version would leave it.
        let store = comity_node::store::Store::open(&dir.join("store")).unwrap();
        store.set_schema_version_for_tests(comity_node::store::SCHEMA_VERSION + 1).unwrap();
    }
    let out = comity_node().args(["run", "--insecure-plaintext", "--listen", "127.0.0.1:0", "--data-dir"]).arg(&dir).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is newer than this binary"), "{stderr}");
    // Without TLS or the development flag, the node says what it needs and does not start.
    let out = comity_node().args(["run", "--listen", "127.0.0.1:0", "--data-dir"]).arg(&dir).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no [tls] configured") && stderr.contains("--insecure-plaintext"), "{stderr}");
}

#[test]
fn run_refuses_a_config_with_unknown_fields() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("c.toml");
    std::fs::write(&config, "listen = \"127.0.0.1:0\"\nauthorities = []\n").unwrap();
    let out = comity_node().args(["run", "--config"]).arg(&config).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown field `authorities`"));
}
