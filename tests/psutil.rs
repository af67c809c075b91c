//! system-stats against psutil itself: on this machine (live) and on every recorded fixture
//! (psutil's `PROCFS_PATH` pointed at the tree), the numbers must be psutil's.
//!
//! Needs `python3` with psutil 7.1+ (`pip install psutil`); `scripts/test` installs it. Without
//! it the tests say so and pass, unless `SYSTEM_STATS_TEST_STRICT=1` (set by CI), where a
//! missing psutil is a failure.

mod common;

use std::process::Command;

use common::Service;
use serde_json::Value;

fn psutil(procfs: Option<&std::path::Path>) -> Option<Value> {
    let script = common::repo().join("tests/support/psutil_probe.py");
    let mut cmd = Command::new("python3");
    cmd.arg(script);
    if let Some(p) = procfs {
        cmd.arg(p);
    }
    let out = match cmd.output() {
        Ok(out) if out.status.success() => out,
        other => {
            let why = match other {
                Ok(out) => String::from_utf8_lossy(&out.stderr).into_owned(),
                Err(e) => e.to_string(),
            };
            if std::env::var_os("SYSTEM_STATS_TEST_STRICT").is_some() {
                panic!("python3 with psutil is required (pip install psutil): {why}");
            }
            eprintln!("SKIPPED: python3 with psutil is not available ({why}); pip install psutil");
            return None;
        }
    };
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let version: Vec<u32> = v["version"].as_str().unwrap().split('.').map(|p| p.parse().unwrap_or(0)).collect();
    assert!(version >= vec![7, 1], "psutil {} is older than 7.1, whose definitions we follow", v["version"]);
    Some(v)
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| v.as_f64().unwrap() as u64)
}

/// `a` and `b` within `tol` of each other (absolute).
fn close(what: &str, a: u64, b: u64, tol: u64) {
    assert!(a.abs_diff(b) <= tol, "{what}: system-stats {a} vs psutil {b} (tolerance {tol})");
}

/// Every memory, swap and network field of every fixture equals psutil's reading of the same
/// tree, to the byte.
#[test]
fn fixtures_give_psutils_numbers() {
    for fixture in ["raspberrypi4-aarch64", "debian-x86_64-vm", "debian-x86_64-psi-conntrack"] {
        let dir = common::repo().join("tests/fixtures").join(fixture);
        let Some(p) = psutil(Some(&dir.join("proc"))) else { return };
        let s = Service::on_fixture(&dir, &[]);
        let v = s.json("/system");
        for (k, want) in p["memory"].as_object().unwrap() {
            assert_eq!(&v["memory"][k], want, "{fixture}: memory.{k}");
        }
        let page_size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        for (k, want) in p["swap"].as_object().unwrap() {
            // psutil multiplies pswpin/pswpout by 4096 whatever the page size; we use the real one
            if (k == "sin" || k == "sout") && page_size != 4096 {
                continue;
            }
            assert_eq!(&v["swap"][k], want, "{fixture}: swap.{k}");
        }
        for (k, want) in p["net_io"].as_object().unwrap() {
            assert_eq!(&v["network"]["io_counters"][k], want, "{fixture}: network.io_counters.{k}");
        }
        let boot = chrono::DateTime::parse_from_rfc3339(v["uptime"]["boot_time"].as_str().unwrap()).unwrap();
        assert_eq!(boot.timestamp() as f64, p["boot_time"].as_f64().unwrap(), "{fixture}: boot time");
    }
}

/// On this machine, side by side: identity and static facts equal, moving numbers close,
/// and every cumulative counter psutil reads lies between two of our samples, one taken
/// before psutil ran and one after.
#[test]
fn this_machine_matches_psutil() {
    let s = Service::start(&[("SYSTEM_STATS_SAMPLE_INTERVAL", "0.2")]);
    let v = s.json("/system");
    let Some(p) = psutil(None) else { return };
    const MIB: u64 = 1 << 20;
    let psutil_done = p["now"].as_f64().unwrap();
    let deadline = std::time::Instant::now() + common::PATIENCE;
    let later = loop {
        let later = s.json("/system");
        let at = chrono::DateTime::parse_from_rfc3339(later["collected_at"].as_str().unwrap()).unwrap();
        if at.timestamp_micros() as f64 / 1e6 > psutil_done {
            break later;
        }
        assert!(std::time::Instant::now() < deadline, "no sample after psutil's");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let between = |what: &str, before: &Value, theirs: &Value, after: &Value| {
        let (a, p, b) = (u(before), u(theirs), u(after));
        assert!(a <= p && p <= b, "{what}: psutil's {p} is not between our {a} (before) and {b} (after)");
    };
    for k in [
        "read_count",
        "write_count",
        "read_bytes",
        "write_bytes",
        "read_time",
        "write_time",
        "read_merged_count",
        "write_merged_count",
        "busy_time",
    ] {
        between(&format!("disk_io.{k}"), &v["disk_io"][k], &p["disk_io"][k], &later["disk_io"][k]);
    }
    for k in ["bytes_sent", "bytes_recv", "packets_sent", "packets_recv", "errin", "errout", "dropin", "dropout"] {
        let at = |x: &Value| x["network"]["io_counters"][k].clone();
        between(&format!("net_io.{k}"), &at(&v), &p["net_io"][k], &at(&later));
    }

    let m = &v["memory"];
    assert_eq!(u(&m["total"]), u(&p["memory"]["total"]));
    for k in ["available", "used", "free", "active", "inactive", "cached", "shared", "slab", "buffers"] {
        close(&format!("memory.{k}"), u(&m[k]), u(&p["memory"][k]), 64 * MIB);
    }
    assert_eq!(u(&v["swap"]["total"]), u(&p["swap"]["total"]));
    assert_eq!(u(&v["disk"]["total"]), u(&p["disk"]["total"]));
    close("disk.used", u(&v["disk"]["used"]), u(&p["disk"]["used"]), 256 * MIB);

    assert_eq!(v["cpu"]["logical_cores"], p["logical_cores"]);
    assert_eq!(v["cpu"]["physical_cores"], p["physical_cores"]);
    if let Some(freq) = p["freq"].as_object() {
        let ours = v["cpu"]["frequency_mhz"].as_f64().unwrap();
        let theirs = freq["current"].as_f64().unwrap();
        assert!((ours - theirs).abs() <= theirs * 0.25, "frequency {ours} vs {theirs}");
        for (ours, theirs) in [("min_frequency_mhz", "min"), ("max_frequency_mhz", "max")] {
            // psutil says 0.0 where it cannot know (no cpufreq); we say null
            match v["cpu"][ours].as_f64() {
                Some(x) => assert!((x - freq[theirs].as_f64().unwrap()).abs() < 1.0, "{ours}"),
                None => assert_eq!(freq[theirs].as_f64(), Some(0.0), "{ours} is null but psutil knows it"),
            }
        }
    }

    let uptime = u(&v["uptime"]["seconds"]);
    let psutil_uptime = p["now"].as_f64().unwrap() - p["boot_time"].as_f64().unwrap();
    assert!((uptime as f64 - psutil_uptime).abs() < 5.0, "uptime {uptime} vs {psutil_uptime}");

    let plat = &p["platform"];
    assert_eq!(v["system"]["hostname"], plat["node"]);
    assert_eq!(v["system"]["os"], plat["system"]);
    assert_eq!(v["system"]["os_release"], plat["release"]);
    assert_eq!(v["system"]["os_version"], plat["version"]);
    assert_eq!(v["system"]["architecture"], plat["machine"]);
    assert_eq!(v["system"]["platform"], plat["platform"]);

    let iface = &v["network"]["primary_interface"];
    let name = iface["name"].as_str().expect("this machine has a primary interface");
    let addr = &p["addrs"][name][0];
    assert_eq!(iface["ipv4"], addr["address"]);
    assert_eq!(iface["netmask"], addr["netmask"]);
    assert_eq!(iface["broadcast"], addr["broadcast"]);
    let st = &p["if_stats"][name];
    assert_eq!(iface["mtu"], st["mtu"]);
    match iface["speed_mbps"].as_u64() {
        Some(speed) => assert_eq!(speed, u(&st["speed"])),
        None => assert_eq!(u(&st["speed"]), 0, "speed is null but psutil knows it"),
    }
    let duplex = ["unknown", "half", "full"][u(&st["duplex"]) as usize];
    assert_eq!(iface["duplex"], duplex);
}

/// `sensors` is psutil's `sensors_temperatures()`, psutil reading the same tree: the fixture's
/// sysfs is bind-mounted over `/sys` in a mount namespace of its own (root only).
#[test]
fn sensors_are_psutils_on_the_fixtures() {
    // SAFETY: geteuid(2) cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        assert!(std::env::var_os("SYSTEM_STATS_TEST_STRICT").is_none(), "this test needs root (unshare, mount)");
        eprintln!("SKIPPED: needs root");
        return;
    }
    for fixture in ["raspberrypi4-aarch64", "x86-coretemp-nvme"] {
        let dir = common::repo().join("tests/fixtures").join(fixture);
        let script = "import json, psutil; print(json.dumps(psutil.sensors_temperatures()))";
        let out = Command::new("unshare")
            .arg("--mount")
            .arg("sh")
            .arg("-c")
            .arg(format!("mount --bind {} /sys && python3 -c '{script}'", dir.join("sys").display()))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let theirs: Value = serde_json::from_slice(&out.stdout).unwrap();
        let s = Service::on_fixture(&dir, &[]);
        let ours = s.json("/system")["sensors"].clone();
        let chips = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(chips(&ours), chips(&theirs), "{fixture}: chips in order");
        for (chip, list) in theirs.as_object().unwrap() {
            let ours = ours[chip].as_array().unwrap();
            assert_eq!(ours.len(), list.as_array().unwrap().len(), "{fixture}: {chip}");
            for (o, t) in ours.iter().zip(list.as_array().unwrap()) {
                let want = [&t[0], &t[1], &t[2], &t[3]];
                let got = [&o["label"], &o["current_c"], &o["high_c"], &o["critical_c"]];
                assert_eq!(got, want, "{fixture}: {chip}");
            }
        }
    }
}
