//! The Docker Engine API over its Unix socket (Podman's compatible socket alike): GET
//! requests only, each bounded in time, on a connection of its own (hyper's HTTP/1.1 client
//! on a `tokio` current-thread runtime owned by the caller's thread).

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde::Deserialize;

/// The most of an answer read (a list of a thousand containers is about 2 MiB).
const BODY_LIMIT: usize = 16 << 20;

/// Why the engine could not be asked: the values of `docker.error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum EngineError {
    /// No socket: Docker is not installed (or not at `SYSTEM_STATS_DOCKER_HOST`).
    #[error("not_installed")]
    NotInstalled,
    /// The socket is there but this user may not use it (not in the `docker` group).
    #[error("permission_denied")]
    PermissionDenied,
    /// The socket is there but nothing answers on it.
    #[error("daemon_not_running")]
    DaemonNotRunning,
    /// No answer in time.
    #[error("timeout")]
    Timeout,
    /// An answer that is not what the API says (logged with the details).
    #[error("unexpected_response")]
    Unexpected(String),
}

/// `SYSTEM_STATS_DOCKER_HOST`: `unix:///var/run/docker.sock`, or a bare socket path.
pub(crate) fn socket_path(host: &str) -> Result<PathBuf, String> {
    let path = host.strip_prefix("unix://").unwrap_or(host);
    if !path.starts_with('/') {
        return Err("unix:///path/to/docker.sock (only Unix sockets are supported)".into());
    }
    Ok(PathBuf::from(path))
}

/// A client of one engine.
pub(crate) struct Engine {
    socket: PathBuf,
    timeout: Duration,
    runtime: tokio::runtime::Runtime,
}

impl Engine {
    pub(crate) fn new(socket: &Path, timeout: Duration) -> std::io::Result<Engine> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        Ok(Engine { socket: socket.to_path_buf(), timeout, runtime })
    }

    /// GETs `path` and decodes the JSON answer; 404 is `Ok(None)`.
    pub(crate) fn get<T: for<'de> Deserialize<'de>>(&self, path: &str) -> Result<Option<T>, EngineError> {
        let body = self.runtime.block_on(async {
            tokio::time::timeout(self.timeout, self.request(path)).await.map_err(|_| EngineError::Timeout)?
        })?;
        match body {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| EngineError::Unexpected(format!("GET {path}: {e}"))),
        }
    }

    async fn request(&self, path: &str) -> Result<Option<Bytes>, EngineError> {
        let stream = match tokio::net::UnixStream::connect(&self.socket).await {
            Ok(s) => s,
            Err(e) => {
                return Err(match e.kind() {
                    std::io::ErrorKind::NotFound => EngineError::NotInstalled,
                    std::io::ErrorKind::PermissionDenied => EngineError::PermissionDenied,
                    std::io::ErrorKind::ConnectionRefused => EngineError::DaemonNotRunning,
                    _ => EngineError::Unexpected(format!("connecting to {}: {e}", self.socket.display())),
                });
            }
        };
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| EngineError::Unexpected(format!("GET {path}: {e}")))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let req = Request::get(path)
            .header("host", "docker")
            .header("user-agent", concat!("system-stats/", env!("CARGO_PKG_VERSION")))
            .body(Empty::<Bytes>::new())
            .map_err(|e| EngineError::Unexpected(format!("GET {path}: {e}")))?;
        let resp = sender.send_request(req).await.map_err(|e| EngineError::Unexpected(format!("GET {path}: {e}")))?;
        let status = resp.status();
        let body = Limited::new(resp.into_body(), BODY_LIMIT)
            .collect()
            .await
            .map_err(|e| EngineError::Unexpected(format!("GET {path}: {e}")))?
            .to_bytes();
        if status == hyper::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body[..body.len().min(300)]).trim().to_string();
            return Err(EngineError::Unexpected(format!("GET {path}: HTTP {status}: {text}")));
        }
        Ok(Some(body))
    }
}

/// One entry of `GET /containers/json?all=1`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Listed {
    pub id: String,
    #[serde(default)]
    pub names: Vec<String>,
    #[serde(default)]
    pub image: String,
    #[serde(rename = "ImageID", default)]
    pub image_id: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub ports: Vec<Port>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Port {
    #[serde(rename = "IP", default)]
    pub ip: Option<String>,
    #[serde(default)]
    pub private_port: u16,
    #[serde(default)]
    pub public_port: Option<u16>,
    #[serde(rename = "Type", default)]
    pub kind: String,
}

impl Port {
    /// As `docker ps` writes it: `0.0.0.0:8080->80/tcp`, or `80/tcp` when not published.
    pub(crate) fn describe(&self) -> String {
        match (&self.ip, self.public_port) {
            (Some(ip), Some(public)) => format!("{ip}:{public}->{}/{}", self.private_port, self.kind),
            (None, Some(public)) => format!("{public}->{}/{}", self.private_port, self.kind),
            _ => format!("{}/{}", self.private_port, self.kind),
        }
    }
}

/// What `GET /containers/{id}/json` says that the list does not.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Inspected {
    pub state: InspectedState,
    pub config: InspectedConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct InspectedConfig {
    /// The image as the container was created from it (`127.0.0.1:5000/app:latest`): the
    /// list shows the image's ID instead once that tag has moved to another image.
    #[serde(default)]
    pub image: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct InspectedState {
    #[serde(default)]
    pub pid: u32,
}

/// `GET /images/{id}/json`: the digests the image was pulled or pushed as.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ImageInfo {
    #[serde(default)]
    pub repo_digests: Vec<String>,
}

/// `GET /distribution/{name}/json`: what the registry has under that name.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Distribution {
    pub descriptor: Descriptor,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Descriptor {
    pub digest: String,
}

/// Percent-encodes what is not safe in a path segment (an image reference has `/` and `:`,
/// which the API takes as they are).
pub(crate) fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/:@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_like_docker_ps() {
        let p = |ip: Option<&str>, public: Option<u16>| Port {
            ip: ip.map(str::to_string),
            private_port: 80,
            public_port: public,
            kind: "tcp".into(),
        };
        assert_eq!(p(Some("0.0.0.0"), Some(8080)).describe(), "0.0.0.0:8080->80/tcp");
        assert_eq!(p(Some("::"), Some(8080)).describe(), ":::8080->80/tcp");
        assert_eq!(p(None, None).describe(), "80/tcp");
    }

    #[test]
    fn the_list_as_the_api_writes_it() {
        let text = r#"[{"Id":"3a73c69dddadb2319f7f5ddc1b82e7446f53afedd856155634e153e904fd71ce","Names":["/burn"],
            "Image":"local/busybox:1","ImageID":"sha256:cd2d","Command":"sh","Created":1795651902,"Ports":
            [{"IP":"0.0.0.0","PrivatePort":80,"PublicPort":8080,"Type":"tcp"}],"Labels":{},"State":"running",
            "Status":"Up 2 seconds","HostConfig":{"NetworkMode":"default"}}]"#;
        let list: Vec<Listed> = serde_json::from_str(text).unwrap();
        assert_eq!(list[0].names, ["/burn"]);
        assert_eq!(list[0].ports[0].describe(), "0.0.0.0:8080->80/tcp");
        assert_eq!((list[0].state.as_str(), list[0].image_id.as_str()), ("running", "sha256:cd2d"));
    }

    #[test]
    fn socket_paths() {
        assert_eq!(socket_path("unix:///var/run/docker.sock").unwrap(), PathBuf::from("/var/run/docker.sock"));
        assert_eq!(socket_path("/run/podman/podman.sock").unwrap(), PathBuf::from("/run/podman/podman.sock"));
        assert!(socket_path("tcp://127.0.0.1:2375").is_err());
        assert_eq!(encode_segment("127.0.0.1:5000/bb:latest"), "127.0.0.1:5000/bb:latest");
        assert_eq!(encode_segment("a b"), "a%20b");
    }
}
