//! The forwarder end to end: the real forwarder binary polling the real service, delivering
//! to in-process receivers on 127.0.0.1 that accept, fail with 500, are down entirely, reject
//! with 400 or are slow. The central property: every sample the forwarder spooled arrives,
//! in order, exactly once (a re-send only of a request that was never acknowledged).

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::receiver::{Mode, Receiver};
use common::{Running, Service, clean_command, forwarder_bin, start_forwarder};
use serde_json::Value;

/// The service, sampling fast so that every poll gets a new sample.
fn service() -> Service {
    Service::start(&[("SYSTEM_STATS_SAMPLE_INTERVAL", "0.1")])
}

fn source(s: &Service) -> String {
    format!("http://{}/system", s.addr)
}

/// The `collected_at` of every sample the forwarder spooled, in order (from its debug log).
fn spooled(f: &Running) -> Vec<String> {
    f.lines_with("spooling the sample collected at ")
        .iter()
        .map(|l| l.rsplit(' ').next().unwrap().to_string())
        .collect()
}

fn collected_at(payloads: &[Value]) -> Vec<String> {
    payloads.iter().map(|p| p["details"]["collected_at"].as_str().unwrap().to_string()).collect()
}

/// Stops the source and waits until the receiver holds everything spooled (by `earlier`
/// forwarder runs, then by `f`); returns (spooled, received) for comparison.
fn drain_after(earlier: Vec<String>, service: Service, f: &Running, r: &Receiver) -> (Vec<String>, Vec<String>) {
    drop(service);
    // one more tick may still be in progress when the service stops
    std::thread::sleep(Duration::from_millis(400));
    let want: Vec<String> = earlier.into_iter().chain(spooled(f)).collect();
    let got = r.wait_accepted(want.len(), Duration::from_secs(30));
    (want, collected_at(&got))
}

fn drain(service: Service, f: &Running, r: &Receiver) -> (Vec<String>, Vec<String>) {
    drain_after(vec![], service, f, r)
}

/// Asserts the receiver got exactly the spooled samples, in order, none twice.
fn assert_all_in_order(want: &[String], got: &[String]) {
    assert!(!want.is_empty());
    assert_eq!(got, want, "received != spooled");
    let mut sorted = got.to_vec();
    sorted.dedup();
    assert_eq!(sorted.len(), got.len(), "duplicates: {got:?}");
    assert!(got.windows(2).all(|w| w[0] < w[1]), "out of order: {got:?}");
}

/// Payloads pass the existing server's validation with the seed's exact keys and types, and
/// `details` is the service's snapshot.
#[test]
fn payloads_have_the_seed_shape() {
    let s = service();
    let r = Receiver::start(Mode::Accept);
    let spool = tempfile::tempdir().unwrap();
    let f = start_forwarder(&source(&s), &r.url(), spool.path(), &[]);
    let got = r.wait_accepted(3, Duration::from_secs(15));
    for p in &got {
        let keys: Vec<&str> = p.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["hostname", "cpu", "ram", "disk", "timestamp", "disk_read", "disk_write", "details"]);
        assert!(p["hostname"].is_string());
        for k in ["cpu", "ram", "disk", "disk_read", "disk_write"] {
            assert!(p[k].is_f64(), "{k} = {} is not a float", p[k]);
        }
        assert!(p["timestamp"].is_i64());
        let at = chrono::DateTime::parse_from_rfc3339(p["details"]["collected_at"].as_str().unwrap()).unwrap();
        assert_eq!(p["timestamp"].as_i64().unwrap(), at.timestamp());
        assert_eq!(p["cpu"], p["details"]["cpu"]["percent"]);
        assert_eq!(p["ram"], p["details"]["memory"]["percent"]);
        assert_eq!(p["disk"], p["details"]["disk"]["percent"]);
        assert!(p["details"]["network"]["io_counters"]["bytes_recv"].is_u64());
    }
    // one info line per tick, in the spirit of the original
    let line = f.wait_for_line("destinations up 1/1");
    assert!(line.contains("cpu=") && line.contains("MB/s") && line.contains("backlog"), "{line}");
}

/// 500s for a while: every sample taken meanwhile is delivered after recovery, in order, and
/// the outage is logged once (plus once when it ends), not per retry.
#[test]
fn an_outage_of_500s_loses_nothing() {
    let s = service();
    let r = Receiver::start(Mode::Fail(500, None));
    let spool = tempfile::tempdir().unwrap();
    let f = start_forwarder(&source(&s), &r.url(), spool.path(), &[]);
    std::thread::sleep(Duration::from_secs(2));
    assert!(r.accepted().is_empty());
    assert!(r.requests().len() >= 3, "retries: {:?}", r.requests());
    r.set_mode(Mode::Accept);
    let (want, got) = drain(s, &f, &r);
    assert!(want.len() >= 8, "{want:?}");
    assert_all_in_order(&want, &got);
    assert_eq!(f.lines_with("cannot deliver").len(), 1, "{}", f.log());
    assert_eq!(f.lines_with("reachable again").len(), 1, "{}", f.log());
}

/// The server is gone (connection refused, connections cut), then back on the same port.
#[test]
fn a_server_that_is_down_entirely_gets_everything_when_back() {
    let s = service();
    let mut r = Receiver::start(Mode::Accept);
    let spool = tempfile::tempdir().unwrap();
    let f = start_forwarder(&source(&s), &r.url(), spool.path(), &[]);
    r.wait_accepted(2, Duration::from_secs(10));
    r.go_down();
    std::thread::sleep(Duration::from_secs(2));
    r.come_back(Mode::Accept);
    let (want, got) = drain(s, &f, &r);
    assert_all_in_order(&want, &got);
    let warn = f.lines_with("cannot deliver");
    assert_eq!(warn.len(), 1, "{}", f.log());
    assert!(warn[0].contains("onnection refused") || warn[0].contains("connection"), "{}", warn[0]);
}

/// SIGKILL during an outage, then a restart on the same spool: nothing spooled is lost, nothing
/// is sent twice.
#[test]
fn sigkill_during_an_outage_loses_nothing() {
    let s = service();
    let mut r = Receiver::start(Mode::Accept);
    r.go_down();
    let spool = tempfile::tempdir().unwrap();
    let mut first = start_forwarder(&source(&s), &r.url(), spool.path(), &[]);
    std::thread::sleep(Duration::from_millis(1500));
    first.signal(libc::SIGKILL);
    first.wait_exit(Duration::from_secs(5)).expect("killed");
    let before = spooled(&first);
    assert!(before.len() >= 4, "{before:?}");

    let second = start_forwarder(&source(&s), &r.url(), spool.path(), &[]);
    let resumed = second.wait_for_line("forwarding ");
    assert!(resumed.contains(&format!("({} sample(s) waiting)", before.len())), "{resumed}");
    std::thread::sleep(Duration::from_millis(600));
    r.come_back(Mode::Accept);
    let (want, got) = drain_after(before, s, &second, &r);
    assert_all_in_order(&want, &got);
}

/// A 400 means the server will never take that sample: dropped, its error logged, counted;
/// later samples go on.
#[test]
fn a_rejected_sample_is_dropped_with_the_servers_reason() {
    let s = service();
    let r = Receiver::start(Mode::Fail(400, None));
    let spool = tempfile::tempdir().unwrap();
    let f = start_forwarder(&source(&s), &r.url(), spool.path(), &[]);
    let line = f.wait_for_line("the server refused it");
    assert!(line.contains("400") && line.contains("failing with 400 on purpose"), "{line}");
    assert!(line.contains("WARN"), "{line}");
    r.set_mode(Mode::Accept);
    r.wait_accepted(2, Duration::from_secs(10));
    let accepted = collected_at(&r.accepted());
    let refused = r.requests().iter().filter(|(_, st)| *st == 400).count();
    // each refused sample was sent once and never again
    let spooled_so_far = spooled(&f);
    assert!(refused >= 1);
    assert!(!accepted.iter().any(|a| spooled_so_far[..refused].contains(a)), "a refused sample came back");
    drop(s);
}

/// 429 with Retry-After: the forwarder waits at least that long before trying again.
#[test]
fn retry_after_is_honoured() {
    let s = service();
    let r = Receiver::start(Mode::Fail(429, Some(2)));
    let spool = tempfile::tempdir().unwrap();
    let _f = start_forwarder(&source(&s), &r.url(), spool.path(), &[]);
    let deadline = Instant::now() + Duration::from_secs(15);
    while r.requests().is_empty() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    r.set_mode(Mode::Accept);
    r.wait_accepted(1, Duration::from_secs(15));
    let reqs = r.requests();
    let gap = reqs[1].0 - reqs[0].0;
    assert_eq!(reqs[0].1, 429);
    assert!(gap >= Duration::from_millis(1900), "retried after {gap:?}, Retry-After was 2 s");
}

/// Two destinations: one down and one slow never delay the one that works; the down one gets
/// its whole backlog when it returns.
#[test]
fn destinations_do_not_wait_for_each_other() {
    let s = service();
    let good = Receiver::start(Mode::Accept);
    let mut down = Receiver::start(Mode::Accept);
    down.go_down();
    let slow = Receiver::start(Mode::Slow(Duration::from_secs(5)));
    let spool = tempfile::tempdir().unwrap();
    let dests = format!("{},{},{}", good.url(), down.url(), slow.url());
    let f = start_forwarder(&source(&s), &dests, spool.path(), &[("SYSTEM_STATS_FORWARD_TIMEOUT", "1")]);
    std::thread::sleep(Duration::from_secs(3));
    let ticks = spooled(&f).len();
    let delivered = good.accepted().len();
    assert!(ticks >= 10, "{ticks}");
    // the working destination keeps up with the ticks (the last one or two may be in flight)
    assert!(delivered + 2 >= ticks, "good got {delivered} of {ticks}");
    assert!(down.accepted().is_empty());
    assert_eq!(std::fs::read_dir(spool.path()).unwrap().count(), 3, "one spool per destination");
    down.come_back(Mode::Accept);
    slow.set_mode(Mode::Accept);
    let (want, got) = drain(s, &f, &down);
    assert_all_in_order(&want, &got);
    assert_eq!(collected_at(&good.wait_accepted(want.len(), Duration::from_secs(10))), want);
}

/// A full spool drops its oldest samples with a warning; what is kept arrives in order.
#[test]
fn a_full_spool_keeps_the_newest() {
    let s = service();
    let mut r = Receiver::start(Mode::Accept);
    r.go_down();
    let spool = tempfile::tempdir().unwrap();
    let f = start_forwarder(
        &source(&s),
        &r.url(),
        spool.path(),
        &[("SYSTEM_STATS_SPOOL_MAX_BYTES", "64KiB"), ("SYSTEM_STATS_FORWARD_INTERVAL", "0.1")],
    );
    let line = f.wait_for_line("spool full");
    assert!(line.contains("WARN") && line.contains("oldest sample(s)"), "{line}");
    r.come_back(Mode::Accept);
    drop(s);
    std::thread::sleep(Duration::from_millis(300));
    let all = spooled(&f);
    // everything still spooled arrives; what arrives is the newest part of what was spooled
    let deadline = Instant::now() + Duration::from_secs(20);
    let got = loop {
        let got = collected_at(&r.accepted());
        if got.last() == all.last() || Instant::now() > deadline {
            break got;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(got.len() < all.len(), "nothing was dropped: {} of {}", got.len(), all.len());
    assert_eq!(got[..], all[all.len() - got.len()..]);
    assert!(got.len() as u64 * 1500 <= 64 * 1024 + 2000);
}

/// `--once` for cron: exit 0 when delivered; 1 when not (the sample stays spooled) and the
/// next run delivers the backlog first.
#[test]
fn once_exit_codes_and_backlog() {
    let s = service();
    let mut r = Receiver::start(Mode::Accept);
    let spool = tempfile::tempdir().unwrap();
    let once = |r: &Receiver| {
        clean_command(forwarder_bin())
            .arg("--once")
            .env("SYSTEM_STATS_URL", source(&s))
            .env("MONITORING_SERVER_METRICS_URL", r.url())
            .env("SYSTEM_STATS_SPOOL_DIR", spool.path())
            .env("SYSTEM_STATS_FORWARD_TIMEOUT", "2")
            .output()
            .unwrap()
    };
    assert_eq!(once(&r).status.code(), Some(0));
    assert_eq!(r.accepted().len(), 1);
    // a new sample for the next run (the service takes one every 0.1 s)
    std::thread::sleep(Duration::from_millis(150));
    r.go_down();
    let out = once(&r);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("stay spooled"));
    std::thread::sleep(Duration::from_millis(150));
    r.come_back(Mode::Accept);
    assert_eq!(once(&r).status.code(), Some(0));
    let got = collected_at(&r.accepted());
    assert_eq!(got.len(), 3);
    assert!(got.windows(2).all(|w| w[0] < w[1]), "{got:?}");

    // no service: exit 3
    drop(s);
    let out = clean_command(forwarder_bin())
        .arg("--once")
        .env("SYSTEM_STATS_URL", "http://127.0.0.1:9/system")
        .env("MONITORING_SERVER_METRICS_URL", r.url())
        .env("SYSTEM_STATS_SPOOL_DIR", spool.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
}

/// `--dry-run` prints the payload and neither sends nor spools anything.
#[test]
fn dry_run_prints_and_sends_nothing() {
    let s = service();
    let r = Receiver::start(Mode::Accept);
    let spool = tempfile::tempdir().unwrap();
    let dir = spool.path().join("never-created");
    let out = clean_command(forwarder_bin())
        .arg("--dry-run")
        .env("SYSTEM_STATS_URL", source(&s))
        .env("MONITORING_SERVER_METRICS_URL", r.url())
        .env("SYSTEM_STATS_SPOOL_DIR", &dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let payload: Value = serde_json::from_slice(&out.stdout).unwrap();
    common::receiver::validate(&payload).unwrap();
    assert!(payload["details"]["memory"]["total"].is_u64());
    assert!(r.requests().is_empty());
    assert!(!dir.exists());
}

/// Bad settings: exit 2 with one line naming the variable, the value and what is accepted.
#[test]
fn bad_settings_exit_2_with_one_line() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let cases: Vec<(&str, String, &str)> = vec![
        ("SYSTEM_STATS_FORWARD_INTERVAL", "0".into(), "seconds from 0.1"),
        ("SYSTEM_STATS_FORWARD_INTERVAL", "soon".into(), "seconds from 0.1"),
        ("MONITORING_SERVER_METRICS_URL", "http://ok:1/m,not a url".into(), "\"not a url\" is not one"),
        ("MONITORING_SERVER_METRICS_URL", "ftp://x/".into(), "scheme \"ftp\""),
        ("SYSTEM_STATS_URL", "127.0.0.1:5001".into(), "http:// or https://"),
        ("SYSTEM_STATS_FORWARD_TIMEOUT", "abc".into(), "seconds from 0.1 to 300"),
        ("SYSTEM_STATS_FORWARD_MAX_RATE", "-1".into(), "from 0 (unlimited)"),
        ("SYSTEM_STATS_SPOOL_MAX_BYTES", "lots".into(), "a size in bytes"),
        ("SYSTEM_STATS_SPOOL_DIR", file.path().display().to_string(), "a directory"),
        ("SYSTEM_STATS_FORWARD_LOG_LEVEL", "loud".into(), "one of trace"),
    ];
    for (var, value, expected) in &cases {
        let out = clean_command(forwarder_bin()).env(var, value).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{var}={value}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(&format!("{var}=\"{value}\"")), "{stderr}");
        assert!(stderr.contains(expected), "{var}={value}: {stderr}");
    }
    let help = clean_command(forwarder_bin()).arg("--help").output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    for (var, ..) in &cases {
        assert!(help.contains(var), "{var} missing from --help");
    }
    assert!(help.contains("--once") && help.contains("--dry-run"));
}

/// SIGTERM: stops polling, lets the delivery in flight finish (bounded), exits 0; what was
/// not delivered stays spooled for the next start.
#[test]
fn sigterm_exits_0_within_the_grace_period() {
    let s = service();
    let r = Receiver::start(Mode::Slow(Duration::from_millis(1500)));
    let spool = tempfile::tempdir().unwrap();
    let mut f = start_forwarder(&source(&s), &r.url(), spool.path(), &[("SYSTEM_STATS_FORWARD_TIMEOUT", "10")]);
    std::thread::sleep(Duration::from_millis(700));
    let t0 = Instant::now();
    f.signal(libc::SIGTERM);
    let status = f.wait_exit(Duration::from_secs(8)).expect("still running 8 s after SIGTERM");
    assert!(status.success(), "{status:?}\n{}", f.log());
    assert!(t0.elapsed() < Duration::from_millis(5500), "{:?}", t0.elapsed());
    // the delivery in flight was let finish
    assert_eq!(r.accepted().len(), 1, "{}", f.log());
    assert!(f.log().contains("left spooled"));
    drop(s);
    assert_spool_files(spool.path(), 1);
}

fn assert_spool_files(dir: &Path, n: usize) {
    let files: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().collect();
    assert_eq!(files.len(), n, "{files:?}");
}

/// The service going away is one warning, its return one line; the forwarder keeps going.
#[test]
fn a_missing_service_is_a_warning_not_an_exit() {
    let r = Receiver::start(Mode::Accept);
    let spool = tempfile::tempdir().unwrap();
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    drop(holder);
    let url = format!("http://127.0.0.1:{port}/system");
    let mut f = start_forwarder(&url, &r.url(), spool.path(), &[]);
    f.wait_for_line("no sample this tick");
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(f.lines_with("no sample this tick").len(), 1, "{}", f.log());
    assert!(f.child.try_wait().unwrap().is_none(), "the forwarder exited");
    let s = Service::start(&[("SYSTEM_STATS_PORT", &port.to_string())]);
    f.wait_for_line("service answering again");
    r.wait_accepted(1, Duration::from_secs(10));
    drop(s);
}

/// https destinations: verified against the system's roots (here `SSL_CERT_FILE` holding the
/// receiver's self-signed certificate); an untrusted certificate is a delivery failure that
/// keeps the samples spooled, never a silent acceptance.
#[test]
fn https_destinations_are_verified() {
    let s = service();
    let (r, cert) = Receiver::start_tls(Mode::Accept);
    let dir = tempfile::tempdir().unwrap();
    let untrusted = start_forwarder(&source(&s), &r.url(), &dir.path().join("a"), &[("SSL_CERT_FILE", "/dev/null")]);
    let line = untrusted.wait_for_line("cannot deliver");
    assert!(line.to_lowercase().contains("certificate"), "{line}");
    assert!(r.accepted().is_empty());
    drop(untrusted);

    let pem = dir.path().join("ca.pem");
    std::fs::write(&pem, cert).unwrap();
    let _trusted =
        start_forwarder(&source(&s), &r.url(), &dir.path().join("b"), &[("SSL_CERT_FILE", pem.to_str().unwrap())]);
    let got = r.wait_accepted(2, Duration::from_secs(15));
    common::receiver::validate(&got[0]).unwrap();
}

/// A backlog drains at most at SYSTEM_STATS_FORWARD_MAX_RATE per second.
#[test]
fn a_backlog_drains_at_the_bounded_rate() {
    let s = service();
    let mut r = Receiver::start(Mode::Accept);
    r.go_down();
    let spool = tempfile::tempdir().unwrap();
    let f = start_forwarder(&source(&s), &r.url(), spool.path(), &[("SYSTEM_STATS_FORWARD_MAX_RATE", "10")]);
    std::thread::sleep(Duration::from_millis(1500));
    r.come_back(Mode::Accept);
    let (want, got) = drain(s, &f, &r);
    assert_all_in_order(&want, &got);
    let times: Vec<Instant> = r.requests().iter().map(|(t, _)| *t).collect();
    let min_gap = times.windows(2).map(|w| w[1] - w[0]).min().unwrap();
    // 10 per second: 100 ms apart (a little scheduling slack)
    assert!(min_gap >= Duration::from_millis(90), "two deliveries {min_gap:?} apart");
}

/// A source answering something that is not a snapshot: a warning naming what is wrong, no
/// sample for that tick, the forwarder goes on.
#[test]
fn a_source_returning_garbage_is_a_warning() {
    let s = service();
    let r = Receiver::start(Mode::Accept);
    let spool = tempfile::tempdir().unwrap();
    let url = format!("http://{}/health", s.addr);
    let f = start_forwarder(&url, &r.url(), spool.path(), &[]);
    let line = f.wait_for_line("no sample this tick");
    assert!(line.contains("not a system-stats snapshot") && line.contains("WARN"), "{line}");
    std::thread::sleep(Duration::from_millis(500));
    assert!(r.requests().is_empty());
    assert_eq!(f.lines_with("no sample this tick").len(), 1);
}
