-- Reports. One row of facts per completed repair, written in the completion's transaction, so
-- service and settlement reports group an indexed table instead of joining every order's
-- reports and parts; and settlements of labour hours per station and period.
CREATE TABLE settlements (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    station_id INTEGER NOT NULL REFERENCES stations (id),
    period_from TEXT NOT NULL,
    period_to TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('draft', 'approved')),
    orders INTEGER NOT NULL,
    labour_hours_warranty REAL NOT NULL,
    labour_hours_paid REAL NOT NULL,
    parts_warranty_minor INTEGER NOT NULL,
    parts_paid_minor INTEGER NOT NULL,
    labour_rate_minor INTEGER NOT NULL,
    warranty_amount_minor INTEGER NOT NULL,
    currency TEXT NOT NULL,
    created_by INTEGER REFERENCES users (id),
    created_at TEXT NOT NULL,
    approved_by INTEGER REFERENCES users (id),
    approved_at TEXT
);
CREATE INDEX settlements_station ON settlements (station_id, id DESC);

CREATE TABLE repair_facts (
    repair_order_id INTEGER PRIMARY KEY REFERENCES repair_orders (id),
    completed_on TEXT NOT NULL,
    completed_at TEXT NOT NULL,
    station_id INTEGER REFERENCES stations (id),
    technician_id INTEGER REFERENCES technicians (id),
    asset_id INTEGER NOT NULL REFERENCES assets (id),
    model_id INTEGER NOT NULL REFERENCES product_models (id),
    serial_batch TEXT NOT NULL,
    fault_code TEXT,
    labour_hours REAL NOT NULL,
    -- The asset's warranty covered labour on the day.
    labour_warranty INTEGER NOT NULL,
    parts_warranty_minor INTEGER NOT NULL,
    parts_paid_minor INTEGER NOT NULL,
    -- Minutes from opening the order to the technician's check-in (else to completion).
    response_minutes INTEGER NOT NULL,
    -- The asset's previous repair, completed at most 30 days before this one was opened.
    repeat_of INTEGER REFERENCES repair_orders (id),
    -- A later repair of the asset repeats this one (it was not fixed the first time).
    repeated INTEGER NOT NULL DEFAULT 0,
    settlement_id INTEGER REFERENCES settlements (id)
);
CREATE INDEX repair_facts_completed ON repair_facts (completed_on);
CREATE INDEX repair_facts_station ON repair_facts (station_id, completed_on);
CREATE INDEX repair_facts_asset ON repair_facts (asset_id, completed_at);
CREATE INDEX repair_facts_settlement ON repair_facts (settlement_id);

CREATE INDEX survey_results_order ON survey_results (repair_order_id, repair_score);

-- Calls: answered within the queue's service-level time (judged by the switch with the
-- threshold in force), and running sums per queue and 15 minutes and per agent and day, added
-- to in the same transaction as each call record.
ALTER TABLE cdrs ADD COLUMN answered_within_sl INTEGER;
CREATE TABLE queue_intervals (
    queue TEXT NOT NULL,
    interval_start TEXT NOT NULL,
    offered INTEGER NOT NULL,
    answered INTEGER NOT NULL,
    abandoned INTEGER NOT NULL,
    answered_within_sl INTEGER NOT NULL,
    wait_ms INTEGER NOT NULL,
    talk_s INTEGER NOT NULL,
    PRIMARY KEY (queue, interval_start)
);
CREATE INDEX queue_intervals_start ON queue_intervals (interval_start);
CREATE TABLE agent_days (
    agent_id INTEGER NOT NULL REFERENCES users (id),
    day TEXT NOT NULL,
    answered INTEGER NOT NULL,
    answered_within_sl INTEGER NOT NULL,
    wait_ms INTEGER NOT NULL,
    talk_s INTEGER NOT NULL,
    PRIMARY KEY (agent_id, day)
);
CREATE INDEX agent_days_day ON agent_days (day);

-- Parts used carry the asset's model, so consumption by model needs no join through orders and
-- assets; both ledgers get indexes that cover what the parts report reads.
ALTER TABLE repair_parts ADD COLUMN model_id INTEGER REFERENCES product_models (id);
UPDATE repair_parts SET model_id = (SELECT a.model_id FROM repair_orders r JOIN assets a ON a.id = r.asset_id
                                    WHERE r.id = repair_parts.repair_order_id);
CREATE INDEX repair_parts_period ON repair_parts (at, model_id, station_id, part_id, quantity, billing, unit_price_minor);
CREATE INDEX stock_movements_period ON stock_movements (at, station_id, part_id, delta, reason);
