//! Where smartctl's outputs come from: smartctl run by the service itself, or a directory a
//! privileged reader (`system-stats-service --read-drives DIR`, the unit
//! `system-stats-smart.service` and its timer) fills with the same outputs, so that the HTTP
//! service never holds the privileges drives need.
//!
//! The directory holds smartctl's standard output, unchanged: `scan.json` from
//! `smartctl --json=c --scan-open`, and `<device>.json` for each drive (its reading; the
//! name is the drive's `device` label, `sda`, `nvme0`). A reading that printed no JSON (a
//! timeout, smartctl gone) is `<device>.error`, one line saying why, newer than the drive's
//! last JSON. Each file is written whole and renamed into place: a reader never sees half.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde_json::Value;

use super::{Found, READ, parse, parse_scan};
use crate::collect::shared::program;

/// One of smartctl's outputs: its JSON, its text, and when it was taken.
pub(crate) struct Output {
    pub json: Value,
    pub text: String,
    pub at: SystemTime,
}

/// How a directory's files of one drive stood when last looked at: their modification
/// times, and whether the reading was too old. The same stamp twice: nothing new to read.
pub(crate) type Stamp = (Option<SystemTime>, Option<SystemTime>, bool);

#[derive(Debug, Clone)]
pub(crate) enum Source {
    /// smartctl, run by the service.
    Program(PathBuf),
    /// The outputs `--read-drives` wrote, and how old a reading may be before it is said to
    /// be stale (`None`: never).
    Directory { dir: PathBuf, stale: Option<Duration> },
}

/// The scan's file in a directory of readings.
const SCAN: &str = "scan.json";

impl Source {
    /// `smartctl --scan-open`'s output; `None` when a directory holds no readings yet (the
    /// reader has not run, or smartmontools is not installed where it runs).
    pub(crate) fn scan(&self, timeout: Duration) -> Result<Option<Output>, String> {
        match self {
            Source::Program(program) => run_scan(program, timeout).map(Some),
            Source::Directory { dir, .. } => {
                let path = dir.join(SCAN);
                let (text, at) = match read(&path) {
                    Ok(read) => read,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
                };
                let json = serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
                Ok(Some(Output { json, text, at }))
            }
        }
    }

    /// The files a directory holds for `found`: `None` when smartctl runs here (each reading is
    /// new).
    pub(crate) fn stamp(&self, found: &Found) -> Option<Stamp> {
        let Source::Directory { dir, stale } = self else {
            return None;
        };
        let label = parse::device_label(&found.path, &found.kind);
        let modified =
            |ext: &str| std::fs::metadata(dir.join(format!("{label}.{ext}"))).and_then(|m| m.modified()).ok();
        let (json, error) = (modified("json"), modified("error"));
        let newest = json.max(error);
        Some((json, error, too_old(*stale, newest).is_some()))
    }

    /// `found`'s reading: smartctl's JSON (whatever its exit status says) or why there is none.
    pub(crate) fn read(&self, found: &Found, timeout: Duration) -> Result<Output, String> {
        match self {
            Source::Program(program) => run_read(program, found, timeout),
            Source::Directory { dir, stale } => {
                let label = parse::device_label(&found.path, &found.kind);
                let json_path = dir.join(format!("{label}.json"));
                let error_path = dir.join(format!("{label}.error"));
                let error = read(&error_path).ok();
                let reading = read(&json_path);
                let at = |r: &std::io::Result<(String, SystemTime)>| r.as_ref().ok().map(|(_, at)| *at);
                let newest = at(&reading).max(error.as_ref().map(|(_, at)| *at));
                if let Some(age) = too_old(*stale, newest) {
                    return Err(format!(
                        "its last reading ({}) is {} min old: is system-stats-smart.timer running?",
                        json_path.display(),
                        age.as_secs() / 60
                    ));
                }
                if let Some((text, at)) = &error
                    && Some(*at) >= reading.as_ref().ok().map(|(_, at)| *at)
                {
                    return Err(text.trim().to_string());
                }
                let (text, at) = reading.map_err(|e| match e.kind() {
                    std::io::ErrorKind::NotFound => format!("no reading in {} yet", json_path.display()),
                    _ => format!("cannot read {}: {e}", json_path.display()),
                })?;
                let json =
                    serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", json_path.display()))?;
                Ok(Output { json, text, at })
            }
        }
    }
}

/// How old the newest of a drive's files is, when that is past `stale`.
fn too_old(stale: Option<Duration>, newest: Option<SystemTime>) -> Option<Duration> {
    let age = newest?.elapsed().ok()?;
    (age > stale?).then_some(age)
}

/// A file's text and modification time.
fn read(path: &Path) -> std::io::Result<(String, SystemTime)> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let at = file.metadata()?.modified()?;
    let mut text = String::new();
    // a drive's reading is a few tens of KiB; a file past 16 MiB is not smartctl's
    (&mut file).take(16 << 20).read_to_string(&mut text)?;
    Ok((text, at))
}

fn run_scan(program: &Path, timeout: Duration) -> Result<Output, String> {
    let out = program::run(program, &["--json=c", "--scan-open"], timeout)?;
    let json = serde_json::from_str(&out.stdout).map_err(|e| {
        format!("{} --scan-open printed no JSON ({e}); is it smartmontools 7.0 or later?", program.display())
    })?;
    Ok(Output { json, text: out.stdout, at: SystemTime::now() })
}

fn run_read(program: &Path, found: &Found, timeout: Duration) -> Result<Output, String> {
    let mut args: Vec<&str> = READ.to_vec();
    let device = format!("--device={}", found.kind);
    if found.kind != "auto" {
        args.push(&device);
    }
    args.push(&found.path);
    let out = program::run(program, &args, timeout)?;
    match serde_json::from_str::<Value>(&out.stdout) {
        Ok(json) => Ok(Output { json, text: out.stdout, at: SystemTime::now() }),
        Err(e) => {
            let code = out.code.map_or("a signal".to_string(), |c| format!("code {c}"));
            let said = if out.last_error.is_empty() { String::new() } else { format!(": {}", out.last_error) };
            Err(format!("{} printed no JSON ({e}; it exited with {code}{said})", program.display()))
        }
    }
}

/// How many drives `--read-drives` reads at once.
const READ_AT_ONCE: usize = 4;

/// What `--read-drives` did: each drive found and how its reading went.
#[derive(Debug)]
pub struct ReadDrives {
    pub drives: Vec<(String, Result<(), String>)>,
}

/// Why `--read-drives` wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum ReadDrivesError {
    #[error("{0} is not installed (install smartmontools, or set SYSTEM_STATS_SMARTCTL)")]
    NoProgram(String),
    #[error("{0} is not a directory")]
    NotADirectory(PathBuf),
    #[error("{0}")]
    Scan(String),
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// `--read-drives DIR`: scans for drives and reads each once (all at once, each bounded by
/// `timeout`), writing smartctl's outputs into `dir` (see the module's doc). The files of a
/// drive no longer found are removed. A drive that cannot be read is no failure (its
/// `.error` says why); a scan that fails or a directory that cannot be written is.
pub fn read_drives(setup: &crate::collect::Setup, dir: &Path) -> Result<ReadDrives, ReadDrivesError> {
    if !dir.is_dir() {
        return Err(ReadDrivesError::NotADirectory(dir.to_path_buf()));
    }
    let program =
        super::program_path(&setup.smartctl).ok_or_else(|| ReadDrivesError::NoProgram(setup.smartctl.clone()))?;
    let (program, timeout) = (program.as_path(), setup.smart_timeout);
    let scan = run_scan(program, timeout).map_err(ReadDrivesError::Scan)?;
    let found = parse_scan(&scan.json);
    // four drives at a time: a drive that hangs delays the others by its timeout at most,
    // and a shelf of disks stays within the unit's TasksMax (3 tasks a reading)
    let mut readings: Vec<(Found, Result<Output, String>)> = Vec::with_capacity(found.len());
    for group in found.chunks(READ_AT_ONCE) {
        std::thread::scope(|s| {
            let handles: Vec<_> = group
                .iter()
                .map(|f| {
                    (
                        f,
                        std::thread::Builder::new()
                            .name("read-drive".into())
                            .spawn_scoped(s, move || run_read(program, f, timeout)),
                    )
                })
                .collect();
            for (f, h) in handles {
                let outcome = match h {
                    Ok(h) => h.join().unwrap_or_else(|_| Err("its reading thread panicked".into())),
                    Err(e) => Err(format!("no thread to read it: {e}")),
                };
                readings.push((f.clone(), outcome));
            }
        });
    }
    let mut names = vec![SCAN.to_string()];
    let mut drives = Vec::new();
    for (f, reading) in readings {
        let label = parse::device_label(&f.path, &f.kind);
        match reading {
            Ok(out) => {
                write(dir, &format!("{label}.json"), out.text.trim_end())?;
                remove(dir, &format!("{label}.error"))?;
                drives.push((f.path.clone(), Ok(())));
            }
            Err(e) => {
                write(dir, &format!("{label}.error"), &e)?;
                drives.push((f.path.clone(), Err(e)));
            }
        }
        names.extend([format!("{label}.json"), format!("{label}.error")]);
    }
    write(dir, SCAN, scan.text.trim_end())?;
    // the files of drives gone, and what an interrupted run left
    let entries =
        std::fs::read_dir(dir).map_err(|source| ReadDrivesError::Write { path: dir.to_path_buf(), source })?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let ours = name.ends_with(".json") || name.ends_with(".error") || name.ends_with(".tmp");
        if ours && !names.contains(&name) {
            remove(dir, &name)?;
        }
    }
    Ok(ReadDrives { drives })
}

/// Writes `dir/name` whole: a temporary file renamed into place.
fn write(dir: &Path, name: &str, text: &str) -> Result<(), ReadDrivesError> {
    use std::io::Write;
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let err = |source| ReadDrivesError::Write { path: path.clone(), source };
    let mut file = std::fs::File::create(&tmp).map_err(err)?;
    file.write_all(text.as_bytes()).and_then(|()| file.write_all(b"\n")).and_then(|()| file.sync_all()).map_err(err)?;
    std::fs::rename(&tmp, &path).map_err(err)
}

fn remove(dir: &Path, name: &str) -> Result<(), ReadDrivesError> {
    let path = dir.join(name);
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(ReadDrivesError::Write { path, source: e }),
        _ => Ok(()),
    }
}
