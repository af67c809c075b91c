//! The `processes` collector on this machine, against psutil and against processes the test
//! starts: counts by state while hundreds of processes come and go, a busy child first by
//! CPU, a child holding 200 MiB first by memory, a zombie counted; and on a recorded tree, a
//! process whose `/proc/<pid>` vanished (its directory there, its files gone) skipped.
//!
//! Needs `python3` with psutil 7.1+ (scripts/test installs it).

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Service;
use serde_json::Value;

/// psutil's count of processes by status (and in total), now.
fn psutil_states() -> Option<Value> {
    let script = "import json, psutil\n\
        states = {}\n\
        for p in psutil.process_iter(['status']):\n\
        \x20   s = p.info['status']\n\
        \x20   states[s] = states.get(s, 0) + 1\n\
        print(json.dumps({'total': sum(states.values()), 'states': states}))\n";
    let out = Command::new("python3").args(["-c", script]).output().ok().filter(|o| o.status.success());
    if out.is_none() {
        assert!(std::env::var_os("SYSTEM_STATS_TEST_STRICT").is_none(), "python3 with psutil is required");
        eprintln!("SKIPPED: python3 with psutil is not available");
    }
    Some(serde_json::from_slice(&out?.stdout).unwrap())
}

/// Kills its children when dropped.
struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn spawn(program: &str, args: &[&str]) -> Child {
    Command::new(program).args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap()
}

/// Waits until the service's next sample (its `collected_at` changes) and returns it.
fn next_sample(s: &Service) -> Value {
    let before = s.json("/system")["collected_at"].clone();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = s.json("/system");
        if v["collected_at"] != before {
            return v;
        }
        assert!(Instant::now() < deadline, "no new sample");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The total and every state within 2 % (and 2 processes) of psutil's, read around the
/// service's sample, while a shell starts a short-lived process every few milliseconds and
/// 300 sleepers come, then go.
#[test]
fn counts_by_state_are_psutils_while_processes_come_and_go() {
    let Some(_) = psutil_states() else { return };
    let s = Service::start(&[("SYSTEM_STATS_SAMPLE_INTERVAL", "0.25")]);
    let _churn = Children(vec![spawn("sh", &["-c", "while :; do /bin/true; sleep 0.005; done"])]);
    let check = |what: &str| {
        // psutil before and after the sample: the service's count lies between, give or take
        let mut last = None;
        for _ in 0..5 {
            let before = psutil_states().unwrap();
            let v = next_sample(&s)["processes"].clone();
            let after = psutil_states().unwrap();
            let within = |ours: u64, a: u64, b: u64| {
                let (lo, hi) = (a.min(b), a.max(b));
                let slack = (hi as f64 * 0.02).ceil() as u64 + 2;
                ours + slack >= lo && ours <= hi + slack
            };
            let n = |x: &Value| x.as_u64().unwrap_or(0);
            let mut ok = within(n(&v["total"]), n(&before["total"]), n(&after["total"]));
            for (state, count) in v["states"].as_object().unwrap() {
                ok &= within(n(count), n(&before["states"][state]), n(&after["states"][state]));
            }
            if ok {
                return v;
            }
            last = Some((before, v, after));
        }
        panic!("{what}: psutil, then ours, then psutil: {last:#?}");
    };
    let quiet = check("before");
    let sleepers = Children((0..300).map(|_| spawn("sleep", &["60"])).collect());
    let busy = check("with 300 sleepers");
    // the other tests of this file start and end processes of their own meanwhile (services,
    // children, zombies: 10 to 20 at a time), hence the margin
    assert!(busy["total"].as_u64().unwrap() >= quiet["total"].as_u64().unwrap() + 250, "{quiet} {busy}");
    assert!(busy["states"]["sleeping"].as_u64().unwrap() >= 300, "{busy}");
    drop(sleepers);
    let after = check("after they went");
    assert!(after["total"].as_u64().unwrap() < busy["total"].as_u64().unwrap() - 250, "{after}");
}

/// A child burning a core is first by CPU within two samples, at 50 % or more; a child
/// holding 200 MiB is first by memory (or where psutil ranks it); a zombie is counted, in
/// `/system` and in `/metrics`.
#[test]
fn the_busy_the_big_and_the_zombie() {
    let Some(_) = psutil_states() else { return };
    let s = Service::start(&[("SYSTEM_STATS_SAMPLE_INTERVAL", "0.5"), ("SYSTEM_STATS_TOP_PROCESSES", "5")]);
    let busy = spawn("sh", &["-c", "while :; do :; done"]);
    let big = spawn("python3", &["-c", "import time\nb = bytearray(b'x') * (200 << 20)\ntime.sleep(60)"]);
    // `sh` forks `true`, then becomes `sleep`, which never reaps it
    let zombie_parent = spawn("sh", &["-c", "/bin/true & exec sleep 60"]);
    let (busy_pid, big_pid) = (busy.id(), big.id());
    let _children = Children(vec![busy, big, zombie_parent]);

    let mut v = Value::Null;
    for _ in 0..4 {
        v = next_sample(&s)["processes"].clone();
        let first = &v["top_cpu"][0];
        if first["pid"] == busy_pid && first["cpu_percent"].as_f64().unwrap_or(0.0) >= 50.0 {
            break;
        }
    }
    let first = &v["top_cpu"][0];
    assert_eq!(first["pid"], busy_pid, "{v:#}");
    assert!(first["cpu_percent"].as_f64().unwrap() >= 50.0, "{first}");
    assert_eq!(first["name"], "sh");
    assert_eq!(first["cmdline"], "sh -c while :; do :; done");
    assert_eq!(first["state"], "running");
    assert_eq!(v["top_cpu"].as_array().unwrap().len(), 5);

    // the big one, once its 200 MiB are written
    let deadline = Instant::now() + Duration::from_secs(20);
    let big_entry = loop {
        let v = next_sample(&s)["processes"].clone();
        if let Some(p) = v["top_memory"].as_array().unwrap().iter().find(|p| p["pid"] == big_pid)
            && p["rss"].as_u64().unwrap() >= 200 << 20
        {
            break (v.clone(), p.clone());
        }
        assert!(Instant::now() < deadline, "the 200 MiB child is not in the top: {v:#}");
    };
    let (v, p) = big_entry;
    let probe = format!(
        "import psutil\nme = psutil.Process({big_pid}).memory_info().rss\n\
         print(sum(1 for p in psutil.process_iter(['memory_info']) if p.info['memory_info'] and p.info['memory_info'].rss > me * 1.1))"
    );
    let out = Command::new("python3").args(["-c", &probe]).output().unwrap();
    let larger: usize = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    let rank = v["top_memory"].as_array().unwrap().iter().position(|x| x["pid"] == big_pid).unwrap();
    assert!(rank <= larger, "ranked {rank}, psutil knows {larger} larger: {v:#}");
    if larger == 0 {
        assert_eq!(rank, 0);
    }
    assert!(p["memory_percent"].as_f64().unwrap() > 0.0 && p["user"] == "root" || p["user"].is_string(), "{p}");
    assert!(p["started_at"].as_str().unwrap().ends_with('Z'));

    assert!(v["states"]["zombie"].as_u64().unwrap() >= 1, "{v:#}");
    let metrics = s.get("/metrics").body;
    let zombies: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("node_processes_state{state=\"Z\"} "))
        .expect("a Z series")
        .parse()
        .unwrap();
    assert!(zombies >= 1.0);
    assert!(
        metrics.contains(&format!("system_stats_top_process_cpu_percent{{rank=\"1\",pid=\"{busy_pid}\",name=\"sh\"}}"))
    );
}

/// On a recorded tree: a process directory whose files are gone (the process exited between
/// the listing and the read) is skipped, the others counted.
#[test]
fn a_process_that_vanishes_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = common::repo().join("tests/fixtures/raspberrypi4-aarch64");
    let copy = Command::new("cp")
        .arg("-a")
        .arg(fixture.join("proc"))
        .arg(fixture.join("sys"))
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(copy.success());
    let proc = dir.path().join("proc");
    for (pid, line) in [
        (1, "1 (systemd) S 0 1 1 0 -1 4194560 1 0 0 0 50 30 0 0 20 0 1 0 5 1000 200 0"),
        (77, "77 (sshd) S 1 77 77 0 -1 4194560 1 0 0 0 5 3 0 0 20 0 1 0 900 1000 300 0"),
        (90, "90 (nginx: worker) R 1 90 90 0 -1 4194560 1 0 0 0 700 100 0 0 20 0 4 0 1200 1000 500 0"),
    ] {
        std::fs::create_dir_all(proc.join(pid.to_string())).unwrap();
        std::fs::write(proc.join(format!("{pid}/stat")), format!("{line} 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"))
            .unwrap();
    }
    // gone: the directory is listed, its stat cannot be read
    std::fs::create_dir_all(proc.join("4242")).unwrap();
    let s = Service::on_fixture(dir.path(), &[]);
    let v = next_sample(&s)["processes"].clone();
    assert_eq!(v["total"], 3, "{v:#}");
    assert_eq!((v["states"]["sleeping"].as_u64(), v["states"]["running"].as_u64()), (Some(2), Some(1)));
    assert_eq!(v["threads"], 6);
    assert_eq!(v["top_memory"][0]["pid"], 90);
    assert_eq!(v["top_memory"][0]["name"], "nginx: worker");
    let metrics = s.get("/metrics").body;
    assert!(metrics.contains("node_processes_pids 3\n"), "{metrics}");
    assert!(metrics.contains("system_stats_collector_success{collector=\"processes\"} 1"));
}

/// The processes are read in the samples someone asks for. Left alone, the service stops
/// reading them: the next answer's CPU percents cover the whole pause, and that answer has
/// them (it waited for a sample taken for it). Read every interval, they are in every sample.
/// The same for the series only `/metrics` has.
#[test]
fn processes_are_read_while_someone_reads() {
    let s = Service::start(&[("SYSTEM_STATS_SAMPLE_INTERVAL", "0.25")]);
    assert!(s.json("/system")["processes"]["total"].as_u64().unwrap() > 0);
    std::thread::sleep(Duration::from_secs(2));
    let v = s.json("/system");
    let p = &v["processes"];
    assert!(p["total"].as_u64().unwrap() > 0, "the first answer after a pause has the processes: {p}");
    assert!(!p["top_cpu"].as_array().unwrap().is_empty(), "{p}");
    let span = p["interval_seconds"].as_f64().unwrap();
    assert!(span >= 1.5, "the processes were read while nobody asked: the last reading was {span} s before");
    let mut spans = Vec::new();
    for _ in 0..6 {
        spans.push(next_sample(&s)["processes"]["interval_seconds"].as_f64().unwrap());
    }
    assert!(spans.iter().all(|&dt| dt < 1.0), "read every interval while asked for: {spans:?}");

    std::thread::sleep(Duration::from_secs(2));
    let text = s.get("/metrics").body;
    for series in ["node_netstat_Tcp_ActiveOpens ", "node_context_switches_total ", "node_processes_pids "] {
        assert!(text.contains(series), "the first scrape after a pause has {series}");
    }
    assert!(text.contains("node_scrape_collector_success{collector=\"netstat\"} 1"));
}
