//! `vmstat`: node_exporter's `vmstat` collector: the fields of `/proc/vmstat` its default
//! filter keeps (`^(oom_kill|pgpg|pswp|pg.*fault).*`: page-ins and outs, swap-ins and outs,
//! minor and major faults, OOM kills) as `node_vmstat_<field>`, untyped as node_exporter
//! leaves them; and `pswpin`/`pswpout` for `swap`, which then does not read the file again.
//!
//! Linux only (node_exporter's darwin build has no vmstat collector).

#![cfg_attr(not(target_os = "linux"), allow(dead_code, unused_imports))]

use std::sync::Arc;

use super::{CollectError, Collector, Entry, ReadBy, Reading, Setup};
use crate::metrics::{self, Kind};

pub(crate) const ENTRY: Entry = Entry {
    name: "vmstat",
    about: "page-ins/outs, swap-ins/outs, page faults, OOM kills (/proc/vmstat)",
    reads: &[],
    series: None,
    #[cfg(target_os = "linux")]
    start: |setup| Some(Box::new(Vmstat::new(setup))),
    #[cfg(not(target_os = "linux"))]
    start: super::absent,
};

pub(crate) struct Vmstat {
    path: std::path::PathBuf,
    files: super::shared::files::Files,
    /// The kept fields.
    fields: super::shared::counters::Named<u64>,
}

impl Vmstat {
    fn new(setup: &Setup) -> Vmstat {
        Vmstat { path: setup.procfs.join("vmstat"), files: Default::default(), fields: Default::default() }
    }
}

impl Collector for Vmstat {
    fn read_by(&self) -> ReadBy {
        ReadBy::Metrics
    }

    fn collect(&mut self, r: &mut Reading) -> Result<(), CollectError> {
        let text = self.files.read(&self.path)?;
        let fields = &mut self.fields;
        let mut swapped = (None, None);
        parse_vmstat(text, |name, value| {
            match name {
                "pswpin" => swapped.0 = Some(value),
                "pswpout" => swapped.1 = Some(value),
                _ => {}
            }
            if node_exporter_keeps(name) {
                fields.put("", name, value);
            }
        })
        .map_err(|e| CollectError::parse(&self.path, e))?;
        let fields = fields.take();
        if let (Some(sin), Some(sout)) = swapped {
            r.swapped_pages = Some((sin, sout));
        }
        r.export(Series(fields));
        Ok(())
    }
}

/// node_exporter's default `--collector.vmstat.fields`, `^(oom_kill|pgpg|pswp|pg.*fault).*`.
pub(crate) fn node_exporter_keeps(field: &str) -> bool {
    field.starts_with("oom_kill")
        || field.starts_with("pgpg")
        || field.starts_with("pswp")
        || field.strip_prefix("pg").is_some_and(|rest| rest.contains("fault"))
}

/// Parses `/proc/vmstat` (`name value` lines), calling `each` for every field.
pub(crate) fn parse_vmstat(text: &str, mut each: impl FnMut(&str, u64)) -> Result<(), String> {
    for (n, line) in super::shared::files::lines(text).enumerate() {
        let mut f = line.split_ascii_whitespace();
        let Some(name) = f.next() else { continue };
        let value = f.next().ok_or_else(|| format!("line {} ({name}): no value", n + 1))?;
        let value = value.parse().map_err(|_| format!("line {} ({name}): {value:?} is not a number", n + 1))?;
        each(name, value);
    }
    Ok(())
}

/// One sample's kept fields.
#[derive(Debug)]
struct Series(Vec<(Arc<str>, u64)>);

impl metrics::Export for Series {
    fn families(&self, out: &mut Vec<metrics::Family>) {
        for (name, value) in &self.0 {
            out.push(
                metrics::Family::new(
                    format!("node_vmstat_{name}"),
                    Kind::Untyped,
                    format!("/proc/vmstat information field {name}."),
                )
                .with(vec![], *value as f64),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_exporters_default_fields() {
        for kept in ["oom_kill", "pgpgin", "pgpgout", "pswpin", "pswpout", "pgfault", "pgmajfault"] {
            assert!(node_exporter_keeps(kept), "{kept}");
        }
        for left in ["nr_free_pages", "pgalloc_normal", "pgscan_kswapd", "thp_fault_alloc", "workingset_refault_anon"] {
            assert!(!node_exporter_keeps(left), "{left}");
        }
    }

    #[test]
    fn parses_and_says_which_line_is_wrong() {
        let mut got = Vec::new();
        parse_vmstat("nr_free_pages 100\npgfault 2500\n\n", |n, v| got.push((n.to_string(), v))).unwrap();
        assert_eq!(got, [("nr_free_pages".to_string(), 100), ("pgfault".to_string(), 2500)]);
        assert!(parse_vmstat("pgfault\n", |_, _| {}).unwrap_err().contains("line 1 (pgfault): no value"));
        assert!(parse_vmstat("a 1\npgfault x\n", |_, _| {}).unwrap_err().contains("\"x\""));
    }

    /// The family on the Pi fixture keeps node_exporter's fields and passes the swap pages on.
    #[cfg(target_os = "linux")]
    #[test]
    fn reads_the_fixture() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/raspberrypi4-aarch64");
        let setup = Setup { procfs: root.join("proc"), ..crate::config::default_setup() };
        let mut family = Vmstat::new(&setup);
        let mut r = Reading::new(std::time::Instant::now(), std::time::SystemTime::now());
        family.collect(&mut r).unwrap();
        assert!(r.swapped_pages.is_some());
        let mut f = Vec::new();
        r.exported[0].families(&mut f);
        let names: Vec<&str> = f.iter().map(|f| f.name.as_str()).collect();
        assert!(names.contains(&"node_vmstat_pgfault") && names.contains(&"node_vmstat_pswpin"), "{names:?}");
        assert!(f.iter().all(|f| f.kind == Kind::Untyped && node_exporter_keeps(&f.name["node_vmstat_".len()..])));
    }
}
