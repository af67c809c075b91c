//! The parser on recorded outputs of real drives (`tests/fixtures/smartctl`): every value
//! checked against the JSON it came from.

use super::parse::{self, Families};
use super::*;

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/smartctl/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn read(name: &str) -> (Value, DiskHealth) {
    let json = fixture(name);
    let path = json["device"]["name"].as_str().unwrap_or("/dev/sdz").to_string();
    let h = parse::health(&path, "auto", &json, "2026-12-07T00:00:00Z".into());
    (json, h)
}

fn attribute(h: &DiskHealth, id: u64) -> &crate::snapshot::SmartAttribute {
    h.attributes.iter().find(|a| a.id == id).unwrap()
}

#[test]
fn a_healthy_hard_disk() {
    let (json, h) = read("ata_hdd_wd_red");
    assert_eq!((h.device.as_str(), h.path.as_str(), h.kind.as_str()), ("sdb", "/dev/sdb", "sat"));
    assert_eq!(h.verdict, "healthy", "{:?}", h.reasons);
    assert!(h.reasons.is_empty());
    assert_eq!(h.protocol.as_deref(), Some("ATA"));
    assert_eq!(h.model.as_deref(), json["model_name"].as_str());
    assert_eq!(h.model_family.as_deref(), json["model_family"].as_str());
    assert_eq!(h.serial_number.as_deref(), json["serial_number"].as_str());
    assert_eq!(h.firmware_version.as_deref(), json["firmware_version"].as_str());
    assert_eq!(h.capacity_bytes, json["user_capacity"]["bytes"].as_u64());
    assert_eq!(h.rotation_rate, Some(5400));
    assert_eq!(h.smart_passed, Some(true));
    assert_eq!(h.smartctl_exit_status, Some(0));
    assert_eq!(h.temperature_celsius, Some(34.0));
    assert_eq!(h.power_on_hours, Some(47657));
    assert_eq!(h.power_cycles, json["power_cycle_count"].as_u64());
    let table = json["ata_smart_attributes"]["table"].as_array().unwrap();
    assert_eq!(h.attributes.len(), table.len());
    for (a, j) in h.attributes.iter().zip(table) {
        assert_eq!(a.id, j["id"].as_u64().unwrap());
        assert_eq!(a.name, j["name"].as_str().unwrap());
        assert_eq!(a.value, j["value"].as_u64());
        assert_eq!(a.worst, j["worst"].as_u64());
        assert_eq!(a.threshold, j["thresh"].as_u64());
        assert_eq!(a.raw, j["raw"]["value"].as_u64());
        assert_eq!(a.prefailure, j["flags"]["prefailure"].as_bool().unwrap());
    }
    assert!(attribute(&h, 1).prefailure && !attribute(&h, 9).prefailure);
    assert_eq!(h.nvme, None);
    assert_eq!(h.scsi, None);
}

#[test]
fn reallocated_sectors_are_a_warning_that_names_them() {
    let (_, h) = read("ata_hdd_reallocated");
    assert_eq!(h.verdict, "warning");
    assert_eq!(h.reasons, vec!["Reallocated_Sector_Ct (5): raw 304".to_string()]);
    assert_eq!(attribute(&h, 5).raw, Some(304));
}

#[test]
fn nvme_health() {
    let (json, h) = read("nvme_samsung_970");
    let log = &json["nvme_smart_health_information_log"];
    assert_eq!(h.verdict, "healthy");
    assert_eq!(h.device, "nvme0");
    let n = h.nvme.as_ref().unwrap();
    assert_eq!(n.critical_warning, Some(0));
    assert_eq!(n.available_spare, Some(100));
    assert_eq!(n.available_spare_threshold, Some(10));
    assert_eq!(n.percentage_used, Some(0));
    assert_eq!(n.media_errors, Some(0));
    assert_eq!(n.error_log_entries, Some(22));
    assert_eq!(n.unsafe_shutdowns, Some(12));
    assert_eq!(n.data_read_bytes, Some(log["data_units_read"].as_u64().unwrap() * 512_000));
    assert_eq!(n.data_written_bytes, Some(1_969_459 * 512_000));
    assert_eq!(h.capacity_bytes, json["nvme_total_capacity"].as_u64());
    assert_eq!(h.power_on_hours, Some(3149));
    assert!(h.attributes.is_empty());
}

/// smartctl 7.5 and later put an NVMe drive's warning composite temperature (WCTEMP, from its
/// identify data) in `temperature.op_limit_max` and its critical one (CCTEMP) in
/// `critical_limit_max` (smartmontools' nvmeprint.cpp); 7.3 and 7.4 print them only as text.
/// The warning one is the drive's limit, as SCT's is for ATA drives.
#[test]
fn an_nvme_drives_own_temperature_limit() {
    let mut json = fixture("nvme_samsung_970");
    let h = parse::health("/dev/nvme0", "nvme", &json, String::new());
    assert_eq!(h.temperature_limit_celsius, None, "the recorded drive (smartctl 7.x before 7.5) has none");
    let current = json["temperature"]["current"].as_f64().unwrap();
    json["temperature"]["op_limit_max"] = (current as i64).into();
    json["temperature"]["critical_limit_max"] = (current as i64 + 3).into();
    json["nvme_composite_temperature_threshold"] =
        serde_json::json!({"warning": current as i64, "critical": current as i64 + 3});
    let h = parse::health("/dev/nvme0", "nvme", &json, String::new());
    assert_eq!(h.temperature_limit_celsius, Some(current));
    assert_eq!(h.verdict, "warning");
    assert_eq!(h.reasons, vec![format!("{current} °C, at or above its limit of {current} °C")]);
}

#[test]
fn a_failing_nvme_drive_says_why() {
    let (_, h) = read("nvme_failing");
    assert_eq!(h.verdict, "failing");
    assert_eq!(
        h.reasons,
        vec![
            "the drive's SMART self-assessment says it is failing".to_string(),
            "critical warning: volatile memory backup failed".to_string()
        ]
    );
    assert_eq!(h.smartctl_exit_status, Some(8));
    assert_eq!(h.smartctl_exit_bits, vec![parse::EXIT_BITS[3].to_string()]);
    assert_eq!(h.nvme.as_ref().unwrap().critical_warning, Some(16));
}

#[test]
fn sas_counters() {
    let (json, h) = read("sas_hitachi");
    assert_eq!(h.verdict, "healthy", "{:?}", h.reasons);
    assert_eq!(h.model.as_deref(), json["scsi_model_name"].as_str());
    let s = h.scsi.as_ref().unwrap();
    assert_eq!(s.grown_defects, Some(0));
    assert_eq!(s.read_uncorrected_errors, Some(0));
    assert_eq!(h.temperature_limit_celsius, Some(85.0));
    assert_eq!(h.power_cycles, json["scsi_start_stop_cycle_counter"]["accumulated_start_stop_cycles"].as_u64());
    // what a grown defect makes of it
    let mut worse = json.clone();
    worse["scsi_grown_defect_list"] = 12.into();
    worse["scsi_error_counter_log"]["read"]["total_uncorrected_errors"] = 3.into();
    let h = parse::health("/dev/sdb", "scsi", &worse, String::new());
    assert_eq!(h.verdict, "warning");
    assert_eq!(h.reasons, vec!["12 grown defects".to_string(), "3 uncorrected errors".to_string()]);
}

#[test]
fn asleep_and_unreadable() {
    let (_, h) = read("ata_standby");
    assert_eq!(h.verdict, "asleep");
    assert!(parse::asleep(&fixture("ata_standby")));
    assert_eq!(h.error, None);
    let json = fixture("virtio_unreadable");
    let h = parse::health("/dev/vda", "auto", &json, String::new());
    assert_eq!(h.verdict, "unknown");
    assert_eq!(h.error.as_deref(), Some("/dev/vda: Unable to detect device type"));
    assert_eq!(h.device, "vda");
    let denied = serde_json::json!({"smartctl": {"exit_status": 2, "messages": [
        {"string": "Smartctl open device: /dev/sda failed: Permission denied", "severity": "error"}]}});
    let h = parse::health("/dev/sda", "sat", &denied, String::new());
    assert!(h.error.as_deref().unwrap().contains("needs root, or CAP_SYS_RAWIO"), "{:?}", h.error);
}

/// What else turns the verdict: a failed self-test, wear, temperature at the drive's limit, a
/// pre-failure attribute at its threshold now.
#[test]
fn what_else_turns_the_verdict() {
    let mut json = fixture("ata_hdd_wd_red");
    json["ata_smart_self_test_log"] = serde_json::json!({"standard": {"revision": 1, "table": [
        {"type": {"value": 2, "string": "Extended offline"},
         "status": {"value": 121, "string": "Completed: read failure", "remaining_percent": 10, "passed": false},
         "lifetime_hours": 47600, "lba": 123456}], "count": 1, "error_count_total": 1, "error_count_outdated": 0}});
    json["temperature"]["op_limit_max"] = 34.into();
    let h = parse::health("/dev/sdb", "sat", &json, String::new());
    let t = h.last_self_test.as_ref().unwrap();
    assert_eq!((t.kind.as_deref(), t.passed, t.power_on_hours), (Some("Extended offline"), Some(false), Some(47600)));
    assert_eq!(h.verdict, "warning");
    assert_eq!(
        h.reasons,
        vec![
            "last self-test: Completed: read failure".to_string(),
            "34 °C, at or above its limit of 34 °C".to_string()
        ]
    );
    let table = json["ata_smart_attributes"]["table"].as_array_mut().unwrap();
    let first = &mut table[0];
    first["when_failed"] = "now".into();
    let h = parse::health("/dev/sdb", "sat", &json, String::new());
    assert_eq!(h.verdict, "failing");
    assert!(h.reasons[0].starts_with("Raw_Read_Error_Rate (1) at or below its threshold"), "{:?}", h.reasons);

    let mut nvme = fixture("nvme_samsung_970");
    nvme["nvme_smart_health_information_log"]["percentage_used"] = 93.into();
    nvme["nvme_smart_health_information_log"]["available_spare"] = 5.into();
    let h = parse::health("/dev/nvme0", "nvme", &nvme, String::new());
    assert_eq!(h.verdict, "failing");
    assert_eq!(
        h.reasons,
        vec![
            "available spare 5 % below its threshold 10 %".to_string(),
            "worn: 93 % of its rated endurance used".to_string()
        ]
    );
}

#[test]
fn device_labels_as_smartctl_exporter_makes_them() {
    assert_eq!(parse::device_label("/dev/sda", "sat"), "sda");
    assert_eq!(parse::device_label("/dev/nvme0", "nvme"), "nvme0");
    assert_eq!(parse::device_label("/dev/bus/0", "megaraid,1"), "bus_0_megaraid_1");
    assert_eq!(parse::device_label("/dev/disk/by-id/ata-X", "sat"), "ata-X");
    assert_eq!(parse::device_label("disk0", "nvme"), "disk0");
}

#[test]
fn scans() {
    let json = serde_json::json!({"devices": [
        {"name": "/dev/sdb", "info_name": "/dev/sdb [SAT]", "type": "sat", "protocol": "ATA"},
        {"name": "/dev/nvme0", "info_name": "/dev/nvme0", "type": "nvme", "protocol": "NVMe"},
        {"name": "/dev/sda", "info_name": "/dev/sda", "type": "scsi", "protocol": "SCSI", "open_error": "Permission denied"}]});
    let found = parse_scan(&json);
    let paths: Vec<&str> = found.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["/dev/nvme0", "/dev/sda", "/dev/sdb"]);
    assert_eq!(found[2].kind, "sat");
    assert!(parse_scan(&fixture("virtio_unreadable")).is_empty());
}

fn series(name: &str) -> Vec<Family> {
    let json = fixture(name);
    let mut f = Families::new();
    f.drive(&json, "/dev/ignored", "auto");
    f.device.into_iter().filter(|f| !f.samples.is_empty()).collect()
}

fn value(families: &[Family], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let f = families.iter().find(|f| f.name == name)?;
    f.samples
        .iter()
        .find(|s| labels.iter().all(|(k, v)| s.labels.iter().any(|(lk, lv)| &**lk == *k && &**lv == *v)))
        .map(|s| s.value)
}

/// smartctl_exporter's series from the same JSON: names, labels and values.
#[test]
fn series_as_smartctl_exporter_names_them() {
    let f = series("ata_hdd_reallocated");
    let d = ("device", "sda");
    assert_eq!(value(&f, "smartctl_device_smart_status", &[d]), Some(1.0));
    assert_eq!(value(&f, "smartctl_device_power_on_seconds", &[d]), Some(44668.0 * 3600.0));
    assert_eq!(value(&f, "smartctl_device_temperature", &[d, ("temperature_type", "current")]), Some(33.0));
    let raw = [d, ("attribute_name", "Reallocated_Sector_Ct"), ("attribute_value_type", "raw"), ("attribute_id", "5")];
    assert_eq!(value(&f, "smartctl_device_attribute", &raw), Some(304.0));
    let flags = [
        ("attribute_id", "5"),
        ("attribute_flags_short", "PO--CK"),
        ("attribute_flags_long", "prefailure,updated_online,event_count,auto_keep"),
    ];
    assert!(value(&f, "smartctl_device_attribute", &flags).is_some());
    assert_eq!(value(&f, "smartctl_device_rotation_rate", &[d]), Some(7200.0));
    let info = [d, ("interface", "sat"), ("protocol", "ATA"), ("model_name", "ST3500418AS")];
    assert_eq!(value(&f, "smartctl_device", &info), Some(1.0));
    assert_eq!(value(&f, "smartctl_device_block_size", &[d, ("blocks_type", "logical")]), Some(512.0));
    assert_eq!(value(&f, "smartctl_device_percentage_used", &[d]), None);

    let f = series("nvme_failing");
    let d = ("device", "nvme0");
    assert_eq!(value(&f, "smartctl_device_smart_status", &[d]), Some(0.0));
    assert_eq!(value(&f, "smartctl_device_critical_warning", &[d]), Some(16.0));
    assert_eq!(value(&f, "smartctl_device_smartctl_exit_status", &[d]), Some(8.0));
    assert_eq!(value(&f, "smartctl_device_bytes_read", &[d]), Some(146_935_678.0 * 512_000.0));
    assert_eq!(value(&f, "smartctl_device_available_spare_threshold", &[d]), Some(10.0));

    let f = series("sas_hitachi");
    let d = ("device", "sdb");
    assert_eq!(value(&f, "smartctl_device_bytes_read", &[d]), Some(162_438.759e9));
    assert_eq!(value(&f, "smartctl_read_errors_corrected_by_eccdelayed", &[d]), Some(40247.0));
    assert_eq!(value(&f, "smartctl_scsi_grown_defect_list", &[d]), Some(0.0));
    assert_eq!(value(&f, "smartctl_device_temperature", &[d, ("temperature_type", "drive_trip")]), Some(85.0));
    assert_eq!(value(&f, "smartctl_device_power_on_seconds", &[d]), Some(22364.0 * 3600.0 + 52.0 * 60.0));
}

/// A drive the reader has just dropped: its files are gone before the scan that lists it is
/// read again. What it said stays, and no failure is said of it (the race CI once lost).
#[test]
fn a_drive_whose_files_the_reader_removed_says_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let source = Source::Directory { dir: dir.path().to_path_buf(), stale: None };
    let found = Found { path: "/dev/sda".into(), kind: "sat".into() };
    let text = serde_json::to_string(&fixture("ata_hdd_wd_red")).unwrap();
    std::fs::write(dir.path().join("sda.json"), text).unwrap();
    let state = Mutex::new(Drive::default());
    read_drive(&source, &found, Duration::from_secs(1), &state);
    assert_eq!(state.locked().health.as_ref().unwrap().verdict, "healthy");
    std::fs::remove_file(dir.path().join("sda.json")).unwrap();
    read_drive(&source, &found, Duration::from_secs(1), &state);
    let d = state.locked();
    assert_eq!(d.health.as_ref().unwrap().verdict, "healthy");
    assert_eq!(d.said, None, "a failure was said of a drive being dropped");
}
