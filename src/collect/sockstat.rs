//! `sockstat`: node_exporter's `sockstat` collector: sockets in use per protocol, TCP
//! sockets orphaned, in TIME_WAIT and allocated, and the memory the kernel gives them
//! (`node_sockstat_sockets_used`, `node_sockstat_<PROTOCOL>_<state>`, and
//! `node_sockstat_<PROTOCOL>_mem_bytes` for the `mem` pages in bytes).
//!
//! Linux: `/proc/net/sockstat` and `/proc/net/sockstat6` (absent without IPv6), of the
//! network namespace the service runs in. Linux only.

#![cfg_attr(not(target_os = "linux"), allow(dead_code, unused_imports))]

use std::path::PathBuf;
use std::sync::Arc;

use super::{CollectError, Collector, Entry, ReadBy, Reading, Setup};
use crate::metrics::{self, Kind};

pub(crate) const ENTRY: Entry = Entry {
    name: "sockstat",
    about: "sockets in use per protocol, orphaned, in TIME_WAIT, and their memory (/proc/net/sockstat)",
    reads: &[],
    series: None,
    #[cfg(target_os = "linux")]
    start: |setup| Some(Box::new(Sockstat::new(setup))),
    #[cfg(not(target_os = "linux"))]
    start: super::absent,
};

pub(crate) struct Sockstat {
    paths: [PathBuf; 2],
    files: super::shared::files::Files,
    page_size: f64,
    /// The values, `PROTOCOL_state` (or `sockets_used`).
    values: super::shared::counters::Named<f64>,
}

impl Sockstat {
    fn new(setup: &Setup) -> Sockstat {
        let net = setup.procfs.join("net");
        Sockstat {
            paths: [net.join("sockstat"), net.join("sockstat6")],
            files: super::shared::files::Files::with_limit(64 << 10),
            page_size: super::memory::page_size() as f64,
            values: Default::default(),
        }
    }
}

impl Collector for Sockstat {
    fn read_by(&self) -> ReadBy {
        ReadBy::Metrics
    }

    fn collect(&mut self, r: &mut Reading) -> Result<(), CollectError> {
        let (values, page_size) = (&mut self.values, self.page_size);
        let mut put = |protocol: &str, state: &str, value: f64| values.put(protocol, state, value);
        for (i, path) in self.paths.iter().enumerate() {
            match self.files.read(path) {
                Ok(text) => parse_sockstat(text, page_size, &mut put).map_err(|e| CollectError::parse(path, e))?,
                // sockstat6 is absent without IPv6
                Err(e) if i == 1 && e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        r.export(Series(self.values.take()));
        Ok(())
    }
}

/// Parses a sockstat file, `PROTOCOL: state value state value...` lines, calling
/// `each(protocol, state, value)`; `mem` (pages) is also given as `mem_bytes`, and `sockets:
/// used N` as protocol `sockets`, state `used`.
pub(crate) fn parse_sockstat(text: &str, page_size: f64, mut each: impl FnMut(&str, &str, f64)) -> Result<(), String> {
    for (n, line) in super::shared::files::lines(text).enumerate() {
        let Some((protocol, rest)) = line.split_once(':') else {
            if line.trim().is_empty() {
                continue;
            }
            return Err(format!("line {}: no ':'", n + 1));
        };
        let f: Vec<&str> = rest.split_ascii_whitespace().collect();
        if !f.len().is_multiple_of(2) {
            return Err(format!("line {} ({protocol}): a state without its value", n + 1));
        }
        for pair in f.chunks(2) {
            let (state, v) = (pair[0], pair[1]);
            let v: f64 = v
                .parse::<u64>()
                .map(|v| v as f64)
                .map_err(|_| format!("line {} ({protocol} {state}): {v:?} is not a number", n + 1))?;
            each(protocol, state, v);
            if state == "mem" {
                each(protocol, "mem_bytes", v * page_size);
            }
        }
    }
    Ok(())
}

#[derive(Debug)]
struct Series(Vec<(Arc<str>, f64)>);

impl metrics::Export for Series {
    fn families(&self, out: &mut Vec<metrics::Family>) {
        for (name, value) in &self.0 {
            let help = match name.as_ref() {
                "sockets_used" => "Number of IPv4 sockets in use.".to_string(),
                other => {
                    let (protocol, state) = other.split_once('_').unwrap_or((other, ""));
                    format!("Number of {protocol} sockets in state {state}.")
                }
            };
            out.push(metrics::Family::new(format!("node_sockstat_{name}"), Kind::Gauge, help).with(vec![], *value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockstat_and_sockstat6() {
        let text = "sockets: used 16\nTCP: inuse 5 orphan 0 tw 2 alloc 5 mem 338\nUDP: inuse 0 mem 0\n\
                    UDPLITE: inuse 0\nRAW: inuse 0\nFRAG: inuse 0 memory 0\n";
        let mut got = Vec::new();
        parse_sockstat(text, 4096.0, |p, s, v| got.push(format!("{p}_{s}={v}"))).unwrap();
        assert_eq!(
            got,
            [
                "sockets_used=16",
                "TCP_inuse=5",
                "TCP_orphan=0",
                "TCP_tw=2",
                "TCP_alloc=5",
                "TCP_mem=338",
                "TCP_mem_bytes=1384448",
                "UDP_inuse=0",
                "UDP_mem=0",
                "UDP_mem_bytes=0",
                "UDPLITE_inuse=0",
                "RAW_inuse=0",
                "FRAG_inuse=0",
                "FRAG_memory=0"
            ]
        );
        let six = "TCP6: inuse 2\nUDP6: inuse 1\nUDPLITE6: inuse 0\nRAW6: inuse 0\nFRAG6: inuse 0 memory 0\n";
        let mut n = 0;
        parse_sockstat(six, 4096.0, |_, _, _| n += 1).unwrap();
        assert_eq!(n, 6);
    }

    #[test]
    fn malformed_sockstat() {
        assert!(parse_sockstat("TCP: inuse\n", 4096.0, |_, _, _| {}).unwrap_err().contains("without its value"));
        assert!(parse_sockstat("TCP: inuse x\n", 4096.0, |_, _, _| {}).unwrap_err().contains("\"x\""));
        assert!(parse_sockstat("garbage\n", 4096.0, |_, _, _| {}).unwrap_err().contains("no ':'"));
    }
}
