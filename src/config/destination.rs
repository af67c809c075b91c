//! A forwarder's destinations and its source: their URLs, formats and credentials, from the
//! comma list of `MONITORING_SERVER_METRICS_URL` and from `SYSTEM_STATS_FORWARD_CONFIG`.

use std::fmt;
use std::path::PathBuf;

use super::*;

/// Where a destination's samples go, in which format, with which credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// The URL requests go to (without credentials).
    pub url: http::Uri,
    pub format: Format,
    /// The list entry as the user wrote it, password redacted (for logs and the spool file
    /// name).
    pub label: String,
    pub access: Access,
    /// A chat service's own fields (Shoutrrr URLs): where in it, as whom.
    pub chat: Option<Chat>,
}

impl Destination {
    /// Whether two entries send to the same place the same way (one spool for both would
    /// mix them): Telegram's chats share a URL and differ by chat.
    pub fn same_as(&self, other: &Destination) -> bool {
        self.url == other.url && self.format == other.format && self.chat == other.chat
    }
}

/// A chat or push service reached through a Shoutrrr URL (`SYSTEM_STATS_NOTIFY_URLS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatService {
    /// `ntfy://[user:password@]host[:port]/topic[?scheme=http&priority=…&tags=…]`
    Ntfy,
    /// `gotify://host[:port][/path]/token[?disabletls=yes&priority=N]`
    Gotify,
    /// `slack://hook:A-B-C@webhook` (an incoming webhook)
    SlackWebhook,
    /// `slack://xoxb:TOKEN@CHANNEL` (a bot token: `chat.postMessage`)
    SlackBot,
    /// `mattermost://[username@]host[:port][/path]/token[/channel][?disabletls=yes]`
    Mattermost,
    /// `discord://token@id`
    Discord,
    /// `telegram://token@telegram?chats=@channel,12345` (one destination per chat)
    Telegram,
    /// `smtp://[user:password@]host[:port]/?from=…&to=a,b[&encryption=auto|none|explicittls|implicittls]`
    Email,
}

/// How an e-mail destination secures its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain SMTP (a relay on this machine or a trusted network).
    None,
    /// STARTTLS, required: a server that does not offer it gets nothing (not the password).
    StartTls,
    /// TLS from the first byte (submissions, port 465).
    Implicit,
}

/// An e-mail destination's envelope and server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub from: String,
    pub to: Vec<String>,
}

/// What a chat service's body needs beside its URL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Chat {
    pub service: Option<ChatService>,
    /// Slack's or Mattermost's channel, Telegram's chat.
    pub channel: Option<String>,
    pub username: Option<String>,
    pub title: Option<String>,
    pub priority: Option<String>,
    pub tags: Option<String>,
    /// E-mail: the server and the envelope.
    pub email: Option<Email>,
}

/// How to reach a server: credentials, extra headers, the CA its certificate is checked
/// against.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    /// `Authorization`: basic from the URL's user and password, or a bearer token.
    pub authorization: Option<Credentials>,
    /// Extra headers (a configuration file's `headers`); values are never logged.
    pub headers: Vec<(http::HeaderName, http::HeaderValue)>,
    /// Certificates (PEM) that the server's must chain to, instead of the system's roots.
    pub ca_file: Option<PathBuf>,
}

/// Credentials sent in `Authorization`.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    Basic { user: String, password: Secret },
    Bearer(Secret),
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Basic { user, .. } => write!(f, "Basic({user}:***)"),
            Credentials::Bearer(_) => f.write_str("Bearer(***)"),
        }
    }
}

impl Credentials {
    /// The `Authorization` header value, marked sensitive (hyper never logs it).
    pub fn header(&self) -> http::HeaderValue {
        use base64::Engine;
        let text = match self {
            Credentials::Basic { user, password } => format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{}", password.expose()))
            ),
            Credentials::Bearer(token) => format!("Bearer {}", token.expose()),
        };
        // tokens are checked printable, and base64 is: a value that does not fit is empty
        let mut v = http::HeaderValue::from_str(&text).unwrap_or_else(|_| http::HeaderValue::from_static(""));
        v.set_sensitive(true);
        v
    }
}

impl Access {
    /// Every header to send: `Authorization` first, then the extra ones.
    pub fn request_headers(&self) -> Vec<(http::HeaderName, http::HeaderValue)> {
        let mut out: Vec<_> = self.authorization.iter().map(|c| (http::header::AUTHORIZATION, c.header())).collect();
        out.extend(self.headers.iter().cloned());
        out
    }

    /// Whether credentials would cross the network in clear: `http://` to a host other than
    /// this machine.
    pub fn sent_in_clear(&self, url: &http::Uri) -> bool {
        let secret = self.authorization.is_some() || !self.headers.is_empty();
        let local = matches!(url.host(), Some("localhost" | "127.0.0.1" | "[::1]" | "::1"))
            || url.host().and_then(|h| h.parse::<std::net::IpAddr>().ok()).is_some_and(|ip| ip.is_loopback());
        secret && url.scheme_str() == Some("http") && !local
    }
}

/// Decodes `%XX` escapes (a URL's user and password may carry them).
pub(super) fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3).ok_or("a % not followed by two hex digits")?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| "a % not followed by two hex digits")?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "escapes that are not UTF-8".to_string())
}

/// Splits `user:password@` off a URL: the URL without it, the credentials, and the URL as
/// shown (`https://user:***@host/...`).
pub fn split_credentials(url: &str) -> Result<(String, Option<Credentials>, String), String> {
    let Some((scheme, rest)) = url.split_once("://") else { return Ok((url.to_string(), None, url.to_string())) };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return Ok((url.to_string(), None, url.to_string()));
    };
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let user = percent_decode(user).map_err(|e| format!("a user name in the URL without {e}"))?;
    let password = percent_decode(password).map_err(|e| format!("a password in the URL without {e}"))?;
    if user.is_empty() || user.contains(':') {
        return Err("user:password@ with a user name before the colon".into());
    }
    let shown = format!("{scheme}://{}:***@{host}{path}", userinfo.split(':').next().unwrap_or_default());
    Ok((format!("{scheme}://{host}{path}"), Some(Credentials::Basic { user, password: Secret::new(password) }), shown))
}

/// Payload formats a destination can take, chosen by a prefix of its URL's scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `http://…` (or `json+http://…`): the Python original's JSON payload (`hostname`, `cpu`,
    /// `ram`, `disk`, `timestamp`, `disk_read`, `disk_write`, `details`).
    Json,
    /// `remote-write+http://…/api/v1/write`: Prometheus remote-write 1.0 (protobuf + snappy)
    /// of the `/metrics` families, for Prometheus, VictoriaMetrics, Mimir, Thanos.
    RemoteWrite,
    /// `influx+http://…/write?db=…`: InfluxDB line protocol of the `/metrics` families.
    Influx,
    /// `alertmanager+http://host:9093`: the service's alerts, to Alertmanager's API v2
    /// (`POST /api/v2/alerts`, appended to the URL's path).
    Alertmanager,
    /// `webhook+http://…`: the service's alerts, as statix's alert webhook body.
    Webhook,
    /// A Shoutrrr URL (`ntfy://`, `gotify://`, `slack://`, `mattermost://`, `discord://`,
    /// `telegram://`): the service's alerts as a chat message.
    Chat,
    /// `smtp://…` (Shoutrrr's form): the service's alerts by e-mail.
    Email,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::RemoteWrite => "remote-write",
            Format::Influx => "influx",
            Format::Alertmanager => "alertmanager",
            Format::Webhook => "webhook",
            Format::Chat => "chat",
            Format::Email => "email",
        }
    }

    /// Whether it takes the service's alerts (notices), not its samples.
    pub fn notifies(self) -> bool {
        matches!(self, Format::Alertmanager | Format::Webhook | Format::Chat | Format::Email)
    }

    /// Whether it takes the service's `/metrics` (a scrape), not its `/system`.
    pub fn scrapes(self) -> bool {
        matches!(self, Format::RemoteWrite | Format::Influx)
    }
}

/// Splits a destination's format prefix off its URL: `influx+http://x` → (Influx, `http://x`).
pub fn split_format(entry: &str) -> Result<(Format, &str), String> {
    let Some((scheme, _)) = entry.split_once("://") else { return Ok((Format::Json, entry)) };
    let Some((prefix, _)) = scheme.split_once('+') else { return Ok((Format::Json, entry)) };
    let format = match prefix.to_ascii_lowercase().as_str() {
        "json" => Format::Json,
        "remote-write" | "prometheus" => Format::RemoteWrite,
        "influx" | "influxdb" => Format::Influx,
        "alertmanager" => Format::Alertmanager,
        "webhook" => Format::Webhook,
        other => {
            return Err(format!(
                "a format prefix of json+, remote-write+, influx+, alertmanager+ or webhook+, not {other:?}+"
            ));
        }
    };
    Ok((format, &entry[prefix.len() + 1..]))
}

/// An `http://` or `https://` URL with a host.
pub fn parse_url(s: &str) -> Result<http::Uri, String> {
    let expected = "an http:// or https:// URL with a host, e.g. http://127.0.0.1:5050/metrics";
    let uri: http::Uri = s.trim().parse().map_err(|e| format!("{expected} ({e})"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") if cfg!(feature = "tls") => {}
        Some("https") => return Err(format!("{expected} (this build has no TLS: rebuild with the `tls` feature)")),
        Some(other) => return Err(format!("{expected} (scheme {other:?} is not supported)")),
        None => return Err(expected.into()),
    }
    let authority = uri.authority().ok_or(expected)?;
    if authority.host().is_empty() {
        return Err(expected.into());
    }
    // the http crate reads a port that does not fit 16 bits as no port at all (port 80)
    let text = authority.as_str();
    let after_host = match text.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map_or("", |(_, rest)| rest),
        None => text.rsplit_once('@').map_or(text, |(_, host)| host),
    };
    if let Some((_, port)) = after_host.rsplit_once(':') {
        match port.parse::<u32>() {
            Ok(1..=65535) => {}
            _ => return Err(format!("{expected} (port {port:?} is not from 1 to 65535)")),
        }
    }
    if authority.as_str().contains('@') {
        return Err(format!("{expected} (user:password@ is only taken in a destination's URL)"));
    }
    Ok(uri)
}

/// One destination from its entry: `[format+]http(s)://[user:password@]host/...`.
pub fn parse_destination(entry: &str) -> Result<Destination, String> {
    let (format, rest) = split_format(entry).map_err(|e| format!("{e}; {entry:?} has none of them"))?;
    let prefix = &entry[..entry.len() - rest.len()];
    let (url, basic, shown) = split_credentials(rest)?;
    let label = format!("{prefix}{shown}");
    let mut url = parse_url(&url).map_err(|e| format!("{e}; {label:?} is not one"))?;
    if format == Format::Alertmanager {
        url = alertmanager_api(&url).map_err(|e| format!("{e}; {label:?}"))?;
    }
    Ok(Destination { url, format, label, access: Access { authorization: basic, ..Access::default() }, chat: None })
}

/// Alertmanager's URL with its API v2 alerts path: `http://am:9093` → `http://am:9093/api/v2/alerts`
/// (a path prefix, for an Alertmanager behind a proxy, kept).
fn alertmanager_api(url: &http::Uri) -> Result<http::Uri, String> {
    let path = url.path().trim_end_matches('/');
    if path.ends_with("/api/v2/alerts") || url.query().is_some() {
        return Ok(url.clone());
    }
    let mut parts = url.clone().into_parts();
    parts.path_and_query = Some(
        format!("{path}/api/v2/alerts").parse().map_err(|_| "an Alertmanager URL whose path takes /api/v2/alerts")?,
    );
    http::Uri::from_parts(parts).map_err(|e| format!("an Alertmanager URL ({e})"))
}

/// `SYSTEM_STATS_NOTIFY_URLS`: where the alerts go (none when empty): `alertmanager+…`,
/// `webhook+…`, or a plain `http(s)://…` as a webhook.
pub fn parse_notify_urls(s: &str) -> Result<Vec<Destination>, String> {
    let mut out: Vec<Destination> = Vec::new();
    // a comma starts a new URL only before a scheme: Telegram's chats=a,b keeps its commas
    let mut entries: Vec<String> = Vec::new();
    for piece in s.split(',') {
        match entries.last_mut() {
            Some(last) if !piece.contains("://") => {
                last.push(',');
                last.push_str(piece);
            }
            _ => entries.push(piece.to_string()),
        }
    }
    let mut parsed = Vec::new();
    for entry in entries.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
        match super::chat::parse_shoutrrr(entry)? {
            Some(chats) => parsed.extend(chats.into_iter().map(|d| (d, entry))),
            None => parsed.push((parse_destination(entry)?, entry)),
        }
    }
    for (mut d, entry) in parsed {
        match d.format {
            Format::Alertmanager | Format::Webhook | Format::Chat | Format::Email => {}
            Format::Json if !entry.contains('+') => {
                d.format = Format::Webhook;
            }
            other => {
                return Err(format!(
                    "alertmanager+http(s)://… or webhook+http(s)://… URLs; {:?} is a {} destination \
                     (those go in MONITORING_SERVER_METRICS_URL)",
                    d.label,
                    other.name()
                ));
            }
        }
        if out.iter().any(|o| o.same_as(&d)) {
            return Err(format!("each URL once; {:?} is listed twice", d.label));
        }
        out.push(d);
    }
    Ok(out)
}

/// A comma-separated list of destination URLs (at least one, no repeats).
pub fn parse_destinations(s: &str) -> Result<Vec<Destination>, String> {
    let mut out: Vec<Destination> = Vec::new();
    for entry in s.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let d = parse_destination(entry)?;
        if out.iter().any(|o| o.same_as(&d)) {
            return Err(format!("each URL once; {:?} is listed twice", d.label));
        }
        out.push(d);
    }
    if out.is_empty() {
        return Err("at least one http:// or https:// URL (comma-separated for several)".into());
    }
    Ok(out)
}

/// `SYSTEM_STATS_FORWARD_CONFIG`: what a comma list cannot say, one table per destination.
///
/// ```toml
/// [source]                       # optional: the service, when it needs a token or its own CA
/// url = "https://127.0.0.1:5001/system"
/// token_file = "/etc/system-stats/token"
/// ca_file = "/etc/system-stats/service.crt"
///
/// [destination.victoria]
/// url = "https://vm.example.org/api/v1/write"
/// format = "remote-write"        # json (default), remote-write, influx, alertmanager, webhook; or a URL prefix
/// # or a chat service's Shoutrrr URL (its secret kept here): url = "telegram://TOKEN@telegram?chats=@ops"
/// token_file = "/etc/system-stats/vm.token"   # Authorization: Bearer
/// ca_file = "/etc/ssl/private-ca.pem"
/// headers = { "X-Scope-OrgID" = "home" }
/// ```
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    source: Option<FileEndpoint>,
    #[serde(default)]
    destination: std::collections::BTreeMap<String, FileEndpoint>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FileEndpoint {
    url: String,
    format: Option<String>,
    token_file: Option<String>,
    ca_file: Option<PathBuf>,
    #[serde(default)]
    headers: std::collections::BTreeMap<String, String>,
}

/// What the configuration file says: the source's URL and access, and the destinations.
#[derive(Debug, Default)]
pub struct ForwardFile {
    pub source: Option<(http::Uri, Access)>,
    pub destinations: Vec<Destination>,
}

/// Reads and checks `SYSTEM_STATS_FORWARD_CONFIG`.
pub fn parse_forward_file(path: &str) -> Result<ForwardFile, String> {
    const MAX: u64 = 1 << 20;
    let expected = "a readable TOML file with [destination.<name>] tables (url, format, token_file, ca_file, headers)";
    let meta = std::fs::metadata(path).map_err(|e| format!("{expected} ({e})"))?;
    if !meta.is_file() || meta.len() > MAX {
        return Err(format!("{expected} (not a regular file of at most 1 MiB)"));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{expected} ({e})"))?;
    let file: FileConfig =
        toml::from_str(&text).map_err(|e| format!("{expected}: {}", e.to_string().trim().replace('\n', " ")))?;
    let access = |where_: &str, e: &FileEndpoint| -> Result<Access, String> {
        let mut a = Access::default();
        if let Some(t) = &e.token_file {
            a.authorization =
                Some(Credentials::Bearer(read_token_file(t).map_err(|m| format!("{where_}.token_file: {m}"))?));
            if token_file_is_shared(t) {
                eprintln!(
                    "warning: {where_}.token_file {t:?} can be read by every user of this machine (chmod 600 it)"
                );
            }
        }
        if let Some(ca) = &e.ca_file {
            std::fs::File::open(ca)
                .map_err(|m| format!("{where_}.ca_file: a readable PEM file ({}: {m})", ca.display()))?;
            a.ca_file = Some(ca.clone());
        }
        for (name, value) in &e.headers {
            let n = http::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("{where_}.headers: {name:?} is not a header name"))?;
            let mut v = http::HeaderValue::from_str(value)
                .map_err(|_| format!("{where_}.headers.{name}: a value of printable characters"))?;
            v.set_sensitive(true);
            a.headers.push((n, v));
        }
        Ok(a)
    };
    let mut out = ForwardFile::default();
    if let Some(src) = &file.source {
        if src.format.is_some() {
            return Err("source: no format (the source is always a system-stats service)".into());
        }
        let url = parse_url(&src.url).map_err(|e| format!("source.url: {e}"))?;
        out.source = Some((url, access("source", src)?));
    }
    for (name, d) in &file.destination {
        let where_ = format!("destination.{name}");
        let entry = match &d.format {
            None => d.url.clone(),
            Some(f) => {
                if d.url.split_once("://").is_some_and(|(scheme, _)| scheme.contains('+')) {
                    return Err(format!("{where_}: a format prefix in url or format, not both"));
                }
                match f.as_str() {
                    "json" | "remote-write" | "influx" | "alertmanager" | "webhook" => format!("{f}+{}", d.url),
                    other => {
                        return Err(format!(
                            "{where_}.format: json, remote-write, influx, alertmanager or webhook, not {other:?}"
                        ));
                    }
                }
            }
        };
        // a Shoutrrr URL (a chat service) keeps its secret here rather than in the settings
        let dests = match super::chat::parse_shoutrrr(&entry).map_err(|e| format!("{where_}.url: {e}"))? {
            Some(chats) => chats,
            None => vec![parse_destination(&entry).map_err(|e| format!("{where_}.url: {e}"))?],
        };
        let extra = access(&where_, d)?;
        for mut dest in dests {
            if extra.authorization.is_some() && dest.access.authorization.is_some() {
                return Err(format!("{where_}: user:password@ in the url or a token_file, not both"));
            }
            dest.access.authorization = dest.access.authorization.or(extra.authorization.clone());
            dest.access.headers.extend(extra.headers.iter().cloned());
            dest.access.ca_file = extra.ca_file.clone();
            out.destinations.push(dest);
        }
    }
    if file.destination.is_empty() && file.source.is_none() {
        return Err(format!("{expected} (it has none)"));
    }
    Ok(out)
}
