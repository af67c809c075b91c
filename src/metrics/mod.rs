//! Metric families and their encodings: the model the families' series are written in
//! ([`Family`], [`Sample`], [`Kind`], labels), and what turns it into bytes: Prometheus text
//! and OpenMetrics ([`text`], served at `/metrics`), remote-write protobuf ([`remote_write`])
//! and InfluxDB line protocol ([`influx`]) for the forwarder's push destinations; and back
//! ([`parse`]: the text format read, for text files and the forwarder). It defines no
//! series and reads nothing of the host: each family in [`crate::collect`] defines its own.

pub(crate) mod influx;
pub(crate) mod parse;
pub mod remote_write;
pub mod text;

use crate::snapshot::Text;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    Counter,
    /// What node_exporter leaves untyped (its vmstat and netstat fields): `untyped` in the
    /// text format, `unknown` in OpenMetrics.
    Untyped,
    /// Only from text files (`textfile`): their samples are `<name>{quantile}`, `<name>_sum`
    /// and `<name>_count` ([`Sample::suffix`]).
    Summary,
    /// Only from text files: `<name>_bucket{le}`, `<name>_sum`, `<name>_count`.
    Histogram,
}

impl Kind {
    /// The word the text format's `# TYPE` line uses.
    pub fn word(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
            Kind::Untyped => "untyped",
            Kind::Summary => "summary",
            Kind::Histogram => "histogram",
        }
    }
}

/// A label's name: ours are written in the code; those of a parsed text (a text file, the
/// service's `/metrics` read by the forwarder) are shared text.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LabelName {
    Static(&'static str),
    Shared(Text),
}

impl std::ops::Deref for LabelName {
    type Target = str;
    fn deref(&self) -> &str {
        match self {
            LabelName::Static(s) => s,
            LabelName::Shared(s) => s,
        }
    }
}

impl From<&'static str> for LabelName {
    fn from(s: &'static str) -> Self {
        LabelName::Static(s)
    }
}

/// A series' labels, in the order they are written. Shared: a mount's or an interface's
/// labels are built once and used by all its families (20 000 mounts made 140 000 label
/// vectors of copied strings per render before).
pub type Labels = std::sync::Arc<[(LabelName, Text)]>;

/// One labelled value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Labels,
    pub value: f64,
    /// What follows the family's name in this sample's name: `""`, or, in a summary or a
    /// histogram, `_sum`, `_count`, `_bucket`.
    pub suffix: &'static str,
}

impl Sample {
    pub fn new(labels: Labels, value: f64) -> Sample {
        Sample { labels, value, suffix: "" }
    }
}

/// What a label's value can be made from: shared text is cloned, not copied.
pub trait LabelValue {
    fn text(self) -> Text;
}

impl LabelValue for &Text {
    fn text(self) -> Text {
        self.clone()
    }
}

impl LabelValue for &str {
    fn text(self) -> Text {
        self.into()
    }
}

impl LabelValue for &String {
    fn text(self) -> Text {
        self.as_str().into()
    }
}

impl LabelValue for String {
    fn text(self) -> Text {
        self.into()
    }
}

macro_rules! number_label {
    ($($t:ty),*) => {$(
        impl LabelValue for $t {
            fn text(self) -> Text {
                self.to_string().into()
            }
        }
        impl LabelValue for &$t {
            fn text(self) -> Text {
                self.to_string().into()
            }
        }
    )*};
}
number_label!(u32, u64, usize, i64);

/// A metric family: its samples share name, help and type.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// The full sample name (counters end in `_total`).
    pub name: String,
    pub help: String,
    pub kind: Kind,
    pub samples: Vec<Sample>,
}

impl Family {
    pub fn new(name: impl Into<String>, kind: Kind, help: impl Into<String>) -> Family {
        Family { name: name.into(), help: help.into(), kind, samples: Vec::new() }
    }

    pub fn with(mut self, labels: Vec<(&'static str, Text)>, value: f64) -> Family {
        self.push(labels, value);
        self
    }

    pub fn push(&mut self, labels: Vec<(&'static str, Text)>, value: f64) {
        self.samples.push(Sample::new(self::labels(labels), value));
    }

    /// Adds a series whose labels other families share.
    pub fn push_shared(&mut self, labels: &Labels, value: f64) {
        self.samples.push(Sample::new(labels.clone(), value));
    }

    /// The names of its samples: its own, and for a summary or a histogram the suffixed
    /// ones too (what a scrape's series are named).
    pub fn sample_names(&self) -> Vec<String> {
        match self.kind {
            Kind::Summary => ["", "_sum", "_count"].iter().map(|s| format!("{}{s}", self.name)).collect(),
            Kind::Histogram => ["_bucket", "_sum", "_count"].iter().map(|s| format!("{}{s}", self.name)).collect(),
            _ => vec![self.name.clone()],
        }
    }

    pub fn single(name: &str, kind: Kind, help: &str, value: Option<f64>) -> Option<Family> {
        value.map(|v| Family::new(name, kind, help).with(vec![], v))
    }
}

/// A collector's series that have no place in `/system` (node_exporter's vmstat, netstat,
/// pressure...): kept as the collector read them, in its own compact types, and turned into
/// families only when `/metrics` is rendered (an unscraped service never builds them).
pub trait Export: std::fmt::Debug + Send + Sync {
    /// Appends this reading's families.
    fn families(&self, out: &mut Vec<Family>);

    /// The value of one of its series without labels, by name (what an alert rule reads):
    /// built from [`Export::families`] unless the type answers it more cheaply.
    fn value(&self, name: &str) -> Option<f64> {
        let mut out = Vec::new();
        self.families(&mut out);
        out.iter()
            .find(|f| f.name == name)
            .and_then(|f| f.samples.first())
            .filter(|s| s.labels.is_empty())
            .map(|s| s.value)
    }
}

/// Checks that an export's [`Export::value`] agrees with its families for every series
/// without labels (for the types that answer it themselves).
#[cfg(test)]
pub(crate) fn assert_values_agree(e: &dyn Export) {
    let mut out = Vec::new();
    e.families(&mut out);
    for f in out.iter().filter(|f| f.samples.len() == 1 && f.samples[0].labels.is_empty()) {
        assert_eq!(e.value(&f.name), Some(f.samples[0].value), "{}", f.name);
    }
    assert_eq!(e.value("no_such_series"), None);
}

/// RFC 3339 → Unix seconds (with the fraction).
pub fn unix_seconds(t: &str) -> Option<f64> {
    let t = chrono::DateTime::parse_from_rfc3339(t).ok()?;
    Some(t.timestamp() as f64 + f64::from(t.timestamp_subsec_micros()) / 1e6)
}

pub fn label(k: &'static str, v: impl LabelValue) -> (&'static str, Text) {
    (k, v.text())
}

/// A label set to share between families ([`Family::push_shared`]).
pub fn labels(pairs: Vec<(&'static str, Text)>) -> Labels {
    pairs.into_iter().map(|(k, v)| (LabelName::Static(k), v)).collect()
}
