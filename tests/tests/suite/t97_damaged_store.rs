//! A damaged store is named: random byte flips in sled's files either hit bytes the node does
//! not need (it starts and serves) or make `comity-node run` exit 1 with one message naming the
//! store and the repair command, never a sled panic with its backtrace (exit 101).

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use comity_proto::decision::fixtures::grant;
use comity_tests::{bin_path, TestNode};

const BAFA: &str = "de.bafa";

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// sled's files in a store: `conf`, `db`, and its snapshots.
fn sled_files(store: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(store).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_file() && std::fs::metadata(p).unwrap().len() > 0).collect();
    files.sort();
    files
}

/// A small deterministic generator (xorshift), so a failing seed can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

enum Outcome {
    Served,
    Exited(std::process::ExitStatus),
}

/// Starts the real `comity-node run` on `data`; `Served` when it listens and answers, else its
/// exit status. Its stderr goes to `log`.
async fn run_node(config: &Path, data: &Path, log: &Path) -> Outcome {
    let mut child = Command::new(bin_path("comity-node"))
        .args(["run", "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--config"])
        .arg(config)
        .arg("--data-dir")
        .arg(data)
        // A panic that escaped would print its backtrace: the test looks for it.
        .env("RUST_BACKTRACE", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::create(log).unwrap()))
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(line) = rx.try_recv() {
            let addr = line.strip_prefix("listening on ").unwrap_or_else(|| panic!("unexpected first line `{line}`"));
            let served = match comity_client::Client::connect(&format!("http://{addr}")).await {
                Ok(mut client) => client.checkpoint().await.map(|_| ()).map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            // Still running after answering (or refusing to): no panic took it down.
            let alive = child.try_wait().unwrap().is_none();
            let _ = child.kill();
            let status = child.wait().unwrap();
            assert!(alive, "the node died while serving ({status}); {served:?}; stderr:\n{}", std::fs::read_to_string(log).unwrap());
            served.unwrap_or_else(|e| panic!("the node started but does not serve its checkpoint: {e}"));
            return Outcome::Served;
        }
        if let Some(status) = child.try_wait().unwrap() {
            return Outcome::Exited(status);
        }
        assert!(Instant::now() < deadline, "the node neither started nor exited");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn byte_flips_in_the_store_start_the_node_or_name_the_damage_and_the_repair() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut node = TestNode::start_with(&[BAFA], |c| c.data_dir = data.clone()).await;
    let mut client = node.client().await;
    for i in 0..40 {
        client.publish(node.sign(grant(BAFA, &format!("DE-2026-FLIP-{i:05}")))).await.unwrap();
    }
    let config = tmp.path().join("comity.toml");
    std::fs::write(&config, node.config().to_toml()).unwrap();
    node.stop().await;
    drop(client);

    // The undamaged copy starts: the harness is sound.
    let pristine = tmp.path().join("pristine");
    copy_dir(&data, &pristine);
    assert!(matches!(run_node(&config, &pristine, &tmp.path().join("pristine.log")).await, Outcome::Served), "an undamaged store must start");

    let files = sled_files(&data.join("store"));
    assert!(files.iter().any(|f| f.ends_with("conf")) && files.iter().any(|f| f.ends_with("db")), "{files:?}");
    let (mut served, mut refused) = (0, 0);
    for seed in 1..=20u64 {
        let copy = tmp.path().join(format!("flip-{seed}"));
        copy_dir(&data, &copy);
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        // Every third flip hits `conf`, the others any of sled's files.
        let file = if seed % 3 == 0 { PathBuf::from("conf") } else { PathBuf::from(files[(rng.next() % files.len() as u64) as usize].file_name().unwrap()) };
        let path = copy.join("store").join(&file);
        let mut bytes = std::fs::read(&path).unwrap();
        let at = (rng.next() % bytes.len() as u64) as usize;
        bytes[at] ^= 1 << (rng.next() % 8);
        std::fs::write(&path, &bytes).unwrap();

        let log = tmp.path().join(format!("flip-{seed}.log"));
        match run_node(&config, &copy, &log).await {
            Outcome::Served => served += 1,
            Outcome::Exited(status) => {
                let stderr = std::fs::read_to_string(&log).unwrap();
                let what = format!("seed {seed}: flip at {at} of {}: {status}; stderr:\n{stderr}", file.display());
                assert!(!stderr.contains("panicked") && !stderr.contains("stack backtrace"), "a panic escaped; {what}");
                assert_eq!(status.code(), Some(1), "{what}");
                assert!(
                    stderr.contains(&copy.display().to_string()) && stderr.contains("comity-node recover"),
                    "the message names neither the data dir nor the repair; {what}"
                );
                refused += 1;
            }
        }
    }
    eprintln!("20 byte flips: {served} started and served, {refused} refused with the damage named");
}
