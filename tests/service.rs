//! The service binary end to end: real process, real sockets on 127.0.0.1, the real `/proc`
//! or a copy of a recorded fixture tree that a test breaks on purpose.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{Service, clean_command, request, service_bin};
use serde_json::Value;

/// The contract's keys and the JSON types each may have (`null` is allowed everywhere a value
/// can be unknown).
const CONTRACT: &[(&str, &[&str])] = &[
    (
        "cpu",
        &[
            "percent:f",
            "logical_cores:i",
            "physical_cores:i",
            "frequency_mhz:f",
            "min_frequency_mhz:f",
            "max_frequency_mhz:f",
            "processor:s",
        ],
    ),
    (
        "memory",
        &[
            "total:i",
            "available:i",
            "percent:f",
            "used:i",
            "free:i",
            "active:i",
            "inactive:i",
            "buffers:i",
            "cached:i",
            "shared:i",
            "slab:i",
        ],
    ),
    ("swap", &["total:i", "used:i", "free:i", "percent:f", "sin:i", "sout:i"]),
    ("disk", &["total:i", "used:i", "free:i", "percent:f", "mount:s"]),
    (
        "disk_io",
        &[
            "read_count:i",
            "write_count:i",
            "read_bytes:i",
            "write_bytes:i",
            "read_time:i",
            "write_time:i",
            "read_merged_count:i",
            "write_merged_count:i",
            "busy_time:i",
        ],
    ),
    (
        "network.io_counters",
        &[
            "bytes_sent:i",
            "bytes_recv:i",
            "packets_sent:i",
            "packets_recv:i",
            "errin:i",
            "errout:i",
            "dropin:i",
            "dropout:i",
        ],
    ),
    (
        "throughput",
        &[
            "disk_read_bytes_per_sec:f",
            "disk_write_bytes_per_sec:f",
            "disk_read_mb_per_sec:f",
            "disk_write_mb_per_sec:f",
            "net_recv_bytes_per_sec:f",
            "net_sent_bytes_per_sec:f",
        ],
    ),
    ("uptime", &["seconds:i", "boot_time:s", "human:s"]),
    ("system", &["hostname:s", "os:s", "os_release:s", "os_version:s", "architecture:s", "platform:s", "model:s"]),
];

fn at<'a>(v: &'a Value, dotted: &str) -> &'a Value {
    dotted.split('.').fold(v, |v, k| &v[k])
}

/// Checks every contract key is present with its type; returns the keys that are null.
fn check_contract(v: &Value) -> Vec<String> {
    let mut nulls = vec![];
    assert!(v["collected_at"].as_str().unwrap().ends_with("+00:00"), "{}", v["collected_at"]);
    for (block, keys) in CONTRACT {
        let obj = at(v, block).as_object().unwrap_or_else(|| panic!("{block} is not an object: {v}"));
        for spec in *keys {
            let (key, ty) = spec.split_once(':').unwrap();
            let value = obj.get(key).unwrap_or_else(|| panic!("{block}.{key} is missing"));
            let ok = match (ty, value) {
                (_, Value::Null) => {
                    nulls.push(format!("{block}.{key}"));
                    true
                }
                ("i", Value::Number(n)) => n.is_u64(),
                // percents and rates are floats, never integers, even when whole (12.0)
                ("f", Value::Number(n)) => n.is_f64(),
                ("s", Value::String(_)) => true,
                _ => false,
            };
            assert!(ok, "{block}.{key} = {value} is not of type {ty}");
        }
    }
    let iface = &v["network"]["primary_interface"];
    if !iface.is_null() {
        assert!(iface["name"].is_string());
        assert!(["full", "half", "unknown"].contains(&iface["duplex"].as_str().unwrap()));
        for k in ["ipv4", "netmask", "broadcast", "speed_mbps", "mtu"] {
            assert!(iface.get(k).is_some(), "primary_interface.{k} is missing");
        }
    }
    nulls
}

/// On this machine every contract key is present with the seed's type, and the very first
/// response already carries a CPU percent measured over a real interval.
#[test]
fn system_on_this_machine_fulfils_the_contract_from_the_first_request() {
    let s = Service::start(&[]);
    let v = s.json("/system");
    let nulls = check_contract(&v);
    for must in ["cpu.percent", "memory.total", "disk.total", "disk_io.read_bytes", "uptime.seconds", "system.hostname"]
    {
        assert!(!nulls.contains(&must.to_string()), "{must} is null: {v}");
    }
    let interval = v["throughput"]["interval_seconds"].as_f64().unwrap();
    assert!(interval > 0.05 && interval < 1.0, "first sample's interval: {interval}");
    let pct = v["cpu"]["percent"].as_f64().unwrap();
    assert!((0.0..=100.0).contains(&pct));
    assert_eq!(v["disk"]["mount"], "/");
}

/// Samples move on: a later response has a later `collected_at` and a ~1 s interval.
#[test]
fn system_is_resampled_every_interval() {
    let s = Service::start(&[("SYSTEM_STATS_SAMPLE_INTERVAL", "0.2")]);
    let first = s.json("/system");
    std::thread::sleep(Duration::from_millis(700));
    let later = s.json("/system");
    assert!(later["collected_at"].as_str() > first["collected_at"].as_str());
    let interval = later["throughput"]["interval_seconds"].as_f64().unwrap();
    // 0.2 s apart, give or take the scheduling of a loaded test machine
    assert!((0.15..1.0).contains(&interval), "{interval}");
}

/// Health, unknown paths (404), wrong methods (405 with Allow) and HEAD, all with JSON bodies.
#[test]
fn routes_and_errors_are_json() {
    let s = Service::start(&[]);
    let health = s.get("/health");
    assert_eq!((health.status, health.body.as_str()), (200, r#"{"status":"ok"}"#));
    assert_eq!(health.header("content-type"), Some("application/json"));

    let missing = s.get("/nope");
    assert_eq!(missing.status, 404);
    let body: Value = serde_json::from_str(&missing.body).unwrap();
    assert!(body["error"].as_str().unwrap().contains("/nope"), "{body}");

    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        let r = request(s.addr, method, "/system");
        assert_eq!(r.status, 405, "{method}");
        assert_eq!(r.header("allow"), Some("GET, HEAD"));
        let body: Value = serde_json::from_str(&r.body).unwrap();
        assert!(body["error"].as_str().unwrap().contains(method), "{body}");
    }

    let head = request(s.addr, "HEAD", "/system");
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    let len: usize = head.header("content-length").unwrap().parse().unwrap();
    assert!(len > 500, "{len}");

    // a query string does not change the route
    assert_eq!(s.get("/system?pretty=1").status, 200);
}

fn run_to_exit(envs: &[(&str, &str)], args: &[&str]) -> (Option<i32>, String) {
    let out = clean_command(service_bin()).envs(envs.iter().copied()).args(args).output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Every bad value stops the program with exit code 2 and one line naming the variable, the
/// value and what is accepted.
#[test]
fn bad_settings_exit_2_with_one_line_naming_them() {
    let cases: &[(&str, &str, &str)] = &[
        ("SYSTEM_STATS_PORT", "abc", "integer port from 0 to 65535"),
        ("SYSTEM_STATS_PORT", "70000", "integer port from 0 to 65535"),
        ("SYSTEM_STATS_SAMPLE_INTERVAL", "0", "seconds from 0.1 to 3600"),
        ("SYSTEM_STATS_SAMPLE_INTERVAL", "fast", "seconds from 0.1 to 3600"),
        ("SYSTEM_STATS_DISK_PATH", "/no/such/disk", "an existing path"),
        ("SYSTEM_STATS_LOG_LEVEL", "chatty", "one of trace, debug, info, warning"),
        ("SYSTEM_STATS_HOST", "no such host", "an IP address or a host name"),
        ("SYSTEM_STATS_PROCFS", "/no/proc", "an existing directory"),
        ("SYSTEM_STATS_SYSFS", "/etc/hostname", "a directory"),
        ("SYSTEM_STATS_COLLECTORS", "all,-cpu,-bogus", "\"bogus\" is not one"),
        ("SYSTEM_STATS_COLLECTORS", "cpu,memroy", "(cpu, stat, schedstat, cpufreq, load, memory, vmstat, swap,"),
        ("SYSTEM_STATS_NETWORK_EXCLUDE", "^(lo", "a regular expression, or empty for none ("),
        ("SYSTEM_STATS_DISKS_EXCLUDE", "[z-a]", "a regular expression"),
    ];
    for (var, value, expected) in cases {
        let (code, stderr) = run_to_exit(&[(var, value)], &[]);
        assert_eq!(code, Some(2), "{var}={value}: {stderr}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{var}={value}: {stderr}");
        assert!(lines[0].contains(&format!("{var}=\"{value}\"")), "{stderr}");
        assert!(lines[0].contains(expected), "{var}={value}: {stderr}");
    }
    // the same through a flag names the flag
    let (code, stderr) = run_to_exit(&[], &["--port", "99999"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("--port=\"99999\""), "{stderr}");
}

/// `--help` lists every setting with its variable, and every collector by name.
#[test]
fn help_lists_every_variable() {
    let out = clean_command(service_bin()).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for e in system_stats::collect::REGISTRY {
        assert!(help.contains(e.name), "collector {} missing from --help:\n{help}", e.name);
    }
    for s in system_stats::config::SERVICE_SETTINGS {
        assert!(help.contains(s.env), "{} missing from --help:\n{help}", s.env);
        assert!(help.contains(&format!("--{}", s.id)), "--{} missing from --help", s.id);
    }
}

/// A port that is taken: a clear line, a non-zero exit, no hang.
#[test]
fn port_in_use_is_a_clear_error() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port().to_string();
    let (code, stderr) = run_to_exit(&[("SYSTEM_STATS_HOST", "127.0.0.1"), ("SYSTEM_STATS_PORT", &port)], &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains(&format!("cannot listen on 127.0.0.1:{port}")), "{stderr}");
    assert!(stderr.contains("in use"), "{stderr}");
}

/// SIGTERM and SIGINT: the service stops within a second and exits 0, even with an idle
/// keep-alive connection open.
#[test]
fn sigterm_and_sigint_shut_down_within_a_second() {
    for sig in [libc::SIGTERM, libc::SIGINT] {
        let mut s = Service::start(&[]);
        let mut idle = std::net::TcpStream::connect(s.addr).unwrap();
        std::io::Write::write_all(&mut idle, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let t0 = Instant::now();
        s.run.signal(sig);
        let status = s.run.wait_exit(Duration::from_secs(5)).expect("still running 5 s after the signal");
        let took = t0.elapsed();
        assert!(status.success(), "signal {sig}: {status:?}\n{}", s.run.log());
        assert!(took < Duration::from_secs(1), "signal {sig}: took {took:?}");
    }
}

/// A copy of the Pi fixture in a temporary directory, for tests that break it.
fn fixture_copy() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let src = common::repo().join("tests/fixtures/raspberrypi4-aarch64");
    let ok = Command::new("cp").arg("-r").arg(src.join("proc")).arg(src.join("sys")).arg(tmp.path()).status();
    assert!(ok.unwrap().success());
    tmp
}

/// A collector that fails (here /proc/meminfo is gone) leaves its own fields null, logs one
/// error naming the file, and the rest of the snapshot is served as usual.
#[test]
fn a_failing_collector_yields_nulls_not_a_failed_request() {
    let tmp = fixture_copy();
    std::fs::remove_file(tmp.path().join("proc/meminfo")).unwrap();
    std::fs::write(tmp.path().join("proc/diskstats"), "garbage line\n").unwrap();
    let s = Service::on_fixture(tmp.path(), &[("SYSTEM_STATS_SAMPLE_INTERVAL", "0.1")]);
    let v = s.json("/system");
    let nulls = check_contract(&v);
    for k in ["memory.total", "memory.percent", "swap.total", "disk_io.read_bytes", "disk_io.busy_time"] {
        assert!(nulls.contains(&k.to_string()), "{k} should be null: {v}");
    }
    assert_eq!(v["cpu"]["logical_cores"], 4);
    assert_eq!(v["network"]["primary_interface"]["name"], "eth0");
    // still failing several samples later: logged once per collector, not once per sample
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(s.get("/system").status, 200);
    let log = s.run.log();
    let memory_errors =
        log.lines().filter(|l| l.contains("collector=\"memory\"") || l.contains("collector=memory")).count();
    assert_eq!(memory_errors, 1, "{log}");
    assert!(log.contains("meminfo"), "{log}");
    assert!(log.contains("diskstats: line 1: 2 fields"), "{log}");
    // recovery is logged too
    std::fs::copy(
        common::repo().join("tests/fixtures/raspberrypi4-aarch64/proc/meminfo"),
        tmp.path().join("proc/meminfo"),
    )
    .unwrap();
    s.run.wait_for_line("collector recovered");
    // the recovering sample is published once it is complete
    let deadline = Instant::now() + Duration::from_secs(5);
    while !s.json("/system")["memory"]["total"].is_u64() {
        assert!(Instant::now() < deadline, "memory did not come back");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A copy of the Pi fixture whose `proc/net` lives on a FUSE mount that can be stopped, as a
/// wedged driver or a hung mount would: the network collector's reads then block.
fn fixture_with_stoppable_net() -> Option<(tempfile::TempDir, StoppedMount)> {
    let tmp = fixture_copy();
    let net = tmp.path().join("proc/net");
    let source = tmp.path().join("net-source");
    std::fs::rename(&net, &source).unwrap();
    std::fs::create_dir(&net).unwrap();
    let mount = StoppedMount::start(&source, &net)?;
    Some((tmp, mount))
}

/// A sampler stuck in the kernel never blocks requests; `/health` turns 503 after three
/// intervals, naming the collector that is stuck, and back to 200 once it is unstuck.
#[test]
fn health_is_503_while_the_sampler_is_stuck() {
    let Some((tmp, net)) = fixture_with_stoppable_net() else { return };
    let s = Service::on_fixture(tmp.path(), &[("SYSTEM_STATS_SAMPLE_INTERVAL", "0.2")]);
    assert_eq!(s.get("/health").status, 200);
    net.signal(libc::SIGSTOP);
    let deadline = Instant::now() + Duration::from_secs(10);
    let unhealthy = loop {
        let r = s.get("/health");
        if r.status == 503 || Instant::now() > deadline {
            break r;
        }
        // requests are still answered from the last snapshot meanwhile
        assert_eq!(s.get("/system").status, 200);
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(unhealthy.status, 503, "{}", unhealthy.body);
    let body: Value = serde_json::from_str(&unhealthy.body).unwrap();
    let error = body["error"].as_str().unwrap();
    let stuck_in_net = ["the network collector", "the interfaces collector"].iter().any(|c| error.contains(c));
    assert!(error.contains("no sample for") && error.contains("has been running for") && stuck_in_net, "{body}");
    assert_eq!(s.get("/system").status, 200);
    net.signal(libc::SIGCONT);
    let deadline = Instant::now() + Duration::from_secs(10);
    while s.get("/health").status != 200 {
        assert!(Instant::now() < deadline, "health did not recover:\n{}", s.run.log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A tree whose file never answers at start-up does not keep the port closed for ever: after a
/// few seconds the service listens, `/system` and `/health` answer 503 naming the collector,
/// and the first sample is served once the file answers.
#[test]
fn a_tree_that_hangs_at_start_does_not_keep_the_port_closed() {
    let Some((tmp, net)) = fixture_with_stoppable_net() else { return };
    net.signal(libc::SIGSTOP);
    let t = Instant::now();
    let s = Service::on_fixture(tmp.path(), &[]);
    assert!(t.elapsed() < Duration::from_secs(12), "{:?}", t.elapsed());
    s.run.wait_for_line("the first sample has not finished after 5 s; the network collector has been running");
    for path in ["/system", "/health", "/metrics"] {
        let r = s.get(path);
        assert_eq!(r.status, 503, "{path}: {}", r.body);
        assert!(r.body.contains("no sample yet; the network collector"), "{path}: {}", r.body);
    }
    net.signal(libc::SIGCONT);
    let deadline = Instant::now() + Duration::from_secs(10);
    while s.get("/system").status != 200 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(s.json("/system")["network"]["io_counters"]["bytes_recv"].is_u64());
}

/// A planted FIFO (a file that never delivers data) fails its collector at once, logged,
/// instead of blocking the sampler.
#[test]
fn a_fifo_in_the_tree_fails_its_collector_at_once() {
    let tmp = fixture_copy();
    let loadavg = tmp.path().join("proc/loadavg");
    std::fs::remove_file(&loadavg).unwrap();
    let c = std::ffi::CString::new(loadavg.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo(3) with a valid path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let s = Service::on_fixture(tmp.path(), &[]);
    let v = s.json("/system");
    assert!(v["load_avg"]["load1"].is_null() && v["memory"]["total"].is_u64());
    let line = s.run.wait_for_line("collector failed");
    assert!(line.contains("load") && line.contains("loadavg"), "{line}");
}

/// Misspelt variables are reported, not silently ignored.
#[test]
fn unknown_variables_are_warned_about() {
    let s = Service::start(&[("SYSTEM_STATS_PROT", "8080")]);
    let line = s.run.wait_for_line("SYSTEM_STATS_PROT");
    assert!(line.contains("WARN"), "{line}");
}

/// A network filesystem that cannot be stat'ed is reported, with the error.
#[test]
fn network_mounts_are_reported_with_their_error() {
    let tmp = fixture_copy();
    let mounts = tmp.path().join("proc/mounts");
    let mut table = std::fs::read_to_string(&mounts).unwrap();
    table.push_str("nas.lan:/export /srv/nas-that-is-not-here nfs4 rw,relatime 0 0\n");
    std::fs::write(&mounts, table).unwrap();
    let s = Service::on_fixture(tmp.path(), &[]);
    let v = s.json("/system");
    let nas = v["filesystems"].as_array().unwrap().iter().find(|f| f["fstype"] == "nfs4").expect("the nfs4 mount");
    assert_eq!(nas["device"], "nas.lan:/export");
    assert!(nas["total"].is_null());
    assert!(nas["error"].as_str().unwrap().contains("No such file"), "{nas}");
}

/// Metric `name{collector="x"}` values of a `/metrics` page, by collector.
fn collector_success(page: &str) -> Vec<(String, f64)> {
    page.lines()
        .filter_map(|l| l.strip_prefix("system_stats_collector_success{collector=\""))
        .filter_map(|rest| {
            let (name, value) = rest.split_once("\"} ")?;
            Some((name.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// Collectors left out cost nothing and leave their keys present but null; the others run as
/// usual and only they report a status.
#[test]
fn collectors_left_out_leave_their_keys_null() {
    let dir = common::repo().join("tests/fixtures/raspberrypi4-aarch64");
    let s = Service::on_fixture(
        &dir,
        &[("SYSTEM_STATS_COLLECTORS", "all,-memory,-swap,-filesystems,-sensors,-raspberry_pi,-interfaces")],
    );
    let v = s.json("/system");
    let nulls = check_contract(&v);
    for k in ["memory.total", "memory.percent", "swap.total", "swap.sin"] {
        assert!(nulls.contains(&k.to_string()), "{k} should be null: {v}");
    }
    assert!(v["filesystems"].is_null() && v["raspberry_pi"].is_null() && v["network"]["primary_interface"].is_null());
    assert!(v["sensors"].is_null() && v["thermal_zones"].is_null() && v["cpu"]["temperature_c"].is_null());
    // the network family still lists the interfaces and their counters, without link facts
    assert!(v["network"]["interfaces"].is_null());
    let eth0 = &v["network"]["all_interfaces"][1];
    assert_eq!(eth0["name"], "eth0");
    assert!(eth0["counters"]["bytes_recv"].is_u64() && eth0["up"].is_null() && eth0["mtu"].is_null());
    // the disk path is measured without the filesystem list
    assert!(v["disk"]["total"].is_u64(), "{}", v["disk"]);
    assert_eq!(v["cpu"]["logical_cores"], 4);
    let running: Vec<String> = collector_success(&s.get("/metrics").body).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        running,
        [
            "cpu",
            "stat",
            "schedstat",
            "cpufreq",
            "load",
            "vmstat",
            "pressure",
            "disk",
            "disk_io",
            "network",
            "netstat",
            "sockstat",
            "softnet",
            "udp_queues",
            "arp",
            "conntrack",
            "containers",
            "host",
            "services",
            "smart",
            "processes",
            "uptime",
            "time",
            "timex",
            "entropy",
            "filefd",
            "textfile"
        ]
    );

    // only some: the rest null
    let s = Service::on_fixture(&dir, &[("SYSTEM_STATS_COLLECTORS", "memory,host")]);
    let v = s.json("/system");
    assert!(v["memory"]["total"].is_u64() && v["system"]["hostname"].is_string());
    assert!(v["cpu"]["logical_cores"].is_null() && v["uptime"]["seconds"].is_null() && v["disk"]["total"].is_null());
    assert!(v["network"]["io_counters"]["bytes_recv"].is_null() && v["disks"].is_null());
}

/// The disk path's usage is taken from the filesystem list when it is one of its mount
/// points, and the disk collector's status follows: failing while the path is gone, healthy
/// again once it is back.
#[test]
fn disk_usage_from_the_filesystem_list_fails_and_recovers() {
    let tmp = fixture_copy();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let mounts = tmp.path().join("proc/mounts");
    let mut table = std::fs::read_to_string(&mounts).unwrap();
    table.push_str(&format!("/dev/sda1 {} ext4 rw,relatime 0 0\n", data.display()));
    std::fs::write(&mounts, table).unwrap();
    let s = Service::on_fixture(
        tmp.path(),
        &[("SYSTEM_STATS_SAMPLE_INTERVAL", "0.1"), ("SYSTEM_STATS_DISK_PATH", data.to_str().unwrap())],
    );
    let status =
        |s: &Service| collector_success(&s.get("/metrics").body).into_iter().find(|(n, _)| n == "disk").map(|(_, v)| v);
    let v = s.json("/system");
    let listed = v["filesystems"].as_array().unwrap().iter().find(|f| f["mountpoint"] == data.to_str().unwrap());
    let listed = listed.expect("the disk path in the filesystem list").clone();
    for k in ["total", "used", "free", "percent"] {
        assert_eq!(v["disk"][k], listed[k], "disk.{k}");
    }
    assert_eq!(status(&s), Some(1.0));

    std::fs::remove_dir(&data).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while status(&s) != Some(0.0) {
        assert!(Instant::now() < deadline, "the disk collector did not fail:\n{}", s.run.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(s.json("/system")["disk"]["total"].is_null());
    std::fs::create_dir(&data).unwrap();
    while status(&s) != Some(1.0) {
        assert!(Instant::now() < deadline, "the disk collector did not recover:\n{}", s.run.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(s.json("/system")["disk"]["total"].is_u64());
    s.run.wait_for_line("collector recovered");
}

/// A FUSE mount (bindfs) whose daemon is stopped: `statfs(2)` on it blocks, as on an NFS
/// mount whose server is gone. Unmounted and its daemon ended when dropped, so that nothing
/// is left blocking.
struct StoppedMount {
    daemon: u32,
    mountpoint: std::path::PathBuf,
}

impl StoppedMount {
    /// `None` when FUSE or bindfs is missing (allowed only outside CI).
    fn start(source: &std::path::Path, mountpoint: &std::path::Path) -> Option<StoppedMount> {
        let strict = std::env::var_os("SYSTEM_STATS_TEST_STRICT").is_some();
        let started = Command::new("bindfs").arg(source).arg(mountpoint).status();
        if !matches!(started, Ok(s) if s.success()) {
            assert!(!strict, "bindfs (and /dev/fuse) are needed: {started:?}");
            eprintln!("SKIPPED: bindfs could not mount ({started:?}); apt-get install bindfs");
            return None;
        }
        let out = Command::new("pgrep").arg("-f").arg(format!("bindfs {}", source.display())).output().unwrap();
        let daemon = String::from_utf8(out.stdout).unwrap().trim().lines().next().unwrap().parse().unwrap();
        Some(StoppedMount { daemon, mountpoint: mountpoint.to_path_buf() })
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on the bindfs daemon this test started.
        assert_eq!(unsafe { libc::kill(self.daemon as i32, sig) }, 0);
    }
}

impl Drop for StoppedMount {
    fn drop(&mut self) {
        self.signal(libc::SIGCONT);
        let quiet = |cmd: &mut Command| {
            let _ = cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).status();
        };
        quiet(Command::new("fusermount").arg("-u").arg(&self.mountpoint));
        quiet(Command::new("umount").arg("-l").arg(&self.mountpoint));
    }
}

/// A network filesystem whose server stops answering (here a FUSE mount whose daemon is
/// stopped: its statfs blocks) is stat'ed on the bounded helper: the sampler goes on, the
/// mount and the disk path on it are reported with the error, and both come back when the
/// server does.
#[test]
fn a_hung_network_mount_does_not_stop_the_sampler() {
    let tmp = fixture_copy();
    let (source, mountpoint) = (tmp.path().join("export"), tmp.path().join("nas"));
    std::fs::create_dir_all(source.join("share")).unwrap();
    std::fs::create_dir_all(&mountpoint).unwrap();
    let Some(nas) = StoppedMount::start(&source, &mountpoint) else { return };
    let mounts = tmp.path().join("proc/mounts");
    let mut table = std::fs::read_to_string(&mounts).unwrap();
    table.push_str(&format!("nas.lan:/export {} nfs4 rw,relatime 0 0\n", mountpoint.display()));
    std::fs::write(&mounts, table).unwrap();
    let disk_path = mountpoint.join("share");
    let s = Service::on_fixture(
        tmp.path(),
        &[("SYSTEM_STATS_SAMPLE_INTERVAL", "0.3"), ("SYSTEM_STATS_DISK_PATH", disk_path.to_str().unwrap())],
    );
    let nas_entry = |v: &Value| v["filesystems"].as_array().unwrap().iter().find(|f| f["fstype"] == "nfs4").cloned();
    let v = s.json("/system");
    assert!(nas_entry(&v).unwrap()["total"].is_u64(), "{v}");
    assert!(v["disk"]["total"].is_u64());

    nas.signal(libc::SIGSTOP);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut times = std::collections::BTreeSet::new();
    let stuck = loop {
        assert_eq!(s.get("/health").status, 200, "the sampler is stuck:\n{}", s.run.log());
        let v = s.json("/system");
        times.insert(v["collected_at"].as_str().unwrap().to_string());
        let entry = nas_entry(&v).unwrap();
        if entry["error"].is_string() && v["disk"]["total"].is_null() && times.len() > 5 {
            break v;
        }
        assert!(Instant::now() < deadline, "no error reported for the hung mount: {entry}\n{}", s.run.log());
        std::thread::sleep(Duration::from_millis(100));
    };
    let error = nas_entry(&stuck).unwrap()["error"].as_str().unwrap().to_string();
    assert!(error.contains("statvfs") && error.contains("return"), "{error}");
    assert_eq!(collector_success(&s.get("/metrics").body).iter().find(|(n, _)| n == "disk").unwrap().1, 0.0);
    // the rest of the snapshot is as fresh as ever
    assert!(stuck["memory"]["total"].is_u64() && stuck["cpu"]["percent"].is_f64());

    nas.signal(libc::SIGCONT);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = s.json("/system");
        if nas_entry(&v).unwrap()["total"].is_u64() && v["disk"]["total"].is_u64() {
            break;
        }
        assert!(Instant::now() < deadline, "the mount did not come back:\n{}", s.run.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(s);
}

/// `--version` of both programs names the package version and the git commit they were built
/// from (`unknown` outside a git checkout), and `/metrics` carries the same as `revision`.
#[test]
fn version_names_the_commit() {
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(common::repo())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let want = format!("{} (commit {head})", env!("CARGO_PKG_VERSION"));
    for bin in [service_bin(), common::forwarder_bin()] {
        let out = clean_command(bin).arg("--version").output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && text.trim().ends_with(&want), "{bin} --version: {text:?}, want {want:?}");
    }
    let s = Service::start(&[]);
    let metrics = s.get("/metrics").body;
    let info = metrics.lines().find(|l| l.starts_with("system_stats_build_info{")).unwrap();
    assert!(info.contains(&format!("revision=\"{head}\"")), "{info}");
}

/// The names of a list of `/system` objects, and the label values of a `/metrics` family.
fn names(list: &serde_json::Value, key: &str) -> Vec<String> {
    list.as_array().unwrap().iter().map(|x| x[key].as_str().unwrap().to_string()).collect()
}

fn label_values(page: &str, family: &str, label: &str) -> Vec<String> {
    let prefix = format!("{family}{{");
    page.lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .filter_map(|l| l.split(&format!("{label}=\"")).nth(1)?.split('"').next().map(str::to_string))
        .collect()
}

/// The exclusion settings leave mounts, disks and interfaces out of both `/system`'s lists
/// and `/metrics`, while the host's totals still count every device.
#[test]
fn exclusions_leave_devices_out_of_both_outputs() {
    let dir = common::repo().join("tests/fixtures/raspberrypi4-aarch64");
    let defaults = Service::on_fixture(&dir, &[]);
    let d = defaults.json("/system");
    let dm = defaults.get("/metrics").body;
    // node_exporter's defaults: /dev, /proc, /sys and loop devices out; mmcblk partitions in
    assert_eq!(names(&d["filesystems"], "mountpoint"), ["/", "/run", "/boot/firmware", "/run/user/1000"]);
    assert_eq!(names(&d["disks"], "name"), ["mmcblk0", "mmcblk0p1", "mmcblk0p2"]);
    assert_eq!(names(&d["network"]["all_interfaces"], "name"), ["lo", "eth0", "wlan0"]);
    assert_eq!(label_values(&dm, "node_network_receive_bytes_total", "device"), ["lo", "eth0", "wlan0"]);

    let s = Service::on_fixture(
        &dir,
        &[
            ("SYSTEM_STATS_FILESYSTEMS_EXCLUDE", "^/run($|/)"),
            ("SYSTEM_STATS_FILESYSTEM_TYPES_EXCLUDE", "^(vfat|proc|sysfs|devtmpfs)$"),
            ("SYSTEM_STATS_DISKS_EXCLUDE", "p[0-9]+$"),
            ("SYSTEM_STATS_NETWORK_EXCLUDE", "^(lo|wlan0)$"),
        ],
    );
    let v = s.json("/system");
    let m = s.get("/metrics").body;
    assert_eq!(names(&v["filesystems"], "mountpoint"), ["/"]);
    assert_eq!(label_values(&m, "node_filesystem_size_bytes", "mountpoint"), ["/"]);
    assert_eq!(names(&v["disks"], "name"), ["mmcblk0"]);
    assert_eq!(label_values(&m, "node_disk_read_bytes_total", "device"), ["mmcblk0"]);
    assert_eq!(names(&v["network"]["all_interfaces"], "name"), ["eth0"]);
    for family in ["node_network_receive_bytes_total", "node_network_up", "node_network_mtu_bytes"] {
        assert_eq!(label_values(&m, family, "device"), ["eth0"], "{family}");
    }
    // the totals count every device still
    assert_eq!(v["network"]["io_counters"]["bytes_recv"], d["network"]["io_counters"]["bytes_recv"]);
    assert_eq!(v["disk_io"]["read_bytes"], d["disk_io"]["read_bytes"]);

    // ^$ leaves nothing out
    let all = Service::on_fixture(
        &dir,
        &[
            ("SYSTEM_STATS_FILESYSTEMS_EXCLUDE", "^$"),
            ("SYSTEM_STATS_FILESYSTEM_TYPES_EXCLUDE", "^$"),
            ("SYSTEM_STATS_DISKS_EXCLUDE", "^$"),
        ],
    );
    let a = all.json("/system");
    assert!(names(&a["filesystems"], "mountpoint").contains(&"/dev".to_string()), "{}", a["filesystems"]);
    assert_eq!(names(&a["disks"], "name").len(), 11);
}

/// An HTTP/1.1 request without a `Host` header is a 400 (RFC 9112), naming what is missing; an
/// HTTP/1.0 one (which has no such rule) is answered.
#[test]
fn http11_without_host_is_a_bad_request() {
    use std::io::{Read, Write};
    let s = Service::start(&[]);
    let ask = |request: &str| {
        let mut c = std::net::TcpStream::connect(s.addr).unwrap();
        c.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
        c.write_all(request.as_bytes()).unwrap();
        let mut out = String::new();
        let _ = c.read_to_string(&mut out);
        out
    };
    let answer = ask("GET /health HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("needs a Host header"), "{answer}");
    let answer = ask("GET /health HTTP/1.0\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200"), "{answer}");
    let answer = ask("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// Neither program maps glibc's libm (half a MiB of resident memory for the one `pow` tokio's
/// scheduler calls, which the library defines from the `libm` crate): their dynamic sections
/// need no `libm.so`.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn the_programs_do_not_load_libm() {
    for bin in [service_bin(), common::forwarder_bin()] {
        let out = Command::new("readelf")
            .args(["--dynamic", bin])
            .output()
            .expect("readelf (binutils) runs: scripts/test installs it");
        assert!(out.status.success(), "readelf --dynamic {bin}: {}", String::from_utf8_lossy(&out.stderr));
        let dynamic = String::from_utf8_lossy(&out.stdout);
        let needed: Vec<&str> = dynamic.lines().filter(|l| l.contains("(NEEDED)")).collect();
        assert!(needed.iter().any(|l| l.contains("libc.so")), "{bin}: no libc among {needed:?}");
        assert!(!needed.iter().any(|l| l.contains("libm.so")), "{bin} needs libm: {needed:?}");
    }
}

/// The forwarder links no collector: it encodes old spooled snapshots with the families'
/// series functions only (`collect::SNAPSHOT_SERIES`), not through the registry, whose
/// constructors would bring every collector in (2.4 MB more). The service has them all.
#[test]
fn the_forwarder_links_no_collector() {
    let collectors = |bin: &str| {
        let out = Command::new("nm").args(["--demangle", bin]).output().expect("nm (binutils) runs");
        assert!(out.status.success(), "nm {bin}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains("as system_stats::collect::Collector>::collect"))
            .count()
    };
    assert!(collectors(service_bin()) >= 30, "the service's collectors are not seen: the check reads the wrong names");
    assert_eq!(collectors(common::forwarder_bin()), 0, "the forwarder links collectors");
}

/// glibc's heaps for threads' arenas in a process: anonymous read-write mappings at a 64 MiB
/// boundary that, with the reserved (`---p`) mapping right after them, make 64 MiB.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn malloc_arenas(pid: u32) -> usize {
    const HEAP: u64 = 64 << 20;
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    let mappings: Vec<(u64, u64, &str, bool)> = maps
        .lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let (range, perms) = (f.next()?, f.next()?);
            let anonymous = f.nth(3).is_none();
            let (start, end) = range.split_once('-')?;
            Some((u64::from_str_radix(start, 16).ok()?, u64::from_str_radix(end, 16).ok()?, perms, anonymous))
        })
        .collect();
    mappings
        .windows(2)
        .filter(|w| {
            let ((start, end, perms, anon), (next_start, next_end, next_perms, next_anon)) = (w[0], w[1]);
            anon && next_anon
                && perms == "rw-p"
                && next_perms == "---p"
                && start % HEAP == 0
                && next_start == end
                && next_end - start == HEAP
        })
        .count()
}

/// The service's threads share one malloc arena (0.2–0.3 MiB less resident than one per
/// thread), after requests on several connections at once have run on every HTTP worker; a
/// `MALLOC_ARENA_MAX` of the user's still wins.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn the_service_keeps_one_malloc_arena_unless_told_otherwise() {
    let busy = |svc: &Service| {
        let addr = svc.addr;
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(move || {
                    for path in ["/system", "/metrics", "/history", "/system"] {
                        assert_eq!(common::request(addr, "GET", path).status, 200, "{path}");
                    }
                });
            }
        });
    };
    let svc = Service::start(&[]);
    busy(&svc);
    assert_eq!(malloc_arenas(svc.run.child.id()), 0, "the service made malloc arenas for its threads");
    let told = Service::start(&[("MALLOC_ARENA_MAX", "8")]);
    busy(&told);
    assert!(malloc_arenas(told.run.child.id()) > 0, "MALLOC_ARENA_MAX=8: no arena per thread (or none found)");
}
