//! Interface addresses through `getifaddrs(3)` (Linux and macOS alike), as psutil's
//! `net_if_addrs`.

use std::net::Ipv4Addr;

use nix::net::if_::InterfaceFlags;

/// An interface's first IPv4 address, as `getifaddrs(3)` reports it.
#[derive(Debug)]
pub struct Ipv4Entry {
    pub name: String,
    pub flags: InterfaceFlags,
    pub address: Ipv4Addr,
    pub netmask: Option<Ipv4Addr>,
    pub broadcast: Option<Ipv4Addr>,
}

impl Ipv4Entry {
    /// Up, running and not loopback: a candidate when there is no default route.
    pub(crate) fn usable_fallback(&self) -> bool {
        self.flags.contains(InterfaceFlags::IFF_UP | InterfaceFlags::IFF_RUNNING)
            && !self.flags.contains(InterfaceFlags::IFF_LOOPBACK)
    }
}

pub fn ipv4_addresses() -> nix::Result<Vec<Ipv4Entry>> {
    let v4 = |a: Option<nix::sys::socket::SockaddrStorage>| a.and_then(|s| s.as_sockaddr_in().map(|s| s.ip()));
    let mut out: Vec<Ipv4Entry> = Vec::new();
    for ifa in nix::ifaddrs::getifaddrs()? {
        let Some(address) = v4(ifa.address) else { continue };
        if out.iter().any(|e| e.name == ifa.interface_name) {
            continue;
        }
        out.push(Ipv4Entry {
            address,
            netmask: v4(ifa.netmask),
            broadcast: if ifa.flags.contains(InterfaceFlags::IFF_BROADCAST) { v4(ifa.broadcast) } else { None },
            flags: ifa.flags,
            name: ifa.interface_name,
        });
    }
    Ok(out)
}

/// One interface's primary IPv4 address, netmask and broadcast through `ioctl(2)`
/// (`SIOCGIFADDR`, `SIOCGIFNETMASK`, `SIOCGIFFLAGS`, `SIOCGIFBRDADDR`): four cheap calls on
/// a socket kept open, where `getifaddrs(3)` dumps every link and address over netlink. The
/// kernel answers with the first address labelled with that name, which is the first IPv4
/// entry `getifaddrs` (and so psutil) lists for it.
#[cfg(target_os = "linux")]
pub struct Ipv4Ioctl {
    sock: std::os::fd::OwnedFd,
}

#[cfg(target_os = "linux")]
impl Ipv4Ioctl {
    pub fn new() -> std::io::Result<Self> {
        use std::os::fd::FromRawFd;
        // SAFETY: socket(2) with constant arguments; the descriptor is owned from here on.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh, valid descriptor nobody else owns.
        Ok(Ipv4Ioctl { sock: unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) } })
    }

    /// `None` when the interface has no IPv4 address or does not exist.
    pub fn query(&self, name: &str) -> std::io::Result<Option<Ipv4Entry>> {
        use std::os::fd::AsRawFd;
        let bytes = name.as_bytes();
        if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
            return Ok(None);
        }
        // SAFETY: ifreq is plain data; all zeroes is a valid value.
        let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
        for (dst, &src) in req.ifr_name.iter_mut().zip(bytes) {
            *dst = src as libc::c_char;
        }
        let fd = self.sock.as_raw_fd();
        let call = |req: &mut libc::ifreq, op| -> std::io::Result<()> {
            // SAFETY: the SIOCGIF* requests read ifr_name and write the union of `req`,
            // which lives for the whole call.
            if unsafe { libc::ioctl(fd, op as _, req as *mut libc::ifreq) } < 0 {
                Err(std::io::Error::last_os_error())
            } else {
                Ok(())
            }
        };
        match call(&mut req, libc::SIOCGIFADDR) {
            Ok(()) => {}
            Err(e) if matches!(e.raw_os_error(), Some(libc::EADDRNOTAVAIL | libc::ENODEV)) => return Ok(None),
            Err(e) => return Err(e),
        }
        // SAFETY (all union reads below): the preceding ioctl filled the member read.
        let Some(address) = v4(unsafe { &req.ifr_ifru.ifru_addr }) else { return Ok(None) };
        let netmask =
            call(&mut req, libc::SIOCGIFNETMASK).ok().and_then(|()| v4(unsafe { &req.ifr_ifru.ifru_netmask }));
        call(&mut req, libc::SIOCGIFFLAGS)?;
        let flags = InterfaceFlags::from_bits_truncate(unsafe { req.ifr_ifru.ifru_flags } as libc::c_int);
        let broadcast = if flags.contains(InterfaceFlags::IFF_BROADCAST) {
            call(&mut req, libc::SIOCGIFBRDADDR).ok().and_then(|()| v4(unsafe { &req.ifr_ifru.ifru_broadaddr }))
        } else {
            None
        };
        Ok(Some(Ipv4Entry { name: name.to_string(), flags, address, netmask, broadcast }))
    }
}

#[cfg(target_os = "linux")]
fn v4(sa: &libc::sockaddr) -> Option<Ipv4Addr> {
    if i32::from(sa.sa_family) != libc::AF_INET {
        return None;
    }
    // SAFETY: an AF_INET sockaddr is a sockaddr_in; both are 16 bytes.
    let sin = unsafe { &*(sa as *const libc::sockaddr).cast::<libc::sockaddr_in>() };
    Some(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)))
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The ioctl path gives what getifaddrs gives, for every interface of this machine.
    #[test]
    fn ioctl_agrees_with_getifaddrs() {
        let q = Ipv4Ioctl::new().unwrap();
        let all = ipv4_addresses().unwrap();
        assert!(all.iter().any(|a| a.name == "lo"), "{all:?}");
        for a in &all {
            let b = q.query(&a.name).unwrap().expect("an address");
            assert_eq!((a.address, a.netmask, a.broadcast), (b.address, b.netmask, b.broadcast), "{}", a.name);
        }
        assert!(q.query("nonexistent0").unwrap().is_none());
        assert!(q.query("").unwrap().is_none());
        assert!(q.query("a-name-that-is-far-too-long").unwrap().is_none());
    }
}
