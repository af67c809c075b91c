//! HTTP as both programs speak it: the server the service's endpoints and the forwarder's
//! metrics listener run on ([`server`], with its connection limits, checks and TLS), and the
//! client the forwarder and the service's `forwarder` family ask with ([`client`]).

pub mod client;
pub mod conn;
pub mod guard;
pub mod server;
#[cfg(feature = "tls")]
pub mod tls;
