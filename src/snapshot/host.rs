//! The host's own figures: CPU, load, memory, swap, uptime, its system, OS updates,
//! sensors, the Raspberry Pi's firmware flags.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::*;

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

/// Pending updates of the OS's packages, checked in the background.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OsUpdate {
    /// Whether any update is pending; `null` until the first check ends, or when no package
    /// manager is known.
    pub available: Option<bool>,
    /// Packages that would be upgraded. Left out (never `null`) until the first check ends,
    /// as the Python service does: where present it is a number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = u64)]
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

impl<'de> Deserialize<'de> for FieldMap {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = serde_json::Map::deserialize(d)?;
        Ok(FieldMap(map.into_iter().filter_map(|(k, v)| Some((k.into(), v.as_u64()?))).collect()))
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
