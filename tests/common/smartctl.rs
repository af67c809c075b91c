//! Drives for the stand-in smartctl (`tests/support/smartctl`): recorded outputs of real drives
//! (`tests/fixtures/smartctl`) served under the paths a test chooses.

use std::path::Path;

use serde_json::{Value, json};

/// The stand-in's path, for `SYSTEM_STATS_SMARTCTL`.
pub fn stand_in() -> String {
    super::repo().join("tests/support/smartctl").to_str().unwrap().to_string()
}

/// Recorded output `name` (`tests/fixtures/smartctl/<name>.json`).
pub fn fixture(name: &str) -> Value {
    let path = super::repo().join("tests/fixtures/smartctl").join(format!("{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Serves fixture `name` as `/dev/<dev>` in `dir` (its `device.name` rewritten to match).
pub fn serve(dir: &Path, dev: &str, name: &str) -> Value {
    let mut json = fixture(name);
    if json["device"].is_object() {
        json["device"]["name"] = format!("/dev/{dev}").into();
    }
    std::fs::write(dir.join(format!("{dev}.json")), serde_json::to_string_pretty(&json).unwrap()).unwrap();
    json
}

/// What `--scan-open` finds: `(device, type)` pairs.
pub fn scan(dir: &Path, devices: &[(&str, &str)]) {
    let list: Vec<Value> = devices
        .iter()
        .map(|(d, t)| json!({"name": format!("/dev/{d}"), "info_name": format!("/dev/{d}"), "type": t, "protocol": "ATA"}))
        .collect();
    let scan = json!({"json_format_version": [1, 0], "smartctl": {"version": [7, 3], "svn_revision": "5338",
        "platform_info": "x86_64-linux", "build_info": "(local build)", "exit_status": 0}, "devices": list});
    std::fs::write(dir.join("scan.json"), scan.to_string()).unwrap();
}

/// Serves each `(device, type, fixture)` and a scan that finds them all.
pub fn drives(dir: &Path, drives: &[(&str, &str, &str)]) {
    for (dev, _, name) in drives {
        serve(dir, dev, name);
    }
    let found: Vec<(&str, &str)> = drives.iter().map(|(d, t, _)| (*d, *t)).collect();
    scan(dir, &found);
}

/// The service reading the drives of `dir` through the stand-in, with `extra` settings.
pub fn service(dir: &Path, extra: &[(&str, &str)]) -> super::Service {
    let stand_in = stand_in();
    let mut envs = vec![("SYSTEM_STATS_SMARTCTL", stand_in.as_str()), ("SMARTCTL_FIXTURES", dir.to_str().unwrap())];
    envs.extend_from_slice(extra);
    super::Service::start(&envs)
}

/// Polls `/system` until `done` holds for its `disk_health` (20 s at most); the list.
pub fn wait_health(s: &super::Service, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let v = s.json("/system");
        if let Some(list) = v["disk_health"].as_array()
            && done(list)
        {
            return list.clone();
        }
        assert!(std::time::Instant::now() < deadline, "{what} within 20 s: disk_health is {}", v["disk_health"]);
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
