-- Outbound e-mail: a durable outbox. A message is queued once per idempotency key (in the
-- transaction of what caused it, where there is one), leased by a node to send, and kept until
-- the SMTP server accepted it (at least once), failed for good, or ran out of attempts. Kept
-- table-for-table in step with ../postgres/0014_mail.sql.
CREATE TABLE mail_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('appointment_confirmation', 'care_reminder', 'scheduled_report', 'alert', 'test')),
    to_address TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    -- JSON: [{filename, content_type, content}]
    attachments TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    due_at TEXT NOT NULL,
    lease_owner TEXT,
    lease_until TEXT,
    last_error TEXT,
    created_at TEXT NOT NULL,
    sent_at TEXT
);
CREATE INDEX mail_outbox_due ON mail_outbox (status, due_at);
