//! The deploy files are checked against the code they configure and with the stock tools that
//! read them: the Kubernetes manifests validate against the Kubernetes schema, the node config
//! and trust file they carry load with the node's own parsers, their ports and probes match that
//! config (and the probes answer while gRPC speaks TLS), the systemd unit and sysusers file pass
//! systemd's own checks, the Docker build context leaves out build output and private keys, and
//! every command they run is one the binary accepts. Also what an operator meets first: `init`
//! paths and ports, and logs without colour codes when nobody reads them at a terminal.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use comity_node::config::Config;
use comity_proto::trust::TrustFile;
use serde::Deserialize;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn deploy(path: &str) -> PathBuf {
    repo().join("deploy").join(path)
}

/// A stock tool these tests check the deploy files with; tests install nothing.
fn tool(path: PathBuf) -> PathBuf {
    assert!(
        path.exists(),
        "{} is missing: run scripts/install-test-tools (its step scripts/test-tools/30-deploy.sh installs the deploy tests' tools)",
        path.display()
    );
    path
}

/// A program on the PATH, or in /usr/bin, /bin.
fn system_tool(name: &str) -> PathBuf {
    let dirs = std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect::<Vec<_>>()).unwrap_or_default();
    let found = dirs.into_iter().chain([PathBuf::from("/usr/bin"), PathBuf::from("/bin")]).map(|d| d.join(name)).find(|p| p.exists());
    tool(found.unwrap_or_else(|| PathBuf::from(name)))
}

fn venv_tool(name: &str) -> PathBuf {
    tool(repo().join("target/test-venv/bin").join(name))
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

/// The manifests' ConfigMap config, checked as the node checks it.
fn kubernetes_config(docs: &[serde_norway::Value]) -> Config {
    let config_map = kind(docs, "ConfigMap");
    Config::from_toml(config_map["data"]["comity.toml"].as_str().unwrap(), "comity.toml").unwrap()
}

fn kubernetes_container(docs: &[serde_norway::Value]) -> &serde_norway::Value {
    &kind(docs, "StatefulSet")["spec"]["template"]["spec"]["containers"][0]
}

/// The container port a probe or Service names (by name or number).
fn container_port(container: &serde_norway::Value, port: &serde_norway::Value) -> u64 {
    if let Some(number) = port.as_u64() {
        return number;
    }
    let name = port.as_str().unwrap_or_else(|| panic!("port {port:?}"));
    container["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|p| p["name"].as_str() == Some(name))
        .and_then(|p| p["containerPort"].as_u64())
        .unwrap_or_else(|| panic!("no container port {name}"))
}

#[test]
fn kubernetes_manifests_carry_a_config_the_node_loads_and_match_it() {
    let docs = documents("kubernetes/comity.yaml");
    let config = kubernetes_config(&docs);
    assert!(config.tls.is_some() && !config.insecure_plaintext, "the example runs with TLS");
    let trust = TrustFile::parse(kind(&docs, "ConfigMap")["data"]["trust.toml"].as_str().unwrap()).unwrap();
    assert_eq!(trust.roots().unwrap()["de.bafa"].threshold, 2);

    let set = kind(&docs, "StatefulSet");
    let container = kubernetes_container(&docs);
    let port = |name: &str| container_port(container, &serde_norway::Value::from(name));
    assert_eq!(port("grpc"), u64::from(config.listen.port()));
    assert_eq!(port("tiles"), u64::from(config.http_listen.unwrap().port()));
    assert_eq!(port("metrics"), u64::from(config.metrics_listen.unwrap().port()));
    assert!(container["resources"]["requests"]["memory"].as_str().is_some());

    // Kubelet's grpc probes speak plaintext only: with TLS on, every probe is an HTTP GET of
    // /healthz on the (plain HTTP) tiles port; readiness asks for the Registry.
    for probe in ["readinessProbe", "livenessProbe"] {
        let probe_spec = &container[probe];
        assert!(probe_spec["grpc"].is_null(), "{probe}: a grpc probe cannot reach the TLS port");
        let get = &probe_spec["httpGet"];
        assert_eq!(container_port(container, &get["port"]), u64::from(config.http_listen.unwrap().port()), "{probe} asks the tiles port");
        assert!(get["scheme"].is_null() || get["scheme"].as_str() == Some("HTTP"), "{probe}: the tiles port is plain HTTP");
        assert!(get["path"].as_str().unwrap().starts_with("/healthz"), "{probe}");
    }
    assert_eq!(container["readinessProbe"]["httpGet"]["path"].as_str(), Some("/healthz?service=comity.v1.Registry"));

    // The config file the container reads is where the ConfigMap is mounted, and `run --config` exists.
    let args: Vec<&str> = container["args"].as_sequence().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    assert_eq!(args[0], "run");
    let help = node_help("run");
    for flag in args.iter().filter(|a| a.starts_with("--")) {
        assert!(help.contains(flag), "comity-node run has no {flag}");
    }
    let config_path = args[args.iter().position(|a| *a == "--config").unwrap() + 1];
    let mounts = container["volumeMounts"].as_sequence().unwrap();
    assert!(
        mounts.iter().any(|m| config_path.starts_with(m["mountPath"].as_str().unwrap()) && m["name"].as_str() == Some("config")),
        "{config_path} is not on the config mount"
    );

    // The StatefulSet's governing Service is headless; a second one serves clients. Both
    // reach the three ports.
    let services: Vec<&serde_norway::Value> = docs.iter().filter(|d| d["kind"].as_str() == Some("Service")).collect();
    let governing = services.iter().find(|s| s["metadata"]["name"] == set["spec"]["serviceName"]).expect("the StatefulSet's serviceName is a Service here");
    assert_eq!(governing["spec"]["clusterIP"].as_str(), Some("None"), "the StatefulSet's Service is headless");
    let client = services.iter().find(|s| s["spec"]["clusterIP"].is_null()).expect("a Service for clients");
    for service in [governing, client] {
        let targets: Vec<u64> = service["spec"]["ports"].as_sequence().unwrap().iter().map(|p| container_port(container, &p["targetPort"])).collect();
        assert_eq!(targets, [port("grpc"), port("tiles"), port("metrics")]);
    }
}

#[test]
fn kubernetes_manifests_validate_against_the_kubernetes_schema() {
    let validate = venv_tool("kubernetes-validate");
    let out = std::process::Command::new(&validate).arg("--strict").arg(deploy("kubernetes/comity.yaml")).output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "kubernetes-validate: {said}");
    for resource in ["configmap/comity-config", "service/comity-headless", "service/comity", "statefulset/comity"] {
        assert!(said.contains(&format!("passed for resource {resource} ")), "{resource} validated: {said}");
    }
    // The validator does refuse what Kubernetes would: a probe without a port.
    let tmp = tempfile::tempdir().unwrap();
    let broken = tmp.path().join("broken.yaml");
    let text = std::fs::read_to_string(deploy("kubernetes/comity.yaml")).unwrap();
    std::fs::write(&broken, text.replace("httpGet: {path: /healthz, port: tiles}", "httpGet: {path: /healthz}")).unwrap();
    let out = std::process::Command::new(&validate).arg("--strict").arg(&broken).output().unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stdout).contains("'port' is a required property"), "{out:?}");
}

/// The probes, run against a node with the manifests' TLS setting: the HTTP probes answer, while
/// a plaintext gRPC health check (what kubelet's grpc probe does) cannot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kubernetes_probes_answer_while_grpc_speaks_tls() {
    let docs = documents("kubernetes/comity.yaml");
    let manifest_config = kubernetes_config(&docs);
    let container = kubernetes_container(&docs).clone();
    let tmp = tempfile::tempdir().unwrap();
    let (ca, tls) = (tmp.path().join("ca"), tmp.path().join("tls"));
    comity_node::ops::ca::ca_init(&ca, "test consortium").unwrap();
    let host = manifest_config.origin.split('/').next().unwrap().to_string();
    comity_node::ops::ca::ca_issue(&ca, &host, &tls).unwrap();
    let (origin, require_client_certs) = (manifest_config.origin.clone(), manifest_config.tls.as_ref().unwrap().require_client_certs);
    let node = comity_tests::TestNode::start_with(&["de.bafa"], |c| {
        c.origin = origin;
        c.insecure_plaintext = false;
        c.tls = Some(comity_node::net::tls::TlsConfig {
            cert_file: tls.join(comity_node::net::tls::NODE_CERT),
            key_file: tls.join(comity_node::net::tls::NODE_KEY),
            ca_file: ca.join(comity_node::net::tls::CA_CERT),
            require_client_certs,
            crl_file: None,
        });
    })
    .await;
    let http = node.node().http_addr().unwrap();
    for probe in ["readinessProbe", "livenessProbe"] {
        let path = container[probe]["httpGet"]["path"].as_str().unwrap().to_string();
        let (status, body) = tokio::task::spawn_blocking(move || comity_tests::http_get(http, &path)).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(status.contains(" 200 "), "{probe}: {status} {body}");
        assert_eq!(body["status"], "SERVING", "{probe}");
    }
    let (status, _) = tokio::task::spawn_blocking(move || comity_tests::http_get(http, "/healthz?service=no.such.Service")).await.unwrap();
    assert!(status.contains(" 404 "), "an unknown service: {status}");

    // What the old grpc probes did: plaintext gRPC health on the TLS port gets no answer.
    let plaintext = async {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", node.node().addr()))?.connect().await?;
        let answer = tonic_health::pb::health_client::HealthClient::new(channel)
            .check(tonic_health::pb::HealthCheckRequest { service: "comity.v1.Registry".into() })
            .await?;
        Ok::<_, Box<dyn std::error::Error>>(answer)
    };
    assert!(plaintext.await.is_err(), "plaintext gRPC reached a TLS node");
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
        // gRPC, web and metrics listen on every interface of the container, and each is
        // published on the host.
        let published: Vec<u16> =
            services[site]["ports"].as_sequence().unwrap().iter().map(|p| p.as_str().unwrap().rsplit(':').next().unwrap().parse().unwrap()).collect();
        for (what, addr) in [("listen", Some(config.listen)), ("http_listen", config.http_listen), ("metrics_listen", config.metrics_listen)] {
            let addr = addr.unwrap_or_else(|| panic!("{site}: {what} is off"));
            assert!(addr.ip().is_unspecified(), "{site}: {what} {addr} is unreachable from outside the container");
            assert!(published.contains(&addr.port()), "{site}: {what} port {} is not published ({published:?})", addr.port());
        }
    }
}

#[test]
fn the_systemd_unit_passes_systemd_analyze_verify_and_is_hardened() {
    let unit = std::fs::read_to_string(deploy("comity-node.service")).unwrap();
    // verify checks that ExecStart's program exists: point it at the built binary.
    let tmp = tempfile::tempdir().unwrap();
    let installed = unit.replace("ExecStart=/usr/local/bin/comity-node ", &format!("ExecStart={} ", comity_tests::bin_path("comity-node").display()));
    assert_ne!(installed, unit, "ExecStart runs /usr/local/bin/comity-node");
    let path = tmp.path().join("comity-node.service");
    std::fs::write(&path, installed).unwrap();
    let analyze = system_tool("systemd-analyze");
    let out = std::process::Command::new(&analyze).arg("verify").arg(&path).output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "systemd-analyze verify: {said}");
    // Unknown or misspelt settings are only warnings, naming the unit file.
    assert!(!said.contains("comity-node.service"), "systemd-analyze verify: {said}");

    // The settings the node needs, and hardening that sled and tokio live with.
    let setting = |key: &str| unit.lines().find_map(|l| l.strip_prefix(&format!("{key}="))).unwrap_or_else(|| panic!("no {key}=")).to_string();
    assert!(setting("LimitNOFILE").parse::<u64>().unwrap() >= 65536, "LimitNOFILE");
    assert_eq!(setting("UMask"), "0077");
    assert_eq!(setting("SystemCallFilter"), "@system-service");
    assert_eq!(setting("User"), "comity");
    // systemd's own exposure score: at most 2.0 ("OK") of 10.
    let out = std::process::Command::new(&analyze).args(["security", "--offline=yes", "--threshold=20", "--no-pager"]).arg(&path).output().unwrap();
    assert!(out.status.success(), "systemd-analyze security: {}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn the_sysusers_file_creates_the_user_the_unit_and_the_image_run_as() {
    let tmp = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(system_tool("systemd-sysusers"))
        .arg("--dry-run")
        .arg(format!("--root={}", tmp.path().display()))
        .arg(deploy("comity.sysusers"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && !said.contains("comity.sysusers:"), "systemd-sysusers: {said}");
    assert!(said.contains("Creating user 'comity'"), "{said}");
    assert!(std::fs::read_to_string(deploy("comity-node.service")).unwrap().contains("\nUser=comity\n"));
    assert!(std::fs::read_to_string(deploy("Dockerfile")).unwrap().contains("USER comity"));
}

#[test]
fn the_docker_build_context_leaves_out_build_output_and_private_keys() {
    // A tree like a developer's checkout, with the repository's .dockerignore, read by the
    // Docker SDK's own build-context code.
    let tmp = tempfile::tempdir().unwrap();
    let kept = [
        "Cargo.toml",
        "Cargo.lock",
        "node/src/main.rs",
        "proto/comity/v1/registry.proto",
        "docs/openapi.yaml",
        "tests/benches/publish.rs",
        "client/src/lib.rs",
        "deploy/Dockerfile",
    ];
    let left_out = [
        "target/release/comity-node",
        "target/debug/deps/libsled.rlib",
        "fuzz/target/x86_64-unknown-linux-gnu/release/fuzz",
        "comity-data/log.key",
        "comity-data/keys/de.bafa.key",
        "comity-demo/keys/de.bafa.key",
        "node/comity-data/witness.key",
        "examples/grant.signed",
        ".git/config",
    ];
    for file in kept.iter().chain(&left_out) {
        let path = tmp.path().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "x").unwrap();
    }
    std::fs::copy(repo().join(".dockerignore"), tmp.path().join(".dockerignore")).unwrap();
    let script = "import sys\n\
        from docker.utils.build import exclude_paths\n\
        lines = [l.strip() for l in open(sys.argv[1] + '/.dockerignore').read().splitlines()]\n\
        patterns = [l for l in lines if l and not l.startswith('#')]\n\
        print('\\n'.join(sorted(exclude_paths(sys.argv[1], patterns, dockerfile='deploy/Dockerfile'))))\n";
    let out = std::process::Command::new(venv_tool("python")).arg("-c").arg(script).arg(tmp.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let context: Vec<String> = String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect();
    for file in kept {
        assert!(context.iter().any(|c| c == file), "{file} is not in the build context: {context:?}");
    }
    for file in left_out {
        assert!(!context.iter().any(|c| c == file), "{file} is in the build context");
    }
}

#[test]
fn the_dockerfile_pins_its_base_images() {
    let dockerfile = std::fs::read_to_string(deploy("Dockerfile")).unwrap();
    let images: Vec<&str> = dockerfile.lines().filter_map(|l| l.strip_prefix("FROM ")).map(|l| l.split_whitespace().next().unwrap()).collect();
    assert_eq!(images.len(), 2, "{images:?}");
    for image in images {
        // An exact release, e.g. rust:1.95.0-bookworm or debian:12.11-slim, never a moving tag.
        let tag = image.split_once(':').map(|(_, tag)| tag).unwrap_or_else(|| panic!("{image} has no tag"));
        let version = tag.split('-').next().unwrap();
        assert!(
            version.split('.').count() >= 2 && version.split('.').all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())),
            "{image}: not an exact version"
        );
    }
}

/// `comity-node` ARGS run in `dir`; its output, which must be a success.
fn node_in(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(comity_tests::bin_path("comity-node")).current_dir(dir).args(args).output().unwrap();
    assert!(out.status.success(), "comity-node {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn init_writes_absolute_paths_and_the_node_runs_from_any_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let printed = node_in(tmp.path(), &["init", "--data-dir", "nodes/bafa", "--authority", "de.bafa=BAFA", "--listen", "127.0.0.1:0"]);
    let data_dir = tmp.path().join("nodes/bafa");
    let config = Config::from_file(&data_dir.join("comity.toml")).unwrap();
    assert!(config.data_dir.is_absolute(), "data_dir {}", config.data_dir.display());
    assert_eq!(config.data_dir.canonicalize().unwrap(), data_dir.canonicalize().unwrap());
    assert!(printed.contains(&format!("comity-node run --data-dir {}", config.data_dir.display())), "{printed}");

    // Started from another directory (this test's), by the config alone.
    let log = tmp.path().join("node.log");
    let config_file = data_dir.join("comity.toml");
    let node = comity_tests::NodeProcess::spawn(&["--config", config_file.to_str().unwrap()], &log);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let checkpoint = runtime.block_on(async {
        let mut client = comity_client::Client::connect(node.url()).await.unwrap();
        client.checkpoint().await.unwrap()
    });
    // The log key init made, not a new one next to some other directory.
    let init_key = printed.lines().find_map(|l| l.strip_prefix("log de.bafa.registry/log: verifier key ")).and_then(|l| l.split_whitespace().next()).unwrap();
    assert_eq!((checkpoint.origin.as_str(), checkpoint.verifier_key.as_str()), ("de.bafa.registry/log", init_key));
    assert!(node.terminate().success());
    assert!(data_dir.join("store").is_dir(), "the store is in the data dir");
}

#[test]
fn init_derives_the_web_and_metrics_ports_from_the_grpc_port() {
    let tmp = tempfile::tempdir().unwrap();
    node_in(tmp.path(), &["init", "--data-dir", "a", "--authority", "de.bafa"]);
    node_in(tmp.path(), &["init", "--data-dir", "b", "--authority", "uk.ecju", "--listen", "127.0.0.1:7710"]);
    let ports = |dir: &str| {
        let c = Config::from_file(&tmp.path().join(dir).join("comity.toml")).unwrap();
        [c.listen, c.http_listen.unwrap(), c.metrics_listen.unwrap()]
    };
    let (a, b) = (ports("a"), ports("b"));
    assert_eq!(a.map(|addr| addr.port()), [7700, 7800, 7900], "the defaults");
    assert_eq!(b.map(|addr| addr.to_string()), ["127.0.0.1:7710", "127.0.0.1:7810", "127.0.0.1:7910"]);
    assert!(a.iter().all(|x| !b.contains(x)), "two nodes on one host collide: {a:?} {b:?}");
    assert!(node_help("init").contains("+ 100 and + 200"), "--help says so");
    // A port whose offsets do not fit is refused, saying why.
    let out = Command::new(comity_tests::bin_path("comity-node"))
        .current_dir(tmp.path())
        .args(["init", "--data-dir", "c", "--listen", "127.0.0.1:65500"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("65535"), "{err}");
    assert!(!tmp.path().join("c/comity.toml").exists());
}

#[test]
fn node_logs_have_colour_only_at_a_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let node = comity_tests::bin_path("comity-node");
    // Without a config the node logs a warning, then refuses to start without TLS: a log line
    // and a quick exit.
    let args = ["run", "--listen", "127.0.0.1:0", "--data-dir", tmp.path().to_str().unwrap()];
    let piped = std::process::Command::new(&node).args(args).env_remove("NO_COLOR").output().unwrap();
    let log = String::from_utf8_lossy(&piped.stderr);
    assert!(log.contains("no config file found"), "{log}");
    assert!(!log.contains('\u{1b}'), "colour codes in a piped log: {log:?}");

    // At a terminal (util-linux's `script` gives the node one), colour, unless NO_COLOR.
    let script = system_tool("script");
    let command = format!("{} {}", node.display(), args.join(" "));
    let at_terminal = |no_color: Option<&str>| {
        let mut run = std::process::Command::new(&script);
        run.args(["-q", "-e", "-c", &command, "/dev/null"]).env_remove("NO_COLOR");
        if let Some(value) = no_color {
            run.env("NO_COLOR", value);
        }
        String::from_utf8_lossy(&run.output().unwrap().stdout).to_string()
    };
    let coloured = at_terminal(None);
    assert!(coloured.contains("no config file found") && coloured.contains('\u{1b}'), "a terminal gets colour: {coloured:?}");
    let plain = at_terminal(Some("1"));
    assert!(plain.contains("no config file found") && !plain.contains('\u{1b}'), "NO_COLOR: {plain:?}");
}
