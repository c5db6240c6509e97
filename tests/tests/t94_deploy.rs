//! The deploy files are checked against the code they configure: the Kubernetes manifests parse
//! as YAML, the node config and trust file they carry load with the node's own parsers, their
//! ports and probes match that config, and every command they run is one the binary accepts.

use std::path::PathBuf;

use assert_cmd::Command;
use comity_node::config::Config;
use comity_proto::trust::TrustFile;
use serde::Deserialize;

fn deploy(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy").join(path)
}

fn documents(path: &str) -> Vec<serde_norway::Value> {
    let text = std::fs::read_to_string(deploy(path)).unwrap();
    serde_norway::Deserializer::from_str(&text).map(|d| serde_norway::Value::deserialize(d).unwrap_or_else(|e| panic!("{path}: {e}"))).collect()
}

fn kind<'a>(docs: &'a [serde_norway::Value], kind: &str) -> &'a serde_norway::Value {
    docs.iter().find(|d| d["kind"].as_str() == Some(kind)).unwrap_or_else(|| panic!("no {kind}"))
}

fn node_help(subcommand: &str) -> String {
    let out = Command::new(comity_tests::bin_path("comity-node")).args([subcommand, "--help"]).output().unwrap();
    assert!(out.status.success(), "comity-node {subcommand} --help");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn kubernetes_manifests_carry_a_config_the_node_loads_and_match_it() {
    let docs = documents("kubernetes/comity.yaml");
    let config_map = kind(&docs, "ConfigMap");
    let config = Config::from_toml(config_map["data"]["comity.toml"].as_str().unwrap(), "comity.toml").unwrap();
    assert!(config.tls.is_some() && !config.insecure_plaintext, "the example runs with TLS");
    let trust = TrustFile::parse(config_map["data"]["trust.toml"].as_str().unwrap()).unwrap();
    assert_eq!(trust.roots().unwrap()["de.bafa"].threshold, 2);

    let set = kind(&docs, "StatefulSet");
    let container = &set["spec"]["template"]["spec"]["containers"][0];
    let port = |name: &str| container["ports"].as_sequence().unwrap().iter().find(|p| p["name"].as_str() == Some(name)).and_then(|p| p["containerPort"].as_u64()).unwrap();
    assert_eq!(port("grpc"), u64::from(config.listen.port()));
    assert_eq!(port("tiles"), u64::from(config.http_listen.unwrap().port()));
    assert_eq!(port("metrics"), u64::from(config.metrics_listen.unwrap().port()));
    assert_eq!(container["readinessProbe"]["grpc"]["port"].as_u64(), Some(u64::from(config.listen.port())));
    assert_eq!(container["readinessProbe"]["grpc"]["service"].as_str(), Some("comity.v1.Registry"));
    assert!(container["resources"]["requests"]["memory"].as_str().is_some());

    // The config file the container reads is where the ConfigMap is mounted, and `run --config` exists.
    let args: Vec<&str> = container["args"].as_sequence().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    assert_eq!(args[0], "run");
    let help = node_help("run");
    for flag in args.iter().filter(|a| a.starts_with("--")) {
        assert!(help.contains(flag), "comity-node run has no {flag}");
    }
    let config_path = args[args.iter().position(|a| *a == "--config").unwrap() + 1];
    let mounts = container["volumeMounts"].as_sequence().unwrap();
    assert!(mounts.iter().any(|m| config_path.starts_with(m["mountPath"].as_str().unwrap()) && m["name"].as_str() == Some("config")), "{config_path} is not on the config mount");
    let service = kind(&docs, "Service");
    assert_eq!(service["spec"]["ports"].as_sequence().unwrap().len(), 3);
}

#[test]
fn the_container_and_the_systemd_unit_run_commands_the_binary_accepts() {
    let dockerfile = std::fs::read_to_string(deploy("Dockerfile")).unwrap();
    assert!(dockerfile.contains("CMD [\"run\"]"));
    for env in ["COMITY_DATA_DIR", "COMITY_LISTEN", "COMITY_HTTP_LISTEN", "COMITY_METRICS_LISTEN"] {
        assert!(dockerfile.contains(env) && node_help("run").contains(&format!("env: {env}")), "{env}");
    }
    let unit = std::fs::read_to_string(deploy("comity-node.service")).unwrap();
    let exec = unit.lines().find_map(|l| l.strip_prefix("ExecStart=")).unwrap();
    assert_eq!(exec.split_whitespace().nth(1), Some("run"));
    assert!(unit.contains("Environment=COMITY_DATA_DIR="));
    let init = unit.lines().find(|l| l.contains("comity-node init")).unwrap();
    let init_help = node_help("init");
    for flag in init.split_whitespace().filter(|w| w.starts_with("--")) {
        assert!(init_help.contains(flag), "comity-node init has no {flag}");
    }
}

#[test]
fn the_compose_setup_script_creates_configs_the_node_loads() {
    let tmp = tempfile::tempdir().unwrap();
    let federation = tmp.path().join("federation");
    for _ in 0..2 {
        // The second run must leave the first one's keys alone.
        let status = std::process::Command::new("sh")
            .arg(deploy("compose/setup.sh"))
            .env("FEDERATION", &federation)
            .env("COMITY_NODE_BIN", comity_tests::bin_path("comity-node"))
            .status()
            .unwrap();
        assert!(status.success());
    }
    let docs = documents("compose/compose.yaml");
    let services = &docs[0]["services"];
    let help = node_help("run");
    for site in ["bafa", "ecju", "meti"] {
        let config = Config::from_file(&federation.join(site).join("comity.toml")).unwrap_or_else(|e| panic!("{site}: {e}"));
        assert!(config.tls.is_some(), "{site} runs with TLS");
        assert_eq!(config.peers.len(), 2, "{site} peers with the other two");
        assert_eq!(config.trusted.len(), 2, "{site} trusts the other two authorities");
        for peer in &config.peers {
            assert_eq!(peer.url, format!("https://{}:7700", peer.id));
            assert_eq!(peer.tls_name(), format!("registry.{}.example", peer.id), "the peer's certificate name");
        }
        // The compose command runs that config, with flags the binary has.
        let command: Vec<&str> = services[site]["command"].as_sequence().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
        assert_eq!(command, ["run", "--config", &format!("/federation/{site}/comity.toml")]);
        assert!(help.contains("--config"));
    }
}
