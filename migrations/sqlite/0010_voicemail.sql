-- Call records keep who called beside the owner of a serial they typed, and a voicemail's
-- recording; a voicemail becomes an agent task to call back, also from callers the CRM does
-- not know (no customer, the number they called from).

-- customer_id is who called (or, when the caller ID matched nobody, the owner of the serial
-- they typed); serial_owner_id the owner of the serial typed in the IVR, who may be someone else.
ALTER TABLE cdrs ADD COLUMN serial_owner_id INTEGER REFERENCES customers (id);
CREATE INDEX cdrs_serial_owner ON cdrs (serial_owner_id);
-- The caller's message (a mono WAV under the voicemail directory).
ALTER TABLE cdrs ADD COLUMN voicemail TEXT;

-- SQLite cannot change a CHECK or drop NOT NULL in place: the table is rebuilt. Nothing
-- references agent_tasks, so dropping the old one is safe.
CREATE TABLE agent_tasks_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('callback_no_answer', 'poor_survey', 'complaint_escalated',
        'complaint_follow_up', 'maintenance_due', 'warranty_expiring', 'birthday', 'voicemail')),
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
    asset_id, summary, status, due_at, created_at, claimed_by, claimed_at, finished_at, outcome, note)
SELECT id, kind, queue, source, campaign_id, customer_id, repair_order_id, complaint_id,
    asset_id, summary, status, due_at, created_at, claimed_by, claimed_at, finished_at, outcome, note
FROM agent_tasks;
DROP TABLE agent_tasks;
ALTER TABLE agent_tasks_new RENAME TO agent_tasks;
CREATE INDEX agent_tasks_open ON agent_tasks (status, queue, due_at);
CREATE INDEX agent_tasks_customer ON agent_tasks (customer_id);
CREATE INDEX agent_tasks_campaign ON agent_tasks (campaign_id, status);
