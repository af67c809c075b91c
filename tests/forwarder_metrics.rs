//! The forwarder's own metrics (`SYSTEM_STATS_FORWARDER_METRICS`), from the real binaries: a
//! backlog that grows on a dead destination and stays at 0 on a live one, then drains, with
//! totals equal to what the receivers counted; the same figures as `--check-spool`; samples
//! that could not be spooled; a damaged spool; the listener behind the service's token and
//! `Host` rules.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::receiver::{Mode, Receiver};
use common::{
    Running, Service, clean_command, forwarder_bin, free_port, request, request_with_headers, start_forwarder,
};

/// The listener's series by name and labels (the labels as written).
fn scrape(addr: &str) -> BTreeMap<String, f64> {
    let r = request(addr.parse().unwrap(), "GET", "/metrics");
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').unwrap();
            (k.to_string(), v.parse().unwrap())
        })
        .collect()
}

fn series(name: &str, destination: &str) -> String {
    format!("system_stats_forwarder_{name}{{destination=\"{destination}\"}}")
}

fn forwarder(s: &Service, dests: &str, spool: &std::path::Path, extra: &[(&str, &str)]) -> (Running, String) {
    let listen = format!("127.0.0.1:{}", free_port());
    let mut env = vec![("SYSTEM_STATS_FORWARDER_METRICS", listen.as_str()), ("SYSTEM_STATS_FORWARD_INTERVAL", "0.2")];
    env.extend_from_slice(extra);
    let f = start_forwarder(&format!("http://{}/system", s.addr), dests, spool, &env);
    f.wait_for_line("metrics of the forwarder on ");
    (f, listen)
}

/// Waits until `check` holds for a scrape; returns that scrape.
fn until(addr: &str, what: &str, check: impl Fn(&BTreeMap<String, f64>) -> bool) -> BTreeMap<String, f64> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let m = scrape(addr);
        if check(&m) {
            return m;
        }
        assert!(Instant::now() < deadline, "{what}: {m:#?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One live and one dead destination: the dead one's backlog and oldest age grow while the
/// live one's stays empty; when the dead one comes back it drains to 0, and every total is
/// what the receivers counted.
#[test]
fn a_backlog_grows_on_the_dead_destination_only_then_drains() {
    let s = Service::start(&[("SYSTEM_STATS_SAMPLE_INTERVAL", "0.1")]);
    let live = Receiver::start(Mode::Accept);
    let mut dead = Receiver::start(Mode::Accept);
    dead.go_down();
    let spool = tempfile::tempdir().unwrap();
    let dests = format!("{},{}", live.url(), dead.url());
    let (f, addr) = forwarder(&s, &dests, spool.path(), &[]);
    let (l, d) = (live.url(), dead.url());
    let first = until(&addr, "a backlog on the dead one", |m| m[&series("spooled_samples", &d)] >= 3.0);
    std::thread::sleep(Duration::from_millis(1500));
    let later = scrape(&addr);
    assert!(later[&series("spooled_samples", &d)] > first[&series("spooled_samples", &d)], "{later:#?}");
    assert!(later[&series("oldest_sample_age_seconds", &d)] >= 1.4, "{later:#?}");
    assert!(later[&series("spool_bytes", &d)] > 0.0);
    assert_eq!(later[&series("up", &d)], 0.0);
    assert!(later[&series("retries_total", &d)] >= 1.0);
    assert!(later[&series("backoff_seconds", &d)] >= 0.0);
    assert!(later[&series("spooled_samples", &l)] <= 1.0, "{later:#?}");
    assert_eq!(later[&series("up", &l)], 1.0);
    assert_eq!(later[&series("last_http_status", &l)], 200.0);
    assert!(later[&series("delivered_total", &l)] >= 5.0);
    assert!(later.contains_key(&series("last_success_timestamp_seconds", &l)));
    assert!(!later.contains_key(&series("last_success_timestamp_seconds", &d)));
    let source = format!("system_stats_forwarder_polls_total{{source=\"http://{}/system\"}}", s.addr);
    assert!(later[&source] >= 5.0, "{later:#?}");
    assert!(later.contains_key("process_resident_memory_bytes"));
    assert!(later.keys().any(|k| k.starts_with("system_stats_forwarder_build_info{")));

    // back: it drains; with the service stopped the totals stop moving, and are the receivers'
    dead.come_back(Mode::Accept);
    until(&addr, "the dead one drained", |m| m[&series("spooled_samples", &d)] == 0.0 && m[&series("up", &d)] == 1.0);
    drop(s);
    std::thread::sleep(Duration::from_millis(600));
    let end = until(&addr, "both drained", |m| {
        m[&series("spooled_samples", &d)] == 0.0 && m[&series("spooled_samples", &l)] == 0.0
    });
    assert_eq!(end[&series("delivered_total", &l)], live.accepted().len() as f64);
    assert_eq!(end[&series("delivered_total", &d)], dead.accepted().len() as f64);
    assert_eq!(end[&series("oldest_sample_age_seconds", &d)], 0.0);
    for reason in ["refused", "spool_full", "not_a_snapshot"] {
        let k = format!("system_stats_forwarder_dropped_total{{destination=\"{d}\",reason=\"{reason}\"}}");
        assert_eq!(end[&k], 0.0, "{k}");
    }
    drop(f);
}

/// The listener says what `--check-spool` says of the same spool: its samples, and the age of
/// the oldest one it names.
#[test]
fn the_metrics_and_check_spool_agree() {
    let s = Service::start(&[("SYSTEM_STATS_SAMPLE_INTERVAL", "0.1")]);
    let mut dead = Receiver::start(Mode::Accept);
    dead.go_down();
    let spool = tempfile::tempdir().unwrap();
    let (mut f, addr) = forwarder(&s, &dead.url(), spool.path(), &[]);
    until(&addr, "a backlog", |m| m[&series("spooled_samples", &dead.url())] >= 4.0);
    drop(s);
    std::thread::sleep(Duration::from_millis(600));
    let m = scrape(&addr);
    f.signal(libc::SIGTERM);
    f.wait_exit(Duration::from_secs(10)).expect("stops");
    let out = clean_command(forwarder_bin())
        .env("SYSTEM_STATS_SPOOL_DIR", spool.path())
        .env("MONITORING_SERVER_METRICS_URL", dead.url())
        .arg("--check-spool")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let n = m[&series("spooled_samples", &dead.url())] as u64;
    assert!(text.contains(&format!(": {n} sample(s), ")), "metrics say {n}: {text}");
    let oldest = text.split("collected ").nth(1).unwrap().split(" to ").next().unwrap();
    let at = chrono::DateTime::parse_from_rfc3339(oldest).unwrap().timestamp_millis() as f64 / 1000.0;
    let age = m[&series("oldest_sample_age_seconds", &dead.url())];
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    // the scrape was a moment before: the same oldest sample
    assert!((now - at) - age >= 0.0 && (now - at) - age < 5.0, "check-spool's oldest {oldest}, metrics' age {age}");
}

/// The listener is guarded as the service is: the token for /metrics (not /health), the
/// `Host` check; /metrics answers OpenMetrics when asked.
#[test]
fn the_listener_takes_the_token_and_the_host_rules() {
    let s = Service::start(&[("SYSTEM_STATS_SAMPLE_INTERVAL", "0.1")]);
    let r = Receiver::start(Mode::Accept);
    let spool = tempfile::tempdir().unwrap();
    let (f, addr) = forwarder(&s, &r.url(), spool.path(), &[("SYSTEM_STATS_AUTH_TOKEN", "fwd-token-7c1")]);
    let a = addr.parse().unwrap();
    let plain = request(a, "GET", "/metrics");
    assert_eq!(plain.status, 401, "{}", plain.body);
    assert_eq!(request(a, "GET", "/health").status, 200);
    let authed = request_with_headers(a, "GET", "/metrics", "Authorization: Bearer fwd-token-7c1\r\n");
    assert_eq!(authed.status, 200);
    assert!(authed.body.contains("system_stats_forwarder_delivered_total"));
    let om = request_with_headers(
        a,
        "GET",
        "/metrics",
        "Authorization: Bearer fwd-token-7c1\r\nAccept: application/openmetrics-text; version=1.0.0\r\n",
    );
    assert!(om.header("content-type").unwrap().starts_with("application/openmetrics-text"));
    assert!(om.body.ends_with("# EOF\n"));
    let foreign = request_with_headers(a, "GET", "/health", "Host: evil.example\r\n");
    assert_eq!(foreign.status, 421);
    // two Host headers: 400 (RFC 9112), even when the first is the listener's own address
    let twice = format!("Host: {addr}\r\nHost: evil.example\r\nAuthorization: Bearer fwd-token-7c1\r\n");
    for path in ["/metrics", "/health"] {
        let got = request_with_headers(a, "GET", path, &twice);
        assert_eq!(got.status, 400, "{path}: {got:?}");
        assert!(got.body.contains("one Host header, not several"), "{}", got.body);
    }
    drop(f);
}

/// A bad listen address is one line naming the variable; a port in use stops the forwarder
/// with a line naming the address.
#[test]
fn bad_listen_settings_are_named() {
    let out = clean_command(forwarder_bin()).env("SYSTEM_STATS_FORWARDER_METRICS", "nowhere").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("SYSTEM_STATS_FORWARDER_METRICS=\"nowhere\": expected host:port"), "{err}");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let spool = tempfile::tempdir().unwrap();
    let out = clean_command(forwarder_bin())
        .env("SYSTEM_STATS_FORWARDER_METRICS", taken.local_addr().unwrap().to_string())
        .env("SYSTEM_STATS_SPOOL_DIR", spool.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot listen on") && err.contains("another program holds this port"), "{err}");
}

/// A spool file of 0 bytes is damage like any other: one ERROR naming it, counted, and the
/// destination gets its samples through the fresh spool made in its place.
#[test]
fn an_empty_spool_file_is_reported() {
    let s = Service::start(&[("SYSTEM_STATS_SAMPLE_INTERVAL", "0.1")]);
    let r = Receiver::start(Mode::Accept);
    let spool = tempfile::tempdir().unwrap();
    let file = spool.path().join(system_stats::forward::spool::file_name(&r.url()));
    std::fs::write(&file, b"").unwrap();
    let (f, addr) = forwarder(&s, &r.url(), spool.path(), &[]);
    let line = f.wait_for_line("is damaged (an empty file");
    assert!(line.contains("ERROR") && line.contains(&file.display().to_string()), "{line}");
    r.wait_accepted(2, Duration::from_secs(15));
    assert_eq!(scrape(&addr)[&series("spool_damaged_total", &r.url())], 1.0);
}
