//! `/metrics` and the push formats against the real programs: promtool, Python's
//! prometheus_client parsers, node_exporter side by side on this machine, a Prometheus server
//! scraping the service and receiving the forwarder's remote-write, and InfluxDB receiving its
//! line protocol. `scripts/test` installs them (Debian packages prometheus,
//! prometheus-node-exporter, influxdb; pip prometheus-client); without them these tests say so
//! and pass, unless `SYSTEM_STATS_TEST_STRICT=1`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::servers::{Influx, Prometheus};
use common::{Running, Service, available, free_port, request, start_forwarder, wait_http};

/// `name{labels}` → value, from Prometheus text format.
type Series = BTreeMap<(String, BTreeMap<String, String>), f64>;

fn parse_text(text: &str) -> Series {
    let mut out = Series::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let (series, value) = line.rsplit_once(" ").unwrap_or_else(|| panic!("no value in {line:?}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        let (name, labels) = match series.split_once('{') {
            None => (series.to_string(), BTreeMap::new()),
            Some((name, rest)) => (name.to_string(), parse_labels(rest.strip_suffix('}').unwrap())),
        };
        out.insert((name, labels), value);
    }
    out
}

fn parse_labels(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut chars = s.chars().peekable();
    loop {
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            return out;
        }
        assert_eq!(chars.next(), Some('"'));
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(other) => value.push(other),
                    None => {}
                },
                '"' => break,
                c => value.push(c),
            }
        }
        out.insert(key.trim_start_matches(',').to_string(), value);
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
}

/// The families the issue names, by which node_exporter compatibility is judged.
fn core_family(name: &str) -> bool {
    name == "node_cpu_seconds_total"
        || name.starts_with("node_memory_")
        || ["node_load1", "node_load5", "node_load15"].contains(&name)
        || ["node_filesystem_size_bytes", "node_filesystem_free_bytes", "node_filesystem_avail_bytes"].contains(&name)
        || [
            "node_disk_read_bytes_total",
            "node_disk_written_bytes_total",
            "node_disk_reads_completed_total",
            "node_disk_writes_completed_total",
        ]
        .contains(&name)
        || (name.starts_with("node_network_")
            && ["receive", "transmit"].iter().any(|d| {
                ["bytes", "packets", "errs", "drop"].iter().any(|s| name == format!("node_network_{d}_{s}_total"))
            }))
        || ["node_boot_time_seconds", "node_time_seconds", "node_uname_info"].contains(&name)
        || ["node_thermal_zone_temp", "node_hwmon_temp_celsius"].contains(&name)
}

fn node_exporter() -> (Running, String) {
    let port = free_port();
    let mut cmd = Command::new("prometheus-node-exporter");
    cmd.arg(format!("--web.listen-address=127.0.0.1:{port}")).arg("--collector.disable-defaults");
    for c in SHARED_COLLECTORS.iter().chain(&["filesystem", "timex", "uname"]) {
        cmd.arg(format!("--collector.{c}"));
    }
    // upstream node_exporter's defaults, which ours follow: Debian's package patches them to
    // leave out /run, /mnt and /media mounts and the loopback interface too
    cmd.arg(
        "--collector.filesystem.mount-points-exclude=^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)",
    )
    .arg("--collector.netdev.device-exclude=")
    // netlink adds node_network_receive_nohandler_total, which /proc/net/dev does not have
    .arg("--no-collector.netdev.netlink");
    let run = Running::spawn(cmd);
    let addr = format!("127.0.0.1:{port}");
    wait_http(&addr, "/metrics");
    (run, addr)
}

/// promtool reports nothing on our `/metrics` but what it reports on node_exporter's own:
/// the camelCase of the `node_memory_*` names and `node_entropy_available_bits`'s unit, kept
/// because every dashboard uses those names.
#[test]
fn promtool_finds_nothing_node_exporter_does_not_share() {
    if !available("promtool", "--version") || !available("prometheus-node-exporter", "--version") {
        return;
    }
    let s = Service::start(&[]);
    let ours = s.get("/metrics").body;
    let (_ne, addr) = node_exporter();
    let theirs = request(addr.parse().unwrap(), "GET", "/metrics").body;
    let lint = |text: &str| -> Vec<String> {
        let mut child = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), text.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        let all = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        all.lines().map(str::to_string).filter(|l| !l.trim().is_empty()).collect()
    };
    let theirs_findings: BTreeSet<String> = lint(&theirs).into_iter().collect();
    for finding in lint(&ours) {
        assert!(theirs_findings.contains(&finding), "promtool: {finding:?} (node_exporter does not have it)");
    }
}

/// Both formats parse with Python's prometheus_client, OpenMetrics strictly.
#[test]
fn both_formats_parse_with_prometheus_client() {
    let probe = "import prometheus_client";
    if !Command::new("python3").args(["-c", probe]).output().is_ok_and(|o| o.status.success()) {
        assert!(std::env::var_os("SYSTEM_STATS_TEST_STRICT").is_none(), "python3 prometheus_client is required");
        eprintln!("SKIPPED: pip install prometheus-client");
        return;
    }
    let s = Service::on_fixture(&common::repo().join("tests/fixtures/raspberrypi4-aarch64"), &[]);
    let text = s.get("/metrics");
    assert_eq!(text.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    let om = {
        let mut stream = std::net::TcpStream::connect(s.addr).unwrap();
        std::io::Write::write_all(
            &mut stream,
            b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/openmetrics-text;version=1.0.0\r\nConnection: close\r\n\r\n",
        )
        .unwrap();
        let mut raw = String::new();
        std::io::Read::read_to_string(&mut stream, &mut raw).unwrap();
        common::parse_response(&raw)
    };
    assert_eq!(om.header("content-type"), Some("application/openmetrics-text; version=1.0.0; charset=utf-8"));
    assert!(om.body.ends_with("# EOF\n"));
    let script = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om
kind, path = sys.argv[1], sys.argv[2]
parse = om if kind == "om" else text_string_to_metric_families
fams = list(parse(open(path).read()))
print(len(fams), sum(len(f.samples) for f in fams))
"#;
    let dir = tempfile::tempdir().unwrap();
    for (kind, body) in [("text", &text.body), ("om", &om.body)] {
        let path = dir.path().join(kind);
        std::fs::write(&path, body).unwrap();
        let out = Command::new("python3").args(["-c", script, kind]).arg(&path).output().unwrap();
        assert!(out.status.success(), "{kind}: {}", String::from_utf8_lossy(&out.stderr));
        let counts = String::from_utf8(out.stdout).unwrap();
        let families: usize = counts.split_whitespace().next().unwrap().parse().unwrap();
        assert!(families > 40, "{kind}: {counts}");
    }
    // the Pi's sensors and firmware flags are there
    let series = parse_text(&text.body);
    let temp = series.iter().find(|((n, l), _)| n == "node_thermal_zone_temp" && l["type"] == "cpu-thermal");
    assert_eq!(temp.map(|(_, v)| *v), Some(45.277));
    let hw = series.iter().find(|((n, l), _)| n == "node_hwmon_temp_celsius" && l["chip"] == "thermal_thermal_zone0");
    assert!(hw.is_some());
    let flag = |flag: &str, when: &str| {
        series
            .iter()
            .find(|((n, l), _)| n == "system_stats_raspberry_pi_throttled" && l["flag"] == flag && l["when"] == when)
            .map(|(_, v)| *v)
    };
    assert_eq!(flag("under_voltage", "since_boot"), Some(1.0));
    assert_eq!(flag("under_voltage", "now"), Some(0.0));
    assert_eq!(series.iter().filter(|((n, _), _)| n == "node_cpu_seconds_total").count(), 4 * 8, "4 CPUs × 8 modes");
}

/// Side by side with node_exporter on this machine: for the core families the metric names
/// and label sets are the same, and the values agree (counters within what a second of
/// difference in sampling time allows).
#[test]
fn core_families_match_node_exporter() {
    if !available("prometheus-node-exporter", "--version") {
        return;
    }
    let s = Service::start(&[("SYSTEM_STATS_SAMPLE_INTERVAL", "0.1")]);
    let (_ne, addr) = node_exporter();
    // both read after node_exporter started (it moves memory counters by itself); ours, from a
    // sample at most 0.1 s old, is bracketed by two of node_exporter's readings, so that
    // system-wide gauges other tests move meanwhile (Committed_AS while a Prometheus starts)
    // are judged against the range they moved through
    std::thread::sleep(Duration::from_millis(300));
    let read_theirs = || -> Series {
        parse_text(&request(addr.parse().unwrap(), "GET", "/metrics").body)
            .into_iter()
            .filter(|((n, _), _)| core_family(n))
            .collect()
    };
    let before = read_theirs();
    std::thread::sleep(Duration::from_millis(150));
    let ours: Series = parse_text(&s.get("/metrics").body).into_iter().filter(|((n, _), _)| core_family(n)).collect();
    let theirs = read_theirs();
    let keys = |s: &Series| s.keys().cloned().collect::<BTreeSet<_>>();
    let (ok, tk) = (keys(&ours), keys(&theirs));
    let only_ours: Vec<_> = ok.difference(&tk).collect();
    let only_theirs: Vec<_> = tk.difference(&ok).collect();
    assert!(
        only_ours.is_empty() && only_theirs.is_empty(),
        "only ours: {only_ours:#?}\nonly node_exporter's: {only_theirs:#?}"
    );
    assert!(ok.len() > 60, "{}", ok.len());

    const MIB: f64 = 1048576.0;
    for ((name, labels), ours_v) in &ours {
        let key = (name.clone(), labels.clone());
        let theirs_v = theirs[&key];
        let earlier = before.get(&key).copied().unwrap_or(theirs_v);
        // the nearer of the two readings (a value between them is as near as can be)
        let (lo, hi) = (earlier.min(theirs_v), earlier.max(theirs_v));
        let theirs_v = ours_v.clamp(lo, hi);
        let tolerance = match name.as_str() {
            "node_cpu_seconds_total" => 3.0,
            "node_time_seconds" => 5.0,
            "node_boot_time_seconds" => 1.0,
            "node_load1" | "node_load5" | "node_load15" => 1.0,
            n if n.starts_with("node_memory_") => (64.0 * MIB).max(theirs_v.abs() * 0.1),
            n if n.starts_with("node_filesystem_") => 256.0 * MIB,
            n if n.ends_with("bytes_total") => (16.0 * MIB).max(theirs_v * 0.05),
            n if n.ends_with("_total") => 10_000.0_f64.max(theirs_v * 0.05),
            _ => 0.0,
        };
        assert!(
            (ours_v - theirs_v).abs() <= tolerance,
            "{name}{labels:?}: ours {ours_v}, node_exporter {theirs_v} (± {tolerance})"
        );
    }
}

/// A real Prometheus scrapes the service (negotiating OpenMetrics) and answers queries on it.
#[test]
fn prometheus_scrapes_the_service() {
    if !available("prometheus", "--version") {
        return;
    }
    let s = Service::start(&[]);
    let logical = s.json("/system")["cpu"]["logical_cores"].as_u64().unwrap();
    let prom = Prometheus::start(&[("system-stats", s.addr)], false);
    let up = prom.query_until("up{job=\"system-stats\"} == 1");
    assert_eq!(up.len(), 1);
    prom.query_until("node_load1{job=\"system-stats\"}");
    let count = prom.query_until("count(node_cpu_seconds_total{job=\"system-stats\"})");
    assert_eq!(count[0]["value"][1], (logical * 8).to_string());
    let total = prom.query_until("node_memory_MemTotal_bytes{job=\"system-stats\"}");
    assert_eq!(total[0]["value"][1], s.json("/system")["memory"]["total"].as_u64().unwrap().to_string());
}

/// The forwarder's remote-write destination: a real Prometheus receives the samples and
/// returns them from a query.
#[test]
fn prometheus_receives_remote_write() {
    if !available("prometheus", "--version") {
        return;
    }
    let s = Service::start(&[("SYSTEM_STATS_SAMPLE_INTERVAL", "0.2")]);
    let hostname = s.json("/system")["system"]["hostname"].as_str().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let prom = Prometheus::start(&[], true);
    let dest = format!("remote-write+{}", prom.remote_write_url());
    let _f = start_forwarder(&format!("http://{}/system", s.addr), &dest, &dir.path().join("spool"), &[]);
    let q = format!("node_memory_MemTotal_bytes{{job=\"system-stats\",instance=\"{hostname}\"}}");
    let got = prom.query_until(&q);
    assert_eq!(got[0]["value"][1], s.json("/system")["memory"]["total"].as_u64().unwrap().to_string());
    let cpu = prom.query_until(&format!("count(node_cpu_seconds_total{{instance=\"{hostname}\"}})"));
    assert!(cpu[0]["value"][1].as_str().unwrap().parse::<u64>().unwrap() >= 8);
}

/// The forwarder's InfluxDB destination: a real InfluxDB takes the line protocol and returns
/// the points from a query.
#[test]
fn influxdb_receives_line_protocol() {
    if !available("influxd", "version") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let influx = Influx::start("sst", false);
    let s = Service::start(&[("SYSTEM_STATS_SAMPLE_INTERVAL", "0.2")]);
    let total = s.json("/system")["memory"]["total"].as_u64().unwrap();
    let dest = format!("influx+http://{}/write?db=sst", influx.addr);
    let f = start_forwarder(&format!("http://{}/system", s.addr), &dest, &dir.path().join("spool"), &[]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = influx.query("sst", "SELECT last(value) FROM node_memory_MemTotal_bytes");
        if let Some(values) = r["series"][0]["values"].as_array() {
            assert_eq!(values[0][1].as_f64().unwrap(), total as f64);
            break;
        }
        assert!(Instant::now() < deadline, "nothing in InfluxDB: {r}\n{}", f.log());
        std::thread::sleep(Duration::from_millis(250));
    }
    let tags = influx.query("sst", "SHOW TAG KEYS FROM node_cpu_seconds_total").to_string();
    for tag in ["cpu", "host", "mode"] {
        assert!(tags.contains(&format!("\"{tag}\"")), "{tags}");
    }
}

/// node_exporter's collectors whose series we export too, with the flags that make it read
/// what we read: upstream's device sets, `/proc/net/dev` rather than netlink.
const SHARED_COLLECTORS: &[&str] = &[
    "cpu",
    "meminfo",
    "loadavg",
    "diskstats",
    "netdev",
    "netclass",
    "stat",
    "schedstat",
    "vmstat",
    "netstat",
    "sockstat",
    "softnet",
    "udp_queues",
    "arp",
    "conntrack",
    "entropy",
    "filefd",
    "pressure",
    "thermal_zone",
    "hwmon",
    "cpufreq",
    "time",
    "processes",
];

/// Series that come from the live system rather than the tree (statvfs, the clock, uname,
/// adjtimex, each program's own), or that only one of the two programs has by design.
fn from_the_tree(name: &str) -> bool {
    name.starts_with("node_")
        && !name.starts_with("node_filesystem_")
        && !name.starts_with("node_timex_")
        && !name.starts_with("node_scrape_")
        // threads by state: reading every thread's stat each sample costs more than it tells
        && name != "node_processes_threads_state"
        && ![
            "node_time_seconds",
            "node_time_zone_offset_seconds",
            "node_uname_info",
            "node_exporter_build_info",
            "node_textfile_scrape_error",
        ]
        .contains(&name)
}

/// node_exporter pointed at the recorded Raspberry Pi tree (`--path.procfs`, `--path.sysfs`)
/// and the service on the same tree: the same series with the same values for everything
/// read from the tree, every family we share with it (stat, vmstat, netstat, sockstat,
/// softnet, udp_queues, arp, entropy, filefd, netclass, diskstats, cpufreq, hwmon...).
#[test]
fn every_shared_family_matches_node_exporter_on_the_pi_fixture() {
    match_node_exporter_on("raspberrypi4-aarch64");
}

/// The same on a fixture with coretemp, two nvme drives and acpitz hwmon chips and three
/// thermal zones: the chips are named as node_exporter names them.
#[test]
fn every_shared_family_matches_node_exporter_on_the_coretemp_fixture() {
    match_node_exporter_on("x86-coretemp-nvme");
}

/// The same on this VM's recorded tree, which has pressure stall information and
/// connection tracking (and down interfaces without carrier).
#[test]
fn every_shared_family_matches_node_exporter_on_the_psi_conntrack_fixture() {
    match_node_exporter_on("debian-x86_64-psi-conntrack");
}

/// The same on the older VM tree, which lacks most of the newer files: both programs leave
/// out the same families.
#[test]
fn every_shared_family_matches_node_exporter_on_the_vm_fixture() {
    match_node_exporter_on("debian-x86_64-vm");
}

fn node_exporter_on(dir: &Path) -> (Running, String) {
    let port = free_port();
    let mut cmd = Command::new("prometheus-node-exporter");
    cmd.arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg(format!("--path.procfs={}", dir.join("proc").display()))
        .arg(format!("--path.sysfs={}", dir.join("sys").display()))
        .arg("--collector.disable-defaults")
        .arg("--collector.netdev.device-exclude=")
        .arg("--no-collector.netdev.netlink");
    for c in SHARED_COLLECTORS {
        cmd.arg(format!("--collector.{c}"));
    }
    let run = Running::spawn(cmd);
    let addr = format!("127.0.0.1:{port}");
    wait_http(&addr, "/metrics");
    (run, addr)
}

fn match_node_exporter_on(fixture: &str) {
    if !available("prometheus-node-exporter", "--version") {
        return;
    }
    let dir = common::repo().join("tests/fixtures").join(fixture);
    let s = Service::on_fixture(&dir, &[]);
    let (_ne, addr) = node_exporter_on(&dir);
    let ours_text = s.get("/metrics").body;
    let theirs_text = request(addr.parse().unwrap(), "GET", "/metrics").body;
    // node_exporter's processes collector fails without the tree's pid_max (recorded only
    // in the newer trees): its series are compared where it has them
    let processes = dir.join("proc/sys/kernel/pid_max").exists();
    let (ours, theirs) =
        same_series(fixture, &ours_text, &theirs_text, &|n| processes || !n.starts_with("node_processes_"));
    for (key, v) in &ours {
        let t = theirs[key];
        assert!((v - t).abs() <= t.abs() * 1e-9, "{fixture}: {key:?}: ours {v}, node_exporter {t}");
    }
    let families: BTreeSet<&str> = ours.keys().map(|(n, _)| n.as_str()).collect();
    assert!(families.len() > 60, "{fixture}: only {} families: {families:?}", families.len());
}

/// The series read from the tree in both texts, after checking that they are the same series
/// (names and labels) with the same TYPE and HELP.
fn same_series(context: &str, ours_text: &str, theirs_text: &str, keep: &dyn Fn(&str) -> bool) -> (Series, Series) {
    let compared = |n: &str| from_the_tree(n) && keep(n);
    let ours: Series = parse_text(ours_text).into_iter().filter(|((n, _), _)| compared(n)).collect();
    let theirs: Series = parse_text(theirs_text).into_iter().filter(|((n, _), _)| compared(n)).collect();
    let keys = |s: &Series| s.keys().cloned().collect::<BTreeSet<_>>();
    let (ok, tk) = (keys(&ours), keys(&theirs));
    let only_ours: Vec<_> = ok.difference(&tk).collect();
    let only_theirs: Vec<_> = tk.difference(&ok).collect();
    assert!(
        only_ours.is_empty() && only_theirs.is_empty(),
        "{context}: only ours: {only_ours:#?}\nonly node_exporter's: {only_theirs:#?}"
    );
    let meta = |text: &str, what: &str| -> BTreeMap<String, String> {
        text.lines()
            .filter_map(|l| l.strip_prefix(what))
            .filter_map(|l| l.split_once(' '))
            .filter(|(n, _)| compared(n))
            .map(|(n, rest)| (n.to_string(), rest.to_string()))
            .collect()
    };
    for what in ["# TYPE ", "# HELP "] {
        let (a, b) = (meta(ours_text, what), meta(theirs_text, what));
        for (name, theirs) in &b {
            assert_eq!(a.get(name), Some(theirs), "{context}: {what}{name}");
        }
    }
    (ours, theirs)
}

/// On this machine's own /proc and /sys, the service has every series node_exporter has in
/// every family they share, with the same types and help texts (the values move between the
/// two reads; the fixtures above compare those).
#[test]
fn this_machine_has_node_exporters_series_in_every_shared_family() {
    if !available("prometheus-node-exporter", "--version") {
        return;
    }
    let s = Service::start(&[]);
    let (_ne, addr) = node_exporter();
    let ours_text = s.get("/metrics").body;
    let theirs_text = request(addr.parse().unwrap(), "GET", "/metrics").body;
    // which states processes are in moves between the two reads (the readers themselves run)
    let (ours, _) = same_series("this machine", &ours_text, &theirs_text, &|n| n != "node_processes_state");
    let families: BTreeSet<&str> = ours.keys().map(|(n, _)| n.as_str()).collect();
    assert!(families.len() > 60, "only {} families: {families:?}", families.len());
}
