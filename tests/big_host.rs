//! A host with many items (the scale benchmark's synthetic tree): what a sample reads of
//! their slowly changing facts stays bounded sample by sample, not only on average.

#[path = "../benches/support/synthetic.rs"]
#[allow(dead_code)]
mod synthetic;

use std::collections::BTreeSet;
use std::path::PathBuf;

use system_stats::collect::{Asked, Runner, Selection, Setup, files};

/// 200 links: their attributes (21 files each, opened and closed past 64 links) are read
/// for a few links per sample, never for a whole rotation window at once (every link's came
/// due together, 56 samples after they were all read at the start: 32 links' files in one
/// sample), and every link's are read again within a bounded age.
#[test]
fn link_facts_are_refreshed_a_few_links_per_sample() {
    let tree = tempfile::tempdir().unwrap();
    let mounts = tempfile::tempdir().unwrap();
    let counts = synthetic::Counts::big_host(1.0);
    synthetic::generate(tree.path(), mounts.path(), counts);
    let setup = Setup {
        procfs: tree.path().join("proc"),
        sysfs: tree.path().join("sys"),
        disk_path: tree.path().to_path_buf(),
        ..Setup::default()
    };
    let mut runner = Runner::new(&setup, &Selection::parse("network,interfaces").unwrap());
    let class_net = tree.path().join("sys/class/net");
    // the links whose facts a sample read: their `address` attribute is the first of them
    let mut sample = || -> BTreeSet<PathBuf> {
        files::record();
        runner.read_for(Asked::ALL);
        files::recorded()
            .into_iter()
            .filter(|p| p.starts_with(&class_net) && p.file_name().is_some_and(|n| n == "address"))
            .collect()
    };
    let first = sample();
    let links = first.len();
    assert!(links >= 200, "the first sample reads every link's facts: {links}");
    let mut last_read: std::collections::BTreeMap<PathBuf, usize> = first.into_iter().map(|p| (p, 0)).collect();
    let mut most = 0;
    let mut oldest = 0;
    for n in 1..400 {
        let read = sample();
        most = most.max(read.len());
        for p in read {
            let before = last_read.insert(p, n).unwrap_or(0);
            oldest = oldest.max(n - before);
        }
    }
    // 200 links, 7 turns of the rotation: facts at most 56 samples old on average, at most
    // ⌈200 / 56⌉ + 1 = 5 links read per sample, and the primary interface's every 10
    assert!(most <= 6, "{most} links' facts read in one sample");
    assert!(last_read.values().all(|&n| n > 0), "some links' facts were never read again");
    assert!(oldest <= 120, "a link's facts were {oldest} samples old");
    eprintln!("{links} links: at most {most} links' facts read per sample, the oldest {oldest} samples old");
}
