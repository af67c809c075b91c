//! The real receivers the fleet tests push into, started on 127.0.0.1 ports of their own,
//! each in a temporary directory removed with it: Prometheus (scraping, and receiving
//! remote-write), VictoriaMetrics and InfluxDB 1.x.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Running, clean_command, free_port, request, request_with_body, url_encode, wait_http};

/// A series' labels.
pub type LabelSet = BTreeMap<String, String>;

pub struct Prometheus {
    pub addr: String,
    _run: Running,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Scrapes each `(job, target)` every second; receives remote-write when asked.
    pub fn start(targets: &[(&str, SocketAddr)], remote_write: bool) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let mut config = String::from(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n  evaluation_interval: 1s\nscrape_configs:\n",
        );
        for (job, addr) in targets {
            config.push_str(&format!("  - job_name: {job}\n    static_configs:\n      - targets: ['{addr}']\n"));
        }
        std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
        let port = free_port();
        let mut cmd = Command::new("prometheus");
        cmd.arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"));
        if remote_write {
            cmd.arg("--web.enable-remote-write-receiver");
        }
        let run = Running::spawn(cmd);
        let addr = format!("127.0.0.1:{port}");
        wait_http(&addr, "/-/ready");
        Prometheus { addr, _run: run, _dir: dir }
    }

    pub fn remote_write_url(&self) -> String {
        format!("http://{}/api/v1/write", self.addr)
    }

    /// A PromQL query's `data` (an error is a failed test: the query is wrong).
    pub fn query(&self, q: &str) -> Value {
        let r = request(self.addr.parse().unwrap(), "GET", &format!("/api/v1/query?query={}", url_encode(q)));
        let v: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
        assert_eq!(v["status"], "success", "{q}: {}", r.body);
        v["data"].clone()
    }

    /// Waits until a query returns at least one series; returns them.
    pub fn query_until(&self, q: &str) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(result) = self.query(q)["result"].as_array()
                && !result.is_empty()
            {
                return result.clone();
            }
            assert!(Instant::now() < deadline, "no result for {q} within 30 s");
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// The label sets of the series `selector` matched during the last `seconds`.
    pub fn series(&self, selector: &str, seconds: u64) -> BTreeSet<LabelSet> {
        series_api(&self.addr, selector, seconds)
    }
}

/// `/api/v1/series` (Prometheus's, which VictoriaMetrics answers too).
fn series_api(addr: &str, selector: &str, seconds: u64) -> BTreeSet<LabelSet> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let path = format!("/api/v1/series?match[]={}&start={}&end={}", url_encode(selector), now - seconds, now + seconds);
    let r = request(addr.parse().unwrap(), "GET", &path);
    let v: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
    assert_eq!(v["status"], "success", "{selector}: {}", r.body);
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string())).collect())
        .collect()
}

pub struct Victoria {
    pub addr: String,
    _run: Running,
    _dir: tempfile::TempDir,
}

impl Victoria {
    /// VictoriaMetrics answering queries on what it has just received (no 30 s latency
    /// offset); `extra` flags (credentials) as given.
    pub fn start(extra: &[&str]) -> Victoria {
        let dir = tempfile::tempdir().unwrap();
        let addr = format!("127.0.0.1:{}", free_port());
        let mut cmd = Command::new("victoria-metrics");
        cmd.arg(format!("-httpListenAddr={addr}"))
            .arg(format!("-storageDataPath={}", dir.path().join("vm").display()))
            .arg("-search.latencyOffset=0s")
            .args(extra);
        let run = Running::spawn(cmd);
        wait_http(&addr, "/health");
        Victoria { addr, _run: run, _dir: dir }
    }

    pub fn remote_write_url(&self) -> String {
        format!("http://{}/api/v1/write", self.addr)
    }

    /// The label sets of the series `selector` matched during the last `seconds` (after a
    /// flush of what it received).
    pub fn series(&self, selector: &str, seconds: u64) -> BTreeSet<LabelSet> {
        request(self.addr.parse().unwrap(), "GET", "/internal/force_flush");
        series_api(&self.addr, selector, seconds)
    }
}

pub struct Influx {
    pub addr: String,
    _run: Running,
    _dir: tempfile::TempDir,
}

impl Influx {
    /// InfluxDB 1.x with the database `db` created; `auth`: its HTTP authentication on.
    pub fn start(db: &str, auth: bool) -> Influx {
        let dir = tempfile::tempdir().unwrap();
        let (http, meta) = (free_port(), free_port());
        let config = dir.path().join("influxdb.conf");
        let d = dir.path().display();
        std::fs::write(
            &config,
            format!(
                "reporting-disabled = true\nbind-address = \"127.0.0.1:{meta}\"\n[meta]\n  dir = \"{d}/meta\"\n\
                 [data]\n  dir = \"{d}/data\"\n  wal-dir = \"{d}/wal\"\n[http]\n  bind-address = \"127.0.0.1:{http}\"\n  \
                 log-enabled = false\n  auth-enabled = {auth}\n"
            ),
        )
        .unwrap();
        let mut cmd = clean_command("influxd");
        cmd.arg("-config").arg(&config);
        let run = Running::spawn(cmd);
        let addr = format!("127.0.0.1:{http}");
        wait_http(&addr, "/ping?verbose=true");
        let influx = Influx { addr, _run: run, _dir: dir };
        if !auth {
            let created = influx.post_query(&format!("CREATE DATABASE {db}"));
            assert_eq!(created.status, 200, "{}", created.body);
        }
        influx
    }

    pub fn post_query(&self, q: &str) -> super::Response {
        request_with_body(self.addr.parse().unwrap(), "POST", &format!("/query?q={}", url_encode(q)), "")
    }

    /// An InfluxQL query's first result.
    pub fn query(&self, db: &str, q: &str) -> Value {
        let r = request(self.addr.parse().unwrap(), "GET", &format!("/query?db={db}&q={}", url_encode(q)));
        let v: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
        v["results"][0].clone()
    }

    /// Every series of `db`: its measurement (`__name__`) and tags.
    pub fn series(&self, db: &str) -> BTreeSet<LabelSet> {
        let result = self.query(db, "SHOW SERIES");
        let Some(values) = result["series"][0]["values"].as_array() else { return BTreeSet::new() };
        values.iter().map(|v| parse_series_key(v[0].as_str().unwrap())).collect()
    }
}

/// `measurement,tag=value,...` (line protocol's escapes) as labels.
fn parse_series_key(key: &str) -> LabelSet {
    let mut labels = LabelSet::new();
    let (mut name, mut cur, mut tag_key) = (None, String::new(), None::<String>);
    let mut chars = key.chars();
    let mut end = |cur: &mut String, tag_key: &mut Option<String>, name: &mut Option<String>| {
        let text = std::mem::take(cur);
        match (name.is_none(), tag_key.take()) {
            (true, _) => *name = Some(text),
            (false, Some(k)) => {
                labels.insert(k, text);
            }
            (false, None) => panic!("a tag without = in {key:?}"),
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\\' => cur.extend(chars.next()),
            ',' => end(&mut cur, &mut tag_key, &mut name),
            '=' if name.is_some() && tag_key.is_none() => tag_key = Some(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    end(&mut cur, &mut tag_key, &mut name);
    labels.insert("__name__".into(), name.unwrap_or_default());
    labels
}
