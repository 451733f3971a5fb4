-- The parts supply chain: central warehouses with their own ledger, per-station safety stock,
-- parts orders from stations (requested → approved → shipped → received, with what was shipped
-- and what arrived per line), and scrapping as a stock reason. Kept table-for-table in step with
-- ../postgres/0013_supply.sql.

CREATE TABLE warehouses (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    city TEXT NOT NULL,
    lat REAL NOT NULL,
    lon REAL NOT NULL
);

CREATE TABLE warehouse_stock (
    warehouse_id INTEGER NOT NULL REFERENCES warehouses (id),
    part_id INTEGER NOT NULL REFERENCES parts (id),
    quantity INTEGER NOT NULL CHECK (quantity >= 0),
    PRIMARY KEY (warehouse_id, part_id)
);

CREATE TABLE warehouse_movements (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    warehouse_id INTEGER NOT NULL REFERENCES warehouses (id),
    part_id INTEGER NOT NULL REFERENCES parts (id),
    delta INTEGER NOT NULL,
    reason TEXT NOT NULL CHECK (reason IN ('receipt', 'shipment', 'scrap', 'stocktake')),
    reference TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX warehouse_movements_part ON warehouse_movements (warehouse_id, part_id, id);

-- A station's own safety stock for a part (null: the part's).
ALTER TABLE station_stock ADD COLUMN safety_stock INTEGER CHECK (safety_stock >= 0);

CREATE TABLE parts_orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    station_id INTEGER NOT NULL REFERENCES stations (id),
    warehouse_id INTEGER NOT NULL REFERENCES warehouses (id),
    status TEXT NOT NULL CHECK (status IN ('requested', 'approved', 'shipped', 'received', 'cancelled')),
    -- A resubmission with the same key answers the first order.
    request_key TEXT,
    repair_order_id INTEGER REFERENCES repair_orders (id),
    note TEXT,
    carrier TEXT,
    tracking TEXT,
    requested_by INTEGER REFERENCES users (id),
    requested_at TEXT NOT NULL,
    approved_by INTEGER REFERENCES users (id),
    shipped_at TEXT,
    received_at TEXT,
    UNIQUE (station_id, request_key)
);
CREATE INDEX parts_orders_station ON parts_orders (station_id, status, id);

CREATE TABLE parts_order_lines (
    order_id INTEGER NOT NULL REFERENCES parts_orders (id),
    part_id INTEGER NOT NULL REFERENCES parts (id),
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    shipped INTEGER CHECK (shipped >= 0),
    received INTEGER CHECK (received >= 0),
    difference_note TEXT,
    PRIMARY KEY (order_id, part_id)
);
