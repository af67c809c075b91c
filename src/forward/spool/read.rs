//! Spool files read without the forwarder: `--check-spool`'s report, `--salvage-spool`'s
//! reading of a damaged file, and the names spools are kept under.

use std::path::{Path, PathBuf};

use redb::{ReadableDatabase, ReadableTable};

use super::faults::{Fault, close, guarded};
use super::{CACHE_BYTES, SAMPLES, SpoolError};

/// What `--check-spool` says of a spool file (and the forwarder's metrics of its spools).
#[derive(Debug, Clone)]
pub struct Report {
    pub path: PathBuf,
    pub samples: u64,
    pub bytes: u64,
    /// Entries that are not a snapshot.
    pub undecodable: u64,
    /// `collected_at` of the oldest and newest sample.
    pub oldest: Option<String>,
    pub newest: Option<String>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} sample(s), {} bytes", self.samples, self.bytes)?;
        if let (Some(a), Some(b)) = (&self.oldest, &self.newest) {
            write!(f, ", collected {a} to {b}")?;
        }
        if self.undecodable > 0 {
            write!(f, ", {} not a snapshot (removed when the forwarder meets them)", self.undecodable)?;
        }
        write!(f, " ({})", self.path.display())
    }
}

/// What could be read of a damaged spool file.
#[derive(Debug, Default)]
pub struct Salvage {
    /// The snapshots, oldest first, with their `collected_at`.
    pub samples: Vec<(String, Vec<u8>)>,
    /// Entries that are not a snapshot.
    pub undecodable: u64,
    /// Why reading stopped before the end, if it did.
    pub stopped: Option<String>,
}

/// Reads what still decodes of a spool file (one set aside as damaged), in order, up to where
/// it breaks, and leaves the file byte for byte as it was: redb repairs a file it opens that
/// was not closed cleanly and commits when it closes it, so the file is read through a copy
/// made beside it (`.salvaging-<pid>`) and removed after. Never panics: redb's panics on
/// damaged trees are caught at the open, the reads and the close.
pub fn salvage(path: &Path) -> Result<Salvage, SpoolError> {
    let name = format!(".salvaging-{}", std::process::id());
    let copy = path.with_file_name(name);
    if let Err(source) = std::fs::copy(path, &copy) {
        let _ = std::fs::remove_file(&copy);
        return Err(SpoolError::Io { path: path.to_path_buf(), op: "copy", source });
    }
    let read = salvage_copy(path, &copy);
    let _ = std::fs::remove_file(&copy);
    read
}

fn salvage_copy(path: &Path, copy: &Path) -> Result<Salvage, SpoolError> {
    let open = guarded(|| redb::Builder::new().set_cache_size(CACHE_BYTES).open(copy).map_err(redb::Error::from));
    let damaged = |detail: String| SpoolError::Damaged { path: path.to_path_buf(), detail, moved_to: None };
    let db = match open {
        Ok(db) => db,
        Err(Fault::Locked) => return Err(SpoolError::Locked { path: path.to_path_buf() }),
        Err(Fault::Io(source)) => return Err(SpoolError::Io { path: path.to_path_buf(), op: "open", source }),
        Err(Fault::Damaged(detail)) => return Err(damaged(detail)),
        Err(Fault::TooBig(n)) => return Err(damaged(format!("a value of {n} bytes"))),
    };
    let mut out = Salvage::default();
    let read = guarded(|| {
        let r = db.begin_read()?;
        let t = r.open_table(SAMPLES)?;
        for entry in t.iter()? {
            let (_, v) = entry?;
            match collected_at(v.value()) {
                Some(at) => out.samples.push((at, v.value().to_vec())),
                None => out.undecodable += 1,
            }
        }
        Ok(())
    });
    // a copy: what closing it does (or fails to do) is of no matter once it is read
    let _ = close(db);
    out.stopped = read.err().map(|f| match f {
        Fault::Io(e) => e.to_string(),
        Fault::Locked => "in use by another process".into(),
        Fault::Damaged(d) => d,
        Fault::TooBig(n) => format!("a value of {n} bytes"),
    });
    Ok(out)
}

/// A spooled sample's `collected_at`; `None` when it is neither a snapshot nor a scrape.
pub fn collected_at(sample: &[u8]) -> Option<String> {
    crate::forward::entry::collected_at(sample)
}

/// Reads a spool file without changing what it holds (redb may finish an interrupted commit)
/// and never setting it aside: the error says what is wrong.
pub fn inspect(path: &Path) -> Result<Report, SpoolError> {
    let open = guarded(|| redb::Builder::new().set_cache_size(CACHE_BYTES).open(path).map_err(redb::Error::from));
    let damaged = |detail: String| SpoolError::Damaged { path: path.to_path_buf(), detail, moved_to: None };
    let db = match open {
        Ok(db) => db,
        Err(Fault::Locked) => return Err(SpoolError::Locked { path: path.to_path_buf() }),
        Err(Fault::Io(source)) => return Err(SpoolError::Io { path: path.to_path_buf(), op: "open", source }),
        Err(Fault::Damaged(detail)) => return Err(damaged(detail)),
        Err(Fault::TooBig(n)) => return Err(damaged(format!("a value of {n} bytes"))),
    };
    let read = guarded(|| {
        let r = db.begin_read()?;
        let mut report =
            Report { path: path.to_path_buf(), samples: 0, bytes: 0, undecodable: 0, oldest: None, newest: None };
        let t = match r.open_table(SAMPLES) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(report),
            Err(e) => return Err(e.into()),
        };
        for entry in t.iter()? {
            let (_, v) = entry?;
            report.samples += 1;
            report.bytes += v.value().len() as u64;
            match collected_at(v.value()) {
                Some(at) => {
                    if report.oldest.is_none() {
                        report.oldest = Some(at.clone());
                    }
                    report.newest = Some(at);
                }
                None => report.undecodable += 1,
            }
        }
        Ok(report)
    });
    let read = read.and_then(|report| close(db).map(|()| report));
    read.map_err(|f| match f {
        Fault::Io(source) => SpoolError::Io { path: path.to_path_buf(), op: "read", source },
        Fault::Locked => SpoolError::Locked { path: path.to_path_buf() },
        Fault::Damaged(detail) => damaged(detail),
        Fault::TooBig(n) => damaged(format!("a value of {n} bytes")),
    })
}

/// FNV-1a (64 bits) of the parts one after the other: the same on every machine and in every
/// version, as what is kept on disk needs (a spool's file name, the last sample's name).
pub fn stable_hash(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in parts.iter().flat_map(|p| p.iter()) {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// The spool file name for a destination: its URL made file-safe, plus a stable hash of it
/// (FNV-1a, fixed forever: changing it would orphan every existing spool).
pub fn file_name(label: &str) -> String {
    let hash = stable_hash(&[label.as_bytes()]);
    let readable: String = label
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' })
        .take(60)
        .collect();
    format!("{readable}-{:08x}.redb", hash as u32)
}
