//! Prometheus remote-write 1.0: a snappy-compressed protobuf `WriteRequest` of one sample per
//! series, labelled with `__name__`, `job` and `instance` besides the family's own labels,
//! with each family's metadata (type, help, unit) and a staleness marker for every series of
//! the previous request that is gone from this one (as Prometheus's agent writes them, so
//! that a stopped container or an unmounted disk stops at once instead of lingering for the
//! receiver's 5-minute lookback). The message types are written out here (five small
//! messages) rather than generated.

use std::collections::HashSet;

use prost::Message;

use super::{Family, Kind};

pub const CONTENT_TYPE: &str = "application/x-protobuf";
pub const CONTENT_ENCODING: &str = "snappy";
pub const VERSION_HEADER: (&str, &str) = ("x-prometheus-remote-write-version", "0.1.0");

/// The value Prometheus marks a series stale with: a NaN of its own bit pattern, told apart
/// from an ordinary NaN.
pub const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

#[derive(Clone, PartialEq, Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
    #[prost(message, repeated, tag = "3")]
    pub metadata: Vec<MetricMetadata>,
}

#[derive(Clone, PartialEq, Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

#[derive(Clone, PartialEq, Eq, Hash, Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

#[derive(Clone, PartialEq, Message)]
pub struct MetricMetadata {
    /// Prometheus's `MetricType`: 0 unknown, 1 counter, 2 gauge, 3 histogram, 5 summary.
    #[prost(int32, tag = "1")]
    pub r#type: i32,
    #[prost(string, tag = "2")]
    pub metric_family_name: String,
    #[prost(string, tag = "4")]
    pub help: String,
    #[prost(string, tag = "5")]
    pub unit: String,
}

/// The series of a request (their sorted labels), for the next request to mark those that
/// went away.
pub type Series = HashSet<Vec<Label>>;

fn metric_type(kind: Kind) -> i32 {
    match kind {
        Kind::Untyped => 0,
        Kind::Counter => 1,
        Kind::Gauge => 2,
        Kind::Histogram => 3,
        Kind::Summary => 5,
    }
}

/// The unit a family's name ends with, as OpenMetrics writes units (the base units of
/// Prometheus's naming conventions); `""` when it names none.
pub fn unit(family: &str) -> &'static str {
    const UNITS: [&str; 11] =
        ["seconds", "bytes", "celsius", "hertz", "joules", "volts", "amperes", "watts", "ratio", "meters", "grams"];
    let name = family.strip_suffix("_total").unwrap_or(family);
    UNITS.iter().find(|u| name.strip_suffix(**u).is_some_and(|rest| rest.ends_with('_'))).copied().unwrap_or("")
}

/// The request for one sample's families at `timestamp_ms`. Labels are sorted by name, as
/// the protocol requires; a series' own `job` or `instance` label (from a text file) becomes
/// `exported_job` / `exported_instance`, as Prometheus renames a scraped label that clashes
/// with a target's. `previous`: the series of the request before (the last one delivered,
/// [`series`]); each one missing here gets a staleness marker at this request's time.
pub fn write_request(
    families: &[Family],
    job: &str,
    instance: &str,
    timestamp_ms: i64,
    previous: Option<&Series>,
) -> WriteRequest {
    let mut timeseries = Vec::new();
    let mut metadata = Vec::with_capacity(families.len());
    for f in families {
        metadata.push(MetricMetadata {
            r#type: metric_type(f.kind),
            metric_family_name: f.name.clone(),
            help: f.help.clone(),
            unit: unit(&f.name).into(),
        });
        for s in &f.samples {
            let mut labels: Vec<Label> = Vec::with_capacity(s.labels.len() + 3);
            labels.push(Label { name: "__name__".into(), value: format!("{}{}", f.name, s.suffix) });
            labels.push(Label { name: "instance".into(), value: instance.into() });
            labels.push(Label { name: "job".into(), value: job.into() });
            labels.extend(s.labels.iter().map(|(k, v)| {
                let name = match &**k {
                    "job" | "instance" => format!("exported_{}", &**k),
                    k => k.to_string(),
                };
                Label { name, value: v.to_string() }
            }));
            labels.sort_by(|a, b| a.name.cmp(&b.name));
            timeseries.push(TimeSeries { labels, samples: vec![Sample { value: s.value, timestamp: timestamp_ms }] });
        }
    }
    if let Some(previous) = previous {
        let now: HashSet<&[Label]> = timeseries.iter().map(|t| &t.labels[..]).collect();
        let mut gone: Vec<&Vec<Label>> = previous.iter().filter(|l| !now.contains(&l[..])).collect();
        gone.sort();
        let stale: Vec<TimeSeries> = gone
            .into_iter()
            .map(|labels| TimeSeries {
                labels: labels.clone(),
                samples: vec![Sample { value: f64::from_bits(STALE_NAN), timestamp: timestamp_ms }],
            })
            .collect();
        timeseries.extend(stale);
    }
    WriteRequest { timeseries, metadata }
}

/// The series a request carries (its staleness markers left out): what the next request is
/// compared with. Takes the request apart rather than copying its labels.
pub fn series(req: WriteRequest) -> Series {
    req.timeseries
        .into_iter()
        .filter(|t| t.samples.first().is_none_or(|s| s.value.to_bits() != STALE_NAN))
        .map(|t| t.labels)
        .collect()
}

impl PartialOrd for Label {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Label {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (&self.name, &self.value).cmp(&(&other.name, &other.value))
    }
}

/// The HTTP body: protobuf, then snappy block compression.
pub fn encode(req: &WriteRequest) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(&req.encode_to_vec()).expect("snappy can compress any buffer")
}

#[cfg(test)]
mod tests {
    use super::super::{Kind, Sample as MSample, labels};
    use super::*;

    fn family(name: &str, kind: Kind, zones: &[&'static str]) -> Family {
        Family {
            name: name.into(),
            help: "help me".into(),
            kind,
            samples: zones.iter().map(|z| MSample::new(labels(vec![("zone", (*z).into())]), 0.42)).collect(),
        }
    }

    #[test]
    fn round_trips_through_snappy_and_protobuf() {
        let fams = vec![family("node_load1", Kind::Gauge, &["0"])];
        let req = write_request(&fams, "system-stats", "pi", 1_758_644_292_743, None);
        let body = encode(&req);
        let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
        let back = WriteRequest::decode(raw.as_slice()).unwrap();
        assert_eq!(back, req);
        let names: Vec<&str> = back.timeseries[0].labels.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["__name__", "instance", "job", "zone"]);
        assert_eq!(back.timeseries[0].samples[0], Sample { value: 0.42, timestamp: 1_758_644_292_743 });
    }

    /// Every family's type, help and unit go with the samples.
    #[test]
    fn metadata_says_type_help_and_unit() {
        let fams = vec![
            family("node_cpu_seconds_total", Kind::Counter, &["0"]),
            family("node_memory_MemTotal_bytes", Kind::Gauge, &["0"]),
            family("node_vmstat_pgfault", Kind::Untyped, &["0"]),
            family("rpc_duration_seconds", Kind::Summary, &[]),
            family("apt_upgrades_pending", Kind::Gauge, &[]),
        ];
        let req = write_request(&fams, "j", "i", 0, None);
        let got: Vec<(i32, &str, &str)> =
            req.metadata.iter().map(|m| (m.r#type, m.metric_family_name.as_str(), m.unit.as_str())).collect();
        assert_eq!(
            got,
            [
                (1, "node_cpu_seconds_total", "seconds"),
                (2, "node_memory_MemTotal_bytes", "bytes"),
                (0, "node_vmstat_pgfault", ""),
                (5, "rpc_duration_seconds", "seconds"),
                (2, "apt_upgrades_pending", ""),
            ]
        );
        assert!(req.metadata.iter().all(|m| m.help == "help me"));
        assert_eq!(unit("node_hwmon_temp_celsius"), "celsius");
        assert_eq!(unit("nodeseconds"), "", "a unit is a whole last word");
    }

    /// A series of the previous request missing from this one gets one staleness marker (the
    /// special NaN) at this request's time; one still there gets none; the next request,
    /// compared with this one, marks nothing more.
    #[test]
    fn series_that_go_away_are_marked_stale_once() {
        let before = vec![family("disk", Kind::Gauge, &["sda", "sdb"])];
        let first = series(write_request(&before, "j", "i", 1_000, None));
        let after = vec![family("disk", Kind::Gauge, &["sda"])];
        let req = write_request(&after, "j", "i", 2_000, Some(&first));
        let stale: Vec<&TimeSeries> =
            req.timeseries.iter().filter(|t| t.samples[0].value.to_bits() == STALE_NAN).collect();
        assert_eq!(stale.len(), 1);
        assert!(stale[0].labels.iter().any(|l| l.name == "zone" && l.value == "sdb"));
        assert_eq!(stale[0].samples[0].timestamp, 2_000);
        let second = series(req);
        assert_eq!(second.len(), 1, "the marker is not a series of the request");
        let req = write_request(&after, "j", "i", 3_000, Some(&second));
        assert!(req.timeseries.iter().all(|t| !t.samples[0].value.is_nan()));
    }

    /// A text file's own `job` or `instance` label does not replace ours.
    #[test]
    fn clashing_labels_are_exported_ones() {
        let fams = vec![Family {
            name: "backup_ok".into(),
            help: String::new(),
            kind: Kind::Gauge,
            samples: vec![MSample::new(labels(vec![("job", "nightly".into()), ("instance", "nas".into())]), 1.0)],
        }];
        let req = write_request(&fams, "system-stats", "pi", 0, None);
        let labels: Vec<(&str, &str)> =
            req.timeseries[0].labels.iter().map(|l| (l.name.as_str(), l.value.as_str())).collect();
        assert_eq!(
            labels,
            [
                ("__name__", "backup_ok"),
                ("exported_instance", "nas"),
                ("exported_job", "nightly"),
                ("instance", "pi"),
                ("job", "system-stats")
            ]
        );
    }
}
