//! Network: `/proc/net/dev` (counters), `/proc/net/route` (default route),
//! `/sys/class/net/<iface>/` (MTU, speed, duplex) and `getifaddrs(3)` (addresses).

use crate::snapshot::NetIoCounters;

/// One interface's counters in the order of the [`NetIoCounters`] fields: bytes_sent,
/// bytes_recv, packets_sent, packets_recv, errin, errout, dropin, dropout.
pub type NetCounters = [u64; 8];

/// Parses `/proc/net/dev`, calling `each` for every interface.
pub fn parse_net_dev(text: &str, mut each: impl FnMut(&str, NetCounters)) -> Result<(), String> {
    for (n, line) in text.lines().enumerate() {
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
        let mut v = [0u64; 16];
        let mut count = 0;
        for field in rest.split_ascii_whitespace() {
            if count == 16 {
                break;
            }
            v[count] = field.parse().map_err(|_| format!("line {} ({name}): {field:?} is not a number", n + 1))?;
            count += 1;
        }
        if count < 16 {
            return Err(format!("line {} ({name}): {count} counters, expected 16", n + 1));
        }
        each(name, [v[8], v[0], v[9], v[1], v[2], v[10], v[3], v[11]]);
    }
    Ok(())
}

pub fn net_io(total: NetCounters) -> NetIoCounters {
    NetIoCounters {
        bytes_sent: Some(total[0]),
        bytes_recv: Some(total[1]),
        packets_sent: Some(total[2]),
        packets_recv: Some(total[3]),
        errin: Some(total[4]),
        errout: Some(total[5]),
        dropin: Some(total[6]),
        dropout: Some(total[7]),
    }
}

/// The interface of the IPv4 default route in `/proc/net/route` (destination and mask 0, flag
/// RTF_UP); the lowest metric wins when there are several.
pub fn parse_default_route(text: &str) -> Result<Option<String>, String> {
    let mut best: Option<(u64, &str)> = None;
    for (n, line) in text.lines().enumerate().skip(1) {
        let f: Vec<&str> = line.split_ascii_whitespace().collect();
        if f.is_empty() {
            continue;
        }
        if f.len() < 8 {
            return Err(format!("line {}: {} fields, expected 11", n + 1, f.len()));
        }
        let hex = |i: usize| {
            u64::from_str_radix(f[i], 16).map_err(|_| format!("line {}: {:?} is not hexadecimal", n + 1, f[i]))
        };
        let (dest, flags, mask) = (hex(1)?, hex(3)?, hex(7)?);
        let metric: u64 = f[6].parse().map_err(|_| format!("line {}: metric {:?} is not a number", n + 1, f[6]))?;
        const RTF_UP: u64 = 0x1;
        if dest == 0 && mask == 0 && flags & RTF_UP != 0 && best.is_none_or(|(m, _)| metric < m) {
            best = Some((metric, f[0]));
        }
    }
    Ok(best.map(|(_, name)| name.to_string()))
}

/// `/proc/net/if_inet6`: every IPv6 address, as (interface, address).
pub fn parse_if_inet6(text: &str) -> Result<Vec<(String, crate::snapshot::Ipv6Info)>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let f: Vec<&str> = line.split_ascii_whitespace().collect();
        if f.is_empty() {
            continue;
        }
        let bad = |what: &str| format!("line {}: {what}", n + 1);
        if f.len() < 6 || f[0].len() != 32 {
            return Err(bad("expected an address of 32 hex digits and 5 more fields"));
        }
        let bits = u128::from_str_radix(f[0], 16).map_err(|_| bad("the address is not hexadecimal"))?;
        let prefix_len = u8::from_str_radix(f[2], 16).map_err(|_| bad("the prefix length is not hexadecimal"))?;
        let scope = match u8::from_str_radix(f[3], 16).map_err(|_| bad("the scope is not hexadecimal"))? {
            0x00 => "global".to_string(),
            0x10 => "host".to_string(),
            0x20 => "link".to_string(),
            0x40 => "site".to_string(),
            other => format!("{other:#04x}"),
        };
        let address = std::net::Ipv6Addr::from(bits).to_string();
        out.push((f[5].to_string(), crate::snapshot::Ipv6Info { address, prefix_len, scope }));
    }
    Ok(out)
}

/// `/sys/class/net/<iface>/flags` (hexadecimal) has IFF_UP, and `operstate` says the link
/// works (`up`, or `unknown` as loopback and some virtual links report): psutil's `isup`.
pub fn is_up(flags: Option<&str>, operstate: Option<&str>) -> bool {
    let flags = flags.and_then(|f| u32::from_str_radix(f.trim().trim_start_matches("0x"), 16).ok()).unwrap_or(0);
    const IFF_UP: u32 = 0x1;
    flags & IFF_UP != 0 && matches!(operstate.map(str::trim), Some("up" | "unknown"))
}

/// `/sys/class/net/<iface>/speed`: Mb/s, or `None` when the kernel reports none (`-1`,
/// `0`, unreadable: Wi-Fi, virtual links, link down).
pub fn parse_speed(text: &str) -> Option<u64> {
    text.trim().parse::<i64>().ok().filter(|&s| s > 0 && s != u32::MAX as i64).map(|s| s as u64)
}

/// `/sys/class/net/<iface>/duplex`: `full`, `half`, else `unknown`.
pub fn parse_duplex(text: &str) -> &'static str {
    match text.trim() {
        "full" => "full",
        "half" => "half",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NET_DEV: &str = "Inter-|   Receive                                                |  Transmit\n \
        face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
        lo:  1000      10    0    0    0     0          0         0     1000      10    0    0    0     0       0          0\n  \
        eth0: 5000      50    1    2    0     0          0         0     7000      70    3    4    0     0       0          0\n";

    fn all(text: &str) -> Result<Vec<(String, NetCounters)>, String> {
        let mut out = vec![];
        parse_net_dev(text, |n, c| out.push((n.to_string(), c)))?;
        Ok(out)
    }

    #[test]
    fn net_dev_counters() {
        let ifs = all(NET_DEV).unwrap();
        assert_eq!(ifs.len(), 2);
        assert_eq!(ifs[1], ("eth0".to_string(), [7000, 5000, 70, 50, 1, 3, 2, 4]));
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

    #[test]
    fn default_route_with_lowest_metric() {
        let text = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
            wlan0\t00000000\t0100A8C0\t0003\t0\t0\t303\t00000000\t0\t0\t0\n\
            eth0\t00000000\t0100A8C0\t0003\t0\t0\t202\t00000000\t0\t0\t0\n\
            eth0\t0000A8C0\t00000000\t0001\t0\t0\t202\t00FFFFFF\t0\t0\t0\n";
        assert_eq!(parse_default_route(text).unwrap().as_deref(), Some("eth0"));
        let no_default = "Iface\tDestination\tGateway\n\
            eth0\t0000A8C0\t00000000\t0001\t0\t0\t202\t00FFFFFF\t0\t0\t0\n";
        assert_eq!(parse_default_route(no_default).unwrap(), None);
        assert!(parse_default_route("h\neth0\t00000000\n").is_err());
        assert!(parse_default_route("h\neth0 zz 0 3 0 0 0 0 0 0 0\n").unwrap_err().contains("\"zz\""));
    }

    #[test]
    fn ipv6_addresses() {
        let text = "fe80000000000000dea632fffe010203 02 40 20 80     eth0\n\
            00000000000000000000000000000001 01 80 10 80       lo\n";
        let v = parse_if_inet6(text).unwrap();
        assert_eq!(v[0].0, "eth0");
        assert_eq!(v[0].1.address, "fe80::dea6:32ff:fe01:203");
        assert_eq!((v[0].1.prefix_len, v[0].1.scope.as_str()), (64, "link"));
        assert_eq!((v[1].1.address.as_str(), v[1].1.prefix_len, v[1].1.scope.as_str()), ("::1", 128, "host"));
        assert!(parse_if_inet6("fe80 02 40 20 80 eth0\n").is_err());
        assert!(parse_if_inet6("zz80000000000000dea632fffe010203 02 40 20 80 eth0\n").is_err());
    }

    #[test]
    fn up_needs_the_flag_and_a_working_link() {
        assert!(is_up(Some("0x1003\n"), Some("up\n")));
        assert!(is_up(Some("0x9"), Some("unknown")));
        assert!(!is_up(Some("0x1002"), Some("up")));
        assert!(!is_up(Some("0x1003"), Some("down")));
        assert!(!is_up(None, Some("up")));
    }

    #[test]
    fn speed_and_duplex() {
        assert_eq!(parse_speed("1000\n"), Some(1000));
        assert_eq!(parse_speed("-1\n"), None);
        assert_eq!(parse_speed("4294967295\n"), None);
        assert_eq!(parse_speed(""), None);
        assert_eq!(parse_duplex("full\n"), "full");
        assert_eq!(parse_duplex("weird"), "unknown");
    }
}
