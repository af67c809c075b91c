//! `filefd`: node_exporter's `filefd` collector: the file handles the kernel has allocated
//! and its limit (`node_filefd_allocated`, `node_filefd_maximum`): a host near its limit
//! fails to open files everywhere at once.
//!
//! Linux: `/proc/sys/fs/file-nr` (`allocated unused maximum`). Linux only.

#![cfg_attr(not(target_os = "linux"), allow(dead_code, unused_imports))]

use super::{CollectError, Collector, Entry, ReadBy, Reading};
use crate::metrics::{self, Kind};

pub(crate) const ENTRY: Entry = Entry {
    name: "filefd",
    about: "file handles allocated and their limit (/proc/sys/fs/file-nr)",
    reads: &[],
    series: None,
    #[cfg(target_os = "linux")]
    start: |setup| {
        Some(Box::new(Filefd {
            path: setup.procfs.join("sys/fs/file-nr"),
            files: super::shared::files::Files::with_limit(4096),
        }))
    },
    #[cfg(not(target_os = "linux"))]
    start: super::absent,
};

pub(crate) struct Filefd {
    path: std::path::PathBuf,
    files: super::shared::files::Files,
}

impl Collector for Filefd {
    fn read_by(&self) -> ReadBy {
        ReadBy::Metrics
    }

    fn collect(&mut self, r: &mut Reading) -> Result<(), CollectError> {
        let text = self.files.read(&self.path)?;
        let (allocated, maximum) = parse_file_nr(text).map_err(|e| CollectError::parse(&self.path, e))?;
        r.export(Series { allocated, maximum });
        Ok(())
    }
}

/// `/proc/sys/fs/file-nr`: allocated handles and the maximum (the middle field, unused
/// handles, is always 0 since Linux 2.6).
pub(crate) fn parse_file_nr(text: &str) -> Result<(u64, u64), String> {
    let f: Vec<&str> = text.split_ascii_whitespace().collect();
    if f.len() != 3 {
        return Err(format!("{} fields, expected 3", f.len()));
    }
    let n = |s: &str| s.parse::<u64>().map_err(|_| format!("{s:?} is not a number"));
    Ok((n(f[0])?, n(f[2])?))
}

#[derive(Debug)]
struct Series {
    allocated: u64,
    maximum: u64,
}

impl metrics::Export for Series {
    fn value(&self, name: &str) -> Option<f64> {
        match name {
            "node_filefd_allocated" => Some(self.allocated as f64),
            "node_filefd_maximum" => Some(self.maximum as f64),
            _ => None,
        }
    }

    fn families(&self, out: &mut Vec<metrics::Family>) {
        out.push(
            metrics::Family::new("node_filefd_allocated", Kind::Gauge, "File descriptor statistics: allocated.")
                .with(vec![], self.allocated as f64),
        );
        out.push(
            metrics::Family::new("node_filefd_maximum", Kind::Gauge, "File descriptor statistics: maximum.")
                .with(vec![], self.maximum as f64),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `value` answers as the families say.
    #[test]
    fn values_agree_with_the_families() {
        crate::metrics::assert_values_agree(&Series { allocated: 1184, maximum: 9_223_372_036_854_775_807 });
    }

    #[test]
    fn file_nr() {
        assert_eq!(parse_file_nr("1184\t0\t9223372036854775807\n"), Ok((1184, 9223372036854775807)));
        assert!(parse_file_nr("1184 0\n").unwrap_err().contains("2 fields"));
        assert!(parse_file_nr("a 0 1\n").unwrap_err().contains("\"a\""));
    }
}
