//! Collectors: one look at the kernel per call, turned into a [`Reading`].
//!
//! A reading holds everything that can be known from one instant (memory, disk usage, host
//! identity, cumulative counters). What needs two instants (CPU percent, rates) is computed by
//! the sampler from two consecutive readings (see [`crate::sampler`]).
//!
//! Every metric family is collected on its own: a family that fails leaves its fields `null`,
//! logs one error when it starts failing and one line when it recovers, and never takes the
//! rest of the reading down ([`FamilyStatus`]).

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use crate::snapshot::Snapshot;

pub mod fs;
pub mod ifaddrs;
#[cfg(target_os = "linux")]
pub mod linux;
#[cfg(target_os = "macos")]
pub mod macos;

/// One look at the host.
#[derive(Debug, Clone)]
pub struct Reading {
    /// Monotonic time of the reading, for rates.
    pub at: Instant,
    /// Wall-clock time of the reading, for `collected_at` and uptime.
    pub wall: SystemTime,
    /// Everything but CPU percent and throughput, which need a previous reading.
    pub snapshot: Snapshot,
    /// Aggregate CPU times since boot, in clock ticks (Linux).
    pub cpu_times: Option<CpuTimes>,
    /// Each CPU's times since boot, in clock ticks (Linux).
    pub per_cpu_times: Vec<(u32, CpuTimes)>,
    /// CPU percent measured by the platform itself, where there are no CPU times (macOS).
    pub cpu_percent: Option<f64>,
    /// Boot time, Unix seconds.
    pub boot_time: Option<u64>,
}

/// CPU times from the aggregate `cpu` line of `/proc/stat` (clock ticks).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTimes {
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
    pub fn seconds(&self, hz: f64) -> crate::snapshot::CpuSeconds {
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
    pub fn percent_since(&self, earlier: &CpuTimes) -> f64 {
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

/// What went wrong in one collector.
#[derive(Debug)]
pub enum CollectError {
    /// A file could not be read.
    Io { path: PathBuf, source: std::io::Error },
    /// A file was read but does not have the expected format.
    Parse { path: PathBuf, msg: String },
    /// Anything else (a failed system call, an unsupported platform feature).
    Other(String),
}

impl fmt::Display for CollectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CollectError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            CollectError::Parse { path, msg } => write!(f, "{}: {msg}", path.display()),
            CollectError::Other(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for CollectError {}

impl CollectError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        CollectError::Io { path: path.to_path_buf(), source }
    }
    pub fn parse(path: &Path, msg: impl Into<String>) -> Self {
        CollectError::Parse { path: path.to_path_buf(), msg: msg.into() }
    }
}

/// The health of one metric family across readings: logs when it starts failing (or fails
/// differently) and when it recovers, never once per reading.
#[derive(Debug)]
pub struct FamilyStatus {
    name: &'static str,
    failing: Option<String>,
}

impl FamilyStatus {
    pub fn new(name: &'static str) -> Self {
        FamilyStatus { name, failing: None }
    }

    /// The family's name, e.g. `memory`.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The current error, if the last reading of this family failed.
    pub fn error(&self) -> Option<&str> {
        self.failing.as_deref()
    }

    /// Keeps the value of a successful reading; logs and drops a failed one.
    pub fn record<T>(&mut self, result: Result<T, CollectError>) -> Option<T> {
        match result {
            Ok(value) => {
                if let Some(previous) = self.failing.take() {
                    tracing::info!(collector = self.name, was = %previous, "collector recovered");
                }
                Some(value)
            }
            Err(err) => {
                let msg = err.to_string();
                if self.failing.as_deref() != Some(msg.as_str()) {
                    tracing::error!(
                        collector = self.name,
                        error = %msg,
                        "collector failed; its fields are null until it recovers"
                    );
                    self.failing = Some(msg);
                }
                None
            }
        }
    }
}

/// Makes per-device cumulative counters monotonic across wraps and resets, as psutil's
/// `wrap_numbers`: when a counter goes down, the value it had is added to an offset that is
/// kept for that device and field. 32-bit kernels (armv7 Raspberry Pi OS) wrap their
/// `unsigned long` counters at 4 GiB; without this the totals would jump back to zero.
#[derive(Debug, Default)]
pub struct NoWrap<const N: usize> {
    devices: HashMap<Box<str>, Counters<N>>,
    generation: u64,
}

#[derive(Debug)]
struct Counters<const N: usize> {
    last: [u64; N],
    offset: [u64; N],
    seen: u64,
}

impl<const N: usize> NoWrap<N> {
    /// Starts a new reading; devices not seen by the next [`NoWrap::finish`] are forgotten.
    pub fn begin(&mut self) {
        self.generation += 1;
    }

    /// Returns `raw` with the device's accumulated offsets added.
    pub fn adjust(&mut self, device: &str, raw: [u64; N]) -> [u64; N] {
        let generation = self.generation;
        let entry = match self.devices.get_mut(device) {
            Some(entry) => entry,
            None => {
                self.devices.entry(device.into()).or_insert(Counters { last: raw, offset: [0; N], seen: generation })
            }
        };
        let mut out = [0; N];
        for i in 0..N {
            if raw[i] < entry.last[i] {
                entry.offset[i] = entry.offset[i].wrapping_add(entry.last[i]);
            }
            entry.last[i] = raw[i];
            out[i] = raw[i].wrapping_add(entry.offset[i]);
        }
        entry.seen = generation;
        out
    }

    /// Forgets devices that were not part of this reading.
    pub fn finish(&mut self) {
        let generation = self.generation;
        self.devices.retain(|_, c| c.seen == generation);
    }
}

/// The platform's collector.
pub trait Collect: Send {
    /// Looks at the host once. Never fails as a whole: failed families are `null`.
    fn read(&mut self) -> Reading;

    /// The status of each metric family after the last reading.
    fn families(&self) -> Vec<(&'static str, Option<String>)>;
}

/// Where the kernel's trees are (Linux; ignored elsewhere).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roots {
    pub procfs: PathBuf,
    pub sysfs: PathBuf,
}

impl Default for Roots {
    fn default() -> Self {
        Roots { procfs: "/proc".into(), sysfs: "/sys".into() }
    }
}

/// The collector for this platform.
#[cfg(target_os = "linux")]
pub fn platform(roots: Roots, disk_path: &Path) -> Box<dyn Collect> {
    Box::new(linux::LinuxCollector::new(roots, disk_path))
}

/// The collector for this platform (there is no procfs on macOS: `roots` are ignored).
#[cfg(target_os = "macos")]
pub fn platform(_roots: Roots, disk_path: &Path) -> Box<dyn Collect> {
    Box::new(macos::MacCollector::new(disk_path))
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

    #[test]
    fn nowrap_keeps_totals_monotonic() {
        let mut w = NoWrap::<2>::default();
        w.begin();
        assert_eq!(w.adjust("sda", [10, 4_294_967_000]), [10, 4_294_967_000]);
        w.finish();
        w.begin();
        // the second counter wrapped at 2^32 (armv7)
        assert_eq!(w.adjust("sda", [12, 100]), [12, 4_294_967_100]);
        w.finish();
        w.begin();
        assert_eq!(w.adjust("sda", [13, 200]), [13, 4_294_967_200]);
        w.finish();
        // a device that disappears is forgotten, and starts afresh when it comes back
        w.begin();
        w.finish();
        w.begin();
        assert_eq!(w.adjust("sda", [1, 1]), [1, 1]);
    }

    #[test]
    fn family_status_remembers_the_error_until_recovery() {
        let mut s = FamilyStatus::new("memory");
        assert_eq!(s.record::<u8>(Err(CollectError::Other("boom".into()))), None);
        assert_eq!(s.error(), Some("boom"));
        assert_eq!(s.record(Ok(3u8)), Some(3));
        assert_eq!(s.error(), None);
    }
}
