//! InfluxDB line protocol: one line per sample, the measurement being the metric name, its
//! labels and `host` as tags, the value in the field `value`, the sample time in nanoseconds:
//!
//! ```text
//! node_cpu_seconds_total,cpu=0,host=pi,mode=idle value=113160.71 1758644292743209000
//! ```

use super::Family;

/// Escapes a measurement name (commas and spaces).
fn measurement(v: &str, out: &mut String) {
    for c in v.chars() {
        if matches!(c, ',' | ' ') {
            out.push('\\');
        }
        out.push(c);
    }
}

/// Escapes a tag key or value (commas, equals signs, spaces). A newline cannot be escaped in
/// line protocol: it becomes a space.
fn tag(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            ',' | '=' | ' ' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push_str("\\ "),
            c => out.push(c),
        }
    }
}

/// The lines for one sample's families at `timestamp_ns`. Tags are sorted by key, as
/// InfluxDB prefers; empty tag values are left out (line protocol has no empty tags); samples
/// that are not finite numbers are left out (line protocol has no NaN). A series' own `host`
/// label (from a text file) becomes `exported_host`, as Prometheus renames a scraped label
/// that clashes with a target's.
pub(crate) fn lines(families: &[Family], host: &str, timestamp_ns: i64) -> String {
    let mut out = String::with_capacity(families.len() * 120);
    let time = timestamp_ns.to_string();
    for f in families {
        for s in &f.samples {
            if !s.value.is_finite() {
                continue;
            }
            measurement(&f.name, &mut out);
            measurement(s.suffix, &mut out);
            let mut tags: Vec<(&str, &str)> = s
                .labels
                .iter()
                .map(|(k, v)| (if &**k == "host" { "exported_host" } else { &**k }, &**v))
                .filter(|(_, v)| !v.is_empty())
                .collect();
            tags.push(("host", host));
            tags.sort();
            for (k, v) in tags {
                out.push(',');
                tag(k, &mut out);
                out.push('=');
                tag(v, &mut out);
            }
            out.push_str(" value=");
            out.push_str(&format!("{:?}", s.value));
            out.push(' ');
            out.push_str(&time);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{Kind, Sample};
    use super::*;

    #[test]
    fn line_protocol() {
        let fams = vec![
            Family {
                name: "node_cpu_seconds_total".into(),
                help: String::new(),
                kind: Kind::Counter,
                samples: vec![Sample::new(
                    crate::metrics::labels(vec![("mode", "idle".into()), ("cpu", "0".into())]),
                    12.0,
                )],
            },
            Family {
                name: "node_uname_info".into(),
                help: String::new(),
                kind: Kind::Gauge,
                samples: vec![Sample::new(
                    crate::metrics::labels(vec![
                        ("version", "#1 SMP, x=y".into()),
                        ("domainname", "".into()),
                        ("host", "theirs".into()),
                    ]),
                    1.0,
                )],
            },
            Family {
                name: "nan".into(),
                help: String::new(),
                kind: Kind::Gauge,
                samples: vec![Sample::new(crate::metrics::labels(vec![]), f64::NAN)],
            },
            Family {
                name: "job_seconds".into(),
                help: String::new(),
                kind: Kind::Summary,
                samples: vec![Sample { suffix: "_count", ..Sample::new(crate::metrics::labels(vec![]), 3.0) }],
            },
        ];
        let text = lines(&fams, "my pi", 1_758_644_292_743_209_000);
        assert_eq!(
            text,
            "node_cpu_seconds_total,cpu=0,host=my\\ pi,mode=idle value=12.0 1758644292743209000\n\
             node_uname_info,exported_host=theirs,host=my\\ pi,version=#1\\ SMP\\,\\ x\\=y value=1.0 1758644292743209000\n\
             job_seconds_count,host=my\\ pi value=3.0 1758644292743209000\n"
        );
    }
}
