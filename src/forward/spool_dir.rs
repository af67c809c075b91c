//! The directory of the spools: created private (0700), and locked by one forwarder at a
//! time through `.lock` (an advisory `flock(2)` held while the process lives, released by the
//! kernel even after `kill -9`), which holds the pid of its holder for the error message.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

/// Why the spool directory cannot be used. Each is a configuration problem: the forwarder
/// exits with code 2 and this one line.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SpoolDirError {
    #[error("spool directory {}: {} (SYSTEM_STATS_SPOOL_DIR)", dir.display(), explain(source))]
    Unusable { dir: PathBuf, source: std::io::Error },
    #[error("spool directory {}: not a directory (SYSTEM_STATS_SPOOL_DIR)", dir.display())]
    NotDirectory { dir: PathBuf },
    #[error(
        "spool directory {} is in use by another forwarder{}: give each forwarder its own SYSTEM_STATS_SPOOL_DIR",
        dir.display(),
        pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
    )]
    InUse { dir: PathBuf, pid: Option<u32> },
}

fn explain(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::EACCES | libc::EPERM) => {
            "permission denied: the forwarder's user cannot write there (create it for that user, or use systemd's \
             StateDirectory=)"
                .into()
        }
        Some(libc::EROFS) => "read-only filesystem".into(),
        Some(libc::ENOTDIR) => "a part of the path is not a directory".into(),
        Some(libc::ENOSPC) => "no space left on the device".into(),
        _ => e.to_string(),
    }
}

/// The locked spool directory; the lock goes with it.
#[derive(Debug)]
pub(crate) struct SpoolDir {
    _lock: Flock<File>,
}

impl SpoolDir {
    /// Creates `dir` (0700) if needed and locks it for this process.
    pub(crate) fn lock(dir: &Path) -> Result<SpoolDir, SpoolDirError> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        let unusable = |source| SpoolDirError::Unusable { dir: dir.to_path_buf(), source };
        match std::fs::metadata(dir) {
            Ok(m) if !m.is_dir() => return Err(SpoolDirError::NotDirectory { dir: dir.to_path_buf() }),
            Ok(_) => {}
            Err(_) => std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(unusable)?,
        }
        let path = dir.join(".lock");
        let file =
            std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).mode(0o600).open(&path);
        let file = file.map_err(unusable)?;
        let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => lock,
            Err((mut file, errno)) if errno == nix::errno::Errno::EWOULDBLOCK => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(SpoolDirError::InUse { dir: dir.to_path_buf(), pid: text.trim().parse().ok() });
            }
            Err((_, errno)) => return Err(unusable(std::io::Error::from(errno))),
        };
        let written = lock
            .set_len(0)
            .and_then(|()| lock.rewind())
            .and_then(|()| writeln!(lock, "{}", std::process::id()))
            .and_then(|()| lock.sync_all());
        written.map_err(unusable)?;
        Ok(SpoolDir { _lock: lock })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_forwarder_per_directory_and_its_pid_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("spool");
        let first = SpoolDir::lock(&dir).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
        // another lock, as another process would take it (flock locks belong to open files)
        let err = SpoolDir::lock(&dir).unwrap_err().to_string();
        assert!(err.contains(&format!("(pid {})", std::process::id())), "{err}");
        drop(first);
        SpoolDir::lock(&dir).unwrap();
        // a file is not a directory
        let file = tmp.path().join("file");
        std::fs::write(&file, "").unwrap();
        assert!(SpoolDir::lock(&file).unwrap_err().to_string().contains("not a directory"));
    }
}
