//! The `/system` contract: the JSON document existing dashboards and monitoring servers read.
//!
//! Every key of the Python original is here with the same name and JSON type. A value that
//! cannot be known is `None` (JSON `null`) with its key still present, so a failing collector
//! never changes the shape of the document. New keys may be added; none may be removed or
//! renamed. Byte counts are integers, percents are floats rounded to one decimal, times are
//! RFC 3339 strings.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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
    #[serde(default, serialize_with = "crate::json::filesystems")]
    pub filesystems: Option<Vec<Filesystem>>,
    /// Per-device I/O (node_exporter's device set: partitions of sd/vd/hd/xvd/nvme, loop, ram
    /// and fd devices left out); `null` when `/proc/diskstats` cannot be read.
    #[serde(default, serialize_with = "crate::json::disks")]
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
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
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
    /// The CPU's temperature, °C (one decimal): the first of the `cpu_thermal`,
    /// `cpu-thermal`, `coretemp`, `k10temp` sensors, else the first whose name says CPU, core,
    /// temperature or thermal.
    #[serde(default)]
    pub temperature_c: Option<f64>,
    /// Time spent in each mode since boot, all CPUs together, seconds.
    #[serde(default)]
    pub times: Option<CpuSeconds>,
    /// Each online CPU: its busy percent over the last interval and its mode times.
    #[serde(default)]
    pub per_cpu: Vec<PerCpu>,
}

/// CPU time per mode since boot, seconds (`/proc/stat` ticks ÷ USER_HZ). `user` and `nice`
/// include `guest` and `guest_nice`, as in the kernel's accounting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CpuSeconds {
    pub user: f64,
    pub nice: f64,
    pub system: f64,
    pub idle: f64,
    pub iowait: f64,
    pub irq: f64,
    pub softirq: f64,
    pub steal: f64,
    pub guest: f64,
    pub guest_nice: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PerCpu {
    /// The CPU number (`cpuN`).
    pub cpu: u32,
    pub percent: Option<f64>,
    pub times: CpuSeconds,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LoadAverage {
    pub load1: Option<f64>,
    pub load5: Option<f64>,
    pub load15: Option<f64>,
}

/// Virtual memory with psutil's Linux definitions (bytes).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
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
    /// Every line of `/proc/meminfo`, in the kernel's order: bytes for lines in kB, plain
    /// counts for the unitless `HugePages_*` lines.
    #[serde(default)]
    pub meminfo: Option<FieldMap>,
}

/// An ordered string → integer map (serialised as a JSON object, keys in their original order).
/// Its keys are shared (a sample reuses the last one's: no allocation for 50 meminfo keys).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldMap(pub Vec<(Text, u64)>);

impl Serialize for FieldMap {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(&**k, v)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for FieldMap {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = serde_json::Map::deserialize(d)?;
        Ok(FieldMap(map.into_iter().filter_map(|(k, v)| Some((k.into(), v.as_u64()?))).collect()))
    }
}

impl utoipa::PartialSchema for FieldMap {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Type};
        ObjectBuilder::new()
            .description(Some("Field name → integer value, in the kernel's order."))
            .additional_properties(Some(AdditionalProperties::RefOr(
                ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0)).into(),
            )))
            .into()
    }
}

impl ToSchema for FieldMap {}

impl FieldMap {
    pub fn get(&self, key: &str) -> Option<u64> {
        self.0.iter().find(|(k, _)| **k == *key).map(|(_, v)| *v)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Disk {
    pub total: Option<u64>,
    pub used: Option<u64>,
    pub free: Option<u64>,
    pub percent: Option<f64>,
    pub mount: Option<String>,
}

/// Cumulative block I/O since boot, summed over whole disks (times in milliseconds).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
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

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Network {
    pub io_counters: NetIoCounters,
    /// The default route's interface, else the first up non-loopback one with IPv4; `null`
    /// when there is none.
    pub primary_interface: Option<Interface>,
    /// The interfaces a dashboard shows: up, not loopback, with an IPv4 address.
    #[serde(default, serialize_with = "crate::json::interfaces")]
    pub interfaces: Option<Vec<UpInterface>>,
    /// Every interface of `/proc/net/dev`, loopback and down ones included, with its counters.
    #[serde(default, serialize_with = "crate::json::all_interfaces")]
    pub all_interfaces: Option<Vec<NetInterface>>,
}

/// An interface that is up, not loopback and has an IPv4 address: the dashboard's fields,
/// flat, and ours.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UpInterface {
    #[schema(value_type = String)]
    pub name: Text,
    /// Its primary IPv4 address, e.g. `192.168.1.20`.
    pub ipv4: String,
    pub netmask: Option<String>,
    pub broadcast: Option<String>,
    pub speed_mbps: Option<u64>,
    pub mtu: Option<u32>,
    /// `full`, `half` or `unknown`.
    #[schema(value_type = String)]
    pub duplex: Text,
    #[schema(value_type = Option<String>)]
    pub mac: Option<Text>,
    #[schema(value_type = Vec<Ipv6Info>)]
    pub ipv6: Addresses6,
    pub counters: NetIoCounters,
    pub recv_bytes_per_sec: Option<f64>,
    pub sent_bytes_per_sec: Option<f64>,
}

/// An interface's IPv6 addresses, shared between samples (a host with 200 links would
/// otherwise copy 200 lists a sample).
pub type Addresses6 = std::sync::Arc<[Ipv6Info]>;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NetInterface {
    #[schema(value_type = String)]
    pub name: Text,
    /// Administratively up and with a carrier (psutil's `isup`); `null` when the
    /// `interfaces` collector does not run.
    pub up: Option<bool>,
    #[schema(value_type = Option<String>)]
    pub mac: Option<Text>,
    pub mtu: Option<u32>,
    pub speed_mbps: Option<u64>,
    #[schema(value_type = String)]
    pub duplex: Text,
    /// The primary IPv4 address (`SIOCGIFADDR`), if any.
    pub ipv4: Option<Ipv4Info>,
    /// Every IPv6 address (`/proc/net/if_inet6`).
    #[serde(default)]
    #[schema(value_type = Vec<Ipv6Info>)]
    pub ipv6: Addresses6,
    pub counters: NetIoCounters,
    pub recv_bytes_per_sec: Option<f64>,
    pub sent_bytes_per_sec: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Ipv4Info {
    pub address: String,
    pub netmask: Option<String>,
    pub broadcast: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Ipv6Info {
    #[schema(value_type = String)]
    pub address: Text,
    pub prefix_len: u8,
    /// `global`, `link`, `host` (loopback) or `site`.
    #[schema(value_type = String)]
    pub scope: Text,
}

/// One mounted filesystem, psutil's `disk_usage` numbers plus what Prometheus calls free
/// (blocks free to root).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Filesystem {
    #[schema(value_type = String)]
    pub device: Text,
    #[schema(value_type = String)]
    pub mountpoint: Text,
    #[schema(value_type = String)]
    pub fstype: Text,
    pub readonly: bool,
    pub total: Option<u64>,
    pub used: Option<u64>,
    /// Free to unprivileged users (psutil's `free`, node_exporter's `avail`).
    pub free: Option<u64>,
    /// Free including the blocks reserved for root (node_exporter's `free`).
    pub free_root: Option<u64>,
    pub percent: Option<f64>,
    /// File nodes (inodes) in all, and free: a filesystem can be full of small files with
    /// space left.
    #[serde(default)]
    pub files: Option<u64>,
    #[serde(default)]
    pub files_free: Option<u64>,
    /// Why the numbers are `null` (the filesystem could not be stat'ed).
    pub error: Option<String>,
}

/// One block device's I/O since boot, and its rates over the last interval.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DiskDevice {
    #[schema(value_type = String)]
    pub name: Text,
    pub read_count: u64,
    pub write_count: u64,
    pub read_bytes: u64,
    pub write_bytes: u64,
    pub read_time: u64,
    pub write_time: u64,
    pub read_merged_count: u64,
    pub write_merged_count: u64,
    pub busy_time: u64,
    pub read_bytes_per_sec: Option<f64>,
    pub write_bytes_per_sec: Option<f64>,
}

/// Temperature sensors by chip, in the order found: psutil's `sensors_temperatures()`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sensors(pub Vec<(Text, Vec<Sensor>)>);

impl Serialize for Sensors {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(&**k, v)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Sensors {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = serde_json::Map::deserialize(d)?;
        let mut out = Vec::with_capacity(map.len());
        for (k, v) in map {
            out.push((k.into(), serde_json::from_value(v).map_err(serde::de::Error::custom)?));
        }
        Ok(Sensors(out))
    }
}

impl utoipa::PartialSchema for Sensors {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, ArrayBuilder, ObjectBuilder};
        ObjectBuilder::new()
            .description(Some("Chip name (hwmon `name`, or thermal zone type) → its temperature sensors."))
            .additional_properties(Some(AdditionalProperties::RefOr(
                ArrayBuilder::new().items(utoipa::openapi::Ref::from_schema_name("Sensor")).into(),
            )))
            .into()
    }
}

impl ToSchema for Sensors {
    fn schemas(schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
        schemas.push(("Sensor".into(), <Sensor as utoipa::PartialSchema>::schema()));
    }
}

impl Sensors {
    pub fn get(&self, chip: &str) -> Option<&[Sensor]> {
        self.0.iter().find(|(k, _)| **k == *chip).map(|(_, v)| v.as_slice())
    }
}

/// One temperature sensor, °C.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Sensor {
    /// e.g. `Package id 0`, `Composite`; empty when the sensor has none.
    #[schema(value_type = String)]
    pub label: Text,
    pub current_c: f64,
    /// The high threshold (`temp*_max`, a `high` trip point), if any.
    pub high_c: Option<f64>,
    /// The critical threshold (`temp*_crit`, a `critical` trip point), if any.
    pub critical_c: Option<f64>,
    /// node_exporter's chip of a hwmon sensor, e.g. `platform_coretemp_0`; `null` for a
    /// thermal zone.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub hwmon_chip: Option<Text>,
    /// The hwmon sensor, e.g. `temp1`; `null` for a thermal zone.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub hwmon_sensor: Option<Text>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ThermalZone {
    pub zone: u32,
    /// e.g. `cpu-thermal`, `x86_pkg_temp`.
    #[serde(rename = "type")]
    pub kind: String,
    pub celsius: f64,
}

/// How the forwarder is doing, per destination.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ForwarderState {
    /// Where its metrics were read (`SYSTEM_STATS_FORWARDER_URL`).
    pub url: String,
    /// Its destinations; `null` when it did not answer.
    pub destinations: Option<Vec<ForwarderDestination>>,
    /// When it was last asked (UTC).
    pub checked_at: Option<String>,
    /// Why it did not answer, if it did not.
    pub error: Option<String>,
}

/// One destination of the forwarder.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ForwarderDestination {
    /// Its URL, password redacted.
    pub destination: String,
    /// Takes samples now.
    pub up: Option<bool>,
    /// Samples waiting in its spool.
    pub spooled: Option<u64>,
    /// Age of the oldest of them, seconds (0 when none waits).
    pub oldest_age_seconds: Option<f64>,
    pub delivered: Option<u64>,
    /// Samples that could not be spooled (lost).
    pub not_spooled: Option<u64>,
    pub last_http_status: Option<u16>,
    /// When it last accepted a sample (UTC).
    pub last_success: Option<String>,
}

/// Every process counted by state, and the top ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Processes {
    /// Processes (not threads).
    pub total: u64,
    /// Threads, summed over every process.
    pub threads: u64,
    /// Processes by state, psutil's names: `running`, `sleeping`, `disk-sleep`, `zombie`,
    /// `stopped` (always present), `idle`, `tracing-stop`, `dead`, `parked`... when some are.
    pub states: std::collections::BTreeMap<String, u64>,
    /// The `SYSTEM_STATS_TOP_PROCESSES` using the most CPU over the last sampling interval,
    /// most first; `null` when that setting is 0.
    pub top_cpu: Option<Vec<ProcessInfo>>,
    /// The same by resident memory.
    pub top_memory: Option<Vec<ProcessInfo>>,
    /// The span the CPU percents are measured over, seconds: since the previous reading of
    /// the processes, which runs in the samples someone reads (`null` on the first).
    pub interval_seconds: Option<f64>,
}

/// One process of a top list.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProcessInfo {
    pub pid: u32,
    /// The kernel's name for it (at most 15 characters on Linux).
    pub name: String,
    /// Its arguments joined by spaces, at most 256 characters (never its environment);
    /// `null` for kernel threads and zombies.
    pub cmdline: Option<String>,
    /// Its owner's name (the uid when it has none).
    pub user: Option<String>,
    /// psutil's name of its state: `running`, `sleeping`, `disk-sleep`, `zombie`...
    pub state: String,
    /// CPU over the last sampling interval, psutil's way: 100 is one core busy, so it may
    /// exceed 100 on a machine with several; `null` on the first sample.
    pub cpu_percent: Option<f64>,
    /// Resident memory, bytes.
    pub rss: u64,
    /// `rss` of the total memory.
    pub memory_percent: Option<f64>,
    pub threads: u64,
    /// When it started (UTC).
    pub started_at: Option<String>,
}

/// What the service manager says of its units, read in the background every few seconds.
/// Where none answers (a container, a machine without systemd) every field is `null` but
/// `error`, which says why.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Services {
    /// `systemd` or `launchd`; `null` when no manager answers.
    pub source: Option<String>,
    /// The manager's version (`252.39-1~deb12u2`); `null` for launchd.
    pub version: Option<String>,
    /// The overall state, as `systemctl is-system-running` says it: `running`, `degraded`
    /// (a unit failed), `starting`, `stopping`, `maintenance`...; `null` for launchd.
    pub state: Option<String>,
    /// Units by their active state: `active`, `activating`, `deactivating`, `inactive`,
    /// `failed` (always present) and any other the manager uses (`reloading`...).
    pub units: Option<std::collections::BTreeMap<String, u64>>,
    /// The failed units, by name.
    pub failed: Option<Vec<FailedUnit>>,
    /// When the units were last read (UTC).
    pub checked_at: Option<String>,
    /// Why no manager could be asked, if none could.
    pub error: Option<String>,
}

/// A unit that failed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FailedUnit {
    /// `nginx.service`; a launchd job's label.
    pub name: String,
    pub description: Option<String>,
    /// How it failed: systemd's `Result` (`exit-code`, `signal`, `timeout`, `core-dump`,
    /// `start-limit-hit`...), launchd's `exit code 78` or `signal 9`.
    pub result: Option<String>,
    /// Since when (UTC; systemd only).
    pub since: Option<String>,
}

/// Pending updates of the OS's packages, checked in the background.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OsUpdate {
    /// Whether any update is pending; `null` until the first check ends, or when no package
    /// manager is known.
    pub available: Option<bool>,
    /// Packages that would be upgraded.
    pub count: Option<u64>,
    /// Of those, the ones from a security source (`-security` suites, dnf's security
    /// advisories); `null` where that cannot be told (macOS).
    pub security: Option<u64>,
    /// `/run/reboot-required` exists (Debian, Ubuntu, Raspberry Pi OS); `null` elsewhere.
    pub reboot_required: Option<bool>,
    /// When the last check ended (UTC); `null` before the first.
    pub checked_at: Option<String>,
    /// What the check ran: `apt-get`, `dnf`, `softwareupdate`; `null` when none is known.
    #[serde(default)]
    pub source: Option<String>,
    /// Why the last check failed, if it did (the figures are then the last good ones).
    #[serde(default)]
    pub error: Option<String>,
}

/// The Docker Engine's containers. When the engine cannot be asked, `available` is `false`
/// and `error` says why: `not_installed` (no socket), `permission_denied` (not in the
/// `docker` group), `daemon_not_running`, `timeout`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Docker {
    pub available: bool,
    pub error: Option<String>,
    /// Containers running.
    pub running: Option<u64>,
    /// Containers, in any state.
    pub total: Option<u64>,
    pub containers: Option<Vec<Container>>,
}

/// One container: the engine's view, and its resources from its cgroup.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Container {
    /// The first 12 characters of its ID, as `docker ps` shows it.
    pub id: String,
    pub name: String,
    pub image: String,
    /// `running`, `exited`, `paused`, `restarting`, `created`, `dead`.
    pub state: String,
    /// e.g. `Up 2 hours`, `Exited (0) 3 minutes ago`.
    pub status: String,
    /// Published ports, e.g. `0.0.0.0:8080->80/tcp`.
    pub ports: Vec<String>,
    /// Whether the registry has another image under the same tag; `null` when unknown (not
    /// checked yet, a local image, an unreachable registry).
    pub update_available: Option<bool>,
    /// CPU time over the sampling interval, percent of one CPU (as `docker stats`).
    pub cpu_percent: Option<f64>,
    /// CPU time since it started, seconds.
    #[serde(default)]
    pub cpu_seconds_total: Option<f64>,
    /// Memory in use, the page cache that could be dropped left out (as `docker stats`).
    pub memory_bytes: Option<u64>,
    /// Its memory limit, or the host's memory when it has none.
    pub memory_limit_bytes: Option<u64>,
    pub net_rx_bytes: Option<u64>,
    pub net_tx_bytes: Option<u64>,
    pub block_read_bytes: Option<u64>,
    pub block_write_bytes: Option<u64>,
}

/// The Raspberry Pi firmware's throttling state (`get_throttled`), now and since boot.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RaspberryPi {
    /// The raw bit field, e.g. `0x50000`.
    pub throttled_raw: String,
    pub under_voltage: bool,
    pub frequency_capped: bool,
    pub throttled: bool,
    pub soft_temperature_limit: bool,
    pub under_voltage_occurred: bool,
    pub frequency_capped_occurred: bool,
    pub throttled_occurred: bool,
    pub soft_temperature_limit_occurred: bool,
}

impl RaspberryPi {
    /// Decodes the firmware's bits (0–3 now, 16–19 since boot).
    pub fn from_bits(bits: u32) -> Self {
        let bit = |n: u32| bits & (1 << n) != 0;
        RaspberryPi {
            throttled_raw: format!("{bits:#x}"),
            under_voltage: bit(0),
            frequency_capped: bit(1),
            throttled: bit(2),
            soft_temperature_limit: bit(3),
            under_voltage_occurred: bit(16),
            frequency_capped_occurred: bit(17),
            throttled_occurred: bit(18),
            soft_temperature_limit_occurred: bit(19),
        }
    }
}

/// Cumulative traffic since boot, summed over all interfaces (loopback included, as psutil).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
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

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
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

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Uptime {
    pub seconds: Option<u64>,
    /// Boot time with the local UTC offset, e.g. `2025-09-20T08:12:01+02:00`.
    pub boot_time: Option<String>,
    /// e.g. `2d 3h 5m`; zero parts left out, `0m` when under a minute.
    pub human: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
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
    /// The NIS domain name (`(none)` when unset), as `uname -a` reports it.
    #[serde(default)]
    pub domainname: Option<String>,
    /// Pending OS updates; `null` when the check is disabled.
    #[serde(default)]
    pub os_update: Option<OsUpdate>,
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
