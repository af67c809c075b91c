//! `interfaces`: each interface's facts (up, MAC, MTU, speed, duplex, addresses) filled into
//! the entries `network` wrote (`network.all_interfaces`); the interfaces a dashboard shows
//! (`network.interfaces`: up, not loopback, with IPv4, flat); and the primary interface
//! (`network.primary_interface`): the default route's, else the first up, non-loopback one
//! with IPv4. For `/metrics`, node_exporter's `netclass` series from the same reads:
//! `node_network_up` (operstate `up`), `_info`, `_carrier`, `_carrier_changes_total`,
//! `_mtu_bytes`, `_speed_bytes`, `_transmit_queue_length`, `_flags`...
//!
//! Linux: `/sys/class/net/<name>/` (flags and operstate every sample; MAC, MTU, speed,
//! duplex and the other attributes every [`LINK_REFRESH`] samples), `/proc/net/route`, `/proc/net/if_inet6`, and the
//! primary IPv4 address through four `ioctl(2)`s instead of a netlink dump of every address.
//! When `network` does not run, the interfaces are those listed in `/sys/class/net`.
//! macOS: `getifaddrs(3)`, with the MTU and speed `network` wrote.

// The Linux parsers compile everywhere so that their tests run everywhere; macOS calls none.
#![cfg_attr(not(target_os = "linux"), allow(dead_code))]

use super::{CollectError, Collector, Entry, Reading, Setup};
#[cfg(target_os = "linux")]
use crate::snapshot::Ipv4Info;
#[cfg(target_os = "linux")]
use crate::snapshot::NetInterface;
use crate::snapshot::{Interface, UpInterface};

#[cfg(target_os = "linux")]
mod netclass;
#[cfg(target_os = "linux")]
pub(crate) use netclass::Class;
#[cfg(target_os = "linux")]
use netclass::{MTU, NetClass, read_class};

pub(crate) const ENTRY: Entry = Entry {
    name: "interfaces",
    about: "each interface's state, MAC, MTU, speed, duplex and addresses; the primary interface",
    reads: &["network"],
    series: None,
    start: |setup| Some(Box::new(Interfaces::new(setup))),
};

/// How many samples link facts (MAC, MTU, speed, duplex, non-primary IPv4, node_exporter's
/// netclass attributes) are kept before being read again (on a host with more interfaces than
/// [`super::shared::rotation::REFRESH_BUDGET`], every [`FACTS_TURNS`]th turn of the rotation, at least this).
/// Speed and duplex go through the driver under the RTNL lock: reading them for every
/// interface every second was a fifth of a sample's cost, for values that change when a
/// cable is replugged. A new interface is read at once, and so is one whose flags or
/// operstate changed (carrier, speed and duplex change with them).
#[cfg(target_os = "linux")]
pub(crate) const LINK_REFRESH: u64 = 10;

/// On a host with more links than [`super::shared::rotation::REFRESH_BUDGET`], a link's facts are read again
/// at every this many turns of the rotation that reads their state (200 links: 7 turns, 112
/// samples; 2 links' files a sample instead of 4 at every eighth turn), and at once when the
/// state changes.
#[cfg(target_os = "linux")]
pub(crate) const FACTS_TURNS: u64 = 16;

/// Up to this many links, their attribute files are held open between readings.
#[cfg(target_os = "linux")]
const HOLD_CLASS_FILES: usize = 64;

/// An interface's files and what was last read of them.
#[cfg(target_os = "linux")]
#[derive(Debug)]
struct Link {
    dir: std::path::PathBuf,
    flags: std::path::PathBuf,
    operstate: std::path::PathBuf,
    /// Up and running (flags and operstate), read in turn with the other interfaces'.
    up: Option<bool>,
    /// Its operstate as last read (`up`, `down`, `unknown`...).
    operstate_text: crate::snapshot::Text,
    /// IFF_LOOPBACK in its flags.
    loopback: bool,
    /// Its flags as last read with its state, and the sample they were read at (facts read
    /// at the same sample take them from there).
    flags_value: Option<(u64, u32)>,
    facts: Facts,
    /// The sample the facts were read at; `None` before the first read.
    read_at: Option<u64>,
    /// The attributes this link does not have (one bit each, in [`read_class`]'s order): not
    /// looked for again (a virtual link has no `speed` file, an old kernel no
    /// `carrier_up_count`).
    absent: u32,
    /// Its flags or operstate changed since the facts were read: they are read again at once.
    changed: bool,
}

/// An interface's slowly changing facts.
#[cfg(target_os = "linux")]
#[derive(Debug, Clone, Default)]
struct Facts {
    mac: Option<crate::snapshot::Text>,
    mtu: Option<u32>,
    speed_mbps: Option<u64>,
    duplex: &'static str,
    /// Its primary IPv4 address (the primary interface's is read every sample regardless).
    ipv4: Option<Ipv4Info>,
    /// Everything node_exporter's netclass reads (the same reads give the facts above).
    class: std::sync::Arc<Class>,
}

#[cfg(target_os = "linux")]
pub(crate) struct Interfaces {
    class_net: std::path::PathBuf,
    route: std::path::PathBuf,
    inet6: std::path::PathBuf,
    files: super::shared::files::Files,
    links: super::shared::counters::FastMap<String, Link>,
    samples: u64,
    rotation: super::shared::rotation::Rotation,
    /// `/proc/net/if_inet6` as last read, and its addresses by interface.
    inet6_text: String,
    inet6_by_name: super::shared::counters::FastMap<String, crate::snapshot::Addresses6>,
    /// Interface address queries; `None` if no IPv4 socket could be opened.
    ipv4: Option<super::shared::ifaddrs::Ipv4Ioctl>,
    /// The interfaces left out (when `network` does not run and this lists them itself).
    exclude: super::shared::exclude::Exclusions,
}

#[cfg(target_os = "linux")]
impl Interfaces {
    fn new(setup: &Setup) -> Interfaces {
        Interfaces {
            class_net: setup.sysfs.join("class/net"),
            route: setup.procfs.join("net/route"),
            inet6: setup.procfs.join("net/if_inet6"),
            // sysfs attributes; /proc/net/if_inet6 is read with the default bound
            files: super::shared::files::Files::with_limit(super::shared::files::SYSFS_LIMIT),
            links: Default::default(),
            samples: 0,
            rotation: Default::default(),
            inet6_text: String::new(),
            inet6_by_name: Default::default(),
            ipv4: super::shared::ifaddrs::Ipv4Ioctl::new().ok(),
            exclude: setup.exclude.clone(),
        }
    }

    /// The interface's entry, created (nothing read yet) when new; and whether the links'
    /// files are held open (few links, [`HOLD_CLASS_FILES`]).
    fn link_in<'a>(
        links: &'a mut super::shared::counters::FastMap<String, Link>,
        class_net: &std::path::Path,
        name: &str,
    ) -> (&'a mut Link, bool) {
        if !links.contains_key(name) {
            links.insert(name.to_string(), Link::new(class_net, name));
        }
        let hold = links.len() <= HOLD_CLASS_FILES;
        (links.get_mut(name).expect("inserted above"), hold)
    }
}

#[cfg(target_os = "linux")]
impl Link {
    fn new(class_net: &std::path::Path, name: &str) -> Link {
        let dir = class_net.join(name);
        Link {
            flags: dir.join("flags"),
            operstate: dir.join("operstate"),
            dir,
            up: None,
            operstate_text: crate::snapshot::unknown(),
            loopback: name == "lo",
            flags_value: None,
            facts: Facts::default(),
            read_at: None,
            absent: 0,
            changed: false,
        }
    }

    /// Reads the interface's facts if it has none yet, when its state changed, or when `due`
    /// (its turn in the rotation, or the primary interface) and they are older than `max_age`
    /// samples; and whether it read them again (not counting a first reading).
    fn refresh_facts(&mut self, name: &str, r: &mut LinkReader, due: bool, max_age: u64) -> bool {
        let again = self.read_at.is_some();
        let stale = match self.read_at {
            None => true,
            Some(at) => self.changed || due && r.samples.saturating_sub(at) >= max_age,
        };
        self.changed = false;
        if stale {
            let flags = self.flags_value.filter(|&(at, _)| at == r.samples).map(|(_, flags)| flags);
            let class = read_class(r.files, &self.dir, &mut self.absent, r.hold, &self.facts.class, flags);
            self.facts = Facts {
                mac: super::host::clean(&class.address).map(Into::into),
                mtu: class.numbers[MTU].and_then(|m| u32::try_from(m).ok()),
                speed_mbps: class.speed.and_then(speed_mbps),
                duplex: parse_duplex(&class.duplex),
                ipv4: r.ipv4.and_then(|q| q.query(name).ok().flatten()).map(|a| Ipv4Info {
                    address: a.address.to_string(),
                    netmask: a.netmask.map(|m| m.to_string()),
                    broadcast: a.broadcast.map(|b| b.to_string()),
                }),
                class: class.into(),
            };
            self.read_at = Some(r.samples);
        }
        stale && again
    }

    /// Whether the interface is up: read again when `now`, or when never read.
    fn refresh_up(&mut self, files: &mut super::shared::files::Files, samples: u64, now: bool) -> bool {
        match self.up {
            Some(up) if !now => up,
            _ => {
                let flags = files.read_opt(&self.flags).and_then(parse_flags);
                const IFF_LOOPBACK: u32 = 0x8;
                self.loopback |= flags.is_some_and(|f| f & IFF_LOOPBACK != 0);
                let read_before = self.up.is_some();
                self.changed |= read_before && self.flags_value.map(|(_, f)| f) != flags;
                self.flags_value = flags.map(|flags| (samples, flags));
                let operstate = files.read_opt(&self.operstate).map(str::trim);
                if let Some(state) = operstate
                    && *self.operstate_text != *state
                {
                    self.changed |= read_before;
                    self.operstate_text = state.into();
                }
                let up = is_up(flags, operstate);
                self.up = Some(up);
                up
            }
        }
    }
}

/// What reading a link's facts needs besides the link: the files, the address queries, the
/// sample's number and whether files are held open.
#[cfg(target_os = "linux")]
struct LinkReader<'a> {
    files: &'a mut super::shared::files::Files,
    ipv4: Option<&'a super::shared::ifaddrs::Ipv4Ioctl>,
    samples: u64,
    hold: bool,
}

#[cfg(target_os = "linux")]
impl Interfaces {
    /// The interfaces `network` did not list (it does not run): those of `/sys/class/net`.
    fn listed(&self) -> Result<Vec<NetInterface>, CollectError> {
        super::shared::files::note(&self.class_net);
        let entries = std::fs::read_dir(&self.class_net).map_err(|e| CollectError::io(&self.class_net, e))?;
        let mut names: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|name| !self.exclude.interface(name))
            .collect();
        names.sort();
        Ok(names
            .into_iter()
            .map(|name| NetInterface { name: name.into(), duplex: crate::snapshot::unknown(), ..Default::default() })
            .collect())
    }

    fn primary(&mut self) -> Result<Option<Interface>, CollectError> {
        let path = &self.route;
        // the kernel lists the routes in order of destination: the default ones (0.0.0.0) come
        // first, and a table of 400 000 routes is not generated whole for them
        let past_the_defaults =
            |t: &str| t.lines().skip(1).any(|l| l.split_ascii_whitespace().nth(1).is_some_and(|d| d != "00000000"));
        let default = match self.files.read_head(path, super::shared::files::DEFAULT_LIMIT, past_the_defaults) {
            Ok(text) => parse_default_route(text).map_err(|e| CollectError::parse(path, e))?,
            // no IPv4 routing table (e.g. an IPv6-only container): fall back to the addresses
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(e),
        };
        let (name, addr) = match (default, &self.ipv4) {
            (Some(name), Some(ioctl)) => {
                let addr = ioctl.query(&name).map_err(|e| CollectError::sys("ioctl", &name, e))?;
                (name, addr)
            }
            (default, _) => {
                let addrs = super::shared::ifaddrs::ipv4_addresses()
                    .map_err(|e| CollectError::sys("getifaddrs", "", std::io::Error::from(e)))?;
                let name = match default {
                    Some(name) => name,
                    None => match addrs.iter().find(|a| a.usable_fallback()) {
                        Some(a) => a.name.clone(),
                        None => return Ok(None),
                    },
                };
                let addr = addrs.into_iter().find(|a| a.name == name);
                (name, addr)
            }
        };
        let addr = addr.as_ref();
        let samples = self.samples;
        let (link, hold) = Self::link_in(&mut self.links, &self.class_net, &name);
        let mut reader = LinkReader { files: &mut self.files, ipv4: self.ipv4.as_ref(), samples, hold };
        link.refresh_facts(&name, &mut reader, true, LINK_REFRESH);
        let facts = &link.facts;
        Ok(Some(Interface {
            ipv4: addr.map(|a| a.address.to_string()),
            netmask: addr.and_then(|a| a.netmask).map(|m| m.to_string()),
            broadcast: addr.and_then(|a| a.broadcast).map(|b| b.to_string()),
            name,
            speed_mbps: facts.speed_mbps,
            mtu: facts.mtu,
            duplex: facts.duplex.to_string(),
        }))
    }
}

#[cfg(target_os = "linux")]
impl Collector for Interfaces {
    fn collect(&mut self, r: &mut Reading) -> Result<(), CollectError> {
        self.samples += 1;
        match self.files.read_limited(&self.inet6, super::shared::files::DEFAULT_LIMIT) {
            // parsed again only when it changed
            Ok(text) if text != self.inet6_text => {
                let mut by_name: super::shared::counters::FastMap<String, Vec<crate::snapshot::Ipv6Info>> =
                    Default::default();
                for (name, addr) in parse_if_inet6(text).map_err(|e| CollectError::parse(&self.inet6, e))? {
                    by_name.entry(name).or_default().push(addr);
                }
                self.inet6_text = text.to_string();
                self.inet6_by_name = by_name.into_iter().map(|(name, list)| (name, list.into())).collect();
            }
            Ok(_) => {}
            // a kernel without IPv6
            Err(_) => self.inet6_by_name.clear(),
        }
        let mut list = match r.snapshot.network.all_interfaces.take() {
            Some(list) => list,
            None => self.listed()?,
        };
        // more interfaces than the budget: their state is read in turn, and their facts at
        // every FACTS_TURNS-th turn (the MTU of veth interfaces does not need reading every
        // 10 s) or when their state changes
        let window = self.rotation.window(list.len());
        let turn = list.len().div_ceil(super::shared::rotation::REFRESH_BUDGET) as u64;
        let max_age = if turn > 1 { LINK_REFRESH.max(FACTS_TURNS * turn) } else { LINK_REFRESH };
        // and at most their share of the links' facts per sample, plus one: links read
        // together (all of them at the start) would otherwise come due together, a window
        // of 32 links' 21 attributes each in one sample every `max_age`
        let mut facts_left = if turn > 1 { list.len().div_ceil(max_age as usize) + 1 } else { usize::MAX };
        let mut classes = Vec::with_capacity(list.len());
        for (n, i) in list.iter_mut().enumerate() {
            // the link is looked up once a sample
            let samples = self.samples;
            let (link, hold) = Self::link_in(&mut self.links, &self.class_net, &i.name);
            let up = link.refresh_up(&mut self.files, samples, window.contains(n));
            i.up = Some(up);
            let mut reader = LinkReader { files: &mut self.files, ipv4: self.ipv4.as_ref(), samples, hold };
            if link.refresh_facts(&i.name, &mut reader, window.contains(n) && facts_left > 0, max_age) {
                facts_left = facts_left.saturating_sub(1);
            }
            let facts = &link.facts;
            classes.push((i.name.clone(), link.operstate_text.clone(), facts.class.clone()));
            i.mac = facts.mac.clone();
            i.mtu = facts.mtu;
            i.speed_mbps = facts.speed_mbps;
            i.duplex = duplex_text(facts.duplex);
            i.ipv4 = facts.ipv4.clone();
            i.ipv6 = self.inet6_by_name.get(&*i.name).cloned().unwrap_or_default();
        }
        if self.links.len() > list.len() {
            // interfaces come and go (containers): forget those gone, and close their files
            let present: std::collections::HashSet<&str> = list.iter().map(|i| &*i.name).collect();
            let gone: Vec<String> = self.links.keys().filter(|n| !present.contains(n.as_str())).cloned().collect();
            for name in gone {
                if let Some(link) = self.links.remove(&name) {
                    self.files.close_under(&link.dir);
                }
            }
        }
        let shown = list
            .iter()
            .filter(|i| i.up == Some(true) && !self.links.get(&*i.name).is_some_and(|l| l.loopback))
            .filter_map(up_interface)
            .collect();
        r.snapshot.network.interfaces = Some(shown);
        r.snapshot.network.all_interfaces = Some(list);
        r.export(NetClass(classes));
        r.snapshot.network.primary_interface = self.primary()?;
        Ok(())
    }
}

#[cfg(target_os = "macos")]
pub(crate) struct Interfaces {}

#[cfg(target_os = "macos")]
impl Interfaces {
    fn new(_: &Setup) -> Interfaces {
        Interfaces {}
    }
}

#[cfg(target_os = "macos")]
impl Collector for Interfaces {
    fn collect(&mut self, r: &mut Reading) -> Result<(), CollectError> {
        use nix::net::if_::InterfaceFlags;
        let addrs = super::shared::ifaddrs::ipv4_addresses()
            .map_err(|e| CollectError::sys("getifaddrs", "", std::io::Error::from(e)))?;
        let list = r.snapshot.network.all_interfaces.get_or_insert_with(Vec::new);
        for i in list.iter_mut() {
            let a = addrs.iter().find(|a| *a.name == *i.name);
            i.up = a.map(|a| a.flags.contains(InterfaceFlags::IFF_UP | InterfaceFlags::IFF_RUNNING));
            i.ipv4 = a.map(|a| crate::snapshot::Ipv4Info {
                address: a.address.to_string(),
                netmask: a.netmask.map(|m| m.to_string()),
                broadcast: a.broadcast.map(|b| b.to_string()),
            });
        }
        let loopback =
            |name: &str| addrs.iter().any(|a| *a.name == *name && a.flags.contains(InterfaceFlags::IFF_LOOPBACK));
        let shown = list.iter().filter(|i| i.up == Some(true) && !loopback(&i.name)).filter_map(up_interface).collect();
        r.snapshot.network.interfaces = Some(shown);
        // no routing table file on macOS: the first up, non-loopback interface with IPv4
        r.snapshot.network.primary_interface = addrs.into_iter().find(|a| a.usable_fallback()).map(|a| {
            let (mtu, speed_mbps) =
                list.iter().find(|i| *i.name == *a.name).map_or((None, None), |i| (i.mtu, i.speed_mbps));
            Interface {
                ipv4: Some(a.address.to_string()),
                netmask: a.netmask.map(|m| m.to_string()),
                broadcast: a.broadcast.map(|b| b.to_string()),
                speed_mbps,
                mtu,
                duplex: "unknown".into(),
                name: a.name,
            }
        });
        Ok(())
    }
}

/// A dashboard's entry for an interface that has an IPv4 address.
fn up_interface(i: &crate::snapshot::NetInterface) -> Option<UpInterface> {
    let ipv4 = i.ipv4.as_ref()?;
    Some(UpInterface {
        name: i.name.clone(),
        ipv4: ipv4.address.clone(),
        netmask: ipv4.netmask.clone(),
        broadcast: ipv4.broadcast.clone(),
        speed_mbps: i.speed_mbps,
        mtu: i.mtu,
        duplex: i.duplex.clone(),
        mac: i.mac.clone(),
        ipv6: i.ipv6.clone(),
        counters: i.counters.clone(),
        recv_bytes_per_sec: i.recv_bytes_per_sec,
        sent_bytes_per_sec: i.sent_bytes_per_sec,
    })
}

/// The interface of the IPv4 default route in `/proc/net/route` (destination and mask 0, flag
/// RTF_UP); the lowest metric wins when there are several.
pub(crate) fn parse_default_route(text: &str) -> Result<Option<String>, String> {
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
pub(crate) fn parse_if_inet6(text: &str) -> Result<Vec<(String, crate::snapshot::Ipv6Info)>, String> {
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
        let scope: crate::snapshot::Text =
            match u8::from_str_radix(f[3], 16).map_err(|_| bad("the scope is not hexadecimal"))? {
                0x00 => "global".into(),
                0x10 => "host".into(),
                0x20 => "link".into(),
                0x40 => "site".into(),
                other => format!("{other:#04x}").into(),
            };
        let address = std::net::Ipv6Addr::from(bits).to_string().into();
        out.push((f[5].to_string(), crate::snapshot::Ipv6Info { address, prefix_len, scope }));
    }
    Ok(out)
}

/// `/sys/class/net/<iface>/flags`: hexadecimal, with or without `0x`.
pub(crate) fn parse_flags(text: &str) -> Option<u32> {
    u32::from_str_radix(text.trim().trim_start_matches("0x"), 16).ok()
}

/// The flags have IFF_UP, and `operstate` says the link works (`up`, or `unknown` as loopback
/// and some virtual links report): psutil's `isup`.
pub(crate) fn is_up(flags: Option<u32>, operstate: Option<&str>) -> bool {
    let flags = flags.unwrap_or(0);
    const IFF_UP: u32 = 0x1;
    flags & IFF_UP != 0 && matches!(operstate.map(str::trim), Some("up" | "unknown"))
}

/// `/sys/class/net/<iface>/speed` (Mb/s), if it is one: `None` when the kernel reports none
/// (`-1`, `0`, `u32::MAX`; unreadable: Wi-Fi, virtual links, link down).
pub(crate) fn speed_mbps(speed: i64) -> Option<u64> {
    u64::try_from(speed).ok().filter(|&s| s > 0 && s != u64::from(u32::MAX))
}

/// A duplex of [`parse_duplex`] as the snapshot's text, shared (not allocated per link and
/// sample).
#[cfg(target_os = "linux")]
fn duplex_text(duplex: &'static str) -> crate::snapshot::Text {
    static FULL: std::sync::LazyLock<crate::snapshot::Text> = std::sync::LazyLock::new(|| "full".into());
    static HALF: std::sync::LazyLock<crate::snapshot::Text> = std::sync::LazyLock::new(|| "half".into());
    match duplex {
        "full" => FULL.clone(),
        "half" => HALF.clone(),
        _ => crate::snapshot::unknown(),
    }
}

/// `/sys/class/net/<iface>/duplex`: `full`, `half`, else `unknown`.
pub(crate) fn parse_duplex(text: &str) -> &'static str {
    match text.trim() {
        "full" => "full",
        "half" => "half",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_os = "linux")]
    use netclass::{CLASS_NUMBERS, FLAGS, IDENTITY, IFINDEX, parse_int_auto};

    #[cfg(target_os = "linux")]
    #[test]
    fn the_positions_name_the_attributes_they_stand_for() {
        assert_eq!(CLASS_NUMBERS[FLAGS].0, "flags");
        assert_eq!(CLASS_NUMBERS[IFINDEX].0, "ifindex");
        assert_eq!(CLASS_NUMBERS[MTU].0, "mtu");
        let identity: Vec<&str> = IDENTITY.iter().map(|&i| CLASS_NUMBERS[i].0).collect();
        assert_eq!(identity, ["addr_assign_type", "dev_id", "iflink", "name_assign_type", "type"]);
    }

    /// A link's fixed attributes are read again only when its ifindex changes; the others at
    /// every reading; its flags come from its state's reading.
    #[cfg(target_os = "linux")]
    #[test]
    fn fixed_attributes_are_read_again_only_for_a_new_link() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, value: &str| std::fs::write(dir.path().join(name), format!("{value}\n")).unwrap();
        for (name, value) in [
            ("address", "02:42:ac:11:00:02"),
            ("broadcast", "ff:ff:ff:ff:ff:ff"),
            ("type", "1"),
            ("iflink", "7"),
            ("ifindex", "7"),
            ("mtu", "1500"),
            ("flags", "0x1003"),
        ] {
            write(name, value);
        }
        let mut files = super::super::shared::files::Files::default();
        let mut absent = 0;
        let mut read =
            |previous: &Class, flags| read_class(&mut files, dir.path(), &mut absent, false, previous, flags);
        let first = read(&Class::default(), None);
        assert_eq!(first.numbers[IDENTITY[4]], Some(1));
        assert_eq!(first.numbers[FLAGS], Some(0x1003));
        assert_eq!(first.broadcast, "ff:ff:ff:ff:ff:ff");
        // the same link: its type and broadcast kept, its MTU and address read again, its
        // flags those its state's reading found
        write("type", "772");
        write("broadcast", "00:00:00:00:00:00");
        write("mtu", "9000");
        write("address", "02:42:ac:11:00:03");
        let same = read(&first, Some(0x1002));
        assert_eq!(same.numbers[IDENTITY[4]], Some(1));
        assert_eq!(same.broadcast, "ff:ff:ff:ff:ff:ff");
        assert_eq!(same.numbers[MTU], Some(9000));
        assert_eq!(same.address, "02:42:ac:11:00:03");
        assert_eq!(same.numbers[FLAGS], Some(0x1002));
        // created again under the same name: everything read again
        write("ifindex", "12");
        let new = read(&same, None);
        assert_eq!(new.numbers[IFINDEX], Some(12));
        assert_eq!(new.numbers[IDENTITY[4]], Some(772));
        assert_eq!(new.broadcast, "00:00:00:00:00:00");
        assert_eq!(new.numbers[FLAGS], Some(0x1003));
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
        assert_eq!(&*v[0].1.address, "fe80::dea6:32ff:fe01:203");
        assert_eq!((v[0].1.prefix_len, &*v[0].1.scope), (64, "link"));
        assert_eq!((&*v[1].1.address, v[1].1.prefix_len, &*v[1].1.scope), ("::1", 128, "host"));
        assert!(parse_if_inet6("fe80 02 40 20 80 eth0\n").is_err());
        assert!(parse_if_inet6("zz80000000000000dea632fffe010203 02 40 20 80 eth0\n").is_err());
    }

    #[test]
    fn up_needs_the_flag_and_a_working_link() {
        let f = |t: &str| parse_flags(t);
        assert!(is_up(f("0x1003\n"), Some("up\n")));
        assert!(is_up(f("0x9"), Some("unknown")));
        assert!(!is_up(f("0x1002"), Some("up")));
        assert!(!is_up(f("0x1003"), Some("down")));
        assert!(!is_up(f("garbage"), Some("up")));
        assert!(!is_up(None, Some("up")));
    }

    #[test]
    fn integers_as_go_parses_them() {
        assert_eq!(parse_int_auto("0x1003\n"), Some(4099));
        assert_eq!(parse_int_auto("1400"), Some(1400));
        assert_eq!(parse_int_auto("-1\n"), Some(-1));
        assert_eq!(parse_int_auto("0"), Some(0));
        assert_eq!(parse_int_auto("010"), Some(8));
        assert_eq!(parse_int_auto("0b11"), Some(3));
        assert_eq!(parse_int_auto(""), None);
        assert_eq!(parse_int_auto("0x"), None);
        assert_eq!(parse_int_auto("--1"), None);
        assert_eq!(parse_int_auto("12a"), None);
    }

    #[test]
    fn speed_and_duplex() {
        assert_eq!(speed_mbps(1000), Some(1000));
        assert_eq!(speed_mbps(-1), None);
        assert_eq!(speed_mbps(0), None);
        assert_eq!(speed_mbps(4294967295), None);
        assert_eq!(parse_duplex("full\n"), "full");
        assert_eq!(parse_duplex("weird"), "unknown");
    }
}
