//! Change counters for caches of store reads (Verify's). A commit bumps the counter of every
//! licence and every log whose stored state it changed, and one counter for everything else,
//! after the data is applied. A reader takes the counters it depends on *before* reading: a
//! commit racing with the read then leaves a kept copy stamped older than its data, which is
//! read again next time, never the other way round.
//!
//! Licences and logs are hashed onto a fixed number of stripes, so memory stays bounded
//! however many licences the store holds; two licences sharing a stripe only cost an extra
//! read, never a stale answer.

use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// Stripes per kind: far more than the licences a cache keeps changing at once.
const STRIPES: usize = 4096;

/// What one write batch changes.
#[derive(Debug, Default)]
pub(super) struct Touched {
    licences: BTreeSet<usize>,
    logs: BTreeSet<usize>,
    other: bool,
}

impl Touched {
    /// The licence's chain or summary.
    pub fn licence(&mut self, authority: &str, licence_id: &str) {
        self.licences.insert(stripe(&(authority, licence_id)));
    }

    /// A log's checkpoints, cosignatures or times (not its entries: those only ever extend it).
    pub fn log(&mut self, origin: &str) {
        self.logs.insert(stripe(&origin));
    }

    /// Anything else a reader may depend on: key sets, agreements, evidence, freezes, bodies.
    pub fn other(&mut self) {
        self.other = true;
    }
}

/// The counters of one store.
pub struct Changes {
    licences: Box<[AtomicU64]>,
    logs: Box<[AtomicU64]>,
    other: AtomicU64,
}

impl Default for Changes {
    fn default() -> Self {
        let stripes = || (0..STRIPES).map(|_| AtomicU64::new(0)).collect();
        Self { licences: stripes(), logs: stripes(), other: AtomicU64::new(0) }
    }
}

impl Changes {
    /// Counter of the licence `authority/licence_id`.
    pub fn licence(&self, authority: &str, licence_id: &str) -> u64 {
        self.licences[stripe(&(authority, licence_id))].load(Ordering::Acquire)
    }

    /// Counter of log `origin`'s checkpoints.
    pub fn log(&self, origin: &str) -> u64 {
        self.logs[stripe(&origin)].load(Ordering::Acquire)
    }

    /// Counter of everything that is neither a licence nor a log checkpoint.
    pub fn other(&self) -> u64 {
        self.other.load(Ordering::Acquire)
    }

    /// Records a commit of `touched` (call after the data is applied).
    pub(super) fn bump(&self, touched: &Touched) {
        for &s in &touched.licences {
            self.licences[s].fetch_add(1, Ordering::AcqRel);
        }
        for &s in &touched.logs {
            self.logs[s].fetch_add(1, Ordering::AcqRel);
        }
        if touched.other {
            self.other.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Records a write outside any batch (tests that tamper with the data directory).
    pub(super) fn bump_all(&self) {
        for counter in self.licences.iter().chain(self.logs.iter()) {
            counter.fetch_add(1, Ordering::AcqRel);
        }
        self.other.fetch_add(1, Ordering::AcqRel);
    }
}

fn stripe(value: &impl Hash) -> usize {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    value.hash(&mut hasher);
    (hasher.finish() % STRIPES as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_moves_only_what_it_touched() {
        let changes = Changes::default();
        let before = (changes.licence("de.bafa", "L1"), changes.licence("de.bafa", "L2"), changes.log("a/log"), changes.other());
        let mut touched = Touched::default();
        touched.licence("de.bafa", "L1");
        changes.bump(&touched);
        assert_ne!(changes.licence("de.bafa", "L1"), before.0);
        // L2 may share L1's stripe (then it is read again needlessly); for these two it does not.
        assert_eq!(changes.licence("de.bafa", "L2"), before.1);
        assert_eq!((changes.log("a/log"), changes.other()), (before.2, before.3));
        let mut touched = Touched::default();
        touched.log("a/log");
        touched.other();
        changes.bump(&touched);
        assert_ne!(changes.log("a/log"), before.2);
        assert_ne!(changes.other(), before.3);
        changes.bump_all();
        assert_ne!(changes.licence("de.bafa", "L2"), before.1);
    }
}
