//! `sensors`: temperatures as psutil's `sensors_temperatures()` gives them, in the dashboard's
//! shape (`sensors`: chip name → `[{label, current_c, high_c, critical_c}]`), every thermal
//! zone (`thermal_zones`, for node_exporter's family) and the CPU's temperature
//! (`cpu.temperature_c`).
//!
//! Linux, psutil's rules: every `temp*_input` under `class/hwmon/hwmon*/` (and their
//! `device/` directory), grouped by the chip's `name`, with `temp*_label`, `temp*_max` and
//! `temp*_crit`, in the order of their paths; only when hwmon has no temperature at all, the
//! thermal zones (`type` as the chip, `high` and `critical` trip points as thresholds). What
//! sensors exist is found once at start; their values are read every sample (in turn on a
//! host with many), and one that cannot be read this time is left out of this sample.
//!
//! For `/metrics`, node_exporter's `hwmon` collector from the same reads: every attribute of
//! a chip named `<type><n>_<property>` for a type it knows (`temp`, `in`, `fan`, `curr`,
//! `power`, `energy`, `humidity`, `pwm`, `intrusion`...), as `node_hwmon_<type>_<property>_<unit>`
//! with its `chip` and `sensor` labels, plus `node_hwmon_chip_names` and
//! `node_hwmon_sensor_label`. Readings (`input`, alarms, faults) are read every sample, limits
//! (`max`, `crit`...) every [`LIMITS_EVERY`] samples.
//!
//! macOS: the SMC and IOKit sensors through `sysinfo`'s components, never a program.

// The Linux parsers compile everywhere so that their tests run everywhere; macOS calls none.
#![cfg_attr(not(target_os = "linux"), allow(dead_code))]

use std::path::{Path, PathBuf};

use super::{CollectError, Collector, Entry, Reading, Setup};
use crate::metrics;
#[cfg(target_os = "linux")]
use crate::snapshot::ThermalZone;
use crate::snapshot::{Sensor, Sensors, round1};

mod hwmon;

#[cfg_attr(not(target_os = "linux"), allow(unused_imports))]
pub(crate) use hwmon::*;

pub(crate) const ENTRY: Entry = Entry {
    name: "sensors",
    about: "temperatures (hwmon, thermal zones; SMC on macOS) and the CPU's",
    reads: &[],
    series: Some(snapshot_series),
    start: |setup| Some(Box::new(SensorsFamily::new(setup))),
};

/// The chips whose temperature is the CPU's, in order of preference.
const CPU_CHIPS: [&str; 4] = ["cpu_thermal", "cpu-thermal", "coretemp", "k10temp"];

/// The CPU's temperature: the first sensor of the first of [`CPU_CHIPS`] there is, else of
/// the first chip whose name contains `cpu`, `core`, `temp` or `thermal`.
pub(crate) fn cpu_temperature(sensors: &Sensors) -> Option<f64> {
    let first = |chip: &str| sensors.get(chip).and_then(|s| s.first()).map(|s| round1(s.current_c));
    CPU_CHIPS.iter().find_map(|c| first(c)).or_else(|| {
        sensors
            .0
            .iter()
            .find(|(name, list)| {
                let n = name.to_ascii_lowercase();
                !list.is_empty() && ["cpu", "core", "temp", "thermal"].iter().any(|w| n.contains(w))
            })
            .and_then(|(_, list)| list.first())
            .map(|s| round1(s.current_c))
    })
}

#[cfg(target_os = "linux")]
pub(crate) struct SensorsFamily {
    zones: Vec<Zone>,
    /// Cooling devices (`class/thermal/cooling_deviceN`): number, type, max state, path of
    /// the current state; and each one's current state, read every sample.
    cooling: std::sync::Arc<Vec<Cooling>>,
    cooling_states: Vec<Option<u64>>,
    /// Every hwmon attribute node_exporter reports (temperature inputs among them).
    hwmon: std::sync::Arc<Hwmon>,
    /// psutil's temperature inputs: indexes into `hwmon.files`.
    inputs: Vec<HwmonInput>,
    /// Each zone's last temperature (°C); `None` before the first read or when unreadable.
    zone_values: Vec<Option<f64>>,
    /// Each hwmon file's last value, as read (millidegrees, millivolts...).
    values: Vec<Option<f64>>,
    /// Whether every zone and file has been read once.
    started: bool,
    samples: u64,
    rotation: super::shared::rotation::Rotation,
    files: super::shared::files::Files,
}

/// Samples a hwmon limit (`max`, `crit`, `min`...) is kept before it is read again: they
/// change when a driver or a user sets them.
#[cfg(target_os = "linux")]
pub(crate) const LIMITS_EVERY: u64 = 10;

#[cfg(target_os = "linux")]
impl SensorsFamily {
    fn new(setup: &Setup) -> SensorsFamily {
        let zones = thermal_zones(&setup.sysfs);
        let cooling = cooling_devices(&setup.sysfs);
        let hwmon = scan_hwmon(&setup.sysfs);
        let inputs = hwmon_inputs(&hwmon);
        let files = super::shared::files::Files::with_limit(super::shared::files::SYSFS_LIMIT);
        SensorsFamily {
            cooling_states: vec![None; cooling.len()],
            cooling: cooling.into(),
            zone_values: vec![None; zones.len()],
            values: vec![None; hwmon.files.len()],
            zones,
            hwmon: hwmon.into(),
            inputs,
            started: false,
            samples: 0,
            rotation: Default::default(),
            files,
        }
    }
}

#[cfg(target_os = "linux")]
impl Collector for SensorsFamily {
    fn collect(&mut self, r: &mut Reading) -> Result<(), CollectError> {
        self.samples += 1;
        let limits_due = self.samples % LIMITS_EVERY == 1;
        // more sensors than the budget: read in turn (see Rotation); the zones first
        let n_zones = self.zones.len();
        let window = self.rotation.window(n_zones + self.hwmon.files.len());
        for (i, z) in self.zones.iter().enumerate() {
            if window.contains(i) || !self.started {
                self.zone_values[i] = self.files.read_opt(&z.temp).and_then(parse_millidegrees);
            }
        }
        for (i, f) in self.hwmon.files.iter().enumerate() {
            let due = window.contains(n_zones + i) && (f.reading || limits_due);
            if due || !self.started {
                self.values[i] = self.files.read_opt(&f.path).and_then(|t| t.trim().parse::<f64>().ok());
            }
        }
        for (state, device) in self.cooling_states.iter_mut().zip(self.cooling.iter()) {
            *state = self.files.read_u64(&device.cur_state).ok();
        }
        self.started = true;
        let mut sensors = Sensors::default();
        let mut add = |chip: &str, mut sensor: Sensor| {
            (sensor.high_c, sensor.critical_c) = fill_thresholds(sensor.high_c, sensor.critical_c);
            match sensors.0.iter_mut().find(|(c, _)| **c == *chip) {
                Some((_, list)) => list.push(sensor),
                None => sensors.0.push((chip.into(), vec![sensor])),
            }
        };
        for h in &self.inputs {
            if let Some(current_c) = self.values[h.file].map(|m| m / 1000.0) {
                add(
                    &h.name,
                    Sensor {
                        label: h.label.clone(),
                        current_c,
                        high_c: h.high_c,
                        critical_c: h.critical_c,
                        hwmon_chip: Some(self.hwmon.chips[self.hwmon.files[h.file].chip].id.clone()),
                        hwmon_sensor: Some(h.sensor.clone()),
                    },
                );
            }
        }
        let mut zones = Vec::with_capacity(self.zones.len());
        for (z, value) in self.zones.iter().zip(&self.zone_values) {
            let Some(celsius) = *value else { continue };
            zones.push(ThermalZone { zone: z.zone, kind: z.kind.clone(), celsius });
            // psutil reads the thermal zones only where hwmon has no temperature at all
            if self.inputs.is_empty() {
                add(
                    &z.kind,
                    Sensor {
                        label: "".into(),
                        current_c: celsius,
                        high_c: z.high_c,
                        critical_c: z.critical_c,
                        hwmon_chip: None,
                        hwmon_sensor: None,
                    },
                );
            }
        }
        r.snapshot.cpu.temperature_c = cpu_temperature(&sensors);
        r.snapshot.sensors = Some(sensors);
        r.snapshot.thermal_zones = Some(zones);
        r.export(HwmonSeries { hwmon: self.hwmon.clone(), values: self.values.clone() });
        if !self.cooling.is_empty() {
            r.export(CoolingSeries { devices: self.cooling.clone(), states: self.cooling_states.clone() });
        }
        Ok(())
    }
}

#[cfg(target_os = "macos")]
pub(crate) struct SensorsFamily {
    components: Result<sysinfo::Components, String>,
}

#[cfg(target_os = "macos")]
impl SensorsFamily {
    fn new(_: &Setup) -> SensorsFamily {
        SensorsFamily { components: sysinfo::Components::new_with_refreshed_list().map_err(|e| e.to_string()) }
    }
}

#[cfg(target_os = "macos")]
impl Collector for SensorsFamily {
    fn collect(&mut self, r: &mut Reading) -> Result<(), CollectError> {
        let components = self.components.as_mut().map_err(|e| CollectError::Missing(format!("sysinfo: {e}")))?;
        components.refresh(true);
        let mut sensors = Sensors::default();
        for c in components.iter() {
            let Some(current) = c.temperature() else { continue };
            // SMC labels are "<chip> <sensor>" at best; the whole label names the chip
            sensors.0.push((
                c.label().into(),
                vec![Sensor {
                    label: c.label().into(),
                    current_c: f64::from(current),
                    high_c: c.max().map(f64::from),
                    critical_c: c.critical().map(f64::from),
                    hwmon_chip: None,
                    hwmon_sensor: None,
                }],
            ));
        }
        r.snapshot.cpu.temperature_c = cpu_temperature(&sensors);
        r.snapshot.sensors = Some(sensors);
        Ok(())
    }
}

/// psutil's rule: a sensor with only one of its thresholds reports it as both (a zero counts as
/// none, as in Python).
pub(crate) fn fill_thresholds(high: Option<f64>, critical: Option<f64>) -> (Option<f64>, Option<f64>) {
    let set = |v: Option<f64>| v.filter(|&x| x != 0.0);
    match (set(high), set(critical)) {
        (Some(h), None) => (high, Some(h)),
        (None, Some(c)) => (Some(c), critical),
        _ => (high, critical),
    }
}

/// A thermal zone found at start.
#[derive(Debug, Clone)]
pub(crate) struct Zone {
    pub zone: u32,
    pub kind: String,
    pub temp: PathBuf,
    /// The `high` and `critical` trip points, °C.
    pub high_c: Option<f64>,
    pub critical_c: Option<f64>,
}

pub(crate) fn read_trimmed(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let t = text.trim_end_matches(['\0', '\n', ' ']).trim();
    (!t.is_empty()).then(|| t.to_string())
}

pub(crate) fn read_celsius(path: &Path) -> Option<f64> {
    read_trimmed(path).as_deref().and_then(parse_millidegrees)
}

pub(crate) fn thermal_zones(sysfs: &Path) -> Vec<Zone> {
    super::shared::files::numbered(&sysfs.join("class/thermal"), "thermal_zone")
        .into_iter()
        .map(|(zone, dir)| {
            let (mut high_c, mut critical_c) = (None, None);
            for (n, _) in super::shared::files::numbered(&dir, "trip_point_") {
                let trip = |what: &str| dir.join(format!("trip_point_{n}_{what}"));
                match read_trimmed(&trip("type")).as_deref() {
                    Some("critical") => critical_c = read_celsius(&trip("temp")),
                    Some("high") => high_c = read_celsius(&trip("temp")),
                    _ => {}
                }
            }
            Zone {
                zone,
                kind: read_trimmed(&dir.join("type")).unwrap_or_default(),
                temp: dir.join("temp"),
                high_c,
                critical_c,
            }
        })
        .collect()
}

/// A cooling device (a fan, a CPU frequency cap) the thermal framework throttles with.
#[derive(Debug)]
pub(crate) struct Cooling {
    /// `N` of `cooling_deviceN`.
    pub name: String,
    /// e.g. `cpufreq-cpu0`, `Processor`, `Fan`.
    pub kind: String,
    pub max_state: Option<u64>,
    pub cur_state: PathBuf,
}

/// Every cooling device, found at start.
pub(crate) fn cooling_devices(sysfs: &Path) -> Vec<Cooling> {
    super::shared::files::numbered(&sysfs.join("class/thermal"), "cooling_device")
        .into_iter()
        .map(|(n, dir)| Cooling {
            name: n.to_string(),
            kind: read_trimmed(&dir.join("type")).unwrap_or_default(),
            max_state: read_trimmed(&dir.join("max_state")).and_then(|t| t.parse().ok()),
            cur_state: dir.join("cur_state"),
        })
        .collect()
}

/// node_exporter's cooling-device series (its `thermal_zone` collector).
#[cfg(target_os = "linux")]
#[derive(Debug)]
struct CoolingSeries {
    devices: std::sync::Arc<Vec<Cooling>>,
    states: Vec<Option<u64>>,
}

#[cfg(target_os = "linux")]
impl crate::metrics::Export for CoolingSeries {
    fn families(&self, out: &mut Vec<crate::metrics::Family>) {
        use crate::metrics::{Family, Kind, label};
        let mut cur =
            Family::new("node_cooling_device_cur_state", Kind::Gauge, "Current throttle state of the cooling device");
        let mut max =
            Family::new("node_cooling_device_max_state", Kind::Gauge, "Maximum throttle state of the cooling device");
        for (d, state) in self.devices.iter().zip(&self.states) {
            let labels = || vec![label("name", &d.name), label("type", &d.kind)];
            if let Some(s) = state {
                cur.push(labels(), *s as f64);
            }
            if let Some(m) = d.max_state {
                max.push(labels(), m as f64);
            }
        }
        out.extend([cur, max]);
    }
}

/// A temperature file: millidegrees Celsius → degrees.
pub(crate) fn parse_millidegrees(text: &str) -> Option<f64> {
    text.trim().parse::<i64>().ok().map(|m| m as f64 / 1000.0)
}

/// The thermal zones of a snapshot (`node_thermal_zone_temp`, as node_exporter) and the CPU's
/// temperature; the `node_hwmon_*` series are exported when read.
pub(crate) fn snapshot_series(s: &crate::snapshot::Snapshot, out: &mut Vec<metrics::Family>) {
    let mut zones = metrics::Family::new("node_thermal_zone_temp", metrics::Kind::Gauge, "Zone temperature in Celsius");
    for z in s.thermal_zones.iter().flatten() {
        zones.push(vec![metrics::label("type", &z.kind), metrics::label("zone", z.zone)], z.celsius);
    }
    // node_hwmon_* are exported by `sensors` itself (every attribute, not only temperatures)
    out.push(zones);
    out.extend(metrics::Family::single(
        "system_stats_cpu_temperature_celsius",
        metrics::Kind::Gauge,
        "The CPU's temperature, as /system's cpu.temperature_c.",
        s.cpu.temperature_c,
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_like_node_exporter() {
        assert_eq!(clean_name("coretemp.0"), "coretemp_0");
        assert_eq!(clean_name("Package id 0"), "package_id_0");
        assert_eq!(clean_name("_x_\n"), "x");
    }

    #[test]
    fn values() {
        assert_eq!(parse_millidegrees("45277\n"), Some(45.277));
        assert_eq!(parse_millidegrees("-5000"), Some(-5.0));
        assert_eq!(parse_millidegrees(""), None);
        assert_eq!(parse_millidegrees("N/A"), None);
    }

    fn sensor(label: &str, current_c: f64) -> Sensor {
        Sensor { label: label.into(), current_c, ..Default::default() }
    }

    #[test]
    fn the_cpu_temperature_comes_from_the_preferred_chip() {
        let s = Sensors(vec![
            ("nvme".into(), vec![sensor("Composite", 38.85)]),
            ("acpitz".into(), vec![sensor("", 27.8)]),
            ("coretemp".into(), vec![sensor("Package id 0", 51.04), sensor("Core 0", 49.0)]),
        ]);
        assert_eq!(cpu_temperature(&s), Some(51.0));
        // no preferred chip: the first that says thermal or CPU
        let s = Sensors(vec![("nvme".into(), vec![sensor("", 38.0)]), ("soc_thermal".into(), vec![sensor("", 61.27)])]);
        assert_eq!(cpu_temperature(&s), Some(61.3));
        assert_eq!(cpu_temperature(&Sensors(vec![("nvme".into(), vec![sensor("", 38.0)])])), None);
        assert_eq!(cpu_temperature(&Sensors::default()), None);
    }

    #[test]
    fn one_threshold_stands_for_both() {
        assert_eq!(fill_thresholds(Some(80.0), None), (Some(80.0), Some(80.0)));
        assert_eq!(fill_thresholds(None, Some(119.0)), (Some(119.0), Some(119.0)));
        assert_eq!(fill_thresholds(Some(0.0), None), (Some(0.0), None));
        assert_eq!(fill_thresholds(Some(80.0), Some(90.0)), (Some(80.0), Some(90.0)));
        assert_eq!(fill_thresholds(None, None), (None, None));
    }

    #[test]
    fn the_pi_fixture_has_its_sensors() {
        let sys = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/raspberrypi4-aarch64/sys");
        let zones = thermal_zones(&sys);
        assert_eq!(zones.len(), 1);
        assert_eq!((zones[0].zone, zones[0].kind.as_str()), (0, "cpu-thermal"));
        let hwmon = scan_hwmon(&sys);
        let inputs = hwmon_inputs(&hwmon);
        assert_eq!(inputs.len(), 1);
        assert_eq!(hwmon.chips[hwmon.files[inputs[0].file].chip].id.as_ref(), "thermal_thermal_zone0");
        assert_eq!(&*inputs[0].name, "cpu_thermal");
        assert_eq!(&*inputs[0].sensor, "temp1");
        // the firmware's under-voltage alarm is an `in` attribute of the rpi_volt chip
        let alarm = hwmon.files.iter().find(|f| f.element == "lcrit_alarm").unwrap();
        assert_eq!((alarm.kind, alarm.sensor.as_str(), alarm.reading), ("in", "in0", true));
    }

    #[test]
    fn hwmon_file_names_as_node_exporter_splits_them() {
        assert_eq!(explode_sensor_filename("temp1_input"), Some(("temp", 1, "input")));
        assert_eq!(explode_sensor_filename("temp12_crit_alarm"), Some(("temp", 12, "crit_alarm")));
        assert_eq!(explode_sensor_filename("pwm1"), Some(("pwm", 1, "")));
        assert_eq!(explode_sensor_filename("beep_enable"), Some(("beep_enable", 0, "")));
        assert_eq!(explode_sensor_filename("name"), Some(("name", 0, "")));
        assert_eq!(explode_sensor_filename("temp1_"), None);
        assert_eq!(explode_sensor_filename("1temp"), None);
    }

    #[test]
    fn hwmon_series_names_units_and_help() {
        use crate::metrics::Kind;
        let s = |kind, element, bare, v| hwmon_series(kind, element, bare, v);
        assert_eq!(
            s("temp", "input", false, 45277.0),
            ("node_hwmon_temp_celsius".into(), Kind::Gauge, "Hardware monitor for temperature (input)".into(), 45.277)
        );
        assert_eq!(s("temp", "crit_hyst", false, 95000.0).0, "node_hwmon_temp_crit_hyst_celsius");
        assert_eq!(s("in", "lcrit_alarm", false, 0.0).0, "node_hwmon_in_lcrit_alarm_volts");
        assert_eq!(
            s("fan", "input", false, 1200.0),
            (
                "node_hwmon_fan_rpm".into(),
                Kind::Gauge,
                "Hardware monitor for fan revolutions per minute (input)".into(),
                1200.0
            )
        );
        assert_eq!(s("power", "average", false, 12_500_000.0).0, "node_hwmon_power_average_watt");
        assert_eq!(s("power", "average", false, 12_500_000.0).3, 12.5);
        assert_eq!(s("energy", "input", false, 3e6).1, Kind::Counter);
        assert_eq!(s("pwm", "", false, 128.0).0, "node_hwmon_pwm");
        assert_eq!(s("pwm", "input", true, 128.0).0, "node_hwmon_pwm_input");
        assert_eq!(
            s("temp", "alarm", false, 1.0),
            ("node_hwmon_temp_alarm".into(), Kind::Gauge, "Hardware sensor alarm status (temp)".into(), 1.0)
        );
        assert_eq!(s("beep_enable", "", false, 1.0).0, "node_hwmon_beep_enabled");
    }
}
