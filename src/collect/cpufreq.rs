//! `cpufreq`: the mean current, minimum and maximum CPU frequency (`cpu.frequency_mhz`,
//! `min_frequency_mhz`, `max_frequency_mhz`); for `/metrics`, node_exporter's per-CPU
//! `node_cpu_scaling_frequency{,_min,_max}_hertz` and `node_cpu_frequency{,_min,_max}_hertz`.
//!
//! Linux: the cpufreq policies under `devices/system/cpu/cpufreq` (or per CPU on older
//! kernels), each standing for the CPUs of its `affected_cpus`; without cpufreq (most virtual
//! machines) the mean `cpu MHz` of `/proc/cpuinfo`, min and max unknown, and no series.
//! macOS: `sysinfo`.

// The Linux parsers compile everywhere so that their tests run everywhere; macOS calls none.
#![cfg_attr(not(target_os = "linux"), allow(dead_code))]

#[cfg(target_os = "linux")]
use super::shared::files::{self, Files};
use super::{CollectError, Collector, Entry, Reading, Setup};
#[cfg(target_os = "linux")]
use crate::metrics::{self, Kind};
#[cfg(target_os = "linux")]
use std::path::PathBuf;

pub(crate) const ENTRY: Entry = Entry {
    name: "cpufreq",
    about: "current, min and max CPU frequency (cpufreq policies, else /proc/cpuinfo)",
    reads: &[],
    series: None,
    start: |setup| Some(Box::new(CpuFreq::new(setup))),
};

/// Samples the `/proc/cpuinfo` MHz is kept before it is read again. It is the costliest file
/// of a sample, and without cpufreq (virtual machines) it shows the host's nominal clock.
#[cfg(target_os = "linux")]
const CPUINFO_REFRESH: u64 = 10;

/// One cpufreq policy: its files and last readings (kHz).
#[cfg(target_os = "linux")]
struct Policy {
    cur: PathBuf,
    /// `cpuinfo_cur_freq`, when it could be read at start (it is root's only).
    hardware_path: Option<PathBuf>,
    min: PathBuf,
    max: PathBuf,
    /// `None` before the first read, `Some(None)` for an offline CPU.
    last: Option<Option<(u64, u64, u64)>>,
    /// Times read: the limits (min, max) are read again every [`LIMITS_EVERY`] reads.
    reads: u64,
    /// The CPUs it governs (`affected_cpus`), shared with each sample's series.
    cpus: Cpus,
    /// The hardware's range (`cpuinfo_min_freq`, `cpuinfo_max_freq`, kHz), read at start.
    hardware: (Option<u64>, Option<u64>),
    /// The hardware's current frequency (`cpuinfo_cur_freq`, root only), last read.
    hardware_cur: Option<u64>,
}

/// The scaling limits change when a user or a thermal daemon sets them, rarely: read again
/// every this many reads of the current frequency.
#[cfg(target_os = "linux")]
const LIMITS_EVERY: u64 = 10;

#[cfg(target_os = "linux")]
pub(crate) struct CpuFreq {
    /// cpufreq policies, in CPU order; empty without cpufreq.
    policies: Vec<Policy>,
    rotation: super::shared::rotation::Rotation,
    cpuinfo: PathBuf,
    files: Files,
    samples: u64,
    /// The mean `cpu MHz` of /proc/cpuinfo and the sample it was read at (no cpufreq).
    cpuinfo_mhz: Option<(Option<f64>, u64)>,
}

#[cfg(target_os = "linux")]
impl CpuFreq {
    fn new(setup: &Setup) -> CpuFreq {
        let cpu_dir = setup.sysfs.join("devices/system/cpu");
        let mut files = Files::default();
        let mut policies: Vec<(PathBuf, Vec<u32>)> = files::numbered(&cpu_dir.join("cpufreq"), "policy")
            .into_iter()
            .map(|(n, d)| {
                let cpus = files
                    .read_once_opt(&d.join("affected_cpus"))
                    .map(|t| t.split_ascii_whitespace().filter_map(|c| c.parse().ok()).collect())
                    .unwrap_or_else(|| vec![n]);
                (d, cpus)
            })
            .collect();
        if policies.is_empty() {
            policies = files::numbered(&cpu_dir, "cpu")
                .into_iter()
                .map(|(n, d)| (d.join("cpufreq"), vec![n]))
                .filter(|(d, _)| d.is_dir())
                .collect();
        }
        let policies = policies
            .into_iter()
            .map(|(d, cpus)| Policy {
                cur: d.join("scaling_cur_freq"),
                hardware_path: Some(d.join("cpuinfo_cur_freq")).filter(|p| files.read_u64(p).is_ok()),
                min: d.join("scaling_min_freq"),
                max: d.join("scaling_max_freq"),
                last: None,
                reads: 0,
                hardware: (
                    files.read_u64(&d.join("cpuinfo_min_freq")).ok(),
                    files.read_u64(&d.join("cpuinfo_max_freq")).ok(),
                ),
                hardware_cur: None,
                cpus: cpus.into(),
            })
            .collect();
        CpuFreq {
            policies,
            rotation: Default::default(),
            cpuinfo: setup.procfs.join("cpuinfo"),
            // sysfs attributes, and /proc/cpuinfo (1.5 MiB for 1024 CPUs) when there is no cpufreq
            files,
            samples: 0,
            cpuinfo_mhz: None,
        }
    }

    /// Mean current, min and max frequency (MHz).
    fn read(&mut self) -> Result<Frequency, CollectError> {
        self.samples += 1;
        if self.policies.is_empty() {
            if let Some((mhz, at)) = self.cpuinfo_mhz
                && self.samples.saturating_sub(at) < CPUINFO_REFRESH
            {
                return Ok(Frequency { current: mhz, min: None, max: None });
            }
            let path = &self.cpuinfo;
            let info = super::cpu::parse_cpuinfo(self.files.read(path)?);
            let mhz = (!info.mhz.is_empty())
                .then(|| crate::snapshot::round1(info.mhz.iter().sum::<f64>() / info.mhz.len() as f64));
            self.cpuinfo_mhz = Some((mhz, self.samples));
            return Ok(Frequency { current: mhz, min: None, max: None });
        }
        // more policies than the budget: read in turn (see Rotation)
        let window = self.rotation.window(self.policies.len());
        let several = self.policies.len() > 1;
        for (i, p) in self.policies.iter_mut().enumerate() {
            if p.last.is_some() && !window.contains(i) {
                continue;
            }
            p.hardware_cur = p.hardware_path.as_ref().and_then(|path| self.files.read_u64(path).ok());
            let now = self.files.read_u64(&p.cur).or_else(|e| p.hardware_cur.ok_or(e));
            let limits = match p.last {
                Some(Some((_, min, max))) if p.reads % LIMITS_EVERY != 0 => Some((min, max)),
                _ => None,
            };
            p.reads += 1;
            p.last = match now {
                Ok(khz) => {
                    let (min, max) = match limits {
                        Some(known) => known,
                        None => (self.files.read_u64(&p.min)?, self.files.read_u64(&p.max)?),
                    };
                    Some(Some((khz, min, max)))
                }
                // an offline CPU keeps its policy directory but reports nothing
                Err(_) if several => Some(None),
                Err(e) => return Err(e),
            };
        }
        let online = self.policies.iter().filter_map(|p| p.last.flatten());
        let (mut cur, mut min, mut max) = (vec![], vec![], vec![]);
        for (c, lo, hi) in online {
            cur.push(c);
            min.push(lo);
            max.push(hi);
        }
        if cur.is_empty() {
            return Err(CollectError::Missing("no cpufreq policy reports a current frequency".into()));
        }
        Ok(Frequency { current: mean_mhz(&cur), min: mean_mhz(&min), max: mean_mhz(&max) })
    }
}

#[cfg(target_os = "macos")]
pub(crate) struct CpuFreq {
    system: Result<sysinfo::System, String>,
}

#[cfg(target_os = "macos")]
impl CpuFreq {
    fn new(_: &Setup) -> CpuFreq {
        CpuFreq { system: sysinfo::System::new().map_err(|e| e.to_string()) }
    }

    fn read(&mut self) -> Result<Frequency, CollectError> {
        let sys = self.system.as_mut().map_err(|e| CollectError::Missing(format!("sysinfo: {e}")))?;
        sys.refresh_cpu_frequency();
        let mhz: Vec<u64> = sys.cpus().iter().map(|c| c.frequency()).filter(|&f| f > 0).collect();
        let current = (!mhz.is_empty()).then(|| mhz.iter().sum::<u64>() as f64 / mhz.len() as f64);
        Ok(Frequency { current, min: None, max: None })
    }
}

/// Frequencies in MHz.
struct Frequency {
    current: Option<f64>,
    min: Option<f64>,
    max: Option<f64>,
}

impl Collector for CpuFreq {
    fn collect(&mut self, r: &mut Reading) -> Result<(), CollectError> {
        let f = self.read()?;
        let c = &mut r.snapshot.cpu;
        c.frequency_mhz = f.current;
        c.min_frequency_mhz = f.min;
        c.max_frequency_mhz = f.max;
        #[cfg(target_os = "linux")]
        r.export(PerCpu(
            self.policies
                .iter()
                .filter_map(|p| {
                    let (cur, min, max) = p.last.flatten()?;
                    Some((
                        p.cpus.clone(),
                        [Some(cur), Some(min), Some(max), p.hardware_cur, p.hardware.0, p.hardware.1],
                    ))
                })
                .collect(),
        ));
        Ok(())
    }
}

/// Each policy's CPUs and frequencies (kHz): scaling current, min, max; hardware current,
/// min, max.
#[cfg(target_os = "linux")]
#[derive(Debug)]
struct PerCpu(Vec<(Cpus, [Option<u64>; 6])>);

/// The CPUs of a policy.
#[cfg(target_os = "linux")]
type Cpus = std::sync::Arc<[u32]>;

#[cfg(target_os = "linux")]
impl metrics::Export for PerCpu {
    fn families(&self, out: &mut Vec<metrics::Family>) {
        let names = [
            ("node_cpu_scaling_frequency_hertz", "Current scaled CPU thread frequency in hertz."),
            ("node_cpu_scaling_frequency_min_hertz", "Minimum scaled CPU thread frequency in hertz."),
            ("node_cpu_scaling_frequency_max_hertz", "Maximum scaled CPU thread frequency in hertz."),
            ("node_cpu_frequency_hertz", "Current cpu thread frequency in hertz."),
            ("node_cpu_frequency_min_hertz", "Minimum cpu thread frequency in hertz."),
            ("node_cpu_frequency_max_hertz", "Maximum cpu thread frequency in hertz."),
        ];
        for (i, (name, help)) in names.into_iter().enumerate() {
            let mut f = metrics::Family::new(name, Kind::Gauge, help);
            for (cpus, khz) in &self.0 {
                if let Some(v) = khz[i] {
                    for cpu in cpus.iter() {
                        f.push(vec![metrics::label("cpu", cpu)], v as f64 * 1000.0);
                    }
                }
            }
            out.push(f);
        }
    }
}

/// Mean of kHz readings, in MHz rounded to one decimal.
pub(crate) fn mean_mhz(khz: &[u64]) -> Option<f64> {
    if khz.is_empty() {
        return None;
    }
    let sum: u64 = khz.iter().sum();
    Some(crate::snapshot::round1(sum as f64 / khz.len() as f64 / 1000.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_frequency() {
        assert_eq!(mean_mhz(&[600_000, 1_500_000]), Some(1050.0));
        assert_eq!(mean_mhz(&[]), None);
    }
}
