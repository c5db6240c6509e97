//! Running the `comity` CLI as a user would, for the suite's process-level tests.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use comity_tests::bin_path;

/// `comity` talking to the node at `url`, with no trust file from the environment.
pub fn comity(url: &str) -> Command {
    let mut cmd = Command::new(bin_path("comity"));
    cmd.env("COMITY_NODE", url).env_remove("COMITY_TRUST");
    cmd
}

/// A path as a command-line argument.
pub fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temporary path")
}

/// Writes `text` to `dir/name`, for a command to read.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}
