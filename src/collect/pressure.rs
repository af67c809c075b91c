//! `pressure`: node_exporter's `pressure` collector, the kernel's pressure stall information
//! (PSI): how long tasks waited for CPU, memory, I/O and interrupts since boot
//! (`node_pressure_{cpu,memory,io}_waiting_seconds_total` from the `some` lines,
//! `node_pressure_{memory,io,irq}_stalled_seconds_total` from the `full` lines).
//!
//! Linux 4.20+ with `CONFIG_PSI`: `/proc/pressure/{cpu,memory,io,irq}` (`irq` since 6.1, with
//! `CONFIG_IRQ_TIME_ACCOUNTING`). A file the kernel does not have gives no series: not an
//! error, and not a zero. Linux only.

#![cfg_attr(not(target_os = "linux"), allow(dead_code, unused_imports))]

use std::path::PathBuf;

use super::{CollectError, Collector, Entry, ReadBy, Reading, Setup};
use crate::metrics::{self, Kind};

pub(crate) const ENTRY: Entry = Entry {
    name: "pressure",
    about: "time waited for CPU, memory, I/O and interrupts (pressure stall information, /proc/pressure)",
    reads: &[],
    series: None,
    #[cfg(target_os = "linux")]
    start: |setup| Some(Box::new(Pressure::new(setup))),
    #[cfg(not(target_os = "linux"))]
    start: super::absent,
};

/// The resources, in the order node_exporter reads them.
const RESOURCES: [Resource; 4] = [Resource::Cpu, Resource::Io, Resource::Memory, Resource::Irq];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resource {
    Cpu,
    Io,
    Memory,
    Irq,
}

impl Resource {
    fn file(self) -> &'static str {
        match self {
            Resource::Cpu => "cpu",
            Resource::Io => "io",
            Resource::Memory => "memory",
            Resource::Irq => "irq",
        }
    }

    /// The series of the `some` line and of the `full` line, with their help; node_exporter
    /// has no series for CPU `full` nor for interrupt `some` (the kernel has no such line).
    fn series(self) -> [Option<(&'static str, &'static str)>; 2] {
        match self {
            Resource::Cpu => [
                Some((
                    "node_pressure_cpu_waiting_seconds_total",
                    "Total time in seconds that processes have waited for CPU time",
                )),
                None,
            ],
            Resource::Io => [
                Some((
                    "node_pressure_io_waiting_seconds_total",
                    "Total time in seconds that processes have waited due to IO congestion",
                )),
                Some((
                    "node_pressure_io_stalled_seconds_total",
                    "Total time in seconds no process could make progress due to IO congestion",
                )),
            ],
            Resource::Memory => [
                Some((
                    "node_pressure_memory_waiting_seconds_total",
                    "Total time in seconds that processes have waited for memory",
                )),
                Some((
                    "node_pressure_memory_stalled_seconds_total",
                    "Total time in seconds no process could make progress due to memory congestion",
                )),
            ],
            Resource::Irq => [
                None,
                Some((
                    "node_pressure_irq_stalled_seconds_total",
                    "Total time in seconds no process could make progress due to IRQ congestion",
                )),
            ],
        }
    }
}

pub(crate) struct Pressure {
    paths: [PathBuf; 4],
    files: super::shared::files::Files,
}

impl Pressure {
    fn new(setup: &Setup) -> Pressure {
        let dir = setup.procfs.join("pressure");
        Pressure { paths: RESOURCES.map(|r| dir.join(r.file())), files: super::shared::files::Files::with_limit(4096) }
    }
}

impl Collector for Pressure {
    fn read_by(&self) -> ReadBy {
        ReadBy::Metrics
    }

    fn collect(&mut self, r: &mut Reading) -> Result<(), CollectError> {
        let mut totals = [None; 4];
        for (slot, path) in totals.iter_mut().zip(&self.paths) {
            match self.files.read(path) {
                Ok(text) => *slot = Some(parse_pressure(text).map_err(|e| CollectError::parse(path, e))?),
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        r.export(Series(totals));
        Ok(())
    }
}

/// The `total=` microseconds of a pressure file's `some` and `full` lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Stalls {
    pub some: Option<u64>,
    pub full: Option<u64>,
}

/// Parses a `/proc/pressure/*` file: `some avg10=0.00 avg60=0.00 avg300=0.00 total=12345`
/// and, except for `cpu` on older kernels, the same with `full`.
pub(crate) fn parse_pressure(text: &str) -> Result<Stalls, String> {
    let mut out = Stalls::default();
    for line in super::shared::files::lines(text) {
        let mut f = line.split_ascii_whitespace();
        let Some(kind) = f.next() else { continue };
        let total =
            f.find_map(|kv| kv.strip_prefix("total=")).ok_or_else(|| format!("the {kind:?} line has no total="))?;
        let total = total.parse().map_err(|_| format!("total={total:?} is not a number"))?;
        match kind {
            "some" => out.some = Some(total),
            "full" => out.full = Some(total),
            other => return Err(format!("unknown line {other:?}")),
        }
    }
    if out.some.is_none() && out.full.is_none() {
        return Err("no some or full line".into());
    }
    Ok(out)
}

/// One sample's totals, by resource (`None`: the kernel has no such file).
#[derive(Debug)]
struct Series([Option<Stalls>; 4]);

impl metrics::Export for Series {
    fn families(&self, out: &mut Vec<metrics::Family>) {
        for (resource, stalls) in RESOURCES.iter().zip(&self.0) {
            let Some(stalls) = stalls else { continue };
            let [some, full] = resource.series();
            for (series, value) in [(some, stalls.some), (full, stalls.full)] {
                if let (Some((name, help)), Some(us)) = (series, value) {
                    out.push(metrics::Family::new(name, Kind::Counter, help).with(vec![], us as f64 / 1e6));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pressure_files() {
        let cpu = "some avg10=8.86 avg60=6.23 avg300=1.69 total=10062917\n";
        assert_eq!(parse_pressure(cpu), Ok(Stalls { some: Some(10062917), full: None }));
        let io = "some avg10=0.00 avg60=0.00 avg300=0.00 total=5\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=3\n";
        assert_eq!(parse_pressure(io), Ok(Stalls { some: Some(5), full: Some(3) }));
        let irq = "full avg10=0.00 avg60=0.00 avg300=0.00 total=42\n";
        assert_eq!(parse_pressure(irq), Ok(Stalls { some: None, full: Some(42) }));
        assert!(parse_pressure("some avg10=0.00\n").unwrap_err().contains("no total"));
        assert!(parse_pressure("some total=x\n").unwrap_err().contains("\"x\""));
        assert!(parse_pressure("").is_err());
    }

    /// A kernel with only some of the files: their series, none for the others, no error.
    #[cfg(target_os = "linux")]
    #[test]
    fn absent_files_are_absent_series() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("pressure")).unwrap();
        std::fs::write(dir.path().join("pressure/memory"), "some total=2000000\nfull total=1500000\n").unwrap();
        let mut p = Pressure::new(&Setup { procfs: dir.path().to_path_buf(), ..crate::config::default_setup() });
        let mut r = Reading::new(std::time::Instant::now(), std::time::SystemTime::now());
        p.collect(&mut r).unwrap();
        let mut f = Vec::new();
        r.exported[0].families(&mut f);
        let got: Vec<(&str, f64)> = f.iter().map(|f| (f.name.as_str(), f.samples[0].value)).collect();
        assert_eq!(
            got,
            [("node_pressure_memory_waiting_seconds_total", 2.0), ("node_pressure_memory_stalled_seconds_total", 1.5)]
        );
        std::fs::write(dir.path().join("pressure/cpu"), "weird\n").unwrap();
        let mut r = Reading::new(std::time::Instant::now(), std::time::SystemTime::now());
        assert!(p.collect(&mut r).unwrap_err().to_string().contains("pressure/cpu"));
    }
}
