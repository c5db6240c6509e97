//! A damaged store is named: random byte flips in the engine's files either hit bytes the node
//! does not need (it starts and serves every acknowledged decision as published) or make
//! `comity-node run` exit 1 with one message naming the store and the repair command, never an
//! engine panic with its backtrace (exit 101), and never wrong or missing data served as if
//! sound. For fjall (the default engine) the flips hit its journal (checksummed per batch), its
//! segment files (written by a memtable flush) and its small metadata files; for sled (stores
//! created before fjall became the default) any of its files.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use comity_node::store::EngineKind;
use comity_proto::decision::fixtures::grant;
use comity_proto::statement::StatementId;
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

/// The engine's non-empty files under `dir`, relative to it, sorted.
fn store_files(dir: &Path, under: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir.join(under)).unwrap() {
        let entry = entry.unwrap();
        let relative = under.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            store_files(dir, &relative, out);
        } else if entry.metadata().unwrap().len() > 0 {
            out.push(relative);
        }
    }
    out.sort();
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

/// Starts the real `comity-node run` on `data`; `Served` when it listens and serves every
/// decision of `published` (licence id, statement id) as published, or names the damage on a
/// read: never a wrong or missing one. Else its exit status. Its stderr goes to `log`.
async fn run_node(config: &Path, data: &Path, log: &Path, published: &[(String, StatementId)]) -> Outcome {
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
            let served = serve_check(&format!("http://{addr}"), published).await;
            // Still running after answering (or refusing to): no panic took it down.
            let alive = child.try_wait().unwrap().is_none();
            let _ = child.kill();
            let status = child.wait().unwrap();
            let stderr = std::fs::read_to_string(log).unwrap();
            assert!(alive, "the node died while serving ({status}); {served:?}; stderr:\n{stderr}");
            let Reads { refused, missing } = served.unwrap_or_else(|e| panic!("the node started but {e}; stderr:\n{stderr}"));
            // fjall checks no checksum when it reads a segment block (lsm-tree 2), so a flip there
            // shows only when the block is read: the engine's error, or the node's own checks
            // of each statement it reads (present, hashing to its id), refuse the read (INTERNAL)
            // and the node's log names it.
            assert!(refused == 0 || stderr.contains("storage failure"), "{refused} reads refused without naming the damage; stderr:\n{stderr}");
            // A flip in a key can hide a licence (NOT_FOUND) though its decision is in the log:
            // `comity-node check` (which the node runs in the background, daily by default) names it.
            if missing > 0 {
                let check = Command::new(bin_path("comity-node")).args(["check", "--data-dir"]).arg(data).output().unwrap();
                let out = format!("{}{}", String::from_utf8_lossy(&check.stdout), String::from_utf8_lossy(&check.stderr));
                assert!(!check.status.success() && (out.contains("differences") || out.contains("damaged")), "{missing} licences hidden, and check: {out}");
            }
            return Outcome::Served;
        }
        if let Some(status) = child.try_wait().unwrap() {
            return Outcome::Exited(status);
        }
        assert!(Instant::now() < deadline, "the node neither started nor exited");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reads of published licences that were refused (INTERNAL) or answered NOT_FOUND.
#[derive(Debug)]
struct Reads {
    refused: usize,
    missing: usize,
}

/// The node at `url` serves its whole log and each published decision as published, or refuses
/// to read it (INTERNAL) or does not find it; never another decision.
async fn serve_check(url: &str, published: &[(String, StatementId)]) -> Result<Reads, String> {
    let mut client = comity_client::Client::connect(url).await.map_err(|e| format!("does not connect: {e}"))?;
    let size = client.checkpoint().await.map_err(|e| format!("does not serve its checkpoint: {e}"))?.size;
    if size != published.len() as u64 {
        return Err(format!("serves a log of {size} entries where {} were acknowledged", published.len()));
    }
    let (mut refused, mut missing) = (0, 0);
    for (licence, id) in published {
        match client.licence(BAFA, licence).await {
            Ok(served) if served.chain.len() == 1 && served.chain[0].0 == *id => {}
            Ok(served) => return Err(format!("serves {licence} as {:?}, not as published ({id})", served.chain.iter().map(|c| c.0).collect::<Vec<_>>())),
            Err(e) if e.code() == Some(tonic::Code::Internal) => refused += 1,
            Err(e) if e.code() == Some(tonic::Code::NotFound) => missing += 1,
            Err(e) => return Err(format!("answers {licence} with: {e}")),
        }
    }
    Ok(Reads { refused, missing })
}

/// Publishes `count` decisions numbered from `from`; their (licence id, statement id).
async fn publish(node: &TestNode, from: usize, count: usize) -> Vec<(String, StatementId)> {
    let mut client = node.client().await;
    let mut published = Vec::new();
    for i in from..from + count {
        let licence = format!("DE-2026-FLIP-{i:05}");
        let envelope = node.sign(grant(BAFA, &licence));
        client.publish(envelope.clone()).await.unwrap();
        published.push((licence, StatementId::of(&envelope)));
    }
    published
}

/// Flips one random bit in each of `seeds` copies of a store of `engine` holding 60 decisions
/// and starts the node on each copy.
async fn byte_flips(engine: EngineKind, seeds: u64) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut node = TestNode::start_with(&[BAFA], |c| {
        c.data_dir = data.clone();
        c.store_engine = engine;
    })
    .await;
    let mut published = publish(&node, 0, 40).await;
    node.stop().await;
    if engine == EngineKind::Fjall {
        // 40 decisions stay in fjall's memtable and journal: write them to a segment file, as
        // a larger store would, so that flips hit segments too; the next 20 stay journaled.
        let keyspace = fjall::Config::new(data.join("store")).open().unwrap();
        keyspace.open_partition("store", Default::default()).unwrap().rotate_memtable_and_wait().unwrap();
    }
    node.start_again().await.unwrap();
    published.extend(publish(&node, 40, 20).await);
    let config = tmp.path().join("comity.toml");
    std::fs::write(&config, node.config().to_toml()).unwrap();
    node.stop().await;

    // The undamaged copy starts and serves: the harness is sound.
    let pristine = tmp.path().join("pristine");
    copy_dir(&data, &pristine);
    assert_eq!(EngineKind::of_dir(&pristine.join("store")), Some(engine));
    assert!(matches!(run_node(&config, &pristine, &tmp.path().join("pristine.log"), &published).await, Outcome::Served), "an undamaged store must start");

    let mut files = Vec::new();
    store_files(&data.join("store"), Path::new(""), &mut files);
    // Every third flip hits the file that matters most: sled's `conf`; fjall's segments and
    // journal, in turn. The others hit any of the engine's files.
    let is_segment = |f: &PathBuf| f.components().any(|c| c.as_os_str() == "segments");
    let is_journal = |f: &PathBuf| f.components().any(|c| c.as_os_str() == "journals");
    let targeted: Vec<Vec<PathBuf>> = match engine {
        EngineKind::Sled => vec![files.iter().filter(|f| f.ends_with("conf")).cloned().collect()],
        EngineKind::Fjall => vec![files.iter().filter(|f| is_segment(f)).cloned().collect(), files.iter().filter(|f| is_journal(f)).cloned().collect()],
    };
    assert!(targeted.iter().all(|t| !t.is_empty()), "{engine:?} files: {files:?}");
    let (mut served, mut refused) = (0, 0);
    for seed in 1..=seeds {
        let copy = tmp.path().join(format!("flip-{seed}"));
        copy_dir(&data, &copy);
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let pick = |rng: &mut Rng, from: &[PathBuf]| from[(rng.next() % from.len() as u64) as usize].clone();
        let file = if seed % 3 == 0 { pick(&mut rng, &targeted[(seed / 3) as usize % targeted.len()]) } else { pick(&mut rng, &files) };
        let path = copy.join("store").join(&file);
        let mut bytes = std::fs::read(&path).unwrap();
        let at = (rng.next() % bytes.len() as u64) as usize;
        bytes[at] ^= 1 << (rng.next() % 8);
        std::fs::write(&path, &bytes).unwrap();

        let log = tmp.path().join(format!("flip-{seed}.log"));
        let what = format!("{engine:?} seed {seed}: flip at {at} of {} ({} bytes)", file.display(), bytes.len());
        eprintln!("{what}");
        match run_node(&config, &copy, &log, &published).await {
            Outcome::Served => served += 1,
            Outcome::Exited(status) => {
                let stderr = std::fs::read_to_string(&log).unwrap();
                let what = format!("{what}: {status}; stderr:\n{stderr}");
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
    eprintln!("{engine:?}, {seeds} byte flips: {served} started and served, {refused} refused with the damage named");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn byte_flips_in_a_fjall_store_start_the_node_or_name_the_damage_and_the_repair() {
    byte_flips(EngineKind::Fjall, std::env::var("COMITY_TEST_FLIPS").map_or(30, |v| v.parse().unwrap())).await;
}

/// Stores created with sled before fjall became the default keep working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn byte_flips_in_a_sled_store_start_the_node_or_name_the_damage_and_the_repair() {
    byte_flips(EngineKind::Sled, 12).await;
}

/// A store naming another log than the config (a new origin, or a flipped byte in the stored
/// one) is refused naming the data dir and the repair, as other damage is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_of_another_origin_is_refused_naming_the_data_dir_and_the_repair() {
    let mut node = TestNode::start(&["de.bafa"]).await;
    node.stop().await;
    // A log key for the configured origin, so only the store names another log.
    std::fs::remove_file(node.config().log_key_path()).unwrap();
    node.reconfigure(|c| c.origin = "registry.other.example/log".into());
    let refused = node.start_again().await.expect_err("another origin than the store's");
    let message = format!("{refused:#}");
    let data_dir = node.config().data_dir.display().to_string();
    assert!(message.contains("in the store at") && message.contains(&data_dir) && message.contains("comity-node recover --data-dir"), "{message}");
}
