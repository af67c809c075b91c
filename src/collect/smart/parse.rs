//! smartctl's JSON (`--json`, smartmontools 7.0 and later) read into a drive's health, and
//! into smartctl_exporter's series. Pure: the tests feed it recorded outputs of real drives.

use serde_json::Value;

use crate::metrics::{Family, Kind, label};
use crate::snapshot::{DiskHealth, NvmeHealth, ScsiHealth, SelfTest, SmartAttribute};

/// The ATA attributes whose raw value, above zero, foretells failure (Backblaze's study of its
/// drives): reallocated sectors, reported uncorrectable errors, command timeouts, sectors
/// pending reallocation, offline uncorrectable sectors. 188 is left out of the verdict (some
/// vendors pack three counters into its raw value) but counted in the growth alert.
pub(crate) const BACKBLAZE: [u64; 5] = [5, 187, 188, 197, 198];

/// NVMe critical warning bits, as the NVMe base specification names them.
const CRITICAL_WARNINGS: [&str; 6] = [
    "available spare below its threshold",
    "temperature beyond a threshold",
    "reliability degraded by media or internal errors",
    "media placed in read-only mode",
    "volatile memory backup failed",
    "persistent memory region read-only",
];

/// smartctl's exit status bits, as smartctl(8) names them.
pub(crate) const EXIT_BITS: [&str; 8] = [
    "command line did not parse",
    "device open failed, or in a low-power mode",
    "a SMART or other command to the disk failed",
    "SMART status check returned DISK FAILING",
    "prefail attributes at or below their threshold",
    "attributes at or below their threshold in the past",
    "the device error log has records of errors",
    "the self-test log has records of errors",
];

/// A number, whether smartctl wrote it as one or as a string (`gigabytes_processed`).
pub(crate) fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        _ => None,
    }
}

fn int(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn text(v: &Value) -> Option<String> {
    v.as_str().map(|s| s.trim().to_string())
}

/// smartctl_exporter's `device` label: `/dev/` (and `disk/by-id/`, `disk/by-path/`) taken off,
/// `/` made `_`, and a device type that names a port (`megaraid,1`) appended.
pub(crate) fn device_label(name: &str, kind: &str) -> String {
    let rest = name
        .strip_prefix("/dev/")
        .map_or(name, |r| r.strip_prefix("disk/by-id/").or_else(|| r.strip_prefix("disk/by-path/")).unwrap_or(r));
    let base = rest.replace('/', "_");
    if kind.contains(',') { format!("{base}_{}", kind.replace(',', "_")) } else { base }
}

/// Whether smartctl left the drive in standby (`--nocheck=standby`): exit bit 1 and its
/// message "Device is in STANDBY mode" (or SLEEP).
pub(crate) fn asleep(json: &Value) -> bool {
    let exit = int(&json["smartctl"]["exit_status"]).unwrap_or(0);
    exit & 2 != 0 && messages(json).any(|(_, m)| m.contains("Device is in STANDBY") || m.contains("Device is in SLEEP"))
}

/// smartctl's messages: (severity, text).
fn messages(json: &Value) -> impl Iterator<Item = (&str, &str)> {
    json["smartctl"]["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| (m["severity"].as_str().unwrap_or(""), m["string"].as_str().unwrap_or("")))
}

/// Why a reading has no facts, when it has none: smartctl's error message (with what to do
/// about a permission), or its exit bits 0 and 1.
fn unreadable(json: &Value, exit: u64) -> Option<String> {
    if exit & 3 == 0 && json.get("device").is_some() {
        return None;
    }
    let said = messages(json).find(|(s, _)| *s == "error").map(|(_, m)| m.to_string());
    let why = said.unwrap_or_else(|| {
        EXIT_BITS
            .iter()
            .enumerate()
            .filter(|(i, _)| exit & (1 << i) != 0)
            .map(|(_, b)| *b)
            .collect::<Vec<_>>()
            .join("; ")
    });
    let why = if why.is_empty() { "smartctl gave no device facts".to_string() } else { why };
    Some(if why.contains("Permission denied") || why.contains("Operation not permitted") {
        format!("{why} (smartctl needs root, or CAP_SYS_RAWIO and CAP_SYS_ADMIN, to read a drive)")
    } else {
        why
    })
}

/// A drive's health from one smartctl reading of `path` (device type `kind`).
pub(crate) fn health(path: &str, kind: &str, json: &Value, checked_at: String) -> DiskHealth {
    let exit = int(&json["smartctl"]["exit_status"]).unwrap_or(0);
    let kind = json["device"]["type"].as_str().unwrap_or(kind);
    let mut h = DiskHealth {
        device: device_label(path, kind),
        path: path.to_string(),
        kind: kind.to_string(),
        protocol: text(&json["device"]["protocol"]),
        smartctl_exit_status: Some(exit as u8),
        smartctl_exit_bits: EXIT_BITS
            .iter()
            .enumerate()
            .filter(|(i, _)| exit & (1 << i) != 0)
            .map(|(_, b)| b.to_string())
            .collect(),
        checked_at: Some(checked_at),
        ..DiskHealth::default()
    };
    if asleep(json) {
        h.verdict = "asleep".into();
        h.reasons.push("in standby: not woken to be read".into());
        return h;
    }
    if let Some(why) = unreadable(json, exit) {
        h.verdict = "unknown".into();
        h.error = Some(why);
        return h;
    }
    h.model_family = text(&json["model_family"]);
    h.model = text(&json["model_name"]).or_else(|| text(&json["scsi_model_name"]));
    h.serial_number = text(&json["serial_number"]);
    h.firmware_version = text(&json["firmware_version"]).or_else(|| text(&json["scsi_revision"]));
    h.capacity_bytes = int(&json["user_capacity"]["bytes"]).or_else(|| int(&json["nvme_total_capacity"]));
    h.rotation_rate = int(&json["rotation_rate"]);
    h.smart_passed = json["smart_status"]["passed"].as_bool();
    h.temperature_celsius = num(&json["temperature"]["current"]);
    h.temperature_limit_celsius =
        num(&json["temperature"]["op_limit_max"]).or_else(|| num(&json["temperature"]["drive_trip"]));
    h.power_on_hours = int(&json["power_on_time"]["hours"]);
    h.power_cycles = int(&json["power_cycle_count"])
        .or_else(|| int(&json["scsi_start_stop_cycle_counter"]["accumulated_start_stop_cycles"]));
    h.attributes = json["ata_smart_attributes"]["table"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| SmartAttribute {
            id: int(&a["id"]).unwrap_or(0),
            name: text(&a["name"]).unwrap_or_default(),
            value: int(&a["value"]),
            worst: int(&a["worst"]),
            threshold: int(&a["thresh"]),
            raw: int(&a["raw"]["value"]),
            raw_string: text(&a["raw"]["string"]),
            prefailure: a["flags"]["prefailure"].as_bool().unwrap_or(false),
            when_failed: text(&a["when_failed"]).filter(|w| !w.is_empty()),
        })
        .collect();
    let log = &json["nvme_smart_health_information_log"];
    if log.is_object() {
        // data units are thousands of 512-byte units (NVMe base specification, SMART log)
        let units = |v: &Value| int(v).filter(|n| *n > 0).map(|n| n.saturating_mul(512_000));
        h.nvme = Some(NvmeHealth {
            critical_warning: int(&log["critical_warning"]),
            available_spare: int(&log["available_spare"]),
            available_spare_threshold: int(&log["available_spare_threshold"]),
            percentage_used: int(&log["percentage_used"]),
            media_errors: int(&log["media_errors"]),
            error_log_entries: int(&log["num_err_log_entries"]),
            data_read_bytes: units(&log["data_units_read"]),
            data_written_bytes: units(&log["data_units_written"]),
            unsafe_shutdowns: int(&log["unsafe_shutdowns"]),
        });
    }
    let counters = &json["scsi_error_counter_log"];
    if counters.is_object() || json.get("scsi_grown_defect_list").is_some() {
        h.scsi = Some(ScsiHealth {
            grown_defects: int(&json["scsi_grown_defect_list"]),
            read_uncorrected_errors: int(&counters["read"]["total_uncorrected_errors"]),
            write_uncorrected_errors: int(&counters["write"]["total_uncorrected_errors"]),
            verify_uncorrected_errors: int(&counters["verify"]["total_uncorrected_errors"]),
        });
    }
    h.last_self_test = self_test(json);
    let (verdict, reasons) = verdict(&h, exit);
    h.verdict = verdict.into();
    h.reasons = reasons;
    h
}

/// The newest self-test of the drive's log (ATA's standard log, NVMe's log).
fn self_test(json: &Value) -> Option<SelfTest> {
    if let Some(t) = json["ata_smart_self_test_log"]["standard"]["table"].as_array().and_then(|t| t.first()) {
        return Some(SelfTest {
            kind: text(&t["type"]["string"]),
            status: text(&t["status"]["string"]),
            passed: t["status"]["passed"].as_bool(),
            power_on_hours: int(&t["lifetime_hours"]),
        });
    }
    let t = json["nvme_self_test_log"]["table"].as_array().and_then(|t| t.first())?;
    Some(SelfTest {
        kind: text(&t["self_test_code"]["string"]),
        status: text(&t["self_test_result"]["string"]),
        passed: int(&t["self_test_result"]["value"]).map(|v| v == 0),
        power_on_hours: int(&t["power_on_hours"]),
    })
}

/// `failing`, `warning` or `healthy`, and why: failing when the drive says so (its overall
/// assessment, a pre-failure attribute at its threshold now, an NVMe critical warning other
/// than temperature, spare below its threshold); a warning for what foretells failure
/// (Backblaze's attributes above zero, wear at 90 % or more, media errors, SCSI defects and
/// uncorrected errors, a failed self-test, a threshold crossed in the past, the drive at or
/// above its own temperature limit).
pub(crate) fn verdict(h: &DiskHealth, exit: u64) -> (&'static str, Vec<String>) {
    let mut failing = Vec::new();
    let mut warning = Vec::new();
    if h.smart_passed == Some(false) || exit & 8 != 0 {
        failing.push("the drive's SMART self-assessment says it is failing".to_string());
    }
    for a in &h.attributes {
        match a.when_failed.as_deref() {
            Some("now") if a.prefailure => failing.push(format!(
                "{} ({}) at or below its threshold: {} ≤ {}",
                a.name,
                a.id,
                a.value.unwrap_or(0),
                a.threshold.unwrap_or(0)
            )),
            Some("now" | "past") => warning.push(format!("{} ({}) has been at or below its threshold", a.name, a.id)),
            _ => {}
        }
        if BACKBLAZE.contains(&a.id) && a.id != 188 && a.raw.unwrap_or(0) > 0 {
            warning.push(format!("{} ({}): raw {}", a.name, a.id, a.raw.unwrap_or(0)));
        }
    }
    if let Some(n) = &h.nvme {
        let cw = n.critical_warning.unwrap_or(0);
        for (bit, what) in CRITICAL_WARNINGS.iter().enumerate().filter(|(b, _)| cw & (1 << b) != 0) {
            if bit == 1 {
                warning.push(format!("critical warning: {what}"))
            } else {
                failing.push(format!("critical warning: {what}"))
            }
        }
        if let (Some(s), Some(t)) = (n.available_spare, n.available_spare_threshold)
            && s < t
            && cw & 1 == 0
        {
            failing.push(format!("available spare {s} % below its threshold {t} %"));
        }
        if let Some(u) = n.percentage_used.filter(|u| *u >= 90) {
            warning.push(format!("worn: {u} % of its rated endurance used"));
        }
        if let Some(e) = n.media_errors.filter(|e| *e > 0) {
            warning.push(format!("{e} media errors"));
        }
    }
    if let Some(s) = &h.scsi {
        if let Some(d) = s.grown_defects.filter(|d| *d > 0) {
            warning.push(format!("{d} grown defects"));
        }
        let uncorrected = [s.read_uncorrected_errors, s.write_uncorrected_errors, s.verify_uncorrected_errors];
        let n: u64 = uncorrected.iter().flatten().sum();
        if n > 0 {
            warning.push(format!("{n} uncorrected errors"));
        }
    }
    if let Some(t) = &h.last_self_test
        && t.passed == Some(false)
    {
        warning.push(format!("last self-test: {}", t.status.as_deref().unwrap_or("failed")));
    }
    if exit & 32 != 0 && !h.attributes.iter().any(|a| a.when_failed.is_some()) {
        warning.push(EXIT_BITS[5].to_string());
    }
    if let (Some(t), Some(l)) = (h.temperature_celsius, h.temperature_limit_celsius)
        && l > 0.0
        && t >= l
    {
        warning.push(format!("{t} °C, at or above its limit of {l} °C"));
    }
    match (failing.is_empty(), warning.is_empty()) {
        (false, _) => {
            failing.extend(warning);
            ("failing", failing)
        }
        (true, false) => ("warning", warning),
        (true, true) => ("healthy", Vec::new()),
    }
}

/// The long names of the flags that are set, comma-separated (smartctl_exporter's
/// `attribute_flags_long`).
fn long_flags(flags: &Value, names: &[&str]) -> String {
    names.iter().filter(|n| flags[**n].as_bool().unwrap_or(false)).copied().collect::<Vec<_>>().join(",")
}

/// The families of smartctl_exporter's series: the same names, labels, types and values it
/// derives from the same JSON, so its dashboards and rules work unchanged.
#[derive(Default)]
pub(crate) struct Families {
    pub device: Vec<Family>,
}

impl Families {
    pub(crate) fn new() -> Families {
        let f = |name: &str, kind: Kind, help: &str| Family::new(name, kind, help);
        Families {
            device: vec![
                f("smartctl_device", Kind::Gauge, "Device info"),
                f("smartctl_device_smartctl_exit_status", Kind::Gauge, "Exit status of smartctl on device"),
                f("smartctl_device_capacity_blocks", Kind::Gauge, "Device capacity in blocks"),
                f("smartctl_device_capacity_bytes", Kind::Gauge, "Device capacity in bytes"),
                f("smartctl_device_nvme_capacity_bytes", Kind::Gauge, "NVMe device total capacity bytes"),
                f("smartctl_device_block_size", Kind::Gauge, "Device block size"),
                f("smartctl_device_interface_speed", Kind::Gauge, "Device interface speed, bits per second"),
                f("smartctl_device_attribute", Kind::Gauge, "Device attributes"),
                f("smartctl_device_power_on_seconds", Kind::Counter, "Device power on seconds"),
                f("smartctl_device_rotation_rate", Kind::Gauge, "Device rotation rate"),
                f("smartctl_device_temperature", Kind::Gauge, "Device temperature celsius"),
                f("smartctl_device_power_cycle_count", Kind::Counter, "Device power cycle count"),
                f(
                    "smartctl_device_state",
                    Kind::Gauge,
                    "Device state (0=active, 1=standby, 2=sleep, 3=dst, 4=offline, 5=sct)",
                ),
                f("smartctl_device_statistics", Kind::Gauge, "Device statistics"),
                f("smartctl_device_error_log_count", Kind::Gauge, "Device SMART error log count"),
                f("smartctl_device_self_test_log_count", Kind::Gauge, "Device SMART self test log count"),
                f("smartctl_device_self_test_log_error_count", Kind::Gauge, "Device SMART self test log error count"),
                f("smartctl_device_erc_seconds", Kind::Gauge, "Device SMART Error Recovery Control Seconds"),
                f("smartctl_device_smart_status", Kind::Gauge, "General smart status"),
                f("smartctl_device_percentage_used", Kind::Counter, "Device write percentage used"),
                f(
                    "smartctl_device_available_spare",
                    Kind::Counter,
                    "Normalized percentage (0 to 100%) of the remaining spare capacity available",
                ),
                f(
                    "smartctl_device_available_spare_threshold",
                    Kind::Counter,
                    "When the Available Spare falls below the threshold indicated in this field, an asynchronous event \
                     completion may occur. The value is indicated as a normalized percentage (0 to 100%)",
                ),
                f(
                    "smartctl_device_critical_warning",
                    Kind::Counter,
                    "This field indicates critical warnings for the state of the controller",
                ),
                f(
                    "smartctl_device_media_errors",
                    Kind::Counter,
                    "Contains the number of occurrences where the controller detected an unrecovered data integrity \
                     error. Errors such as uncorrectable ECC, CRC checksum failure, or LBA tag mismatch are included in \
                     this field",
                ),
                f(
                    "smartctl_device_num_err_log_entries",
                    Kind::Counter,
                    "Contains the number of Error Information log entries over the life of the controller",
                ),
                f("smartctl_device_bytes_read", Kind::Counter, ""),
                f("smartctl_device_bytes_written", Kind::Counter, ""),
                f("smartctl_scsi_grown_defect_list", Kind::Gauge, "Device SCSI grown defect list counter"),
                f(
                    "smartctl_read_errors_corrected_by_rereads_rewrites",
                    Kind::Gauge,
                    "Read Errors Corrected by ReReads/ReWrites",
                ),
                f("smartctl_read_errors_corrected_by_eccfast", Kind::Gauge, "Read Errors Corrected by ECC Fast"),
                f("smartctl_read_errors_corrected_by_eccdelayed", Kind::Gauge, "Read Errors Corrected by ECC Delayed"),
                f("smartctl_read_total_uncorrected_errors", Kind::Gauge, "Read Total Uncorrected Errors"),
                f(
                    "smartctl_write_errors_corrected_by_rereads_rewrites",
                    Kind::Gauge,
                    "Write Errors Corrected by ReReads/ReWrites",
                ),
                f("smartctl_write_errors_corrected_by_eccfast", Kind::Gauge, "Write Errors Corrected by ECC Fast"),
                f(
                    "smartctl_write_errors_corrected_by_eccdelayed",
                    Kind::Gauge,
                    "Write Errors Corrected by ECC Delayed",
                ),
                f("smartctl_write_total_uncorrected_errors", Kind::Gauge, "Write Total Uncorrected Errors"),
            ],
        }
    }

    fn push(&mut self, name: &str, labels: Vec<(&'static str, crate::snapshot::Text)>, value: f64) {
        if let Some(f) = self.device.iter_mut().find(|f| f.name == name) {
            f.push(labels, value);
        }
    }

    /// Adds one drive's series, read from its JSON as smartctl_exporter reads it.
    pub(crate) fn drive(&mut self, json: &Value, path: &str, kind: &str) {
        let kind = json["device"]["type"].as_str().unwrap_or(kind);
        let dev = device_label(json["device"]["name"].as_str().unwrap_or(path), kind);
        let d = || label("device", dev.as_str());
        let zero = |v: &Value| num(v).unwrap_or(0.0);
        let s = |v: &Value| v.as_str().map(str::trim).unwrap_or("").to_string();
        let or_unknown = |v: &Value| match v.as_str().map(str::trim) {
            Some(t) => t.to_string(),
            None => "unknown".to_string(),
        };
        let model = match s(&json["model_name"]) {
            m if !m.is_empty() || json.get("model_name").is_some() => m,
            _ => s(&json["scsi_model_name"]),
        };
        self.push("smartctl_device_smartctl_exit_status", vec![d()], zero(&json["smartctl"]["exit_status"]));
        self.push(
            "smartctl_device",
            vec![
                d(),
                label("interface", kind),
                label("protocol", s(&json["device"]["protocol"])),
                label("model_family", or_unknown(&json["model_family"])),
                label("model_name", if model.is_empty() { "unknown".to_string() } else { model }),
                label("serial_number", s(&json["serial_number"])),
                label("ata_additional_product_id", or_unknown(&json["ata_additional_product_id"])),
                label("firmware_version", s(&json["firmware_version"])),
                label("ata_version", s(&json["ata_version"]["string"])),
                label("sata_version", s(&json["sata_version"]["string"])),
                label("form_factor", s(&json["form_factor"]["name"])),
                label("scsi_vendor", s(&json["scsi_vendor"])),
                label("scsi_product", s(&json["scsi_product"])),
                label("scsi_revision", s(&json["scsi_revision"])),
                label("scsi_version", s(&json["scsi_version"])),
            ],
            1.0,
        );
        self.push("smartctl_device_capacity_blocks", vec![d()], zero(&json["user_capacity"]["blocks"]));
        self.push("smartctl_device_capacity_bytes", vec![d()], zero(&json["user_capacity"]["bytes"]));
        if let Some(v) = json.get("nvme_total_capacity") {
            self.push("smartctl_device_nvme_capacity_bytes", vec![d()], zero(v));
        }
        for t in ["logical", "physical"] {
            let v = zero(&json[format!("{t}_block_size")]);
            self.push("smartctl_device_block_size", vec![d(), label("blocks_type", t)], v);
        }
        for t in ["max", "current"] {
            let speed = &json["interface_speed"][t];
            if speed.is_object() {
                let v = zero(&speed["units_per_second"]) * zero(&speed["bits_per_unit"]);
                self.push("smartctl_device_interface_speed", vec![d(), label("speed_type", t)], v);
            }
        }
        for a in json["ata_smart_attributes"]["table"].as_array().into_iter().flatten() {
            let flags = &a["flags"];
            let long = long_flags(
                flags,
                &["prefailure", "updated_online", "performance", "error_rate", "event_count", "auto_keep"],
            );
            for (key, v) in
                [("value", &a["value"]), ("worst", &a["worst"]), ("thresh", &a["thresh"]), ("raw", &a["raw"]["value"])]
            {
                self.push(
                    "smartctl_device_attribute",
                    vec![
                        d(),
                        label("attribute_name", s(&a["name"])),
                        label("attribute_flags_short", s(&flags["string"])),
                        label("attribute_flags_long", long.as_str()),
                        label("attribute_value_type", key),
                        label("attribute_id", a["id"].to_string()),
                    ],
                    zero(v),
                );
            }
        }
        if let Some(pot) = json.get("power_on_time") {
            let v = zero(&pot["hours"]) * 3600.0 + zero(&pot["minutes"]) * 60.0;
            self.push("smartctl_device_power_on_seconds", vec![d()], v);
        }
        if let Some(r) = num(&json["rotation_rate"]).filter(|r| *r > 0.0) {
            self.push("smartctl_device_rotation_rate", vec![d()], r);
        }
        if let Some(t) = json["temperature"].as_object() {
            for (k, v) in t {
                self.push("smartctl_device_temperature", vec![d(), label("temperature_type", k.as_str())], zero(v));
            }
        }
        if let Some(v) = json
            .get("power_cycle_count")
            .or_else(|| json.get("scsi_start_stop_cycle_counter").and_then(|c| c.get("accumulated_start_stop_cycles")))
        {
            self.push("smartctl_device_power_cycle_count", vec![d()], zero(v));
        }
        if let Some(st) = json.get("ata_sct_status") {
            self.push("smartctl_device_state", vec![d()], zero(&st["device_state"]));
        }
        for page in json["ata_device_statistics"]["pages"].as_array().into_iter().flatten() {
            let table = s(&page["name"]);
            if table == "Vendor Specific Statistics" {
                continue;
            }
            for st in page["table"].as_array().into_iter().flatten() {
                let flags = &st["flags"];
                self.push(
                    "smartctl_device_statistics",
                    vec![
                        d(),
                        label("statistic_table", table.as_str()),
                        label("statistic_name", s(&st["name"])),
                        label("statistic_flags_short", s(&flags["string"])),
                        label(
                            "statistic_flags_long",
                            long_flags(flags, &["valid", "normalized", "supports_dsn", "monitored_condition_met"]),
                        ),
                    ],
                    zero(&st["value"]),
                );
            }
        }
        for st in json["sata_phy_event_counters"]["table"].as_array().into_iter().flatten() {
            self.push(
                "smartctl_device_statistics",
                vec![
                    d(),
                    label("statistic_table", "SATA PHY Event Counters"),
                    label("statistic_name", s(&st["name"])),
                    label("statistic_flags_short", "V---"),
                    label("statistic_flags_long", "valid"),
                ],
                zero(&st["value"]),
            );
        }
        for (t, log) in json["ata_smart_error_log"].as_object().into_iter().flatten() {
            self.push(
                "smartctl_device_error_log_count",
                vec![d(), label("error_log_type", t.as_str())],
                zero(&log["count"]),
            );
        }
        for (t, log) in json["ata_smart_self_test_log"].as_object().into_iter().flatten() {
            let l = || label("self_test_log_type", t.as_str());
            self.push("smartctl_device_self_test_log_count", vec![d(), l()], zero(&log["count"]));
            self.push("smartctl_device_self_test_log_error_count", vec![d(), l()], zero(&log["error_count_total"]));
        }
        for (t, erc) in json["ata_sct_erc"].as_object().into_iter().flatten() {
            self.push(
                "smartctl_device_erc_seconds",
                vec![d(), label("op_type", t.as_str())],
                zero(&erc["deciseconds"]) / 10.0,
            );
        }
        if let Some(st) = json.get("smart_status") {
            self.push("smartctl_device_smart_status", vec![d()], zero(&st["passed"]));
        }
        if kind == "nvme" {
            let log = &json["nvme_smart_health_information_log"];
            for (name, key) in [
                ("smartctl_device_percentage_used", "percentage_used"),
                ("smartctl_device_available_spare", "available_spare"),
                ("smartctl_device_available_spare_threshold", "available_spare_threshold"),
                ("smartctl_device_critical_warning", "critical_warning"),
                ("smartctl_device_media_errors", "media_errors"),
                ("smartctl_device_num_err_log_entries", "num_err_log_entries"),
            ] {
                self.push(name, vec![d()], zero(&log[key]));
            }
            for (name, key) in [
                ("smartctl_device_bytes_read", "data_units_read"),
                ("smartctl_device_bytes_written", "data_units_written"),
            ] {
                if let Some(units) = num(&log[key]).filter(|u| *u != 0.0) {
                    self.push(name, vec![d()], units * 1000.0 * 512.0);
                }
            }
        }
        if kind == "scsi" {
            if let Some(v) = json.get("scsi_grown_defect_list") {
                self.push("smartctl_scsi_grown_defect_list", vec![d()], zero(v));
            }
            let log = &json["scsi_error_counter_log"];
            if log.is_object() {
                for dir in ["read", "write"] {
                    for key in [
                        "errors_corrected_by_rereads_rewrites",
                        "errors_corrected_by_eccfast",
                        "errors_corrected_by_eccdelayed",
                        "total_uncorrected_errors",
                    ] {
                        self.push(&format!("smartctl_{dir}_{key}"), vec![d()], zero(&log[dir][key]));
                    }
                }
                self.push("smartctl_device_bytes_read", vec![d()], zero(&log["read"]["gigabytes_processed"]) * 1e9);
                self.push("smartctl_device_bytes_written", vec![d()], zero(&log["write"]["gigabytes_processed"]) * 1e9);
            }
        }
    }
}
