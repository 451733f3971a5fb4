//! Outbound e-mail: what a message is, who may be written to, the retry schedule, and the
//! templates. The durable outbox lives in storage (`MailStore`); sending over SMTP is the
//! `aftercare` adapter's (`mail.rs` there, with lettre).
//!
//! Delivery is at least once: a message stays in the outbox until the server accepted it. It is
//! queued once per idempotency key (a second request with the key answers the first message),
//! and every attempt carries the same `Message-ID`, derived from the key, so the one case that
//! can repeat it (the node dies after the server's acceptance and before the outbox records it)
//! reaches the recipient as the same message.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::types::Email;
use crate::types::ParseError;
use crate::FieldError;

str_enum!(
    /// Why a message is written.
    MailKind {
        AppointmentConfirmation = "appointment_confirmation", CareReminder = "care_reminder",
        ScheduledReport = "scheduled_report", Alert = "alert", Test = "test",
    }
);
str_enum!(
    /// `queued` (waiting for its next attempt), `sent` (the server accepted it) or `failed`
    /// (refused for good, or out of attempts).
    MailStatus { Queued = "queued", Sent = "sent", Failed = "failed" }
);

/// Attempts before a message that keeps failing for a passing reason is given up.
pub const MAX_ATTEMPTS: u32 = 8;
/// Largest attachment, in bytes (a scheduled report's CSV).
pub const MAX_ATTACHMENT_BYTES: usize = 5 * 1024 * 1024;

/// A file sent with a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Attachment {
    pub filename: String,
    pub content_type: String,
    pub content: String,
}

/// A message to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMail {
    /// One message per key, however often it is asked for (`appointment:17:1796371200`: the order and the window's start).
    pub key: String,
    pub kind: MailKind,
    pub to: Email,
    pub subject: String,
    pub text: String,
    pub attachments: Vec<Attachment>,
    /// Not before this (a report's schedule); usually now.
    pub due_at: DateTime<Utc>,
}

impl NewMail {
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.key.is_empty() || self.key.len() > 200 || self.key.chars().any(|c| c.is_control()) {
            return Err(FieldError::new("key", "1 to 200 characters, no control characters"));
        }
        if self.subject.trim().is_empty() || self.subject.chars().count() > 200 || self.subject.contains(['\r', '\n']) {
            return Err(FieldError::new("subject", "one line of 1 to 200 characters"));
        }
        if self.text.contains('\0') || self.text.len() > 1_000_000 {
            return Err(FieldError::new("text", "at most 1 MB, no NUL"));
        }
        for a in &self.attachments {
            let name_ok = !a.filename.is_empty()
                && a.filename.len() <= 100
                && a.filename
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
            if !name_ok || a.content.len() > MAX_ATTACHMENT_BYTES {
                return Err(FieldError::new(
                    "attachments",
                    "a file name of letters, digits, '.', '_' and '-', and at most 5 MB",
                ));
            }
        }
        Ok(())
    }
}

/// A message in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Mail {
    pub id: i64,
    pub key: String,
    pub kind: MailKind,
    pub to: Email,
    pub subject: String,
    pub text: String,
    pub attachments: Vec<Attachment>,
    pub status: MailStatus,
    pub attempts: u32,
    pub due_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

impl Mail {
    /// The `Message-ID` every attempt of this message carries.
    pub fn message_id(&self, domain: &str) -> String {
        message_id(&self.key, domain)
    }
}

/// `<hex of the key@domain>`: the same for every attempt at one key, safe in a header.
pub fn message_id(key: &str, domain: &str) -> String {
    let hex: String = key.bytes().map(|b| format!("{b:02x}")).collect();
    format!("<{hex}@{domain}>")
}

/// What an attempt came to, as the adapter saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The server took the message (2xx after the data).
    Accepted,
    /// The server refused it for good (5xx): a bad address, a message it will never take.
    Refused(String),
    /// Anything passing: no connection, a timeout, a 4xx.
    Failed(String),
}

/// What becomes of a message after an attempt: sent, failed for good, or queued again for a
/// later attempt (back-off doubling from `first`, at most 64 times it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    Sent,
    Failed(String),
    Retry { at: DateTime<Utc>, error: String },
}

/// The next step for a message that has had `attempts` attempts, this one included.
pub fn after_attempt(attempts: u32, outcome: Attempt, now: DateTime<Utc>, first: Duration) -> Disposition {
    match outcome {
        Attempt::Accepted => Disposition::Sent,
        Attempt::Refused(e) => Disposition::Failed(e),
        Attempt::Failed(e) if attempts >= MAX_ATTEMPTS => {
            Disposition::Failed(format!("gave up after {attempts} attempts: {e}"))
        }
        Attempt::Failed(error) => Disposition::Retry {
            at: now + retry_after(attempts, first),
            error,
        },
    }
}

/// `first` after the first failure, doubling, at most 64 times `first` (with the default
/// minute: 1, 2, 4 … 64 minutes).
pub fn retry_after(attempts: u32, first: Duration) -> Duration {
    first * (1i32 << attempts.saturating_sub(1).min(6))
}

/// The back-off's first step when configuration names none.
pub const FIRST_RETRY: Duration = Duration::minutes(1);

// ------------------------------------------------------------------------------ who may be written to

/// What decides whether a customer may get an e-mail of a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reachable<'a> {
    pub email: Option<&'a Email>,
    /// On the do-not-contact list: no reminder by any channel.
    pub do_not_contact: bool,
    pub marketing_consent: bool,
}

/// The address to write to, when the customer may get this kind of message: confirmations of
/// what they booked go to anyone with an address; care reminders need consent and not the
/// do-not-contact list. Staff messages (reports, alerts, tests) are not for customers.
pub fn customer_address(kind: MailKind, r: Reachable<'_>) -> Option<Email> {
    let allowed = match kind {
        MailKind::AppointmentConfirmation => true,
        MailKind::CareReminder => r.marketing_consent && !r.do_not_contact,
        MailKind::ScheduledReport | MailKind::Alert | MailKind::Test => false,
    };
    r.email.filter(|_| allowed).cloned()
}

// ------------------------------------------------------------------------------ templates

/// A subject and a plain-text body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
}

/// Subject lines are one line: any line break in data becomes a space.
fn one_line(s: &str) -> String {
    s.split(['\r', '\n'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The booked visit: when (the station's local time, as words), the product, the order. The
/// words are ASCII where the data is, so the message goes as 7-bit text.
pub struct AppointmentFacts<'a> {
    pub customer: &'a str,
    pub order_id: i64,
    pub product: &'a str,
    /// "Friday 4 December 2026, 08:00 to 10:00" in the station's time zone.
    pub window: &'a str,
    pub station: &'a str,
    pub company: &'a str,
}

pub fn appointment_confirmation(f: &AppointmentFacts<'_>) -> Rendered {
    Rendered {
        subject: one_line(&format!("Your repair appointment: {}", f.window)),
        text: format!(
            "Dear {},\n\nour technician from {} will visit you on {} for your {} (repair order {}).\n\n\
             If the time does not suit you, please call us and quote the order number.\n\n{}\n",
            one_line(f.customer),
            one_line(f.station),
            f.window,
            one_line(f.product),
            f.order_id,
            f.company
        ),
    }
}

/// A care reminder's words, from the agent task's summary (maintenance due, warranty ending).
pub fn care_reminder(customer: &str, summary: &str, company: &str) -> Rendered {
    Rendered {
        subject: one_line(&format!("A reminder from {company}")),
        text: format!(
            "Dear {},\n\n{}\n\nReply to this message or call us to arrange a visit. You receive reminders \
             because you agreed to hear from us; tell us and we stop.\n\n{}\n",
            one_line(customer),
            summary.trim(),
            company
        ),
    }
}

/// A scheduled report: its name, period and the summary lines; the CSV goes as an attachment.
pub fn scheduled_report(name: &str, period: &str, summary: &[String]) -> Rendered {
    let mut text = format!("{name}, {period}\n\n");
    for line in summary {
        text.push_str("- ");
        text.push_str(line.trim());
        text.push('\n');
    }
    text.push_str("\nThe full table is attached as CSV.\n");
    Rendered {
        subject: one_line(&format!("Report: {name}, {period}")),
        text,
    }
}

/// An early-warning alert for the quality engineers.
pub fn alert(title: &str, lines: &[String]) -> Rendered {
    let mut text = format!("{title}\n\n");
    for line in lines {
        text.push_str(line.trim_end());
        text.push('\n');
    }
    Rendered {
        subject: one_line(&format!("Early warning: {title}")),
        text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 4, 8, 0, 0).unwrap()
    }

    #[test]
    fn failures_back_off_and_give_up_refusals_do_not_retry() {
        let waits: Vec<i64> = (1..=8).map(|n| retry_after(n, FIRST_RETRY).num_minutes()).collect();
        assert_eq!(waits, vec![1, 2, 4, 8, 16, 32, 64, 64]);
        let f = FIRST_RETRY;
        assert_eq!(after_attempt(1, Attempt::Accepted, now(), f), Disposition::Sent);
        assert_eq!(
            after_attempt(1, Attempt::Failed("connection refused".into()), now(), f),
            Disposition::Retry {
                at: now() + Duration::minutes(1),
                error: "connection refused".into()
            }
        );
        assert!(matches!(
            after_attempt(1, Attempt::Refused("550 no such user".into()), now(), f),
            Disposition::Failed(e) if e.contains("550")
        ));
        assert!(matches!(
            after_attempt(MAX_ATTEMPTS, Attempt::Failed("timeout".into()), now(), f),
            Disposition::Failed(e) if e.contains("gave up")
        ));
    }

    #[test]
    fn only_customers_who_may_be_written_to_get_reminders() {
        let email = Email::parse("anna@example.com").unwrap();
        let base = Reachable {
            email: Some(&email),
            do_not_contact: false,
            marketing_consent: true,
        };
        assert_eq!(customer_address(MailKind::CareReminder, base), Some(email.clone()));
        let dnc = Reachable {
            do_not_contact: true,
            ..base
        };
        assert_eq!(customer_address(MailKind::CareReminder, dnc), None);
        let no_consent = Reachable {
            marketing_consent: false,
            ..base
        };
        assert_eq!(customer_address(MailKind::CareReminder, no_consent), None);
        // What the customer booked is confirmed to them all the same.
        assert_eq!(
            customer_address(MailKind::AppointmentConfirmation, dnc),
            Some(email.clone())
        );
        assert_eq!(customer_address(MailKind::Alert, base), None);
        let none = Reachable { email: None, ..base };
        assert_eq!(customer_address(MailKind::AppointmentConfirmation, none), None);
    }

    #[test]
    fn subjects_stay_one_line_and_keys_make_stable_message_ids() {
        let r = appointment_confirmation(&AppointmentFacts {
            customer: "Anna\r\nBcc: victim@example.com",
            order_id: 17,
            product: "AquaPro 7 kg",
            window: "Friday 4 December 2026, 08:00–10:00",
            station: "Berlin 1",
            company: "Aftercare",
        });
        assert!(!r.subject.contains(['\r', '\n']), "{}", r.subject);
        assert!(r.text.starts_with("Dear Anna Bcc: victim@example.com,"), "{}", r.text);
        let a = message_id("appointment:17", "aftercare.example");
        assert_eq!(a, message_id("appointment:17", "aftercare.example"));
        assert_ne!(a, message_id("appointment:18", "aftercare.example"));
        assert!(a.starts_with('<') && a.ends_with("@aftercare.example>") && a.is_ascii());
        let report = scheduled_report("Service by model", "2026-11", &["WM-7000: 12 repairs".into()]);
        assert_eq!(report.subject, "Report: Service by model, 2026-11");
    }

    #[test]
    fn a_message_must_have_a_key_a_one_line_subject_and_safe_attachment_names() {
        let ok = NewMail {
            key: "test:1".into(),
            kind: MailKind::Test,
            to: Email::parse("ops@example.com").unwrap(),
            subject: "Test".into(),
            text: "hello".into(),
            attachments: vec![],
            due_at: now(),
        };
        assert!(ok.validate().is_ok());
        let bad = |f: fn(&mut NewMail)| {
            let mut m = ok.clone();
            f(&mut m);
            m.validate().unwrap_err().field
        };
        assert_eq!(bad(|m| m.key.clear()), "key");
        assert_eq!(bad(|m| m.subject = "a\nb".into()), "subject");
        assert_eq!(bad(|m| m.text = "a\0b".into()), "text");
        assert_eq!(
            bad(|m| m.attachments = vec![Attachment {
                filename: "../etc/passwd".into(),
                content_type: "text/csv".into(),
                content: String::new()
            }]),
            "attachments"
        );
    }
}
