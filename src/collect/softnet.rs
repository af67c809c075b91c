//! `softnet`: node_exporter's `softnet` collector: per CPU, the packets the network stack
//! processed, those it dropped because its backlog was full, and the times its budget ran
//! out with work left (`node_softnet_{processed,dropped,times_squeezed}_total{cpu}`).
//!
//! Linux: `/proc/net/softnet_stat`, one line of hexadecimal counters per CPU (the `cpu` label
//! is the line's index, as node_exporter 1.5 numbers them). Linux only.

#![cfg_attr(not(target_os = "linux"), allow(dead_code, unused_imports))]

use super::{CollectError, Collector, Entry, ReadBy, Reading};
use crate::metrics::{self, Kind};

pub(crate) const ENTRY: Entry = Entry {
    name: "softnet",
    about: "packets processed, dropped and squeezed per CPU (/proc/net/softnet_stat)",
    reads: &[],
    series: None,
    #[cfg(target_os = "linux")]
    start: |setup| Some(Box::new(Softnet { path: setup.procfs.join("net/softnet_stat"), files: Default::default() })),
    #[cfg(not(target_os = "linux"))]
    start: super::absent,
};

pub(crate) struct Softnet {
    path: std::path::PathBuf,
    files: super::shared::files::Files,
}

impl Collector for Softnet {
    fn read_by(&self) -> ReadBy {
        ReadBy::Metrics
    }

    fn collect(&mut self, r: &mut Reading) -> Result<(), CollectError> {
        let text = self.files.read(&self.path)?;
        let cpus = parse_softnet(text).map_err(|e| CollectError::parse(&self.path, e))?;
        r.export(Series(cpus));
        Ok(())
    }
}

/// Processed, dropped and squeezed, for one CPU.
pub(crate) type Counts = [u64; 3];

/// Parses `/proc/net/softnet_stat`: per line, at least the processed, dropped and
/// time_squeeze counters, hexadecimal.
pub(crate) fn parse_softnet(text: &str) -> Result<Vec<Counts>, String> {
    let mut out = Vec::new();
    for (n, line) in super::shared::files::lines(text).enumerate() {
        // the first three of a dozen or more fields: the others are not split
        let mut f = line.split_ascii_whitespace();
        let first: [Option<&str>; 3] = [f.next(), f.next(), f.next()];
        let [Some(processed), Some(dropped), Some(squeezed)] = first else {
            let found = first.iter().flatten().count();
            if found == 0 {
                continue;
            }
            return Err(format!("line {}: {found} fields, expected at least 3", n + 1));
        };
        let hex = |s: &str| u64::from_str_radix(s, 16).map_err(|_| format!("line {}: {s:?} is not hexadecimal", n + 1));
        out.push([hex(processed)?, hex(dropped)?, hex(squeezed)?]);
    }
    Ok(out)
}

#[derive(Debug)]
struct Series(Vec<Counts>);

impl metrics::Export for Series {
    fn families(&self, out: &mut Vec<metrics::Family>) {
        for (i, (name, help)) in [
            ("node_softnet_processed_total", "Number of processed packets"),
            ("node_softnet_dropped_total", "Number of dropped packets"),
            ("node_softnet_times_squeezed_total", "Number of times processing packets ran out of quota"),
        ]
        .into_iter()
        .enumerate()
        {
            let mut f = metrics::Family::new(name, Kind::Counter, help);
            for (cpu, counts) in self.0.iter().enumerate() {
                f.push(vec![metrics::label("cpu", cpu)], counts[i] as f64);
            }
            out.push(f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softnet_stat() {
        let text = "00000027 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000\n\
                    0000204c 00000001 0000000a 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000\n";
        assert_eq!(parse_softnet(text), Ok(vec![[0x27, 0, 0], [0x204c, 1, 10]]));
        assert!(parse_softnet("0000 0001\n").unwrap_err().contains("at least 3"));
        assert!(parse_softnet("zz 0 0\n").unwrap_err().contains("\"zz\""));
    }
}
