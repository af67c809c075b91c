//! Prometheus text exposition format 0.0.4, and OpenMetrics 1.0 for scrapers that ask for it.

use std::fmt::Write;

use super::{Family, Kind};

pub(crate) const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
pub(crate) const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Whether an `Accept` header asks for OpenMetrics (as Prometheus does by default), with a
/// non-zero quality.
pub(crate) fn wants_openmetrics(accept: &str) -> bool {
    accept.split(',').any(|part| {
        let mut params = part.split(';').map(str::trim);
        let media = params.next().unwrap_or("");
        let q = params.find_map(|p| p.strip_prefix("q=")).and_then(|q| q.parse::<f64>().ok()).unwrap_or(1.0);
        media.eq_ignore_ascii_case("application/openmetrics-text") && q > 0.0
    })
}

fn escape_label(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn escape_help(v: &str, out: &mut String, openmetrics: bool) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if openmetrics => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

/// A float as both formats spell it (`NaN`, `+Inf`, `-Inf`, else the shortest exact form).
fn number(v: f64, out: &mut String) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{v}");
    }
}

fn render(families: &[Family], openmetrics: bool) -> String {
    let mut out = String::with_capacity(families.len() * 160);
    for f in families {
        // OpenMetrics names a counter family without its `_total` suffix, which its samples
        // have. A text file's counter without one is `unknown` there: appending the suffix
        // would name its series otherwise than the text format, a push and node_exporter do
        let counter_om = openmetrics && f.kind == Kind::Counter && f.name.ends_with("_total");
        let untyped_om = openmetrics && f.kind == Kind::Counter && !counter_om;
        let family_name = if counter_om { f.name.strip_suffix("_total").unwrap_or(&f.name) } else { &f.name };
        out.push_str("# HELP ");
        out.push_str(family_name);
        out.push(' ');
        escape_help(&f.help, &mut out, openmetrics);
        out.push_str("\n# TYPE ");
        out.push_str(family_name);
        out.push(' ');
        out.push_str(match (f.kind, openmetrics) {
            (Kind::Untyped, true) => "unknown",
            _ if untyped_om => "unknown",
            (kind, _) => kind.word(),
        });
        out.push('\n');
        for s in &f.samples {
            out.push_str(&f.name);
            out.push_str(s.suffix);
            if !s.labels.is_empty() {
                out.push('{');
                for (i, (k, v)) in s.labels.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(k);
                    out.push_str("=\"");
                    escape_label(v, &mut out);
                    out.push('"');
                }
                out.push('}');
            }
            out.push(' ');
            number(s.value, &mut out);
            out.push('\n');
        }
    }
    out
}

/// Prometheus text format 0.0.4.
pub fn prometheus(families: &[Family]) -> String {
    render(families, false)
}

/// OpenMetrics 1.0 without its closing `# EOF` line (so that request-time families can be
/// appended); see [`OPENMETRICS_EOF`].
pub(crate) fn openmetrics_body(families: &[Family]) -> String {
    render(families, true)
}

pub(crate) const OPENMETRICS_EOF: &str = "# EOF\n";

#[cfg(test)]
mod tests {
    use super::super::{Sample, labels};
    use super::*;

    fn fams() -> Vec<Family> {
        vec![
            Family {
                name: "node_cpu_seconds_total".into(),
                help: "Seconds the CPUs spent in each mode.".into(),
                kind: Kind::Counter,
                samples: vec![Sample::new(labels(vec![("cpu", "0".into()), ("mode", "idle".into())]), 12.5)],
            },
            Family {
                name: "node_uname_info".into(),
                help: "a \\ help\nline".into(),
                kind: Kind::Gauge,
                samples: vec![Sample::new(labels(vec![("version", "#1 \"SMP\"\\x\n".into())]), 1.0)],
            },
            Family {
                name: "weird".into(),
                help: "h".into(),
                kind: Kind::Gauge,
                samples: vec![Sample::new(labels(vec![]), f64::NAN), Sample::new(labels(vec![]), f64::INFINITY)],
            },
        ]
    }

    #[test]
    fn prometheus_text() {
        let t = prometheus(&fams());
        assert!(t.starts_with(
            "# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.\n\
             # TYPE node_cpu_seconds_total counter\n\
             node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 12.5\n"
        ));
        assert!(t.contains("# HELP node_uname_info a \\\\ help\\nline\n"), "{t}");
        assert!(t.contains("node_uname_info{version=\"#1 \\\"SMP\\\"\\\\x\\n\"} 1\n"), "{t}");
        assert!(t.ends_with("weird NaN\nweird +Inf\n"));
    }

    #[test]
    fn openmetrics_names_counter_families_without_total() {
        let t = openmetrics_body(&fams()) + OPENMETRICS_EOF;
        assert!(t.starts_with(
            "# HELP node_cpu_seconds Seconds the CPUs spent in each mode.\n# TYPE node_cpu_seconds counter\n"
        ));
        assert!(t.contains("\nnode_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 12.5\n"));
        assert!(t.ends_with("# EOF\n"));
    }

    #[test]
    fn content_negotiation() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,\
            text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert!(wants_openmetrics(prometheus));
        assert!(!wants_openmetrics("text/plain"));
        assert!(!wants_openmetrics("application/openmetrics-text;q=0"));
        assert!(!wants_openmetrics(""));
    }
}
