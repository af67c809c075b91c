//! A durable, bounded FIFO of samples for one destination, on redb.
//!
//! Every push and every removal is its own transaction committed with
//! `Durability::Immediate` (fsync) before the call returns: a sample pushed is on disk, a
//! sample removed after its 2xx is never sent again, whatever kills the process afterwards.
//! Samples are keyed by an increasing sequence number, so order is the key order. The spool
//! holds at most `max_bytes` of sample bytes: a push that would exceed it first removes the
//! oldest samples, in the same transaction.

use std::path::{Path, PathBuf};

use redb::{Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

const SAMPLES: TableDefinition<u64, &[u8]> = TableDefinition::new("samples");
/// `next_seq`: kept so that sequence numbers never repeat, even after the spool emptied.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// redb's page cache per spool. Its default (1 GiB) would let the cache grow with the
/// backlog; a FIFO reads each page about once, so a small cache costs nothing.
const CACHE_BYTES: usize = 256 * 1024;

/// A spool operation that failed (the disk, a corrupt file, a lock held by another process).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolError(pub String);

impl std::fmt::Display for SpoolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SpoolError {}

/// What a push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pushed {
    pub seq: u64,
    /// Oldest samples removed to make room.
    pub evicted: u64,
}

pub struct Spool {
    db: Database,
    path: PathBuf,
    max_bytes: u64,
    len: u64,
    bytes: u64,
    next_seq: u64,
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool").field("path", &self.path).field("len", &self.len).field("bytes", &self.bytes).finish()
    }
}

impl Spool {
    /// Opens (or creates) the spool at `path`. Fails if another process has it open.
    pub fn open(path: &Path, max_bytes: u64) -> Result<Spool, SpoolError> {
        let err = |what: &str, e: &dyn std::fmt::Display| SpoolError(format!("spool {}: {what}: {e}", path.display()));
        let db = redb::Builder::new().set_cache_size(CACHE_BYTES).create(path).map_err(|e| err("cannot open", &e))?;
        let w = db.begin_write().map_err(|e| err("begin", &e))?;
        w.open_table(SAMPLES).map_err(|e| err("table", &e))?;
        w.open_table(META).map_err(|e| err("table", &e))?;
        w.commit().map_err(|e| err("commit", &e))?;
        let (mut len, mut bytes, mut next_seq) = (0, 0, 0);
        {
            let r = db.begin_read().map_err(|e| err("begin", &e))?;
            let t = r.open_table(SAMPLES).map_err(|e| err("table", &e))?;
            for entry in t.iter().map_err(|e| err("scan", &e))? {
                let (k, v) = entry.map_err(|e| err("scan", &e))?;
                len += 1;
                bytes += v.value().len() as u64;
                next_seq = k.value() + 1;
            }
            let meta = r.open_table(META).map_err(|e| err("table", &e))?;
            if let Some(saved) = meta.get("next_seq").map_err(|e| err("meta", &e))? {
                next_seq = next_seq.max(saved.value());
            }
        }
        Ok(Spool { db, path: path.to_path_buf(), max_bytes, len, bytes, next_seq })
    }

    fn err(&self, what: &str, e: impl std::fmt::Display) -> SpoolError {
        SpoolError(format!("spool {}: {what}: {e}", self.path.display()))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Samples held.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Sample bytes held.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Appends a sample, durably; removes the oldest ones first if it would not fit.
    pub fn push(&mut self, sample: &[u8]) -> Result<Pushed, SpoolError> {
        let size = sample.len() as u64;
        if size > self.max_bytes {
            return Err(self.err("push", format!("a {size}-byte sample exceeds the spool's {} bytes", self.max_bytes)));
        }
        let mut w = self.db.begin_write().map_err(|e| self.err("begin", e))?;
        w.set_durability(Durability::Immediate).map_err(|e| self.err("durability", e))?;
        let (mut evicted, mut freed) = (0, 0);
        {
            let mut t = w.open_table(SAMPLES).map_err(|e| self.err("table", e))?;
            while self.bytes - freed + size > self.max_bytes {
                let Some((_, v)) = t.pop_first().map_err(|e| self.err("evict", e))? else { break };
                freed += v.value().len() as u64;
                evicted += 1;
            }
            t.insert(self.next_seq, sample).map_err(|e| self.err("insert", e))?;
            let mut meta = w.open_table(META).map_err(|e| self.err("table", e))?;
            meta.insert("next_seq", self.next_seq + 1).map_err(|e| self.err("meta", e))?;
        }
        w.commit().map_err(|e| self.err("commit", e))?;
        let seq = self.next_seq;
        self.next_seq += 1;
        self.len = self.len + 1 - evicted;
        self.bytes = self.bytes - freed + size;
        Ok(Pushed { seq, evicted })
    }

    /// The oldest sample, if any.
    pub fn oldest(&self) -> Result<Option<(u64, Vec<u8>)>, SpoolError> {
        let r = self.db.begin_read().map_err(|e| self.err("begin", e))?;
        let t = r.open_table(SAMPLES).map_err(|e| self.err("table", e))?;
        let first = t.first().map_err(|e| self.err("read", e))?;
        Ok(first.map(|(k, v)| (k.value(), v.value().to_vec())))
    }

    /// Removes a sample, durably. `false` if it was not there (evicted meanwhile).
    pub fn remove(&mut self, seq: u64) -> Result<bool, SpoolError> {
        let mut w = self.db.begin_write().map_err(|e| self.err("begin", e))?;
        w.set_durability(Durability::Immediate).map_err(|e| self.err("durability", e))?;
        let removed = {
            let mut t = w.open_table(SAMPLES).map_err(|e| self.err("table", e))?;
            let v = t.remove(seq).map_err(|e| self.err("remove", e))?;
            v.map(|v| v.value().len() as u64)
        };
        w.commit().map_err(|e| self.err("commit", e))?;
        if let Some(size) = removed {
            self.len -= 1;
            self.bytes -= size;
        }
        Ok(removed.is_some())
    }

    /// Counts samples on disk (a check of the cached counters, for tests).
    pub fn count_on_disk(&self) -> Result<u64, SpoolError> {
        let r = self.db.begin_read().map_err(|e| self.err("begin", e))?;
        let t = r.open_table(SAMPLES).map_err(|e| self.err("table", e))?;
        t.len().map_err(|e| self.err("len", e))
    }
}

/// The spool file name for a destination: its URL made file-safe, plus a stable hash of it
/// (FNV-1a, fixed forever: changing it would orphan every existing spool).
pub fn file_name(label: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in label.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    let readable: String = label
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' })
        .take(60)
        .collect();
    format!("{readable}-{:08x}.redb", hash as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;

    #[test]
    fn fifo_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        {
            let mut s = Spool::open(&path, 1 << 20).unwrap();
            assert_eq!(s.push(b"one").unwrap(), Pushed { seq: 0, evicted: 0 });
            s.push(b"two").unwrap();
            s.push(b"three").unwrap();
            assert!(s.remove(0).unwrap());
            assert!(!s.remove(0).unwrap());
        }
        let mut s = Spool::open(&path, 1 << 20).unwrap();
        assert_eq!((s.len(), s.bytes()), (2, 8));
        assert_eq!(s.oldest().unwrap(), Some((1, b"two".to_vec())));
        // sequence numbers continue after the last one kept
        assert_eq!(s.push(b"four").unwrap().seq, 3);
    }

    #[test]
    fn a_full_spool_drops_the_oldest() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(&dir.path().join("s.redb"), 10).unwrap();
        s.push(b"aaaa").unwrap();
        s.push(b"bbbb").unwrap();
        assert_eq!(s.push(b"cccc").unwrap().evicted, 1);
        assert_eq!(s.oldest().unwrap().unwrap().1, b"bbbb");
        assert!(s.push(&[0; 11]).unwrap_err().0.contains("exceeds"));
        assert_eq!(s.push(b"0123456789").unwrap().evicted, 2);
        assert_eq!((s.len(), s.bytes()), (1, 10));
    }

    #[test]
    fn a_spool_in_use_cannot_be_opened_twice() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let _first = Spool::open(&path, 100).unwrap();
        let err = Spool::open(&path, 100).unwrap_err();
        assert!(err.0.contains("cannot open"), "{err}");
    }

    /// Existing spools are found by these names: they must never change.
    #[test]
    fn file_names_are_safe_distinct_and_fixed() {
        let a = file_name("http://127.0.0.1:5050/metrics");
        assert_eq!(a, "127.0.0.1_5050_metrics-5c7e1e40.redb");
        assert_ne!(a, file_name("http://127.0.0.1:5050/metrics/"));
        assert!(!file_name("http://x/../../etc").contains('/'));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Push(usize),
        RemoveOldest,
        RemoveMissing,
        Reopen,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (1usize..300).prop_map(Op::Push),
            3 => Just(Op::RemoveOldest),
            1 => Just(Op::RemoveMissing),
            1 => Just(Op::Reopen),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Against a simple bounded queue: same contents in the same order after any sequence
        /// of pushes, removals and reopenings; the byte bound always holds.
        #[test]
        fn behaves_like_a_bounded_queue(ops in proptest::collection::vec(op(), 1..60)) {
            const MAX: u64 = 1000;
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("s.redb");
            let mut spool = Spool::open(&path, MAX).unwrap();
            let mut model: VecDeque<(u64, Vec<u8>)> = VecDeque::new();
            let mut next = 0u64;
            for op in ops {
                match op {
                    Op::Push(n) => {
                        let sample: Vec<u8> = (0..n).map(|i| (i as u64 + next) as u8).collect();
                        let mut evicted = 0;
                        while model.iter().map(|(_, s)| s.len() as u64).sum::<u64>() + n as u64 > MAX {
                            model.pop_front();
                            evicted += 1;
                        }
                        model.push_back((next, sample.clone()));
                        prop_assert_eq!(spool.push(&sample).unwrap(), Pushed { seq: next, evicted });
                        next += 1;
                    }
                    Op::RemoveOldest => {
                        let want = model.pop_front();
                        let got = spool.oldest().unwrap();
                        prop_assert_eq!(&got, &want);
                        if let Some((seq, _)) = got {
                            prop_assert!(spool.remove(seq).unwrap());
                        }
                    }
                    Op::RemoveMissing => prop_assert!(!spool.remove(next + 1000).unwrap()),
                    Op::Reopen => {
                        drop(spool);
                        spool = Spool::open(&path, MAX).unwrap();
                    }
                }
                prop_assert_eq!(spool.len(), model.len() as u64);
                prop_assert_eq!(spool.count_on_disk().unwrap(), model.len() as u64);
                prop_assert_eq!(spool.bytes(), model.iter().map(|(_, s)| s.len() as u64).sum::<u64>());
                prop_assert!(spool.bytes() <= MAX);
            }
        }
    }
}
