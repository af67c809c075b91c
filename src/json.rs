//! A snapshot as the JSON `GET /system` serves, reusing the bytes of the list entries that did
//! not change since the last sample.
//!
//! On a host with more mounts than the rotation's budget, a sample measures 32 filesystems
//! and carries the others' numbers over unchanged (see [`crate::collect`]): 468 of 500 entries
//! are the same as in the last sample, and their JSON (about 260 bytes and a dozen fields
//! each, 45 % of the big host's `/system`) would be written again byte for byte. A
//! [`Serialiser`] keeps each entry with its JSON and writes an unchanged entry's bytes as they
//! are: comparing an entry costs a few field comparisons, writing it a few hundred
//! instructions. The output is byte for byte what `serde_json::to_vec` writes
//! (`tests` below, and `tests/big_host.rs` on a changing host).

use std::cell::RefCell;

use serde::Serialize;
use serde::ser::SerializeSeq;
use serde_json::value::RawValue;

use crate::snapshot::{Filesystem, Snapshot};

/// Serialises snapshots one after the other, reusing what it wrote of the last one.
#[derive(Debug, Default)]
pub struct Serialiser {
    filesystems: Fragments<Filesystem>,
}

impl Serialiser {
    /// `snapshot` as JSON, into a buffer sized from the last one (`size_hint`): growing it by
    /// doubling from nothing cost a big host a tenth of its sample in copies and page faults.
    pub fn serialise(&mut self, snapshot: &Snapshot, size_hint: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(size_hint + size_hint / 8 + 256);
        let lent = Lent::new(&mut self.filesystems);
        serde_json::to_writer(&mut out, snapshot).expect("a snapshot always serialises");
        drop(lent);
        out
    }
}

/// The fragments lent to this thread while a snapshot is written, taken back when dropped
/// (even by a panic: no later serialisation on the thread finds them).
struct Lent<'a>(&'a mut Fragments<Filesystem>);

impl<'a> Lent<'a> {
    fn new(fragments: &'a mut Fragments<Filesystem>) -> Lent<'a> {
        let taken = std::mem::take(fragments);
        FILESYSTEMS.with(|slot| *slot.borrow_mut() = Some(taken));
        Lent(fragments)
    }
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        *self.0 = FILESYSTEMS.with(|slot| slot.borrow_mut().take()).unwrap_or_default();
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
    /// The filesystems' fragments while a [`Serialiser`] writes a snapshot on this thread.
    static FILESYSTEMS: RefCell<Option<Fragments<Filesystem>>> = const { RefCell::new(None) };
}

/// `Snapshot::filesystems`: through the fragments of the [`Serialiser`] writing it, if any
/// (`serde_json` only: a raw fragment means nothing to another format), else as usual.
pub fn filesystems<S: serde::Serializer>(list: &Option<Vec<Filesystem>>, s: S) -> Result<S::Ok, S::Error> {
    let Some(list) = list else { return s.serialize_none() };
    FILESYSTEMS.with(|slot| {
        let taken = slot.try_borrow_mut().ok().and_then(|mut fragments| fragments.take());
        match taken {
            Some(mut fragments) => {
                let written = fragments.write(list, s);
                *slot.borrow_mut() = Some(fragments);
                written
            }
            None => s.serialize_some(list),
        }
    })
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
                assert_eq!(serialiser.filesystems.entries.len(), list.len());
            }
        };
        check(&snapshot, &mut serialiser);
        let first = serialiser.filesystems.entries[1].1.get().as_ptr();
        check(&snapshot, &mut serialiser);
        // unchanged: the same bytes, not written again
        assert_eq!(serialiser.filesystems.entries[1].1.get().as_ptr(), first);
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

    /// Outside a [`Serialiser`] the filesystems serialise as they always did.
    #[test]
    fn plain_serialisation_is_unchanged() {
        let snapshot = Snapshot { filesystems: Some(vec![filesystem(1)]), ..Default::default() };
        let value = serde_json::to_value(&snapshot).unwrap();
        assert_eq!(value["filesystems"][0]["mountpoint"], "/mnt/\"quoted\"\\1/é");
        assert_eq!(value["filesystems"][0]["total"], 1001);
    }
}
