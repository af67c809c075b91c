//! Chat and push services as notification destinations, written as Shoutrrr URLs (the
//! notification library Beszel and Watchtower users already write): each becomes an
//! http(s) destination with the service's own body ([`Format::Chat`]).

use super::destination::percent_decode;
use super::*;

/// The parts of `scheme://[user[:password]@]host[/path][?query]`.
struct Parts {
    user: Option<String>,
    password: Option<String>,
    host: String,
    path: Vec<String>,
    query: Vec<(String, String)>,
}

fn split(entry: &str) -> Result<Parts, String> {
    let (_, rest) = entry.split_once("://").ok_or("a URL")?;
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (userinfo, host) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let (user, password) = match userinfo {
        Some(u) => {
            let (user, password) = u.split_once(':').map_or((u, None), |(a, b)| (a, Some(b)));
            (Some(percent_decode(user)?), password.map(percent_decode).transpose()?)
        }
        None => (None, None),
    };
    let query = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            Ok((k.to_ascii_lowercase(), percent_decode(v)?))
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Parts {
        user,
        password,
        host: host.to_string(),
        path: path.split('/').filter(|s| !s.is_empty()).map(percent_decode).collect::<Result<_, _>>()?,
        query,
    })
}

impl Parts {
    fn query(&self, key: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// `https`, or `http` when the URL says `disabletls=yes` (Gotify, Mattermost) or
    /// `scheme=http` (ntfy).
    fn web_scheme(&self) -> &'static str {
        let off =
            matches!(self.query("disabletls"), Some("yes" | "true" | "1")) || self.query("scheme") == Some("http");
        if off { "http" } else { "https" }
    }
}

/// A secret, shown in labels (logs, spool file names) as `***` and a short fingerprint, so
/// that two destinations with different secrets keep different spools.
fn hidden(secret: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in secret.bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    format!("***{h:08x}")
}

fn header(name: &'static str, value: &str) -> Result<(http::HeaderName, http::HeaderValue), String> {
    let mut v = http::HeaderValue::from_str(value).map_err(|_| format!("a {name} of printable characters"))?;
    v.set_sensitive(true);
    Ok((http::HeaderName::from_static(name), v))
}

/// A Shoutrrr URL as destinations (several for Telegram's several chats); `None` when
/// `entry` is not one.
pub(super) fn parse_shoutrrr(entry: &str) -> Result<Option<Vec<Destination>>, String> {
    let Some((scheme, _)) = entry.split_once("://") else { return Ok(None) };
    let service = match scheme.to_ascii_lowercase().as_str() {
        "ntfy" => ChatService::Ntfy,
        "gotify" => ChatService::Gotify,
        "slack" => ChatService::SlackWebhook,
        "mattermost" => ChatService::Mattermost,
        "discord" => ChatService::Discord,
        "telegram" => ChatService::Telegram,
        "smtp" => ChatService::Email,
        _ => return Ok(None),
    };
    if service == ChatService::Email {
        return smtp(entry).map(|d| Some(vec![d]));
    }
    let p = split(entry).map_err(|e| format!("{e}; {:?} is not a {scheme}:// URL", redact_all(entry)))?;
    let bad = |why: &str, form: &str| format!("{scheme}://{form} ({why}); {:?} is not one", redact_all(entry));
    let mut chat = Chat {
        service: Some(service),
        title: p.query("title").map(str::to_string),
        priority: p.query("priority").map(str::to_string),
        tags: p.query("tags").map(str::to_string),
        ..Chat::default()
    };
    let mut access = Access::default();
    let (url, label, channels) = match service {
        ChatService::Ntfy => {
            let form = "[user:password@]host[:port]/topic[?scheme=http]";
            let [topic] = p.path.as_slice() else { return Err(bad("one topic", form)) };
            if let Some(user) = &p.user {
                let password = Secret::new(p.password.clone().unwrap_or_default());
                access.authorization = Some(Credentials::Basic { user: user.clone(), password });
            }
            let who = p.user.as_ref().map_or(String::new(), |u| format!("{u}:***@"));
            // JSON publishing: to the server's root, the topic in the body
            (
                format!("{}://{}/", p.web_scheme(), p.host),
                format!("ntfy://{who}{}/{topic}", p.host),
                vec![Some(topic.clone())],
            )
        }
        ChatService::Gotify => {
            let form = "host[:port][/path]/token[?disabletls=yes]";
            let Some((token, prefix)) = p.path.split_last() else { return Err(bad("a token", form)) };
            access.headers.push(header("x-gotify-key", token)?);
            let prefix: String = prefix.iter().map(|s| format!("/{s}")).collect();
            (
                format!("{}://{}{prefix}/message", p.web_scheme(), p.host),
                format!("gotify://{}{prefix}/{}", p.host, hidden(token)),
                vec![None],
            )
        }
        ChatService::SlackWebhook | ChatService::SlackBot => {
            let form = "hook:A-B-C@webhook or xoxb:TOKEN@CHANNEL";
            let (Some(user), Some(secret)) = (&p.user, &p.password) else { return Err(bad("a token", form)) };
            if user == "hook" {
                let parts: Vec<&str> = secret.split('-').collect();
                let [a, b, c] = parts.as_slice() else { return Err(bad("a webhook token of three parts", form)) };
                (
                    format!("https://hooks.slack.com/services/{a}/{b}/{c}"),
                    format!("slack://hook:{}@webhook", hidden(secret)),
                    vec![None],
                )
            } else if user.starts_with("xox") {
                chat.service = Some(ChatService::SlackBot);
                let token = format!("{user}-{secret}");
                access.authorization = Some(Credentials::Bearer(Secret::new(token.clone())));
                if p.host.is_empty() {
                    return Err(bad("a channel", form));
                }
                (
                    "https://slack.com/api/chat.postMessage".to_string(),
                    format!("slack://{user}:{}@{}", hidden(&token), p.host),
                    vec![Some(p.host.clone())],
                )
            } else {
                return Err(bad("hook: or xox…: before the token", form));
            }
        }
        ChatService::Mattermost => {
            let form = "[username@]host[:port]/token[/channel][?disabletls=yes]";
            let (token, channel) = match p.path.as_slice() {
                [token] => (token, None),
                [token, channel] => (token, Some(channel.clone())),
                _ => return Err(bad("a token and at most a channel", form)),
            };
            chat.username = p.user.clone();
            let shown = channel.as_ref().map_or(String::new(), |c| format!("/{c}"));
            (
                format!("{}://{}/hooks/{token}", p.web_scheme(), p.host),
                format!("mattermost://{}/{}{shown}", p.host, hidden(token)),
                vec![channel],
            )
        }
        ChatService::Discord => {
            let form = "token@id";
            let (Some(token), id) = (&p.user, &p.host) else { return Err(bad("a token", form)) };
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad("a webhook id of digits", form));
            }
            (
                format!("https://discord.com/api/webhooks/{id}/{token}"),
                format!("discord://{}@{id}", hidden(token)),
                vec![None],
            )
        }
        ChatService::Telegram => {
            let form = "token@telegram?chats=@channel,12345";
            let token = match (&p.user, &p.password) {
                (Some(u), Some(pw)) => format!("{u}:{pw}"),
                _ => return Err(bad("a bot token (digits:letters)", form)),
            };
            let chats: Vec<Option<String>> = p
                .query("chats")
                .unwrap_or("")
                .split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(|c| Some(c.to_string()))
                .collect();
            if p.host != "telegram" || chats.is_empty() {
                return Err(bad("the host telegram and at least one chat", form));
            }
            (
                format!("https://api.telegram.org/bot{token}/sendMessage"),
                format!("telegram://{}@telegram", hidden(&token)),
                chats,
            )
        }
        ChatService::Email => return smtp(entry).map(|d| Some(vec![d])),
    };
    let url = parse_url(&url).map_err(|e| format!("{e}; {label:?}"))?;
    Ok(Some(
        channels
            .into_iter()
            .map(|channel| Destination {
                url: url.clone(),
                format: Format::Chat,
                label: match (&channel, service) {
                    (Some(c), ChatService::Telegram) => format!("{label}?chats={c}"),
                    _ => label.clone(),
                },
                access: access.clone(),
                chat: Some(Chat { channel, ..chat.clone() }),
            })
            .collect(),
    ))
}

/// `smtp://[user:password@]host[:port]/?from=…&to=a,b[&encryption=…&subject=…]`: port 25
/// by default; `encryption` `auto` (the default: TLS from the first byte on port 465,
/// STARTTLS required elsewhere), `explicittls` (STARTTLS), `implicittls`, or `none`
/// (Shoutrrr's `usestarttls=no` too).
fn smtp(entry: &str) -> Result<Destination, String> {
    let form = "smtp://[user:password@]host[:port]/?from=sender@example.org&to=a@example.org,b@example.org";
    let bad = |why: String| format!("{form} ({why}); {:?} is not one", redact_all(entry));
    let p = split(entry).map_err(|e| bad(e.to_string()))?;
    let (host, port) = match p.host.rsplit_once(':') {
        Some((h, port)) if !h.ends_with(']') || p.host.starts_with('[') => {
            (h.to_string(), port.parse::<u16>().map_err(|_| bad(format!("port {port:?}")))?)
        }
        _ => (p.host.clone(), 25),
    };
    if host.is_empty() {
        return Err(bad("a host".into()));
    }
    let address = |a: &str| {
        let a = a.trim();
        let ok =
            a.split_once('@').is_some_and(|(l, d)| !l.is_empty() && !d.is_empty() && !a.contains(char::is_whitespace));
        if ok { Ok(a.to_string()) } else { Err(bad(format!("{a:?} is not an e-mail address"))) }
    };
    let from = address(p.query("from").ok_or_else(|| bad("no from=".into()))?)?;
    let to = p
        .query("to")
        .ok_or_else(|| bad("no to=".into()))?
        .split(',')
        .filter(|a| !a.trim().is_empty())
        .map(address)
        .collect::<Result<Vec<_>, _>>()?;
    if to.is_empty() {
        return Err(bad("no recipient in to=".into()));
    }
    let starttls = p.query("usestarttls").map(|v| !matches!(v, "no" | "false" | "0"));
    let security = match (p.query("encryption").unwrap_or("auto"), starttls) {
        ("none", _) | ("auto", Some(false)) => SmtpSecurity::None,
        ("implicittls" | "tls", _) => SmtpSecurity::Implicit,
        ("explicittls" | "starttls", _) => SmtpSecurity::StartTls,
        ("auto", _) if port == 465 => SmtpSecurity::Implicit,
        ("auto", _) => SmtpSecurity::StartTls,
        (other, _) => return Err(bad(format!("encryption {other:?} is not auto, none, explicittls or implicittls"))),
    };
    let mut access = Access::default();
    if let Some(user) = &p.user {
        let password = Secret::new(p.password.clone().unwrap_or_default());
        access.authorization = Some(Credentials::Basic { user: user.clone(), password });
    }
    let who = p.user.as_ref().map_or(String::new(), |u| format!("{u}:***@"));
    let url: http::Uri = format!(
        "smtp://{}:{port}/",
        if host.contains(':') && !host.starts_with('[') { format!("[{host}]") } else { host.clone() }
    )
    .parse()
    .map_err(|_| bad("a host name or address".into()))?;
    Ok(Destination {
        url,
        format: Format::Email,
        label: format!("smtp://{who}{host}:{port}/?to={}", to.join(",")),
        access,
        chat: Some(Chat {
            service: Some(ChatService::Email),
            title: p.query("subject").map(str::to_string),
            email: Some(Email { host: host.trim_matches(['[', ']']).to_string(), port, security, from, to }),
            ..Chat::default()
        }),
    })
}

/// An entry with whatever follows `://` up to the host hidden, for an error message.
fn redact_all(entry: &str) -> String {
    match entry.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((_, host)) => format!("{scheme}://***@{host}"),
            None => format!("{scheme}://{rest}"),
        },
        None => entry.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(entry: &str) -> Destination {
        let mut v = parse_shoutrrr(entry).unwrap().unwrap();
        assert_eq!(v.len(), 1);
        v.remove(0)
    }

    #[test]
    fn shoutrrr_urls_become_destinations() {
        let d = one("ntfy://alice:s3cret@ntfy.example.org/alerts?priority=high");
        assert_eq!(d.url, "https://ntfy.example.org/");
        assert_eq!(d.chat.as_ref().unwrap().channel.as_deref(), Some("alerts"));
        assert_eq!(d.label, "ntfy://alice:***@ntfy.example.org/alerts");
        assert!(matches!(&d.access.authorization, Some(Credentials::Basic { user, .. }) if user == "alice"));
        assert_eq!(d.chat.as_ref().unwrap().priority.as_deref(), Some("high"));
        assert_eq!(one("ntfy://127.0.0.1:8080/t?scheme=http").url, "http://127.0.0.1:8080/");
        let d = one("gotify://push.example.org/sub/AbCdEf?disabletls=yes");
        assert_eq!(d.url, "http://push.example.org/sub/message");
        assert_eq!(d.access.headers[0].0, "x-gotify-key");
        assert!(!d.label.contains("AbCdEf"), "{}", d.label);
        assert_eq!(one("slack://hook:T000-B000-XXXX@webhook").url, "https://hooks.slack.com/services/T000/B000/XXXX");
        let d = one("slack://xoxb:1234-5678-abc@C01CHAN");
        assert_eq!(d.url, "https://slack.com/api/chat.postMessage");
        assert_eq!(d.chat.as_ref().unwrap().channel.as_deref(), Some("C01CHAN"));
        assert!(matches!(&d.access.authorization, Some(Credentials::Bearer(t)) if t.expose() == "xoxb-1234-5678-abc"));
        let d = one("mattermost://bot@chat.example.org/tok3n/town-square");
        assert_eq!(d.url, "https://chat.example.org/hooks/tok3n");
        assert_eq!(d.chat.as_ref().unwrap().username.as_deref(), Some("bot"));
        assert_eq!(one("discord://t0k3n@123456").url, "https://discord.com/api/webhooks/123456/t0k3n");
        let v = parse_shoutrrr("telegram://110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw@telegram?chats=@ops,-100123")
            .unwrap()
            .unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].url, "https://api.telegram.org/bot110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/sendMessage");
        assert_eq!(v[1].chat.as_ref().unwrap().channel.as_deref(), Some("-100123"));
        assert_ne!(v[0].label, v[1].label, "one spool per chat");
        assert!(v.iter().all(|d| !d.label.contains("AAHdq")));
        assert!(parse_shoutrrr("https://x/y").unwrap().is_none());
        let d = one("smtp://me%40x.org:p%40ss@mail.example.org:587/?from=me@x.org&to=a@x.org,b@x.org");
        let e = d.chat.as_ref().unwrap().email.clone().unwrap();
        assert_eq!((e.host.as_str(), e.port, e.security), ("mail.example.org", 587, SmtpSecurity::StartTls));
        assert_eq!(e.to, ["a@x.org", "b@x.org"]);
        assert!(
            matches!(&d.access.authorization, Some(Credentials::Basic { user, password }) if user == "me@x.org" && password.expose() == "p@ss")
        );
        assert!(!d.label.contains("p@ss"), "{}", d.label);
        assert_eq!(
            one("smtp://mail:465/?from=a@b&to=c@d").chat.unwrap().email.unwrap().security,
            SmtpSecurity::Implicit
        );
        assert_eq!(one("smtp://mail/?from=a@b&to=c@d&encryption=none").chat.unwrap().email.unwrap().port, 25);
    }

    #[test]
    fn bad_shoutrrr_urls_say_the_form() {
        for (entry, expected) in [
            ("ntfy://host", "ntfy://[user:password@]host[:port]/topic"),
            ("discord://tok@notdigits", "a webhook id of digits"),
            ("telegram://1:A@telegram", "at least one chat"),
            ("slack://hook:A-B@webhook", "three parts"),
            ("smtp://u:p@mail:587/?to=a@b", "no from="),
            ("smtp://u:p@mail/?from=me&to=a@b", "\"me\" is not an e-mail address"),
            ("smtp://mail/?from=a@b&to=c@d&encryption=ssl", "encryption \"ssl\""),
        ] {
            let e = parse_shoutrrr(entry).unwrap_err();
            assert!(e.contains(expected), "{entry}: {e}");
            assert!(!e.contains(":p@"), "a secret in the message: {e}");
        }
    }
}
