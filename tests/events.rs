//! `GET /events` (Server-Sent Events) and `GET /history` over real sockets: events in order,
//! resumption with `Last-Event-ID`, the heartbeat, the subscriber cap, a client that never
//! reads dropped while the service's memory stays flat.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::FromRawFd;
use std::time::{Duration, Instant};

use common::Service;
use serde_json::Value;

/// An open `/events` stream.
struct Stream {
    reader: BufReader<TcpStream>,
    pub status: u16,
    pub head: String,
}

/// One event or comment block of the stream.
#[derive(Debug, Default)]
struct Block {
    id: Option<u64>,
    event: Option<String>,
    data: Option<Value>,
    comment: Option<String>,
    retry: Option<u64>,
}

impl Stream {
    fn open(addr: SocketAddr, last_id: Option<u64>) -> Stream {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let resume = last_id.map(|id| format!("Last-Event-ID: {id}\r\n")).unwrap_or_default();
        write!(s, "GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n{resume}\r\n").unwrap();
        let mut reader = BufReader::new(s);
        let mut head = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" || line.is_empty() {
                break;
            }
            head.push_str(&line);
        }
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        Stream { reader, status, head }
    }

    /// The next chunk of the chunked body, as text.
    fn chunk(&mut self) -> String {
        let mut size = String::new();
        self.reader.read_line(&mut size).unwrap();
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or_else(|_| panic!("chunk size {size:?}"));
        let mut data = vec![0u8; n + 2];
        self.reader.read_exact(&mut data).unwrap();
        String::from_utf8(data[..n].to_vec()).unwrap()
    }

    /// The next block (each chunk is whole blocks: a frame is written at once).
    fn next(&mut self) -> Block {
        let text = self.chunk();
        let mut b = Block::default();
        for line in text.trim_end().lines() {
            if let Some(v) = line.strip_prefix("id: ") {
                b.id = Some(v.parse().unwrap());
            } else if let Some(v) = line.strip_prefix("event: ") {
                b.event = Some(v.to_string());
            } else if let Some(v) = line.strip_prefix("data: ") {
                b.data = Some(serde_json::from_str(v).unwrap());
            } else if let Some(v) = line.strip_prefix("retry: ") {
                b.retry = Some(v.parse().unwrap());
            } else if let Some(v) = line.strip_prefix(':') {
                b.comment = Some(v.trim().to_string());
            } else {
                panic!("unexpected line {line:?} in {text:?}");
            }
        }
        b
    }

    /// The next sample event (skipping `retry:` and comments).
    fn sample(&mut self) -> (u64, Value) {
        loop {
            let b = self.next();
            if let (Some(id), Some(data)) = (b.id, b.data) {
                assert_eq!(b.event.as_deref(), Some("sample"));
                assert_eq!(data["id"], id);
                return (id, data);
            }
        }
    }
}

/// Events come in order, one per sample, with the figures of that sample; a client coming
/// back with `Last-Event-ID` gets the ones it missed, from the next one on.
#[test]
fn events_in_order_and_resumed() {
    let s = Service::start(&[("SYSTEM_STATS_SAMPLE_INTERVAL", "0.2")]);
    let mut st = Stream::open(s.addr, None);
    assert_eq!(st.status, 200, "{}", st.head);
    assert!(st.head.to_lowercase().contains("content-type: text/event-stream"), "{}", st.head);
    let first = st.next();
    assert_eq!(first.retry, Some(2000));
    let mut ids = Vec::new();
    for _ in 0..6 {
        let (id, data) = st.sample();
        assert!(data["cpu"].is_number() && data["memory"]["total"].is_number(), "{data}");
        assert_eq!(system_stats::live::sample_id(data["collected_at"].as_str().unwrap()), Some(id));
        ids.push(id);
    }
    for w in ids.windows(2) {
        assert!(w[1] > w[0] && w[1] - w[0] < 1000, "{ids:?}");
    }
    drop(st);
    // gone for a while, back with the second id: the third comes first, then the rest
    std::thread::sleep(Duration::from_millis(700));
    let mut back = Stream::open(s.addr, Some(ids[1]));
    let resumed: Vec<u64> = (0..6).map(|_| back.sample().0).collect();
    assert_eq!(&resumed[..4], &ids[2..6], "resumed {resumed:?} after {ids:?}");
    assert!(resumed[4] > ids[5]);
}

/// With no sample for 15 s (a 20 s interval), a heartbeat comment keeps the stream alive.
#[test]
fn a_heartbeat_when_samples_are_rare() {
    let s = Service::start(&[("SYSTEM_STATS_SAMPLE_INTERVAL", "20")]);
    let mut st = Stream::open(s.addr, None);
    st.sample();
    let start = Instant::now();
    let b = st.next();
    assert_eq!(b.comment.as_deref(), Some("heartbeat"), "{b:?}");
    let waited = start.elapsed();
    assert!(waited >= Duration::from_secs(13) && waited < Duration::from_secs(19), "{waited:?}");
}

/// Beyond `SYSTEM_STATS_MAX_EVENT_CLIENTS`, 503 with the setting named; a place freed is
/// taken again.
#[test]
fn subscribers_are_capped() {
    let s = Service::start(&[("SYSTEM_STATS_MAX_EVENT_CLIENTS", "2"), ("SYSTEM_STATS_SAMPLE_INTERVAL", "0.2")]);
    let mut a = Stream::open(s.addr, None);
    let _b = Stream::open(s.addr, None);
    a.sample();
    let r = s.get("/events");
    assert_eq!(r.status, 503, "{r:?}");
    assert!(r.body.contains("SYSTEM_STATS_MAX_EVENT_CLIENTS"), "{}", r.body);
    assert_eq!(r.header("retry-after"), Some("10"));
    drop(a);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let c = Stream::open(s.addr, None);
        if c.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the freed place was not given back");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A connected TCP socket with a tiny receive buffer (set before connecting, so that the
/// window the service sees is small too).
fn small_window_socket(addr: SocketAddr) -> TcpStream {
    // SAFETY: a socket we own, setsockopt with a valid int, connect with a valid sockaddr_in.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(fd >= 0);
        let size: libc::c_int = 2048;
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as u32,
        );
        let SocketAddr::V4(v4) = addr else { panic!("IPv4 expected") };
        let sa = libc::sockaddr_in {
            sin_family: libc::AF_INET as u16,
            sin_port: v4.port().to_be(),
            sin_addr: libc::in_addr { s_addr: u32::from(*v4.ip()).to_be() },
            sin_zero: [0; 8],
        };
        let rc = libc::connect(
            fd,
            (&sa as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as u32,
        );
        assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
        TcpStream::from_raw_fd(fd)
    }
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).unwrap().trim().trim_end_matches("kB").trim().parse().unwrap()
}

/// A subscriber that never reads is dropped once it falls behind (its place is given back)
/// and the service's memory stays flat meanwhile.
#[test]
fn a_subscriber_that_never_reads_is_dropped() {
    let s = Service::start(&[
        ("SYSTEM_STATS_SAMPLE_INTERVAL", "0.1"),
        ("SYSTEM_STATS_MAX_EVENT_CLIENTS", "1"),
        ("SYSTEM_STATS_LOG_LEVEL", "debug"),
    ]);
    let pid = s.run.child.id();
    std::thread::sleep(Duration::from_millis(500));
    let before = rss_kib(pid);
    let mut stuck = small_window_socket(s.addr);
    stuck.write_all(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    // it takes the only place
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(s.get("/events").status, 503);
    // the kernel takes up to 128 KiB of unsent frames (about 12 s of them here) before the
    // service's writes block; then its own buffer of 8 frames fills in under a second
    let line = s.run.wait_for_line_within("samples behind: dropped", Duration::from_secs(40));
    eprintln!("{line}");
    let mut again = Stream::open(s.addr, None);
    assert_eq!(again.status, 200, "the place was not given back");
    again.sample();
    let after = rss_kib(pid);
    eprintln!("RSS {before} KiB before the stuck subscriber, {after} KiB after");
    assert!(after <= before + 1024, "RSS grew from {before} to {after} KiB");
    drop(stuck);
}

/// `/history`: the figures of the last samples, by window; bad windows are 400 naming the
/// parameter.
#[test]
fn history_by_window() {
    let s = Service::start(&[("SYSTEM_STATS_SAMPLE_INTERVAL", "0.2")]);
    std::thread::sleep(Duration::from_millis(3500));
    let h = s.json("/history?window=5m");
    assert_eq!(h["window"], 300);
    assert_eq!(h["resolution"], 1);
    let times = h["times"].as_array().unwrap();
    assert!((3..=5).contains(&times.len()), "{} points in 3.5 s at one per second", times.len());
    let cpu = h["series"]["cpu"]["mean"].as_array().unwrap();
    assert_eq!(cpu.len(), times.len());
    assert!(h["series"]["memory"]["mean"][0].is_number());
    assert!(h["series"]["cpu"].get("min").is_none());
    // the day: minute points only (none closed yet in 3.5 s, unless a minute turned)
    let day = s.json("/history?window=24h");
    assert_eq!((day["window"].as_u64(), day["resolution"].as_u64()), (Some(86_400), Some(60)));
    assert!(day["times"].as_array().unwrap().len() <= 1);
    assert_eq!(s.json("/history")["window"], 300);
    assert_eq!(s.json("/history?window=90")["window"], 90);
    for bad in ["/history?window=2d", "/history?window=0", "/history?span=5m"] {
        let r = s.get(bad);
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        assert!(r.body.contains("window"), "{bad}: {}", r.body);
    }
    let post = common::request_with_body(s.addr, "POST", "/history", "");
    assert_eq!(post.status, 405);
}
