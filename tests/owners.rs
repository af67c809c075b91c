//! One owner per series: every family is run alone on each recorded tree, and the series it
//! gives (those of its snapshot keys and those it exports) are its own. No series may come
//! from two families. The list, family by family, is `docs/series.md` (`UPDATE_GOLDEN=1
//! cargo test --test owners` writes it and fails; review the diff): a series that moves from
//! one family to another shows there.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use system_stats::collect::{Asked, REGISTRY, Runner, Selection, Setup};

/// The series names a set of families gives on a tree.
fn series_of(selection: &str, tree: &std::path::Path) -> BTreeSet<String> {
    let setup = Setup {
        procfs: tree.join("proc"),
        sysfs: tree.join("sys"),
        disk_path: tree.to_path_buf(),
        update_check_interval: None,
        docker_host: "unix:///nonexistent/docker.sock".into(),
        // the drives are the live machine's (tests/smart.rs checks the `smart` family's series)
        smartctl: "no-smartctl-for-the-trees".into(),
        ..system_stats::config::default_setup()
    };
    let mut runner = Runner::new(&setup, &Selection::parse(selection).unwrap());
    runner.read_for(Asked::ALL);
    let reading = runner.read_for(Asked::ALL);
    let mut families = system_stats::collect::snapshot_families(&reading.snapshot, &runner.statuses(), Some(2));
    system_stats::collect::own::process_series(&mut families);
    for e in &reading.exported {
        e.families(&mut families);
    }
    families.iter().filter(|f| !f.samples.is_empty()).flat_map(|f| f.sample_names()).collect()
}

#[test]
fn every_series_has_one_owner() {
    let trees: Vec<std::path::PathBuf> = std::fs::read_dir(common::repo().join("tests/fixtures"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("proc").is_dir())
        .collect();
    assert!(trees.len() >= 4);
    // the service's own series come whatever runs: what `load` alone gives, but its own
    let load: BTreeSet<String> = ["node_load1", "node_load5", "node_load15"].iter().map(|s| s.to_string()).collect();
    let own: BTreeSet<String> = trees.iter().flat_map(|t| series_of("load", t)).filter(|n| !load.contains(n)).collect();
    let mut owners: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    let mut listing = String::from(
        "# Every series and the family that owns it\n\n\
         Each family run alone on the recorded trees of `tests/fixtures/` (`tests/owners.rs` writes\n\
         this page and fails when a series has two owners or the page is not what the code gives).\n\
         A family defines all of its series, in its own file under `src/collect/`. Series that need\n\
         what the trees do not have (containers, systemd units, the forwarder, text files, drives) are\n\
         not listed.\n\n## The service's own (`src/collect/own.rs`)\n\n",
    );
    for name in &own {
        listing.push_str(&format!("- `{name}`\n"));
    }
    for e in REGISTRY {
        let mine: BTreeSet<String> =
            trees.iter().flat_map(|t| series_of(e.name, t)).filter(|n| !own.contains(n)).collect();
        listing.push_str(&format!("\n## `{}`\n\n", e.name));
        if mine.is_empty() {
            listing.push_str("(none on these trees)\n");
        }
        for name in &mine {
            listing.push_str(&format!("- `{name}`\n"));
            owners.entry(name.clone()).or_default().push(e.name);
        }
    }
    let shared: Vec<String> =
        owners.iter().filter(|(_, o)| o.len() > 1).map(|(n, o)| format!("{n}: {}", o.join(", "))).collect();
    assert!(shared.is_empty(), "series with more than one owner:\n{}", shared.join("\n"));
    assert!(owners.len() > 250, "only {} series on the trees", owners.len());
    let path = common::repo().join("docs/series.md");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &listing).unwrap();
        panic!("wrote {}: review the diff", path.display());
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    if want != listing {
        let diff = similar::TextDiff::from_lines(&want, &listing);
        panic!(
            "the series' owners changed (UPDATE_GOLDEN=1 to accept):\n{}",
            diff.unified_diff().context_radius(2).header("docs/series.md", "now")
        );
    }
}
