-- The voice front end: keypad lookup of serial numbers, and call detail records.

-- A serial number as a caller can type it: its digits only. Serials hold A-Z, 0-9, '-' and '/'.
ALTER TABLE assets ADD COLUMN serial_digits TEXT GENERATED ALWAYS AS (
    replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(serial, '-', ''), '/', ''), 'A', ''), 'B', ''), 'C', ''), 'D', ''), 'E', ''), 'F', ''), 'G', ''), 'H', ''), 'I', ''), 'J', ''), 'K', ''), 'L', ''), 'M', ''), 'N', ''), 'O', ''), 'P', ''), 'Q', ''), 'R', ''), 'S', ''), 'T', ''), 'U', ''), 'V', ''), 'W', ''), 'X', ''), 'Y', ''), 'Z', '')
) VIRTUAL;
CREATE INDEX assets_serial_digits ON assets (serial_digits);

CREATE TABLE cdrs (
    id INTEGER PRIMARY KEY,
    call_id TEXT NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound', 'internal')),
    caller TEXT NOT NULL,
    called TEXT NOT NULL,
    customer_id INTEGER REFERENCES customers (id),
    started_at TEXT NOT NULL,
    answered_at TEXT,
    ended_at TEXT NOT NULL,
    ivr_script TEXT,
    ivr_path TEXT NOT NULL,
    dtmf TEXT NOT NULL,
    queue TEXT,
    outcome TEXT NOT NULL,
    end_reason TEXT NOT NULL,
    recording TEXT
);
CREATE INDEX cdrs_started ON cdrs (started_at DESC, id DESC);
CREATE INDEX cdrs_customer ON cdrs (customer_id);
