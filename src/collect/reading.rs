//! One sample being built.

use std::time::{Instant, SystemTime};

use crate::snapshot::Snapshot;

/// One sample being built: the snapshot the families fill in, and the facts they pass on.
#[derive(Debug, Clone)]
pub struct Reading {
    /// Monotonic time of the sample: families measure their rates between two of these.
    pub at: Instant,
    /// Wall-clock time of the sample (`collected_at`, uptime).
    pub wall: SystemTime,
    pub snapshot: Snapshot,
    /// Boot time, Unix seconds: written by `cpu` (`btime`), read by `uptime`.
    pub boot_time: Option<u64>,
    /// The counters of `/proc/stat` beside the CPU times, written by `cpu`, read by `stat`.
    pub proc_stat: Option<super::cpu::Counters>,
    /// `pswpin` and `pswpout` of `/proc/vmstat` (pages), written by `vmstat`, read by `swap`.
    pub swapped_pages: Option<(u64, u64)>,
    /// Series for `/metrics` only, pushed by the families that have them ([`Reading::export`]).
    pub exported: Vec<std::sync::Arc<dyn crate::metrics::Export>>,
    /// The family that pushed each of `exported` (same order), set by the runner.
    pub origins: Vec<&'static str>,
    /// The families that ran in this reading.
    pub ran: super::Families,
}

impl Reading {
    pub fn new(at: Instant, wall: SystemTime) -> Reading {
        Reading {
            at,
            wall,
            snapshot: Snapshot::default(),
            boot_time: None,
            proc_stat: None,
            swapped_pages: None,
            exported: Vec::new(),
            origins: Vec::new(),
            ran: super::Families::default(),
        }
    }

    /// Adds a family's `/metrics`-only series to this sample (rendered when scraped).
    pub fn export(&mut self, series: impl crate::metrics::Export + 'static) {
        self.exported.push(std::sync::Arc::new(series));
    }
}
