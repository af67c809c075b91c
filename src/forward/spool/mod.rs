//! A durable, bounded FIFO of samples for one destination, on redb.
//!
//! **Promise.** Every push and every removal is its own transaction committed with
//! `Durability::Immediate` (fsync) before the call returns: a sample pushed is on disk, a
//! sample removed after its 2xx is never sent again, whatever kills the process afterwards.
//! Samples are keyed by an increasing sequence number, so order is the key order. The spool
//! holds at most `max_bytes` of sample bytes: a push that would exceed it first removes the
//! oldest samples, in the same transaction. The name of the last sample pushed (a number the
//! caller derives from the sample's identity, `forward::source::sample_name`) is kept with them, so
//! that a restart does not spool the same sample twice. It is a name, not a time: a clock
//! that steps back (NTP correcting a clock that ran ahead, a Raspberry Pi without a real-time
//! clock) does not make the samples after the step look like ones already spooled.
//!
//! **Faults.** The spool survives what an SD card meets:
//! - *An I/O error* (a full disk, a failing card): the database is closed, what was committed
//!   stays, and it is opened again on the next operation after a backoff (0.5 s doubling to
//!   30 s) until the disk takes writes again. Meanwhile pushes fail (the caller counts those
//!   samples as not spooled) and a removal that could not be written is remembered, so that a
//!   delivered sample is not sent again while this process lives.
//! - *Damage* (a file redb calls corrupted, a panic inside redb, a file of another format): the
//!   file is renamed aside with a timestamp (`<name>.damaged-<UTC time>`), kept for
//!   inspection, one ERROR says where, and a fresh spool takes its place; the operation that
//!   met the damage is retried once on it.
//! - *A lock held by another process*: an error, never a rename.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use redb::{Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

mod faults;
mod read;

use faults::{Fault, close, guarded};
pub use read::{Report, collected_at, file_name, inspect, salvage, stable_hash};

const SAMPLES: TableDefinition<u64, &[u8]> = TableDefinition::new("samples");
/// `next_seq`: kept so that sequence numbers never repeat, even after the spool emptied;
/// `last_sample`: the name of the last sample pushed. (Spools written before it kept
/// `last_collected`, a time, which is ignored now.)
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// What a notification destination has been told (`forward::notify`), written in the same
/// transaction as the notices it spools: after a crash both are there, or neither.
const STATE: TableDefinition<&str, &[u8]> = TableDefinition::new("state");

/// redb's page cache per spool. Its default (1 GiB) would let the cache grow with the
/// backlog; a FIFO reads each page about once, so a small cache costs nothing.
const CACHE_BYTES: usize = 256 * 1024;

/// First wait before the database is opened again after an I/O error; it doubles up to
/// [`REOPEN_MAX`].
const REOPEN_FIRST: Duration = Duration::from_millis(500);
const REOPEN_MAX: Duration = Duration::from_secs(30);

/// A spool operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// Another process has the file open.
    #[error("spool {}: in use by another process", path.display())]
    Locked { path: PathBuf },
    /// The file was damaged; it was set aside (`moved_to`) when that was possible.
    #[error("spool {}: damaged ({detail}){}", path.display(), moved_to.as_ref().map(|p| format!("; moved to {}", p.display())).unwrap_or_default())]
    Damaged { path: PathBuf, detail: String, moved_to: Option<PathBuf> },
    /// Reading or writing failed (a full disk, a read-only or failing one).
    #[error("spool {}: cannot {op}: {source}", path.display())]
    Io { path: PathBuf, op: &'static str, source: std::io::Error },
    /// Closed after an I/O error, until it can be opened again.
    #[error("spool {}: closed after an I/O error ({why}); next try in {:.1} s", path.display(), retry_in.as_secs_f64())]
    Closed { path: PathBuf, why: String, retry_in: Duration },
    /// A sample larger than the whole spool.
    #[error("a {size}-byte sample exceeds the spool's {max} bytes (SYSTEM_STATS_SPOOL_MAX_BYTES)")]
    TooBig { size: u64, max: u64 },
}

impl SpoolError {
    /// Whether it failed for want of space on the disk (`ENOSPC`), now or when it was closed.
    pub(crate) fn is_out_of_space(&self) -> bool {
        match self {
            SpoolError::Io { source, .. } => {
                source.raw_os_error() == Some(libc::ENOSPC) || source.kind() == std::io::ErrorKind::StorageFull
            }
            SpoolError::Closed { why, .. } => why.contains(&format!("(os error {})", libc::ENOSPC)),
            _ => false,
        }
    }
}

/// What a push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pushed {
    pub seq: u64,
    /// Oldest samples removed to make room.
    pub evicted: u64,
}

/// Opens (or creates) the database: the file, or a test's storage.
type Opener = Box<dyn Fn() -> Result<Database, redb::DatabaseError> + Send>;

pub struct Spool {
    path: PathBuf,
    opener: Opener,
    /// `None` while closed after an I/O error.
    db: Option<Database>,
    max_bytes: u64,
    len: u64,
    bytes: u64,
    next_seq: u64,
    last_sample: Option<u64>,
    /// Samples delivered (or dropped) whose removal could not be written yet.
    removed: BTreeSet<u64>,
    /// While closed: why, when to try again and how long to wait after that.
    closed: Option<(String, Instant, Duration)>,
    /// Damaged files set aside since start (shared with whoever reports it without waiting
    /// for the spool: [`Spool::set_aside_counter`]).
    set_aside: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// The highest sequence number removed: the oldest sample given out after that must be
    /// newer (a damaged tree can give out a removed sample again, which would be re-sent
    /// forever).
    removed_up_to: Option<u64>,
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool").field("path", &self.path).field("len", &self.len).field("bytes", &self.bytes).finish()
    }
}

/// The counts a database holds.
struct Contents {
    len: u64,
    bytes: u64,
    next_seq: u64,
    last_sample: Option<u64>,
}

fn contents(db: &Database) -> Result<Contents, redb::Error> {
    let w = db.begin_write()?;
    w.open_table(SAMPLES)?;
    w.open_table(META)?;
    w.commit()?;
    let r = db.begin_read()?;
    let t = r.open_table(SAMPLES)?;
    let (mut len, mut bytes, mut next_seq) = (0, 0, 0);
    for entry in t.iter()? {
        let (k, v) = entry?;
        len += 1;
        bytes += v.value().len() as u64;
        next_seq = k.value() + 1;
    }
    let meta = r.open_table(META)?;
    if let Some(saved) = meta.get("next_seq")? {
        next_seq = next_seq.max(saved.value());
    }
    let last_sample = meta.get("last_sample")?.map(|v| v.value());
    Ok(Contents { len, bytes, next_seq, last_sample })
}

/// Where a damaged spool file is set aside: `<name>.damaged-<UTC time>`.
pub fn aside_path(path: &Path) -> PathBuf {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".damaged-{stamp}"));
    path.with_file_name(name)
}

impl Spool {
    /// Opens (or creates) the spool at `path`. A damaged file is set aside and replaced by a
    /// fresh one (logged); a file held by another process, or one that cannot be read or
    /// written, is an error.
    pub fn open(path: &Path, max_bytes: u64) -> Result<Spool, SpoolError> {
        // a file of 0 bytes (cut short while it was created: a crash, a full disk) would be
        // made a fresh database without a word; it is damage like any other, and said so
        let empty = std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() == 0);
        let file = path.to_path_buf();
        let opener: Opener = Box::new(move || redb::Builder::new().set_cache_size(CACHE_BYTES).create(&file));
        let spool = Self::open_with(path, opener, max_bytes)?;
        if empty {
            spool.set_aside.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::error!(
                "spool {} is damaged (an empty file: cut short when it was created, by a crash or a full disk); it \
                 held no sample, and is a fresh spool now",
                path.display()
            );
        }
        Ok(spool)
    }

    fn open_with(path: &Path, opener: Opener, max_bytes: u64) -> Result<Spool, SpoolError> {
        let mut spool = Spool {
            path: path.to_path_buf(),
            opener,
            db: None,
            max_bytes,
            len: 0,
            bytes: 0,
            next_seq: 0,
            last_sample: None,
            removed: BTreeSet::new(),
            closed: None,
            set_aside: Default::default(),
            removed_up_to: None,
        };
        match spool.reopen() {
            Ok(()) => Ok(spool),
            Err(Fault::Damaged(detail)) => {
                spool.set_damaged_aside(&detail)?;
                Ok(spool)
            }
            // a disk that is full or failing now may take writes later: start closed
            Err(Fault::Io(e))
                if !matches!(
                    e.kind(),
                    std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
                ) =>
            {
                let _ = spool.error("open", Fault::Io(e));
                Ok(spool)
            }
            Err(f) => Err(spool.error("open", f)),
        }
    }

    /// Opens the database and reads its counts.
    fn reopen(&mut self) -> Result<(), Fault> {
        self.close();
        let db = guarded(|| (self.opener)().map_err(redb::Error::from))?;
        let c = guarded(|| contents(&db))?;
        (self.len, self.bytes, self.next_seq, self.last_sample) = (c.len, c.bytes, c.next_seq, c.last_sample);
        self.db = Some(db);
        self.closed = None;
        // removals of delivered samples that could not be written before
        let pending: Vec<u64> = std::mem::take(&mut self.removed).into_iter().collect();
        for seq in pending {
            if let Err(e) = self.remove(seq) {
                tracing::debug!("{e}");
            }
        }
        Ok(())
    }

    /// Closes the database, if open: see [`close`].
    fn close(&mut self) {
        if let Some(db) = self.db.take()
            && let Err(Fault::Damaged(why)) = close(db)
        {
            tracing::debug!("spool {}: closing it met damage ({why})", self.path.display());
        }
    }

    /// Sets the damaged file aside and starts a fresh spool in its place; returns where the
    /// damaged file went.
    fn set_damaged_aside(&mut self, detail: &str) -> Result<PathBuf, SpoolError> {
        self.close();
        let aside = aside_path(&self.path);
        let lost = self.len;
        if let Err(e) = std::fs::rename(&self.path, &aside) {
            return Err(SpoolError::Damaged {
                path: self.path.clone(),
                detail: format!("{detail}; it could not be moved aside: {e}"),
                moved_to: None,
            });
        }
        self.set_aside.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.removed.clear();
        self.removed_up_to = None;
        tracing::error!(
            "spool {} is damaged ({detail}); moved to {} for inspection, a fresh spool takes its place{}",
            self.path.display(),
            aside.display(),
            if lost > 0 { format!(" ({lost} sample(s) in it are not delivered)") } else { String::new() }
        );
        match self.reopen() {
            Ok(()) => Ok(aside),
            Err(f) => Err(self.error("create a fresh spool", f)),
        }
    }

    fn error(&mut self, op: &'static str, f: Fault) -> SpoolError {
        match f {
            Fault::Locked => SpoolError::Locked { path: self.path.clone() },
            Fault::TooBig(size) => SpoolError::TooBig { size, max: self.max_bytes },
            Fault::Io(source) => {
                // closed until a later operation finds the disk usable again
                let delay = self.closed.as_ref().map_or(REOPEN_FIRST, |(_, _, d)| (*d * 2).min(REOPEN_MAX));
                self.close();
                self.closed = Some((source.to_string(), Instant::now() + delay, delay));
                SpoolError::Io { path: self.path.clone(), op, source }
            }
            Fault::Damaged(detail) => match self.set_damaged_aside(&detail) {
                Ok(aside) => SpoolError::Damaged { path: self.path.clone(), detail, moved_to: Some(aside) },
                Err(e) => e,
            },
        }
    }

    /// The open database, opening it again if it was closed after an I/O error and its
    /// backoff has passed.
    fn db(&mut self) -> Result<&Database, SpoolError> {
        if self.db.is_none() {
            match &self.closed {
                Some((why, at, _)) if Instant::now() < *at => {
                    return Err(SpoolError::Closed {
                        path: self.path.clone(),
                        why: why.clone(),
                        retry_in: at.saturating_duration_since(Instant::now()),
                    });
                }
                _ => {}
            }
            if let Err(f) = self.reopen() {
                return Err(self.error("open", f));
            }
            tracing::info!("spool {} is open again", self.path.display());
        }
        self.db.as_ref().ok_or_else(|| SpoolError::Closed {
            path: self.path.clone(),
            why: "not open".into(),
            retry_in: Duration::ZERO,
        })
    }

    /// Runs one operation on the database; damage is set aside and the operation retried
    /// once on the fresh spool.
    fn run<T>(
        &mut self,
        op: &'static str,
        f: impl Fn(&Database, &Spool) -> Result<T, redb::Error>,
    ) -> Result<T, SpoolError> {
        for attempt in 0..2 {
            self.db()?;
            let Some(db) = self.db.as_ref() else { continue };
            let result = guarded(|| f(db, self));
            match result {
                Ok(v) => return Ok(v),
                Err(Fault::Damaged(detail)) if attempt == 0 => {
                    self.set_damaged_aside(&detail)?;
                }
                Err(fault) => return Err(self.error(op, fault)),
            }
        }
        Err(SpoolError::Damaged { path: self.path.clone(), detail: "damaged again".into(), moved_to: None })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Samples held (delivered ones whose removal is pending not counted).
    pub fn samples(&self) -> u64 {
        self.len
    }

    /// Sample bytes held.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The name of the last sample pushed.
    #[cfg(test)]
    pub(crate) fn last_sample(&self) -> Option<u64> {
        self.last_sample
    }

    /// Damaged files set aside since this spool was opened.
    pub(crate) fn set_aside(&self) -> u64 {
        self.set_aside.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The count of [`Spool::set_aside`], to read while the spool is busy.
    pub(crate) fn set_aside_counter(&self) -> std::sync::Arc<std::sync::atomic::AtomicU64> {
        std::sync::Arc::clone(&self.set_aside)
    }

    /// Whether the spool is closed after an I/O error, and why.
    pub(crate) fn closed_because(&self) -> Option<&str> {
        self.closed.as_ref().map(|(why, _, _)| why.as_str())
    }

    /// Appends a sample, durably, with its name; removes the oldest ones first if it would
    /// not fit. `Ok(None)` when the last sample pushed had that name (a restart polling the
    /// same sample again).
    pub fn push(&mut self, sample: &[u8], name: u64) -> Result<Option<Pushed>, SpoolError> {
        if self.last_sample == Some(name) {
            return Ok(None);
        }
        self.append(sample, Some(name)).map(Some)
    }

    /// The state kept under `key` (`None` if never written).
    pub fn state(&mut self, key: &str) -> Result<Option<Vec<u8>>, SpoolError> {
        self.run("read", |db, _| {
            let r = db.begin_read()?;
            let t = match r.open_table(STATE) {
                Ok(t) => t,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            Ok(t.get(key)?.map(|v| v.value().to_vec()))
        })
    }

    /// Appends `entries` (notices made from the sample named `name`) and writes `state` under
    /// `key`, in one durable transaction. `Ok(None)` when the last sample pushed had that name
    /// (nothing written). Entries do not evict older ones: a notice is never dropped to make
    /// room; past the spool's size they are refused (an error) and the state stays as it was.
    pub fn push_with_state(
        &mut self,
        entries: &[Vec<u8>],
        name: u64,
        key: &str,
        state: &[u8],
    ) -> Result<Option<Pushed>, SpoolError> {
        if self.last_sample == Some(name) {
            return Ok(None);
        }
        let size: u64 = entries.iter().map(|e| e.len() as u64).sum();
        if self.bytes + size > self.max_bytes {
            return Err(SpoolError::TooBig { size: self.bytes + size, max: self.max_bytes });
        }
        let first = self.run("write", |db, s| {
            let mut w = db.begin_write()?;
            w.set_durability(Durability::Immediate)?;
            {
                let mut t = w.open_table(SAMPLES)?;
                for (i, e) in entries.iter().enumerate() {
                    t.insert(s.next_seq + i as u64, e.as_slice())?;
                }
                let mut meta = w.open_table(META)?;
                meta.insert("next_seq", s.next_seq + entries.len() as u64)?;
                meta.insert("last_sample", name)?;
                let mut st = w.open_table(STATE)?;
                st.insert(key, state)?;
            }
            w.commit()?;
            Ok(s.next_seq)
        })?;
        self.next_seq = first + entries.len() as u64;
        self.len += entries.len() as u64;
        self.bytes += size;
        self.last_sample = Some(name);
        Ok(Some(Pushed { seq: first, evicted: 0 }))
    }

    /// Appends a sample salvaged from a damaged spool: older than what this spool holds, so
    /// the name of the last sample pushed stays.
    pub fn push_salvaged(&mut self, sample: &[u8]) -> Result<Pushed, SpoolError> {
        self.append(sample, None)
    }

    fn append(&mut self, sample: &[u8], name: Option<u64>) -> Result<Pushed, SpoolError> {
        let size = sample.len() as u64;
        if size > self.max_bytes {
            return Err(SpoolError::TooBig { size, max: self.max_bytes });
        }
        let (evicted, freed, seq) = self.run("write", |db, s| {
            let mut w = db.begin_write()?;
            w.set_durability(Durability::Immediate)?;
            let (mut evicted, mut freed) = (0u64, 0u64);
            {
                let mut t = w.open_table(SAMPLES)?;
                while s.bytes.saturating_sub(freed) + size > s.max_bytes {
                    let Some((_, v)) = t.pop_first()? else { break };
                    freed += v.value().len() as u64;
                    evicted += 1;
                }
                t.insert(s.next_seq, sample)?;
                let mut meta = w.open_table(META)?;
                meta.insert("next_seq", s.next_seq + 1)?;
                if let Some(name) = name {
                    meta.insert("last_sample", name)?;
                }
            }
            w.commit()?;
            Ok((evicted, freed, s.next_seq))
        })?;
        self.next_seq = seq + 1;
        self.len = (self.len + 1).saturating_sub(evicted);
        self.bytes = (self.bytes + size).saturating_sub(freed);
        if name.is_some() {
            self.last_sample = name;
        }
        Ok(Pushed { seq, evicted })
    }

    /// The oldest sample not yet delivered, if any.
    pub fn oldest(&mut self) -> Result<Option<(u64, Vec<u8>)>, SpoolError> {
        self.run("read", |db, s| {
            let r = db.begin_read()?;
            let t = r.open_table(SAMPLES)?;
            for entry in t.iter()? {
                let (k, v) = entry?;
                if s.removed.contains(&k.value()) {
                    continue;
                }
                if s.removed_up_to.is_some_and(|done| k.value() <= done) {
                    return Err(redb::Error::Corrupted(format!("sample {} came back after its removal", k.value())));
                }
                return Ok(Some((k.value(), v.value().to_vec())));
            }
            Ok(None)
        })
    }

    /// Removes a sample (delivered, or dropped), durably. When that cannot be written, the
    /// sample is remembered as removed (never returned by [`Spool::oldest`] again) and its
    /// removal written once the disk takes writes again; the error is returned.
    /// `Ok(false)` if it was not there (evicted meanwhile).
    pub fn remove(&mut self, seq: u64) -> Result<bool, SpoolError> {
        let result = self.run("remove", |db, _| {
            let mut w = db.begin_write()?;
            w.set_durability(Durability::Immediate)?;
            let removed = {
                let mut t = w.open_table(SAMPLES)?;
                // a sample the tree lists but cannot find is damage, not "already gone"
                let listed = t.iter()?.next().transpose()?.is_some_and(|(k, _)| k.value() == seq);
                let v = t.remove(seq)?;
                let removed = v.map(|v| v.value().len() as u64);
                if listed && removed.is_none() {
                    return Err(redb::Error::Corrupted(format!("sample {seq} is listed but cannot be removed")));
                }
                removed
            };
            w.commit()?;
            Ok(removed)
        });
        match result {
            Ok(removed) => {
                self.removed.remove(&seq);
                if removed.is_some() {
                    self.removed_up_to = self.removed_up_to.max(Some(seq));
                }
                if let Some(size) = removed {
                    self.len = self.len.saturating_sub(1);
                    self.bytes = self.bytes.saturating_sub(size);
                }
                Ok(removed.is_some())
            }
            Err(e) => {
                if self.db.is_none() && self.closed.is_some() && self.removed.insert(seq) {
                    self.len = self.len.saturating_sub(1);
                }
                Err(e)
            }
        }
    }

    /// Counts samples on disk (a check of the cached counters, for tests and `--check-spool`).
    pub fn count_on_disk(&mut self) -> Result<u64, SpoolError> {
        self.run("read", |db, _| {
            let r = db.begin_read()?;
            let t = r.open_table(SAMPLES)?;
            Ok(t.len()?)
        })
    }

    /// What the spool holds now, in the shape `--check-spool` reports a file (the forwarder's
    /// metrics show the same figures): the counts kept as samples come and go, and the
    /// collection times of its first and last samples.
    pub fn report(&mut self) -> Result<Report, SpoolError> {
        let (samples, bytes, path) = (self.len, self.bytes, self.path.clone());
        let (oldest, newest) = self.run("read", |db, _| {
            let r = db.begin_read()?;
            let t = match r.open_table(SAMPLES) {
                Ok(t) => t,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok((None, None)),
                Err(e) => return Err(e.into()),
            };
            let at = |e: Option<(redb::AccessGuard<'_, u64>, redb::AccessGuard<'_, &[u8]>)>| {
                e.and_then(|(_, v)| collected_at(v.value()))
            };
            Ok((at(t.first()?), at(t.last()?)))
        })?;
        Ok(Report { path, samples, bytes, undecodable: 0, oldest, newest })
    }

    /// The sequence numbers and sizes of every sample, oldest first (`--check-spool`).
    pub fn entries(&mut self) -> Result<Vec<(u64, Vec<u8>)>, SpoolError> {
        self.run("read", |db, _| {
            let r = db.begin_read()?;
            let t = r.open_table(SAMPLES)?;
            let mut out = Vec::new();
            for entry in t.iter()? {
                let (k, v) = entry?;
                out.push((k.value(), v.value().to_vec()));
            }
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[test]
    fn fifo_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        {
            let mut s = Spool::open(&path, 1 << 20).unwrap();
            assert_eq!(s.push(b"one", 10).unwrap(), Some(Pushed { seq: 0, evicted: 0 }));
            s.push(b"two", 20).unwrap();
            s.push(b"three", 30).unwrap();
            assert!(s.remove(0).unwrap());
            assert!(!s.remove(0).unwrap());
        }
        let mut s = Spool::open(&path, 1 << 20).unwrap();
        assert_eq!((s.samples(), s.bytes(), s.last_sample()), (2, 8, Some(30)));
        assert_eq!(s.oldest().unwrap(), Some((1, b"two".to_vec())));
        // the same sample polled again after a restart is not spooled twice
        assert_eq!(s.push(b"three", 30).unwrap(), None);
        // sequence numbers continue after the last one kept
        assert_eq!(s.push(b"four", 40).unwrap().unwrap().seq, 3);
    }

    /// A sample is recognised by its name, not by any order of names: what a clock stepping
    /// back gives (a smaller time, or a name that sorts before the last) is spooled, in the
    /// order pushed; only the last sample's name again is not. A salvaged sample leaves the
    /// last name as it was.
    #[test]
    fn samples_are_told_apart_by_name_not_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let mut s = Spool::open(&path, 1 << 20).unwrap();
        for (sample, name) in [(&b"a"[..], 500u64), (b"b", 100), (b"c", 7), (b"d", 500)] {
            assert!(s.push(sample, name).unwrap().is_some(), "{name}");
        }
        assert_eq!(s.push(b"d again", 500).unwrap(), None);
        assert!(s.push_salvaged(b"old").is_ok());
        assert_eq!(s.last_sample(), Some(500));
        drop(s);
        let mut s = Spool::open(&path, 1 << 20).unwrap();
        assert_eq!(s.push(b"d after a restart", 500).unwrap(), None);
        let order: Vec<Vec<u8>> = s.entries().unwrap().into_iter().map(|(_, v)| v).collect();
        assert_eq!(order, [&b"a"[..], b"b", b"c", b"d", b"old"]);
    }

    #[test]
    fn a_full_spool_drops_the_oldest() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(&dir.path().join("s.redb"), 10).unwrap();
        s.push(b"aaaa", 1).unwrap();
        s.push(b"bbbb", 2).unwrap();
        assert_eq!(s.push(b"cccc", 3).unwrap().unwrap().evicted, 1);
        assert_eq!(s.oldest().unwrap().unwrap().1, b"bbbb");
        assert!(matches!(s.push(&[0; 11], 4).unwrap_err(), SpoolError::TooBig { size: 11, max: 10 }));
        assert_eq!(s.push(b"0123456789", 5).unwrap().unwrap().evicted, 2);
        assert_eq!((s.samples(), s.bytes()), (1, 10));
    }

    #[test]
    fn a_spool_in_use_cannot_be_opened_twice() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let _first = Spool::open(&path, 100).unwrap();
        let err = Spool::open(&path, 100).unwrap_err();
        assert!(matches!(err, SpoolError::Locked { .. }), "{err}");
        // and it was not taken for damage
        assert!(path.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    /// Existing spools are found by these names: they must never change.
    #[test]
    fn file_names_are_safe_distinct_and_fixed() {
        let a = file_name("http://127.0.0.1:5050/metrics");
        assert_eq!(a, "127.0.0.1_5050_metrics-5c7e1e40.redb");
        assert_ne!(a, file_name("http://127.0.0.1:5050/metrics/"));
        assert!(!file_name("http://x/../../etc").contains('/'));
    }

    /// Damaged files, whatever the damage, are set aside and replaced: never an error, never
    /// a panic. Over fixed seeds: random bytes at random offsets, a zeroed header, truncations.
    #[test]
    fn damaged_files_are_set_aside_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let healthy = dir.path().join("healthy.redb");
        {
            let mut s = Spool::open(&healthy, 1 << 20).unwrap();
            for i in 0..40u64 {
                s.push(format!("{{\"sample\":{i},\"pad\":\"{}\"}}", "x".repeat(300)).as_bytes(), i + 1).unwrap();
            }
        }
        let original = std::fs::read(&healthy).unwrap();
        let mut damages: Vec<(String, Vec<u8>)> = vec![
            ("zeroed header".into(), {
                let mut b = original.clone();
                let n = 4096.min(b.len());
                b[..n].fill(0);
                b
            }),
            ("truncated to half".into(), original[..original.len() / 2].to_vec()),
            ("truncated to 100 bytes".into(), original[..100].to_vec()),
            ("empty".into(), Vec::new()),
            ("not a database".into(), b"{\"this is\": \"json\"}\n".repeat(100)),
        ];
        for seed in 0..60u64 {
            let mut rng = fastrand::Rng::with_seed(seed);
            let mut b = original.clone();
            for _ in 0..rng.usize(1..20) {
                let at = rng.usize(..b.len());
                let n = rng.usize(1..64).min(b.len() - at);
                rng.fill(&mut b[at..at + n]);
            }
            damages.push((format!("seed {seed}"), b));
        }
        for (what, bytes) in damages {
            let path = dir.path().join(format!("damaged-{}.redb", what.replace(' ', "-")));
            std::fs::write(&path, &bytes).unwrap();
            let mut s = Spool::open(&path, 1 << 20).unwrap_or_else(|e| panic!("{what}: {e}"));
            // whatever is readable or fresh, the spool works
            let mut read = 0;
            loop {
                match s.oldest() {
                    Ok(Some((seq, _))) => {
                        read += 1;
                        let _ = s.remove(seq);
                        assert!(read <= 40, "{what}: more samples than were written");
                    }
                    Ok(None) => break,
                    Err(e) => panic!("{what}: {e}"),
                }
            }
            let pushed = s.push(b"after", 1_000).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert!(pushed.is_some(), "{what}");
            assert_eq!(s.oldest().unwrap().unwrap().1, b"after", "{what}");
        }
        // every damaged file that was replaced is still there, renamed, for inspection
        let aside = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().contains(".damaged-"))
            .count();
        assert!(aside >= 5, "only {aside} files set aside");
    }

    /// A storage whose writes fail while `failing` is set, as a full disk's do.
    #[derive(Debug)]
    struct FlakyDisk {
        inner: Arc<redb::backends::InMemoryBackend>,
        failing: Arc<AtomicBool>,
    }

    impl redb::StorageBackend for FlakyDisk {
        fn len(&self) -> Result<u64, std::io::Error> {
            self.inner.len()
        }
        fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
            self.inner.read(offset, out)
        }
        fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
            if self.failing.load(Ordering::SeqCst) && len > self.inner.len()? {
                return Err(std::io::Error::from_raw_os_error(libc::ENOSPC));
            }
            self.inner.set_len(len)
        }
        fn sync_data(&self) -> Result<(), std::io::Error> {
            self.inner.sync_data()
        }
        fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
            if self.failing.load(Ordering::SeqCst) {
                return Err(std::io::Error::from_raw_os_error(libc::ENOSPC));
            }
            self.inner.write(offset, data)
        }
    }

    fn flaky_spool(disk: &Arc<redb::backends::InMemoryBackend>, failing: &Arc<AtomicBool>, max: u64) -> Spool {
        let (disk, failing) = (Arc::clone(disk), Arc::clone(failing));
        let opener: Opener = Box::new(move || {
            let backend = FlakyDisk { inner: Arc::clone(&disk), failing: Arc::clone(&failing) };
            redb::Builder::new().set_cache_size(CACHE_BYTES).create_with_backend(backend)
        });
        let mut s = Spool::open_with(Path::new("flaky.redb"), opener, max).unwrap();
        // tests do not wait for the backoff
        s.closed = None;
        s
    }

    #[derive(Debug, Clone)]
    enum Op {
        Push(usize),
        RemoveOldest,
        RemoveMissing,
        /// The process restarts (what was only in memory is gone).
        Reopen,
        /// The disk fills up, or has room again.
        Disk(bool),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (1usize..300).prop_map(Op::Push),
            3 => Just(Op::RemoveOldest),
            1 => Just(Op::RemoveMissing),
            1 => Just(Op::Reopen),
            1 => any::<bool>().prop_map(Op::Disk),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Against a simple bounded queue, with writes failing while the disk is full: a push
        /// that failed is not spooled; a delivered sample whose removal failed is not given
        /// out again while the process lives, and is given out again at most once after a
        /// restart; committed samples survive everything, in order; the byte bound holds.
        #[test]
        fn behaves_like_a_bounded_queue_on_a_flaky_disk(ops in proptest::collection::vec(op(), 1..80)) {
            const MAX: u64 = 1000;
            let disk = Arc::new(redb::backends::InMemoryBackend::new());
            let failing = Arc::new(AtomicBool::new(false));
            let mut spool = flaky_spool(&disk, &failing, MAX);
            // the samples on disk, and those removed in memory only (`removed`)
            let mut model: VecDeque<(u64, Vec<u8>)> = VecDeque::new();
            let mut removed_in_memory: BTreeSet<u64> = BTreeSet::new();
            let mut next = 0u64;
            let mut clock = 0u64;
            for op in ops {
                spool.closed = None;
                match op {
                    Op::Push(n) => {
                        clock += 1;
                        let sample: Vec<u8> = (0..n).map(|i| (i as u64 + next) as u8).collect();
                        match spool.push(&sample, clock) {
                            Ok(pushed) => {
                                let pushed = pushed.unwrap();
                                let mut evicted = 0;
                                while model.iter().map(|(_, s)| s.len() as u64).sum::<u64>() + n as u64 > MAX {
                                    let (seq, _) = model.pop_front().unwrap();
                                    removed_in_memory.remove(&seq);
                                    evicted += 1;
                                }
                                prop_assert_eq!(pushed, Pushed { seq: next, evicted });
                                model.push_back((next, sample));
                                next += 1;
                            }
                            Err(e) => prop_assert!(failing.load(Ordering::SeqCst), "{e}"),
                        }
                    }
                    Op::RemoveOldest => {
                        let want = model.iter().find(|(seq, _)| !removed_in_memory.contains(seq)).cloned();
                        let got = spool.oldest();
                        match (&got, failing.load(Ordering::SeqCst)) {
                            (Ok(got), _) => prop_assert_eq!(got, &want),
                            // reading needs the database open: after a failed write it is closed
                            (Err(_), true) => continue,
                            (Err(e), false) => prop_assert!(false, "{e}"),
                        }
                        if let Some((seq, _)) = want {
                            match spool.remove(seq) {
                                Ok(found) => {
                                    prop_assert!(found);
                                    model.retain(|(s, _)| *s != seq);
                                }
                                Err(_) => {
                                    prop_assert!(failing.load(Ordering::SeqCst));
                                    removed_in_memory.insert(seq);
                                }
                            }
                        }
                    }
                    Op::RemoveMissing => {
                        if let Ok(found) = spool.remove(next + 1000) {
                            prop_assert!(!found);
                        }
                    }
                    Op::Reopen => {
                        drop(spool);
                        spool = flaky_spool(&disk, &failing, MAX);
                        // what was removed in memory only is given out again (one re-send)
                        removed_in_memory.clear();
                    }
                    Op::Disk(full) => failing.store(full, Ordering::SeqCst),
                }
                if !failing.load(Ordering::SeqCst) {
                    // with room on the disk, pending removals are written on the next open
                    spool.closed = None;
                    let on_disk = spool.count_on_disk().unwrap();
                    model.retain(|(seq, _)| !removed_in_memory.contains(seq) || spool.removed.contains(seq));
                    removed_in_memory.retain(|seq| spool.removed.contains(seq));
                    prop_assert_eq!(on_disk, model.len() as u64);
                    prop_assert!(spool.bytes() <= MAX);
                }
            }
        }
    }
}
