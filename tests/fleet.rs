//! The fleet gets everything: what the forwarder pushes is what `/metrics` serves. The
//! service (one sample for the whole test, so that every path carries the same one) is
//! scraped by a real Prometheus and read by the forwarder, which pushes it by remote-write
//! to that Prometheus and to a real VictoriaMetrics, and by line protocol to a real
//! InfluxDB. Each receiver's series must be the scraped ones, name and labels; Prometheus's
//! values too. A text file of the `textfile` collector is among them.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::servers::{Influx, LabelSet, Prometheus, Victoria};
use common::{Service, available, start_forwarder};
use serde_json::Value;

/// Series a scrape has that no exporter serves: Prometheus's own about the scrape.
fn synthetic(labels: &LabelSet) -> bool {
    let name = &labels["__name__"];
    name == "up" || name.starts_with("scrape_")
}

/// Labels without those that say where a series came from.
fn without_origin(set: BTreeSet<LabelSet>, origin: &[&str]) -> BTreeSet<LabelSet> {
    set.into_iter()
        .filter(|l| !synthetic(l))
        .map(|mut l| {
            for k in origin {
                l.remove(*k);
            }
            l
        })
        .collect()
}

fn assert_same(what: &str, got: &BTreeSet<LabelSet>, want: &BTreeSet<LabelSet>) {
    let missing: Vec<&LabelSet> = want.difference(got).collect();
    let extra: Vec<&LabelSet> = got.difference(want).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what}: {} series, {} scraped\nmissing: {missing:#?}\nextra: {extra:#?}",
        got.len(),
        want.len()
    );
}

/// Each series' value, by its labels (origin labels left out).
fn values(prom: &Prometheus, selector: &str) -> BTreeMap<LabelSet, String> {
    let data = prom.query(selector);
    data["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let mut labels: LabelSet = r["metric"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect();
            labels.remove("job");
            labels.remove("instance");
            (labels, r["value"][1].as_str().unwrap().to_string())
        })
        .filter(|(l, _)| !synthetic(l))
        .collect()
}

#[test]
fn every_receiver_gets_what_a_scrape_gets() {
    if !available("prometheus", "--version")
        || !available("victoria-metrics", "-version")
        || !available("influxd", "version")
    {
        return;
    }
    let textfiles = tempfile::tempdir().unwrap();
    std::fs::write(
        textfiles.path().join("backup.prom"),
        "# HELP backup_last_success_timestamp_seconds When the backup last succeeded.\n\
         # TYPE backup_last_success_timestamp_seconds gauge\n\
         backup_last_success_timestamp_seconds{target=\"nas\"} 1.7650800e+09\n\
         # TYPE backup_runs counter\nbackup_runs 12\n\
         # TYPE backup_duration_seconds summary\n\
         backup_duration_seconds{quantile=\"0.5\"} 61\nbackup_duration_seconds_sum 640\nbackup_duration_seconds_count 10\n",
    )
    .unwrap();
    let s = Service::start(&[
        ("SYSTEM_STATS_SAMPLE_INTERVAL", "600"),
        ("SYSTEM_STATS_TEXTFILE_DIRECTORY", textfiles.path().to_str().unwrap()),
    ]);
    let prom = Prometheus::start(&[("scraped", s.addr)], true);
    let vm = Victoria::start(&[]);
    let influx = Influx::start("fleet", false);
    let spool = tempfile::tempdir().unwrap();
    let dests = format!(
        "remote-write+{},remote-write+{},influx+http://{}/write?db=fleet",
        prom.remote_write_url(),
        vm.remote_write_url(),
        influx.addr
    );
    let f = start_forwarder(
        &format!("http://{}/system", s.addr),
        &dests,
        spool.path(),
        &[("SYSTEM_STATS_FORWARD_INTERVAL", "0.5")],
    );
    prom.query_until("up{job=\"scraped\"} == 1");
    prom.query_until("backup_runs{job=\"system-stats\"}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while influx.series("fleet").is_empty() || vm.series("{job=\"system-stats\"}", 60).is_empty() {
        assert!(Instant::now() < deadline, "nothing in InfluxDB or VictoriaMetrics:\n{}", f.log());
        std::thread::sleep(Duration::from_millis(250));
    }
    let scraped = without_origin(prom.series("{job=\"scraped\"}", 60), &["job", "instance"]);
    assert!(scraped.len() > 100, "{}", scraped.len());
    assert!(scraped.iter().any(|l| l["__name__"] == "backup_duration_seconds_count"));
    assert!(scraped.iter().any(|l| l["__name__"] == "node_textfile_mtime_seconds"));

    let pushed = without_origin(prom.series("{job=\"system-stats\"}", 60), &["job", "instance"]);
    assert_same("Prometheus, remote-write", &pushed, &scraped);
    let to_vm = without_origin(vm.series("{job=\"system-stats\"}", 60), &["job", "instance"]);
    assert_same("VictoriaMetrics, remote-write", &to_vm, &scraped);

    // the same sample: the same values (this process's own series apart: each format is
    // rendered when first asked, and reads the process then)
    let own = |v: BTreeMap<LabelSet, String>| -> BTreeMap<LabelSet, String> {
        v.into_iter().filter(|(l, _)| !l["__name__"].starts_with("process_")).collect()
    };
    assert_eq!(own(values(&prom, "{job=\"system-stats\"}")), own(values(&prom, "{job=\"scraped\"}")));

    // line protocol: a series per finite value, labels as tags but `host`, empty ones left out
    let finite: BTreeSet<LabelSet> = values(&prom, "{job=\"scraped\"}")
        .into_iter()
        .filter(|(_, v)| v.parse::<f64>().is_ok_and(f64::is_finite))
        .map(|(l, _)| l.into_iter().filter(|(_, v)| !v.is_empty()).collect())
        .collect();
    let in_influx = without_origin(influx.series("fleet"), &["host"]);
    assert_same("InfluxDB, line protocol", &in_influx, &finite);
    let hostname = s.json("/system")["system"]["hostname"].as_str().unwrap().to_string();
    let hosts = influx.query("fleet", "SHOW TAG VALUES WITH KEY = \"host\"");
    assert_eq!(hosts["series"][0]["values"][0][1], Value::from(hostname), "{hosts}");
}
