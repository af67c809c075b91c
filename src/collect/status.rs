//! How a family fared: its errors, what the log says of them, what `/metrics` exports.

use std::path::{Path, PathBuf};

use super::shared::poller;

/// What went wrong in one family.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// A file could not be read.
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    /// A file was read but does not have the expected format.
    #[error("{}: {msg}", path.display())]
    Parse { path: PathBuf, msg: String },
    /// A system call about `target` failed (`statvfs /`, `ioctl eth0`, `getifaddrs`).
    #[error("{call}{}{target}: {source}", if target.is_empty() { "" } else { " " })]
    Sys { call: &'static str, target: String, source: std::io::Error },
    /// A call that waits on something else (a network filesystem's server) did not return.
    #[error("{call} {target}: {why}")]
    Stuck { call: &'static str, target: String, why: String },
    /// What the family needs is not there (no cpufreq policy reports a frequency; the
    /// platform library could not be initialised).
    #[error("{0}")]
    Missing(String),
    /// The family panicked: a bug. The message is the panic's.
    #[error("panicked: {0}")]
    Panicked(String),
}

impl CollectError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        CollectError::Io { path: path.to_path_buf(), source }
    }
    pub fn parse(path: &Path, msg: impl Into<String>) -> Self {
        CollectError::Parse { path: path.to_path_buf(), msg: msg.into() }
    }
    pub fn sys(call: &'static str, target: impl std::fmt::Display, source: std::io::Error) -> Self {
        CollectError::Sys { call, target: target.to_string(), source }
    }
    /// Whether this is a file (or path) that does not exist.
    pub fn is_not_found(&self) -> bool {
        match self {
            CollectError::Io { source, .. } | CollectError::Sys { source, .. } => {
                source.kind() == std::io::ErrorKind::NotFound
            }
            _ => false,
        }
    }
}

/// The health of one family across samples: logs when it starts failing (or fails
/// differently) and when it recovers, never once per sample.
#[derive(Debug)]
pub struct FamilyStatus {
    name: &'static str,
    failing: Option<String>,
}

impl FamilyStatus {
    pub fn new(name: &'static str) -> Self {
        FamilyStatus { name, failing: None }
    }

    /// The family's name, e.g. `memory`.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The current error, if the last sample of this family failed.
    pub fn error(&self) -> Option<&str> {
        self.failing.as_deref()
    }

    /// Records how this sample went.
    pub fn record(&mut self, result: Result<(), CollectError>) {
        let error = result.err().map(|e| e.to_string());
        match poller::change(&mut self.failing, error.as_deref()) {
            Some(poller::Change::Recovered(was)) => {
                tracing::info!(collector = self.name, was = %was, "collector recovered")
            }
            Some(poller::Change::Failed(error)) => tracing::error!(
                collector = self.name,
                error = %error,
                "collector failed; its fields are null until it recovers"
            ),
            None => {}
        }
    }
}
