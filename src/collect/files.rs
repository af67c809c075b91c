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

/// At most this many files are held open by one family; past it, new paths are read without
/// being kept (a 256-CPU host holds 256 cpufreq files, one with 200 interfaces 400 of theirs).
/// Families close the files of items that went away ([`Files::close_under`]).
const MAX_OPEN: usize = 2048;

/// A family's kernel files, held open, and the buffer they are read into.
#[derive(Debug, Default)]
pub struct Files {
    buf: Vec<u8>,
    open: HashMap<PathBuf, File>,
}

thread_local! {
    /// The paths read since [`record`] (benchmarks: the raw floor re-reads the same ones).
    static RECORDED: std::cell::RefCell<Option<Vec<PathBuf>>> = const { std::cell::RefCell::new(None) };
}

/// Starts recording the paths read or stat'ed on this thread (by every family).
pub fn record() {
    RECORDED.with(|r| *r.borrow_mut() = Some(Vec::new()));
}

/// The paths recorded since [`record`], and stops recording.
pub fn recorded() -> Vec<PathBuf> {
    RECORDED.with(|r| r.borrow_mut().take().unwrap_or_default())
}

/// Notes a path used by something other than a file read (a directory listing, statvfs).
pub fn note(path: &Path) {
    RECORDED.with(|r| {
        if let Some(r) = r.borrow_mut().as_mut() {
            r.push(path.to_path_buf());
        }
    });
}

impl Files {
    /// Reads `path`, keeping it open for the next sample.
    pub fn read(&mut self, path: &Path) -> Result<&str, CollectError> {
        note(path);
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
                let read = read_from_start(&file, &mut self.buf);
                // kept even when this read failed: an attribute that errors now (a link that
                // is down has no speed) is opened once, not once per sample
                if self.open.len() < MAX_OPEN {
                    self.open.insert(path.to_path_buf(), file);
                }
                read.map_err(|e| CollectError::io(path, e))?
            }
        };
        text(path, &self.buf[..n])
    }

    /// Reads `path` once, without keeping it open (facts read at start-up).
    pub fn read_once(&mut self, path: &Path) -> Result<&str, CollectError> {
        note(path);
        let file = File::open(path).map_err(|e| CollectError::io(path, e))?;
        let n = read_from_start(&file, &mut self.buf).map_err(|e| CollectError::io(path, e))?;
        text(path, &self.buf[..n])
    }

    /// Closes the files held open under `dir` (an interface that went away).
    pub fn close_under(&mut self, dir: &Path) {
        self.open.retain(|p, _| !p.starts_with(dir));
    }

    /// How many files are held open.
    pub fn held(&self) -> usize {
        self.open.len()
    }

    /// Reads `path` if it can be read.
    pub fn read_opt(&mut self, path: &Path) -> Option<&str> {
        self.read(path).ok()
    }

    /// Reads `path` once if it can be read.
    pub fn read_once_opt(&mut self, path: &Path) -> Option<&str> {
        self.read_once(path).ok()
    }

    /// Reads a file holding one integer.
    pub fn read_u64(&mut self, path: &Path) -> Result<u64, CollectError> {
        let text = self.read(path)?;
        text.trim().parse().map_err(|_| CollectError::parse(path, format!("{:?} is not a number", text.trim())))
    }
}

/// Entries `<prefix><number>` of a directory (`cpu0`, `hwmon3`, `policy4`), sorted by number;
/// empty when the directory cannot be listed.
pub fn numbered(dir: &Path, prefix: &str) -> Vec<(u32, PathBuf)> {
    note(dir);
    let Ok(entries) = std::fs::read_dir(dir) else { return vec![] };
    let mut out: Vec<(u32, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name();
            let n = name.to_str()?.strip_prefix(prefix)?.parse().ok()?;
            Some((n, e.path()))
        })
        .collect();
    out.sort();
    out
}

/// Reads the whole file from offset 0 into `buf` (grown as needed); returns its length.
pub fn read_from_start(file: &File, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut n = 0;
    loop {
        if n == buf.len() {
            buf.resize((buf.len() * 2).max(4096), 0);
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

    /// A procfs file read again through the descriptor kept open gives the kernel's new
    /// content, not the first read's: `/proc/uptime` (10 ms resolution) strictly grows.
    #[test]
    fn procfs_files_are_regenerated() {
        let mut f = Files::default();
        let p = Path::new("/proc/uptime");
        let seconds = |s: &str| s.split_whitespace().next().unwrap().parse::<f64>().unwrap();
        let first = seconds(f.read(p).unwrap());
        assert_eq!(f.open.len(), 1);
        std::thread::sleep(std::time::Duration::from_millis(50));
        let second = seconds(f.read(p).unwrap());
        // the same descriptor, not a fresh open
        assert_eq!(f.open.len(), 1);
        assert!(second > first, "a stale read: {first} then {second}");
    }
}
