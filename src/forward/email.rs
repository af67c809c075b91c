//! E-mail notices (`smtp://` in `SYSTEM_STATS_NOTIFY_URLS`): one message per notice, over
//! SMTP with STARTTLS required or TLS from the first byte (or plain, when asked), with
//! authentication; the server's answer decides as an HTTP status would: accepted is
//! delivered, a permanent refusal of the message is dropped (counted), a refused login is a
//! setting to fix, anything transient is retried.

use super::sender::Outcome;
use crate::config::Destination;

/// Sends the notice `body` (`{subject, text}`, as [`super::notify::chat_body`] writes it).
#[cfg(feature = "tls")]
pub(crate) async fn deliver(dest: &Destination, body: &[u8], timeout: std::time::Duration) -> Outcome {
    use lettre::message::header::ContentType;
    use lettre::transport::smtp::authentication::Credentials as Login;
    use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

    use crate::config::{Credentials, SmtpSecurity};

    let misconfigured = |reason: String| Outcome::Misconfigured { reason };
    let Some(email) = dest.chat.as_ref().and_then(|c| c.email.as_ref()) else {
        return misconfigured("an e-mail destination without its server (a bug)".into());
    };
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(body) else {
        return misconfigured("an e-mail notice that is not JSON (a bug)".into());
    };
    let subject = body["subject"].as_str().unwrap_or("system-stats alert");
    let text = body["text"].as_str().unwrap_or_default().to_string();
    let mut message = Message::builder().subject(subject).header(ContentType::TEXT_PLAIN);
    match email.from.parse() {
        Ok(from) => message = message.from(from),
        Err(e) => return misconfigured(format!("from={:?}: {e}", email.from)),
    }
    for to in &email.to {
        match to.parse() {
            Ok(to) => message = message.to(to),
            Err(e) => return misconfigured(format!("to={to:?}: {e}")),
        }
    }
    let message = match message.body(text) {
        Ok(m) => m,
        Err(e) => return misconfigured(format!("the message: {e}")),
    };
    let tls = || -> Result<TlsParameters, String> {
        let mut params = TlsParameters::builder(email.host.clone());
        if let Some(ca) = &dest.access.ca_file {
            let pem = std::fs::read(ca).map_err(|e| format!("ca_file {}: {e}", ca.display()))?;
            let cert = Certificate::from_pem(&pem).map_err(|e| format!("ca_file {}: {e}", ca.display()))?;
            params = params.add_root_certificate(cert);
        }
        params.build_rustls().map_err(|e| format!("TLS: {e}"))
    };
    let security = match email.security {
        SmtpSecurity::None => Tls::None,
        SmtpSecurity::StartTls => match tls() {
            Ok(p) => Tls::Required(p),
            Err(e) => return misconfigured(e),
        },
        SmtpSecurity::Implicit => match tls() {
            Ok(p) => Tls::Wrapper(p),
            Err(e) => return misconfigured(e),
        },
    };
    let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(email.host.as_str())
        .port(email.port)
        .tls(security)
        .timeout(Some(timeout));
    if let Some(Credentials::Basic { user, password }) = &dest.access.authorization {
        transport = transport.credentials(Login::new(user.clone(), password.expose().to_string()));
    }
    match transport.build().send(message).await {
        Ok(_) => Outcome::Delivered,
        Err(e) => {
            let code = e.status().map(|c| c.to_string()).unwrap_or_default();
            let reason = format!("SMTP {}{e}", if code.is_empty() { String::new() } else { format!("{code}: ") });
            if e.is_permanent() && (code == "535" || code == "534" || code == "530") {
                misconfigured(format!("{reason}; check the user and password in the smtp:// URL"))
            } else if e.is_permanent() {
                Outcome::Refused { reason }
            } else {
                Outcome::Retry { reason, after: None, throttled: false }
            }
        }
    }
}

/// Without TLS support in this build, e-mail (which needs it for any server worth trusting
/// with a password) is refused as a setting.
#[cfg(not(feature = "tls"))]
pub(crate) async fn deliver(_: &Destination, _: &[u8], _: std::time::Duration) -> Outcome {
    Outcome::Misconfigured { reason: "this build has no TLS (the `tls` feature): e-mail is not available".into() }
}
