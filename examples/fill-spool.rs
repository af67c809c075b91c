//! Fills a destination's spool with N copies of one `/system` sample, as a long outage
//! would, for `scripts/bench-forwarder.sh`.
//!
//!     cargo run --release --example fill-spool -- SPOOL_DIR DESTINATION_URL N < sample.json

use std::io::Read;

use system_stats::forward::spool::{Spool, file_name};

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: fill-spool SPOOL_DIR DESTINATION_URL N < sample.json";
    let dir = std::path::PathBuf::from(args.next().expect(usage));
    let dest = args.next().expect(usage);
    let n: u64 = args.next().expect(usage).parse().expect(usage);
    let mut sample = Vec::new();
    std::io::stdin().read_to_end(&mut sample).unwrap();
    std::fs::create_dir_all(&dir).unwrap();
    let mut spool = Spool::open(&dir.join(file_name(&dest)), 1 << 30).unwrap();
    // the copies stand for samples taken one second apart
    for i in 0..n {
        spool.push(&sample, 1_000_000 * (i + 1)).unwrap();
    }
    eprintln!("{}: {} samples, {} bytes", spool.path().display(), spool.samples(), spool.bytes());
}
