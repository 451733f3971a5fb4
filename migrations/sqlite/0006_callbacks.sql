-- Satisfaction callbacks. A job is written in the same transaction as the repair order's
-- completion (an outbox: one job per completed order, never one without the other). Nodes
-- claim due jobs with a lease; each attempt is recorded under its idempotency key before the
-- call is placed, so an attempt whose outcome a crash lost is never placed again.
CREATE TABLE callback_jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    repair_order_id INTEGER NOT NULL UNIQUE REFERENCES repair_orders (id),
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    -- pending, done (surveyed), exhausted (no answer: an agent's task), do_not_call
    status TEXT NOT NULL CHECK (status IN ('pending', 'done', 'exhausted', 'do_not_call')),
    -- The next attempt not before this.
    due_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until TEXT,
    created_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE INDEX callback_jobs_due ON callback_jobs (status, due_at);

CREATE TABLE callback_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id INTEGER NOT NULL REFERENCES callback_jobs (id),
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    attempt INTEGER NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    node TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    -- answered, no_answer, busy, failed; in_doubt when the node died before recording it
    outcome TEXT,
    UNIQUE (job_id, attempt)
);
CREATE INDEX callback_attempts_customer ON callback_attempts (customer_id, started_at);

-- What the customer said: the repair and the technician 1-5, fixed the first time, and an
-- optional recorded comment (a file under data_dir).
CREATE TABLE survey_results (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    repair_order_id INTEGER NOT NULL UNIQUE REFERENCES repair_orders (id),
    job_id INTEGER REFERENCES callback_jobs (id),
    station_id INTEGER REFERENCES stations (id),
    technician_id INTEGER REFERENCES technicians (id),
    repair_score INTEGER NOT NULL CHECK (repair_score BETWEEN 1 AND 5),
    technician_score INTEGER NOT NULL CHECK (technician_score BETWEEN 1 AND 5),
    fixed_first_time INTEGER NOT NULL,
    comment_path TEXT,
    answered_at TEXT NOT NULL
);
CREATE INDEX survey_results_station ON survey_results (station_id);
CREATE INDEX survey_results_technician ON survey_results (technician_id);

-- A complaint still open after its due date is escalated (once) to the supervisors.
ALTER TABLE complaints ADD COLUMN escalated_at TEXT;
CREATE INDEX complaints_due ON complaints (status, due_on);
