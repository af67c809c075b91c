//! `textfile`: node_exporter's textfile collector, by its rules, so that the scripts that
//! feed it (backup timestamps, RAID state, Debian's `prometheus-node-exporter-collectors`:
//! apt, smartmon, nvme...) feed us unchanged.
//!
//! Every `*.prom` file of `SYSTEM_STATS_TEXTFILE_DIRECTORY` (node_exporter's
//! `--collector.textfile.directory`) is read in the samples `/metrics` asks for, as
//! node_exporter reads them at each scrape (a file unchanged since, same size, time and
//! inode, is not parsed again). Its families are served as written; a family without
//! `# HELP` gets `Metric read from <path>`, and the series of a family get the union of its
//! label names (the missing ones empty), as node_exporter does. Besides:
//! `node_textfile_mtime_seconds{file="<path>"}` for each file read, and
//! `node_textfile_scrape_error`, 1 when a file or the directory could not be read or
//! parsed. What node_exporter refuses, we refuse, with one ERROR naming the file and the
//! line (logged when it starts or changes, not at every scrape): a file that is not text
//! format 0.0.4 or carries timestamps (skipped whole, the error set); a family redefining one
//! of our own series (refused, the rest of the file served: node_exporter's registry drops
//! one of the two, we keep ours); a family or series another file already has (refused).
//! Without a directory, no file is read and `node_textfile_scrape_error` is 0, as
//! node_exporter's default.

use crate::sync::Locked;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::{CollectError, Collector, Entry, ReadBy, Reading, Setup};
use crate::metrics::{self, Kind, LabelName};

pub(crate) const ENTRY: Entry = Entry {
    name: "textfile",
    about: "*.prom files of SYSTEM_STATS_TEXTFILE_DIRECTORY, by node_exporter's textfile rules",
    reads: &[],
    series: None,
    start: |setup| Some(Box::new(Textfile::new(setup))),
};

/// A file larger than this is refused: a script gone wrong must not take the service's
/// memory.
const MAX_FILE: u64 = 16 << 20;

/// A file as last read: what identifies its content, and its families (or why not).
struct Read {
    stamp: (u64, i64, i64, u64),
    mtime: f64,
    families: Result<Arc<Vec<metrics::Family>>, String>,
}

pub(crate) struct Textfile {
    dir: Option<PathBuf>,
    files: HashMap<PathBuf, Read>,
    /// The refusals said, so that each is logged when it starts or changes, once.
    said: Arc<Mutex<HashSet<String>>>,
}

impl Textfile {
    fn new(setup: &Setup) -> Textfile {
        Textfile { dir: setup.textfile_directory.clone(), files: HashMap::new(), said: Default::default() }
    }

    /// Reads (or reuses) one file.
    fn read(&mut self, path: &Path) -> &Read {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path);
        let stamp = meta.as_ref().map(|m| (m.len(), m.mtime(), m.mtime_nsec(), m.ino())).unwrap_or_default();
        let fresh = self.files.get(path).is_some_and(|r| meta.is_ok() && r.stamp == stamp);
        if !fresh {
            let mtime = meta.as_ref().map_or(0, |m| m.mtime()) as f64;
            let families = meta.map_err(|e| e.to_string()).and_then(|m| {
                if m.len() > MAX_FILE {
                    return Err(format!("{} bytes, more than the {MAX_FILE} read", m.len()));
                }
                let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
                parse_file(path, &text).map(Arc::new)
            });
            self.files.insert(path.to_path_buf(), Read { stamp, mtime, families });
        }
        &self.files[path]
    }
}

impl Collector for Textfile {
    fn read_by(&self) -> ReadBy {
        ReadBy::Metrics
    }

    fn collect(&mut self, r: &mut Reading) -> Result<(), CollectError> {
        let mut series = Series { files: Vec::new(), error: false, said: Arc::clone(&self.said) };
        let mut problems = Vec::new();
        if let Some(dir) = self.dir.clone() {
            match prom_files(&dir) {
                Ok(paths) => {
                    for path in paths {
                        let read = self.read(&path);
                        match &read.families {
                            Ok(families) => series.files.push((path.clone(), read.mtime, Arc::clone(families))),
                            Err(why) => {
                                series.error = true;
                                problems
                                    .push(format!("{}: {why}: skipped whole, as node_exporter does", path.display()));
                            }
                        }
                    }
                    self.files.retain(|p, _| series.files.iter().any(|(f, _, _)| f == p) || p.exists());
                }
                Err(e) => {
                    series.error = true;
                    problems.push(format!("the directory {}: {e}", dir.display()));
                }
            }
        }
        say_changes(&self.said, "file", problems);
        r.export(series);
        Ok(())
    }
}

/// The `*.prom` files of a directory (hidden ones too, as node_exporter reads them), sorted.
fn prom_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".prom"))
        .filter(|e| e.file_type().is_ok_and(|t| !t.is_dir()))
        .map(|e| e.path())
        .collect();
    out.sort();
    Ok(out)
}

/// One file's families, by node_exporter's rules: text format 0.0.4 without timestamps; a
/// family without HELP is `Metric read from <path>`; every series of a family has all of its
/// label names (empty where missing).
pub(crate) fn parse_file(path: &Path, text: &str) -> Result<Vec<metrics::Family>, String> {
    let parsed = metrics::parse::parse(text).map_err(|e| format!("not Prometheus text format: {e}"))?;
    if parsed.timestamps {
        return Err("it carries timestamps, which node_exporter's textfile collector does not take".into());
    }
    let mut families = parsed.families;
    for (f, helped) in families.iter_mut().zip(parsed.helped) {
        if !helped {
            f.help = format!("Metric read from {}", path.display());
        }
        // a summary's quantile and a histogram's le are not labels of its series, but where
        // each sample sits in it: the _sum and _count samples have none
        let structural = match f.kind {
            Kind::Summary => "quantile",
            Kind::Histogram => "le",
            _ => "",
        };
        let mut names: Vec<LabelName> = Vec::new();
        for s in &f.samples {
            for (k, _) in s.labels.iter() {
                if !names.contains(k) && &**k != structural {
                    names.push(k.clone());
                }
            }
        }
        for s in f.samples.iter_mut() {
            if names.iter().any(|n| !s.labels.iter().any(|(k, _)| k == n)) {
                let mut labels: Vec<(LabelName, crate::snapshot::Text)> = s.labels.to_vec();
                for n in &names {
                    if !labels.iter().any(|(k, _)| k == n) {
                        labels.push((n.clone(), "".into()));
                    }
                }
                s.labels = labels.into();
            }
        }
        if !structural.is_empty() {
            complete(f, structural);
        }
    }
    Ok(families)
}

/// A summary's or histogram's series as node_exporter rebuilds them (client_golang's const
/// summaries and histograms): each label set (its `quantile` or `le` apart) has a `_sum` and
/// a `_count` (0 when the file has none), and a histogram its `le="+Inf"` bucket (its count).
fn complete(f: &mut metrics::Family, structural: &str) {
    type Key = Vec<(String, String)>;
    let key = |s: &metrics::Sample| -> Key {
        let mut k: Key =
            s.labels.iter().filter(|(n, _)| &**n != structural).map(|(n, v)| (n.to_string(), v.to_string())).collect();
        k.sort();
        k
    };
    let mut groups: Vec<(Key, metrics::Labels)> = Vec::new();
    for s in &f.samples {
        let k = key(s);
        if !groups.iter().any(|(g, _)| *g == k) {
            let labels = s.labels.iter().filter(|(n, _)| &**n != structural).cloned().collect();
            groups.push((k, labels));
        }
    }
    for (k, labels) in groups {
        let find = |suffix: &str| f.samples.iter().find(|s| s.suffix == suffix && key(s) == k).map(|s| s.value);
        let count = find("_count");
        for (suffix, value) in [("_sum", find("_sum")), ("_count", count)] {
            if value.is_none() {
                f.samples.push(metrics::Sample { suffix, ..metrics::Sample::new(labels.clone(), 0.0) });
            }
        }
        let inf =
            |s: &metrics::Sample| s.labels.iter().any(|(n, v)| &**n == "le" && matches!(&**v, "+Inf" | "Inf" | "inf"));
        if structural == "le" && !f.samples.iter().any(|s| s.suffix == "_bucket" && key(s) == k && inf(s)) {
            let mut with_le: Vec<(LabelName, crate::snapshot::Text)> = labels.to_vec();
            with_le.push((LabelName::Static("le"), "+Inf".into()));
            f.samples.push(metrics::Sample {
                suffix: "_bucket",
                ..metrics::Sample::new(with_le.into(), count.unwrap_or(0.0))
            });
        }
    }
}

/// Logs the refusals that were not logged before (each once while it lasts, again if it
/// comes back); `kind` keeps the two sources of refusals (files, families) apart.
fn say_changes(said: &Mutex<HashSet<String>>, kind: &str, now: Vec<String>) {
    let mut said = said.locked();
    let keep: HashSet<String> = now.iter().map(|p| format!("{kind}\0{p}")).collect();
    for p in &now {
        if !said.contains(&format!("{kind}\0{p}")) {
            tracing::error!(collector = "textfile", "{p}");
        }
    }
    said.retain(|k| !k.starts_with(&format!("{kind}\0")));
    said.extend(keep);
}

/// One sample's files: their families, rendered when `/metrics` is.
#[derive(Debug)]
struct Series {
    files: Vec<(PathBuf, f64, Arc<Vec<metrics::Family>>)>,
    error: bool,
    said: Arc<Mutex<HashSet<String>>>,
}

impl metrics::Export for Series {
    /// Appends the files' families after every other family (the registry runs `textfile`
    /// last): a family named as one already there is refused.
    fn families(&self, out: &mut Vec<metrics::Family>) {
        let ours: HashSet<String> = out.iter().flat_map(|f| f.sample_names()).collect();
        let mut theirs: BTreeMap<String, usize> = BTreeMap::new();
        let mut seen: HashSet<(String, Vec<(String, String)>)> = HashSet::new();
        let mut refused = Vec::new();
        let mut mtime = metrics::Family::new(
            "node_textfile_mtime_seconds",
            Kind::Gauge,
            "Unixtime mtime of textfiles successfully read.",
        );
        for (path, time, families) in &self.files {
            let file = path.display().to_string();
            for f in families.iter() {
                if let Some(name) = f.sample_names().into_iter().find(|n| ours.contains(n)) {
                    refused.push(format!(
                        "{file}: {} redefines {name}, a series of system-stats' own: refused, as node_exporter \
                         refuses a series two collectors define",
                        f.name
                    ));
                    continue;
                }
                let at = match theirs.get(&f.name) {
                    Some(&i) if out[i].kind != f.kind || out[i].help != f.help => {
                        refused.push(format!(
                            "{file}: {} is in an earlier file with another type or help: refused",
                            f.name
                        ));
                        continue;
                    }
                    Some(&i) => i,
                    None => {
                        out.push(metrics::Family::new(f.name.clone(), f.kind, f.help.clone()));
                        theirs.insert(f.name.clone(), out.len() - 1);
                        out.len() - 1
                    }
                };
                for s in &f.samples {
                    let mut key: Vec<(String, String)> =
                        s.labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
                    key.sort();
                    if !seen.insert((format!("{}{}", f.name, s.suffix), key)) {
                        refused.push(format!("{file}: a series of {} is in an earlier file: refused", f.name));
                        continue;
                    }
                    out[at].samples.push(s.clone());
                }
            }
            mtime.push(vec![("file", file.as_str().into())], *time);
        }
        say_changes(&self.said, "family", refused);
        if !mtime.samples.is_empty() {
            out.push(mtime);
        }
        out.push(
            metrics::Family::new(
                "node_textfile_scrape_error",
                Kind::Gauge,
                "1 if there was an error opening or reading a file, 0 otherwise",
            )
            .with(vec![], if self.error { 1.0 } else { 0.0 }),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(dir: &Path) -> (Vec<metrics::Family>, Textfile) {
        let setup = Setup { textfile_directory: Some(dir.to_path_buf()), ..crate::config::default_setup() };
        let mut t = Textfile::new(&setup);
        let mut r = Reading::new(std::time::Instant::now(), std::time::SystemTime::now());
        t.collect(&mut r).unwrap();
        let mut out = vec![metrics::Family::new("node_load1", Kind::Gauge, "1m load average.").with(vec![], 0.5)];
        for e in &r.exported {
            e.families(&mut out);
        }
        (out, t)
    }

    fn get<'a>(out: &'a [metrics::Family], name: &str) -> Option<&'a metrics::Family> {
        out.iter().find(|f| f.name == name)
    }

    #[test]
    fn files_are_served_as_node_exporter_serves_them() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.prom"), "# HELP m help\n# TYPE m gauge\nm{a=\"1\"} 3\nm{b=\"2\"} 4\nx 5\n")
            .unwrap();
        std::fs::write(dir.path().join("empty.prom"), "").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not read\n").unwrap();
        let (out, _) = series(dir.path());
        let m = get(&out, "m").unwrap();
        let labels: Vec<Vec<(String, String)>> =
            m.samples.iter().map(|s| s.labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()).collect();
        assert_eq!(
            labels,
            [
                vec![("a".into(), "1".into()), ("b".into(), "".into())],
                vec![("b".into(), "2".into()), ("a".into(), "".into())]
            ]
        );
        let x = get(&out, "x").unwrap();
        assert_eq!(x.help, format!("Metric read from {}", dir.path().join("a.prom").display()));
        assert_eq!(x.kind, Kind::Untyped);
        assert_eq!(get(&out, "node_textfile_mtime_seconds").unwrap().samples.len(), 2);
        assert_eq!(get(&out, "node_textfile_scrape_error").unwrap().samples[0].value, 0.0);
    }

    /// A broken file, a file with timestamps: skipped whole, the error set, the others
    /// served; a family redefining ours: refused, ours and the rest of its file kept.
    #[test]
    fn what_node_exporter_refuses_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bad.prom"), "ok 1\nbroken{ 1\n").unwrap();
        std::fs::write(dir.path().join("ts.prom"), "t 1 1700000000000\n").unwrap();
        std::fs::write(dir.path().join("clash.prom"), "node_load1 42\nmine 1\n").unwrap();
        std::fs::write(dir.path().join("twice.prom"), "mine 2\n").unwrap();
        let (out, _) = series(dir.path());
        assert!(get(&out, "ok").is_none() && get(&out, "t").is_none());
        assert_eq!(get(&out, "node_load1").unwrap().samples.len(), 1);
        assert_eq!(get(&out, "node_load1").unwrap().samples[0].value, 0.5);
        // clash.prom comes before twice.prom: its help wins, twice.prom's `mine` is refused
        let mine = get(&out, "mine").unwrap();
        assert_eq!(mine.samples.len(), 1);
        assert_eq!(mine.samples[0].value, 1.0);
        assert_eq!(get(&out, "node_textfile_scrape_error").unwrap().samples[0].value, 1.0);
        let files: Vec<String> = get(&out, "node_textfile_mtime_seconds")
            .unwrap()
            .samples
            .iter()
            .map(|s| s.labels[0].1.to_string())
            .collect();
        assert_eq!(files.len(), 2, "only the files read: {files:?}");
    }

    /// No directory: nothing read, no error, as node_exporter with its default; a directory
    /// that does not exist: the error.
    #[test]
    fn without_a_directory_nothing_is_read() {
        let mut t = Textfile::new(&crate::config::default_setup());
        let mut r = Reading::new(std::time::Instant::now(), std::time::SystemTime::now());
        t.collect(&mut r).unwrap();
        let mut out = Vec::new();
        r.exported[0].families(&mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].samples[0].value, 0.0);
        let (out, _) = series(Path::new("/no/such/directory"));
        assert_eq!(get(&out, "node_textfile_scrape_error").unwrap().samples[0].value, 1.0);
    }
}
