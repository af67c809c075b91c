//! The `/system` contract: the JSON document existing dashboards and monitoring servers read.
//!
//! Every key of the Python original is here with the same name and JSON type. A value that
//! cannot be known is `None` (JSON `null`) with its key still present, so a failing collector
//! never changes the shape of the document. New keys may be added; none may be removed or
//! renamed. Byte counts are integers, percents are floats rounded to one decimal, times are
//! RFC 3339 strings.

use serde::Serialize;

/// One immutable sample of the host, as served by `GET /system`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Snapshot {
    /// When the sample was taken (UTC, microseconds), e.g. `2025-09-23T16:18:12.743209+00:00`.
    pub collected_at: String,
    pub cpu: Cpu,
    pub memory: Memory,
    pub swap: Swap,
    pub disk: Disk,
    pub disk_io: DiskIo,
    pub network: Network,
    pub throughput: Throughput,
    pub uptime: Uptime,
    pub system: System,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Cpu {
    /// Busy share of all CPUs over the last sampling interval, 0.0–100.0.
    pub percent: Option<f64>,
    pub logical_cores: Option<u32>,
    pub physical_cores: Option<u32>,
    /// Mean current frequency over all CPUs, MHz.
    pub frequency_mhz: Option<f64>,
    pub min_frequency_mhz: Option<f64>,
    pub max_frequency_mhz: Option<f64>,
    /// CPU model, e.g. `AMD EPYC` or `ARM Cortex-A72`.
    pub processor: Option<String>,
}

/// Virtual memory with psutil's Linux definitions (bytes).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Memory {
    pub total: Option<u64>,
    pub available: Option<u64>,
    pub percent: Option<f64>,
    pub used: Option<u64>,
    pub free: Option<u64>,
    pub active: Option<u64>,
    pub inactive: Option<u64>,
    pub buffers: Option<u64>,
    pub cached: Option<u64>,
    pub shared: Option<u64>,
    pub slab: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Swap {
    pub total: Option<u64>,
    pub used: Option<u64>,
    pub free: Option<u64>,
    pub percent: Option<f64>,
    /// Bytes swapped in since boot.
    pub sin: Option<u64>,
    /// Bytes swapped out since boot.
    pub sout: Option<u64>,
}

/// Usage of the filesystem holding `SYSTEM_STATS_DISK_PATH`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Disk {
    pub total: Option<u64>,
    pub used: Option<u64>,
    pub free: Option<u64>,
    pub percent: Option<f64>,
    pub mount: Option<String>,
}

/// Cumulative block I/O since boot, summed over whole disks (times in milliseconds).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DiskIo {
    pub read_count: Option<u64>,
    pub write_count: Option<u64>,
    pub read_bytes: Option<u64>,
    pub write_bytes: Option<u64>,
    pub read_time: Option<u64>,
    pub write_time: Option<u64>,
    pub read_merged_count: Option<u64>,
    pub write_merged_count: Option<u64>,
    pub busy_time: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Network {
    pub io_counters: NetIoCounters,
    /// The default route's interface, else the first up non-loopback one with IPv4; `null`
    /// when there is none.
    pub primary_interface: Option<Interface>,
}

/// Cumulative traffic since boot, summed over all interfaces (loopback included, as psutil).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NetIoCounters {
    pub bytes_sent: Option<u64>,
    pub bytes_recv: Option<u64>,
    pub packets_sent: Option<u64>,
    pub packets_recv: Option<u64>,
    pub errin: Option<u64>,
    pub errout: Option<u64>,
    pub dropin: Option<u64>,
    pub dropout: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Interface {
    pub name: String,
    pub ipv4: Option<String>,
    pub netmask: Option<String>,
    pub broadcast: Option<String>,
    /// Link speed; `null` when the kernel reports none (Wi-Fi, virtual links, link down).
    pub speed_mbps: Option<u64>,
    pub mtu: Option<u32>,
    /// `full`, `half` or `unknown`.
    pub duplex: String,
}

/// Rates over the last sampling interval, computed by the sampler.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Throughput {
    pub disk_read_bytes_per_sec: Option<f64>,
    pub disk_write_bytes_per_sec: Option<f64>,
    /// MiB per second.
    pub disk_read_mb_per_sec: Option<f64>,
    /// MiB per second.
    pub disk_write_mb_per_sec: Option<f64>,
    pub net_recv_bytes_per_sec: Option<f64>,
    pub net_sent_bytes_per_sec: Option<f64>,
    /// The interval the rates were computed over, seconds.
    pub interval_seconds: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Uptime {
    pub seconds: Option<u64>,
    /// Boot time with the local UTC offset, e.g. `2025-09-20T08:12:01+02:00`.
    pub boot_time: Option<String>,
    /// e.g. `2d 3h 5m`; zero parts left out, `0m` when under a minute.
    pub human: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct System {
    pub hostname: Option<String>,
    /// `Linux` or `Darwin`.
    pub os: Option<String>,
    pub os_release: Option<String>,
    pub os_version: Option<String>,
    pub architecture: Option<String>,
    /// Python's `platform.platform()` shape, e.g. `Linux-6.1.0-arm64-aarch64-with-glibc2.36`.
    pub platform: Option<String>,
    /// Device-tree model (Raspberry Pi), DMI product name (x86), `hw.model` (macOS).
    pub model: Option<String>,
}

/// Rounds to one decimal, the precision of every percent in the contract.
pub fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Rounds to two decimals (MiB/s rates).
pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// `part / whole × 100`, rounded to one decimal; 0.0 when `whole` is 0 (psutil's
/// `usage_percent`).
pub fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { round1(part as f64 / whole as f64 * 100.0) }
}

/// `2d 3h 5m`: days, hours and minutes, zero parts left out, `0m` when nothing else is shown.
pub fn human_duration(seconds: u64) -> String {
    let days = seconds / 86_400;
    let hours = seconds % 86_400 / 3_600;
    let minutes = seconds % 3_600 / 60;
    let mut parts = Vec::with_capacity(3);
    if days > 0 {
        parts.push(format!("{days}d"));
    }
    if hours > 0 {
        parts.push(format!("{hours}h"));
    }
    if minutes > 0 || parts.is_empty() {
        parts.push(format!("{minutes}m"));
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_duration_leaves_out_zero_parts() {
        assert_eq!(human_duration(0), "0m");
        assert_eq!(human_duration(59), "0m");
        assert_eq!(human_duration(60), "1m");
        assert_eq!(human_duration(3_600), "1h");
        assert_eq!(human_duration(86_400), "1d");
        assert_eq!(human_duration(86_400 + 300), "1d 5m");
        assert_eq!(human_duration(2 * 86_400 + 3 * 3_600 + 5 * 60 + 59), "2d 3h 5m");
    }

    #[test]
    fn percent_is_rounded_and_safe_on_zero() {
        assert_eq!(percent(1, 3), 33.3);
        assert_eq!(percent(2, 3), 66.7);
        assert_eq!(percent(5, 0), 0.0);
        assert_eq!(percent(10, 10), 100.0);
    }

    #[test]
    fn every_key_is_present_when_nothing_is_known() {
        let json = serde_json::to_value(Snapshot::default()).unwrap();
        assert!(json["memory"]["total"].is_null());
        assert!(json["memory"].as_object().unwrap().contains_key("slab"));
        assert!(json["network"]["primary_interface"].is_null());
        assert_eq!(json["disk_io"].as_object().unwrap().len(), 9);
        assert_eq!(json["network"]["io_counters"].as_object().unwrap().len(), 8);
    }
}
