//! What a spool holds for a destination, one entry per sample:
//!
//! - for a JSON destination, the `/system` body as polled (what is sent is built from it);
//! - for a metric destination (remote-write, InfluxDB), a *scrape*: the service's `/metrics`
//!   text as polled, deflate-compressed, with when the sample was taken and the `instance`
//!   it is labelled with. Every series `/metrics` serves is pushed, by construction: a new
//!   family reaches remote-write and InfluxDB with no change here.
//!
//! A scrape entry starts with a byte no JSON starts with ([`MAGIC`]); an entry that does not
//! is a snapshot (what metric destinations spooled before scrapes: still delivered, with the
//! series that can be derived from a snapshot).

use std::io::{Read, Write};

/// The first bytes of a scrape entry: a NUL (no JSON text starts with one), `ssm`, and the
/// layout's version.
pub(crate) const MAGIC: &[u8; 5] = b"\0ssm\x01";

/// A spooled `/metrics` text and what it was taken with.
#[derive(Debug, Clone, PartialEq)]
pub struct Scrape {
    /// When the sample was taken, Unix milliseconds: the service's `System-Stats-Collected-At`,
    /// or the forwarder's clock at the poll for a source that does not say.
    pub collected_at_ms: i64,
    /// The `instance` label (the InfluxDB `host` tag): the host's name, as the JSON payload's
    /// `hostname`.
    pub instance: String,
    /// The text as served.
    pub text: String,
}

/// Why an entry cannot be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EntryError {
    #[error("a scrape entry cut short ({0} bytes)")]
    Short(usize),
    #[error("a scrape entry whose instance is not UTF-8")]
    Instance,
    #[error("a scrape entry whose text does not decompress: {0}")]
    Inflate(std::io::Error),
    #[error("a scrape entry whose text is not UTF-8")]
    Text,
    #[error("a notice that does not decode: {0}")]
    Notice(serde_json::Error),
}

/// A spooled entry, read.
#[derive(Debug)]
pub(crate) enum Entry<'a> {
    /// A `/system` body.
    Snapshot(&'a [u8]),
    Scrape(Scrape),
    /// An alert firing or resolved, for a notification destination.
    Notice(Box<super::notify::Notice>),
}

impl Scrape {
    /// The entry's bytes: [`MAGIC`], the time (i64, little-endian), the instance (u16 length,
    /// UTF-8), then the text deflated at level 4: about as small as level 6 makes it in half
    /// the time (the levels and snappy compared in `docs/performance.md`, the fleet path).
    pub fn encode(&self) -> Vec<u8> {
        let instance = &self.instance.as_bytes()[..self.instance.len().min(u16::MAX as usize)];
        let mut out = Vec::with_capacity(self.text.len() / 5 + 64);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.collected_at_ms.to_le_bytes());
        out.extend_from_slice(&(instance.len() as u16).to_le_bytes());
        out.extend_from_slice(instance);
        let mut z = flate2::write::DeflateEncoder::new(out, flate2::Compression::new(4));
        // writing into a Vec cannot fail
        let _ = z.write_all(self.text.as_bytes());
        z.finish().unwrap_or_default()
    }
}

impl<'a> Entry<'a> {
    pub(crate) fn decode(bytes: &'a [u8]) -> Result<Entry<'a>, EntryError> {
        if let Some(notice) = bytes.strip_prefix(super::notify::MAGIC) {
            return super::notify::Notice::decode(notice)
                .map(|n| Entry::Notice(Box::new(n)))
                .map_err(EntryError::Notice);
        }
        let Some(rest) = bytes.strip_prefix(MAGIC) else { return Ok(Entry::Snapshot(bytes)) };
        let short = || EntryError::Short(bytes.len());
        let (time, rest) = rest.split_first_chunk::<8>().ok_or_else(short)?;
        let (len, rest) = rest.split_first_chunk::<2>().ok_or_else(short)?;
        let len = u16::from_le_bytes(*len) as usize;
        if rest.len() < len {
            return Err(short());
        }
        let (instance, deflated) = rest.split_at(len);
        let instance = std::str::from_utf8(instance).map_err(|_| EntryError::Instance)?.to_string();
        let mut text = Vec::with_capacity(deflated.len() * 6);
        flate2::read::DeflateDecoder::new(deflated).read_to_end(&mut text).map_err(EntryError::Inflate)?;
        let text = String::from_utf8(text).map_err(|_| EntryError::Text)?;
        Ok(Entry::Scrape(Scrape { collected_at_ms: i64::from_le_bytes(*time), instance, text }))
    }

    /// When the sample was taken (RFC 3339, as `/system`'s `collected_at` writes it); `None`
    /// for an entry that is neither a snapshot nor a scrape.
    pub(crate) fn collected_at(&self) -> Option<String> {
        match self {
            Entry::Snapshot(body) => {
                let s = super::payload::Sample::parse(body).ok()?;
                s.snapshot["collected_at"].as_str().map(str::to_string)
            }
            Entry::Scrape(s) => {
                let t = chrono::DateTime::from_timestamp_millis(s.collected_at_ms)?;
                Some(t.to_rfc3339_opts(chrono::SecondsFormat::Micros, false))
            }
            Entry::Notice(n) => Some(n.at().to_string()),
        }
    }
}

/// A spooled entry's `collected_at`; `None` when it is neither a snapshot nor a scrape.
pub fn collected_at(bytes: &[u8]) -> Option<String> {
    Entry::decode(bytes).ok()?.collected_at()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scrape_round_trips_and_is_smaller() {
        let text: String =
            (0..500).map(|i| format!("node_cpu_seconds_total{{cpu=\"{i}\",mode=\"idle\"}} {i}.5\n")).collect();
        let s = Scrape { collected_at_ms: 1_765_080_000_123, instance: "pi-ÿ".into(), text };
        let bytes = s.encode();
        assert!(bytes.len() * 5 < s.text.len(), "{} bytes for {}", bytes.len(), s.text.len());
        match Entry::decode(&bytes).unwrap() {
            Entry::Scrape(back) => assert_eq!(back, s),
            other => panic!("{other:?}"),
        }
        assert_eq!(collected_at(&bytes).as_deref(), Some("2025-12-07T04:00:00.123000+00:00"));
    }

    #[test]
    fn a_snapshot_is_what_is_not_a_scrape() {
        let body = br#"{"collected_at":"2026-01-01T00:00:00.000000+00:00"}"#;
        assert!(matches!(Entry::decode(body), Ok(Entry::Snapshot(b)) if b == body));
        assert_eq!(collected_at(b"not json"), None);
    }

    /// A damaged scrape entry is an error, never a panic.
    #[test]
    fn damaged_scrapes_are_errors() {
        let bytes = Scrape { collected_at_ms: 1, instance: "h".into(), text: "x 1\n".repeat(100) }.encode();
        for cut in 0..bytes.len() {
            let _ = Entry::decode(&bytes[..cut]);
        }
        assert!(matches!(Entry::decode(&bytes[..MAGIC.len() + 3]), Err(EntryError::Short(_))));
        let mut bad = bytes.clone();
        let last = bad.len() - 1;
        bad[MAGIC.len() + 11..].iter_mut().for_each(|b| *b = 0xff);
        bad[last] = 0;
        assert!(Entry::decode(&bad).is_err());
    }
}
