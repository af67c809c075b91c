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
    f.lines_with("spooled the sample collected at ").iter().map(|l| l.rsplit(' ').next().unwrap().to_string()).collect()
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
    let limit = Duration::from_secs(30);
    let deadline = Instant::now() + limit;
    let mut got = collected_at(&r.wait_accepted(want.len(), limit));
    // as many payloads as samples is not all of them when one was sent twice (a kill before
    // its answer was seen): wait for each (the asserts then name any that never came)
    while want.iter().any(|w| !got.contains(w)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        got = collected_at(&r.accepted());
    }
    (want, got)
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

/// What a test's destination takes: the JSON payload, or remote-write (which the receiver
/// reads back into the same shape: `details.collected_at` is the samples' time).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Dest {
    Json,
    RemoteWrite,
}

impl Dest {
    fn url(self, r: &Receiver) -> String {
        match self {
            Dest::Json => r.url(),
            Dest::RemoteWrite => format!("remote-write+{}", r.url()),
        }
    }
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
        // the seed's keys, in order, then the newest server's, then details
        assert_eq!(
            keys,
            [
                "hostname",
                "cpu",
                "ram",
                "disk",
                "timestamp",
                "disk_read",
                "disk_write",
                "swap_percent",
                "load1",
                "load5",
                "load15",
                "net_read",
                "net_write",
                "cpu_cores",
                "details"
            ]
        );
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
fn an_outage_of_500s_loses_nothing_on(dest: Dest) {
    let s = service();
    let r = Receiver::start(Mode::Fail(500, None));
    let spool = tempfile::tempdir().unwrap();
    let f = start_forwarder(&source(&s), &dest.url(&r), spool.path(), &[]);
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

#[test]
fn an_outage_of_500s_loses_nothing() {
    an_outage_of_500s_loses_nothing_on(Dest::Json);
}

/// The same on a remote-write destination: what it spools is the service's `/metrics`.
#[test]
fn an_outage_of_500s_loses_nothing_remote_write() {
    an_outage_of_500s_loses_nothing_on(Dest::RemoteWrite);
}

/// The server is gone (connection refused, connections cut), then back on the same port.
fn a_server_that_is_down_entirely_gets_everything_when_back_on(dest: Dest) {
    let s = service();
    let mut r = Receiver::start(Mode::Accept);
    let spool = tempfile::tempdir().unwrap();
    let f = start_forwarder(&source(&s), &dest.url(&r), spool.path(), &[]);
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

#[test]
fn a_server_that_is_down_entirely_gets_everything_when_back() {
    a_server_that_is_down_entirely_gets_everything_when_back_on(Dest::Json);
}

/// The same on a remote-write destination: what it spools is the service's `/metrics`.
#[test]
fn a_server_that_is_down_entirely_gets_everything_when_back_remote_write() {
    a_server_that_is_down_entirely_gets_everything_when_back_on(Dest::RemoteWrite);
}

/// SIGKILL during an outage, then a restart on the same spool: nothing spooled is lost, nothing
/// is sent twice.
fn sigkill_during_an_outage_loses_nothing_on(dest: Dest) {
    let s = service();
    let mut r = Receiver::start(Mode::Accept);
    r.go_down();
    let spool = tempfile::tempdir().unwrap();
    let mut first = start_forwarder(&source(&s), &dest.url(&r), spool.path(), &[]);
    std::thread::sleep(Duration::from_millis(1500));
    first.signal(libc::SIGKILL);
    first.wait_exit(Duration::from_secs(5)).expect("killed");
    let before = spooled(&first);
    assert!(before.len() >= 4, "{before:?}");

    let second = start_forwarder(&source(&s), &dest.url(&r), spool.path(), &[]);
    let resumed = second.wait_for_line("forwarding ");
    assert!(resumed.contains(&format!("({} sample(s) waiting)", before.len())), "{resumed}");
    std::thread::sleep(Duration::from_millis(600));
    r.come_back(Mode::Accept);
    let (want, got) = drain_after(before, s, &second, &r);
    assert_all_in_order(&want, &got);
}

#[test]
fn sigkill_during_an_outage_loses_nothing() {
    sigkill_during_an_outage_loses_nothing_on(Dest::Json);
}

/// The same on a remote-write destination: what it spools is the service's `/metrics`.
#[test]
fn sigkill_during_an_outage_loses_nothing_remote_write() {
    sigkill_during_an_outage_loses_nothing_on(Dest::RemoteWrite);
}

/// A 400 means the server will never take that sample: dropped, its error logged, counted;
/// later samples go on.
fn a_rejected_sample_is_dropped_with_the_servers_reason_on(dest: Dest) {
    let s = service();
    let r = Receiver::start(Mode::Fail(400, None));
    let spool = tempfile::tempdir().unwrap();
    let f = start_forwarder(&source(&s), &dest.url(&r), spool.path(), &[]);
    let line = f.wait_for_line("the server refused them");
    assert!(line.contains("400") && line.contains("failing with 400 on purpose"), "{line}");
    assert!(line.contains("WARN"), "{line}");
    // more refusals: still that one line (a receiver refusing a backlog refuses it all)
    let deadline = Instant::now() + Duration::from_secs(10);
    while r.requests().iter().filter(|(_, st)| *st == 400).count() < 4 {
        assert!(Instant::now() < deadline, "{:?}", r.requests());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(f.lines_with("the server refused them").len(), 1, "{}", f.log());
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

#[test]
fn a_rejected_sample_is_dropped_with_the_servers_reason() {
    a_rejected_sample_is_dropped_with_the_servers_reason_on(Dest::Json);
}

/// The same on a remote-write destination: what it spools is the service's `/metrics`.
#[test]
fn a_rejected_sample_is_dropped_with_the_servers_reason_remote_write() {
    a_rejected_sample_is_dropped_with_the_servers_reason_on(Dest::RemoteWrite);
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
    assert_spool_files(spool.path(), 3);
    down.come_back(Mode::Accept);
    slow.set_mode(Mode::Accept);
    let (want, got) = drain(s, &f, &down);
    assert_all_in_order(&want, &got);
    assert_eq!(collected_at(&good.wait_accepted(want.len(), Duration::from_secs(10))), want);
}

/// A full spool drops its oldest samples with a warning; what is kept arrives in order.
fn a_full_spool_keeps_the_newest_on(dest: Dest) {
    let s = service();
    let mut r = Receiver::start(Mode::Accept);
    r.go_down();
    let spool = tempfile::tempdir().unwrap();
    let f = start_forwarder(
        &source(&s),
        &dest.url(&r),
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

#[test]
fn a_full_spool_keeps_the_newest() {
    a_full_spool_keeps_the_newest_on(Dest::Json);
}

/// The same on a remote-write destination: what it spools is the service's `/metrics`.
#[test]
fn a_full_spool_keeps_the_newest_remote_write() {
    a_full_spool_keeps_the_newest_on(Dest::RemoteWrite);
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
        ("SYSTEM_STATS_FORWARD_MAX_RATE", "-1".into(), "0 (no limit) or a number from 0.01 to 10000"),
        ("SYSTEM_STATS_FORWARD_MAX_RATE", "1e-30".into(), "0 (no limit) or a number from 0.01 to 10000"),
        ("SYSTEM_STATS_FORWARD_MAX_RATE", "1e-15".into(), "0 (no limit) or a number from 0.01 to 10000"),
        ("MONITORING_SERVER_METRICS_URL", "http://127.0.0.1:99999/metrics".into(), "port \"99999\" is not from 1"),
        ("SYSTEM_STATS_SPOOL_DIR", "   ".into(), "without control characters"),
        ("SYSTEM_STATS_SPOOL_DIR", "/var/lib/system-stats\nextra".into(), "without control characters"),
        ("SYSTEM_STATS_SPOOL_MAX_BYTES", "lots".into(), "a size in bytes"),
        ("SYSTEM_STATS_SPOOL_DIR", file.path().display().to_string(), "(this is a file)"),
        ("SYSTEM_STATS_FORWARD_LOG_LEVEL", "loud".into(), "one of trace"),
    ];
    for (var, value, expected) in &cases {
        let out = clean_command(forwarder_bin()).env(var, value).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{var}={value}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(&format!("{var}={value:?}")), "{stderr}");
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

/// The directory holds `n` spools (and the forwarders' lock file).
fn assert_spool_files(dir: &Path, n: usize) {
    let files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".redb"))
        .collect();
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

// ---- faults: a full disk, a damaged spool, redirects, big answers, kill -9 ----

/// Whether tests that mount filesystems can run (root); under CI they must.
fn can_mount() -> bool {
    // SAFETY: geteuid(2) cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    assert!(root || std::env::var_os("SYSTEM_STATS_TEST_STRICT").is_none(), "these tests mount tmpfs: run as root");
    if !root {
        eprintln!("SKIPPED: mounting a tmpfs needs root");
    }
    root
}

/// A tmpfs mounted for a test, unmounted when dropped.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, options: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let ok = std::process::Command::new("mount").args(["-t", "tmpfs", "-o", options, "tmpfs"]).arg(dir).status();
        assert!(ok.unwrap().success(), "mount -t tmpfs -o {options} {}", dir.display());
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the filesystem of `dir` with a file until `leave` bytes are free; returns the file.
fn fill(dir: &Path, leave: u64) -> std::path::PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![7u8; 4096];
    loop {
        let st = nix::sys::statvfs::statvfs(dir).unwrap();
        if (st.blocks_available() as u64) * (st.fragment_size() as u64) <= leave || f.write_all(&chunk).is_err() {
            break;
        }
        f.flush().unwrap();
    }
    path
}

/// The number before `what` in the forwarder's stop line.
fn stopped_count(f: &Running, what: &str) -> u64 {
    let line = f.wait_for_line("stopped: ");
    let before = line.split(what).next().unwrap();
    before.rsplit([',', ' ']).find(|w| !w.is_empty()).unwrap().parse().unwrap_or_else(|_| panic!("{what} in {line}"))
}

/// The spool's filesystem fills up during an outage, then has room again: what could not be
/// spooled is counted and logged once, spooling resumes by itself, every sample spooled is
/// delivered once and in order, and the stop line says exactly what was delivered.
fn a_full_disk_during_an_outage_is_survived_on(dest: Dest) {
    if !can_mount() {
        return;
    }
    let s = service();
    let mut r = Receiver::start(Mode::Accept);
    r.go_down();
    let tmp = tempfile::tempdir().unwrap();
    let _fs = Tmpfs::mount(&tmp.path().join("spool"), "size=1m,mode=0700");
    let spool = tmp.path().join("spool");
    let filler = fill(&spool, 160 * 1024);
    let listen = format!("127.0.0.1:{}", common::free_port());
    let mut f = start_forwarder(
        &source(&s),
        &dest.url(&r),
        &spool,
        &[("SYSTEM_STATS_FORWARD_INTERVAL", "0.1"), ("SYSTEM_STATS_FORWARDER_METRICS", &listen)],
    );
    let full = f.wait_for_line("sample not spooled");
    assert!(full.contains("ERROR") && full.contains("No space left"), "{full}");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(f.lines_with("sample not spooled").len(), 1, "one line per change of state:\n{}", f.log());
    // and the listener counts them
    let metrics = common::request(listen.parse().unwrap(), "GET", "/metrics").body;
    let lost: f64 = metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix(&format!("system_stats_forwarder_not_spooled_total{{destination=\"{}\"}} ", dest.url(&r)))
        })
        .expect("the not-spooled series")
        .parse()
        .unwrap();
    assert!(lost >= 2.0, "{metrics}");
    std::fs::remove_file(filler).unwrap();
    let again = f.wait_for_line("spooling again");
    assert!(again.contains("could not be spooled"), "{again}");
    std::thread::sleep(Duration::from_millis(500));
    r.come_back(Mode::Accept);
    let (want, got) = drain(s, &f, &r);
    assert_all_in_order(&want, &got);
    // each sample was POSTed once: no loop on a stuck entry
    assert_eq!(r.requests().len(), got.len());
    f.signal(libc::SIGTERM);
    f.wait_exit(Duration::from_secs(10)).expect("stops");
    assert_eq!(stopped_count(&f, " delivered"), got.len() as u64, "{}", f.log());
    assert!(stopped_count(&f, " could not be spooled") >= 1, "{}", f.log());
}

#[test]
fn a_full_disk_during_an_outage_is_survived() {
    a_full_disk_during_an_outage_is_survived_on(Dest::Json);
}

/// The same on a remote-write destination: what it spools is the service's `/metrics`.
#[test]
fn a_full_disk_during_an_outage_is_survived_remote_write() {
    a_full_disk_during_an_outage_is_survived_on(Dest::RemoteWrite);
}

/// A snapshot the service served, to fill spools with.
fn one_snapshot(s: &Service) -> String {
    common::request(s.addr, "GET", "/system").body
}

/// Damaged spool files, over a fixed set of damages: the other destination never stops
/// receiving, the forwarder never exits, the damaged file is set aside (one ERROR saying
/// where) and the destination gets new samples through a fresh spool.
fn a_damaged_spool_never_stops_the_others_on(dest: Dest) {
    let s = service();
    let snapshot = one_snapshot(&s);
    let healthy = tempfile::tempdir().unwrap();
    let path = healthy.path().join("model.redb");
    {
        let mut sp = system_stats::forward::spool::Spool::open(&path, 1 << 20).unwrap();
        for i in 0..30 {
            sp.push(snapshot.as_bytes(), i + 1).unwrap();
        }
    }
    let model = std::fs::read(&path).unwrap();
    let mut damages: Vec<(String, Vec<u8>)> = vec![
        ("zeroed header".into(), {
            let mut b = model.clone();
            b[..4096].fill(0);
            b
        }),
        ("truncated".into(), model[..model.len() / 3].to_vec()),
        ("garbage".into(), b"not a database at all\n".repeat(50)),
    ];
    for seed in [3u64, 17, 42, 101, 999] {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut b = model.clone();
        for _ in 0..rng.usize(1..12) {
            let at = rng.usize(..b.len());
            let n = rng.usize(1..256).min(b.len() - at);
            rng.fill(&mut b[at..at + n]);
        }
        damages.push((format!("seed {seed}"), b));
    }
    for (what, bytes) in damages {
        let good = Receiver::start(Mode::Accept);
        let hurt = Receiver::start(Mode::Accept);
        let spool = tempfile::tempdir().unwrap();
        let file = spool.path().join(system_stats::forward::spool::file_name(&dest.url(&hurt)));
        std::fs::write(&file, &bytes).unwrap();
        let dests = format!("{},{}", dest.url(&hurt), dest.url(&good));
        let listen = format!("127.0.0.1:{}", common::free_port());
        let mut f = start_forwarder(&source(&s), &dests, spool.path(), &[("SYSTEM_STATS_FORWARDER_METRICS", &listen)]);
        good.wait_accepted(3, Duration::from_secs(15));
        let deadline = Instant::now() + Duration::from_secs(15);
        // the damaged destination gets the new samples (its readable old ones may come first)
        while !hurt.accepted().iter().any(|p| p["details"]["collected_at"] != serde_json::json!(null)) {
            assert!(Instant::now() < deadline, "{what}: the damaged destination got nothing:\n{}", f.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(f.child.try_wait().unwrap().is_none(), "{what}: the forwarder exited:\n{}", f.log());
        let aside: Vec<String> = std::fs::read_dir(spool.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".damaged-"))
            .collect();
        if !aside.is_empty() {
            let line = f.wait_for_line("is damaged");
            assert!(line.contains("ERROR") && line.contains(&aside[0]), "{what}: {line}");
        }
        // the listener counts the files set aside, for the damaged destination only
        let metrics = common::request(listen.parse().unwrap(), "GET", "/metrics").body;
        let damaged = |url: &str| -> f64 {
            let prefix = format!("system_stats_forwarder_spool_damaged_total{{destination=\"{url}\"}} ");
            metrics.lines().find_map(|l| l.strip_prefix(&prefix)).expect("the damage series").parse().unwrap()
        };
        assert_eq!(damaged(&dest.url(&hurt)), aside.len() as f64, "{what}: {metrics}");
        assert_eq!(damaged(&dest.url(&good)), 0.0, "{what}");
        f.signal(libc::SIGKILL);
        let _ = f.wait_exit(Duration::from_secs(5));
    }
}

#[test]
fn a_damaged_spool_never_stops_the_others() {
    a_damaged_spool_never_stops_the_others_on(Dest::Json);
}

/// The same on a remote-write destination: what it spools is the service's `/metrics`.
#[test]
fn a_damaged_spool_never_stops_the_others_remote_write() {
    a_damaged_spool_never_stops_the_others_on(Dest::RemoteWrite);
}

/// A spool holding an entry that is not a snapshot (what once wedged delivery): the entry is
/// removed with its own count and ERROR, never sent, never called refused by the server, and
/// the samples around it are delivered in order.
#[test]
fn an_entry_that_is_not_a_snapshot_is_removed_not_retried() {
    let s = service();
    let snapshot = one_snapshot(&s);
    let r = Receiver::start(Mode::Accept);
    let spool = tempfile::tempdir().unwrap();
    {
        let file = spool.path().join(system_stats::forward::spool::file_name(&r.url()));
        let mut sp = system_stats::forward::spool::Spool::open(&file, 1 << 20).unwrap();
        sp.push(snapshot.as_bytes(), 1).unwrap();
        sp.push(b"\x00\x01 not json at all", 2).unwrap();
        sp.push(br#"{"collected_at": "whenever"}"#, 3).unwrap();
        sp.push(snapshot.as_bytes(), 4).unwrap();
    }
    // the service has newer samples by now
    std::thread::sleep(Duration::from_millis(300));
    let mut f = start_forwarder(&source(&s), &r.url(), spool.path(), &[]);
    let got = r.wait_accepted(4, Duration::from_secs(15));
    let at = collected_at(&got);
    // the two old copies, then new samples
    assert_eq!(at[0], at[1]);
    assert!(at[2] > at[1]);
    assert_eq!(f.lines_with("is not a snapshot").len(), 2, "{}", f.log());
    assert!(f.lines_with("refused").is_empty(), "{}", f.log());
    // every request was one of the accepted payloads
    assert_eq!(r.requests().len(), r.accepted().len());
    f.signal(libc::SIGTERM);
    f.wait_exit(Duration::from_secs(10)).expect("stops");
    assert_eq!(stopped_count(&f, " not a snapshot"), 2);
}

/// 307 and 308 to the same origin are followed; 301, 302 and a 307 elsewhere keep every
/// sample spooled, say once what the server answered and where it pointed, and everything
/// arrives, in order, once the server answers 200.
#[test]
fn redirects_never_lose_a_sample() {
    for code in [307, 308] {
        let s = service();
        let r = Receiver::start(Mode::Redirect(code, "/v2/metrics".into()));
        let spool = tempfile::tempdir().unwrap();
        let f = start_forwarder(&source(&s), &r.url(), spool.path(), &[]);
        let (want, got) = {
            std::thread::sleep(Duration::from_millis(1000));
            drain(s, &f, &r)
        };
        assert_all_in_order(&want, &got);
        let paths = r.paths();
        assert!(paths.iter().any(|p| p == "/metrics") && paths.iter().any(|p| p == "/v2/metrics"), "{paths:?}");
        assert!(f.lines_with("misconfigured").is_empty(), "{code}: {}", f.log());
    }
    for (code, to) in [(301, "/moved"), (302, "/found"), (307, "http://127.0.0.1:9/elsewhere")] {
        let s = service();
        let r = Receiver::start(Mode::Redirect(code, to.into()));
        let spool = tempfile::tempdir().unwrap();
        let f = start_forwarder(&source(&s), &r.url(), spool.path(), &[]);
        let line = f.wait_for_line("misconfigured");
        assert!(line.contains("ERROR") && line.contains(&code.to_string()) && line.contains(to), "{line}");
        assert!(line.contains("MONITORING_SERVER_METRICS_URL"), "{line}");
        std::thread::sleep(Duration::from_millis(1500));
        assert!(r.accepted().is_empty());
        assert_eq!(f.lines_with("misconfigured").len(), 1, "one line per change of state:\n{}", f.log());
        r.set_mode(Mode::Accept);
        let (want, got) = drain(s, &f, &r);
        assert!(want.len() >= 8, "{code}: {want:?}");
        assert_all_in_order(&want, &got);
    }
}

/// A 2xx whose body trickles in (status and headers at once, then a byte a second, longer
/// than the timeout) is a delivery: every sample arrives once, none is sent again.
#[test]
fn a_2xx_whose_body_trickles_is_a_delivery() {
    let s = service();
    let r = Receiver::start(Mode::Trickle(60));
    let spool = tempfile::tempdir().unwrap();
    let f = start_forwarder(&source(&s), &r.url(), spool.path(), &[("SYSTEM_STATS_FORWARD_TIMEOUT", "3")]);
    r.wait_accepted(10, Duration::from_secs(20));
    let (want, got) = drain(s, &f, &r);
    assert_all_in_order(&want, &got);
    assert_eq!(r.requests().len(), got.len(), "a sample was sent again");
}

/// A 2xx is a delivery whatever its body: a 50 MiB answer is not read, and no sample is sent
/// twice.
#[test]
fn a_2xx_with_a_huge_body_is_a_delivery() {
    let s = service();
    let r = Receiver::start(Mode::Huge(50 << 20));
    let spool = tempfile::tempdir().unwrap();
    let f = start_forwarder(&source(&s), &r.url(), spool.path(), &[]);
    std::thread::sleep(Duration::from_millis(1500));
    let (want, got) = drain(s, &f, &r);
    assert_all_in_order(&want, &got);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(r.requests().len(), got.len(), "a sample was sent again");
}

/// kill -9 at 30 random moments while delivering: every sample the forwarder logged as
/// spooled arrives exactly once, in order, but for at most one re-send per kill (a request
/// whose answer the killed process never saw).
fn thirty_kills_lose_nothing_and_resend_at_most_one_each_on(dest: Dest) {
    let s = service();
    let r = Receiver::start(Mode::Slow(Duration::from_millis(30)));
    let spool = tempfile::tempdir().unwrap();
    let mut rng = fastrand::Rng::with_seed(30);
    let mut logged = Vec::new();
    const KILLS: usize = 30;
    for _ in 0..KILLS {
        let mut f =
            start_forwarder(&source(&s), &dest.url(&r), spool.path(), &[("SYSTEM_STATS_FORWARD_INTERVAL", "0.1")]);
        std::thread::sleep(Duration::from_millis(rng.u64(20..400)));
        f.signal(libc::SIGKILL);
        f.wait_exit(Duration::from_secs(5)).expect("killed");
        logged.extend(spooled(&f));
    }
    let last = start_forwarder(&source(&s), &dest.url(&r), spool.path(), &[]);
    let (want, got) = drain_after(logged, s, &last, &r);
    // every sample logged as spooled arrived
    let received: std::collections::HashSet<&String> = got.iter().collect();
    let missing: Vec<&String> = want.iter().filter(|w| !received.contains(w)).collect();
    assert!(missing.is_empty(), "lost: {missing:?}");
    // in order, re-sends only right after themselves, at most one per kill
    let mut unique = got.clone();
    unique.dedup();
    assert!(unique.windows(2).all(|w| w[0] < w[1]), "out of order: {got:?}");
    let resent = got.len() - unique.len();
    // a sample committed just before a kill may arrive without its log line: one per kill too
    let unlogged = unique.len() - want.len();
    assert!(resent <= KILLS && unlogged <= KILLS, "resent {resent}, unlogged {unlogged}");
    assert!(want.len() > KILLS, "only {} samples spooled", want.len());
}

#[test]
fn thirty_kills_lose_nothing_and_resend_at_most_one_each() {
    thirty_kills_lose_nothing_and_resend_at_most_one_each_on(Dest::Json);
}

/// The same on a remote-write destination: what it spools is the service's `/metrics`.
#[test]
fn thirty_kills_lose_nothing_and_resend_at_most_one_each_remote_write() {
    thirty_kills_lose_nothing_and_resend_at_most_one_each_on(Dest::RemoteWrite);
}

/// Spool-directory problems are configuration errors: exit 2 and one line naming the cause.
#[test]
fn spool_directory_problems_exit_2_naming_the_cause() {
    let run = |dir: &Path, prefix: &[&str]| {
        let mut cmd = std::process::Command::new(prefix.first().copied().unwrap_or(forwarder_bin()));
        if !prefix.is_empty() {
            cmd.args(&prefix[1..]).arg(forwarder_bin());
        }
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("SYSTEM_STATS_") {
                cmd.env_remove(k);
            }
        }
        let out = cmd
            .env("SYSTEM_STATS_SPOOL_DIR", dir)
            .env("MONITORING_SERVER_METRICS_URL", "http://127.0.0.1:9/m")
            .env("SYSTEM_STATS_URL", "http://127.0.0.1:9/system")
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    // in use by another forwarder: named with its pid
    let tmp = tempfile::tempdir().unwrap();
    let first = start_forwarder("http://127.0.0.1:9/system", "http://127.0.0.1:9/m", tmp.path(), &[]);
    let (code, err) = run(tmp.path(), &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains(&format!("in use by another forwarder (pid {})", first.child.id())), "{err}");
    drop(first);
    if !can_mount() {
        return;
    }
    // read-only
    let ro = Tmpfs::mount(&tmp.path().join("ro"), "ro,size=64k");
    let (code, err) = run(&ro.0.join("spool"), &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("read-only filesystem") && err.contains("SYSTEM_STATS_SPOOL_DIR"), "{err}");
    // permission: a directory the forwarder's user (here nobody) cannot write
    let private = tmp.path().join("private");
    std::fs::create_dir(&private).unwrap();
    let (code, err) = run(&private.join("spool"), &["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("permission denied"), "{err}");
}

/// `--check-spool` reports each destination's spool without touching it: samples, oldest and
/// newest; a damaged one is reported (exit 1), not set aside; a running forwarder is named.
fn check_spool_reports_every_spool_on(dest: Dest) {
    let s = service();
    let mut r = Receiver::start(Mode::Accept);
    r.go_down();
    let spool = tempfile::tempdir().unwrap();
    let mut f = start_forwarder(&source(&s), &dest.url(&r), spool.path(), &[]);
    std::thread::sleep(Duration::from_millis(800));
    let check = |extra: &[&str]| {
        let out = clean_command(forwarder_bin())
            .env("SYSTEM_STATS_SPOOL_DIR", spool.path())
            .env("MONITORING_SERVER_METRICS_URL", dest.url(&r))
            .arg("--check-spool")
            .args(extra)
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let (code, text) = check(&[]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains(&format!("in use by another forwarder (pid {})", f.child.id())), "{text}");
    f.signal(libc::SIGTERM);
    f.wait_exit(Duration::from_secs(10)).expect("stops");
    let n = spooled(&f).len();
    let (code, text) = check(&[]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.starts_with("OK ") && text.contains(&format!("{n} sample(s)")) && text.contains("collected 20"),
        "{text}"
    );
    // damaged: reported, left in place
    let file = spool.path().join(system_stats::forward::spool::file_name(&dest.url(&r)));
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[..4096].fill(0);
    std::fs::write(&file, &bytes).unwrap();
    let (code, text) = check(&[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("DAMAGED"), "{text}");
    assert_eq!(std::fs::read(&file).unwrap(), bytes, "--check-spool changed the file");
}

#[test]
fn check_spool_reports_every_spool() {
    check_spool_reports_every_spool_on(Dest::Json);
}

/// The same on a remote-write destination: what it spools is the service's `/metrics`.
#[test]
fn check_spool_reports_every_spool_remote_write() {
    check_spool_reports_every_spool_on(Dest::RemoteWrite);
}

/// A restart polls the sample it spooled last again: it is recognised by its name (the
/// service's `System-Stats-Sample`), not spooled twice, and said so at INFO.
fn a_restart_does_not_spool_the_same_sample_again_on(dest: Dest) {
    let s = Service::start(&[("SYSTEM_STATS_SAMPLE_INTERVAL", "30")]);
    let mut r = Receiver::start(Mode::Accept);
    r.go_down();
    let spool = tempfile::tempdir().unwrap();
    let mut first = start_forwarder(&source(&s), &dest.url(&r), spool.path(), &[]);
    first.wait_for_line("spooled the sample collected at");
    first.signal(libc::SIGTERM);
    first.wait_exit(Duration::from_secs(10)).expect("stops");
    let second = start_forwarder(&source(&s), &dest.url(&r), spool.path(), &[]);
    let said = second.wait_for_line("the sample polled first after the restart was spooled before it");
    assert!(said.contains("INFO"), "{said}");
    r.come_back(Mode::Accept);
    r.wait_accepted(1, Duration::from_secs(15));
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(r.accepted().len(), 1, "{:?}", collected_at(&r.accepted()));
    assert!(spooled(&second).is_empty());
}

#[test]
fn a_restart_does_not_spool_the_same_sample_again() {
    a_restart_does_not_spool_the_same_sample_again_on(Dest::Json);
}

/// The same on a remote-write destination: what it spools is the service's `/metrics`.
#[test]
fn a_restart_does_not_spool_the_same_sample_again_remote_write() {
    a_restart_does_not_spool_the_same_sample_again_on(Dest::RemoteWrite);
}

// ---- the newest monitoring server: rate limit, float conversion, 64 KiB details ----

#[path = "../benches/support/synthetic.rs"]
#[allow(dead_code)]
mod synthetic;

fn newest() -> Mode {
    Mode::Newest { limit: 5, window: Duration::from_secs(1), retry_after: false }
}

/// A server that accepts 5 POSTs per sliding second and answers 429 without `Retry-After`
/// beyond: a backlog drains at its pace, in order, with few refusals (the old behaviour,
/// retrying as fast as the backoff allows, bounced off it for as long as the backlog lasted).
#[test]
fn a_throttling_server_gets_the_backlog_at_its_pace() {
    let s = service();
    let mut r = Receiver::start(newest());
    r.go_down();
    let spool = tempfile::tempdir().unwrap();
    let f = start_forwarder(&source(&s), &r.url(), spool.path(), &[("SYSTEM_STATS_FORWARD_INTERVAL", "0.1")]);
    std::thread::sleep(Duration::from_secs(2));
    r.come_back(newest());
    let (want, got) = drain(s, &f, &r);
    assert!(want.len() >= 15, "{}", want.len());
    assert_all_in_order(&want, &got);
    let refused = r.requests().iter().filter(|(_, st)| *st == 429).count();
    assert!(refused * 3 <= got.len(), "{refused} refusals for {} samples", got.len());
    let line = f.wait_for_line("the server throttles");
    assert!(line.contains("the pace it allows"), "{line}");
}

/// Every payload passes the newest server's checks, even with a collector failing: an unknown
/// value is left out, never sent as `null`; the charts' fields are there.
#[test]
fn the_newest_server_takes_every_sample() {
    let s = Service::start(&[("SYSTEM_STATS_SAMPLE_INTERVAL", "0.1"), ("SYSTEM_STATS_COLLECTORS", "all,-swap")]);
    let r = Receiver::start(Mode::Newest { limit: 1000, window: Duration::from_secs(60), retry_after: false });
    let spool = tempfile::tempdir().unwrap();
    let _f = start_forwarder(&source(&s), &r.url(), spool.path(), &[]);
    let got = r.wait_accepted(4, Duration::from_secs(15));
    assert!(r.requests().iter().all(|(_, st)| *st == 200), "{:?}", r.requests());
    let cores = s.json("/system")["cpu"]["logical_cores"].as_u64().unwrap() as usize;
    for p in &got {
        assert!(p.get("swap_percent").is_none(), "unknown swap sent: {p}");
        for k in ["load1", "load5", "load15", "net_read", "net_write"] {
            assert!(p[k].is_number(), "{k}: {}", p[k]);
        }
        assert_eq!(p["cpu_cores"].as_array().unwrap().len(), cores);
        assert!(p["details"]["swap"]["percent"].is_null());
    }
}

/// A big host's snapshot is over the 64 KiB the newest server keeps of `details`: the keys
/// the dashboard does not read are left out (logged once) and the server keeps the rest.
#[test]
fn big_details_are_trimmed_to_what_the_newest_server_keeps() {
    let tree = tempfile::tempdir().unwrap();
    let mounts = tempfile::tempdir().unwrap();
    synthetic::generate(tree.path(), mounts.path(), synthetic::Counts::big_host(0.5));
    let s = Service::on_fixture(tree.path(), &[("SYSTEM_STATS_SAMPLE_INTERVAL", "0.2")]);
    let full = s.get("/system").body;
    assert!(full.len() > 100_000, "{}", full.len());
    let r = Receiver::start(Mode::Newest { limit: 1000, window: Duration::from_secs(60), retry_after: false });
    let spool = tempfile::tempdir().unwrap();
    let f = start_forwarder(&source(&s), &r.url(), spool.path(), &[]);
    let got = r.wait_accepted(3, Duration::from_secs(15));
    assert_eq!(r.details_dropped(), 0, "the server dropped details");
    for p in &got {
        let d = &p["details"];
        assert!(
            d["cpu"]["percent"].is_number() && d["memory"]["total"].is_u64() && d["network"]["interfaces"].is_array()
        );
        assert!(d["cpu"].get("per_cpu").is_none() && d.get("filesystems").is_none());
        assert_eq!(p["cpu_cores"].as_array().unwrap().len(), 128);
    }
    let lines = f.lines_with("left out");
    assert_eq!(lines.len(), 1, "{}", f.log());
    assert!(lines[0].contains("cpu.per_cpu, memory.meminfo, network.all_interfaces"), "{}", lines[0]);
}

/// `--salvage-spool`: the samples of a spool set aside as damaged that still decode are
/// queued again for their destination, in order, without those its spool already holds; the
/// file is renamed so that a second run does not queue them again; a running forwarder, a
/// file of no destination and an unreadable file are refused with the reason.
#[test]
fn a_spool_set_aside_is_salvaged() {
    use system_stats::forward::spool::{Spool, file_name};
    let s = service();
    let base: Value = serde_json::from_str(&one_snapshot(&s)).unwrap();
    let sample = |i: u64| {
        let mut v = base.clone();
        v["collected_at"] = format!("2026-01-01T00:00:{i:02}.000000+00:00").into();
        (serde_json::to_vec(&v).unwrap(), 1_767_225_600_000_000 + i * 1_000_000)
    };
    let r = Receiver::start(Mode::Accept);
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join(file_name(&r.url()));
    let aside = dir.path().join(format!("{}.damaged-20260101T000100.000Z", file_name(&r.url())));
    {
        let mut sp = Spool::open(&aside, 1 << 30).unwrap();
        for i in 1..=30 {
            let (body, at) = sample(i);
            sp.push(&body, at).unwrap();
        }
        let mut sp = Spool::open(&live, 1 << 30).unwrap();
        for i in 1..=5 {
            let (body, at) = sample(i);
            sp.push(&body, at).unwrap();
        }
    }
    let salvage = |file: &Path| {
        let out = clean_command(forwarder_bin())
            .env("SYSTEM_STATS_SPOOL_DIR", dir.path())
            .env("MONITORING_SERVER_METRICS_URL", r.url())
            .arg("--salvage-spool")
            .arg(file)
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let (code, text) = salvage(&aside);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.starts_with("25 sample(s) of ") && text.contains("(5 already spooled, 0 not a snapshot)"), "{text}");
    assert!(!aside.exists());
    let mut done = aside.as_os_str().to_owned();
    done.push(".salvaged");
    let (code, text) = salvage(Path::new(&done));
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("already salvaged"), "{text}");
    let (code, text) = salvage(&dir.path().join("somebody-else.redb.damaged-x"));
    assert_eq!(code, Some(2));
    assert!(text.contains("not a spool set aside for a configured destination"), "{text}");
    // the forwarder delivers the 30, in order, once each
    let f = start_forwarder(&source(&s), &r.url(), dir.path(), &[("SYSTEM_STATS_FORWARD_INTERVAL", "3600")]);
    let got = r.wait_accepted(31, Duration::from_secs(20));
    let at = collected_at(&got);
    let want: Vec<String> = (1..=30).map(|i| format!("2026-01-01T00:00:{i:02}.000000+00:00")).collect();
    assert_eq!(at[..30], want[..], "{at:?}");
    assert_eq!(r.requests().len(), 31);
    // while it runs, salvaging is refused
    let broken = dir.path().join(format!("{}.damaged-20260101T000200.000Z", file_name(&r.url())));
    std::fs::write(&broken, b"not a database").unwrap();
    let (code, text) = salvage(&broken);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("stop the forwarder first"), "{text}");
    drop(f);
    std::thread::sleep(Duration::from_millis(300));
    let (code, text) = salvage(&broken);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("nothing can be salvaged"), "{text}");
}

/// Both programs give back the mappings of their code and constants once startup is over
/// (`process::after_startup`), and run on: what runs again maps back in, so the forwarder goes on
/// delivering what the service goes on sampling.
#[test]
fn both_programs_give_back_their_startup_pages_and_run_on() {
    let s = Service::start(&[("SYSTEM_STATS_SAMPLE_INTERVAL", "0.1"), ("SYSTEM_STATS_LOG_LEVEL", "debug")]);
    let r = Receiver::start(Mode::Accept);
    let spool = tempfile::tempdir().unwrap();
    let f = start_forwarder(&source(&s), &r.url(), spool.path(), &[]);
    for (program, run) in [("service", &s.run), ("forwarder", &f)] {
        let line = run.wait_for_line_within("startup over: ", Duration::from_secs(20));
        let kib: Option<u64> =
            line.split("the mappings of ").nth(1).and_then(|t| t.split(' ').next()).and_then(|n| n.parse().ok());
        assert!(kib.is_some_and(|k| k >= 256), "{program}: {line}");
    }
    let delivered = r.accepted().len();
    let after = r.wait_accepted(delivered + 5, Duration::from_secs(15));
    assert!(after.len() >= delivered + 5);
    assert_eq!(s.get("/health").status, 200);
}
