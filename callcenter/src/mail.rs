//! The e-mail outbox's sender: leases due messages from the store, sends each over SMTP with
//! lettre (STARTTLS when the server offers it, unless configured otherwise), and records what
//! became of it (`crm_core::mail::after_attempt`). Several nodes may run it side by side: the
//! lease keeps a message with one of them. Messages are queued by whoever writes them (an
//! appointment booked, a reminder raised, a report due); nothing here decides what to write.
//!
//! Personal data stays out of the logs: a message is named by its id and kind, never by its
//! address or content.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use crm_core::mail::{after_attempt, Attempt, Mail};
use crm_core::Store;
use lettre::message::header::ContentType;
use lettre::message::{Attachment as Part, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// STARTTLS when the server offers it, plain otherwise.
    Opportunistic,
    /// STARTTLS or no message.
    Required,
    /// TLS from the first byte (port 465).
    Implicit,
    /// Never (a relay on the same host).
    Off,
}

impl TlsMode {
    pub fn parse(s: &str) -> Option<TlsMode> {
        Some(match s {
            "starttls_if_offered" => TlsMode::Opportunistic,
            "starttls" => TlsMode::Required,
            "tls" => TlsMode::Implicit,
            "none" => TlsMode::Off,
            _ => return None,
        })
    }
}

/// What the sender needs from configuration.
#[derive(Debug, Clone)]
pub struct MailSettings {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub credentials: Option<(String, String)>,
    /// Extra trusted root certificate (PEM), for a server with a private CA.
    pub ca_file: Option<PathBuf>,
    pub from: Mailbox,
    /// The first back-off step after a failed attempt (doubling after that).
    pub first_retry: chrono::Duration,
    /// How long a node holds a message it is sending.
    pub lease_seconds: u32,
    /// How often the outbox is looked at.
    pub poll: Duration,
}

/// The sender's SMTP client, built once.
pub struct Sender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    settings: MailSettings,
    domain: String,
}

impl Sender {
    pub fn new(settings: MailSettings) -> anyhow::Result<Sender> {
        let host = settings.host.clone();
        let tls_params = || -> anyhow::Result<TlsParameters> {
            let mut b = TlsParameters::builder(host.clone());
            if let Some(path) = &settings.ca_file {
                let pem = std::fs::read(path).map_err(|e| anyhow::anyhow!("smtp_ca_file {}: {e}", path.display()))?;
                b = b.add_root_certificate(Certificate::from_pem(&pem)?);
            }
            Ok(b.build()?)
        };
        let tls = match settings.tls {
            TlsMode::Opportunistic => Tls::Opportunistic(tls_params()?),
            TlsMode::Required => Tls::Required(tls_params()?),
            TlsMode::Implicit => Tls::Wrapper(tls_params()?),
            TlsMode::Off => Tls::None,
        };
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host)
            .port(settings.port)
            .tls(tls)
            .timeout(Some(Duration::from_secs(30)));
        if let Some((user, password)) = &settings.credentials {
            b = b.credentials(Credentials::new(user.clone(), password.clone()));
        }
        let domain = settings.from.email.domain().to_string();
        Ok(Sender {
            transport: b.build(),
            settings,
            domain,
        })
    }

    /// The message as it goes out: plain text, the attachments beside it, the `Message-ID` of
    /// its key.
    pub fn compose(&self, m: &Mail) -> Result<Message, String> {
        let to: Mailbox = m.to.as_str().parse().map_err(|e| format!("to: {e}"))?;
        let b = Message::builder()
            .from(self.settings.from.clone())
            .to(to)
            .subject(m.subject.clone())
            .message_id(Some(m.message_id(&self.domain)));
        let built = if m.attachments.is_empty() {
            b.header(ContentType::TEXT_PLAIN).body(m.text.clone())
        } else {
            let mut parts = MultiPart::mixed().singlepart(SinglePart::plain(m.text.clone()));
            for a in &m.attachments {
                let kind = ContentType::parse(&a.content_type).unwrap_or(ContentType::TEXT_PLAIN);
                parts = parts.singlepart(Part::new(a.filename.clone()).body(a.content.clone().into_bytes(), kind));
            }
            b.multipart(parts)
        };
        built.map_err(|e| e.to_string())
    }

    /// One attempt at one message.
    pub async fn attempt(&self, m: &Mail) -> Attempt {
        let msg = match self.compose(m) {
            Ok(msg) => msg,
            Err(e) => return Attempt::Refused(format!("cannot be written: {e}")),
        };
        match self.transport.send(msg).await {
            Ok(_) => Attempt::Accepted,
            Err(e) if e.is_permanent() => Attempt::Refused(e.to_string()),
            Err(e) => Attempt::Failed(e.to_string()),
        }
    }

    /// Send what is due: lease up to 20 messages, attempt each, record the outcome. Returns
    /// how many were leased.
    pub async fn round(&self, store: &dyn Store, node: &str) -> anyhow::Result<usize> {
        let due = store
            .claim_mail(node, Utc::now(), self.settings.lease_seconds, 20)
            .await?;
        for m in &due {
            let outcome = self.attempt(m).await;
            let after = after_attempt(m.attempts, outcome, Utc::now(), self.settings.first_retry);
            match store.finish_mail(node, m.id, &after, Utc::now()).await {
                Ok(done) => tracing::debug!(
                    mail = done.id,
                    kind = done.kind.as_str(),
                    status = done.status.as_str(),
                    "mail attempt"
                ),
                Err(e) => tracing::warn!(mail = m.id, error = %e, "recording a mail attempt failed"),
            }
            if let crm_core::mail::Disposition::Failed(why) = &after {
                tracing::warn!(mail = m.id, kind = m.kind.as_str(), reason = %why, "a message was given up");
            }
        }
        Ok(due.len())
    }
}

/// The sender's loop until shutdown: a round whenever the last one found work, else after
/// `poll`.
pub async fn run(
    store: Arc<dyn Store>,
    sender: Sender,
    node: String,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let poll = sender.settings.poll;
    loop {
        let busy = match sender.round(store.as_ref(), &node).await {
            Ok(n) => n > 0,
            Err(e) => {
                tracing::warn!(error = %e, "the mail outbox could not be read");
                false
            }
        };
        if *shutdown.borrow() {
            return;
        }
        if !busy {
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}
