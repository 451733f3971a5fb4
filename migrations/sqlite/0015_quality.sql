-- Early warning: an alert per cause (model, production batch, fault code) while it is open,
-- with the figures that raised it and the repair orders behind them. Kept table-for-table in
-- step with ../postgres/0015_quality.sql.
CREATE TABLE quality_alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    cause TEXT NOT NULL,
    model_id INTEGER NOT NULL REFERENCES product_models (id),
    serial_batch TEXT NOT NULL,
    fault_code TEXT NOT NULL,
    -- The watched month's first day.
    month TEXT NOT NULL,
    units INTEGER NOT NULL,
    cases INTEGER NOT NULL,
    rate_month REAL NOT NULL,
    rate_before REAL NOT NULL,
    ratio REAL NOT NULL,
    p_value REAL NOT NULL,
    -- JSON: the month's repair order ids.
    repair_orders TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    raised_at TEXT NOT NULL,
    closed_at TEXT,
    closed_by INTEGER REFERENCES users (id),
    note TEXT
);
CREATE UNIQUE INDEX quality_alerts_open_cause ON quality_alerts (cause) WHERE status = 'open';
CREATE INDEX quality_alerts_raised ON quality_alerts (raised_at);
-- The cells of a scan: repairs by model, batch and fault code over a range of days.
CREATE INDEX repair_facts_quality ON repair_facts (completed_on, model_id, serial_batch, fault_code);
