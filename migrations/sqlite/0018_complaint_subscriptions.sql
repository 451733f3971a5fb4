-- Engineers subscribe to the complaints report too (by cause, station or model). Kept in step
-- with ../postgres/0018_complaint_subscriptions.sql. SQLite cannot change a CHECK in place:
-- the table is rebuilt (nothing references it).
CREATE TABLE report_subscriptions_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER REFERENCES users (id),
    report TEXT NOT NULL CHECK (report IN ('service_by_model', 'service_by_serial_batch', 'service_by_fault_code',
        'claims_by_station', 'claims_by_model', 'complaints_by_cause', 'complaints_by_station', 'complaints_by_model')),
    frequency TEXT NOT NULL CHECK (frequency IN ('daily', 'weekly', 'monthly')),
    email TEXT NOT NULL,
    sent_through TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (report, frequency, email)
);
INSERT INTO report_subscriptions_new (id, user_id, report, frequency, email, sent_through, created_at)
    SELECT id, user_id, report, frequency, email, sent_through, created_at FROM report_subscriptions;
DROP TABLE report_subscriptions;
ALTER TABLE report_subscriptions_new RENAME TO report_subscriptions;
