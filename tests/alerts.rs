//! The alerting rules shipped in `packaging/prometheus/alerts.yml`: `promtool check rules`
//! and `promtool test rules` (each alert fires on the series that mean trouble, and only
//! then, with its summary and description), and a real Prometheus that loads them while
//! scraping the service and the forwarder's own metrics.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::receiver::{Mode, Receiver};
use common::{Running, Service, available, free_port, request, start_forwarder, wait_http};
use serde_json::Value;

fn rules_dir() -> std::path::PathBuf {
    common::repo().join("packaging/prometheus")
}

#[test]
fn promtool_checks_and_tests_the_rules() {
    if !available("promtool", "--version") {
        return;
    }
    let dir = rules_dir();
    let check = Command::new("promtool").arg("check").arg("rules").arg(dir.join("alerts.yml")).output().unwrap();
    let out = String::from_utf8_lossy(&check.stdout).into_owned() + &String::from_utf8_lossy(&check.stderr);
    assert!(check.status.success() && out.contains("SUCCESS: 9 rules found"), "{out}");
    let test = Command::new("promtool").current_dir(&dir).args(["test", "rules", "alerts.test.yml"]).output().unwrap();
    let out = String::from_utf8_lossy(&test.stdout).into_owned() + &String::from_utf8_lossy(&test.stderr);
    assert!(test.status.success() && out.contains("SUCCESS"), "{out}");
}

/// A real Prometheus scrapes the service and the forwarder's listener and loads the rules:
/// both groups healthy, every target up, the forwarder's backlog series there to alert on.
#[test]
fn prometheus_loads_the_rules_and_scrapes_both_programs() {
    if !available("prometheus", "--version") {
        return;
    }
    let s = Service::start(&[("SYSTEM_STATS_SAMPLE_INTERVAL", "0.2")]);
    let mut dead = Receiver::start(Mode::Accept);
    dead.go_down();
    let spool = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let _f = start_forwarder(
        &format!("http://{}/system", s.addr),
        &dead.url(),
        spool.path(),
        &[("SYSTEM_STATS_FORWARDER_METRICS", listen.as_str())],
    );
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n  - job_name: \
         system-stats\n    static_configs:\n      - targets: ['{}']\n  - job_name: system-stats-forwarder\n    \
         static_configs:\n      - targets: ['{listen}']\n",
        rules_dir().join("alerts.yml").display(),
        s.addr
    );
    std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
    let port = free_port();
    let mut cmd = Command::new("prometheus");
    cmd.arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"));
    let _prom = Running::spawn(cmd);
    let prom = format!("127.0.0.1:{port}");
    wait_http(&prom, "/-/ready");
    let get =
        |path: &str| -> Value { serde_json::from_str(&request(prom.parse().unwrap(), "GET", path).body).unwrap() };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let q = get("/api/v1/query?query=system_stats_forwarder_spooled_samples%20%3E%200");
        let up = get("/api/v1/query?query=up%20%3D%3D%201");
        if q["data"]["result"].as_array().is_some_and(|a| !a.is_empty())
            && up["data"]["result"].as_array().is_some_and(|a| a.len() == 2)
        {
            break;
        }
        assert!(Instant::now() < deadline, "no backlog series or targets down: {q} {up}");
        std::thread::sleep(Duration::from_millis(300));
    }
    let rules = get("/api/v1/rules");
    let groups = rules["data"]["groups"].as_array().unwrap();
    let names: Vec<&str> = groups.iter().map(|g| g["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["system-stats-forwarder", "system-stats-service"]);
    for g in groups {
        for r in g["rules"].as_array().unwrap() {
            assert_eq!(r["health"], "ok", "{r}");
        }
    }
    // the destination is down: its alert is pending (it fires after 15 minutes)
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let alerts = get("/api/v1/alerts");
        let pending = alerts["data"]["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["labels"]["alertname"] == "SystemStatsForwarderDestinationDown" && a["state"] == "pending");
        if pending {
            break;
        }
        assert!(Instant::now() < deadline, "no pending alert for the dead destination: {alerts}");
        std::thread::sleep(Duration::from_millis(300));
    }
}
