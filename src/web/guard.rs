//! What a request must pass before it is answered: a `Host` this service answers to (against
//! DNS rebinding), the token when one is set (`Authorization: Bearer`, compared in constant
//! time, failures limited per client address), and CORS only for the origins listed.

use crate::sync::Locked;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hyper::header::HeaderValue;

/// The `Host` names this service answers to, besides IP literals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostCheck {
    any: bool,
    names: Vec<String>,
}

impl HostCheck {
    /// `localhost`, this machine's names (short, fully qualified as `/etc/hosts` says, and
    /// `<short>.local`), and `extra` (`SYSTEM_STATS_ALLOWED_HOSTS`; `*` for any).
    pub fn new(extra: &[String]) -> HostCheck {
        let mut names = vec!["localhost".to_string()];
        if let Ok(h) = nix::unistd::gethostname() {
            let full = h.to_string_lossy().to_ascii_lowercase();
            let short = full.split('.').next().unwrap_or_default().to_string();
            if !short.is_empty() {
                names.push(format!("{short}.local"));
                names.push(short.clone());
                names.push(full.clone());
                // the fully qualified names /etc/hosts gives this machine
                if let Ok(hosts) = std::fs::read_to_string("/etc/hosts") {
                    for line in hosts.lines() {
                        let words: Vec<&str> =
                            line.split('#').next().unwrap_or("").split_whitespace().skip(1).collect();
                        if words.iter().any(|w| w.eq_ignore_ascii_case(&short) || w.eq_ignore_ascii_case(&full)) {
                            names.extend(words.iter().map(|w| w.to_ascii_lowercase()));
                        }
                    }
                }
            }
        }
        let any = extra.iter().any(|e| e == "*");
        names.extend(extra.iter().filter(|e| *e != "*").map(|e| e.trim_end_matches('.').to_ascii_lowercase()));
        names.sort();
        names.dedup();
        HostCheck { any, names }
    }

    /// The names accepted (for the error message).
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Whether a `Host` header value is one to answer.
    pub fn allows(&self, host: &str) -> bool {
        if self.any {
            return true;
        }
        let host = host.trim();
        // [v6]:port, or name:port
        if let Some(v6) = host.strip_prefix('[') {
            return v6.split(']').next().is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok());
        }
        let name = match host.rsplit_once(':') {
            Some((n, port)) if port.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => host,
        };
        let name = name.trim_end_matches('.');
        name.parse::<IpAddr>().is_ok() || self.names.iter().any(|n| n.eq_ignore_ascii_case(name))
    }
}

/// Failed attempts allowed per client address within [`FAILURE_WINDOW`]; beyond, 429.
pub(crate) const MAX_FAILURES: u32 = 10;
pub(crate) const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Addresses remembered at most (a flood from many addresses cannot grow it for ever).
const MAX_TRACKED: usize = 4096;

/// Why a request was not let through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No `Authorization: Bearer`, or another token.
    Unauthorized(&'static str),
    /// Too many failures from this address: wait this long.
    TooMany(Duration),
}

/// The token, and the failed attempts per address.
#[derive(Debug)]
pub struct Auth {
    token: Vec<u8>,
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

/// Compares without returning early: the time taken says nothing of where they differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() ^ b.len()) as u8 | u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0xff);
    }
    std::hint::black_box(diff) == 0
}

/// The token of an `Authorization: Bearer <token>` header.
fn bearer(header: Option<&HeaderValue>) -> Option<&[u8]> {
    header
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().as_bytes())
}

impl Auth {
    pub fn new(token: &str) -> Auth {
        Auth { token: token.as_bytes().to_vec(), failures: Mutex::new(HashMap::new()) }
    }

    /// Whether `header` carries the right token, without counting a failure (the check
    /// that answers the request does).
    pub fn accepts(&self, header: Option<&HeaderValue>) -> bool {
        bearer(header).is_some_and(|t| constant_time_eq(t, &self.token))
    }

    /// Lets a request with the right token through; counts and refuses the others.
    pub fn check(&self, peer: IpAddr, header: Option<&HeaderValue>) -> Result<(), Refusal> {
        let mut failures = self.failures.locked();
        if let Some((count, since)) = failures.get(&peer)
            && *count >= MAX_FAILURES
            && since.elapsed() < FAILURE_WINDOW
        {
            return Err(Refusal::TooMany(FAILURE_WINDOW - since.elapsed()));
        }
        let why = match bearer(header) {
            Some(t) if constant_time_eq(t, &self.token) => return Ok(()),
            Some(_) => "a wrong token",
            None => "no token",
        };
        if failures.len() >= MAX_TRACKED {
            failures.retain(|_, (_, since)| since.elapsed() < FAILURE_WINDOW);
            if failures.len() >= MAX_TRACKED {
                failures.clear();
            }
        }
        let entry = failures.entry(peer).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= FAILURE_WINDOW {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
        let count = entry.0;
        drop(failures);
        if count == 1 {
            tracing::warn!(%peer, "refused (401): {why} (a token is required; logged once a minute per address)");
        } else if count == MAX_FAILURES {
            tracing::warn!(
                %peer,
                "{MAX_FAILURES} failed attempts within {} s: refused (429) for the rest of that time",
                FAILURE_WINDOW.as_secs()
            );
        }
        Err(Refusal::Unauthorized(why))
    }
}

/// The origins allowed to read the answers from a web page of theirs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cors {
    origins: Vec<String>,
}

impl Cors {
    pub fn new(origins: &[String]) -> Cors {
        Cors { origins: origins.iter().map(|o| o.trim_end_matches('/').to_ascii_lowercase()).collect() }
    }

    /// The `Access-Control-Allow-Origin` for a request's `Origin`, if it is allowed.
    pub fn allow(&self, origin: Option<&HeaderValue>) -> Option<HeaderValue> {
        if self.origins.is_empty() {
            return None;
        }
        let origin = origin?.to_str().ok()?;
        if self.origins.iter().any(|o| o == "*") {
            return Some(HeaderValue::from_static("*"));
        }
        self.origins
            .iter()
            .any(|o| o.eq_ignore_ascii_case(origin))
            .then(|| HeaderValue::from_str(origin).ok())
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        let h = HostCheck { any: false, names: vec!["localhost".into(), "pi".into(), "pi.local".into()] };
        for ok in [
            "localhost",
            "localhost:5001",
            "PI:5001",
            "pi.local",
            "pi.",
            "127.0.0.1:5001",
            "192.168.1.20",
            "[::1]:5001",
            "[fe80::1]",
        ] {
            assert!(h.allows(ok), "{ok}");
        }
        for bad in ["evil.example", "evil.example:5001", "pi.evil.example", "[nope]:1", "localhost.evil", ""] {
            assert!(!h.allows(bad), "{bad}");
        }
        let any = HostCheck::new(&["*".into()]);
        assert!(any.allows("evil.example"));
        let extra = HostCheck::new(&["stats.example.org".into()]);
        assert!(extra.allows("stats.example.org:443") && extra.allows("localhost") && !extra.allows("x.example.org"));
    }

    #[test]
    fn tokens() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd") && !constant_time_eq(b"abc", b"ab") && !constant_time_eq(b"", b"a"));
        let auth = Auth::new("s3cret");
        let peer: IpAddr = "10.0.0.5".parse().unwrap();
        let h = |v: &str| HeaderValue::from_str(v).unwrap();
        assert_eq!(auth.check(peer, Some(&h("Bearer s3cret"))), Ok(()));
        assert_eq!(auth.check(peer, Some(&h("bearer s3cret"))), Ok(()));
        assert_eq!(auth.check(peer, None), Err(Refusal::Unauthorized("no token")));
        assert_eq!(auth.check(peer, Some(&h("Basic czNjcmV0"))), Err(Refusal::Unauthorized("no token")));
        for _ in 0..MAX_FAILURES - 3 {
            assert_eq!(auth.check(peer, Some(&h("Bearer guess"))), Err(Refusal::Unauthorized("a wrong token")));
        }
        assert_eq!(auth.check(peer, Some(&h("Bearer guess"))), Err(Refusal::Unauthorized("a wrong token")));
        // the limit is reached: even the right token waits
        assert!(matches!(auth.check(peer, Some(&h("Bearer s3cret"))), Err(Refusal::TooMany(_))));
        // other addresses are not affected
        assert_eq!(auth.check("10.0.0.6".parse().unwrap(), Some(&h("Bearer s3cret"))), Ok(()));
    }

    #[test]
    fn cors() {
        let none = Cors::new(&[]);
        assert_eq!(none.allow(Some(&HeaderValue::from_static("https://a.example"))), None);
        let some = Cors::new(&["https://dash.example".into()]);
        assert_eq!(
            some.allow(Some(&HeaderValue::from_static("https://dash.example"))).unwrap(),
            "https://dash.example"
        );
        assert_eq!(some.allow(Some(&HeaderValue::from_static("https://evil.example"))), None);
        assert_eq!(some.allow(None), None);
    }
}
