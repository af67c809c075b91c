//! `udp_queues`: node_exporter's `udp_queues` collector: the bytes waiting in UDP sockets'
//! send and receive queues, for IPv4 and IPv6 (`node_udp_queues{ip,queue}`): a receive queue
//! that keeps growing is an application not reading fast enough (DNS, syslog, metrics).
//!
//! Linux: `/proc/net/udp` and `/proc/net/udp6` (absent without IPv6): the `tx_queue:rx_queue`
//! column of every socket, summed. One line per socket: on a host with many UDP sockets this
//! is the largest file read per sample. Linux only.

#![cfg_attr(not(target_os = "linux"), allow(dead_code, unused_imports))]

use std::path::PathBuf;

use super::{CollectError, Collector, Entry, ReadBy, Reading};
use crate::metrics::{self, Kind};

pub(crate) const ENTRY: Entry = Entry {
    name: "udp_queues",
    about: "bytes queued in UDP sockets, IPv4 and IPv6 (/proc/net/udp, udp6)",
    reads: &[],
    series: None,
    #[cfg(target_os = "linux")]
    start: |setup| {
        let net = setup.procfs.join("net");
        Some(Box::new(UdpQueues { paths: [net.join("udp"), net.join("udp6")], files: Default::default() }))
    },
    #[cfg(not(target_os = "linux"))]
    start: super::absent,
};

pub(crate) struct UdpQueues {
    paths: [PathBuf; 2],
    files: super::shared::files::Files,
}

impl Collector for UdpQueues {
    fn read_by(&self) -> ReadBy {
        ReadBy::Metrics
    }

    fn collect(&mut self, r: &mut Reading) -> Result<(), CollectError> {
        let mut queues = [None; 2];
        for (i, path) in self.paths.iter().enumerate() {
            match self.files.read(path) {
                Ok(text) => queues[i] = Some(parse_udp(text).map_err(|e| CollectError::parse(path, e))?),
                Err(e) if i == 1 && e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        r.export(Series(queues));
        Ok(())
    }
}

/// The send and receive queues of every socket of `/proc/net/udp{,6}`, summed (bytes).
pub(crate) fn parse_udp(text: &str) -> Result<(u64, u64), String> {
    let (mut tx, mut rx) = (0u64, 0u64);
    for (n, line) in text.lines().enumerate().skip(1) {
        let Some(queues) = line.split_ascii_whitespace().nth(4) else {
            if line.trim().is_empty() {
                continue;
            }
            return Err(format!("line {}: fewer than 5 fields", n + 1));
        };
        let (t, r) = queues.split_once(':').ok_or_else(|| format!("line {}: {queues:?} is not tx:rx", n + 1))?;
        let hex = |s: &str| u64::from_str_radix(s, 16).map_err(|_| format!("line {}: {s:?} is not hexadecimal", n + 1));
        tx = tx.saturating_add(hex(t)?);
        rx = rx.saturating_add(hex(r)?);
    }
    Ok((tx, rx))
}

/// Sent and received bytes queued, IPv4 then IPv6 (`None`: no such file).
#[derive(Debug)]
struct Series([Option<(u64, u64)>; 2]);

impl metrics::Export for Series {
    fn families(&self, out: &mut Vec<metrics::Family>) {
        let mut f = metrics::Family::new(
            "node_udp_queues",
            Kind::Gauge,
            "Number of allocated memory in the kernel for UDP datagrams in bytes.",
        );
        for (ip, queues) in ["v4", "v6"].into_iter().zip(self.0) {
            if let Some((tx, rx)) = queues {
                f.push(vec![metrics::label("ip", ip), metrics::label("queue", "rx")], rx as f64);
                f.push(vec![metrics::label("ip", ip), metrics::label("queue", "tx")], tx as f64);
            }
        }
        out.push(f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queues_are_summed() {
        let text = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
           1: 00000000:0044 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1 2 ffff 0\n\
           2: 0100007F:0035 00000000:0000 07 00000010:00000300 00:00000000 00000000   101        0 2 2 ffff 0\n\
           3: 0100007F:0036 00000000:0000 07 00000001:00000001 00:00000000 00000000   101        0 3 2 ffff 0\n";
        assert_eq!(parse_udp(text), Ok((0x11, 0x301)));
        assert_eq!(parse_udp("header only\n"), Ok((0, 0)));
        assert!(parse_udp("h\n 1: a b c\n").unwrap_err().contains("fewer than 5"));
        assert!(parse_udp("h\n 1: a b c zz:00\n").unwrap_err().contains("\"zz\""));
    }
}
