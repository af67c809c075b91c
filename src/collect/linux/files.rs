//! Kernel files kept open between samples and re-read from offset 0 with `pread(2)`.
//!
//! procfs and sysfs regenerate a file's content whenever it is read from the start, so a
//! descriptor opened once serves every later sample: each re-read costs one or two `pread`
//! calls instead of a path lookup, an open, the reads and a close (measured on the build
//! machine: /proc/net/route 12 µs → 2.4 µs, a sysfs attribute 10 µs → 1.1 µs). A descriptor
//! whose file went away (ENODEV, ESTALE: an interface removed) is dropped and the path opened
//! afresh once; other read errors (the speed of a link that is down) keep it.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::collect::CollectError;

/// At most this many files are held open; past it the cache starts over (it only grows when
/// interfaces or cpufreq policies come and go).
const MAX_OPEN: usize = 256;

#[derive(Debug, Default)]
pub struct Files {
    buf: Vec<u8>,
    open: HashMap<PathBuf, File>,
    record: Option<Vec<PathBuf>>,
}

impl Files {
    /// Reads `path`, keeping it open for the next sample.
    pub fn read(&mut self, path: &Path) -> Result<&str, CollectError> {
        self.note(path);
        let mut n = None;
        if let Some(file) = self.open.get(path) {
            match read_from_start(file, &mut self.buf) {
                Ok(len) => n = Some(len),
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENODEV | libc::ESTALE | libc::ENOENT)) => {
                    self.open.remove(path);
                }
                Err(e) => return Err(CollectError::io(path, e)),
            }
        }
        let n = match n {
            Some(n) => n,
            None => {
                let file = File::open(path).map_err(|e| CollectError::io(path, e))?;
                if self.open.len() >= MAX_OPEN {
                    self.open.clear();
                }
                let read = read_from_start(&file, &mut self.buf);
                // kept even when this read failed: an attribute that errors now (a link that
                // is down has no speed) is opened once, not once per sample
                self.open.insert(path.to_path_buf(), file);
                read.map_err(|e| CollectError::io(path, e))?
            }
        };
        text(path, &self.buf[..n])
    }

    /// Reads `path` once, without keeping it open (facts read at start-up).
    pub fn read_once(&mut self, path: &Path) -> Result<&str, CollectError> {
        self.note(path);
        let file = File::open(path).map_err(|e| CollectError::io(path, e))?;
        let n = read_from_start(&file, &mut self.buf).map_err(|e| CollectError::io(path, e))?;
        text(path, &self.buf[..n])
    }

    /// Starts recording the paths read (benchmarks).
    pub fn record(&mut self) {
        self.record = Some(Vec::new());
    }

    /// The paths recorded since [`Files::record`], and stops recording.
    pub fn recorded(&mut self) -> Vec<PathBuf> {
        self.record.take().unwrap_or_default()
    }

    /// Notes a path used by something other than a file read (a directory listing, statvfs).
    pub fn note(&mut self, path: &Path) {
        if let Some(r) = &mut self.record {
            r.push(path.to_path_buf());
        }
    }
}

/// Reads the whole file from offset 0 into `buf` (grown as needed); returns its length.
pub fn read_from_start(file: &File, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut n = 0;
    loop {
        if n == buf.len() {
            buf.resize((buf.len() * 2).max(16 * 1024), 0);
        }
        match file.read_at(&mut buf[n..], n as u64) {
            Ok(0) => return Ok(n),
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// `bytes` as text, or a parse error naming `path`.
pub fn text<'a>(path: &Path, bytes: &'a [u8]) -> Result<&'a str, CollectError> {
    std::str::from_utf8(bytes).map_err(|_| CollectError::parse(path, "not UTF-8 text"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file rewritten in place is seen anew through the descriptor kept open; one replaced
    /// by another inode is not (kernel files never are), and one that vanished is an error.
    #[test]
    fn rereads_from_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("stat");
        std::fs::write(&p, "first version, quite long\n").unwrap();
        let mut f = Files::default();
        assert_eq!(f.read(&p).unwrap(), "first version, quite long\n");
        std::fs::write(&p, "second\n").unwrap();
        assert_eq!(f.read(&p).unwrap(), "second\n");
        let big = "x".repeat(100_000);
        std::fs::write(&p, &big).unwrap();
        assert_eq!(f.read(&p).unwrap().len(), 100_000);
        assert!(f.read(&dir.path().join("missing")).is_err());
        assert_eq!(f.read_once(&p).unwrap().len(), 100_000);
    }

    #[test]
    fn procfs_files_are_regenerated() {
        let mut f = Files::default();
        let p = Path::new("/proc/self/stat");
        let first = f.read(p).unwrap().to_string();
        // burn some CPU so that utime moves, then read through the same descriptor
        let t = std::time::Instant::now();
        while t.elapsed() < std::time::Duration::from_millis(30) {
            std::hint::black_box(0u64.wrapping_add(1));
        }
        let uptime = |s: &str| s.split_whitespace().nth(13).unwrap().parse::<u64>().unwrap();
        assert!(uptime(f.read(p).unwrap()) >= uptime(&first));
        assert!(f.read(Path::new("/proc/uptime")).unwrap().contains('.'));
    }
}
