//! Counters as the families keep them: made monotonic per device ([`NoWrap`]), named by the
//! kernel ([`Named`]), turned into rates ([`rate`]); and the map they are kept in.

use std::collections::HashMap;

/// A map looked up hundreds of times a sample (files, devices, links by name): foldhash
/// (already in the tree through serde_json's index map) instead of SipHash, seeded per
/// process. The keys are kernel paths and device names, which only root can choose.
pub(crate) type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Per-device cumulative counters made monotonic, psutil's `wrap_numbers` plus what psutil
/// lacks for totals: when a counter goes down (a 32-bit `unsigned long` of an armv7 kernel
/// wrapping at 4 GiB, a device removed and created again), the value it had is added to an
/// offset kept for that device and field, so its counter keeps growing. A device that
/// disappears keeps its last value in the totals (psutil's total would drop by it, and every
/// container whose veth goes away would make the network total fall); if it comes back its
/// counters continue from there. To bound memory, the [`MAX_DEPARTED`] most recently seen
/// departed devices are remembered; older ones are folded into a constant part of the totals.
#[derive(Debug)]
pub(crate) struct NoWrap<const N: usize> {
    devices: FastMap<Box<str>, Device<N>>,
    /// The last values of departed devices that are no longer remembered one by one.
    retired: [u64; N],
    generation: u64,
}

impl<const N: usize> Default for NoWrap<N> {
    fn default() -> Self {
        NoWrap { devices: FastMap::default(), retired: [0; N], generation: 0 }
    }
}

/// Departed devices remembered one by one (containers' veth interfaces come and go by the
/// thousand on a busy host).
pub(crate) const MAX_DEPARTED: usize = 256;

#[derive(Debug)]
struct Device<const N: usize> {
    last: [u64; N],
    offset: [u64; N],
    /// Generation this device was last seen in.
    seen: u64,
    /// Part of the totals (disk I/O counts whole disks only).
    counted: bool,
}

impl<const N: usize> Device<N> {
    fn value(&self) -> [u64; N] {
        std::array::from_fn(|i| self.last[i].wrapping_add(self.offset[i]))
    }
}

/// A device's counters this sample and, if it was there in the previous one, then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Adjusted<const N: usize> {
    pub now: [u64; N],
    pub before: Option<[u64; N]>,
}

impl<const N: usize> NoWrap<N> {
    /// Starts a new sample.
    pub(crate) fn begin(&mut self) {
        self.generation += 1;
    }

    /// The device's counters with its offsets added; `counted` says whether it is part of
    /// the totals.
    pub(crate) fn adjust(&mut self, device: &str, raw: [u64; N], counted: bool) -> Adjusted<N> {
        let generation = self.generation;
        let Some(d) = self.devices.get_mut(device) else {
            self.devices.insert(device.into(), Device { last: raw, offset: [0; N], seen: generation, counted });
            return Adjusted { now: raw, before: None };
        };
        let before = (d.seen + 1 == generation).then(|| d.value());
        for (i, &value) in raw.iter().enumerate() {
            if value < d.last[i] {
                d.offset[i] = d.offset[i].wrapping_add(d.last[i]);
            }
            d.last[i] = value;
        }
        d.seen = generation;
        d.counted = counted;
        Adjusted { now: d.value(), before }
    }

    /// Ends the sample: the totals over counted devices, departed ones included.
    pub(crate) fn finish(&mut self) -> [u64; N] {
        let generation = self.generation;
        let departed = self.devices.values().filter(|d| d.seen != generation).count();
        if departed > MAX_DEPARTED {
            let mut by_age: Vec<(u64, Box<str>)> =
                self.devices.iter().filter(|(_, d)| d.seen != generation).map(|(k, d)| (d.seen, k.clone())).collect();
            by_age.sort();
            for (_, name) in by_age.into_iter().take(departed - MAX_DEPARTED) {
                if let Some(d) = self.devices.remove(&name)
                    && d.counted
                {
                    for (r, v) in self.retired.iter_mut().zip(d.value()) {
                        *r = r.wrapping_add(v);
                    }
                }
            }
        }
        let mut total = self.retired;
        for d in self.devices.values().filter(|d| d.counted) {
            for (t, v) in total.iter_mut().zip(d.value()) {
                *t = t.wrapping_add(v);
            }
        }
        total
    }
}

/// Values the kernel names (a `/proc/vmstat` field, `TcpExt_ListenDrops`), in the order read,
/// their names kept from one sample to the next instead of allocated anew: a sample puts
/// each value, then takes them all ([`Named::take`]).
#[derive(Debug, Default)]
pub(crate) struct Named<V> {
    items: Vec<(std::sync::Arc<str>, V)>,
    len: usize,
}

impl<V: Clone> Named<V> {
    /// Puts the value named `prefix_name` (or `name` when `prefix` is empty).
    pub(crate) fn put(&mut self, prefix: &str, name: &str, value: V) {
        let same = self.items.get(self.len).is_some_and(|(n, _)| match prefix {
            "" => &**n == name,
            _ => {
                n.len() == prefix.len() + 1 + name.len()
                    && n.starts_with(prefix)
                    && n.ends_with(name)
                    && n.as_bytes()[prefix.len()] == b'_'
            }
        });
        let full = || -> std::sync::Arc<str> {
            if prefix.is_empty() { name.into() } else { format!("{prefix}_{name}").into() }
        };
        match self.items.get_mut(self.len) {
            Some(item) if same => item.1 = value,
            Some(item) => *item = (full(), value),
            None => self.items.push((full(), value)),
        }
        self.len += 1;
    }

    /// The values put since the last take (names shared, not copied).
    pub(crate) fn take(&mut self) -> Vec<(std::sync::Arc<str>, V)> {
        self.items.truncate(self.len);
        self.len = 0;
        self.items.clone()
    }
}

/// A rate per second between two counter values, rounded to one decimal; `None` without a
/// previous value or elapsed time. Counters from [`NoWrap`] never go down; if one does, the
/// interval counts as idle.
pub(crate) fn rate(before: Option<u64>, now: Option<u64>, seconds: f64) -> Option<f64> {
    if seconds <= 0.0 {
        return None;
    }
    Some(crate::snapshot::round1(now?.saturating_sub(before?) as f64 / seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nowrap_keeps_counters_and_totals_monotonic() {
        let mut w = NoWrap::<2>::default();
        w.begin();
        assert_eq!(w.adjust("sda", [10, 4_294_967_000], true).now, [10, 4_294_967_000]);
        assert_eq!(w.adjust("sda1", [5, 5], false).now, [5, 5]);
        assert_eq!(w.finish(), [10, 4_294_967_000]);
        w.begin();
        // the second counter wrapped at 2^32 (armv7)
        let a = w.adjust("sda", [12, 100], true);
        assert_eq!(a, Adjusted { now: [12, 4_294_967_100], before: Some([10, 4_294_967_000]) });
        w.adjust("sda1", [6, 6], false);
        assert_eq!(w.finish(), [12, 4_294_967_100]);
        // sda goes away: the total keeps its last value
        w.begin();
        assert_eq!(w.finish(), [12, 4_294_967_100]);
        // and comes back with counters started afresh: they continue from where they were
        w.begin();
        let back = w.adjust("sda", [1, 1], true);
        assert_eq!(back, Adjusted { now: [13, 4_294_967_101], before: None });
        assert_eq!(w.finish(), [13, 4_294_967_101]);
    }

    #[test]
    fn nowrap_forgets_old_departed_devices_but_not_their_counts() {
        let mut w = NoWrap::<1>::default();
        for i in 0..(MAX_DEPARTED as u64 + 10) {
            w.begin();
            w.adjust(&format!("veth{i}"), [100], true);
            assert_eq!(w.finish(), [100 * (i + 1)]);
        }
        assert!(w.devices.len() <= MAX_DEPARTED + 1, "{}", w.devices.len());
        w.begin();
        assert_eq!(w.finish(), [100 * (MAX_DEPARTED as u64 + 10)]);
    }

    /// Names are shared between samples while the kernel gives the same ones in the same
    /// order, and replaced where it does not.
    #[test]
    fn named_values_keep_their_names() {
        let mut n = Named::default();
        n.put("Tcp", "InSegs", 1);
        n.put("", "pgfault", 2);
        let first = n.take();
        assert_eq!(first.iter().map(|(k, v)| (&**k, *v)).collect::<Vec<_>>(), [("Tcp_InSegs", 1), ("pgfault", 2)]);
        n.put("Tcp", "InSegs", 3);
        n.put("", "pgmajfault", 4);
        let second = n.take();
        assert!(std::sync::Arc::ptr_eq(&first[0].0, &second[0].0));
        assert_eq!(second.iter().map(|(k, v)| (&**k, *v)).collect::<Vec<_>>(), [("Tcp_InSegs", 3), ("pgmajfault", 4)]);
        n.put("Tcp", "InSeg", 5);
        assert_eq!(&*n.take()[0].0, "Tcp_InSeg");
        assert!(n.take().is_empty());
    }

    #[test]
    fn rates_need_two_values_and_time() {
        assert_eq!(rate(Some(100), Some(300), 2.0), Some(100.0));
        assert_eq!(rate(None, Some(300), 2.0), None);
        assert_eq!(rate(Some(100), Some(300), 0.0), None);
        assert_eq!(rate(Some(300), Some(100), 1.0), Some(0.0));
    }
}
