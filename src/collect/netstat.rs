//! `netstat`: node_exporter's `netstat` collector: the protocol counters of the network
//! namespace the service runs in, as `node_netstat_<Protocol>_<Field>` (untyped, as
//! node_exporter leaves them), with node_exporter's default field filter: IP forwarding and
//! octets, ICMP messages, TCP segments, opens, resets, retransmits, listen overflows and drops,
//! SYN cookies, UDP datagrams and buffer errors, every `InErrors`.
//!
//! Linux: `/proc/net/netstat` (`TcpExt`, `IpExt`...) and `/proc/net/snmp` (`Ip`, `Icmp`,
//! `Tcp`, `Udp`, `UdpLite`), header and value lines in pairs, and `/proc/net/snmp6` (`Ip6`,
//! `Icmp6`, `Udp6`, `UdpLite6`), a name and a value a line; absent without IPv6. Linux only.

#![cfg_attr(not(target_os = "linux"), allow(dead_code, unused_imports))]

use std::path::PathBuf;
use std::sync::Arc;

use super::{CollectError, Collector, Entry, ReadBy, Reading, Setup};
use crate::metrics::{self, Kind};

pub(crate) const ENTRY: Entry = Entry {
    name: "netstat",
    about: "IP, ICMP, TCP and UDP protocol counters (/proc/net/netstat, snmp, snmp6)",
    reads: &[],
    series: None,
    #[cfg(target_os = "linux")]
    start: |setup| Some(Box::new(Netstat::new(setup))),
    #[cfg(not(target_os = "linux"))]
    start: super::absent,
};

pub(crate) struct Netstat {
    netstat: PathBuf,
    snmp: PathBuf,
    snmp6: PathBuf,
    files: super::shared::files::Files,
    /// The kept fields, `Protocol_Field`.
    fields: super::shared::counters::Named<f64>,
}

impl Netstat {
    fn new(setup: &Setup) -> Netstat {
        let net = setup.procfs.join("net");
        Netstat {
            netstat: net.join("netstat"),
            snmp: net.join("snmp"),
            snmp6: net.join("snmp6"),
            files: Default::default(),
            fields: Default::default(),
        }
    }
}

impl Collector for Netstat {
    fn read_by(&self) -> ReadBy {
        ReadBy::Metrics
    }

    fn collect(&mut self, r: &mut Reading) -> Result<(), CollectError> {
        let fields = &mut self.fields;
        let mut keep = |protocol: &str, field: &str, value: f64| {
            if node_exporter_keeps(protocol, field) {
                fields.put(protocol, field, value);
            }
        };
        for path in [&self.netstat, &self.snmp] {
            let text = self.files.read(path)?;
            parse_pairs(text, &mut keep).map_err(|e| CollectError::parse(path, e))?;
        }
        match self.files.read(&self.snmp6) {
            Ok(text) => parse_snmp6(text, &mut keep).map_err(|e| CollectError::parse(&self.snmp6, e))?,
            // a kernel without IPv6
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
        r.export(Series(self.fields.take()));
        Ok(())
    }
}

/// node_exporter's default `--collector.netstat.fields`:
/// `^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts)|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab)|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$`.
pub(crate) fn node_exporter_keeps(protocol: &str, field: &str) -> bool {
    if matches!(field, "InErrors" | "InErrs") {
        return true;
    }
    match protocol {
        "Ip" => field == "Forwarding",
        "Ip6" | "IpExt" => matches!(field, "InOctets" | "OutOctets"),
        "Icmp" | "Icmp6" => matches!(field, "InMsgs" | "OutMsgs"),
        "TcpExt" => {
            field.starts_with("Listen")
                || field.starts_with("Syncookies")
                || matches!(field, "TCPSynRetrans" | "TCPTimeouts")
        }
        "Tcp" => {
            matches!(
                field,
                "ActiveOpens" | "InSegs" | "OutSegs" | "OutRsts" | "PassiveOpens" | "RetransSegs" | "CurrEstab"
            )
        }
        "Udp" | "Udp6" => {
            matches!(field, "InDatagrams" | "OutDatagrams" | "NoPorts" | "RcvbufErrors" | "SndbufErrors")
        }
        _ => false,
    }
}

/// A counter's value; node_exporter parses them as floats (`Tcp: MaxConn` is `-1`).
fn value(text: &str) -> Option<f64> {
    text.parse::<i64>().map(|v| v as f64).ok().or_else(|| text.parse().ok())
}

/// Parses `/proc/net/netstat` or `/proc/net/snmp`: lines in pairs, `Proto: Name Name...`
/// then `Proto: value value...`; calls `each(protocol, field, value)`.
pub(crate) fn parse_pairs(text: &str, mut each: impl FnMut(&str, &str, f64)) -> Result<(), String> {
    let mut lines = super::shared::files::lines(text).filter(|l| !l.trim().is_empty()).enumerate();
    while let Some((n, header)) = lines.next() {
        let (protocol, names) = header.split_once(':').ok_or_else(|| format!("line {}: no ':'", n + 1))?;
        let Some((m, values)) = lines.next() else {
            return Err(format!("line {} ({protocol}): no line of values after the names", n + 1));
        };
        let (again, values) = values.split_once(':').ok_or_else(|| format!("line {}: no ':'", m + 1))?;
        if again != protocol {
            return Err(format!("line {}: {again:?} values after {protocol:?} names", m + 1));
        }
        let (names, values): (Vec<&str>, Vec<&str>) =
            (names.split_ascii_whitespace().collect(), values.split_ascii_whitespace().collect());
        if names.len() != values.len() {
            return Err(format!("line {} ({protocol}): {} names but {} values", m + 1, names.len(), values.len()));
        }
        for (name, v) in names.into_iter().zip(values) {
            let v = value(v).ok_or_else(|| format!("line {} ({protocol} {name}): {v:?} is not a number", m + 1))?;
            each(protocol, name, v);
        }
    }
    Ok(())
}

/// Parses `/proc/net/snmp6`: `Ip6InReceives 123` lines; the protocol is the name up to its
/// first `6` (`Ip6`, `Icmp6`, `Udp6`, `UdpLite6`), as node_exporter splits it.
pub(crate) fn parse_snmp6(text: &str, mut each: impl FnMut(&str, &str, f64)) -> Result<(), String> {
    for (n, line) in super::shared::files::lines(text).enumerate() {
        let mut f = line.split_ascii_whitespace();
        let Some(key) = f.next() else { continue };
        let v = f.next().ok_or_else(|| format!("line {} ({key}): no value", n + 1))?;
        let v = value(v).ok_or_else(|| format!("line {} ({key}): {v:?} is not a number", n + 1))?;
        // per-message-type ICMP lines (`Icmp6InType1`...) are counted too, as node_exporter does
        let Some(six) = key.find('6') else { continue };
        let (protocol, field) = key.split_at(six + 1);
        each(protocol, field, v);
    }
    Ok(())
}

#[derive(Debug)]
struct Series(Vec<(Arc<str>, f64)>);

impl metrics::Export for Series {
    fn families(&self, out: &mut Vec<metrics::Family>) {
        for (name, value) in &self.0 {
            let help = format!("Statistic {}.", name.replacen('_', "", 1));
            out.push(metrics::Family::new(format!("node_netstat_{name}"), Kind::Untyped, help).with(vec![], *value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SNMP: &str = "Ip: Forwarding DefaultTTL InReceives InHdrErrors\n\
        Ip: 1 64 1000 0\n\
        Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens InErrs CurrEstab\n\
        Tcp: 1 200 120000 -1 37 2 0 5\n\
        Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors\n\
        Udp: 10 1 0 12 0 0 0 0 0\n";

    type Parser = fn(&str, &mut dyn FnMut(&str, &str, f64)) -> Result<(), String>;

    fn kept(text: &str, parse: Parser) -> Vec<String> {
        let mut out = Vec::new();
        parse(text, &mut |p, f, v| {
            if node_exporter_keeps(p, f) {
                out.push(format!("{p}_{f}={v}"))
            }
        })
        .unwrap();
        out
    }

    #[test]
    fn snmp_pairs_with_node_exporters_filter() {
        let got = kept(SNMP, |t, e| parse_pairs(t, e));
        assert_eq!(
            got,
            [
                "Ip_Forwarding=1",
                "Tcp_ActiveOpens=37",
                "Tcp_PassiveOpens=2",
                "Tcp_InErrs=0",
                "Tcp_CurrEstab=5",
                "Udp_InDatagrams=10",
                "Udp_NoPorts=1",
                "Udp_InErrors=0",
                "Udp_OutDatagrams=12",
                "Udp_RcvbufErrors=0",
                "Udp_SndbufErrors=0"
            ]
        );
        let mut max_conn = None;
        parse_pairs(SNMP, |p, f, v| {
            if (p, f) == ("Tcp", "MaxConn") {
                max_conn = Some(v)
            }
        })
        .unwrap();
        assert_eq!(max_conn, Some(-1.0));
    }

    #[test]
    fn snmp6_lines_split_at_the_six() {
        let text =
            "Ip6InReceives 5\nIp6InOctets 1200\nIcmp6InMsgs 3\nIcmp6InType134 3\nUdpLite6InErrors 0\nUdp6NoPorts 2\n";
        assert_eq!(
            kept(text, |t, e| parse_snmp6(t, e)),
            ["Ip6_InOctets=1200", "Icmp6_InMsgs=3", "UdpLite6_InErrors=0", "Udp6_NoPorts=2"]
        );
    }

    #[test]
    fn malformed_files_say_where() {
        let mut nothing = |_: &str, _: &str, _: f64| {};
        assert!(parse_pairs("Tcp: A B\n", &mut nothing).unwrap_err().contains("no line of values"));
        assert!(parse_pairs("Tcp: A B\nTcp: 1\n", &mut nothing).unwrap_err().contains("2 names but 1 values"));
        assert!(parse_pairs("Tcp: A\nUdp: 1\n", &mut nothing).unwrap_err().contains("\"Udp\" values after \"Tcp\""));
        assert!(parse_pairs("Tcp: A\nTcp: x\n", &mut nothing).unwrap_err().contains("(Tcp A): \"x\""));
        assert!(parse_snmp6("Ip6InOctets\n", &mut nothing).unwrap_err().contains("no value"));
    }
}
