//! `--salvage-spool` on damaged spool files, run as a user would: the real forwarder on the
//! file a corruption sweep found it panicking on, and on a fresh seeded sweep of damaged
//! copies of a spool. It never panics: it re-queues what decodes, or refuses with a reason
//! and exit 1; the file it read is left byte for byte as it was (renamed `*.salvaged` when
//! something was re-queued, untouched otherwise).

mod common;

use std::path::{Path, PathBuf};

use common::{clean_command, forwarder_bin, repo};
use system_stats::forward::spool::{Spool, file_name};

const DESTINATION: &str = "http://127.0.0.1:41257/metrics";

/// `--salvage-spool file` for [`DESTINATION`] in `dir`: exit code, standard output and error.
fn salvage(dir: &Path, file: &Path) -> (Option<i32>, String, String) {
    let out = clean_command(forwarder_bin())
        .env("SYSTEM_STATS_SPOOL_DIR", dir)
        .env("MONITORING_SERVER_METRICS_URL", DESTINATION)
        .arg("--salvage-spool")
        .arg(file)
        .output()
        .unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

/// Salvages `bytes` as a file set aside in `dir` under `stamp`; checks that it neither
/// panicked nor changed the file; returns how many samples it re-queued (`None`: refused).
fn salvaged(dir: &Path, stamp: &str, bytes: &[u8]) -> Option<u64> {
    let file = dir.join(format!("{}.damaged-{stamp}", file_name(DESTINATION)));
    std::fs::write(&file, bytes).unwrap();
    let (code, out, err) = salvage(dir, &file);
    assert!(!err.contains("panicked"), "{stamp}: {err}");
    let done = PathBuf::from(format!("{}.salvaged", file.display()));
    match code {
        Some(0) => {
            assert_eq!(std::fs::read(&done).unwrap(), bytes, "{stamp}: the salvaged file was changed");
            assert!(!file.exists());
            let queued = out.split(' ').next().and_then(|n| n.parse().ok());
            assert!(queued.is_some() && out.contains("re-queued for"), "{stamp}: {out}");
            queued
        }
        Some(1) => {
            assert!(out.contains("nothing can be salvaged from it"), "{stamp}: {out}");
            assert_eq!(std::fs::read(&file).unwrap(), bytes, "{stamp}: the refused file was changed");
            None
        }
        other => panic!("{stamp}: exit {other:?}\nstdout: {out}\nstderr: {err}"),
    }
}

/// The file set aside by the sweep that found the panic (tests/evidence/README.md):
/// what decodes is re-queued, the file is kept as it was, and nothing is left behind but
/// the two spools.
#[test]
fn the_file_that_made_it_panic_is_salvaged() {
    let gz = repo().join("tests/evidence/salvage-panic.redb.damaged.gz");
    let out = std::process::Command::new("gzip").arg("-dc").arg(&gz).output().expect("gzip");
    assert!(out.status.success());
    let dir = tempfile::tempdir().unwrap();
    let queued = salvaged(dir.path(), "20261207T031754.220Z", &out.stdout);
    assert_eq!(queued, Some(30));
    let mut names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
    names.sort();
    let live = file_name(DESTINATION);
    assert_eq!(names, [".lock".to_string(), live.clone(), format!("{live}.damaged-20261207T031754.220Z.salvaged")]);
    let mut spool = Spool::open(&dir.path().join(live), 1 << 30).unwrap();
    assert_eq!(spool.samples(), 30);
    assert_eq!(spool.count_on_disk().unwrap(), 30);
}

/// A snapshot as small as the payload accepts, padded to a real one's size.
fn sample(i: u64) -> Vec<u8> {
    serde_json::json!({
        "collected_at": format!("2026-01-01T00:{:02}:{:02}.000000+00:00", i / 60, i % 60),
        "cpu": {"percent": 1.5}, "memory": {"percent": 2.5}, "disk": {"percent": 3.5},
        "system": {"hostname": "sweep"},
        "pad": "x".repeat(6000 + (i as usize * 37) % 3000),
    })
    .to_string()
    .into_bytes()
}

/// A spool of 40 samples, damaged 80 ways (random bytes at random offsets, fixed seeds; a
/// zeroed header; cut short), each salvaged: no panic, no change to the file, never more
/// samples than were written.
#[test]
fn a_seeded_corruption_sweep_never_panics_nor_changes_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let healthy = dir.path().join("healthy.redb");
    {
        let mut s = Spool::open(&healthy, 1 << 30).unwrap();
        for i in 0..40 {
            s.push(&sample(i), i).unwrap();
        }
    }
    let original = std::fs::read(&healthy).unwrap();
    std::fs::remove_file(&healthy).unwrap();
    let mut damages: Vec<(String, Vec<u8>)> = vec![
        ("zeroed-header".into(), {
            let mut b = original.clone();
            b[..4096.min(original.len())].fill(0);
            b
        }),
        ("half".into(), original[..original.len() / 2].to_vec()),
        ("100-bytes".into(), original[..100].to_vec()),
        ("empty".into(), Vec::new()),
    ];
    for seed in 0..76u64 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut b = original.clone();
        for _ in 0..rng.usize(1..24) {
            let at = rng.usize(..b.len());
            let n = rng.usize(1..64).min(b.len() - at);
            rng.fill(&mut b[at..at + n]);
        }
        damages.push((format!("seed-{seed}"), b));
    }
    let (mut refused, mut some) = (0, 0);
    for (what, bytes) in &damages {
        match salvaged(dir.path(), what, bytes) {
            Some(n) => {
                assert!(n <= 40, "{what}: {n} samples from 40");
                some += 1;
            }
            None => refused += 1,
        }
    }
    // the sweep reaches both outcomes: it tests something
    assert!(some > 10 && refused > 0, "{some} salvaged, {refused} refused");
    assert!(!dir.path().join(format!(".salvaging-{}", std::process::id())).exists());
    let copies = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with(".salvaging"));
    assert_eq!(copies.count(), 0, "a copy was left behind");
}
