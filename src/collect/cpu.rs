//! `cpu`: busy percent over the sampling interval (total and per CPU), time per mode since
//! boot, logical and physical cores, the CPU model; and the boot time, for `uptime`.
//!
//! Linux: `/proc/stat` every sample; `/proc/cpuinfo` and `devices/system/cpu/*/topology` once
//! at start. Percent follows psutil's `cpu_percent`: deltas of `/proc/stat` ticks, guest time
//! not counted twice, busy = total − idle − iowait. macOS: host_statistics through `sysinfo`.

// The Linux parsers compile everywhere so that their tests run everywhere; macOS calls none.
#![cfg_attr(not(target_os = "linux"), allow(dead_code))]

use super::{CollectError, Collector, Entry, Reading, Setup};
use crate::metrics;
#[cfg(target_os = "linux")]
use std::path::PathBuf;

#[cfg(target_os = "linux")]
use super::shared::files::{self, Files};
use crate::snapshot::PerCpu;

pub(crate) const ENTRY: Entry = Entry {
    name: "cpu",
    about: "busy percent (total, per CPU), times per mode, cores, model; boot time",
    reads: &[],
    series: Some(snapshot_series),
    start: |setup| Some(Box::new(Cpu::new(setup))),
};

/// CPU times from a `cpu` line of `/proc/stat` (clock ticks).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CpuTimes {
    pub user: u64,
    pub nice: u64,
    pub system: u64,
    pub idle: u64,
    pub iowait: u64,
    pub irq: u64,
    pub softirq: u64,
    pub steal: u64,
    pub guest: u64,
    pub guest_nice: u64,
}

impl CpuTimes {
    /// The times in seconds, for a kernel counting `hz` ticks per second (USER_HZ).
    pub(crate) fn seconds(&self, hz: f64) -> crate::snapshot::CpuSeconds {
        let s = |t: u64| t as f64 / hz;
        crate::snapshot::CpuSeconds {
            user: s(self.user),
            nice: s(self.nice),
            system: s(self.system),
            idle: s(self.idle),
            iowait: s(self.iowait),
            irq: s(self.irq),
            softirq: s(self.softirq),
            steal: s(self.steal),
            guest: s(self.guest),
            guest_nice: s(self.guest_nice),
        }
    }

    /// Busy share between two readings, psutil's `cpu_percent` definition on Linux: each field's
    /// delta is clamped at zero; the total leaves out guest and guest_nice (already counted in
    /// user and nice); busy = total − idle − iowait. 0.0 when no time passed.
    pub(crate) fn percent_since(&self, earlier: &CpuTimes) -> f64 {
        let d = |now: u64, then: u64| now.saturating_sub(then);
        let total = d(self.user, earlier.user)
            + d(self.nice, earlier.nice)
            + d(self.system, earlier.system)
            + d(self.idle, earlier.idle)
            + d(self.iowait, earlier.iowait)
            + d(self.irq, earlier.irq)
            + d(self.softirq, earlier.softirq)
            + d(self.steal, earlier.steal);
        let idle = d(self.idle, earlier.idle) + d(self.iowait, earlier.iowait);
        if total == 0 {
            return 0.0;
        }
        let busy = total.saturating_sub(idle);
        crate::snapshot::round1((busy as f64 / total as f64 * 100.0).clamp(0.0, 100.0))
    }
}

#[cfg(target_os = "linux")]
pub(crate) struct Cpu {
    stat: PathBuf,
    files: Files,
    physical_cores: Option<u32>,
    processor: Option<String>,
    /// Clock ticks per second of `/proc/stat` (USER_HZ).
    user_hz: f64,
    /// The last sample's `/proc/stat`, for percents.
    previous: Option<Stat>,
}

#[cfg(target_os = "linux")]
impl Cpu {
    fn new(setup: &Setup) -> Cpu {
        let mut files = Files::default();
        let cpuinfo = files.read_once_opt(&setup.procfs.join("cpuinfo")).map(parse_cpuinfo).unwrap_or_default();
        let cpus = files::numbered(&setup.sysfs.join("devices/system/cpu"), "cpu");
        let mut core_sets = std::collections::HashSet::new();
        for (_, dir) in &cpus {
            let topo = dir.join("topology");
            let list = files
                .read_once_opt(&topo.join("core_cpus_list"))
                .map(str::to_string)
                .or_else(|| files.read_once_opt(&topo.join("thread_siblings_list")).map(str::to_string));
            if let Some(list) = list {
                core_sets.insert(list.trim().to_string());
            }
        }
        let physical_cores = match core_sets.len() {
            0 => cores_from_cpuinfo(&cpuinfo),
            n => Some(n as u32),
        };
        let arch = || nix::sys::utsname::uname().ok().map(|u| u.machine().to_string_lossy().into_owned());
        Cpu {
            stat: setup.procfs.join("stat"),
            files,
            physical_cores,
            processor: cpuinfo.model.or_else(arch),
            user_hz: nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok().flatten().map_or(100.0, |v| v as f64),
            previous: None,
        }
    }
}

#[cfg(target_os = "linux")]
impl Collector for Cpu {
    fn collect(&mut self, r: &mut Reading) -> Result<(), CollectError> {
        let path = &self.stat;
        let text = self.files.read(path)?;
        let stat = parse_stat(text).map_err(|e| CollectError::parse(path, e))?;
        let hz = self.user_hz;
        let c = &mut r.snapshot.cpu;
        c.logical_cores = Some(stat.cpus).filter(|&n| n > 0);
        c.physical_cores = self.physical_cores;
        c.processor.clone_from(&self.processor);
        c.times = Some(stat.total.seconds(hz));
        c.percent = self.previous.as_ref().map(|p| stat.total.percent_since(&p.total));
        c.per_cpu = stat
            .per_cpu
            .iter()
            .enumerate()
            .map(|(i, (n, t))| {
                let before = self.previous.as_ref().and_then(|p| match p.per_cpu.get(i) {
                    Some((m, b)) if m == n => Some(b),
                    _ => p.per_cpu.iter().find(|(m, _)| m == n).map(|(_, b)| b),
                });
                PerCpu { cpu: *n, percent: before.map(|b| t.percent_since(b)), times: t.seconds(hz) }
            })
            .collect();
        r.boot_time = stat.btime;
        r.proc_stat = Some(stat.counters);
        self.previous = Some(stat);
        Ok(())
    }
}

#[cfg(target_os = "macos")]
pub(crate) struct Cpu {
    system: Result<sysinfo::System, String>,
}

#[cfg(target_os = "macos")]
impl Cpu {
    fn new(_: &Setup) -> Cpu {
        Cpu { system: sysinfo::System::new().map_err(|e| e.to_string()) }
    }
}

#[cfg(target_os = "macos")]
impl Collector for Cpu {
    fn collect(&mut self, r: &mut Reading) -> Result<(), CollectError> {
        use crate::snapshot::round1;
        let sys = self.system.as_mut().map_err(|e| CollectError::Missing(format!("sysinfo: {e}")))?;
        sys.refresh_cpu_all();
        let cpus = sys.cpus();
        let c = &mut r.snapshot.cpu;
        c.percent = Some(round1(f64::from(sys.global_cpu_usage()).clamp(0.0, 100.0)));
        c.logical_cores = u32::try_from(cpus.len()).ok().filter(|&n| n > 0);
        c.physical_cores = sysinfo::System::physical_core_count().ok().and_then(|n| u32::try_from(n).ok());
        c.processor = cpus.first().map(|c| c.brand().to_string()).filter(|b| !b.is_empty());
        c.per_cpu = cpus
            .iter()
            .enumerate()
            .map(|(n, cpu)| PerCpu {
                cpu: n as u32,
                percent: Some(round1(f64::from(cpu.usage()).clamp(0.0, 100.0))),
                times: Default::default(),
            })
            .collect();
        r.boot_time = sysinfo::System::boot_time().ok();
        Ok(())
    }
}

/// What one read of `/proc/stat` gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stat {
    pub total: CpuTimes,
    /// Number of `cpuN` lines: the online logical CPUs.
    pub cpus: u32,
    /// Each `cpuN` line.
    pub per_cpu: Vec<(u32, CpuTimes)>,
    /// `btime`: boot time, Unix seconds.
    pub btime: Option<u64>,
    /// The counters beside the CPU times.
    pub counters: Counters,
}

/// The lines of `/proc/stat` that are not CPU times (node_exporter's `stat` collector).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// `ctxt`: context switches since boot.
    pub context_switches: Option<u64>,
    /// `intr`'s first number: interrupts serviced since boot.
    pub interrupts: Option<u64>,
    /// `processes`: forks since boot.
    pub forks: Option<u64>,
    /// `procs_running`, `procs_blocked`: now.
    pub procs_running: Option<u64>,
    pub procs_blocked: Option<u64>,
}

/// Parses `/proc/stat`. The aggregate `cpu` line needs at least user, nice, system and idle;
/// later fields (iowait … guest_nice) are 0 on kernels that do not have them.
pub(crate) fn parse_stat(text: &str) -> Result<Stat, String> {
    let mut total = None;
    let mut cpus = 0;
    let mut per_cpu = Vec::new();
    let mut btime = None;
    let mut counters = Counters::default();
    for line in super::shared::files::lines(text) {
        let mut fields = super::shared::files::Fields::new(line);
        let Some(key) = fields.text() else { continue };
        let mut number = || -> Result<Option<u64>, String> {
            let value = fields.number().ok_or_else(|| format!("line '{key}' has no value"))?;
            value.map(Some).map_err(|value| format!("{key} {value:?} is not a number"))
        };
        match key {
            "cpu" => total = Some(parse_cpu_times(&mut fields).map_err(|e| format!("line 'cpu': {e}"))?),
            "btime" => btime = number()?,
            "ctxt" => counters.context_switches = number()?,
            "intr" => counters.interrupts = number()?,
            "processes" => counters.forks = number()?,
            "procs_running" => counters.procs_running = number()?,
            "procs_blocked" => counters.procs_blocked = number()?,
            _ => {
                if let Some(n) = key.strip_prefix("cpu").and_then(|n| n.parse::<u32>().ok()) {
                    cpus += 1;
                    per_cpu.push((n, parse_cpu_times(&mut fields).map_err(|e| format!("line '{key}': {e}"))?));
                }
            }
        }
    }
    let total = total.ok_or("no aggregate 'cpu' line")?;
    Ok(Stat { total, cpus, per_cpu, btime, counters })
}

fn parse_cpu_times(fields: &mut super::shared::files::Fields) -> Result<CpuTimes, String> {
    let mut v = [0u64; 10];
    let mut n = 0;
    while n < v.len() {
        let Some(value) = fields.number() else { break };
        v[n] = value.map_err(|field| format!("{field:?} is not a number"))?;
        n += 1;
    }
    if n < 4 {
        return Err(format!("{n} fields, need at least 4"));
    }
    Ok(CpuTimes {
        user: v[0],
        nice: v[1],
        system: v[2],
        idle: v[3],
        iowait: v[4],
        irq: v[5],
        softirq: v[6],
        steal: v[7],
        guest: v[8],
        guest_nice: v[9],
    })
}

/// What `/proc/cpuinfo` tells.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct CpuInfo {
    /// `model name` (x86, some ARM kernels), or the ARM core named from `CPU part`.
    pub model: Option<String>,
    /// Every `cpu MHz` line, in CPU order (x86 without cpufreq, e.g. most VMs).
    pub mhz: Vec<f64>,
    /// `physical id` → `cpu cores`, psutil's fallback for counting cores.
    pub cores_by_package: Vec<(u32, u32)>,
}

pub(crate) fn parse_cpuinfo(text: &str) -> CpuInfo {
    let mut info = CpuInfo::default();
    let mut implementer = None;
    let mut part = None;
    let mut physical_id = None;
    let mut cores = None;
    for line in super::shared::files::lines(text).chain(std::iter::once("")) {
        if line.trim().is_empty() {
            if let (Some(id), Some(n)) = (physical_id.take(), cores.take())
                && !info.cores_by_package.iter().any(|&(p, _)| p == id)
            {
                info.cores_by_package.push((id, n));
            }
            continue;
        }
        let Some((key, value)) = line.split_once(':') else { continue };
        let (key, value) = (key.trim(), value.trim());
        match key.to_ascii_lowercase().as_str() {
            "model name" if info.model.is_none() && !value.is_empty() => info.model = Some(value.to_string()),
            "cpu mhz" => {
                if let Ok(mhz) = value.parse() {
                    info.mhz.push(mhz)
                }
            }
            "cpu implementer" if implementer.is_none() => implementer = parse_hex(value),
            "cpu part" if part.is_none() => part = parse_hex(value),
            "physical id" => physical_id = value.parse().ok(),
            "cpu cores" => cores = value.parse().ok(),
            _ => {}
        }
    }
    if info.model.is_none()
        && let (Some(imp), Some(part)) = (implementer, part)
    {
        info.model = arm_core_name(imp, part).map(str::to_string);
    }
    info
}

fn parse_hex(s: &str) -> Option<u32> {
    u32::from_str_radix(s.trim_start_matches("0x"), 16).ok()
}

/// Names the ARM cores found in Raspberry Pis (and a few common others) from the `CPU
/// implementer` and `CPU part` lines; aarch64 kernels print no `model name`.
pub(crate) fn arm_core_name(implementer: u32, part: u32) -> Option<&'static str> {
    if implementer != 0x41 {
        return None;
    }
    Some(match part {
        0xb76 => "ARM1176",
        0xc07 => "ARM Cortex-A7",
        0xc08 => "ARM Cortex-A8",
        0xc09 => "ARM Cortex-A9",
        0xc0f => "ARM Cortex-A15",
        0xd03 => "ARM Cortex-A53",
        0xd04 => "ARM Cortex-A35",
        0xd05 => "ARM Cortex-A55",
        0xd07 => "ARM Cortex-A57",
        0xd08 => "ARM Cortex-A72",
        0xd09 => "ARM Cortex-A73",
        0xd0a => "ARM Cortex-A75",
        0xd0b => "ARM Cortex-A76",
        0xd0c => "ARM Neoverse-N1",
        0xd40 => "ARM Neoverse-V1",
        0xd41 => "ARM Cortex-A78",
        0xd49 => "ARM Neoverse-N2",
        _ => return None,
    })
}

/// Physical cores from psutil's fallback: the sum of `cpu cores` over distinct packages.
pub(crate) fn cores_from_cpuinfo(info: &CpuInfo) -> Option<u32> {
    let n: u32 = info.cores_by_package.iter().map(|&(_, c)| c).sum();
    (n > 0).then_some(n)
}

/// The series of the CPU times in a snapshot: node_exporter's `node_cpu_seconds_total` and
/// `node_cpu_guest_seconds_total`, and each CPU's busy share.
pub(crate) fn snapshot_series(s: &crate::snapshot::Snapshot, out: &mut Vec<metrics::Family>) {
    let mut seconds =
        metrics::Family::new("node_cpu_seconds_total", metrics::Kind::Counter, "Seconds the CPUs spent in each mode.");
    let mut guest = metrics::Family::new(
        "node_cpu_guest_seconds_total",
        metrics::Kind::Counter,
        "Seconds the CPUs spent in guests (VMs) for each mode.",
    );
    let mut busy = metrics::Family::new(
        "system_stats_cpu_core_utilisation_ratio",
        metrics::Kind::Gauge,
        "Busy share of each CPU over the last sampling interval (0 to 1).",
    );
    for pc in &s.cpu.per_cpu {
        let c = pc.cpu.to_string();
        let t: &crate::snapshot::CpuSeconds = &pc.times;
        for (mode, v) in [
            ("idle", t.idle),
            ("iowait", t.iowait),
            ("irq", t.irq),
            ("nice", t.nice),
            ("softirq", t.softirq),
            ("steal", t.steal),
            ("system", t.system),
            ("user", t.user),
        ] {
            seconds.push(vec![metrics::label("cpu", &c), metrics::label("mode", mode)], v);
        }
        guest.push(vec![metrics::label("cpu", &c), metrics::label("mode", "nice")], t.guest_nice);
        guest.push(vec![metrics::label("cpu", &c), metrics::label("mode", "user")], t.guest);
        if let Some(p) = pc.percent {
            busy.push(vec![metrics::label("cpu", &c)], p / 100.0);
        }
    }
    out.extend([seconds, guest, busy]);
    out.extend(metrics::Family::single(
        "system_stats_cpu_utilisation_ratio",
        metrics::Kind::Gauge,
        "Busy share of all CPUs over the last sampling interval (0 to 1), as /system's cpu.percent.",
        s.cpu.percent.map(|p| p / 100.0),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn times(user: u64, system: u64, idle: u64, iowait: u64, guest: u64) -> CpuTimes {
        CpuTimes { user, system, idle, iowait, guest, ..Default::default() }
    }

    #[test]
    fn cpu_percent_follows_psutil() {
        let a = times(100, 50, 800, 50, 0);
        // 30 user + 10 system busy, 50 idle + 10 iowait idle: 40 / 100
        let b = times(130, 60, 850, 60, 0);
        assert_eq!(b.percent_since(&a), 40.0);
        // guest time is already in user: it must not be counted twice
        let c = times(130, 60, 850, 60, 20);
        assert_eq!(c.percent_since(&a), 40.0);
        // no time passed
        assert_eq!(a.percent_since(&a), 0.0);
        // a counter going backwards (e.g. a hotplugged CPU) is clamped, not negative
        let d = times(90, 60, 900, 50, 0);
        assert_eq!(d.percent_since(&a), 9.1);
    }

    const STAT: &str = "cpu  4705 150 1120 16250 520 0 25 0 0 0\n\
        cpu0 2355 75 560 8125 260 0 12 0 0 0\n\
        cpu1 2350 75 560 8125 260 0 13 0 0 0\n\
        intr 114930548 113199788 3 0 5 263 0 4 [...]\n\
        ctxt 1990473\nbtime 1062191376\nprocesses 2915\nprocs_running 3\nprocs_blocked 1\n\
        softirq 2133 0 1 2 3 4 5 6 7 8 9\n";

    #[test]
    fn stat_gives_times_cpus_and_boot_time() {
        let s = parse_stat(STAT).unwrap();
        assert_eq!(s.cpus, 2);
        assert_eq!(s.btime, Some(1_062_191_376));
        let c = s.counters;
        assert_eq!(
            [c.context_switches, c.interrupts, c.forks, c.procs_running, c.procs_blocked],
            [Some(1990473), Some(114930548), Some(2915), Some(3), Some(1)]
        );
        assert_eq!(s.total.user, 4705);
        assert_eq!(s.total.iowait, 520);
        assert_eq!(s.total.softirq, 25);
        assert_eq!(s.per_cpu.len(), 2);
        assert_eq!(s.per_cpu[1].0, 1);
        assert_eq!(s.per_cpu[1].1.softirq, 13);
    }

    #[test]
    fn stat_from_an_old_kernel_has_four_fields() {
        let s = parse_stat("cpu 1 2 3 4\ncpu0 1 2 3 4\n").unwrap();
        assert_eq!(s.total.idle, 4);
        assert_eq!(s.total.iowait, 0);
        assert_eq!(s.btime, None);
        assert_eq!(s.counters, Counters::default());
    }

    #[test]
    fn malformed_stat_is_an_error_that_says_why() {
        assert_eq!(parse_stat("").unwrap_err(), "no aggregate 'cpu' line");
        assert!(parse_stat("cpu 1 2\n").unwrap_err().contains("need at least 4"));
        assert!(parse_stat("cpu 1 2 x 4\n").unwrap_err().contains("\"x\" is not a number"));
        // truncated in the middle of the btime line
        assert!(parse_stat("cpu 1 2 3 4\nbtime").unwrap_err().contains("btime"));
        assert!(parse_stat("cpu 1 2 3 4\nbtime 12a").unwrap_err().contains("12a"));
        assert!(parse_stat("cpu 1 2 3 4\ncpu0 1 2\n").unwrap_err().contains("line 'cpu0'"));
        assert!(parse_stat("cpu 1 2 3 4\nctxt -3\n").unwrap_err().contains("ctxt \"-3\""));
        assert!(parse_stat("cpu 1 2 3 4\nprocs_running\n").unwrap_err().contains("'procs_running' has no value"));
    }

    #[test]
    fn cpuinfo_on_x86_gives_model_and_mhz() {
        let text = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC\n\
            cpu MHz\t\t: 2596.144\nphysical id\t: 0\ncpu cores\t: 2\n\n\
            processor\t: 1\nmodel name\t: AMD EPYC\ncpu MHz\t\t: 2596.000\n\
            physical id\t: 0\ncpu cores\t: 2\n\n";
        let info = parse_cpuinfo(text);
        assert_eq!(info.model.as_deref(), Some("AMD EPYC"));
        assert_eq!(info.mhz, vec![2596.144, 2596.0]);
        assert_eq!(cores_from_cpuinfo(&info), Some(2));
    }

    #[test]
    fn cpuinfo_on_a_pi_names_the_arm_core() {
        let text = "processor\t: 0\nBogoMIPS\t: 108.00\nCPU implementer\t: 0x41\n\
            CPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n\
            Revision\t: c03114\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n";
        let info = parse_cpuinfo(text);
        assert_eq!(info.model.as_deref(), Some("ARM Cortex-A72"));
        assert!(info.mhz.is_empty());
        assert_eq!(cores_from_cpuinfo(&info), None);
    }
}
