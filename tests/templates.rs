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

/// The drop-in that lets the `smart` collector read drives verifies with the unit and costs
/// what `service/systemd/smart.conf` says (exposure 2.5, from 1.6).
#[test]
fn the_smart_drop_in_verifies_and_costs_what_it_says() {
    if tool_missing("systemd-analyze") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let unit = std::fs::read_to_string(common::repo().join("service/systemd/system-stats.service")).unwrap();
    let path = dir.path().join("system-stats.service");
    std::fs::write(&path, unit.replace("/usr/local/bin/system-stats-service", common::service_bin())).unwrap();
    let drop_in = std::fs::read_to_string(common::repo().join("service/systemd/smart.conf")).unwrap();
    let score = |path: &std::path::Path| -> f64 {
        let out = Command::new("systemd-analyze").args(["security", "--offline=yes"]).arg(path).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        text.lines()
            .find_map(|l| l.split("exposure level for").nth(1))
            .and_then(|rest| rest.split(':').nth(1))
            .and_then(|s| s.split_whitespace().next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no exposure level in:\n{text}"))
    };
    assert_eq!(score(&path), 1.6);
    // systemd-analyze reads no drop-in beside a unit file given by path: the unit with the
    // drop-in's [Service] lines appended is what systemd makes of the two
    let body = drop_in.split_once("[Service]\n").unwrap().1;
    let merged = unit
        .replace("/usr/local/bin/system-stats-service", common::service_bin())
        .replace("[Install]", &format!("{body}\n[Install]"));
    std::fs::write(&path, merged).unwrap();
    let out = Command::new("systemd-analyze").arg("verify").arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.trim().is_empty(), "{stderr}");
    assert_eq!(score(&path), 2.5);
    assert!(drop_in.contains("from 1.6 to 2.5"));
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
