//! The Prometheus text format 0.0.4 read back into [`Family`]s: the text files `textfile`
//! serves (node_exporter's textfile collector reads them with the same rules, those of its
//! `expfmt.TextParser`), and the service's `/metrics` as the forwarder reads it for its
//! remote-write and InfluxDB destinations.
//!
//! What is accepted: `# HELP name text` (escapes `\\` and `\n`), `# TYPE name counter|gauge|
//! untyped|summary|histogram` (at most one of each per family, the TYPE before its samples),
//! other `#` lines as comments, blank lines, and samples `name{label="value",...} value
//! [timestamp]` (label values escape `\\`, `\"` and `\n`; a trailing comma is allowed). A
//! summary's samples are `name{quantile}`, `name_sum` and `name_count`; a histogram's
//! `name_bucket{le}`, `name_sum`, `name_count`. Samples of a family may come in any order;
//! a family is where its name (or a summary's or histogram's base name) first appears.
//! Anything else is an error naming the line.

use std::collections::HashMap;

use super::{Family, Kind, LabelName, Labels, Sample};
use crate::snapshot::Text;

/// A text that is not Prometheus text format 0.0.4.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {msg}")]
pub(crate) struct ParseError {
    /// 1-based.
    pub line: usize,
    pub msg: String,
}

/// What a text holds.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    /// In the order they first appear; `help` empty where the text gave none.
    pub families: Vec<Family>,
    /// Whether a sample carried a timestamp (node_exporter refuses such text files).
    pub timestamps: bool,
    /// The families that had a `# HELP` line.
    pub helped: Vec<bool>,
}

struct Parser<'a> {
    out: Parsed,
    /// Family index by name.
    index: HashMap<&'a str, usize>,
    /// Whether a family has samples yet, has had its TYPE and HELP lines.
    state: Vec<(bool, bool)>,
    names: HashMap<&'a str, Text>,
}

fn is_name_start(c: u8, colon: bool) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || (colon && c == b':')
}

fn is_name_char(c: u8, colon: bool) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || (colon && c == b':')
}

/// The name at the start of `s` (a metric name when `colon`, else a label name) and the rest.
fn name(s: &str, colon: bool) -> Option<(&str, &str)> {
    let b = s.as_bytes();
    if !b.first().is_some_and(|c| is_name_start(*c, colon)) {
        return None;
    }
    let end = b.iter().position(|c| !is_name_char(*c, colon)).unwrap_or(b.len());
    Some((&s[..end], &s[end..]))
}

fn blank(s: &str) -> &str {
    s.trim_start_matches([' ', '\t'])
}

/// A float as Go's `strconv.ParseFloat` reads one (`NaN`, `+Inf`, `-Inf`, `Inf` included).
fn float(s: &str) -> Option<f64> {
    match s {
        "NaN" | "nan" => Some(f64::NAN),
        "+Inf" | "Inf" | "+inf" | "inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        _ if s.bytes().all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-')) => s.parse().ok(),
        _ => None,
    }
}

fn unescape(s: &str, quote: bool) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if quote => out.push('"'),
            Some(other) => return Err(format!("invalid escape sequence \\{other}")),
            None => return Err("a \\ at the end".into()),
        }
    }
    Ok(out)
}

/// Parses a whole text.
pub(crate) fn parse(text: &str) -> Result<Parsed, ParseError> {
    let mut p = Parser { out: Parsed::default(), index: HashMap::new(), state: Vec::new(), names: HashMap::new() };
    for (n, line) in text.split('\n').enumerate() {
        let fail = |msg: String| ParseError { line: n + 1, msg };
        let rest = blank(line);
        if rest.is_empty() {
            continue;
        }
        if let Some(comment) = rest.strip_prefix('#') {
            p.comment(blank(comment)).map_err(fail)?;
        } else {
            p.sample(rest).map_err(fail)?;
        }
    }
    Ok(p.out)
}

impl<'a> Parser<'a> {
    fn family(&mut self, name: &'a str, kind: Kind) -> usize {
        if let Some(i) = self.index.get(name) {
            return *i;
        }
        self.out.families.push(Family::new(name, kind, ""));
        self.out.helped.push(false);
        self.state.push((false, false));
        self.index.insert(name, self.out.families.len() - 1);
        self.out.families.len() - 1
    }

    fn comment(&mut self, s: &'a str) -> Result<(), String> {
        let (word, rest) = s.split_once([' ', '\t']).unwrap_or((s, ""));
        if word != "HELP" && word != "TYPE" {
            return Ok(());
        }
        let rest = blank(rest);
        let Some((metric, after)) = name(rest, true) else {
            return Err(format!("# {word} needs a metric name, not {rest:?}"));
        };
        if !after.is_empty() && !after.starts_with([' ', '\t']) {
            return Err(format!("# {word}: {rest:?} is not a metric name"));
        }
        let after = after.strip_prefix([' ', '\t']).unwrap_or(after);
        if word == "HELP" {
            let help = unescape(after, false)?;
            let i = self.family(metric, Kind::Untyped);
            if self.out.helped[i] {
                return Err(format!("a second HELP line for {metric}"));
            }
            self.out.helped[i] = true;
            self.out.families[i].help = help;
            return Ok(());
        }
        let kind = match after.trim_end_matches([' ', '\t']) {
            "counter" => Kind::Counter,
            "gauge" => Kind::Gauge,
            "untyped" => Kind::Untyped,
            "summary" => Kind::Summary,
            "histogram" => Kind::Histogram,
            other => {
                return Err(format!("{other:?} is not a metric type (counter, gauge, untyped, summary, histogram)"));
            }
        };
        let i = self.family(metric, kind);
        let (sampled, typed) = self.state[i];
        if typed {
            return Err(format!("a second TYPE line for {metric}"));
        }
        if sampled {
            return Err(format!("the TYPE line of {metric} comes after its samples"));
        }
        self.state[i].1 = true;
        self.out.families[i].kind = kind;
        Ok(())
    }

    /// The family a sample of this name belongs to, and its suffix.
    fn owner(&mut self, metric: &'a str) -> (usize, &'static str) {
        for suffix in ["_bucket", "_sum", "_count"] {
            if let Some(base) = metric.strip_suffix(suffix)
                && let Some(&i) = self.index.get(base)
            {
                let kind = self.out.families[i].kind;
                if kind == Kind::Histogram || (kind == Kind::Summary && suffix != "_bucket") {
                    return (i, suffix);
                }
            }
        }
        (self.family(metric, Kind::Untyped), "")
    }

    fn label_name(&mut self, s: &'a str) -> LabelName {
        LabelName::Shared(self.names.entry(s).or_insert_with(|| s.into()).clone())
    }

    fn sample(&mut self, s: &'a str) -> Result<(), String> {
        let Some((metric, mut rest)) = name(s, true) else {
            return Err(format!("{:?} does not start with a metric name", s.chars().take(40).collect::<String>()));
        };
        let mut labels: Vec<(LabelName, Text)> = Vec::new();
        rest = blank(rest);
        if let Some(inner) = rest.strip_prefix('{') {
            rest = self.labels(inner, &mut labels)?;
        }
        let mut fields = rest.split([' ', '\t']).filter(|f| !f.is_empty());
        let value = fields.next().ok_or_else(|| format!("{metric}: no value"))?;
        let value = float(value).ok_or_else(|| format!("{metric}: {value:?} is not a number"))?;
        if let Some(ts) = fields.next() {
            ts.parse::<i64>().map_err(|_| format!("{metric}: {ts:?} is not a timestamp (milliseconds)"))?;
            self.out.timestamps = true;
        }
        if let Some(extra) = fields.next() {
            return Err(format!("{metric}: {extra:?} after the value and the timestamp"));
        }
        let (i, suffix) = self.owner(metric);
        let kind = self.out.families[i].kind;
        let has = |l: &[(LabelName, Text)], n: &str| l.iter().any(|(k, _)| &**k == n);
        match (kind, suffix) {
            (Kind::Summary, "") if !has(&labels, "quantile") => {
                return Err(format!("{metric}: a summary's sample needs a quantile label"));
            }
            (Kind::Histogram, "_bucket") if !has(&labels, "le") => {
                return Err(format!("{metric}: a histogram's bucket needs an le label"));
            }
            (Kind::Histogram, "") => {
                return Err(format!("{metric} is a histogram: its samples are {metric}_bucket, _sum and _count"));
            }
            _ => {}
        }
        self.state[i].0 = true;
        let labels: Labels = labels.into();
        self.out.families[i].samples.push(Sample { labels, value, suffix });
        Ok(())
    }

    /// The labels after `{`; returns what follows the closing `}`.
    fn labels(&mut self, mut s: &'a str, out: &mut Vec<(LabelName, Text)>) -> Result<&'a str, String> {
        loop {
            s = blank(s);
            if let Some(after) = s.strip_prefix('}') {
                return Ok(after);
            }
            let Some((label, after)) = name(s, false) else {
                return Err(format!("a label name was expected at {:?}", s.chars().take(30).collect::<String>()));
            };
            if label == "__name__" {
                return Err("the label name __name__ is reserved".into());
            }
            if out.iter().any(|(k, _)| &**k == label) {
                return Err(format!("the label {label} twice"));
            }
            let after = blank(after).strip_prefix('=').ok_or_else(|| format!("no = after the label {label}"))?;
            let after = blank(after).strip_prefix('"').ok_or_else(|| format!("the value of {label} is not quoted"))?;
            // the closing quote: the first one not escaped
            let mut end = None;
            let mut escaped = false;
            for (at, c) in after.char_indices() {
                match c {
                    '\\' if !escaped => escaped = true,
                    '"' if !escaped => {
                        end = Some(at);
                        break;
                    }
                    _ => escaped = false,
                }
            }
            let end = end.ok_or_else(|| format!("the value of {label} has no closing quote"))?;
            let value = unescape(&after[..end], true).map_err(|e| format!("the value of {label}: {e}"))?;
            let name = self.label_name(label);
            out.push((name, value.into()));
            s = blank(&after[end + 1..]);
            if let Some(next) = s.strip_prefix(',') {
                s = next;
            } else if !s.starts_with('}') {
                return Err(format!("a , or }} was expected after the label {label}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label_pairs(s: &Sample) -> Vec<(String, String)> {
        s.labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// What the service serves reads back as the families it was rendered from.
    #[test]
    fn our_text_reads_back_as_it_was_written() {
        let families = vec![
            Family::new("node_cpu_seconds_total", Kind::Counter, "Seconds the CPUs spent in each mode.")
                .with(vec![("cpu", "0".into()), ("mode", "idle".into())], 12.5)
                .with(vec![("cpu", "1".into()), ("mode", "idle".into())], 1e21),
            Family::new("node_uname_info", Kind::Gauge, "a \\ help\nline")
                .with(vec![("version", "#1 \"SMP\"\\x\n, }{=".into())], 1.0),
            Family::new("node_vmstat_pgfault", Kind::Untyped, "vmstat").with(vec![], 3.0),
            Family::new("weird", Kind::Gauge, "w").with(vec![], f64::INFINITY).with(vec![], f64::NEG_INFINITY),
        ];
        let text = super::super::text::prometheus(&families);
        let parsed = parse(&text).unwrap();
        assert!(!parsed.timestamps);
        assert_eq!(parsed.families.len(), families.len());
        for (got, want) in parsed.families.iter().zip(&families) {
            assert_eq!((&got.name, &got.help, got.kind), (&want.name, &want.help, want.kind));
            assert_eq!(got.samples.len(), want.samples.len());
            for (g, w) in got.samples.iter().zip(&want.samples) {
                assert_eq!(label_pairs(g), label_pairs(w));
                assert_eq!(g.value, w.value);
            }
        }
    }

    #[test]
    fn summaries_and_histograms_gather_their_samples() {
        let text = "# TYPE rpc summary\nrpc{quantile=\"0.5\"} 1\nrpc_sum 10\nrpc_count 4\n\
                    # TYPE lat histogram\nlat_bucket{le=\"1\"} 2\nlat_bucket{le=\"+Inf\"} 3\nlat_sum 2.5\nlat_count 3\n\
                    plain_sum 7\n";
        let p = parse(text).unwrap();
        let names: Vec<(&str, Kind, usize)> =
            p.families.iter().map(|f| (f.name.as_str(), f.kind, f.samples.len())).collect();
        assert_eq!(names, [("rpc", Kind::Summary, 3), ("lat", Kind::Histogram, 4), ("plain_sum", Kind::Untyped, 1)]);
        let suffixes: Vec<&str> = p.families[1].samples.iter().map(|s| s.suffix).collect();
        assert_eq!(suffixes, ["_bucket", "_bucket", "_sum", "_count"]);
        // and renders as it was written, each sample under its own name
        let text = super::super::text::prometheus(&p.families);
        assert!(
            text.contains("# TYPE lat histogram\nlat_bucket{le=\"1\"} 2\nlat_bucket{le=\"+Inf\"} 3\nlat_sum 2.5\n"),
            "{text}"
        );
        assert!(text.contains("# TYPE rpc summary\nrpc{quantile=\"0.5\"} 1\nrpc_sum 10\nrpc_count 4\n"), "{text}");
        let om = super::super::text::openmetrics_body(&p.families);
        assert!(om.contains("# TYPE plain_sum unknown\nplain_sum 7\n"), "{om}");
    }

    #[test]
    fn tolerated_forms() {
        let p = parse("  \n# a comment\n#\n# HELP x \nx{a=\"1\",} 1 1700000000000\n\tx { b = \"2\" }\t2\t\n").unwrap();
        assert!(p.timestamps);
        assert_eq!(p.families[0].samples.len(), 2);
        assert_eq!(label_pairs(&p.families[0].samples[1]), [("b".to_string(), "2".to_string())]);
        for v in ["NaN", "+Inf", "-Inf", "1e3", "-0.5", ".5"] {
            assert!(parse(&format!("x {v}\n")).is_ok(), "{v}");
        }
        assert!(parse("").unwrap().families.is_empty());
        assert!(parse("x 1").is_ok(), "a last line without its newline");
    }

    /// Every refusal names the line and what is wrong with it.
    #[test]
    fn errors_name_the_line() {
        for (text, line, says) in [
            ("x 1\ny\n", 2, "no value"),
            ("x abc\n", 1, "is not a number"),
            ("x 1 2 3\n", 1, "after the value"),
            ("x 1 later\n", 1, "is not a timestamp"),
            ("x{a=\"1\"\n", 1, ", or }"),
            ("x{a=1} 1\n", 1, "not quoted"),
            ("x{a=\"1} 1\n", 1, "no closing quote"),
            ("x{a=\"\\t\"} 1\n", 1, "invalid escape"),
            ("x{a=\"1\",a=\"2\"} 1\n", 1, "the label a twice"),
            ("x{__name__=\"y\"} 1\n", 1, "reserved"),
            ("x{1a=\"1\"} 1\n", 1, "label name was expected"),
            ("1x 1\n", 1, "does not start with a metric name"),
            ("# TYPE x gauge\n# TYPE x gauge\n", 2, "second TYPE"),
            ("# HELP x a\n# HELP x b\n", 2, "second HELP"),
            ("x 1\n# TYPE x gauge\n", 2, "after its samples"),
            ("# TYPE x meter\n", 1, "not a metric type"),
            ("# TYPE\n", 1, "needs a metric name"),
            ("# TYPE s summary\ns 1\n", 2, "quantile"),
            ("# TYPE h histogram\nh_bucket 1\n", 2, "le label"),
            ("# TYPE h histogram\nh 1\n", 2, "_bucket, _sum and _count"),
            ("x 1\r\n", 1, "is not a number"),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.msg.contains(says), "{text:?}: {e}");
        }
    }
}
