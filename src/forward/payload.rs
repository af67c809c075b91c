//! The payload existing monitoring servers take (the Python forwarder's, kept exact):
//! `hostname` (string), `cpu`, `ram`, `disk` (percents, floats), `timestamp` (integer Unix
//! seconds of the sample), `disk_read`, `disk_write` (MiB/s, floats) and `details` (the full
//! `/system` snapshot); plus what the newest server charts: `swap_percent`, `load1`, `load5`,
//! `load15`, `net_read`, `net_write` (MiB/s) and `cpu_cores` (per-core percents).
//!
//! The newest server turns every number but `load*` into a float and refuses the whole
//! sample (400) when one is `null`. A value that is zero by definition is `0.0` (no swap:
//! `swap_percent` 0.0, as psutil says); a value that is *unknown* (its collector failed) is
//! left out of the payload rather than sent as `null` (the whole sample refused) or as `0.0`
//! (a false zero on a chart); `details` keeps its `null`. `load*` may be `null`.
//!
//! The server also drops `details` larger than 64 KiB as Python's `json.dumps` writes them
//! (with `", "` and `": "` separators and non-ASCII escaped: about a tenth larger than our
//! compact JSON), still answering 200. A big host's snapshot can pass that: [`Sample::payload`]
//! then leaves out, in the order of [`TRIMMABLE`], keys the dashboard does not read.

use serde_json::{Map, Value, json};

/// Why a `/system` body is not a snapshot a payload can be built from.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SampleError {
    #[error("not JSON: {0}")]
    NotJson(#[from] serde_json::Error),
    #[error("not a JSON object")]
    NotObject,
    /// A value the payload needs is missing or of the wrong type.
    #[error("{key} is {found} ({needed} is needed)")]
    Wrong { key: String, found: String, needed: &'static str },
    #[error("collected_at {value:?} is not an RFC 3339 time ({reason})")]
    BadTime { value: String, reason: String },
}

/// A `/system` response checked to be a snapshot the payload can be built from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sample {
    pub snapshot: Value,
    pub hostname: String,
    pub cpu: f64,
    pub ram: f64,
    pub disk: f64,
    /// Unix seconds of `collected_at`.
    pub timestamp: i64,
    /// `collected_at` in Unix microseconds (what the spool remembers).
    pub collected_at_us: u64,
    /// MiB/s; 0.0 when the service could not measure it (`details` keeps its `null`).
    pub disk_read: f64,
    pub disk_write: f64,
    /// The newest server's fields; `None` when unknown (left out of the payload).
    pub swap_percent: Option<f64>,
    /// `None` is sent as `null` (the server allows it for these).
    pub load: [Option<f64>; 3],
    /// MiB/s received and sent.
    pub net_read: Option<f64>,
    pub net_write: Option<f64>,
    pub cpu_cores: Option<Vec<f64>>,
}

/// What `details` may weigh, as Python's `json.dumps` writes it, for the newest server to
/// keep it (it drops larger ones); a little under its 64 KiB.
pub(crate) const DETAILS_LIMIT: usize = 64_000;

/// The keys of `details` the dashboard does not read, in the order they are left out when
/// `details` would exceed [`DETAILS_LIMIT`] (a path of object keys; `[]` means every element
/// of an array): the processes' command lines and lists first (the counts stay), the failed
/// units last.
pub(crate) const TRIMMABLE: &[&[&str]] = &[
    &["processes", "top_cpu", "[]", "cmdline"],
    &["processes", "top_memory", "[]", "cmdline"],
    &["processes", "top_memory"],
    &["processes", "top_cpu"],
    &["cpu", "per_cpu"],
    &["memory", "meminfo"],
    &["network", "all_interfaces"],
    &["disks"],
    &["filesystems"],
    &["thermal_zones"],
    &["cpu", "times"],
    &["network", "interfaces", "[]", "ipv6"],
    &["docker", "containers", "[]", "ports"],
    &["sensors"],
    &["services", "failed"],
];

/// A payload's body, and what was left out of `details` to keep it under the limit.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Payload {
    pub bytes: Vec<u8>,
    /// The keys left out (dotted), in order; empty when `details` is whole.
    pub left_out: Vec<String>,
    /// `details` is still over the limit after everything trimmable was left out.
    pub still_too_big: bool,
}

/// The length of `v` as Python's `json.dumps(v)` writes it: `", "` and `": "` separators,
/// every non-ASCII character as `\uXXXX` (two for those beyond the BMP).
pub(crate) fn python_json_len(v: &Value) -> usize {
    match v {
        Value::Null => 4,
        Value::Bool(b) => {
            if *b {
                4
            } else {
                5
            }
        }
        Value::Number(n) => n.to_string().len(),
        Value::String(s) => python_string_len(s),
        Value::Array(a) => 2 + a.iter().map(python_json_len).sum::<usize>() + a.len().saturating_sub(1) * 2,
        Value::Object(o) => {
            2 + o.iter().map(|(k, v)| python_string_len(k) + 2 + python_json_len(v)).sum::<usize>()
                + o.len().saturating_sub(1) * 2
        }
    }
}

fn python_string_len(s: &str) -> usize {
    2 + s
        .chars()
        .map(|c| match c {
            '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
            c if (c as u32) < 0x20 => 6,
            c if c.is_ascii() => 1,
            c if (c as u32) > 0xFFFF => 12,
            _ => 6,
        })
        .sum::<usize>()
}

/// Removes the value at `path` (see [`TRIMMABLE`]); whether something was there.
fn remove_path(v: &mut Value, path: &[&str]) -> bool {
    match path {
        [] => false,
        [last] => v.as_object_mut().is_some_and(|o| o.remove(*last).is_some()),
        ["[]", rest @ ..] => {
            let mut any = false;
            for item in v.as_array_mut().into_iter().flatten() {
                any |= remove_path(item, rest);
            }
            any
        }
        [first, rest @ ..] => v.get_mut(*first).is_some_and(|inner| remove_path(inner, rest)),
    }
}

impl Sample {
    /// Checks a `/system` body. The error says what is wrong with it.
    pub(crate) fn parse(body: &[u8]) -> Result<Sample, SampleError> {
        let snapshot: Value = serde_json::from_slice(body)?;
        Self::from_snapshot(snapshot)
    }

    pub(crate) fn from_snapshot(snapshot: Value) -> Result<Sample, SampleError> {
        if !snapshot.is_object() {
            return Err(SampleError::NotObject);
        }
        let wrong = |key: String, found: &Value, needed| SampleError::Wrong { key, found: found.to_string(), needed };
        let number = |block: &str, key: &str| -> Result<f64, SampleError> {
            let v = &snapshot[block][key];
            v.as_f64().ok_or_else(|| wrong(format!("{block}.{key}"), v, "a number"))
        };
        let optional = |block: &str, key: &str| snapshot[block][key].as_f64().unwrap_or(0.0);
        let host = &snapshot["system"]["hostname"];
        let hostname = host
            .as_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| wrong("system.hostname".into(), host, "a name"))?
            .to_string();
        let collected_at = snapshot["collected_at"]
            .as_str()
            .ok_or_else(|| wrong("collected_at".into(), &snapshot["collected_at"], "a time"))?;
        let at = chrono::DateTime::parse_from_rfc3339(collected_at)
            .map_err(|e| SampleError::BadTime { value: collected_at.to_string(), reason: e.to_string() })?;
        let timestamp = at.timestamp();
        let collected_at_us = u64::try_from(at.timestamp_micros())
            .map_err(|_| SampleError::BadTime { value: collected_at.to_string(), reason: "before 1970".into() })?;
        let load_block = if snapshot["load_avg"].is_object() { "load_avg" } else { "load_average" };
        let mib = |bytes_per_sec: Option<f64>| bytes_per_sec.map(|b| crate::snapshot::round2(b / 1_048_576.0));
        let per_core: Option<Vec<f64>> = snapshot["cpu"]["per_cpu"]
            .as_array()
            .filter(|cores| !cores.is_empty())
            .and_then(|cores| cores.iter().map(|c| c["percent"].as_f64()).collect());
        Ok(Sample {
            swap_percent: snapshot["swap"]["percent"].as_f64(),
            load: ["load1", "load5", "load15"].map(|k| snapshot[load_block][k].as_f64()),
            net_read: mib(snapshot["throughput"]["net_recv_bytes_per_sec"].as_f64()),
            net_write: mib(snapshot["throughput"]["net_sent_bytes_per_sec"].as_f64()),
            cpu_cores: per_core,
            cpu: number("cpu", "percent")?,
            ram: number("memory", "percent")?,
            disk: number("disk", "percent")?,
            disk_read: optional("throughput", "disk_read_mb_per_sec"),
            disk_write: optional("throughput", "disk_write_mb_per_sec"),
            hostname,
            timestamp,
            collected_at_us,
            snapshot,
        })
    }

    /// The fields before `details`, in order.
    fn head(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("hostname".into(), json!(self.hostname));
        m.insert("cpu".into(), json!(self.cpu));
        m.insert("ram".into(), json!(self.ram));
        m.insert("disk".into(), json!(self.disk));
        m.insert("timestamp".into(), json!(self.timestamp));
        m.insert("disk_read".into(), json!(self.disk_read));
        m.insert("disk_write".into(), json!(self.disk_write));
        if let Some(v) = self.swap_percent {
            m.insert("swap_percent".into(), json!(v));
        }
        for (k, v) in ["load1", "load5", "load15"].into_iter().zip(self.load) {
            m.insert(k.into(), json!(v));
        }
        if let Some(v) = self.net_read {
            m.insert("net_read".into(), json!(v));
        }
        if let Some(v) = self.net_write {
            m.insert("net_write".into(), json!(v));
        }
        if let Some(v) = &self.cpu_cores {
            m.insert("cpu_cores".into(), json!(v));
        }
        m
    }

    /// The JSON payload, as a value.
    pub(crate) fn json_payload(&self) -> Value {
        let mut m = self.head();
        m.insert("details".into(), self.snapshot.clone());
        Value::Object(m)
    }

    /// The JSON payload as bytes. `details` is `raw` (the snapshot as the service sent it)
    /// byte for byte, unless it is over [`DETAILS_LIMIT`]: then it is re-serialised without
    /// the [`TRIMMABLE`] keys it takes to fit.
    pub(crate) fn payload(&self, raw: &[u8]) -> Payload {
        let head = Value::Object(self.head()).to_string();
        let raw = raw.trim_ascii();
        let mut left_out = Vec::new();
        let mut details = None;
        let mut still_too_big = false;
        if python_json_len(&self.snapshot) > DETAILS_LIMIT {
            let mut trimmed = self.snapshot.clone();
            for path in TRIMMABLE {
                if remove_path(&mut trimmed, path) {
                    left_out.push(path.iter().filter(|p| **p != "[]").copied().collect::<Vec<_>>().join("."));
                }
                if python_json_len(&trimmed) <= DETAILS_LIMIT {
                    break;
                }
            }
            still_too_big = python_json_len(&trimmed) > DETAILS_LIMIT;
            details = Some(trimmed.to_string());
        }
        let details = details.as_deref().map_or(raw, str::as_bytes);
        let mut out = Vec::with_capacity(head.len() + details.len() + 16);
        out.extend_from_slice(&head.as_bytes()[..head.len() - 1]);
        out.extend_from_slice(b",\"details\":");
        out.extend_from_slice(details);
        out.push(b'}');
        Payload { bytes: out, left_out, still_too_big }
    }

    /// The one-line summary the forwarder logs per tick.
    pub(crate) fn summary(&self) -> String {
        format!(
            "cpu={:.1}% ram={:.1}% disk={:.1}% read={:.2}MB/s write={:.2}MB/s",
            self.cpu, self.ram, self.disk, self.disk_read, self.disk_write
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> Value {
        json!({
            "collected_at": "2025-09-23T16:18:12.743209+00:00",
            "cpu": {"percent": 12.0}, "memory": {"percent": 45.6}, "disk": {"percent": 78.9},
            "throughput": {"disk_read_mb_per_sec": 1.25, "disk_write_mb_per_sec": null},
            "system": {"hostname": "pi"}
        })
    }

    #[test]
    fn payload_has_the_seed_shape_and_types() {
        let s = Sample::from_snapshot(snapshot()).unwrap();
        let p = s.json_payload();
        assert_eq!(p["hostname"], "pi");
        assert_eq!(p["timestamp"], 1_758_644_292);
        assert!(p["timestamp"].is_i64());
        // whole percents stay floats: 12.0, not 12
        assert_eq!(serde_json::to_string(&p["cpu"]).unwrap(), "12.0");
        assert_eq!(p["ram"], 45.6);
        assert_eq!(p["disk_read"], 1.25);
        assert_eq!(p["disk_write"], 0.0);
        assert_eq!(p["details"], snapshot());
        let keys: Vec<&String> = p.as_object().unwrap().keys().collect();
        // the seed's keys first, in order; the unknown newest ones left out, load* null
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
                "load1",
                "load5",
                "load15",
                "details"
            ]
        );
        assert!(p["load1"].is_null());
        assert_eq!(s.summary(), "cpu=12.0% ram=45.6% disk=78.9% read=1.25MB/s write=0.00MB/s");
    }

    #[test]
    fn payload_bytes_embed_the_snapshot_verbatim() {
        let raw = format!(" {} \n", serde_json::to_string(&snapshot()).unwrap());
        let s = Sample::parse(raw.as_bytes()).unwrap();
        let bytes = s.payload(raw.as_bytes()).bytes;
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            text.starts_with(r#"{"hostname":"pi","cpu":12.0,"ram":45.6,"disk":78.9,"timestamp":1758644292,"#),
            "{text}"
        );
        assert!(text.ends_with(&format!(r#""details":{}}}"#, raw.trim())), "{text}");
        assert_eq!(serde_json::from_slice::<Value>(&bytes).unwrap(), s.json_payload());
    }

    /// The newest server's fields: floats, MiB/s, per-core percents; the old service's
    /// `load_average` read too.
    #[test]
    fn the_newest_servers_fields() {
        let mut s = snapshot();
        s["swap"] = json!({"percent": 0.0});
        s["load_avg"] = json!({"load1": 0.5, "load5": 0.25, "load15": null});
        s["throughput"]["net_recv_bytes_per_sec"] = json!(3_145_728.0);
        s["throughput"]["net_sent_bytes_per_sec"] = json!(0.0);
        s["cpu"]["per_cpu"] = json!([{"cpu": 0, "percent": 10.0}, {"cpu": 1, "percent": 30.5}]);
        let p = Sample::from_snapshot(s.clone()).unwrap().json_payload();
        assert_eq!(serde_json::to_string(&p["swap_percent"]).unwrap(), "0.0");
        assert_eq!((p["load1"].as_f64(), p["load15"].is_null()), (Some(0.5), true));
        assert_eq!((p["net_read"].as_f64(), p["net_write"].as_f64()), (Some(3.0), Some(0.0)));
        assert_eq!(p["cpu_cores"], json!([10.0, 30.5]));
        // one core unknown: the list is left out, not sent with a null
        s["cpu"]["per_cpu"][1]["percent"] = Value::Null;
        assert!(Sample::from_snapshot(s.clone()).unwrap().json_payload().get("cpu_cores").is_none());
        // an older service's key
        let mut old = snapshot();
        old["load_average"] = json!({"load1": 1.0, "load5": 2.0, "load15": 3.0});
        assert_eq!(Sample::from_snapshot(old).unwrap().json_payload()["load15"], 3.0);
    }

    #[test]
    fn python_json_length() {
        // json.dumps({"a": [1, 2.5, None], "é": "x\n", "t": True}) == '{"a": [1, 2.5, null], "\\u00e9": "x\\n", "t": true}'
        let v = json!({"a": [1, 2.5, null], "é": "x\n", "t": true});
        assert_eq!(python_json_len(&v), r#"{"a": [1, 2.5, null], "\u00e9": "x\n", "t": true}"#.len());
        assert_eq!(python_json_len(&json!("😀")), r#""\ud83d\ude00""#.len());
        assert_eq!(python_json_len(&json!({})), 2);
        assert_eq!(python_json_len(&json!([])), 2);
    }

    /// A snapshot too big for the newest server loses the keys the dashboard does not read,
    /// in order, until it fits; a small one is sent byte for byte.
    #[test]
    fn big_details_are_trimmed_in_order() {
        let mut s = snapshot();
        s["memory"]["meminfo"] = json!({"MemTotal": 1});
        s["cpu"]["per_cpu"] =
            json!((0..2000).map(|n| json!({"cpu": n, "percent": 1.0, "times": {"user": 1.5}})).collect::<Vec<_>>());
        s["disks"] = json!([]);
        let raw = serde_json::to_vec(&s).unwrap();
        let sample = Sample::parse(&raw).unwrap();
        let p = sample.payload(&raw);
        assert_eq!(p.left_out, ["cpu.per_cpu"]);
        assert!(!p.still_too_big);
        let sent: Value = serde_json::from_slice(&p.bytes).unwrap();
        assert!(sent["details"]["cpu"].get("per_cpu").is_none());
        assert_eq!(sent["details"]["memory"]["meminfo"]["MemTotal"], 1);
        assert!(python_json_len(&sent["details"]) <= DETAILS_LIMIT);
        // the per-core percents still reach the server, in cpu_cores
        assert_eq!(sent["cpu_cores"].as_array().unwrap().len(), 2000);
        let small = serde_json::to_vec(&snapshot()).unwrap();
        let p = Sample::parse(&small).unwrap().payload(&small);
        assert!(p.left_out.is_empty() && p.bytes.ends_with(&[small.as_slice(), b"}"].concat()));
    }

    /// The top processes go first, their command lines before the lists; the counts, the
    /// failed services and everything the dashboard reads stay.
    #[test]
    fn processes_are_trimmed_first() {
        let mut s = snapshot();
        let procs = |n: usize| {
            json!(
                (0..n)
                    .map(|pid| json!({"pid": pid, "name": "worker", "cmdline": "x".repeat(250), "rss": 1}))
                    .collect::<Vec<_>>()
            )
        };
        s["processes"] = json!({"total": 900, "threads": 1000, "states": {"running": 1}, "top_cpu": procs(150), "top_memory": procs(150)});
        s["services"] = json!({"source": "systemd", "failed": [{"name": "broken.service", "result": "exit-code"}]});
        let raw = serde_json::to_vec(&s).unwrap();
        let p = Sample::parse(&raw).unwrap().payload(&raw);
        // the first step is enough: the other list keeps its command lines
        assert_eq!(p.left_out, ["processes.top_cpu.cmdline"]);
        let sent: Value = serde_json::from_slice(&p.bytes).unwrap();
        let d = &sent["details"];
        assert_eq!(d["processes"]["top_cpu"].as_array().unwrap().len(), 150);
        assert!(d["processes"]["top_cpu"][0].get("cmdline").is_none());
        assert!(d["processes"]["top_memory"][0]["cmdline"].is_string());
        assert_eq!(d["processes"]["total"], 900);
        assert_eq!(d["services"]["failed"][0]["name"], "broken.service");
        // more of them: the lists go too, the counts stay
        s["processes"]["top_cpu"] = procs(3000);
        let raw = serde_json::to_vec(&s).unwrap();
        let p = Sample::parse(&raw).unwrap().payload(&raw);
        assert_eq!(
            p.left_out[..4],
            ["processes.top_cpu.cmdline", "processes.top_memory.cmdline", "processes.top_memory", "processes.top_cpu"]
        );
        let sent: Value = serde_json::from_slice(&p.bytes).unwrap();
        assert_eq!(sent["details"]["processes"]["threads"], 1000);
        assert!(python_json_len(&sent["details"]) <= DETAILS_LIMIT);
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        assert!(Sample::parse(b"<html>").unwrap_err().to_string().starts_with("not JSON"));
        assert_eq!(Sample::parse(b"[1]").unwrap_err().to_string(), "not a JSON object");
        let mut s = snapshot();
        s["cpu"]["percent"] = Value::Null;
        assert_eq!(Sample::from_snapshot(s).unwrap_err().to_string(), "cpu.percent is null (a number is needed)");
        let mut s = snapshot();
        s["collected_at"] = json!("yesterday");
        assert!(Sample::from_snapshot(s).unwrap_err().to_string().contains("RFC 3339"));
        let mut s = snapshot();
        s["system"]["hostname"] = json!("");
        assert!(Sample::from_snapshot(s).is_err());
    }
}
