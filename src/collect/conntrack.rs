//! `conntrack`: node_exporter's `conntrack` collector: the connection-tracking table's size
//! and limit (`node_nf_conntrack_entries`, `_entries_limit`: a full table drops new
//! connections) and the per-CPU statistics summed (`node_nf_conntrack_stat_*`: drops,
//! early drops, failed inserts...).
//!
//! Linux with netfilter's conntrack loaded: `/proc/sys/net/netfilter/nf_conntrack_{count,max}`
//! and `/proc/net/stat/nf_conntrack` (hexadecimal, a line per CPU). Without the module the
//! files are absent: no series, not an error. Linux only.

#![cfg_attr(not(target_os = "linux"), allow(dead_code, unused_imports))]

use std::path::PathBuf;

use super::{CollectError, Collector, Entry, ReadBy, Reading, Setup};
use crate::metrics::{self, Kind};

pub(crate) const ENTRY: Entry = Entry {
    name: "conntrack",
    about: "connection-tracking table size, limit and drops (/proc/sys/net/netfilter)",
    reads: &[],
    series: None,
    #[cfg(target_os = "linux")]
    start: |setup| Some(Box::new(Conntrack::new(setup))),
    #[cfg(not(target_os = "linux"))]
    start: super::absent,
};

/// The statistics node_exporter reports, with their help.
const STATS: [(&str, &str); 8] = [
    ("found", "Number of searched entries which were successful."),
    ("invalid", "Number of packets seen which can not be tracked."),
    ("ignore", "Number of packets seen which are already connected to a conntrack entry."),
    ("insert", "Number of entries inserted into the list."),
    ("insert_failed", "Number of entries for which list insertion was attempted but failed."),
    ("drop", "Number of packets dropped due to conntrack failure."),
    ("early_drop", "Number of dropped conntrack entries to make room for new ones, if maximum table size was reached."),
    ("search_restart", "Number of conntrack table lookups which had to be restarted due to hashtable resizes."),
];

pub(crate) struct Conntrack {
    count: PathBuf,
    max: PathBuf,
    stat: PathBuf,
    files: super::shared::files::Files,
}

impl Conntrack {
    fn new(setup: &Setup) -> Conntrack {
        let netfilter = setup.procfs.join("sys/net/netfilter");
        Conntrack {
            count: netfilter.join("nf_conntrack_count"),
            max: netfilter.join("nf_conntrack_max"),
            stat: setup.procfs.join("net/stat/nf_conntrack"),
            files: super::shared::files::Files::with_limit(1 << 20),
        }
    }
}

impl Collector for Conntrack {
    fn read_by(&self) -> ReadBy {
        ReadBy::Metrics
    }

    fn collect(&mut self, r: &mut Reading) -> Result<(), CollectError> {
        let entries = match self.files.read_u64(&self.count) {
            Ok(n) => n,
            // the module is not loaded
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e),
        };
        let limit = self.files.read_u64(&self.max)?;
        let stats = match self.files.read(&self.stat) {
            Ok(text) => Some(parse_stat(text).map_err(|e| CollectError::parse(&self.stat, e))?),
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(e),
        };
        r.export(Series { entries, limit, stats });
        Ok(())
    }
}

/// `/proc/net/stat/nf_conntrack`: a header of names, then a line of hexadecimal values per
/// CPU; the [`STATS`] summed over the CPUs, in their order (`None` for one the kernel lacks).
pub(crate) fn parse_stat(text: &str) -> Result<[Option<u64>; 8], String> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().ok_or("empty")?.split_ascii_whitespace().collect();
    let columns = STATS.map(|(name, _)| header.iter().position(|h| *h == name));
    let mut sums: [Option<u64>; 8] = [None; 8];
    for (n, line) in lines.enumerate() {
        let f: Vec<&str> = line.split_ascii_whitespace().collect();
        if f.is_empty() {
            continue;
        }
        if f.len() != header.len() {
            return Err(format!("line {}: {} values for {} names", n + 2, f.len(), header.len()));
        }
        for (sum, column) in sums.iter_mut().zip(columns) {
            if let Some(c) = column {
                let v = u64::from_str_radix(f[c], 16)
                    .map_err(|_| format!("line {}: {:?} is not hexadecimal", n + 2, f[c]))?;
                *sum = Some(sum.unwrap_or(0).saturating_add(v));
            }
        }
    }
    Ok(sums)
}

#[derive(Debug)]
struct Series {
    entries: u64,
    limit: u64,
    stats: Option<[Option<u64>; 8]>,
}

impl metrics::Export for Series {
    fn value(&self, name: &str) -> Option<f64> {
        match name {
            "node_nf_conntrack_entries" => Some(self.entries as f64),
            "node_nf_conntrack_entries_limit" => Some(self.limit as f64),
            _ => {
                let mut out = Vec::new();
                self.families(&mut out);
                out.iter().find(|f| f.name == name).and_then(|f| f.samples.first()).map(|s| s.value)
            }
        }
    }

    fn families(&self, out: &mut Vec<metrics::Family>) {
        out.push(
            metrics::Family::new(
                "node_nf_conntrack_entries",
                Kind::Gauge,
                "Number of currently allocated flow entries for connection tracking.",
            )
            .with(vec![], self.entries as f64),
        );
        out.push(
            metrics::Family::new(
                "node_nf_conntrack_entries_limit",
                Kind::Gauge,
                "Maximum size of connection tracking table.",
            )
            .with(vec![], self.limit as f64),
        );
        for ((name, help), value) in STATS.iter().zip(self.stats.unwrap_or_default()) {
            if let Some(v) = value {
                out.push(
                    metrics::Family::new(format!("node_nf_conntrack_stat_{name}"), Kind::Gauge, *help)
                        .with(vec![], v as f64),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    /// `value` answers as the families say.
    #[test]
    fn values_agree_with_the_families() {
        let s = super::Series {
            entries: 12,
            limit: 65536,
            stats: Some([Some(1), None, Some(3), None, None, None, None, Some(8)]),
        };
        crate::metrics::assert_values_agree(&s);
    }

    use super::*;

    #[test]
    fn stats_are_summed_over_cpus() {
        let text = "entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart\n\
            00000005  00000000 00000010 00000000 00000002 00000000 00000000 00000000 00000001 00000000 00000000 00000000 00000000  00000000 00000000 00000000 00000003\n\
            00000005  00000000 00000001 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000004 00000000 00000000  00000000 00000000 00000000 00000000\n";
        let s = parse_stat(text).unwrap();
        assert_eq!(s, [Some(17), Some(2), Some(0), Some(1), Some(0), Some(4), Some(0), Some(3)]);
        // an older kernel without search_restart
        assert_eq!(parse_stat("found drop\n00000001 00000002\n").unwrap()[7], None);
        assert!(parse_stat("found drop\n00000001\n").unwrap_err().contains("1 values for 2 names"));
        assert!(parse_stat("found\nzz\n").unwrap_err().contains("\"zz\""));
        assert!(parse_stat("").is_err());
    }

    /// Without the module there is nothing to report, and that is no error.
    #[cfg(target_os = "linux")]
    #[test]
    fn without_the_module() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Conntrack::new(&Setup { procfs: dir.path().to_path_buf(), ..crate::config::default_setup() });
        let mut r = Reading::new(std::time::Instant::now(), std::time::SystemTime::now());
        c.collect(&mut r).unwrap();
        assert!(r.exported.is_empty());
    }
}
