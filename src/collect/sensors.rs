//! `sensors`: temperatures (`temperatures`).
//!
//! Linux: `class/thermal/thermal_zone*/{type,temp}` and `class/hwmon/hwmon*/temp*_{input,
//! label}` under sysfs. What sensors exist is found once at start; their values are read every
//! sample, and one that cannot be read this time is left out of this sample.

use std::path::{Path, PathBuf};

use super::{CollectError, Entry, Family, Reading, Setup};
use crate::snapshot::{HwmonTemp, Temperatures, ThermalZone};

pub const ENTRY: Entry = Entry {
    name: "sensors",
    about: "temperatures (thermal zones, hwmon)",
    start: |setup| {
        if cfg!(target_os = "linux") { Some(Box::new(Sensors::new(setup))) } else { None }
    },
};

pub struct Sensors {
    zones: Vec<Zone>,
    hwmon: Vec<HwmonInput>,
    /// Each sensor's last reading (zones first, then hwmon inputs); `None` before the first
    /// or when it could not be read.
    last: Vec<Option<f64>>,
    /// Whether every sensor has been read once.
    started: bool,
    rotation: super::Rotation,
    files: super::files::Files,
}

impl Sensors {
    fn new(setup: &Setup) -> Sensors {
        let (zones, hwmon) = (thermal_zones(&setup.sysfs), hwmon_inputs(&setup.sysfs));
        let last = vec![None; zones.len() + hwmon.len()];
        Sensors { zones, hwmon, last, started: false, rotation: Default::default(), files: Default::default() }
    }
}

impl Family for Sensors {
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
        let mut t = Temperatures::default();
        let (zones, hwmon) = self.last.split_at(self.zones.len());
        for (z, &celsius) in self.zones.iter().zip(zones) {
            if let Some(celsius) = celsius {
                t.thermal_zones.push(ThermalZone { zone: z.zone, kind: z.kind.clone(), celsius });
            }
        }
        for (h, &celsius) in self.hwmon.iter().zip(hwmon) {
            if let Some(celsius) = celsius {
                t.hwmon.push(HwmonTemp {
                    chip: h.chip.clone(),
                    chip_name: h.chip_name.clone(),
                    sensor: h.sensor.clone(),
                    label: h.label.clone(),
                    celsius,
                });
            }
        }
        r.snapshot.temperatures = t;
        Ok(())
    }
}

/// A thermal zone found at start.
#[derive(Debug, Clone)]
pub struct Zone {
    pub zone: u32,
    pub kind: String,
    pub temp: PathBuf,
}

/// A hwmon temperature input found at start.
#[derive(Debug, Clone)]
pub struct HwmonInput {
    pub chip: String,
    pub chip_name: Option<String>,
    pub sensor: String,
    pub label: Option<String>,
    pub input: PathBuf,
}

fn read_trimmed(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let t = text.trim_end_matches(['\0', '\n', ' ']).trim();
    (!t.is_empty()).then(|| t.to_string())
}

pub fn thermal_zones(sysfs: &Path) -> Vec<Zone> {
    super::files::numbered(&sysfs.join("class/thermal"), "thermal_zone")
        .into_iter()
        .map(|(zone, dir)| Zone {
            zone,
            kind: read_trimmed(&dir.join("type")).unwrap_or_default(),
            temp: dir.join("temp"),
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

pub fn hwmon_inputs(sysfs: &Path) -> Vec<HwmonInput> {
    let mut out = Vec::new();
    for (_, dir) in super::files::numbered(&sysfs.join("class/hwmon"), "hwmon") {
        let chip = chip_name(&dir);
        let chip_name = read_trimmed(&dir.join("name"));
        let mut sensors: Vec<u32> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.strip_prefix("temp")?.strip_suffix("_input")?.parse().ok())
            .collect();
        sensors.sort();
        for n in sensors {
            out.push(HwmonInput {
                chip: chip.clone(),
                chip_name: chip_name.clone(),
                sensor: format!("temp{n}"),
                label: read_trimmed(&dir.join(format!("temp{n}_label"))),
                input: dir.join(format!("temp{n}_input")),
            });
        }
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
        assert_eq!(inputs[0].chip_name.as_deref(), Some("cpu_thermal"));
        assert_eq!(inputs[0].sensor, "temp1");
    }
}
