//! Today's statix dialect: the keys the original's current dashboard reads, in the shapes it
//! reads them: `load_avg`, `cpu.temperature_c`, `sensors`, `network.interfaces` (flat, up, not
//! loopback, with IPv4), `system.os_update`, `docker`. Checked on this machine (against
//! psutil for the interfaces), and the OS-update check with a package manager on `PATH` that
//! answers as apt-get does, one that hangs, and the real one.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::Service;
use serde_json::Value;

fn is(v: &Value, kind: char) -> bool {
    match kind {
        'f' => v.is_number(),
        'i' => v.is_u64(),
        's' => v.is_string(),
        'b' => v.is_boolean(),
        'a' => v.is_array(),
        'o' => v.is_object(),
        _ => unreachable!(),
    }
}

/// `key:types` with `?` for nullable: `speed_mbps:i?`.
fn check_shape(what: &str, obj: &Value, spec: &[&str]) {
    let o = obj.as_object().unwrap_or_else(|| panic!("{what} is not an object: {obj}"));
    for s in spec {
        let (key, kind) = s.split_once(':').unwrap();
        let v = o.get(key).unwrap_or_else(|| panic!("{what}.{key} is missing: {obj}"));
        let nullable = kind.ends_with('?');
        let k = kind.chars().next().unwrap();
        assert!(is(v, k) || (nullable && v.is_null()), "{what}.{key} = {v}, expected {kind}");
    }
}

/// Every key the dashboard reads, with its type, on this machine.
#[test]
fn the_dashboards_keys_in_its_shapes() {
    let s = Service::start(&[]);
    let v = s.json("/system");
    check_shape("load_avg", &v["load_avg"], &["load1:f", "load5:f", "load15:f"]);
    assert!(v["cpu"]["temperature_c"].is_null() || v["cpu"]["temperature_c"].is_f64());
    let sensors = v["sensors"].as_object().expect("sensors is an object ({} when there are none)");
    for (chip, list) in sensors {
        for s in list.as_array().unwrap() {
            check_shape(&format!("sensors.{chip}[]"), s, &["label:s", "current_c:f", "high_c:f?", "critical_c:f?"]);
        }
    }
    for i in v["network"]["interfaces"].as_array().unwrap() {
        check_shape(
            "network.interfaces[]",
            i,
            &["name:s", "ipv4:s", "netmask:s?", "broadcast:s?", "speed_mbps:i?", "mtu:i?", "duplex:s"],
        );
        assert_ne!(i["name"], "lo");
    }
    check_shape("docker", &v["docker"], &["available:b", "error:s?", "running:i?", "total:i?", "containers:a?"]);
    if v["docker"]["available"] == true {
        for c in v["docker"]["containers"].as_array().unwrap() {
            check_shape(
                "docker.containers[]",
                c,
                &["id:s", "name:s", "image:s", "state:s", "status:s", "ports:a", "update_available:b?"],
            );
        }
    }
}

/// `network.interfaces` is psutil's up (`isup`), non-loopback interfaces with an IPv4 address,
/// each with psutil's address, netmask and MTU.
#[test]
fn the_interfaces_shown_are_psutils_up_ones_with_ipv4() {
    let script = "import json, psutil, socket\n\
        stats = psutil.net_if_stats()\n\
        addrs = psutil.net_if_addrs()\n\
        out = {}\n\
        for name, st in stats.items():\n\
        \x20   v4 = [a for a in addrs.get(name, []) if a.family == socket.AF_INET]\n\
        \x20   if st.isup and 'loopback' not in st.flags.split(',') and v4:\n\
        \x20       out[name] = {'ipv4': v4[0].address, 'netmask': v4[0].netmask, 'mtu': st.mtu}\n\
        print(json.dumps(out))";
    let out = Command::new("python3").args(["-c", script]).output().expect("python3");
    if !out.status.success() {
        assert!(std::env::var_os("SYSTEM_STATS_TEST_STRICT").is_none(), "{}", String::from_utf8_lossy(&out.stderr));
        return;
    }
    let theirs: Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = Service::start(&[]);
    let ours = s.json("/system")["network"]["interfaces"].clone();
    let mut names: Vec<&str> = ours.as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap()).collect();
    names.sort();
    let mut want: Vec<&str> = theirs.as_object().unwrap().keys().map(String::as_str).collect();
    want.sort();
    assert_eq!(names, want);
    for i in ours.as_array().unwrap() {
        let t = &theirs[i["name"].as_str().unwrap()];
        assert_eq!((&i["ipv4"], &i["netmask"], &i["mtu"]), (&t["ipv4"], &t["netmask"], &t["mtu"]));
    }
}

/// A directory holding an `apt-get` that prints `output` (and sleeps `delay` first), to put
/// first on the service's `PATH`.
fn fake_apt(output: &str, delay: u32) -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("apt-get");
    // it leaves a trace of each run beside itself
    std::fs::write(&script, format!("#!/bin/sh\necho >>\"$0.ran\"\nsleep {delay}\ncat <<'EOF'\n{output}EOF\n"))
        .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

fn path_with(dir: &std::path::Path) -> String {
    format!("{}:{}", dir.display(), std::env::var("PATH").unwrap_or_default())
}

fn wait_checked(s: &Service) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let u = s.json("/system")["system"]["os_update"].clone();
        if u["checked_at"].is_string() {
            return u;
        }
        assert!(Instant::now() < deadline, "no check ended: {u}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

const APT: &str = "NOTE: This is only a simulation!\n\
    Inst bash [5.2.15-2+b8] (5.2.15-2+b13 Debian:12.15/oldstable [amd64])\n\
    Inst libgcrypt20 [1.10.1-3] (1.10.1-3+deb12u1 Debian:12.15/oldstable, Debian-Security:12/oldstable-security [amd64])\n\
    Inst liblzma5 [5.4.1-1] (5.4.1-1+deb12u2 Debian-Security:12/oldstable-security [amd64]) []\n\
    Conf bash (5.2.15-2+b13 Debian:12.15/oldstable [amd64])\n";

/// The check runs in the background, not before `SYSTEM_STATS_UPDATE_CHECK_DELAY` has passed
/// since the start, and its result is in every later sample: three updates, two of them
/// security ones; it validates against the OpenAPI document.
#[test]
fn os_updates_as_apt_get_counts_them() {
    let apt = fake_apt(APT, 0);
    let path = path_with(apt.path());
    let s = Service::start(&[
        ("PATH", &path),
        ("SYSTEM_STATS_UPDATE_CHECK_INTERVAL", "6h"),
        ("SYSTEM_STATS_UPDATE_CHECK_DELAY", "3"),
    ]);
    let started = Instant::now();
    let u = s.json("/system")["system"]["os_update"].clone();
    let ran = apt.path().join("apt-get.ran");
    assert!(u["checked_at"].is_null() && !ran.exists(), "checked at once: {u}");
    // unknown, the count is left out as the Python service leaves it out: never `null`
    assert!(u.get("count").is_none(), "count before the first check: {u}");
    let doc = s.json("/openapi.json");
    let schema = serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": "#/components/schemas/Snapshot",
        "components": doc["components"],
    });
    let v = jsonschema::validator_for(&schema).unwrap();
    let mut before = s.json("/system");
    let errors: Vec<String> = v.iter_errors(&before).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    before["system"]["os_update"]["count"] = Value::Null;
    assert!(!v.is_valid(&before), "a null count validates");
    let u = wait_checked(&s);
    assert!(ran.exists() && started.elapsed() >= Duration::from_secs(2), "{u}");
    assert_eq!(
        (&u["available"], &u["count"], &u["security"], &u["source"], &u["error"]),
        (&true.into(), &3.into(), &2.into(), &"apt-get".into(), &Value::Null)
    );
    assert!(u["reboot_required"].is_boolean());
    check_shape(
        "system.os_update",
        &u,
        &["available:b?", "count:i?", "security:i?", "reboot_required:b?", "checked_at:s?"],
    );
    let snapshot = s.json("/system");
    let errors: Vec<String> = v.iter_errors(&snapshot).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");
}

/// A check that hangs is stopped at the time limit and says so; the samples go on meanwhile.
#[test]
fn a_hung_check_is_stopped() {
    let apt = fake_apt(APT, 30);
    let path = path_with(apt.path());
    let s = Service::start(&[
        ("PATH", &path),
        ("SYSTEM_STATS_UPDATE_CHECK_INTERVAL", "6h"),
        ("SYSTEM_STATS_UPDATE_CHECK_DELAY", "0"),
        ("SYSTEM_STATS_UPDATE_CHECK_TIMEOUT", "1"),
        ("SYSTEM_STATS_SAMPLE_INTERVAL", "0.2"),
    ]);
    let before = s.json("/system")["collected_at"].clone();
    let u = wait_checked(&s);
    assert!(u["error"].as_str().unwrap().contains("did not finish within 1 s"), "{u}");
    assert!(u.get("count").is_none() && u["available"].is_null(), "{u}");
    assert_ne!(s.json("/system")["collected_at"], before);
    s.run.wait_for_line("OS update check failed");
}

/// On this Debian machine, the real apt-get: the same count as its own output.
#[test]
fn os_updates_from_the_real_apt_get() {
    if Command::new("apt-get").arg("--version").output().is_err() {
        return;
    }
    let s = Service::start(&[("SYSTEM_STATS_UPDATE_CHECK_INTERVAL", "6h"), ("SYSTEM_STATS_UPDATE_CHECK_DELAY", "0")]);
    let u = wait_checked(&s);
    let out = Command::new("apt-get").args(["-s", "-q", "upgrade"]).env("LC_ALL", "C").output().unwrap();
    let count = String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.starts_with("Inst ")).count() as u64;
    assert_eq!(u["count"].as_u64(), Some(count), "{u}");
    assert_eq!(u["available"], count > 0);
    assert_eq!(u["source"], "apt-get");
}

/// `reboot_required` follows `/run/reboot-required` at once (root, where it is absent).
#[test]
fn reboot_required_follows_the_flag_file() {
    let flag = std::path::Path::new("/run/reboot-required");
    // SAFETY: geteuid(2) cannot fail.
    if unsafe { libc::geteuid() } != 0 || flag.exists() {
        return;
    }
    let apt = fake_apt(APT, 0);
    let path = path_with(apt.path());
    let s = Service::start(&[
        ("PATH", &path),
        ("SYSTEM_STATS_UPDATE_CHECK_INTERVAL", "6h"),
        ("SYSTEM_STATS_UPDATE_CHECK_DELAY", "0"),
        ("SYSTEM_STATS_SAMPLE_INTERVAL", "0.2"),
    ]);
    assert_eq!(wait_checked(&s)["reboot_required"], false);
    std::fs::write(flag, "*** System restart required ***\n").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while s.json("/system")["system"]["os_update"]["reboot_required"] != true {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(100));
    }
    std::fs::remove_file(flag).unwrap();
}
