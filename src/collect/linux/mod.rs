//! The Linux collector: reads `/proc` and `/sys` under configurable roots
//! (`SYSTEM_STATS_PROCFS`, `SYSTEM_STATS_SYSFS`), so that tests run against recorded fixture
//! trees and a container can watch the host through its mounted trees.
//!
//! What cannot come from a tree comes from system calls: `statvfs(2)` for the disk path and
//! `getifaddrs(3)` for interface addresses (both see the reading process's mount and network
//! namespaces, as `/proc/net` does).
//!
//! Pure parsing lives in one file per family; this file does the I/O and keeps the state that
//! spans readings (counter wrap offsets, family health).

pub mod cpu;
pub mod disk;
pub mod files;
pub mod filesystems;
pub mod host;
pub mod memory;
pub mod network;
pub mod sensors;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use self::files::Files;
use crate::collect::{Collect, CollectError, FamilyStatus, NoWrap, Reading, Roots, fs, ifaddrs};
use crate::snapshot::{
    Cpu, DiskDevice, Filesystem, HwmonTemp, Interface, Ipv4Info, LoadAverage, NetInterface, PerCpu, RaspberryPi,
    Snapshot, System, Temperatures, ThermalZone,
};

impl Files {
    fn read_opt(&mut self, path: &Path) -> Option<&str> {
        self.read(path).ok()
    }

    fn read_once_opt(&mut self, path: &Path) -> Option<&str> {
        self.read_once(path).ok()
    }

    fn read_u64(&mut self, path: &Path) -> Result<u64, CollectError> {
        let text = self.read(path)?;
        text.trim().parse().map_err(|_| CollectError::parse(path, format!("{:?} is not a number", text.trim())))
    }
}

/// How many samples link facts (MAC, MTU, speed, duplex) are kept before being read again.
/// Speed and duplex go through the driver under the RTNL lock: reading them for every
/// interface every second was a fifth of a sample's cost, for values that change when a cable
/// is replugged. A new interface is read at once.
const LINK_REFRESH: u64 = 10;

/// An interface's slowly changing facts.
#[derive(Debug, Clone)]
struct Link {
    mac: Option<String>,
    mtu: Option<u32>,
    speed_mbps: Option<u64>,
    duplex: &'static str,
    /// Its primary IPv4 address (the primary interface's is read every sample regardless).
    ipv4: Option<Ipv4Info>,
    read_at: u64,
}

/// Mean current, min and max CPU frequency, MHz.
type Frequency = (Option<f64>, Option<f64>, Option<f64>);

/// Per-sample paths, joined once.
#[derive(Debug)]
struct Paths {
    stat: PathBuf,
    meminfo: PathBuf,
    vmstat: PathBuf,
    zoneinfo: PathBuf,
    diskstats: PathBuf,
    net_dev: PathBuf,
    net_route: PathBuf,
    cpuinfo: PathBuf,
    hostname: PathBuf,
    sys_block: PathBuf,
    class_net: PathBuf,
}

/// Facts read once at start: they do not change while the host runs.
#[derive(Debug, Default)]
struct Static {
    physical_cores: Option<u32>,
    processor: Option<String>,
    /// cpufreq policy directories, in CPU order; empty without cpufreq (most VMs).
    freq_dirs: Vec<PathBuf>,
    system: System,
    /// Clock ticks per second of `/proc/stat` (USER_HZ).
    user_hz: f64,
    /// The mount table: `/proc/1/mounts` (the host's, as node_exporter reads it), else
    /// `/proc/mounts`.
    mounts: PathBuf,
    zones: Vec<sensors::Zone>,
    hwmon: Vec<sensors::HwmonInput>,
    /// `get_throttled` of the Raspberry Pi firmware, where it exists.
    throttled: Option<PathBuf>,
}

#[derive(Debug)]
struct Families {
    cpu: FamilyStatus,
    cpufreq: FamilyStatus,
    memory: FamilyStatus,
    swap: FamilyStatus,
    vmstat: FamilyStatus,
    disk: FamilyStatus,
    disk_io: FamilyStatus,
    network: FamilyStatus,
    interface: FamilyStatus,
    host: FamilyStatus,
    load: FamilyStatus,
    filesystems: FamilyStatus,
    interfaces: FamilyStatus,
    sensors: FamilyStatus,
}

impl Families {
    fn all(&self) -> [&FamilyStatus; 14] {
        [
            &self.cpu,
            &self.cpufreq,
            &self.memory,
            &self.swap,
            &self.vmstat,
            &self.disk,
            &self.disk_io,
            &self.network,
            &self.interface,
            &self.host,
            &self.load,
            &self.filesystems,
            &self.interfaces,
            &self.sensors,
        ]
    }
}

pub struct LinuxCollector {
    roots: Roots,
    disk_path: PathBuf,
    disk_label: String,
    page_size: u64,
    paths: Paths,
    statics: Static,
    files: Files,
    disks: NoWrap<9>,
    nets: NoWrap<8>,
    /// Whole disks: the entries of /sys/block, listed when `block_names_for` changed.
    block_names: HashSet<String>,
    /// The diskstats device names `block_names` was listed for.
    block_names_for: Vec<String>,
    /// This sample's diskstats lines (kept to reuse the allocation).
    disk_lines: Vec<(String, disk::DiskCounters)>,
    /// This sample's /proc/net/dev lines.
    net_lines: Vec<(String, network::NetCounters)>,
    links: std::collections::HashMap<String, Link>,
    mount_table: filesystems::MountTable,
    /// statvfs of network filesystems, bounded in time.
    network_stat: filesystems::BoundedStat,
    /// Samples taken, this one included.
    sample_no: u64,
    /// The mean `cpu MHz` of /proc/cpuinfo and the sample it was read at (no cpufreq).
    cpuinfo_mhz: Option<(Option<f64>, u64)>,
    /// Interface address queries; `None` if no IPv4 socket could be opened.
    ipv4: Option<ifaddrs::Ipv4Ioctl>,
    /// The last `pswpin`/`pswpout`: without swap they cannot change, so are not re-read.
    swapped: Option<(u64, u64)>,
    families: Families,
}

impl LinuxCollector {
    /// A collector reading under `roots` and reporting the filesystem that holds `disk_path`.
    pub fn new(roots: Roots, disk_path: &Path) -> Self {
        let p = &roots.procfs;
        let paths = Paths {
            stat: p.join("stat"),
            meminfo: p.join("meminfo"),
            vmstat: p.join("vmstat"),
            zoneinfo: p.join("zoneinfo"),
            diskstats: p.join("diskstats"),
            net_dev: p.join("net/dev"),
            net_route: p.join("net/route"),
            cpuinfo: p.join("cpuinfo"),
            hostname: p.join("sys/kernel/hostname"),
            sys_block: roots.sysfs.join("block"),
            class_net: roots.sysfs.join("class/net"),
        };
        let page_size =
            nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE).ok().flatten().map_or(4096, |v| v as u64);
        let mut c = LinuxCollector {
            disk_label: disk_path.to_string_lossy().into_owned(),
            disk_path: disk_path.to_path_buf(),
            roots,
            page_size,
            paths,
            statics: Static::default(),
            files: Files::default(),
            disks: NoWrap::default(),
            nets: NoWrap::default(),
            block_names: HashSet::new(),
            block_names_for: Vec::new(),
            disk_lines: Vec::new(),
            net_lines: Vec::new(),
            links: Default::default(),
            mount_table: Default::default(),
            network_stat: filesystems::BoundedStat::new(
                |p| fs::statvfs(p).map_err(|e| e.to_string()),
                std::time::Duration::from_millis(500),
            ),
            sample_no: 0,
            cpuinfo_mhz: None,
            ipv4: ifaddrs::Ipv4Ioctl::new().ok(),
            swapped: None,
            families: Families {
                cpu: FamilyStatus::new("cpu"),
                cpufreq: FamilyStatus::new("cpufreq"),
                memory: FamilyStatus::new("memory"),
                swap: FamilyStatus::new("swap"),
                vmstat: FamilyStatus::new("vmstat"),
                disk: FamilyStatus::new("disk"),
                disk_io: FamilyStatus::new("disk_io"),
                network: FamilyStatus::new("network"),
                interface: FamilyStatus::new("interface"),
                host: FamilyStatus::new("host"),
                load: FamilyStatus::new("load"),
                filesystems: FamilyStatus::new("filesystems"),
                interfaces: FamilyStatus::new("interfaces"),
                sensors: FamilyStatus::new("sensors"),
            },
        };
        c.statics = c.read_statics();
        c
    }

    /// Records the paths of the files and directories the next readings open (benchmarks).
    pub fn record_reads(&mut self) {
        self.files.record();
    }

    /// The paths recorded since [`LinuxCollector::record_reads`].
    pub fn recorded_reads(&mut self) -> Vec<PathBuf> {
        self.files.recorded()
    }

    /// The path handed to `statvfs(2)`.
    pub fn disk_path(&self) -> &Path {
        &self.disk_path
    }

    fn cpu_dir(&self) -> PathBuf {
        self.roots.sysfs.join("devices/system/cpu")
    }

    fn read_statics(&mut self) -> Static {
        let cpuinfo = self.files.read_once_opt(&self.paths.cpuinfo).map(cpu::parse_cpuinfo).unwrap_or_default();
        let cpu_dir = self.cpu_dir();
        let cpus = sensors::numbered(&cpu_dir, "cpu");
        let mut core_sets = HashSet::new();
        for (_, dir) in &cpus {
            let topo = dir.join("topology");
            let list = self
                .files
                .read_once_opt(&topo.join("core_cpus_list"))
                .map(str::to_string)
                .or_else(|| self.files.read_once_opt(&topo.join("thread_siblings_list")).map(str::to_string));
            if let Some(list) = list {
                core_sets.insert(list.trim().to_string());
            }
        }
        let physical_cores = match core_sets.len() {
            0 => cpu::cores_from_cpuinfo(&cpuinfo),
            n => Some(n as u32),
        };
        let mut freq_dirs: Vec<PathBuf> =
            sensors::numbered(&cpu_dir.join("cpufreq"), "policy").into_iter().map(|(_, d)| d).collect();
        if freq_dirs.is_empty() {
            freq_dirs = cpus.iter().map(|(_, d)| d.join("cpufreq")).filter(|d| d.is_dir()).collect();
        }

        let kernel = self.roots.procfs.join("sys/kernel");
        let release = self.files.read_once_opt(&kernel.join("osrelease")).and_then(host::clean);
        let version = self.files.read_once_opt(&kernel.join("version")).and_then(host::clean);
        let domainname = self.files.read_once_opt(&kernel.join("domainname")).and_then(host::clean);
        let arch = self
            .files
            .read_once_opt(&kernel.join("arch"))
            .and_then(host::clean)
            .or_else(|| nix::sys::utsname::uname().ok().map(|u| u.machine().to_string_lossy().into_owned()));
        let model = self
            .files
            .read_once_opt(&self.roots.sysfs.join("firmware/devicetree/base/model"))
            .and_then(host::clean)
            .or_else(|| {
                self.files.read_once_opt(&self.roots.sysfs.join("class/dmi/id/product_name")).and_then(host::clean)
            });
        let platform = match (&release, &arch) {
            (Some(r), Some(a)) => Some(host::platform_string(r, a)),
            _ => None,
        };
        let processor = cpuinfo.model.clone().or_else(|| arch.clone());
        let status = if release.is_none() {
            Err(CollectError::Other(format!("{}: osrelease unreadable", kernel.display())))
        } else {
            Ok(())
        };
        self.families.host.record(status);
        let host_mounts = self.roots.procfs.join("1/mounts");
        let throttled = self.roots.sysfs.join("devices/platform/soc/soc:firmware/get_throttled");
        Static {
            physical_cores,
            processor,
            freq_dirs,
            user_hz: nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok().flatten().map_or(100.0, |v| v as f64),
            mounts: if std::fs::File::open(&host_mounts).is_ok() {
                host_mounts
            } else {
                self.roots.procfs.join("mounts")
            },
            zones: sensors::thermal_zones(&self.roots.sysfs),
            hwmon: sensors::hwmon_inputs(&self.roots.sysfs),
            throttled: throttled.exists().then_some(throttled),
            system: System {
                hostname: None,
                os: Some("Linux".into()),
                os_release: release,
                os_version: version,
                architecture: arch,
                platform,
                model,
                domainname,
            },
        }
    }

    fn read_stat(&mut self) -> Result<cpu::Stat, CollectError> {
        let path = &self.paths.stat;
        let text = self.files.read(path)?;
        cpu::parse_stat(text).map_err(|e| CollectError::parse(path, e))
    }

    /// Mean current, min and max frequency (MHz) over cpufreq policies, else the `cpu MHz`
    /// lines of `/proc/cpuinfo` (min and max unknown).
    fn read_frequency(&mut self) -> Result<Frequency, CollectError> {
        if self.statics.freq_dirs.is_empty() {
            // /proc/cpuinfo is the costliest file of a sample; without cpufreq (virtual
            // machines, where the value is the host's nominal clock) it is read every
            // LINK_REFRESH samples
            if let Some((mhz, at)) = self.cpuinfo_mhz
                && self.sample_no.saturating_sub(at) < LINK_REFRESH
            {
                return Ok((mhz, None, None));
            }
            let path = &self.paths.cpuinfo;
            let info = cpu::parse_cpuinfo(self.files.read(path)?);
            let mhz = (!info.mhz.is_empty())
                .then(|| crate::snapshot::round1(info.mhz.iter().sum::<f64>() / info.mhz.len() as f64));
            self.cpuinfo_mhz = Some((mhz, self.sample_no));
            return Ok((mhz, None, None));
        }
        let (mut cur, mut min, mut max) = (vec![], vec![], vec![]);
        for dir in &self.statics.freq_dirs {
            let now = self
                .files
                .read_u64(&dir.join("scaling_cur_freq"))
                .or_else(|_| self.files.read_u64(&dir.join("cpuinfo_cur_freq")));
            match now {
                Ok(khz) => cur.push(khz),
                // an offline CPU keeps its policy directory but reports nothing
                Err(_) if self.statics.freq_dirs.len() > 1 => continue,
                Err(e) => return Err(e),
            }
            min.push(self.files.read_u64(&dir.join("scaling_min_freq"))?);
            max.push(self.files.read_u64(&dir.join("scaling_max_freq"))?);
        }
        if cur.is_empty() {
            return Err(CollectError::Other("no cpufreq policy reports a current frequency".into()));
        }
        Ok((cpu::mean_mhz(&cur), cpu::mean_mhz(&min), cpu::mean_mhz(&max)))
    }

    fn read_memory(&mut self) -> (Result<memory::MemInfo, CollectError>, Option<u64>) {
        let path = &self.paths.meminfo;
        let info = match self.files.read(path) {
            Ok(text) => memory::parse_meminfo(text).map_err(|e| CollectError::parse(path, e)),
            Err(e) => Err(e),
        };
        let mut low = None;
        if let Ok(m) = &info
            && memory::needs_zoneinfo(m)
        {
            low = self.files.read_once_opt(&self.paths.zoneinfo).and_then(memory::parse_zoneinfo_low);
        }
        (info, low.map(|pages| pages * self.page_size))
    }

    fn read_vmstat(&mut self) -> Result<(u64, u64), CollectError> {
        let path = &self.paths.vmstat;
        let text = self.files.read(path)?;
        memory::parse_vmstat_swap(text).map_err(|e| CollectError::parse(path, e))
    }

    /// `statvfs` of the disk path; bounded in time when the path is on a network filesystem
    /// (by the mount table's longest matching mount point).
    fn read_disk_usage(&mut self) -> Result<fs::FsStats, CollectError> {
        self.files.note(&self.disk_path);
        let on_network = self
            .mount_table
            .cached()
            .iter()
            .filter(|m| self.disk_path.starts_with(&m.mountpoint))
            .max_by_key(|m| m.mountpoint.len())
            .is_some_and(|m| filesystems::is_network(&m.fstype));
        if on_network {
            let path = self.disk_path.clone();
            self.network_stat.stat(&path).map_err(|e| CollectError::Other(format!("statvfs {}: {e}", path.display())))
        } else {
            fs::statvfs(&self.disk_path)
        }
    }

    fn read_disk_io(&mut self) -> Result<disk::DiskCounters, CollectError> {
        let path = &self.paths.diskstats;
        let text = self.files.read(path)?;
        let lines = &mut self.disk_lines;
        lines.clear();
        disk::parse_diskstats(text, |name, c| lines.push((name.to_string(), c)))
            .map_err(|e| CollectError::parse(path, e))?;
        // /sys/block only changes when the set of block devices does, and every block device
        // has a diskstats line: list it again only when those names change
        if self.block_names_for.len() != lines.len()
            || self.block_names_for.iter().zip(lines.iter()).any(|(a, b)| *a != b.0)
        {
            self.files.note(&self.paths.sys_block);
            let entries =
                std::fs::read_dir(&self.paths.sys_block).map_err(|e| CollectError::io(&self.paths.sys_block, e))?;
            self.block_names = entries.flatten().filter_map(|e| e.file_name().to_str().map(str::to_string)).collect();
            self.block_names_for = lines.iter().map(|(n, _)| n.clone()).collect();
        }
        let mut total = [0u64; 9];
        self.disks.begin();
        for (name, raw) in &self.disk_lines {
            // a '/' in a diskstats name is a '!' under /sys/block (cciss/c0d0)
            let whole_disk = if name.contains('/') {
                self.block_names.contains(&name.replace('/', "!"))
            } else {
                self.block_names.contains(name)
            };
            if whole_disk {
                let c = self.disks.adjust(name, *raw);
                for (t, v) in total.iter_mut().zip(c) {
                    *t = t.wrapping_add(v);
                }
            }
        }
        self.disks.finish();
        Ok(total)
    }

    fn read_net_io(&mut self) -> Result<network::NetCounters, CollectError> {
        let path = &self.paths.net_dev;
        let text = self.files.read(path)?;
        let wraps = &mut self.nets;
        let lines = &mut self.net_lines;
        lines.clear();
        let mut total = [0u64; 8];
        wraps.begin();
        network::parse_net_dev(text, |name, raw| {
            lines.push((name.to_string(), raw));
            let c = wraps.adjust(name, raw);
            for (t, v) in total.iter_mut().zip(c) {
                *t = t.wrapping_add(v);
            }
        })
        .map_err(|e| CollectError::parse(path, e))?;
        wraps.finish();
        if self.links.len() > self.net_lines.len() {
            // interfaces come and go (containers): forget the link facts of those gone
            let present: HashSet<&str> = self.net_lines.iter().map(|(n, _)| n.as_str()).collect();
            self.links.retain(|n, _| present.contains(n.as_str()));
        }
        Ok(total)
    }

    fn read_primary_interface(&mut self) -> Result<Option<Interface>, CollectError> {
        let path = &self.paths.net_route;
        let default = match self.files.read(path) {
            Ok(text) => network::parse_default_route(text).map_err(|e| CollectError::parse(path, e))?,
            // no IPv4 routing table (e.g. an IPv6-only container): fall back to the addresses
            Err(CollectError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let (name, addr) = match (default, &self.ipv4) {
            (Some(name), Some(ioctl)) => {
                let addr = ioctl.query(&name).map_err(|e| CollectError::Other(format!("ioctl on {name}: {e}")))?;
                (name, addr)
            }
            (default, _) => {
                let addrs = ifaddrs::ipv4_addresses().map_err(|e| CollectError::Other(format!("getifaddrs: {e}")))?;
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
        let link = self.link(&name);
        Ok(Some(Interface {
            ipv4: addr.map(|a| a.address.to_string()),
            netmask: addr.and_then(|a| a.netmask).map(|m| m.to_string()),
            broadcast: addr.and_then(|a| a.broadcast).map(|b| b.to_string()),
            name,
            speed_mbps: link.speed_mbps,
            mtu: link.mtu,
            duplex: link.duplex.to_string(),
        }))
    }

    /// An interface's link facts, read again every [`LINK_REFRESH`] samples.
    fn link(&mut self, name: &str) -> Link {
        if let Some(l) = self.links.get(name)
            && self.sample_no.saturating_sub(l.read_at) < LINK_REFRESH
        {
            return l.clone();
        }
        let dir = self.paths.class_net.join(name);
        let link = Link {
            mac: self.files.read_opt(&dir.join("address")).and_then(host::clean),
            mtu: self.files.read_opt(&dir.join("mtu")).and_then(|t| t.trim().parse().ok()),
            speed_mbps: self.files.read_opt(&dir.join("speed")).and_then(network::parse_speed),
            duplex: self.files.read_opt(&dir.join("duplex")).map_or("unknown", network::parse_duplex),
            ipv4: self.ipv4.as_ref().and_then(|q| q.query(name).ok().flatten()).map(|a| Ipv4Info {
                address: a.address.to_string(),
                netmask: a.netmask.map(|m| m.to_string()),
                broadcast: a.broadcast.map(|b| b.to_string()),
            }),
            read_at: self.sample_no,
        };
        self.links.insert(name.to_string(), link.clone());
        link
    }
}

impl LinuxCollector {
    fn read_load(&mut self) -> Result<LoadAverage, CollectError> {
        let path = self.roots.procfs.join("loadavg");
        let text = self.files.read(&path)?;
        let [a, b, c] = cpu::parse_loadavg(text).map_err(|e| CollectError::parse(&path, e))?;
        Ok(LoadAverage { load1: Some(a), load5: Some(b), load15: Some(c) })
    }

    /// Every reported filesystem with its usage; one that cannot be stat'ed keeps its entry,
    /// with the error.
    fn read_filesystems(&mut self) -> Result<Vec<Filesystem>, CollectError> {
        let path = &self.statics.mounts;
        let (mounts, reread) = self.mount_table.read(path)?;
        if reread {
            self.files.note(path);
        }
        let mut out: Vec<Filesystem> = Vec::new();
        for m in mounts.iter().filter(|m| filesystems::reported(m)) {
            // the same filesystem mounted twice at one place is reported once
            if out.iter().any(|f| f.mountpoint == m.mountpoint && f.device == m.device && f.fstype == m.fstype) {
                continue;
            }
            let mountpoint = Path::new(&m.mountpoint);
            self.files.note(mountpoint);
            let usage = if filesystems::is_network(&m.fstype) {
                self.network_stat.stat(mountpoint)
            } else {
                fs::statvfs(mountpoint).map_err(|e| e.to_string())
            };
            out.push(filesystems::filesystem(m, usage));
        }
        Ok(out)
    }

    /// The devices of this sample's diskstats lines that node_exporter reports.
    fn disk_devices(&self) -> Vec<DiskDevice> {
        self.disk_lines
            .iter()
            .filter(|(name, _)| disk::node_exporter_reports(name))
            .map(|(name, c)| DiskDevice {
                name: name.clone(),
                read_count: c[0],
                write_count: c[1],
                read_bytes: c[2],
                write_bytes: c[3],
                read_time: c[4],
                write_time: c[5],
                read_merged_count: c[6],
                write_merged_count: c[7],
                busy_time: c[8],
                read_bytes_per_sec: None,
                write_bytes_per_sec: None,
            })
            .collect()
    }

    /// Every interface of this sample's /proc/net/dev: link facts from sysfs, the primary
    /// IPv4 address by ioctl, IPv6 addresses from /proc/net/if_inet6.
    fn read_interfaces(&mut self) -> Result<Vec<NetInterface>, CollectError> {
        let inet6_path = self.roots.procfs.join("net/if_inet6");
        let inet6 = match self.files.read(&inet6_path) {
            Ok(text) => network::parse_if_inet6(text).map_err(|e| CollectError::parse(&inet6_path, e))?,
            // a kernel without IPv6
            Err(_) => Vec::new(),
        };
        // taken for the loop (self.link needs &mut self) and put back after it
        let lines = std::mem::take(&mut self.net_lines);
        let mut out = Vec::with_capacity(lines.len());
        for (name, c) in &lines {
            let (name, c) = (name.clone(), *c);
            let dir = self.paths.class_net.join(&name);
            let link = self.link(&name);
            let flags = self.files.read_opt(&dir.join("flags")).map(str::to_string);
            let operstate = self.files.read_opt(&dir.join("operstate")).map(str::to_string);
            out.push(NetInterface {
                up: network::is_up(flags.as_deref(), operstate.as_deref()),
                ipv6: inet6.iter().filter(|(n, _)| *n == name).map(|(_, a)| a.clone()).collect(),
                mac: link.mac,
                mtu: link.mtu,
                speed_mbps: link.speed_mbps,
                duplex: link.duplex.to_string(),
                ipv4: link.ipv4,
                counters: network::net_io(c),
                recv_bytes_per_sec: None,
                sent_bytes_per_sec: None,
                name,
            });
        }
        self.net_lines = lines;
        Ok(out)
    }

    /// Temperatures and the Raspberry Pi's throttling state. A sensor that cannot be read this
    /// time is left out of this sample.
    fn read_sensors(&mut self) -> Result<(Temperatures, Option<RaspberryPi>), CollectError> {
        let mut t = Temperatures::default();
        for z in &self.statics.zones {
            if let Some(celsius) = self.files.read_opt(&z.temp).and_then(sensors::parse_millidegrees) {
                t.thermal_zones.push(ThermalZone { zone: z.zone, kind: z.kind.clone(), celsius });
            }
        }
        for h in &self.statics.hwmon {
            if let Some(celsius) = self.files.read_opt(&h.input).and_then(sensors::parse_millidegrees) {
                t.hwmon.push(HwmonTemp {
                    chip: h.chip.clone(),
                    chip_name: h.chip_name.clone(),
                    sensor: h.sensor.clone(),
                    label: h.label.clone(),
                    celsius,
                });
            }
        }
        let pi = match &self.statics.throttled {
            None => None,
            Some(path) => {
                let text = self.files.read(path)?;
                let bits = sensors::parse_throttled(text).ok_or_else(|| {
                    CollectError::parse(path, format!("{:?} is not a hexadecimal number", text.trim()))
                })?;
                Some(RaspberryPi::from_bits(bits))
            }
        };
        Ok((t, pi))
    }
}

impl Collect for LinuxCollector {
    fn read(&mut self) -> Reading {
        self.sample_no += 1;
        let at = Instant::now();
        let wall = SystemTime::now();
        let mut s = Snapshot::default();

        let stat = self.read_stat();
        let stat = self.families.cpu.record(stat);
        let freq = self.read_frequency();
        let (frequency_mhz, min_frequency_mhz, max_frequency_mhz) =
            self.families.cpufreq.record(freq).unwrap_or_default();
        s.cpu = Cpu {
            percent: None,
            logical_cores: stat.as_ref().map(|st| st.cpus).filter(|&n| n > 0),
            physical_cores: self.statics.physical_cores,
            frequency_mhz,
            min_frequency_mhz,
            max_frequency_mhz,
            processor: self.statics.processor.clone(),
            times: stat.as_ref().map(|st| st.total.seconds(self.statics.user_hz)),
            per_cpu: stat
                .as_ref()
                .map(|st| {
                    let hz = self.statics.user_hz;
                    st.per_cpu.iter().map(|(n, t)| PerCpu { cpu: *n, percent: None, times: t.seconds(hz) }).collect()
                })
                .unwrap_or_default(),
        };
        let load = self.read_load();
        s.load_average = self.families.load.record(load).unwrap_or_default();

        let (meminfo, low) = self.read_memory();
        let (mem, swp) = match &meminfo {
            Ok(m) => {
                let swapped = match (m.swap_total, self.swapped) {
                    (Some(0), Some(last)) => Some(last),
                    _ => {
                        let vm = self.read_vmstat();
                        self.families.vmstat.record(vm)
                    }
                };
                self.swapped = swapped;
                let meminfo_path = &self.paths.meminfo;
                (
                    memory::memory(m, low).map_err(|e| CollectError::parse(meminfo_path, e)),
                    memory::swap(m, swapped, self.page_size).map_err(|e| CollectError::parse(meminfo_path, e)),
                )
            }
            Err(e) => (Err(CollectError::Other(e.to_string())), Err(CollectError::Other(e.to_string()))),
        };
        s.memory = self.families.memory.record(mem).unwrap_or_default();
        s.swap = self.families.swap.record(swp).unwrap_or_default();

        // the mount table first: it says whether the disk path is on a network filesystem
        let filesystems = self.read_filesystems();
        s.filesystems = self.families.filesystems.record(filesystems);
        // the disk path is usually a mount point just stat'ed for `filesystems`: not twice
        let measured =
            s.filesystems.iter().flatten().find(|f| f.total.is_some() && Path::new(&f.mountpoint) == self.disk_path);
        if let Some(f) = measured {
            s.disk = crate::snapshot::Disk {
                total: f.total,
                used: f.used,
                free: f.free,
                percent: f.percent,
                mount: Some(self.disk_label.clone()),
            };
        } else {
            let usage = self.read_disk_usage();
            if let Some(usage) = self.families.disk.record(usage) {
                s.disk = fs::disk_usage(usage, &self.disk_label);
            } else {
                s.disk.mount = Some(self.disk_label.clone());
            }
        }
        let io = self.read_disk_io();
        if let Some(total) = self.families.disk_io.record(io) {
            s.disk_io = disk::disk_io(total);
            s.disks = Some(self.disk_devices());
        }
        let net = self.read_net_io();
        if let Some(total) = self.families.network.record(net) {
            s.network.io_counters = network::net_io(total);
        }
        let primary = self.read_primary_interface();
        s.network.primary_interface = self.families.interface.record(primary).flatten();
        if s.network.io_counters.bytes_recv.is_some() {
            let interfaces = self.read_interfaces();
            s.network.interfaces = self.families.interfaces.record(interfaces);
        }
        let sensors = self.read_sensors();
        if let Some((temperatures, pi)) = self.families.sensors.record(sensors) {
            s.temperatures = temperatures;
            s.raspberry_pi = pi;
        }

        s.system = self.statics.system.clone();
        s.system.hostname = self
            .files
            .read_opt(&self.paths.hostname)
            .and_then(host::clean)
            .or_else(|| nix::unistd::gethostname().ok().map(|h| h.to_string_lossy().into_owned()));

        Reading {
            at,
            wall,
            boot_time: stat.as_ref().and_then(|st| st.btime),
            per_cpu_times: stat.as_ref().map(|st| st.per_cpu.clone()).unwrap_or_default(),
            cpu_times: stat.map(|st| st.total),
            cpu_percent: None,
            snapshot: s,
        }
    }

    fn families(&self) -> Vec<(&'static str, Option<String>)> {
        self.families.all().iter().map(|f| (f.name(), f.error().map(str::to_string))).collect()
    }
}
