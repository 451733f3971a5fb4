-- Field work: dispatch decisions on repair orders, the technician's task status and reports,
-- parts used, photos, signatures; idempotent retries from mobile clients; stock documents.

-- What dispatch decided: the visit's estimated length, its place in the technician's day route,
-- and, for an order nobody could take, why.
ALTER TABLE repair_orders ADD COLUMN duration_minutes INTEGER NOT NULL DEFAULT 90;
ALTER TABLE repair_orders ADD COLUMN route_seq INTEGER;
ALTER TABLE repair_orders ADD COLUMN unassigned_reason TEXT;
-- The technician's own status flow (assigned, accepted, en_route, on_site, paused, completed,
-- cannot_complete); null while nobody is assigned.
ALTER TABLE repair_orders ADD COLUMN task_status TEXT;
CREATE INDEX repair_orders_open ON repair_orders (status, scheduled_for);

-- Parts a repair order is expected to need: dispatch prefers (and day plans require) a station
-- that holds them.
CREATE TABLE repair_order_parts (
    repair_order_id INTEGER NOT NULL REFERENCES repair_orders (id),
    part_id INTEGER NOT NULL REFERENCES parts (id),
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (repair_order_id, part_id)
);

-- When the technician's location was last reported.
ALTER TABLE technicians ADD COLUMN position_at TEXT;

CREATE TABLE field_reports (
    repair_order_id INTEGER PRIMARY KEY REFERENCES repair_orders (id),
    diagnosis TEXT,
    work_done TEXT,
    labour_hours REAL CHECK (labour_hours >= 0),
    check_in_at TEXT,
    check_in_lat REAL,
    check_in_lon REAL,
    check_in_distance_m REAL,
    cannot_complete_reason TEXT,
    signed_by TEXT,
    signature_path TEXT,
    signature_bytes INTEGER,
    signed_at TEXT
);

CREATE TABLE repair_parts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    repair_order_id INTEGER NOT NULL REFERENCES repair_orders (id),
    part_id INTEGER NOT NULL REFERENCES parts (id),
    station_id INTEGER NOT NULL REFERENCES stations (id),
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    billing TEXT NOT NULL CHECK (billing IN ('warranty', 'paid')),
    unit_price_minor INTEGER NOT NULL,
    currency TEXT NOT NULL,
    movement_id INTEGER NOT NULL REFERENCES stock_movements (id),
    at TEXT NOT NULL
);
CREATE INDEX repair_parts_order ON repair_parts (repair_order_id, id);

CREATE TABLE repair_photos (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    repair_order_id INTEGER NOT NULL REFERENCES repair_orders (id),
    path TEXT NOT NULL,
    content_type TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    at TEXT NOT NULL,
    UNIQUE (repair_order_id, sha256)
);

-- A write retried with the same Idempotency-Key is answered from here instead of applied again.
CREATE TABLE idempotency_keys (
    user_id INTEGER NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    response TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (user_id, key)
);

-- Transfers between stations and stocktakes: the documents stock movements refer to.
CREATE TABLE stock_documents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('transfer', 'stocktake')),
    station_id INTEGER NOT NULL REFERENCES stations (id),
    other_station_id INTEGER REFERENCES stations (id),
    at TEXT NOT NULL,
    user_id INTEGER
);
