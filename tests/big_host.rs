//! A host with many items (the scale benchmark's synthetic tree): what a sample reads of
//! their slowly changing facts stays bounded sample by sample, not only on average.

#[path = "../benches/support/synthetic.rs"]
#[allow(dead_code)]
mod synthetic;

use std::collections::BTreeSet;
use std::path::PathBuf;

use system_stats::collect::shared::files;
use system_stats::collect::{Asked, Runner, Selection, Setup};

/// The families reading a generated tree's `proc` and `sys`, its root as the disk path.
fn on_tree(tree: &std::path::Path) -> Setup {
    Setup {
        procfs: tree.join("proc"),
        sysfs: tree.join("sys"),
        disk_path: tree.to_path_buf(),
        ..system_stats::config::default_setup()
    }
}

/// 200 links: their attributes (21 files each, opened and closed past 64 links) are read
/// for a few links per sample, never for a whole rotation window at once (every link's came
/// due together, a rotation after they were all read at the start: 32 links' files in one
/// sample), every link's are read again within a bounded age, and a link's at once when its
/// state changes.
#[test]
fn link_facts_are_refreshed_a_few_links_per_sample() {
    let tree = tempfile::tempdir().unwrap();
    let mounts = tempfile::tempdir().unwrap();
    let counts = synthetic::Counts::big_host(1.0);
    synthetic::generate(tree.path(), mounts.path(), counts);
    let setup = on_tree(tree.path());
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
    // 200 links, 7 turns of the rotation: facts read again every 16 turns (112 samples), at
    // most ⌈200 / 112⌉ + 1 = 3 links read per sample, and the primary interface's every 10
    assert!(most <= 4, "{most} links' facts read in one sample");
    assert!(last_read.values().all(|&n| n > 0), "some links' facts were never read again");
    assert!(oldest <= 224, "a link's facts were {oldest} samples old");
    eprintln!("{links} links: at most {most} links' facts read per sample, the oldest {oldest} samples old");

    // a link whose state changes (its carrier lost: operstate down, carrier 0) has its facts
    // read again in the sample that sees it, within one turn of the rotation, not at its age
    let link = class_net.join(format!("veth{:05x}", 100));
    std::fs::write(link.join("operstate"), "down\n").unwrap();
    std::fs::write(link.join("carrier"), "0\n").unwrap();
    let seen = (1..=7).find(|_| sample().contains(&link.join("address")));
    assert!(seen.is_some(), "the facts of a link whose state changed were not read again within a turn");
    let carrier = runner.read_for(Asked::ALL);
    let page = system_stats::metrics::text::prometheus(&{
        let mut families = Vec::new();
        for e in &carrier.exported {
            e.families(&mut families);
        }
        families
    });
    assert!(
        page.lines().any(|l| l == "node_network_carrier{device=\"veth00064\"} 0"),
        "the new carrier is not in /metrics"
    );
}

/// The big host's `/system` as the service writes it, sample after sample while the disk
/// under its mounts fills (the mounts measured in turn change, the others are carried over)
/// and a quarter of its disks and links are busy (their counters and rates change, the
/// others' stay): byte for byte what serde_json writes of the same snapshot.
#[test]
fn its_json_reuses_nothing_stale() {
    let tree = tempfile::tempdir().unwrap();
    let mounts = tempfile::tempdir().unwrap();
    let counts = synthetic::Counts::big_host(0.25);
    synthetic::generate(tree.path(), mounts.path(), counts);
    let setup = on_tree(tree.path());
    let mut runner = Runner::new(&setup, &Selection::parse("filesystems,disk_io,network,interfaces").unwrap());
    let mut serialiser = system_stats::snapshot::json::Serialiser::default();
    let mut last: Option<system_stats::snapshot::Snapshot> = None;
    let mut changed = [0; 3];
    for n in 0..12 {
        let fill = mounts.path().join(format!("fill{n}"));
        std::fs::write(&fill, vec![1u8; 4 << 20]).unwrap();
        std::fs::File::open(&fill).unwrap().sync_all().unwrap();
        synthetic::write_counters(tree.path(), counts, n + 1, 0.25);
        let reading = runner.read_for(Asked::ALL);
        let snapshot = &reading.snapshot;
        assert!(snapshot.filesystems.as_ref().unwrap().len() > 100);
        let ours = serialiser.serialise(snapshot, 0);
        assert!(ours == serde_json::to_vec(snapshot).unwrap(), "sample {n}: not serde_json's bytes");
        // (the first sample has no rates, the second has them all)
        if let Some(last) = last.replace(snapshot.clone()).filter(|_| n >= 2) {
            // some entries of each list changed, never all of them
            fn differ<T: PartialEq>(now: &Option<Vec<T>>, before: &Option<Vec<T>>) -> (usize, usize) {
                let (now, before) = (now.as_deref().unwrap(), before.as_deref().unwrap());
                (now.iter().zip(before).filter(|(a, b)| a != b).count(), now.len())
            }
            for (i, (differ, len)) in [
                differ(&snapshot.filesystems, &last.filesystems),
                differ(&snapshot.disks, &last.disks),
                differ(&snapshot.network.all_interfaces, &last.network.all_interfaces),
            ]
            .into_iter()
            .enumerate()
            {
                assert!(differ < len, "sample {n}: every entry of list {i} changed");
                changed[i] += differ;
            }
        }
    }
    assert!(changed.iter().all(|&c| c > 0), "a list never changed ({changed:?}): the test proves nothing");
}
