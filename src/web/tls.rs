//! HTTPS: the certificate and key (PEM) of `SYSTEM_STATS_TLS_CERT` and `SYSTEM_STATS_TLS_KEY`,
//! loaded at start (a bad or unreadable file stops the service with one line) and again when
//! either file changes (a renewal by certbot or an ACME client), without a restart; a renewal
//! that cannot be loaded keeps the previous certificate, with a warning.

use crate::sync::Locked;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// How often the files are looked at for a change (on a new connection).
const CHECK_EVERY: Duration = Duration::from_secs(2);

/// A server configuration from a certificate chain and a key in PEM files.
pub(crate) fn load(cert: &Path, key: &Path) -> Result<ServerConfig, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("{}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate in it (a PEM file is expected)", cert.display()));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
    let mut config = ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| format!("{} and {} do not make a usable pair: {e}", cert.display(), key.display()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The current configuration, reloaded when the files change.
pub struct Tls {
    cert: PathBuf,
    key: PathBuf,
    current: ArcSwap<ServerConfig>,
    /// When the files were last looked at, and their modification times then.
    seen: Mutex<(Instant, Option<SystemTime>, Option<SystemTime>)>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").field("cert", &self.cert).field("key", &self.key).finish_non_exhaustive()
    }
}

impl Tls {
    /// Loads the pair; the error is one line naming the file and what is wrong.
    pub fn new(cert: &Path, key: &Path) -> Result<Tls, String> {
        let config = load(cert, key)?;
        Ok(Tls {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            current: ArcSwap::from_pointee(config),
            seen: Mutex::new((Instant::now(), modified(cert), modified(key))),
        })
    }

    /// An acceptor with the current certificate, reloading it first if the files changed.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        let mut seen = self.seen.locked();
        if seen.0.elapsed() >= CHECK_EVERY {
            let (cert_at, key_at) = (modified(&self.cert), modified(&self.key));
            if (cert_at, key_at) != (seen.1, seen.2) {
                match load(&self.cert, &self.key) {
                    Ok(config) => {
                        self.current.store(Arc::new(config));
                        tracing::info!("TLS certificate reloaded from {}", self.cert.display());
                        (seen.1, seen.2) = (cert_at, key_at);
                    }
                    // half-written by a renewal, perhaps: tried again at the next check
                    Err(e) => {
                        tracing::warn!("TLS certificate changed but cannot be loaded ({e}); keeping the previous one")
                    }
                }
            }
            seen.0 = Instant::now();
        }
        tokio_rustls::TlsAcceptor::from(self.current.load_full())
    }
}
