//! `schedstat`: node_exporter's `schedstat` collector: per CPU, the time spent running tasks,
//! the time tasks spent waiting for it, and the timeslices it ran
//! (`node_schedstat_{running_seconds,waiting_seconds,timeslices}_total{cpu}`): waiting time
//! growing faster than running time is CPU contention, before the load average says so.
//!
//! Linux with `CONFIG_SCHEDSTATS`: `/proc/schedstat` (version 15); a kernel without it has no
//! file, which gives no series and is not an error. Linux only.

#![cfg_attr(not(target_os = "linux"), allow(dead_code, unused_imports))]

use super::{CollectError, Collector, Entry, ReadBy, Reading};
use crate::metrics::{self, Kind};
use crate::snapshot::Text;

pub(crate) const ENTRY: Entry = Entry {
    name: "schedstat",
    about: "per-CPU time running and waiting, and timeslices (/proc/schedstat)",
    reads: &[],
    series: None,
    #[cfg(target_os = "linux")]
    start: |setup| {
        Some(Box::new(Schedstat {
            path: setup.procfs.join("schedstat"),
            files: super::shared::files::Files::default(),
            names: Vec::new(),
        }))
    },
    #[cfg(not(target_os = "linux"))]
    start: super::absent,
};

pub(crate) struct Schedstat {
    path: std::path::PathBuf,
    files: super::shared::files::Files,
    /// The CPUs' names of the last sample, shared with this one's (not 256 new strings).
    names: Vec<Text>,
}

impl Collector for Schedstat {
    fn read_by(&self) -> ReadBy {
        ReadBy::Metrics
    }

    fn collect(&mut self, r: &mut Reading) -> Result<(), CollectError> {
        let text = match self.files.read(&self.path) {
            Ok(text) => text,
            // a kernel without CONFIG_SCHEDSTATS
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e),
        };
        let cpus = parse_schedstat(text, &self.names).map_err(|e| CollectError::parse(&self.path, e))?;
        if cpus.len() != self.names.len() || cpus.iter().zip(&self.names).any(|(c, n)| !std::sync::Arc::ptr_eq(&c.0, n))
        {
            self.names = cpus.iter().map(|c| c.0.clone()).collect();
        }
        r.export(Series(cpus));
        Ok(())
    }
}

/// One CPU's line: its number, nanoseconds running, nanoseconds waiting, timeslices.
pub(crate) type Cpu = (Text, [u64; 3]);

/// Parses `/proc/schedstat`: the `cpuN` lines' last three fields (the `domain` lines and the
/// header are skipped). A CPU named as in `known` at the same place shares that name.
pub(crate) fn parse_schedstat(text: &str, known: &[Text]) -> Result<Vec<Cpu>, String> {
    let mut out: Vec<Cpu> = Vec::with_capacity(known.len());
    for (n, line) in super::shared::files::lines(text).enumerate() {
        // the domain lines (several per CPU on a big host) are skipped without splitting them
        let Some(rest) = line.strip_prefix("cpu") else { continue };
        let mut f = super::shared::files::Fields::new(rest);
        let cpu = f.text().unwrap_or_default();
        let mut v = [0u64; 3];
        let mut got = 0;
        let skipped = (0..6).all(|_| f.text().is_some());
        while skipped && got < 3 {
            let Some(value) = f.number() else { break };
            v[got] = value.map_err(|field| format!("line {}: {field:?} is not a number", n + 1))?;
            got += 1;
        }
        if got < 3 {
            return Err(format!("line {}: {} fields, expected 10", n + 1, got + 7));
        }
        let name = crate::snapshot::reuse(known.get(out.len()), cpu);
        out.push((name, v));
    }
    Ok(out)
}

#[derive(Debug)]
struct Series(Vec<Cpu>);

impl metrics::Export for Series {
    fn families(&self, out: &mut Vec<metrics::Family>) {
        for (i, (name, help, scale)) in [
            ("node_schedstat_running_seconds_total", "Number of seconds CPU spent running a process.", 1e-9),
            (
                "node_schedstat_waiting_seconds_total",
                "Number of seconds spent by processing waiting for this CPU.",
                1e-9,
            ),
            ("node_schedstat_timeslices_total", "Number of timeslices executed by CPU.", 1.0),
        ]
        .into_iter()
        .enumerate()
        {
            let mut f = metrics::Family::new(name, Kind::Counter, help);
            for (cpu, v) in &self.0 {
                f.push(vec![metrics::label("cpu", cpu)], v[i] as f64 * scale);
            }
            out.push(f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedstat_version_15() {
        let text = "version 15\ntimestamp 4295347012\n\
            cpu0 0 0 0 0 0 0 2380413913455 194632577410 11367823\n\
            domain0 3 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n\
            cpu1 0 0 0 0 0 0 2231471340560 173520916013 10707624\n";
        let cpus = parse_schedstat(text, &[]).unwrap();
        assert_eq!(
            cpus,
            [
                ("0".into(), [2380413913455, 194632577410, 11367823]),
                ("1".into(), [2231471340560, 173520916013, 10707624])
            ]
        );
        assert!(parse_schedstat("cpu0 1 2 3\n", &[]).unwrap_err().contains("expected 10"));
        assert!(parse_schedstat("cpu0 0 0 0 0 0 0 x 1 2\n", &[]).unwrap_err().contains("\"x\""));
        // the names of the last sample are shared where they match, in place
        let names: Vec<Text> = cpus.iter().map(|c| c.0.clone()).collect();
        let again = parse_schedstat(text, &names).unwrap();
        assert_eq!(again, cpus);
        assert!(again.iter().zip(&names).all(|(c, n)| std::sync::Arc::ptr_eq(&c.0, n)));
        let other = parse_schedstat(text, &["1".into(), "0".into()]).unwrap();
        assert_eq!(other, cpus);
    }
}
