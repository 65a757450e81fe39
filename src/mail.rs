//! Outgoing mail: SMTP when `DIALOGUE_SMTP_URL` is set, otherwise one JSON file per mail in
//! `DIALOGUE_MAIL_OUTBOX`, otherwise only a log line. Every mail is logged without its text,
//! because the text carries secrets such as reset links.

use std::path::PathBuf;

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;
use serde::Serialize;

use crate::config::Settings;

/// One plain-text mail.
#[derive(Debug, Clone, Serialize)]
pub struct Mail {
    /// Recipient address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
}

/// Sends mail and announces each mail sent (tests and operators can subscribe).
pub struct Mailer {
    transport: Transport,
    sent: tokio::sync::broadcast::Sender<Mail>,
}

/// Where mail goes.
#[allow(missing_docs)]
enum Transport {
    /// A real SMTP relay.
    Smtp { transport: Box<AsyncSmtpTransport<Tokio1Executor>>, from: Mailbox },
    /// A directory of JSON files, for development and tests.
    Outbox(PathBuf),
    /// Nowhere but the log.
    LogOnly,
}

impl Mailer {
    /// Chooses the transport from the settings.
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        let (sent, _) = tokio::sync::broadcast::channel(16);
        Ok(Self { transport: Transport::from_settings(settings)?, sent })
    }

    /// A receiver of every mail sent from now on.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Mail> {
        self.sent.subscribe()
    }

    /// Sends one mail.
    pub async fn send(&self, mail: Mail) -> anyhow::Result<()> {
        tracing::info!(to = %mail.to, subject = %mail.subject, "sending mail");
        self.transport.send(mail.clone()).await?;
        // Nobody listening is the normal case.
        let _ = self.sent.send(mail);
        Ok(())
    }
}

impl Transport {
    fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        if let Some(url) = &settings.smtp_url {
            let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())?.build();
            let from = settings.mail_from.parse()?;
            return Ok(Self::Smtp { transport: Box::new(transport), from });
        }
        if let Some(dir) = &settings.mail_outbox {
            std::fs::create_dir_all(dir)?;
            return Ok(Self::Outbox(dir.clone()));
        }
        Ok(Self::LogOnly)
    }

    async fn send(&self, mail: Mail) -> anyhow::Result<()> {
        match self {
            Self::Smtp { transport, from } => {
                let message =
                    Message::builder().from(from.clone()).to(mail.to.parse()?).subject(mail.subject).body(mail.text)?;
                transport.send(message).await?;
            }
            Self::Outbox(dir) => {
                let name = format!("{}-{}.json", crate::store::now_millis(), uuid::Uuid::new_v4());
                let partial = dir.join(format!(".{name}.partial"));
                tokio::fs::write(&partial, serde_json::to_vec_pretty(&mail)?).await?;
                // Rename so that readers of the outbox never see half a file.
                tokio::fs::rename(&partial, dir.join(name)).await?;
            }
            Self::LogOnly => {
                tracing::warn!(to = %mail.to, "no DIALOGUE_SMTP_URL or DIALOGUE_MAIL_OUTBOX set; mail dropped");
            }
        }
        Ok(())
    }
}
