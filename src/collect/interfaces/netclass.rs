//! node_exporter's `netclass` of a link: its sysfs attributes read (held open for few links,
//! opened and closed for many), and the series they make (`node_network_up`, `_info`,
//! `_speed_bytes` and the numeric attributes).

use crate::metrics::{self, Kind};

/// An interface's sysfs attributes as node_exporter's `netclass` reports them.
#[cfg(target_os = "linux")]
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Class {
    pub address: String,
    pub broadcast: String,
    /// Empty when unreadable (a virtual link).
    pub duplex: String,
    pub ifalias: String,
    /// The numeric attributes of [`CLASS_NUMBERS`], in its order; `None` when unreadable (a
    /// link that is down has no carrier).
    pub numbers: [Option<i64>; CLASS_NUMBERS.len()],
    /// Mb/s as the kernel says (`-1`: unknown).
    pub speed: Option<i64>,
}

/// The numeric attributes node_exporter reports: sysfs file, series (`node_network_<name>`),
/// whether it is a counter.
#[cfg(target_os = "linux")]
pub(crate) const CLASS_NUMBERS: [(&str, &str, bool); 16] = [
    ("addr_assign_type", "address_assign_type", false),
    ("carrier", "carrier", false),
    ("carrier_changes", "carrier_changes_total", true),
    ("carrier_up_count", "carrier_up_changes_total", true),
    ("carrier_down_count", "carrier_down_changes_total", true),
    ("dev_id", "device_id", false),
    ("dormant", "dormant", false),
    ("flags", "flags", false),
    ("ifindex", "iface_id", false),
    ("iflink", "iface_link", false),
    ("link_mode", "iface_link_mode", false),
    ("mtu", "mtu_bytes", false),
    ("name_assign_type", "name_assign_type", false),
    ("netdev_group", "net_dev_group", false),
    ("tx_queue_len", "transmit_queue_length", false),
    ("type", "protocol_type", false),
];

/// An integer as Go's `strconv.ParseInt(s, 0, 64)` reads it (node_exporter's sysfs parser):
/// decimal, `0x` hexadecimal (`flags`, `dev_id`), `0` octal, `0b` binary, with a sign.
pub(crate) fn parse_int_auto(text: &str) -> Option<i64> {
    let t = text.trim();
    let (negative, t) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (digits, radix) = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        (h, 16)
    } else if let Some(b) = t.strip_prefix("0b").or_else(|| t.strip_prefix("0B")) {
        (b, 2)
    } else if let Some(o) = t.strip_prefix("0o").or_else(|| t.strip_prefix("0O")) {
        (o, 8)
    } else if t.len() > 1 && t.starts_with('0') {
        (&t[1..], 8)
    } else {
        (t, 10)
    };
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    let v = i64::from_str_radix(digits, radix).ok()?;
    Some(if negative { -v } else { v })
}

/// Where `flags`, `ifindex` and `mtu` are in [`CLASS_NUMBERS`].
#[cfg(target_os = "linux")]
pub(super) const FLAGS: usize = 7;
#[cfg(target_os = "linux")]
pub(super) const IFINDEX: usize = 8;
#[cfg(target_os = "linux")]
pub(super) const MTU: usize = 11;

/// The attributes of [`CLASS_NUMBERS`] fixed when a link is created (`addr_assign_type`,
/// `dev_id`, `iflink`, `name_assign_type`, `type`): read with its first facts, then again only
/// when its `ifindex` changes (deleted and created again under the same name), as is its
/// `broadcast` address (fixed by its type).
#[cfg(target_os = "linux")]
pub(super) const IDENTITY: [usize; 5] = [0, 5, 9, 12, 15];

/// Reads an interface's attributes (`dir`: `/sys/class/net/<name>`), but for those that do
/// not change while its `ifindex` stays that of `previous` (see [`IDENTITY`]) and its flags,
/// read with its state (`flags`).
///
/// `hold`: keep the files open for the next reading (a host with few links); else each is
/// opened, read and closed (one with hundreds of veths would hold thousands of files read once
/// a minute).
#[cfg(target_os = "linux")]
pub(super) fn read_class(
    files: &mut super::super::shared::files::Files,
    dir: &std::path::Path,
    absent: &mut u32,
    hold: bool,
    previous: &Class,
    flags: Option<u32>,
) -> Class {
    const TEXTS: [&str; 5] = ["address", "broadcast", "duplex", "ifalias", "speed"];
    // not held: read relative to the link's directory, looked up once for its 15 to 21 files
    let opened = if hold { None } else { super::super::shared::files::Dir::open(dir).ok() };
    let mut read = |bit: usize, name: &str| -> Option<String> {
        if *absent & (1 << bit) != 0 {
            return None;
        }
        let read = match &opened {
            Some(opened) => files.read_once_in(opened, name),
            None if hold => files.read(&dir.join(name)),
            None => files.read_once(&dir.join(name)),
        };
        match read {
            Ok(t) => Some(t.trim().to_string()),
            Err(e) => {
                if e.is_not_found() {
                    *absent |= 1 << bit;
                }
                None
            }
        }
    };
    let ifindex = read(TEXTS.len() + IFINDEX, CLASS_NUMBERS[IFINDEX].0).as_deref().and_then(parse_int_auto);
    let same_link = ifindex.is_some() && ifindex == previous.numbers[IFINDEX];
    let mut texts: [Option<String>; 5] = Default::default();
    for (bit, (slot, name)) in texts.iter_mut().zip(TEXTS).enumerate() {
        if !(same_link && name == "broadcast") {
            *slot = read(bit, name);
        }
    }
    let [address, broadcast, duplex, ifalias, speed] = texts;
    let mut class = Class {
        address: address.unwrap_or_default(),
        broadcast: if same_link { previous.broadcast.clone() } else { broadcast.unwrap_or_default() },
        duplex: duplex.unwrap_or_default(),
        ifalias: ifalias.unwrap_or_default(),
        speed: speed.as_deref().and_then(parse_int_auto),
        ..Default::default()
    };
    for (i, (slot, (file, ..))) in class.numbers.iter_mut().zip(CLASS_NUMBERS).enumerate() {
        *slot = match i {
            IFINDEX => ifindex,
            FLAGS if flags.is_some() => flags.map(i64::from),
            _ if same_link && IDENTITY.contains(&i) => previous.numbers[i],
            _ => read(TEXTS.len() + i, file).as_deref().and_then(parse_int_auto),
        };
    }
    class
}

/// Each interface's name, operstate and attributes, for node_exporter's netclass series.
#[cfg(target_os = "linux")]
#[derive(Debug)]
pub(super) struct NetClass(pub(super) Vec<(crate::snapshot::Text, crate::snapshot::Text, std::sync::Arc<Class>)>);

#[cfg(target_os = "linux")]
impl metrics::Export for NetClass {
    fn families(&self, out: &mut Vec<metrics::Family>) {
        use metrics::{Family, label};
        let mut up = Family::new("node_network_up", Kind::Gauge, "Value is 1 if operstate is 'up', 0 otherwise.");
        let mut info = Family::new(
            "node_network_info",
            Kind::Gauge,
            "Non-numeric data from /sys/class/net/<iface>, value is always 1.",
        );
        let mut speed = Family::new("node_network_speed_bytes", Kind::Gauge, "Network device property: speed_bytes");
        let mut numbers: Vec<Family> = CLASS_NUMBERS
            .iter()
            .map(|(_, name, counter)| {
                let kind = if *counter { Kind::Counter } else { Kind::Gauge };
                Family::new(format!("node_network_{name}"), kind, format!("Network device property: {name}"))
            })
            .collect();
        for (device, operstate, class) in &self.0 {
            let device_label = metrics::labels(vec![label("device", device)]);
            up.push_shared(&device_label, if &**operstate == "up" { 1.0 } else { 0.0 });
            info.push(
                vec![
                    label("address", &class.address),
                    label("broadcast", &class.broadcast),
                    label("device", device),
                    label("duplex", &class.duplex),
                    label("ifalias", &class.ifalias),
                    label("operstate", operstate),
                ],
                1.0,
            );
            for (family, value) in numbers.iter_mut().zip(class.numbers) {
                if let Some(v) = value {
                    family.push_shared(&device_label, v as f64);
                }
            }
            // Mb/s in bytes per second, -1 (unknown) included, as node_exporter reports it
            if let Some(s) = class.speed {
                speed.push_shared(&device_label, (s * 1_000_000 / 8) as f64);
            }
        }
        out.extend([up, info, speed]);
        out.extend(numbers);
    }
}
