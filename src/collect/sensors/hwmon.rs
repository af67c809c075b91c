//! The hwmon chips (`/sys/class/hwmon`): the temperature inputs psutil reports, found once
//! at start, and every attribute as node_exporter's `node_hwmon_*` series.

use std::path::{Path, PathBuf};

use super::{read_celsius, read_trimmed};
use crate::snapshot::Text;

/// A hwmon temperature input psutil reports, found at start.
#[derive(Debug, Clone)]
pub(crate) struct HwmonInput {
    /// The chip's `name` (psutil's key), e.g. `coretemp`, `nvme`.
    pub name: Text,
    /// e.g. `temp1`.
    pub sensor: Text,
    /// `temp*_label`, or empty.
    pub label: Text,
    pub high_c: Option<f64>,
    pub critical_c: Option<f64>,
    /// Its `temp*_input` in [`Hwmon::files`].
    pub file: usize,
}

/// What the hwmon chips offer, found at start.
#[derive(Debug, Default)]
pub(crate) struct Hwmon {
    pub chips: Vec<Chip>,
    pub files: Vec<HwmonFile>,
    /// `*_label` files: chip (index), sensor, label.
    pub labels: Vec<(usize, String, String)>,
}

/// One hwmon chip (`class/hwmon/hwmonN`).
#[derive(Debug)]
pub(crate) struct Chip {
    /// node_exporter's `chip` label, e.g. `platform_coretemp_0` (see [`chip_name`]).
    pub id: Text,
    /// Its `name` file: psutil's key as written, node_exporter's `chip_name` cleaned.
    pub name: Option<String>,
}

/// One attribute file of a chip, named `<type><n>_<property>`.
#[derive(Debug)]
pub(crate) struct HwmonFile {
    /// Index in [`Hwmon::chips`].
    pub chip: usize,
    /// node_exporter's sensor type (`temp`, `in`, `fan`...).
    pub kind: &'static str,
    /// `<type><n>`, e.g. `temp1`, `fan2`, `beep_enable0`.
    pub sensor: String,
    /// The property, e.g. `input`, `crit_alarm`; empty for a bare `pwm1`.
    pub element: String,
    pub path: PathBuf,
    /// A reading (read every sample), not a limit (read every [`LIMITS_EVERY`]).
    pub reading: bool,
}

/// The sensor types node_exporter's hwmon collector reports.
const SENSOR_TYPES: [&str; 13] = [
    "vrm",
    "beep_enable",
    "update_interval",
    "in",
    "cpu",
    "fan",
    "pwm",
    "temp",
    "curr",
    "power",
    "energy",
    "humidity",
    "intrusion",
];

/// Splits a hwmon file name as node_exporter does (`^(type[^0-9]+)(id[0-9]*)?(_(property.+))?$`):
/// `temp1_crit_alarm` → (`temp`, 1, `crit_alarm`); `beep_enable` → (`beep_enable`, 0, ``).
pub(crate) fn explode_sensor_filename(name: &str) -> Option<(&str, u64, &str)> {
    let type_end = name.find(|c: char| c.is_ascii_digit()).unwrap_or(name.len());
    if type_end == 0 {
        return None;
    }
    let (kind, rest) = name.split_at(type_end);
    let id_end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
    let (id, rest) = rest.split_at(id_end);
    let id = if id.is_empty() { 0 } else { id.parse().ok()? };
    let property = match rest {
        "" => "",
        _ => rest.strip_prefix('_').filter(|p| !p.is_empty())?,
    };
    Some((kind, id, property))
}

/// Whether an element is a reading (changes by itself) rather than a limit someone sets.
fn is_reading(element: &str) -> bool {
    matches!(element, "" | "input" | "average" | "highest" | "lowest" | "enable" | "alarm" | "fault" | "beep")
        || element.ends_with("_alarm")
}

/// Finds every hwmon chip and the attribute files node_exporter reports (in each chip's
/// directory and its `device/` directory), and reads the labels.
pub(crate) fn scan_hwmon(sysfs: &Path) -> Hwmon {
    let mut hwmon = Hwmon::default();
    for (_, dir) in super::super::shared::files::numbered(&sysfs.join("class/hwmon"), "hwmon") {
        let chip = hwmon.chips.len();
        hwmon.chips.push(Chip { id: chip_name(&dir).into(), name: read_trimmed(&dir.join("name")) });
        for place in [dir.clone(), dir.join("device")] {
            let Ok(entries) = std::fs::read_dir(&place) else { continue };
            let mut names: Vec<String> = entries.flatten().filter_map(|e| e.file_name().into_string().ok()).collect();
            names.sort();
            for file in names {
                let Some((kind, id, element)) = explode_sensor_filename(&file) else { continue };
                let Some(kind) = SENSOR_TYPES.iter().copied().find(|t| *t == kind) else { continue };
                let sensor = format!("{kind}{id}");
                let path = place.join(&file);
                if element == "label" {
                    if let Ok(text) = std::fs::read_to_string(&path) {
                        let label = text.trim_matches('\n').to_string();
                        hwmon.labels.retain(|(c, s, _)| !(*c == chip && *s == sensor));
                        hwmon.labels.push((chip, sensor, label));
                    }
                    continue;
                }
                // a file in device/ stands for the same one in the chip's directory
                hwmon.files.retain(|f| !(f.chip == chip && f.sensor == sensor && f.element == element));
                hwmon.files.push(HwmonFile {
                    chip,
                    kind,
                    sensor,
                    reading: is_reading(element),
                    element: element.to_string(),
                    path,
                });
            }
        }
    }
    hwmon
}

/// psutil's temperature inputs among the hwmon files, in the order psutil lists them (by
/// path); a chip without a readable `name` is left out, as psutil does.
pub(crate) fn hwmon_inputs(hwmon: &Hwmon) -> Vec<HwmonInput> {
    // psutil sorts by the path without its `_input` (`.../temp1` before `.../temp10`)
    let mut inputs: Vec<(String, usize)> = hwmon
        .files
        .iter()
        .enumerate()
        .filter(|(_, f)| f.kind == "temp" && f.element == "input")
        .map(|(i, f)| (f.path.to_string_lossy().trim_end_matches("_input").to_string(), i))
        .collect();
    inputs.sort();
    let mut out = Vec::new();
    for (base, file) in inputs {
        let f = &hwmon.files[file];
        let Some(name) = hwmon.chips[f.chip].name.clone() else { continue };
        let with = |suffix: &str| PathBuf::from(format!("{base}_{suffix}"));
        out.push(HwmonInput {
            name: name.into(),
            label: read_trimmed(&with("label")).unwrap_or_default().into(),
            high_c: read_celsius(&with("max")),
            critical_c: read_celsius(&with("crit")),
            sensor: f.sensor.as_str().into(),
            file,
        });
    }
    out
}

/// One sample's hwmon values, as node_exporter's families.
#[cfg(target_os = "linux")]
#[derive(Debug)]
pub(crate) struct HwmonSeries {
    pub(crate) hwmon: std::sync::Arc<Hwmon>,
    pub(crate) values: Vec<Option<f64>>,
}

#[cfg(target_os = "linux")]
impl crate::metrics::Export for HwmonSeries {
    fn families(&self, out: &mut Vec<crate::metrics::Family>) {
        use crate::metrics::{Family, Kind, label};
        use crate::snapshot::Text;
        let mut families: Vec<Family> = Vec::new();
        let mut push =
            |name: String, kind: Kind, help: String, labels: Vec<(&'static str, Text)>, value: f64| match families
                .iter_mut()
                .find(|f| f.name == name)
            {
                Some(f) => f.push(labels, value),
                None => families.push(Family::new(name, kind, help).with(labels, value)),
            };
        let h = &self.hwmon;
        for chip in &h.chips {
            if let Some(name) = chip.name.as_deref().map(clean_name).filter(|n| !n.is_empty()) {
                push(
                    "node_hwmon_chip_names".into(),
                    Kind::Gauge,
                    "Annotation metric for human-readable chip names".into(),
                    vec![label("chip", &chip.id), label("chip_name", name)],
                    1.0,
                );
            }
        }
        for (chip, sensor, text) in &h.labels {
            push(
                "node_hwmon_sensor_label".into(),
                Kind::Gauge,
                "Label for given chip and sensor".into(),
                vec![label("chip", &h.chips[*chip].id), label("label", text), label("sensor", sensor)],
                1.0,
            );
        }
        for (f, value) in h.files.iter().zip(&self.values) {
            let Some(v) = *value else { continue };
            let labels = vec![label("chip", &h.chips[f.chip].id), label("sensor", &f.sensor)];
            // the sensor has a bare file (`pwm1`): its `input` is named as such
            let bare = h.files.iter().any(|o| o.chip == f.chip && o.sensor == f.sensor && o.element.is_empty());
            let (name, kind, help, value) = hwmon_series(f.kind, &f.element, bare, v);
            push(name, kind, help, labels, value);
        }
        out.extend(families);
    }
}

/// node_exporter's name, type, help and value for one hwmon attribute.
pub(crate) fn hwmon_series(
    kind: &str,
    element: &str,
    bare: bool,
    v: f64,
) -> (String, crate::metrics::Kind, String, f64) {
    use crate::metrics::Kind::{Counter, Gauge};
    match kind {
        "beep_enable" => {
            return (
                "node_hwmon_beep_enabled".into(),
                Gauge,
                "Hardware beep enabled".into(),
                if v == 1.0 { 1.0 } else { 0.0 },
            );
        }
        "vrm" => return ("node_hwmon_voltage_regulator_version".into(), Gauge, "Hardware voltage regulator".into(), v),
        "update_interval" => {
            return (
                "node_hwmon_update_interval_seconds".into(),
                Gauge,
                "Hardware monitor update interval".into(),
                v * 0.001,
            );
        }
        _ => {}
    }
    let prefix = format!("node_hwmon_{kind}");
    let name = match element {
        "input" if bare => format!("{prefix}_input"),
        "input" | "" => prefix,
        other => format!("{prefix}_{}", clean_name(other)),
    };
    match (kind, element) {
        (_, "fault" | "alarm") => (name, Gauge, format!("Hardware sensor {element} status ({kind})"), v),
        (_, "beep") => (format!("{name}_enabled"), Gauge, "Hardware monitor sensor has beeping enabled".into(), v),
        ("in" | "cpu", _) => {
            (format!("{name}_volts"), Gauge, format!("Hardware monitor for voltage ({element})"), v * 0.001)
        }
        ("temp", e) if e != "type" => {
            (format!("{name}_celsius"), Gauge, format!("Hardware monitor for temperature ({element})"), v * 0.001)
        }
        ("curr", _) => (format!("{name}_amps"), Gauge, format!("Hardware monitor for current ({element})"), v * 0.001),
        ("energy", _) => (
            format!("{name}_joule_total"),
            Counter,
            format!("Hardware monitor for joules used so far ({element})"),
            v / 1e6,
        ),
        ("power", "accuracy") => (name, Gauge, "Hardware monitor power meter accuracy, as a ratio".into(), v / 1e6),
        ("power", "average_interval" | "average_interval_min" | "average_interval_max") => (
            format!("{name}_seconds"),
            Gauge,
            format!("Hardware monitor power usage update interval ({element})"),
            v * 0.001,
        ),
        ("power", _) => {
            (format!("{name}_watt"), Gauge, format!("Hardware monitor for power usage in watts ({element})"), v / 1e6)
        }
        ("humidity", _) => (
            name,
            Gauge,
            format!(
                "Hardware monitor for humidity, as a ratio (multiply with 100.0 to get the humidity as a percentage) ({element})"
            ),
            v / 1e6,
        ),
        ("fan", "input" | "min" | "max" | "target") => {
            (format!("{name}_rpm"), Gauge, format!("Hardware monitor for fan revolutions per minute ({element})"), v)
        }
        _ => (name, Gauge, format!("Hardware monitor {kind} element {element}"), v),
    }
}

/// node_exporter's `cleanMetricName`: lower case, anything but `[a-z0-9:_]` → `_`, trimmed `_`.
pub(crate) fn clean_name(name: &str) -> String {
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
pub(crate) fn chip_name(dir: &Path) -> String {
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
