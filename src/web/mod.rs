//! HTTP as both programs speak it: the server the service's endpoints and the forwarder's
//! metrics listener run on ([`server`], with its connection limits, checks and TLS), and the
//! client the forwarder and the service's `forwarder` family ask with ([`client`]), and the
//! two headers by which the service names its samples to the forwarder.

pub(crate) mod client;
pub mod conn;
pub mod guard;
pub mod server;
#[cfg(feature = "tls")]
pub(crate) mod tls;

/// The header that names the sample an answer of `/system` or `/metrics` carries
/// ([`crate::sampler::Shared::sample_id`]): the forwarder spools each sample once by it.
pub const SAMPLE_HEADER: &str = "system-stats-sample";

/// The header that says when that sample was taken (RFC 3339, as `collected_at`): the time
/// the forwarder pushes `/metrics` with.
pub const COLLECTED_AT_HEADER: &str = "system-stats-collected-at";
