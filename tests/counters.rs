//! Counters never go backwards (psutil's `nowrap`, and more): the real service on a copy of
//! the Raspberry Pi fixture whose counters drop between samples, as a 32-bit kernel's
//! `unsigned long` wraps at 4 GiB, a disk is reset, and an interface goes away and is created
//! again with fresh counters. Every total, per-disk and per-interface counter of `/system`
//! and `/metrics` keeps growing, and no rate is negative.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::Service;
use serde_json::Value;

const NET_HEAD: &str = "Inter-|   Receive                                                |  Transmit\n \
    face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n";

fn net_dev(eth0_rx: u64, wlan0: Option<u64>) -> String {
    let mut s = NET_HEAD.to_string();
    s.push_str("    lo:  4893027   41279    0    0    0     0          0         0  4893027   41279    0    0    0     0       0          0\n");
    s.push_str(&format!(
        "  eth0: {eth0_rx} 3129841    0 1203    0     0          0     58711 309912452 1462395    0    0    0     0       0          0\n"
    ));
    if let Some(w) = wlan0 {
        s.push_str(&format!(
            " wlan0: {w}   94821    0   17    0     0          0      2876  {w}   21409    0    0    0     0       0          0\n"
        ));
    }
    s
}

fn diskstats(mmc_read_sectors: u64) -> String {
    format!(
        " 179       0 mmcblk0 184522 41871 {mmc_read_sectors} 276417 421886 339108 22328552 3112042 0 1204580 3392620 0 0 0 0 7732 4161\n\
         179       1 mmcblk0p1 367 1231 19042 1233 2 0 2 11 0 764 1244 0 0 0 0 0 0\n"
    )
}

/// Rewrites a file in place, as the kernel's files change: the same inode, new content (the
/// service keeps its files open).
fn rewrite(path: &Path, content: &str) {
    std::fs::write(path, content).unwrap();
}

/// Every numeric leaf of the counters the snapshot exposes, by a stable name.
fn counters(v: &Value) -> HashMap<String, u64> {
    let mut out = HashMap::new();
    for (k, x) in v["network"]["io_counters"].as_object().unwrap() {
        out.insert(format!("network.{k}"), x.as_u64().unwrap());
    }
    for (k, x) in v["disk_io"].as_object().unwrap() {
        out.insert(format!("disk_io.{k}"), x.as_u64().unwrap());
    }
    for i in v["network"]["all_interfaces"].as_array().unwrap() {
        for (k, x) in i["counters"].as_object().unwrap() {
            out.insert(format!("{}.{k}", i["name"].as_str().unwrap()), x.as_u64().unwrap());
        }
    }
    for d in v["disks"].as_array().unwrap() {
        for k in ["read_bytes", "write_bytes", "read_count", "write_count", "busy_time"] {
            out.insert(format!("{}.{k}", d["name"].as_str().unwrap()), d[k].as_u64().unwrap());
        }
    }
    out
}

/// Every rate of the snapshot.
fn rates(v: &Value) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    for (k, x) in v["throughput"].as_object().unwrap() {
        if let Some(x) = x.as_f64() {
            out.push((format!("throughput.{k}"), x));
        }
    }
    for i in v["network"]["all_interfaces"].as_array().unwrap() {
        for k in ["recv_bytes_per_sec", "sent_bytes_per_sec"] {
            if let Some(x) = i[k].as_f64() {
                out.push((format!("{}.{k}", i["name"]), x));
            }
        }
    }
    for d in v["disks"].as_array().unwrap() {
        for k in ["read_bytes_per_sec", "write_bytes_per_sec"] {
            if let Some(x) = d[k].as_f64() {
                out.push((format!("{}.{k}", d["name"]), x));
            }
        }
    }
    out
}

/// The `*_total` samples of a Prometheus text page, by series.
fn metric_counters(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .filter(|(series, _)| series.contains("_total"))
        .filter_map(|(series, v)| Some((series.to_string(), v.parse().ok()?)))
        .collect()
}

struct Watch {
    last: HashMap<String, u64>,
    last_metrics: HashMap<String, f64>,
    seen: usize,
}

impl Watch {
    /// Polls for `span`, checking every new sample against everything seen before.
    fn observe(&mut self, s: &Service, span: Duration) -> Value {
        let deadline = Instant::now() + span;
        let mut latest = Value::Null;
        let mut last_time = String::new();
        while Instant::now() < deadline {
            let v = s.json("/system");
            let time = v["collected_at"].as_str().unwrap().to_string();
            if time != last_time {
                last_time = time;
                self.seen += 1;
                for (k, now) in counters(&v) {
                    if let Some(&before) = self.last.get(&k) {
                        assert!(now >= before, "{k} went back from {before} to {now} at {last_time}");
                    }
                    self.last.insert(k, now);
                }
                for (k, r) in rates(&v) {
                    assert!(r >= 0.0, "{k} is negative: {r}");
                }
                let page = s.get("/metrics").body;
                for (k, now) in metric_counters(&page) {
                    if let Some(&before) = self.last_metrics.get(&k) {
                        assert!(now >= before, "/metrics {k} went back from {before} to {now}");
                    }
                    self.last_metrics.insert(k, now);
                }
                latest = v;
            }
            std::thread::sleep(Duration::from_millis(30));
        }
        latest
    }
}

#[test]
fn counters_that_drop_keep_growing_in_system_and_metrics() {
    let tmp = tempfile::tempdir().unwrap();
    let src = common::repo().join("tests/fixtures/raspberrypi4-aarch64");
    let ok = Command::new("cp").arg("-r").arg(src.join("proc")).arg(src.join("sys")).arg(tmp.path()).status();
    assert!(ok.unwrap().success());
    let dev = tmp.path().join("proc/net/dev");
    let disks = tmp.path().join("proc/diskstats");
    rewrite(&dev, &net_dev(4_294_000_000, Some(18_734_529)));
    rewrite(&disks, &diskstats(9_170_360));
    let s = Service::on_fixture(tmp.path(), &[("SYSTEM_STATS_SAMPLE_INTERVAL", "0.1")]);
    let mut w = Watch { last: HashMap::new(), last_metrics: HashMap::new(), seen: 0 };
    let first = w.observe(&s, Duration::from_millis(400));
    let total_before = first["network"]["io_counters"]["bytes_recv"].as_u64().unwrap();

    // eth0's 32-bit receive counter wraps, wlan0 goes away, the SD card's counters reset
    rewrite(&dev, &net_dev(1_000, None));
    rewrite(&disks, &diskstats(100));
    let after_drop = w.observe(&s, Duration::from_millis(600));
    let names: Vec<&str> = after_drop["network"]["all_interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["lo", "eth0"]);
    // eth0 grew by what it counted after the wrap; wlan0's bytes are still in the total
    let eth0 = after_drop["network"]["all_interfaces"][1]["counters"]["bytes_recv"].as_u64().unwrap();
    assert_eq!(eth0, 4_294_000_000 + 1_000);
    assert_eq!(after_drop["network"]["io_counters"]["bytes_recv"].as_u64().unwrap(), total_before + 1_000);
    assert_eq!(after_drop["disk_io"]["read_bytes"].as_u64().unwrap(), (9_170_360 + 100) * 512);

    // wlan0 is created again, its counters starting afresh
    rewrite(&dev, &net_dev(2_000, Some(5)));
    let back = w.observe(&s, Duration::from_millis(600));
    let wlan0 = &back["network"]["all_interfaces"][2];
    assert_eq!(wlan0["name"], "wlan0");
    assert_eq!(wlan0["counters"]["bytes_recv"].as_u64().unwrap(), 18_734_529 + 5);
    assert_eq!(back["network"]["io_counters"]["bytes_recv"].as_u64().unwrap(), total_before + 2_000 + 5);
    assert!(w.seen >= 8, "only {} samples observed", w.seen);
}
