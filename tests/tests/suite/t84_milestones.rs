//! Milestones through the real binaries: an application is lodged, information is requested,
//! a milestone that would move the receipt time is refused, Verify says NOT_ISSUED while the
//! review runs, and the grant that ends it issues the licence.

use std::path::Path;

use crate::cli::comity;
use assert_cmd::Command;
use comity_tests::{bin_path, examples_dir, NodeProcess};
use predicates::str::contains;

const LICENCE: &str = "de.bafa/DE-2026-021907";

/// A follow-up document of `action` for the example application, with `extra` YAML lines.
fn follow_up(dir: &Path, name: &str, action: &str, received: &str, decided: &str, extra: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    let doc = format!("authority: de.bafa\nlicence_id: DE-2026-021907\naction: {action}\napplication_received: {received}\ndecided_at: {decided}\n{extra}");
    std::fs::write(&path, doc).unwrap();
    path
}

#[test]
fn a_tracked_application_from_lodging_to_grant() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("node");
    Command::new(bin_path("comity-node"))
        .args(["init", "--data-dir"])
        .arg(&data)
        .args(["--authority", "de.bafa=Federal Office for Economic Affairs and Export Control"])
        .assert()
        .success();
    let key = data.join("keys/de.bafa.key");
    let node = NodeProcess::spawn(&["--data-dir", data.to_str().unwrap()], &tmp.path().join("node.log"));
    let url = node.url().to_string();
    let publish = |doc: &Path| {
        let mut cmd = comity(&url);
        cmd.arg("publish").arg(doc).arg("--key").arg(&key);
        cmd
    };

    publish(&examples_dir().join("lodged.yaml")).assert().success().stdout(contains("v1 APPLICATION_LODGED")).stdout(contains("licence is now UNDER_REVIEW"));

    let received = "2026-08-19T09:12:00Z";
    let asked = follow_up(
        tmp.path(),
        "info.yaml",
        "information_requested",
        received,
        "2026-09-02T11:00:00Z",
        "reasons:\n  - code: END_USE_STATEMENT_REQUIRED\n    legal_basis: Art. 16(1) Regulation (EU) 2021/821\n    text: Signed end-use statement of the end user required.\n",
    );
    publish(&asked).assert().success().stdout(contains("v2 INFORMATION_REQUESTED")).stdout(contains("licence is now UNDER_REVIEW"));

    // A milestone that restarts the clock (a new receipt time) is refused and changes nothing.
    let drifted = follow_up(
        tmp.path(),
        "referred.yaml",
        "referred",
        "2026-09-10T08:00:00Z",
        "2026-09-10T09:00:00Z",
        "reasons:\n  - code: INTERAGENCY_CONSULTATION\n    legal_basis: AWV\n    text: Referred to the Federal Foreign Office.\n",
    );
    publish(&drifted).assert().code(5).stderr(contains("application_received must stay"));
    // A milestone without reasons is refused before it is signed.
    let silent = follow_up(tmp.path(), "silent.yaml", "referred", received, "2026-09-10T09:00:00Z", "");
    publish(&silent).assert().code(3).stderr(contains("reasons"));

    comity(&url)
        .args(["licence", "show", LICENCE])
        .assert()
        .success()
        .stdout(contains("UNDER_REVIEW  (version 2"))
        .stdout(contains("v2   INFORMATION_REQUESTED"))
        .stdout(contains("received 2026-08-19"))
        .stdout(contains("(14 days)"))
        .stdout(contains("END_USE_STATEMENT_REQUIRED"));
    comity(&url)
        .args(["verify", LICENCE, "--for", "de.bafa", "--destination", "IN"])
        .assert()
        .code(35)
        .stdout(contains("NOT_ISSUED"))
        .stdout(contains("application under review"));
    let out = comity(&url).args(["--json", "search", "--status", "under-review"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let found: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(found[0]["licence"], LICENCE);

    // The grant ends the review: the applied-for applicant and type, a validity window.
    let lodged = std::fs::read_to_string(examples_dir().join("lodged.yaml")).unwrap();
    let granted = lodged
        .replace("action: application_lodged", "action: grant\nvalid_from: 2026-09-21\nvalid_until: 2028-09-21")
        .replace("decided_at: 2026-08-20T10:40:00Z", "decided_at: 2026-09-20T10:00:00Z");
    let granted_path = tmp.path().join("grant.yaml");
    std::fs::write(&granted_path, granted).unwrap();
    publish(&granted_path).assert().success().stdout(contains("v3 GRANT")).stdout(contains("licence is now ISSUED"));
    comity(&url)
        .args(["licence", "show", LICENCE])
        .assert()
        .success()
        .stdout(contains("v1   APPLICATION_LODGED"))
        .stdout(contains("v3   GRANT"))
        .stdout(contains("(32 days)"));
}
