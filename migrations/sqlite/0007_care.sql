-- Agent tasks: work for agents that is not an inbound call. Preview-dial tasks (a satisfaction
-- callback nobody answered, a complaint's follow-up call, customer-care reminders) and
-- supervisors' alerts (a poor survey, an escalated complaint). `source` names what raised a
-- task, so raising it again adds none. A campaign is a named batch of reminder tasks.
CREATE TABLE campaigns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('maintenance_due', 'warranty_expiring', 'birthday')),
    queue TEXT NOT NULL,
    created_by INTEGER REFERENCES users (id),
    created_at TEXT NOT NULL
);

CREATE TABLE agent_tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('callback_no_answer', 'poor_survey', 'complaint_escalated',
        'complaint_follow_up', 'maintenance_due', 'warranty_expiring', 'birthday')),
    -- The ACD queue whose agents work it, or 'supervisors'.
    queue TEXT NOT NULL,
    source TEXT NOT NULL UNIQUE,
    campaign_id INTEGER REFERENCES campaigns (id),
    customer_id INTEGER NOT NULL REFERENCES customers (id),
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
    note TEXT
);
CREATE INDEX agent_tasks_open ON agent_tasks (status, queue, due_at);
CREATE INDEX agent_tasks_customer ON agent_tasks (customer_id);
CREATE INDEX agent_tasks_campaign ON agent_tasks (campaign_id, status);

-- How often a model wants routine maintenance (null: never); reminders fall due that long after
-- the purchase or the last completed repair.
ALTER TABLE product_models ADD COLUMN maintenance_months INTEGER;
CREATE INDEX assets_model_purchase ON assets (model_id, purchase_date);
