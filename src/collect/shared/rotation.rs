//! Slowly changing facts refreshed a share at a time on hosts with many items.

// The Linux parsers compile everywhere so that their tests run everywhere; macOS calls none.
#![cfg_attr(not(target_os = "linux"), allow(dead_code))]

/// Items whose slowly changing facts (a filesystem's usage, a link's state, a CPU's
/// frequency, a sensor) one family refreshes per sample at most. A host with more items
/// refreshes them in turn, [`REFRESH_BUDGET`] per sample, each at most ⌈n / budget⌉ samples
/// old: a 500-mount host would otherwise spend a millisecond a second in `statvfs` alone.
/// What moves every second (CPU times, every counter, memory) is read whole every sample.
pub(crate) const REFRESH_BUDGET: usize = 32;

/// Which items to refresh this sample: all of them up to [`REFRESH_BUDGET`], else the next
/// [`REFRESH_BUDGET`] in turn.
#[derive(Debug, Default)]
pub(crate) struct Rotation {
    next: usize,
}

impl Rotation {
    /// The window of this sample over `n` items.
    pub(crate) fn window(&mut self, n: usize) -> Window {
        if n <= REFRESH_BUDGET {
            return Window { start: 0, len: n, n };
        }
        let start = self.next % n;
        self.next = (start + REFRESH_BUDGET) % n;
        Window { start, len: REFRESH_BUDGET, n }
    }
}

/// This sample's share of the items (see [`Rotation`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    start: usize,
    len: usize,
    n: usize,
}

impl Window {
    /// Whether item `i` (of the `n` the window was made for) is refreshed this sample.
    pub(crate) fn contains(&self, i: usize) -> bool {
        i < self.n && (i + self.n - self.start) % self.n < self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every item is refreshed once per ⌈n / budget⌉ samples, none twice in a turn.
    #[test]
    fn rotation_covers_every_item_in_turn() {
        let mut r = Rotation::default();
        let w = r.window(10);
        assert!((0..10).all(|i| w.contains(i)));
        let n = REFRESH_BUDGET * 3 + 5;
        let mut seen = vec![0; n];
        for _ in 0..n.div_ceil(REFRESH_BUDGET) {
            let w = r.window(n);
            (0..n).filter(|&i| w.contains(i)).for_each(|i| seen[i] += 1);
        }
        assert!(seen.iter().all(|&c| (1..=2).contains(&c)), "{seen:?}");
        assert_eq!(seen.iter().filter(|&&c| c == 2).count(), REFRESH_BUDGET - 5 % REFRESH_BUDGET);
        assert!(!r.window(n).contains(n));
    }
}
