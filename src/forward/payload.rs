//! The payload existing monitoring servers take (the Python forwarder's, kept exact):
//! `hostname` (string), `cpu`, `ram`, `disk` (percents, floats), `timestamp` (integer Unix
//! seconds of the sample), `disk_read`, `disk_write` (MiB/s, floats) and `details` (the full
//! `/system` snapshot).

use serde_json::{Map, Value, json};

/// Why a `/system` body is not a snapshot a payload can be built from.
#[derive(Debug, thiserror::Error)]
pub enum SampleError {
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
pub struct Sample {
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
}

impl Sample {
    /// Checks a `/system` body. The error says what is wrong with it.
    pub fn parse(body: &[u8]) -> Result<Sample, SampleError> {
        let snapshot: Value = serde_json::from_slice(body)?;
        Self::from_snapshot(snapshot)
    }

    pub fn from_snapshot(snapshot: Value) -> Result<Sample, SampleError> {
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
        Ok(Sample {
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

    /// The JSON payload, as the Python forwarder posted it.
    pub fn json_payload(&self) -> Value {
        let mut m = Map::new();
        m.insert("hostname".into(), json!(self.hostname));
        m.insert("cpu".into(), json!(self.cpu));
        m.insert("ram".into(), json!(self.ram));
        m.insert("disk".into(), json!(self.disk));
        m.insert("timestamp".into(), json!(self.timestamp));
        m.insert("disk_read".into(), json!(self.disk_read));
        m.insert("disk_write".into(), json!(self.disk_write));
        m.insert("details".into(), self.snapshot.clone());
        Value::Object(m)
    }

    /// The JSON payload as bytes, with `details` being `raw` (the snapshot as the service
    /// sent it) byte for byte rather than re-serialised.
    pub fn payload_bytes(&self, raw: &[u8]) -> Vec<u8> {
        let head = json!({
            "hostname": self.hostname,
            "cpu": self.cpu,
            "ram": self.ram,
            "disk": self.disk,
            "timestamp": self.timestamp,
            "disk_read": self.disk_read,
            "disk_write": self.disk_write,
        })
        .to_string();
        let raw = raw.trim_ascii();
        let mut out = Vec::with_capacity(head.len() + raw.len() + 16);
        out.extend_from_slice(&head.as_bytes()[..head.len() - 1]);
        out.extend_from_slice(b",\"details\":");
        out.extend_from_slice(raw);
        out.push(b'}');
        out
    }

    /// The one-line summary the forwarder logs per tick.
    pub fn summary(&self) -> String {
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
        assert_eq!(keys.len(), 8);
        assert_eq!(s.summary(), "cpu=12.0% ram=45.6% disk=78.9% read=1.25MB/s write=0.00MB/s");
    }

    #[test]
    fn payload_bytes_embed_the_snapshot_verbatim() {
        let raw = format!(" {} \n", serde_json::to_string(&snapshot()).unwrap());
        let s = Sample::parse(raw.as_bytes()).unwrap();
        let bytes = s.payload_bytes(raw.as_bytes());
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            text.starts_with(r#"{"hostname":"pi","cpu":12.0,"ram":45.6,"disk":78.9,"timestamp":1758644292,"#),
            "{text}"
        );
        assert!(text.ends_with(&format!(r#""details":{}}}"#, raw.trim())), "{text}");
        assert_eq!(serde_json::from_slice::<Value>(&bytes).unwrap(), s.json_payload());
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
