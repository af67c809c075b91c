//! `arp`: node_exporter's `arp` collector: the neighbour (ARP) table's entries per interface
//! (`node_arp_entries{device}`): a table filling up is a flat network with too many hosts, or a
//! scan.
//!
//! Linux: `/proc/net/arp`, every entry counted whatever its state, as node_exporter 1.5
//! counts them. Linux only.

#![cfg_attr(not(target_os = "linux"), allow(dead_code, unused_imports))]

use std::sync::Arc;

use super::{CollectError, Collector, Entry, ReadBy, Reading};
use crate::metrics::{self, Kind};

pub(crate) const ENTRY: Entry = Entry {
    name: "arp",
    about: "ARP table entries per interface (/proc/net/arp)",
    reads: &[],
    series: None,
    #[cfg(target_os = "linux")]
    start: |setup| {
        Some(Box::new(Arp {
            path: setup.procfs.join("net/arp"),
            files: Default::default(),
            counts: Default::default(),
        }))
    },
    #[cfg(not(target_os = "linux"))]
    start: super::absent,
};

pub(crate) struct Arp {
    path: std::path::PathBuf,
    files: super::shared::files::Files,
    counts: super::shared::counters::Named<u64>,
}

impl Collector for Arp {
    fn read_by(&self) -> ReadBy {
        ReadBy::Metrics
    }

    fn collect(&mut self, r: &mut Reading) -> Result<(), CollectError> {
        let text = self.files.read(&self.path)?;
        for (device, n) in parse_arp(text).map_err(|e| CollectError::parse(&self.path, e))? {
            self.counts.put("", device, n);
        }
        r.export(Series(self.counts.take()));
        Ok(())
    }
}

/// The entries of `/proc/net/arp` per device, sorted by device name.
pub(crate) fn parse_arp(text: &str) -> Result<Vec<(&str, u64)>, String> {
    let mut by_device: std::collections::BTreeMap<&str, u64> = Default::default();
    for (n, line) in text.lines().enumerate().skip(1) {
        let f: Vec<&str> = line.split_ascii_whitespace().collect();
        if f.is_empty() {
            continue;
        }
        // IP address, HW type, Flags, HW address, Mask, Device
        let device = f.get(5).ok_or_else(|| format!("line {}: {} fields, expected 6", n + 1, f.len()))?;
        *by_device.entry(device).or_default() += 1;
    }
    Ok(by_device.into_iter().collect())
}

#[derive(Debug)]
struct Series(Vec<(Arc<str>, u64)>);

impl metrics::Export for Series {
    fn families(&self, out: &mut Vec<metrics::Family>) {
        let mut f = metrics::Family::new("node_arp_entries", Kind::Gauge, "ARP entries by device");
        for (device, n) in &self.0 {
            f.push(vec![metrics::label("device", device)], *n as f64);
        }
        out.push(f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_per_device() {
        let text = "IP address       HW type     Flags       HW address            Mask     Device\n\
                    192.168.1.1      0x1         0x2         00:11:22:33:44:55     *        eth0\n\
                    192.168.1.7      0x1         0x0         00:00:00:00:00:00     *        eth0\n\
                    10.0.0.1         0x1         0x2         66:77:88:99:aa:bb     *        docker0\n";
        assert_eq!(parse_arp(text), Ok(vec![("docker0", 1), ("eth0", 2)]));
        assert_eq!(parse_arp("IP address HW type Flags HW address Mask Device\n"), Ok(vec![]));
        assert!(parse_arp("h\n10.0.0.1 0x1 0x2\n").unwrap_err().contains("expected 6"));
    }
}
