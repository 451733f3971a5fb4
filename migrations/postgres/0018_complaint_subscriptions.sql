-- Engineers subscribe to the complaints report too (by cause, station or model). Kept in step
-- with ../sqlite/0018_complaint_subscriptions.sql, which rebuilds the table for its CHECK.
ALTER TABLE report_subscriptions DROP CONSTRAINT report_subscriptions_report_check;
ALTER TABLE report_subscriptions ADD CONSTRAINT report_subscriptions_report_check CHECK (report IN ('service_by_model',
    'service_by_serial_batch', 'service_by_fault_code', 'claims_by_station', 'claims_by_model', 'complaints_by_cause',
    'complaints_by_station', 'complaints_by_model'));
