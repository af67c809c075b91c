//! Programs a family runs in the background (the package manager, smartctl): found in
//! `PATH`, run at the lowest CPU priority in a process group of their own, bounded in time
//! and in what they may print.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The first executable `name` in `PATH` (then `/usr/sbin`, `/usr/bin`, where they live).
pub(crate) fn which(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// How a program ended: its exit code (`None`: a signal), its standard output, and the last
/// line of its standard error.
#[derive(Debug)]
pub(crate) struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub last_error: String,
}

impl Output {
    /// Its standard output when its exit code is one of `ok`; otherwise why not.
    pub(crate) fn expect(self, program: &Path, ok: &[i32]) -> Result<String, String> {
        match self.code {
            Some(code) if ok.contains(&code) => Ok(self.stdout),
            code => Err(format!(
                "{} exited with {}{}",
                program.display(),
                code.map_or("a signal".to_string(), |c| format!("code {c}")),
                if self.last_error.is_empty() { String::new() } else { format!(": {}", self.last_error) }
            )),
        }
    }
}

/// Runs a program at the lowest priority, in its own process group (killed whole on
/// timeout), with `LC_ALL=C`; how it ended, or why it could not run or did not end in time.
pub(crate) fn run(program: &Path, args: &[&str], timeout: Duration) -> Result<Output, String> {
    use std::io::Read;
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(program);
    cmd.args(args).env("LC_ALL", "C").stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.process_group(0);
    // SAFETY: setpriority(2) is async-signal-safe; between fork and exec nothing else runs.
    unsafe {
        cmd.pre_exec(|| {
            // a unit's system-call filter may forbid it: the check still runs, at its priority
            libc::setpriority(libc::PRIO_PROCESS, 0, 19);
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    let mut stdout = child.stdout.take().ok_or("no standard output")?;
    let mut stderr = child.stderr.take().ok_or("no standard error")?;
    // read while it runs (a full pipe would block it), bounded
    // (a unit's TasksMax may refuse a thread: the program is stopped and that is the error)
    let no_thread = |child: &mut std::process::Child, e: std::io::Error| {
        // SAFETY: kill(2) of the process group this child leads.
        unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
        let _ = child.wait();
        format!("no thread to read {}'s output: {e}", program.display())
    };
    let reader = std::thread::Builder::new().name("program-out".into()).spawn(move || {
        let mut out = Vec::new();
        let _ = (&mut stdout).take(16 << 20).read_to_end(&mut out);
        out
    });
    let reader = reader.map_err(|e| no_thread(&mut child, e))?;
    let err_reader = std::thread::Builder::new().name("program-err".into()).spawn(move || {
        let mut err = Vec::new();
        let _ = (&mut stderr).take(64 << 10).read_to_end(&mut err);
        err
    });
    let err_reader = err_reader.map_err(|e| no_thread(&mut child, e))?;
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Ok(None) => {
                // SAFETY: kill(2) of the process group this child leads.
                unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
                let _ = child.wait();
                return Err(format!("{} did not finish within {} s", program.display(), timeout.as_secs_f64()));
            }
            Err(e) => return Err(format!("waiting for {}: {e}", program.display())),
        }
    };
    let out = reader.join().unwrap_or_default();
    let err = err_reader.join().unwrap_or_default();
    let err = String::from_utf8_lossy(&err);
    let last_error = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string();
    Ok(Output { code: status.code(), stdout: String::from_utf8_lossy(&out).into_owned(), last_error })
}
