//! The forwarder delivering the service's alerts (`SYSTEM_STATS_NOTIFY_URLS`): statix's
//! webhook body, firing then resolved, each once; nothing lost nor told twice across a
//! receiver outage and `kill -9`; a flapping alert told once per cooldown; and a real
//! Alertmanager (Debian's `prometheus-alertmanager`) holding the alert while it fires and
//! resolving it after.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::receiver::{Mode, Receiver};
use common::{Running, Service, available, clean_command, forwarder_bin, free_port, wait_http};
use serde_json::Value;

/// A forwarder with notification destinations only (no MONITORING_SERVER_METRICS_URL).
fn notifier(source: &str, notify: &str, spool: &std::path::Path, extra: &[(&str, &str)]) -> Running {
    let mut cmd = clean_command(forwarder_bin());
    cmd.env("SYSTEM_STATS_URL", source)
        .env("SYSTEM_STATS_NOTIFY_URLS", notify)
        .env("SYSTEM_STATS_SPOOL_DIR", spool)
        .env("SYSTEM_STATS_FORWARD_LOG_LEVEL", "debug")
        .env("SYSTEM_STATS_FORWARD_INTERVAL", "0.2")
        .env("SYSTEM_STATS_FORWARD_TIMEOUT", "2")
        .envs(extra.iter().copied());
    let run = Running::spawn(cmd);
    run.wait_for_line("forwarding ");
    run
}

/// The service on `port`, its RAM threshold at `ram` percent (fires at once: memory is in
/// use) or off.
fn service_on(port: u16, ram: Option<&str>) -> Service {
    let port = port.to_string();
    let mut envs = vec![("SYSTEM_STATS_PORT", port.as_str()), ("SYSTEM_STATS_SAMPLE_INTERVAL", "0.2")];
    if let Some(t) = ram {
        envs.push(("SYSTEM_STATS_ALERT_RAM_THRESHOLD", t));
    }
    let s = Service::start(&envs);
    wait_http(&s.addr.to_string(), "/health");
    s
}

fn states(r: &Receiver) -> Vec<(String, String)> {
    r.accepted()
        .iter()
        .filter(|p| p["alertname"] == "HostRamThreshold")
        .map(|p| (p["state"].as_str().unwrap_or("").to_string(), p["fired_at"].as_str().unwrap_or("").to_string()))
        .collect()
}

fn wait_states(r: &Receiver, n: usize, limit: Duration) -> Vec<(String, String)> {
    let deadline = Instant::now() + limit;
    loop {
        let got = states(r);
        if got.len() >= n || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// statix's body: hostname, metric `ram`, value (two decimals), threshold, timestamp; firing
/// once while the alert fires, resolved once when the service no longer reports it.
#[test]
fn a_webhook_hears_firing_then_resolved_once_each() {
    let port = free_port();
    let s = service_on(port, Some("1"));
    let r = Receiver::start(Mode::AnyJson);
    let spool = tempfile::tempdir().unwrap();
    let source = format!("http://127.0.0.1:{port}/system");
    let f = notifier(&source, &format!("webhook+{}", r.url()), spool.path(), &[]);
    let got = wait_states(&r, 1, Duration::from_secs(10));
    assert_eq!(got.len(), 1, "{:?}\n{}", r.accepted(), f.log());
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(states(&r).len(), 1, "the firing alert was told again: {:?}", r.accepted());
    let p = &r.accepted()[0];
    assert_eq!(
        (p["metric"].as_str(), p["threshold"].as_f64(), p["state"].as_str()),
        (Some("ram"), Some(1.0), Some("firing"))
    );
    let system = s.json("/system");
    assert_eq!(p["hostname"], system["system"]["hostname"]);
    let value = p["value"].as_f64().unwrap();
    assert!(value >= 1.0 && (value * 100.0).fract().abs() < 1e-9, "{value}");
    let fired = system["alerts"].as_array().unwrap().iter().find(|a| a["name"] == "HostRamThreshold").unwrap().clone();
    assert_eq!(p["fired_at"], fired["fired_at"]);
    let ts = chrono::DateTime::parse_from_rfc3339(fired["fired_at"].as_str().unwrap()).unwrap().timestamp() as f64;
    assert_eq!(p["timestamp"].as_f64(), Some(ts));
    // the service restarted without the threshold: the alert is gone, so resolved
    drop(s);
    let _s = service_on(port, None);
    let got = wait_states(&r, 2, Duration::from_secs(10));
    assert_eq!(got.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>(), ["firing", "resolved"], "{:?}", r.accepted());
    let resolved = &r.accepted()[1];
    assert!(resolved["resolved_at"].is_string(), "{resolved}");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(states(&r).len(), 2, "told again: {:?}", r.accepted());
}

/// The receiver down while the alert fires: the notice waits in the spool through `kill -9`
/// and a restart of the forwarder, then arrives once.
#[test]
fn a_notice_survives_an_outage_and_kill_9_and_arrives_once() {
    let port = free_port();
    let _s = service_on(port, Some("1"));
    let mut r = Receiver::start(Mode::AnyJson);
    r.go_down();
    let spool = tempfile::tempdir().unwrap();
    let source = format!("http://127.0.0.1:{port}/system");
    let notify = format!("webhook+{}", r.url());
    let mut f = notifier(&source, &notify, spool.path(), &[]);
    f.wait_for_line("alert notice(s) spooled");
    std::thread::sleep(Duration::from_millis(600));
    f.signal(libc::SIGKILL);
    f.wait_exit(Duration::from_secs(5)).expect("killed");
    // a second forwarder on the same spool, killed too: told already, nothing new
    let mut g = notifier(&source, &notify, spool.path(), &[]);
    std::thread::sleep(Duration::from_millis(800));
    assert!(g.lines_with("alert notice(s) spooled").is_empty(), "spooled again after a restart:\n{}", g.log());
    g.signal(libc::SIGKILL);
    g.wait_exit(Duration::from_secs(5)).expect("killed");
    r.come_back(Mode::AnyJson);
    let _h = notifier(&source, &notify, spool.path(), &[]);
    let got = wait_states(&r, 1, Duration::from_secs(10));
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(states(&r), got, "told twice");
    assert_eq!(got.len(), 1, "{:?}", r.accepted());
    assert_eq!(got[0].0, "firing");
}

/// An alert that keeps resolving and firing again (the service restarted over and over) is
/// told once per cooldown, and a resolution only for a firing told.
#[test]
fn a_flapping_alert_is_told_once_per_cooldown() {
    let port = free_port();
    let r = Receiver::start(Mode::AnyJson);
    let spool = tempfile::tempdir().unwrap();
    let source = format!("http://127.0.0.1:{port}/system");
    let _f =
        notifier(&source, &format!("webhook+{}", r.url()), spool.path(), &[("SYSTEM_STATS_ALERT_COOLDOWN", "3600")]);
    for _ in 0..3 {
        let on = service_on(port, Some("1"));
        std::thread::sleep(Duration::from_millis(800));
        drop(on);
        let off = service_on(port, None);
        std::thread::sleep(Duration::from_millis(800));
        drop(off);
    }
    let got: Vec<String> = states(&r).into_iter().map(|(s, _)| s).collect();
    assert_eq!(got, ["firing", "resolved"], "{:?}", r.accepted());
}

/// Settings: notification URLs alone make a valid forwarder; a sample format there is refused.
#[test]
fn notification_urls_are_checked() {
    let out = clean_command(forwarder_bin())
        .env("SYSTEM_STATS_NOTIFY_URLS", "remote-write+http://127.0.0.1:9/api/v1/write")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("invalid SYSTEM_STATS_NOTIFY_URLS=") && err.contains("is a remote-write destination"),
        "{err}"
    );
    let spool = tempfile::tempdir().unwrap();
    let f = notifier("http://127.0.0.1:9/system", "http://127.0.0.1:9/hook", spool.path(), &[]);
    let line = f.wait_for_line("forwarding ");
    assert!(line.contains("1 destination(s) (http://127.0.0.1:9/hook)"), "{line}");
}

/// A real Alertmanager: the alert is active there with our labels (instance, severity) while
/// it fires, re-sent so that it stays active past its `endsAt` window, and resolved after.
#[test]
fn alertmanager_holds_the_alert_while_it_fires() {
    if !available("prometheus-alertmanager", "--version") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("am.yml");
    std::fs::write(&config, "route:\n  receiver: none\nreceivers:\n  - name: none\n").unwrap();
    let am_port = free_port();
    let mut am = Command::new("prometheus-alertmanager");
    am.arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.path={}", dir.path().join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
        .arg("--cluster.listen-address=")
        .arg("--log.level=warn");
    let _am = Running::spawn(am);
    let am_addr = format!("127.0.0.1:{am_port}");
    wait_http(&am_addr, "/-/ready");
    let active = || -> Vec<Value> {
        let r = common::request(
            am_addr.parse().unwrap(),
            "GET",
            "/api/v2/alerts?active=true&silenced=false&inhibited=false",
        );
        let all: Vec<Value> = serde_json::from_str(&r.body).unwrap_or_default();
        all.into_iter().filter(|a| a["labels"]["alertname"] == "HostRamThreshold").collect()
    };
    let port = free_port();
    let s = service_on(port, Some("1"));
    let hostname = s.json("/system")["system"]["hostname"].as_str().unwrap().to_string();
    let spool = tempfile::tempdir().unwrap();
    let source = format!("http://127.0.0.1:{port}/system");
    let f = notifier(&source, &format!("alertmanager+http://{am_addr}"), spool.path(), &[]);
    let deadline = Instant::now() + Duration::from_secs(15);
    let alert = loop {
        if let Some(a) = active().into_iter().next() {
            break a;
        }
        assert!(Instant::now() < deadline, "not active in Alertmanager:\n{}", f.log());
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(alert["labels"]["instance"], hostname);
    assert_eq!(alert["labels"]["severity"], "warning");
    assert_eq!(alert["labels"]["job"], "system-stats");
    assert_eq!(alert["status"]["state"], "active");
    assert_eq!(alert["generatorURL"], format!("http://127.0.0.1:{port}/"));
    assert!(alert["annotations"]["summary"].as_str().unwrap().starts_with("RAM at "), "{alert}");
    let ends = chrono::DateTime::parse_from_rfc3339(alert["endsAt"].as_str().unwrap()).unwrap();
    let left = ends.signed_duration_since(chrono::Utc::now()).num_seconds();
    assert!((200..=245).contains(&left), "endsAt {left} s ahead");
    // resolved: the service no longer reports it
    drop(s);
    let _s = service_on(port, None);
    let deadline = Instant::now() + Duration::from_secs(15);
    while !active().is_empty() {
        assert!(Instant::now() < deadline, "still active:\n{}", f.log());
        std::thread::sleep(Duration::from_millis(200));
    }
}
