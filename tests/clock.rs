//! A clock that steps loses nothing. The service and the forwarder run under libfaketime,
//! whose offset the test changes while they run, as NTP correcting a clock that ran ahead, a
//! Raspberry Pi without a real-time clock or an administrator would: forward then back, and
//! back alone, by an hour and by a second, across a restart of each program. Every sample
//! the forwarder takes is spooled and delivered once, in the order taken, whatever its time.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::receiver::{Mode, Receiver};
use common::{Running, Service, clean_command, forwarder_bin, free_port, service_bin};

/// A clock to step: libfaketime preloaded, reading its offset from a file at every call
/// (`FAKETIME_NO_CACHE`); monotonic time is left alone, as a real step leaves it.
struct Clock {
    lib: PathBuf,
    file: tempfile::NamedTempFile,
}

impl Clock {
    /// `None` (the test skipped, or failed under `SYSTEM_STATS_TEST_STRICT`) without
    /// Debian's `faketime`.
    fn new() -> Option<Clock> {
        let lib = ["x86_64-linux-gnu", "aarch64-linux-gnu", "arm-linux-gnueabihf"]
            .iter()
            .map(|triple| PathBuf::from(format!("/usr/lib/{triple}/faketime/libfaketime.so.1")))
            .find(|p| p.exists());
        let Some(lib) = lib else {
            assert!(
                std::env::var_os("SYSTEM_STATS_TEST_STRICT").is_none(),
                "libfaketime is required (scripts/test installs Debian's faketime)"
            );
            eprintln!("SKIPPED: libfaketime is not installed");
            return None;
        };
        let clock = Clock { lib, file: tempfile::NamedTempFile::new().unwrap() };
        clock.set(0);
        Some(clock)
    }

    /// Steps the clock to `offset` seconds from the real time.
    fn set(&self, offset: i64) {
        std::fs::write(self.file.path(), format!("{offset:+}\n")).unwrap();
    }

    fn envs(&self) -> Vec<(&'static str, String)> {
        vec![
            ("LD_PRELOAD", self.lib.display().to_string()),
            ("FAKETIME_TIMESTAMP_FILE", self.file.path().display().to_string()),
            ("FAKETIME_NO_CACHE", "1".into()),
            ("FAKETIME_DONT_FAKE_MONOTONIC", "1".into()),
            ("DONT_FAKE_MONOTONIC", "1".into()),
        ]
    }

    fn service(&self, port: u16) -> Service {
        let mut cmd = clean_command(service_bin());
        cmd.env("SYSTEM_STATS_HOST", "127.0.0.1")
            .env("SYSTEM_STATS_PORT", port.to_string())
            .env("SYSTEM_STATS_UPDATE_CHECK_INTERVAL", "0")
            .env("SYSTEM_STATS_SAMPLE_INTERVAL", "0.2")
            .envs(self.envs());
        Service::start_command(cmd)
    }

    fn forwarder(&self, port: u16, r: &Receiver, spool: &std::path::Path) -> Running {
        let mut cmd = clean_command(forwarder_bin());
        cmd.env("SYSTEM_STATS_URL", format!("http://127.0.0.1:{port}/system"))
            .env("MONITORING_SERVER_METRICS_URL", r.url())
            .env("SYSTEM_STATS_SPOOL_DIR", spool)
            .env("SYSTEM_STATS_FORWARD_LOG_LEVEL", "debug")
            .env("SYSTEM_STATS_FORWARD_INTERVAL", "0.15")
            .env("SYSTEM_STATS_FORWARD_TIMEOUT", "2")
            .envs(self.envs());
        let run = Running::spawn(cmd);
        run.wait_for_line("forwarding ");
        run
    }
}

/// The times in the lines `<what> the sample collected at <time>` of a forwarder's log.
fn times(f: &Running, what: &str) -> Vec<String> {
    f.lines_with(&format!("{what} the sample collected at "))
        .iter()
        .map(|l| l.rsplit(' ').next().unwrap().to_string())
        .collect()
}

fn seconds(t: &str) -> f64 {
    chrono::DateTime::parse_from_rfc3339(t).unwrap().timestamp_micros() as f64 / 1e6
}

fn now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64()
}

/// Every sample a forwarder's run took was spooled, but for its first one when that is the
/// last one the run before spooled (the service had not taken a new one in between).
fn all_taken_spooled(f: &Running, before: Option<&Vec<String>>) {
    let mut taken = times(f, "took");
    if taken.first().is_some_and(|t| before.and_then(|b| b.last()) == Some(t)) {
        taken.remove(0);
    }
    assert_eq!(taken, times(f, "spooled"), "a sample taken was not spooled:\n{}", f.log());
}

/// Waits until the forwarder has taken `n` more samples than `before`; returns them.
fn take(f: &Running, before: usize, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let taken = times(f, "took");
        if taken.len() >= before + n {
            return taken[before..].to_vec();
        }
        assert!(Instant::now() < deadline, "only {} of {n} samples taken; log:\n{}", taken.len() - before, f.log());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Forward an hour then back, forward a second then back, back an hour alone, back a second
/// alone; the forwarder restarted (SIGTERM) twice and the service once among the steps. The
/// receiver gets every sample the forwarders took, once each, in the order taken; the samples
/// taken after each step carry the stepped time (the payload keeps the times as taken).
#[test]
fn a_clock_that_steps_loses_nothing() {
    let Some(clock) = Clock::new() else { return };
    let port = free_port();
    let mut s = clock.service(port);
    let r = Receiver::start(Mode::Accept);
    let spool = tempfile::tempdir().unwrap();
    let mut f = clock.forwarder(port, &r, spool.path());
    // every forwarder's run: what it spooled, in order
    let mut runs: Vec<Vec<String>> = Vec::new();
    let restart_forwarder = |f: &mut Running, runs: &mut Vec<Vec<String>>| {
        f.signal(libc::SIGTERM);
        assert!(f.wait_exit(Duration::from_secs(10)).is_some_and(|s| s.success()), "{}", f.log());
        all_taken_spooled(f, runs.last());
        runs.push(times(f, "spooled"));
        *f = clock.forwarder(port, &r, spool.path());
    };
    // (offset, what happens before it is set)
    let steps: [(i64, &str); 7] = [
        (0, ""),
        (3600, "an hour forward"),
        (0, "an hour back"),
        (1, "a second forward"),
        (0, "a second back"),
        (-3600, "an hour back alone"),
        (-3601, "a second back alone"),
    ];
    for (i, (offset, _)) in steps.iter().enumerate() {
        match i {
            3 => restart_forwarder(&mut f, &mut runs),
            5 => {
                drop(s);
                s = clock.service(port);
            }
            6 => restart_forwarder(&mut f, &mut runs),
            _ => {}
        }
        clock.set(*offset);
        let before = times(&f, "took").len();
        let taken = take(&f, before, 4);
        // the last of them is of the clock as stepped (an hour's step is told apart from
        // the real time; a second's is not, reliably, on a loaded machine)
        if offset.abs() >= 3600 {
            let last = seconds(taken.last().unwrap());
            assert!((last - (now() + *offset as f64)).abs() < 600.0, "step {i}: {taken:?}");
        }
    }
    drop(s);
    std::thread::sleep(Duration::from_millis(500));
    all_taken_spooled(&f, runs.last());
    runs.push(times(&f, "spooled"));
    let want: Vec<String> = runs.concat();
    // a step back gave times before those already spooled: spooled all the same
    let backwards = want.windows(2).filter(|w| seconds(&w[1]) < seconds(&w[0])).count();
    assert!(backwards >= 3, "the clock stepped back three times: {want:?}");
    let got: Vec<String> = r
        .wait_accepted(want.len(), Duration::from_secs(30))
        .iter()
        .map(|p| p["details"]["collected_at"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, want, "delivered != spooled");
    // the payload's timestamp is the sample's, as taken
    for p in r.accepted() {
        let at = seconds(p["details"]["collected_at"].as_str().unwrap());
        assert_eq!(p["timestamp"].as_i64().unwrap(), at.floor() as i64);
    }
}

/// A forwarder polling faster than the service samples meets the same sample again: not
/// spooled twice, counted, said once at INFO with why. (After a restart:
/// `tests/forwarder.rs`, `a_restart_does_not_spool_the_same_sample_again`.)
#[test]
fn the_same_sample_polled_twice_is_spooled_once() {
    // a sample every 30 s: every poll of a run brings the first one
    let s = Service::start(&[("SYSTEM_STATS_SAMPLE_INTERVAL", "30")]);
    let r = Receiver::start(Mode::Accept);
    let spool = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let f = common::start_forwarder(
        &format!("http://{}/system", s.addr),
        &r.url(),
        spool.path(),
        &[("SYSTEM_STATS_FORWARD_INTERVAL", "0.1"), ("SYSTEM_STATS_FORWARDER_METRICS", &listen)],
    );
    let said = f.wait_for_line("answered with the sample of the last poll");
    assert!(said.contains("INFO") && said.contains("SYSTEM_STATS_FORWARD_INTERVAL"), "{said}");
    std::thread::sleep(Duration::from_millis(600));
    let metrics = common::request(listen.parse().unwrap(), "GET", "/metrics").body;
    let repeats: f64 = metrics
        .lines()
        .find(|l| l.starts_with("system_stats_forwarder_poll_repeats_total{"))
        .and_then(|l| l.rsplit(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(repeats >= 3.0, "{metrics}");
    assert_eq!(f.lines_with("answered with the sample of the last poll").len(), 1, "said once: {}", f.log());
    assert_eq!(times(&f, "spooled").len(), 1, "{}", f.log());
    drop(s);
    assert_eq!(r.wait_accepted(1, Duration::from_secs(10)).len(), 1);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(r.accepted().len(), 1, "the sample was delivered twice");
}
