//! Network: the interfaces, their addresses and counters, and the rates of the interval.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::*;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Network {
    pub io_counters: NetIoCounters,
    /// The default route's interface, else the first up non-loopback one with IPv4; `null`
    /// when there is none.
    pub primary_interface: Option<Interface>,
    /// The interfaces a dashboard shows: up, not loopback, with an IPv4 address.
    #[serde(default, serialize_with = "crate::snapshot::json::interfaces")]
    pub interfaces: Option<Vec<UpInterface>>,
    /// Every interface of `/proc/net/dev`, loopback and down ones included, with its counters.
    #[serde(default, serialize_with = "crate::snapshot::json::all_interfaces")]
    pub all_interfaces: Option<Vec<NetInterface>>,
}

/// An interface that is up, not loopback and has an IPv4 address: the dashboard's fields,
/// flat, and ours.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UpInterface {
    #[schema(value_type = String)]
    pub name: Text,
    /// Its primary IPv4 address, e.g. `192.168.1.20`.
    pub ipv4: String,
    pub netmask: Option<String>,
    pub broadcast: Option<String>,
    pub speed_mbps: Option<u64>,
    pub mtu: Option<u32>,
    /// `full`, `half` or `unknown`.
    #[schema(value_type = String)]
    pub duplex: Text,
    #[schema(value_type = Option<String>)]
    pub mac: Option<Text>,
    #[schema(value_type = Vec<Ipv6Info>)]
    pub ipv6: Addresses6,
    pub counters: NetIoCounters,
    pub recv_bytes_per_sec: Option<f64>,
    pub sent_bytes_per_sec: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NetInterface {
    #[schema(value_type = String)]
    pub name: Text,
    /// Administratively up and with a carrier (psutil's `isup`); `null` when the
    /// `interfaces` collector does not run.
    pub up: Option<bool>,
    #[schema(value_type = Option<String>)]
    pub mac: Option<Text>,
    pub mtu: Option<u32>,
    pub speed_mbps: Option<u64>,
    #[schema(value_type = String)]
    pub duplex: Text,
    /// The primary IPv4 address (`SIOCGIFADDR`), if any.
    pub ipv4: Option<Ipv4Info>,
    /// Every IPv6 address (`/proc/net/if_inet6`).
    #[serde(default)]
    #[schema(value_type = Vec<Ipv6Info>)]
    pub ipv6: Addresses6,
    pub counters: NetIoCounters,
    pub recv_bytes_per_sec: Option<f64>,
    pub sent_bytes_per_sec: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Ipv4Info {
    pub address: String,
    pub netmask: Option<String>,
    pub broadcast: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Ipv6Info {
    #[schema(value_type = String)]
    pub address: Text,
    pub prefix_len: u8,
    /// `global`, `link`, `host` (loopback) or `site`.
    #[schema(value_type = String)]
    pub scope: Text,
}

/// Cumulative traffic since boot, summed over all interfaces (loopback included, as psutil).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NetIoCounters {
    pub bytes_sent: Option<u64>,
    pub bytes_recv: Option<u64>,
    pub packets_sent: Option<u64>,
    pub packets_recv: Option<u64>,
    pub errin: Option<u64>,
    pub errout: Option<u64>,
    pub dropin: Option<u64>,
    pub dropout: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Interface {
    pub name: String,
    pub ipv4: Option<String>,
    pub netmask: Option<String>,
    pub broadcast: Option<String>,
    /// Link speed; `null` when the kernel reports none (Wi-Fi, virtual links, link down).
    pub speed_mbps: Option<u64>,
    pub mtu: Option<u32>,
    /// `full`, `half` or `unknown`.
    pub duplex: String,
}

/// Rates over the last sampling interval, computed by the sampler.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Throughput {
    pub disk_read_bytes_per_sec: Option<f64>,
    pub disk_write_bytes_per_sec: Option<f64>,
    /// MiB per second.
    pub disk_read_mb_per_sec: Option<f64>,
    /// MiB per second.
    pub disk_write_mb_per_sec: Option<f64>,
    pub net_recv_bytes_per_sec: Option<f64>,
    pub net_sent_bytes_per_sec: Option<f64>,
    /// The interval the rates were computed over, seconds.
    pub interval_seconds: Option<f64>,
}
