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
    pub fn usable_fallback(&self) -> bool {
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
