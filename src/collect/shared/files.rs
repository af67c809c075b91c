//! Kernel files kept open between samples and re-read from offset 0 with `pread(2)`.
//!
//! procfs and sysfs regenerate a file's content whenever it is read from the start, so a
//! descriptor opened once serves every later sample: each re-read costs one or two `pread`
//! calls instead of a path lookup, an open, the reads and a close (a fifth to a tenth of the
//! time: `docs/performance.md`). A descriptor
//! whose file went away (ENODEV, ESTALE: an interface removed) is dropped and the path opened
//! afresh once; other read errors (the speed of a link that is down) keep it.
//!
//! Every read is bounded ([`Files::with_limit`]; what the largest real file of its kind needs,
//! documented where each family sets it): a file larger than that is an error of its family,
//! not a buffer of its size. A buffer grown for an unusually large read shrinks back after the
//! next ordinary one. Files are opened with `O_NONBLOCK`: kernel files ignore it, and a FIFO
//! planted in a tree answers "no data" at once instead of blocking the sampler for ever.

// The Linux parsers compile everywhere so that their tests run everywhere; macOS calls none.
#![cfg_attr(not(target_os = "linux"), allow(dead_code))]

use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::collect::CollectError;

/// At most this many files are held open by one family; past it, new paths are read without
/// being kept (a 256-CPU host holds 256 cpufreq files, one with 200 interfaces 400 of theirs).
/// Families close the files of items that went away ([`Files::close_under`]).
const MAX_OPEN: usize = 2048;

/// What one read may bring by default: /proc/stat of 4096 CPUs with its interrupt lines, a
/// /proc/cpuinfo of 1024 CPUs (1.5 MiB), a /proc/net/dev of 10 000 interfaces (1.3 MiB).
pub(crate) const DEFAULT_LIMIT: usize = 4 << 20;

/// The most a sysfs attribute can hold: its `show()` fills one page (64 KiB on the largest
/// page size).
pub(crate) const SYSFS_LIMIT: usize = 64 << 10;

/// A buffer larger than this shrinks back after an ordinary read.
const KEEP_BUFFER: usize = 64 << 10;

/// A family's kernel files, held open, and the buffer they are read into.
#[derive(Debug)]
pub(crate) struct Files {
    buf: Vec<u8>,
    /// Keyed by the path's bytes: hashing a `Path` walks its components, a measurable part
    /// of a sample that reads hundreds of files.
    open: super::counters::FastMap<Box<[u8]>, File>,
    limit: usize,
}

impl Default for Files {
    fn default() -> Self {
        Files::with_limit(DEFAULT_LIMIT)
    }
}

/// Opens a kernel file for reading, without blocking on a FIFO.
pub fn open(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path)
}

thread_local! {
    /// The paths read since [`record`] (benchmarks: the raw floor re-reads the same ones).
    static RECORDED: std::cell::RefCell<Option<Vec<PathBuf>>> = const { std::cell::RefCell::new(None) };
}

/// The lines of a kernel file, as [`str::lines`] splits them (a final line without its `\n`
/// counted, a `\r` right before a `\n` dropped), found with `memchr`'s vector search: `/proc/stat`,
/// `schedstat` and `softnet_stat` of a 256-CPU host are 1 000 lines a sample, and the
/// standard library's byte-at-a-time search showed in the sample's profile.
pub(crate) fn lines(text: &str) -> Lines<'_> {
    Lines { rest: text }
}

/// See [`lines`].
#[derive(Debug, Clone)]
pub(crate) struct Lines<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.rest.is_empty() {
            return None;
        }
        let line = match memchr::memchr(b'\n', self.rest.as_bytes()) {
            // a '\n' is one byte and never part of another character: both sides are str
            Some(i) => {
                let line = &self.rest[..i];
                self.rest = &self.rest[i + 1..];
                line.strip_suffix('\r').unwrap_or(line)
            }
            None => std::mem::take(&mut self.rest),
        };
        Some(line)
    }
}

/// A decimal `u64` as `str::parse` reads it, digit by digit without its general checks
/// (the kernel's counters are most of what a sample parses).
pub(crate) fn number(text: &str) -> Option<u64> {
    let digits = match text.as_bytes() {
        [b'+', rest @ ..] => rest,
        all => all,
    };
    // 19 digits cannot overflow; longer (or empty) is the standard library's case
    if digits.is_empty() || digits.len() > 19 {
        return text.parse().ok();
    }
    let mut n = 0u64;
    for &b in digits {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        n = n * 10 + u64::from(d);
    }
    Some(n)
}

/// The fields of a line as [`str::split_ascii_whitespace`] splits it, each read as text or
/// as a [`number`]: a number's digits are added up as the field is scanned, in one pass over
/// its bytes rather than one to split and one to parse (the counters of `/proc/diskstats`,
/// `/proc/net/dev` and `/proc/stat` are most of what a big host's sample parses).
#[derive(Debug, Clone)]
pub(crate) struct Fields<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Fields<'a> {
    pub(crate) fn new(text: &'a str) -> Fields<'a> {
        Fields { text, at: 0 }
    }

    /// Where the next field begins, past blanks, if there is one.
    #[inline(always)]
    fn start(&self) -> Option<usize> {
        let bytes = self.text.as_bytes();
        let mut at = self.at;
        while bytes.get(at)?.is_ascii_whitespace() {
            at += 1;
        }
        Some(at)
    }

    /// The field that begins at `start`, moving past it.
    #[inline(always)]
    fn take_from(&mut self, start: usize) -> &'a str {
        let bytes = self.text.as_bytes();
        let mut end = start;
        while bytes.get(end).is_some_and(|b| !b.is_ascii_whitespace()) {
            end += 1;
        }
        self.at = end;
        // the field ends at an ASCII byte or at the end: both are character boundaries
        &self.text[start..end]
    }

    /// The next field.
    #[inline(always)]
    pub(crate) fn text(&mut self) -> Option<&'a str> {
        let start = self.start()?;
        Some(self.take_from(start))
    }

    /// The next field as [`number`] reads it, or the field itself when it is not a number;
    /// `None` past the last field.
    #[inline(always)]
    pub(crate) fn number(&mut self) -> Option<Result<u64, &'a str>> {
        let start = self.start()?;
        let bytes = self.text.as_bytes();
        let (mut at, mut n) = (start, 0u64);
        while let Some(&b) = bytes.get(at) {
            let d = b.wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            n = n.wrapping_mul(10).wrapping_add(u64::from(d));
            at += 1;
        }
        if (1..=19).contains(&(at - start)) && bytes.get(at).is_none_or(u8::is_ascii_whitespace) {
            self.at = at;
            return Some(Ok(n));
        }
        // a sign, a letter, 20 digits or more: the field as a whole, as `number` reads it
        let field = self.take_from(start);
        Some(number(field).ok_or(field))
    }
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
    /// Files whose reads bring at most `limit` bytes.
    pub(crate) fn with_limit(limit: usize) -> Files {
        Files { buf: Vec::new(), open: super::counters::FastMap::default(), limit }
    }

    /// Reads `path`, keeping it open for the next sample.
    pub(crate) fn read(&mut self, path: &Path) -> Result<&str, CollectError> {
        let limit = self.limit;
        self.read_limited(path, limit)
    }

    /// Reads `path` (at most `limit` bytes), keeping it open for the next sample.
    pub(crate) fn read_limited(&mut self, path: &Path, limit: usize) -> Result<&str, CollectError> {
        note(path);
        let mut n = None;
        let key = path.as_os_str().as_bytes();
        if let Some(file) = self.open.get(key) {
            match read_small_first(file, &mut self.buf, limit) {
                Ok(len) => n = Some(len),
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENODEV | libc::ESTALE | libc::ENOENT)) => {
                    self.open.remove(key);
                }
                Err(e) => return Err(CollectError::io(path, e)),
            }
        }
        let n = match n {
            Some(n) => n,
            None => {
                let file = open(path).map_err(|e| CollectError::io(path, e))?;
                let read = read_small_first(&file, &mut self.buf, limit);
                // kept even when this read failed: an attribute that errors now (a link that
                // is down has no speed) is opened once, not once per sample
                if self.open.len() < MAX_OPEN {
                    self.open.insert(key.into(), file);
                }
                read.map_err(|e| CollectError::io(path, e))?
            }
        };
        shrink(&mut self.buf, n);
        text(path, &self.buf[..n])
    }

    /// Reads `path` from its start in chunks until `enough` says the text so far suffices
    /// (or the file ends, or `limit` is reached): a routing table of 400 000 routes is not
    /// generated whole for its first lines. Not kept open.
    pub(crate) fn read_head(
        &mut self,
        path: &Path,
        limit: usize,
        enough: impl Fn(&str) -> bool,
    ) -> Result<&str, CollectError> {
        note(path);
        const CHUNK: usize = 16 << 10;
        let file = open(path).map_err(|e| CollectError::io(path, e))?;
        let mut n = 0;
        loop {
            if self.buf.len() < n + CHUNK {
                self.buf.resize(n + CHUNK, 0);
            }
            let k = match file.read_at(&mut self.buf[n..n + CHUNK], n as u64) {
                Ok(k) => k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(CollectError::io(path, e)),
            };
            n += k;
            // only whole lines count
            let whole = self.buf[..n].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            let done = k == 0 || n >= limit || std::str::from_utf8(&self.buf[..whole]).is_ok_and(&enough);
            if done {
                let end = if k == 0 { n } else { whole };
                shrink(&mut self.buf, end);
                return text(path, &self.buf[..end]);
            }
        }
    }

    /// Reads `path` once, without keeping it open (facts read at start-up).
    pub(crate) fn read_once(&mut self, path: &Path) -> Result<&str, CollectError> {
        note(path);
        let file = open(path).map_err(|e| CollectError::io(path, e))?;
        self.read_opened(&file, path)
    }

    /// Reads a file just opened (`path`: its name in errors), which is not kept.
    fn read_opened(&mut self, file: &File, path: &Path) -> Result<&str, CollectError> {
        let n = read_small_first(file, &mut self.buf, self.limit).map_err(|e| CollectError::io(path, e))?;
        text(path, &self.buf[..n])
    }

    /// Reads `name` in `dir` once, without keeping it open: opened relative to the directory
    /// (`openat(2)`), which saves the lookup of the directory's path and of the symbolic
    /// links on it (`/sys/class/net/<link>` is one) at every file.
    #[cfg(target_os = "linux")]
    pub(crate) fn read_once_in(&mut self, dir: &Dir, name: &str) -> Result<&str, CollectError> {
        use nix::fcntl::OFlag;
        let path = dir.path.join(name);
        note(&path);
        let flags = OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
        let fd = nix::fcntl::openat(&dir.fd, name, flags, nix::sys::stat::Mode::empty())
            .map_err(|e| CollectError::io(&path, e.into()))?;
        self.read_opened(&File::from(fd), &path)
    }

    /// Closes the files held open under `dir` (an interface that went away).
    pub(crate) fn close_under(&mut self, dir: &Path) {
        self.open.retain(|p, _| !Path::new(std::ffi::OsStr::from_bytes(p)).starts_with(dir));
    }

    /// How many files are held open.
    pub(crate) fn held(&self) -> usize {
        self.open.len()
    }

    /// Reads `path` if it can be read.
    pub(crate) fn read_opt(&mut self, path: &Path) -> Option<&str> {
        self.read(path).ok()
    }

    /// Reads `path` once if it can be read.
    pub(crate) fn read_once_opt(&mut self, path: &Path) -> Option<&str> {
        self.read_once(path).ok()
    }

    /// Reads a file holding one integer.
    pub(crate) fn read_u64(&mut self, path: &Path) -> Result<u64, CollectError> {
        let text = self.read(path)?;
        text.trim().parse().map_err(|_| CollectError::parse(path, format!("{:?} is not a number", text.trim())))
    }
}

/// A directory opened to read files in it ([`Files::read_once_in`]); an `O_PATH` descriptor,
/// which reads nothing and needs no permission on the directory beyond looking it up.
#[cfg(target_os = "linux")]
#[derive(Debug)]
pub(crate) struct Dir {
    fd: std::os::fd::OwnedFd,
    path: PathBuf,
}

#[cfg(target_os = "linux")]
impl Dir {
    /// Opens `path`, which must be a directory.
    pub(crate) fn open(path: &Path) -> Result<Dir, CollectError> {
        use nix::fcntl::OFlag;
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let fd = nix::fcntl::open(path, flags, nix::sys::stat::Mode::empty())
            .map_err(|e| CollectError::io(path, e.into()))?;
        Ok(Dir { fd, path: path.to_path_buf() })
    }
}

/// Entries `<prefix><number>` of a directory (`cpu0`, `hwmon3`, `policy4`), sorted by number;
/// empty when the directory cannot be listed.
pub(crate) fn numbered(dir: &Path, prefix: &str) -> Vec<(u32, PathBuf)> {
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

/// What one `pread(2)` asks for first when reading a file of at most [`SYSFS_LIMIT`] bytes.
const FIRST_READ: usize = 4096;

/// For a small file (`limit` ≤ [`SYSFS_LIMIT`]: sysfs attributes, sysctl values), one
/// `pread(2)` of [`FIRST_READ`] + 1 bytes: the kernel generates such a file whole on the
/// first read, so less than that is all of it, and the second read that would return 0 is
/// saved (half the system calls of a sysfs-heavy sample). A longer file, or a larger
/// `limit`, is read to its end by [`read_from_start`].
fn read_small_first(file: &File, buf: &mut Vec<u8>, limit: usize) -> std::io::Result<usize> {
    if limit <= SYSFS_LIMIT {
        if buf.len() < FIRST_READ + 1 {
            buf.resize(FIRST_READ + 1, 0);
        }
        loop {
            match file.read_at(&mut buf[..FIRST_READ + 1], 0) {
                Ok(n) if n <= FIRST_READ.min(limit) => return Ok(n),
                Ok(_) => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(0),
                Err(e) => return Err(e),
            }
        }
    }
    read_from_start(file, buf, limit)
}

/// Reads the whole file from offset 0 into `buf` (grown as needed, up to `limit`); returns
/// its length. A file with more than `limit` bytes is an error (`FileTooLarge`).
pub fn read_from_start(file: &File, buf: &mut Vec<u8>, limit: usize) -> std::io::Result<usize> {
    let mut n = 0;
    loop {
        if n == buf.len() {
            if n > limit {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::FileTooLarge,
                    format!("larger than {} KiB, more than such a file holds", limit >> 10),
                ));
            }
            // one byte past the limit tells a file of exactly `limit` bytes from a larger one
            buf.resize((buf.len() * 2).max(4096).min(limit.saturating_add(1)), 0);
        }
        match file.read_at(&mut buf[n..], n as u64) {
            Ok(0) => return Ok(n),
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            // a FIFO opened without blocking, with nobody writing
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(n),
            Err(e) => return Err(e),
        }
    }
}

/// Gives back the memory of a buffer grown for an unusually large read.
fn shrink(buf: &mut Vec<u8>, used: usize) {
    if buf.len() > KEEP_BUFFER && used < buf.len() / 4 {
        buf.truncate(used.max(4096).next_power_of_two());
        buf.shrink_to_fit();
    }
}

/// `bytes` as text, or a parse error naming `path`.
pub fn text<'a>(path: &Path, bytes: &'a [u8]) -> Result<&'a str, CollectError> {
    std::str::from_utf8(bytes).map_err(|_| CollectError::parse(path, "not UTF-8 text"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Files read relative to a directory opened through a symbolic link (as
    /// `/sys/class/net/<link>`): their text, and errors that name the file and say what
    /// was wrong; nothing is held open.
    #[cfg(target_os = "linux")]
    #[test]
    fn files_are_read_relative_to_their_directory() {
        let root = tempfile::tempdir().unwrap();
        let real = root.path().join("devices/eth0");
        std::fs::create_dir_all(&real).unwrap();
        std::fs::write(real.join("mtu"), "1500\n").unwrap();
        let link = root.path().join("eth0");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let dir = Dir::open(&link).unwrap();
        let mut files = Files::default();
        assert_eq!(files.read_once_in(&dir, "mtu").unwrap(), "1500\n");
        std::fs::write(real.join("mtu"), "9000\n").unwrap();
        assert_eq!(files.read_once_in(&dir, "mtu").unwrap(), "9000\n");
        assert_eq!(files.held(), 0);
        let missing = files.read_once_in(&dir, "speed").unwrap_err();
        assert!(missing.is_not_found(), "{missing}");
        assert!(missing.to_string().contains(&*link.join("speed").to_string_lossy()), "{missing}");
        let not_a_dir = Dir::open(&real.join("mtu")).unwrap_err();
        assert!(not_a_dir.to_string().contains("mtu"), "{not_a_dir}");
    }

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

    /// A file larger than the bound is an error that says so, and the buffer it took shrinks
    /// back after the next ordinary read.
    #[test]
    fn reads_are_bounded_and_buffers_shrink() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("meminfo");
        let mut f = Files::with_limit(64 << 10);
        std::fs::write(&p, "x".repeat(64 << 10)).unwrap();
        assert_eq!(f.read(&p).unwrap().len(), 64 << 10);
        std::fs::write(&p, "x".repeat(200 << 20)).unwrap();
        let err = f.read(&p).unwrap_err().to_string();
        assert!(err.contains("larger than 64 KiB"), "{err}");
        assert!(f.buf.len() <= (64 << 10) + 4096, "{}", f.buf.len());
        let mut big = Files::with_limit(8 << 20);
        std::fs::write(&p, "y".repeat(4 << 20)).unwrap();
        big.read(&p).unwrap();
        std::fs::write(&p, "MemTotal: 1 kB\n").unwrap();
        big.read(&p).unwrap();
        assert!(big.buf.len() <= 4096, "{}", big.buf.len());
    }

    /// A FIFO with no writer is an error at once, not a read that waits for ever.
    #[test]
    fn a_fifo_does_not_block() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("fifo");
        let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo(3) with a valid path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let t = std::time::Instant::now();
        let err = Files::default().read(&p).unwrap_err().to_string();
        assert!(err.contains("fifo"), "{err}");
        assert!(t.elapsed() < std::time::Duration::from_secs(1));
    }

    /// The head of a long file, up to what is enough: whole lines only.
    #[test]
    fn the_head_of_a_long_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("route");
        let mut text = String::from("Iface\tDestination\n");
        for i in 0..100_000 {
            text.push_str(&format!("eth0\t{:08X}\n", i));
        }
        std::fs::write(&p, &text).unwrap();
        let mut f = Files::default();
        let head = f.read_head(&p, 1 << 20, |t| t.lines().skip(1).any(|l| !l.ends_with("00000000"))).unwrap();
        assert!(head.len() < 40 << 10 && head.ends_with('\n'), "{}", head.len());
        assert!(head.starts_with("Iface\tDestination\neth0\t00000000\neth0\t00000001\n"));
        // a short file: all of it
        std::fs::write(&p, "Iface\tDestination\neth0\t00000000").unwrap();
        assert_eq!(f.read_head(&p, 1 << 20, |_| false).unwrap(), "Iface\tDestination\neth0\t00000000");
    }

    /// Without a limit (`usize::MAX`), a file larger than the buffer is read whole: the
    /// buffer grows by doubling instead of overflowing the limit's bound.
    #[test]
    fn a_file_is_read_whole_without_a_limit() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("stat");
        let text = "cpu0 1 2 3 4 5 6 7 8 9 10\n".repeat(2_000);
        std::fs::write(&p, &text).unwrap();
        let mut buf = vec![0; 4096];
        let n = read_from_start(&File::open(&p).unwrap(), &mut buf, usize::MAX).unwrap();
        assert_eq!(&buf[..n], text.as_bytes());
    }

    /// [`lines`] splits as `str::lines` does, on every shape of text.
    #[test]
    fn lines_split_as_the_standard_library_does() {
        for text in
            ["", "\n", "a", "a\n", "a\nb", "a\nb\n", "\n\na\n\n", "a\r\nb\r\n", "a\rb\n", "é\n€\nx", "\r\n", "\r"]
        {
            assert_eq!(lines(text).collect::<Vec<_>>(), text.lines().collect::<Vec<_>>(), "{text:?}");
        }
        let long = "cpu0 1 2 3 4 5 6 7 8 9 10\n".repeat(300);
        assert_eq!(lines(&long).count(), 300);
        assert!(lines(&long).all(|l| l == "cpu0 1 2 3 4 5 6 7 8 9 10"));
    }

    /// [`number`] reads as the standard library does.
    #[test]
    fn numbers_as_the_standard_library_reads_them() {
        let max = u64::MAX.to_string();
        for text in [
            "",
            "0",
            "7",
            "+7",
            "+",
            "-1",
            "12a",
            "a12",
            " 1",
            "1 ",
            "00042",
            "9999999999999999999",
            "10000000000000000000",
            &max,
            "18446744073709551616",
            "99999999999999999999999",
            "+-1",
            "١",
        ] {
            assert_eq!(number(text), text.parse::<u64>().ok(), "{text:?}");
        }
        let mut next = crate::testing::random();
        for _ in 0..10_000 {
            let x = next();
            let text = (x >> (x % 64)).to_string();
            assert_eq!(number(&text), text.parse::<u64>().ok(), "{text:?}");
        }
    }

    /// Fields read as text or numbers, in any mix: the fields of `split_ascii_whitespace`,
    /// each number as `number` reads it, on random lines of digits, blanks, signs, letters,
    /// non-ASCII characters and runs of digits long enough to overflow.
    #[test]
    fn fields_split_and_read_as_the_standard_library_does() {
        let pieces = [
            "0",
            "7",
            "42",
            "18446744073709551615",
            "18446744073709551616",
            "99999999999999999999",
            "+",
            "-",
            "a",
            "é",
            "١",
            " ",
            "  ",
            "\t",
            "\r",
            "\n",
            "\x0c",
            "\u{a0}",
        ];
        let mut next = crate::testing::random();
        for _ in 0..20_000 {
            let line: String = (0..next() % 12).map(|_| pieces[(next() % pieces.len() as u64) as usize]).collect();
            let expected: Vec<&str> = line.split_ascii_whitespace().collect();
            let mut fields = Fields::new(&line);
            for (i, field) in expected.iter().enumerate() {
                if next().is_multiple_of(2) {
                    assert_eq!(fields.text(), Some(*field), "{line:?}, field {i}");
                } else {
                    assert_eq!(fields.number(), Some(number(field).ok_or(*field)), "{line:?}, field {i}");
                }
            }
            assert_eq!(fields.text(), None, "{line:?}");
            assert_eq!(fields.number(), None, "{line:?}");
        }
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
