//! A snapshot as the JSON `GET /system` serves, reusing the bytes of the list entries that did
//! not change since the last sample.
//!
//! Most entries of a big host's lists are the same from one sample to the next. With more
//! mounts than the rotation's budget, a sample measures 32 filesystems and carries the others'
//! numbers over unchanged (see [`crate::collect`]): 468 of 500 entries are as they were. Idle
//! links and disks (the veths of idle containers, the disks nothing writes to) have the same
//! counters and rates as a second ago. Their JSON (a few hundred bytes and a dozen to twenty
//! fields each, most of the big host's `/system`) would be written again byte for byte. A
//! [`Serialiser`] keeps each entry of those lists with its JSON and writes an unchanged entry's
//! bytes as they are: comparing an entry costs a few field comparisons, writing it a few
//! hundred instructions. The output is byte for byte what `serde_json::to_vec` writes
//! (`tests` below, and `tests/big_host.rs` on a changing host).
//!
//! Most numbers of a snapshot are floats with at most two decimals: CPU seconds (ticks / 100),
//! percents (one decimal), rates (two). serde_json writes each through a shortest round-trip
//! algorithm (zmij), thousands of floats a big host's sample; [`Decimal`] writes those as the
//! integer they are in hundredths, which prints the same digits (see [`hundredths`]) for a
//! fraction of the work, and hands every other float to serde_json.

use std::cell::RefCell;

use serde::Serialize;
use serde::ser::SerializeSeq;
use serde_json::value::RawValue;

use crate::snapshot::{DiskDevice, Filesystem, NetInterface, Snapshot, UpInterface};

/// Serialises snapshots one after the other, reusing what it wrote of the last one.
#[derive(Debug, Default)]
pub struct Serialiser {
    lists: Lists,
}

/// The lists whose entries a [`Serialiser`] keeps with their JSON.
#[derive(Debug, Default)]
struct Lists {
    filesystems: Fragments<Filesystem>,
    disks: Fragments<DiskDevice>,
    interfaces: Fragments<UpInterface>,
    all_interfaces: Fragments<NetInterface>,
}

impl Serialiser {
    /// `snapshot` as JSON, into a buffer sized from the last one (`size_hint`): growing it by
    /// doubling from nothing cost a big host a tenth of its sample in copies and page faults.
    pub fn serialise(&mut self, snapshot: &Snapshot, size_hint: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(size_hint + size_hint / 8 + 256);
        let lent = Lent::new(&mut self.lists);
        let mut serializer = serde_json::Serializer::with_formatter(&mut out, Decimal);
        snapshot.serialize(&mut serializer).expect("a snapshot always serialises");
        drop(lent);
        out
    }
}

/// serde_json's compact output, with the floats that have at most two decimals written as
/// integers in hundredths ([`hundredths`]): the same bytes, fewer instructions.
#[derive(Debug, Clone, Copy, Default)]
pub struct Decimal;

impl serde_json::ser::Formatter for Decimal {
    fn write_f64<W: ?Sized + std::io::Write>(&mut self, writer: &mut W, value: f64) -> std::io::Result<()> {
        let mut buffer = [0u8; 24];
        match hundredths(value, &mut buffer) {
            Some(text) => writer.write_all(text),
            None => serde_json::ser::CompactFormatter.write_f64(writer, value),
        }
    }
}

/// `value` as serde_json writes it, if it is the double nearest to a number of hundredths below
/// 10¹³ (`None` for any other, for serde_json to write).
///
/// Why the digits are the same: serde_json writes the shortest decimal that reads back as the
/// same double, in fixed notation below 10¹⁶. If `value` is the double nearest to `d = n / 100`,
/// `d` reads back as `value`. Any other decimal of at most as many digits is a multiple of
/// 0.01 too, so at least 0.01 from `d`; below 10¹³ two doubles are less than 0.002 apart, so
/// such a decimal reads back as another double. `d` is therefore the shortest, and the only
/// one of its length. The test `hundredths_are_written_as_serde_json_writes_them` compares
/// both on every hundredth below 10⁴, on random ones of every size far past the bound, and on
/// random doubles.
fn hundredths(value: f64, buffer: &mut [u8; 24]) -> Option<&[u8]> {
    let magnitude = value.abs();
    // (NaN passes here and fails the check below)
    if magnitude >= 1e13 {
        return None;
    }
    // truncating `+ 0.5` rounds (a positive number); the check below catches any miss
    let n = (magnitude * 100.0 + 0.5) as u64;
    if n as f64 / 100.0 != magnitude {
        return None;
    }
    let mut at = buffer.len();
    let mut put = |b: u8| {
        at -= 1;
        buffer[at] = b;
    };
    let (mut whole, fraction) = (n / 100, (n % 100) as u8);
    if fraction % 10 == 0 {
        put(b'0' + fraction / 10);
    } else {
        put(b'0' + fraction % 10);
        put(b'0' + fraction / 10);
    }
    put(b'.');
    loop {
        put(b'0' + (whole % 10) as u8);
        whole /= 10;
        if whole == 0 {
            break;
        }
    }
    if value.is_sign_negative() {
        put(b'-');
    }
    Some(&buffer[at..])
}

/// The fragments lent to this thread while a snapshot is written, taken back when dropped
/// (even by a panic: no later serialisation on the thread finds them).
struct Lent<'a>(&'a mut Lists);

impl<'a> Lent<'a> {
    fn new(lists: &'a mut Lists) -> Lent<'a> {
        let taken = std::mem::take(lists);
        LENT.with(|slot| *slot.borrow_mut() = Some(taken));
        Lent(lists)
    }
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        *self.0 = LENT.with(|slot| slot.borrow_mut().take()).unwrap_or_default();
    }
}

/// The entries of a list as last written, each with its JSON.
#[derive(Debug)]
struct Fragments<T> {
    entries: Vec<(T, Box<RawValue>)>,
}

impl<T> Default for Fragments<T> {
    fn default() -> Self {
        Fragments { entries: Vec::new() }
    }
}

impl<T: Serialize + PartialEq + Clone> Fragments<T> {
    /// Writes `list`, an entry equal to the one at the same place last time as its bytes.
    fn write<S: serde::Serializer>(&mut self, list: &[T], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(list.len()))?;
        for (i, entry) in list.iter().enumerate() {
            match self.entries.get_mut(i) {
                Some((last, json)) if last == entry => seq.serialize_element(&**json)?,
                slot => {
                    let json = serde_json::value::to_raw_value(entry).map_err(serde::ser::Error::custom)?;
                    seq.serialize_element(&*json)?;
                    match slot {
                        Some(slot) => *slot = (entry.clone(), json),
                        None => self.entries.push((entry.clone(), json)),
                    }
                }
            }
        }
        self.entries.truncate(list.len());
        seq.end()
    }
}

thread_local! {
    /// The lists' fragments while a [`Serialiser`] writes a snapshot on this thread.
    static LENT: RefCell<Option<Lists>> = const { RefCell::new(None) };
}

/// `list` through its fragments in the [`Serialiser`] writing it, if any (`serde_json` only:
/// a raw fragment means nothing to another format), else as usual.
fn through<T, S>(list: &Option<Vec<T>>, s: S, fragments: fn(&mut Lists) -> &mut Fragments<T>) -> Result<S::Ok, S::Error>
where
    T: Serialize + PartialEq + Clone,
    S: serde::Serializer,
{
    let Some(list) = list else { return s.serialize_none() };
    LENT.with(|slot| {
        let taken = slot.try_borrow_mut().ok().and_then(|mut lists| lists.take());
        match taken {
            Some(mut lists) => {
                let written = fragments(&mut lists).write(list, s);
                *slot.borrow_mut() = Some(lists);
                written
            }
            None => s.serialize_some(list),
        }
    })
}

/// `Snapshot::filesystems`, through the [`Serialiser`]'s fragments.
pub fn filesystems<S: serde::Serializer>(list: &Option<Vec<Filesystem>>, s: S) -> Result<S::Ok, S::Error> {
    through(list, s, |lists| &mut lists.filesystems)
}

/// `Snapshot::disks`, through the [`Serialiser`]'s fragments.
pub fn disks<S: serde::Serializer>(list: &Option<Vec<DiskDevice>>, s: S) -> Result<S::Ok, S::Error> {
    through(list, s, |lists| &mut lists.disks)
}

/// `Network::interfaces`, through the [`Serialiser`]'s fragments.
pub fn interfaces<S: serde::Serializer>(list: &Option<Vec<UpInterface>>, s: S) -> Result<S::Ok, S::Error> {
    through(list, s, |lists| &mut lists.interfaces)
}

/// `Network::all_interfaces`, through the [`Serialiser`]'s fragments.
pub fn all_interfaces<S: serde::Serializer>(list: &Option<Vec<NetInterface>>, s: S) -> Result<S::Ok, S::Error> {
    through(list, s, |lists| &mut lists.all_interfaces)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filesystem(n: u64) -> Filesystem {
        Filesystem {
            device: format!("/dev/vd{n}").into(),
            mountpoint: format!("/mnt/\"quoted\"\\{n}/é").into(),
            fstype: "ext4".into(),
            total: Some(1000 + n),
            used: Some(n),
            free: Some(1000),
            percent: Some(n as f64 / 10.0),
            ..Default::default()
        }
    }

    /// Sample after sample, entries changed, added, removed, failing, the list gone and back:
    /// every output is byte for byte serde_json's own, and the unchanged entries are reused.
    #[test]
    fn writes_what_serde_json_writes() {
        let mut serialiser = Serialiser::default();
        let mut snapshot = Snapshot { filesystems: Some((0..5).map(filesystem).collect()), ..Default::default() };
        let check = |snapshot: &Snapshot, serialiser: &mut Serialiser| {
            let ours = serialiser.serialise(snapshot, 0);
            assert_eq!(String::from_utf8(ours).unwrap(), serde_json::to_string(snapshot).unwrap());
            if let Some(list) = &snapshot.filesystems {
                assert_eq!(serialiser.lists.filesystems.entries.len(), list.len());
            }
        };
        check(&snapshot, &mut serialiser);
        let first = serialiser.lists.filesystems.entries[1].1.get().as_ptr();
        check(&snapshot, &mut serialiser);
        // unchanged: the same bytes, not written again
        assert_eq!(serialiser.lists.filesystems.entries[1].1.get().as_ptr(), first);
        let list = snapshot.filesystems.as_mut().unwrap();
        list[2].free = Some(999);
        list[3].error = Some("statvfs: Permission denied".into());
        list[3].total = None;
        list.push(filesystem(9));
        check(&snapshot, &mut serialiser);
        snapshot.filesystems.as_mut().unwrap().remove(0);
        check(&snapshot, &mut serialiser);
        snapshot.filesystems.as_mut().unwrap().truncate(1);
        check(&snapshot, &mut serialiser);
        snapshot.filesystems = None;
        check(&snapshot, &mut serialiser);
        snapshot.filesystems = Some(vec![filesystem(4), filesystem(5)]);
        snapshot.filesystems.as_mut().unwrap()[1].percent = Some(f64::NAN);
        check(&snapshot, &mut serialiser);
        check(&snapshot, &mut serialiser);
    }

    fn disk(n: u64) -> DiskDevice {
        DiskDevice {
            name: format!("nvme{n}n1").into(),
            read_bytes: 512 * n,
            read_bytes_per_sec: Some(n as f64 * 1.5),
            ..Default::default()
        }
    }

    fn link(n: u64) -> NetInterface {
        NetInterface {
            name: format!("veth{n}").into(),
            up: Some(true),
            mtu: Some(1500),
            duplex: "full".into(),
            ipv6: vec![crate::snapshot::Ipv6Info { address: "fe80::1".into(), prefix_len: 64, scope: "link".into() }]
                .into(),
            recv_bytes_per_sec: Some(n as f64 / 3.0),
            ..Default::default()
        }
    }

    fn up(n: u64) -> UpInterface {
        UpInterface { name: format!("eth{n}").into(), ipv4: format!("10.0.0.{n}"), ..Default::default() }
    }

    /// The disks and both interface lists, sample after sample while some entries change, come
    /// and go: serde_json's bytes every time, and an unchanged entry's JSON kept, not rewritten.
    #[test]
    fn disks_and_interfaces_write_what_serde_json_writes() {
        let mut serialiser = Serialiser::default();
        let mut snapshot = Snapshot { disks: Some((0..4).map(disk).collect()), ..Default::default() };
        snapshot.network.all_interfaces = Some((0..4).map(link).collect());
        snapshot.network.interfaces = Some((0..3).map(up).collect());
        let check = |snapshot: &Snapshot, serialiser: &mut Serialiser| {
            let ours = serialiser.serialise(snapshot, 0);
            assert_eq!(String::from_utf8(ours).unwrap(), serde_json::to_string(snapshot).unwrap());
        };
        check(&snapshot, &mut serialiser);
        let kept = |serialiser: &Serialiser| {
            (
                serialiser.lists.disks.entries[1].1.get().as_ptr(),
                serialiser.lists.all_interfaces.entries[1].1.get().as_ptr(),
                serialiser.lists.interfaces.entries[1].1.get().as_ptr(),
            )
        };
        let first = kept(&serialiser);
        // busy entries change around the idle ones
        let disks = snapshot.disks.as_mut().unwrap();
        disks[0].read_bytes += 4096;
        disks[2].read_bytes_per_sec = Some(0.0);
        let links = snapshot.network.all_interfaces.as_mut().unwrap();
        links[0].counters.bytes_recv = Some(1);
        links[3].ipv6 = Vec::new().into();
        snapshot.network.interfaces.as_mut().unwrap()[2].mtu = Some(9000);
        check(&snapshot, &mut serialiser);
        assert_eq!(kept(&serialiser), first, "an unchanged entry's JSON was written again");
        snapshot.disks.as_mut().unwrap()[1].write_count = 1;
        snapshot.network.all_interfaces.as_mut().unwrap()[1].up = Some(false);
        snapshot.network.interfaces.as_mut().unwrap()[1].duplex = "half".into();
        check(&snapshot, &mut serialiser);
        assert_ne!(kept(&serialiser).0, first.0);
        snapshot.network.all_interfaces.as_mut().unwrap().remove(0);
        snapshot.network.interfaces.as_mut().unwrap().push(up(7));
        snapshot.disks = None;
        check(&snapshot, &mut serialiser);
        snapshot.network.interfaces = Some(Vec::new());
        snapshot.disks = Some(vec![disk(9)]);
        check(&snapshot, &mut serialiser);
        check(&snapshot, &mut serialiser);
    }

    fn decimal(value: f64) -> String {
        let mut out = Vec::new();
        serde_json::ser::Formatter::write_f64(&mut Decimal, &mut out, value).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn serde_json(value: f64) -> String {
        serde_json::to_string(&value).unwrap()
    }

    /// Every hundredth below 10⁴ (both signs), random ones up to the bound and around it, and
    /// floats that are no hundredth at all: the same text as serde_json's, and the fast path
    /// taken where it should be.
    #[test]
    fn hundredths_are_written_as_serde_json_writes_them() {
        let mut buffer = [0u8; 24];
        for n in 0..1_000_000u64 {
            let value = n as f64 / 100.0;
            // the fast path on every one of them, and the same digits
            let fast = hundredths(value, &mut buffer).map(|b| std::str::from_utf8(b).unwrap().to_string());
            assert_eq!(fast.as_deref(), Some(&*serde_json(value)), "{n} hundredths");
            if n % 997 == 0 {
                assert_eq!(decimal(-value), serde_json(-value), "-{n} hundredths");
            }
        }
        // as the collectors make them: ticks / 100, rounded percents and rates
        for value in [180.01, 0.1, 0.05, 99.99, 12.3, (666.666_f64).round() / 10.0, 123_456_789.0 / 100.0] {
            assert_eq!(decimal(value), serde_json(value), "{value}");
        }
        let mut next = crate::testing::random();
        for _ in 0..1_000_000 {
            let r = next();
            // hundredths of every size up to 10¹⁸, far past the bound
            let n = r % 10u64.pow(2 + (r >> 59) as u32 % 17);
            let value = n as f64 / 100.0;
            assert_eq!(decimal(value), serde_json(value), "{n} hundredths");
            // any double at all (finite): serde_json's text, by one path or the other
            let any = f64::from_bits(next());
            if any.is_finite() {
                assert_eq!(decimal(any), serde_json(any), "{any:e}");
            }
            // floats of the same size that are no hundredth
            let odd = value + 0.001;
            assert_eq!(decimal(odd), serde_json(odd), "{odd}");
        }
        for value in [0.0, -0.0, 1e13, -1e13, 9_999_999_999_999.99, 1e-3, 5e-3, 0.005, 0.015, f64::MIN_POSITIVE] {
            assert_eq!(decimal(value), serde_json(value), "{value:e}");
        }
        // what the fast path gives up: thousandths, and values past the bound
        assert!(hundredths(0.001, &mut buffer).is_none());
        assert!(hundredths(1e13, &mut buffer).is_none());
        assert!(hundredths(0.1 + 0.2, &mut buffer).is_none());
    }

    /// Outside a [`Serialiser`] the filesystems serialise as they always did.
    #[test]
    fn plain_serialisation_is_unchanged() {
        let snapshot = Snapshot { filesystems: Some(vec![filesystem(1)]), ..Default::default() };
        let value = serde_json::to_value(&snapshot).unwrap();
        assert_eq!(value["filesystems"][0]["mountpoint"], "/mnt/\"quoted\"\\1/é");
        assert_eq!(value["filesystems"][0]["total"], 1001);
    }
}
