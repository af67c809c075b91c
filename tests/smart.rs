//! Drive health: the real service reads recorded outputs of real drives through a stand-in
//! smartctl (`tests/support/smartctl`, on `SYSTEM_STATS_SMARTCTL`): `/system`'s `disk_health`,
//! smartctl_exporter's series on `/metrics`, the stock alerts; and the real smartctl
//! (Debian's smartmontools) on this machine's virtual disk.

mod common;

use std::time::{Duration, Instant};

use common::smartctl::{scan, serve, stand_in, wait_health};
use common::{Service, clean_command, service_bin};
use serde_json::{Value, json};

fn drive<'a>(list: &'a [Value], device: &str) -> &'a Value {
    list.iter().find(|d| d["device"] == device).unwrap_or_else(|| panic!("no {device} in {list:?}"))
}

/// Every kind of drive, and each way smartctl fails, through the real service.
#[test]
fn every_kind_of_drive_and_every_failure() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let hdd = serve(d, "sda", "ata_hdd_reallocated");
    let red = serve(d, "sdb", "ata_hdd_wd_red");
    serve(d, "sdc", "ata_standby");
    let nvme = serve(d, "nvme0", "nvme_failing");
    let sas = serve(d, "sdd", "sas_hitachi");
    serve(d, "vda", "virtio_unreadable");
    std::fs::write(d.join("sde.fail"), "Smartctl open device: /dev/sde failed: Permission denied\n").unwrap();
    std::fs::write(d.join("sdf.sleep"), "30").unwrap();
    std::fs::write(d.join("sdf.json"), "{}").unwrap();
    let devices = [
        ("sda", "sat"),
        ("sdb", "sat"),
        ("sdc", "sat"),
        ("nvme0", "nvme"),
        ("sdd", "scsi"),
        ("vda", "auto"),
        ("sde", "sat"),
        ("sdf", "sat"),
    ];
    scan(d, &devices);
    let s =
        common::smartctl::service(d, &[("SYSTEM_STATS_SMART_TIMEOUT", "1"), ("SYSTEM_STATS_SAMPLE_INTERVAL", "0.2")]);
    let list = wait_health(&s, "all 8 drives read", |l| l.len() == 8);

    let sda = drive(&list, "sda");
    assert_eq!(sda["verdict"], "warning");
    assert_eq!(sda["reasons"], json!(["Reallocated_Sector_Ct (5): raw 304"]));
    assert_eq!(sda["path"], "/dev/sda");
    assert_eq!(sda["type"], "sat");
    assert_eq!(sda["serial_number"], hdd["serial_number"]);
    assert_eq!(sda["model"], hdd["model_name"]);
    assert_eq!(sda["power_on_hours"], hdd["power_on_time"]["hours"]);
    assert_eq!(sda["temperature_celsius"].as_f64(), hdd["temperature"]["current"].as_f64());
    assert_eq!(
        sda["attributes"].as_array().unwrap().len(),
        hdd["ata_smart_attributes"]["table"].as_array().unwrap().len()
    );
    let drive_b = drive(&list, "sdb");
    assert_eq!(drive_b["verdict"], "healthy");
    assert_eq!(drive_b["rotation_rate"], red["rotation_rate"]);
    assert_eq!(drive_b["capacity_bytes"], red["user_capacity"]["bytes"]);
    assert_eq!(drive(&list, "sdc")["verdict"], "asleep");
    let nv = drive(&list, "nvme0");
    assert_eq!(nv["verdict"], "failing");
    assert_eq!(nv["smart_passed"], false);
    assert_eq!(nv["nvme"]["critical_warning"], nvme["nvme_smart_health_information_log"]["critical_warning"]);
    assert_eq!(nv["smartctl_exit_status"], 8);
    let sdd = drive(&list, "sdd");
    assert_eq!(sdd["verdict"], "healthy");
    assert_eq!(sdd["scsi"]["grown_defects"], sas["scsi_grown_defect_list"]);
    let vda = drive(&list, "vda");
    assert_eq!(
        (vda["verdict"].as_str(), vda["error"].as_str()),
        (Some("unknown"), Some("/dev/vda: Unable to detect device type"))
    );
    let sde = drive(&list, "sde");
    assert_eq!(sde["verdict"], "unknown");
    let err = sde["error"].as_str().unwrap();
    assert!(
        err.contains("printed no JSON")
            && err.contains("exited with code 1: Smartctl open device: /dev/sde failed: Permission denied"),
        "{err}"
    );
    let sdf = drive(&list, "sdf");
    assert!(sdf["error"].as_str().unwrap().ends_with("did not finish within 1 s"), "{sdf}");

    // smartctl_exporter's series
    let metrics = s.get("/metrics").body;
    for line in [
        "smartctl_devices 8",
        "smartctl_device_critical_warning{device=\"nvme0\"} 16",
        "smartctl_device_smart_status{device=\"nvme0\"} 0",
        "smartctl_device_smart_status{device=\"sda\"} 1",
        "smartctl_device_smartctl_exit_status{device=\"nvme0\"} 8",
        "smartctl_scsi_grown_defect_list{device=\"sdd\"} 0",
        "smartctl_version{json_format_version=\"1.0\",smartctl_version=\"7.3\",svn_revision=\"5338\",build_info=\"(local build)\"} 1",
    ] {
        assert!(metrics.lines().any(|l| l == line), "no {line:?} in /metrics");
    }
    let reallocated = metrics
        .lines()
        .find(|l| {
            l.starts_with("smartctl_device_attribute{device=\"sda\",attribute_name=\"Reallocated_Sector_Ct\"")
                && l.contains("attribute_value_type=\"raw\"")
        })
        .unwrap();
    assert!(reallocated.ends_with(" 304"), "{reallocated}");
    // a drive asleep or unreadable has no series
    let smart: Vec<&str> = metrics.lines().filter(|l| l.starts_with("smartctl_")).collect();
    assert!(!smart.iter().any(|l| l.contains("device=\"sdc\"") || l.contains("device=\"vda\"")), "{smart:?}");

    // the stock rules: the failing NVMe drive fires at once, as does its critical warning
    let alerts = s.json("/system")["alerts"].clone();
    let firing: Vec<(&str, &str)> = alerts
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["labels"]["device"] == "nvme0")
        .map(|a| (a["name"].as_str().unwrap(), a["state"].as_str().unwrap()))
        .collect();
    assert!(firing.contains(&("DiskHealthFailing", "firing")), "{alerts}");
    assert!(firing.contains(&("DiskNvmeCriticalWarning", "firing")), "{alerts}");
    assert!(
        metrics.contains(
            "ALERTS{alertname=\"DiskHealthFailing\",alertstate=\"firing\",severity=\"critical\",device=\"nvme0\""
        ),
        "{metrics}"
    );

    // each failure said once (the drives are read once here), at its level
    assert_eq!(s.run.lines_with("drive /dev/sde cannot be read").len(), 1);
    assert_eq!(s.run.lines_with("drive /dev/nvme0 is failing").len(), 1);
    assert!(s.run.lines_with("drive /dev/nvme0 is failing")[0].contains("ERROR"));
}

/// A drive that gains reallocated sectors between two readings fires the growth alert, and a
/// drive gone from the scan leaves the list; an error said once however often it recurs.
#[test]
fn bad_sectors_growing_fire_and_a_recurring_error_is_said_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut red = serve(d, "sdb", "ata_hdd_wd_red");
    serve(d, "vda", "virtio_unreadable");
    scan(d, &[("sdb", "sat"), ("vda", "auto")]);
    let s =
        common::smartctl::service(d, &[("SYSTEM_STATS_SMART_INTERVAL", "5s"), ("SYSTEM_STATS_SAMPLE_INTERVAL", "0.5")]);
    wait_health(&s, "sdb healthy", |l| l.iter().any(|d| d["device"] == "sdb" && d["verdict"] == "healthy"));
    for a in red["ata_smart_attributes"]["table"].as_array_mut().unwrap() {
        if a["id"] == 197 {
            a["raw"]["value"] = 8.into();
            a["raw"]["string"] = "8".into();
        }
    }
    std::fs::write(d.join("sdb.json"), serde_json::to_string_pretty(&red).unwrap()).unwrap();
    let list = wait_health(&s, "sdb's pending sectors read", |l| {
        l.iter().any(|d| d["device"] == "sdb" && d["verdict"] == "warning")
    });
    assert_eq!(drive(&list, "sdb")["reasons"], json!(["Current_Pending_Sector (197): raw 8"]));
    let alerts = s.json("/system")["alerts"].clone();
    let growing = alerts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "DiskBadSectorsGrowing")
        .unwrap_or_else(|| panic!("{alerts}"));
    assert_eq!(growing["value"], 8.0);
    assert_eq!(growing["labels"]["device"], "sdb");
    // vda was read at least twice: its error said once
    let calls = std::fs::read_to_string(d.join("calls.log")).unwrap();
    assert!(calls.lines().filter(|l| l.ends_with("/dev/vda")).count() >= 2, "{calls}");
    assert_eq!(s.run.lines_with("drive /dev/vda cannot be read").len(), 1);
    // every reading asks smartctl not to wake the drive
    assert!(
        calls
            .lines()
            .filter(|l| l.ends_with("/dev/sdb"))
            .all(|l| l.contains("--nocheck=standby") && l.contains("--json")),
        "{calls}"
    );
    // sdb goes to standby, then wakes with the same pending sectors: asleep meanwhile, with
    // what it said awake, and nothing said again
    let awake = std::fs::read_to_string(d.join("sdb.json")).unwrap();
    serve(d, "sdb", "ata_standby");
    let list = wait_health(&s, "sdb asleep", |l| l.iter().any(|d| d["device"] == "sdb" && d["verdict"] == "asleep"));
    let asleep = drive(&list, "sdb");
    assert_eq!(asleep["reasons"], json!(["in standby: not woken to be read", "Current_Pending_Sector (197): raw 8"]));
    assert_eq!(asleep["serial_number"], red["serial_number"]);
    std::fs::write(d.join("sdb.json"), awake).unwrap();
    wait_health(&s, "sdb awake", |l| l.iter().any(|d| d["device"] == "sdb" && d["verdict"] == "warning"));
    assert_eq!(s.run.lines_with("drive /dev/sdb: Current_Pending_Sector").len(), 1, "{}", s.run.log());
    // sdb is gone from the next scan: it leaves the list
    scan(d, &[("vda", "auto")]);
    wait_health(&s, "sdb gone", |l| l.len() == 1 && l[0]["device"] == "vda");
}

/// Without smartctl the family says so once and `disk_health` is `null`; a path that is not a
/// program is refused at the start; the real smartctl on this VM's virtio disk finds no drive,
/// which is no error.
#[test]
fn without_smartctl_and_with_the_real_one() {
    let s = Service::start(&[("SYSTEM_STATS_SMARTCTL", "no-such-smartctl"), ("SYSTEM_STATS_SAMPLE_INTERVAL", "0.2")]);
    s.run.wait_for_line("no-such-smartctl is not installed");
    assert!(s.json("/system")["disk_health"].is_null());
    assert!(!s.get("/metrics").body.contains("smartctl_"));
    assert_eq!(s.run.lines_with("no-such-smartctl").len(), 1);
    assert_eq!(s.run.lines_with("WARN").len(), 0, "{}", s.run.log());

    let out = clean_command(service_bin()).env("SYSTEM_STATS_SMARTCTL", "/nonexistent/smartctl").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("SYSTEM_STATS_SMARTCTL") && stderr.contains("/nonexistent/smartctl"), "{stderr}");

    if !common::available("smartctl", "--version") {
        return;
    }
    let s = Service::start(&[("SYSTEM_STATS_SAMPLE_INTERVAL", "0.2")]);
    let on_vm = std::fs::read_dir("/sys/block").unwrap().flatten().all(|e| {
        let n = e.file_name().to_string_lossy().to_string();
        !(n.starts_with("sd") || n.starts_with("nvme") || n.starts_with("hd"))
    });
    if on_vm {
        s.run.wait_for_line("smartctl --scan-open found no drive it can read");
        wait_health(&s, "an empty list", |l| l.is_empty());
        // the sample /metrics reads may be one taken before the scan ended
        let deadline = Instant::now() + Duration::from_secs(10);
        while !s.get("/metrics").body.lines().any(|l| l == "smartctl_devices 0") {
            assert!(Instant::now() < deadline, "no smartctl_devices 0 on /metrics");
            std::thread::sleep(Duration::from_millis(200));
        }
        assert_eq!(s.run.lines_with("WARN").len(), 0, "{}", s.run.log());
    }
}

/// smartctl_exporter (prometheus-community, 0.14: Debian's prometheus-smartctl-exporter, which
/// scripts/test fetches into target/tools) and the service read the same recorded drives
/// through the stand-in smartctl: every `smartctl_*` series and type the exporter serves, we
/// serve with the same labels and value, and no other.
#[test]
fn our_series_are_smartctl_exporters() {
    let exporter = std::env::var("SMARTCTL_EXPORTER")
        .ok()
        .or_else(|| {
            let t = common::repo().join("target/tools/smartctl_exporter");
            t.exists().then(|| t.to_str().unwrap().to_string())
        })
        .unwrap_or_else(|| "smartctl_exporter".into());
    if !common::available(&exporter, "--version") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let drives = [
        ("sda", "sat", "ata_hdd_reallocated"),
        ("sdb", "sat", "ata_hdd_wd_red"),
        ("sdc", "sat", "ata_ssd_samsung"),
        ("nvme0", "nvme", "nvme_samsung_970"),
        ("nvme1", "nvme", "nvme_failing"),
        ("sdd", "scsi", "sas_hitachi"),
    ];
    common::smartctl::drives(d, &drives);
    let port = common::free_port();
    let mut cmd = std::process::Command::new(&exporter);
    cmd.args([
        &format!("--smartctl.path={}", stand_in()),
        &format!("--web.listen-address=127.0.0.1:{port}"),
        "--smartctl.interval=1s",
    ])
    .env("SMARTCTL_FIXTURES", d);
    let _exporter = common::Running::spawn(cmd);
    common::wait_http(&format!("127.0.0.1:{port}"), "/metrics");
    let s = common::smartctl::service(d, &[]);
    wait_health(&s, "the six drives read", |l| l.len() == drives.len());

    // name{labels, sorted} -> value, and name -> type, of the smartctl_* series
    type Series = std::collections::BTreeMap<String, f64>;
    let parse = |text: &str| -> (Series, std::collections::BTreeMap<String, String>) {
        let (mut series, mut types) = (Series::new(), std::collections::BTreeMap::new());
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE smartctl_") {
                let (name, kind) = rest.split_once(' ').unwrap();
                types.insert(format!("smartctl_{name}"), kind.to_string());
            }
            // smartctl_version comes from the first drive's JSON there, from the scan's here;
            // smartctl_exporter_* are the exporter's own
            if !line.starts_with("smartctl_")
                || line.starts_with("smartctl_version")
                || line.starts_with("smartctl_exporter_")
            {
                continue;
            }
            let (key, value) = line.rsplit_once(' ').unwrap();
            let (name, labels) = key.split_once('{').unwrap_or((key, "}"));
            let mut pairs: Vec<&str> = labels.trim_end_matches('}').split("\",").filter(|p| !p.is_empty()).collect();
            pairs.sort();
            let labels: Vec<String> = pairs.iter().map(|p| p.trim_end_matches('"').to_string() + "\"").collect();
            series.insert(format!("{name}{{{}}}", labels.join(",")), value.parse().unwrap());
        }
        types.retain(|k, _| k != "smartctl_version" && !k.starts_with("smartctl_exporter_"));
        (series, types)
    };
    // the exporter reads its drives in the background: until it has all six
    let deadline = Instant::now() + Duration::from_secs(20);
    let (theirs, their_types) = loop {
        let body = common::request(format!("127.0.0.1:{port}").parse().unwrap(), "GET", "/metrics").body;
        let parsed = parse(&body);
        if parsed.0.get("smartctl_devices{}") == Some(&6.0)
            && parsed.0.keys().filter(|k| k.starts_with("smartctl_device_smart_status{")).count() == 6
        {
            break parsed;
        }
        assert!(Instant::now() < deadline, "smartctl_exporter did not read the six drives:\n{body}");
        std::thread::sleep(Duration::from_millis(300));
    };
    let (ours, our_types) = parse(&s.get("/metrics").body);
    let missing: Vec<&String> = theirs.keys().filter(|k| !ours.contains_key(*k)).collect();
    let extra: Vec<&String> = ours.keys().filter(|k| !theirs.contains_key(*k)).collect();
    let differ: Vec<String> = theirs
        .iter()
        .filter_map(|(k, v)| {
            ours.get(k).filter(|o| (*o - v).abs() > v.abs() * 1e-12).map(|o| format!("{k}: {v} vs {o}"))
        })
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty() && differ.is_empty(),
        "missing: {missing:#?}\nextra: {extra:#?}\ndiffer: {differ:#?}"
    );
    assert!(theirs.len() > 300, "{}", theirs.len());
    assert_eq!(our_types, their_types);
}

/// The privileged reader and the unprivileged service: `--read-drives DIR` runs smartctl and
/// writes its outputs into DIR; a service on `SYSTEM_STATS_SMART_DIRECTORY=DIR` reads them
/// without ever running smartctl, follows each new reading, a drive gone and a reading
/// grown stale, and says `null` (once, at INFO) while the directory holds nothing.
#[test]
fn a_privileged_reader_fills_a_directory_the_service_reads() {
    let fixtures = tempfile::tempdir().unwrap();
    let f = fixtures.path();
    let out = tempfile::tempdir().unwrap();
    let o = out.path();
    let red = serve(f, "sda", "ata_hdd_wd_red");
    serve(f, "nvme0", "nvme_failing");
    std::fs::write(f.join("sdb.fail"), "Smartctl open device: /dev/sdb failed: Permission denied\n").unwrap();
    scan(f, &[("sda", "sat"), ("nvme0", "nvme"), ("sdb", "sat")]);
    let read = || {
        clean_command(service_bin())
            .arg("--read-drives")
            .arg(o)
            .env("SYSTEM_STATS_SMARTCTL", stand_in())
            .env("SMARTCTL_FIXTURES", f)
            .output()
            .unwrap()
    };
    let calls = || std::fs::read_to_string(f.join("calls.log")).unwrap_or_default().lines().count();

    // the service first, on an empty directory: null, said once, no warning
    let s = Service::start(&[
        ("SYSTEM_STATS_SMART_DIRECTORY", o.to_str().unwrap()),
        ("SYSTEM_STATS_SMARTCTL", &stand_in()),
        ("SMARTCTL_FIXTURES", f.to_str().unwrap()),
        ("SYSTEM_STATS_SMART_INTERVAL", "5s"),
        ("SYSTEM_STATS_SAMPLE_INTERVAL", "0.2"),
    ]);
    s.run.wait_for_line("no drive readings in");
    assert!(s.json("/system")["disk_health"].is_null());
    assert!(!s.get("/metrics").body.contains("smartctl_"));

    // the reader: a line per drive, smartctl's outputs as they were printed
    let done = read();
    let stdout = String::from_utf8_lossy(&done.stdout);
    assert!(done.status.success(), "{stdout}{}", String::from_utf8_lossy(&done.stderr));
    assert!(stdout.contains("/dev/sda: read\n") && stdout.contains("/dev/nvme0: read\n"), "{stdout}");
    assert!(stdout.contains("/dev/sdb: not read: ") && stdout.contains("Permission denied"), "{stdout}");
    let written: Value = serde_json::from_str(&std::fs::read_to_string(o.join("sda.json")).unwrap()).unwrap();
    assert_eq!(written, red);
    assert!(std::fs::read_to_string(o.join("sdb.error")).unwrap().contains("Permission denied"));
    let mut names: Vec<String> =
        std::fs::read_dir(o).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names, ["nvme0.json", "scan.json", "sda.json", "sdb.error"]);
    let read_by_reader = calls();

    let list = wait_health(&s, "3 drives from the directory", |l| l.len() == 3);
    let sda = drive(&list, "sda");
    assert_eq!(sda["verdict"], "healthy");
    assert_eq!(sda["serial_number"], red["serial_number"]);
    assert_eq!(sda["power_on_hours"], red["power_on_time"]["hours"]);
    let mtime = std::fs::metadata(o.join("sda.json")).unwrap().modified().unwrap();
    let mtime = chrono::DateTime::<chrono::Utc>::from(mtime).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert_eq!(sda["checked_at"], mtime.as_str(), "checked_at is when the reader read it");
    assert_eq!(drive(&list, "nvme0")["verdict"], "failing");
    let sdb = drive(&list, "sdb");
    assert_eq!(sdb["verdict"], "unknown");
    assert!(sdb["error"].as_str().unwrap().contains("Permission denied"), "{sdb}");
    let metrics = s.get("/metrics").body;
    assert!(metrics.contains("smartctl_device_smart_status{device=\"nvme0\"} 0"), "{metrics}");
    assert!(metrics.contains("smartctl_devices 3"), "{metrics}");
    s.run.wait_for_line("drive readings have appeared");

    // a new reading: sdb readable, sda gone; the files follow, and the service within its poll
    std::fs::remove_file(f.join("sdb.fail")).unwrap();
    serve(f, "sdb", "ata_ssd_samsung");
    scan(f, &[("nvme0", "nvme"), ("sdb", "sat")]);
    assert!(read().status.success());
    let mut names: Vec<String> =
        std::fs::read_dir(o).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names, ["nvme0.json", "scan.json", "sdb.json"]);
    let list = wait_health(&s, "sda gone, sdb read", |l| {
        l.len() == 2 && l.iter().any(|d| d["device"] == "sdb" && d["verdict"] == "healthy")
    });
    assert!(list.iter().all(|d| d["device"] != "sda"));

    // a reading three intervals old is stale: said, with what to check
    let old = std::time::SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options().write(true).open(o.join("sdb.json")).unwrap().set_modified(old).unwrap();
    let list = wait_health(&s, "sdb stale", |l| l.iter().any(|d| d["device"] == "sdb" && d["verdict"] == "unknown"));
    let error = drive(&list, "sdb")["error"].as_str().unwrap().to_string();
    assert!(error.contains("60 min old") && error.contains("system-stats-smart.timer"), "{error}");

    // the service never ran smartctl; its log has no warning but the drives' own
    assert_eq!(calls(), read_by_reader + 2 + 1, "only the reader runs smartctl");
    assert_eq!(s.run.lines_with("no drive readings in").len(), 1);
    let warnings: Vec<String> =
        s.run.lines_with("WARN").into_iter().filter(|l| !l.contains("/dev/sdb") && !l.contains("/dev/nvme0")).collect();
    assert!(warnings.is_empty(), "{warnings:?}");
}

/// `--read-drives` refuses what it cannot do, with exit 1 and a line saying what.
#[test]
fn the_reader_says_what_it_cannot_do() {
    let run = |dir: &str, smartctl: &str| {
        let out = clean_command(service_bin())
            .args(["--read-drives", dir])
            .env("SYSTEM_STATS_SMARTCTL", smartctl)
            .env("SMARTCTL_FIXTURES", "/nonexistent")
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (code, stderr) = run("/nonexistent/readings", &stand_in());
    assert_eq!(code, Some(1));
    assert!(stderr.contains("--read-drives: /nonexistent/readings is not a directory"), "{stderr}");
    let dir = tempfile::tempdir().unwrap();
    let (code, stderr) = run(dir.path().to_str().unwrap(), "no-such-smartctl");
    assert_eq!(code, Some(1));
    assert!(stderr.contains("no-such-smartctl is not installed"), "{stderr}");
    // a scan that fails writes nothing
    let (code, stderr) = run(dir.path().to_str().unwrap(), &stand_in());
    assert_eq!(code, Some(1));
    assert!(stderr.contains("--scan-open printed no JSON"), "{stderr}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
