//! Records the git commit the binaries are built from, for `--version`.
//!
//! `SYSTEM_STATS_COMMIT` wins when set (a build from a tarball, which has no `.git`); else
//! `git rev-parse --short=12 HEAD`; else `unknown`. The build script runs again when HEAD
//! moves (a commit, a checkout), not on every edit.

use std::path::PathBuf;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

fn main() {
    println!("cargo:rerun-if-env-changed=SYSTEM_STATS_COMMIT");
    let commit = match std::env::var("SYSTEM_STATS_COMMIT") {
        Ok(c) if !c.trim().is_empty() => c.trim().to_string(),
        _ => {
            if let Some(dir) = git(&["rev-parse", "--git-dir"]).map(PathBuf::from) {
                // HEAD, the branch it points at, and the packed refs: what a commit changes
                let mut watch = vec![dir.join("HEAD"), dir.join("packed-refs")];
                if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
                    watch.push(dir.join(branch));
                }
                for path in watch.iter().filter(|p| p.exists()) {
                    println!("cargo:rerun-if-changed={}", path.display());
                }
            }
            git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into())
        }
    };
    println!("cargo:rustc-env=SYSTEM_STATS_COMMIT={commit}");
}
