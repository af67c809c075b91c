//! The alerts the service evaluates itself (`src/alerts/`): real conditions on this machine
//! (a filesystem filled, the CPU kept busy), seen in `/system`'s `alerts` and `/metrics`'
//! `ALERTS` as they go pending, firing and resolved; the families the rules read run though
//! nobody scrapes; a rules file checked by `--check-alerts`, and a bad one refused at start
//! with one line naming the file, the rule and the problem.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Running, Service, clean_command, service_bin};
use serde_json::Value;

/// The alerts of `/system`, those named `name`.
fn alerts(s: &Service, name: &str) -> Vec<Value> {
    let v = s.json("/system");
    v["alerts"]
        .as_array()
        .unwrap_or_else(|| panic!("no alerts list: {}", v["alerts"]))
        .iter()
        .filter(|a| a["name"] == name)
        .cloned()
        .collect()
}

/// Polls `/system` until an alert named `name` is in `state` (or, for `None`, gone); returns it.
fn wait_state(s: &Service, name: &str, state: Option<&str>, limit: Duration) -> Option<Value> {
    let deadline = Instant::now() + limit;
    loop {
        let found = alerts(s, name);
        match state {
            Some(state) => {
                if let Some(a) = found.iter().find(|a| a["state"] == state) {
                    return Some(a.clone());
                }
            }
            None if found.is_empty() => return None,
            None => {}
        }
        assert!(Instant::now() < deadline, "{name} not {state:?} within {limit:?}: {found:?}\n{}", s.run.log());
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn write_rules(dir: &Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("rules.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Whether tests that mount filesystems can run (root); under CI they must.
fn can_mount() -> bool {
    // SAFETY: geteuid(2) cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    assert!(root || std::env::var_os("SYSTEM_STATS_TEST_STRICT").is_none(), "these tests mount tmpfs: run as root");
    root
}

struct Tmpfs(std::path::PathBuf);

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// A filesystem filled past a rule's threshold: pending, then firing once `for` has passed
/// (in `/system` and in `/metrics`' ALERTS); emptied below the clearing level: resolved, and
/// gone from ALERTS. The stock rule on the same filesystem (30 minutes) stays pending.
#[test]
fn a_filling_filesystem_fires_and_resolves() {
    if !can_mount() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("small");
    std::fs::create_dir_all(&mnt).unwrap();
    let ok = std::process::Command::new("mount").args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"]).arg(&mnt).status();
    assert!(ok.unwrap().success());
    let _mounted = Tmpfs(mnt.clone());
    let mount = mnt.to_str().unwrap();
    let rules = write_rules(
        dir.path(),
        &format!(
            "[[rule]]\nname = \"SmallFull\"\nquantity = \"filesystem.used_percent\"\nlabels = {{ mountpoint = \"{mount}\" }}\n\
             comparison = \">\"\nthreshold = 50\nclear = 40\nfor = \"2s\"\nseverity = \"critical\"\n\
             summary = \"{{mountpoint}} is {{value}}% full\"\n"
        ),
    );
    let s = Service::start(&[
        ("SYSTEM_STATS_ALERT_RULES", rules.to_str().unwrap()),
        ("SYSTEM_STATS_SAMPLE_INTERVAL", "0.2"),
    ]);
    assert!(alerts(&s, "SmallFull").is_empty(), "an empty filesystem alerts");
    // 3 of 4 MiB
    std::fs::write(mnt.join("filler"), vec![1u8; 3 << 20]).unwrap();
    let pending = wait_state(&s, "SmallFull", Some("pending"), Duration::from_secs(5)).unwrap();
    assert_eq!(pending["fired_at"], Value::Null);
    assert_eq!(pending["labels"]["mountpoint"], mount);
    assert_eq!(pending["labels"]["fstype"], "tmpfs");
    let firing = wait_state(&s, "SmallFull", Some("firing"), Duration::from_secs(10)).unwrap();
    assert_eq!(firing["severity"], "critical");
    assert_eq!(firing["since"], pending["since"], "the episode keeps its start");
    let value = firing["value"].as_f64().unwrap();
    assert!((70.0..=80.0).contains(&value), "{value}");
    assert_eq!(firing["summary"], format!("{mount} is {}% full", system_stats::alerts::rules::round(value)));
    assert_eq!(firing["chart"]["series"], format!("fs/{mount}"));
    let since = chrono::DateTime::parse_from_rfc3339(firing["since"].as_str().unwrap()).unwrap();
    let fired = chrono::DateTime::parse_from_rfc3339(firing["fired_at"].as_str().unwrap()).unwrap();
    assert!(fired - since >= chrono::TimeDelta::seconds(2), "fired {since} → {fired}: before its `for`");
    let metrics = s.get("/metrics").body;
    let line = metrics.lines().find(|l| l.starts_with("ALERTS{alertname=\"SmallFull\"")).expect(&metrics);
    assert!(line.contains("alertstate=\"firing\"") && line.contains(&format!("mountpoint=\"{mount}\"")), "{line}");
    assert!(line.ends_with(" 1"), "{line}");
    // between the threshold and the clearing level it still fires
    std::fs::write(mnt.join("filler"), vec![1u8; (45 << 20) / 100 * 4]).unwrap();
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(alerts(&s, "SmallFull")[0]["state"], "firing", "resolved above its clearing level");
    std::fs::remove_file(mnt.join("filler")).unwrap();
    let resolved = wait_state(&s, "SmallFull", Some("resolved"), Duration::from_secs(5)).unwrap();
    assert!(resolved["resolved_at"].is_string());
    assert_eq!(resolved["fired_at"], firing["fired_at"]);
    let metrics = s.get("/metrics").body;
    assert!(!metrics.contains("alertname=\"SmallFull\""), "a resolved alert in ALERTS");
}

/// statix's CPU threshold: fires as soon as the CPU percent reaches it while a busy loop runs
/// on every core. (Its resolution is not waited for here: on a machine busy with other work
/// the CPU may stay above the threshold; the filesystem test covers resolving.)
#[test]
fn statix_cpu_threshold_fires_on_a_busy_cpu() {
    let s = Service::start(&[("SYSTEM_STATS_ALERT_CPU_THRESHOLD", "45"), ("SYSTEM_STATS_SAMPLE_INTERVAL", "0.5")]);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut busy: Vec<std::process::Child> = (0..cores)
        .map(|_| std::process::Command::new("sh").args(["-c", "while :; do :; done"]).spawn().unwrap())
        .collect();
    let firing = wait_state(&s, "HostCpuThreshold", Some("firing"), Duration::from_secs(10));
    for b in &mut busy {
        let _ = b.kill();
        let _ = b.wait();
    }
    let firing = firing.unwrap();
    assert_eq!((firing["quantity"].as_str(), firing["comparison"].as_str()), (Some("cpu.percent"), Some(">=")));
    assert!(firing["value"].as_f64().unwrap() >= 45.0, "{firing}");
    assert_eq!(firing["since"], firing["fired_at"], "statix's threshold has no `for`");
}

/// The families a rule reads run in every sample, though nobody scrapes `/metrics` (filefd
/// and conntrack run only for scrapes otherwise).
#[test]
fn the_families_rules_read_run_without_a_scrape() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write_rules(
        dir.path(),
        "[[rule]]\nname = \"FdsOpen\"\nquantity = \"filefd.used_percent\"\ncomparison = \">\"\nthreshold = 0\n",
    );
    let s = Service::start(&[
        ("SYSTEM_STATS_ALERT_RULES", rules.to_str().unwrap()),
        ("SYSTEM_STATS_SAMPLE_INTERVAL", "0.2"),
    ]);
    std::thread::sleep(Duration::from_millis(600));
    let a = wait_state(&s, "FdsOpen", Some("firing"), Duration::from_secs(5)).unwrap();
    assert!(a["value"].as_f64().unwrap() > 0.0);
}

/// `SYSTEM_STATS_ALERTS=off`: `alerts` is null, no ALERTS series.
#[test]
fn alerts_can_be_turned_off() {
    let s = Service::start(&[("SYSTEM_STATS_ALERTS", "off"), ("SYSTEM_STATS_ALERT_CPU_THRESHOLD", "0.001")]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(s.json("/system")["alerts"], Value::Null);
    assert!(!s.get("/metrics").body.contains("ALERTS"));
    let on = Service::start(&[("SYSTEM_STATS_ALERT_CPU_THRESHOLD", "0.001"), ("SYSTEM_STATS_SAMPLE_INTERVAL", "0.2")]);
    wait_state(&on, "HostCpuThreshold", Some("firing"), Duration::from_secs(5));
}

/// `--check-alerts`: a good file listed, exit 0; a bad one named with its rule and problem,
/// exit 2, as the service refuses it at start.
#[test]
fn rules_files_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let good = write_rules(
        dir.path(),
        "disable = [\"NodeCPUHighUsage\"]\n[[rule]]\nname = \"Root\"\nquantity = \"filesystem.used_percent\"\n\
         labels = { mountpoint = \"/\" }\ncomparison = \">\"\nthreshold = 90\nfor = \"10m\"\n",
    );
    let out = clean_command(service_bin()).arg("--check-alerts").arg(&good).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("Root: filesystem.used_percent > 90 warning for 600 s"), "{stdout}");
    assert!(stdout.contains(": usable: "), "{stdout}");
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[[rule]]\nname = \"Hot\"\nquantity = \"cpu.temperature\"\ncomparison = \">\"\nthreshold = 1\n",
    )
    .unwrap();
    let out = clean_command(service_bin()).arg("--check-alerts").arg(&bad).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let expected = format!("{}: rule \"Hot\": unknown quantity \"cpu.temperature\"", bad.display());
    assert!(stderr.contains(&expected), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    // the service refuses it at start, the same way
    let mut run = Running::spawn({
        let mut c = clean_command(service_bin());
        c.env("SYSTEM_STATS_PORT", "0").env("SYSTEM_STATS_ALERT_RULES", &bad);
        c
    });
    assert_eq!(run.wait_exit(Duration::from_secs(10)).and_then(|s| s.code()), Some(2));
    assert!(run.log().contains(&expected), "{}", run.log());
    assert!(run.log().starts_with("system-stats-service: invalid SYSTEM_STATS_ALERT_RULES="), "{}", run.log());
    // a missing file too
    let out = clean_command(service_bin()).arg("--check-alerts").arg(dir.path().join("none.toml")).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("none.toml: cannot read it (No such file"));
}
