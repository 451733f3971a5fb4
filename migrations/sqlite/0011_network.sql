-- The service network: stations as contracted partners with a lifecycle, logins scoped to a
-- station or a region, the standard-time catalogue and bills of materials, warranty claims
-- reviewed line by line with old-part returns, and settlements of approved claim lines.
-- Kept table-for-table in step with ../postgres/0011_network.sql.

ALTER TABLE stations ADD COLUMN status TEXT NOT NULL DEFAULT 'approved'
    CHECK (status IN ('applying', 'approved', 'suspended', 'terminated'));
ALTER TABLE stations ADD COLUMN status_reason TEXT;
ALTER TABLE stations ADD COLUMN region TEXT;
-- Kind, address, contacts, bank details, contract and qualifications (JSON, `model::Partner`).
ALTER TABLE stations ADD COLUMN partner TEXT NOT NULL DEFAULT '{}';
CREATE INDEX stations_region ON stations (region);

-- The station portal: a station accepts the orders dispatch gives it, or declines them with a
-- reason (dispatch then looks elsewhere and never gives the order back to that station).
ALTER TABLE repair_orders ADD COLUMN station_accepted_at TEXT;
CREATE TABLE station_declines (
    repair_order_id INTEGER NOT NULL REFERENCES repair_orders (id),
    station_id INTEGER NOT NULL REFERENCES stations (id),
    reason TEXT NOT NULL,
    declined_by INTEGER REFERENCES users (id),
    at TEXT NOT NULL,
    PRIMARY KEY (repair_order_id, station_id)
);

-- A station manager's station; a supervisor's region (null: every station).
ALTER TABLE users ADD COLUMN station_id INTEGER REFERENCES stations (id);
ALTER TABLE users ADD COLUMN region TEXT;

-- The parts a model is built from: a claimed part outside it is flagged.
CREATE TABLE model_parts (
    model_id INTEGER NOT NULL REFERENCES product_models (id),
    part_id INTEGER NOT NULL REFERENCES parts (id),
    PRIMARY KEY (model_id, part_id)
);

-- Labour time per model and fault (or operation) code; a change is a new version, never an edit.
CREATE TABLE standard_times (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id INTEGER NOT NULL REFERENCES product_models (id),
    code TEXT NOT NULL,
    minutes INTEGER NOT NULL CHECK (minutes > 0),
    version INTEGER NOT NULL,
    valid_from TEXT NOT NULL,
    created_by INTEGER REFERENCES users (id),
    created_at TEXT NOT NULL,
    UNIQUE (model_id, code, version)
);

ALTER TABLE settlements ADD COLUMN claims INTEGER NOT NULL DEFAULT 0;
ALTER TABLE settlements ADD COLUMN lines INTEGER NOT NULL DEFAULT 0;
ALTER TABLE settlements ADD COLUMN labour_minor INTEGER NOT NULL DEFAULT 0;
ALTER TABLE settlements ADD COLUMN travel_minor INTEGER NOT NULL DEFAULT 0;
ALTER TABLE settlements ADD COLUMN claimed_minor INTEGER NOT NULL DEFAULT 0;

-- One claim per completed warranty repair (the unique repair order makes submitting twice
-- answer the first claim). Status is derived from the lines and stored for the reports.
CREATE TABLE claims (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    repair_order_id INTEGER NOT NULL UNIQUE REFERENCES repair_orders (id),
    station_id INTEGER NOT NULL REFERENCES stations (id),
    technician_id INTEGER REFERENCES technicians (id),
    asset_id INTEGER NOT NULL REFERENCES assets (id),
    model_id INTEGER NOT NULL REFERENCES product_models (id),
    fault_code TEXT,
    completed_on TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('submitted', 'in_review', 'decided', 'appealed', 'settled')),
    currency TEXT NOT NULL,
    claimed_minor INTEGER NOT NULL CHECK (claimed_minor >= 0),
    approved_minor INTEGER NOT NULL CHECK (approved_minor >= 0),
    flags TEXT NOT NULL,
    evidence TEXT NOT NULL,
    appeal TEXT,
    appealed_at TEXT,
    settlement_id INTEGER REFERENCES settlements (id),
    submitted_by INTEGER REFERENCES users (id),
    submitted_at TEXT NOT NULL
);
CREATE INDEX claims_station ON claims (station_id, status, completed_on);
CREATE INDEX claims_completed ON claims (completed_on, station_id, model_id, fault_code, status, claimed_minor, approved_minor);
CREATE INDEX claims_status ON claims (status, id);
CREATE INDEX claims_settlement ON claims (settlement_id);

CREATE TABLE claim_lines (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    claim_id INTEGER NOT NULL REFERENCES claims (id),
    -- The claim's, so the report of cuts by reason reads one index.
    completed_on TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('labour', 'part', 'travel')),
    part_id INTEGER REFERENCES parts (id),
    description TEXT NOT NULL,
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    minutes INTEGER,
    unit_minor INTEGER NOT NULL,
    claimed_minor INTEGER NOT NULL CHECK (claimed_minor >= 0),
    decision TEXT NOT NULL CHECK (decision IN ('pending', 'approved', 'cut', 'rejected')),
    approved_minor INTEGER NOT NULL CHECK (approved_minor >= 0 AND approved_minor <= claimed_minor),
    reject_code TEXT,
    reason TEXT,
    flags TEXT NOT NULL,
    return_status TEXT CHECK (return_status IN ('requested', 'shipped', 'received', 'inspected')),
    return_carrier TEXT,
    return_tracking TEXT,
    return_note TEXT,
    appealed INTEGER NOT NULL DEFAULT 0,
    decided_by INTEGER REFERENCES users (id),
    decided_at TEXT
);
CREATE INDEX claim_lines_claim ON claim_lines (claim_id, id);
CREATE INDEX claim_lines_cuts ON claim_lines (completed_on, decision, reject_code, claimed_minor, approved_minor);
CREATE INDEX claim_lines_returns ON claim_lines (return_status) WHERE return_status IS NOT NULL;
