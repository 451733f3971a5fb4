-- Dealers and registered sales (the factory warranty starts at the sale), dealer logins, and
-- paid repairs: quotes, invoices numbered without gaps per station and year, payments. Kept
-- table-for-table in step with ../postgres/0017_sales_billing.sql; SQLite rebuilds users and
-- agent_tasks to change their CHECKs (as 0010 and 0012 did).
CREATE TABLE dealers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    address TEXT NOT NULL,
    contacts TEXT NOT NULL,
    territory TEXT NOT NULL,
    agreement TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'terminated')),
    created_at TEXT NOT NULL
);

-- Migrations run inside a transaction, where foreign keys cannot be switched off: the checks
-- are deferred, and putting every user back under the same id settles them (see 0012).
PRAGMA defer_foreign_keys = ON;
CREATE TABLE users_copy AS SELECT id, username, display_name, role, technician_id, password_hash, created_at,
    station_id, region FROM users;
DROP TABLE users;
CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'supervisor', 'agent', 'technician', 'station_manager', 'reviewer', 'dealer')),
    technician_id BIGINT,
    password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    station_id INTEGER REFERENCES stations (id),
    region TEXT,
    dealer_id INTEGER REFERENCES dealers (id)
);
INSERT INTO users (id, username, display_name, role, technician_id, password_hash, created_at, station_id, region)
    SELECT id, username, display_name, role, technician_id, password_hash, created_at, station_id, region FROM users_copy;
DROP TABLE users_copy;

-- The production date on the serial plate.
ALTER TABLE assets ADD COLUMN produced_on TEXT;

CREATE TABLE sales (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    asset_id BIGINT NOT NULL UNIQUE REFERENCES assets (id),
    dealer_id BIGINT NOT NULL REFERENCES dealers (id),
    customer_id BIGINT NOT NULL REFERENCES customers (id),
    sold_on TEXT NOT NULL,
    delivery TEXT NOT NULL,
    registered_by BIGINT REFERENCES users (id),
    registered_at TEXT NOT NULL
);
CREATE INDEX sales_dealer ON sales (dealer_id, sold_on);

CREATE TABLE quotes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    repair_order_id BIGINT NOT NULL REFERENCES repair_orders (id),
    version BIGINT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('offered', 'accepted', 'superseded')),
    currency TEXT NOT NULL,
    lines TEXT NOT NULL,
    net_minor BIGINT NOT NULL,
    tax_minor BIGINT NOT NULL,
    total_minor BIGINT NOT NULL,
    -- The terms quoted: days from the invoice to its due date.
    payment_days BIGINT NOT NULL,
    created_by BIGINT REFERENCES users (id),
    created_at TEXT NOT NULL,
    acceptance TEXT,
    UNIQUE (repair_order_id, version)
);

CREATE TABLE invoice_counters (
    station_id BIGINT NOT NULL REFERENCES stations (id),
    year BIGINT NOT NULL,
    last_seq BIGINT NOT NULL,
    PRIMARY KEY (station_id, year)
);

CREATE TABLE invoices (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    number TEXT NOT NULL UNIQUE,
    station_id BIGINT NOT NULL REFERENCES stations (id),
    year BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    repair_order_id BIGINT NOT NULL UNIQUE REFERENCES repair_orders (id),
    quote_id BIGINT NOT NULL REFERENCES quotes (id),
    customer_id BIGINT NOT NULL REFERENCES customers (id),
    model_id BIGINT NOT NULL REFERENCES product_models (id),
    issued_on TEXT NOT NULL,
    due_on TEXT NOT NULL,
    currency TEXT NOT NULL,
    lines TEXT NOT NULL,
    net_minor BIGINT NOT NULL,
    tax_minor BIGINT NOT NULL,
    total_minor BIGINT NOT NULL,
    paid_minor BIGINT NOT NULL DEFAULT 0 CHECK (paid_minor >= 0 AND paid_minor <= total_minor),
    status TEXT NOT NULL CHECK (status IN ('open', 'partly_paid', 'paid')),
    created_at TEXT NOT NULL,
    UNIQUE (station_id, year, seq)
);
CREATE INDEX invoices_unpaid ON invoices (status, due_on);
CREATE INDEX invoices_issued ON invoices (issued_on);

CREATE TABLE payments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    invoice_id BIGINT NOT NULL REFERENCES invoices (id),
    method TEXT NOT NULL CHECK (method IN ('cash', 'card', 'transfer')),
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    paid_on TEXT NOT NULL,
    reference TEXT,
    request_key TEXT NOT NULL,
    recorded_by BIGINT REFERENCES users (id),
    recorded_at TEXT NOT NULL,
    UNIQUE (invoice_id, request_key)
);

-- Nothing references agent_tasks: it is rebuilt for the new kind.
CREATE TABLE agent_tasks_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('callback_no_answer', 'poor_survey', 'complaint_escalated',
        'complaint_follow_up', 'maintenance_due', 'warranty_expiring', 'birthday', 'voicemail',
        'invoice_overdue')),
    -- The ACD queue whose agents work it, or 'supervisors'.
    queue TEXT NOT NULL,
    source TEXT NOT NULL UNIQUE,
    campaign_id INTEGER REFERENCES campaigns (id),
    -- Null only for a voicemail from a caller the CRM does not know.
    customer_id INTEGER REFERENCES customers (id),
    repair_order_id INTEGER REFERENCES repair_orders (id),
    complaint_id INTEGER REFERENCES complaints (id),
    asset_id INTEGER REFERENCES assets (id),
    summary TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'claimed', 'done')),
    due_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    claimed_by INTEGER REFERENCES users (id),
    claimed_at TEXT,
    finished_at TEXT,
    outcome TEXT CHECK (outcome IN ('reached', 'no_answer', 'wrong_number', 'declined', 'handled')),
    note TEXT,
    -- The number to call back (a voicemail's caller ID).
    callback_number TEXT,
    -- The call that raised it (a voicemail: its recording is on the record).
    cdr_id INTEGER REFERENCES cdrs (id),
    CHECK (customer_id IS NOT NULL OR callback_number IS NOT NULL)
);
INSERT INTO agent_tasks_new (id, kind, queue, source, campaign_id, customer_id, repair_order_id, complaint_id,
    asset_id, summary, status, due_at, created_at, claimed_by, claimed_at, finished_at, outcome, note, callback_number, cdr_id)
SELECT id, kind, queue, source, campaign_id, customer_id, repair_order_id, complaint_id,
    asset_id, summary, status, due_at, created_at, claimed_by, claimed_at, finished_at, outcome, note, callback_number, cdr_id
FROM agent_tasks;
DROP TABLE agent_tasks;
ALTER TABLE agent_tasks_new RENAME TO agent_tasks;
CREATE INDEX agent_tasks_open ON agent_tasks (status, queue, due_at);
CREATE INDEX agent_tasks_customer ON agent_tasks (customer_id);
CREATE INDEX agent_tasks_campaign ON agent_tasks (campaign_id, status);
