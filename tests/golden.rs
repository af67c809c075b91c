//! End-to-end, node_exporter style: the real service binary runs on each recorded fixture
//! tree under `tests/fixtures/` and its `/system` must equal `tests/golden/<fixture>.json`.
//!
//! Values that do not come from the tree are replaced before comparing: the sample time and
//! what derives from "now" (uptime, the measured interval), `statvfs(2)` of the disk path and
//! of every mounted filesystem, IPv4 addresses (`ioctl(2)`), and the C library in `platform`.
//! After an intended change: `UPDATE_GOLDEN=1 cargo test --test golden` writes the files and
//! fails (a regeneration is never a silent pass); review `git diff tests/golden`, then run the
//! tests again without it.

mod common;

use std::path::Path;

use serde_json::Value;

const LIVE: &str = "<live>";

fn redact(v: &mut Value) {
    v["collected_at"] = LIVE.into();
    for k in ["seconds", "human"] {
        v["uptime"][k] = LIVE.into();
    }
    v["throughput"]["interval_seconds"] = LIVE.into();
    if v["processes"].is_object() {
        v["processes"]["interval_seconds"] = LIVE.into();
    }
    for k in ["total", "used", "free", "percent", "mount"] {
        v["disk"][k] = LIVE.into();
    }
    if v["network"]["primary_interface"].is_object() {
        for k in ["ipv4", "netmask", "broadcast"] {
            v["network"]["primary_interface"][k] = LIVE.into();
        }
    }
    if let Some(filesystems) = v["filesystems"].as_array_mut() {
        for f in filesystems {
            for k in ["total", "used", "free", "free_root", "percent", "files", "files_free", "error"] {
                f[k] = LIVE.into();
            }
        }
    }
    // the addresses are the live machine's (ioctl), not the tree's
    if let Some(interfaces) = v["network"]["all_interfaces"].as_array_mut() {
        for i in interfaces {
            i["ipv4"] = LIVE.into();
        }
    }
    // the containers are the live engine's (if any)
    v["docker"] = LIVE.into();
    // and the service manager is the live machine's systemd (or none)
    v["services"] = LIVE.into();
    // the drives are those the live machine's smartctl reads (if it is installed)
    v["disk_health"] = LIVE.into();
    // a process's owner is looked up from its directory's owner: here, whoever checked out
    for list in ["top_cpu", "top_memory"] {
        if let Some(procs) = v["processes"][list].as_array_mut() {
            for p in procs {
                p["user"] = LIVE.into();
            }
        }
    }
    // the alerts on what the tree holds stay; those on the live clock, filesystems, services
    // and containers go, and when an alert started is now
    if let Some(alerts) = v["alerts"].as_array_mut() {
        let live = ["clock.", "filesystem.", "service.", "container.", "forwarder.", "disk_health."];
        alerts.retain(|a| !live.iter().any(|p| a["quantity"].as_str().unwrap_or("").starts_with(p)));
        for a in alerts {
            for k in ["since", "fired_at", "resolved_at"] {
                if !a[k].is_null() {
                    a[k] = LIVE.into();
                }
            }
        }
    }
    // which interfaces have an IPv4 address is the live machine's business too
    v["network"]["interfaces"] = LIVE.into();
    if let Some(p) = v["system"]["platform"].as_str() {
        let kernel_part = p.split("-with-").next().unwrap().to_string();
        v["system"]["platform"] = format!("{kernel_part}-with-{LIVE}").into();
    }
}

fn check(fixture: &str) {
    let dir = common::repo().join("tests/fixtures").join(fixture);
    let service = common::Service::on_fixture(&dir, &[]);
    let mut got = service.json("/system");
    redact(&mut got);
    let got = serde_json::to_string_pretty(&got).unwrap() + "\n";
    let golden = common::repo().join("tests/golden").join(format!("{fixture}.json"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
        let before = std::fs::read_to_string(&golden).unwrap_or_default();
        std::fs::write(&golden, &got).unwrap();
        // never a silent pass: a regeneration is reviewed, then the tests run without it
        panic!(
            "UPDATE_GOLDEN: wrote {} ({}); review `git diff tests/golden`, then run again without UPDATE_GOLDEN",
            golden.display(),
            if before == got { "unchanged" } else { "changed" }
        );
    }
    let want = std::fs::read_to_string(&golden)
        .unwrap_or_else(|e| panic!("{}: {e} (create it with UPDATE_GOLDEN=1)", golden.display()));
    if want != got {
        let diff = similar::TextDiff::from_lines(&want, &got);
        panic!(
            "/system on fixture {fixture} differs from {} (- golden, + now):\n{}",
            golden.display(),
            diff.unified_diff().context_radius(2)
        );
    }
}

/// Every fixture tree has a golden file, and no golden file lacks its fixture.
#[test]
fn every_fixture_has_a_golden_file() {
    let names = |dir: &Path, strip: &str| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().trim_end_matches(strip).to_string())
            .collect();
        v.sort();
        v
    };
    // the trees (a `proc` inside), not the recorded outputs of programs (`smartctl/`)
    let mut fixtures = names(&common::repo().join("tests/fixtures"), "");
    fixtures.retain(|f| common::repo().join("tests/fixtures").join(f).join("proc").is_dir());
    assert!(fixtures.len() >= 2, "{fixtures:?}");
    if std::env::var_os("UPDATE_GOLDEN").is_none() {
        assert_eq!(fixtures, names(&common::repo().join("tests/golden"), ".json"));
    }
}

/// The Raspberry Pi 4 tree: device-tree model, cpufreq min/max, eth0 as the default route
/// (lowest metric) over wlan0, mmcblk0 counted but not its partitions.
#[test]
fn raspberry_pi_4_matches_its_golden_output() {
    check("raspberrypi4-aarch64");
}

/// This project's build machine (an x86_64 VM without cpufreq or DMI), as recorded by
/// `scripts/record-fixture.sh`.
#[test]
fn debian_x86_64_vm_matches_its_golden_output() {
    check("debian-x86_64-vm");
}

/// This VM again, recorded with every file the newer collectors read: pressure stall
/// information, connection tracking, the protocol counters, down interfaces.
#[test]
fn debian_x86_64_psi_conntrack_matches_its_golden_output() {
    check("debian-x86_64-psi-conntrack");
}

/// An x86 host with coretemp, two nvme drives and acpitz hwmon chips and three thermal
/// zones (this VM's tree, with sensors written from the real file formats).
#[test]
fn coretemp_nvme_matches_its_golden_output() {
    check("x86-coretemp-nvme");
}

/// Every symbolic link in a fixture tree resolves inside it. Git keeps no empty directory,
/// so a link whose target directory held nothing works where the tree was recorded and is
/// dangling in a fresh clone (the hwmon `device` links once were: chip names changed in CI).
#[test]
fn every_fixture_link_resolves_inside_its_tree() {
    fn walk(dir: &Path, root: &Path, broken: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.file_type().is_symlink() {
                match std::fs::canonicalize(&path) {
                    Ok(target) if target.starts_with(root) => {}
                    Ok(target) => broken.push(format!("{} -> {} (outside)", path.display(), target.display())),
                    Err(e) => broken.push(format!("{}: {e}", path.display())),
                }
            } else if meta.is_dir() {
                walk(&path, root, broken);
            }
        }
    }
    let root = std::fs::canonicalize(common::repo().join("tests/fixtures")).unwrap();
    let mut broken = Vec::new();
    walk(&root, &root, &mut broken);
    assert!(broken.is_empty(), "fixture links that do not resolve (give their targets a file):\n{}", broken.join("\n"));
}
