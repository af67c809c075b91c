//! `network`: traffic since boot summed over every interface (`network.io_counters`,
//! loopback included as psutil counts it), per interface (`network.all_interfaces[].counters`,
//! with rates), and the receive and send rates over the sampling interval
//! (`throughput.net_*`). For `/metrics` beside those, node_exporter's other per-device
//! counters: FIFO and frame errors, compressed and multicast packets, collisions and carrier
//! losses (`node_network_{receive,transmit}_*_total`).
//!
//! Linux: `/proc/net/dev` (the network namespace the service runs in). Counters are made
//! monotonic per interface ([`NoWrap`]): 32-bit kernels keep them in an `unsigned long` that
//! wraps at 4 GiB, and container interfaces come and go. macOS: `sysinfo` (getifaddrs'
//! `if_data`).

use std::time::Instant;

use super::shared::counters::{NoWrap, rate};
use super::{CollectError, Collector, Entry, Reading, Setup};
use crate::metrics::{self, Kind};
use crate::snapshot::{NetInterface, NetIoCounters, Text};

pub(crate) const ENTRY: Entry = Entry {
    name: "network",
    about: "traffic since boot, in total and per interface, and its rates (/proc/net/dev)",
    reads: &[],
    series: Some(snapshot_series),
    start: |setup| Some(Box::new(Network::new(setup))),
};

pub(crate) struct Network {
    #[cfg(target_os = "linux")]
    net_dev: std::path::PathBuf,
    #[cfg(target_os = "linux")]
    files: super::shared::files::Files,
    #[cfg(target_os = "macos")]
    networks: Result<sysinfo::Networks, String>,
    /// Each interface's MTU and link speed (Mb/s), which macOS reports with the counters.
    #[cfg(target_os = "macos")]
    links: super::shared::counters::FastMap<String, (Option<u32>, Option<u64>)>,
    counters: NoWrap<COUNTERS>,
    /// This sample's interfaces and raw counters (the names kept from one sample to the next).
    lines: Vec<(Text, DevCounters)>,
    previous: Option<(Instant, DevCounters)>,
    /// The interfaces left out of the lists (their traffic still counts in the totals).
    exclude: super::shared::exclude::Exclusions,
}

impl Network {
    #[cfg(target_os = "linux")]
    fn new(setup: &Setup) -> Network {
        Network {
            net_dev: setup.procfs.join("net/dev"),
            files: Default::default(),
            counters: NoWrap::default(),
            lines: Vec::new(),
            previous: None,
            exclude: setup.exclude.clone(),
        }
    }

    /// Every interface's raw counters, into `self.lines`.
    #[cfg(target_os = "linux")]
    fn read(&mut self) -> Result<(), CollectError> {
        let path = &self.net_dev;
        let text = self.files.read(path)?;
        let lines = &mut self.lines;
        let mut n = 0;
        parse_net_dev(text, |name, raw| {
            match lines.get_mut(n) {
                Some(line) if &*line.0 == name => line.1 = raw,
                Some(line) => *line = (name.into(), raw),
                None => lines.push((name.into(), raw)),
            }
            n += 1;
        })
        .map_err(|e| CollectError::parse(path, e))?;
        lines.truncate(n);
        Ok(())
    }

    #[cfg(target_os = "macos")]
    fn new(setup: &Setup) -> Network {
        Network {
            networks: sysinfo::Networks::new_with_refreshed_list().map_err(|e| e.to_string()),
            links: Default::default(),
            counters: NoWrap::default(),
            lines: Vec::new(),
            previous: None,
            exclude: setup.exclude.clone(),
        }
    }

    #[cfg(target_os = "macos")]
    fn read(&mut self) -> Result<(), CollectError> {
        let networks = self.networks.as_mut().map_err(|e| CollectError::Missing(format!("sysinfo: {e}")))?;
        networks.refresh(true);
        self.lines.clear();
        self.links.clear();
        for (name, d) in networks.iter() {
            let name = name.to_string_lossy().into_owned();
            let speed = d.transmit_link_speed().map(|bps| bps / 1_000_000).filter(|&m| m > 0);
            self.links.insert(name.clone(), (u32::try_from(d.mtu()).ok(), speed));
            let mut c = [0; COUNTERS];
            (c[RX_BYTES], c[RX_PACKETS], c[RX_ERRS]) =
                (d.total_received(), d.total_packets_received(), d.total_errors_on_received());
            (c[TX_BYTES], c[TX_PACKETS], c[TX_ERRS]) =
                (d.total_transmitted(), d.total_packets_transmitted(), d.total_errors_on_transmitted());
            self.lines.push((name.as_str().into(), c));
        }
        self.lines.sort();
        Ok(())
    }
}

impl Collector for Network {
    fn collect(&mut self, r: &mut Reading) -> Result<(), CollectError> {
        self.read()?;
        let dt = self.previous.map(|(at, _)| r.at.saturating_duration_since(at).as_secs_f64()).unwrap_or(0.0);
        self.counters.begin();
        let mut interfaces = Vec::with_capacity(self.lines.len());
        let mut others = Vec::with_capacity(self.lines.len());
        for (name, raw) in &self.lines {
            let c = self.counters.adjust(name, *raw, true);
            if self.exclude.interface(name) {
                continue;
            }
            others.push((name.clone(), OTHERS.map(|(i, _)| c.now[i])));
            interfaces.push(NetInterface {
                name: name.clone(),
                counters: net_io(c.now),
                sent_bytes_per_sec: c.before.and_then(|b| rate(Some(b[TX_BYTES]), Some(c.now[TX_BYTES]), dt)),
                recv_bytes_per_sec: c.before.and_then(|b| rate(Some(b[RX_BYTES]), Some(c.now[RX_BYTES]), dt)),
                duplex: crate::snapshot::unknown(),
                ..Default::default()
            });
            #[cfg(target_os = "macos")]
            if let (Some(i), Some(&(mtu, speed))) = (interfaces.last_mut(), self.links.get(&**name)) {
                i.mtu = mtu;
                i.speed_mbps = speed;
            }
        }
        let total = self.counters.finish();
        let before = self.previous.map(|(_, t)| t);
        let n = &mut r.snapshot.network;
        n.io_counters = net_io(total);
        #[cfg(target_os = "macos")]
        {
            // macOS has no drop counters: unknown, not zero
            n.io_counters.dropin = None;
            n.io_counters.dropout = None;
        }
        n.all_interfaces = Some(interfaces);
        let t = &mut r.snapshot.throughput;
        t.net_sent_bytes_per_sec = rate(before.map(|b| b[TX_BYTES]), Some(total[TX_BYTES]), dt);
        t.net_recv_bytes_per_sec = rate(before.map(|b| b[RX_BYTES]), Some(total[RX_BYTES]), dt);
        self.previous = Some((r.at, total));
        // macOS reports none of them: absent, not zero
        if cfg!(target_os = "linux") {
            r.export(Others(others));
        }
        Ok(())
    }
}

/// One interface's counters in the order of `/proc/net/dev`'s columns: received bytes,
/// packets, errs, drop, fifo, frame, compressed, multicast; transmitted bytes, packets, errs,
/// drop, fifo, colls, carrier, compressed.
pub(crate) type DevCounters = [u64; COUNTERS];

/// How many counters an interface has ([`DevCounters`]).
pub(crate) const COUNTERS: usize = 16;
pub(crate) const RX_BYTES: usize = 0;
pub(crate) const RX_PACKETS: usize = 1;
pub(crate) const RX_ERRS: usize = 2;
pub(crate) const RX_DROP: usize = 3;
pub(crate) const TX_BYTES: usize = 8;
pub(crate) const TX_PACKETS: usize = 9;
pub(crate) const TX_ERRS: usize = 10;
pub(crate) const TX_DROP: usize = 11;

/// The counters beyond psutil's eight, for `/metrics` only: their column and node_exporter's
/// statistic name.
const OTHERS: [(usize, &str); 8] = [
    (4, "receive_fifo"),
    (5, "receive_frame"),
    (6, "receive_compressed"),
    (7, "receive_multicast"),
    (12, "transmit_fifo"),
    (13, "transmit_colls"),
    (14, "transmit_carrier"),
    (15, "transmit_compressed"),
];

/// Parses `/proc/net/dev`, calling `each` for every interface.
pub(crate) fn parse_net_dev(text: &str, mut each: impl FnMut(&str, DevCounters)) -> Result<(), String> {
    for (n, line) in super::shared::files::lines(text).enumerate() {
        // two header lines, then `  name: rx_bytes rx_packets rx_errs rx_drop ... tx_bytes ...`
        let Some((name, rest)) = line.split_once(':') else {
            if n < 2 || line.trim().is_empty() {
                continue;
            }
            return Err(format!("line {}: no ':' after the interface name", n + 1));
        };
        let name = name.trim();
        if n < 2 && name.contains('|') {
            continue;
        }
        let mut v = [0u64; COUNTERS];
        let mut count = 0;
        let mut fields = super::shared::files::Fields::new(rest);
        while count < COUNTERS {
            let Some(value) = fields.number() else { break };
            v[count] = value.map_err(|field| format!("line {} ({name}): {field:?} is not a number", n + 1))?;
            count += 1;
        }
        if count < COUNTERS {
            return Err(format!("line {} ({name}): {count} counters, expected 16", n + 1));
        }
        each(name, v);
    }
    Ok(())
}

/// psutil's eight of an interface's counters as the snapshot's fields.
pub(crate) fn net_io(c: DevCounters) -> NetIoCounters {
    NetIoCounters {
        bytes_sent: Some(c[TX_BYTES]),
        bytes_recv: Some(c[RX_BYTES]),
        packets_sent: Some(c[TX_PACKETS]),
        packets_recv: Some(c[RX_PACKETS]),
        errin: Some(c[RX_ERRS]),
        errout: Some(c[TX_ERRS]),
        dropin: Some(c[RX_DROP]),
        dropout: Some(c[TX_DROP]),
    }
}

/// Each interface's counters beyond psutil's, in the order of [`OTHERS`].
#[derive(Debug)]
struct Others(Vec<(Text, [u64; 8])>);

impl metrics::Export for Others {
    fn families(&self, out: &mut Vec<metrics::Family>) {
        let labels: Vec<metrics::Labels> =
            self.0.iter().map(|(device, _)| metrics::labels(vec![metrics::label("device", device)])).collect();
        for (i, (_, stat)) in OTHERS.iter().enumerate() {
            let mut f = metrics::Family::new(
                format!("node_network_{stat}_total"),
                Kind::Counter,
                format!("Network device statistic {stat}."),
            );
            for ((_, values), l) in self.0.iter().zip(&labels) {
                f.push_shared(l, values[i] as f64);
            }
            out.push(f);
        }
    }
}

/// The series of the interfaces' counters in a snapshot: node_exporter's
/// `node_network_{receive,transmit}_*_total`, and the receive and transmit rates.
pub(crate) fn snapshot_series(s: &crate::snapshot::Snapshot, out: &mut Vec<metrics::Family>) {
    let Some(ifs) = &s.network.all_interfaces else { return };
    type Get = fn(&crate::snapshot::NetIoCounters) -> Option<u64>;
    let defs: [(&str, Get); 8] = [
        ("receive_bytes", |c| c.bytes_recv),
        ("receive_drop", |c| c.dropin),
        ("receive_errs", |c| c.errin),
        ("receive_packets", |c| c.packets_recv),
        ("transmit_bytes", |c| c.bytes_sent),
        ("transmit_drop", |c| c.dropout),
        ("transmit_errs", |c| c.errout),
        ("transmit_packets", |c| c.packets_sent),
    ];
    let device_labels: Vec<metrics::Labels> =
        ifs.iter().map(|i| metrics::labels(vec![metrics::label("device", &i.name)])).collect();
    for (stat, get) in defs {
        let mut f = metrics::Family::new(
            format!("node_network_{stat}_total"),
            metrics::Kind::Counter,
            format!("Network device statistic {stat}."),
        );
        for (i, l) in ifs.iter().zip(&device_labels) {
            if let Some(v) = get(&i.counters) {
                f.push_shared(l, v as f64);
            }
        }
        out.push(f);
    }
    // node_network_up, _mtu_bytes, _speed_bytes... are netclass series: `interfaces` exports them
    let mut rx = metrics::Family::new(
        "system_stats_network_device_receive_bytes_per_second",
        metrics::Kind::Gauge,
        "Receive rate over the last sampling interval.",
    );
    let mut tx = metrics::Family::new(
        "system_stats_network_device_transmit_bytes_per_second",
        metrics::Kind::Gauge,
        "Transmit rate over the last sampling interval.",
    );
    for (i, l) in ifs.iter().zip(&device_labels) {
        if let (Some(r), Some(t)) = (i.recv_bytes_per_sec, i.sent_bytes_per_sec) {
            rx.push_shared(l, r);
            tx.push_shared(l, t);
        }
    }
    out.extend([rx, tx]);
    let t = &s.throughput;
    for (name, help, v) in [
        (
            "system_stats_network_receive_bytes_per_second",
            "Receive rate of all interfaces over the last sampling interval.",
            t.net_recv_bytes_per_sec,
        ),
        (
            "system_stats_network_transmit_bytes_per_second",
            "Transmit rate of all interfaces over the last sampling interval.",
            t.net_sent_bytes_per_sec,
        ),
    ] {
        out.extend(metrics::Family::single(name, metrics::Kind::Gauge, help, v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NET_DEV: &str = "Inter-|   Receive                                                |  Transmit\n \
        face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
        lo:  1000      10    0    0    0     0          0         0     1000      10    0    0    0     0       0          0\n  \
        eth0: 5000      50    1    2    0     0          0         0     7000      70    3    4    0     0       0          0\n";

    fn all(text: &str) -> Result<Vec<(String, DevCounters)>, String> {
        let mut out = vec![];
        parse_net_dev(text, |n, c| out.push((n.to_string(), c)))?;
        Ok(out)
    }

    #[test]
    fn net_dev_counters() {
        let ifs = all(NET_DEV).unwrap();
        assert_eq!(ifs.len(), 2);
        assert_eq!(ifs[1], ("eth0".to_string(), [5000, 50, 1, 2, 0, 0, 0, 0, 7000, 70, 3, 4, 0, 0, 0, 0]));
        let c = net_io(ifs[1].1);
        assert_eq!(
            [c.bytes_sent, c.bytes_recv, c.packets_sent, c.packets_recv, c.errin, c.errout, c.dropin, c.dropout],
            [7000, 5000, 70, 50, 1, 3, 2, 4].map(Some)
        );
    }

    #[test]
    fn malformed_net_dev() {
        let truncated = &NET_DEV[..NET_DEV.len() - 30];
        assert!(all(truncated).unwrap_err().contains("(eth0)"), "{:?}", all(truncated));
        let bad = NET_DEV.replace("5000", "5k00");
        assert!(all(&bad).unwrap_err().contains("\"5k00\""));
        assert!(all("h1\nh2\ngarbage\n").unwrap_err().contains("line 3"));
        assert_eq!(all("").unwrap(), vec![]);
    }
}
