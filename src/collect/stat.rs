//! `stat`: node_exporter's `stat` collector: processes running and blocked now, forks,
//! context switches and interrupts since boot (`node_procs_running`, `node_procs_blocked`,
//! `node_forks_total`, `node_context_switches_total`, `node_intr_total`), for `/metrics`.
//!
//! Linux: the lines of `/proc/stat` beside the CPU times, as `cpu` read them (one read of
//! the file per sample); read here when `cpu` does not run. Raw kernel values, as
//! node_exporter reports them. macOS has no such counters: the family does not exist there
//! (node_exporter's darwin build has no `stat` collector either).

#![cfg_attr(not(target_os = "linux"), allow(dead_code, unused_imports))]

use super::cpu::Counters;
use super::{CollectError, Collector, Entry, ReadBy, Reading};
use crate::metrics::{self, Kind};

pub(crate) const ENTRY: Entry = Entry {
    name: "stat",
    about: "processes running and blocked, forks, context switches, interrupts (/proc/stat)",
    reads: &["cpu"],
    series: None,
    #[cfg(target_os = "linux")]
    start: |setup| Some(Box::new(Stat { path: setup.procfs.join("stat"), files: Default::default() })),
    #[cfg(not(target_os = "linux"))]
    start: super::absent,
};

pub(crate) struct Stat {
    path: std::path::PathBuf,
    files: super::shared::files::Files,
}

impl Collector for Stat {
    fn read_by(&self) -> ReadBy {
        ReadBy::Metrics
    }

    fn collect(&mut self, r: &mut Reading) -> Result<(), CollectError> {
        let counters = match r.proc_stat {
            Some(c) => c,
            None => {
                let text = self.files.read(&self.path)?;
                super::cpu::parse_stat(text).map_err(|e| CollectError::parse(&self.path, e))?.counters
            }
        };
        r.export(Series(counters));
        Ok(())
    }
}

/// One sample's counters, as node_exporter names them.
#[derive(Debug)]
struct Series(Counters);

impl metrics::Export for Series {
    fn families(&self, out: &mut Vec<metrics::Family>) {
        let c = &self.0;
        let as_f64 = |v: Option<u64>| v.map(|v| v as f64);
        for (name, kind, help, value) in [
            ("node_procs_running", Kind::Gauge, "Number of processes in runnable state.", c.procs_running),
            (
                "node_procs_blocked",
                Kind::Gauge,
                "Number of processes blocked waiting for I/O to complete.",
                c.procs_blocked,
            ),
            ("node_forks_total", Kind::Counter, "Total number of forks.", c.forks),
            ("node_context_switches_total", Kind::Counter, "Total number of context switches.", c.context_switches),
            ("node_intr_total", Kind::Counter, "Total number of interrupts serviced.", c.interrupts),
        ] {
            out.extend(metrics::Family::single(name, kind, help, as_f64(value)));
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use crate::collect::Setup;

    fn families(r: &Reading) -> Vec<metrics::Family> {
        let mut out = Vec::new();
        r.exported.iter().for_each(|e| e.families(&mut out));
        out
    }

    /// Without `cpu`, the family reads `/proc/stat` itself; with it, it takes what `cpu` read
    /// (here a different value, to tell the two apart).
    #[test]
    fn reads_the_file_only_when_cpu_did_not() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("stat"), "cpu 1 2 3 4\nctxt 77\nprocesses 9\nprocs_running 2\n").unwrap();
        let setup = Setup { procfs: dir.path().to_path_buf(), ..crate::config::default_setup() };
        let mut family = (ENTRY.start)(&setup).unwrap();
        let mut r = Reading::new(std::time::Instant::now(), std::time::SystemTime::now());
        family.collect(&mut r).unwrap();
        let f = families(&r);
        let value = |name: &str| f.iter().find(|f| f.name == name).map(|f| f.samples[0].value);
        assert_eq!(value("node_context_switches_total"), Some(77.0));
        assert_eq!(value("node_forks_total"), Some(9.0));
        assert_eq!(value("node_procs_running"), Some(2.0));
        // a kernel without the line: no series, not a zero
        assert_eq!(value("node_procs_blocked"), None);

        let mut r = Reading::new(std::time::Instant::now(), std::time::SystemTime::now());
        r.proc_stat = Some(Counters { context_switches: Some(5), ..Default::default() });
        family.collect(&mut r).unwrap();
        assert_eq!(
            families(&r).iter().find(|f| f.name == "node_context_switches_total").unwrap().samples[0].value,
            5.0
        );

        std::fs::write(dir.path().join("stat"), "garbage\n").unwrap();
        let mut r = Reading::new(std::time::Instant::now(), std::time::SystemTime::now());
        assert!(family.collect(&mut r).unwrap_err().to_string().contains("stat"));
    }
}
