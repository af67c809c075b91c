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
//! macOS: the SMC and IOKit sensors through `sysinfo`'s components, never a program.

use std::path::{Path, PathBuf};

use super::{CollectError, Entry, Family, Reading, Setup};
#[cfg(target_os = "linux")]
use crate::snapshot::ThermalZone;
use crate::snapshot::{Sensor, Sensors, round1};

pub const ENTRY: Entry = Entry {
    name: "sensors",
    about: "temperatures (hwmon, thermal zones; SMC on macOS) and the CPU's",
    start: |setup| Some(Box::new(SensorsFamily::new(setup))),
};

/// The chips whose temperature is the CPU's, in order of preference.
const CPU_CHIPS: [&str; 4] = ["cpu_thermal", "cpu-thermal", "coretemp", "k10temp"];

/// The CPU's temperature: the first sensor of the first of [`CPU_CHIPS`] there is, else of
/// the first chip whose name contains `cpu`, `core`, `temp` or `thermal`.
pub fn cpu_temperature(sensors: &Sensors) -> Option<f64> {
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
pub struct SensorsFamily {
    zones: Vec<Zone>,
    hwmon: Vec<HwmonInput>,
    /// Each input's last reading (zones first, then hwmon inputs); `None` before the first
    /// or when it could not be read.
    last: Vec<Option<f64>>,
    /// Whether every sensor has been read once.
    started: bool,
    rotation: super::Rotation,
    files: super::files::Files,
}

#[cfg(target_os = "linux")]
impl SensorsFamily {
    fn new(setup: &Setup) -> SensorsFamily {
        let (zones, hwmon) = (thermal_zones(&setup.sysfs), hwmon_inputs(&setup.sysfs));
        let last = vec![None; zones.len() + hwmon.len()];
        let files = super::files::Files::with_limit(super::files::SYSFS_LIMIT);
        SensorsFamily { zones, hwmon, last, started: false, rotation: Default::default(), files }
    }
}

#[cfg(target_os = "linux")]
impl Family for SensorsFamily {
    fn collect(&mut self, r: &mut Reading) -> Result<(), CollectError> {
        // more sensors than the budget: read in turn (see Rotation)
        let window = self.rotation.window(self.last.len());
        let inputs = self.zones.iter().map(|z| &z.temp).chain(self.hwmon.iter().map(|h| &h.input));
        for (i, path) in inputs.enumerate() {
            if window.contains(i) || !self.started {
                self.last[i] = self.files.read_opt(path).and_then(parse_millidegrees);
            }
        }
        self.started = true;
        let (zone_values, hwmon_values) = self.last.split_at(self.zones.len());
        let mut sensors = Sensors::default();
        let mut add = |chip: &str, mut sensor: Sensor| {
            (sensor.high_c, sensor.critical_c) = fill_thresholds(sensor.high_c, sensor.critical_c);
            match sensors.0.iter_mut().find(|(c, _)| c == chip) {
                Some((_, list)) => list.push(sensor),
                None => sensors.0.push((chip.to_string(), vec![sensor])),
            }
        };
        for (h, value) in self.hwmon.iter().zip(hwmon_values) {
            if let Some(current_c) = *value {
                add(
                    &h.name,
                    Sensor {
                        label: h.label.clone(),
                        current_c,
                        high_c: h.high_c,
                        critical_c: h.critical_c,
                        hwmon_chip: Some(h.chip.clone()),
                        hwmon_sensor: Some(h.sensor.clone()),
                    },
                );
            }
        }
        let mut zones = Vec::with_capacity(self.zones.len());
        for (z, value) in self.zones.iter().zip(zone_values) {
            let Some(celsius) = *value else { continue };
            zones.push(ThermalZone { zone: z.zone, kind: z.kind.clone(), celsius });
            // psutil reads the thermal zones only where hwmon has no temperature at all
            if self.hwmon.is_empty() {
                add(
                    &z.kind,
                    Sensor {
                        label: String::new(),
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
        Ok(())
    }
}

#[cfg(target_os = "macos")]
pub struct SensorsFamily {
    components: Result<sysinfo::Components, String>,
}

#[cfg(target_os = "macos")]
impl SensorsFamily {
    fn new(_: &Setup) -> SensorsFamily {
        SensorsFamily { components: sysinfo::Components::new_with_refreshed_list().map_err(|e| e.to_string()) }
    }
}

#[cfg(target_os = "macos")]
impl Family for SensorsFamily {
    fn collect(&mut self, r: &mut Reading) -> Result<(), CollectError> {
        let components = self.components.as_mut().map_err(|e| CollectError::Missing(format!("sysinfo: {e}")))?;
        components.refresh(true);
        let mut sensors = Sensors::default();
        for c in components.iter() {
            let Some(current) = c.temperature() else { continue };
            // SMC labels are "<chip> <sensor>" at best; the whole label names the chip
            sensors.0.push((
                c.label().to_string(),
                vec![Sensor {
                    label: c.label().to_string(),
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
pub fn fill_thresholds(high: Option<f64>, critical: Option<f64>) -> (Option<f64>, Option<f64>) {
    let set = |v: Option<f64>| v.filter(|&x| x != 0.0);
    match (set(high), set(critical)) {
        (Some(h), None) => (high, Some(h)),
        (None, Some(c)) => (Some(c), critical),
        _ => (high, critical),
    }
}

/// A thermal zone found at start.
#[derive(Debug, Clone)]
pub struct Zone {
    pub zone: u32,
    pub kind: String,
    pub temp: PathBuf,
    /// The `high` and `critical` trip points, °C.
    pub high_c: Option<f64>,
    pub critical_c: Option<f64>,
}

/// A hwmon temperature input found at start.
#[derive(Debug, Clone)]
pub struct HwmonInput {
    /// The chip's `name` (psutil's key), e.g. `coretemp`, `nvme`.
    pub name: String,
    /// node_exporter's chip, e.g. `platform_coretemp_0`.
    pub chip: String,
    /// e.g. `temp1`.
    pub sensor: String,
    /// `temp*_label`, or empty.
    pub label: String,
    pub high_c: Option<f64>,
    pub critical_c: Option<f64>,
    pub input: PathBuf,
}

fn read_trimmed(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let t = text.trim_end_matches(['\0', '\n', ' ']).trim();
    (!t.is_empty()).then(|| t.to_string())
}

fn read_celsius(path: &Path) -> Option<f64> {
    read_trimmed(path).as_deref().and_then(parse_millidegrees)
}

pub fn thermal_zones(sysfs: &Path) -> Vec<Zone> {
    super::files::numbered(&sysfs.join("class/thermal"), "thermal_zone")
        .into_iter()
        .map(|(zone, dir)| {
            let (mut high_c, mut critical_c) = (None, None);
            for (n, _) in super::files::numbered(&dir, "trip_point_") {
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

/// node_exporter's `cleanMetricName`: lower case, anything but `[a-z0-9:_]` → `_`, trimmed `_`.
pub fn clean_name(name: &str) -> String {
    let lower = name.trim().to_ascii_lowercase();
    let replaced: String = lower
        .chars()
        .map(|c| if c.is_ascii_lowercase() || c.is_ascii_digit() || c == ':' || c == '_' { c } else { '_' })
        .collect();
    replaced.trim_matches('_').to_string()
}

/// node_exporter's chip name for a hwmon directory: `<bus type>_<device>` from where its
/// `device` link points (e.g. `platform_coretemp_0`, `thermal_thermal_zone0`), else its
/// `name` file, else the directory's own name.
pub fn chip_name(dir: &Path) -> String {
    if let Ok(device) = std::fs::canonicalize(dir.join("device")) {
        let name = device.file_name().map(|n| clean_name(&n.to_string_lossy())).unwrap_or_default();
        let kind =
            device.parent().and_then(|p| p.file_name()).map(|n| clean_name(&n.to_string_lossy())).unwrap_or_default();
        match (kind.is_empty(), name.is_empty()) {
            (false, false) => return format!("{kind}_{name}"),
            (true, false) => return name,
            _ => {}
        }
    }
    if let Some(name) = read_trimmed(&dir.join("name")).map(|n| clean_name(&n)).filter(|n| !n.is_empty()) {
        return name;
    }
    let real = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    clean_name(&real.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default())
}

/// Every hwmon temperature input, in the order psutil lists them (by path), with what
/// psutil reports of it; a chip without a readable `name` is left out, as psutil does.
pub fn hwmon_inputs(sysfs: &Path) -> Vec<HwmonInput> {
    let mut bases: Vec<(PathBuf, PathBuf, String)> = Vec::new();
    for (_, dir) in super::files::numbered(&sysfs.join("class/hwmon"), "hwmon") {
        // CentOS keeps the inputs in an intermediate device/ directory
        for place in [dir.clone(), dir.join("device")] {
            let Ok(entries) = std::fs::read_dir(&place) else { continue };
            for e in entries.flatten() {
                let file = e.file_name().to_string_lossy().into_owned();
                if let Some(sensor) = file.strip_suffix("_input").filter(|s| s.starts_with("temp")) {
                    bases.push((dir.clone(), place.join(sensor), sensor.to_string()));
                }
            }
        }
    }
    bases.sort_by(|a, b| a.1.cmp(&b.1));
    bases.dedup_by(|a, b| a.1 == b.1);
    let mut out = Vec::new();
    for (dir, base, sensor) in bases {
        let Some(name) = read_trimmed(&dir.join("name")) else { continue };
        let with = |suffix: &str| PathBuf::from(format!("{}_{suffix}", base.display()));
        out.push(HwmonInput {
            name,
            chip: chip_name(&dir),
            label: read_trimmed(&with("label")).unwrap_or_default(),
            high_c: read_celsius(&with("max")),
            critical_c: read_celsius(&with("crit")),
            input: with("input"),
            sensor,
        });
    }
    out
}

/// A temperature file: millidegrees Celsius → degrees.
pub fn parse_millidegrees(text: &str) -> Option<f64> {
    text.trim().parse::<i64>().ok().map(|m| m as f64 / 1000.0)
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
        let inputs = hwmon_inputs(&sys);
        assert_eq!(inputs.len(), 1);
        assert_eq!(inputs[0].chip, "thermal_thermal_zone0");
        assert_eq!(inputs[0].name, "cpu_thermal");
        assert_eq!(inputs[0].sensor, "temp1");
    }
}
