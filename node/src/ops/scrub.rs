//! The background check: what `comity-node check` does (without repairing), run slowly on the
//! running node every `scrub_interval_secs`, so derived data that drifted from the log (an edit
//! of the data dir, a bug, a bad disk) is found and counted in
//! `comity_scrub_differences` rather than served until someone notices.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::metrics::Metrics;
use crate::ops::check::{check_with, CheckOptions};
use crate::store::Store;

/// The first check runs this long after start (or after the interval, when shorter), so it
/// does not compete with the start-up work.
const FIRST_AFTER: Duration = Duration::from_secs(60);
/// Pause after each licence and each 256 summaries, index entries and log entries: a check of a million licences then takes
/// about 20 minutes of mostly idle time, and leaves the node's requests the disk and cores.
const PAUSE: Duration = Duration::from_millis(1);
/// Differences written to the node's log per check; the metric counts them all.
const LOGGED: usize = 20;

/// Runs the check every `interval` until the task is aborted or the store fails.
pub async fn run(store: Store, interval: Duration, metrics: Arc<Metrics>, data_dir: std::path::PathBuf, clock: crate::Clock) {
    // Aborting this task drops the guard, which stops a check running on a blocking thread
    // (it holds the store, which a restart must be able to open again).
    let stop = StopOnDrop(Arc::new(AtomicBool::new(false)));
    tokio::time::sleep(interval.min(FIRST_AFTER)).await;
    loop {
        if store.failed().is_some() {
            return;
        }
        let started = Instant::now();
        let checked = store.clone();
        let options = CheckOptions { repair: false, confirm: true, pause: PAUSE, stop: Some(stop.0.clone()) };
        match tokio::task::spawn_blocking(move || check_with(&checked, &options)).await {
            Ok(Ok(report)) => {
                metrics.scrubbed(report.differences.len(), clock.now());
                let took = format!("{:.1?}", started.elapsed());
                if report.differences.is_empty() {
                    tracing::info!(licences = report.licences, logs = report.logs, %took, "background check: derived data agrees with the log");
                } else {
                    for difference in report.differences.iter().take(LOGGED) {
                        tracing::error!(%difference, "background check: derived data differs from the log");
                    }
                    let repair = if report.damaged_logs {
                        format!("stored tree hashes differ: rebuild the store with `comity-node recover --data-dir {} --from PEER_URL`", data_dir.display())
                    } else {
                        format!("stop the node and run `comity-node check --data-dir {} --repair`", data_dir.display())
                    };
                    tracing::error!(differences = report.differences.len(), licences = report.licences, logs = report.logs, %took, "background check found differences; {repair}");
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "background check stopped; it runs again at the next interval"),
            Err(e) => tracing::warn!(error = %e, "background check failed; it runs again at the next interval"),
        }
        tokio::time::sleep(interval).await;
    }
}

struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}
