//! `entropy`: node_exporter's `entropy` collector: the bits of entropy the kernel's random
//! number generator has, and its pool's size (`node_entropy_available_bits`,
//! `node_entropy_pool_size_bits`).
//!
//! Linux: `/proc/sys/kernel/random/entropy_avail` and `poolsize` (both 256 since Linux 5.18,
//! whose generator no longer runs dry). Linux only.

#![cfg_attr(not(target_os = "linux"), allow(dead_code, unused_imports))]

use std::path::PathBuf;

use super::{CollectError, Collector, Entry, ReadBy, Reading};
use crate::metrics::{self, Kind};

pub(crate) const ENTRY: Entry = Entry {
    name: "entropy",
    about: "entropy available to the random number generator (/proc/sys/kernel/random)",
    reads: &[],
    series: None,
    #[cfg(target_os = "linux")]
    start: |setup| {
        let dir = setup.procfs.join("sys/kernel/random");
        Some(Box::new(Entropy {
            available: dir.join("entropy_avail"),
            pool: dir.join("poolsize"),
            files: super::shared::files::Files::with_limit(4096),
        }))
    },
    #[cfg(not(target_os = "linux"))]
    start: super::absent,
};

pub(crate) struct Entropy {
    available: PathBuf,
    pool: PathBuf,
    files: super::shared::files::Files,
}

impl Collector for Entropy {
    fn read_by(&self) -> ReadBy {
        ReadBy::Metrics
    }

    fn collect(&mut self, r: &mut Reading) -> Result<(), CollectError> {
        let available = self.files.read_u64(&self.available)?;
        let pool = self.files.read_u64(&self.pool).ok();
        r.export(Series { available, pool });
        Ok(())
    }
}

#[derive(Debug)]
struct Series {
    available: u64,
    pool: Option<u64>,
}

impl metrics::Export for Series {
    fn families(&self, out: &mut Vec<metrics::Family>) {
        out.push(
            metrics::Family::new("node_entropy_available_bits", Kind::Gauge, "Bits of available entropy.")
                .with(vec![], self.available as f64),
        );
        out.extend(metrics::Family::single(
            "node_entropy_pool_size_bits",
            Kind::Gauge,
            "Bits of entropy pool.",
            self.pool.map(|p| p as f64),
        ));
    }
}
