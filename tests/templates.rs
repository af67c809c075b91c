//! The daemon templates under `service/`: the systemd unit passes `systemd-analyze verify`
//! with its hardening scored, the launchd property list parses and runs our binary, and every
//! variable they set is one the programs read.

mod common;

use std::process::Command;

fn strict() -> bool {
    std::env::var_os("SYSTEM_STATS_TEST_STRICT").is_some()
}

fn tool_missing(name: &str) -> bool {
    let missing = Command::new(name).arg("--version").output().is_err();
    if missing {
        assert!(!strict(), "{name} is required (SYSTEM_STATS_TEST_STRICT is set)");
        eprintln!("SKIPPED: {name} is not installed");
    }
    missing
}

/// `ExecStart` pointed at the freshly built binary, then verified and scored by systemd.
fn verify_unit(file: &str, bin: &str) {
    if tool_missing("systemd-analyze") {
        return;
    }
    let unit = std::fs::read_to_string(common::repo().join("service/systemd").join(file)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(file);
    std::fs::write(&path, unit.replace(&format!("/usr/local/bin/{}", bin_name(bin)), bin)).unwrap();
    let out = Command::new("systemd-analyze").arg("verify").arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.trim().is_empty(), "systemd-analyze verify {file}:\n{stderr}");

    let out = Command::new("systemd-analyze").args(["security", "--offline=yes"]).arg(&path).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let score: f64 = text
        .lines()
        .find_map(|l| l.split("exposure level for").nth(1))
        .and_then(|rest| rest.split(':').nth(1))
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{text}"));
    assert!(score <= 2.0, "{file}: exposure {score} (want <= 2.0, 'OK')");
}

fn bin_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap()
}

fn variables_in(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("SYSTEM_STATS_") || *w == "MONITORING_SERVER_METRICS_URL")
        .map(str::to_string)
        .collect()
}

/// The service unit verifies and is hardened (systemd's exposure score "OK").
#[test]
fn systemd_service_unit_verifies_and_is_hardened() {
    verify_unit("system-stats.service", common::service_bin());
    let unit = std::fs::read_to_string(common::repo().join("service/systemd/system-stats.service")).unwrap();
    for line in ["NoNewPrivileges=yes", "ProtectSystem=strict", "DynamicUser=yes", "CapabilityBoundingSet=\n"] {
        assert!(unit.contains(line), "missing {line:?}");
    }
}

/// The unit that reads the drives for the service verifies, is scored "OK" though it holds
/// the two capabilities smartctl needs, has no network, writes where the service's unit reads,
/// and its timer verifies beside it.
#[test]
fn the_drive_reader_unit_and_its_timer_verify_and_are_hardened() {
    verify_unit("system-stats-smart.service", common::service_bin());
    let dir = common::repo().join("service/systemd");
    let unit = std::fs::read_to_string(dir.join("system-stats-smart.service")).unwrap();
    let service = std::fs::read_to_string(dir.join("system-stats.service")).unwrap();
    for line in [
        "CapabilityBoundingSet=CAP_SYS_RAWIO CAP_SYS_ADMIN\n",
        "PrivateNetwork=yes",
        "DevicePolicy=closed",
        "StateDirectory=system-stats-smart\n",
        "--read-drives /var/lib/system-stats-smart\n",
    ] {
        assert!(unit.contains(line), "missing {line:?}");
    }
    assert!(service.contains("Environment=SYSTEM_STATS_SMART_DIRECTORY=/var/lib/system-stats-smart\n"));
    if tool_missing("systemd-analyze") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("system-stats-smart.service"),
        unit.replace("/usr/local/bin/system-stats-service", common::service_bin()),
    )
    .unwrap();
    std::fs::copy(dir.join("system-stats-smart.timer"), tmp.path().join("system-stats-smart.timer")).unwrap();
    let out = Command::new("systemd-analyze").arg("verify").arg(tmp.path().join("system-stats-smart.timer")).output();
    let out = out.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.trim().is_empty(), "systemd-analyze verify the timer:\n{stderr}");
}

/// The forwarder unit verifies, is hardened, and keeps its spool in a StateDirectory (which
/// systemd passes as $STATE_DIRECTORY, the forwarder's default spool directory).
#[test]
fn systemd_forwarder_unit_verifies_and_keeps_its_spool() {
    verify_unit("system-stats-forwarder.service", common::forwarder_bin());
    let unit = std::fs::read_to_string(common::repo().join("service/systemd/system-stats-forwarder.service")).unwrap();
    for line in
        ["StateDirectory=system-stats-forwarder", "NoNewPrivileges=yes", "ProtectSystem=strict", "DynamicUser=yes"]
    {
        assert!(unit.contains(line), "missing {line:?}");
    }
}

/// The launchd agents are valid property lists that start our binaries with known settings.
#[test]
fn launchd_plists_are_valid() {
    check_plist("com.local.systemstats.plist", "com.local.systemstats", "/usr/local/bin/system-stats-service");
    check_plist(
        "com.local.systemstats.forwarder.plist",
        "com.local.systemstats.forwarder",
        "/usr/local/bin/system-stats-forwarder",
    );
}

fn check_plist(file: &str, label: &str, program: &str) {
    if tool_missing("python3") {
        return;
    }
    let path = common::repo().join("service/launchd").join(file);
    let script = "import plistlib,sys,json; print(json.dumps(plistlib.load(open(sys.argv[1],'rb'))))";
    let out = Command::new("python3").args(["-c", script]).arg(&path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let plist: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plist["Label"], label);
    assert_eq!(plist["ProgramArguments"][0], program);
    assert_eq!(plist["RunAtLoad"], true);
    for var in plist["EnvironmentVariables"].as_object().unwrap().keys() {
        assert!(system_stats::config::is_known_variable(var), "{var}");
    }
}

/// No template sets a variable that no program reads (a typo there fails silently).
#[test]
fn templates_only_set_known_variables() {
    for dir in ["service/systemd", "service/launchd"] {
        for entry in std::fs::read_dir(common::repo().join(dir)).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for var in variables_in(&text) {
                assert!(system_stats::config::is_known_variable(&var), "{dir}: {var} is not a known setting");
            }
        }
    }
}
