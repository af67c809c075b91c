//! Temperatures and the Raspberry Pi firmware's throttling state, from sysfs:
//! `class/thermal/thermal_zone*/{type,temp}`, `class/hwmon/hwmon*/temp*_{input,label}` and
//! `devices/platform/soc/soc:firmware/get_throttled`. What sensors exist is found once at
//! start; their values are read every sample.

use std::path::{Path, PathBuf};

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

/// Entries `<prefix><number>` of a directory, sorted by number.
pub fn numbered(dir: &Path, prefix: &str) -> Vec<(u32, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return vec![] };
    let mut out: Vec<(u32, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name();
            let n = name.to_str()?.strip_prefix(prefix)?.parse().ok()?;
            Some((n, e.path()))
        })
        .collect();
    out.sort();
    out
}

fn read_trimmed(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let t = text.trim_end_matches(['\0', '\n', ' ']).trim();
    (!t.is_empty()).then(|| t.to_string())
}

pub fn thermal_zones(sysfs: &Path) -> Vec<Zone> {
    numbered(&sysfs.join("class/thermal"), "thermal_zone")
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
    for (_, dir) in numbered(&sysfs.join("class/hwmon"), "hwmon") {
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

/// `get_throttled`: a hexadecimal bit field, with or without `0x`.
pub fn parse_throttled(text: &str) -> Option<u32> {
    let t = text.trim();
    u32::from_str_radix(t.trim_start_matches("0x"), 16).ok()
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
        assert_eq!(parse_throttled("50000\n"), Some(0x50000));
        assert_eq!(parse_throttled("0x5"), Some(5));
        assert_eq!(parse_throttled("zz"), None);
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
