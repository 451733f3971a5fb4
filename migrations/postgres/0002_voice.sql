-- The voice front end: keypad lookup of serial numbers, and call detail records.

-- A serial number as a caller can type it: its digits only.
ALTER TABLE assets ADD COLUMN serial_digits TEXT GENERATED ALWAYS AS (regexp_replace(serial, '[^0-9]', '', 'g')) STORED;
CREATE INDEX assets_serial_digits ON assets (serial_digits);

CREATE TABLE cdrs (
    id BIGSERIAL PRIMARY KEY,
    call_id TEXT NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound', 'internal')),
    caller TEXT NOT NULL,
    called TEXT NOT NULL,
    customer_id BIGINT REFERENCES customers (id),
    started_at TIMESTAMPTZ NOT NULL,
    answered_at TIMESTAMPTZ,
    ended_at TIMESTAMPTZ NOT NULL,
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
