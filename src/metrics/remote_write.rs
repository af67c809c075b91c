//! Prometheus remote-write 1.0: a snappy-compressed protobuf `WriteRequest` of one sample per
//! series, labelled with `__name__`, `job` and `instance` besides the family's own labels.
//! The message types are written out here (four small messages) rather than generated.

use prost::Message;

use super::Family;

pub const CONTENT_TYPE: &str = "application/x-protobuf";
pub const CONTENT_ENCODING: &str = "snappy";
pub const VERSION_HEADER: (&str, &str) = ("x-prometheus-remote-write-version", "0.1.0");

#[derive(Clone, PartialEq, Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

#[derive(Clone, PartialEq, Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

#[derive(Clone, PartialEq, Message)]
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

/// The request for one snapshot's families at `timestamp_ms`; labels sorted by name, as the
/// protocol requires.
pub fn write_request(families: &[Family], job: &str, instance: &str, timestamp_ms: i64) -> WriteRequest {
    let mut timeseries = Vec::new();
    for f in families {
        for s in &f.samples {
            let mut labels: Vec<Label> = Vec::with_capacity(s.labels.len() + 3);
            labels.push(Label { name: "__name__".into(), value: f.name.clone() });
            labels.push(Label { name: "instance".into(), value: instance.into() });
            labels.push(Label { name: "job".into(), value: job.into() });
            labels.extend(s.labels.iter().map(|(k, v)| Label { name: (*k).into(), value: v.to_string() }));
            labels.sort_by(|a, b| a.name.cmp(&b.name));
            timeseries.push(TimeSeries { labels, samples: vec![Sample { value: s.value, timestamp: timestamp_ms }] });
        }
    }
    WriteRequest { timeseries }
}

/// The HTTP body: protobuf, then snappy block compression.
pub fn encode(req: &WriteRequest) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(&req.encode_to_vec()).expect("snappy can compress any buffer")
}

#[cfg(test)]
mod tests {
    use super::super::{Kind, Sample as MSample};
    use super::*;

    #[test]
    fn round_trips_through_snappy_and_protobuf() {
        let fams = vec![Family {
            name: "node_load1".into(),
            help: "1m load average.".into(),
            kind: Kind::Gauge,
            samples: vec![MSample { labels: vec![("zone", "0".into())].into(), value: 0.42 }],
        }];
        let req = write_request(&fams, "system-stats", "pi", 1_758_644_292_743);
        let body = encode(&req);
        let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
        let back = WriteRequest::decode(raw.as_slice()).unwrap();
        assert_eq!(back, req);
        let names: Vec<&str> = back.timeseries[0].labels.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["__name__", "instance", "job", "zone"]);
        assert_eq!(back.timeseries[0].samples[0], Sample { value: 0.42, timestamp: 1_758_644_292_743 });
    }
}
