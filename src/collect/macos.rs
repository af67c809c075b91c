//! The macOS collector: a thin layer over `sysinfo` (host_statistics, sysctl, IOKit), plus
//! `statvfs(2)` and `getifaddrs(3)` shared with Linux and `hw.model` through `sysctlbyname`.
//! It cannot be compiled on the Linux build machines; `cargo check --target
//! aarch64-apple-darwin` type-checks it where that target is installed.
//!
//! What macOS does not expose the way Linux does is `null`: memory active/inactive/buffers/
//! cached/shared/slab, swap traffic, disk I/O counts and times, packet drops, link duplex.

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use sysinfo::{Disks, Networks, System};

use crate::collect::{Collect, CollectError, FamilyStatus, Reading, fs, ifaddrs};
use crate::snapshot::{Cpu, DiskIo, Interface, LoadAverage, NetIoCounters, PerCpu, Snapshot, percent, round1};

pub struct MacCollector {
    system: Option<System>,
    disks: Option<Disks>,
    networks: Option<Networks>,
    disk_path: PathBuf,
    model: Option<String>,
    families: Vec<FamilyStatus>,
}

impl MacCollector {
    pub fn new(disk_path: &Path) -> Self {
        MacCollector {
            system: System::new().ok(),
            disks: Disks::new_with_refreshed_list().ok(),
            networks: Networks::new_with_refreshed_list().ok(),
            disk_path: disk_path.to_path_buf(),
            model: sysctl_string("hw.model"),
            families: ["system", "disk", "disk_io", "network", "interface"].map(FamilyStatus::new).into(),
        }
    }
}

/// A string sysctl such as `hw.model` (`Mac14,2`), read without spawning a process.
fn sysctl_string(name: &str) -> Option<String> {
    let name = CString::new(name).ok()?;
    let mut len: libc::size_t = 0;
    // SAFETY: a null buffer asks for the size; the second call writes at most `len` bytes.
    unsafe {
        if libc::sysctlbyname(name.as_ptr(), std::ptr::null_mut(), &mut len, std::ptr::null_mut(), 0) != 0 {
            return None;
        }
        let mut buf = vec![0u8; len];
        if libc::sysctlbyname(name.as_ptr(), buf.as_mut_ptr().cast(), &mut len, std::ptr::null_mut(), 0) != 0 {
            return None;
        }
        buf.truncate(len);
        let text = String::from_utf8_lossy(&buf).trim_end_matches('\0').trim().to_string();
        (!text.is_empty()).then_some(text)
    }
}

impl Collect for MacCollector {
    fn read(&mut self) -> Reading {
        let at = Instant::now();
        let wall = SystemTime::now();
        let mut s = Snapshot::default();
        let mut cpu_percent = None;
        let missing = || CollectError::Other("sysinfo could not be initialised".into());

        let sys = self.system.as_mut().ok_or_else(missing);
        if let Some(sys) = self.families[0].record(sys) {
            sys.refresh_cpu_all();
            sys.refresh_memory();
            let cpus = sys.cpus();
            cpu_percent = Some(round1(f64::from(sys.global_cpu_usage()).clamp(0.0, 100.0)));
            let mhz: Vec<u64> = cpus.iter().map(|c| c.frequency()).filter(|&f| f > 0).collect();
            s.cpu = Cpu {
                percent: None,
                logical_cores: u32::try_from(cpus.len()).ok().filter(|&n| n > 0),
                physical_cores: System::physical_core_count().ok().and_then(|n| u32::try_from(n).ok()),
                frequency_mhz: (!mhz.is_empty()).then(|| mhz.iter().sum::<u64>() as f64 / mhz.len() as f64),
                min_frequency_mhz: None,
                max_frequency_mhz: None,
                processor: cpus.first().map(|c| c.brand().to_string()).filter(|b| !b.is_empty()),
                per_cpu: cpus
                    .iter()
                    .enumerate()
                    .map(|(n, c)| PerCpu {
                        cpu: n as u32,
                        percent: Some(round1(f64::from(c.usage()).clamp(0.0, 100.0))),
                        times: Default::default(),
                    })
                    .collect(),
                ..Default::default()
            };
            if let Ok(load) = System::load_average() {
                s.load_average =
                    LoadAverage { load1: Some(load.one), load5: Some(load.five), load15: Some(load.fifteen) };
            }
            let (total, available) = (sys.total_memory(), sys.available_memory().min(sys.total_memory()));
            s.memory.total = Some(total);
            s.memory.available = Some(available);
            s.memory.used = Some(total - available);
            s.memory.free = Some(sys.free_memory());
            s.memory.percent = Some(percent(total - available, total));
            let (swap_total, swap_free) = (sys.total_swap(), sys.free_swap().min(sys.total_swap()));
            s.swap.total = Some(swap_total);
            s.swap.free = Some(swap_free);
            s.swap.used = Some(swap_total - swap_free);
            s.swap.percent = Some(percent(swap_total - swap_free, swap_total));
        }

        let usage = fs::statvfs(&self.disk_path);
        let label = self.disk_path.to_string_lossy().into_owned();
        s.disk = match self.families[1].record(usage) {
            Some(u) => fs::disk_usage(u, &label),
            None => crate::snapshot::Disk { mount: Some(label), ..Default::default() },
        };

        let disks = self.disks.as_mut().ok_or_else(missing);
        if let Some(disks) = self.families[2].record(disks) {
            disks.refresh(true);
            let (read, written) = disks
                .iter()
                .map(|d| d.usage())
                .fold((0, 0), |(r, w), u| (r + u.total_read_bytes, w + u.total_written_bytes));
            s.disk_io = DiskIo { read_bytes: Some(read), write_bytes: Some(written), ..Default::default() };
        }

        let networks = self.networks.as_mut().ok_or_else(missing);
        let mut mtu_speed = Vec::new();
        if let Some(networks) = self.families[3].record(networks) {
            networks.refresh(true);
            let mut c = NetIoCounters::default();
            let add = |slot: &mut Option<u64>, v: u64| *slot = Some(slot.unwrap_or(0) + v);
            for (name, data) in networks.iter() {
                add(&mut c.bytes_sent, data.total_transmitted());
                add(&mut c.bytes_recv, data.total_received());
                add(&mut c.packets_sent, data.total_packets_transmitted());
                add(&mut c.packets_recv, data.total_packets_received());
                add(&mut c.errin, data.total_errors_on_received());
                add(&mut c.errout, data.total_errors_on_transmitted());
                mtu_speed.push((name.to_string_lossy().into_owned(), data.mtu(), data.transmit_link_speed()));
            }
            s.network.io_counters = c;
        }

        // no routing table file on macOS: the first up, non-loopback interface with IPv4
        let addrs = ifaddrs::ipv4_addresses().map_err(|e| CollectError::Other(format!("getifaddrs: {e}")));
        if let Some(addrs) = self.families[4].record(addrs) {
            s.network.primary_interface = addrs.into_iter().find(|a| a.usable_fallback()).map(|a| {
                let (mtu, speed) = mtu_speed
                    .iter()
                    .find(|(n, _, _)| *n == a.name)
                    .map_or((None, None), |&(_, mtu, speed)| (u32::try_from(mtu).ok(), speed));
                Interface {
                    ipv4: Some(a.address.to_string()),
                    netmask: a.netmask.map(|m| m.to_string()),
                    broadcast: a.broadcast.map(|b| b.to_string()),
                    speed_mbps: speed.map(|bps| bps / 1_000_000).filter(|&m| m > 0),
                    mtu,
                    duplex: "unknown".into(),
                    name: a.name,
                }
            });
        }

        let uname = nix::sys::utsname::uname().ok();
        let field = |f: fn(&nix::sys::utsname::UtsName) -> &std::ffi::OsStr| {
            uname.as_ref().map(|u| f(u).to_string_lossy().into_owned())
        };
        let machine = field(nix::sys::utsname::UtsName::machine);
        s.system.hostname = System::host_name().ok();
        s.system.os = Some("Darwin".into());
        s.system.os_release = field(nix::sys::utsname::UtsName::release);
        s.system.os_version = field(nix::sys::utsname::UtsName::version);
        s.system.platform = match (System::os_version().ok(), &machine) {
            (Some(v), Some(m)) => Some(format!("macOS-{v}-{m}-64bit")),
            _ => None,
        };
        s.system.architecture = machine;
        s.system.model = self.model.clone();

        Reading {
            at,
            wall,
            snapshot: s,
            cpu_times: None,
            per_cpu_times: Vec::new(),
            cpu_percent,
            boot_time: System::boot_time().ok(),
        }
    }

    fn families(&self) -> Vec<(&'static str, Option<String>)> {
        self.families.iter().map(|f| (f.name(), f.error().map(str::to_string))).collect()
    }
}
