//! The `/system` contract: the JSON document existing dashboards and monitoring servers read.
//!
//! Every key of the Python original is here with the same name and JSON type. A value that
//! cannot be known is `None` (JSON `null`) with its key still present, so a failing collector
//! never changes the shape of the document. New keys may be added; none may be removed or
//! renamed. Byte counts are integers, percents are floats rounded to one decimal, times are
//! RFC 3339 strings.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

mod alerts;
mod host;
pub mod json;
mod network;
mod running;
mod storage;

pub use alerts::*;
pub use host::*;
pub use network::*;
pub use running::*;
pub use storage::*;

/// A string that the sampler keeps from one sample to the next (a device, mount point or
/// interface name): shared, not copied, into every snapshot. A big host has thousands of
/// them; copying each every second was a fifth of its sample's cost.
pub type Text = std::sync::Arc<str>;

/// `name`, shared with `known` (the last sample's name at the same place) when they are equal,
/// or a new `Text` when they are not: a parser that meets the same names in the same order every
/// sample allocates none of them.
pub fn reuse(known: Option<&Text>, name: &str) -> Text {
    match known {
        Some(k) if **k == *name => k.clone(),
        _ => name.into(),
    }
}

/// `unknown`, shared (a duplex nobody reported).
pub fn unknown() -> Text {
    static UNKNOWN: std::sync::LazyLock<Text> = std::sync::LazyLock::new(|| "unknown".into());
    UNKNOWN.clone()
}

/// One immutable sample of the host, as served by `GET /system`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
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
    /// Run-queue averages over 1, 5 and 15 minutes (`null` where the OS has none).
    #[serde(default)]
    pub load_avg: LoadAverage,
    /// Every real filesystem (pseudo and container-internal ones left out, as node_exporter
    /// does); `null` when the mount table cannot be read.
    #[serde(default, serialize_with = "crate::snapshot::json::filesystems")]
    pub filesystems: Option<Vec<Filesystem>>,
    /// Per-device I/O (node_exporter's device set: partitions of sd/vd/hd/xvd/nvme, loop, ram
    /// and fd devices left out); `null` when `/proc/diskstats` cannot be read.
    #[serde(default, serialize_with = "crate::snapshot::json::disks")]
    pub disks: Option<Vec<DiskDevice>>,
    /// Temperatures as psutil's `sensors_temperatures()` gives them, in the dashboard's
    /// shape: chip name → its sensors; `{}` when there are none, `null` when the `sensors`
    /// collector does not run.
    #[serde(default)]
    pub sensors: Option<Sensors>,
    /// Every thermal zone (`/sys/class/thermal`), for node_exporter's `thermal_zone` family.
    #[serde(default)]
    pub thermal_zones: Option<Vec<ThermalZone>>,
    /// Raspberry Pi firmware state; `null` on other machines.
    #[serde(default)]
    pub raspberry_pi: Option<RaspberryPi>,
    /// Containers of the Docker Engine (or Podman's compatible API); `null` when the
    /// `containers` collector does not run.
    #[serde(default)]
    pub docker: Option<Docker>,
    /// The service manager's units (systemd, launchd): counts by state and the failed ones;
    /// `null` when the `services` collector does not run.
    #[serde(default)]
    pub services: Option<Services>,
    /// What is running: processes by state and the top ones by CPU and memory; `null` when
    /// the `processes` collector does not run.
    #[serde(default)]
    pub processes: Option<Processes>,
    /// The forwarder on this host, read from its own metrics when the service is told where
    /// they are (`SYSTEM_STATS_FORWARDER_URL`); `null` otherwise.
    #[serde(default)]
    pub forwarder: Option<ForwarderState>,
    /// The alerts of the rules the service evaluates on every sample, firing, pending and
    /// recently resolved, sorted by name and labels; `[]` when none; `null` when alerting is
    /// off (`SYSTEM_STATS_ALERTS=off`).
    #[serde(default)]
    pub alerts: Option<Vec<Alert>>,
    /// Every drive smartctl can read, by its SMART data (`smart` collector, read in the
    /// background); `[]` when smartctl finds none; `null` when the collector does not run or
    /// smartctl is not there.
    #[serde(default)]
    #[schema(value_type = Option<Vec<DiskHealth>>)]
    pub disk_health: Option<std::sync::Arc<[DiskHealth]>>,
}

/// An interface's IPv6 addresses, shared between samples (a host with 200 links would
/// otherwise copy 200 lists a sample).
pub type Addresses6 = std::sync::Arc<[Ipv6Info]>;

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
    fn reuse_shares_an_equal_name_only() {
        let known: Text = "cpu0".into();
        assert!(std::sync::Arc::ptr_eq(&reuse(Some(&known), "cpu0"), &known));
        let other = reuse(Some(&known), "cpu1");
        assert_eq!(&*other, "cpu1");
        assert!(!std::sync::Arc::ptr_eq(&other, &known));
        assert_eq!(&*reuse(None, "cpu2"), "cpu2");
    }

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
    fn throttling_bits() {
        let pi = RaspberryPi::from_bits(0x50005);
        assert_eq!(pi.throttled_raw, "0x50005");
        assert!(pi.under_voltage && pi.throttled && !pi.frequency_capped && !pi.soft_temperature_limit);
        assert!(pi.under_voltage_occurred && pi.throttled_occurred && !pi.frequency_capped_occurred);
    }

    #[test]
    fn a_snapshot_reads_back_from_its_json() {
        let mut s = Snapshot::default();
        s.memory.meminfo = Some(FieldMap(vec![("MemTotal".into(), 5), ("HugePages_Total".into(), 0)]));
        s.cpu.per_cpu.push(PerCpu {
            cpu: 3,
            percent: Some(1.5),
            times: CpuSeconds { user: 2.5, ..Default::default() },
        });
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.contains(r#""meminfo":{"MemTotal":5,"HugePages_Total":0}"#), "{json}");
        assert_eq!(serde_json::from_str::<Snapshot>(&json).unwrap(), s);
        // a snapshot of an older service, without the new keys, reads too
        let old = r#"{"collected_at":"x","cpu":{},"memory":{},"swap":{},"disk":{},"disk_io":{},
            "network":{"io_counters":{}},"throughput":{},"uptime":{},"system":{}}"#;
        assert!(serde_json::from_str::<Snapshot>(old).is_ok());
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
