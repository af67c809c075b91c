//! The `services` collector against a real systemd: a container whose PID 1 is systemd (this
//! machine's own, its `/usr` mounted read-only into an image of a few files) with a D-Bus
//! system bus and one unit that fails on purpose. The service, run inside it, lists that unit
//! as failed with its result, counts the units by state, and exports node_exporter's
//! `node_systemd_*` series with the same names, labels and values as node_exporter's own
//! `systemd` collector run beside it. Without systemd (this machine), `services` says why,
//! once, and nothing fails. The failed unit fires the alert rule on failed units.
//!
//! Needs `dockerd` (scripts/test starts it), this machine's systemd and dbus (`/usr`), and
//! prometheus-node-exporter.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Service, available, clean_command, free_port, request, wait_http};

const IMAGE: &str = "system-stats-test-systemd";

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().expect("docker");
    assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The image: `/bin`, `/lib`... pointing into `/usr` (mounted from this machine at run time),
/// an `/etc` with this machine's users, a machine id, multi-user as the default target and
/// `broken.service`, enabled, whose `ExecStart` fails.
fn build_image() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    for dir in [
        "usr",
        "etc/systemd/system/multi-user.target.wants",
        "proc",
        "sys",
        "dev",
        "run",
        "tmp",
        "var/lib",
        "var/log",
        "var/tmp",
        "root",
        "opt/ss",
    ] {
        std::fs::create_dir_all(r.join(dir)).unwrap();
    }
    for (link, target) in [("bin", "usr/bin"), ("sbin", "usr/sbin"), ("lib", "usr/lib"), ("lib64", "usr/lib64")] {
        std::os::unix::fs::symlink(target, r.join(link)).unwrap();
    }
    for file in ["passwd", "group", "nsswitch.conf"] {
        std::fs::copy(Path::new("/etc").join(file), r.join("etc").join(file)).unwrap();
    }
    std::os::unix::fs::symlink("../usr/lib/os-release", r.join("etc/os-release")).unwrap();
    std::fs::write(r.join("etc/hostname"), "systemd-test\n").unwrap();
    std::fs::write(r.join("etc/machine-id"), format!("{:032x}\n", fastrand::u128(..))).unwrap();
    let units = r.join("etc/systemd/system");
    std::os::unix::fs::symlink("/lib/systemd/system/multi-user.target", units.join("default.target")).unwrap();
    std::fs::write(
        units.join("broken.service"),
        "[Unit]\nDescription=A unit that fails on purpose\n[Service]\nType=oneshot\nExecStart=/bin/false\n\
         [Install]\nWantedBy=multi-user.target\n",
    )
    .unwrap();
    std::os::unix::fs::symlink("../broken.service", units.join("multi-user.target.wants/broken.service")).unwrap();
    let tar = Command::new("tar").arg("-C").arg(r).args(["-c", "."]).output().unwrap();
    assert!(tar.status.success());
    let mut child = Command::new("docker")
        .args(["import", "--change", "CMD [\"/lib/systemd/systemd\"]", "-", IMAGE])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), &tar.stdout).unwrap();
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
}

/// A container running systemd, removed when dropped.
struct Systemd {
    name: String,
}

impl Systemd {
    fn start() -> Systemd {
        build_image();
        let name = format!("system-stats-test-systemd-{}", std::process::id());
        let bin_dir = Path::new(common::service_bin()).parent().unwrap().to_str().unwrap().to_string();
        let _ = Command::new("docker").args(["rm", "-f", &name]).output();
        docker(&[
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            "host",
            "-e",
            "container=docker",
            "-v",
            "/usr:/usr:ro",
            "-v",
            "/sys/fs/cgroup:/sys/fs/cgroup",
            "-v",
            &format!("{bin_dir}:/opt/ss:ro"),
            "--tmpfs",
            "/run",
            "--tmpfs",
            "/run/lock",
            "--tmpfs",
            "/tmp",
            IMAGE,
        ]);
        let s = Systemd { name };
        // until the boot is over: `degraded`, since broken.service failed
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let out =
                Command::new("docker").args(["exec", &s.name, "systemctl", "is-system-running"]).output().unwrap();
            let state = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if state == "degraded" || state == "running" {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "systemd did not finish booting: {state:?}; {}",
                docker(&["logs", &s.name])
            );
            std::thread::sleep(Duration::from_millis(250));
        }
        s
    }

    /// A command run inside the container.
    fn exec(&self, env: &[(&str, &str)], program: &str) -> Command {
        let mut cmd = clean_command("docker");
        cmd.args(["exec", "-i"]);
        for (k, v) in env {
            cmd.args(["-e", &format!("{k}={v}")]);
        }
        cmd.args([&self.name, program]);
        cmd
    }
}

impl Drop for Systemd {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rm", "-f", &self.name]).output();
    }
}

fn engine() -> bool {
    let ok = Command::new("docker").arg("info").output().is_ok_and(|o| o.status.success());
    assert!(ok || std::env::var_os("SYSTEM_STATS_TEST_STRICT").is_none(), "a running dockerd is needed");
    ok && Path::new("/lib/systemd/systemd").exists() && available("dbus-daemon", "--version")
}

type Series = BTreeMap<(String, String), f64>;

/// The `node_systemd_*` series of a text, by name and label set; their TYPE and HELP lines.
fn systemd_series(text: &str) -> (Series, BTreeSet<String>) {
    let mut series = Series::new();
    let mut meta = BTreeSet::new();
    for line in text.lines() {
        if line.starts_with("# HELP node_systemd_") || line.starts_with("# TYPE node_systemd_") {
            meta.insert(line.to_string());
        } else if line.starts_with("node_systemd_") {
            let (key, value) = line.rsplit_once(' ').unwrap();
            let (name, labels) = key.split_once('{').unwrap_or((key, ""));
            series.insert((name.to_string(), labels.to_string()), value.parse().unwrap());
        }
    }
    (series, meta)
}

/// The failed unit is listed with its result; the units are counted; the series are
/// node_exporter's, value for value.
#[test]
fn a_failed_unit_is_listed_and_the_series_are_node_exporters() {
    if !engine() || !available("prometheus-node-exporter", "--version") {
        return;
    }
    let systemd = Systemd::start();
    // the stock rule on failed units, with a `for` of a second instead of five minutes
    let mut write = systemd.exec(&[], "sh");
    write.args(["-c", "cat > /tmp/rules.toml"]).stdin(Stdio::piped());
    let mut writing = write.spawn().unwrap();
    std::io::Write::write_all(
        &mut writing.stdin.take().unwrap(),
        b"[[rule]]\nname = \"NodeSystemdServiceFailed\"\nquantity = \"service.failed\"\ncomparison = \"==\"\n\
          threshold = 1\nfor = \"1s\"\nsummary = \"{unit} has failed\"\n",
    )
    .unwrap();
    assert!(writing.wait().unwrap().success());
    let s = Service::start_command(systemd.exec(
        &[
            ("SYSTEM_STATS_HOST", "127.0.0.1"),
            ("SYSTEM_STATS_PORT", "0"),
            ("SYSTEM_STATS_UPDATE_CHECK_INTERVAL", "0"),
            ("SYSTEM_STATS_ALERT_RULES", "/tmp/rules.toml"),
        ],
        "/opt/ss/system-stats-service",
    ));
    let deadline = Instant::now() + Duration::from_secs(30);
    let services = loop {
        let v = s.json("/system")["services"].clone();
        if v["source"] == "systemd" {
            break v;
        }
        assert!(Instant::now() < deadline, "no systemd reading: {v}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(services["state"], "degraded", "{services}");
    assert!(services["version"].as_str().unwrap().starts_with("252"), "{services}");
    assert_eq!(services["units"]["failed"], 1, "{services}");
    assert!(services["units"]["active"].as_u64().unwrap() > 10, "{services}");
    let failed = &services["failed"][0];
    assert_eq!(failed["name"], "broken.service", "{services}");
    assert_eq!(failed["result"], "exit-code", "{services}");
    assert_eq!(failed["description"], "A unit that fails on purpose");
    let since = chrono::DateTime::parse_from_rfc3339(failed["since"].as_str().unwrap()).unwrap();
    assert!((chrono::Utc::now() - since.to_utc()).num_seconds().abs() < 120, "{since}");
    assert!(services["error"].is_null());
    // the failed unit fires the rule
    let deadline = Instant::now() + Duration::from_secs(15);
    let alert = loop {
        let alerts = s.json("/system")["alerts"].clone();
        let firing = alerts
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == "NodeSystemdServiceFailed" && a["state"] == "firing")
            .cloned();
        if let Some(a) = firing {
            break a;
        }
        assert!(Instant::now() < deadline, "the failed unit fires nothing: {alerts}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(alert["labels"]["unit"], "broken.service");
    assert_eq!(alert["summary"], "broken.service has failed");

    // node_exporter's systemd collector, beside it on the same bus, upstream's unit filter
    let port = free_port();
    let mut ne = systemd.exec(&[], "/usr/bin/prometheus-node-exporter");
    ne.args([
        &format!("--web.listen-address=127.0.0.1:{port}"),
        "--collector.disable-defaults",
        "--collector.systemd",
        "--collector.systemd.unit-exclude=.+\\.(automount|device|mount|scope|slice)",
    ]);
    let _ne = common::Running::spawn(ne);
    let addr = format!("127.0.0.1:{port}");
    wait_http(&addr, "/metrics");
    // the two readings are seconds apart: compared again if a unit moved in between
    let mut attempts = 0;
    loop {
        let (theirs, theirs_meta) = systemd_series(&request(addr.parse().unwrap(), "GET", "/metrics").body);
        let (ours, ours_meta) = systemd_series(&s.get("/metrics").body);
        assert_eq!(ours_meta, theirs_meta);
        if ours == theirs {
            let failed = ours[&(
                "node_systemd_unit_state".to_string(),
                "name=\"broken.service\",state=\"failed\",type=\"oneshot\"}".to_string(),
            )];
            assert_eq!(failed, 1.0);
            assert!(ours.len() > 100, "{}", ours.len());
            break;
        }
        attempts += 1;
        if attempts == 5 {
            let only_ours: Vec<_> = ours.iter().filter(|(k, v)| theirs.get(*k) != Some(v)).collect();
            let only_theirs: Vec<_> = theirs.iter().filter(|(k, v)| ours.get(*k) != Some(v)).collect();
            panic!("ours differ: {only_ours:#?}\nnode_exporter's: {only_theirs:#?}");
        }
        std::thread::sleep(Duration::from_secs(6));
    }
}

/// Without systemd (this machine's PID 1 is not, and it has no system bus) `services` says
/// why, the family counts as working, and the reason is logged once, not once per sample.
#[test]
fn without_systemd_services_say_why_once() {
    if Path::new("/run/systemd/system").exists() {
        eprintln!("SKIPPED: this machine runs systemd");
        return;
    }
    let s = Service::start(&[("SYSTEM_STATS_SAMPLE_INTERVAL", "0.2")]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let services = loop {
        let v = s.json("/system")["services"].clone();
        if v["error"].is_string() {
            break v;
        }
        assert!(Instant::now() < deadline, "{v}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(services["error"].as_str().unwrap().starts_with("no system"), "{services}");
    assert!(services["source"].is_null() && services["units"].is_null() && services["failed"].is_null());
    std::thread::sleep(Duration::from_secs(2));
    let metrics = s.get("/metrics").body;
    assert!(metrics.contains("system_stats_collector_success{collector=\"services\"} 1"));
    assert!(!metrics.contains("node_systemd_"));
    assert_eq!(s.run.lines_with("services are not reported").len(), 1, "{}", s.run.log());
}
