-- Scheduled reports: who receives which report how often, and the last period sent (the
-- message itself is in the outbox, keyed by subscription and period). Kept table-for-table in
-- step with ../postgres/0016_subscriptions.sql.
CREATE TABLE report_subscriptions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER REFERENCES users (id),
    report TEXT NOT NULL CHECK (report IN ('service_by_model', 'service_by_serial_batch', 'service_by_fault_code', 'claims_by_station', 'claims_by_model')),
    frequency TEXT NOT NULL CHECK (frequency IN ('daily', 'weekly', 'monthly')),
    email TEXT NOT NULL,
    sent_through TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (report, frequency, email)
);
